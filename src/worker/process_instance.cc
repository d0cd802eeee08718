// DESIGN: an instance runs four coroutines on the scheduler loop, each holding a shared_ptr to
// it (`keep_alive`), so it lives until the last of them ends: the frame reader (socket), two log
// readers (stdout, stderr pipes) and the exit watcher (a pidfd). The exit watcher is the single
// place an instance dies: it reaps the process, drains the pipes, closes every descriptor (which
// ends the other three coroutines) and fails whatever still waits. A reader that sees EOF or a bad
// frame only kills the process group; the exit then follows through the watcher. Log lines go to
// one buffer that the next reply claims, so lines printed during init land in the first
// activation's logs, as on Lambda.

#include <algorithm>
#include <array>
#include <filesystem>
#include <map>
#include <set>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/ids.h"
#include "common/time.h"
#include "loop/completion.h"
#include "observe/log.h"
#include "os/activation_meter.h"
#include "os/process.h"
#include "protocol/frame.h"
#include "worker/instance.h"

namespace gust::worker {
namespace {

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;
using Clock = std::chrono::steady_clock;

int64_t microsBetween(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration_cast<std::chrono::microseconds>(to - from).count();
}

constexpr std::size_t kMaxLogBytesPerActivation = 1 << 20;
constexpr std::size_t kMaxLineBytes = 16 * 1024;

struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(Fd&& other) noexcept : fd(std::exchange(other.fd, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    reset();
    fd = std::exchange(other.fd, -1);
    return *this;
  }
  ~Fd() { reset(); }
  void reset() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
  int release() { return std::exchange(fd, -1); }
};

}  // namespace

class ProcessInstance final : public Instance,
                              public std::enable_shared_from_this<ProcessInstance> {
 public:
  struct State;
  explicit ProcessInstance(std::unique_ptr<State> state);
  ~ProcessInstance() override;

  static boost::asio::awaitable<Result<InstancePtr>> start(
      boost::asio::any_io_executor executor, const InstanceSpec& spec, const LaunchConfig& launch,
      sandbox::Sandbox& sandbox, std::chrono::steady_clock::time_point deadline,
      std::string& init_logs);
  // Starts the process without waiting for READY. A `prestart` instance gets no code and no
  // function environment: it waits for load().
  static boost::asio::awaitable<Result<std::shared_ptr<ProcessInstance>>> spawn(
      boost::asio::any_io_executor executor, const InstanceSpec& spec, const LaunchConfig& launch,
      sandbox::Sandbox& sandbox, bool prestart);
  // Turns a pre-started instance into `spec`'s: its code at /code, its limits, its environment
  // (the LOAD frame); then waits for READY.
  boost::asio::awaitable<Status> load(const InstanceSpec& spec, const LaunchConfig& launch,
                                      std::chrono::steady_clock::time_point deadline,
                                      std::string& init_logs);
  boost::asio::awaitable<Status> awaitReady(std::chrono::steady_clock::time_point deadline,
                                            std::string& init_logs);
  // A pre-started instance: until its adapter is up and waiting for LOAD (STANDBY).
  boost::asio::awaitable<Status> awaitStandby(std::chrono::steady_clock::time_point deadline);

  boost::asio::awaitable<InvokeResult> invoke(InvokeRequest request) override;
  void kill(const std::string& reason) override;
  bool alive() const override;
  std::string takeUnclaimedLogs() override;

 private:
  std::unique_ptr<State> state_;
};

struct ProcessInstance::State {
  explicit State(asio::any_io_executor executor)
      : socket(executor),
        out(executor),
        err(executor),
        exit_watch(executor),
        standby(executor),
        ready(executor) {}

  InstanceSpec spec;
  bool meter_process = false;
  // Made at the first invocation that finds the sandbox meterable, when metering is on.
  std::unique_ptr<os::ActivationMeter> meter;
  std::unique_ptr<sandbox::Process> process;
  asio::local::stream_protocol::socket socket;
  asio::posix::stream_descriptor out;
  asio::posix::stream_descriptor err;
  asio::posix::stream_descriptor exit_watch;
  uint32_t max_reply_bytes = protocol::kMaxBodyBytes;
  protocol::FrameDecoder decoder;    // keeps reply bodies up to max_reply_bytes
  loop::Completion<Status> standby;  // a pre-started instance is set up and waits for LOAD
  loop::Completion<Status> ready;
  std::map<std::string, std::shared_ptr<loop::Completion<Result<InvokeReply>>>> pending;
  std::map<std::string, std::shared_ptr<StreamSink>> streams;  // by activation id
  bool dead = false;
  std::string death;  // why it died, once dead

