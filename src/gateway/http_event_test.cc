#include "gateway/http_event.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cctype>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gateway/codec.h"

namespace gust::gateway {
namespace {

using nlohmann::json;
using Headers = std::vector<std::pair<std::string, std::string>>;

// --- request -> event ---------------------------------------------------------------------------

http::Request makeRequest(http::Verb verb, std::string_view target, const Headers& headers = {},
                          std::string body = "", unsigned version = 11) {
  http::Request request(verb, target, version);
  for (const auto& [name, value] : headers) request.insert(name, value);
  request.body() = std::move(body);
  return request;
}

EventContext someContext() {
  EventContext context;
  context.request_id = "act-123";
  context.source_ip = "203.0.113.7";
  context.time_epoch_ms = 1583348638390;  // 2020-03-04T19:03:58.390Z
  context.domain_name = "gust.example.com";
  return context;
}

json eventFor(const http::Request& request, const EventContext& context = someContext()) {
  return json::parse(buildHttpEvent(request, context));
}

TEST(HttpEvent, CarriesVersionRouteKeyRawPathAndRawQueryString) {
  json event = eventFor(makeRequest(http::Verb::get, "/fn/hello/api/items?a=1&b=x%20y"));
  EXPECT_EQ(event["version"], "2.0");
  EXPECT_EQ(event["routeKey"], "$default");
  EXPECT_EQ(event["rawPath"], "/fn/hello/api/items");
  EXPECT_EQ(event["rawQueryString"], "a=1&b=x%20y");
}

TEST(HttpEvent, UsesRouteKeyFromContext) {
  EventContext context = someContext();
  context.route_key = "GET /items";
  json event = eventFor(makeRequest(http::Verb::get, "/fn/hello"), context);
  EXPECT_EQ(event["routeKey"], "GET /items");
  EXPECT_EQ(event["requestContext"]["routeKey"], "GET /items");
}

TEST(HttpEvent, HasEmptyRawQueryStringWithoutQuery) {
  json event = eventFor(makeRequest(http::Verb::get, "/fn/hello"));
  EXPECT_EQ(event["rawPath"], "/fn/hello");
  EXPECT_EQ(event["rawQueryString"], "");
}

TEST(HttpEvent, KeepsRawPathUndecoded) {
  json event = eventFor(makeRequest(http::Verb::get, "/fn/hello/a%20b+c"));
  EXPECT_EQ(event["rawPath"], "/fn/hello/a%20b+c");
  // requestContext.http.path is decoded, but '+' in a path is a literal plus.
  EXPECT_EQ(event["requestContext"]["http"]["path"], "/fn/hello/a b+c");
}

TEST(HttpEvent, LowercasesHeaderNames) {
  json event = eventFor(makeRequest(http::Verb::get, "/fn/hello",
                                    {{"X-Custom-Header", "Value"}, {"Accept", "text/html"}}));
  ASSERT_TRUE(event["headers"].is_object());
  EXPECT_EQ(event["headers"]["x-custom-header"], "Value");  // values keep their case
  EXPECT_EQ(event["headers"]["accept"], "text/html");
  EXPECT_FALSE(event["headers"].contains("X-Custom-Header"));
  EXPECT_FALSE(event["headers"].contains("Accept"));
}

TEST(HttpEvent, JoinsRepeatedHeadersWithComma) {
  json event = eventFor(makeRequest(http::Verb::get, "/fn/hello",
                                    {{"X-Multi", "a"}, {"x-multi", "b"}, {"X-MULTI", "c"}}));
  EXPECT_EQ(event["headers"]["x-multi"], "a,b,c");
}

TEST(HttpEvent, SplitsCookieHeaderIntoCookies) {
  json event = eventFor(makeRequest(http::Verb::get, "/fn/hello",
                                    {{"Cookie", "session=abc; theme=dark;lang=en"}}));
  EXPECT_EQ(event["cookies"], json::array({"session=abc", "theme=dark", "lang=en"}));
  EXPECT_FALSE(event["headers"].contains("cookie"));
}

TEST(HttpEvent, CollectsCookiesFromRepeatedCookieHeaders) {
  json event = eventFor(makeRequest(http::Verb::get, "/fn/hello",
                                    {{"Cookie", "a=1; b=2"}, {"cookie", "c=3"}, {"X-Other", "y"}}));
  EXPECT_EQ(event["cookies"], json::array({"a=1", "b=2", "c=3"}));
  EXPECT_FALSE(event["headers"].contains("cookie"));
  EXPECT_EQ(event["headers"]["x-other"], "y");
}

TEST(HttpEvent, SkipsEmptyCookiePieces) {
  json event = eventFor(makeRequest(http::Verb::get, "/fn/hello", {{"Cookie", "a=1;; ; b=2;"}}));
  EXPECT_EQ(event["cookies"], json::array({"a=1", "b=2"}));
}

TEST(HttpEvent, OmitsCookiesWithoutCookieHeader) {
  json event = eventFor(makeRequest(http::Verb::get, "/fn/hello", {{"Accept", "*/*"}}));
  EXPECT_FALSE(event.contains("cookies"));
}

TEST(HttpEvent, DecodesQueryStringParameters) {
  json event = eventFor(
      makeRequest(http::Verb::get, "/fn/hello?name=J%C3%BCrgen+M&empty=&flag&a%26b=c%3Dd"));
  const json& query = event["queryStringParameters"];
  EXPECT_EQ(query["name"], "J\xc3\xbcrgen M");
  EXPECT_EQ(query["empty"], "");
  EXPECT_EQ(query["flag"], "");
  EXPECT_EQ(query["a&b"], "c=d");
  EXPECT_EQ(query.size(), 4u);
}

TEST(HttpEvent, JoinsRepeatedQueryKeysWithComma) {
  json event = eventFor(makeRequest(http::Verb::get, "/fn/hello?tag=a&x=1&tag=b&tag=c%2Cd"));
  EXPECT_EQ(event["queryStringParameters"]["tag"], "a,b,c,d");
  EXPECT_EQ(event["queryStringParameters"]["x"], "1");
  // The raw query string keeps each occurrence.
  EXPECT_EQ(event["rawQueryString"], "tag=a&x=1&tag=b&tag=c%2Cd");
}

TEST(HttpEvent, SkipsEmptyQueryPairs) {
  json event = eventFor(makeRequest(http::Verb::get, "/fn/hello?&a=1&&b=2&"));
  EXPECT_EQ(event["queryStringParameters"], json({{"a", "1"}, {"b", "2"}}));
}

TEST(HttpEvent, OmitsQueryStringParametersWhenQueryIsEmpty) {
  EXPECT_FALSE(eventFor(makeRequest(http::Verb::get, "/fn/hello")).contains("queryStringParameters"));
  json event = eventFor(makeRequest(http::Verb::get, "/fn/hello?"));
  EXPECT_FALSE(event.contains("queryStringParameters"));
  EXPECT_EQ(event["rawQueryString"], "");
}

TEST(HttpEvent, IncludesPathParametersOnlyWhenGiven) {
  EXPECT_FALSE(eventFor(makeRequest(http::Verb::get, "/fn/hello")).contains("pathParameters"));

  EventContext context = someContext();
  context.path_parameters = {{"id", "7"}, {"proxy", "api/users"}};
  json event = eventFor(makeRequest(http::Verb::get, "/fn/hello/api/users/7"), context);
  EXPECT_EQ(event["pathParameters"], json({{"id", "7"}, {"proxy", "api/users"}}));
}

TEST(HttpEvent, FillsRequestContextHttp) {
  json event = eventFor(makeRequest(http::Verb::post, "/fn/hello/x%2Fy?q=1",
                                    {{"User-Agent", "curl/8.5.0"}}, "hi"));
  const json& http = event["requestContext"]["http"];
  EXPECT_EQ(http["method"], "POST");
  EXPECT_EQ(http["path"], "/fn/hello/x/y");
  EXPECT_EQ(http["protocol"], "HTTP/1.1");
  EXPECT_EQ(http["sourceIp"], "203.0.113.7");
  EXPECT_EQ(http["userAgent"], "curl/8.5.0");
}

TEST(HttpEvent, ReportsHttp10Protocol) {
  json event = eventFor(makeRequest(http::Verb::get, "/fn/hello", {}, "", 10));
  EXPECT_EQ(event["requestContext"]["http"]["protocol"], "HTTP/1.0");
}

TEST(HttpEvent, HasEmptyUserAgentWithoutHeader) {
  json event = eventFor(makeRequest(http::Verb::get, "/fn/hello"));
  EXPECT_EQ(event["requestContext"]["http"]["userAgent"], "");
}

TEST(HttpEvent, PassesMethodNamesThrough) {
  for (auto [verb, name] : {std::pair{http::Verb::get, "GET"}, std::pair{http::Verb::put, "PUT"},
                            std::pair{http::Verb::delete_, "DELETE"},
                            std::pair{http::Verb::patch, "PATCH"},
                            std::pair{http::Verb::options, "OPTIONS"}}) {
    json event = eventFor(makeRequest(verb, "/fn/hello"));
    EXPECT_EQ(event["requestContext"]["http"]["method"], name);
  }
}

TEST(HttpEvent, FillsRequestIdTimeAndDomain) {
  json event = eventFor(makeRequest(http::Verb::get, "/fn/hello"));
  const json& context = event["requestContext"];
  EXPECT_EQ(context["requestId"], "act-123");
  EXPECT_EQ(context["timeEpoch"], 1583348638390);
  EXPECT_TRUE(context["timeEpoch"].is_number_integer());
  EXPECT_EQ(context["time"], "04/Mar/2020:19:03:58 +0000");
  EXPECT_EQ(context["domainName"], "gust.example.com");
  EXPECT_EQ(context["domainPrefix"], "gust");
  EXPECT_EQ(context["stage"], "$default");
}

TEST(HttpEvent, FormatsTimeAsApiGatewayDoes) {
  EventContext context = someContext();
  context.time_epoch_ms = 0;
  EXPECT_EQ(eventFor(makeRequest(http::Verb::get, "/fn/x"), context)["requestContext"]["time"],
            "01/Jan/1970:00:00:00 +0000");
  context.time_epoch_ms = 1735689599999;  // 2024-12-31T23:59:59.999Z: milliseconds truncate
  EXPECT_EQ(eventFor(makeRequest(http::Verb::get, "/fn/x"), context)["requestContext"]["time"],
            "31/Dec/2024:23:59:59 +0000");
}

TEST(HttpEvent, PassesTextBodyAsIs) {
  json event = eventFor(makeRequest(http::Verb::post, "/fn/hello",
                                    {{"Content-Type", "text/plain; charset=utf-8"}},
                                    "hello, w\xc3\xb6rld\n"));
  EXPECT_EQ(event["body"], "hello, w\xc3\xb6rld\n");
  EXPECT_EQ(event["isBase64Encoded"], false);
}

TEST(HttpEvent, PassesJsonBodyAsIsNotParsed) {
  const std::string body = R"({"b": [1, 2], "a": "x"})";
  json event = eventFor(
      makeRequest(http::Verb::post, "/fn/hello", {{"Content-Type", "application/json"}}, body));
  ASSERT_TRUE(event["body"].is_string());
  EXPECT_EQ(event["body"], body);
  EXPECT_EQ(event["isBase64Encoded"], false);
}

TEST(HttpEvent, TreatsUtf8BodyWithoutContentTypeAsText) {
  json event = eventFor(makeRequest(http::Verb::post, "/fn/hello", {}, "plain"));
  EXPECT_EQ(event["body"], "plain");
  EXPECT_EQ(event["isBase64Encoded"], false);
}

TEST(HttpEvent, TreatsStructuredSyntaxSuffixesAsText) {
  for (const char* type : {"application/vnd.api+json", "application/atom+xml", "application/xml",
                           "application/x-www-form-urlencoded", "TEXT/HTML"}) {
    json event = eventFor(makeRequest(http::Verb::post, "/fn/hello", {{"Content-Type", type}}, "a=b"));
    EXPECT_EQ(event["body"], "a=b") << type;
    EXPECT_EQ(event["isBase64Encoded"], false) << type;
  }
}

TEST(HttpEvent, Base64EncodesOctetStreamBody) {
  const std::string body = "plain ascii but declared binary";
  json event = eventFor(makeRequest(http::Verb::post, "/fn/hello",
                                    {{"Content-Type", "application/octet-stream"}}, body));
  EXPECT_EQ(event["isBase64Encoded"], true);
  EXPECT_EQ(event["body"], base64Encode(body));
}

TEST(HttpEvent, Base64EncodesInvalidUtf8BodyEvenWhenDeclaredText) {
  const std::string body("\x89PNG\r\n\x1a\n\x00\xff", 10);
  json event = eventFor(
      makeRequest(http::Verb::post, "/fn/hello", {{"Content-Type", "text/plain"}}, body));
  EXPECT_EQ(event["isBase64Encoded"], true);
  ASSERT_TRUE(event["body"].is_string());
  EXPECT_EQ(base64Decode(event["body"].get<std::string>()), std::optional<std::string>(body));
}

TEST(HttpEvent, Base64EncodesInvalidUtf8BodyWithoutContentType) {
  const std::string body("\xc3\x28", 2);
  json event = eventFor(makeRequest(http::Verb::post, "/fn/hello", {}, body));
  EXPECT_EQ(event["isBase64Encoded"], true);
  EXPECT_EQ(event["body"], base64Encode(body));
}

// A body of encoded surrogates (CESU-8 / WTF-8) is not UTF-8. It must reach the function intact
// as base64, not be rewritten to U+FFFD by the JSON serialiser.
TEST(HttpEvent, DeliversSurrogateBytesIntactInsteadOfReplacingThem) {
  const std::string body("\xed\xa0\x80", 3);
  json event = eventFor(
      makeRequest(http::Verb::post, "/fn/hello", {{"Content-Type", "text/plain"}}, body));
  std::string delivered = event["body"].get<std::string>();
  if (event["isBase64Encoded"].get<bool>()) {
    EXPECT_EQ(base64Decode(delivered), std::optional<std::string>(body));
  } else {
    EXPECT_EQ(delivered, body);
  }
}

TEST(HttpEvent, TextBodyWrittenIntoTheEventEscapesLikeTheJsonLibrary) {
  std::string body = "q\"b\\s/\b\f\n\r\t";
  for (char c = 1; c < 0x20; ++c) body.push_back(c);
  body += "\x7f\xc3\xa9 end";
  body.push_back('\0');
  http::Request request =
      makeRequest(http::Verb::post, "/fn/hello", {{"Content-Type", "text/plain"}}, body);
  std::string text = buildHttpEvent(request, EventContext{});
  json event = json::parse(text);
  EXPECT_EQ(event["body"], body);
  EXPECT_EQ(event["isBase64Encoded"], false);
  // The same bytes the library writes for the string, so the splice is invisible.
  EXPECT_NE(text.find(json(body).dump()), std::string::npos);
}

TEST(HttpEvent, LargeBodyIsWrittenIntoExactlyTheRoomItNeeds) {
  const std::string body(3 << 20, 'a');
  std::string text = buildHttpEvent(
      makeRequest(http::Verb::post, "/fn/hello", {{"Content-Type", "text/plain"}}, body),
      EventContext{});
  EXPECT_LT(text.capacity(), body.size() + 4096);  // no doubling growth on the way
  const std::string binary(3 << 20, '\xff');
  std::string encoded = buildHttpEvent(
      makeRequest(http::Verb::post, "/fn/hello", {{"Content-Type", "image/png"}}, binary),
      EventContext{});
  EXPECT_LT(encoded.capacity(), binary.size() * 4 / 3 + 4096);
  EXPECT_EQ(json::parse(encoded)["body"], base64Encode(binary));
}

TEST(HttpEvent, OmitsBodyKeyForEmptyBody) {
  json event = eventFor(makeRequest(http::Verb::post, "/fn/hello",
                                    {{"Content-Type", "application/octet-stream"}}, ""));
  EXPECT_FALSE(event.contains("body"));
  EXPECT_EQ(event["isBase64Encoded"], false);
}

// --- handler result -> response -----------------------------------------------------------------

std::vector<std::string> headerValues(const MappedResponse& response, std::string_view name) {
  std::vector<std::string> values;
  for (const auto& [key, value] : response.headers) {
    std::string lower(key);
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower == name) values.push_back(value);
  }
  return values;
}

using Values = std::vector<std::string>;

void expectBadResponse(std::string_view result_json, std::string_view message_part) {
  auto mapped = mapHandlerResult(result_json);
  ASSERT_FALSE(mapped.isOk()) << result_json;
  EXPECT_EQ(mapped.status().code(), Code::FunctionError) << result_json;
  EXPECT_NE(mapped.status().message().find(message_part), std::string::npos)
      << "message \"" << mapped.status().message() << "\" should mention \"" << message_part
      << "\" for " << result_json;
}

TEST(HandlerResult, StringResultIsJsonBodyOf200) {
  auto mapped = mapHandlerResult(R"("hello")");
  ASSERT_TRUE(mapped.isOk());
  EXPECT_EQ(mapped->status, 200);
  EXPECT_EQ(headerValues(*mapped, "content-type"), Values{"application/json"});
  EXPECT_EQ(mapped->body, R"("hello")");
}

TEST(HandlerResult, NumberResultIsJsonBodyOf200) {
  auto mapped = mapHandlerResult("42");
  ASSERT_TRUE(mapped.isOk());
  EXPECT_EQ(mapped->status, 200);
  EXPECT_EQ(headerValues(*mapped, "content-type"), Values{"application/json"});
  EXPECT_EQ(mapped->body, "42");
}

TEST(HandlerResult, NullResultIsJsonBodyOf200) {
  auto mapped = mapHandlerResult("null");
  ASSERT_TRUE(mapped.isOk());
  EXPECT_EQ(mapped->status, 200);
  EXPECT_EQ(headerValues(*mapped, "content-type"), Values{"application/json"});
  EXPECT_EQ(mapped->body, "null");
}

TEST(HandlerResult, ArrayResultIsJsonBodyOf200EvenIfItHoldsResponseObjects) {
  const std::string result = R"([{"statusCode":404,"body":"x"}])";
  auto mapped = mapHandlerResult(result);
  ASSERT_TRUE(mapped.isOk());
  EXPECT_EQ(mapped->status, 200);
  EXPECT_EQ(headerValues(*mapped, "content-type"), Values{"application/json"});
  EXPECT_EQ(mapped->body, result);
}

TEST(HandlerResult, ObjectWithoutStatusCodeIsWholeObjectAsJsonBodyOf200) {
  const std::string result = R"({"body":"not used as body","headers":{"x-a":"1"},"n":1})";
  auto mapped = mapHandlerResult(result);
  ASSERT_TRUE(mapped.isOk());
  EXPECT_EQ(mapped->status, 200);
  EXPECT_EQ(mapped->headers, Headers({{"content-type", "application/json"}}));
  EXPECT_EQ(json::parse(mapped->body), json::parse(result));
}

TEST(HandlerResult, MapsStatusHeadersCookiesAndBody) {
  auto mapped = mapHandlerResult(R"({
    "statusCode": 201,
    "headers": {"Content-Type": "text/plain", "X-Request": "abc"},
    "cookies": ["a=1; Path=/", "b=2; HttpOnly"],
    "body": "created"
  })");
  ASSERT_TRUE(mapped.isOk()) << mapped.status().message();
  EXPECT_EQ(mapped->status, 201);
  EXPECT_EQ(headerValues(*mapped, "content-type"), Values{"text/plain"});
  EXPECT_EQ(headerValues(*mapped, "x-request"), Values{"abc"});
  EXPECT_EQ(headerValues(*mapped, "set-cookie"), (Values{"a=1; Path=/", "b=2; HttpOnly"}));
  EXPECT_EQ(mapped->body, "created");
}

