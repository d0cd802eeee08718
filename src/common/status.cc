#include "common/status.h"

namespace gust {

const char* Status::codeName() const {
  switch (code_) {
    case Code::Ok:
      return "ok";
    case Code::InvalidArgument:
      return "invalid_argument";
    case Code::Unauthenticated:
      return "unauthenticated";
    case Code::PermissionDenied:
      return "permission_denied";
    case Code::NotFound:
      return "not_found";
    case Code::Conflict:
      return "conflict";
    case Code::InitFailed:
      return "init_failed";
    case Code::TooLarge:
      return "too_large";
    case Code::RateLimited:
      return "rate_limited";
    case Code::FunctionError:
      return "function_error";
    case Code::Unavailable:
      return "unavailable";
    case Code::DeadlineExceeded:
      return "timeout";
    case Code::InsufficientStorage:
      return "insufficient_storage";
    case Code::Internal:
      return "internal";
  }
  return "internal";
}

}  // namespace gust
