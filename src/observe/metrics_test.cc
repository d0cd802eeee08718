#include "observe/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace gust::observe {
namespace {

TEST(Metrics, CounterExpositionIsExact) {
  Registry registry;
  registry.counter("gust_jobs_total", "Jobs run.").inc();
  Counter& a = registry.counter("gust_calls_total", "Calls made.", {{"function", "a"}});
  a.inc();
  a.inc(2);
  EXPECT_EQ(a.value(), 3);
  EXPECT_EQ(registry.exposition(),
            "# HELP gust_calls_total Calls made.\n"
            "# TYPE gust_calls_total counter\n"
            "gust_calls_total{function=\"a\"} 3\n"
            "# HELP gust_jobs_total Jobs run.\n"
            "# TYPE gust_jobs_total counter\n"
            "gust_jobs_total 1\n");
}

TEST(Metrics, CounterIgnoresNegativeAndNaNIncrements) {
  Registry registry;
  Counter& counter = registry.counter("c_total", "c");
  counter.inc(5);
  counter.inc(-1);
  counter.inc(std::numeric_limits<double>::quiet_NaN());
  counter.inc(0.5);
  EXPECT_EQ(counter.value(), 5.5);
  EXPECT_EQ(registry.exposition(), "# HELP c_total c\n# TYPE c_total counter\nc_total 5.5\n");
}

TEST(Metrics, GaugeExpositionIsExact) {
  Registry registry;
  Gauge& depth = registry.gauge("gust_queue_depth", "Invocations waiting.", {{"function", "f"}});
  depth.set(7);
  depth.add(-2);
  depth.add(0.25);
  Gauge& lag = registry.gauge("gust_store_writer_lag", "Records waiting to be committed.");
  lag.set(-3);
  EXPECT_EQ(depth.value(), 5.25);
  EXPECT_EQ(registry.exposition(),
            "# HELP gust_queue_depth Invocations waiting.\n"
            "# TYPE gust_queue_depth gauge\n"
            "gust_queue_depth{function=\"f\"} 5.25\n"
            "# HELP gust_store_writer_lag Records waiting to be committed.\n"
            "# TYPE gust_store_writer_lag gauge\n"
            "gust_store_writer_lag -3\n");
}

TEST(Metrics, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  Registry registry;
  Histogram& h = registry.histogram("gust_duration_seconds", "How long.", {{"function", "f"}},
                                    {0.25, 1, 4});
  h.observe(0.125);
  h.observe(0.25);  // on a bound: counts in that bound's bucket ("le")
  h.observe(0.5);
  h.observe(8);     // above every bound: only +Inf
  h.observe(std::nan(""));
  EXPECT_EQ(registry.exposition(),
            "# HELP gust_duration_seconds How long.\n"
            "# TYPE gust_duration_seconds histogram\n"
            "gust_duration_seconds_bucket{function=\"f\",le=\"0.25\"} 2\n"
            "gust_duration_seconds_bucket{function=\"f\",le=\"1\"} 3\n"
            "gust_duration_seconds_bucket{function=\"f\",le=\"4\"} 3\n"
            "gust_duration_seconds_bucket{function=\"f\",le=\"+Inf\"} 4\n"
            "gust_duration_seconds_sum{function=\"f\"} 8.875\n"
            "gust_duration_seconds_count{function=\"f\"} 4\n");

  Histogram::Snapshot snapshot = h.snapshot();
  EXPECT_EQ(snapshot.cumulative, (std::vector<uint64_t>{2, 3, 3, 4}));
  EXPECT_EQ(snapshot.count, 4u);
  EXPECT_EQ(snapshot.sum, 8.875);
}

TEST(Metrics, EmptyHistogramWithoutLabelsShowsZeroes) {
  Registry registry;
  registry.histogram("h", "h", {}, {1});
  EXPECT_EQ(registry.exposition(),
            "# HELP h h\n"
            "# TYPE h histogram\n"
            "h_bucket{le=\"1\"} 0\n"
            "h_bucket{le=\"+Inf\"} 0\n"
            "h_sum 0\n"
            "h_count 0\n");
}

TEST(Metrics, DefaultLatencyBucketsSpanHalfAMillisecondToAMinute) {
  std::vector<double> buckets = defaultLatencyBuckets();
  EXPECT_GE(buckets.size(), 12u);
  EXPECT_LE(buckets.size(), 18u);
  EXPECT_EQ(buckets.front(), 0.0005);
  EXPECT_EQ(buckets.back(), 60);
  EXPECT_TRUE(std::is_sorted(buckets.begin(), buckets.end()));
  EXPECT_EQ(std::adjacent_find(buckets.begin(), buckets.end()), buckets.end());

  Registry registry;
  registry.histogram("d", "d").observe(0.003);
  std::string text = registry.exposition();
  EXPECT_NE(text.find("d_bucket{le=\"0.0005\"} 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("d_bucket{le=\"0.005\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("d_bucket{le=\"60\"} 1\n"), std::string::npos) << text;
}

TEST(Metrics, EscapesLabelValuesAndHelp) {
  Registry registry;
  registry.counter("e_total", "Help with \\ and\nnewline and \"quotes\".",
                   {{"path", "a\\b\"c\nd"}})
      .inc();
  EXPECT_EQ(registry.exposition(),
            "# HELP e_total Help with \\\\ and\\nnewline and \"quotes\".\n"
            "# TYPE e_total counter\n"
            "e_total{path=\"a\\\\b\\\"c\\nd\"} 1\n");
}

TEST(Metrics, SortsFamiliesByNameAndSeriesByLabels) {
  Registry registry;
  registry.counter("z_total", "z").inc();
  registry.counter("a_total", "a", {{"status", "success"}, {"function", "beta"}}).inc(1);
  registry.counter("a_total", "a", {{"function", "alpha"}, {"status", "timeout"}}).inc(2);
  registry.counter("a_total", "a", {{"function", "alpha"}, {"status", "error"}}).inc(3);
  // The same labels in another order are the same series.
  registry.counter("a_total", "a", {{"status", "success"}, {"function", "beta"}}).inc(10);
  EXPECT_EQ(registry.exposition(),
            "# HELP a_total a\n"
            "# TYPE a_total counter\n"
            "a_total{function=\"alpha\",status=\"error\"} 3\n"
            "a_total{function=\"alpha\",status=\"timeout\"} 2\n"
            "a_total{function=\"beta\",status=\"success\"} 11\n"
            "# HELP z_total z\n"
            "# TYPE z_total counter\n"
            "z_total 1\n");
}

TEST(Metrics, LookupReturnsTheSameSeriesAndKeepsTheFirstHelp) {
  Registry registry;
  Gauge& first = registry.gauge("g", "first help", {{"k", "v"}});
  Gauge& again = registry.gauge("g", "other help", {{"k", "v"}});
  EXPECT_EQ(&first, &again);
  EXPECT_NE(&first, &registry.gauge("g", "", {{"k", "w"}}));
  EXPECT_EQ(registry.exposition().substr(0, 19), "# HELP g first help");
}

TEST(Metrics, PrintsIntegersWithoutExponentAndOtherValuesRoundTrip) {
  Registry registry;
  registry.gauge("v", "v", {{"i", "01"}}).set(1e15);
  registry.gauge("v", "v", {{"i", "02"}}).set(0.1);
  registry.gauge("v", "v", {{"i", "03"}}).set(1e20);
  registry.gauge("v", "v", {{"i", "04"}}).set(std::numeric_limits<double>::infinity());
  registry.gauge("v", "v", {{"i", "05"}}).set(-std::numeric_limits<double>::infinity());
  registry.gauge("v", "v", {{"i", "06"}}).set(std::nan(""));
  registry.gauge("v", "v", {{"i", "07"}}).set(-0.0);
  registry.gauge("v", "v", {{"i", "08"}}).set(123456789);
  EXPECT_EQ(registry.exposition(),
            "# HELP v v\n"
            "# TYPE v gauge\n"
            "v{i=\"01\"} 1000000000000000\n"
            "v{i=\"02\"} 0.1\n"
            "v{i=\"03\"} 1e+20\n"
            "v{i=\"04\"} +Inf\n"
            "v{i=\"05\"} -Inf\n"
            "v{i=\"06\"} NaN\n"
            "v{i=\"07\"} 0\n"
            "v{i=\"08\"} 123456789\n");
}

TEST(Metrics, ConcurrentIncrementsFromFourThreadsAddUpExactly) {
  Registry registry;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 100000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&registry] {
      // Each thread looks the series up itself, racing the first lookup too.
      Counter& counter = registry.counter("n_total", "n", {{"k", "v"}});
      Histogram& histogram = registry.histogram("h_seconds", "h", {}, {0.5});
      Gauge& gauge = registry.gauge("g", "g");
      for (int i = 0; i < kPerThread; ++i) {
        counter.inc();
        histogram.observe(i % 2 == 0 ? 0.25 : 1);
        gauge.add(1);
      }
    });
  }
  // Scrapes race the writers; they must not crash or see a non-cumulative histogram.
  for (int i = 0; i < 20; ++i) {
    Histogram::Snapshot snapshot = registry.histogram("h_seconds", "h", {}, {0.5}).snapshot();
    EXPECT_LE(snapshot.cumulative[0], snapshot.cumulative[1]);
    EXPECT_EQ(snapshot.count, snapshot.cumulative.back());
    (void)registry.exposition();
  }
  for (auto& thread : threads) thread.join();

