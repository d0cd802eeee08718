#include "sandbox/sandbox.h"

#include <unistd.h>

namespace gust::sandbox {
namespace {

class UnconfinedProcess final : public Process {
 public:
  explicit UnconfinedProcess(os::Child child) : child_(child) {}
  ~UnconfinedProcess() override {
    if (child_.pid > 0) {
      os::killProcessGroup(child_.pid);
      (void)os::reapChild(child_.pid);
    }
  }
  const os::Child& handle() const override { return child_; }
  std::unique_ptr<os::UsageMeter> meter() override {
    return std::make_unique<os::ProcessMeter>(child_.pid);
  }
  void kill() override { os::killProcessGroup(child_.pid); }
  ExitCause exitCause() override { return {}; }
  Status attachCode(const std::string&, int64_t, int64_t) override {
    return internalError("an unconfined process sees the host's files: nothing to attach");
  }

 private:
  os::Child child_;
};

class UnconfinedSandbox final : public Sandbox {
 public:
  Result<std::unique_ptr<Process>> start(const SandboxSpec& spec) override {
    os::SpawnSpec spawn;
    spawn.argv = spec.argv;
    spawn.env = spec.env;
    spawn.cwd = spec.cwd;
    spawn.fds = spec.fds;
    auto child = os::spawn(spawn);
    if (!child) return child.status();
    return std::unique_ptr<Process>(std::make_unique<UnconfinedProcess>(*child));
  }
  bool isolatesFilesystem() const override { return false; }
  Result<uid_t> hostUidFor(const std::string&) override { return ::geteuid(); }
  std::string describe() const override {
    return "none: functions run as plain processes of this user (no namespaces, cgroups or "
           "seccomp); deploy only code you trust";
  }
};

}  // namespace

std::unique_ptr<Sandbox> makeUnconfinedSandbox() { return std::make_unique<UnconfinedSandbox>(); }

}  // namespace gust::sandbox
