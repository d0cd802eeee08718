#include "events/destinations.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace gust::events {
namespace {

Completion completion(std::string state, std::string dead_reason = "") {
  Completion c;
  c.record.id = "act1";
  c.record.tenant = "default";
  c.record.function = "work";
  c.record.attempts = state == "succeeded" ? 1 : 3;
  c.record.state = std::move(state);
  c.record.dead_reason = std::move(dead_reason);
  c.record.last_error = c.record.state == "dead" ? "boom" : "";
  c.payload = R"({"n":7})";
  c.result = R"({"ok":true})";
  c.status = c.record.state == "succeeded" ? "success" : "error";
  return c;
}

TEST(DestinationRecord, SuccessCarriesTheEventAndTheResult) {
  auto j = nlohmann::json::parse(destinationRecord(completion("succeeded"), 1700000000000000));
  EXPECT_EQ(j["version"], "1.0");
  EXPECT_EQ(j["timestamp"].get<std::string>().substr(0, 4), "2023");
  EXPECT_EQ(j["requestContext"]["requestId"], "act1");
  EXPECT_EQ(j["requestContext"]["function"], "work");
  EXPECT_EQ(j["requestContext"]["condition"], "Success");
  EXPECT_EQ(j["requestContext"]["approximateInvokeCount"], 1);
  EXPECT_EQ(j["requestPayload"]["n"], 7);
  EXPECT_EQ(j["responseContext"]["statusCode"], 200);
  EXPECT_FALSE(j["responseContext"].contains("functionError"));
  EXPECT_EQ(j["responsePayload"]["ok"], true);
}

TEST(DestinationRecord, FailureCarriesTheConditionAndTheError) {
  auto j = nlohmann::json::parse(destinationRecord(completion("dead", "retries_exhausted"), 0));
  EXPECT_EQ(j["requestContext"]["condition"], "RetriesExhausted");
  EXPECT_EQ(j["requestContext"]["approximateInvokeCount"], 3);
  EXPECT_EQ(j["responseContext"]["functionError"], "error");
  EXPECT_EQ(j["responsePayload"]["errorMessage"], "boom");
  auto old = nlohmann::json::parse(destinationRecord(completion("dead", "max_event_age"), 0));
  EXPECT_EQ(old["requestContext"]["condition"], "EventAgeExceeded");
}

TEST(DestinationRecord, ANonJsonResultIsAString) {
  Completion c = completion("succeeded");
  c.result = "plain";
  auto j = nlohmann::json::parse(destinationRecord(c, 0));
  EXPECT_EQ(j["responsePayload"], "plain");
}

}  // namespace
}  // namespace gust::events