  EXPECT_EQ(registry.counter("n_total", "n", {{"k", "v"}}).value(), kThreads * kPerThread);
  EXPECT_EQ(registry.gauge("g", "g").value(), kThreads * kPerThread);
  Histogram::Snapshot snapshot = registry.histogram("h_seconds", "h", {}, {0.5}).snapshot();
  EXPECT_EQ(snapshot.cumulative, (std::vector<uint64_t>{kThreads * kPerThread / 2,
                                                        kThreads * kPerThread}));
  EXPECT_EQ(snapshot.sum, kThreads * (kPerThread / 2) * 1.25);
}

TEST(Metrics, ClearRemovesEverySeriesOfANameAndKeepsReferencesValid) {
  Registry registry;
  const Labels busy_labels = {{"function", "f"}, {"state", "busy"}};
  const Labels idle_labels = {{"function", "f"}, {"state", "idle"}};
  Gauge& busy = registry.gauge("gust_instances", "Instances.", busy_labels);
  registry.gauge("gust_instances", "Instances.", idle_labels).set(2);
  busy.set(1);
  registry.gauge("other", "Other.").set(9);

  registry.clear("gust_instances");
  registry.clear("never_registered");
  EXPECT_EQ(registry.exposition(), "# HELP other Other.\n# TYPE other gauge\nother 9\n");

  busy.add(1);  // a reference held across clear() still works, unseen until looked up again
  EXPECT_EQ(registry.exposition(), "# HELP other Other.\n# TYPE other gauge\nother 9\n");

  Gauge& idle = registry.gauge("gust_instances", "Instances.", idle_labels);
  EXPECT_EQ(idle.value(), 0);  // starts again from zero
  idle.set(3);
  EXPECT_EQ(registry.exposition(),
            "# HELP gust_instances Instances.\n"
            "# TYPE gust_instances gauge\n"
            "gust_instances{function=\"f\",state=\"idle\"} 3\n"
            "# HELP other Other.\n"
            "# TYPE other gauge\n"
            "other 9\n");
}

