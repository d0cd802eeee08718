#include "protocol/frame.h"

#include <gtest/gtest.h>

namespace gust::protocol {
namespace {

TEST(Frame, RoundTripsHeaderAndBody) {
  std::string wire = encodeFrame({{"type", "RESULT"}, {"id", "abc"}}, "{\"x\":1}");
  FrameDecoder decoder;
  decoder.feed(wire);
  auto frame = decoder.next();
  ASSERT_TRUE(frame.isOk());
  ASSERT_TRUE(frame->has_value());
  EXPECT_EQ((*frame)->type(), "RESULT");
  EXPECT_EQ((*frame)->field("id"), "abc");
  EXPECT_EQ((*frame)->body, "{\"x\":1}");
  EXPECT_EQ(decoder.buffered(), 0u);
}

TEST(Frame, WaitsForMoreBytesAcrossArbitrarySplits) {
  std::string wire = encodeFrame({{"type", "READY"}}, "") + encodeFrame({{"type", "ERROR"}}, "boom");
  FrameDecoder decoder;
  int frames = 0;
  for (char c : wire) {
    decoder.feed(std::string_view(&c, 1));
    for (;;) {
      auto frame = decoder.next();
      ASSERT_TRUE(frame.isOk());
      if (!frame->has_value()) break;
      ++frames;
    }
  }
  EXPECT_EQ(frames, 2);
}

TEST(Frame, RejectsOversizedHeaderBeforeReadingIt) {
  std::string wire("\x00\x10\x00\x01\x00\x00\x00\x00", 8);  // header_len = 1 MiB + 1
  FrameDecoder decoder;
  decoder.feed(wire);
  auto frame = decoder.next();
  ASSERT_FALSE(frame.isOk());
  EXPECT_EQ(frame.status().code(), Code::FunctionError);
  // The stream stays broken.
  decoder.feed(encodeFrame({{"type", "READY"}}, ""));
  EXPECT_FALSE(decoder.next().isOk());
}

TEST(Frame, RejectsHeaderThatIsNotAnObjectWithType) {
  for (std::string header : {"[1,2]", "{\"id\":1}", "{\"type\":3}", "not json"}) {
    std::string wire;
    wire += std::string("\x00\x00\x00", 3) + static_cast<char>(header.size());
    wire += std::string("\x00\x00\x00\x00", 4);
    wire += header;
    FrameDecoder decoder;
    decoder.feed(wire);
    EXPECT_FALSE(decoder.next().isOk()) << header;
  }
}

TEST(Frame, MatchesGoldenVector) {
  // The same bytes are asserted by the adapters' tests (src/protocol/testdata/ready.bin).
  std::string wire = encodeFrame({{"type", "READY"}}, "");
  EXPECT_EQ(wire, std::string("\x00\x00\x00\x10\x00\x00\x00\x00{\"type\":\"READY\"}", 24));
}

}  // namespace
}  // namespace gust::protocol
