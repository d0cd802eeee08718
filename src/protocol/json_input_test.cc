#include "protocol/json_input.h"

#include <string>

#include <gtest/gtest.h>

#include "protocol/frame.h"

namespace gust::protocol {
namespace {

std::string nested(int depth, std::string_view inner = "1") {
  return std::string(depth, '[') + std::string(inner) + std::string(depth, ']');
}

TEST(JsonInput, CountsArraysAndObjectsButNotBracketsInStrings) {
  EXPECT_EQ(jsonDepth("1"), 0);
  EXPECT_EQ(jsonDepth("{\"a\":[1,{\"b\":[]}]}"), 4);
  EXPECT_EQ(jsonDepth("[\"[[[[{{{{\"]"), 1);
  EXPECT_EQ(jsonDepth("[\"\\\"[[[[\"]"), 1);  // an escaped quote does not end the string
  EXPECT_EQ(jsonDepth("[[],[],[[]]]"), 3);    // siblings do not add up
}

TEST(JsonInput, StopsCountingPastTheLimit) { EXPECT_EQ(jsonDepth(nested(100000), 10), 11); }

TEST(JsonInput, AcceptsTheLimitAndRefusesOneMoreWithAPreciseMessage) {
  auto at_limit = parseJson(nested(kMaxJsonDepth), "the payload");
  ASSERT_TRUE(at_limit.isOk()) << at_limit.status().message();
  EXPECT_EQ(at_limit->dump(), nested(kMaxJsonDepth));

  auto deeper = parseJson(nested(kMaxJsonDepth + 1), "the payload");
  ASSERT_FALSE(deeper.isOk());
  EXPECT_EQ(deeper.status().code(), Code::InvalidArgument);
  EXPECT_EQ(deeper.status().message(),
            "the payload nests arrays and objects more than 128 levels deep (the limit); send it "
            "flatter");
}

TEST(JsonInput, ADeepDocumentIsRefusedBeforeItIsBuilt) {
  // 100k levels: building and dumping this would overflow the stack; refusing it must not.
  auto refused = parseJson(std::string(100000, '[') + std::string(100000, ']'), "the body");
  EXPECT_EQ(refused.status().code(), Code::InvalidArgument);
  EXPECT_TRUE(parseJsonOrDiscarded(nested(100000, "{\"a\":1}")).is_discarded());
  // Unclosed, as a truncated or hostile body would be.
  EXPECT_TRUE(parseJsonOrDiscarded(std::string(100000, '{')).is_discarded());
}

TEST(JsonInput, NamesWhatIsNotJsonAndWhere) {
  auto bad = parseJson("{\"a\":", "the request body");
  ASSERT_FALSE(bad.isOk());
  EXPECT_EQ(bad.status().code(), Code::InvalidArgument);
  EXPECT_EQ(bad.status().message().rfind(
                "the request body is not JSON: parse error at line 1, column 6", 0),
            0u)
      << bad.status().message();
  EXPECT_TRUE(parseJsonOrDiscarded("nope").is_discarded());
  EXPECT_EQ(parseJsonOrDiscarded("{\"a\":[1]}"), nlohmann::json({{"a", {1}}}));
}

TEST(JsonInput, AFrameHeaderNestedTooDeeplyBreaksTheStream) {
  std::string header = "{\"type\":\"RESULT\",\"x\":" + nested(kMaxJsonDepth) + "}";
  std::string wire(8, '\0');
  uint32_t len = static_cast<uint32_t>(header.size());
  for (int i = 0; i < 4; ++i) wire[3 - i] = static_cast<char>((len >> (8 * i)) & 0xff);
  FrameDecoder decoder;
  decoder.feed(wire + header);
  EXPECT_FALSE(decoder.next().isOk());
}

}  // namespace
}  // namespace gust::protocol
