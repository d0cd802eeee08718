// A handler's return value is chosen by function code: mapping it must never crash or emit a
// header that splits the response.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "gateway/http_event.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto mapped = gust::gateway::mapHandlerResult(
      std::string_view(reinterpret_cast<const char*>(data), size));
  if (mapped.isOk()) {
    for (const auto& [name, value] : mapped->headers) {
      if (name.find_first_of("\r\n") != std::string::npos ||
          value.find_first_of("\r\n") != std::string::npos) {
        std::abort();
      }
    }
    if (mapped->status < 100 || mapped->status > 599) std::abort();
  }
  return 0;
}
