#include "gateway/http_status.h"

#include "observe/log.h"
#include "os/disk_guard.h"

namespace gust::gateway {

http::beast::http::status httpStatusFor(Code code) {
  using S = http::beast::http::status;
  switch (code) {
    case Code::Ok:
      return S::ok;
    case Code::InvalidArgument:
      return S::bad_request;
    case Code::Unauthenticated:
      return S::unauthorized;
    case Code::PermissionDenied:
      return S::forbidden;
    case Code::NotFound:
      return S::not_found;
    case Code::Conflict:
      return S::conflict;
    case Code::InitFailed:
      return S::unprocessable_entity;
    case Code::TooLarge:
      return S::payload_too_large;
    case Code::RateLimited:
      return S::too_many_requests;
    case Code::FunctionError:
      return S::bad_gateway;
    case Code::Unavailable:
      return S::service_unavailable;
    case Code::DeadlineExceeded:
      return S::gateway_timeout;
    case Code::InsufficientStorage:
      return S::insufficient_storage;
    case Code::Internal:
      return S::internal_server_error;
  }
  return S::internal_server_error;
}

Status callerFacing(const Status& status) {
  if (status.code() != Code::InsufficientStorage) return status;
  // Whoever met the full disk, its detail (host paths) is the operator's: the log has it,
  // callers get the same words as the disk guard's refusal.
  Status refusal = os::insufficientStorage();
  if (status.message() != refusal.message()) {
    observe::logEvent(observe::LogLevel::Error, "storage.full", {{"error", status.message()}});
  }
  return refusal;
}

http::Response errorResponseFor(const Status& status) {
  Status shown = callerFacing(status);
  return http::errorResponse(httpStatusFor(shown.code()), shown.codeName(), shown.message());
}

}  // namespace gust::gateway