TEST(HandlerResult, AcceptsStatusCodesAtTheEdgesOfTheRange) {
  for (int code : {200, 204, 302, 599}) {
    auto mapped = mapHandlerResult(json({{"statusCode", code}}).dump());
    ASSERT_TRUE(mapped.isOk()) << code;
    EXPECT_EQ(mapped->status, code);
    EXPECT_EQ(mapped->body, "");
  }
}

// Regression: a 1xx status was forwarded as the final response (a 101 left the client hanging).
TEST(HandlerResult, RejectsInformationalStatusCodes) {
  expectBadResponse(R"({"statusCode":100})", "informational");
  expectBadResponse(R"({"statusCode":101})", "informational");
}

// Regression: a 204/304 with a body made the server throw and drop the connection.
TEST(HandlerResult, DropsTheBodyOf204And304) {
  for (int code : {204, 304}) {
    auto mapped = mapHandlerResult(json({{"statusCode", code}, {"body", "x"}}).dump());
    ASSERT_TRUE(mapped.isOk()) << code;
    EXPECT_EQ(mapped->body, "");
  }
}

TEST(HandlerResult, StatusCodeAloneGivesEmptyJsonResponse) {
  auto mapped = mapHandlerResult(R"({"statusCode": 204})");
  ASSERT_TRUE(mapped.isOk());
  EXPECT_EQ(mapped->status, 204);
  EXPECT_EQ(mapped->headers, Headers({{"content-type", "application/json"}}));
  EXPECT_EQ(mapped->body, "");
}

