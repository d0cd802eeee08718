#include "gateway/http_event.h"

#include <cstdio>
#include <ctime>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "gateway/codec.h"
#include "protocol/json_input.h"

namespace gust::gateway {
namespace {

using nlohmann::json;

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return std::string(s);
}

bool isTextContentType(std::string_view type) {
  std::string lower = trim(type.substr(0, type.find(';')));
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower.empty() || lower.rfind("text/", 0) == 0 || lower == "application/json" ||
         lower == "application/xml" || lower == "application/javascript" ||
         lower == "application/x-www-form-urlencoded" || lower == "application/graphql" ||
         (lower.size() > 5 && (lower.ends_with("+json") || lower.ends_with("+xml")));
}

std::string formatRequestTime(int64_t epoch_ms) {
  std::time_t seconds = epoch_ms / 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buffer[64];
  std::strftime(buffer, sizeof buffer, "%d/%b/%Y:%H:%M:%S +0000", &utc);
  return buffer;
}

Status badResponse(std::string_view why) {
  return Status(Code::FunctionError,
                fmt::format("the function returned an invalid response: {}", why));
}

constexpr std::string_view kForbiddenInValue("\r\n\0", 3);
constexpr std::string_view kForbiddenInName("\r\n\0: ", 5);

// A field name is a non-empty token; values may not break lines (response splitting).
bool validHeaderName(std::string_view name) {
  return !name.empty() && name.find_first_of(kForbiddenInName) == std::string_view::npos;
}
bool validHeaderValue(std::string_view value) {
  return value.find_first_of(kForbiddenInValue) == std::string_view::npos;
}

bool isContentType(std::string_view name) {
  constexpr std::string_view kName = "content-type";
  if (name.size() != kName.size()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(name[i])) != kName[i]) return false;
  }
  return true;
}

// Header values may be strings, numbers or booleans, as API Gateway accepts.
std::optional<std::string> headerValue(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number() || value.is_boolean()) return value.dump();
  return std::nullopt;
}

// The JSON escape of one byte of valid UTF-8 text, or "" when it stands for itself (what
// nlohmann::json's dump writes without ensure_ascii).
std::string_view jsonEscape(unsigned char c, char (&scratch)[8]) {
  switch (c) {
    case '"':
      return "\\\"";
    case '\\':
      return "\\\\";
    case '\b':
      return "\\b";
    case '\f':
      return "\\f";
    case '\n':
      return "\\n";
    case '\r':
      return "\\r";
    case '\t':
      return "\\t";
    default:
      break;
  }
  if (c >= 0x20) return {};
  std::snprintf(scratch, sizeof scratch, "\\u%04x", c);
  return {scratch, 6};
}

// The size of `text` (valid UTF-8) written as a JSON string, quotes included.
std::size_t jsonStringSize(std::string_view text) {
  char scratch[8];
  std::size_t size = 2;
  for (char c : text) {
    std::string_view escape = jsonEscape(static_cast<unsigned char>(c), scratch);
    size += escape.empty() ? 1 : escape.size();
  }
  return size;
}

void appendJsonString(std::string& out, std::string_view text) {
  char scratch[8];
  out.push_back('"');
  std::size_t run = 0;  // bytes that stand for themselves are copied in runs
  for (std::size_t i = 0; i < text.size(); ++i) {
    std::string_view escape = jsonEscape(static_cast<unsigned char>(text[i]), scratch);
    if (escape.empty()) continue;
    out.append(text.substr(run, i - run));
    out.append(escape);
    run = i + 1;
  }
  out.append(text.substr(run));
  out.push_back('"');
}

}  // namespace

