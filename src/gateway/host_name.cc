#include "gateway/host_name.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

namespace gust::gateway {
namespace {

constexpr std::size_t kMaxHostName = 253;
constexpr std::size_t kMaxLabel = 63;

bool validLabel(std::string_view label) {
  if (label.empty() || label.size() > kMaxLabel) return false;
  if (label.front() == '-' || label.back() == '-') return false;
  return std::all_of(label.begin(), label.end(), [](unsigned char c) {
    return std::isdigit(c) || (c >= 'a' && c <= 'z') || c == '-';
  });
}

std::string lowercase(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

}  // namespace

Result<std::string> normalizeHostName(std::string_view host) {
  auto refuse = [&] {
    return invalidArgument(fmt::format(
        "host '{}' must be a DNS name like api.example.com (no IP address, path or port)", host));
  };
  std::string_view name = host;
  if (auto colon = name.find(':'); colon != std::string_view::npos) {
    std::string_view port = name.substr(colon + 1);
    bool numeric = !port.empty() && std::all_of(port.begin(), port.end(),
                                                [](unsigned char c) { return std::isdigit(c); });
    if (!numeric) return refuse();  // an IPv6 literal, or not a host at all
    name = name.substr(0, colon);
  }
  if (name.ends_with('.')) name.remove_suffix(1);
  std::string normalized = lowercase(name);
  if (normalized.empty() || normalized.size() > kMaxHostName) return refuse();
  std::string_view rest = normalized;
  std::string_view last;
  for (;;) {
    auto dot = rest.find('.');
    last = rest.substr(0, dot);
    if (!validLabel(last)) return refuse();
    if (dot == std::string_view::npos) break;
    rest.remove_prefix(dot + 1);
  }
  if (std::all_of(last.begin(), last.end(), [](unsigned char c) { return std::isdigit(c); })) {
    return refuse();
  }
  return normalized;
}

bool isServerHostName(std::string_view normalized, const std::vector<std::string>& server_names) {
  if (normalized == "localhost" || normalized.ends_with(".localhost")) return true;
  return std::any_of(server_names.begin(), server_names.end(), [&](const std::string& name) {
    std::string_view own = name;
    if (own.ends_with('.')) own.remove_suffix(1);
    return !own.empty() && normalized == lowercase(own);
  });
}

}  // namespace gust::gateway
