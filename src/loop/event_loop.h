#pragma once
// EventLoop: one io_context run by one named thread. Long-lived objects belong to exactly one
// loop; other threads reach them only by posting (or co_spawn-ing) onto it.

#include <utility>  // Boost 1.74's Asio needs std::exchange declared first.

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <string>
#include <thread>

namespace gust::loop {

namespace asio = boost::asio;

class EventLoop final {
 public:
  explicit EventLoop(std::string name);
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  asio::io_context& context() { return context_; }
  asio::io_context::executor_type executor() { return context_.get_executor(); }
  const std::string& name() const { return name_; }

  void start();
  // Lets queued work finish, then joins the thread. Idempotent.
  void stop();

 private:
  std::string name_;
  asio::io_context context_{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  std::thread thread_;
};

}  // namespace gust::loop
