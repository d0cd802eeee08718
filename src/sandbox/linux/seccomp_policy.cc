#include "sandbox/linux/seccomp_policy.h"

#include <fcntl.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include <fmt/format.h>

namespace gust::sandbox {
namespace {

// What an ordinary Linux program needs: files (inside the read-only root and /tmp), memory,
// threads, signals, time, pipes, sockets (checked below), SysV/POSIX IPC (private to the
// sandbox's IPC namespace). Deliberately absent, so EPERM: ptrace, process_vm_readv/writev,
// mount and the new mount API, umount2, pivot_root, chroot, unshare, setns, bpf,
// perf_event_open, keyctl, add_key, request_key, kexec_*, *_module, open_by_handle_at,
// name_to_handle_at, userfaultfd, io_uring_*, swapon/swapoff, reboot, syslog, acct, quotactl,
// sethostname, setdomainname, settimeofday, clock_settime, adjtimex, iopl, ioperm,
// modify_ldt, uselib, kcmp, pidfd_getfd, fanotify_init, lookup_dcookie, vhangup.
constexpr const char* kAllowed[] = {
    "accept", "accept4", "access", "alarm", "arch_prctl", "bind", "brk", "capget", "capset",
    "chdir", "chmod", "chown", "clock_getres", "clock_gettime", "clock_nanosleep", "close",
    "close_range", "connect", "copy_file_range", "creat", "dup", "dup2", "dup3", "epoll_create",
    "epoll_create1", "epoll_ctl", "epoll_pwait", "epoll_pwait2", "epoll_wait", "eventfd",
    "eventfd2", "execve", "execveat", "exit", "exit_group", "faccessat", "faccessat2",
    "fadvise64", "fallocate", "fchdir", "fchmod", "fchmodat", "fchown", "fchownat", "fcntl",
    "fdatasync", "fgetxattr", "flistxattr", "flock", "fork", "fremovexattr", "fsetxattr", "fstat",
    "fstatfs", "fsync", "ftruncate", "futex", "futex_waitv", "get_robust_list", "getcpu",
    "getcwd", "getdents", "getdents64", "getegid", "geteuid", "getgid", "getgroups", "getitimer",
    "getpeername", "getpgid", "getpgrp", "getpid", "getppid", "getpriority", "getrandom",
    "getresgid", "getresuid", "getrlimit", "getrusage", "getsid", "getsockname", "getsockopt",
    "gettid", "gettimeofday", "getuid", "getxattr", "inotify_add_watch", "inotify_init",
    "inotify_init1", "inotify_rm_watch", "io_cancel", "io_destroy", "io_getevents", "io_setup",
    "io_submit", "ioprio_get", "ioprio_set", "kill", "landlock_add_rule",
    "landlock_create_ruleset", "landlock_restrict_self", "lchown", "lgetxattr", "link", "linkat",
    "listen", "listxattr", "llistxattr", "lremovexattr", "lseek", "lsetxattr", "lstat", "madvise",
    "mbind", "membarrier", "memfd_create", "mincore", "mkdir", "mkdirat", "mlock", "mlock2",
    "mlockall", "mmap", "mprotect", "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive",
    "mq_timedsend", "mq_unlink", "mremap", "msgctl", "msgget", "msgrcv", "msgsnd", "msync",
    "munlock", "munlockall", "munmap", "nanosleep", "newfstatat", "open", "openat", "openat2",
    "pause", "pidfd_open", "pidfd_send_signal", "pipe", "pipe2", "poll", "ppoll", "prctl",
    "pread64", "preadv", "preadv2", "prlimit64", "pselect6", "pwrite64", "pwritev", "pwritev2",
    "read", "readahead", "readlink", "readlinkat", "readv", "recvfrom", "recvmmsg", "recvmsg",
    "remap_file_pages", "removexattr", "rename", "renameat", "renameat2", "restart_syscall",
    "rmdir", "rseq", "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo",
    "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait", "rt_tgsigqueueinfo", "sched_get_priority_max",
    "sched_get_priority_min", "sched_getaffinity", "sched_getattr", "sched_getparam",
    "sched_getscheduler", "sched_rr_get_interval", "sched_setaffinity", "sched_setattr",
    "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp", "select", "semctl",
    "semget", "semop", "semtimedop", "sendfile", "sendmmsg", "sendmsg", "sendto", "set_mempolicy",
    "get_mempolicy", "set_robust_list", "set_tid_address", "setfsgid", "setfsuid", "setgid",
    "setgroups", "setitimer", "setpgid", "setpriority", "setregid", "setresgid", "setresuid",
    "setreuid", "setrlimit", "setsid", "setsockopt", "setuid", "setxattr", "shmat", "shmctl",
    "shmdt", "shmget", "shutdown", "sigaltstack", "socketpair", "splice", "stat", "statfs",
    "statx", "symlink", "symlinkat", "sync", "sync_file_range", "syncfs", "sysinfo", "tee",
    "tgkill", "time", "timer_create", "timer_delete", "timer_getoverrun", "timer_gettime",
    "timer_settime", "timerfd_create", "timerfd_gettime", "timerfd_settime", "times", "tkill",
    "truncate", "umask", "uname", "unlink", "unlinkat", "utime", "utimensat", "utimes", "vfork",
    "wait4", "waitid", "write", "writev",
};

// V8 protects its code space with memory protection keys when the CPU has them.
constexpr const char* kNodeExtras[] = {"pkey_alloc", "pkey_free", "pkey_mprotect"};

// Every CLONE_NEW* flag (and CLONE_NEWTIME's bit, 0x80): a sandboxed process must not make
// namespaces — most kernel exploits need a fresh user namespace.
constexpr uint64_t kNamespaceFlags = CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC |
                                     CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | 0x80;

struct FilterDeleter {
  void operator()(void* ctx) const { seccomp_release(ctx); }
};

Status check(int rc, std::string_view what) {
  if (rc == 0) return Status::ok();
  return internalError(fmt::format("seccomp: {}: {}", what, strerror(-rc)));
}

Status allow(scmp_filter_ctx ctx, const char* name) {
  int nr = seccomp_syscall_resolve_name(name);
  if (nr == __NR_SCMP_ERROR) return Status::ok();  // not on this architecture
  return check(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0), name);
}

// Allows `syscall` when argument `arg` lies in [low, high]. libseccomp takes one comparison per
// argument in a rule, so the range is cut into aligned power-of-two blocks, each one rule
// (value & ~(size - 1)) == start.
Status allowArgRange(scmp_filter_ctx ctx, int syscall, unsigned arg, uint64_t low, uint64_t high) {
  while (low <= high) {
    uint64_t size = 1;
    while (size < (1ULL << 62) && (low & (size * 2 - 1)) == 0 && low + size * 2 - 1 <= high) size *= 2;
    struct scmp_arg_cmp compare = {arg, SCMP_CMP_MASKED_EQ, ~(size - 1), low};
    GUST_RETURN_IF_ERROR(
        check(seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, syscall, 1, &compare), "argument range"));
    if (low + size - 1 == high) break;
    low += size;
  }
  return Status::ok();
}