TEST(HandlerResult, WritesNumbersAndBooleansAsHeaderValues) {
  auto mapped = mapHandlerResult(
      R"({"statusCode":200,"headers":{"x-count":42,"x-ratio":1.5,"x-neg":-3,"x-on":true,"x-off":false}})");
  ASSERT_TRUE(mapped.isOk()) << mapped.status().message();
  EXPECT_EQ(headerValues(*mapped, "x-count"), Values{"42"});
  EXPECT_EQ(headerValues(*mapped, "x-ratio"), Values{"1.5"});
  EXPECT_EQ(headerValues(*mapped, "x-neg"), Values{"-3"});
  EXPECT_EQ(headerValues(*mapped, "x-on"), Values{"true"});
  EXPECT_EQ(headerValues(*mapped, "x-off"), Values{"false"});
}

TEST(HandlerResult, AddsJsonContentTypeWhenAbsent) {
  auto mapped = mapHandlerResult(R"({"statusCode":200,"headers":{"x-a":"1"},"body":"{}"})");
  ASSERT_TRUE(mapped.isOk());
  EXPECT_EQ(headerValues(*mapped, "content-type"), Values{"application/json"});
}

TEST(HandlerResult, KeepsFunctionsContentTypeInAnyCase) {
  for (const char* name : {"content-type", "Content-Type", "CONTENT-TYPE"}) {
    auto mapped = mapHandlerResult(
        json({{"statusCode", 200}, {"headers", {{name, "text/html"}}}, {"body", "<p>"}}).dump());
    ASSERT_TRUE(mapped.isOk()) << name;
    EXPECT_EQ(headerValues(*mapped, "content-type"), Values{"text/html"}) << name;
  }
}

