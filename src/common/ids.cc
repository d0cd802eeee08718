#include "common/ids.h"

#include <pthread.h>
#include <sys/random.h>

#include <cerrno>

#include "common/check.h"

namespace gust {

namespace {

// Random bytes are taken from the kernel a block at a time: one getrandom(2) serves a few dozen
// ids instead of one each (the warm path asks for four per request). The block is per thread,
// and a forked child discards the one it inherited, so no two processes hand out the same bytes.
struct RandomBlock {
  unsigned char bytes[512];
  std::size_t used = sizeof bytes;
};
thread_local RandomBlock block;

void refill() {
  static const bool registered = [] {
    return ::pthread_atfork(nullptr, nullptr, [] { block.used = sizeof block.bytes; }) == 0;
  }();
  GUST_CHECK(registered);
  std::size_t filled = 0;
  while (filled < sizeof block.bytes) {
    ssize_t got = getrandom(block.bytes + filled, sizeof block.bytes - filled, 0);
    if (got < 0 && errno == EINTR) continue;
    GUST_CHECK(got > 0);  // getrandom cannot fail on Linux >= 3.17 once the pool is ready
    filled += static_cast<std::size_t>(got);
  }
  block.used = 0;
}

}  // namespace

std::string randomHex(std::size_t bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex(bytes * 2, '0');
  for (std::size_t i = 0; i < bytes; ++i) {
    if (block.used == sizeof block.bytes) refill();
    unsigned char byte = block.bytes[block.used];
    block.bytes[block.used++] = 0;  // handed out once: not kept where a later read could find it
    hex[2 * i] = kDigits[byte >> 4];
    hex[2 * i + 1] = kDigits[byte & 0xf];
  }
  return hex;
}

}  // namespace gust
