// Raw-syscall probe for the escape suite (tests/security). Built statically at test time and
// shipped inside a probe function's bundle; the Python probe runs it from /code.
//
//   cprobe syscalls sandbox|control   one line of JSON: {check: {ret, errno, err, signal}}
//   cprobe ids                        {uid, euid, gid, egid, secure}
//
// Every check runs in a forked child, so a check that succeeds (and changes the child's state,
// e.g. unshare) or that gets the child killed (seccomp KILL on x32 / int 0x80) cannot disturb
// the next one. Arguments are chosen so that, unconfined as root (the control mode), a call that
// reaches the kernel does no harm: bogus magic numbers, nonexistent paths, the caller's own
// namespaces and children. "reached the kernel" shows as success or an errno other than
// EPERM/ENOSYS; the sandbox must answer EPERM (ENOSYS for clone3) or kill the process.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <linux/sched.h>
#include <linux/userfaultfd.h>
#include <linux/io_uring.h>
#include <linux/keyctl.h>
#include <linux/if_ether.h>
#include <linux/netlink.h>
#include <linux/vm_sockets.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif

static int control_mode = 0;
static int first = 1;

static void emit(const char* name, long ret, int err, int sig) {
  printf("%s\"%s\": {\"ret\": %ld, \"errno\": %d, \"err\": \"%s\", \"signal\": %d}", first ? "" : ", ",
         name, ret, err, err ? strerrorname_np(err) : "", sig);
  first = 0;
  fflush(stdout);
}

static void skip(const char* name, const char* why) {
  printf("%s\"%s\": {\"skipped\": \"%s\"}", first ? "" : ", ", name, why);
  first = 0;
  fflush(stdout);
}

