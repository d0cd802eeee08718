#pragma once
// Host <-> adapter frames (docs/protocol.md): u32 header_len | u32 body_len (big-endian) |
// header JSON object | body bytes. The adapter runs hostile code, so every byte it sends is
// untrusted: the decoder enforces the limits before allocating and never throws.

#include <cstdint>
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

  std::string_view type() const { return header["type"].get_ref<const std::string&>(); }
  // A string field of the header, or "" when absent or not a string.
  std::string field(std::string_view name) const;
};

std::string encodeFrame(const nlohmann::json& header, std::string_view body);

// Accumulates bytes from a stream and yields whole frames. Single-threaded.
class FrameDecoder final {
 public:
  void feed(std::string_view bytes) { buffer_.append(bytes); }
  // The next whole frame, nullopt when more bytes are needed, or an error once the stream is
  // broken (and forever after: a broken stream has no frame boundaries left to trust).
  Result<std::optional<Frame>> next();
  std::size_t buffered() const { return buffer_.size() - consumed_; }

 private:
  std::string buffer_;
  std::size_t consumed_ = 0;
  std::optional<Status> broken_;
};

}  // namespace gust::protocol
