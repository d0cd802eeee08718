#include "os/process.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <string>

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

}  // namespace
}  // namespace gust::os
