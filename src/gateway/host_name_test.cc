#include "gateway/host_name.h"

#include <gtest/gtest.h>

namespace gust::gateway {
namespace {

TEST(HostName, NormalizesCasePortAndTrailingDot) {
  EXPECT_EQ(*normalizeHostName("API.Acme.Example"), "api.acme.example");
  EXPECT_EQ(*normalizeHostName("api.acme.example:8443"), "api.acme.example");
  EXPECT_EQ(*normalizeHostName("api.acme.example."), "api.acme.example");
  EXPECT_EQ(*normalizeHostName("intranet"), "intranet");
  EXPECT_EQ(*normalizeHostName("x-1.example"), "x-1.example");
}

TEST(HostName, RefusesWhatIsNotADnsName) {
  using namespace std::string_view_literals;
  for (std::string_view bad : {""sv, "."sv, "a..b"sv, "-a.example"sv, "a-.example"sv,
                               "a_b.example"sv, "api.example/path"sv, "api example"sv,
                               "a.example:http"sv, "xn--\xc3\xa9.example"sv, "a\0b"sv}) {
    EXPECT_FALSE(normalizeHostName(bad).isOk()) << bad;
  }
  EXPECT_FALSE(normalizeHostName(std::string(64, 'a') + ".example").isOk());
  std::string long_name;
  for (int i = 0; i < 64; ++i) long_name += "abc.";
  EXPECT_FALSE(normalizeHostName(long_name + "example").isOk());
}

TEST(HostName, RefusesIpAddresses) {
  EXPECT_FALSE(normalizeHostName("127.0.0.1").isOk());
  EXPECT_FALSE(normalizeHostName("127.0.0.1:8080").isOk());
  EXPECT_FALSE(normalizeHostName("10.1.2.3").isOk());
  EXPECT_FALSE(normalizeHostName("::1").isOk());
  EXPECT_FALSE(normalizeHostName("[::1]").isOk());
  EXPECT_FALSE(normalizeHostName("[::1]:8080").isOk());
}

TEST(HostName, ServerNamesAreLocalhostAndTheOnesGiven) {
  std::vector<std::string> own{"gust.internal", "Build-Box"};
  EXPECT_TRUE(isServerHostName("localhost", own));
  EXPECT_TRUE(isServerHostName("app.localhost", own));
  EXPECT_TRUE(isServerHostName("gust.internal", own));
  EXPECT_TRUE(isServerHostName("build-box", own));
  EXPECT_FALSE(isServerHostName("api.acme.example", own));
  EXPECT_FALSE(isServerHostName("notlocalhost", own));
}

}  // namespace
}  // namespace gust::gateway
