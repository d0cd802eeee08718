#pragma once
// The activation journal: an activation is durable, and may be answered, once its line is in
// this journal (one pwrite(2), on the caller's thread), as a SQLite commit would make it
// (synchronous=NORMAL: safe when the server is killed; an fsync away from power-loss safe, like
// the WAL). The store's writer applies the lines to SQLite right after. A line that a crash left
// unapplied is applied when the store opens again (INSERT OR IGNORE: lines applied before the
// crash are not counted twice). Answering after the journal write instead of the SQLite commit
// takes the commit and the WAL checkpoints off the request's path.
//
// Two files, `<database>-activations` and `<database>-activations-2`, take turns. Lines go to
// the active one; once it is past kJournalRestartBytes and every line of the other is applied,
// the other is started again from its beginning and becomes the active one. So under any
// sustained load the journal holds no more than two files of kJournalRestartBytes plus what the
// writer has yet to apply (one file, restarted only when all of it was applied, grew with the
// load: it rarely was).
//
// Each file is preallocated with written zeros and overwritten in place, never truncated, so a
// request's write does not allocate blocks. Each line is followed by a NUL that the next line
// overwrites: a file's valid content is everything before its first NUL.
//
// Thread contract: not thread-safe; the store calls it under its queue mutex (and replay()
// before the writer starts).

#include <cstdint>
#include <string>

#include <sys/types.h>

#include "common/status.h"

namespace gust::store {

constexpr off_t kJournalRestartBytes = 4 << 20;  // a file written past this is switched from
constexpr off_t kJournalPreallocatedBytes = 8 << 20;

class ActivationJournal {
 public:
  // Opens (creating and preallocating) both files of the journal at `path`.
  static Result<ActivationJournal> open(const std::string& path);

  ActivationJournal(ActivationJournal&& other) noexcept;
  ActivationJournal& operator=(ActivationJournal&& other) noexcept;
  ActivationJournal(const ActivationJournal&) = delete;
  ActivationJournal& operator=(const ActivationJournal&) = delete;
  ~ActivationJournal();

  // The valid content of both files: the lines a crash may have left unapplied.
  std::string content() const;
  // Both files empty (what they held is applied); false and said on stderr if not.
  bool clear();
  // Stops journaling: later append()s return false (the store answers after its commits).
  void close();

  // Writes `line` (ending in '\n'), the record numbered `seq`, whole; false if it could not (a
  // failure is said on stderr once, and the end is marked again where it was).
  bool append(std::string line, uint64_t seq);
  // Every record up to `seq` is in SQLite: a file holding only those may start again.
  void applied(uint64_t seq);

  bool usable() const { return fds_[0] >= 0; }
  // The bytes of valid content in the active file (for tests).
  off_t activeBytes() const { return bytes_[active_]; }

 private:
  ActivationJournal(int first, int second) : fds_{first, second} {}
  bool restart(int file);  // marks `file` empty at its beginning

  int fds_[2] = {-1, -1};
  off_t bytes_[2] = {0, 0};        // where each file's valid content ends
  uint64_t last_seq_[2] = {0, 0};  // the last record written to each file
  uint64_t applied_seq_ = 0;
  int active_ = 0;
  bool failed_ = false;  // the last write failed (said once)
};

}  // namespace gust::store
