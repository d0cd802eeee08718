#pragma once
// Sandbox: turns a spec (command, environment, mounts, limits, network policy) into a running,
// isolated process. The worker asks; the sandbox decides how. Implementations:
//   linux/   namespaces, a pivot_root into read-only binds, cgroups, seccomp, rlimits (the default)
//   unconfined.cc  plain child processes with no isolation (`gust serve --sandbox none`: the
//            control mode the escape suite compares against, and hosts without namespaces)

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "os/proc_stats.h"
#include "os/process.h"

namespace gust::sandbox {

// A host directory made visible inside the sandbox at `target`: read-only, unless `writable`
// (a build's own directory; the tenant's uid must own it, see Sandbox::hostUidFor).
struct Mount {
  std::string source;
  std::string target;
  bool writable = false;
};

struct SandboxSpec {
  std::string tenant;             // selects the host uid the process runs as
  std::string instance_id;        // unique per instance; names its cgroup
  std::string runtime;            // python3 | node | java | provided | http: selects the seccomp allowlist
  std::vector<std::string> argv;  // paths as seen inside (see isolatesFilesystem())
  std::map<std::string, std::string> env;  // the whole environment: nothing is inherited
  std::vector<Mount> mounts;      // the runtime and the code; nothing else of the host is visible
  std::string cwd;                // inside
  std::map<int, int> fds;         // child fd -> parent fd (stdio and the protocol socket)
  int64_t memory_mb = 256;
  int64_t tmp_mb = 64;            // the private /tmp
  int64_t file_mb = 0;            // the largest file it may write (RLIMIT_FSIZE); 0: tmp_mb
  int64_t max_pids = 64;
  std::string network = "none";   // none | egress
};

// Facts about how one sandboxed process ended that its exit status cannot tell.
struct ExitCause {
  bool out_of_memory = false;   // the memory limit killed it
  bool pids_exhausted = false;  // a fork or clone failed at the pids limit
};

// One started sandbox. Destroying it kills whatever still runs in it and releases what it held
// (cgroups). Call from one thread at a time.
class Process {
 public:
  virtual ~Process() = default;
  // The process the caller waits on (its pidfd turns readable when the sandbox is gone) and
  // kills to end it: killing it ends every process inside.
  virtual const os::Child& handle() const = 0;
  // Meters what runs in the sandbox, for one activation at a time; null if it cannot be metered
  // (yet: ask again at the next activation).
  virtual std::unique_ptr<os::UsageMeter> meter() = 0;
  // Kills every process in the sandbox.
  virtual void kill() = 0;
  // Read after the handle exited.
  virtual ExitCause exitCause() = 0;
  // For a process started without its code (a pre-started instance): shows `code_dir` at /code,
  // read-only, and applies the function's limits. Only where isolatesFilesystem().
  virtual Status attachCode(const std::string& code_dir, int64_t memory_mb, int64_t tmp_mb) = 0;
};

class Sandbox {
 public:
  virtual ~Sandbox() = default;
  // Starts the process. Every mandatory layer must be in place before user code runs: if one
  // cannot be set up, the command never runs (fail closed) and the process exits with a message
  // on its stderr naming the layer that failed.
  virtual Result<std::unique_ptr<Process>> start(const SandboxSpec& spec) = 0;
  // True when the process sees only `mounts` at their targets; false when it sees the host's
  // filesystem (then paths are the sources').
  virtual bool isolatesFilesystem() const = 0;
  // One line for the server's start-up banner: what isolation instances get.
  virtual std::string describe() const = 0;
  // The host uid (and gid) that `tenant`'s processes run as: what owns the files they create in
  // a writable mount. The unconfined sandbox answers the server's own.
  virtual Result<uid_t> hostUidFor(const std::string& tenant) = 0;
};

// Runs functions as plain child processes of the server: no isolation at all.
std::unique_ptr<Sandbox> makeUnconfinedSandbox();

struct LinuxSandboxOptions {
  std::string helper_binary;  // gust-sandbox, the setup helper (src/sandbox_main.cpp)
  std::string state_dir;      // holds the tenant -> host uid table
};

// The Linux sandbox, or an error saying which kernel feature is missing.
Result<std::unique_ptr<Sandbox>> makeLinuxSandbox(const LinuxSandboxOptions& options);

// Starts a canary in `sandbox` (running `python`, with `mounts`) that tries the core escapes:
// capabilities, no_new_privs, seccomp, uid, host paths (and each of `hidden_paths`), writes
// outside /tmp, other processes, packet sockets, the network, unshare, ptrace. An error lists
// every escape that worked.
Status runSelfTest(Sandbox& sandbox, const std::string& python, const std::vector<Mount>& mounts,
                   const std::vector<std::string>& hidden_paths);

// The entry point of `gust-sandbox FD`, run by makeLinuxSandbox's start() in a fresh process:
// reads the spec from FD, builds the sandbox and runs the command in it; returns only on
// failure (exit status).
int runSandboxHelper(int spec_fd);

}  // namespace gust::sandbox
