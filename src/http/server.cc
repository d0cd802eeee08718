// DESIGN: one acceptor hands connections to the event loops in turn; each connection is then
// one coroutine on its loop: read a head, refuse what cannot be framed safely (head_checks.h),
// choose the body limit from the target (so a 6 MiB invoke cap and a larger deploy cap
// coexist), read the body, hand the request to the handler, loop while keep-alive. One buffer
// lives as long as the connection: bytes read past one request (pipelined requests, sent
// before their predecessors are answered) are the start of the next, answered in order. A body
// over its limit is answered 413 without reading it, and the connection is closed, because the
// rest of the body is still in flight; every refusal closes the connection likewise. Every close
// lingers (half-close, then read and discard, bounded in bytes and time, RFC 9112 §9.6): a socket
// closed with bytes unread or still arriving sends an RST, and a client still writing its body
// would get EPIPE/ECONNRESET and might never read the status already sent. Discarded bytes are
// never held: one fixed buffer, overwritten.

#include "http/server.h"

#include <cstdio>
#include <optional>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "http/head_checks.h"

namespace gust::http {
namespace {

namespace bhttp = beast::http;
using asio::awaitable;
using asio::use_awaitable;
using tcp = asio::ip::tcp;

// Closes the connection's socket when an armed deadline passes (which fails the pending read).
// Re-arming or disarming makes an earlier expiry harmless: each arm has its own generation, and
// the state outlives the watchdog, so a late handler never touches a closed connection.
class Watchdog {
 public:
  explicit Watchdog(tcp::socket& socket)
      : timer_(socket.get_executor()), state_(std::make_shared<State>()) {
    state_->socket = &socket;
  }
  ~Watchdog() { state_->socket = nullptr; }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  void arm(std::chrono::milliseconds after) {
    uint64_t generation = ++state_->generation;
    timer_.expires_after(after);
    timer_.async_wait([state = state_, generation](beast::error_code ec) {
      if (ec || state->socket == nullptr || state->generation != generation) return;
      state->fired = true;
      beast::error_code ignored;
      state->socket->close(ignored);
    });
  }
  void disarm() {
    ++state_->generation;
    timer_.cancel();
  }
  bool fired() const { return state_->fired; }

