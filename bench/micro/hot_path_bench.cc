// The per-request work of a warm invocation outside the sockets: the HTTP request becomes an
// API Gateway v2 event, the event goes out in an INVOKE frame, the adapter's RESULT frame is
// decoded and its result mapped to the HTTP response. Shaped like bench/run.sh's load (wrk's GET
// with its few headers; "hello" back), plus a POST with a 1 KiB JSON body and a browser's headers.
#include <string>

#include <benchmark/benchmark.h>
#include <nlohmann/json.hpp>

#include "gateway/http_event.h"
#include "protocol/frame.h"

namespace {

using gust::http::Request;
namespace bhttp = boost::beast::http;

Request wrkGet() {
  Request request(bhttp::verb::get, "/fn/bench-py", 11);
  request.set(bhttp::field::host, "127.0.0.1:8080");
  return request;
}

Request browserPost() {
  Request request(bhttp::verb::post, "/fn/orders/items?expand=lines&page=2", 11);
  request.set(bhttp::field::host, "api.example.com");
  request.set(bhttp::field::user_agent,
              "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0");
  request.set(bhttp::field::accept, "application/json, text/plain, */*");
  request.set(bhttp::field::accept_encoding, "gzip, deflate, br");
  request.set(bhttp::field::accept_language, "en-GB,en;q=0.9");
  request.set(bhttp::field::content_type, "application/json");
  request.set(bhttp::field::cookie, "session=0123456789abcdef; theme=dark");
  request.set(bhttp::field::origin, "https://app.example.com");
  request.set("X-Request-Id", "c0ffee00-1234-5678-9abc-def012345678");
  std::string body = R"({"items":[)";
  for (int i = 0; body.size() < 1000; ++i) {
    body += (i ? "," : "") + std::string(R"({"sku":"A-)") + std::to_string(i) + R"(","qty":1})";
  }
  request.body() = body + "]}";
  request.prepare_payload();
  return request;
}

gust::gateway::EventContext context() {
  gust::gateway::EventContext c;
  c.request_id = "0123456789abcdef0123456789abcdef";
  c.source_ip = "127.0.0.1";
  c.time_epoch_ms = 1795000000000;
  c.domain_name = "127.0.0.1";
  return c;
}

void BM_BuildHttpEvent_WrkGet(benchmark::State& state) {
  Request request = wrkGet();
  auto c = context();
  for (auto _ : state) benchmark::DoNotOptimize(gust::gateway::buildHttpEvent(request, c));
}

void BM_BuildHttpEvent_BrowserPost(benchmark::State& state) {
  Request request = browserPost();
  auto c = context();
  for (auto _ : state) benchmark::DoNotOptimize(gust::gateway::buildHttpEvent(request, c));
}

void BM_EncodeInvokeFrame(benchmark::State& state) {
  std::string event = gust::gateway::buildHttpEvent(wrkGet(), context());
  for (auto _ : state) {
    nlohmann::json header = {{"type", gust::protocol::type::kInvoke},
                             {"id", "0123456789abcdef0123456789abcdef"},
                             {"deadline_ms", 1795000030000},
                             {"function_name", "bench-py"},
                             {"function_version", "1"},
                             {"memory_mb", 128},
                             {"trace_id", "4bf92f3577b34da6a3ce929d0e0e4736"}};
    benchmark::DoNotOptimize(gust::protocol::encodeFrame(header, event));
  }
}

void BM_DecodeResultFrame(benchmark::State& state) {
  std::string wire = gust::protocol::encodeFrame(
      {{"type", "RESULT"}, {"id", "0123456789abcdef0123456789abcdef"}},
      R"({"statusCode":200,"headers":{"content-type":"text/plain"},"body":"hello"})");
  for (auto _ : state) {
    gust::protocol::FrameDecoder decoder;
    decoder.feed(wire);
    benchmark::DoNotOptimize(decoder.next());
  }
}

void BM_MapHandlerResult(benchmark::State& state) {
  const std::string result =
      R"({"statusCode":200,"headers":{"content-type":"text/plain"},"body":"hello"})";
  for (auto _ : state) benchmark::DoNotOptimize(gust::gateway::mapHandlerResult(result));
}

}  // namespace

BENCHMARK(BM_BuildHttpEvent_WrkGet);
BENCHMARK(BM_BuildHttpEvent_BrowserPost);
BENCHMARK(BM_EncodeInvokeFrame);
BENCHMARK(BM_DecodeResultFrame);
BENCHMARK(BM_MapHandlerResult);
BENCHMARK_MAIN();
