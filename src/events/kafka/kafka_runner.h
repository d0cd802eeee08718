#pragma once
// KafkaRunner: runs the Kafka triggers the store holds. Once a second it reads the triggers and
// keeps one consumer per active Kafka trigger (starting new and resumed ones, stopping removed
// and paused ones). Each consumer has its own thread with a librdkafka consumer in the
// trigger's group: it batches records per partition (up to `batch` records or `window`), invokes
// the function once per partition batch — through the given `invoke` (the Invoker, so the
// scheduler), partitions in parallel, one batch in flight per partition — and commits a
// partition's offsets only after its batch succeeded (at-least-once). A batch that fails (or
// whose handler names failed records in batchItemFailures) resumes from its first failed record;
// a record that fails more than max_retries times goes to the DLQ topic, with headers saying
// why, and consumption goes on.
// Owned by Events. start()/stop()/lag() may be called from any thread.

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gateway/invoker.h"
#include "store/store.h"

namespace gust::events::kafka {

struct PartitionLag {
  int32_t partition = 0;
  int64_t committed = -1;       // the group's next offset; -1 = none committed yet
  int64_t high_watermark = -1;  // the log's end
  int64_t lag = 0;
};

using InvokeFn = std::function<gateway::DirectResult(gateway::DirectInvocation)>;

class KafkaConsumer;

class KafkaRunner final {
 public:
  KafkaRunner(store::Store& store, InvokeFn invoke);
  ~KafkaRunner();

  void start();
  void stop();
  // The trigger's lag per partition as its consumer last measured it; nullopt when it has no
  // running consumer (paused, or not started yet).
  std::optional<std::vector<PartitionLag>> lag(const std::string& trigger_id);

 private:
  void run();
  void reconcile();

  store::Store& store_;
  InvokeFn invoke_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;  // GUARDED_BY(mutex_)
  std::map<std::string, std::unique_ptr<KafkaConsumer>> consumers_;  // GUARDED_BY(mutex_)
  std::thread thread_;
};

}  // namespace gust::events::kafka
