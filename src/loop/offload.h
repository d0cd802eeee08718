#pragma once
// offload(): runs a blocking function on a worker pool and resumes the calling coroutine on its
// own loop with the result. How I/O loops call SQLite, pip and friends without blocking.

#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <type_traits>

namespace gust::loop {

template <typename Executor, typename Fn>
auto offload(Executor executor, Fn fn) -> boost::asio::awaitable<std::invoke_result_t<Fn>> {
  using T = std::invoke_result_t<Fn>;
  co_return co_await boost::asio::co_spawn(
      executor, [fn = std::move(fn)]() mutable -> boost::asio::awaitable<T> { co_return fn(); },
      boost::asio::use_awaitable);
}

}  // namespace gust::loop