TEST(HandlerResult, TreatsNullHeadersCookiesAndBodyAsAbsent) {
  auto mapped = mapHandlerResult(
      R"({"statusCode":200,"headers":null,"cookies":null,"body":null,"isBase64Encoded":null})");
  ASSERT_TRUE(mapped.isOk()) << mapped.status().message();
  EXPECT_EQ(mapped->headers, Headers({{"content-type", "application/json"}}));
  EXPECT_EQ(mapped->body, "");
}

TEST(HandlerResult, DecodesBase64BodyWithEachPaddingLength) {
  struct Case {
    const char* encoded;
    std::string decoded;
  };
  for (const Case& c : {Case{"", ""}, Case{"Zg==", "f"}, Case{"Zm8=", "fo"}, Case{"Zm9v", "foo"},
                        Case{"AP8A", std::string("\x00\xff\x00", 3)},
                        Case{"AA==", std::string(1, '\0')}}) {
    auto mapped = mapHandlerResult(
        json({{"statusCode", 200}, {"body", c.encoded}, {"isBase64Encoded", true}}).dump());
    ASSERT_TRUE(mapped.isOk()) << c.encoded;
    EXPECT_EQ(mapped->body, c.decoded) << c.encoded;
  }
}

TEST(HandlerResult, DecodesBinaryBodyOfEveryByteValue) {
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  auto mapped = mapHandlerResult(json({{"statusCode", 200},
                                       {"headers", {{"content-type", "application/octet-stream"}}},
                                       {"body", base64Encode(all)},
                                       {"isBase64Encoded", true}})
                                     .dump());
  ASSERT_TRUE(mapped.isOk());
  EXPECT_EQ(mapped->body, all);
  EXPECT_EQ(headerValues(*mapped, "content-type"), Values{"application/octet-stream"});
}

