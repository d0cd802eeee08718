#pragma once
// An HTTP/1.1 server on Boost.Beast: one acceptor deals connections to the event loops (one
// per core) in turn, and each loop serves its connections for their whole life. It knows
// nothing of functions: every parsed request goes to one handler.

#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "loop/event_loop.h"

namespace gust::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
using Request = beast::http::request<beast::http::string_body>;
using Response = beast::http::response<beast::http::string_body>;
using Field = beast::http::field;
using Verb = beast::http::verb;

// One request and the means to answer it. Lives for one request on one loop.
class Exchange {
 public:
  Exchange(asio::ip::tcp::socket& socket, Request&& request, std::string peer_address)
      : socket_(socket), request_(std::move(request)), peer_address_(std::move(peer_address)) {}

  Request& request() { return request_; }
  const std::string& peerAddress() const { return peer_address_; }
  asio::any_io_executor executor() { return socket_.get_executor(); }
  bool responded() const { return responded_; }
  bool keepAlive() const { return keep_alive_; }

  asio::awaitable<void> respond(Response response);
  // Streaming: a head with `Transfer-Encoding: chunked`, chunks, then the last chunk.
  asio::awaitable<Status> startChunked(Response head);
  asio::awaitable<Status> writeChunk(std::string_view data);
  asio::awaitable<Status> finishChunked();

 private:
  asio::ip::tcp::socket& socket_;
  Request request_;
  std::string peer_address_;
  bool responded_ = false;
  bool keep_alive_ = true;
};

using Handler = std::function<asio::awaitable<void>(Exchange&)>;

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;
  // The largest body accepted for a request target; larger bodies get 413 before they are read.
  std::function<uint64_t(std::string_view target)> body_limit = [](std::string_view) {
    return uint64_t{6} << 20;
  };
};

class Server final {
 public:
  // The loops are borrowed and must outlive the server.
  Server(ServerOptions options, std::vector<loop::EventLoop*> loops, Handler handler);
  ~Server();

  // Binds one acceptor per loop and starts accepting. Fails if the address is taken.
  Status start();
  // Stops accepting; open connections finish their current request.
  void stop();
  uint16_t port() const { return bound_port_; }

 private:
  struct Listener;
  ServerOptions options_;
  std::vector<loop::EventLoop*> loops_;
  Handler handler_;
  std::vector<std::shared_ptr<Listener>> listeners_;
  uint16_t bound_port_ = 0;
};

// A JSON error body in the shape every Gust error has: {"error": {"code", "message"}}.
Response errorResponse(beast::http::status status, std::string_view code, std::string_view message);

}  // namespace gust::http
