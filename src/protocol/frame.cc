#include "protocol/frame.h"

#include <fmt/format.h>

namespace gust::protocol {
namespace {

uint32_t readBigEndian32(const char* p) {
  auto b = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | uint32_t{b[3]};
}

void appendBigEndian32(std::string& out, uint32_t v) {
  out.push_back(static_cast<char>(v >> 24));
  out.push_back(static_cast<char>(v >> 16));
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v));
}

}  // namespace

std::string Frame::field(std::string_view name) const {
  auto it = header.find(name);
  if (it == header.end() || !it->is_string()) return {};
  return it->get<std::string>();
}

std::string encodeFrame(const nlohmann::json& header, std::string_view body) {
  std::string head = header.dump();
  std::string out;
  out.reserve(kPrefixBytes + head.size() + body.size());
  appendBigEndian32(out, static_cast<uint32_t>(head.size()));
  appendBigEndian32(out, static_cast<uint32_t>(body.size()));
  out += head;
  out += body;
  return out;
}

Result<std::optional<Frame>> FrameDecoder::next() {
  if (broken_) return *broken_;
  std::size_t available = buffer_.size() - consumed_;
  if (available < kPrefixBytes) return std::optional<Frame>{};
  const char* prefix = buffer_.data() + consumed_;
  uint32_t header_len = readBigEndian32(prefix);
  uint32_t body_len = readBigEndian32(prefix + 4);
  if (header_len > kMaxHeaderBytes || body_len > kMaxBodyBytes) {
    broken_ = Status(Code::FunctionError,
                     fmt::format("worker sent a frame past the limits (header {} B, body {} B)",
                                 header_len, body_len));
    return *broken_;
  }
  std::size_t total = kPrefixBytes + header_len + body_len;
  if (available < total) return std::optional<Frame>{};

  std::string_view header_text(prefix + kPrefixBytes, header_len);
  Frame frame;
  frame.header = nlohmann::json::parse(header_text, nullptr, /*allow_exceptions=*/false);
  auto type = frame.header.is_object() ? frame.header.find("type") : frame.header.end();
  if (!frame.header.is_object() || type == frame.header.end() || !type->is_string()) {
    broken_ = Status(Code::FunctionError, "worker sent a frame whose header is not a JSON object "
                                          "with a string \"type\"");
    return *broken_;
  }
  frame.body.assign(prefix + kPrefixBytes + header_len, body_len);
  consumed_ += total;
  // Compact once the consumed prefix dominates, so a long-lived stream does not grow forever.
  if (consumed_ > 64 * 1024 && consumed_ * 2 > buffer_.size()) {
    buffer_.erase(0, consumed_);
    consumed_ = 0;
  }
  return std::optional<Frame>(std::move(frame));
}

}  // namespace gust::protocol
