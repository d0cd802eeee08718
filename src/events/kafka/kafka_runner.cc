// DESIGN: one thread per consumer, because librdkafka's consumer is a blocking poll loop. A
// round: poll until some partition has `batch` records or the oldest pending record waited
// `window`; then invoke one batch per partition that has records, all at once, and wait for
// them. Per partition: success commits offset last+1 (synchronously: a committed offset is on
// the broker before the next batch); a failure or batchItemFailures commits up to the first
// failed record and seeks back to it, so that record and everything after it come again, in
// order. Each record's failures are counted; past max_retries it is produced to the DLQ topic
// (flushed before the commit that passes it) or, without one, logged and dropped. After a seek,
// records still buffered from before it are ignored until the sought offset arrives. A batch
// whose invocation failed as a whole past max_retries is not blamed on its first record: its
// records go again one at a time, so only the one that fails becomes poison. Nothing
// but the broker holds offsets, so a restarted server (or a kill -9) resumes from the last
// commit: records after it come again (duplicates), none is skipped.

#include "events/kafka/kafka_runner.h"

#include <chrono>
#include <future>
#include <set>

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>

#include "common/ids.h"
#include "events/kafka/kafka_config.h"
#include "observe/log.h"
#include "protocol/json_input.h"

namespace gust::events::kafka {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

void logKafka(observe::LogLevel level, std::string_view event, const json& fields) {
  observe::logEvent(level, event, fields);
}

}  // namespace

class KafkaConsumer final {
 public:
  KafkaConsumer(store::TriggerRecord trigger, KafkaConfig config, InvokeFn& invoke)
      : trigger_(std::move(trigger)), config_(std::move(config)), invoke_(invoke) {
    if (config_.group.empty()) config_.group = "gust-" + trigger_.id;
    thread_ = std::thread([this] { run(); });
  }
  ~KafkaConsumer() {
    stopping_ = true;
    thread_.join();
  }
  const std::string& configJson() const { return trigger_.config_json; }
  std::vector<PartitionLag> lag() {
    std::lock_guard lock(lag_mutex_);
    return lag_;
  }

 private:
  struct Pending {
    std::vector<KafkaRecord> records;
    Clock::time_point first_at;
  };