TEST(HandlerResult, KeepsBodyAsIsWhenIsBase64EncodedIsFalse) {
  auto mapped = mapHandlerResult(R"({"statusCode":200,"body":"Zm9v","isBase64Encoded":false})");
  ASSERT_TRUE(mapped.isOk());
  EXPECT_EQ(mapped->body, "Zm9v");
}

TEST(HandlerResult, AddsMultiValueHeadersAsSeparateFields) {
  auto mapped = mapHandlerResult(R"({
    "statusCode": 200,
    "headers": {"x-a": "single"},
    "multiValueHeaders": {"x-a": ["m1", "m2"], "x-n": [1, true]}
  })");
  ASSERT_TRUE(mapped.isOk()) << mapped.status().message();
  EXPECT_EQ(headerValues(*mapped, "x-a"), (Values{"single", "m1", "m2"}));
  EXPECT_EQ(headerValues(*mapped, "x-n"), (Values{"1", "true"}));
}

TEST(HandlerResult, DoesNotAddDefaultContentTypeWhenMultiValueHeadersSetIt) {
  auto mapped = mapHandlerResult(
      R"({"statusCode":200,"multiValueHeaders":{"Content-Type":["text/csv"]},"body":"a,b"})");
  ASSERT_TRUE(mapped.isOk()) << mapped.status().message();
  EXPECT_EQ(headerValues(*mapped, "content-type"), Values{"text/csv"});
}

