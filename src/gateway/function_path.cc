#include "gateway/function_path.h"

namespace gust::gateway {

std::optional<FunctionAddress> parseFunctionPath(std::string_view path) {
  FunctionAddress address;
  address.tenant = "default";
  if (path.rfind("/t/", 0) == 0) {
    std::string_view after = path.substr(3);
    auto slash = after.find('/');
    if (slash == 0 || slash == std::string_view::npos) return std::nullopt;
    address.tenant = std::string(after.substr(0, slash));
    path = after.substr(slash);
  }
  if (path.rfind("/fn/", 0) != 0) return std::nullopt;
  std::string_view rest = path.substr(4);
  auto slash = rest.find('/');
  std::string_view name = rest.substr(0, slash);
  if (slash != std::string_view::npos) address.rest = std::string(rest.substr(slash + 1));
  if (auto at = name.find('@'); at != std::string_view::npos) {
    address.qualifier = std::string(name.substr(at + 1));
    name = name.substr(0, at);
    if (address.qualifier.empty()) return std::nullopt;
  }
  if (name.empty()) return std::nullopt;
  address.name = std::string(name);
  return address;
}

}  // namespace gust::gateway
