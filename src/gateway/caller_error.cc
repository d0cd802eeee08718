#include "gateway/caller_error.h"

#include <string>

#include <fmt/format.h>

namespace gust::gateway {
namespace {

// " (activation <id>)", the caller's handle on the record; "" before there is one.
std::string activation(std::string_view id) {
  return id.empty() ? std::string() : fmt::format(" (activation {})", id);
}

}  // namespace

Status callerError(const Status& status, std::string_view state, std::string_view activation_id) {
  if (status.isOk()) return status;
  if (status.code() == Code::Internal) {
    return internalError("internal error" + activation(activation_id));
  }
  if (state == "init_error") {
    return Status(status.code(),
                  "the function failed to initialize; its owner can see why in its logs" +
                      activation(activation_id));
  }
  if (state == "error") {
    return Status(status.code(), "the function raised an error; its owner can see it in its logs" +
                                     activation(activation_id));
  }
  // Gust's own words about the function's output or fate (an exit code, out of memory, the
  // response limit, an invalid statusCode, the timeout, no capacity): nothing of the operator's.
  if (state == "crashed" || state == "bad_response" || state == "timeout" || state == "throttled") {
    return status;
  }
  if (status.code() == Code::FunctionError) {
    // Resolving the version failed for the function's own reason (a secret it names is gone).
    return Status(status.code(),
                  "the function cannot run as configured; its owner can see why in the "
                  "server log" +
                      activation(activation_id));
  }
  return status;  // 4xx and 503: what the caller asked for, or when to try again
}

}  // namespace gust::gateway