TEST(Metrics, ClearResetsHistogramsAndCounters) {
  Registry registry;
  Histogram& h = registry.histogram("h", "h", {}, {1});
  h.observe(0.5);
  Counter& c = registry.counter("c_total", "c");
  c.inc(4);
  registry.clear("h");
  registry.clear("c_total");
  EXPECT_EQ(registry.exposition(), "");
  EXPECT_EQ(h.snapshot().count, 0u);
  EXPECT_EQ(c.value(), 0);
}

TEST(Metrics, RegistriesAreIndependent) {
  Registry one;
  Registry two;
  one.counter("x_total", "x").inc();
  EXPECT_EQ(two.counter("x_total", "x").value(), 0);
  EXPECT_EQ(one.counter("x_total", "x").value(), 1);
}

TEST(MetricsDeathTest, InvalidMetricNamesAbort) {
  Registry registry;
  EXPECT_DEATH(registry.counter("", "h"), "check failed");
  EXPECT_DEATH(registry.counter("1abc", "h"), "check failed");
  EXPECT_DEATH(registry.gauge("has-dash", "h"), "check failed");
  EXPECT_DEATH(registry.gauge("has space", "h"), "check failed");
  EXPECT_DEATH(registry.histogram("h\xc3\xa9", "h"), "check failed");
  // Colons and leading underscores are valid in metric names.
  registry.counter(":rule:total_", "h");
  registry.counter("_private", "h");
}

TEST(MetricsDeathTest, InvalidLabelNamesAbort) {
  Registry registry;
  EXPECT_DEATH(registry.counter("c", "h", {{"", "v"}}), "check failed");
  EXPECT_DEATH(registry.counter("c", "h", {{"a:b", "v"}}), "check failed");
  EXPECT_DEATH(registry.counter("c", "h", {{"9a", "v"}}), "check failed");
  EXPECT_DEATH(registry.counter("c", "h", {{"__reserved", "v"}}), "check failed");
  EXPECT_DEATH(registry.counter("c", "h", {{"a", "1"}, {"a", "2"}}), "check failed");
  EXPECT_DEATH(registry.histogram("h", "h", {{"le", "1"}}), "check failed");
  // Any label value is valid, empty and non-ASCII included.
  registry.counter("c", "h", {{"_a1", ""}});
  registry.counter("c", "h", {{"_a1", "\xc3\xa9"}});
}

TEST(MetricsDeathTest, MisusingANameAborts) {
  Registry registry;
  registry.counter("shared", "h", {{"a", "1"}});
  registry.histogram("hist", "h", {}, {1, 2});
  EXPECT_DEATH(registry.gauge("shared", "h", {{"a", "1"}}), "check failed");
  EXPECT_DEATH(registry.histogram("shared", "h", {{"a", "1"}}), "check failed");
  EXPECT_DEATH(registry.counter("shared", "h", {{"b", "1"}}), "check failed");
  EXPECT_DEATH(registry.counter("shared", "h"), "check failed");
  EXPECT_DEATH(registry.histogram("hist", "h", {}, {1, 3}), "check failed");
  EXPECT_DEATH(registry.histogram("unsorted", "h", {}, {2, 1}), "check failed");
  EXPECT_DEATH(registry.histogram("repeated", "h", {}, {1, 1}), "check failed");
  EXPECT_DEATH(registry.histogram("infinite", "h", {},
                                  {1, std::numeric_limits<double>::infinity()}),
               "check failed");
}

}  // namespace
}  // namespace gust::observe
