#include "protocol/json_input.h"

#include <fmt/format.h>

namespace gust::protocol {

int jsonDepth(std::string_view text, int limit) {
  int depth = 0;
  int deepest = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // the escaped character, whatever it is, cannot end the string
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > deepest && (deepest = depth) > limit) return deepest;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

Status checkJsonDepth(std::string_view text, std::string_view what) {
  if (jsonDepth(text) <= kMaxJsonDepth) return Status::ok();
  return invalidArgument(fmt::format(
      "{} nests arrays and objects more than {} levels deep (the limit); send it flatter", what,
      kMaxJsonDepth));
}

Result<nlohmann::json> parseJson(std::string_view text, std::string_view what) {
  GUST_RETURN_IF_ERROR(checkJsonDepth(text, what));
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    // e.what() reads "[json.exception.parse_error.101] parse error at line 1, column 2: ...".
    std::string_view detail = e.what();
    if (auto at = detail.find("] "); at != std::string_view::npos) detail.remove_prefix(at + 2);
    return invalidArgument(fmt::format("{} is not JSON: {}", what, detail));
  }
}

nlohmann::json parseJsonOrDiscarded(std::string_view text) {
  if (jsonDepth(text) > kMaxJsonDepth) return nlohmann::json::value_t::discarded;
  return nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
}

nlohmann::json jsonOrText(std::string_view stored) {
  nlohmann::json parsed = parseJsonOrDiscarded(stored);
  return parsed.is_discarded() ? nlohmann::json(stored) : parsed;
}

}  // namespace gust::protocol
