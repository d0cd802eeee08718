#include "server/server.h"

#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <fmt/format.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle/deployer.h"
#include "common/ids.h"
#include "common/time.h"
#include "control/control_api.h"
#include "events/events.h"
#include "gateway/catalog.h"
#include "gateway/gateway.h"
#include "gateway/http_status.h"
#include "gateway/invoker.h"
#include "http/server.h"
#include "loop/event_loop.h"
#include "loop/offload.h"
#include "metering/metering.h"
#include "observe/log.h"
#include "observe/metrics.h"
#include "os/disk_guard.h"
#include "os/files.h"
#include "os/toolchain.h"
#include "sandbox/sandbox.h"
#include "scheduler/scheduler.h"
#include "secrets/secret_box.h"
#include "server/data_dir_lock.h"
#include "server/retention.h"
#include "store/sqlite/sqlite_store.h"

#ifndef GUST_SOURCE_DIR
#define GUST_SOURCE_DIR ""
#endif

namespace gust::server {
namespace {

namespace fs = std::filesystem;
namespace asio = boost::asio;

std::string findRuntimesDir(const std::string& configured) {
  auto has_adapters = [](const fs::path& dir) {
    return fs::exists(dir / "python" / "gust_adapter.py") &&
           fs::exists(dir / "node" / "adapter.mjs");
  };
  if (!configured.empty()) return fs::absolute(configured).string();
  if (const char* env = std::getenv("GUST_RUNTIMES"); env && *env) return env;
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  for (fs::path dir = exe.parent_path(); !ec && !dir.empty() && dir != dir.root_path();
       dir = dir.parent_path()) {
    if (has_adapters(dir / "runtimes")) return (dir / "runtimes").string();
    if (has_adapters(dir / "share" / "gust" / "runtimes"))
      return (dir / "share" / "gust" / "runtimes").string();
  }
  fs::path source = fs::path(GUST_SOURCE_DIR) / "runtimes";
  if (has_adapters(source)) return source.string();
  return "";
}

Result<std::string> loadOrCreateToken(const std::string& data_dir, bool& created) {
  std::string path = data_dir + "/admin.token";
  auto existing = os::readFile(path);
  if (existing) {
    std::string token = *existing;
    while (!token.empty() && (token.back() == '\n' || token.back() == ' ')) token.pop_back();
    if (!token.empty()) {
      created = false;
      return token;
    }
  }
  std::string token = "gust_" + randomHex(24);
  GUST_RETURN_IF_ERROR(os::writeFileAtomic(path, token + "\n", 0600));
  created = true;
  return token;
}

// The names that reach this server whatever routes say: no tenant may claim them as its host.
std::vector<std::string> serverNames(const std::string& listen_host) {
  std::vector<std::string> names{listen_host};
  char machine[256] = {};
  if (::gethostname(machine, sizeof machine - 1) == 0 && machine[0] != '\0')
    names.emplace_back(machine);
  return names;
}

bool splitListen(const std::string& listen, std::string& host, uint16_t& port) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos) return false;
  host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  try {
    int p = std::stoi(listen.substr(colon + 1));
    if (p < 0 || p > 65535) return false;
    port = static_cast<uint16_t>(p);
  } catch (...) {
    return false;
  }
  return !host.empty();
}

// Samples the data dir's disk; says in the server log when refusing starts and stops (the
// callers' 507 names no path: the operator's detail is here and in the metrics).
void watchDisk(os::DiskGuard& guard, const std::string& data_dir) {
  auto sample = guard.sample();
  if (!sample) {
    observe::logEvent(observe::LogLevel::Warn, "disk.unmeasured",
                      {{"error", sample.status().message()}});
    return;
  }
  if (!sample->changed) return;
  observe::logEvent(sample->refusing ? observe::LogLevel::Error : observe::LogLevel::Info,
                    sample->refusing ? "disk.low_refusing_new_work" : "disk.recovered_serving",
                    {{"data_dir", data_dir},
                     {"free_bytes", sample->free_bytes},
                     {"min_free_bytes", guard.minFreeBytes()}});
}

}  // namespace