  std::string logs;  // lines not yet claimed by a reply
  std::size_t dropped_log_bytes = 0;
  std::string partial_out;
  std::string partial_err;

  void appendLine(std::string_view stream, std::string_view line) {
    if (line.size() > kMaxLineBytes) line = line.substr(0, kMaxLineBytes);
    if (logs.size() + line.size() > kMaxLogBytesPerActivation) {
      dropped_log_bytes += line.size() + 1;
      return;
    }
    logs += fmt::format("{} {} {}\n", formatRfc3339Micros(nowMicros()), stream, line);
  }

  void appendBytes(std::string_view stream, std::string& partial, std::string_view bytes) {
    partial.append(bytes);
    std::size_t start = 0;
    for (std::size_t nl; (nl = partial.find('\n', start)) != std::string::npos; start = nl + 1) {
      appendLine(stream, std::string_view(partial).substr(start, nl - start));
    }
    partial.erase(0, start);
    // A line without an end still must not grow without bound.
    if (partial.size() > kMaxLineBytes) {
      appendLine(stream, partial);
      partial.clear();
    }
  }

  // Reads whatever the pipes hold right now. The adapter flushes before replying, so after this
  // every line of the invocation is in `logs`.
  void drainPipes() {
    char buffer[16 * 1024];
    for (auto [descriptor, stream, partial] :
         {std::tuple{&out, "stdout", &partial_out}, std::tuple{&err, "stderr", &partial_err}}) {
      if (!descriptor->is_open()) continue;
      for (;;) {
        ssize_t n = ::read(descriptor->native_handle(), buffer, sizeof buffer);
        if (n <= 0) break;
        appendBytes(stream, *partial, std::string_view(buffer, static_cast<std::size_t>(n)));
      }
    }
  }

  std::string claimLogs(bool include_partial) {
    if (include_partial) {
      if (!partial_out.empty()) appendLine("stdout", std::exchange(partial_out, {}));
      if (!partial_err.empty()) appendLine("stderr", std::exchange(partial_err, {}));
    }
    if (dropped_log_bytes > 0) {
      logs += fmt::format("{} gust [{} bytes of logs dropped: over {} KiB per activation]\n",
                          formatRfc3339Micros(nowMicros()), dropped_log_bytes,
                          kMaxLogBytesPerActivation / 1024);
      dropped_log_bytes = 0;
    }
    return std::exchange(logs, {});
  }

  void killProcess() {
    if (!dead) process->kill();
  }

  // Meters the invocation about to be sent: a new peak, and the counters as they are now.
  os::ActivationMeter::Start beginMetering() {
    if (meter_process && !meter && !dead) {
      if (auto usage = process->meter()) {
        meter = std::make_unique<os::ActivationMeter>(std::move(usage));
      }
    }
    return meter ? meter->begin() : std::nullopt;
  }

  os::ActivationUsage usageSince(const os::ActivationMeter::Start& start) {
    return meter ? meter->usageSince(start) : os::ActivationUsage{};
  }

