#include "events/kafka/kafka_config.h"

#include <gtest/gtest.h>

namespace gust::events::kafka {
namespace {

using nlohmann::json;

TEST(KafkaConfig, DefaultsAndRoundTrip) {
  auto c = kafkaConfigFromJson({{"topic", "orders"}, {"brokers", "127.0.0.1:9092"}});
  ASSERT_TRUE(c.isOk()) << c.status().message();
  EXPECT_EQ(c->batch, 100);
  EXPECT_EQ(c->window_ms, 500);
  EXPECT_EQ(c->start, "latest");
  EXPECT_EQ(c->max_retries, 2);
  auto again = kafkaConfigFromJson(toJson(*c));
  ASSERT_TRUE(again.isOk());
  EXPECT_EQ(again->topic, "orders");
}

TEST(KafkaConfig, WindowTakesUnits) {
  EXPECT_EQ(*parseWindow("500ms"), 500);
  EXPECT_EQ(*parseWindow("2s"), 2000);
  EXPECT_EQ(*parseWindow("1m"), 60000);
  EXPECT_EQ(*parseWindow(250), 250);
  EXPECT_FALSE(parseWindow("2h").isOk());
  EXPECT_FALSE(parseWindow("soon").isOk());
}

TEST(KafkaConfig, BadSettingsSayWhatIsWrong) {
  auto message = [](const json& j) {
    auto c = kafkaConfigFromJson(j);
    EXPECT_FALSE(c.isOk()) << j.dump();
    return c.isOk() ? std::string() : c.status().message();
  };
  json base = {{"topic", "orders"}, {"brokers", "127.0.0.1:9092"}};
  EXPECT_NE(message({{"brokers", "b:1"}}).find("topic"), std::string::npos);
  EXPECT_NE(message({{"topic", "a/b"}, {"brokers", "b:1"}}).find("topic"), std::string::npos);
  EXPECT_NE(message({{"topic", "t"}}).find("brokers"), std::string::npos);
  json batch = base;
  batch["batch"] = 0;
  EXPECT_NE(message(batch).find("batch"), std::string::npos);
  json start = base;
  start["start"] = "middle";
  EXPECT_NE(message(start).find("earliest or latest"), std::string::npos);
  json window = base;
  window["window"] = "2m";
  EXPECT_NE(message(window).find("60 s"), std::string::npos);
  json retries = base;
  retries["max_retries"] = -1;
  EXPECT_NE(message(retries).find("max_retries"), std::string::npos);
}

TEST(KafkaEvent, IsLambdaShapedWithBase64KeysAndValues) {
  KafkaRecord r;
  r.topic = "orders";
  r.partition = 3;
  r.offset = 42;
  r.timestamp_ms = 1700000000000;
  r.timestamp_type = "CREATE_TIME";
  r.has_key = true;
  r.key = "k";
  r.value = "hello";
  r.headers = {{"h", "ab"}};
  json event = json::parse(kafkaEvent("trg_1", "127.0.0.1:9092", {r}));
  EXPECT_EQ(event["eventSource"], "gust:kafka");
  EXPECT_EQ(event["bootstrapServers"], "127.0.0.1:9092");
  const json& record = event["records"]["orders-3"][0];
  EXPECT_EQ(record["offset"], 42);
  EXPECT_EQ(record["value"], "aGVsbG8=");
  EXPECT_EQ(record["key"], "aw==");
  EXPECT_EQ(record["headers"], json::parse(R"([{"h": [97, 98]}])"));
}

TEST(BatchItemFailures, TakesNumbersAndStringsInOrder) {
  EXPECT_EQ(batchItemFailures(R"({"batchItemFailures": [{"itemIdentifier": "17"}, {"itemIdentifier": 9}]})"),
            (std::vector<int64_t>{9, 17}));
  EXPECT_EQ(batchItemFailures(R"({"batchItemFailures": [{"itemIdentifier": "orders-0@5"}]})"),
            (std::vector<int64_t>{5}));
  EXPECT_TRUE(batchItemFailures(R"({"ok": true})").empty());
  EXPECT_TRUE(batchItemFailures("not json").empty());
  EXPECT_TRUE(batchItemFailures(R"({"batchItemFailures": []})").empty());
}

}  // namespace
}  // namespace gust::events::kafka
