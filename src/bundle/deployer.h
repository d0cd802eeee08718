#pragma once
// Deployer: turns an uploaded bundle into a new immutable version — store the blob by its
// sha256, unpack and check it, read its config, install its dependencies in the tenant's build
// sandbox, record the version (moving alias "live" and the project's routes), and put its code
// where instances run it. A tenant's disk is bounded: each version's files, and everything the
// tenant holds (code dirs with their dependencies, its build cache, its stored bundles).
// Blocking: call on a build thread. Thread-safe.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "bundle/builder.h"
#include "bundle/bundle.h"
#include "bundle/manifest.h"
#include "os/toolchain.h"
#include "store/store.h"

namespace gust::bundle {

// What a tenant may keep on disk; a deploy past either is refused with 413.
struct DiskLimits {
  int64_t max_version_bytes = 1LL << 30;  // one version's files after its build
  int64_t max_tenant_bytes = 4LL << 30;   // code dirs, build cache and bundles, all versions
};

struct DeployRequest {
  std::string tenant;
  std::string function;
  std::string archive;  // tar.gz or zip bytes
  // Called with the bundle's config before dependencies are installed; an error refuses the
  // deploy with that status (the control API checks that named secrets exist).
  std::function<Status(const FunctionConfig&)> check;
  // Checks the version's project routes against every route there is, in the transaction that
  // records the version (the control API's ownership rules).
  std::function<Status(const std::vector<store::RouteRecord>&, const store::RouteSpace&)>
      route_guard;
  // Called with the finished build (unpacked, dependencies installed) before anything of it is
  // stored or recorded: an error refuses the deploy with that status, so nothing becomes live
  // (the control API starts the code in a sandbox to see that it loads). Empty: no check.
  std::function<Status(const std::string& build_dir, const FunctionConfig&)> verify;
};

struct DeployResult {
  store::VersionRecord version;
  FunctionConfig config;
  std::vector<std::string> routes;
  int64_t build_ms = 0;
  bool unchanged = false;  // the bundle equals the live version's: no new version was made
};

class Deployer final {
 public:
  Deployer(std::string data_dir, store::Store& store, os::Toolchain toolchain, BundleLimits limits,
           BuildSandbox& builds, DiskLimits disk);

  Result<DeployResult> deploy(const DeployRequest& request, const ProgressFn& progress);
  // Where the code of a version lives. If it is missing (a crash between recording and
  // renaming, a wiped disk) it is rebuilt from the stored blob.
  Result<std::string> codeDir(const store::VersionRecord& version, const FunctionConfig& config);
  // Deletes the function's code dirs and every blob no version refers to any more.
  void removeFunctionFiles(const std::string& tenant, const std::string& function);
  // The bytes `tenant` holds on disk, as the quota counts them.
  Result<int64_t> tenantDiskUsage(const std::string& tenant);

 private:
  std::string functionDir(const std::string& tenant, const std::string& function) const;
  std::string blobPath(const std::string& sha256) const;
  // Builds the unpacked `build_dir` within the tenant's limits (checked before and after).
  Status build(const std::string& tenant, const std::string& build_dir, const FunctionConfig& config,
               int64_t bundle_bytes, const ProgressFn& progress);
  static Status verifyBuild(const DeployRequest& request, const std::string& build_dir,
                            const FunctionConfig& config);

  std::string data_dir_;
  store::Store& store_;
  os::Toolchain toolchain_;
  BundleLimits limits_;
  BuildSandbox& builds_;
  DiskLimits disk_;
};

}  // namespace gust::bundle