  void failAll(const std::string& reason) {
    auto waiting = std::move(pending);
    pending.clear();
    streams.clear();
    for (auto& [id, completion] : waiting) {
      completion->complete(Status(Code::FunctionError, reason));
    }
    standby.complete(Status(Code::FunctionError, reason));
    ready.complete(Status(Code::FunctionError, reason));
  }
};

namespace {

void setNonBlocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

// A RESULT or ERROR as the scheduler sees it. A body the decoder dropped for its size (it was
// never held) fails the invocation precisely: the RESULT's size and the limit; an ERROR keeps
// its type and message (they are in the header) and loses only its stack trace.
InvokeReply replyOf(const ProcessInstance::State& s, protocol::Frame& frame, bool streamed) {
  InvokeReply reply;
  reply.ok = frame.type() == protocol::type::kResult;
  reply.streamed = streamed && reply.ok;
  reply.body = std::move(frame.body);
  reply.error_type = frame.field("error_type");
  reply.error_message = frame.field("message");
  if (frame.dropped_body_bytes == 0) return reply;
  if (reply.ok) {
    reply.ok = false;
    reply.oversized_bytes = frame.dropped_body_bytes;
    reply.error_message =
        fmt::format("the function's response is {} bytes, over the {}-byte ({} MiB) response limit",
                    frame.dropped_body_bytes, s.max_reply_bytes, s.max_reply_bytes >> 20);
  } else {
    reply.body = fmt::format(
        "gust: the stack trace ({} bytes) was over the {}-byte limit and "
        "was dropped",
        frame.dropped_body_bytes, s.max_reply_bytes);
  }
  return reply;
}

awaitable<void> readFrames(std::shared_ptr<ProcessInstance> keep_alive, ProcessInstance::State& s) {
  char buffer[64 * 1024];
  boost::system::error_code ec;
  for (;;) {
    std::size_t n = co_await s.socket.async_read_some(asio::buffer(buffer),
                                                      asio::redirect_error(use_awaitable, ec));
    if (ec) break;
    s.decoder.feed(std::string_view(buffer, n));
    for (;;) {
      auto next = s.decoder.next();
      if (!next.isOk()) {
        s.death = fmt::format("the worker broke the protocol: {}", next.status().message());
        s.killProcess();
        co_return;
      }
      if (!next->has_value()) break;
      protocol::Frame frame = std::move(**next);
      std::string_view type = frame.type();
      if (type == protocol::type::kReady) {
        s.ready.complete(Status::ok());
      } else if (type == protocol::type::kStandby) {
        s.standby.complete(Status::ok());
      } else if (type == protocol::type::kInitError) {
        s.drainPipes();
        s.ready.complete(Status(Code::FunctionError,
                                fmt::format("the function failed to load: {}: {}",
                                            frame.field("error_type"), frame.field("message"))));
      } else if (type == protocol::type::kChunk) {
        auto sink = s.streams.find(frame.field("id"));
        if (sink == s.streams.end()) continue;  // late, or for an invocation that cannot stream
        if (frame.dropped_body_bytes > 0) {
          // Dropping it would cut a hole in the body the caller is receiving.
          s.death = fmt::format("the worker sent a CHUNK of {} bytes, over the {}-byte limit",
                                frame.dropped_body_bytes, s.max_reply_bytes);
          s.killProcess();
          co_return;
        }
        const auto& head = frame.header.find("head");
        if (head != frame.header.end()) {
          if (!head->is_object()) {
            s.death = "the worker sent a CHUNK whose head is not an object";
            s.killProcess();
            co_return;
          }
          sink->second->start(head->dump());
        }
        if (!frame.body.empty()) sink->second->push(std::move(frame.body));
      } else if (type == protocol::type::kResult || type == protocol::type::kError) {
        auto it = s.pending.find(frame.field("id"));
        if (it == s.pending.end()) continue;  // a late reply to an invocation that timed out
        auto completion = it->second;
        s.pending.erase(it);
        auto stream = s.streams.find(frame.field("id"));
        const bool streamed = stream != s.streams.end() && stream->second->started();
        if (stream != s.streams.end()) s.streams.erase(stream);
        // Every line the function printed is in the pipes by now (the adapter flushes before it
        // replies): take what the kernel still holds, then finish in a posted handler, so that
        // log reads the loop has already performed and queued are appended first.
        s.drainPipes();
        InvokeReply reply = replyOf(s, frame, streamed);
        asio::post(s.socket.get_executor(),
                   [keep_alive, &s, completion, reply = std::move(reply)]() mutable {
                     reply.logs = s.claimLogs(/*include_partial=*/true);
                     completion->complete(std::move(reply));
                   });
      } else {
        s.death = fmt::format("the worker sent an unknown frame type '{}'", type);
        s.killProcess();
        co_return;
      }
    }
  }
  // EOF: the adapter exited or closed its socket. Either way it is done. Give an exiting process
  // a moment to finish on its own, so the exit watcher reports its real exit code rather than our
  // kill; one that closed its socket but runs on is killed.
  asio::steady_timer grace(s.socket.get_executor(), std::chrono::milliseconds(250));
  co_await grace.async_wait(asio::redirect_error(use_awaitable, ec));
  s.killProcess();
}

awaitable<void> readLogs([[maybe_unused]] std::shared_ptr<ProcessInstance> keep_alive,
                         ProcessInstance::State& s, asio::posix::stream_descriptor& pipe,
                         const char* stream, std::string& partial) {
  char buffer[16 * 1024];
  boost::system::error_code ec;
  for (;;) {
    std::size_t n = co_await pipe.async_read_some(asio::buffer(buffer),
                                                  asio::redirect_error(use_awaitable, ec));
    if (ec) break;
    s.appendBytes(stream, partial, std::string_view(buffer, n));
  }
}

awaitable<void> watchExit([[maybe_unused]] std::shared_ptr<ProcessInstance> keep_alive,
                          ProcessInstance::State& s) {
  boost::system::error_code ec;
  co_await s.exit_watch.async_wait(asio::posix::stream_descriptor::wait_read,
                                   asio::redirect_error(use_awaitable, ec));
  // What the invocations still waiting used, read before the process is reaped (a zombie's /proc
  // files still answer) and before the instance and its cgroup go.
  if (s.meter) s.meter->takeFinalReading();
  std::string how = os::reapChild(s.process->handle().pid);
  // Kill stragglers the function left behind.
  s.process->kill();
  s.dead = true;
  s.drainPipes();
  sandbox::ExitCause cause = s.process->exitCause();
  if (cause.out_of_memory) {
    s.death = fmt::format(
        "out of memory: the function needed more than its memory_mb ({} MB) "
        "and was killed; raise memory_mb in gust.toml",
        s.spec.memory_mb);
  } else if (s.death.empty()) {
    s.death = fmt::format("the function's process exited ({}){}", how,
                          cause.pids_exhausted ? "; it had hit its process limit" : "");
  }
  s.failAll(s.death);
  s.socket.close(ec);
  s.out.close(ec);
  s.err.close(ec);
  s.exit_watch.close(ec);
}

}  // namespace

namespace {

// Where a function's files are, as its process sees them.
struct Paths {
  std::string code;
  std::string runtimes;
};

Paths pathsFor(const InstanceSpec& spec, const LaunchConfig& launch, bool isolated) {
  if (!isolated) return {spec.code_dir, launch.runtimes_dir};
  return {"/code", "/gust/runtimes"};
}

// The interpreter's installation, when it lives outside /usr (pyenv's does): the sandbox
// mounts it at the same path, so the interpreter and virtual environments pointing at it work.
std::string installationOf(const std::string& interpreter) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path real = fs::canonical(interpreter, ec);
  if (ec) return "";
  fs::path prefix = real.parent_path().parent_path();
  if (prefix == "/usr" || prefix.string().rfind("/usr/", 0) == 0) return "";
  return prefix.string();
}

}  // namespace

