#pragma once
// A Kafka trigger's settings (TriggerRecord::config_json) and the event a batch becomes.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace gust::events::kafka {

struct KafkaConfig {
  std::string topic;
  std::string brokers;        // "host:port[,host:port]"
  std::string group;          // the consumer group; "" = "gust-<trigger id>"
  int64_t batch = 100;        // records per invocation, at most
  int64_t window_ms = 500;    // how long a batch may wait to fill
  std::string start = "latest";  // where a new group starts: earliest | latest
  std::string dlq_topic;      // where poison records go ("" = dropped, logged)
  int64_t max_retries = 2;    // retries of a failing record before it is poison
  std::map<std::string, std::string> properties;  // passed to librdkafka (SASL, TLS, ...)
};

nlohmann::json toJson(const KafkaConfig& config);
// Validates what a user sent (400s with the reason) or what the store holds.
Result<KafkaConfig> kafkaConfigFromJson(const nlohmann::json& json);

// "500ms", "2s", "1m" or a number of milliseconds -> milliseconds.
Result<int64_t> parseWindow(const nlohmann::json& value);

struct KafkaRecord {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  int64_t timestamp_ms = 0;
  std::string timestamp_type;  // CREATE_TIME | LOG_APPEND_TIME | NO_TIMESTAMP_TYPE
  std::string key;
  std::string value;
  bool has_key = false;
  std::vector<std::pair<std::string, std::string>> headers;
};

// Lambda's Kafka event: {"eventSource": "gust:kafka", "eventSourceArn", "bootstrapServers",
// "records": {"topic-partition": [{topic, partition, offset, timestamp, timestampType, key,
// value (base64), headers: [{name: [bytes]}]}]}}.
std::string kafkaEvent(const std::string& trigger_id, const std::string& brokers,
                       const std::vector<KafkaRecord>& records);

// The offsets a handler's result reports as failed ({"batchItemFailures": [{"itemIdentifier":
// offset}]}, the offset as a number or a string); empty when it reports none.
std::vector<int64_t> batchItemFailures(std::string_view result_json);

}  // namespace gust::events::kafka
