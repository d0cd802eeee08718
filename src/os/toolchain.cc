#include "os/toolchain.h"

#include <unistd.h>

#include <cstdlib>

#include <fmt/format.h>

#include "os/process.h"

namespace gust::os {
namespace {

std::string fromEnvOrPath(const char* variable, const std::string& name) {
  if (const char* value = std::getenv(variable); value && *value) return value;
  return findOnPath(name);
}

}  // namespace

Result<Toolchain> resolveToolchain() {
  Toolchain t;
  std::string python = fromEnvOrPath("GUST_PYTHON", "python3");
  if (python.empty()) return internalError("python3 is not installed: run scripts/deps.sh");
  auto probe = runCommand({python, "-c", "import sys; print(sys.executable)"}, "", {}, 30, nullptr);
  if (!probe || probe->exit_code != 0) {
    return internalError(fmt::format("cannot run {}: {}", python,
                                     probe ? probe->output : probe.status().message()));
  }
  t.python = probe->output.substr(0, probe->output.find('\n'));
  if (::access(t.python.c_str(), X_OK) != 0) t.python = python;
  t.node = fromEnvOrPath("GUST_NODE", "node");
  t.npm = fromEnvOrPath("GUST_NPM", "npm");
  t.mvn = fromEnvOrPath("GUST_MVN", "mvn");
  t.java = fromEnvOrPath("GUST_JAVA", "java");
  return t;
}

}  // namespace gust::os
