#include "os/disk_guard.h"

#include <gtest/gtest.h>

namespace gust::os {
namespace {

constexpr uint64_t kMb = 1 << 20;

TEST(DiskGuard, RefusesBelowTheThresholdAndAdmitsAgainPastTheMargin) {
  uint64_t free_bytes = 100 * kMb;
  DiskGuard guard([&]() -> Result<uint64_t> { return free_bytes; }, 50 * kMb, 10 * kMb);
  ASSERT_TRUE(guard.sample().isOk());
  EXPECT_TRUE(guard.admit().isOk());

  free_bytes = 49 * kMb;
  auto low = guard.sample();
  ASSERT_TRUE(low.isOk());
  EXPECT_TRUE(low->refusing);
  EXPECT_TRUE(low->changed);
  EXPECT_EQ(guard.admit().code(), Code::InsufficientStorage);

  free_bytes = 55 * kMb;  // above the threshold, not past the margin: still refusing
  ASSERT_TRUE(guard.sample().isOk());
  EXPECT_EQ(guard.admit().code(), Code::InsufficientStorage);

  free_bytes = 60 * kMb;
  auto back = guard.sample();
  ASSERT_TRUE(back.isOk());
  EXPECT_FALSE(back->refusing);
  EXPECT_TRUE(back->changed);
  EXPECT_TRUE(guard.admit().isOk());
}

TEST(DiskGuard, RefusalNamesNoPath) {
  DiskGuard guard([]() -> Result<uint64_t> { return uint64_t{0}; }, kMb, 0);
  ASSERT_TRUE(guard.sample().isOk());
  Status refused = guard.admit();
  EXPECT_STREQ(refused.codeName(), "insufficient_storage");
  EXPECT_EQ(refused.message().find('/'), std::string::npos) << refused.message();
}

TEST(DiskGuard, AZeroThresholdNeverRefuses) {
  DiskGuard guard([]() -> Result<uint64_t> { return uint64_t{0}; }, 0, 0);
  ASSERT_TRUE(guard.sample().isOk());
  EXPECT_TRUE(guard.admit().isOk());
}

TEST(DiskGuard, AFailedMeasurementKeepsTheState) {
  bool fail = false;
  DiskGuard guard(
      [&]() -> Result<uint64_t> {
        if (fail) return internalError("statvfs failed");
        return uint64_t{0};
      },
      kMb, 0);
  ASSERT_TRUE(guard.sample().isOk());
  fail = true;
  EXPECT_FALSE(guard.sample().isOk());
  EXPECT_TRUE(guard.refusing());
}

TEST(DiskGuard, MeasuresARealDirectory) {
  auto free_bytes = DiskGuard::freeBytesOf("/tmp")();
  ASSERT_TRUE(free_bytes.isOk()) << free_bytes.status().message();
  EXPECT_FALSE(DiskGuard::freeBytesOf("/no/such/dir")().isOk());
}

}  // namespace
}  // namespace gust::os