 private:
  struct State {
    tcp::socket* socket = nullptr;
    uint64_t generation = 0;
    bool fired = false;
  };
  asio::steady_timer timer_;
  std::shared_ptr<State> state_;
};

awaitable<void> writeResponse(tcp::socket& socket, Response& response) {
  beast::error_code ec;
  response.prepare_payload();
  co_await bhttp::async_write(socket, response, asio::redirect_error(use_awaitable, ec));
}

// Half-closes, then reads and discards what the peer still sends until it closes its side, or
// until options.linger_bytes or options.linger_timeout is reached, then closes. Not counted
// as a request in flight: a drain does not wait for it.
awaitable<void> lingerAndClose(tcp::socket& socket, Watchdog& watchdog,
                               const ServerOptions& options) {
  beast::error_code ec;
  socket.shutdown(tcp::socket::shutdown_send, ec);
  watchdog.arm(options.linger_timeout);
  std::vector<char> sink(4096);  // per lingering connection: 10000 of them hold 40 MiB
  uint64_t discarded = 0;
  while (!ec && discarded < options.linger_bytes) {
    discarded += co_await socket.async_read_some(asio::buffer(sink),
                                                 asio::redirect_error(use_awaitable, ec));
  }
  watchdog.disarm();
  socket.close(ec);
}

// Answers with an error and `Connection: close`: what follows on the connection cannot be
// trusted to start a request.
awaitable<void> refuse(tcp::socket& socket, bhttp::status status, std::string code,
                       std::string message) {
  Response refusal = errorResponse(status, code, message);
  refusal.keep_alive(false);
  co_await writeResponse(socket, refusal);
}

// bhttp::async_read_header, plus the head's bytes as they came, for refuseHead(): Beast parses
// a head in one put() once its blank line is buffered, so the bytes that put() consumed are
// the head. Bytes after it stay in `buffer` for the body or the next pipelined request.
awaitable<beast::error_code> readHead(tcp::socket& socket, beast::flat_buffer& buffer,
                                      bhttp::request_parser<bhttp::string_body>& parser,
                                      std::optional<HeadRefusal>& refusal) {
  beast::error_code ec;
  for (;;) {
    if (buffer.size() > 0) {
      auto bytes = buffer.data();
      std::size_t used = parser.put(bytes, ec);
      if (parser.is_header_done()) {
        refusal = refuseHead({static_cast<const char*>(bytes.data()), used}, parser.get().base());
      }
      buffer.consume(used);
      if (ec != bhttp::error::need_more) co_return ec;
    }
    // The parser's header limit bounds the buffer: past it, put() fails with header_limit.
    std::size_t got = co_await socket.async_read_some(buffer.prepare(16 * 1024),
                                                      asio::redirect_error(use_awaitable, ec));
    buffer.commit(got);
    if (ec == asio::error::eof) {
      co_return parser.got_some() ? bhttp::error::partial_message : bhttp::error::end_of_stream;
    }
    if (ec) co_return ec;
  }
}

template <typename Counts>
awaitable<void> serveConnection(tcp::socket socket, const ServerOptions& options,
                                const Handler& handler, std::shared_ptr<Counts> counts) {
  struct Release {
    std::shared_ptr<Counts> counts;
    ~Release() { --counts->connections; }
  } release{counts};
  Watchdog watchdog(socket);
  beast::error_code ec;
  socket.set_option(tcp::no_delay(true), ec);
  std::string peer;
  auto endpoint = socket.remote_endpoint(ec);
  if (!ec) peer = endpoint.address().to_string();
  beast::flat_buffer buffer;
  for (;;) {
    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(options.max_header_bytes));
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    watchdog.arm(options.header_timeout);
    std::optional<HeadRefusal> refusal;
    ec = co_await readHead(socket, buffer, parser, refusal);
    if (watchdog.fired()) break;  // too slow: the socket is closed already
    if (ec == bhttp::error::header_limit) {
      co_await refuse(
          socket, bhttp::status::request_header_fields_too_large, "too_large",
          fmt::format("request head is over the {} byte limit", options.max_header_bytes));
      break;
    }
    if (ec) {
      if (ec != bhttp::error::end_of_stream && ec != asio::error::eof &&
          ec != asio::error::connection_reset && ec != asio::error::operation_aborted) {
        co_await refuse(socket, bhttp::status::bad_request, "invalid_argument",
                        fmt::format("malformed HTTP request: {}", ec.message()));
      }
      break;
    }
    if (refusal) {
      watchdog.disarm();
      co_await refuse(socket, refusal->status, refusal->code, refusal->message);
      break;
    }
    // From here until its response is written the request holds a drain open.
    struct Busy {
      Counts& counts;
      explicit Busy(Counts& c) : counts(c) { ++counts.requests; }
      ~Busy() { --counts.requests; }
    } busy{*counts};
    auto& head = parser.get();
    if (static_cast<std::size_t>(std::distance(head.begin(), head.end())) >
        options.max_header_fields) {
      co_await refuse(
          socket, bhttp::status::request_header_fields_too_large, "too_large",
          fmt::format("request has more than {} header fields", options.max_header_fields));
      break;
    }
    uint64_t limit = options.body_limit(head.base());
    if (parser.is_done()) {
      watchdog.disarm();
    } else {
      watchdog.arm(options.body_timeout);
    }
    auto length = parser.content_length();
    if (length && *length > limit) {
      co_await refuse(
          socket, bhttp::status::payload_too_large, "too_large",
          fmt::format("request body of {} bytes is over the {} byte limit", *length, limit));
      break;
    }
    parser.body_limit(limit);
    if (bhttp::token_list(head[Field::expect]).exists("100-continue")) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      co_await asio::async_write(socket, asio::buffer(kContinue.data(), kContinue.size()),
                                 asio::redirect_error(use_awaitable, ec));
      if (ec) break;
    }
    if (!parser.is_done()) {
      co_await bhttp::async_read(socket, buffer, parser, asio::redirect_error(use_awaitable, ec));
      watchdog.disarm();
      if (watchdog.fired()) break;
    }
    if (ec == bhttp::error::body_limit) {
      co_await refuse(socket, bhttp::status::payload_too_large, "too_large",
                      fmt::format("request body is over the {} byte limit", limit));
      break;
    }
    if (ec) {
      if (ec != bhttp::error::end_of_stream && ec != asio::error::eof &&
          ec != asio::error::connection_reset) {
        co_await refuse(socket, bhttp::status::bad_request, "invalid_argument",
                        fmt::format("malformed HTTP request: {}", ec.message()));
      }
      break;
    }
    Exchange exchange(socket, parser.release(), peer, &counts->stopping);
    bool threw = false;
    try {
      co_await handler(exchange);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "gust: BUG: handler threw: %s\n", e.what());
      threw = true;
    }
    if (threw) {
      if (!exchange.responded()) {
        co_await exchange.respond(
            errorResponse(bhttp::status::internal_server_error, "internal", "internal error"));
      }
      break;
    }
    if (!exchange.responded()) {
      co_await exchange.respond(
          errorResponse(bhttp::status::internal_server_error, "internal", "no response"));
    }
    if (!exchange.keepAlive() || counts->stopping.load()) break;
  }
  if (!watchdog.fired()) co_await lingerAndClose(socket, watchdog, options);
}

}  // namespace

void Exchange::decorate(beast::http::fields& fields, unsigned status) {
  for (auto& [name, value] : extra_headers_) fields.set(name, value);
  response_status_ = static_cast<int>(status);
  if (!noted_header_.empty()) noted_value_ = std::string(fields[noted_header_]);
}

