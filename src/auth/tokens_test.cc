#include "auth/tokens.h"

#include <gtest/gtest.h>

namespace gust::auth {
namespace {

TEST(TokensTest, GeneratedTokenVerifiesAgainstItsHashOnly) {
  NewToken token = generateToken();
  EXPECT_TRUE(verifyToken(token.token, token.hash));
  EXPECT_EQ(token.hash, hashToken(token.token));
  EXPECT_EQ(token.token.find(token.hash), std::string::npos);  // the hash is not the token
  std::string altered = token.token;
  altered.back() = altered.back() == 'a' ? 'b' : 'a';
  EXPECT_FALSE(verifyToken(altered, token.hash));
  EXPECT_FALSE(verifyToken("", token.hash));
}

TEST(TokensTest, TokensHave256BitsOfSecretAndDiffer) {
  NewToken a = generateToken(), b = generateToken();
  EXPECT_NE(a.token, b.token);
  EXPECT_NE(a.id, b.id);
  // gust_tk_ + 12 hex id + _ + 64 hex secret
  EXPECT_EQ(a.token.size(), 8u + 12 + 1 + 64);
}

TEST(TokensTest, TokenIdParsesOnlyTheTokenShape) {
  NewToken token = generateToken();
  EXPECT_EQ(tokenId(token.token), token.id);
  EXPECT_FALSE(tokenId("gust_" + std::string(48, 'a')));  // an admin token's shape
  EXPECT_FALSE(tokenId("gust_tk_abc_def"));
  EXPECT_FALSE(tokenId(token.token + "0"));
  EXPECT_FALSE(tokenId(token.token.substr(0, token.token.size() - 1) + "Z"));
}

TEST(TokensTest, ConstantTimeEqualsComparesWholeStrings) {
  EXPECT_TRUE(constantTimeEquals("abc", "abc"));
  EXPECT_FALSE(constantTimeEquals("abc", "abd"));
  EXPECT_FALSE(constantTimeEquals("abc", "abcd"));
  EXPECT_TRUE(constantTimeEquals("", ""));
}

TEST(TokensTest, TenantNames) {
  EXPECT_TRUE(validateTenantName("acme-2").isOk());
  EXPECT_TRUE(validateTenantName(std::string(40, 'a')).isOk());
  EXPECT_FALSE(validateTenantName(std::string(41, 'a')).isOk());
  EXPECT_FALSE(validateTenantName("").isOk());
  EXPECT_FALSE(validateTenantName("Acme").isOk());
  EXPECT_FALSE(validateTenantName("a_b").isOk());
  EXPECT_FALSE(validateTenantName("a/b").isOk());
}

}  // namespace
}  // namespace gust::auth
