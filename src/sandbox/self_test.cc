// DESIGN: before serving, the server starts one canary instance in the sandbox it will use and
// has it try a handful of escapes (the core of tests/security). If any succeeds, a layer did
// not apply on this host — a kernel without a feature, a cgroup not writable — and the server
// refuses to start rather than serve functions it believes are isolated.

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <string>

#include <fmt/format.h>

#include "sandbox/sandbox.h"

namespace gust::sandbox {
namespace {

// Prints one line per escape that worked; nothing when every layer holds.
constexpr const char* kCanary = R"PY(
import ctypes, os, socket, sys
failures = []
def expect(ok, what):
    if not ok: failures.append(what)
status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
for field in ("CapEff", "CapPrm", "CapBnd", "CapAmb"):
    expect(int(status[field].strip(), 16) == 0, f"{field} is not empty")
expect(status["NoNewPrivs"].strip() == "1", "no_new_privs is not set")
expect(status["Seccomp"].strip() == "2", "no seccomp filter")
expect(os.getuid() == 1000 and os.geteuid() == 1000, "not running as uid 1000")
for path in sys.argv[1:] + ["/etc/shadow", "/root/.ssh", "/sys"]:
    expect(not os.path.exists(path), f"{path} is visible")
for path in ("/usr/gust-canary", "/gust-canary", "/code/gust-canary"):
    try:
        open(path, "w"); failures.append(f"{path} is writable")
    except OSError: pass
open("/tmp/gust-canary", "w").write("ok")
pids = [p for p in os.listdir("/proc") if p.isdigit()]
expect(len(pids) <= 3, f"sees {len(pids)} processes")
try:
    socket.socket(socket.AF_PACKET, socket.SOCK_RAW); failures.append("packet socket opened")
except OSError: pass
try:
    socket.create_connection(("192.0.2.1", 80), timeout=1); failures.append("reached the network")
except OSError: pass
libc = ctypes.CDLL(None, use_errno=True)
expect(libc.unshare(0x10000000) != 0, "unshare(CLONE_NEWUSER) worked")
expect(libc.ptrace(0, 0, 0, 0) != 0, "ptrace worked")
print("\n".join(failures))
)PY";

}  // namespace

Status runSelfTest(Sandbox& sandbox, const std::string& python, const std::vector<Mount>& mounts,
                   const std::vector<std::string>& hidden_paths) {
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return internalError("self-test: pipe failed");
  int dev_null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  SandboxSpec spec;
  spec.tenant = "gust-self-test";
  spec.instance_id = fmt::format("self-test-{}", ::getpid());
  spec.runtime = "python3";
  spec.argv = {python, "-S", "-c", kCanary};
  spec.argv.insert(spec.argv.end(), hidden_paths.begin(), hidden_paths.end());
  spec.env = {{"PATH", "/usr/bin:/bin"}, {"LANG", "C.UTF-8"}};
  spec.mounts = mounts;
  spec.cwd = "/tmp";
  spec.memory_mb = 128;
  spec.fds = {{0, dev_null}, {1, out[1]}, {2, out[1]}, {3, dev_null}};
  auto process = sandbox.start(spec);
  ::close(out[1]);
  ::close(dev_null);
  if (!process) {
    ::close(out[0]);
    return process.status();
  }
  std::string output;
  char buffer[4096];
  struct pollfd wait_for {out[0], POLLIN, 0};
  // The canary is one Python start: seconds would mean something is badly wrong.
  while (::poll(&wait_for, 1, 20000) > 0) {
    ssize_t n = ::read(out[0], buffer, sizeof buffer);
    if (n <= 0) break;
    output.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(out[0]);
  struct pollfd exited {(*process)->handle().pidfd, POLLIN, 0};
  (void)::poll(&exited, 1, 5000);
  std::string how = os::reapChild((*process)->handle().pid);
  process->reset();
  if (how != "exit code 0" || output.find_first_not_of("\n") != std::string::npos) {
    return internalError(fmt::format(
        "the sandbox self-test failed ({}): {}— refusing to serve; run with --sandbox none only "
        "for code you trust",
        how.empty() ? "did not finish" : how, output));
  }
  return Status::ok();
}

}  // namespace gust::sandbox