TEST(HandlerResult, RejectsResultThatIsNotJson) {
  expectBadResponse("", "not JSON");
  expectBadResponse("hello", "not JSON");
  expectBadResponse(R"({"statusCode": 200)", "not JSON");
  expectBadResponse("{} {}", "not JSON");
}

TEST(HandlerResult, RejectsStatusCodeThatIsNotAnInteger) {
  expectBadResponse(R"({"statusCode":"200"})", "statusCode");
  expectBadResponse(R"({"statusCode":200.5})", "statusCode");
  expectBadResponse(R"({"statusCode":null})", "statusCode");
  expectBadResponse(R"({"statusCode":true})", "statusCode");
  expectBadResponse(R"({"statusCode":[200]})", "statusCode");
}

TEST(HandlerResult, RejectsStatusCodeOutOfRange) {
  expectBadResponse(R"({"statusCode":99})", "statusCode must be an integer from 100 to 599");
  expectBadResponse(R"({"statusCode":600})", "600");
  expectBadResponse(R"({"statusCode":0})", "statusCode");
  expectBadResponse(R"({"statusCode":-200})", "statusCode");
  expectBadResponse(R"({"statusCode":4294967496})", "statusCode");          // 200 + 2^32
  expectBadResponse(R"({"statusCode":18446744073709551615})", "statusCode");  // 2^64 - 1
}

