#include "http/client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <fmt/format.h>

namespace gust::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;

struct ParsedUrl {
  std::string host;
  std::string port;
  std::string prefix;
};

Result<ParsedUrl> parseBaseUrl(const std::string& url) {
  constexpr std::string_view kScheme = "http://";
  if (url.rfind(kScheme, 0) != 0) {
    return invalidArgument(fmt::format("server URL '{}' must start with http://", url));
  }
  std::string rest = url.substr(kScheme.size());
  std::string authority = rest.substr(0, rest.find('/'));
  ParsedUrl parsed;
  if (auto slash = rest.find('/'); slash != std::string::npos) parsed.prefix = rest.substr(slash);
  while (!parsed.prefix.empty() && parsed.prefix.back() == '/') parsed.prefix.pop_back();
  auto colon = authority.rfind(':');
  parsed.host = authority.substr(0, colon);
  parsed.port = colon == std::string::npos ? "80" : authority.substr(colon + 1);
  if (parsed.host.empty()) return invalidArgument(fmt::format("server URL '{}' has no host", url));
  return parsed;
}

}  // namespace

Result<ClientResponse> sendRequest(const std::string& base_url, const ClientRequest& request) {
  auto url = parseBaseUrl(base_url);
  if (!url) return url.status();
  try {
    asio::io_context context;
    asio::ip::tcp::resolver resolver(context);
    beast::tcp_stream stream(context);
    stream.expires_after(std::chrono::seconds(request.timeout_s));
    stream.connect(resolver.resolve(url->host, url->port));

    bhttp::request<bhttp::string_body> req(bhttp::string_to_verb(request.method),
                                           url->prefix + request.target, 11);
    req.set(bhttp::field::host, url->host + ":" + url->port);
    req.set(bhttp::field::user_agent, "gust-cli");
    for (const auto& [name, value] : request.headers) req.set(name, value);
    req.body() = request.body;
    req.prepare_payload();
    bhttp::write(stream, req);

    beast::flat_buffer buffer;
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    ClientResponse response;
    std::function<std::size_t(std::uint64_t, std::string_view, beast::error_code&)> on_chunk =
        [&](std::uint64_t, std::string_view body, beast::error_code&) {
          if (request.on_body) request.on_body(body);
          response.body.append(body);
          return body.size();
        };
    if (request.on_body) parser.on_chunk_body(on_chunk);
    bhttp::read(stream, buffer, parser);
    auto& res = parser.get();
    response.status = static_cast<int>(res.result_int());
    for (const auto& field : res) {
      std::string name(field.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      response.headers[name] = std::string(field.value());
    }
    if (!res.chunked() || !request.on_body) {
      response.body = std::move(res.body());
      if (request.on_body) request.on_body(response.body);
    }
    beast::error_code ec;
    stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    return response;
  } catch (const boost::system::system_error& error) {
    return Status(Code::Unavailable, fmt::format("cannot reach the gust server at {}: {}",
                                                 base_url, error.code().message()));
  }
}

}  // namespace gust::http
