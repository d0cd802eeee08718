// The server's side of the Linux sandbox: per instance it creates the cgroup, writes the spec
// into a sealed memfd and starts `gust-sandbox` (helper.cc), which does the namespace work
// in a fresh single-threaded process. The multi-threaded server itself never forks.

#include <fcntl.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "sandbox/linux/cgroup.h"
#include "sandbox/sandbox.h"

namespace gust::sandbox {
namespace {

namespace fs = std::filesystem;
constexpr uid_t kFirstTenantUid = 200000;
// An empty directory every sandbox mounts its root on, each in its own mount namespace (so the
// host's stays empty). Outside the data directory: the sandbox's root (host nobody) must reach it.
constexpr const char* kRootMountpoint = "/run/gust-sandbox-root";
// The keeper's end of its control socket (attach requests); fds 0-3 are the instance's, 4 the spec.
constexpr int kControlFd = 5;

// Destinations a function with egress must never reach: the host itself (Gust's API and every
// other local service), private networks, link-local (cloud metadata), multicast.
std::vector<std::string> blockedAddresses() {
  std::vector<std::string> blocked = {"0.0.0.0/8",     "10.0.0.0/8",    "100.64.0.0/10",
                                      "127.0.0.0/8",   "169.254.0.0/16", "172.16.0.0/12",
                                      "192.168.0.0/16", "224.0.0.0/3"};
  struct ifaddrs* addresses = nullptr;
  if (::getifaddrs(&addresses) == 0) {
    for (auto* a = addresses; a; a = a->ifa_next) {
      if (!a->ifa_addr || a->ifa_addr->sa_family != AF_INET) continue;
      char text[INET_ADDRSTRLEN];
      auto* in = reinterpret_cast<sockaddr_in*>(a->ifa_addr);
      if (::inet_ntop(AF_INET, &in->sin_addr, text, sizeof text)) {
        blocked.push_back(std::string(text) + "/32");
      }
    }
    ::freeifaddrs(addresses);
  }
  return blocked;
}

// Each tenant runs as its own host uid (and gid), so an escape lands on an unprivileged id
// shared with no other tenant. The table is append-only and persists across restarts.
class TenantUids {
 public:
  explicit TenantUids(std::string path) : path_(std::move(path)) {
    std::ifstream in(path_);
    std::string tenant;
    uid_t uid = 0;
    while (in >> tenant >> uid) uids_[tenant] = uid;
  }
  Result<uid_t> uidFor(const std::string& tenant) {
    std::lock_guard lock(mutex_);
    if (auto it = uids_.find(tenant); it != uids_.end()) return it->second;
    uid_t next = kFirstTenantUid;
    for (const auto& [name, uid] : uids_) next = std::max(next, uid + 1);
    std::ofstream out(path_, std::ios::app);
    out << tenant << ' ' << next << '\n';
    out.flush();
    if (!out) return internalError(fmt::format("sandbox: cannot write {}", path_));
    uids_[tenant] = next;
    return next;
  }

 private:
  std::string path_;
  std::mutex mutex_;
  std::map<std::string, uid_t> uids_;
};

class LinuxProcess final : public Process {
 public:
  LinuxProcess(os::Child keeper, std::unique_ptr<Cgroup> cgroup, int control)
      : keeper_(keeper), cgroup_(std::move(cgroup)), control_(control) {}
  ~LinuxProcess() override {
    ::close(control_);
    os::killProcessGroup(keeper_.pid);
    cgroup_->killAll();
    (void)os::reapChild(keeper_.pid);
    if (init_pidfd_ >= 0) ::close(init_pidfd_);
    cgroup_.reset();  // kills stragglers and removes the group
  }
  const os::Child& handle() const override { return keeper_; }
  // The whole group, from its cgroup files; without CPU accounting in the cgroups, the command's
  // /proc files.
  std::unique_ptr<os::UsageMeter> meter() override {
    if (auto group = cgroup_->meter()) return group;
    pid_t command = commandPid();
    if (command <= 0) return nullptr;
    return std::make_unique<os::ProcessMeter>(command);
  }
  // The keeper's only child is the sandbox's PID 1; the command is that one's first child.
  pid_t commandPid() {
    if (command_pid_ > 0) return command_pid_;
    pid_t init = initPid();
    if (init <= 0) return -1;
    std::ifstream children(fmt::format("/proc/{0}/task/{0}/children", init));
    pid_t pid = -1;
    if (children >> pid) command_pid_ = pid;
    return command_pid_;
  }
  // Kills what runs inside, not the keeper: it then exits the way the sandbox's first process
  // did (a crash's exit code survives). Before that process exists, the keeper goes instead.
  void kill() override {
    cgroup_->killAll();
    pid_t init = initPid();
    if (init <= 0) {
      os::killProcessGroup(keeper_.pid);
      return;
    }
    if (init_pidfd_ < 0) init_pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, init, 0));
    if (init_pidfd_ >= 0) ::syscall(SYS_pidfd_send_signal, init_pidfd_, SIGKILL, nullptr, 0);
  }
  ExitCause exitCause() override { return {cgroup_->oomKilled(), cgroup_->pidsExhausted()}; }

