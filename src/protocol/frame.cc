#include "protocol/frame.h"

#include <algorithm>

#include <fmt/format.h>

#include "protocol/json_input.h"

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

std::string encodeFrameHead(const nlohmann::json& header, std::size_t body_bytes) {
  std::string head = header.dump();
  std::string out;
  out.reserve(kPrefixBytes + head.size());
  appendBigEndian32(out, static_cast<uint32_t>(head.size()));
  appendBigEndian32(out, static_cast<uint32_t>(body_bytes));
  out += head;
  return out;
}

std::string encodeFrame(const nlohmann::json& header, std::string_view body) {
  std::string out = encodeFrameHead(header, body.size());
  out.reserve(out.size() + body.size());
  out += body;
  return out;
}

void FrameDecoder::fail(std::string message) {
  broken_ = Status(Code::FunctionError, std::move(message));
  head_.clear();
  head_.shrink_to_fit();
  current_.reset();
}

void FrameDecoder::feed(std::string_view bytes) {
  while (!bytes.empty() && !broken_) {
    if (skip_remaining_ > 0) {
      std::size_t skip = std::min<std::size_t>(skip_remaining_, bytes.size());
      bytes.remove_prefix(skip);
      skip_remaining_ -= static_cast<uint32_t>(skip);
    } else if (current_) {
      feedBody(bytes);
    } else if (!feedHead(bytes)) {
      return;
    }
  }
}

bool FrameDecoder::feedHead(std::string_view& bytes) {
  std::size_t want = kPrefixBytes;
  if (head_.size() >= kPrefixBytes) want += readBigEndian32(head_.data());
  std::size_t take = std::min(want - head_.size(), bytes.size());
  head_.append(bytes.substr(0, take));
  bytes.remove_prefix(take);
  if (head_.size() == kPrefixBytes && want == kPrefixBytes) {
    // The prefix is whole: check the lengths before holding anything they announce.
    uint32_t header_len = readBigEndian32(head_.data());
    uint32_t body_len = readBigEndian32(head_.data() + 4);
    if (header_len > kMaxHeaderBytes || body_len > kMaxBodyBytes) {
      fail(fmt::format("worker sent a frame past the limits (header {} B, body {} B)", header_len,
                       body_len));
      return false;
    }
    want += header_len;
  }
  if (head_.size() < want) return true;
  return startBody();
}

bool FrameDecoder::startBody() {
  std::string_view header_text = std::string_view(head_).substr(kPrefixBytes);
  Frame frame;
  frame.header = protocol::parseJsonOrDiscarded(header_text);
  auto type = frame.header.is_object() ? frame.header.find("type") : frame.header.end();
  if (!frame.header.is_object() || type == frame.header.end() || !type->is_string()) {
    fail("worker sent a frame whose header is not a JSON object with a string \"type\"");
    return false;
  }
  uint32_t body_len = readBigEndian32(head_.data() + 4);
  head_.clear();
  if (body_len > keep_limit_) {
    // Yielded now, from its header alone: the reader need not wait for a body it will not
    // keep (and a hostile worker may never send).
    frame.dropped_body_bytes = body_len;
    skip_remaining_ = body_len;
    complete_.push_back(std::move(frame));
    return true;
  }
  body_remaining_ = body_len;
  // Announced and within the limit; pages are touched only as bytes arrive.
  frame.body.reserve(body_len);
  current_ = std::move(frame);
  if (body_remaining_ == 0) {
    complete_.push_back(std::move(*current_));
    current_.reset();
  }
  return true;
}

void FrameDecoder::feedBody(std::string_view& bytes) {
  std::size_t take = std::min<std::size_t>(body_remaining_, bytes.size());
  current_->body.append(bytes.substr(0, take));
  bytes.remove_prefix(take);
  body_remaining_ -= static_cast<uint32_t>(take);
  if (body_remaining_ == 0) {
    complete_.push_back(std::move(*current_));
    current_.reset();
  }
}

Result<std::optional<Frame>> FrameDecoder::next() {
  if (!complete_.empty()) {
    Frame frame = std::move(complete_.front());
    complete_.pop_front();
    return std::optional<Frame>(std::move(frame));
  }
  if (broken_) return *broken_;
  return std::optional<Frame>{};
}

std::size_t FrameDecoder::buffered() const {
  std::size_t held = head_.size() + (current_ ? current_->body.size() : 0);
  for (const Frame& frame : complete_) held += frame.body.size();
  return held;
}

}  // namespace gust::protocol
