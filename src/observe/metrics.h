#pragma once
// Prometheus metrics: counters, gauges and histograms kept in a Registry that renders them in
// the text exposition format (version 0.0.4) for GET /metrics.

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace gust::observe {

// Label name -> value. The registry sorts a series' labels by name, so the order callers give
// them in does not matter: {a,b} and {b,a} are the same series.
using Labels = std::vector<std::pair<std::string, std::string>>;

// Upper bounds in seconds, 0.5 ms .. 60 s: from a warm call's dispatch to a slow cold start.
std::vector<double> defaultLatencyBuckets();

// A value that only goes up. Any thread; inc() is one relaxed atomic add.
class Counter final {
 public:
  // Negative and NaN increments are ignored: a counter that went down would read as a restart.
  void inc(double by = 1);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  friend class Registry;
  void reset() { value_.store(0, std::memory_order_relaxed); }

  std::atomic<double> value_{0};
};

// A value that goes up and down. Any thread; lock-free.
class Gauge final {
 public:
  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  void add(double by) { value_.fetch_add(by, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  friend class Registry;
  void reset() { set(0); }

  std::atomic<double> value_{0};
};

// Counts observations into buckets by upper bound and keeps their sum. Any thread; observe() is
// two relaxed atomic adds.
class Histogram final {
 public:
  // `upper_bounds` is finite and strictly increasing; the +Inf bucket is implicit.
  explicit Histogram(std::vector<double> upper_bounds);

  // NaN is ignored: it would turn _sum into NaN for the life of the process.
  void observe(double v);

  struct Snapshot {
    std::vector<uint64_t> cumulative;  // one per upper bound, then +Inf
    uint64_t count = 0;                // == cumulative.back()
    double sum = 0;
  };
  // Bucket counts are read one by one, so a snapshot taken during observe() calls may miss some
  // of them, but it is always cumulative and its count always equals its +Inf bucket.
  Snapshot snapshot() const;

 private:
  friend class Registry;
  void reset();

  const std::vector<double> upper_bounds_;
  // Per bucket, not cumulative: one add per observation. The last one is +Inf.
  const std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  std::atomic<double> sum_{0};
};

// Every metric of one server, by name and labels. Constructed by the server and lent to the
// parts that record; nothing is global, so two servers in one process keep separate counts.
//
// Thread contract: any thread. Looking a series up takes a mutex, so a hot path looks its series
// up once and keeps the reference; recording on it is lock-free. References stay valid for the
// registry's lifetime, clear() included.
//
// Programming errors abort (GUST_CHECK): invalid metric or label names, one name used with two
// types, label names differing between the series of one name, a histogram's buckets changing.
class Registry final {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // `help` is taken from the first lookup of a name; later lookups only find the series.
  Counter& counter(std::string_view name, std::string_view help, const Labels& labels = {});
  Gauge& gauge(std::string_view name, std::string_view help, const Labels& labels = {});
  Histogram& histogram(std::string_view name, std::string_view help, const Labels& labels = {},
                       std::vector<double> buckets = defaultLatencyBuckets());

  // Removes every series of `name` from the exposition, for gauges refreshed from a snapshot at
  // scrape time (a function that is gone must not leave its last value behind). The series are
  // reset and hidden rather than freed, so references held elsewhere never dangle; looking one
  // up again shows it again, starting from zero.
  void clear(std::string_view name);

  // The text exposition format 0.0.4, families sorted by name and series by labels.
  std::string exposition() const;

 private:
  enum class Type { Counter, Gauge, Histogram };
  using Metric =
      std::variant<std::unique_ptr<Counter>, std::unique_ptr<Gauge>, std::unique_ptr<Histogram>>;
  struct Series {
    Metric metric;
    bool visible = true;  // false after clear() until the next lookup
  };
  struct Family {
    Type type;
    std::string help;
    std::vector<std::string> label_names;  // sorted; the same for every series
    std::vector<double> buckets;           // histograms only
    std::map<Labels, Series> series;       // node-based: series never move
  };

  Series& lookup(std::string_view name, std::string_view help, Type type, const Labels& labels,
                 std::vector<double> buckets);

  mutable std::mutex mutex_;
  std::map<std::string, Family, std::less<>> families_;  // GUARDED_BY(mutex_)
};

}  // namespace gust::observe
