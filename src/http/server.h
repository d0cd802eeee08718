#pragma once
// An HTTP/1.1 server on Boost.Beast: one acceptor deals connections to the event loops (one
// per core) in turn, and each loop serves its connections for their whole life. It knows
// nothing of functions: every parsed request goes to one handler.

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "common/status.h"
#include "loop/event_loop.h"

namespace gust::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
using Request = beast::http::request<beast::http::string_body>;
using Response = beast::http::response<beast::http::string_body>;
using Field = beast::http::field;
using Verb = beast::http::verb;
using RequestHead = beast::http::request_header<>;

// One request and the means to answer it. Lives for one request on one loop.
class Exchange {
 public:
  // While *closing is true (the server drains) responses say `Connection: close`.
  Exchange(asio::ip::tcp::socket& socket, Request&& request, std::string peer_address,
           const std::atomic<bool>* closing = nullptr)
      : socket_(socket),
        request_(std::move(request)),
        peer_address_(std::move(peer_address)),
        closing_(closing),
        request_bytes_(static_cast<int64_t>(request_.body().size())) {}

  Request& request() { return request_; }
  // The request body's size as it arrived (a handler may free the body once it has used it).
  int64_t requestBytes() const { return request_bytes_; }
  const std::string& peerAddress() const { return peer_address_; }
  asio::any_io_executor executor() { return socket_.get_executor(); }
  bool responded() const { return responded_; }
  bool keepAlive() const { return keep_alive_; }
  // The server drains: a long stream (a live tail) should end so the drain need not wait for it.
  bool draining() const { return closing_ != nullptr && closing_->load(); }

  // Headers added to whatever response goes out (the gateway's CORS and RateLimit headers).
  void addResponseHeader(std::string name, std::string value) {
    extra_headers_.emplace_back(std::move(name), std::move(value));
  }
  // What went out, for the access log: status, body bytes (streamed ones included) and the
  // value the response had for the header named with noteResponseHeader().
  int responseStatus() const { return response_status_; }
  int64_t responseBytes() const { return response_bytes_; }
  void noteResponseHeader(std::string name) { noted_header_ = std::move(name); }
  const std::string& notedHeaderValue() const { return noted_value_; }

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
  const std::atomic<bool>* closing_;
  int64_t request_bytes_;
  std::vector<std::pair<std::string, std::string>> extra_headers_;
  int response_status_ = 0;
  int64_t response_bytes_ = 0;
  std::string noted_header_;
  std::string noted_value_;

  void decorate(beast::http::fields& fields, unsigned status);
};

using Handler = std::function<asio::awaitable<void>(Exchange&)>;

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;
  // The largest body accepted for a request; larger bodies get 413 before they are read (and
  // are then drained, see linger_bytes, never buffered).
  std::function<uint64_t(const RequestHead& head)> body_limit = [](const RequestHead&) {
    return uint64_t{6} << 20;
  };
  // A request head larger than this, or with more fields, gets 431.
  std::size_t max_header_bytes = 32 * 1024;
  std::size_t max_header_fields = 100;
  // A request head must arrive whole within this (from the connection's start or the end of the
  // previous response): a client trickling bytes (slowloris) is cut off. A body must arrive
  // within body_timeout.
  std::chrono::milliseconds header_timeout{10000};
  std::chrono::milliseconds body_timeout{60000};
  // After a refusal (413, 431, 400, 501: always `Connection: close`) the server reads and
  // discards what the client still sends, up to this many bytes and this long, before it
  // closes: closing with the request still arriving resets the connection, and a client that
  // writes its whole body before reading would see the reset instead of the status.
  uint64_t linger_bytes = uint64_t{64} << 20;
  std::chrono::milliseconds linger_timeout{5000};
  // Connections beyond this are closed at accept, so a flood cannot exhaust descriptors.
  std::size_t max_connections = 10000;
};

class Server final {
 public:
  // The loops are borrowed and must outlive the server.
  Server(ServerOptions options, std::vector<loop::EventLoop*> loops, Handler handler);
  ~Server();

  // Binds one acceptor per loop and starts accepting. Fails if the address is taken.
  Status start();
  // Stops accepting; open connections finish their current request, then close.
  void stop();
  // Requests whose head has arrived and whose response is not yet written: a drain waits for 0.
  std::size_t requestsInFlight() const { return counts_->requests.load(); }
  uint16_t port() const { return bound_port_; }

 private:
  struct Listener;
  ServerOptions options_;
  std::vector<loop::EventLoop*> loops_;
  Handler handler_;
  std::vector<std::shared_ptr<Listener>> listeners_;
  struct Counts {
    std::atomic<std::size_t> connections{0};
    std::atomic<std::size_t> requests{0};
    std::atomic<bool> stopping{false};
  };
  // Shared with the connections, which may outlive the server object by a few steps.
  std::shared_ptr<Counts> counts_ = std::make_shared<Counts>();
  uint16_t bound_port_ = 0;
};

// A JSON error body in the shape every Gust error has: {"error": {"code", "message"}}.
Response errorResponse(beast::http::status status, std::string_view code, std::string_view message);

}  // namespace gust::http
