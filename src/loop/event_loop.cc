#include "loop/event_loop.h"

#include <pthread.h>

#include <cstdio>
#include <exception>

namespace gust::loop {

EventLoop::EventLoop(std::string name)
    : name_(std::move(name)), guard_(asio::make_work_guard(context_)) {}

EventLoop::~EventLoop() { stop(); }

void EventLoop::start() {
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), name_.substr(0, 15).c_str());
    for (;;) {
      try {
        context_.run();
        return;
      } catch (const std::exception& e) {
        // A handler let an exception escape: a bug, but one request must not stop the loop.
        std::fprintf(stderr, "gust: BUG: exception escaped on loop %s: %s\n", name_.c_str(),
                     e.what());
      }
    }
  });
}

void EventLoop::stop() {
  guard_.reset();
  context_.stop();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

}  // namespace gust::loop
