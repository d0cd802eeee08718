// The scheduler against fake instances: no processes, short real timers.
#include "scheduler/scheduler.h"

#include <optional>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace gust::scheduler {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

// Answers {"instance": N, "calls": K}; the event may ask it to sleep, crash or raise, and say
// what the call used ("cpu_ms", "peak_mb"), which it reports however the call ends.
class FakeInstance final : public worker::Instance {
 public:
  FakeInstance(asio::any_io_executor executor, int id) : timer_(executor), id_(id) {}

  asio::awaitable<worker::InvokeResult> invoke(worker::InvokeRequest request) override {
    json event = json::parse(request.event);
    os::ActivationUsage usage{event.value("cpu_ms", int64_t{0}) * 1'000'000, 0,
                              event.value("peak_mb", int64_t{0}) << 20};
    // Not co_await inside the braces: g++ 12 miscompiles temporaries there.
    Result<worker::InvokeReply> reply = co_await answer(event, request.deadline);
    co_return worker::InvokeResult{std::move(reply), usage};
  }
  void kill(const std::string&) override {
    alive_ = false;
    ++kills;
    timer_.cancel();
  }
  bool alive() const override { return alive_; }
  std::string takeUnclaimedLogs() override { return ""; }

  int kills = 0;
  int max_inflight = 0;

 private:
  asio::awaitable<Result<worker::InvokeReply>> answer(const json& event,
                                                      Clock::time_point deadline) {
    max_inflight = std::max(max_inflight, ++inflight_);
    struct Leave {
      int& count;
      ~Leave() { --count; }
    } leave{inflight_};
    if (event.value("sleep_ms", 0) > 0) {
      auto wake = Clock::now() + std::chrono::milliseconds(event.value("sleep_ms", 0));
      timer_.expires_at(std::min(wake, deadline));
      boost::system::error_code ec;
      co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (!alive_) co_return Status(Code::FunctionError, "killed");
      if (Clock::now() >= deadline) co_return Status(Code::DeadlineExceeded, "timed out");
    }
    if (event.value("crash", false)) {
      alive_ = false;
      co_return Status(Code::FunctionError, "the function's process exited (exit code 3)");
    }
    worker::InvokeReply reply;
    reply.ok = !event.value("raise", false);
    reply.error_type = reply.ok ? "" : "ValueError";
    reply.body = json{{"instance", id_}, {"calls", ++calls_}}.dump();
    co_return reply;
  }

  int inflight_ = 0;
  asio::steady_timer timer_;
  int id_;
  int calls_ = 0;
  bool alive_ = true;
};

class FakeLauncher final : public worker::InstanceLauncher {
 public:
  explicit FakeLauncher(asio::any_io_executor executor) : executor_(std::move(executor)) {}

  asio::awaitable<Result<worker::InstancePtr>> start(const worker::InstanceSpec&, Clock::time_point,
                                                     std::string& init_logs) override {
    ++starts;
    if (fail_init) {
      init_logs = "stdout loading...\n";
      co_return Status(Code::FunctionError, "the function failed to load: ImportError");
    }
    if (start_delay_ms > 0) {
      asio::steady_timer delay(executor_, std::chrono::milliseconds(start_delay_ms));
      boost::system::error_code ec;
      co_await delay.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    auto instance = std::make_shared<FakeInstance>(executor_, starts);
    instances.push_back(instance);
    co_return worker::InstancePtr(instance);
  }

  int starts = 0;
  bool fail_init = false;
  int start_delay_ms = 0;
  std::vector<std::shared_ptr<FakeInstance>> instances;

 private:
  asio::any_io_executor executor_;
};

class SchedulerTest : public ::testing::Test {
 protected:
  void make(SchedulerOptions options = {}) {
    scheduler_ = std::make_unique<Scheduler>(context_.get_executor(), launcher_, options);
  }