awaitable<void> Exchange::respond(Response response) {
  responded_ = true;
  decorate(response.base(), response.result_int());
  response_bytes_ += static_cast<int64_t>(response.body().size());
  bool draining = closing_ != nullptr && closing_->load();
  keep_alive_ = keep_alive_ && !draining && request_.keep_alive() && response.keep_alive();
  response.keep_alive(keep_alive_);
  response.version(request_.version());
  co_await writeResponse(socket_, response);
}

awaitable<Status> Exchange::startChunked(Response head) {
  responded_ = true;
  decorate(head.base(), head.result_int());
  bool draining = closing_ != nullptr && closing_->load();
  keep_alive_ = keep_alive_ && !draining && request_.keep_alive();
  head.keep_alive(keep_alive_);
  head.version(request_.version());
  head.chunked(true);
  bhttp::response<bhttp::empty_body> empty_head(std::move(head.base()));
  bhttp::response_serializer<bhttp::empty_body> serializer(empty_head);
  beast::error_code ec;
  co_await bhttp::async_write_header(socket_, serializer, asio::redirect_error(use_awaitable, ec));
  if (ec) {
    keep_alive_ = false;
    co_return Status(Code::Unavailable, ec.message());
  }
  co_return Status::ok();
}

awaitable<Status> Exchange::writeChunk(std::string_view data) {
  if (data.empty()) co_return Status::ok();
  response_bytes_ += static_cast<int64_t>(data.size());
  beast::error_code ec;
  co_await asio::async_write(socket_, bhttp::make_chunk(asio::buffer(data.data(), data.size())),
                             asio::redirect_error(use_awaitable, ec));
  if (ec) {
    keep_alive_ = false;
    co_return Status(Code::Unavailable, ec.message());
  }
  co_return Status::ok();
}

awaitable<Status> Exchange::finishChunked() {
  beast::error_code ec;
  co_await asio::async_write(socket_, bhttp::make_chunk_last(),
                             asio::redirect_error(use_awaitable, ec));
  if (ec) {
    keep_alive_ = false;
    co_return Status(Code::Unavailable, ec.message());
  }
  co_return Status::ok();
}

struct Server::Listener {
  explicit Listener(asio::io_context& context) : acceptor(context) {}
  tcp::acceptor acceptor;
};

Server::Server(ServerOptions options, std::vector<loop::EventLoop*> loops, Handler handler)
    : options_(std::move(options)), loops_(std::move(loops)), handler_(std::move(handler)) {}

Server::~Server() { stop(); }

Status Server::start() {
  beast::error_code ec;
  auto address = asio::ip::make_address(options_.host, ec);
  if (ec) return invalidArgument(fmt::format("invalid listen address '{}'", options_.host));
  // One acceptor, no SO_REUSEPORT: with it a second server on the same port would start
  // "successfully" and the kernel would split connections between the two.
  auto listener = std::make_shared<Listener>(loops_.front()->context());
  tcp::endpoint endpoint(address, options_.port);
  auto& acceptor = listener->acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status(Code::Unavailable, fmt::format("cannot listen on {}:{}: {}", options_.host,
                                                 options_.port, ec.message()));
  }
  bound_port_ = acceptor.local_endpoint().port();
  listeners_.push_back(listener);
  // Each accepted connection is owned by the next loop in turn and served there for its life.
  asio::co_spawn(
      acceptor.get_executor(),
      [listener, this]() -> awaitable<void> {
        std::size_t next = 0;
        for (;;) {
          beast::error_code accept_ec;
          loop::EventLoop* owner = loops_[next++ % loops_.size()];
          tcp::socket socket = co_await listener->acceptor.async_accept(
              owner->context(), asio::redirect_error(use_awaitable, accept_ec));
          if (accept_ec == asio::error::operation_aborted || !listener->acceptor.is_open()) break;
          if (accept_ec) continue;  // EMFILE and friends: keep serving the connections we have
          if (counts_->connections.load() >= options_.max_connections) {
            beast::error_code ignored;
            socket.close(ignored);
            continue;
          }
          ++counts_->connections;
          asio::co_spawn(socket.get_executor(),
                         serveConnection(std::move(socket), options_, handler_, counts_),
                         asio::detached);
        }
      },
      asio::detached);
  return Status::ok();
}

void Server::stop() {
  counts_->stopping = true;
  for (auto& listener : listeners_) {
    asio::post(listener->acceptor.get_executor(), [listener] {
      beast::error_code ec;
      listener->acceptor.close(ec);
    });
  }
  listeners_.clear();
}

Response errorResponse(bhttp::status status, std::string_view code, std::string_view message) {
  Response response(status, 11);
  response.set(Field::content_type, "application/json");
  // Messages may quote request bytes that are not UTF-8: replace them rather than throw.
  response.body() = nlohmann::json{{"error", {{"code", code}, {"message", message}}}}.dump(
                        -1, ' ', false, nlohmann::json::error_handler_t::replace) +
                    "\n";
  return response;
}

}  // namespace gust::http
