#pragma once
// Instance: the host side of one running adapter process — its protocol socket, its stdout and
// stderr pipes, and its exit. Owned by the Scheduler through shared_ptr; every method must be
// called on the scheduler's loop, and the coroutines it runs stay on that loop.

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include "common/status.h"
#include "os/activation_meter.h"
#include "sandbox/sandbox.h"

namespace gust::worker {

// What runs: one entry of one version of one function.
struct InstanceSpec {
  std::string tenant;
  std::string function;
  int64_t version = 0;
  std::string entry;    // "" for a plain function, "api/users" in a project
  std::string runtime;  // python3 | node | java | provided | http
  std::string handler;
  std::string contract = "lambda";  // lambda | openwhisk | openfaas (python3 and node)
  std::string ready_path;           // runtime http: readiness by GET of this path
  std::string code_dir;
  int64_t memory_mb = 256;
  int64_t tmp_mb = 64;
  std::string network = "none";
  std::map<std::string, std::string> env;
};

// A streamed reply (Lambda's response streaming): the instance pushes the head and the body's
// chunks as the function produces them, on the scheduler's loop; the request's loop takes them
// and writes chunked HTTP. Thread-safe; the consumer is woken on its own executor.
// TODO(security): chunks queue without a bound when the caller reads slower than the function
// writes; the producer should stop reading the instance's socket past a few MiB queued.
class StreamSink : public std::enable_shared_from_this<StreamSink> {
 public:
  explicit StreamSink(boost::asio::any_io_executor consumer) : wake_(consumer) {}

  struct Batch {
    std::optional<std::string> head;  // the head's JSON {statusCode, headers, cookies}, once
    std::vector<std::string> chunks;
    bool closed = false;  // nothing more will come
  };
  // Producer side (any thread). Nothing is accepted after close().
  void start(std::string head_json);
  void push(std::string chunk);
  void close();
  bool started() const;
  // Consumer side, on the consumer's executor: waits until something arrived or it closed.
  boost::asio::awaitable<Batch> take();

 private:
  void wake();
  mutable std::mutex mutex_;
  std::optional<std::string> head_;
  bool head_taken_ = false;
  std::deque<std::string> chunks_;
  bool closed_ = false;
  boost::asio::steady_timer wake_;
};

struct InvokeRequest {
  std::string id;
  std::string event;  // JSON
  std::chrono::steady_clock::time_point deadline;
  int64_t deadline_epoch_ms = 0;
  std::string trace_id;
  // Set when the caller can relay a streamed reply (HTTP requests to runtimes that stream).
  std::shared_ptr<StreamSink> stream;
};

struct InvokeReply {
  bool ok = false;         // RESULT (true) or ERROR (false)
  bool streamed = false;   // the body went out through InvokeRequest::stream
  std::string body;        // the result JSON, or the error's stack trace
  std::string error_type;  // for ERROR
  std::string error_message;
  std::string logs;  // the lines printed during this invocation
  // A RESULT over LaunchConfig::max_reply_bytes: its size. It was discarded unread and
  // error_message says so (with the limit).
  int64_t oversized_bytes = 0;
};

// How one invocation ended, and what the instance used during it alone whichever way it ended
// (zero when unknown): a timed-out invocation up to its deadline, one whose process died up to
// that death.
struct InvokeResult {
  Result<InvokeReply> reply;
  os::ActivationUsage usage;
};

// How instances are started: which interpreter and adapter for which runtime.
struct LaunchConfig {
  std::string python;  // the real interpreter (os::Toolchain)
  std::string node;
  std::string runtimes_dir;   // holds python/gust_adapter.py and node/adapter.mjs
  bool meter_process = true;  // read /proc around each invocation (CPU, peak memory)
  bool prestart = true;       // keep a pre-started instance per tenant and runtime for cold starts
  // The largest reply body (a RESULT's JSON, an ERROR's stack trace, a CHUNK) held in memory:
  // larger ones are read and discarded, and the invocation fails saying so. Lambda's buffered
  // response limit by default.
  uint32_t max_reply_bytes = 6u << 20;
};

// An Instance is one running function process as the scheduler sees it. Implementations:
// the real adapter process (process_instance.cc) and test fakes. Call only on the scheduler's
// loop.
class Instance {
 public:
  virtual ~Instance() = default;
  // Sends one invocation and waits for its reply. The reply is DeadlineExceeded when
  // `request.deadline` passes (the caller then kills the instance), FunctionError when the
  // process dies.
  virtual boost::asio::awaitable<InvokeResult> invoke(InvokeRequest request) = 0;
  // Kills the process group; pending waits complete with `reason`.
  virtual void kill(const std::string& reason) = 0;
  virtual bool alive() const = 0;
  // Lines printed outside any invocation (during init, or after a timeout), claimed by the
  // activation that reports the failure.
  virtual std::string takeUnclaimedLogs() = 0;
};
using InstancePtr = std::shared_ptr<Instance>;

// Starts instances. The scheduler decides when; the launcher knows how.
class InstanceLauncher {
 public:
  virtual ~InstanceLauncher() = default;
  // Starts the process and waits for READY until `deadline`. On INIT_ERROR, early exit or the
  // deadline the process is gone, the Status says why, and `init_logs` holds what it printed
  // (it belongs in the activation's logs, not in the caller's error message).
  virtual boost::asio::awaitable<Result<InstancePtr>> start(
      const InstanceSpec& spec, std::chrono::steady_clock::time_point deadline,
      std::string& init_logs) = 0;
  // Gets ready to start instances like `spec` soon (a function was deployed), if this launcher
  // keeps anything ready. Never blocks.
  virtual void prepare(const InstanceSpec& /*spec*/) {}
};

// Launches real adapter processes through `sandbox`, on `executor` (the scheduler's loop).
std::unique_ptr<InstanceLauncher> makeProcessLauncher(boost::asio::any_io_executor executor,
                                                      LaunchConfig launch,
                                                      sandbox::Sandbox& sandbox);

// What every instance's sandbox shows besides the code: the adapters at /gust/runtimes and the
// interpreters' installations that live outside /usr, at their own paths.
std::vector<sandbox::Mount> runtimeMounts(const LaunchConfig& launch);

// Writes the bytecode of the Python adapter (python/__pycache__/gust_adapter.*.pyc) with
// launch.python, so that each instance imports it instead of compiling it: ~2 MiB less memory
// per instance, a faster start.
// Blocking (one interpreter run). An error leaves instances compiling it themselves, as before.
Status compileAdapters(const LaunchConfig& launch);

// The command line that runs `spec` under `launch`, with paths as the process sees them
// (`isolated`: inside a sandbox that shows the code at /code and the adapters at /gust/runtimes).
Result<std::vector<std::string>> adapterCommand(const InstanceSpec& spec,
                                                const LaunchConfig& launch, bool isolated);

}  // namespace gust::worker
