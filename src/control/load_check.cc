#include "control/load_check.h"

#include <algorithm>
#include <chrono>
#include <exception>
#include <future>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>
#include <fmt/format.h>

#include "gateway/catalog.h"
#include "gateway/invoker.h"
#include "secrets/redact.h"

namespace gust::control {
namespace {

namespace asio = boost::asio;

// Entries start this many at a time: a project's files load in parallel, and its memory_mb is
// held at most this many times over meanwhile.
constexpr std::size_t kParallelLoads = 4;
// What the code printed while loading, as much as the error keeps of it.
constexpr std::size_t kMaxOutputBytes = 4096;
// A trial ends by its init deadline while the scheduler's loop runs. The server stops that loop
// before it joins the build threads, so a wait past the deadline by this much gives up rather
// than hold the shutdown forever.
constexpr auto kLoopGrace = std::chrono::seconds(15);
// The least init deadline a cold start gets (the scheduler's kMinInitTimeout).
constexpr auto kMinInitWait = std::chrono::seconds(10);

std::string entryName(const bundle::FunctionConfig& config, const bundle::Entry* entry) {
  if (entry) return entry->handler;
  return config.handler.empty() ? config.runtime : config.handler;
}

// The lines printed while loading, without the time each one came in; the last ones when long,
// since that is where an exception ends up.
std::string printedOutput(const std::string& init_logs) {
  std::string out;
  std::size_t start = 0;
  while (start < init_logs.size()) {
    std::size_t end = init_logs.find('\n', start);
    if (end == std::string::npos) end = init_logs.size();
    std::string_view line = std::string_view(init_logs).substr(start, end - start);
    if (std::size_t stamp = line.find(' '); stamp != std::string_view::npos) {
      line.remove_prefix(stamp + 1);
    }
    out += fmt::format("    {}\n", line);
    start = end + 1;
  }
  if (out.size() > kMaxOutputBytes) out = "    ...\n" + out.substr(out.size() - kMaxOutputBytes);
  return out;
}

struct Trial {
  std::string name;
  std::future<scheduler::LoadOutcome> outcome;
  std::chrono::steady_clock::time_point give_up;
};

Trial startTrial(const LoadCheckDeps& deps, const gateway::RunnableVersion& build,
                 const bundle::Entry* entry) {
  scheduler::FunctionLimits limits{build.config.timeout_s, build.config.concurrency,
                                   build.config.max_instances};
  // The coroutine is made on the scheduler's loop, like everything the scheduler does.
  auto trial = [&scheduler = deps.scheduler, spec = gateway::instanceSpecFor(build, entry),
                limits] { return scheduler.tryLoad(spec, limits); };
  auto give_up = std::chrono::steady_clock::now() +
                 std::max<std::chrono::steady_clock::duration>(
                     std::chrono::seconds(build.config.timeout_s), kMinInitWait) +
                 kLoopGrace;
  return {entryName(build.config, entry),
          asio::co_spawn(deps.scheduler.executor(), std::move(trial), asio::use_future), give_up};
}

// "" when the entry loaded; else its part of the error message. A failure that is not the code's
// (the sandbox did not start, the server is stopping) is returned in `blocked`.
std::string finishTrial(Trial& trial, Status& blocked) {
  scheduler::LoadOutcome outcome;
  try {
    if (trial.outcome.wait_until(trial.give_up) == std::future_status::ready) {
      outcome = trial.outcome.get();
    } else {
      outcome.status = Status(Code::Unavailable, "the server is stopping");
    }
  } catch (const std::exception&) {  // the scheduler's loop stopped before the trial ended
    outcome.status = Status(Code::Unavailable, "the server stopped during the deploy");
  }
  const Status& status = outcome.status;
  if (status.isOk()) return "";
  if (status.code() != Code::FunctionError && status.code() != Code::DeadlineExceeded) {
    if (blocked.isOk()) {
      blocked = Status(status.code(),
                       fmt::format("cannot check that {} loads: {} (gust deploy --force skips "
                                   "the check)",
                                   trial.name, status.message()));
    }
    return "";
  }
  std::string part = fmt::format("  {}: {}\n", trial.name, status.message());
  if (!outcome.init_logs.empty()) part += "  it printed:\n" + printedOutput(outcome.init_logs);
  return part;
}

}  // namespace

Status checkCodeLoads(const LoadCheckDeps& deps, const std::string& tenant,
                      const std::string& function, const std::string& build_dir,
                      const bundle::FunctionConfig& config) {
  gateway::RunnableVersion build;
  build.record.tenant = tenant;
  build.record.function = function;
  build.record.version = 0;  // not recorded yet
  build.config = config;
  build.code_dir = build_dir;
  auto secrets =
      gateway::openSecrets(deps.store, deps.secret_box, tenant, function, config.secrets);
  if (!secrets) return secrets.status();
  build.secrets = std::move(*secrets);

  std::vector<const bundle::Entry*> entries;
  for (const bundle::Entry& entry : config.entries) entries.push_back(&entry);
  if (entries.empty()) entries.push_back(nullptr);

  std::string failures;
  Status blocked;
  for (std::size_t first = 0; first < entries.size(); first += kParallelLoads) {
    std::vector<Trial> trials;
    for (std::size_t i = first; i < std::min(entries.size(), first + kParallelLoads); ++i) {
      trials.push_back(startTrial(deps, build, entries[i]));
    }
    for (Trial& trial : trials) failures += finishTrial(trial, blocked);
  }
  if (!blocked.isOk()) {
    return Status(blocked.code(), secrets::redact(blocked.message(), build.secrets));
  }
  if (failures.empty()) return Status::ok();
  // The tenant deploying owns the code, so the whole story is theirs to read; only the values of
  // its secrets are kept out, as from every log.
  std::string message = fmt::format(
      "the code does not load, so this deploy made no version and the live one stays (gust deploy "
      "--force deploys it anyway):\n{}",
      failures);
  while (message.ends_with('\n')) message.pop_back();
  return Status(Code::InitFailed, secrets::redact(std::move(message), build.secrets));
}

}  // namespace gust::control