std::vector<sandbox::Mount> runtimeMounts(const LaunchConfig& launch) {
  std::vector<sandbox::Mount> mounts = {{launch.runtimes_dir, "/gust/runtimes"}};
  for (const std::string& interpreter : {launch.python, launch.node}) {
    if (std::string prefix = installationOf(interpreter); !prefix.empty()) {
      mounts.push_back({prefix, prefix});
    }
  }
  return mounts;
}

Status compileAdapters(const LaunchConfig& launch) {
  // -S as instances run; the relay imports the same module from python/.
  auto compiled = os::runCommand({launch.python, "-S", "-m", "compileall", "-q",
                                  launch.runtimes_dir + "/python/gust_adapter.py"},
                                 "", {}, 60, nullptr);
  if (!compiled) return compiled.status();
  if (compiled->timed_out || compiled->exit_code != 0) {
    return internalError(fmt::format("cannot compile the Python adapter in {}/python: {}",
                                     launch.runtimes_dir, compiled->output));
  }
  return Status::ok();
}

Result<std::vector<std::string>> adapterCommand(const InstanceSpec& spec,
                                                const LaunchConfig& launch, bool isolated) {
  namespace fs = std::filesystem;
  Paths paths = pathsFor(spec, launch, isolated);
  if (spec.runtime == "python3") {
    // A pre-started instance has no code yet (code_dir ""): it runs the base interpreter and
    // the adapter adds the version's .venv when LOAD names it.
    bool has_venv =
        !spec.code_dir.empty() && fs::exists(fs::path(spec.code_dir) / ".venv" / "bin" / "python");
    std::string python = has_venv ? paths.code + "/.venv/bin/python" : launch.python;
    // -S: only the function's own packages (its .venv, which the adapter adds), never whatever is
    // installed in the host interpreter's site-packages; it also skips their .pth start-up code.
    return std::vector<std::string>{python, "-S", "-B", paths.runtimes + "/python/run_adapter.py"};
  }
  if (spec.runtime == "node") {
    if (launch.node.empty()) return internalError("node is not installed: run scripts/deps.sh");
    return std::vector<std::string>{launch.node, paths.runtimes + "/node/adapter.mjs"};
  }
  if (spec.runtime == "provided" || spec.runtime == "http" || spec.runtime == "java") {
    // The relay speaks frames to the host and the foreign contract (the Lambda Runtime API, or
    // HTTP on $PORT) to the user's process, which it starts; Java is a Runtime API client.
    return std::vector<std::string>{launch.python, "-S", "-B",
                                    paths.runtimes + "/relay/gust_relay.py"};
  }
  return invalidArgument(fmt::format("unknown runtime '{}'", spec.runtime));
}

ProcessInstance::ProcessInstance(std::unique_ptr<State> state) : state_(std::move(state)) {}

ProcessInstance::~ProcessInstance() = default;  // the sandbox::Process kills what is left