TEST(HandlerResult, RejectsHeadersThatAreNotAnObject) {
  expectBadResponse(R"({"statusCode":200,"headers":"x-a: 1"})", "headers must be an object");
  expectBadResponse(R"({"statusCode":200,"headers":[["x-a","1"]]})", "headers must be an object");
}

TEST(HandlerResult, RejectsHeaderValueThatIsAnObjectOrList) {
  expectBadResponse(R"({"statusCode":200,"headers":{"x-a":{"v":1}}})", "x-a");
  expectBadResponse(R"({"statusCode":200,"headers":{"x-a":["1"]}})", "x-a");
  expectBadResponse(R"({"statusCode":200,"headers":{"x-a":null}})", "x-a");
}

TEST(HandlerResult, RejectsLineBreaksInHeaderValuesToPreventResponseSplitting) {
  expectBadResponse(R"({"statusCode":200,"headers":{"x-a":"1\r\nSet-Cookie: evil=1"}})",
                    "line break");
  expectBadResponse(R"({"statusCode":200,"headers":{"x-a":"1\nSet-Cookie: evil=1"}})", "line break");
  expectBadResponse(R"({"statusCode":200,"headers":{"x-a":"1\r"}})", "line break");
}

TEST(HandlerResult, RejectsLineBreaksColonsAndSpacesInHeaderNames) {
  expectBadResponse(R"({"statusCode":200,"headers":{"x-a\r\nSet-Cookie":"evil=1"}})", "x-a");
  expectBadResponse(R"({"statusCode":200,"headers":{"x-a: 1\nx-b":"2"}})", "x-a");
  expectBadResponse(R"({"statusCode":200,"headers":{"x a":"1"}})", "x a");
  expectBadResponse(R"({"statusCode":200,"headers":{"x:a":"1"}})", "x:a");
}

