#include "secrets/redact.h"

#include <algorithm>

namespace gust::secrets {

std::string redact(std::string text, const std::vector<NamedValue>& secrets) {
  std::vector<std::pair<std::string_view, const std::string*>> needles;
  for (const NamedValue& secret : secrets) {
    if (secret.value.empty()) continue;
    needles.emplace_back(secret.value, &secret.name);
    std::string_view value = secret.value;
    if (value.find('\n') == std::string_view::npos) continue;
    std::size_t start = 0;
    while (start <= value.size()) {
      auto end = std::min(value.find('\n', start), value.size());
      std::string_view line = value.substr(start, end - start);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (!line.empty()) needles.emplace_back(line, &secret.name);
      start = end + 1;
    }
  }
  if (needles.empty()) return text;
  std::stable_sort(needles.begin(), needles.end(),
                   [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  // One left-to-right pass: what was put in is never searched again.
  std::string out;
  out.reserve(text.size());
  std::string_view rest = text;
  while (!rest.empty()) {
    bool matched = false;
    for (const auto& [value, name] : needles) {
      if (rest.starts_with(value)) {
        out += "[REDACTED:" + *name + "]";
        rest.remove_prefix(value.size());
        matched = true;
        break;
      }
    }
    if (!matched) {
      out.push_back(rest.front());
      rest.remove_prefix(1);
    }
  }
  return out;
}

}  // namespace gust::secrets
