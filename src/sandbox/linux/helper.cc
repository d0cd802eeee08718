// DESIGN: `gust-sandbox FD` (src/sandbox_main.cpp) is the only code that builds a sandbox. The server starts it
// with posix_spawn (safe from a multi-threaded process), handing over the instance's stdio and
// protocol socket as fds 0-3 and the spec (JSON) in a sealed memfd at FD. It runs as two
// processes:
//   keeper  (host root, single-threaded): clones the sandbox's first process into new user, PID,
//           mount, IPC, UTS and network namespaces; moves it into its cgroup; writes its uid/gid
//           maps (only a process outside the new user namespace may map a host uid); for
//           network "egress" attaches slirp4netns and a firewall; then releases it with a byte
//           on a pipe, waits for it, and exits the way it did. Meanwhile it answers the
//           server's requests on a control socket (fd 5): attach a version's code to a
//           pre-started sandbox, done in a forked child (setns needs a single-threaded
//           caller, and the keeper stays in the host's namespaces). The server waits on and kills
//           the keeper: the sandbox's first process has PDEATHSIG=SIGKILL and is PID 1 of its
//           namespace, so its death ends every process inside — even a double-forked daemon.
//   init    (PID 1 inside, root of its user namespace until it drops it): builds the root
//           (tmpfs, read-only binds, /tmp, /dev, /proc), pivots into it, sets hostname,
//           loopback, rlimits, a new session, switches to uid/gid 1000, drops every capability,
//           sets no_new_privs, loads seccomp, closes stray fds, then forks the command and
//           stays PID 1 under the same confinement: it reaps orphans and passes the command's
//           exit status to the keeper through a pipe.
// Every step is mandatory: the first failure prints "gust sandbox: <step>: <error>" on the
// instance's stderr and exits 125 before the command runs (fail closed).

#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/capability.h>
#include <malloc.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <grp.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "sandbox/linux/seccomp_policy.h"
#include "sandbox/sandbox.h"

namespace gust::sandbox {
namespace {

namespace fs = std::filesystem;
constexpr int kSetupFailed = 125;
constexpr uid_t kInsideId = 1000;

struct HelperSpec {
  std::vector<std::string> argv;
  std::vector<std::string> env;  // KEY=VALUE
  std::vector<Mount> mounts;
  std::string cwd;
  std::string root;  // an empty host directory to build the new root on
  std::string runtime;
  std::string network;
  std::string hostname;
  int64_t tmp_mb = 64;
  int64_t file_mb = 64;  // RLIMIT_FSIZE
  uid_t host_uid = 0;
  pid_t server_pid = 0;  // the keeper's parent: if it is gone already, PDEATHSIG came too late
  int control_fd = -1;   // a SEQPACKET socket to the server: attach requests (see serveControl)
  std::vector<std::string> cgroup_procs;  // cgroup.procs files to write the first pid to
  std::vector<std::string> blocked_addresses;  // egress firewall: CIDRs never reachable
  std::string seccomp_cache;  // a root-only directory for compiled filters ("": compile each time)
};

[[noreturn]] void fail(std::string_view step, int error = errno) {
  std::string line = fmt::format("gust sandbox: {}: {}\n", step, strerror(error));
  (void)!::write(2, line.data(), line.size());
  ::_exit(kSetupFailed);
}

// Keeps the errno of the checked call: building the step's message may change it.
#define GUST_MUST(ok, step)                  \
  do {                                       \
    bool must_ok_ = (ok);                    \
    int must_errno_ = errno;                 \
    if (!must_ok_) fail(step, must_errno_);  \
  } while (0)

// Writes `content` to `path`; `flags` adds O_CREAT/O_TRUNC for files setup makes.
bool writeFile(const std::string& path, std::string_view content, int flags = 0, mode_t mode = 0) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC | flags, mode);
  if (fd < 0) return false;
  bool ok = ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size());
  ::close(fd);
  return ok;
}

bool createFile(const std::string& path, std::string_view content, mode_t mode) {
  return writeFile(path, content, O_CREAT | O_TRUNC, mode);
}