  Status attachCode(const std::string& code_dir, int64_t memory_mb, int64_t tmp_mb) override {
    pid_t init = initPid();
    if (init <= 0) return internalError("sandbox: the instance is gone");
    GUST_RETURN_IF_ERROR(cgroup_->setMemoryLimit(memory_mb << 20));
    // The keeper attaches (helper.cc, serveControl): a request and a one-byte answer, well under
    // a millisecond, so waiting on the caller's loop is cheaper than a hop to another thread.
    const std::string request = fmt::format("{}\n{}", tmp_mb, code_dir);
    if (::send(control_, request.data(), request.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(request.size())) {
      return internalError(fmt::format("sandbox: the instance's keeper is gone: {}", strerror(errno)));
    }
    pollfd answered{control_, POLLIN, 0};
    if (::poll(&answered, 1, 10000) != 1) {
      return internalError("sandbox: the keeper did not attach the code within 10 s");
    }
    unsigned char status = 0;
    if (::recv(control_, &status, 1, 0) != 1) return internalError("sandbox: the instance's keeper is gone");
    if (status != 0) {
      return internalError(fmt::format(
          "sandbox: attaching the code failed (status {}; the instance's stderr says which step)", status));
    }
    return Status::ok();
  }

 private:
  pid_t initPid() {
    if (init_pid_ > 0) return init_pid_;
    std::ifstream children(fmt::format("/proc/{0}/task/{0}/children", keeper_.pid));
    pid_t pid = -1;
    if (children >> pid) init_pid_ = pid;
    return init_pid_;
  }

  os::Child keeper_;
  std::unique_ptr<Cgroup> cgroup_;
  int control_;  // SEQPACKET to the keeper: attach requests
  pid_t init_pid_ = -1;
  pid_t command_pid_ = -1;
  int init_pidfd_ = -1;  // signals the right process even if its pid is reused
};

class LinuxSandbox final : public Sandbox {
 public:
  LinuxSandbox(LinuxSandboxOptions options, CgroupLayout cgroups)
      : options_(std::move(options)),
        cgroups_(std::move(cgroups)),
        uids_(options_.state_dir + "/tenant-uids"),
        blocked_(blockedAddresses()) {}

