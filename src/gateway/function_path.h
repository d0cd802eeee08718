#pragma once
// Parses the invoke addresses: /fn/{name}[@{version|alias}][/{rest}] for the default tenant and
// /t/{tenant}/fn/{name}... for any tenant.

#include <optional>
#include <string>
#include <string_view>

namespace gust::gateway {

struct FunctionAddress {
  std::string tenant;
  std::string name;
  std::string qualifier;  // "" (live), "3" (a version) or an alias name
  std::string rest;       // the path after the name, without its leading '/': "api/users/7"
};

// nullopt when `path` (without query) is not an invoke address.
std::optional<FunctionAddress> parseFunctionPath(std::string_view path);

}  // namespace gust::gateway
