#pragma once
// What Beast's request parser accepts but this server refuses, judged on a head Beast has
// already parsed: framing a peer on the path (a proxy in front) could read differently, which
// is how requests are smuggled. Pure functions; call from any thread.

#include <optional>
#include <string>
#include <string_view>

#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/status.hpp>

namespace gust::http {

// Why a head is refused, and the answer it gets (always with `Connection: close`: the rest of
// what is on the connection cannot be framed).
struct HeadRefusal {
  boost::beast::http::status status;
  std::string code;
  std::string message;
};

// `raw_head` is the head's bytes as received (request line, fields, blank line); `head` is what
// Beast made of them.
std::optional<HeadRefusal> refuseHead(std::string_view raw_head,
                                      const boost::beast::http::request_header<>& head);

}  // namespace gust::http
