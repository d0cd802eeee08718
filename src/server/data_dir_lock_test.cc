#include "server/data_dir_lock.h"

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <unistd.h>

namespace gust::server {
namespace {

namespace fs = std::filesystem;

class DataDirLockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("gust-lock-test-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(DataDirLockTest, ASecondHolderIsRefusedWithTheFirstOnesPid) {
  auto first = DataDirLock::acquire(dir_.string());
  ASSERT_TRUE(first) << first.status().message();
  // flock conflicts between open file descriptions, even within one process.
  auto second = DataDirLock::acquire(dir_.string());
  ASSERT_FALSE(second);
  EXPECT_EQ(second.status().code(), Code::Conflict);
  EXPECT_NE(second.status().message().find("pid " + std::to_string(::getpid())), std::string::npos)
      << second.status().message();
  EXPECT_NE(second.status().message().find(dir_.string()), std::string::npos);
}

TEST_F(DataDirLockTest, IsFreeAgainOnceTheHolderIsGone) {
  {
    auto first = DataDirLock::acquire(dir_.string());
    ASSERT_TRUE(first);
  }
  auto again = DataDirLock::acquire(dir_.string());
  EXPECT_TRUE(again) << again.status().message();
}

TEST_F(DataDirLockTest, AStaleLockFileFromACrashDoesNotBlock) {
  std::ofstream(dir_ / "server.lock") << "999999\n";
  auto lock = DataDirLock::acquire(dir_.string());
  EXPECT_TRUE(lock) << lock.status().message();
}

}  // namespace
}  // namespace gust::server