  Result<std::unique_ptr<Process>> start(const SandboxSpec& spec) override {
    auto uid = uids_.uidFor(spec.tenant.empty() ? "default" : spec.tenant);
    if (!uid) return uid.status();
    CgroupLimits limits;
    limits.memory_bytes = spec.memory_mb << 20;
    limits.max_pids = spec.max_pids;
    auto cgroup = Cgroup::create(cgroups_, spec.instance_id, limits);
    if (!cgroup) return cgroup.status();
    std::vector<std::string> procs;
    for (const auto& root : cgroups_.roots()) {
      procs.push_back(root + "/" + spec.instance_id + "/cgroup.procs");
    }
    nlohmann::json mounts = nlohmann::json::array();
    for (const auto& mount : spec.mounts) {
      mounts.push_back(
          {{"source", mount.source}, {"target", mount.target}, {"writable", mount.writable}});
    }
    nlohmann::json json = {{"argv", spec.argv},
                           {"env", spec.env},
                           {"mounts", mounts},
                           {"cwd", spec.cwd},
                           {"root", kRootMountpoint},
                           {"runtime", spec.runtime},
                           {"network", spec.network},
                           {"hostname", "gust"},
                           {"tmp_mb", spec.tmp_mb},
                           {"file_mb", spec.file_mb > 0 ? spec.file_mb : spec.tmp_mb},
                           {"host_uid", *uid},
                           {"server_pid", ::getpid()},
                           {"control_fd", kControlFd},
                           {"cgroup_procs", procs},
                           {"seccomp_cache", options_.state_dir}};
    if (spec.network == "egress") json["blocked_addresses"] = blocked_;

    // The spec (with the function's secrets in its environment) travels in a sealed memfd,
    // never on a command line.
    int memfd = ::memfd_create("gust-sandbox-spec", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (memfd < 0) return internalError(fmt::format("memfd_create: {}", strerror(errno)));
    std::string text = json.dump();
    bool written = ::write(memfd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    ::fcntl(memfd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE);
    if (!written) {
      ::close(memfd);
      return internalError("sandbox: cannot write the spec");
    }
    int control[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, control) != 0) {
      ::close(memfd);
      return internalError(fmt::format("socketpair: {}", strerror(errno)));
    }
    os::SpawnSpec spawn;
    spawn.argv = {options_.helper_binary, "4"};
    spawn.cwd = "/";
    spawn.fds = spec.fds;
    spawn.fds[4] = memfd;
    spawn.fds[kControlFd] = control[1];
    auto child = os::spawn(spawn);
    ::close(memfd);
    ::close(control[1]);
    if (!child) {
      ::close(control[0]);
      return child.status();
    }
    return std::unique_ptr<Process>(
        std::make_unique<LinuxProcess>(*child, std::move(*cgroup), control[0]));
  }

  // Instances are gone by now (the scheduler goes first): leave no empty groups behind.
  ~LinuxSandbox() override {
    for (const auto& root : cgroups_.roots()) ::rmdir(root.c_str());
  }

  bool isolatesFilesystem() const override { return true; }

  Result<uid_t> hostUidFor(const std::string& tenant) override {
    return uids_.uidFor(tenant.empty() ? "default" : tenant);
  }

  std::string describe() const override {
    return fmt::format(
        "linux: user/pid/mount/ipc/uts/net/cgroup namespaces, read-only root, private /tmp, "
        "cgroup {} (memory, pids, cpu), seccomp allowlist, no capabilities, uid per tenant",
        cgroups_.v2 ? "v2" : "v1");
  }

 private:
  LinuxSandboxOptions options_;
  CgroupLayout cgroups_;
  TenantUids uids_;
  std::vector<std::string> blocked_;
};

}  // namespace

Result<std::unique_ptr<Sandbox>> makeLinuxSandbox(const LinuxSandboxOptions& options) {
  if (::access(options.helper_binary.c_str(), X_OK) != 0) {
    return internalError(fmt::format("sandbox: the helper {} is missing: build the gust-sandbox target",
                                     options.helper_binary));
  }
  if (::access("/proc/self/ns/user", F_OK) != 0) {
    return internalError("sandbox: this kernel has no user namespaces (CONFIG_USER_NS)");
  }
  if (::geteuid() != 0) {
    return internalError(
        "sandbox: the Linux sandbox needs root (it maps a host uid per tenant and creates "
        "cgroups); run gust serve as root, or pass --sandbox none for trusted code");
  }
  // One parent group per data directory: another server on this host (tests run several) has
  // its own, and the stale-group sweep below touches only this one's.
  uint64_t key = 1469598103934665603ULL;  // FNV-1a of the state directory
  for (unsigned char c : options.state_dir) key = (key ^ c) * 1099511628211ULL;
  auto cgroups = detectCgroups(fmt::format("{:016x}", key));
  if (!cgroups) return cgroups.status();
  removeStaleCgroups(*cgroups);
  std::error_code ec;
  for (const auto& dir : {options.state_dir, std::string(kRootMountpoint)}) {
    fs::create_directories(dir, ec);
    if (ec) return internalError(fmt::format("sandbox: mkdir {}: {}", dir, ec.message()));
  }
  ::chmod(options.state_dir.c_str(), 0700);
  ::chmod(kRootMountpoint, 0755);
  return std::unique_ptr<Sandbox>(std::make_unique<LinuxSandbox>(options, std::move(*cgroups)));
}

}  // namespace gust::sandbox
