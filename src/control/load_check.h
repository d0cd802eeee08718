#pragma once
// The deploy's load check: before a version is recorded, each entry of the built code is started
// in an instance of its own through the scheduler's launcher — sandboxed as its tenant, with the
// function's limits, environment and secrets, under the init deadline a cold start gets — and
// must reach READY. Code that does not parse or raises at import (the adapters name the file and
// line), a handler the module does not define, a bootstrap or command that does not start, or an
// init past the deadline fails the deploy with InitFailed (422), and nothing becomes live.
// `gust deploy --force` (the API's ?force=true) skips it. User code runs here as it would on
// its first invocation, never in the server's process.
// Blocking (it waits for the scheduler's loop): call on a build thread. Thread-safe.

#include <string>

#include "bundle/manifest.h"
#include "scheduler/scheduler.h"
#include "secrets/secret_box.h"
#include "store/store.h"

namespace gust::control {

struct LoadCheckDeps {
  scheduler::Scheduler& scheduler;
  store::Store& store;
  const secrets::SecretBox& secret_box;
};

// Ok when every entry of the build in `build_dir` loaded; else InitFailed naming each entry
// that did not and why, or the status that kept the check from running.
Status checkCodeLoads(const LoadCheckDeps& deps, const std::string& tenant,
                      const std::string& function, const std::string& build_dir,
                      const bundle::FunctionConfig& config);

}  // namespace gust::control
