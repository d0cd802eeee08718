#include "os/files.h"

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

namespace gust::os {
namespace {

namespace fs = std::filesystem;

class FilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("gust-files-test-" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_ / "tree" / "sub");
  }
  void TearDown() override { fs::remove_all(root_); }
  static void writeBytes(const fs::path& path, std::size_t bytes) {
    std::ofstream(path) << std::string(bytes, 'x');
  }
  static mode_t modeOf(const fs::path& path) {
    struct stat st {};
    EXPECT_EQ(::lstat(path.c_str(), &st), 0);
    return st.st_mode & 07777;
  }
  fs::path root_;
};

// A build's tree may hold a symlink to anything on the host: the quota counts the link, never
// what it points at.
TEST_F(FilesTest, DiskUsageCountsTheTreeAndNeverFollowsASymlink) {
  writeBytes(root_ / "tree" / "sub" / "one-mib", 1 << 20);
  fs::create_directory_symlink("/usr", root_ / "tree" / "usr");
  auto used = diskUsage((root_ / "tree").string());
  ASSERT_TRUE(used.isOk()) << used.status().message();
  EXPECT_GE(*used, 1 << 20);
  EXPECT_LT(*used, 2 << 20);
}

TEST_F(FilesTest, DiskUsageOfAMissingPathIsZero) {
  auto used = diskUsage((root_ / "nothing-here").string());
  ASSERT_TRUE(used.isOk());
  EXPECT_EQ(*used, 0);
}

// A sparse file holds what it allocated, not its apparent size.
TEST_F(FilesTest, DiskUsageCountsASparseFileByWhatItHolds) {
  const fs::path sparse = root_ / "tree" / "sparse";
  std::ofstream(sparse).close();
  fs::resize_file(sparse, 1ULL << 40);
  auto used = diskUsage((root_ / "tree").string());
  ASSERT_TRUE(used.isOk());
  EXPECT_LT(*used, 1 << 20);
}

// What a tenant's build wrote comes back without set-id bits or group/other write, and a
// symlink in it changes nothing outside the tree.
TEST_F(FilesTest, ChownTreeSealsModesAndLeavesSymlinkTargetsAlone) {
  const fs::path outside = root_ / "outside";
  writeBytes(outside, 10);
  ASSERT_EQ(::chmod(outside.c_str(), 0666), 0);
  const fs::path setuid = root_ / "tree" / "sub" / "setuid";
  writeBytes(setuid, 10);
  ASSERT_EQ(::chmod(setuid.c_str(), 06777), 0);
  fs::create_symlink(outside, root_ / "tree" / "link");
  ASSERT_EQ(::chmod((root_ / "tree" / "sub").c_str(), 0777), 0);

  Status sealed = chownTree((root_ / "tree").string(), ::geteuid(), ::getegid(), true);
  ASSERT_TRUE(sealed.isOk()) << sealed.message();
  EXPECT_EQ(modeOf(setuid), 0755u);
  EXPECT_EQ(modeOf(root_ / "tree" / "sub"), 0755u);
  EXPECT_EQ(modeOf(outside), 0666u);
}

}  // namespace
}  // namespace gust::os