using Filter = std::unique_ptr<void, FilterDeleter>;

Result<Filter> buildFilter(const SeccompProfile& profile) {
  Filter filter(seccomp_init(SCMP_ACT_ERRNO(EPERM)));
  scmp_filter_ctx ctx = filter.get();
  if (!ctx) return internalError("seccomp: seccomp_init failed");
  // Only the native ABI: a foreign one (int 0x80, x32) would be a way around every rule below.
  GUST_RETURN_IF_ERROR(check(seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS),
                             "bad-arch action"));
  // Every syscall of the function runs through this filter: a binary tree of syscall numbers
  // instead of libseccomp's default linear list (~300 allowed calls).
  GUST_RETURN_IF_ERROR(check(seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2), "optimize"));
  for (const char* name : kAllowed) GUST_RETURN_IF_ERROR(allow(ctx, name));
  // Any runtime but python3 may run V8 (node itself, or Express under runtime "http").
  if (profile.runtime != "python3") {
    for (const char* name : kNodeExtras) GUST_RETURN_IF_ERROR(allow(ctx, name));
  }

  // Threads and processes, but no namespaces.
  GUST_RETURN_IF_ERROR(check(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                                              SCMP_A0(SCMP_CMP_MASKED_EQ, kNamespaceFlags, 0)),
                             "clone"));
  // clone3 passes its flags in memory seccomp cannot read: ENOSYS makes libc use clone.
  GUST_RETURN_IF_ERROR(
      check(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0), "clone3"));

  // Sockets: local ones, and TCP/UDP (the network namespace decides where they can go). The
  // protocol is checked as well as the type: SOCK_DGRAM alone would let in UDP-Lite and ICMP
  // ping sockets, SOCK_STREAM SCTP and MPTCP — transports the docs do not promise and the
  // egress firewall does not name. No raw or packet sockets, no vsock; netlink only for
  // NETLINK_ROUTE (interface listings), which sees just this namespace.
  GUST_RETURN_IF_ERROR(check(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
                                              SCMP_A0(SCMP_CMP_EQ, AF_UNIX)),
                             "socket AF_UNIX"));
  struct Transport {
    scmp_datum_t type;
    scmp_datum_t protocol;  // 0 picks the type's default: TCP for streams, UDP for datagrams
  };
  constexpr Transport kTransports[] = {
      {SOCK_STREAM, 0}, {SOCK_STREAM, IPPROTO_TCP}, {SOCK_DGRAM, 0}, {SOCK_DGRAM, IPPROTO_UDP}};
  for (scmp_datum_t family : {AF_INET, AF_INET6}) {
    for (Transport transport : kTransports) {
      // The mask keeps SOCK_NONBLOCK and SOCK_CLOEXEC out of the type comparison.
      GUST_RETURN_IF_ERROR(check(
          seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 3, SCMP_A0(SCMP_CMP_EQ, family),
                           SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, transport.type),
                           SCMP_A2(SCMP_CMP_EQ, transport.protocol)),
          "socket inet"));
    }
  }
  GUST_RETURN_IF_ERROR(check(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 2,
                                              SCMP_A0(SCMP_CMP_EQ, AF_NETLINK),
                                              SCMP_A2(SCMP_CMP_EQ, 0 /* NETLINK_ROUTE */)),
                             "socket netlink"));

  // ioctl, except pushing characters into a terminal's input (TIOCSTI, TIOCLINUX) — moot while no
  // terminal is reachable, but refused anyway. The kernel reads the request as 32 bits, so only
  // 32-bit values are allowed (a value with upper bits set would reach it truncated).
  GUST_RETURN_IF_ERROR(allowArgRange(ctx, SCMP_SYS(ioctl), 1, 0, TIOCSTI - 1));
  GUST_RETURN_IF_ERROR(allowArgRange(ctx, SCMP_SYS(ioctl), 1, TIOCSTI + 1, TIOCLINUX - 1));
  GUST_RETURN_IF_ERROR(allowArgRange(ctx, SCMP_SYS(ioctl), 1, TIOCLINUX + 1, 0xffffffffULL));

  // mknod only for FIFOs and regular files; device nodes stay impossible.
  for (unsigned kind : {S_IFIFO, S_IFREG}) {
    GUST_RETURN_IF_ERROR(check(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mknod), 1,
                                                SCMP_A1(SCMP_CMP_MASKED_EQ, S_IFMT, kind)),
                               "mknod"));
    GUST_RETURN_IF_ERROR(check(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mknodat), 1,
                                                SCMP_A2(SCMP_CMP_MASKED_EQ, S_IFMT, kind)),
                               "mknodat"));
  }
  // personality: only querying and the default Linux persona (no READ_IMPLIES_EXEC & co).
  for (uint64_t persona : {0x0ULL, 0xffffffffULL}) {
    GUST_RETURN_IF_ERROR(check(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(personality), 1,
                                                SCMP_A0(SCMP_CMP_EQ, persona)),
                               "personality"));
  }
  return filter;
}

}  // namespace

