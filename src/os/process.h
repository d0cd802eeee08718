#pragma once
// The seam to the OS for processes. Everything here uses posix_spawn (vfork-based) rather than
// fork, so it is safe from the multi-threaded server: no allocator locks are inherited.

#include <sys/types.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/status.h"

namespace gust::os {

struct SpawnSpec {
  std::vector<std::string> argv;            // argv[0] is an absolute path
  std::map<std::string, std::string> env;   // the whole environment: nothing is inherited
  std::string cwd;
  // Child fd -> parent fd to place there. Every other descriptor is closed in the child.
  std::map<int, int> fds;
  bool new_process_group = true;  // so a timeout can kill whatever the function started
};

struct Child {
  pid_t pid = -1;
  int pidfd = -1;  // readable when the child exits; owned by the caller
};

Result<Child> spawn(const SpawnSpec& spec);

// Reaps an exited child (non-blocking) and describes how it ended: "exit code 3", "signal 9
// (Killed)". Returns "" if it is still running.
std::string reapChild(pid_t pid);

// Kills the child's whole process group.
void killProcessGroup(pid_t pid);

// Runs a command to completion, calling `on_line` for each line it prints on stdout or stderr
// (merged). Blocking: call from a worker thread. `timeout_s` kills it when exceeded.
struct CommandResult {
  int exit_code = -1;  // -1 when killed by a signal or the timeout
  std::string output;  // the last 64 KiB of output, for error messages
  bool timed_out = false;
};
Result<CommandResult> runCommand(const std::vector<std::string>& argv, const std::string& cwd,
                                 const std::map<std::string, std::string>& extra_env,
                                 int timeout_s,
                                 const std::function<void(std::string_view)>& on_line);

// Reads `output_fd` (a started child's merged stdout and stderr) until every writer closed it,
// calling `on_line` per line, for at most `timeout_s`; about twice a second `check` may stop it
// with an error (a build over its disk limit). Neither kills nor reaps: the caller does.
struct WatchResult {
  std::string output;  // the last 64 KiB, for error messages
  bool timed_out = false;
  Status stopped;  // what `check` answered when it stopped the watch
};
WatchResult watchOutput(int output_fd, int timeout_s,
                        const std::function<void(std::string_view)>& on_line,
                        const std::function<Status()>& check = nullptr);

// The exit code of an exited child, -1 for a signal; leaves it to be reaped (WNOWAIT).
int exitCodeOf(pid_t pid);

// The absolute path of an executable found on PATH, or "".
std::string findOnPath(const std::string& name);

// The current environment as a map (for commands that should see the user's PATH, HOME...).
std::map<std::string, std::string> currentEnvironment();

}  // namespace gust::os
