#include "bundle/bundle.h"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "common/ids.h"

namespace gust::bundle {
namespace {
namespace fs = std::filesystem;

// Builds hostile archives entry by entry, the way an attacker would, bypassing packDirectory.
class ArchiveBuilder {
 public:
  ArchiveBuilder() : a_(archive_write_new()) {
    archive_write_add_filter_gzip(a_);
    archive_write_set_format_pax_restricted(a_);
    archive_write_open(a_, &out_, nullptr,
                       [](archive*, void* client, const void* buffer, size_t length) -> la_ssize_t {
                         static_cast<std::string*>(client)->append(
                             static_cast<const char*>(buffer), length);
                         return static_cast<la_ssize_t>(length);
                       },
                       nullptr);
  }
  ~ArchiveBuilder() { archive_write_free(a_); }

  ArchiveBuilder& file(const std::string& path, const std::string& data) {
    return add(path, AE_IFREG, data, "");
  }
  ArchiveBuilder& symlink(const std::string& path, const std::string& target) {
    return add(path, AE_IFLNK, "", target);
  }
  ArchiveBuilder& device(const std::string& path) { return add(path, AE_IFCHR, "", ""); }
  std::string finish() {
    archive_write_close(a_);
    return out_;
  }

 private:
  ArchiveBuilder& add(const std::string& path, unsigned type, const std::string& data,
                      const std::string& link) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, path.c_str());
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, static_cast<la_int64_t>(data.size()));
    if (!link.empty()) archive_entry_set_symlink(e, link.c_str());
    archive_write_header(a_, e);
    if (!data.empty()) archive_write_data(a_, data.data(), data.size());
    archive_entry_free(e);
    return *this;
  }

  archive* a_;
  std::string out_;
};

class BundleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("gust-bundle-" + randomHex(6));
    fs::create_directories(root_ / "data");
  }
  void TearDown() override { fs::remove_all(root_); }

  Status extract(const std::string& archive, BundleLimits limits = {}) {
    return extractBundle(archive, (root_ / "data" / "code").string(), limits);
  }
  // Nothing may appear outside data/code, and a failed extract leaves no code dir at all.
  void expectNothingWritten() {
    EXPECT_FALSE(fs::exists(root_ / "data" / "code"));
    EXPECT_FALSE(fs::exists(root_ / "evil"));
    for (const auto& entry : fs::directory_iterator(root_ / "data")) {
      ADD_FAILURE() << "left behind: " << entry.path();
    }
  }

  fs::path root_;
};

TEST_F(BundleTest, PackedDirectoryRoundTrips) {
  fs::path src = root_ / "src";
  fs::create_directories(src / "lib");
  fs::create_directories(src / "node_modules" / "x");
  std::ofstream(src / "main.py") << "def handler(e, c): return 1\n";
  std::ofstream(src / "lib" / "util.py") << "X = 1\n";
  std::ofstream(src / "node_modules" / "x" / "i.js") << "skip me\n";
  fs::create_symlink("lib/util.py", src / "alias.py");
  auto packed = packDirectory(src.string());
  ASSERT_TRUE(packed.isOk());
  Status extracted = extract(*packed);
  ASSERT_TRUE(extracted.isOk()) << extracted.codeName() << ": " << extracted.message();
  fs::path code = root_ / "data" / "code";
  EXPECT_TRUE(fs::exists(code / "main.py"));
  EXPECT_TRUE(fs::exists(code / "lib" / "util.py"));
  EXPECT_TRUE(fs::is_symlink(code / "alias.py"));
  EXPECT_FALSE(fs::exists(code / "node_modules"));
}

TEST_F(BundleTest, RejectsDotDotZipSlip) {
  auto status = extract(ArchiveBuilder().file("ok.py", "x").file("../../evil", "x").finish());
  EXPECT_EQ(status.code(), Code::InvalidArgument);
  EXPECT_NE(status.message().find("../../evil"), std::string::npos) << status.message();
  expectNothingWritten();
}

TEST_F(BundleTest, RejectsAbsolutePath) {
  auto status = extract(ArchiveBuilder().file("/tmp/evil", "x").finish());
  EXPECT_EQ(status.code(), Code::InvalidArgument);
  EXPECT_NE(status.message().find("/tmp/evil"), std::string::npos);
  expectNothingWritten();
}

TEST_F(BundleTest, RejectsSymlinkLeavingTheBundle) {
  for (std::string target : {"/etc/passwd", "../../..", "a/../../x"}) {
    auto status = extract(ArchiveBuilder().symlink("link", target).finish());
    EXPECT_EQ(status.code(), Code::InvalidArgument) << target;
    EXPECT_NE(status.message().find("'link'"), std::string::npos) << status.message();
    expectNothingWritten();
  }
}

TEST_F(BundleTest, RejectsWriteThroughASymlink) {
  auto status = extract(
      ArchiveBuilder().file("sub/x", "1").symlink("dir", "sub").file("dir/passwd", "x").finish());
  EXPECT_EQ(status.code(), Code::InvalidArgument);
  EXPECT_NE(status.message().find("dir/passwd"), std::string::npos);
  expectNothingWritten();
}

TEST_F(BundleTest, RejectsDeviceFiles) {
  auto status = extract(ArchiveBuilder().device("dev/sda").finish());
  EXPECT_EQ(status.code(), Code::InvalidArgument);
  EXPECT_NE(status.message().find("dev/sda"), std::string::npos);
  expectNothingWritten();
}

TEST_F(BundleTest, RejectsTooManyFiles) {
  ArchiveBuilder builder;
  for (int i = 0; i < 10000; ++i) builder.file("f" + std::to_string(i), "");
  auto status = extract(builder.finish());
  EXPECT_EQ(status.code(), Code::InvalidArgument);
  EXPECT_NE(status.message().find("more than 5000 files"), std::string::npos);
  expectNothingWritten();
}

TEST_F(BundleTest, RejectsZipBombByUnpackedSize) {
  // 8 MiB of zeros compresses to a few KiB; the cap is counted on bytes actually unpacked.
  std::string zeros(8 << 20, '\0');
  std::string archive = ArchiveBuilder().file("bomb", zeros).finish();
  EXPECT_LT(archive.size(), 64u * 1024);
  BundleLimits limits;
  limits.max_unpacked_bytes = 1 << 20;
  auto status = extract(archive, limits);
  EXPECT_EQ(status.code(), Code::InvalidArgument);
  EXPECT_NE(status.message().find("unpacks to more than"), std::string::npos);
  expectNothingWritten();
}

TEST_F(BundleTest, RejectsGarbage) {
  auto status = extract("this is not an archive at all");
  EXPECT_EQ(status.code(), Code::InvalidArgument);
  expectNothingWritten();
}

TEST(Sha256, MatchesKnownDigest) {
  EXPECT_EQ(sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace gust::bundle
