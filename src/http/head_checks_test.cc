#include "http/head_checks.h"

#include <string>

#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <gtest/gtest.h>

namespace gust::http {
namespace {

namespace bhttp = boost::beast::http;

// Parses `raw` with Beast as the server does, then asks refuseHead about it.
std::optional<HeadRefusal> judge(const std::string& raw) {
  bhttp::request_parser<bhttp::string_body> parser;
  boost::beast::error_code ec;
  std::size_t used = parser.put(boost::asio::buffer(raw), ec);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_TRUE(parser.is_header_done());
  return refuseHead(std::string_view(raw).substr(0, used), parser.get().base());
}

TEST(HeadChecks, AcceptsAPlainHead) {
  EXPECT_FALSE(judge("GET / HTTP/1.1\r\nHost: a\r\nX-Spaced: a  b\t c\r\n\r\n"));
}

TEST(HeadChecks, AcceptsChunkedAlone) {
  EXPECT_FALSE(judge("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"));
  EXPECT_FALSE(judge("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n"));
}

TEST(HeadChecks, RefusesAFoldedFieldWith400) {
  for (const char* fold : {" ", "\t", " \t "}) {
    auto refusal =
        judge(std::string("GET / HTTP/1.1\r\nHost: a\r\nX-A: one\r\n") + fold + "two\r\n\r\n");
    ASSERT_TRUE(refusal) << "fold '" << fold << "'";
    EXPECT_EQ(refusal->status, bhttp::status::bad_request);
  }
}

TEST(HeadChecks, RefusesCodingsOtherThanChunkedAloneWith501) {
  for (const char* coding :
       {"gzip, chunked", "foo", "chunked, gzip", "chunked, chunked", "identity", "gzip"}) {
    auto refusal = judge(std::string("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ") + coding +
                         "\r\n\r\n");
    ASSERT_TRUE(refusal) << coding;
    EXPECT_EQ(refusal->status, bhttp::status::not_implemented) << coding;
  }
}

TEST(HeadChecks, RefusesTwoTransferEncodingFields) {
  auto refusal = judge(
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: "
      "chunked\r\n\r\n");
  ASSERT_TRUE(refusal);
  EXPECT_EQ(refusal->status, bhttp::status::not_implemented);
}

TEST(HeadChecks, RefusesAnHttp11RequestWithoutHostWith400) {
  auto refusal = judge("GET / HTTP/1.1\r\nAccept: */*\r\n\r\n");
  ASSERT_TRUE(refusal);
  EXPECT_EQ(refusal->status, bhttp::status::bad_request);
  EXPECT_NE(refusal->message.find("Host"), std::string::npos) << refusal->message;
}

TEST(HeadChecks, AcceptsAnHttp10RequestWithoutHost) {
  EXPECT_FALSE(judge("GET / HTTP/1.0\r\n\r\n"));
}

TEST(HeadChecks, RefusesTwoHostFieldsWith400) {
  for (const char* version : {"1.1", "1.0"}) {
    auto refusal = judge(std::string("GET / HTTP/") + version + "\r\nHost: a\r\nHost: b\r\n\r\n");
    ASSERT_TRUE(refusal) << version;
    EXPECT_EQ(refusal->status, bhttp::status::bad_request) << version;
  }
}

TEST(HeadChecks, AcceptsHostNamesAddressesAndPorts) {
  for (const char* host :
       {"a", "example.com:8080", "127.0.0.1:80", "[::1]:8080", "xn--bcher-kva.de", ""}) {
    EXPECT_FALSE(judge(std::string("GET / HTTP/1.1\r\nHost: ") + host + "\r\n\r\n")) << host;
  }
}

TEST(HeadChecks, RefusesAHostThatIsNotAnAuthorityWith400) {
  for (const char* host : {"a b", "a/b", "user@a", "a\"b", "a?b", "a#b"}) {
    auto refusal = judge(std::string("GET / HTTP/1.1\r\nHost: ") + host + "\r\n\r\n");
    ASSERT_TRUE(refusal) << host;
    EXPECT_EQ(refusal->status, bhttp::status::bad_request) << host;
  }
}

}  // namespace
}  // namespace gust::http