HelperSpec readSpec(int fd) {
  std::string text;
  char buffer[65536];
  ::lseek(fd, 0, SEEK_SET);
  for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) > 0;) text.append(buffer, n);
  ::close(fd);
  HelperSpec spec;
  try {
    auto json = nlohmann::json::parse(text);
    spec.argv = json.at("argv").get<std::vector<std::string>>();
    for (const auto& [key, value] : json.at("env").items()) {
      spec.env.push_back(key + "=" + value.get<std::string>());
    }
    for (const auto& mount : json.at("mounts")) {
      spec.mounts.push_back({mount.at("source"), mount.at("target"), mount.value("writable", false)});
    }
    spec.cwd = json.at("cwd");
    spec.root = json.at("root");
    spec.runtime = json.at("runtime");
    spec.network = json.at("network");
    spec.hostname = json.at("hostname");
    spec.tmp_mb = json.at("tmp_mb");
    spec.file_mb = json.value("file_mb", spec.tmp_mb);
    spec.host_uid = json.at("host_uid");
    spec.server_pid = json.value("server_pid", 0);
    spec.control_fd = json.value("control_fd", -1);
    spec.cgroup_procs = json.at("cgroup_procs").get<std::vector<std::string>>();
    spec.blocked_addresses = json.value("blocked_addresses", std::vector<std::string>{});
    spec.seccomp_cache = json.value("seccomp_cache", std::string());
  } catch (const std::exception& e) {
    fail(fmt::format("reading the spec: {}", e.what()), EINVAL);
  }
  if (spec.argv.empty()) fail("reading the spec: empty argv", EINVAL);
  return spec;
}

// ---- init: the root filesystem -------------------------------------------------------------

// A bind mount made read-only must keep the flags the kernel locked on the source mount
// (nosuid, nodev, noexec...), or the remount fails inside a user namespace.
unsigned long lockedFlags(const std::string& path) {
  struct statvfs info {};
  if (::statvfs(path.c_str(), &info) != 0) return 0;
  unsigned long flags = 0;
  if (info.f_flag & ST_NOSUID) flags |= MS_NOSUID;
  if (info.f_flag & ST_NODEV) flags |= MS_NODEV;
  if (info.f_flag & ST_NOEXEC) flags |= MS_NOEXEC;
  if (info.f_flag & ST_NOATIME) flags |= MS_NOATIME;
  if (info.f_flag & ST_NODIRATIME) flags |= MS_NODIRATIME;
  if (info.f_flag & ST_RELATIME) flags |= MS_RELATIME;
  return flags;
}

// Host files the root is built from, opened while this process still has the host identity
// that can reach them (the data directory is 0700 root); bound later through /proc/self/fd.
struct HostFiles {
  std::map<std::string, int> fds;
  std::string at(const std::string& path) const {
    auto it = fds.find(path);
    return it == fds.end() ? path : fmt::format("/proc/self/fd/{}", it->second);
  }
};

HostFiles openHostFiles(const HelperSpec& spec) {
  HostFiles files;
  std::vector<std::string> paths = {"/usr", "/etc/ld.so.cache", "/etc/ssl/certs"};
  for (const char* device : {"null", "zero", "full", "random", "urandom"}) {
    paths.push_back(std::string("/dev/") + device);
  }
  for (const auto& mount : spec.mounts) paths.push_back(mount.source);
  for (const auto& path : paths) {
    int fd = ::open(path.c_str(), O_PATH | O_CLOEXEC);
    if (fd >= 0) {
      files.fds[path] = fd;
    } else if (errno != ENOENT || path.rfind("/etc/", 0) != 0) {
      fail(fmt::format("open {}", path));
    }
  }
  return files;
}

// Binds `source` at `target`, read-only unless `writable`; never with set-id or device files.
void bindMount(const std::string& source, const std::string& target, bool writable = false) {
  struct stat st {};
  if (::stat(source.c_str(), &st) != 0) fail(fmt::format("mount {}", source));
  std::error_code ec;
  if (S_ISDIR(st.st_mode)) {
    fs::create_directories(target, ec);
  } else {
    fs::create_directories(fs::path(target).parent_path(), ec);
    if (!createFile(target, "", 0644) && errno != EEXIST) fail(fmt::format("create {}", target));
  }
  if (::mount(source.c_str(), target.c_str(), nullptr, MS_BIND, nullptr) != 0) {
    fail(fmt::format("bind {} on {}", source, target));
  }
  unsigned long flags = MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | lockedFlags(target) |
                        (writable ? 0 : MS_RDONLY);
  if (::mount(nullptr, target.c_str(), nullptr, flags, nullptr) != 0) {
    fail(fmt::format("remount {} {}", target, writable ? "nosuid" : "read-only"));
  }
}

