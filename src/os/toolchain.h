#pragma once
// The interpreters Gust runs functions and builds with, resolved once at start. The `python3`
// first on PATH may be a pyenv shell shim costing ~89 ms per start; we resolve it to the real
// interpreter (sys.executable) so instances exec that directly.

#include <string>

#include "common/status.h"

namespace gust::os {

struct Toolchain {
  std::string python;  // absolute path of the real interpreter
  std::string node;
  std::string npm;
  std::string mvn;   // "" when Maven is not installed (only java functions with a pom.xml need it)
  std::string java;  // the same for the JDK's java (AppCDS archives are built at deploy)
};

// Honors GUST_PYTHON / GUST_NODE / GUST_NPM when set.
Result<Toolchain> resolveToolchain();

}  // namespace gust::os
