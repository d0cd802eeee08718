#include "store/record_ticket.h"

#include <gtest/gtest.h>

namespace gust::store {
namespace {

WithheldAnswer answer() { return {"withheld", 500, "not recorded in time", 42}; }

TEST(RecordTicket, ACallerWhoStopsWaitingFirstIsWhatTheRecordSays) {
  RecordTicket ticket;
  ASSERT_TRUE(ticket.withhold(answer()));
  const WithheldAnswer* taken = ticket.take();
  ASSERT_NE(taken, nullptr);
  ActivationRecord record;
  record.status = "success";
  record.http_status = 200;
  record.billed_ms = 120;
  record.cpu_user_us = 9000;
  applyAnswer(record, *taken);
  EXPECT_EQ(record.status, "withheld");
  EXPECT_EQ(record.http_status, 500);
  EXPECT_EQ(record.error, "not recorded in time");
  EXPECT_EQ(record.bytes_out, 42);
  EXPECT_EQ(record.billed_ms, 0);       // the caller did not get what ran
  EXPECT_EQ(record.cpu_user_us, 9000);  // but it did run: measurements stay
  ticket.release();
  EXPECT_NE(ticket.take(), nullptr);  // withheld for good, on every later attempt
}

TEST(RecordTicket, AWriteUnderWayCannotBeWithheldUntilItFails) {
  RecordTicket ticket;
  EXPECT_EQ(ticket.take(), nullptr);  // the writer starts writing the activation as it ran
  EXPECT_FALSE(ticket.withhold(answer()));
  ticket.release();  // that attempt did not commit
  EXPECT_TRUE(ticket.withhold(answer()));
  EXPECT_NE(ticket.take(), nullptr);
}

}  // namespace
}  // namespace gust::store
