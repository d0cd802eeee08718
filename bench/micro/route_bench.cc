// How fast the gateway's route table matches a request as the number of routes grows (10 to
// 10,000): a literal route, a parameter route and a miss, with routes shaped like a real API's
// ("/svcN/users/{id}/orders", "/svcN/files/{proxy+}").
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "gateway/route_table.h"

namespace {

using gust::gateway::RouteTable;

std::unique_ptr<RouteTable> makeTable(int services) {
  std::vector<RouteTable::Entry> entries;
  for (int i = 0; i < services; ++i) {
    std::string base = "/svc" + std::to_string(i);
    for (const char* route : {"GET {}/users", "GET {}/users/{id}/orders", "ANY {}/files/{proxy+}",
                              "POST {}/users/{id}", "GET {}/health"}) {
      std::string key(route);
      key.replace(key.find("{}"), 2, base);
      entries.push_back({"", *gust::gateway::parseRouteKey(key), ""});
    }
  }
  return std::make_unique<RouteTable>(entries);
}

void BM_MatchParameterRoute(benchmark::State& state) {
  auto table = makeTable(static_cast<int>(state.range(0)) / 5);
  std::string path = "/svc" + std::to_string(state.range(0) / 10) + "/users/42/orders";
  for (auto _ : state) benchmark::DoNotOptimize(table->match("api.example.com", "GET", path));
  state.counters["routes"] = static_cast<double>(table->size());
}

void BM_MatchGreedyRoute(benchmark::State& state) {
  auto table = makeTable(static_cast<int>(state.range(0)) / 5);
  std::string path = "/svc" + std::to_string(state.range(0) / 10) + "/files/a/b/c.txt";
  for (auto _ : state) benchmark::DoNotOptimize(table->match("", "GET", path));
}

void BM_MissWith405(benchmark::State& state) {
  auto table = makeTable(static_cast<int>(state.range(0)) / 5);
  std::string path = "/svc" + std::to_string(state.range(0) / 10) + "/health";
  for (auto _ : state) benchmark::DoNotOptimize(table->match("", "DELETE", path));
}

}  // namespace

BENCHMARK(BM_MatchParameterRoute)->Arg(10)->Arg(1000)->Arg(10000);
BENCHMARK(BM_MatchGreedyRoute)->Arg(10)->Arg(10000);
BENCHMARK(BM_MissWith405)->Arg(10)->Arg(10000);
BENCHMARK_MAIN();