  InvocationTask task(json event, FunctionLimits limits = {}) {
    InvocationTask t;
    t.spec.tenant = "default";
    t.spec.function = "fn";
    t.spec.version = 1;
    t.limits = limits;
    t.activation_id = "act" + std::to_string(next_id_++);
    t.event = event.dump();
    return t;
  }

  // Starts invocations concurrently and runs the loop until all have finished.
  std::vector<InvocationOutcome> runAll(std::vector<InvocationTask> tasks) {
    std::vector<InvocationOutcome> outcomes(tasks.size());
    std::size_t done = 0;
    for (std::size_t i = 0; i < tasks.size(); ++i) {
      asio::co_spawn(context_, scheduler_->invoke(std::move(tasks[i])),
                     [&, i](std::exception_ptr error, InvocationOutcome outcome) {
                       EXPECT_FALSE(error) << "invoke threw";
                       outcomes[i] = std::move(outcome);
                       ++done;
                     });
    }
    auto deadline = Clock::now() + std::chrono::seconds(10);
    while (done < outcomes.size() && Clock::now() < deadline)
      context_.run_one_for(std::chrono::milliseconds(10));
    EXPECT_EQ(done, outcomes.size());
    return outcomes;
  }

  InvocationOutcome runOne(InvocationTask t) { return runAll({std::move(t)}).front(); }

  void runFor(std::chrono::milliseconds duration) {
    auto until = Clock::now() + duration;
    while (Clock::now() < until) context_.run_one_for(std::chrono::milliseconds(5));
  }

  static int instanceOf(const InvocationOutcome& outcome) {
    return json::parse(outcome.result).value("instance", -1);
  }

  void TearDown() override {
    if (scheduler_) scheduler_->shutdown();
    context_.run_for(std::chrono::milliseconds(20));
  }

