#pragma once
// BuildSandbox: runs the steps of a version's build (the virtual environment, pip, npm, Maven,
// compileall) as the deploying tenant, in a sandbox as strict as an instance's: the tenant's host
// uid; its own mount namespace where the build directory (/code) and the tenant's package caches
// (/cache) are the only writable places; a clean environment; no view of the data dir, tokens or
// keys; cgroup limits on memory and pids; a wall-clock timeout; a cap on the bytes the build
// leaves in /code; network egress that never reaches the host or private ranges, or none.
// Under `--sandbox none` the steps are plain processes with the same environment, timeout and
// cap (the control mode, for trusted code only).
// Blocking: call on a build thread. Thread-safe: it holds nothing but its options.

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "os/process.h"
#include "sandbox/sandbox.h"

namespace gust::bundle {

using ProgressFn = std::function<void(std::string_view)>;

struct BuildOptions {
  std::string network = "egress";  // egress | none (`gust serve --build-network`)
  int64_t memory_mb = 2048;        // the build's cgroup; its /tmp counts against it
  int64_t tmp_mb = 512;
  int64_t max_pids = 512;
  int timeout_s = 600;                 // per step
  std::vector<sandbox::Mount> mounts;  // the toolchain's installations outside /usr, read-only
};

// One version's build: where it happens and how much it may leave behind.
struct BuildJob {
  std::string tenant;
  std::string code_dir;   // host path: the unpacked bundle, built in place
  std::string cache_dir;  // host path: the tenant's package caches, kept across its builds
  int64_t max_bytes = 0;  // what code_dir may hold while and after building; 0: no cap
  std::string cap;  // where max_bytes comes from, for the error: "a version may hold 1024 MiB"
};

class BuildSandbox final {
 public:
  BuildSandbox(sandbox::Sandbox& sandbox, BuildOptions options);

  // Hands the job's directories to the tenant's uid, before the first step.
  Status begin(const BuildJob& job);
  // Hands them back to the server's user (root), with set-id bits and group/other write cleared,
  // after the last step whatever happened: what instances later mount read-only is no longer the
  // tenant's.
  Status end(const BuildJob& job);

  // The job's directories as its steps see them.
  std::string codePath(const BuildJob& job) const;
  std::string cachePath(const BuildJob& job) const;

  // Runs one step (paths as its process sees them) in the code dir, its output going to
  // `progress` line by line. A step that `fetches` packages gets the build network; any other
  // gets loopback only. An error when it cannot start, times out, runs out of memory or pids,
  // or grows the code dir past the job's cap; otherwise its exit code and output.
  Result<os::CommandResult> run(const BuildJob& job, const std::vector<std::string>& argv,
                                bool fetches, const ProgressFn& progress);

 private:
  sandbox::SandboxSpec specFor(const BuildJob& job, const std::vector<std::string>& argv,
                               bool fetches) const;
  std::map<std::string, std::string> environment(const BuildJob& job) const;

  sandbox::Sandbox& sandbox_;
  BuildOptions options_;
};

}  // namespace gust::bundle
