#include "os/process.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace gust::os {
namespace {

// A server holding thousands of descriptors passes sources numbered anywhere: a source at a
// number that a fixed staging scheme used for an earlier mapping must still reach the child.
TEST(Spawn, DescriptorsNumberedHighReachTheChildIntact) {
  int content[2];
  ASSERT_EQ(::pipe(content), 0);
  ASSERT_EQ(::write(content[1], "the spec", 8), 8);
  ::close(content[1]);
  const int high = ::fcntl(content[0], F_DUPFD_CLOEXEC, 1000);  // 1000 unless taken
  ASSERT_GE(high, 1000);
  ::close(content[0]);
  int out[2];
  ASSERT_EQ(::pipe2(out, O_CLOEXEC), 0);

  SpawnSpec spec;
  spec.argv = {"/bin/sh", "-c", "cat <&4"};
  spec.env = {{"PATH", "/usr/bin:/bin"}};
  spec.fds = {{1, out[1]}, {4, high}};
  auto child = spawn(spec);
  ASSERT_TRUE(child.isOk()) << child.status().message();
  ::close(out[1]);
  ::close(high);
  std::string got;
  char buffer[64];
  for (ssize_t n; (n = ::read(out[0], buffer, sizeof buffer)) > 0;) got.append(buffer, static_cast<std::size_t>(n));
  ::close(out[0]);
  pollfd exited{child->pidfd, POLLIN, 0};
  ASSERT_EQ(::poll(&exited, 1, 10000), 1);
  EXPECT_EQ(reapChild(child->pid), "exit code 0");
  ::close(child->pidfd);
  EXPECT_EQ(got, "the spec");
}

// Starts `script` under sh with its stdout and stderr on a pipe; returns the pipe's read end.
int startScript(const std::string& script, Child* child) {
  int out[2];
  EXPECT_EQ(::pipe2(out, O_CLOEXEC), 0);
  SpawnSpec spec;
  spec.argv = {"/bin/sh", "-c", script};
  spec.env = {{"PATH", "/usr/bin:/bin"}};
  spec.fds = {{1, out[1]}, {2, out[1]}};
  auto started = spawn(spec);
  EXPECT_TRUE(started.isOk());
  ::close(out[1]);
  *child = *started;
  return out[0];
}

void endScript(const Child& child, int output) {
  killProcessGroup(child.pid);
  ::close(output);
  ::waitpid(child.pid, nullptr, 0);
  ::close(child.pidfd);
}

// A build over its disk cap is stopped by the check, not left to run to its timeout.
TEST(WatchOutput, StopsWhenTheCheckFails) {
  Child child;
  int output = startScript("while :; do echo working; sleep 0.05; done", &child);
  int checks = 0;
  std::vector<std::string> lines;
  WatchResult watched = watchOutput(
      output, 30, [&](std::string_view line) { lines.emplace_back(line); },
      [&]() -> Status { return ++checks < 3 ? Status::ok() : invalidArgument("over the cap"); });
  endScript(child, output);
  EXPECT_FALSE(watched.timed_out);
  EXPECT_EQ(watched.stopped.message(), "over the cap");
  EXPECT_EQ(checks, 3);
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines.front(), "working");
}

// Output without a newline must not grow the watcher's memory: it is cut into lines.
TEST(WatchOutput, CutsAnEndlessLine) {
  Child child;
  int output = startScript("head -c 300000 /dev/zero | tr '\\0' a", &child);
  std::size_t longest = 0, total = 0;
  WatchResult watched = watchOutput(output, 30, [&](std::string_view line) {
    longest = std::max(longest, line.size());
    total += line.size();
  });
  endScript(child, output);
  EXPECT_FALSE(watched.timed_out);
  EXPECT_EQ(total, 300000u);
  EXPECT_LE(longest, 64u * 1024);
  EXPECT_LE(watched.output.size(), 64u * 1024);
}

TEST(WatchOutput, TimesOut) {
  Child child;
  int output = startScript("sleep 30", &child);
  WatchResult watched = watchOutput(output, 1, nullptr);
  endScript(child, output);
  EXPECT_TRUE(watched.timed_out);
}

TEST(ExitCodeOf, LeavesTheChildToBeReaped) {
  Child child;
  int output = startScript("exit 7", &child);
  EXPECT_EQ(exitCodeOf(child.pid), 7);
  EXPECT_EQ(reapChild(child.pid), "exit code 7");
  ::close(output);
  ::close(child.pidfd);
}

}  // namespace
}  // namespace gust::os