void symlinkOrFail(const std::string& to, const std::string& at) {
  if (::symlink(to.c_str(), at.c_str()) != 0) fail(fmt::format("symlink {}", at));
}

void buildRoot(const HelperSpec& spec, const HostFiles& host) {
  const std::string& r = spec.root;
  GUST_MUST(::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0, "make mounts private");
  GUST_MUST(::mount("tmpfs", r.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "size=2m,nr_inodes=4096,mode=0755") == 0,
       "mount the root tmpfs");
  for (const char* dir : {"/usr", "/etc", "/tmp", "/proc", "/dev", "/gust", "/code"}) {
    GUST_MUST(::mkdir((r + dir).c_str(), 0755) == 0, fmt::format("mkdir {}", dir));
  }
  // The runtime's files: /usr read-only, and the merged-/usr links a Debian system has.
  bindMount(host.at("/usr"), r + "/usr");
  for (const char* link : {"bin", "lib", "lib64", "sbin"}) {
    std::string path = std::string("/") + link;
    char target[4096];
    ssize_t n = ::readlink(path.c_str(), target, sizeof target - 1);
    if (n > 0) {
      target[n] = '\0';
      symlinkOrFail(target, r + path);
    }
  }
  for (const auto& mount : spec.mounts) bindMount(host.at(mount.source), r + mount.target, mount.writable);

  // /etc: only what programs need to run, generated here.
  const bool egress = spec.network == "egress";
  GUST_MUST(createFile(r + "/etc/passwd",
                  "root:x:0:0:root:/tmp:/usr/sbin/nologin\n"
                  "gust:x:1000:1000:function:/tmp:/usr/sbin/nologin\n"
                  "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
                  0644),
       "write /etc/passwd");
  GUST_MUST(createFile(r + "/etc/group", "root:x:0:\ngust:x:1000:\nnogroup:x:65534:\n", 0644),
       "write /etc/group");
  GUST_MUST(createFile(r + "/etc/hosts", fmt::format("127.0.0.1 localhost {}\n::1 localhost\n", spec.hostname), 0644),
       "write /etc/hosts");
  GUST_MUST(createFile(r + "/etc/nsswitch.conf", "passwd: files\ngroup: files\nhosts: files dns\n", 0644),
       "write /etc/nsswitch.conf");
  if (host.fds.count("/etc/ld.so.cache")) {
    bindMount(host.at("/etc/ld.so.cache"), r + "/etc/ld.so.cache");
  }
  if (egress) {
    // slirp4netns answers DNS at 10.0.2.3.
    GUST_MUST(createFile(r + "/etc/resolv.conf", "nameserver 10.0.2.3\n", 0644), "write /etc/resolv.conf");
    if (host.fds.count("/etc/ssl/certs")) bindMount(host.at("/etc/ssl/certs"), r + "/etc/ssl/certs");
  }

  // A private /tmp, limited in bytes and files; its pages count against the memory limit.
  const int64_t inodes = std::max<int64_t>(4096, spec.tmp_mb * 256);
  GUST_MUST(::mount("tmpfs", (r + "/tmp").c_str(), "tmpfs", MS_NOSUID | MS_NODEV,
               fmt::format("size={}m,nr_inodes={},mode=1777", spec.tmp_mb, inodes).c_str()) == 0,
       "mount /tmp");

  // /dev: the harmless character devices, bound from the host's (a user namespace cannot mknod).
  GUST_MUST(::mount("tmpfs", (r + "/dev").c_str(), "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,nr_inodes=64,mode=0755") == 0,
       "mount /dev");
  for (const char* device : {"null", "zero", "full", "random", "urandom"}) {
    std::string target = r + "/dev/" + device;
    GUST_MUST(createFile(target, "", 0666), fmt::format("create /dev/{}", device));
    GUST_MUST(::mount(host.at(std::string("/dev/") + device).c_str(), target.c_str(), nullptr, MS_BIND, nullptr) == 0,
         fmt::format("bind /dev/{}", device));
    GUST_MUST(::mount(nullptr, target.c_str(), nullptr,
                 MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NOEXEC | lockedFlags(target), nullptr) == 0,
         fmt::format("remount /dev/{}", device));
  }
  symlinkOrFail("/proc/self/fd", r + "/dev/fd");
  symlinkOrFail("/proc/self/fd/0", r + "/dev/stdin");
  symlinkOrFail("/proc/self/fd/1", r + "/dev/stdout");
  symlinkOrFail("/proc/self/fd/2", r + "/dev/stderr");
  GUST_MUST(::mount(nullptr, (r + "/dev").c_str(), nullptr, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC,
               "size=64k,nr_inodes=64,mode=0755") == 0,
       "make /dev read-only");

  // A /proc of this PID namespace only, with the kernel's windows masked.
  GUST_MUST(::mount("proc", (r + "/proc").c_str(), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) == 0,
       "mount /proc");
  for (const char* masked : {"kcore", "sysrq-trigger", "kallsyms", "timer_list", "keys", "kmsg"}) {
    std::string target = r + "/proc/" + masked;
    if (!fs::exists(target)) continue;
    GUST_MUST(::mount((r + "/dev/null").c_str(), target.c_str(), nullptr, MS_BIND, nullptr) == 0,
         fmt::format("mask /proc/{}", masked));
  }
  for (const char* read_only : {"sys", "bus", "fs", "irq"}) {
    std::string target = r + "/proc/" + read_only;
    if (!fs::exists(target)) continue;
    GUST_MUST(::mount(target.c_str(), target.c_str(), nullptr, MS_BIND | MS_REC, nullptr) == 0,
         fmt::format("bind /proc/{}", read_only));
    GUST_MUST(::mount(nullptr, target.c_str(), nullptr,
                 MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) == 0,
         fmt::format("make /proc/{} read-only", read_only));
  }

  // Into the new root; the host's tree is detached and gone from this namespace.
  GUST_MUST(::chdir(r.c_str()) == 0, "chdir to the new root");
  GUST_MUST(::syscall(SYS_pivot_root, ".", ".") == 0, "pivot_root");
  GUST_MUST(::umount2(".", MNT_DETACH) == 0, "detach the host's root");
  GUST_MUST(::chdir("/") == 0, "chdir /");
  GUST_MUST(::mount(nullptr, "/", nullptr, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV,
               "size=2m,nr_inodes=4096,mode=0755") == 0,
       "make / read-only");
}

