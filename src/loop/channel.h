#pragma once
// Channel<T>: values produced on any thread, consumed by one coroutine on one loop (deploy
// progress lines flowing from a build thread to the HTTP response that streams them).

#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>

namespace gust::loop {

template <typename T>
class Channel final : public std::enable_shared_from_this<Channel<T>> {
 public:
  explicit Channel(boost::asio::any_io_executor consumer) : timer_(std::move(consumer)) {}

  // Any thread.
  void push(T value) {
    {
      std::lock_guard lock(mutex_);
      items_.push_back(std::move(value));
    }
    wake();
  }
  // Any thread. After close, receive() drains what is left and then returns nullopt.
  void close() {
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
    }
    wake();
  }

  // The consumer's loop only.
  boost::asio::awaitable<std::optional<T>> receive() {
    for (;;) {
      {
        std::lock_guard lock(mutex_);
        if (!items_.empty()) {
          T value = std::move(items_.front());
          items_.pop_front();
          co_return value;
        }
        if (closed_) co_return std::nullopt;
      }
      // No suspension between the check above and this wait, and wake() runs on this loop, so
      // a wake-up cannot slip in between and be lost.
      timer_.expires_at(boost::asio::steady_timer::time_point::max());
      boost::system::error_code ec;
      co_await timer_.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
    }
  }

 private:
  void wake() {
    boost::asio::post(timer_.get_executor(),
                      [self = this->shared_from_this()] { self->timer_.cancel(); });
  }

  boost::asio::steady_timer timer_;
  std::mutex mutex_;
  std::deque<T> items_;  // GUARDED_BY(mutex_)
  bool closed_ = false;  // GUARDED_BY(mutex_)
};

}  // namespace gust::loop
