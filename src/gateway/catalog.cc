#include "gateway/catalog.h"

#include <charconv>

#include <fmt/format.h>

namespace gust::gateway {

Result<std::vector<secrets::NamedValue>> openSecrets(store::Store& store,
                                                     const secrets::SecretBox& secret_box,
                                                     const std::string& tenant,
                                                     const std::string& function,
                                                     const std::vector<std::string>& names) {
  std::vector<secrets::NamedValue> opened;
  for (const std::string& name : names) {
    auto sealed = store.getSecret(tenant, name);
    if (!sealed) {
      if (sealed.status().code() != Code::NotFound) return sealed.status();
      // The deploy checked it existed; it was removed since. The function cannot run as
      // configured, which is the function's failure, not the caller's.
      return Status(Code::FunctionError,
                    fmt::format("function '{}' needs secret '{}', which is not set: run `gust "
                                "secret set {}`",
                                function, name, name));
    }
    auto value = secret_box.open(sealed->sealed);
    if (!value) return value.status();
    opened.push_back({name, std::move(*value)});
  }
  return opened;
}

Catalog::Catalog(store::Store& store, bundle::Deployer& deployer,
                 const secrets::SecretBox& secret_box)
    : store_(store),
      deployer_(deployer),
      secret_box_(secret_box),
      routes_(std::make_shared<const std::vector<store::RouteRecord>>()) {}

std::string Catalog::key(const std::string& tenant, const std::string& function,
                         const std::string& qualifier) {
  return tenant + "/" + function + "@" + (qualifier.empty() ? "live" : qualifier);
}

RunnablePtr Catalog::cached(const std::string& tenant, const std::string& function,
                            const std::string& qualifier) const {
  std::lock_guard lock(mutex_);
  auto it = versions_.find(key(tenant, function, qualifier));
  return it == versions_.end() ? nullptr : it->second;
}

Result<RunnablePtr> Catalog::resolve(const std::string& tenant, const std::string& function,
                                     const std::string& qualifier) {
  if (auto hit = cached(tenant, function, qualifier)) return hit;
  int64_t version = 0;
  bool numeric = !qualifier.empty() &&
                 std::from_chars(qualifier.data(), qualifier.data() + qualifier.size(), version).ptr ==
                     qualifier.data() + qualifier.size();
  auto record = numeric ? store_.getVersion(tenant, function, version)
                        : store_.resolveAlias(tenant, function,
                                              qualifier.empty() ? std::string(store::kLiveAlias)
                                                                : qualifier);
  if (!record) return record.status();
  auto config = bundle::functionConfigFromJson(record->config_json);
  if (!config) return config.status();
  auto code_dir = deployer_.codeDir(*record, *config);
  if (!code_dir) return code_dir.status();
  auto opened = openSecrets(store_, secret_box_, tenant, function, config->secrets);
  if (!opened) return opened.status();
  auto runnable = std::make_shared<RunnableVersion>();
  runnable->secrets = std::move(*opened);
  runnable->record = std::move(*record);
  runnable->config = std::move(*config);
  runnable->code_dir = std::move(*code_dir);
  std::lock_guard lock(mutex_);
  versions_[key(tenant, function, qualifier)] = runnable;
  return RunnablePtr(runnable);
}

void Catalog::invalidate(const std::string& tenant, const std::string& function) {
  std::lock_guard lock(mutex_);
  std::string prefix = tenant + "/" + function + "@";
  for (auto it = versions_.lower_bound(prefix); it != versions_.end() && it->first.starts_with(prefix);) {
    it = versions_.erase(it);
  }
}

void Catalog::invalidateTenant(const std::string& tenant) {
  std::lock_guard lock(mutex_);
  std::string prefix = tenant + "/";
  for (auto it = versions_.lower_bound(prefix); it != versions_.end() && it->first.starts_with(prefix);) {
    it = versions_.erase(it);
  }
}

std::optional<RouteMatch> Catalog::matchRoute(std::string_view path,
                                              std::string_view only_tenant) const {
  std::shared_ptr<const std::vector<store::RouteRecord>> routes;
  {
    std::lock_guard lock(mutex_);
    routes = routes_;
  }
  const store::RouteRecord* best = nullptr;
  for (const auto& route : *routes) {
    if (!only_tenant.empty() && route.tenant != only_tenant) continue;
    std::string_view p = route.path;
    bool matches = path == p || (path.size() > p.size() && path.starts_with(p) &&
                                 path[p.size()] == '/');
    if (matches && (!best || route.path.size() > best->path.size())) best = &route;
  }
  if (!best) return std::nullopt;
  return RouteMatch{best->tenant, best->function, best->entry, best->path};
}

Status Catalog::reloadRoutes() {
  auto routes = store_.listRoutes();
  if (!routes) return routes.status();
  auto snapshot = std::make_shared<const std::vector<store::RouteRecord>>(std::move(*routes));
  std::lock_guard lock(mutex_);
  routes_ = std::move(snapshot);
  return Status::ok();
}

}  // namespace gust::gateway
