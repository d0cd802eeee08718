#include "events/kafka/kafka_config.h"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "gateway/codec.h"
#include "protocol/json_input.h"

namespace gust::events::kafka {
using nlohmann::json;

json toJson(const KafkaConfig& c) {
  return {{"topic", c.topic},   {"brokers", c.brokers},         {"group", c.group},
          {"batch", c.batch},   {"window_ms", c.window_ms},     {"start", c.start},
          {"dlq", c.dlq_topic}, {"max_retries", c.max_retries}, {"properties", c.properties}};
}

Result<int64_t> parseWindow(const json& value) {
  if (value.is_number_integer()) return value.get<int64_t>();
  if (!value.is_string()) return invalidArgument("window must be like 500ms, 2s or 1m");
  std::string text = value.get<std::string>();
  int64_t number = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  std::string unit(ptr, static_cast<std::size_t>(text.data() + text.size() - ptr));
  if (ec != std::errc() || ptr == text.data())
    return invalidArgument("window must be like 500ms, 2s or 1m");
  if (unit == "ms" || unit.empty()) return number;
  if (unit == "s") return number * 1000;
  if (unit == "m") return number * 60000;
  return invalidArgument(fmt::format("window '{}': the unit must be ms, s or m", text));
}

namespace {

bool validTopic(const std::string& topic) {
  return !topic.empty() && topic.size() <= 249 && topic != "." && topic != ".." &&
         std::all_of(topic.begin(), topic.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
         });
}

}  // namespace

Result<KafkaConfig> kafkaConfigFromJson(const json& j) {
  if (!j.is_object()) return invalidArgument("a kafka trigger's settings must be an object");
  KafkaConfig c;
  if (!j.contains("topic") || !j["topic"].is_string() ||
      !validTopic(j["topic"].get<std::string>())) {
    return invalidArgument("a kafka trigger needs \"topic\": 1-249 of [a-zA-Z0-9._-]");
  }
  c.topic = j["topic"].get<std::string>();
  if (!j.contains("brokers") || !j["brokers"].is_string() ||
      j["brokers"].get<std::string>().empty() ||
      j["brokers"].get<std::string>().find(':') == std::string::npos) {
    return invalidArgument("a kafka trigger needs \"brokers\": \"HOST:PORT[,HOST:PORT...]\"");
  }
  c.brokers = j["brokers"].get<std::string>();
  if (j.contains("group") && !j["group"].is_null()) {
    if (!j["group"].is_string()) return invalidArgument("group must be a string");
    c.group = j["group"].get<std::string>();
  }
  if (j.contains("batch") && !j["batch"].is_null()) {
    if (!j["batch"].is_number_integer() || j["batch"].get<int64_t>() < 1 ||
        j["batch"].get<int64_t>() > 10000) {
      return invalidArgument("batch must be an integer from 1 to 10000");
    }
    c.batch = j["batch"].get<int64_t>();
  }
  for (const char* key : {"window", "window_ms"}) {
    if (!j.contains(key) || j[key].is_null()) continue;
    auto window = parseWindow(j[key]);
    if (!window) return window.status();
    if (*window < 0 || *window > 60000) return invalidArgument("window must be from 0 ms to 60 s");
    c.window_ms = *window;
  }
  if (j.contains("start") && !j["start"].is_null()) {
    if (!j["start"].is_string() || (j["start"] != "earliest" && j["start"] != "latest")) {
      return invalidArgument("start must be earliest or latest");
    }
    c.start = j["start"].get<std::string>();
  }
  if (j.contains("dlq") && !j["dlq"].is_null()) {
    if (!j["dlq"].is_string() ||
        (!j["dlq"].get<std::string>().empty() && !validTopic(j["dlq"].get<std::string>()))) {
      return invalidArgument("dlq must be a topic name: 1-249 of [a-zA-Z0-9._-]");
    }
    c.dlq_topic = j["dlq"].get<std::string>();
  }
  if (j.contains("max_retries") && !j["max_retries"].is_null()) {
    if (!j["max_retries"].is_number_integer() || j["max_retries"].get<int64_t>() < 0 ||
        j["max_retries"].get<int64_t>() > 100) {
      return invalidArgument("max_retries must be an integer from 0 to 100");
    }
    c.max_retries = j["max_retries"].get<int64_t>();
  }
  if (j.contains("properties") && !j["properties"].is_null()) {
    if (!j["properties"].is_object())
      return invalidArgument("properties must be an object of strings");
    for (const auto& [key, value] : j["properties"].items()) {
      if (!value.is_string())
        return invalidArgument(fmt::format("property {} must be a string", key));
      c.properties[key] = value.get<std::string>();
    }
  }
  return c;
}

std::string kafkaEvent(const std::string& trigger_id, const std::string& brokers,
                       const std::vector<KafkaRecord>& records) {
  json grouped = json::object();
  for (const KafkaRecord& r : records) {
    json headers = json::array();
    for (const auto& [name, value] : r.headers) {
      json bytes = json::array();
      for (unsigned char c : value) bytes.push_back(static_cast<int>(c));
      headers.push_back({{name, bytes}});
    }
    json record = {{"topic", r.topic},
                   {"partition", r.partition},
                   {"offset", r.offset},
                   {"timestamp", r.timestamp_ms},
                   {"timestampType", r.timestamp_type},
                   {"key", r.has_key ? json(gateway::base64Encode(r.key)) : json(nullptr)},
                   {"value", gateway::base64Encode(r.value)},
                   {"headers", headers}};
    grouped[fmt::format("{}-{}", r.topic, r.partition)].push_back(record);
  }
  json event = {{"eventSource", "gust:kafka"},
                {"eventSourceArn", "gust:kafka:" + trigger_id},
                {"bootstrapServers", brokers},
                {"records", grouped}};
  return event.dump();
}

std::vector<int64_t> batchItemFailures(std::string_view result_json) {
  std::vector<int64_t> out;
  json result = protocol::parseJsonOrDiscarded(result_json);
  if (!result.is_object() || !result.contains("batchItemFailures") ||
      !result["batchItemFailures"].is_array()) {
    return out;
  }
  for (const auto& item : result["batchItemFailures"]) {
    if (!item.is_object() || !item.contains("itemIdentifier")) continue;
    const json& id = item["itemIdentifier"];
    if (id.is_number_integer()) {
      out.push_back(id.get<int64_t>());
    } else if (id.is_string()) {
      std::string text = id.get<std::string>();
      // "offset", or "topic-partition@offset"
      auto at = text.rfind('@');
      std::string digits = at == std::string::npos ? text : text.substr(at + 1);
      int64_t offset = 0;
      auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), offset);
      if (ec == std::errc() && ptr == digits.data() + digits.size()) out.push_back(offset);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace gust::events::kafka
