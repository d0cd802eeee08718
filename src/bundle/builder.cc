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
  // A `provided` bootstrap or an `http` command may be Python (awslambdaric, Flask) or Node
  // (Express): their requirements are installed the same way, and the relay puts .venv/bin and
  // node_modules/.bin first on PATH.
  const bool any_language = usesRuntime(config, "provided") || usesRuntime(config, "http");
  if ((usesRuntime(config, "python3") || any_language) && fs::exists(dir / "requirements.txt")) {
    std::string venv = (dir / ".venv").string();
    GUST_RETURN_IF_ERROR(runStep({toolchain.python, "-m", "venv", "--without-pip", venv}, code_dir,
                                 {}, "creating a virtual environment", progress));
    GUST_RETURN_IF_ERROR(runStep({toolchain.python, "-m", "pip", "--python", venv + "/bin/python",
                                  "install", "--disable-pip-version-check", "--no-input",
                                  "--progress-bar", "off", "-r", "requirements.txt"},
                                 code_dir, {{"PIP_NO_CACHE_DIR", "0"}},
                                 "installing requirements.txt", progress));
  }
  if (usesRuntime(config, "python3")) {
    // Importing a module from source costs its compile, and the process's first compile() also
    // builds the AST types (~1.5 ms): bytecode written now makes every cold start's import a
    // read. The import checks it against the source (mtime and size) and ignores it when stale.
    // A file that does not compile is left for the import to report; compileall's lines about it
    // go out as progress, which is all it prints with -q (a quick step needs no progress line).
    auto compiled = os::runCommand({toolchain.python, "-m", "compileall", "-q", "-x",
                                    R"((^|/)(\.venv|node_modules)/)", "."},
                                   code_dir, {}, kInstallTimeoutS, [&](std::string_view line) {
                                     if (!line.empty()) progress(line);
                                   });
    if (!compiled) return compiled.status();
  }
  if ((usesRuntime(config, "node") || any_language) && fs::exists(dir / "package.json")) {
    if (toolchain.npm.empty()) return internalError("npm is not installed: run scripts/deps.sh");
    bool locked = fs::exists(dir / "package-lock.json");
    std::vector<std::string> argv = {toolchain.npm, locked ? "ci" : "install", "--omit=dev",
                                     "--no-audit", "--no-fund"};
    GUST_RETURN_IF_ERROR(runStep(argv, code_dir, {}, locked ? "npm ci" : "npm install", progress));
  }
  if (usesRuntime(config, "java") && fs::exists(dir / "pom.xml")) {
    if (toolchain.mvn.empty()) return internalError("mvn is not installed: run scripts/deps.sh");
    // The project's jar, and its runtime dependencies beside it for projects that do not shade
    // them: the java runtime puts target/*.jar and target/lib/*.jar on the class path.
    GUST_RETURN_IF_ERROR(runStep({toolchain.mvn, "-B", "-q", "-Dstyle.color=never", "-DskipTests", "package"}, code_dir,
                                 {}, "building with Maven (mvn package)", progress));
    GUST_RETURN_IF_ERROR(runStep({toolchain.mvn, "-B", "-q", "-Dstyle.color=never", "dependency:copy-dependencies",
                                  "-DincludeScope=runtime", "-DoutputDirectory=target/lib"},
                                 code_dir, {}, "copying the runtime dependencies", progress));
  }
  return Status::ok();
}

}  // namespace gust::bundle
