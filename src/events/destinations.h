#pragma once
// Destinations: where an asynchronous invocation's outcome goes once it is final (Lambda's
// OnSuccess / OnFailure destinations). The function's config names them (gust.toml `on_success`,
// `on_failure`: "function:NAME" or "kafka:TOPIC@HOST:PORT"). The record sent has Lambda's
// destination shape (destinationRecord()). To a function it is enqueued as a new durable
// asynchronous invocation of that function (retried like any other); to Kafka it is produced and
// its delivery awaited, a failed produce retried a bounded number of times, then logged.
// Owned by the AsyncQueue's owner; deliver() blocks (call it on the blocking pool).

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "gateway/catalog.h"
#include "store/store.h"

namespace gust::events {

// A final outcome: `record` is the invocation after its last attempt (state "succeeded" or
// "dead"), `payload` the original event (the record's payload is emptied on success).
struct Completion {
  store::AsyncInvocationRecord record;
  std::string payload;
  std::string result;  // the handler's JSON result (success)
  std::string status;  // the last activation's status: "success", "error", "timeout", ...
};

// Lambda's condition: "Success", "RetriesExhausted" or "EventAgeExceeded".
std::string destinationCondition(const store::AsyncInvocationRecord& record);
// The record a destination receives, JSON. Pure: unit-tested.
std::string destinationRecord(const Completion& completion, int64_t now_us);

struct DestinationOptions {
  int kafka_attempts = 3;                          // produces tried before giving up
  std::chrono::milliseconds kafka_timeout{10000};  // per produce, until delivered
  std::chrono::milliseconds kafka_backoff{1000};   // between produces, doubling
};

class Destinations final {
 public:
  // `wake` tells the queue a new invocation is due (a function destination was enqueued).
  Destinations(store::Store& store, gateway::Catalog& catalog, std::function<void()> wake,
               DestinationOptions options = {});

  // Sends the completion to the destination its function's version names for that outcome, if
  // any. Blocks; never throws; failures are logged (the invocation's own outcome stands).
  void deliver(const Completion& completion);

 private:
  store::Store& store_;
  gateway::Catalog& catalog_;
  std::function<void()> wake_;
  DestinationOptions options_;
};

}  // namespace gust::events
