#include "store/record_ticket.h"

namespace gust::store {

void applyAnswer(ActivationRecord& record, const WithheldAnswer& answer) {
  record.status = answer.status;
  record.http_status = answer.http_status;
  record.error = answer.error;
  record.bytes_out = answer.bytes_out;
  record.billed_ms = 0;
}

bool RecordTicket::withhold(WithheldAnswer answer) {
  std::lock_guard lock(mutex_);
  if (state_ == State::Writing) return false;
  if (state_ == State::Waiting) answer_ = std::move(answer);  // the first answer stands
  state_ = State::Withheld;
  return true;
}

const WithheldAnswer* RecordTicket::take() {
  std::lock_guard lock(mutex_);
  if (state_ == State::Withheld) return &*answer_;
  state_ = State::Writing;
  return nullptr;
}

void RecordTicket::release() {
  std::lock_guard lock(mutex_);
  if (state_ == State::Writing) state_ = State::Waiting;
}

}  // namespace gust::store
