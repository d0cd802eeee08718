#include "bundle/build_sandbox.h"

#include <cstdlib>
#include <filesystem>

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/ids.h"
#include "os/files.h"

namespace gust::bundle {
namespace {

namespace fs = std::filesystem;

// Where a build's two writable directories appear inside the sandbox.
constexpr const char* kCodeInside = "/code";
constexpr const char* kCacheInside = "/cache";

// The operator's registry settings (a mirror, a proxy) reach builds; nothing else of the
// server's environment does. Whatever these hold is visible to the tenant's build scripts.
constexpr const char* kPassedThrough[] = {
    "PIP_INDEX_URL",       "PIP_EXTRA_INDEX_URL", "PIP_TRUSTED_HOST", "PIP_DEFAULT_TIMEOUT",
    "NPM_CONFIG_REGISTRY", "npm_config_registry", "HTTPS_PROXY",      "https_proxy",
    "HTTP_PROXY",          "http_proxy",          "NO_PROXY",         "no_proxy",
};

// Host directories the JDK and Maven link their configuration into (/usr/share/maven/conf and
// .../jvm/*/conf point at /etc): shown read-only, since /etc is otherwise generated.
std::vector<sandbox::Mount> javaConfigMounts() {
  std::vector<sandbox::Mount> mounts;
  std::error_code ec;
  if (fs::is_directory("/etc/maven", ec)) mounts.push_back({"/etc/maven", "/etc/maven"});
  for (const auto& entry : fs::directory_iterator("/etc", ec)) {
    std::string name = entry.path().filename().string();
    if (name.starts_with("java-") && entry.is_directory(ec) && !entry.is_symlink(ec)) {
      mounts.push_back({entry.path().string(), entry.path().string()});
    }
  }
  return mounts;
}

Status failedToFinish(const sandbox::ExitCause& cause, const BuildOptions& options) {
  if (cause.out_of_memory) {
    return invalidArgument(fmt::format(
        "it ran out of memory: a build may use {} MiB (its /tmp included)", options.memory_mb));
  }
  if (cause.pids_exhausted) {
    return invalidArgument(
        fmt::format("it started too many processes: a build may run {} at once", options.max_pids));
  }
  return Status::ok();
}

}  // namespace

BuildSandbox::BuildSandbox(sandbox::Sandbox& sandbox, BuildOptions options)
    : sandbox_(sandbox), options_(std::move(options)) {
  for (auto& mount : javaConfigMounts()) options_.mounts.push_back(std::move(mount));
}

Status BuildSandbox::begin(const BuildJob& job) {
  std::error_code ec;
  fs::create_directories(job.cache_dir, ec);
  if (ec) return internalError(fmt::format("cannot create the build cache: {}", ec.message()));
  auto uid = sandbox_.hostUidFor(job.tenant);
  if (!uid) return uid.status();
  // The cache (one per tenant, 0700) stays the tenant's between builds; build-cache/ is root's.
  ::chmod(job.cache_dir.c_str(), 0700);
  GUST_RETURN_IF_ERROR(os::chownTree(job.cache_dir, *uid, *uid, false));
  return os::chownTree(job.code_dir, *uid, *uid, false);
}

Status BuildSandbox::end(const BuildJob& job) {
  return os::chownTree(job.code_dir, ::geteuid(), ::getegid(), true);
}

std::string BuildSandbox::codePath(const BuildJob& job) const {
  return sandbox_.isolatesFilesystem() ? kCodeInside : job.code_dir;
}

std::string BuildSandbox::cachePath(const BuildJob& job) const {
  return sandbox_.isolatesFilesystem() ? kCacheInside : job.cache_dir;
}

std::map<std::string, std::string> BuildSandbox::environment(const BuildJob& job) const {
  const std::string code = codePath(job);
  const std::string cache = cachePath(job);
  std::map<std::string, std::string> env = {
      {"PATH", code + "/.venv/bin:" + code + "/node_modules/.bin:/usr/local/bin:/usr/bin:/bin"},
      {"HOME", sandbox_.isolatesFilesystem() ? "/tmp" : cache},
      {"TMPDIR", "/tmp"},
      {"LANG", "C.UTF-8"},
      {"PIP_CACHE_DIR", cache + "/pip"},
      {"PIP_DISABLE_PIP_VERSION_CHECK", "1"},
      {"PIP_NO_INPUT", "1"},
      {"npm_config_cache", cache + "/npm"},
      {"npm_config_update_notifier", "false"},
      // Lifecycle scripts' output (a dependency's postinstall too) shows in the deploy's progress.
      {"npm_config_foreground_scripts", "true"},
  };
  // pip trusts its own CA bundle unless told; the system's is what this host's operator keeps.
  if (fs::exists("/etc/ssl/certs/ca-certificates.crt")) {
    env["PIP_CERT"] = "/etc/ssl/certs/ca-certificates.crt";
  }
  // /usr/bin/java goes through /etc/alternatives, which a sandbox does not show.
  if (fs::exists("/usr/lib/jvm/default-java")) env["JAVA_HOME"] = "/usr/lib/jvm/default-java";
  for (const char* name : kPassedThrough) {
    if (const char* value = std::getenv(name); value && *value) env[name] = value;
  }
  return env;
}

sandbox::SandboxSpec BuildSandbox::specFor(const BuildJob& job,
                                           const std::vector<std::string>& argv,
                                           bool fetches) const {
  sandbox::SandboxSpec spec;
  spec.tenant = job.tenant;
  spec.instance_id = "build-" + randomHex(8);
  spec.runtime = "build";  // the widest allowlist: npm's node and pip's python both run
  spec.argv = argv;
  spec.env = environment(job);
  spec.mounts = options_.mounts;
  spec.mounts.push_back({job.code_dir, kCodeInside, true});
  spec.mounts.push_back({job.cache_dir, kCacheInside, true});
  spec.cwd = codePath(job);
  spec.memory_mb = options_.memory_mb;
  spec.tmp_mb = options_.tmp_mb;
  spec.file_mb = job.max_bytes > 0 ? (job.max_bytes >> 20) + 1 : options_.tmp_mb;
  spec.max_pids = options_.max_pids;
  spec.network = fetches ? options_.network : "none";
  return spec;
}

Result<os::CommandResult> BuildSandbox::run(const BuildJob& job,
                                            const std::vector<std::string>& argv, bool fetches,
                                            const ProgressFn& progress) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return internalError("pipe2 failed");
  int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  sandbox::SandboxSpec spec = specFor(job, argv, fetches);
  spec.fds = {{0, devnull}, {1, pipe_fds[1]}, {2, pipe_fds[1]}, {3, devnull}};
  auto process = sandbox_.start(spec);
  ::close(pipe_fds[1]);
  ::close(devnull);
  if (!process) {
    ::close(pipe_fds[0]);
    return process.status();
  }
  // The cap is checked twice a second while the step runs (RLIMIT_FSIZE stops a single file at
  // it at once): a step can overshoot by what it writes in half a second, then it is killed.
  // The code dir may hold the cap, and the package cache may grow by as much in one step.
  auto cache_before = os::diskUsage(job.cache_dir);
  if (!cache_before) return cache_before.status();
  auto within_cap = [&]() -> Status {
    if (job.max_bytes <= 0) return Status::ok();
    auto code = os::diskUsage(job.code_dir);
    if (!code) return code.status();
    auto cache = os::diskUsage(job.cache_dir);
    if (!cache) return cache.status();
    if (*code <= job.max_bytes && *cache - *cache_before <= job.max_bytes) return Status::ok();
    return Status(Code::TooLarge,
                  fmt::format("the build wrote more than {}: remove dependencies or files you do "
                              "not need",
                              job.cap));
  };
  os::WatchResult watched = os::watchOutput(pipe_fds[0], options_.timeout_s, progress, within_cap);
  ::close(pipe_fds[0]);
  if (watched.timed_out || !watched.stopped.isOk()) (*process)->kill();
  os::CommandResult result;
  result.exit_code = os::exitCodeOf((*process)->handle().pid);
  ::close((*process)->handle().pidfd);  // the caller's to close (sandbox.h)
  result.output = std::move(watched.output);
  result.timed_out = watched.timed_out;
  if (!watched.stopped.isOk()) return watched.stopped;
  if (watched.timed_out) {
    return invalidArgument(
        fmt::format("it took longer than {} s and was stopped (gust serve --build-timeout)",
                    options_.timeout_s));
  }
  if (Status cause = failedToFinish((*process)->exitCause(), options_); !cause.isOk()) return cause;
  // Also after a failure: a write stopped at the cap (EFBIG) is the cap's doing, not the step's.
  if (Status capped = within_cap(); !capped.isOk()) return capped;
  return result;
}

}  // namespace gust::bundle