  bool setup(std::string& error) {
    char errstr[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    auto set = [&](const std::string& key, const std::string& value) {
      if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), errstr, sizeof errstr) !=
          RD_KAFKA_CONF_OK) {
        error = fmt::format("{}: {}", key, errstr);
        return false;
      }
      return true;
    };
    bool ok = set("bootstrap.servers", config_.brokers) && set("group.id", config_.group) &&
              set("enable.auto.commit", "false") && set("enable.auto.offset.store", "false") &&
              set("auto.offset.reset", config_.start) && set("client.id", "gust-" + trigger_.id);
    for (const auto& [key, value] : config_.properties) ok = ok && set(key, value);
    if (!ok) {
      rd_kafka_conf_destroy(conf);
      return false;
    }
    rd_kafka_conf_t* producer_conf = rd_kafka_conf_dup(conf);
    consumer_ = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!consumer_) {
      error = errstr;
      rd_kafka_conf_destroy(producer_conf);
      return false;
    }
    rd_kafka_poll_set_consumer(consumer_);
    if (!config_.dlq_topic.empty()) {
      // The consumer-only settings are ignored (with a warning) by a producer.
      rd_kafka_conf_set(producer_conf, "enable.idempotence", "true", errstr, sizeof errstr);
      producer_ = rd_kafka_new(RD_KAFKA_PRODUCER, producer_conf, errstr, sizeof errstr);
      if (!producer_) {
        error = errstr;
        return false;
      }
    } else {
      rd_kafka_conf_destroy(producer_conf);
    }
    rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, config_.topic.c_str(), RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(consumer_, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (err) {
      error = rd_kafka_err2str(err);
      return false;
    }
    return true;
  }

  void run() {
    std::string error;
    if (!setup(error)) {
      logKafka(observe::LogLevel::Error, "kafka.setup_failed",
               {{"trigger", trigger_.id}, {"error", error}});
    } else {
      logKafka(observe::LogLevel::Info, "kafka.consuming",
               {{"trigger", trigger_.id},
                {"topic", config_.topic},
                {"group", config_.group},
                {"function", trigger_.function}});
      loop();
    }
    if (consumer_) {
      rd_kafka_consumer_close(consumer_);
      rd_kafka_destroy(consumer_);
    }
    if (producer_) {
      rd_kafka_flush(producer_, 5000);
      rd_kafka_destroy(producer_);
    }
  }

  void loop() {
    std::map<int32_t, Pending> pending;
    auto last_lag = Clock::now() - std::chrono::seconds(10);
    while (!stopping_) {
      rd_kafka_message_t* message = rd_kafka_consumer_poll(consumer_, 50);
      if (message) {
        accept(message, pending);
        rd_kafka_message_destroy(message);
      }
      auto now = Clock::now();
      bool due = false;
      for (const auto& [partition, p] : pending) {
        if (static_cast<int64_t>(p.records.size()) >= config_.batch ||
            now - p.first_at >= std::chrono::milliseconds(config_.window_ms)) {
          due = true;
        }
      }
      if (due && !stopping_) {
        std::map<int32_t, Pending> round;
        round.swap(pending);
        process(round);
      }
      if (Clock::now() - last_lag > std::chrono::seconds(1)) {
        measureLag();
        last_lag = Clock::now();
      }
    }
  }

  void accept(rd_kafka_message_t* m, std::map<int32_t, Pending>& pending) {
    if (m->err) {
      if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        logKafka(observe::LogLevel::Warn, "kafka.consume_error",
                 {{"trigger", trigger_.id}, {"error", rd_kafka_message_errstr(m)}});
      }
      return;
    }
    int32_t partition = m->partition;
    if (auto it = awaiting_.find(partition); it != awaiting_.end()) {
      // Buffered before a seek: it comes again. TODO(correctness): a compacted or
      // transactional topic may have no record at the sought offset; accept the first record
      // at or after it once the fetch queue is known to be purged.
      if (m->offset != it->second) return;
      awaiting_.erase(it);
    }
    Pending& p = pending[partition];
    if (!p.records.empty() && m->offset <= p.records.back().offset) return;
    if (p.records.empty()) p.first_at = Clock::now();
    KafkaRecord r;
    r.topic = config_.topic;
    r.partition = partition;
    r.offset = m->offset;
    rd_kafka_timestamp_type_t type;
    r.timestamp_ms = rd_kafka_message_timestamp(m, &type);
    r.timestamp_type = type == RD_KAFKA_TIMESTAMP_CREATE_TIME       ? "CREATE_TIME"
                       : type == RD_KAFKA_TIMESTAMP_LOG_APPEND_TIME ? "LOG_APPEND_TIME"
                                                                    : "NO_TIMESTAMP_TYPE";
    if (m->key) {
      r.has_key = true;
      r.key.assign(static_cast<const char*>(m->key), m->key_len);
    }
    if (m->payload) r.value.assign(static_cast<const char*>(m->payload), m->len);
    rd_kafka_headers_t* headers = nullptr;
    if (rd_kafka_message_headers(m, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR && headers) {
      const char* name = nullptr;
      const void* value = nullptr;
      size_t size = 0;
      for (size_t i = 0;
           rd_kafka_header_get_all(headers, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
           ++i) {
        r.headers.emplace_back(name,
                               value ? std::string(static_cast<const char*>(value), size) : "");
      }
    }
    p.records.push_back(std::move(r));
  }

  struct Outcome {
    bool throttled = false;
    bool whole_batch = false;             // the invocation failed, not named records
    std::optional<int64_t> first_failed;  // nullopt: the whole batch succeeded
    std::string error;
  };

  void process(std::map<int32_t, Pending>& round) {
    // One invocation per partition, all at once; then each partition's outcome in turn.
    std::map<int32_t, std::future<gateway::DirectResult>> running;
    std::set<int32_t> trimmed;
    for (auto& [partition, p] : round) {
      // Isolating a failing batch: its records go one at a time, the rest come again.
      if (auto it = isolate_until_.find(partition); it != isolate_until_.end()) {
        if (p.records.front().offset > it->second) {
          isolate_until_.erase(it);
        } else if (p.records.size() > 1) {
          p.records.resize(1);
          trimmed.insert(partition);
        }
      }
      gateway::DirectInvocation invocation;
      invocation.tenant = trigger_.tenant;
      invocation.function = trigger_.function;
      invocation.payload = kafkaEvent(trigger_.id, config_.brokers, p.records);
      invocation.trigger = "kafka";
      running[partition] = std::async(std::launch::async, invoke_, std::move(invocation));
    }
    for (auto& [partition, p] : round) {
      gateway::DirectResult result = running[partition].get();
      Outcome outcome;
      if (result.state == "throttled") {
        outcome.throttled = true;
        outcome.first_failed = p.records.front().offset;
      } else if (!result.status.isOk()) {
        outcome.first_failed = p.records.front().offset;
        outcome.whole_batch = true;
        outcome.error = result.status.message();
      } else {
        auto failed = batchItemFailures(result.result);
        for (int64_t offset : failed) {
          if (offset >= p.records.front().offset && offset <= p.records.back().offset) {
            outcome.first_failed = offset;
            outcome.error = "the handler reported it in batchItemFailures";
            break;
          }
        }
      }
      settle(partition, p.records, outcome, result.activation_id);
      if (!outcome.first_failed && trimmed.count(partition))
        seek(partition, p.records.back().offset + 1);
    }
  }

  void settle(int32_t partition, const std::vector<KafkaRecord>& records, const Outcome& outcome,
              const std::string& activation_id) {
    if (!outcome.first_failed) {
      commit(partition, records.back().offset + 1);
      return;
    }
    int64_t failed = *outcome.first_failed;
    if (failed > records.front().offset) commit(partition, failed);
    if (outcome.throttled) {
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      seek(partition, failed);
      return;
    }
    int64_t& failures = failures_[{partition, failed}];
    ++failures;
    if (failures <= config_.max_retries) {
      logKafka(observe::LogLevel::Info, "kafka.retry",
               {{"trigger", trigger_.id},
                {"partition", partition},
                {"offset", failed},
                {"failures", failures},
                {"activation", activation_id},
                {"error", outcome.error}});
      // Backoff: 100 ms, 200 ms, 400 ms, ... at most 5 s, before the record comes again.
      std::this_thread::sleep_for(std::chrono::milliseconds(
          std::min<int64_t>(5000, 100LL << std::min<int64_t>(failures - 1, 6))));
      seek(partition, failed);
      return;
    }
    if (outcome.whole_batch && records.size() > 1) {
      // The invocation failed for the whole batch: which record is to blame is unknown, so
      // the batch's records go again one at a time and only the one that fails is poison.
      isolate_until_[partition] = records.back().offset;
      failures_.erase({partition, failed});
      logKafka(observe::LogLevel::Warn, "kafka.isolating",
               {{"trigger", trigger_.id},
                {"partition", partition},
                {"from", failed},
                {"to", records.back().offset},
                {"error", outcome.error}});
      seek(partition, failed);
      return;
    }
    const KafkaRecord* poison = nullptr;
    for (const auto& r : records) {
      if (r.offset == failed) poison = &r;
    }
    if (poison) deadLetter(*poison, failures, outcome.error, activation_id);
    failures_.erase({partition, failed});
    commit(partition, failed + 1);
    seek(partition, failed + 1);
  }

  void deadLetter(const KafkaRecord& r, int64_t failures, const std::string& error,
                  const std::string& activation_id) {
    json fields = {{"trigger", trigger_.id}, {"partition", r.partition},
                   {"offset", r.offset},     {"failures", failures},
                   {"error", error},         {"dlq", config_.dlq_topic}};
    if (!producer_) {
      logKafka(observe::LogLevel::Error, "kafka.record_dropped", fields);
      return;
    }
    rd_kafka_headers_t* headers = rd_kafka_headers_new(8 + r.headers.size());
    for (const auto& [name, value] : r.headers) {
      rd_kafka_header_add(headers, name.c_str(), -1, value.data(),
                          static_cast<ssize_t>(value.size()));
    }
    auto add = [&](const char* name, const std::string& value) {
      rd_kafka_header_add(headers, name, -1, value.data(), static_cast<ssize_t>(value.size()));
    };
    add("gust-error", error);
    add("gust-failures", std::to_string(failures));
    add("gust-source-topic", r.topic);
    add("gust-source-partition", std::to_string(r.partition));
    add("gust-source-offset", std::to_string(r.offset));
    add("gust-trigger", trigger_.id);
    add("gust-function", trigger_.function);
    add("gust-activation", activation_id);
    rd_kafka_resp_err_t err = rd_kafka_producev(
        producer_, RD_KAFKA_V_TOPIC(config_.dlq_topic.c_str()),
        RD_KAFKA_V_KEY(const_cast<char*>(r.key.data()), r.has_key ? r.key.size() : 0),
        RD_KAFKA_V_VALUE(const_cast<char*>(r.value.data()), r.value.size()),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_END);
    if (err) {
      rd_kafka_headers_destroy(headers);
      fields["produce_error"] = rd_kafka_err2str(err);
      logKafka(observe::LogLevel::Error, "kafka.dlq_failed", fields);
      return;
    }
    // On the DLQ topic before the commit that passes the record.
    rd_kafka_flush(producer_, 10000);
    logKafka(observe::LogLevel::Warn, "kafka.dead_letter", fields);
  }

  void commit(int32_t partition, int64_t next_offset) {
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, config_.topic.c_str(), partition)->offset = next_offset;
    rd_kafka_resp_err_t err = rd_kafka_commit(consumer_, list, 0);
    rd_kafka_topic_partition_list_destroy(list);
    if (err) {
      logKafka(
          observe::LogLevel::Warn, "kafka.commit_failed",
          {{"trigger", trigger_.id}, {"partition", partition}, {"error", rd_kafka_err2str(err)}});
    }
  }

  void seek(int32_t partition, int64_t offset) {
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, config_.topic.c_str(), partition)->offset = offset;
    rd_kafka_error_t* error = rd_kafka_seek_partitions(consumer_, list, 5000);
    rd_kafka_topic_partition_list_destroy(list);
    if (error) {
      logKafka(observe::LogLevel::Warn, "kafka.seek_failed",
               {{"trigger", trigger_.id},
                {"partition", partition},
                {"error", rd_kafka_error_string(error)}});
      rd_kafka_error_destroy(error);
    }
    awaiting_[partition] = offset;
  }

  void measureLag() {
    rd_kafka_topic_partition_list_t* assigned = nullptr;
    if (rd_kafka_assignment(consumer_, &assigned) != RD_KAFKA_RESP_ERR_NO_ERROR || !assigned)
      return;
    std::vector<PartitionLag> lags;
    if (rd_kafka_committed(consumer_, assigned, 2000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      for (int i = 0; i < assigned->cnt; ++i) {
        PartitionLag lag;
        lag.partition = assigned->elems[i].partition;
        lag.committed = assigned->elems[i].offset >= 0 ? assigned->elems[i].offset : -1;
        int64_t low = 0, high = 0;
        if (rd_kafka_query_watermark_offsets(consumer_, config_.topic.c_str(), lag.partition, &low,
                                             &high, 2000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
          lag.high_watermark = high;
          lag.lag = std::max<int64_t>(0, high - (lag.committed >= 0 ? lag.committed : low));
        }
        lags.push_back(lag);
      }
    }
    rd_kafka_topic_partition_list_destroy(assigned);
    std::sort(lags.begin(), lags.end(), [](const PartitionLag& a, const PartitionLag& b) {
      return a.partition < b.partition;
    });
    std::lock_guard lock(lag_mutex_);
    lag_ = std::move(lags);
  }

  store::TriggerRecord trigger_;
  KafkaConfig config_;
  InvokeFn& invoke_;
  rd_kafka_t* consumer_ = nullptr;
  rd_kafka_t* producer_ = nullptr;
  std::map<int32_t, int64_t> awaiting_;       // partition -> the offset sought
  std::map<int32_t, int64_t> isolate_until_;  // partition -> last offset to send one at a time
  std::map<std::pair<int32_t, int64_t>, int64_t> failures_;  // (partition, offset) -> failures
  std::mutex lag_mutex_;
  std::vector<PartitionLag> lag_;  // GUARDED_BY(lag_mutex_)
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

KafkaRunner::KafkaRunner(store::Store& store, InvokeFn invoke)
    : store_(store), invoke_(std::move(invoke)) {}

KafkaRunner::~KafkaRunner() { stop(); }

void KafkaRunner::start() {
  thread_ = std::thread([this] { run(); });
}

void KafkaRunner::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::map<std::string, std::unique_ptr<KafkaConsumer>> consumers;
  {
    std::lock_guard lock(mutex_);
    consumers.swap(consumers_);
  }
  consumers.clear();  // joins each consumer: its batch in flight ends first
}

std::optional<std::vector<PartitionLag>> KafkaRunner::lag(const std::string& trigger_id) {
  std::lock_guard lock(mutex_);
  auto it = consumers_.find(trigger_id);
  if (it == consumers_.end()) return std::nullopt;
  return it->second->lag();
}

void KafkaRunner::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    reconcile();
    lock.lock();
    wake_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_; });
  }
}

void KafkaRunner::reconcile() {
  auto triggers = store_.listTriggers(std::nullopt);
  if (!triggers) return;
  std::map<std::string, const store::TriggerRecord*> wanted;
  for (const auto& t : *triggers) {
    if (t.kind == "kafka" && !t.paused) wanted[t.id] = &t;
  }
  std::vector<std::unique_ptr<KafkaConsumer>> retired;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    for (auto it = consumers_.begin(); it != consumers_.end();) {
      if (!wanted.count(it->first)) {
        retired.push_back(std::move(it->second));
        it = consumers_.erase(it);
      } else {
        ++it;
      }
    }
    for (const auto& [id, trigger] : wanted) {
      if (consumers_.count(id)) continue;
      auto config = kafkaConfigFromJson(protocol::parseJsonOrDiscarded(trigger->config_json));
      if (!config) continue;
      consumers_[id] = std::make_unique<KafkaConsumer>(*trigger, *config, invoke_);
    }
  }
  retired.clear();  // outside the lock: joining waits for a batch in flight
}

}  // namespace gust::events::kafka
