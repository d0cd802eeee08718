#pragma once
// Status and Result<T>: the one error model. Expected failures are values; the code says what
// kind of failure it is, and gateway/http_status.cc maps codes to HTTP statuses in one table.

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace gust {

enum class Code {
  Ok,
  InvalidArgument,      // the caller sent something wrong: 400
  Unauthenticated,      // 401
  PermissionDenied,     // 403
  NotFound,             // 404
  Conflict,             // 409
  InitFailed,           // deployed code that does not load (the deploy's check): 422
  TooLarge,             // 413
  RateLimited,          // 429
  FunctionError,        // the function crashed, threw or returned garbage: 502
  Unavailable,          // no capacity in time: 503
  DeadlineExceeded,     // the function timed out: 504
  InsufficientStorage,  // the data dir's disk is (nearly) full: 507, retry later
  Internal,             // our bug or the environment failed: 500
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() { return {}; }

  bool isOk() const { return code_ == Code::Ok; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // A short machine-readable name for the code, used in JSON errors ("not_found").
  const char* codeName() const;

 private:
  Code code_ = Code::Ok;
  std::string message_;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  // Asio's co_spawn needs default-constructible results; an unset Result is an internal error.
  Result() : value_(Status(Code::Internal, "unset result")) {}
  Result(T value) : value_(std::move(value)) {}         // NOLINT(google-explicit-constructor)
  Result(Status status) : value_(std::move(status)) {}  // NOLINT(google-explicit-constructor)

  bool isOk() const { return std::holds_alternative<T>(value_); }
  explicit operator bool() const { return isOk(); }
  const Status& status() const {
    static const Status kOk;
    return isOk() ? kOk : std::get<Status>(value_);
  }
  T& value() & { return std::get<T>(value_); }
  const T& value() const& { return std::get<T>(value_); }
  T&& value() && { return std::get<T>(std::move(value_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() { return value(); }

 private:
  std::variant<T, Status> value_;
};

inline Status invalidArgument(std::string message) {
  return {Code::InvalidArgument, std::move(message)};
}
inline Status notFound(std::string message) { return {Code::NotFound, std::move(message)}; }
inline Status internalError(std::string message) { return {Code::Internal, std::move(message)}; }

}  // namespace gust

#define GUST_RETURN_IF_ERROR(expr)                 \
  do {                                             \
    ::gust::Status gust_status_ = (expr);          \
    if (!gust_status_.isOk()) return gust_status_; \
  } while (0)
