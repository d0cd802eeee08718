#pragma once
// Completion<T>: a one-shot value one coroutine waits for and another part of the same loop
// provides (a reply frame, a handed-over instance). Waiting takes a deadline; single-threaded:
// both sides must run on the loop that owns it.

#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <optional>

namespace gust::loop {

template <typename T>
class Completion final {
 public:
  explicit Completion(boost::asio::any_io_executor executor) : timer_(std::move(executor)) {}

  bool done() const { return value_.has_value(); }

  // The first call wins; later calls are ignored (a late reply after a timeout, say).
  void complete(T value) {
    if (value_) return;
    value_ = std::move(value);
    timer_.cancel();
  }

  // The value, or nullopt when the deadline passes first.
  boost::asio::awaitable<std::optional<T>> wait(std::chrono::steady_clock::time_point deadline) {
    if (!value_) {
      timer_.expires_at(deadline);
      boost::system::error_code ec;
      co_await timer_.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
    }
    co_return std::move(value_);
  }

 private:
  boost::asio::steady_timer timer_;
  std::optional<T> value_;
};

}  // namespace gust::loop
