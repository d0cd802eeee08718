#include "bundle/deployer.h"

#include <chrono>
#include <filesystem>
#include <set>

#include <fmt/format.h>

#include "common/ids.h"
#include "os/files.h"

namespace gust::bundle {
namespace fs = std::filesystem;
namespace {

// Each tenant's package caches (pip, npm, Maven), writable by its builds only.
std::string buildCacheDir(const std::string& data_dir, const std::string& tenant) {
  return fmt::format("{}/build-cache/{}", data_dir, tenant);
}

}  // namespace

Deployer::Deployer(std::string data_dir, store::Store& store, os::Toolchain toolchain,
                   BundleLimits limits, BuildSandbox& builds, DiskLimits disk)
    : data_dir_(std::move(data_dir)),
      store_(store),
      toolchain_(std::move(toolchain)),
      limits_(limits),
      builds_(builds),
      disk_(disk) {}

std::string Deployer::functionDir(const std::string& tenant, const std::string& function) const {
  return fmt::format("{}/functions/{}/{}", data_dir_, tenant, function);
}

std::string Deployer::blobPath(const std::string& sha256) const {
  return fmt::format("{}/blobs/sha256/{}.tar.gz", data_dir_, sha256);
}

Result<int64_t> Deployer::tenantDiskUsage(const std::string& tenant) {
  int64_t bytes = 0;
  for (const std::string& dir :
       {fmt::format("{}/functions/{}", data_dir_, tenant), buildCacheDir(data_dir_, tenant)}) {
    auto used = os::diskUsage(dir);
    if (!used) return used.status();
    bytes += *used;
  }
  auto functions = store_.listFunctions(tenant);
  if (!functions) return functions.status();
  for (const auto& function : *functions) {
    auto versions = store_.listVersions(tenant, function.name);
    if (!versions) return versions.status();
    for (const auto& version : *versions) bytes += version.bundle_bytes;
  }
  return bytes;
}

Status Deployer::build(const std::string& tenant, const std::string& build_dir,
                       const FunctionConfig& config, int64_t bundle_bytes,
                       const ProgressFn& progress) {
  auto used = tenantDiskUsage(tenant);
  if (!used) return used.status();
  if (*used + bundle_bytes >= disk_.max_tenant_bytes) {
    // Over its quota, a tenant loses its package caches first: they are only caches, and it
    // has no other way to empty them.
    std::error_code ec;
    fs::remove_all(buildCacheDir(data_dir_, tenant), ec);
    used = tenantDiskUsage(tenant);
    if (!used) return used.status();
  }
  auto mib = [](int64_t bytes) { return (bytes + (1 << 20) - 1) >> 20; };
  const int64_t left = disk_.max_tenant_bytes - *used - bundle_bytes;
  if (left <= 0) {
    return Status(Code::TooLarge,
                  fmt::format("this tenant holds {} MiB of its {} MiB disk quota: remove functions "
                              "or old versions before deploying",
                              mib(*used), mib(disk_.max_tenant_bytes)));
  }
  std::string cap = left < disk_.max_version_bytes
                        ? fmt::format("the {} MiB left of this tenant's {} MiB disk quota",
                                      left >> 20, mib(disk_.max_tenant_bytes))
                        : fmt::format("a version may hold ({} MiB)", mib(disk_.max_version_bytes));
  BuildJob job{tenant, build_dir, buildCacheDir(data_dir_, tenant),
               std::min(disk_.max_version_bytes, left), std::move(cap)};
  Status installed = installDependencies(builds_, job, config, toolchain_, progress);
  if (installed.code() == Code::TooLarge) {
    // What a build stopped at its cap wrote into the package cache goes with it.
    std::error_code ec;
    fs::remove_all(job.cache_dir, ec);
  }
  GUST_RETURN_IF_ERROR(installed);
  auto version_bytes = os::diskUsage(build_dir);
  if (!version_bytes) return version_bytes.status();
  if (*version_bytes > disk_.max_version_bytes) {
    return Status(Code::TooLarge, fmt::format("the version's files take {} MiB after its build, "
                                              "over the {} MiB a version may hold",
                                              mib(*version_bytes), mib(disk_.max_version_bytes)));
  }
  if (*version_bytes > left) {
    return Status(Code::TooLarge,
                  fmt::format("the version's {} MiB would take this tenant past its {} MiB disk "
                              "quota ({} MiB used): remove functions or old versions first",
                              mib(*version_bytes), mib(disk_.max_tenant_bytes), mib(*used)));
  }
  return Status::ok();
}

Result<DeployResult> Deployer::deploy(const DeployRequest& request, const ProgressFn& progress) {
  auto began = std::chrono::steady_clock::now();
  GUST_RETURN_IF_ERROR(validateFunctionName(request.function));
  std::string sha = sha256Hex(request.archive);
  // Like Lambda's PublishVersion: the same code again is the same version, not a new one.
  if (auto live =
          store_.resolveAlias(request.tenant, request.function, std::string(store::kLiveAlias));
      live && live->bundle_sha256 == sha) {
    auto config = functionConfigFromJson(live->config_json);
    if (config) {
      DeployResult unchanged;
      unchanged.version = std::move(*live);
      unchanged.config = std::move(*config);
      unchanged.unchanged = true;
      for (const Entry& entry : unchanged.config.entries) {
        unchanged.routes.push_back(FunctionConfig::routeOf(entry));
      }
      return unchanged;
    }
  }
  std::string build_dir = fmt::format("{}/builds/{}", data_dir_, randomHex(8));
  std::error_code ec;
  auto cleanup = [&] { fs::remove_all(build_dir, ec); };

  // Progress is reported from the dependency install on: everything before it is quick, and an
  // error up to there is still answered with its own status (400 for a hostile bundle).
  Status extracted = extractBundle(request.archive, build_dir, limits_);
  if (!extracted.isOk()) return extracted;

  auto config = loadFunctionConfig(build_dir, request.function);
  if (!config) {
    cleanup();
    return config.status();
  }
  config->name = request.function;  // the address the bundle was uploaded to wins
  if (request.check) {
    if (Status checked = request.check(*config); !checked.isOk()) {
      cleanup();
      return checked;
    }
  }

  std::vector<store::RouteRecord> routes;
  std::vector<std::string> route_paths;
  for (const Entry& entry : config->entries) {
    std::string path = FunctionConfig::routeOf(entry);
    if (path == "/api/v1" || path.starts_with("/api/v1/")) {
      cleanup();
      return invalidArgument(
          fmt::format("{}: the routes under /api/v1 belong to Gust's control API; move the file",
                      entry.handler));
    }
    routes.push_back({path, request.tenant, request.function, entry.path});
    route_paths.push_back(path);
  }

  // Refuse a route another function holds before spending minutes on pip.
  if (auto existing = store_.listRoutes(); existing) {
    for (const auto& held : *existing) {
      for (const auto& wanted : routes) {
        if (held.path == wanted.path &&
            (held.tenant != request.tenant || held.function != request.function)) {
          cleanup();
          if (held.tenant != request.tenant) {  // another tenant's names are not ours to tell
            return Status(Code::Conflict,
                          fmt::format("route {} is already taken by another tenant", held.path));
          }
          return Status(Code::Conflict,
                        fmt::format("route {} is already held by function '{}': rename the file "
                                    "or remove that function first",
                                    held.path, held.function));
        }
      }
    }
  }

  Status built = build(request.tenant, build_dir, *config,
                       static_cast<int64_t>(request.archive.size()), progress);
  if (!built.isOk()) {
    cleanup();
    return built;
  }

  if (Status verified = verifyBuild(request, build_dir, *config); !verified.isOk()) {
    cleanup();
    return verified;
  }

  fs::create_directories(fs::path(blobPath(sha)).parent_path(), ec);
  if (!fs::exists(blobPath(sha))) {
    Status stored = os::writeFileAtomic(blobPath(sha), request.archive, 0644);
    if (!stored.isOk()) {
      cleanup();
      return stored;
    }
  }

  store::NewVersion version{request.tenant,
                            request.function,
                            sha,
                            toJson(*config).dump(),
                            static_cast<int64_t>(request.archive.size()),
                            routes,
                            nullptr};
  if (request.route_guard) {
    version.guard = [&](const store::RouteSpace& space) {
      return request.route_guard(routes, space);
    };
  }
  auto recorded = store_.createVersion(version);
  if (!recorded) {
    cleanup();
    return recorded.status();
  }
  std::string code_dir =
      fmt::format("{}/v{}", functionDir(request.tenant, request.function), recorded->version);
  fs::create_directories(functionDir(request.tenant, request.function), ec);
  fs::remove_all(code_dir, ec);  // a leftover of a function that was removed and redeployed
  fs::rename(build_dir, code_dir, ec);
  if (ec) {
    cleanup();
    return os::fileError(fmt::format("cannot move the build into {}: {}", code_dir, ec.message()),
                         ec.value());
  }
  DeployResult result;
  result.version = std::move(*recorded);
  result.config = std::move(*config);
  result.routes = std::move(route_paths);
  result.build_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - began)
                        .count();
  return result;
}

