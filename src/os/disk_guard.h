#pragma once
// A DiskGuard refuses new work (invokes, async enqueues, deploys) while the disk that holds the
// data dir has too little free space, so the store never meets a full disk mid-write; work
// already running completes. It admits work again by itself once free space has come back past
// the threshold plus a margin (hysteresis, so that it does not flap at the edge).
//
// Owned by the server, which calls sample() about once a second from one thread; admit() and
// the readers may be called from any thread (atomics).

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "common/status.h"

namespace gust::os {

class DiskGuard final {
 public:
  // Free bytes of the disk under watch (available to unprivileged users, as statvfs says).
  using FreeBytes = std::function<Result<uint64_t>()>;
  static FreeBytes freeBytesOf(std::string path);

  // Refuses below `min_free_bytes` (0: never); admits again at `min_free_bytes + resume_margin`.
  DiskGuard(FreeBytes free_bytes, uint64_t min_free_bytes, uint64_t resume_margin);

  struct Sample {
    uint64_t free_bytes = 0;
    bool refusing = false;
    bool changed = false;  // this sample turned refusing on or off
  };
  // Measures once and updates the state; an error (the disk could not be measured) keeps it.
  Result<Sample> sample();

  // Ok, or InsufficientStorage with a message for callers (no host path: those go to the log).
  Status admit() const;
  bool refusing() const { return refusing_.load(std::memory_order_relaxed); }
  uint64_t freeBytes() const { return free_bytes_.load(std::memory_order_relaxed); }
  uint64_t minFreeBytes() const { return min_free_bytes_; }

 private:
  FreeBytes measure_;
  const uint64_t min_free_bytes_;
  const uint64_t resume_free_bytes_;
  std::atomic<bool> refusing_{false};
  std::atomic<uint64_t> free_bytes_{0};
};

// What callers that may hold no guard (tests, tools) call: Ok without one.
inline Status admitNewWork(const DiskGuard* guard) { return guard ? guard->admit() : Status::ok(); }

// The status every refusal of new work for lack of disk answers with: the same words whether the
// guard saw it coming or a write met the full disk. Names no path on the host.
Status insufficientStorage();

}  // namespace gust::os
