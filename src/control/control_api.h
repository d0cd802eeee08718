#pragma once
// ControlApi: the REST control plane under /api/v1 (docs/api.md), used by the CLI and the
// dashboard. It holds no state of its own: it validates, calls the store (offloaded to the
// blocking pool), the deployer (on the build pool) and the invoker, and renders JSON.
// Thread-safe: any I/O loop calls handle().

#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <string>

#include "bundle/deployer.h"
#include "gateway/catalog.h"
#include "gateway/invoker.h"
#include "http/server.h"
#include "metering/metering.h"
#include "scheduler/scheduler.h"
#include "store/store.h"

namespace gust::control {

struct ControlDeps {
  store::Store& store;
  gateway::Catalog& catalog;
  gateway::Invoker& invoker;
  bundle::Deployer& deployer;
  scheduler::Scheduler& scheduler;
  boost::asio::thread_pool& blocking;  // store calls
  boost::asio::thread_pool& builds;    // deploys (pip, npm)
  std::string admin_token;
  metering::PriceTable prices;
};

inline constexpr std::string_view kApiPrefix = "/api/v1";

class ControlApi final {
 public:
  explicit ControlApi(ControlDeps deps) : deps_(std::move(deps)) {}

  // Serves a request whose path starts with /api/v1.
  boost::asio::awaitable<void> handle(http::Exchange& exchange);

 private:
  boost::asio::awaitable<void> deploy(http::Exchange& exchange, const std::string& function);
  boost::asio::awaitable<void> invoke(http::Exchange& exchange, const std::string& function);
  boost::asio::awaitable<void> streamLogs(http::Exchange& exchange, const std::string& function);
  ControlDeps deps_;
};

}  // namespace gust::control