// Before the blob is stored and the version recorded: a build that fails its check leaves no
// trace but the audit entry, and the live version is not touched.
Status Deployer::verifyBuild(const DeployRequest& request, const std::string& build_dir,
                             const FunctionConfig& config) {
  if (!request.verify) return Status::ok();
  return request.verify(build_dir, config);
}

Result<std::string> Deployer::codeDir(const store::VersionRecord& version,
                                      const FunctionConfig& config) {
  std::string code_dir =
      fmt::format("{}/v{}", functionDir(version.tenant, version.function), version.version);
  if (fs::is_directory(code_dir)) return code_dir;
  auto blob = os::readFile(blobPath(version.bundle_sha256));
  if (!blob) {
    return internalError(fmt::format("the code of {} v{} is missing and its bundle {} too",
                                     version.function, version.version, version.bundle_sha256));
  }
  std::string build_dir = fmt::format("{}/builds/{}", data_dir_, randomHex(8));
  GUST_RETURN_IF_ERROR(extractBundle(*blob, build_dir, limits_));
  std::error_code ec;
  // A restore is no new use of the disk: the version was counted when it was deployed.
  BuildJob job{version.tenant, build_dir, buildCacheDir(data_dir_, version.tenant),
               disk_.max_version_bytes,
               fmt::format("a version may hold ({} MiB)", disk_.max_version_bytes >> 20)};
  Status installed = installDependencies(builds_, job, config, toolchain_, [](std::string_view) {});
  if (!installed.isOk()) {
    fs::remove_all(build_dir, ec);
    return installed;
  }
  fs::create_directories(functionDir(version.tenant, version.function), ec);
  fs::rename(build_dir, code_dir, ec);
  if (ec && !fs::is_directory(code_dir)) {
    return internalError(fmt::format("cannot restore {}: {}", code_dir, ec.message()));
  }
  fs::remove_all(build_dir, ec);
  return code_dir;
}

void Deployer::removeFunctionFiles(const std::string& tenant, const std::string& function) {
  std::error_code ec;
  fs::remove_all(functionDir(tenant, function), ec);
  auto referenced = store_.referencedBundles();
  if (!referenced) return;
  std::set<std::string> keep(referenced->begin(), referenced->end());
  fs::path blobs = fmt::format("{}/blobs/sha256", data_dir_);
  for (const auto& entry : fs::directory_iterator(blobs, ec)) {
    std::string stem = entry.path().filename().string();
    stem = stem.substr(0, stem.find('.'));
    if (!keep.count(stem)) fs::remove(entry.path(), ec);
  }
}

}  // namespace gust::bundle
