#include "bundle/builder.h"

#include <filesystem>

#include <fmt/format.h>

#include "os/process.h"

namespace gust::bundle {
namespace fs = std::filesystem;
namespace {

constexpr int kInstallTimeoutS = 600;

bool usesRuntime(const FunctionConfig& config, std::string_view runtime) {
  if (config.runtime == runtime) return true;
  for (const Entry& e : config.entries) {
    if (e.runtime == runtime) return true;
  }
  return false;
}

Status runStep(const std::vector<std::string>& argv, const std::string& cwd,
               const std::map<std::string, std::string>& env, std::string_view what,
               const ProgressFn& progress) {
  progress(fmt::format("{}...", what));
  auto result = os::runCommand(argv, cwd, env, kInstallTimeoutS, [&](std::string_view line) {
    if (!line.empty()) progress(line);
  });
  if (!result) return result.status();
  if (result->timed_out) {
    return invalidArgument(fmt::format("{} took longer than {} s and was stopped", what,
                                       kInstallTimeoutS));
  }
  if (result->exit_code != 0) {
    std::string tail = result->output.size() > 2000
                           ? result->output.substr(result->output.size() - 2000)
                           : result->output;
    return invalidArgument(fmt::format("{} failed (exit code {}):\n{}", what, result->exit_code, tail));
  }
  return Status::ok();
}

}  // namespace

Status installDependencies(const std::string& code_dir, const FunctionConfig& config,
                           const os::Toolchain& toolchain, const ProgressFn& progress) {
  fs::path dir(code_dir);
  if (usesRuntime(config, "python3") && fs::exists(dir / "requirements.txt")) {
    std::string venv = (dir / ".venv").string();
    GUST_RETURN_IF_ERROR(runStep({toolchain.python, "-m", "venv", "--without-pip", venv}, code_dir,
                                 {}, "creating a virtual environment", progress));
    GUST_RETURN_IF_ERROR(runStep({toolchain.python, "-m", "pip", "--python", venv + "/bin/python",
                                  "install", "--disable-pip-version-check", "--no-input",
                                  "--progress-bar", "off", "-r", "requirements.txt"},
                                 code_dir, {{"PIP_NO_CACHE_DIR", "0"}},
                                 "installing requirements.txt", progress));
  }
  if (usesRuntime(config, "node") && fs::exists(dir / "package.json")) {
    if (toolchain.npm.empty()) return internalError("npm is not installed: run scripts/deps.sh");
    bool locked = fs::exists(dir / "package-lock.json");
    std::vector<std::string> argv = {toolchain.npm, locked ? "ci" : "install", "--omit=dev",
                                     "--no-audit", "--no-fund"};
    GUST_RETURN_IF_ERROR(runStep(argv, code_dir, {}, locked ? "npm ci" : "npm install", progress));
  }
  return Status::ok();
}

}  // namespace gust::bundle
