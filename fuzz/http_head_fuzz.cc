// Request heads come from anyone who can reach the port. Beast parses them; head_checks judges
// what Beast accepted. Fed as readHead() feeds them: the buffer grows by reads until put()
// takes a whole head, and the bytes it consumed are what refuseHead() sees.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "http/head_checks.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace bhttp = boost::beast::http;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  bhttp::request_parser<bhttp::string_body> parser;
  parser.header_limit(32 * 1024);
  // Two reads: the first a third of the input, then all of it (put() consumes nothing until
  // the head is whole).
  for (size_t available : {size / 3, size}) {
    boost::beast::error_code ec;
    size_t used = parser.put(boost::asio::buffer(input.data(), available), ec);
    if (parser.is_header_done()) {
      (void)gust::http::refuseHead(input.substr(0, used), parser.get().base());
      break;
    }
    if (ec && ec != bhttp::error::need_more) break;
  }
  return 0;
}
