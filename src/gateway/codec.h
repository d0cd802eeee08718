#pragma once
// Byte codecs the gateway needs: base64, URL decoding, UTF-8 validity.

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace gust::gateway {

std::string base64Encode(std::string_view bytes);
// What base64Encode(bytes of `size`) returns, in bytes; and the same appended to `out` in place.
std::size_t base64Size(std::size_t size);
void appendBase64(std::string& out, std::string_view bytes);
// nullopt when `text` is not valid base64.
std::optional<std::string> base64Decode(std::string_view text);
// %XX and (when `plus_is_space`) '+' decoding; malformed escapes are kept as they are.
std::string urlDecode(std::string_view text, bool plus_is_space);
bool isValidUtf8(std::string_view bytes);

// Calls `fn(name, value)` for each `name=value` pair of a query string, both url-decoded
// ('+' is a space); a pair without '=' has an empty value, empty pairs are skipped.
void forEachQueryParam(std::string_view query,
                       const std::function<void(std::string, std::string)>& fn);

}  // namespace gust::gateway
