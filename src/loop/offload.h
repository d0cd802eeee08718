#pragma once
// offload(): runs a function on another executor (a blocking pool, the scheduler loop) and
// resumes the calling coroutine on its own executor with the result. How I/O loops call SQLite
// and pip without blocking, and how they read scheduler state without sharing it.
//
// Built on async_initiate rather than a coroutine lambda: GCC 12 destroys the captures of
// coroutine lambdas handed to co_spawn twice.

#include <utility>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <type_traits>

namespace gust::loop {

// In a coroutine, pass a named lambda (not a temporary with owning captures): GCC 12 may destroy
// temporaries of a co_await full-expression twice.
template <typename Executor, typename F>
auto offload(const Executor& executor, F&& fn) {
  using Fn = std::decay_t<F>;
  using T = std::invoke_result_t<Fn&>;
  return boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&, void(T)>(
      [executor](auto handler, Fn work) mutable {
        boost::asio::post(executor, [handler = std::move(handler), work = std::move(work)]() mutable {
          T result = work();
          auto home = boost::asio::get_associated_executor(handler);
          boost::asio::post(home, [handler = std::move(handler), result = std::move(result)]() mutable {
            std::move(handler)(std::move(result));
          });
        });
      },
      boost::asio::use_awaitable, std::forward<F>(fn));
}

}  // namespace gust::loop