void bringUpLoopback() {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  GUST_MUST(fd >= 0, "socket for loopback");
  struct ifreq request {};
  std::strncpy(request.ifr_name, "lo", IFNAMSIZ - 1);
  GUST_MUST(::ioctl(fd, SIOCGIFFLAGS, &request) == 0, "read loopback flags");
  request.ifr_flags |= IFF_UP | IFF_RUNNING;
  GUST_MUST(::ioctl(fd, SIOCSIFFLAGS, &request) == 0, "bring loopback up");
  ::close(fd);
}

void setLimit(int resource, rlim_t value, std::string_view name) {
  struct rlimit limit {value, value};
  GUST_MUST(::setrlimit(resource, &limit) == 0, fmt::format("setrlimit {}", name));
}

void dropPrivileges() {
  // The bounding set first: dropping from it needs CAP_SETPCAP, which goes next.
  for (int cap = 0; cap <= 63; ++cap) {
    if (::prctl(PR_CAPBSET_READ, cap, 0, 0, 0) < 0) break;
    GUST_MUST(::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0, "drop the bounding capabilities");
  }
  GUST_MUST(::setgroups(0, nullptr) == 0 || errno == EPERM, "clear supplementary groups");
  GUST_MUST(::setresgid(kInsideId, kInsideId, kInsideId) == 0, "setresgid");
  GUST_MUST(::setresuid(kInsideId, kInsideId, kInsideId) == 0, "setresuid");
  struct __user_cap_header_struct header {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2] {};
  GUST_MUST(::syscall(SYS_capset, &header, data) == 0, "clear capabilities");
  GUST_MUST(::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) == 0, "clear ambient capabilities");
  GUST_MUST(::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0, "no_new_privs");
}

