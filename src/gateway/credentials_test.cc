#include "gateway/credentials.h"

#include <gtest/gtest.h>

namespace gust::gateway {
namespace {

TEST(Credentials, BearerIdDotSecret) {
  auto parsed = parseCredentials("Bearer ck_0123456789abcdef.cs_secret", "");
  ASSERT_EQ(parsed.state, CredentialsState::Present);
  EXPECT_EQ(parsed.credentials.client_id, "ck_0123456789abcdef");
  EXPECT_EQ(parsed.credentials.secret, "cs_secret");
  EXPECT_EQ(parseCredentials("bearer  ck_a.b ", "").credentials.client_id, "ck_a");
  EXPECT_EQ(parseCredentials("Bearer ck_nodot", "").state, CredentialsState::Malformed);
}

TEST(Credentials, BasicIdColonSecret) {
  // base64("ck_1:cs_2") = "Y2tfMTpjc18y"
  auto parsed = parseCredentials("Basic Y2tfMTpjc18y", "");
  ASSERT_EQ(parsed.state, CredentialsState::Present);
  EXPECT_EQ(parsed.credentials.client_id, "ck_1");
  EXPECT_EQ(parsed.credentials.secret, "cs_2");
  // base64("id:s") = "aWQ6cw==" (padding)
  auto padded = parseCredentials("Basic aWQ6cw==", "");
  ASSERT_EQ(padded.state, CredentialsState::Present);
  EXPECT_EQ(padded.credentials.secret, "s");
  EXPECT_EQ(parseCredentials("Basic !!!", "").state, CredentialsState::Malformed);
  EXPECT_EQ(parseCredentials("Basic aWQ=", "").state, CredentialsState::Malformed);  // "id": no colon
}

TEST(Credentials, ApiKeyHeaderWins) {
  auto parsed = parseCredentials("Bearer x.y", "ck_a.cs_b");
  ASSERT_EQ(parsed.state, CredentialsState::Present);
  EXPECT_EQ(parsed.credentials.client_id, "ck_a");
  EXPECT_EQ(parseCredentials("", "nodot").state, CredentialsState::Malformed);
  EXPECT_EQ(parseCredentials("", ".secret").state, CredentialsState::Malformed);
}

TEST(Credentials, OtherSchemesAndTokensAreNotClientKeys) {
  EXPECT_EQ(parseCredentials("", "").state, CredentialsState::None);
  EXPECT_EQ(parseCredentials("Bearer gust_tk_abc_def", "").state, CredentialsState::None);
  EXPECT_EQ(parseCredentials("Bearer eyJhbGciOi.eyJzdWIi.sig", "").state, CredentialsState::None);
  EXPECT_EQ(parseCredentials("Digest username=x", "").state, CredentialsState::None);
}

}  // namespace
}  // namespace gust::gateway
