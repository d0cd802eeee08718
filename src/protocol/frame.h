#pragma once
// Host <-> adapter frames (docs/protocol.md): u32 header_len | u32 body_len (big-endian) |
// header JSON object | body bytes. The adapter runs hostile code, so every byte it sends is
// untrusted: the decoder enforces the limits before allocating and never throws.

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace gust::protocol {

inline constexpr uint32_t kMaxHeaderBytes = 64 * 1024;
inline constexpr uint32_t kMaxBodyBytes = 64 * 1024 * 1024;
inline constexpr std::size_t kPrefixBytes = 8;

namespace type {
inline constexpr std::string_view kReady = "READY";
inline constexpr std::string_view kStandby = "STANDBY";  // a pre-started adapter, waiting for LOAD
inline constexpr std::string_view kLoad = "LOAD";
inline constexpr std::string_view kInitError = "INIT_ERROR";
inline constexpr std::string_view kInvoke = "INVOKE";
inline constexpr std::string_view kResult = "RESULT";
inline constexpr std::string_view kError = "ERROR";
// A piece of a streamed reply (adapter -> host), only for an INVOKE that said `stream: true`.
inline constexpr std::string_view kChunk = "CHUNK";
}  // namespace type

struct Frame {
  nlohmann::json header;  // always an object with a string "type"
  std::string body;
  // When the announced body is over the decoder's keep limit: its size. Such a frame is
  // returned as soon as its header is in; its body is then read and discarded, never held
  // (`body` is empty).
  uint32_t dropped_body_bytes = 0;

  std::string_view type() const { return header["type"].get_ref<const std::string&>(); }
  // A string field of the header, or "" when absent or not a string.
  std::string field(std::string_view name) const;
};

std::string encodeFrame(const nlohmann::json& header, std::string_view body);
// The prefix and header of a frame whose body of `body_bytes` is written after it, so a large
// body goes out from where it already is instead of being copied into one string.
std::string encodeFrameHead(const nlohmann::json& header, std::size_t body_bytes);

// Accumulates bytes from a stream and yields whole frames. Single-threaded.
//
// DESIGN: the decoder is in one of two phases. (1) Head: it collects the 8-byte prefix, checks
// both lengths against the limits before anything is allocated for them, then collects the
// header (at most kMaxHeaderBytes) and parses it. (2) Body: bytes go straight into the frame's
// own body string (so a body is held once, never also in a read buffer) or, for a body over
// `keep_limit`, are counted and discarded (that frame was returned with its header already). A body
// over kMaxBodyBytes, a bad header or anything after a break is an error: a broken stream has no
// frame boundaries left to trust.
class FrameDecoder final {
 public:
  // Bodies up to `keep_limit` bytes are kept; larger ones (up to kMaxBodyBytes) are dropped
  // and reported through Frame::dropped_body_bytes.
  explicit FrameDecoder(uint32_t keep_limit = kMaxBodyBytes) : keep_limit_(keep_limit) {}

  void feed(std::string_view bytes);
  // The next whole frame, nullopt when more bytes are needed, or an error once the stream is
  // broken (after the frames completed before the break).
  Result<std::optional<Frame>> next();
  // Bytes held for frames not yet returned (the partial head and body included).
  std::size_t buffered() const;

 private:
  // Consumes head bytes from `bytes`; returns false once the stream is broken.
  bool feedHead(std::string_view& bytes);
  bool startBody();
  void feedBody(std::string_view& bytes);
  void fail(std::string message);

  uint32_t keep_limit_;
  std::string head_;              // prefix + header of the frame being read
  std::optional<Frame> current_;  // set while its kept body is being read
  uint32_t body_remaining_ = 0;   // of current_'s body
  uint32_t skip_remaining_ = 0;   // of a dropped body still to be discarded
  std::deque<Frame> complete_;
  std::optional<Status> broken_;
};

}  // namespace gust::protocol