std::string buildHttpEvent(const http::Request& request, const EventContext& context) {
  std::string_view target = request.target();
  auto question = target.find('?');
  std::string_view raw_path = target.substr(0, question);
  std::string_view raw_query =
      question == std::string_view::npos ? std::string_view() : target.substr(question + 1);

  json headers = json::object();
  json cookies = json::array();
  for (const auto& field : request) {
    std::string name(field.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value(field.value());
    if (name == "cookie") {
      std::string_view rest = value;
      while (!rest.empty()) {
        auto semi = rest.find(';');
        std::string cookie = trim(rest.substr(0, semi));
        if (!cookie.empty()) cookies.push_back(cookie);
        if (semi == std::string_view::npos) break;
        rest.remove_prefix(semi + 1);
      }
      continue;
    }
    auto it = headers.find(name);
    if (it == headers.end()) {
      headers[name] = value;
    } else {
      *it = it->get<std::string>() + "," + value;
    }
  }

  json query = json::object();
  forEachQueryParam(raw_query, [&](std::string key, std::string value) {
    auto it = query.find(key);
    if (it == query.end()) {
      query[key] = std::move(value);
    } else {
      *it = it->get<std::string>() + "," + value;
    }
  });

  std::string method(request.method_string());
  json event = {
      {"version", "2.0"},
      {"routeKey", context.route_key},
      {"rawPath", std::string(raw_path)},
      {"rawQueryString", std::string(raw_query)},
      {"headers", headers},
      {"requestContext",
       {{"accountId", "anonymous"},
        {"apiId", "gust"},
        {"domainName", context.domain_name},
        {"domainPrefix", context.domain_name.substr(0, context.domain_name.find('.'))},
        {"http",
         {{"method", method},
          {"path", urlDecode(raw_path, false)},
          {"protocol", request.version() == 10 ? "HTTP/1.0" : "HTTP/1.1"},
          {"sourceIp", context.source_ip},
          {"userAgent", std::string(request[http::Field::user_agent])}}},
        {"requestId", context.request_id},
        {"routeKey", context.route_key},
        {"stage", "$default"},
        {"time", formatRequestTime(context.time_epoch_ms)},
        {"timeEpoch", context.time_epoch_ms}}},
      {"isBase64Encoded", false},
  };
  if (!cookies.empty()) event["cookies"] = cookies;
  if (!query.empty()) event["queryStringParameters"] = query;
  if (!context.path_parameters.empty()) event["pathParameters"] = context.path_parameters;
  const std::string& body = request.body();
  bool text =
      body.empty() || (isTextContentType(request[http::Field::content_type]) && isValidUtf8(body));
  event["isBase64Encoded"] = !text;
  std::string out = event.dump(-1, ' ', false, json::error_handler_t::replace);
  if (body.empty()) return out;
  // The body is written straight into the event's text, not copied into the JSON tree first:
  // a large body is then held twice at most (the request's and the event's), not three times.
  // Sized first, so a body of many MiB is written into exactly the room it needs.
  constexpr std::string_view kBodyKey = ",\"body\":";
  std::size_t encoded = text ? jsonStringSize(body) : base64Size(body.size()) + 2;
  out.reserve(out.size() + kBodyKey.size() + encoded);
  out.pop_back();  // the closing '}', put back after the body
  out += kBodyKey;
  if (text) {
    appendJsonString(out, body);
  } else {
    out.push_back('"');
    appendBase64(out, body);
    out.push_back('"');
  }
  out.push_back('}');
  return out;
}

Result<MappedResponse> mapHandlerResult(std::string_view result_json) {
  auto parsed = protocol::parseJson(result_json, "the result");
  if (!parsed) return badResponse(parsed.status().message());
  json& result = *parsed;
  MappedResponse mapped;
  if (!result.is_object() || !result.contains("statusCode")) {
    // Lambda's rule: anything that is not a response object is the JSON body of a 200.
    mapped.headers.emplace_back("content-type", "application/json");
    mapped.body = std::string(result_json);
    return mapped;
  }
  const json& status = result["statusCode"];
  if (!status.is_number_integer() || status.get<int64_t>() < 100 || status.get<int64_t>() > 599) {
    return badResponse(
        fmt::format("statusCode must be an integer from 100 to 599, not {}", status.dump()));
  }
  mapped.status = status.get<int>();
  if (mapped.status < 200) {
    return badResponse(
        fmt::format("statusCode {} is informational, not a final response", mapped.status));
  }
  bool has_content_type = false;
  if (auto headers = result.find("headers"); headers != result.end() && !headers->is_null()) {
    if (!headers->is_object()) return badResponse("headers must be an object");
    for (const auto& [name, value] : headers->items()) {
      auto text = headerValue(value);
      if (!text)
        return badResponse(fmt::format("header '{}' must be a string, number or boolean", name));
      if (!validHeaderName(name) || !validHeaderValue(*text)) {
        return badResponse(fmt::format("header '{}' has an invalid name or a line break", name));
      }
      if (isContentType(name)) has_content_type = true;
      mapped.headers.emplace_back(name, *text);
    }
  }
  if (auto multi = result.find("multiValueHeaders"); multi != result.end() && !multi->is_null()) {
    if (!multi->is_object()) return badResponse("multiValueHeaders must be an object");
    for (const auto& [name, values] : multi->items()) {
      if (!validHeaderName(name)) {
        return badResponse(fmt::format("multiValueHeaders name '{}' is invalid", name));
      }
      if (!values.is_array())
        return badResponse(fmt::format("multiValueHeaders '{}' must be a list", name));
      for (const auto& value : values) {
        auto text = headerValue(value);
        if (!text || !validHeaderValue(*text)) {
          return badResponse(
              fmt::format("multiValueHeaders '{}' must hold strings without line breaks", name));
        }
        if (isContentType(name)) has_content_type = true;
        mapped.headers.emplace_back(name, *text);
      }
    }
  }
  if (auto cookies = result.find("cookies"); cookies != result.end() && !cookies->is_null()) {
    if (!cookies->is_array()) return badResponse("cookies must be a list of strings");
    for (const auto& cookie : *cookies) {
      if (!cookie.is_string() || !validHeaderValue(cookie.get_ref<const std::string&>())) {
        return badResponse("cookies must be a list of strings");
      }
      mapped.headers.emplace_back("set-cookie", cookie.get<std::string>());
    }
  }
  if (!has_content_type) mapped.headers.emplace_back("content-type", "application/json");
  // 204 and 304 have no body by definition (RFC 9110): whatever the function put there is dropped.
  bool bodiless = mapped.status == 204 || mapped.status == 304;
  if (auto body = result.find("body"); !bodiless && body != result.end() && !body->is_null()) {
    if (!body->is_string())
      return badResponse("body must be a string (serialise objects yourself)");
    bool base64 = false;
    if (auto flag = result.find("isBase64Encoded"); flag != result.end() && !flag->is_null()) {
      if (!flag->is_boolean()) return badResponse("isBase64Encoded must be true or false");
      base64 = flag->get<bool>();
    }
    if (base64) {
      auto decoded = base64Decode(body->get_ref<const std::string&>());
      if (!decoded) return badResponse("isBase64Encoded is true but body is not valid base64");
      mapped.body = std::move(*decoded);
    } else {
      mapped.body = std::move(body->get_ref<std::string&>());  // the tree is dropped next
    }
  }
  return mapped;
}

}  // namespace gust::gateway
