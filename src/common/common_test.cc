#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <set>

#include "common/ids.h"
#include "common/status.h"
#include "common/time.h"

namespace gust {
namespace {

TEST(Ids, ActivationIdsAreHexAndDistinct) {
  std::string a = newActivationId();
  std::string b = newActivationId();
  EXPECT_EQ(a.size(), 32u);
  EXPECT_NE(a, b);
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef"), std::string::npos);
}

TEST(Ids, ManyIdsAcrossRefillsAreDistinct) {
  std::set<std::string> seen;
  for (int i = 0; i < 5000; ++i) seen.insert(newActivationId());
  EXPECT_EQ(seen.size(), 5000u);
}

// Ids come from a per-thread block of random bytes: a forked child must not repeat the ids its
// parent hands out next from the block it inherited.
TEST(Ids, AForkedChildDoesNotRepeatItsParentsIds) {
  (void)newActivationId();  // the block is filled and partly used
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    std::string id = newActivationId();
    ::_exit(::write(pipe_fds[1], id.data(), id.size()) == static_cast<ssize_t>(id.size()) ? 0 : 1);
  }
  std::string parent_id = newActivationId();
  char buffer[32];
  ASSERT_EQ(::read(pipe_fds[0], buffer, sizeof buffer), 32);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ::close(pipe_fds[0]);
  ::close(pipe_fds[1]);
  EXPECT_NE(std::string(buffer, 32), parent_id);
}

TEST(Time, FormatsRfc3339WithMicroseconds) {
  EXPECT_EQ(formatRfc3339Micros(1764344742123456), "2025-11-28T15:45:42.123456Z");
}

TEST(ResultType, CarriesValueOrStatus) {
  Result<int> good = 7;
  Result<int> bad = notFound("no such function 'x'");
  EXPECT_TRUE(good.isOk());
  EXPECT_EQ(*good, 7);
  EXPECT_FALSE(bad.isOk());
  EXPECT_EQ(bad.status().code(), Code::NotFound);
  EXPECT_STREQ(bad.status().codeName(), "not_found");
}

}  // namespace
}  // namespace gust