int serve(const ServeOptions& options) {
  observe::LogLevel level = observe::LogLevel::Info;
  if (!observe::parseLogLevel(options.log_level, level) ||
      (options.log_format != "json" && options.log_format != "text")) {
    std::fprintf(stderr,
                 "gust: --log-level must be debug|info|warn|error and --log-format json|text\n");
    return 2;
  }
  observe::initLog(
      options.log_format == "json" ? observe::LogFormat::Json : observe::LogFormat::Text, level);
  // Signals are taken synchronously by this thread; block them before any other thread (the
  // store's writer is the first) starts, so that every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  std::string host;
  uint16_t port = 0;
  if (!splitListen(options.listen, host, port)) {
    std::fprintf(stderr, "gust: --listen must be HOST:PORT, e.g. 127.0.0.1:8080 (got '%s')\n",
                 options.listen.c_str());
    return 2;
  }
  std::error_code ec;
  fs::create_directories(options.data_dir, ec);
  if (ec) {
    std::fprintf(stderr, "gust: cannot create data dir %s: %s\n", options.data_dir.c_str(),
                 ec.message().c_str());
    return 1;
  }
  ::chmod(options.data_dir.c_str(), 0700);
  std::string data_dir = fs::canonical(options.data_dir).string();
  // Before anything in the dir is read or reclaimed: a second server on it must not start.
  auto data_dir_lock = DataDirLock::acquire(data_dir);
  if (!data_dir_lock) {
    std::fprintf(stderr, "gust: %s\n", data_dir_lock.status().message().c_str());
    return 1;
  }

  bool token_created = false;
  auto token = loadOrCreateToken(data_dir, token_created);
  if (!token) {
    std::fprintf(stderr, "gust: %s\n", token.status().message().c_str());
    return 1;
  }
  auto toolchain = os::resolveToolchain();
  if (!toolchain) {
    std::fprintf(stderr, "gust: %s\n", toolchain.status().message().c_str());
    return 1;
  }
  std::string runtimes_dir = findRuntimesDir(options.runtimes_dir);
  if (runtimes_dir.empty()) {
    std::fprintf(stderr,
                 "gust: cannot find the runtime adapters (runtimes/python, runtimes/node); "
                 "pass --runtimes DIR\n");
    return 1;
  }
  metering::PriceTable default_prices;
  Result<metering::PriceTable> prices = default_prices;
  if (!options.config_path.empty()) {
    auto text = os::readFile(options.config_path);
    if (!text) {
      std::fprintf(stderr, "gust: %s\n", text.status().message().c_str());
      return 1;
    }
    prices = metering::parsePriceTable(*text);
    if (!prices) {
      std::fprintf(stderr, "gust: %s: %s\n", options.config_path.c_str(),
                   prices.status().message().c_str());
      return 2;
    }
  }
  // Secrets are sealed under this key; a key others can read is a key others have.
  auto master_key = secrets::loadOrCreateMasterKey(data_dir + "/master.key");
  if (!master_key) {
    std::fprintf(stderr, "gust: %s\n", master_key.status().message().c_str());
    return 1;
  }
  secrets::SecretBox secret_box(*master_key);
  auto store = store::openSqliteStore({data_dir + "/gust.db"});
  if (!store) {
    std::fprintf(stderr, "gust: %s\n", store.status().message().c_str());
    return 1;
  }
  uint64_t min_free = static_cast<uint64_t>(std::max<int64_t>(options.min_free_mb, 0)) << 20;
  os::DiskGuard disk_guard(os::DiskGuard::freeBytesOf(data_dir), min_free, min_free / 4);
  watchDisk(disk_guard,
            data_dir);  // a server started on a full disk refuses from its first request

  std::unique_ptr<sandbox::Sandbox> sandbox;
  if (options.sandbox == "none") {
    sandbox = sandbox::makeUnconfinedSandbox();
  } else if (options.sandbox == "linux") {
    // gust-sandbox is built and installed beside gust.
    std::string helper =
        (fs::read_symlink("/proc/self/exe").parent_path() / "gust-sandbox").string();
    auto linux_sandbox = sandbox::makeLinuxSandbox({helper, data_dir + "/sandbox"});
    if (!linux_sandbox) {
      std::fprintf(stderr, "gust: %s\n", linux_sandbox.status().message().c_str());
      return 1;
    }
    sandbox = std::move(*linux_sandbox);
  } else {
    std::fprintf(stderr, "gust: --sandbox must be linux or none, not '%s'\n",
                 options.sandbox.c_str());
    return 2;
  }
  int io_threads = options.io_threads > 0 ? options.io_threads
                                          : std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::unique_ptr<loop::EventLoop>> io_loops;
  std::vector<loop::EventLoop*> io_loop_ptrs;
  for (int i = 0; i < io_threads; ++i) {
    io_loops.push_back(std::make_unique<loop::EventLoop>(fmt::format("gust-io-{}", i)));
    io_loop_ptrs.push_back(io_loops.back().get());
  }
  loop::EventLoop scheduler_loop("gust-sched");
  asio::thread_pool blocking(4);
  asio::thread_pool builds(2);

  worker::LaunchConfig launch{toolchain->python, toolchain->node, runtimes_dir,
                              options.meter_process, options.prestart};
  launch.max_reply_bytes = options.max_response_bytes;
  bundle::BuildOptions build_options;
  build_options.network = options.build_network;
  build_options.timeout_s = options.build_timeout_s;
  build_options.memory_mb = options.build_memory_mb;
  build_options.mounts = worker::runtimeMounts(launch);
  bundle::BuildSandbox build_sandbox(*sandbox, build_options);
  bundle::Deployer deployer(data_dir, **store, *toolchain, bundle::BundleLimits{}, build_sandbox,
                            {options.max_version_mb << 20, options.tenant_disk_mb << 20});
  gateway::Catalog catalog(**store, deployer, secret_box);
  if (Status routes = catalog.reloadRoutes(); !routes.isOk()) {
    std::fprintf(stderr, "gust: %s\n", routes.message().c_str());
    return 1;
  }
  if (Status compiled = worker::compileAdapters(launch); !compiled.isOk()) {
    observe::logEvent(observe::LogLevel::Warn, "runtimes.not_compiled",
                      {{"error", compiled.message()}});
  }
  scheduler::SchedulerOptions scheduler_options;
  scheduler_options.idle_ttl = options.idle_ttl;
  scheduler_options.max_queue_per_function = options.max_queue;
  scheduler_options.max_queue_wait = options.queue_wait;
  if (options.sandbox == "linux") {
    Status self_test = sandbox::runSelfTest(
        *sandbox, toolchain->python, worker::runtimeMounts(launch), {data_dir, runtimes_dir});
    if (!self_test.isOk()) {
      std::fprintf(stderr, "gust: %s\n", self_test.message().c_str());
      return 1;
    }
  }
  auto launcher = worker::makeProcessLauncher(scheduler_loop.executor(), launch, *sandbox);
  scheduler::Scheduler scheduler(scheduler_loop.executor(), *launcher, scheduler_options);
  observe::Registry metrics;
  gateway::Invoker invoker(catalog, scheduler, **store, blocking, metrics);
  gateway::Gateway gateway(**store, catalog, invoker, blocking, metrics, options.max_body_bytes);
  if (Status loaded = gateway.reload(); !loaded.isOk()) {
    std::fprintf(stderr, "gust: %s\n", loaded.message().c_str());
    return 1;
  }
  events::Events events(**store, catalog, invoker, blocking);
  // Requests that ask for an asynchronous invocation pass the gateway's keys, policies and
  // limits, then become durable events.
  gateway.setAsyncSink(&events);
  gateway.setDiskGuard(&disk_guard);
  control::ControlApi control({**store, catalog, invoker, gateway, deployer, scheduler, blocking,
                               builds, *token, *prices, secret_box, events, serverNames(host),
                               &disk_guard});

  http::ServerOptions http_options;
  http_options.host = host;
  http_options.port = port;
  uint64_t max_bundle = options.max_bundle_bytes;
  http_options.body_limit = [max_bundle, &gateway](const http::RequestHead& head) {
    std::string_view target = head.target();
    std::string_view path = target.substr(0, target.find('?'));
    bool deploy = path.starts_with("/api/v1/functions/") && path.ends_with("/versions");
    return deploy ? max_bundle : gateway.bodyLimit(head);
  };
  http_options.header_timeout = options.header_timeout;
  http_options.max_connections = options.max_connections;
  auto handler = [&](http::Exchange& exchange) -> asio::awaitable<void> {
    std::string_view target = exchange.request().target();
    std::string_view path = target.substr(0, target.find('?'));
    if (path == "/healthz") {
      http::Response response(http::beast::http::status::ok, 11);
      response.set(http::Field::content_type, "application/json");
      response.body() = "{\"status\":\"ok\"}\n";
      co_await exchange.respond(std::move(response));
      co_return;
    }
    if (path == "/metrics") {
      // Gauges are read from their owners at scrape time: the scheduler's on its loop.
      auto snapshot = [&scheduler] { return scheduler.stats(); };
      auto pools = co_await loop::offload(scheduler_loop.executor(), snapshot);
      metrics.clear("gust_instances");
      metrics.clear("gust_queue_depth");
      for (const auto& pool : pools) {
        metrics
            .gauge("gust_instances", "Live instances by state",
                   {{"function", pool.function}, {"state", "busy"}})
            .add(pool.busy);
        metrics
            .gauge("gust_instances", "Live instances by state",
                   {{"function", pool.function}, {"state", "idle"}})
            .add(pool.instances - pool.busy);
        metrics
            .gauge("gust_queue_depth", "Invocations waiting for an instance",
                   {{"function", pool.function}})
            .add(pool.queued);
      }
      metrics.gauge("gust_store_writer_lag", "Activation records waiting to be committed")
          .set(static_cast<double>((**store).pendingActivations()));
      metrics.gauge("gust_data_dir_free_bytes", "Free bytes on the data dir's disk (last sample)")
          .set(static_cast<double>(disk_guard.freeBytes()));
      metrics
          .gauge("gust_disk_guard_refusing", "1 while new work is refused for lack of disk (507)")
          .set(disk_guard.refusing() ? 1 : 0);
      http::Response response(http::beast::http::status::ok, 11);
      response.set(http::Field::content_type, "text/plain; version=0.0.4; charset=utf-8");
      response.body() = metrics.exposition();
      co_await exchange.respond(std::move(response));
      co_return;
    }
    if (path == control::kApiPrefix || path.starts_with("/api/v1/")) {
      co_await control.handle(exchange);
      co_return;
    }
    co_await gateway.serve(exchange);
  };
  http::Server http_server(http_options, io_loop_ptrs, handler);
  for (auto& loop : io_loops) loop->start();
  scheduler_loop.start();
  if (Status started = events.start(); !started.isOk()) {
    std::fprintf(stderr, "gust: %s\n", started.message().c_str());
    for (auto& loop : io_loops) loop->stop();
    scheduler_loop.stop();
    return 1;
  }
  if (Status started = http_server.start(); !started.isOk()) {
    std::fprintf(stderr, "gust: %s\n", started.message().c_str());
    for (auto& loop : io_loops) loop->stop();
    scheduler_loop.stop();
    return 1;
  }
  std::string url =
      fmt::format("http://{}:{}", host.find(':') != std::string::npos ? "[" + host + "]" : host,
                  http_server.port());
  (void)os::writeFileAtomic(data_dir + "/server.url", url + "\n", 0600);
  std::printf("gust serving on %s (data in %s)\n", url.c_str(), data_dir.c_str());
  std::printf("  sandbox: %s\n", sandbox->describe().c_str());
  std::printf("  python: %s  node: %s\n", toolchain->python.c_str(),
              toolchain->node.empty() ? "(not installed)" : toolchain->node.c_str());
  if (token_created) {
    std::printf("  admin token (stored in %s/admin.token, shown once): %s\n", data_dir.c_str(),
                token->c_str());
  } else {
    std::printf("  admin token: in %s/admin.token\n", data_dir.c_str());
  }
  std::fflush(stdout);
  observe::logEvent(observe::LogLevel::Info, "server.started",
                    {{"url", url},
                     {"data_dir", data_dir},
                     {"io_threads", io_threads},
                     {"sandbox", sandbox->describe()},
                     {"runtimes", runtimes_dir}});

  RetentionOptions retention_options;
  retention_options.activations = {options.retain_days, options.retain_mb};
  retention_options.usage_days = options.retain_usage_days;
  retention_options.access_days = options.retain_access_days;
  retention_options.access_rows = options.retain_access_rows;
  retention_options.async_days = options.retain_async_days;
  retention_options.audit_days = options.retain_audit_days;
  retention_options.interval = std::chrono::seconds(options.retention_interval_s);
  auto retention = std::make_unique<RetentionRunner>(**store, retention_options);

  std::mutex retention_mutex;
  std::condition_variable retention_cv;
  bool stopping = false;
  // Quota counts reach the store every second, so usage plans survive a restart; the disk
  // guard samples as often.
  std::thread quota_flusher([&] {
    std::unique_lock lock(retention_mutex);
    while (!retention_cv.wait_for(lock, std::chrono::seconds(1), [&] { return stopping; })) {
      lock.unlock();
      gateway.flushQuotas();
      watchDisk(disk_guard, data_dir);
      lock.lock();
    }
  });

  int received = 0;
  sigwait(&signals, &received);
  {
    std::lock_guard lock(retention_mutex);
    stopping = true;
  }
  retention_cv.notify_all();
  retention.reset();
  quota_flusher.join();
  observe::logEvent(observe::LogLevel::Info, "server.draining", {{"signal", strsignal(received)}});

  // Drain: stop accepting, let invocations in flight finish (bounded), then stop instances.
  http_server.stop();
  events.stopTaking();
  auto drain_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < drain_deadline) {
    std::promise<int> busy;
    asio::post(scheduler_loop.executor(), [&] {
      int total = 0;
      for (const auto& pool : scheduler.stats()) total += pool.busy + pool.queued;
      busy.set_value(total);
    });
    // An invocation that finished still has its response to write: wait for that too.
    if (busy.get_future().get() == 0 && http_server.requestsInFlight() == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::promise<void> stopped;
  asio::post(scheduler_loop.executor(), [&] {
    scheduler.shutdown();
    stopped.set_value();
  });
  stopped.get_future().wait();
  events.join();
  for (auto& loop : io_loops) loop->stop();
  scheduler_loop.stop();
  blocking.join();
  builds.join();
  gateway.flushQuotas();
  (**store).flushActivations();
  observe::logEvent(observe::LogLevel::Info, "server.stopped");
  return 0;
}

}  // namespace gust::server