[[noreturn]] void runInit(const HelperSpec& spec, std::string_view seccomp_program, int go_fd,
                          int status_fd) {
  // Die with the keeper; and if it died before this line, the pipe read below sees EOF.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  char go = 0;
  if (::read(go_fd, &go, 1) != 1 || go != 'g') ::_exit(kSetupFailed);
  ::close(go_fd);
  HostFiles host = openHostFiles(spec);
  // Become the namespace's root (host nobody): an unmapped id cannot own the files setup makes.
  GUST_MUST(::setresgid(0, 0, 0) == 0, "setresgid 0");
  GUST_MUST(::setresuid(0, 0, 0) == 0, "setresuid 0");
  ::prctl(PR_SET_DUMPABLE, 1);  // keeps /proc/self/fd usable after the id change
  GUST_MUST(::unshare(CLONE_NEWCGROUP) == 0, "new cgroup namespace");
  buildRoot(spec, host);
  GUST_MUST(::sethostname(spec.hostname.data(), spec.hostname.size()) == 0, "sethostname");
  bringUpLoopback();
  setLimit(RLIMIT_NOFILE, 1024, "nofile");
  setLimit(RLIMIT_CORE, 0, "core");
  setLimit(RLIMIT_FSIZE, static_cast<rlim_t>(spec.file_mb) << 20, "fsize");
  GUST_MUST(::setsid() >= 0, "setsid");
  dropPrivileges();
  // Everything but stdio, the protocol socket and the status pipe (moved to fd 4).
  GUST_MUST(::dup2(status_fd, 4) == 4, "move the status pipe");
  status_fd = 4;
  GUST_MUST(::syscall(SYS_close_range, 5U, ~0U, 0U) == 0, "close inherited descriptors");
  GUST_MUST(::chdir(spec.cwd.c_str()) == 0, fmt::format("chdir {}", spec.cwd));
  std::vector<char*> argv, envp;
  for (const auto& arg : spec.argv) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  for (const auto& var : spec.env) envp.push_back(const_cast<char*>(var.c_str()));
  envp.push_back(nullptr);
  Status filter = loadSeccompProgram(seccomp_program);
  if (!filter.isOk()) fail(filter.message(), EPERM);
  // PID 1 stays ours: it reaps orphans (a daemonised child of the function would otherwise
  // linger as a zombie against the pids limit) and hands the command's exit status to the
  // keeper. Its own exit ends every process left in the namespace.
  pid_t command = ::fork();
  GUST_MUST(command >= 0, "fork the command");
  if (command == 0) {
    ::close(status_fd);
    ::execve(argv[0], argv.data(), envp.data());
    fail(fmt::format("exec {}", spec.argv[0]));
  }
  for (int fd = 0; fd <= 3; ++fd) ::close(fd);
  // Set-up's heap (the spec, the filter's build) is garbage now; this process lives as long as
  // the instance, so hand its pages back (~0.35 MiB an instance).
  ::malloc_trim(0);
  for (;;) {
    int status = 0;
    pid_t ended = ::wait(&status);
    if (ended == command) {
      (void)!::write(status_fd, &status, sizeof status);
      ::_exit(0);
    }
    if (ended < 0 && errno == ECHILD) ::_exit(0);
  }
}

// ---- keeper ----------------------------------------------------------------------------------

