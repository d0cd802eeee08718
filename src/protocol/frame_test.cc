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
  std::string wire =
      encodeFrame({{"type", "READY"}}, "") + encodeFrame({{"type", "ERROR"}}, "boom");
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

TEST(Frame, RejectsAnnounced4GiBBodyFromThePrefixAlone) {
  // A hostile worker announces the largest body a u32 can say and sends nothing more.
  std::string wire("\x00\x00\x00\x10\xff\xff\xff\xff", 8);
  FrameDecoder decoder(6u << 20);
  decoder.feed(wire);
  auto frame = decoder.next();
  ASSERT_FALSE(frame.isOk());
  EXPECT_NE(frame.status().message().find("4294967295"), std::string::npos);
  EXPECT_EQ(decoder.buffered(), 0u);
}

TEST(Frame, DropsBodyOverKeepLimitWithoutHoldingItAndDecodesTheNextFrame) {
  const std::string big(1000, 'x');
  std::string wire = encodeFrame({{"type", "RESULT"}, {"id", "a"}}, big) +
                     encodeFrame({{"type", "RESULT"}, {"id", "b"}}, "ok");
  {
    // The oversized frame comes out from its prefix and header alone, before any body byte.
    FrameDecoder early(/*keep_limit=*/100);
    early.feed(std::string_view(wire).substr(0, wire.find('}') + 1));
    auto frame = early.next();
    ASSERT_TRUE(frame.isOk() && frame->has_value());
    EXPECT_EQ((*frame)->dropped_body_bytes, 1000u);
  }
  FrameDecoder decoder(/*keep_limit=*/100);
  for (std::size_t at = 0; at < wire.size(); at += 64) {
    decoder.feed(std::string_view(wire).substr(at, 64));
    EXPECT_LE(decoder.buffered(), 200u);  // the dropped body is never held
  }
  auto first = decoder.next();
  ASSERT_TRUE(first.isOk() && first->has_value());
  EXPECT_EQ((*first)->field("id"), "a");
  EXPECT_EQ((*first)->dropped_body_bytes, 1000u);
  EXPECT_TRUE((*first)->body.empty());
  auto second = decoder.next();
  ASSERT_TRUE(second.isOk() && second->has_value());
  EXPECT_EQ((*second)->field("id"), "b");
  EXPECT_EQ((*second)->body, "ok");
  EXPECT_EQ((*second)->dropped_body_bytes, 0u);
}

TEST(Frame, HoldsAPartialBodyOnceInTheFrameItself) {
  const std::string body(100000, 'y');
  std::string wire = encodeFrame({{"type", "RESULT"}}, body);
  FrameDecoder decoder;
  decoder.feed(std::string_view(wire).substr(0, wire.size() - 1));
  EXPECT_LE(decoder.buffered(), body.size());
  EXPECT_FALSE(decoder.next()->has_value());
  decoder.feed(std::string_view(wire).substr(wire.size() - 1));
  auto frame = decoder.next();
  ASSERT_TRUE(frame.isOk() && frame->has_value());
  EXPECT_EQ((*frame)->body, body);
}

TEST(Frame, EncodeFrameHeadPlusBodyEqualsEncodeFrame) {
  nlohmann::json header = {{"type", "INVOKE"}, {"id", "x"}};
  EXPECT_EQ(encodeFrameHead(header, 5) + "hello", encodeFrame(header, "hello"));
}

TEST(Frame, MatchesGoldenVector) {
  // The same bytes are asserted by the adapters' tests (src/protocol/testdata/ready.bin).
  std::string wire = encodeFrame({{"type", "READY"}}, "");
  EXPECT_EQ(wire, std::string("\x00\x00\x00\x10\x00\x00\x00\x00{\"type\":\"READY\"}", 24));
}

}  // namespace
}  // namespace gust::protocol
