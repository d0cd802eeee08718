#pragma once
// Redaction: replaces every occurrence of a secret's value in text (a function's logs, its error
// message) with "[REDACTED:NAME]", so printing a secret does not store it. Pure, thread-safe.

#include <string>
#include <utility>
#include <vector>

namespace gust::secrets {

struct NamedValue {
  std::string name;
  std::string value;
};

// Longer values are replaced first, so a secret containing another is redacted whole. A value
// with several lines is also redacted line by line (logs store each printed line on its own,
// prefixed with its time and stream). Empty values are ignored.
std::string redact(std::string text, const std::vector<NamedValue>& secrets);

}  // namespace gust::secrets
