#pragma once
// Instance: the host side of one running adapter process — its protocol socket, its stdout and
// stderr pipes, and its exit. Owned by the Scheduler through shared_ptr; every method must be
// called on the scheduler's loop, and the coroutines it runs stay on that loop.

#include <utility>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "common/status.h"
#include "sandbox/sandbox.h"

namespace gust::worker {

// What runs: one entry of one version of one function.
struct InstanceSpec {
  std::string tenant;
  std::string function;
  int64_t version = 0;
  std::string entry;    // "" for a plain function, "api/users" in a project
  std::string runtime;  // python3 | node
  std::string handler;
  std::string code_dir;
  int64_t memory_mb = 256;
  std::string network = "none";
  std::map<std::string, std::string> env;
};

struct InvokeRequest {
  std::string id;
  std::string event;  // JSON
  std::chrono::steady_clock::time_point deadline;
  int64_t deadline_epoch_ms = 0;
  std::string trace_id;
};

struct InvokeReply {
  bool ok = false;          // RESULT (true) or ERROR (false)
  std::string body;         // the result JSON, or the error's stack trace
  std::string error_type;   // for ERROR
  std::string error_message;
  std::string logs;         // the lines printed during this invocation
};

// How instances are started: which interpreter and adapter for which runtime.
struct LaunchConfig {
  std::string python;        // the real interpreter (os::Toolchain)
  std::string node;
  std::string runtimes_dir;  // holds python/gust_adapter.py and node/adapter.mjs
};

class Instance final : public std::enable_shared_from_this<Instance> {
 public:
  ~Instance();

  // Starts the process and waits for READY until `deadline`. On INIT_ERROR, early exit or the
  // deadline the process is gone and the Status says why (with the init logs).
  static boost::asio::awaitable<Result<std::shared_ptr<Instance>>> start(
      boost::asio::any_io_executor executor, const InstanceSpec& spec, const LaunchConfig& launch,
      sandbox::Sandbox& sandbox, std::chrono::steady_clock::time_point deadline);

  // Sends one invocation and waits for its reply. DeadlineExceeded when `request.deadline`
  // passes (the caller then kills the instance); FunctionError when the process dies.
  boost::asio::awaitable<Result<InvokeReply>> invoke(InvokeRequest request);

  // Kills the process group; pending waits complete with `reason`.
  void kill(const std::string& reason);

  bool alive() const;
  int64_t pid() const;
  const InstanceSpec& spec() const;
  // Lines printed outside any invocation (during init, or after a reply), claimed by the next.
  std::string takeUnclaimedLogs();

  struct State;  // opaque; defined in instance.cc

 private:
  explicit Instance(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// The command line that runs `spec` under `launch`.
Result<std::vector<std::string>> adapterCommand(const InstanceSpec& spec, const LaunchConfig& launch);

}  // namespace gust::worker