  asio::io_context context_;
  FakeLauncher launcher_{context_.get_executor()};
  std::unique_ptr<Scheduler> scheduler_;
  int next_id_ = 0;
};

TEST_F(SchedulerTest, ReusesAWarmInstance) {
  make();
  auto first = runOne(task(json::object()));
  auto second = runOne(task(json::object()));
  ASSERT_TRUE(first.status.isOk());
  ASSERT_TRUE(second.status.isOk());
  EXPECT_TRUE(first.cold);
  EXPECT_FALSE(second.cold);
  EXPECT_EQ(launcher_.starts, 1);
  EXPECT_EQ(json::parse(second.result)["calls"], 2);
}

TEST_F(SchedulerTest, StartsUpToMaxInstancesThenQueues) {
  make();
  std::vector<InvocationTask> tasks;
  for (int i = 0; i < 6; ++i) tasks.push_back(task({{"sleep_ms", 20}}, {30, 1, 2}));
  auto outcomes = runAll(std::move(tasks));
  EXPECT_EQ(launcher_.starts, 2);
  for (const auto& outcome : outcomes)
    EXPECT_TRUE(outcome.status.isOk()) << outcome.status.message();
}

TEST_F(SchedulerTest, ConcurrencyLetsOneInstanceServeSeveral) {
  make();
  std::vector<InvocationTask> tasks;
  for (int i = 0; i < 3; ++i) tasks.push_back(task({{"sleep_ms", 20}}, {30, 3, 1}));
  auto outcomes = runAll(std::move(tasks));
  EXPECT_EQ(launcher_.starts, 1);
  for (const auto& outcome : outcomes) EXPECT_TRUE(outcome.status.isOk());
  EXPECT_EQ(launcher_.instances[0]->max_inflight, 3);
}

// Regression: calls queued during a cold start were handed over one per finished call, so a
// concurrency = 10 instance served a cold burst one at a time.
TEST_F(SchedulerTest, ColdBurstSharesTheNewInstanceUpToConcurrency) {
  make();
  launcher_.start_delay_ms = 30;
  std::vector<InvocationTask> tasks;
  for (int i = 0; i < 5; ++i) tasks.push_back(task({{"sleep_ms", 100}}, {30, 5, 1}));
  auto outcomes = runAll(std::move(tasks));
  EXPECT_EQ(launcher_.starts, 1);
  for (const auto& outcome : outcomes) EXPECT_TRUE(outcome.status.isOk());
  EXPECT_EQ(launcher_.instances[0]->max_inflight, 5);
}

TEST_F(SchedulerTest, FullQueueIsTurnedAwayWithUnavailable) {
  SchedulerOptions options;
  options.max_queue_per_function = 1;
  make(options);
  std::vector<InvocationTask> tasks;
  for (int i = 0; i < 3; ++i) tasks.push_back(task({{"sleep_ms", 50}}, {30, 1, 1}));
  auto outcomes = runAll(std::move(tasks));
  int unavailable = 0;
  for (const auto& outcome : outcomes) {
    if (outcome.status.code() == Code::Unavailable) {
      ++unavailable;
      EXPECT_EQ(outcome.state, "throttled");
      EXPECT_NE(outcome.status.message().find("max_instances (1)"), std::string::npos);
    }
  }
  EXPECT_EQ(unavailable, 1);
}

TEST_F(SchedulerTest, QueuedInvocationGivesUpAfterTheQueueWait) {
  SchedulerOptions options;
  options.max_queue_wait = std::chrono::milliseconds(30);
  make(options);
  auto outcomes = runAll({task({{"sleep_ms", 300}}, {30, 1, 1}), task(json::object(), {30, 1, 1})});
  EXPECT_TRUE(outcomes[0].status.isOk());
  EXPECT_EQ(outcomes[1].status.code(), Code::Unavailable);
}

TEST_F(SchedulerTest, CrashedInstanceIsReplacedOnTheNextCall) {
  make();
  auto crashed = runOne(task({{"crash", true}}));
  EXPECT_EQ(crashed.status.code(), Code::FunctionError);
  EXPECT_EQ(crashed.state, "crashed");
  EXPECT_NE(crashed.status.message().find("exit code 3"), std::string::npos);
  auto next = runOne(task(json::object()));
  EXPECT_TRUE(next.status.isOk());
  EXPECT_TRUE(next.cold);
  EXPECT_EQ(launcher_.starts, 2);
}

TEST_F(SchedulerTest, HandlerErrorKeepsTheInstance) {
  make();
  auto raised = runOne(task({{"raise", true}}));
  EXPECT_EQ(raised.status.code(), Code::FunctionError);
  EXPECT_EQ(raised.state, "error");
  EXPECT_NE(raised.status.message().find("ValueError"), std::string::npos);
  auto next = runOne(task(json::object()));
  EXPECT_FALSE(next.cold);
  EXPECT_EQ(launcher_.starts, 1);
}

TEST_F(SchedulerTest, TimeoutKillsTheInstance) {
  make();
  auto timed_out = runOne(task({{"sleep_ms", 5000}}, {1, 1, 1}));
  EXPECT_EQ(timed_out.status.code(), Code::DeadlineExceeded);
  EXPECT_EQ(timed_out.state, "timeout");
  // Billed up to its timeout, not for the time it took us to notice.
  EXPECT_LE(timed_out.finished_at_us - timed_out.started_at_us, 1'000'000);
  EXPECT_GE(timed_out.finished_at_us - timed_out.started_at_us, 990'000);
  ASSERT_EQ(launcher_.instances.size(), 1u);
  EXPECT_EQ(launcher_.instances[0]->kills, 1);
  EXPECT_TRUE(runOne(task(json::object(), {1, 1, 1})).cold);
}

TEST_F(SchedulerTest, EveryEndingCarriesWhatTheInstanceUsed) {
  make();
  const json used = {{"cpu_ms", 300}, {"peak_mb", 120}};
  std::vector<std::pair<json, std::string>> endings = {{json::object(), "success"},
                                                       {{{"raise", true}}, "error"},
                                                       {{{"crash", true}}, "crashed"},
                                                       {{{"sleep_ms", 5000}}, "timeout"}};
  for (auto& [event, state] : endings) {
    event.update(used);
    auto outcome = runOne(task(event, {1, 1, 1}));
    EXPECT_EQ(outcome.state, state);
    EXPECT_EQ(outcome.cpu_user_ns, 300'000'000) << state;
    EXPECT_EQ(outcome.peak_rss_bytes, int64_t{120} << 20) << state;
  }
}

TEST_F(SchedulerTest, InitFailureIsReportedAndNothingIsKept) {
  make();
  launcher_.fail_init = true;
  auto failed = runOne(task(json::object()));
  EXPECT_EQ(failed.status.code(), Code::FunctionError);
  EXPECT_EQ(failed.state, "init_error");
  EXPECT_NE(failed.status.message().find("ImportError"), std::string::npos);
  // What it printed while loading is the activation's log, not part of the caller's error.
  EXPECT_EQ(failed.logs, "stdout loading...\n");
  EXPECT_EQ(failed.status.message().find("loading..."), std::string::npos);
  EXPECT_TRUE(failed.cold);
  launcher_.fail_init = false;
  EXPECT_TRUE(runOne(task(json::object())).status.isOk());
}

TEST_F(SchedulerTest, ReapsIdleInstancesAfterTheTtl) {
  SchedulerOptions options;
  options.idle_ttl = std::chrono::milliseconds(40);
  make(options);
  ASSERT_TRUE(runOne(task(json::object())).status.isOk());
  EXPECT_EQ(scheduler_->stats().size(), 1u);
  runFor(std::chrono::milliseconds(200));
  EXPECT_EQ(launcher_.instances[0]->kills, 1);
  EXPECT_TRUE(scheduler_->stats().empty());
  EXPECT_TRUE(runOne(task(json::object())).cold);
}

TEST_F(SchedulerTest, DroppedFunctionStopsItsInstances) {
  make();
  ASSERT_TRUE(runOne(task(json::object())).status.isOk());
  scheduler_->dropFunction("default", "fn");
  EXPECT_EQ(launcher_.instances[0]->kills, 1);
  EXPECT_TRUE(scheduler_->stats().empty());
}

TEST_F(SchedulerTest, TryLoadStartsAnInstanceAndStopsItOutsideEveryPool) {
  make();
  std::optional<LoadOutcome> outcome;
  asio::co_spawn(context_, scheduler_->tryLoad(task(json::object()).spec, {}),
                 [&](std::exception_ptr, LoadOutcome result) { outcome = std::move(result); });
  runFor(std::chrono::milliseconds(50));
  ASSERT_TRUE(outcome.has_value());
  EXPECT_TRUE(outcome->status.isOk()) << outcome->status.message();
  ASSERT_EQ(launcher_.starts, 1);
  EXPECT_EQ(launcher_.instances[0]->kills, 1);
  EXPECT_TRUE(scheduler_->stats().empty());
  EXPECT_TRUE(runOne(task(json::object())).cold);  // the trial's instance served nobody
}

TEST_F(SchedulerTest, TryLoadReportsTheInitFailureWithWhatItPrinted) {
  make();
  launcher_.fail_init = true;
  std::optional<LoadOutcome> outcome;
  asio::co_spawn(context_, scheduler_->tryLoad(task(json::object()).spec, {}),
                 [&](std::exception_ptr, LoadOutcome result) { outcome = std::move(result); });
  runFor(std::chrono::milliseconds(50));
  ASSERT_TRUE(outcome.has_value());
  EXPECT_EQ(outcome->status.code(), Code::FunctionError);
  EXPECT_EQ(outcome->init_logs, "stdout loading...\n");
}

}  // namespace
}  // namespace gust::scheduler
