// How many activation records per second the SQLite store commits, with 1 KiB of logs each:
// enqueue a burst, wait for the writer to commit it (group commit), repeat.
#include <benchmark/benchmark.h>

#include <filesystem>

#include "common/ids.h"
#include "store/sqlite/sqlite_store.h"

namespace {

void BM_RecordActivations(benchmark::State& state) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("gust-store-bench-" + gust::randomHex(6));
  fs::create_directories(dir);
  {
    auto store = gust::store::openSqliteStore({(dir / "gust.db").string()});
    if (!store) {
      state.SkipWithError(store.status().message().c_str());
      return;
    }
    gust::store::ActivationRecord record;
    record.tenant = "default";
    record.function = "bench";
    record.version = 1;
    record.status = "success";
    record.trigger = "http";
    record.billed_ms = 3;
    record.memory_mb = 128;
    record.logs = std::string(1024, 'x');
    const int64_t burst = state.range(0);
    for (auto _ : state) {
      for (int64_t i = 0; i < burst; ++i) {
        record.id = gust::newActivationId();
        (*store)->recordActivation(record);
      }
      (*store)->flushActivations();
    }
    state.SetItemsProcessed(state.iterations() * burst);
  }
  fs::remove_all(dir);
}
BENCHMARK(BM_RecordActivations)->Arg(1)->Arg(64)->Arg(1024)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
