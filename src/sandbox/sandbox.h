#pragma once
// Sandbox: turns a spec (command, environment, code dir, limits) into a running, isolated
// process. The worker asks; the sandbox decides how. Implementations live beside this header:
// unconfined.cc runs the process as is (the foundation's stand-in, with no isolation); the
// Linux namespaces/cgroups/seccomp sandbox replaces it (issue #3).

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "os/process.h"

namespace gust::sandbox {

struct SandboxSpec {
  std::string tenant;
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;
  std::string code_dir;           // the working directory; read-only in a real sandbox
  std::map<int, int> fds;         // child fd -> parent fd (stdio and the protocol socket)
  int64_t memory_mb = 256;
  std::string network = "none";
};

class Sandbox {
 public:
  virtual ~Sandbox() = default;
  // Starts the process. Every mandatory layer must be in place before user code runs: if one
  // cannot be set up, no process is started (fail closed).
  virtual Result<os::Child> start(const SandboxSpec& spec) = 0;
  // One line for the server's start-up banner: what isolation instances get.
  virtual std::string describe() const = 0;
};

// Runs functions as plain child processes of the server: no isolation at all.
std::unique_ptr<Sandbox> makeUnconfinedSandbox();

}  // namespace gust::sandbox
