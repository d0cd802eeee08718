#include "gateway/codec.h"

#include <gtest/gtest.h>

#include <string>

namespace gust::gateway {
namespace {

std::string bytes(std::initializer_list<unsigned char> values) {
  return std::string(values.begin(), values.end());
}

// --- base64 -------------------------------------------------------------------------------------

TEST(Base64, RoundTripsEveryByteValue) {
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  auto decoded = base64Decode(base64Encode(all));
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(*decoded, all);
}

TEST(Base64, RoundTripsEveryShortLengthIncludingEmpty) {
  // Lengths 0..5 cover no padding, one '=' and two '=' twice over.
  const std::string source("\x00\xff\x10\x80\x7f\x3e", 6);
  for (std::size_t length = 0; length <= 5; ++length) {
    std::string input = source.substr(0, length);
    std::string encoded = base64Encode(input);
    EXPECT_EQ(encoded.size(), 4 * ((length + 2) / 3)) << "length " << length;
    auto decoded = base64Decode(encoded);
    ASSERT_TRUE(decoded.has_value()) << "length " << length;
    EXPECT_EQ(*decoded, input) << "length " << length;
  }
}

TEST(Base64, EncodesKnownVectorsFromRfc4648) {
  EXPECT_EQ(base64Encode(""), "");
  EXPECT_EQ(base64Encode("f"), "Zg==");
  EXPECT_EQ(base64Encode("fo"), "Zm8=");
  EXPECT_EQ(base64Encode("foo"), "Zm9v");
  EXPECT_EQ(base64Encode("foob"), "Zm9vYg==");
  EXPECT_EQ(base64Encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64Encode("foobar"), "Zm9vYmFy");
}

TEST(Base64, DecodesKnownVectorsWithEachPaddingLength) {
  EXPECT_EQ(base64Decode(""), std::optional<std::string>(""));
  EXPECT_EQ(base64Decode("Zg=="), std::optional<std::string>("f"));
  EXPECT_EQ(base64Decode("Zm8="), std::optional<std::string>("fo"));
  EXPECT_EQ(base64Decode("Zm9v"), std::optional<std::string>("foo"));
  EXPECT_EQ(base64Decode("Zm9vYg=="), std::optional<std::string>("foob"));
  EXPECT_EQ(base64Decode("Zm9vYmE="), std::optional<std::string>("fooba"));
  EXPECT_EQ(base64Decode("Zm9vYmFy"), std::optional<std::string>("foobar"));
}

TEST(Base64, DecodesPaddingThatEncodesZeroBytesWithoutDroppingThem) {
  // "AA==" is one 0x00 byte: the padding must be dropped, the real zero byte kept.
  EXPECT_EQ(base64Decode("AA=="), std::optional<std::string>(std::string(1, '\0')));
  EXPECT_EQ(base64Decode("AAA="), std::optional<std::string>(std::string(2, '\0')));
  EXPECT_EQ(base64Decode("AAAA"), std::optional<std::string>(std::string(3, '\0')));
}

TEST(Base64, IgnoresLineBreaksBetweenGroups) {
  EXPECT_EQ(base64Decode("Zm9v\r\nYmFy"), std::optional<std::string>("foobar"));
  EXPECT_EQ(base64Decode("Zm9v\nYg=="), std::optional<std::string>("foob"));
}

TEST(Base64, RejectsLengthThatIsNotAMultipleOfFour) {
  EXPECT_EQ(base64Decode("Z"), std::nullopt);
  EXPECT_EQ(base64Decode("Zm"), std::nullopt);
  EXPECT_EQ(base64Decode("Zm9"), std::nullopt);
  EXPECT_EQ(base64Decode("Zm9vY"), std::nullopt);
}

TEST(Base64, RejectsCharactersOutsideTheAlphabet) {
  EXPECT_EQ(base64Decode("Zm9!"), std::nullopt);
  EXPECT_EQ(base64Decode("Zm 9"), std::nullopt);
  EXPECT_EQ(base64Decode("Zm9-"), std::nullopt);  // base64url is not base64
  EXPECT_EQ(base64Decode("Zm9_"), std::nullopt);
  EXPECT_EQ(base64Decode(std::string("Zm\x00v", 4)), std::nullopt);
  EXPECT_EQ(base64Decode("not base64 at all"), std::nullopt);
}

TEST(Base64, RejectsPaddingThatIsNotAtTheEnd) {
  // '=' may only end the text, at most twice. Anything else is not base64 and must not decode
  // to bytes the sender never meant.
  EXPECT_EQ(base64Decode("Zg==Zg=="), std::nullopt);
  EXPECT_EQ(base64Decode("Z=9v"), std::nullopt);
  EXPECT_EQ(base64Decode("=m9v"), std::nullopt);
  EXPECT_EQ(base64Decode("Z==="), std::nullopt);
  EXPECT_EQ(base64Decode("===="), std::nullopt);
}

TEST(Base64, RejectsSpacesAroundTheText) {
  // Spaces inside are rejected; around the text they are not base64 either, and trailing ones
  // hide the padding so that "Zg==    " would decode to "f\0\0".
  EXPECT_EQ(base64Decode("Zg==    "), std::nullopt);
  EXPECT_EQ(base64Decode("    Zg=="), std::nullopt);
}

// --- urlDecode ----------------------------------------------------------------------------------

TEST(UrlDecode, DecodesPercentEscapesInEitherCase) {
  EXPECT_EQ(urlDecode("a%20b", false), "a b");
  EXPECT_EQ(urlDecode("%2f%2F", false), "//");
  EXPECT_EQ(urlDecode("%41%62%63", false), "Abc");
  EXPECT_EQ(urlDecode("%e2%82%ac", false), "\xe2\x82\xac");
  EXPECT_EQ(urlDecode("%00", false), std::string(1, '\0'));
  EXPECT_EQ(urlDecode("%ff", false), "\xff");
}

TEST(UrlDecode, DecodesEscapeAtTheVeryEnd) {
  EXPECT_EQ(urlDecode("x%41", false), "xA");
  EXPECT_EQ(urlDecode("%41", false), "A");
}

TEST(UrlDecode, TurnsPlusIntoSpaceOnlyWhenAsked) {
  EXPECT_EQ(urlDecode("a+b", true), "a b");
  EXPECT_EQ(urlDecode("a+b", false), "a+b");
  // An escaped plus is a literal plus either way.
  EXPECT_EQ(urlDecode("a%2Bb", true), "a+b");
}

TEST(UrlDecode, KeepsMalformedEscapesAsTheyAre) {
  EXPECT_EQ(urlDecode("%", false), "%");
  EXPECT_EQ(urlDecode("%4", false), "%4");
  EXPECT_EQ(urlDecode("abc%", false), "abc%");
  EXPECT_EQ(urlDecode("%zz", false), "%zz");
  EXPECT_EQ(urlDecode("%4g", false), "%4g");
  EXPECT_EQ(urlDecode("%g4", false), "%g4");
  EXPECT_EQ(urlDecode("100%", true), "100%");
  // The character after a malformed '%' is still decoded normally.
  EXPECT_EQ(urlDecode("%%41", false), "%A");
}

TEST(UrlDecode, DoesNotDecodeTwice) {
  EXPECT_EQ(urlDecode("%2541", false), "%41");
}

TEST(UrlDecode, LeavesPlainTextAlone) {
  EXPECT_EQ(urlDecode("", true), "");
  EXPECT_EQ(urlDecode("/fn/hello/api", false), "/fn/hello/api");
}

// --- isValidUtf8 --------------------------------------------------------------------------------

TEST(IsValidUtf8, AcceptsEmptyAndAscii) {
  EXPECT_TRUE(isValidUtf8(""));
  EXPECT_TRUE(isValidUtf8("hello, world {\"a\":1}"));
  EXPECT_TRUE(isValidUtf8(std::string("\x00\x7f", 2)));
}

TEST(IsValidUtf8, AcceptsTwoThreeAndFourByteSequences) {
  EXPECT_TRUE(isValidUtf8("\xc2\x80"));          // U+0080, smallest 2-byte
  EXPECT_TRUE(isValidUtf8("caf\xc3\xa9"));       // é
  EXPECT_TRUE(isValidUtf8("\xdf\xbf"));          // U+07FF, largest 2-byte
  EXPECT_TRUE(isValidUtf8("\xe0\xa0\x80"));      // U+0800, smallest 3-byte
  EXPECT_TRUE(isValidUtf8("\xe2\x82\xac"));      // €
  EXPECT_TRUE(isValidUtf8("\xef\xbf\xbf"));      // U+FFFF
  EXPECT_TRUE(isValidUtf8("\xf0\x90\x80\x80"));  // U+10000, smallest 4-byte
  EXPECT_TRUE(isValidUtf8("\xf0\x9f\x98\x80"));  // 😀
  EXPECT_TRUE(isValidUtf8("\xf4\x8f\xbf\xbf"));  // U+10FFFF, the last code point
  EXPECT_TRUE(isValidUtf8("a\xc3\xa9" "b\xe2\x82\xac" "c\xf0\x9f\x98\x80" "d"));
}

TEST(IsValidUtf8, RejectsSequencesTruncatedAtTheEnd) {
  EXPECT_FALSE(isValidUtf8("\xc3"));
  EXPECT_FALSE(isValidUtf8("abc\xc3"));
  EXPECT_FALSE(isValidUtf8("\xe2\x82"));
  EXPECT_FALSE(isValidUtf8("\xe2"));
  EXPECT_FALSE(isValidUtf8("\xf0\x9f\x98"));
  EXPECT_FALSE(isValidUtf8("\xf0\x9f"));
  EXPECT_FALSE(isValidUtf8("\xf0"));
}

TEST(IsValidUtf8, RejectsSequencesCutShortByTheNextCharacter) {
  EXPECT_FALSE(isValidUtf8("\xc3" "a"));
  EXPECT_FALSE(isValidUtf8("\xe2\x82" "a"));
  EXPECT_FALSE(isValidUtf8("\xf0\x9f\x98" "a"));
}

TEST(IsValidUtf8, RejectsOverlongTwoByteLeads) {
  EXPECT_FALSE(isValidUtf8(bytes({0xc0, 0x80})));  // overlong NUL
  EXPECT_FALSE(isValidUtf8(bytes({0xc1, 0xbf})));  // overlong U+007F
}

TEST(IsValidUtf8, RejectsStrayContinuationBytes) {
  EXPECT_FALSE(isValidUtf8("\x80"));
  EXPECT_FALSE(isValidUtf8("\xbf"));
  EXPECT_FALSE(isValidUtf8("a\x80" "b"));
  EXPECT_FALSE(isValidUtf8("\xc3\xa9\xa9"));  // one continuation too many
}

TEST(IsValidUtf8, RejectsLeadBytesF5AndAbove) {
  for (int lead = 0xf5; lead <= 0xff; ++lead) {
    std::string text = bytes({static_cast<unsigned char>(lead), 0x80, 0x80, 0x80});
    EXPECT_FALSE(isValidUtf8(text)) << "lead 0x" << std::hex << lead;
  }
}

// RFC 3629 section 4: the second byte of E0, ED, F0 and F4 sequences is restricted, so that no
// code point has two encodings, surrogates are not encodable, and nothing exceeds U+10FFFF.
// nlohmann::json (which serialises the event) follows the same rule and would otherwise replace
// such a body with U+FFFD instead of base64-encoding it.
TEST(IsValidUtf8, RejectsOverlongThreeAndFourByteSequences) {
  EXPECT_FALSE(isValidUtf8(bytes({0xe0, 0x80, 0x80})));        // overlong NUL
  EXPECT_FALSE(isValidUtf8(bytes({0xe0, 0x9f, 0xbf})));        // overlong U+07FF
  EXPECT_FALSE(isValidUtf8(bytes({0xf0, 0x80, 0x80, 0x80})));  // overlong NUL
  EXPECT_FALSE(isValidUtf8(bytes({0xf0, 0x8f, 0xbf, 0xbf})));  // overlong U+FFFF
}

TEST(IsValidUtf8, RejectsEncodedSurrogates) {
  EXPECT_FALSE(isValidUtf8(bytes({0xed, 0xa0, 0x80})));  // U+D800
  EXPECT_FALSE(isValidUtf8(bytes({0xed, 0xbf, 0xbf})));  // U+DFFF
  EXPECT_TRUE(isValidUtf8(bytes({0xed, 0x9f, 0xbf})));   // U+D7FF is fine
}

TEST(IsValidUtf8, RejectsCodePointsAboveU10FFFF) {
  EXPECT_FALSE(isValidUtf8(bytes({0xf4, 0x90, 0x80, 0x80})));  // U+110000
}

}  // namespace
}  // namespace gust::gateway

namespace gust::gateway {
namespace {

TEST(QueryParams, DecodesPairsAndSkipsEmptyOnes) {
  std::vector<std::pair<std::string, std::string>> seen;
  forEachQueryParam("a=1&&b=x+y%21&flag&=v", [&](std::string k, std::string v) {
    seen.emplace_back(std::move(k), std::move(v));
  });
  EXPECT_EQ(seen, (std::vector<std::pair<std::string, std::string>>{
                      {"a", "1"}, {"b", "x y!"}, {"flag", ""}, {"", "v"}}));
}

}  // namespace
}  // namespace gust::gateway