// The environment a function runs with: Lambda's names and Gust's, then the function's own.
std::map<std::string, std::string> functionEnvironment(const InstanceSpec& spec,
                                                       const Paths& paths) {
  std::map<std::string, std::string> env = spec.env;
  // Version 0 is a build that has no number yet (the deploy's load check): Lambda's name for
  // unpublished code.
  const std::string version = spec.version > 0 ? std::to_string(spec.version) : "$LATEST";
  const std::string memory = std::to_string(spec.memory_mb);
  for (const auto& [key, value] : std::initializer_list<std::pair<const char*, std::string>>{
           {"GUST_CODE_DIR", paths.code},
           {"GUST_HANDLER", spec.handler},
           {"GUST_FUNCTION_NAME", spec.function},
           {"GUST_FUNCTION_VERSION", version},
           {"GUST_MEMORY_MB", memory},
           {"AWS_LAMBDA_FUNCTION_NAME", spec.function},
           {"AWS_LAMBDA_FUNCTION_VERSION", version},
           {"AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory},
           {"LAMBDA_TASK_ROOT", paths.code},
           {"_HANDLER", spec.handler},
           {"GUST_RUNTIME", spec.runtime},
           {"GUST_CONTRACT", spec.contract},
           {"GUST_READY_PATH", spec.ready_path},
       }) {
    env[key] = value;
  }
  return env;
}

awaitable<Result<std::shared_ptr<ProcessInstance>>> ProcessInstance::spawn(
    asio::any_io_executor executor, const InstanceSpec& spec, const LaunchConfig& launch,
    sandbox::Sandbox& sandbox, bool prestart) {
  const bool isolated = sandbox.isolatesFilesystem();
  auto argv = adapterCommand(spec, launch, isolated);
  if (!argv) co_return argv.status();
  int sockets[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sockets) != 0) {
    co_return internalError(fmt::format("socketpair: {}", strerror(errno)));
  }
  Fd host_socket(sockets[0]), child_socket(sockets[1]);
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) co_return internalError("pipe2 failed");
  Fd out_read(out_pipe[0]), out_write(out_pipe[1]);
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) co_return internalError("pipe2 failed");
  Fd err_read(err_pipe[0]), err_write(err_pipe[1]);
  Fd dev_null(::open("/dev/null", O_RDONLY | O_CLOEXEC));

  Paths paths = pathsFor(spec, launch, isolated);
  sandbox::SandboxSpec sandbox_spec;
  sandbox_spec.tenant = spec.tenant;
  sandbox_spec.instance_id = fmt::format(
      "{}-{}", prestart ? std::string("prestarted") : spec.function.substr(0, 40), randomHex(8));
  sandbox_spec.runtime = spec.runtime;
  sandbox_spec.argv = *argv;
  sandbox_spec.cwd = prestart ? "/" : paths.code;
  sandbox_spec.mounts = runtimeMounts(launch);
  if (!prestart) sandbox_spec.mounts.push_back({spec.code_dir, "/code"});
  sandbox_spec.memory_mb = spec.memory_mb;
  sandbox_spec.tmp_mb = spec.tmp_mb;
  sandbox_spec.network = spec.network;
  sandbox_spec.fds = {{0, dev_null.fd}, {1, out_write.fd}, {2, err_write.fd}, {3, child_socket.fd}};
  sandbox_spec.env = {{"PATH", "/usr/local/bin:/usr/bin:/bin"},
                      {"LANG", "C.UTF-8"},
                      {"HOME", "/tmp"},
                      {"TMPDIR", "/tmp"},
                      {"PYTHONUNBUFFERED", "1"},
                      {"GUST_SOCKET_FD", "3"}};
  if (prestart) {
    sandbox_spec.env["GUST_PRESTARTED"] = "1";  // the function's environment comes with LOAD
  } else {
    sandbox_spec.env.merge(functionEnvironment(spec, paths));
  }
  auto process = sandbox.start(sandbox_spec);
  if (!process) co_return process.status();
  const int pidfd = (*process)->handle().pidfd;
  out_write.reset();
  err_write.reset();
  child_socket.reset();

  auto state = std::make_unique<State>(executor);
  state->spec = spec;
  state->meter_process = launch.meter_process;
  state->max_reply_bytes = std::min(launch.max_reply_bytes, protocol::kMaxBodyBytes);
  state->decoder = protocol::FrameDecoder(state->max_reply_bytes);
  state->process = std::move(*process);
  setNonBlocking(out_read.fd);
  setNonBlocking(err_read.fd);
  state->socket.assign(asio::local::stream_protocol(), host_socket.release());
  state->out.assign(out_read.release());
  state->err.assign(err_read.release());
  state->exit_watch.assign(pidfd);
  auto instance = std::make_shared<ProcessInstance>(std::move(state));
  State& s = *instance->state_;
  asio::co_spawn(executor, readFrames(instance, s), asio::detached);
  asio::co_spawn(executor, readLogs(instance, s, s.out, "stdout", s.partial_out), asio::detached);
  asio::co_spawn(executor, readLogs(instance, s, s.err, "stderr", s.partial_err), asio::detached);
  asio::co_spawn(executor, watchExit(instance, s), asio::detached);
  co_return instance;
}

