#pragma once
// FunctionConfig: what a deploy says about its function — from gust.toml, or inferred from the
// directory's shape (a Vercel-style api/ folder, a lone main.py or index.js). Stored with each
// version as JSON; immutable once deployed.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace gust::bundle {

// One handler in a Vercel-style project: the file api/users.py is entry "api/users", invoked at
// /fn/<project>/api/users and routed at /api/users.
struct Entry {
  std::string path;     // "api/users"
  std::string runtime;  // "python3" | "node"
  std::string handler;  // "api/users.py"
};

struct FunctionConfig {
  std::string name;
  std::string runtime;  // python3 | node | java | provided | http
  // python3 and node: module.attr / file.export; java: a class (optionally Class::method);
  // provided: the executable (default "bootstrap"); http: the command that listens on $PORT.
  std::string handler;
  // How python3 and node call the handler: "lambda" handler(event, context) (and the Vercel and
  // WSGI shapes), "openwhisk" main(params), "openfaas" handle(event, context) (python3-http).
  std::string contract = "lambda";
  // runtime "http": the instance is ready when GET of this path answers (any status below 500);
  // "" = when $PORT accepts a connection.
  std::string ready_path;
  int64_t memory_mb = 256;
  int64_t timeout_s = 30;
  int64_t concurrency = 1;
  int64_t max_instances = 10;
  int64_t tmp_mb = 64;  // the private /tmp's size; its pages count against memory_mb
  std::string network = "none";
  std::map<std::string, std::string> env;
  std::vector<std::string> secrets;
  // Who may call it through the gateway: "public" (default, like a Vercel deployment), "key"
  // (any client key of the tenant or of a tenant it is shared with), "keys:<id>,<id>".
  std::string access = "public";
  // {"origins": [...], "methods": [...], "headers": [...], "expose": [...], "credentials": bool,
  //  "max_age": s}; null = no CORS. The gateway interprets it (gateway/cors.h).
  nlohmann::json cors;
  // Asynchronous invocations (X-Gust-Invocation-Type: Event, cron): retries after the first
  // attempt fails or times out, and how old an event may get before it goes to the dead letters.
  int64_t max_retries = 2;
  int64_t max_event_age_s = 21600;
  // Asynchronous invocations' destinations (Lambda's OnSuccess/OnFailure): "" = none,
  // "function:NAME" (a function of the same tenant, invoked asynchronously) or
  // "kafka:TOPIC@HOST:PORT[,HOST:PORT...]". See parseDestination().
  std::string on_success;
  std::string on_failure;
  std::vector<Entry> entries;  // non-empty for a Vercel-style project

  bool isProject() const { return !entries.empty(); }
  // Where an entry is routed: "/" + its path, with a trailing "/index" dropped (api/index.py
  // serves /api, as on Vercel).
  static std::string routeOf(const Entry& entry);
  // The entry a request path (relative to the function, like "api/users/7") selects: the entry
  // whose path is the longest prefix at a segment boundary. Nullptr when none matches.
  const Entry* findEntry(std::string_view relative_path) const;
};

inline constexpr const char* kManifestFile = "gust.toml";

// Parses gust.toml text. Unknown keys and wrong types are errors that name the line.
Result<FunctionConfig> parseManifest(std::string_view toml_text, const std::string& default_name);

// Reads the deployable directory's config: gust.toml if present, else the shape of the files.
Result<FunctionConfig> loadFunctionConfig(const std::string& code_dir,
                                          const std::string& default_name);

// "public", "key" or "keys:<client id>,..."; the access mode of a function or route.
Status validateAccessMode(std::string_view access);

// Function names: 1-63 of [a-z0-9-_], starting with a letter or digit.
Status validateFunctionName(std::string_view name);

// An on_success / on_failure destination, parsed: "function:NAME" or "kafka:TOPIC@BROKERS".
struct Destination {
  enum class Kind { kFunction, kKafka };
  Kind kind = Kind::kFunction;
  std::string function;  // kFunction
  std::string topic;     // kKafka
  std::string brokers;   // kKafka: "host:port[,host:port...]"
};
// InvalidArgument with a message saying what is wrong (no line: the caller adds it).
Result<Destination> parseDestination(std::string_view text);

nlohmann::json toJson(const FunctionConfig& config);
Result<FunctionConfig> functionConfigFromJson(std::string_view json_text);

}  // namespace gust::bundle
