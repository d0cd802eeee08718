// DESIGN: recording is lock-free, looking up and rendering take one mutex.
// (1) A series is created once, by name and sorted labels, and never freed before the registry:
//     it lives behind a unique_ptr in a std::map node, so a caller may keep the reference and
//     record without any lookup. clear() hides and zeroes series instead of erasing them, which
//     keeps that promise; a hidden series costs a few bytes and comes back on its next lookup.
// (2) Values are relaxed atomics: metrics need each value to be eventually right, not ordered
//     against other memory. A histogram keeps per-bucket (not cumulative) counts so an
//     observation is one add, and derives cumulative buckets and _count when rendered, so the
//     +Inf bucket always equals _count even while observations race the scrape.
// (3) Everything about a family that must agree between its series (type, label names, buckets)
//     is fixed by its first lookup and checked on every later one: disagreeing is a bug in the
//     caller, and would otherwise render a family Prometheus rejects.

#include "observe/metrics.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "common/check.h"

namespace gust::observe {
namespace {

bool isMetricName(std::string_view name) {
  if (name.empty()) return false;
  auto first = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
  };
  auto rest = [&](char c) { return first(c) || (c >= '0' && c <= '9'); };
  return first(name[0]) && std::all_of(name.begin() + 1, name.end(), rest);
}

// Names starting with "__" are reserved for Prometheus' own use.
bool isLabelName(std::string_view name) {
  if (name.empty() || name.starts_with("__")) return false;
  auto first = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  auto rest = [&](char c) { return first(c) || (c >= '0' && c <= '9'); };
  return first(name[0]) && std::all_of(name.begin() + 1, name.end(), rest);
}

// Go's strconv.ParseFloat reads all of these; integers are spelled out so that counts read as
// counts ("3", not "3e+00") for a human looking at /metrics.
std::string formatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  // Below 2^53 every integral double is an exact int64, so the cast loses nothing.
  constexpr double kExactIntegers = 9007199254740992.0;
  if (v == std::trunc(v) && std::fabs(v) < kExactIntegers) {
    return fmt::format("{}", static_cast<int64_t>(v));
  }
  return fmt::format("{}", v);  // the shortest text that reads back as the same double
}

void appendEscaped(std::string& out, std::string_view text, bool escape_quote) {
  for (char c : text) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '"':
        out += escape_quote ? "\\\"" : "\"";
        break;
      default: out += c;
    }
  }
}

// `name{a="x",b="y",le="0.5"} value\n`; `le` is a histogram bucket's bound, "" for none.
void appendSample(std::string& out, std::string_view name, const Labels& labels,
                  std::string_view le, double value) {
  out += name;
  if (!labels.empty() || !le.empty()) {
    out += '{';
    bool first = true;
    auto label = [&](std::string_view label_name, std::string_view label_value) {
      if (!first) out += ',';
      first = false;
      out += label_name;
      out += "=\"";
      appendEscaped(out, label_value, /*escape_quote=*/true);
      out += '"';
    };
    for (const auto& [label_name, label_value] : labels) label(label_name, label_value);
    if (!le.empty()) label("le", le);
    out += '}';
  }
  out += ' ';
  out += formatValue(value);
  out += '\n';
}

}  // namespace

std::vector<double> defaultLatencyBuckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
          0.25,   0.5,   1,      2.5,   5,     10,   30,    60};
}

void Counter::inc(double by) {
  if (!(by >= 0)) return;  // also false for NaN
  value_.fetch_add(by, std::memory_order_relaxed);
}

Histogram::Histogram(std::vector<double> upper_bounds)
    : upper_bounds_(std::move(upper_bounds)),
      counts_(std::make_unique<std::atomic<uint64_t>[]>(upper_bounds_.size() + 1)) {
  for (std::size_t i = 0; i < upper_bounds_.size(); ++i) {
    GUST_CHECK(std::isfinite(upper_bounds_[i]));
    GUST_CHECK(i == 0 || upper_bounds_[i - 1] < upper_bounds_[i]);
  }
}

void Histogram::observe(double v) {
  if (std::isnan(v)) return;
  // Buckets are "less or equal": an observation exactly on a bound counts in that bucket.
  auto bucket = std::lower_bound(upper_bounds_.begin(), upper_bounds_.end(), v) -
                upper_bounds_.begin();
  counts_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot snapshot;
  snapshot.cumulative.reserve(upper_bounds_.size() + 1);
  for (std::size_t i = 0; i <= upper_bounds_.size(); ++i) {
    snapshot.count += counts_[i].load(std::memory_order_relaxed);
    snapshot.cumulative.push_back(snapshot.count);
  }
  snapshot.sum = sum_.load(std::memory_order_relaxed);
  return snapshot;
}

