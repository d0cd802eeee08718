#pragma once
// Byte codecs the gateway needs: base64, URL decoding, UTF-8 validity.

#include <optional>
#include <string>
#include <string_view>

namespace gust::gateway {

std::string base64Encode(std::string_view bytes);
// nullopt when `text` is not valid base64.
std::optional<std::string> base64Decode(std::string_view text);
// %XX and (when `plus_is_space`) '+' decoding; malformed escapes are kept as they are.
std::string urlDecode(std::string_view text, bool plus_is_space);
bool isValidUtf8(std::string_view bytes);

}  // namespace gust::gateway