// Runs fn in a child; the child reports (ret, errno) through a pipe. No report + a signal means
// the child was killed (seccomp KILL shows as SIGSYS).
static void run(const char* name, long (*fn)(void)) {
  int p[2];
  if (pipe(p) != 0) { emit(name, -2, errno, 0); return; }
  fflush(stdout);
  pid_t pid = fork();
  if (pid < 0) { emit(name, -2, errno, 0); close(p[0]); close(p[1]); return; }
  if (pid == 0) {
    close(p[0]);
    alarm(5);
    errno = 0;
    long r = fn();
    long out[2] = {r, r < 0 ? errno : 0};
    if (write(p[1], out, sizeof out) != sizeof out) _exit(98);
    _exit(0);
  }
  close(p[1]);
  long in[2];
  ssize_t n = read(p[0], in, sizeof in);
  close(p[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  if (n == sizeof in) emit(name, in[0], (int)in[1], sig);
  else emit(name, -1, 0, sig ? sig : -1);
}

static long sys_ptrace_traceme(void) { return ptrace(PTRACE_TRACEME, 0, 0, 0); }
static long sys_ptrace_attach_child(void) {
  pid_t c = fork();
  if (c == 0) { for (;;) pause(); }
  long r = ptrace(PTRACE_ATTACH, c, 0, 0);
  int e = errno;
  kill(c, SIGKILL);
  waitpid(c, NULL, 0);
  errno = e;
  return r;
}
static long sys_ptrace_seize_pid1(void) { return ptrace(PTRACE_SEIZE, 1, 0, 0); }
static long sys_process_vm_readv(void) {
  char src[16] = "gust-probe", dst[16];
  struct iovec l = {dst, sizeof dst}, r = {src, sizeof src};
  return syscall(SYS_process_vm_readv, getpid(), &l, 1, &r, 1, 0);
}
static long sys_process_vm_writev(void) {
  char src[16] = "gust-probe", dst[16];
  struct iovec l = {src, sizeof src}, r = {dst, sizeof dst};
  return syscall(SYS_process_vm_writev, getpid(), &l, 1, &r, 1, 0);
}
static long sys_mount(void) { return syscall(SYS_mount, "none", "/nonexistent-gust-probe", "tmpfs", 0, NULL); }
static long sys_mount_tmp(void) { return syscall(SYS_mount, "none", "/tmp", "tmpfs", 0, NULL); }
static long sys_umount2(void) { return syscall(SYS_umount2, "/nonexistent-gust-probe", 0); }
static long sys_umount2_tmp(void) { return syscall(SYS_umount2, "/tmp", 2 /* MNT_DETACH */); }
static long sys_pivot_root(void) { return syscall(SYS_pivot_root, "/nonexistent-gust-a", "/nonexistent-gust-b"); }
static long sys_chroot(void) { return syscall(SYS_chroot, "/"); }
static long sys_unshare_user(void) { return syscall(SYS_unshare, CLONE_NEWUSER); }
static long sys_unshare_ns(void) { return syscall(SYS_unshare, CLONE_NEWNS); }
static long sys_unshare_net(void) { return syscall(SYS_unshare, CLONE_NEWNET); }
static long raw_clone(unsigned long flags) {
  long r = syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
  if (r == 0) _exit(0);
  if (r > 0) waitpid((pid_t)r, NULL, 0);
  return r;
}
static long sys_clone_newuser(void) { return raw_clone(CLONE_NEWUSER); }
static long sys_clone_newpid(void) { return raw_clone(CLONE_NEWPID); }
static long sys_clone_newns(void) { return raw_clone(CLONE_NEWNS); }
static long sys_clone_newnet(void) { return raw_clone(CLONE_NEWNET); }
static long sys_clone_plain(void) { return raw_clone(0); }
static long raw_clone3(unsigned long long flags) {
  struct clone_args args;
  memset(&args, 0, sizeof args);
  args.flags = flags;
  args.exit_signal = SIGCHLD;
  long r = syscall(SYS_clone3, &args, sizeof args);
  if (r == 0) _exit(0);
  if (r > 0) waitpid((pid_t)r, NULL, 0);
  return r;
}
static long sys_clone3_plain(void) { return raw_clone3(0); }
static long sys_clone3_newuser(void) { return raw_clone3(CLONE_NEWUSER); }
static long sys_setns(void) {
  int fd = open("/proc/self/ns/net", O_RDONLY);
  if (fd < 0) return -1;
  return syscall(SYS_setns, fd, CLONE_NEWNET);
}
static long sys_bpf(void) {
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  return syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof attr);
}
static long sys_perf_event_open(void) {
  struct perf_event_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.type = PERF_TYPE_SOFTWARE;
  attr.size = sizeof attr;
  attr.config = PERF_COUNT_SW_CPU_CLOCK;
  attr.exclude_kernel = 1;
  return syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0);
}
static long sys_keyctl(void) { return syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0); }
static long sys_add_key(void) { return syscall(SYS_add_key, "user", "gust-probe", "x", 1, KEY_SPEC_PROCESS_KEYRING); }
static long sys_request_key(void) { return syscall(SYS_request_key, "user", "gust-probe-none", NULL, KEY_SPEC_PROCESS_KEYRING); }
static long sys_kexec_load(void) { return syscall(SYS_kexec_load, 0, 0, NULL, 0xdead0000UL); }
static long sys_init_module(void) { return syscall(SYS_init_module, NULL, 0, ""); }
static long sys_finit_module(void) { return syscall(SYS_finit_module, -1, "", 0); }
static long sys_delete_module(void) { return syscall(SYS_delete_module, "gust_probe_none", O_NONBLOCK); }
static long sys_open_by_handle_at(void) {
  struct { unsigned int bytes; int type; unsigned char h[8]; } handle = {8, 1, {0}};
  return syscall(SYS_open_by_handle_at, AT_FDCWD, &handle, O_RDONLY);
}
static long sys_name_to_handle_at(void) {
  struct { unsigned int bytes; int type; unsigned char h[128]; } handle = {128, 0, {0}};
  int mount_id;
  return syscall(SYS_name_to_handle_at, AT_FDCWD, "/", &handle, &mount_id, 0);
}
static long sys_userfaultfd(void) { return syscall(SYS_userfaultfd, O_CLOEXEC); }
static long sys_io_uring_setup(void) {
  struct io_uring_params params;
  memset(&params, 0, sizeof params);
  return syscall(SYS_io_uring_setup, 1, &params);
}
static long sys_swapon(void) { return syscall(SYS_swapon, "/nonexistent-gust-probe", 0); }
static long sys_swapoff(void) { return syscall(SYS_swapoff, "/nonexistent-gust-probe"); }
static long sys_reboot(void) { return syscall(SYS_reboot, 0, 0, 0, NULL); }  // bad magic: EINVAL if allowed
static long sys_syslog(void) { return syscall(SYS_syslog, 10 /* SYSLOG_ACTION_SIZE_BUFFER */, NULL, 0); }
static long sys_acct(void) { return syscall(SYS_acct, "/nonexistent-gust-probe"); }
static long sys_setuid0(void) { return syscall(SYS_setuid, 0); }
static long sys_setgid0(void) { return syscall(SYS_setgid, 0); }
static long sys_setresuid0(void) { return syscall(SYS_setresuid, 0, 0, 0); }
static long sys_setgroups(void) { gid_t g = 0; return syscall(SYS_setgroups, 1, &g); }
static long tiocsti(int fd) { char c = '#'; return ioctl(fd, TIOCSTI, &c); }
static long sys_tiocsti_0(void) { return tiocsti(0); }
static long sys_tiocsti_1(void) { return tiocsti(1); }
static long sys_tiocsti_2(void) { return tiocsti(2); }
static long sys_tiocsti_pty(void) {
  int m = posix_openpt(O_RDWR | O_NOCTTY);
  if (m < 0) return -1;
  if (grantpt(m) != 0 || unlockpt(m) != 0) return -1;
  int s = open(ptsname(m), O_RDWR | O_NOCTTY);
  if (s < 0) return -1;
  return tiocsti(s);
}
static long sys_tioclinux(void) { char sub = 6; return ioctl(0, TIOCLINUX, &sub); }
static long sys_socket_packet(void) { return socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL)); }
static long sys_socket_raw(void) { return socket(AF_INET, SOCK_RAW, IPPROTO_ICMP); }
static long sys_socket_raw6(void) { return socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6); }
static long sys_socket_vsock(void) { return socket(AF_VSOCK, SOCK_STREAM, 0); }
static long sys_socket_netlink(void) { return socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE); }
static long sys_socket_mptcp(void) { return socket(AF_INET, SOCK_STREAM, IPPROTO_MPTCP); }
static long sys_socket_unix(void) { return socket(AF_UNIX, SOCK_STREAM, 0); }
// Socket families and protocols beyond TCP/UDP (docs/security.md: "sockets only ... TCP/UDP").
// Unconfined, a kernel without the protocol answers EPROTONOSUPPORT/ESOCKTNOSUPPORT (reached
// it); ping sockets answer EACCES outside ping_group_range.
static long sys_socket_udplite(void) { return socket(AF_INET, SOCK_DGRAM, IPPROTO_UDPLITE); }
static long sys_socket_udplite6(void) { return socket(AF_INET6, SOCK_DGRAM, IPPROTO_UDPLITE); }
static long sys_socket_sctp(void) { return socket(AF_INET, SOCK_STREAM, IPPROTO_SCTP); }
static long sys_socket_sctp_seqpacket(void) { return socket(AF_INET, SOCK_SEQPACKET, IPPROTO_SCTP); }
static long sys_socket_sctp6(void) { return socket(AF_INET6, SOCK_STREAM, IPPROTO_SCTP); }
static long sys_socket_dccp(void) { return socket(AF_INET, SOCK_DCCP, IPPROTO_DCCP); }
static long sys_socket_ping(void) { return socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP); }
static long sys_socket_ping6(void) { return socket(AF_INET6, SOCK_DGRAM, IPPROTO_ICMPV6); }
static long sys_socket_stream_icmp(void) { return socket(AF_INET, SOCK_STREAM, IPPROTO_ICMP); }
static long sys_socket_tcp(void) { return socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP); }
static long sys_socket_tcp6(void) { return socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, 0); }
static long sys_socket_udp(void) { return socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP); }
static long sys_socket_udp6(void) { return socket(AF_INET6, SOCK_DGRAM, 0); }
static long sys_x32_getpid(void) { return syscall(0x40000000 | 39); }
static long int80(long nr, long a, long b, long c) {
  long r;
  __asm__ volatile("int $0x80" : "=a"(r) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
  if (r < 0 && r > -4096) { errno = (int)-r; return -1; }
  return r;
}
static long sys_int80_getpid(void) { return int80(20, 0, 0, 0); }
static long sys_int80_socket(void) { return int80(359, AF_INET, SOCK_STREAM, 0); }  // i386 socket
static long sys_int80_mount(void) { return int80(21, 0, 0, 0); }                    // NULL args: EFAULT if reached
static long sys_int80_unshare(void) { return int80(310, CLONE_NEWUSER, 0, 0); }
static long sys_personality_rie(void) { return personality(PER_LINUX | READ_IMPLIES_EXEC); }
static long sys_modify_ldt(void) { char buf[16]; return syscall(SYS_modify_ldt, 0, buf, sizeof buf); }
static long sys_fsopen(void) { return syscall(SYS_fsopen, "tmpfs", 0); }
static long sys_open_tree(void) { return syscall(SYS_open_tree, AT_FDCWD, "/", OPEN_TREE_CLONE); }
static long sys_mount_setattr(void) { return syscall(SYS_mount_setattr, AT_FDCWD, "/nonexistent-gust-probe", 0, NULL, 0); }

int main(int argc, char** argv) {
  if (argc >= 2 && strcmp(argv[1], "ids") == 0) {
    printf("{\"uid\": %d, \"euid\": %d, \"gid\": %d, \"egid\": %d, \"secure\": %lu}\n", getuid(),
           geteuid(), getgid(), getegid(), getauxval(AT_SECURE));
    return 0;
  }
  if (argc < 3 || strcmp(argv[1], "syscalls") != 0) {
    fprintf(stderr, "usage: cprobe syscalls sandbox|control | cprobe ids\n");
    return 2;
  }
  control_mode = strcmp(argv[2], "control") == 0;
  printf("{");
  run("ptrace_traceme", sys_ptrace_traceme);
  run("ptrace_attach_child", sys_ptrace_attach_child);
  // Unconfined, pid 1 is the host's init: never trace it from the control run.
  if (control_mode) skip("ptrace_seize_pid1", "control: pid 1 is the host init");
  else run("ptrace_seize_pid1", sys_ptrace_seize_pid1);
  run("process_vm_readv", sys_process_vm_readv);
  run("process_vm_writev", sys_process_vm_writev);
  run("mount", sys_mount);
  run("umount2", sys_umount2);
  if (control_mode) {
    skip("mount_tmp", "control: would mount over the host's /tmp");
    skip("umount2_tmp", "control: would unmount the host's /tmp");
  } else {
    run("mount_tmp", sys_mount_tmp);
    run("umount2_tmp", sys_umount2_tmp);
  }
  run("pivot_root", sys_pivot_root);
  run("chroot", sys_chroot);
  run("unshare_newuser", sys_unshare_user);
  run("unshare_newns", sys_unshare_ns);
  run("unshare_newnet", sys_unshare_net);
  run("clone_plain", sys_clone_plain);
  run("clone_newuser", sys_clone_newuser);
  run("clone_newpid", sys_clone_newpid);
  run("clone_newns", sys_clone_newns);
  run("clone_newnet", sys_clone_newnet);
  run("clone3_plain", sys_clone3_plain);
  run("clone3_newuser", sys_clone3_newuser);
  run("setns", sys_setns);
  run("bpf", sys_bpf);
  run("perf_event_open", sys_perf_event_open);
  run("keyctl", sys_keyctl);
  run("add_key", sys_add_key);
  run("request_key", sys_request_key);
  run("kexec_load", sys_kexec_load);
  run("init_module", sys_init_module);
  run("finit_module", sys_finit_module);
  run("delete_module", sys_delete_module);
  run("open_by_handle_at", sys_open_by_handle_at);
  run("name_to_handle_at", sys_name_to_handle_at);
  run("userfaultfd", sys_userfaultfd);
  run("io_uring_setup", sys_io_uring_setup);
  run("swapon", sys_swapon);
  run("swapoff", sys_swapoff);
  run("reboot", sys_reboot);
  run("syslog", sys_syslog);
  run("acct", sys_acct);
  run("setuid0", sys_setuid0);
  run("setgid0", sys_setgid0);
  run("setresuid0", sys_setresuid0);
  run("setgroups", sys_setgroups);
  run("tiocsti_fd0", sys_tiocsti_0);
  run("tiocsti_fd1", sys_tiocsti_1);
  run("tiocsti_fd2", sys_tiocsti_2);
  run("tiocsti_pty", sys_tiocsti_pty);
  run("tioclinux", sys_tioclinux);
  run("socket_packet", sys_socket_packet);
  run("socket_raw", sys_socket_raw);
  run("socket_raw6", sys_socket_raw6);
  run("socket_vsock", sys_socket_vsock);
  run("socket_netlink", sys_socket_netlink);
  run("socket_mptcp", sys_socket_mptcp);
  run("socket_unix", sys_socket_unix);
  run("socket_udplite", sys_socket_udplite);
  run("socket_udplite6", sys_socket_udplite6);
  run("socket_sctp", sys_socket_sctp);
  run("socket_sctp_seqpacket", sys_socket_sctp_seqpacket);
  run("socket_sctp6", sys_socket_sctp6);
  run("socket_dccp", sys_socket_dccp);
  run("socket_ping", sys_socket_ping);
  run("socket_ping6", sys_socket_ping6);
  run("socket_stream_icmp", sys_socket_stream_icmp);
  run("socket_tcp", sys_socket_tcp);
  run("socket_tcp6", sys_socket_tcp6);
  run("socket_udp", sys_socket_udp);
  run("socket_udp6", sys_socket_udp6);
  run("x32_getpid", sys_x32_getpid);
  run("int80_getpid", sys_int80_getpid);
  run("int80_socket", sys_int80_socket);
  run("int80_mount", sys_int80_mount);
  run("int80_unshare", sys_int80_unshare);
  run("personality_read_implies_exec", sys_personality_rie);
  run("modify_ldt", sys_modify_ldt);
  run("fsopen", sys_fsopen);
  run("open_tree", sys_open_tree);
  run("mount_setattr", sys_mount_setattr);
  printf("}\n");
  return 0;
}