awaitable<Status> ProcessInstance::awaitStandby(Clock::time_point deadline) {
  State& s = *state_;
  auto self = shared_from_this();
  auto standby = co_await s.standby.wait(deadline);
  if (!standby || !standby->isOk()) {
    s.killProcess();
    co_return standby ? *standby
                      : Status(Code::DeadlineExceeded, "the pre-started instance did not start");
  }
  co_return Status::ok();
}

awaitable<Status> ProcessInstance::awaitReady(Clock::time_point deadline, std::string& init_logs) {
  State& s = *state_;
  auto self = shared_from_this();
  auto ready = co_await s.ready.wait(deadline);
  if (!ready) {
    s.death = "the function did not finish loading in time (init counts against timeout_s)";
    s.killProcess();
    init_logs = s.claimLogs(/*include_partial=*/true);
    co_return Status(Code::DeadlineExceeded, s.death);
  }
  if (!ready->isOk()) {
    s.killProcess();
    s.drainPipes();
    init_logs = s.claimLogs(/*include_partial=*/true);
    co_return *ready;
  }
  co_return Status::ok();
}

awaitable<Result<InstancePtr>> ProcessInstance::start(
    asio::any_io_executor executor, const InstanceSpec& spec, const LaunchConfig& launch,
    sandbox::Sandbox& sandbox, Clock::time_point deadline, std::string& init_logs) {
  const auto began = Clock::now();
  auto instance = co_await spawn(executor, spec, launch, sandbox, /*prestart=*/false);
  if (!instance) co_return instance.status();
  const auto spawned = Clock::now();
  Status ready = co_await (*instance)->awaitReady(deadline, init_logs);
  if (!ready.isOk()) co_return ready;
  // Where a cold start's time goes (bench/coldstart.py reads these).
  observe::logEvent(observe::LogLevel::Debug, "instance.started",
                    {{"function", spec.function},
                     {"runtime", spec.runtime},
                     {"sandbox_us", microsBetween(began, spawned)},
                     {"boot_and_import_us", microsBetween(spawned, Clock::now())}});
  co_return InstancePtr(*instance);
}

awaitable<Status> ProcessInstance::load(const InstanceSpec& spec, const LaunchConfig& launch,
                                        Clock::time_point deadline, std::string& init_logs) {
  State& s = *state_;
  auto self = shared_from_this();
  if (s.dead) co_return Status(Code::FunctionError, s.death);
  const auto began = Clock::now();
  Status attached = s.process->attachCode(spec.code_dir, spec.memory_mb, spec.tmp_mb);
  if (!attached.isOk()) {
    s.killProcess();
    co_return attached;
  }
  s.spec = spec;
  nlohmann::json env = functionEnvironment(spec, pathsFor(spec, launch, /*isolated=*/true));
  nlohmann::json header = {{"type", protocol::type::kLoad}, {"env", std::move(env)}};
  std::string frame = protocol::encodeFrame(header, "");
  boost::system::error_code ec;
  co_await asio::async_write(s.socket, asio::buffer(frame),
                             asio::redirect_error(use_awaitable, ec));
  if (ec) {
    s.killProcess();
    co_return Status(Code::FunctionError, "the pre-started instance is gone");
  }
  const auto sent = Clock::now();
  Status ready = co_await awaitReady(deadline, init_logs);
  if (ready.isOk()) {
    observe::logEvent(observe::LogLevel::Debug, "instance.loaded",
                      {{"function", spec.function},
                       {"runtime", spec.runtime},
                       {"attach_us", microsBetween(began, sent)},
                       {"import_us", microsBetween(sent, Clock::now())}});
  }
  co_return ready;
}