Result<std::string> compileSeccompProgram(const SeccompProfile& profile) {
  auto filter = buildFilter(profile);
  if (!filter) return filter.status();
  int fd = ::memfd_create("gust-seccomp", MFD_CLOEXEC);
  if (fd < 0) return internalError(fmt::format("seccomp: memfd_create: {}", strerror(errno)));
  Status exported = check(seccomp_export_bpf(filter->get(), fd), "export");
  std::string program;
  char buffer[4096];
  ssize_t got = 0;
  while (exported.isOk() &&
         (got = ::pread(fd, buffer, sizeof buffer, static_cast<off_t>(program.size()))) > 0) {
    program.append(buffer, static_cast<size_t>(got));
  }
  ::close(fd);
  GUST_RETURN_IF_ERROR(exported);
  if (got < 0 || program.empty() || program.size() % sizeof(sock_filter) != 0) {
    return internalError("seccomp: the exported program is not whole");
  }
  return program;
}

Status loadSeccompProgram(std::string_view program) {
  if (program.empty() || program.size() % sizeof(sock_filter) != 0 ||
      program.size() / sizeof(sock_filter) > BPF_MAXINSNS) {
    return invalidArgument(
        fmt::format("seccomp: a program of {} bytes is not one", program.size()));
  }
  // What libseccomp's seccomp_load does with its default attributes: no flags (no TSYNC, no log).
  sock_fprog fprog{static_cast<unsigned short>(program.size() / sizeof(sock_filter)),
                   reinterpret_cast<sock_filter*>(const_cast<char*>(program.data()))};
  if (::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) != 0) {
    return internalError(fmt::format("seccomp: load: {}", strerror(errno)));
  }
  return Status::ok();
}

}  // namespace gust::sandbox