// network "egress": slirp4netns gives the namespace a user-mode NAT (10.0.2.0/24, gateway .2,
// DNS .3) with no path to the host's loopback; a firewall inside the namespace, set while the
// function cannot yet act and unchangeable by it afterwards (no CAP_NET_ADMIN), rejects the
// host's own addresses and every private, loopback and link-local range.
pid_t startEgress(const HelperSpec& spec, pid_t init_pid) {
  int ready[2];
  GUST_MUST(::pipe2(ready, O_CLOEXEC) == 0, "pipe for slirp4netns");
  std::string pid = std::to_string(init_pid);
  std::string ready_fd = std::to_string(ready[1]);
  pid_t slirp = ::fork();
  GUST_MUST(slirp >= 0, "fork slirp4netns");
  if (slirp == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::dup2(ready[1], 5);
    ::syscall(SYS_close_range, 6U, ~0U, 0U);
    // Its chatter ("sent tapfd=7 for tap0") is not the function's output: stdio is /dev/null,
    // and a failure to start shows as the missing ready byte.
    int devnull = ::open("/dev/null", O_RDWR);
    for (int fd = 0; fd <= 2; ++fd) ::dup2(devnull, fd);
    if (devnull > 2) ::close(devnull);
    const char* argv[] = {"slirp4netns", "--configure", "--mtu=65520", "--disable-host-loopback",
                          "--ready-fd=5", pid.c_str(), "tap0", nullptr};
    const char* envp[] = {"PATH=/usr/bin:/bin:/usr/sbin:/sbin", nullptr};
    ::execve("/usr/bin/slirp4netns", const_cast<char**>(argv), const_cast<char**>(envp));
    ::_exit(127);
  }
  ::close(ready[1]);
  char byte = 0;
  if (::read(ready[0], &byte, 1) != 1) fail("slirp4netns did not start (is it installed?)", EIO);
  ::close(ready[0]);

  std::string rules = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n";
  rules += "-A OUTPUT -o lo -j ACCEPT\n";
  rules += "-A OUTPUT -d 10.0.2.3/32 -p udp --dport 53 -j ACCEPT\n";
  rules += "-A OUTPUT -d 10.0.2.3/32 -p tcp --dport 53 -j ACCEPT\n";
  for (const auto& cidr : spec.blocked_addresses) {
    rules += fmt::format("-A OUTPUT -d {} -j REJECT\n", cidr);
  }
  rules += "COMMIT\n";
  int pipe_fds[2];
  GUST_MUST(::pipe2(pipe_fds, O_CLOEXEC) == 0, "pipe for iptables-restore");
  pid_t iptables = ::fork();
  GUST_MUST(iptables >= 0, "fork iptables-restore");
  if (iptables == 0) {
    int netns = ::open(fmt::format("/proc/{}/ns/net", init_pid).c_str(), O_RDONLY | O_CLOEXEC);
    if (netns < 0 || ::setns(netns, CLONE_NEWNET) != 0) ::_exit(126);
    ::dup2(pipe_fds[0], 0);
    const char* argv[] = {"iptables-restore", "-w", nullptr};
    const char* envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", nullptr};
    ::execve("/usr/sbin/iptables-restore", const_cast<char**>(argv), const_cast<char**>(envp));
    ::_exit(127);
  }
  ::close(pipe_fds[0]);
  (void)!::write(pipe_fds[1], rules.data(), rules.size());
  ::close(pipe_fds[1]);
  int status = 0;
  ::waitpid(iptables, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    ::kill(slirp, SIGKILL);
    fail("the egress firewall (iptables-restore) failed", EIO);
  }
  return slirp;
}

}  // namespace

// A detached copy of the code's mount, made read-only, then moved into the sandbox's mount
// namespace (the way systemd binds into a running container). setns() of a mount namespace needs
// a single-threaded caller and moves it for good: hence a process of its own, forked by the keeper.
[[noreturn]] void attachCode(pid_t init_pid, const std::string& code_dir, int64_t tmp_mb) {
  int tree = static_cast<int>(::open_tree(AT_FDCWD, code_dir.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC));
  GUST_MUST(tree >= 0, fmt::format("open_tree {}", code_dir));
  struct mount_attr attributes {};
  attributes.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
  GUST_MUST(::mount_setattr(tree, "", AT_EMPTY_PATH, &attributes, sizeof attributes) == 0,
       "make the code read-only");
  int mount_ns = ::open(fmt::format("/proc/{}/ns/mnt", init_pid).c_str(), O_RDONLY | O_CLOEXEC);
  GUST_MUST(mount_ns >= 0, "open the sandbox's mount namespace");
  GUST_MUST(::setns(mount_ns, CLONE_NEWNS) == 0, "enter the sandbox's mount namespace");
  GUST_MUST(::move_mount(tree, "", AT_FDCWD, "/code", MOVE_MOUNT_F_EMPTY_PATH) == 0, "mount /code");
  const int64_t inodes = std::max<int64_t>(4096, tmp_mb * 256);
  GUST_MUST(::mount(nullptr, "/tmp", nullptr, MS_REMOUNT | MS_NOSUID | MS_NODEV,
               fmt::format("size={}m,nr_inodes={}", tmp_mb, inodes).c_str()) == 0,
       "resize /tmp");
  // _exit: nothing to clean up, and LeakSanitizer (in sanitizer builds) cannot scan a process
  // whose /proc is now another PID namespace's.
  ::_exit(0);
}

