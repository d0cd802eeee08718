#include "common/ids.h"

#include <sys/random.h>

#include <cerrno>
#include <vector>

#include "common/check.h"

namespace gust {

std::string randomHex(std::size_t bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::vector<unsigned char> raw(bytes);
  std::size_t filled = 0;
  while (filled < bytes) {
    ssize_t got = getrandom(raw.data() + filled, bytes - filled, 0);
    if (got < 0 && errno == EINTR) continue;
    GUST_CHECK(got > 0);  // getrandom cannot fail on Linux >= 3.17 once the pool is ready
    filled += static_cast<std::size_t>(got);
  }
  std::string hex(bytes * 2, '0');
  for (std::size_t i = 0; i < bytes; ++i) {
    hex[2 * i] = kDigits[raw[i] >> 4];
    hex[2 * i + 1] = kDigits[raw[i] & 0xf];
  }
  return hex;
}

}  // namespace gust
