#include "sandbox/sandbox.h"

namespace gust::sandbox {
namespace {

class UnconfinedSandbox final : public Sandbox {
 public:
  Result<os::Child> start(const SandboxSpec& spec) override {
    os::SpawnSpec spawn;
    spawn.argv = spec.argv;
    spawn.env = spec.env;
    spawn.cwd = spec.code_dir;
    spawn.fds = spec.fds;
    return os::spawn(spawn);
  }
  std::string describe() const override {
    return "unconfined: functions run as plain processes of this user (no namespaces, cgroups "
           "or seccomp yet); deploy only code you trust";
  }
};

}  // namespace

std::unique_ptr<Sandbox> makeUnconfinedSandbox() { return std::make_unique<UnconfinedSandbox>(); }

}  // namespace gust::sandbox
