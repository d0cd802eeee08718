#include "secrets/secret_box.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "common/ids.h"

namespace gust::secrets {
namespace {

std::array<unsigned char, kKeyBytes> keyOf(unsigned char byte) {
  std::array<unsigned char, kKeyBytes> key;
  key.fill(byte);
  return key;
}

TEST(SecretBoxTest, SealedValueOpensToThePlaintextAndDoesNotContainIt) {
  SecretBox box(keyOf(7));
  std::string value = "hunter2-and-more";
  std::string sealed = box.seal(value);
  EXPECT_EQ(sealed.find(value), std::string::npos);
  auto opened = box.open(sealed);
  ASSERT_TRUE(opened.isOk());
  EXPECT_EQ(*opened, value);
  EXPECT_NE(box.seal(value), sealed);  // a fresh nonce each time
  EXPECT_EQ(*box.open(box.seal("")), "");
}

TEST(SecretBoxTest, TamperedOrForeignSealsDoNotOpen) {
  SecretBox box(keyOf(7)), other(keyOf(8));
  std::string sealed = box.seal("value");
  EXPECT_FALSE(other.open(sealed).isOk());
  sealed.back() ^= 1;
  EXPECT_FALSE(box.open(sealed).isOk());
  EXPECT_FALSE(box.open("short").isOk());
}

class MasterKeyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("gust-key-" + randomHex(6));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string path() const { return (dir_ / "master.key").string(); }
  std::filesystem::path dir_;
};

TEST_F(MasterKeyTest, IsCreatedPrivateOnceAndReadBack) {
  auto made = loadOrCreateMasterKey(path());
  ASSERT_TRUE(made.isOk()) << made.status().message();
  struct stat st {};
  ASSERT_EQ(::stat(path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_size, 32);
  auto again = loadOrCreateMasterKey(path());
  ASSERT_TRUE(again.isOk());
  EXPECT_EQ(*again, *made);
}

TEST_F(MasterKeyTest, LooserPermissionsAreRefusedSayingChmod) {
  ASSERT_TRUE(loadOrCreateMasterKey(path()).isOk());
  ::chmod(path().c_str(), 0640);
  auto refused = loadOrCreateMasterKey(path());
  ASSERT_FALSE(refused.isOk());
  EXPECT_NE(refused.status().message().find("chmod 600"), std::string::npos);
}

TEST(SecretNameTest, LikeEnvironmentVariables) {
  EXPECT_TRUE(validateSecretName("DB_PASSWORD").isOk());
  EXPECT_TRUE(validateSecretName("_x9").isOk());
  EXPECT_TRUE(validateSecretName(std::string(64, 'A')).isOk());
  EXPECT_FALSE(validateSecretName(std::string(65, 'A')).isOk());
  EXPECT_FALSE(validateSecretName("9LIVES").isOk());
  EXPECT_FALSE(validateSecretName("A-B").isOk());
  EXPECT_FALSE(validateSecretName("").isOk());
}

}  // namespace
}  // namespace gust::secrets