awaitable<InvokeResult> ProcessInstance::invoke(InvokeRequest request) {
  State& s = *state_;
  auto self = shared_from_this();
  if (s.dead) co_return InvokeResult{Status(Code::FunctionError, s.death), {}};
  auto completion =
      std::make_shared<loop::Completion<Result<InvokeReply>>>(s.socket.get_executor());
  s.pending[request.id] = completion;
  if (request.stream) s.streams[request.id] = request.stream;
  nlohmann::json header = {{"type", protocol::type::kInvoke},
                           {"id", request.id},
                           {"deadline_ms", request.deadline_epoch_ms},
                           {"function_name", s.spec.function},
                           {"function_version", std::to_string(s.spec.version)},
                           {"memory_mb", s.spec.memory_mb},
                           {"trace_id", request.trace_id}};
  if (request.stream) header["stream"] = true;
  // The event (as large as the request body allows) goes out from where it is, not copied into
  // a frame string; it is freed once written, before the reply is awaited.
  std::string frame_head = protocol::encodeFrameHead(header, request.event.size());
  std::array<asio::const_buffer, 2> frame = {asio::buffer(frame_head), asio::buffer(request.event)};
  // Meter this activation alone, from just before it is sent to however it ends.
  const os::ActivationMeter::Start metered = s.beginMetering();
  boost::system::error_code ec;
  co_await asio::async_write(s.socket, frame, asio::redirect_error(use_awaitable, ec));
  std::string().swap(request.event);
  if (ec) {
    s.pending.erase(request.id);
    s.killProcess();
    co_return InvokeResult{
        Status(Code::FunctionError, s.death.empty() ? "the function's process is gone" : s.death),
        s.usageSince(metered)};
  }
  auto reply = co_await completion->wait(request.deadline);
  if (!reply) {
    s.pending.erase(request.id);
    s.streams.erase(request.id);
    // Read before the caller kills it: the CPU it used up to its deadline.
    co_return InvokeResult{Status(Code::DeadlineExceeded, "timed out"), s.usageSince(metered)};
  }
  co_return InvokeResult{std::move(*reply), s.usageSince(metered)};
}

void ProcessInstance::kill(const std::string& reason) {
  if (state_->death.empty()) state_->death = reason;
  state_->killProcess();
}

bool ProcessInstance::alive() const { return !state_->dead && state_->death.empty(); }
std::string ProcessInstance::takeUnclaimedLogs() { return state_->claimLogs(true); }

namespace {

// Pre-started instances, at most one per tenant and kind (the Python adapter, or the relay of
// provided, java and http): sandboxed, interpreter and adapter loaded, no code yet. A cold start
// of one of the tenant's functions takes it (attach the code, LOAD, import the handler or start
// the user's process) instead of building a sandbox and booting an interpreter; a new one is
// started in the background. Never shared across tenants: each runs as its tenant's uid.
struct PrestartPool {
  std::map<std::string, std::shared_ptr<ProcessInstance>> ready;  // by prestartKey()
  std::set<std::string> starting;
};

// The runtime a pre-started instance is built as: the relay's runtimes share one adapter and
// one seccomp profile, so a relay started as "provided" can become a java or http function.
std::string prestartRuntime(const std::string& runtime) {
  return runtime == "python3" || runtime == "node" ? runtime : "provided";
}

std::string prestartKey(const std::string& tenant, const std::string& runtime) {
  return tenant + "/" + prestartRuntime(runtime);
}

awaitable<void> prestartFor(std::shared_ptr<PrestartPool> pool, asio::any_io_executor executor,
                            InstanceSpec spec, LaunchConfig launch, sandbox::Sandbox& sandbox,
                            std::chrono::milliseconds delay) {
  if (delay.count() > 0) {
    asio::steady_timer wait(executor, delay);
    boost::system::error_code ignored;
    co_await wait.async_wait(asio::redirect_error(use_awaitable, ignored));
  }
  auto instance =
      co_await ProcessInstance::spawn(executor, spec, launch, sandbox, /*prestart=*/true);
  Status standing_by = instance.status();
  if (instance) {
    standing_by = co_await (*instance)->awaitStandby(Clock::now() + std::chrono::seconds(30));
  }
  const std::string key = prestartKey(spec.tenant, spec.runtime);
  pool->starting.erase(key);
  if (standing_by.isOk()) {
    pool->ready[key] = std::move(*instance);
    observe::logEvent(observe::LogLevel::Debug, "instance.prestarted",
                      {{"tenant", spec.tenant}, {"runtime", spec.runtime}});
  } else {
    observe::logEvent(
        observe::LogLevel::Warn, "instance.prestart_failed",
        {{"tenant", spec.tenant}, {"runtime", spec.runtime}, {"error", standing_by.message()}});
  }
}

class ProcessLauncher final : public InstanceLauncher {
 public:
  ProcessLauncher(asio::any_io_executor executor, LaunchConfig launch, sandbox::Sandbox& sandbox)
      : executor_(std::move(executor)), launch_(std::move(launch)), sandbox_(sandbox) {}
  ~ProcessLauncher() override {
    for (auto& [key, instance] : pool_->ready) instance->kill("the server is stopping");
  }

