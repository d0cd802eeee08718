#pragma once
// Installs a version's dependencies at deploy time, never at invoke time: requirements.txt into
// a per-version virtual environment (<code>/.venv), package.json with npm (<code>/node_modules).
// A Python function's own sources are compiled to bytecode (__pycache__) here too, so a cold
// start's import reads them instead of compiling them.
// Blocking and slow: run on a build thread. Each line of installer output goes to `progress`.

#include <functional>
#include <string>
#include <string_view>

#include "bundle/manifest.h"
#include "common/status.h"
#include "os/toolchain.h"

namespace gust::bundle {

using ProgressFn = std::function<void(std::string_view)>;

Status installDependencies(const std::string& code_dir, const FunctionConfig& config,
                           const os::Toolchain& toolchain, const ProgressFn& progress);

}  // namespace gust::bundle