void Histogram::reset() {
  for (std::size_t i = 0; i <= upper_bounds_.size(); ++i) {
    counts_[i].store(0, std::memory_order_relaxed);
  }
  sum_.store(0, std::memory_order_relaxed);
}

Registry::Registry() = default;
Registry::~Registry() = default;

Counter& Registry::counter(std::string_view name, std::string_view help, const Labels& labels) {
  return *std::get<std::unique_ptr<Counter>>(lookup(name, help, Type::Counter, labels, {}).metric);
}

Gauge& Registry::gauge(std::string_view name, std::string_view help, const Labels& labels) {
  return *std::get<std::unique_ptr<Gauge>>(lookup(name, help, Type::Gauge, labels, {}).metric);
}

Histogram& Registry::histogram(std::string_view name, std::string_view help, const Labels& labels,
                               std::vector<double> buckets) {
  return *std::get<std::unique_ptr<Histogram>>(
      lookup(name, help, Type::Histogram, labels, std::move(buckets)).metric);
}

Registry::Series& Registry::lookup(std::string_view name, std::string_view help, Type type,
                                   const Labels& labels, std::vector<double> buckets) {
  GUST_CHECK(isMetricName(name));
  Labels sorted = labels;
  std::sort(sorted.begin(), sorted.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string> label_names;
  label_names.reserve(sorted.size());
  for (const auto& [label_name, value] : sorted) {
    GUST_CHECK(isLabelName(label_name));
    // A histogram's own "le" label would collide with the bucket bound.
    GUST_CHECK(type != Type::Histogram || label_name != "le");
    GUST_CHECK(label_names.empty() || label_names.back() != label_name);
    label_names.push_back(label_name);
  }

  std::lock_guard lock(mutex_);
  auto found = families_.find(name);
  if (found == families_.end()) {
    found = families_
                .emplace(std::string(name), Family{type, std::string(help), std::move(label_names),
                                                   std::move(buckets), {}})
                .first;
  } else {
    GUST_CHECK(found->second.type == type);
    GUST_CHECK(found->second.label_names == label_names);
    GUST_CHECK(type != Type::Histogram || found->second.buckets == buckets);
  }
  Family& family = found->second;

  auto [it, inserted] = family.series.try_emplace(std::move(sorted));
  Series& series = it->second;
  if (inserted) {
    switch (type) {
      case Type::Counter: series.metric = std::make_unique<Counter>(); break;
      case Type::Gauge: series.metric = std::make_unique<Gauge>(); break;
      case Type::Histogram: series.metric = std::make_unique<Histogram>(family.buckets); break;
    }
  }
  series.visible = true;
  return series;
}

void Registry::clear(std::string_view name) {
  std::lock_guard lock(mutex_);
  auto found = families_.find(name);
  if (found == families_.end()) return;
  for (auto& [labels, series] : found->second.series) {
    series.visible = false;
    std::visit([](auto& metric) { metric->reset(); }, series.metric);
  }
}

std::string Registry::exposition() const {
  std::string out;
  std::lock_guard lock(mutex_);
  for (const auto& [name, family] : families_) {
    bool any_visible = std::any_of(family.series.begin(), family.series.end(),
                                   [](const auto& entry) { return entry.second.visible; });
    if (!any_visible) continue;  // a family with no samples is noise to a reader
    out += "# HELP ";
    out += name;
    out += ' ';
    appendEscaped(out, family.help, /*escape_quote=*/false);
    out += '\n';
    std::string_view type_name = family.type == Type::Counter ? "counter"
                                 : family.type == Type::Gauge   ? "gauge"
                                                                : "histogram";
    out += fmt::format("# TYPE {} {}\n", name, type_name);

    for (const auto& [labels, series] : family.series) {
      if (!series.visible) continue;
      switch (family.type) {
        case Type::Counter:
          appendSample(out, name, labels, "",
                       std::get<std::unique_ptr<Counter>>(series.metric)->value());
          break;
        case Type::Gauge:
          appendSample(out, name, labels, "",
                       std::get<std::unique_ptr<Gauge>>(series.metric)->value());
          break;
        case Type::Histogram: {
          Histogram::Snapshot snapshot =
              std::get<std::unique_ptr<Histogram>>(series.metric)->snapshot();
          std::string bucket_name = name + "_bucket";
          for (std::size_t i = 0; i < snapshot.cumulative.size(); ++i) {
            std::string le =
                i < family.buckets.size() ? formatValue(family.buckets[i]) : std::string("+Inf");
            appendSample(out, bucket_name, labels, le,
                         static_cast<double>(snapshot.cumulative[i]));
          }
          appendSample(out, name + "_sum", labels, "", snapshot.sum);
          appendSample(out, name + "_count", labels, "", static_cast<double>(snapshot.count));
          break;
        }
      }
    }
  }
  return out;
}

}  // namespace gust::observe