  awaitable<Result<InstancePtr>> start(const InstanceSpec& spec, Clock::time_point deadline,
                                       std::string& init_logs) override {
    if (prestartable(spec)) {
      std::shared_ptr<ProcessInstance> pooled;
      if (auto it = pool_->ready.find(prestartKey(spec.tenant, spec.runtime));
          it != pool_->ready.end()) {
        pooled = std::move(it->second);
        pool_->ready.erase(it);
      }
      // The replacement is built once this cold start is served (a few ms), not while it is.
      refill(spec.tenant, spec.runtime,
             pooled ? std::chrono::milliseconds(10) : std::chrono::milliseconds(0));
      if (pooled && pooled->alive()) {
        Status loaded = co_await pooled->load(spec, launch_, deadline, init_logs);
        if (loaded.isOk()) co_return InstancePtr(pooled);
        // The function's own failure (its import raised, it timed out) is the answer; a failure
        // of the attach itself falls back to a sandbox built for this function.
        if (loaded.code() != Code::Internal) co_return loaded;
      }
    }
    co_return co_await ProcessInstance::start(executor_, spec, launch_, sandbox_, deadline,
                                              init_logs);
  }

  // The tenant's first cold start of this runtime finds a pre-started instance too.
  void prepare(const InstanceSpec& spec) override {
    if (prestartable(spec)) refill(spec.tenant, spec.runtime);
  }

 private:
  // No egress (its network is set up with the sandbox), and only where code can be attached
  // later. Node reads NODE_OPTIONS and the like when it starts, before LOAD brings them: a
  // function that sets one gets a node started with it.
  bool prestartable(const InstanceSpec& spec) const {
    if (spec.runtime == "node") {
      for (const auto& [key, value] : spec.env) {
        if (key.rfind("NODE_", 0) == 0 || key.rfind("UV_", 0) == 0) return false;
      }
    }
    return launch_.prestart && sandbox_.isolatesFilesystem() && spec.network == "none";
  }

  // `delay`: building a sandbox blocks this loop for a few milliseconds (cgroups, posix_spawn);
  // after a cold start took the pre-started instance, that waits until its first call is served.
  void refill(const std::string& tenant, const std::string& runtime,
              std::chrono::milliseconds delay = std::chrono::milliseconds(0)) {
    const std::string key = prestartKey(tenant, runtime);
    if (pool_->ready.count(key) || pool_->starting.count(key)) return;
    pool_->starting.insert(key);
    InstanceSpec generic;
    generic.tenant = tenant;
    generic.runtime = prestartRuntime(runtime);
    asio::co_spawn(executor_, prestartFor(pool_, executor_, generic, launch_, sandbox_, delay),
                   asio::detached);
  }

  asio::any_io_executor executor_;
  LaunchConfig launch_;
  sandbox::Sandbox& sandbox_;
  std::shared_ptr<PrestartPool> pool_ = std::make_shared<PrestartPool>();
};

}  // namespace

std::unique_ptr<InstanceLauncher> makeProcessLauncher(asio::any_io_executor executor,
                                                      LaunchConfig launch,
                                                      sandbox::Sandbox& sandbox) {
  return std::make_unique<ProcessLauncher>(std::move(executor), std::move(launch), sandbox);
}

}  // namespace gust::worker

namespace gust::worker {

void StreamSink::start(std::string head_json) {
  {
    std::lock_guard lock(mutex_);
    if (closed_ || head_) return;
    head_ = std::move(head_json);
  }
  wake();
}

void StreamSink::push(std::string chunk) {
  {
    std::lock_guard lock(mutex_);
    if (closed_) return;
    chunks_.push_back(std::move(chunk));
  }
  wake();
}

void StreamSink::close() {
  {
    std::lock_guard lock(mutex_);
    if (closed_) return;
    closed_ = true;
  }
  wake();
}

bool StreamSink::started() const {
  std::lock_guard lock(mutex_);
  return head_.has_value();
}

void StreamSink::wake() {
  // The consumer checks and starts waiting without yielding on its executor, so a cancel posted
  // there runs after the wait began: no wake-up is lost.
  asio::post(wake_.get_executor(), [self = shared_from_this()] { self->wake_.cancel(); });
}

awaitable<StreamSink::Batch> StreamSink::take() {
  auto self = shared_from_this();
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      Batch batch;
      if (head_ && !head_taken_) {
        batch.head = *head_;
        head_taken_ = true;
      }
      while (!chunks_.empty()) {
        batch.chunks.push_back(std::move(chunks_.front()));
        chunks_.pop_front();
      }
      batch.closed = closed_;
      if (batch.head || !batch.chunks.empty() || batch.closed) co_return batch;
      wake_.expires_at(std::chrono::steady_clock::time_point::max());
    }
    boost::system::error_code ec;
    co_await wake_.async_wait(asio::redirect_error(use_awaitable, ec));
  }
}

}  // namespace gust::worker
