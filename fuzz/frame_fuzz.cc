// The worker frame decoder reads bytes written by hostile function code.
#include <cstddef>
#include <cstdint>

#include "protocol/frame.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  gust::protocol::FrameDecoder decoder;
  // Feed in two uneven pieces to exercise reassembly as well as parsing.
  size_t split = size / 3;
  decoder.feed(std::string_view(reinterpret_cast<const char*>(data), split));
  for (int round = 0; round < 2; ++round) {
    for (;;) {
      auto frame = decoder.next();
      if (!frame.isOk() || !frame->has_value()) break;
      (void)(*frame)->type();
      (void)(*frame)->field("id");
    }
    if (round == 0) decoder.feed(std::string_view(reinterpret_cast<const char*>(data) + split, size - split));
  }
  return 0;
}
