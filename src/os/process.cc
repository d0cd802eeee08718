#include "os/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

#include <fmt/format.h>

extern char** environ;

namespace gust::os {
namespace {

int pidfdOpen(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

std::string describeWaitStatus(int status) {
  if (WIFEXITED(status)) return fmt::format("exit code {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    return fmt::format("signal {} ({})", sig, strsignal(sig));
  }
  return "unknown status";
}

}  // namespace

Result<Child> spawn(const SpawnSpec& spec) {
  if (spec.argv.empty()) return invalidArgument("spawn: empty argv");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  // dup2 through temporary numbers above every fd named first, so mapping 3->4 and 4->3 cannot
  // clobber, nor can staging overwrite a source (a server holding thousands of fds passes some
  // numbered above any fixed staging base).
  int temp = 3;
  for (const auto& [child_fd, parent_fd] : spec.fds) temp = std::max({temp, child_fd + 1, parent_fd + 1});
  std::map<int, int> staged;
  for (const auto& [child_fd, parent_fd] : spec.fds) {
    posix_spawn_file_actions_adddup2(&actions, parent_fd, temp);
    staged[child_fd] = temp++;
  }
  for (const auto& [child_fd, temp_fd] : staged) {
    posix_spawn_file_actions_adddup2(&actions, temp_fd, child_fd);
  }
  int highest = spec.fds.empty() ? 2 : std::max(2, spec.fds.rbegin()->first);
  posix_spawn_file_actions_addclosefrom_np(&actions, highest + 1);
  if (!spec.cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, spec.cwd.c_str());

  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  if (spec.new_process_group) {
    flags |= POSIX_SPAWN_SETPGROUP;
    posix_spawnattr_setpgroup(&attr, 0);
  }
  posix_spawnattr_setflags(&attr, flags);
  sigset_t empty_mask;
  sigemptyset(&empty_mask);
  posix_spawnattr_setsigmask(&attr, &empty_mask);
  sigset_t defaults;
  sigfillset(&defaults);
  posix_spawnattr_setsigdefault(&attr, &defaults);

  std::vector<std::string> env_strings;
  for (const auto& [k, v] : spec.env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<char*> argv;
  for (const auto& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);

  pid_t pid = -1;
  int rc = posix_spawn(&pid, argv[0], &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    return internalError(fmt::format("cannot start {}: {}", spec.argv[0], strerror(rc)));
  }
  int pidfd = pidfdOpen(pid);
  if (pidfd < 0) {
    killProcessGroup(pid);
    ::waitpid(pid, nullptr, 0);
    return internalError(fmt::format("pidfd_open: {}", strerror(errno)));
  }
  return Child{pid, pidfd};
}

std::string reapChild(pid_t pid) {
  int status = 0;
  pid_t r = ::waitpid(pid, &status, WNOHANG);
  if (r == 0) return "";
  if (r < 0) return "exited";
  return describeWaitStatus(status);
}

void killProcessGroup(pid_t pid) {
  if (pid > 0) ::kill(-pid, SIGKILL);
}

Result<CommandResult> runCommand(const std::vector<std::string>& argv, const std::string& cwd,
                                 const std::map<std::string, std::string>& extra_env,
                                 int timeout_s,
                                 const std::function<void(std::string_view)>& on_line) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return internalError("pipe2 failed");
  SpawnSpec spec;
  spec.argv = argv;
  if (!argv.empty() && argv[0].find('/') == std::string::npos) {
    spec.argv[0] = findOnPath(argv[0]);
    if (spec.argv[0].empty()) {
      ::close(pipe_fds[0]);
      ::close(pipe_fds[1]);
      return internalError(fmt::format("{} is not installed (not found on PATH)", argv[0]));
    }
  }
  spec.env = currentEnvironment();
  for (const auto& [k, v] : extra_env) spec.env[k] = v;
  spec.cwd = cwd;
  int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  spec.fds = {{0, devnull}, {1, pipe_fds[1]}, {2, pipe_fds[1]}};
  auto child = spawn(spec);
  ::close(pipe_fds[1]);
  ::close(devnull);
  if (!child) {
    ::close(pipe_fds[0]);
    return child.status();
  }
  WatchResult watched = watchOutput(pipe_fds[0], timeout_s, on_line);
  if (watched.timed_out) killProcessGroup(child->pid);
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(child->pid, &status, 0);
  ::close(child->pidfd);
  CommandResult result;
  result.output = std::move(watched.output);
  result.timed_out = watched.timed_out;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

WatchResult watchOutput(int output_fd, int timeout_s,
                        const std::function<void(std::string_view)>& on_line,
                        const std::function<Status()>& check) {
  constexpr std::size_t kKeptOutput = 64 * 1024;
  constexpr auto kCheckEvery = std::chrono::milliseconds(500);
  WatchResult result;
  auto now = std::chrono::steady_clock::now();
  const auto deadline = now + std::chrono::seconds(timeout_s);
  auto next_check = now + kCheckEvery;
  std::string pending;
  char buffer[8192];
  for (;;) {
    now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      result.timed_out = true;
      break;
    }
    if (check && now >= next_check) {
      next_check = now + kCheckEvery;
      if (Status checked = check(); !checked.isOk()) {
        result.stopped = std::move(checked);
        break;
      }
    }
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::min(deadline, check ? next_check : now + std::chrono::seconds(1)) - now);
    pollfd p{output_fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::max<int64_t>(wait.count(), 1))) <= 0) continue;
    ssize_t n = ::read(output_fd, buffer, sizeof buffer);
    if (n <= 0) break;
    pending.append(buffer, static_cast<size_t>(n));
    result.output.append(buffer, static_cast<size_t>(n));
    if (result.output.size() > kKeptOutput) {
      result.output.erase(0, result.output.size() - kKeptOutput);
    }
    // A line is cut at the kept size: output without newlines must not grow this buffer.
    std::size_t newline;
    while ((newline = pending.find('\n')) != std::string::npos || pending.size() > kKeptOutput) {
      const bool whole = newline != std::string::npos;
      const std::size_t end = whole ? newline : kKeptOutput;
      if (on_line) on_line(std::string_view(pending).substr(0, end));
      pending.erase(0, whole ? end + 1 : end);
    }
  }
  if (!pending.empty() && on_line) on_line(pending);
  return result;
}

int exitCodeOf(pid_t pid) {
  siginfo_t info{};
  if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT) != 0) return -1;
  return info.si_code == CLD_EXITED ? info.si_status : -1;
}

std::string findOnPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= dirs.size()) {
    std::size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string candidate = dirs.substr(start, end - start) + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return "";
}

std::map<std::string, std::string> currentEnvironment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view entry(*e);
    auto eq = entry.find('=');
    if (eq != std::string_view::npos) env[std::string(entry.substr(0, eq))] = entry.substr(eq + 1);
  }
  return env;
}

}  // namespace gust::os
