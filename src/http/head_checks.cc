// DESIGN: three things Beast 1.74 lets through, refused here rather than by a parser of our own.
// (1) obs-fold (RFC 9112 §5.2): Beast joins a field line that starts with SP/HTAB onto the one
//     before it; a proxy that does not would see two fields where we see one. Beast has parsed
//     the head, so every LF in it ends a line, and a line that starts with SP/HTAB is a fold.
// (2) Transfer-Encoding (RFC 9112 §6.1): Beast frames the body as chunked when chunked is the
//     last coding and ignores the codings before it (`gzip, chunked` reaches the handler still
//     compressed), and reads no body at all for codings without chunked (`foo`: the body's bytes
//     become the next request). Only `chunked` alone, in one field, is understood; anything else
//     is 501 (§6.1: a server that does not understand a coding answers 501 and closes).
// (3) Host (RFC 9112 §3.2): a server MUST answer 400 to an HTTP/1.1 request without Host, and
//     to any request with more than one Host field or a Host value that is not a uri-host with
//     an optional port; two hops that picked different Hosts would route one request two ways.
//     HTTP/1.0 had no Host, so its requests may go without one.

#include "http/head_checks.h"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/rfc7230.hpp>

namespace gust::http {
namespace {

namespace bhttp = boost::beast::http;

bool hasObsFold(std::string_view raw_head) {
  for (std::size_t lf = raw_head.find('\n'); lf != std::string_view::npos;
       lf = raw_head.find('\n', lf + 1)) {
    if (lf + 1 < raw_head.size() && (raw_head[lf + 1] == ' ' || raw_head[lf + 1] == '\t')) {
      return true;
    }
  }
  return false;
}

// True when the head has no Transfer-Encoding, or exactly one field saying `chunked` alone.
bool transferEncodingUnderstood(const bhttp::request_header<>& head) {
  auto [first, last] = head.equal_range(bhttp::field::transfer_encoding);
  if (first == last) return true;
  if (std::next(first) != last) return false;
  bhttp::token_list codings(first->value());
  auto coding = codings.begin();
  if (coding == codings.end() || !boost::beast::iequals(*coding, "chunked")) return false;
  return ++coding == codings.end();
}

// uri-host [ ":" port ] (RFC 3986 §3.2.2): reg-name and IP-literal characters. An empty value
// is what §3.2 asks of a client whose target has no authority, so it passes.
bool hostValueValid(std::string_view host) {
  static constexpr std::string_view kAllowed =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~%!$&'()*+,;=:[]";
  return host.find_first_not_of(kAllowed) == std::string_view::npos;
}

std::optional<std::string> hostProblem(const bhttp::request_header<>& head) {
  auto [first, last] = head.equal_range(bhttp::field::host);
  if (first == last) {
    if (head.version() < 11) return std::nullopt;
    return "an HTTP/1.1 request needs a Host header (RFC 9112 section 3.2)";
  }
  if (std::next(first) != last) {
    return "a request may have only one Host header (RFC 9112 section 3.2)";
  }
  if (!hostValueValid(first->value())) {
    return "the Host header must be a host name or address with an optional :port";
  }
  return std::nullopt;
}

}  // namespace

std::optional<HeadRefusal> refuseHead(std::string_view raw_head,
                                      const bhttp::request_header<>& head) {
  if (hasObsFold(raw_head)) {
    return HeadRefusal{bhttp::status::bad_request, "invalid_argument",
                       "a header line is folded onto the one before it (obs-fold); send each "
                       "field on one line"};
  }
  if (auto problem = hostProblem(head)) {
    return HeadRefusal{bhttp::status::bad_request, "invalid_argument", std::move(*problem)};
  }
  if (!transferEncodingUnderstood(head)) {
    return HeadRefusal{bhttp::status::not_implemented, "not_implemented",
                       "Transfer-Encoding other than a single `chunked` is not supported; send "
                       "Content-Length or `Transfer-Encoding: chunked`"};
  }
  return std::nullopt;
}

}  // namespace gust::http
