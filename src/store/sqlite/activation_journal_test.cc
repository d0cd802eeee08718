#include "store/sqlite/activation_journal.h"

#include <filesystem>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "common/ids.h"

namespace gust::store {
namespace {

class ActivationJournalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("gust-journal-" + randomHex(6));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  ActivationJournal open() {
    auto journal = ActivationJournal::open(path());
    EXPECT_TRUE(journal.isOk()) << journal.status().message();
    return std::move(journal).value();
  }
  std::string path() const { return (dir_ / "gust.db-activations").string(); }
  uintmax_t diskBytes() const {
    return std::filesystem::file_size(path()) + std::filesystem::file_size(path() + "-2");
  }

  std::filesystem::path dir_;
};

// A record's line: its number, padded to about a kilobyte (a record with some logs).
std::string line(uint64_t seq) { return std::to_string(seq) + ' ' + std::string(1000, 'x') + '\n'; }

// The numbers of the records whose lines `content` holds.
std::set<uint64_t> seqsIn(const std::string& content) {
  std::set<uint64_t> seqs;
  for (std::size_t start = 0; start < content.size();) {
    std::size_t end = content.find('\n', start);
    seqs.insert(std::stoull(content.substr(start, content.find(' ', start) - start)));
    start = end + 1;
  }
  return seqs;
}

TEST_F(ActivationJournalTest, WhatIsWrittenIsReadBackAfterAReopen) {
  {
    ActivationJournal journal = open();
    for (uint64_t seq = 1; seq <= 3; ++seq) ASSERT_TRUE(journal.append(line(seq), seq));
  }
  ActivationJournal journal = open();
  EXPECT_EQ(seqsIn(journal.content()), (std::set<uint64_t>{1, 2, 3}));
  ASSERT_TRUE(journal.clear());
  EXPECT_EQ(open().content(), "");
}

// The writer always a little behind, as under sustained load: the journal never has a moment
// with everything applied, yet stays within its two preallocated files, and what is not yet
// applied is always there to replay.
TEST_F(ActivationJournalTest, UnderSustainedLoadItStaysBoundedAndKeepsWhatIsUnapplied) {
  ActivationJournal journal = open();
  constexpr uint64_t kLag = 500;
  constexpr uint64_t kRecords = 100'000;  // ~100 MB of lines
  for (uint64_t seq = 1; seq <= kRecords; ++seq) {
    ASSERT_TRUE(journal.append(line(seq), seq));
    if (seq > kLag) journal.applied(seq - kLag);
  }
  EXPECT_LE(diskBytes(), 2u * kJournalPreallocatedBytes);
  std::set<uint64_t> kept = seqsIn(journal.content());
  for (uint64_t seq = kRecords - kLag; seq <= kRecords; ++seq) {
    ASSERT_TRUE(kept.count(seq)) << "record " << seq << " is not applied and not in the journal";
  }
  EXPECT_LT(kept.size(), 2 * (kJournalRestartBytes / 1000) + kLag);  // the rest was dropped
}

// A writer that applies nothing (SQLite stuck): nothing is overwritten, the journal grows.
TEST_F(ActivationJournalTest, LinesNotAppliedAreNeverOverwritten) {
  ActivationJournal journal = open();
  constexpr uint64_t kRecords = 3 * kJournalRestartBytes / 1000;
  for (uint64_t seq = 1; seq <= kRecords; ++seq) ASSERT_TRUE(journal.append(line(seq), seq));
  EXPECT_EQ(seqsIn(journal.content()).size(), kRecords);
  // Applied at last, it starts again once more is written.
  journal.applied(kRecords);
  ASSERT_TRUE(journal.append(line(kRecords + 1), kRecords + 1));
  EXPECT_EQ(seqsIn(journal.content()), (std::set<uint64_t>{kRecords + 1}));
}

// Everything applied at a quiet moment: what a replay would read is dropped, though the writer
// never caught up while the journal was filling.
TEST_F(ActivationJournalTest, AppliedLinesOfALongFileAreDropped) {
  ActivationJournal journal = open();
  constexpr uint64_t kRecords = kJournalRestartBytes / 1000 + 10;  // one file full, then a few
  for (uint64_t seq = 1; seq <= kRecords; ++seq) ASSERT_TRUE(journal.append(line(seq), seq));
  journal.applied(kRecords);
  EXPECT_LT(journal.content().size(), 64u << 10);  // a few lines past the switch, not 4 MiB
}

}  // namespace
}  // namespace gust::store