// RFC 9110 section 5.5: a sender must not generate CR, LF or NUL in a field value.
TEST(HandlerResult, RejectsNulInHeaderValues) {
  expectBadResponse(R"({"statusCode":200,"headers":{"x-a":"1\u0000x"}})", "x-a");
  expectBadResponse(R"({"statusCode":200,"multiValueHeaders":{"x-a":["1\u0000x"]}})", "x-a");
  expectBadResponse(R"({"statusCode":200,"cookies":["a=1\u0000x"]})", "cookies");
}

// A field name is a non-empty token (RFC 9110 section 5.1); "" would write a line ": v".
TEST(HandlerResult, RejectsEmptyHeaderName) {
  expectBadResponse(R"({"statusCode":200,"headers":{"":"v"}})", "header");
}

TEST(HandlerResult, RejectsLineBreaksInMultiValueHeaderValues) {
  expectBadResponse(R"({"statusCode":200,"multiValueHeaders":{"x-a":["ok","1\r\nx-b: 2"]}})",
                    "multiValueHeaders 'x-a'");
}

TEST(HandlerResult, RejectsLineBreaksInMultiValueHeaderNames) {
  expectBadResponse(R"({"statusCode":200,"multiValueHeaders":{"x-a\r\nSet-Cookie: evil=1":["v"]}})",
                    "x-a");
  expectBadResponse(R"({"statusCode":200,"multiValueHeaders":{"x:a":["v"]}})", "x:a");
}

TEST(HandlerResult, RejectsMultiValueHeaderThatIsNotAList) {
  expectBadResponse(R"({"statusCode":200,"multiValueHeaders":{"x-a":"v"}})",
                    "multiValueHeaders 'x-a' must be a list");
  expectBadResponse(R"({"statusCode":200,"multiValueHeaders":{"x-a":[{"v":1}]}})",
                    "multiValueHeaders 'x-a'");
}

TEST(HandlerResult, RejectsCookiesThatAreNotAListOfStrings) {
  expectBadResponse(R"({"statusCode":200,"cookies":"a=1"})", "cookies must be a list");
  expectBadResponse(R"({"statusCode":200,"cookies":{"a":"1"}})", "cookies must be a list");
  expectBadResponse(R"({"statusCode":200,"cookies":["a=1", 2]})", "cookies must be a list");
}

TEST(HandlerResult, RejectsLineBreaksInCookies) {
  expectBadResponse(R"({"statusCode":200,"cookies":["a=1\r\nx-evil: 1"]})", "cookies");
}

TEST(HandlerResult, RejectsBodyThatIsNotAString) {
  expectBadResponse(R"({"statusCode":200,"body":{"a":1}})", "body must be a string");
  expectBadResponse(R"({"statusCode":200,"body":42})", "body must be a string");
  expectBadResponse(R"({"statusCode":200,"body":["x"]})", "body must be a string");
  expectBadResponse(R"({"statusCode":200,"body":true})", "body must be a string");
}

TEST(HandlerResult, RejectsIsBase64EncodedThatIsNotABoolean) {
  expectBadResponse(R"({"statusCode":200,"body":"Zm9v","isBase64Encoded":"true"})",
                    "isBase64Encoded must be true or false");
  expectBadResponse(R"({"statusCode":200,"body":"Zm9v","isBase64Encoded":1})",
                    "isBase64Encoded must be true or false");
}

TEST(HandlerResult, RejectsInvalidBase64Body) {
  expectBadResponse(R"({"statusCode":200,"body":"not base64!","isBase64Encoded":true})",
                    "not valid base64");
  expectBadResponse(R"({"statusCode":200,"body":"Zm9","isBase64Encoded":true})", "not valid base64");
  expectBadResponse(R"({"statusCode":200,"body":"Zm9v!A==","isBase64Encoded":true})",
                    "not valid base64");
}

TEST(HandlerResult, RejectsBase64BodyWithPaddingInTheMiddle) {
  // Two concatenated encodings: decoding it as "f\0\0f" would send bytes the function never made.
  expectBadResponse(R"({"statusCode":200,"body":"Zg==Zg==","isBase64Encoded":true})",
                    "not valid base64");
}

}  // namespace
}  // namespace gust::gateway