// Answers the server's requests until `init` exits. A request is one message, "TMP_MB\nCODE_DIR":
// mount CODE_DIR read-only at /code in the sandbox and size its /tmp. The answer is one byte: 0,
// or the attach's exit status (its "gust sandbox: ..." line is on the instance's stderr). A
// forked child of this small single-threaded process attaches in well under a millisecond,
// where exec'ing a helper from the server took ~3 (issue #7's cold starts).
void serveControl(int control, pid_t init) {
  int init_exited = static_cast<int>(::syscall(SYS_pidfd_open, init, 0));
  if (init_exited < 0) {
    ::close(control);
    return;  // the caller's waitpid still waits for init
  }
  while (true) {
    pollfd watched[2] = {{init_exited, POLLIN, 0}, {control, POLLIN, 0}};
    int ready = ::poll(watched, control >= 0 ? 2 : 1, -1);
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0 || watched[0].revents != 0) break;
    if (watched[1].revents == 0) continue;
    char request[8192];
    ssize_t got = ::recv(control, request, sizeof request, 0);
    if (got <= 0) {  // the server closed its end: only init is left to wait for
      ::close(control);
      control = -1;
      continue;
    }
    std::string_view text(request, static_cast<std::size_t>(got));
    std::size_t newline = text.find('\n');
    unsigned char answer = kSetupFailed;
    if (newline != std::string_view::npos && newline + 1 < text.size()) {
      int64_t tmp_mb = std::atoll(std::string(text.substr(0, newline)).c_str());
      std::string code_dir(text.substr(newline + 1));
      pid_t attacher = ::fork();
      if (attacher == 0) {
        ::close(control);
        attachCode(init, code_dir, tmp_mb);
      }
      int status = 0;
      if (attacher > 0 && ::waitpid(attacher, &status, 0) == attacher) {
        answer = static_cast<unsigned char>(WIFEXITED(status) ? WEXITSTATUS(status) : kSetupFailed);
      }
    }
    (void)!::send(control, &answer, 1, MSG_NOSIGNAL);
  }
  ::close(init_exited);
  if (control >= 0) ::close(control);
}

// A compiled filter from spec.seccomp_cache, if one is there for this runtime and this helper
// binary, whole, and root's alone; "" otherwise.
std::string cachedSeccompProgram(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return "";
  struct stat file{};
  std::string program;
  if (::fstat(fd, &file) == 0 && S_ISREG(file.st_mode) && file.st_uid == ::geteuid() &&
      (file.st_mode & 022) == 0 && file.st_size > 0 && file.st_size <= 64 * 1024) {
    program.resize(static_cast<size_t>(file.st_size));
    if (::pread(fd, program.data(), program.size(), 0) != file.st_size) program.clear();
  }
  ::close(fd);
  return program;
}

