#include "bundle/builder.h"

#include <filesystem>

#include <fcntl.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "protocol/json_input.h"

namespace gust::bundle {
namespace fs = std::filesystem;
namespace {

// What npm runs of the package's own scripts during `npm install` / `npm ci`, in order.
constexpr const char* kNpmLifecycle[] = {"preinstall", "install", "postinstall", "prepublish",
                                         "preprepare", "prepare", "postprepare"};
constexpr std::size_t kMaxPackageJsonBytes = 1 << 20;

// A tool's own file: Debian's /usr/bin/mvn goes through /etc/alternatives, which a sandbox
// does not show.
std::string realPath(const std::string& tool) {
  std::error_code ec;
  fs::path real = fs::canonical(tool, ec);
  return ec ? tool : real.string();
}

bool usesRuntime(const FunctionConfig& config, std::string_view runtime) {
  if (config.runtime == runtime) return true;
  for (const Entry& e : config.entries) {
    if (e.runtime == runtime) return true;
  }
  return false;
}

Status runStep(BuildSandbox& sandbox, const BuildJob& job, const std::vector<std::string>& argv,
               bool fetches, std::string_view what, const ProgressFn& progress) {
  progress(fmt::format("{}...", what));
  auto result = sandbox.run(job, argv, fetches, [&](std::string_view line) {
    if (!line.empty()) progress(line);
  });
  if (!result) {
    return Status(result.status().code(),
                  fmt::format("{} failed: {}", what, result.status().message()));
  }
  if (result->exit_code != 0) {
    std::string tail = result->output.size() > 2000
                           ? result->output.substr(result->output.size() - 2000)
                           : result->output;
    return invalidArgument(
        fmt::format("{} failed (exit code {}):\n{}", what, result->exit_code, tail));
  }
  return Status::ok();
}

Status installPython(BuildSandbox& sandbox, const BuildJob& job, const os::Toolchain& toolchain,
                     const ProgressFn& progress) {
  const std::string venv = sandbox.codePath(job) + "/.venv";
  GUST_RETURN_IF_ERROR(runStep(sandbox, job,
                               {toolchain.python, "-m", "venv", "--without-pip", venv}, false,
                               "creating a virtual environment", progress));
  return runStep(sandbox, job,
                 {toolchain.python, "-m", "pip", "--python", venv + "/bin/python", "install",
                  "--no-input", "--progress-bar", "off", "-r", "requirements.txt"},
                 true, "installing requirements.txt", progress);
}

// Importing a module from source costs its compile, and the process's first compile() also
// builds the AST types (~1.5 ms): bytecode written now makes every cold start's import a read.
// The import checks it against the source (mtime and size) and ignores it when stale. A file
// that does not compile is left for the import to report; compileall's lines about it go out
// as progress, which is all it prints with -q (a quick step needs no progress line).
Status compilePython(BuildSandbox& sandbox, const BuildJob& job, const os::Toolchain& toolchain,
                     const ProgressFn& progress) {
  auto compiled = sandbox.run(
      job,
      {toolchain.python, "-m", "compileall", "-q", "-x", R"((^|/)(\.venv|node_modules)/)", "."},
      false, [&](std::string_view line) {
        if (!line.empty()) progress(line);
      });
  return compiled ? Status::ok() : compiled.status();
}

Status installNode(BuildSandbox& sandbox, const BuildJob& job, const os::Toolchain& toolchain,
                   const std::vector<std::string>& scripts, const ProgressFn& progress) {
  if (toolchain.npm.empty()) return internalError("npm is not installed: run scripts/deps.sh");
  if (!scripts.empty()) {
    progress("package.json runs these lifecycle scripts during the install:");
    for (const auto& script : scripts) progress("  " + script);
  }
  bool locked = fs::exists(fs::path(job.code_dir) / "package-lock.json");
  std::vector<std::string> argv = {realPath(toolchain.npm), locked ? "ci" : "install", "--omit=dev",
                                   "--no-audit", "--no-fund"};
  return runStep(sandbox, job, argv, true, locked ? "npm ci" : "npm install", progress);
}

// The project's jar, and its runtime dependencies beside it for projects that do not shade
// them: the java runtime puts target/*.jar and target/lib/*.jar on the class path.
Status installJava(BuildSandbox& sandbox, const BuildJob& job, const os::Toolchain& toolchain,
                   const ProgressFn& progress) {
  if (toolchain.mvn.empty()) return internalError("mvn is not installed: run scripts/deps.sh");
  const std::string mvn = realPath(toolchain.mvn);
  const std::string repository = "-Dmaven.repo.local=" + sandbox.cachePath(job) + "/m2";
  GUST_RETURN_IF_ERROR(runStep(
      sandbox, job, {mvn, "-B", "-q", "-Dstyle.color=never", repository, "-DskipTests", "package"},
      true, "building with Maven (mvn package)", progress));
  return runStep(
      sandbox, job,
      {mvn, "-B", "-q", "-Dstyle.color=never", repository, "dependency:copy-dependencies",
       "-DincludeScope=runtime", "-DoutputDirectory=target/lib"},
      true, "copying the runtime dependencies", progress);
}

Status installAll(BuildSandbox& sandbox, const BuildJob& job, const FunctionConfig& config,
                  const os::Toolchain& toolchain, const ProgressFn& progress) {
  fs::path dir(job.code_dir);
  // A `provided` bootstrap or an `http` command may be Python (awslambdaric, Flask) or Node
  // (Express): their requirements are installed the same way, and the relay puts .venv/bin and
  // node_modules/.bin first on PATH.
  const bool any_language = usesRuntime(config, "provided") || usesRuntime(config, "http");
  const bool node =
      (usesRuntime(config, "node") || any_language) && fs::exists(dir / "package.json");
  // Read before any step runs: a step may leave anything in the build dir, a symlink too.
  std::vector<std::string> scripts =
      node ? npmLifecycleScripts((dir / "package.json").string()) : std::vector<std::string>{};
  if ((usesRuntime(config, "python3") || any_language) && fs::exists(dir / "requirements.txt")) {
    GUST_RETURN_IF_ERROR(installPython(sandbox, job, toolchain, progress));
  }
  if (usesRuntime(config, "python3")) {
    GUST_RETURN_IF_ERROR(compilePython(sandbox, job, toolchain, progress));
  }
  if (node) {
    GUST_RETURN_IF_ERROR(installNode(sandbox, job, toolchain, scripts, progress));
  }
  if (usesRuntime(config, "java") && fs::exists(dir / "pom.xml")) {
    GUST_RETURN_IF_ERROR(installJava(sandbox, job, toolchain, progress));
  }
  return Status::ok();
}

}  // namespace

std::vector<std::string> npmLifecycleScripts(const std::string& package_json) {
  // The tenant's file: never through a symlink, and bounded in size (the parser keeps its own
  // stack, so depth cannot overflow ours).
  int fd = ::open(package_json.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return {};
  std::string text;
  char buffer[65536];
  for (ssize_t n;
       text.size() <= kMaxPackageJsonBytes && (n = ::read(fd, buffer, sizeof buffer)) > 0;) {
    text.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  if (text.size() > kMaxPackageJsonBytes) return {};
  auto json = protocol::parseJsonOrDiscarded(text);
  if (!json.is_object() || !json.contains("scripts") || !json["scripts"].is_object()) return {};
  std::vector<std::string> scripts;
  for (const char* name : kNpmLifecycle) {
    auto it = json["scripts"].find(name);
    if (it != json["scripts"].end() && it->is_string()) {
      scripts.push_back(fmt::format("{}: {}", name, it->get<std::string>()));
    }
  }
  return scripts;
}

Status installDependencies(BuildSandbox& sandbox, const BuildJob& job, const FunctionConfig& config,
                           const os::Toolchain& toolchain, const ProgressFn& progress) {
  GUST_RETURN_IF_ERROR(sandbox.begin(job));
  Status installed = installAll(sandbox, job, config, toolchain, progress);
  Status handed_back = sandbox.end(job);
  return installed.isOk() ? handed_back : installed;
}

}  // namespace gust::bundle
