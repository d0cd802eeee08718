#pragma once
// RecordTicket settles, between a caller waiting for its activation record to be committed and
// the store's writer, which record is written: the activation as it ran, or — when the caller
// stopped waiting first and answered an error instead of the result — the record of that
// answer. Either way the record says what the caller saw (docs/api.md, "Records").
//
// Only records the journal could not take wait for the writer; a journaled record is durable
// at once and needs no ticket.
//
// Thread contract: withhold() on the caller's thread, take() and release() on the writer's.

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

#include "store/store.h"

namespace gust::store {

// What a caller was answered instead of the activation's result.
struct WithheldAnswer {
  std::string status;  // the activation's status, e.g. "withheld"
  int http_status = 0;
  std::string error;
  int64_t bytes_out = 0;
};

// The activation as its caller saw it: `answer`'s status and error, and nothing billed (the
// caller did not get what ran). Duration, CPU and peak memory stay what was measured.
void applyAnswer(ActivationRecord& record, const WithheldAnswer& answer);

class RecordTicket {
 public:
  // The caller gives up waiting and answers `answer` instead of the result. True: no write had
  // started, so the record will say `answer`. False: a write of the activation as it ran is
  // under way — wait for its commit (or for it to fail, then try again).
  bool withhold(WithheldAnswer answer);

  // The writer, before each attempt: the caller's answer when it withheld the result, else
  // nullptr (write the activation as it ran; withhold() fails until release()).
  const WithheldAnswer* take();
  // The writer, after an attempt that did not commit: the caller may withhold again.
  void release();

 private:
  enum class State { Waiting, Writing, Withheld };
  std::mutex mutex_;
  State state_ = State::Waiting;
  std::optional<WithheldAnswer> answer_;
};

}  // namespace gust::store
