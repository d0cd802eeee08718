#pragma once
// Catalog: resolves an address (tenant, function, qualifier) to a runnable version — its record,
// parsed config, code dir and opened secrets — and request paths to project routes. Versions are immutable, so
// cached entries only go stale when an alias moves or a function goes away; the control API
// calls invalidate() then. Thread-safe; resolve() and reloadRoutes() block on the store (call
// them offloaded), the cached lookups do not.

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "bundle/deployer.h"
#include "bundle/manifest.h"
#include "secrets/redact.h"
#include "secrets/secret_box.h"
#include "store/store.h"

namespace gust::gateway {

struct RunnableVersion {
  store::VersionRecord record;
  bundle::FunctionConfig config;
  std::string code_dir;
  // The values of the secrets the config names, opened when the version was resolved: they go
  // into its instances' environment and are redacted from its logs.
  std::vector<secrets::NamedValue> secrets;
};
using RunnablePtr = std::shared_ptr<const RunnableVersion>;

struct RouteMatch {
  std::string tenant;
  std::string function;
  std::string entry;
  std::string route;  // the route's path, e.g. "/api/users"
};

// The values of the secrets `names` of `tenant`, for the instances of its function `function`.
// A name that is not set (removed since the deploy checked it) is the function's failure.
Result<std::vector<secrets::NamedValue>> openSecrets(store::Store& store,
                                                     const secrets::SecretBox& secret_box,
                                                     const std::string& tenant,
                                                     const std::string& function,
                                                     const std::vector<std::string>& names);

class Catalog final {
 public:
  Catalog(store::Store& store, bundle::Deployer& deployer, const secrets::SecretBox& secret_box);

  RunnablePtr cached(const std::string& tenant, const std::string& function,
                     const std::string& qualifier) const;
  Result<RunnablePtr> resolve(const std::string& tenant, const std::string& function,
                              const std::string& qualifier);
  void invalidate(const std::string& tenant, const std::string& function);
  // Forgets every cached version of the tenant (its secrets changed).
  void invalidateTenant(const std::string& tenant);

  // The project route that serves `path`; with `only_tenant` (the owner of the request's Host),
  // only among that tenant's.
  std::optional<RouteMatch> matchRoute(std::string_view path,
                                       std::string_view only_tenant = {}) const;
  Status reloadRoutes();

 private:
  static std::string key(const std::string& tenant, const std::string& function,
                         const std::string& qualifier);

  store::Store& store_;
  bundle::Deployer& deployer_;
  const secrets::SecretBox& secret_box_;
  mutable std::mutex mutex_;
  std::map<std::string, RunnablePtr> versions_;  // GUARDED_BY(mutex_)
  std::shared_ptr<const std::vector<store::RouteRecord>> routes_;  // GUARDED_BY(mutex_)
};

}  // namespace gust::gateway