// libseccomp takes ~2.5 ms of CPU to build the filter, a fifth of a sandbox's start: the keeper
// (host root, before the clone) compiles it once per runtime and helper binary into
// spec.seccomp_cache and reads it from there after that. Any doubt about a cached file (owner,
// mode, size) means compiling it again; the kernel checks the program as it loads it.
std::string seccompProgramFor(const HelperSpec& spec) {
  std::string path;
  struct stat self{};
  bool cacheable = !spec.seccomp_cache.empty() && !spec.runtime.empty() &&
                   spec.runtime.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789") ==
                       std::string::npos &&
                   ::stat("/proc/self/exe", &self) == 0;
  if (cacheable) {
    path = fmt::format("{}/seccomp-{}-{:x}-{:x}-{:x}.bpf", spec.seccomp_cache, spec.runtime,
                       self.st_ino, self.st_size,
                       self.st_mtim.tv_sec * 1000000000LL + self.st_mtim.tv_nsec);
    if (std::string cached = cachedSeccompProgram(path); !cached.empty()) return cached;
  }
  auto compiled = compileSeccompProgram({spec.runtime});
  if (!compiled) fail(compiled.status().message(), EINVAL);
  if (cacheable) {
    // Written whole under a name of its own, then renamed: a reader never sees half of one.
    std::string partial = fmt::format("{}.{}", path, ::getpid());
    bool written = writeFile(partial, *compiled, O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
    if (!written || ::rename(partial.c_str(), path.c_str()) != 0) ::unlink(partial.c_str());
  }
  return std::move(*compiled);
}

int runSandboxHelper(int spec_fd) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // the server went away: so does the sandbox
  HelperSpec spec = readSpec(spec_fd);
  // A server killed between posix_spawn and the prctl above never signals: the keeper was
  // re-parented already, and must not build a sandbox nobody owns.
  if (spec.server_pid != 0 && ::getppid() != spec.server_pid) fail("the server exited", ESRCH);
  const std::string seccomp_program = seccompProgramFor(spec);
  int go[2], exit_status[2];
  GUST_MUST(::pipe2(go, O_CLOEXEC) == 0, "pipe");
  GUST_MUST(::pipe2(exit_status, O_CLOEXEC) == 0, "pipe");
  const long flags = CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS |
                     CLONE_NEWNET | SIGCHLD;
  pid_t init = static_cast<pid_t>(::syscall(SYS_clone, flags, nullptr, nullptr, nullptr, nullptr));
  if (init < 0) fail("clone into new namespaces");
  if (init == 0) {
    ::close(go[1]);
    ::close(exit_status[0]);
    runInit(spec, seccomp_program, go[0], exit_status[1]);
  }
  ::close(go[0]);
  ::close(exit_status[1]);
  auto abort = [&](std::string_view step, int error) {
    ::kill(init, SIGKILL);
    fail(step, error);
  };
  for (const auto& procs : spec.cgroup_procs) {
    if (!writeFile(procs, std::to_string(init))) abort(fmt::format("join cgroup {}", procs), errno);
  }
  const std::string proc = fmt::format("/proc/{}/", init);
  // Root inside is nobody outside; the function's uid 1000 is the tenant's host uid.
  const std::string id_map = fmt::format("0 65534 1\n{} {} 1\n", kInsideId, spec.host_uid);
  if (!writeFile(proc + "setgroups", "deny")) abort("deny setgroups", errno);
  if (!writeFile(proc + "uid_map", id_map)) abort("write uid_map", errno);
  if (!writeFile(proc + "gid_map", id_map)) abort("write gid_map", errno);
  pid_t slirp = spec.network == "egress" ? startEgress(spec, init) : -1;
  if (::write(go[1], "g", 1) != 1) abort("release the sandbox", errno);
  ::close(go[1]);
  // Nothing of the instance's stays open here: its pipes close when the sandbox's processes end.
  for (int fd : {0, 1, 3}) ::close(fd);
  if (spec.control_fd >= 0) serveControl(spec.control_fd, init);

  int status = 0;
  while (::waitpid(init, &status, 0) < 0 && errno == EINTR) {
  }
  // How the command ended, if it got that far; otherwise how setup (or a kill) ended the init.
  int command_status = 0;
  if (::read(exit_status[0], &command_status, sizeof command_status) == sizeof command_status) {
    status = command_status;
  }
  if (slirp > 0) {
    ::kill(slirp, SIGKILL);
    ::waitpid(slirp, nullptr, 0);
  }
  if (WIFSIGNALED(status)) {
    ::signal(WTERMSIG(status), SIG_DFL);
    ::kill(::getpid(), WTERMSIG(status));
  }
  ::_exit(WIFEXITED(status) ? WEXITSTATUS(status) : kSetupFailed);
}

}  // namespace gust::sandbox
