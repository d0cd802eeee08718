#pragma once
// Installs a version's dependencies at deploy time, never at invoke time: requirements.txt into
// a per-version virtual environment (<code>/.venv), package.json with npm (<code>/node_modules),
// pom.xml with Maven (<code>/target). A Python function's own sources are compiled to bytecode
// (__pycache__) here too, so a cold start's import reads them instead of compiling them.
// Every step runs in the tenant's build sandbox (build_sandbox.h): installers run the bundle's
// code (setup.py, npm lifecycle scripts, Maven plugins), which is as hostile as the function.
// Blocking and slow: run on a build thread. Each line of installer output goes to `progress`.

#include <string>

#include "bundle/build_sandbox.h"
#include "bundle/manifest.h"
#include "common/status.h"
#include "os/toolchain.h"

namespace gust::bundle {

Status installDependencies(BuildSandbox& sandbox, const BuildJob& job, const FunctionConfig& config,
                           const os::Toolchain& toolchain, const ProgressFn& progress);

// The npm lifecycle scripts a package.json declares ("preinstall: node steal.js"), in the order
// npm runs them; empty when it declares none or cannot be read. Shown before npm runs.
std::vector<std::string> npmLifecycleScripts(const std::string& package_json);

}  // namespace gust::bundle
