#pragma once
// ControlApi: the REST control plane under /api/v1 (docs/api.md), used by the CLI and the
// dashboard. It authenticates the caller (the admin token, or a tenant token), scopes every
// request to one tenant, validates, calls the store (offloaded to the blocking pool), the
// deployer (on the build pool) and the invoker, writes the audit log, and renders JSON. Its only
// state is the limiter of failed authentications. Thread-safe: any I/O loop calls handle().

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <nlohmann/json.hpp>

#include "auth/failure_limiter.h"
#include "bundle/deployer.h"
#include "events/events.h"
#include "gateway/catalog.h"
#include "gateway/gateway.h"
#include "gateway/invoker.h"
#include "http/server.h"
#include "metering/metering.h"
#include "os/disk_guard.h"
#include "scheduler/scheduler.h"
#include "secrets/secret_box.h"
#include "store/store.h"

namespace gust::control {

struct ControlDeps {
  store::Store& store;
  gateway::Catalog& catalog;
  gateway::Invoker& invoker;
  gateway::Gateway& gateway;
  bundle::Deployer& deployer;
  scheduler::Scheduler& scheduler;
  boost::asio::thread_pool& blocking;  // store calls
  boost::asio::thread_pool& builds;    // deploys (pip, npm)
  std::string admin_token;
  metering::PriceTable prices;
  const secrets::SecretBox& secret_box;
  gust::events::Events& events;
  // This server's own names (the --listen host, the machine's): no tenant may claim them.
  std::vector<std::string> server_names;
  // While it refuses, deploys and invokes answer 507 (nullptr: never).
  const os::DiskGuard* disk_guard = nullptr;
};

// Who is calling and which tenant they act on.
struct Caller {
  bool admin = false;
  std::string token_id;      // for tenant tokens
  std::string tenant;        // the tenant acted on
  bool all_tenants = false;  // the admin without X-Gust-Tenant: usage and audit span every tenant
  std::string source_ip;
  std::string actor() const { return admin ? "admin" : "token:" + token_id; }
};

// An audit entry for what `caller` did. It belongs to the caller's tenant, or to `tenant` when
// given (a tenant or token the admin made or removed belongs to the tenant it concerns, which
// may then read it).
store::AuditRecord auditEntry(const Caller& caller, std::string_view action,
                              std::string_view target, const Status& outcome,
                              std::string_view detail = {}, std::string_view tenant = {});

// The header with which the admin acts on another tenant (default: "default").
inline constexpr std::string_view kTenantHeader = "X-Gust-Tenant";

inline constexpr std::string_view kApiPrefix = "/api/v1";

class ControlApi final {
 public:
  explicit ControlApi(ControlDeps deps) : deps_(std::move(deps)) {}

  // Serves a request whose path starts with /api/v1.
  boost::asio::awaitable<void> handle(http::Exchange& exchange);

 private:
  struct AuthOutcome {
    std::optional<Caller> caller;
    Status status;
    int64_t retry_after_s = 0;
  };
  boost::asio::awaitable<AuthOutcome> authenticate(http::Exchange& exchange);
  boost::asio::awaitable<void> route(http::Exchange& exchange, const Caller& caller);
  // Asks the scheduler to have an instance ready for the deployed function's first cold start.
  void prepareInstances(const std::string& tenant, const bundle::FunctionConfig& config);
  boost::asio::awaitable<void> deploy(http::Exchange& exchange, const Caller& caller,
                                      const std::string& function);
  boost::asio::awaitable<void> invoke(http::Exchange& exchange, const Caller& caller,
                                      const std::string& function);
  boost::asio::awaitable<void> streamLogs(http::Exchange& exchange, const Caller& caller,
                                          const std::string& function);
  // tenancy_api.cc: tenants, tokens (admin only), secrets and the audit log.
  boost::asio::awaitable<void> tenants(http::Exchange& exchange, const Caller& caller);
  boost::asio::awaitable<void> tokens(http::Exchange& exchange, const Caller& caller);
  boost::asio::awaitable<void> secrets(http::Exchange& exchange, const Caller& caller);
  boost::asio::awaitable<void> auditLog(http::Exchange& exchange, const Caller& caller);
  // hosts_api.cc: the hosts the admin claims for tenants.
  boost::asio::awaitable<void> hosts(http::Exchange& exchange, const Caller& caller);
  boost::asio::awaitable<void> claimHost(http::Exchange& exchange, const Caller& caller,
                                         const std::string& host_in_path);
  // gateway_api.cc: routes, client keys, shares and the access log.
  boost::asio::awaitable<void> gatewayApi(http::Exchange& exchange, const Caller& caller);
  // events_api.cc: asynchronous invocations, dead letters and triggers.
  static bool isEventsResource(const std::vector<std::string>& segments);
  boost::asio::awaitable<void> eventsApi(http::Exchange& exchange, const Caller& caller);
  boost::asio::awaitable<void> createKafkaTrigger(http::Exchange& exchange, const Caller& caller,
                                                  const nlohmann::json& body);
  boost::asio::awaitable<void> asyncInvoke(http::Exchange& exchange, const Caller& caller,
                                           const std::string& function);
  // Writes one audit entry (on the blocking pool); a failure to write is logged, not answered.
  // Build the entry with auditEntry() in a statement of its own (GCC 12 destroys temporaries
  // of a co_await expression twice).
  boost::asio::awaitable<void> audit(const store::AuditRecord& entry);

  ControlDeps deps_;
  auth::FailureLimiter limiter_;
};

}  // namespace gust::control
