#include "bundle/manifest.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "protocol/json_input.h"

namespace gust::bundle {
namespace fs = std::filesystem;
namespace {

constexpr std::string_view kRuntimes[] = {"python3", "node", "java", "provided", "http"};
constexpr std::string_view kContracts[] = {"lambda", "openwhisk", "openfaas"};
constexpr std::string_view kNetworks[] = {"none", "egress"};

bool oneOf(std::string_view value, std::initializer_list<std::string_view> options) {
  for (auto option : options) {
    if (value == option) return true;
  }
  return false;
}

template <std::size_t N>
std::string listOf(const std::string_view (&options)[N]) {
  std::string out;
  for (auto option : options) out += (out.empty() ? "" : " | ") + std::string(option);
  return out;
}

Status atLine(const toml::node& node, std::string message) {
  return invalidArgument(
      fmt::format("gust.toml:{}: {}", node.source().begin.line, std::move(message)));
}

Result<std::string> stringField(const toml::node& node, std::string_view key) {
  if (auto value = node.value<std::string>()) return *value;
  return atLine(node, fmt::format("'{}' must be a string", key));
}

Result<int64_t> integerField(const toml::node& node, std::string_view key, int64_t min,
                             int64_t max) {
  if (!node.is_integer()) return atLine(node, fmt::format("'{}' must be an integer", key));
  int64_t value = node.as_integer()->get();
  if (value < min || value > max) {
    return atLine(node,
                  fmt::format("'{}' must be between {} and {}, not {}", key, min, max, value));
  }
  return value;
}

// A name as the message shows it: a NUL (or another control byte) as \xNN, not as itself.
std::string printable(std::string_view text) {
  std::string out;
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    out += byte < 0x20 || byte == 0x7f ? fmt::format("\\x{:02x}", byte) : std::string(1, c);
  }
  return out;
}

// Each entry becomes NAME=VALUE in the instance's environment, a C string: a NUL would cut it
// short (or fail the exec), and a name that is empty or holds '=' would set another variable.
Result<std::map<std::string, std::string>> parseEnvTable(const toml::node& node) {
  const toml::table* env = node.as_table();
  if (!env) return atLine(node, "'env' must be a table of strings, e.g. env = { MODE = \"prod\" }");
  std::map<std::string, std::string> out;
  for (auto&& [key, value] : *env) {
    std::string_view name = key.str();
    if (name.empty()) return atLine(value, "env: a variable's name cannot be empty");
    if (name.find_first_of(std::string_view("=\0", 2)) != std::string_view::npos) {
      return atLine(value,
                    fmt::format("env.\"{}\": a variable's name cannot contain '=' or a NUL byte",
                                printable(name)));
    }
    auto text = value.value<std::string>();
    if (!text) return atLine(value, fmt::format("env.{} must be a string", printable(name)));
    if (text->find('\0') != std::string::npos) {
      return atLine(value, fmt::format("env.{}: the value reaches the function as an environment "
                                       "variable, so it cannot contain a NUL byte",
                                       printable(name)));
    }
    out.emplace(name, std::move(*text));
  }
  return out;
}

Status checkRanges(const FunctionConfig& c) {
  if (c.runtime.empty()) {
    return invalidArgument(fmt::format("gust.toml: 'runtime' is required ({})", listOf(kRuntimes)));
  }
  if (c.handler.empty()) {
    if (c.runtime == "http") {
      return invalidArgument(
          "gust.toml: runtime \"http\" needs 'handler', the command that "
          "listens on $PORT (e.g. handler = \"python3 app.py\")");
    }
    if (c.runtime == "java") {
      return invalidArgument(
          "gust.toml: runtime \"java\" needs 'handler', the class with "
          "handleRequest (e.g. handler = \"example.Hello\" or "
          "\"example.Hello::handleRequest\")");
    }
    return invalidArgument("gust.toml: 'handler' is required (e.g. \"main.handler\")");
  }
  if (c.contract != "lambda" && c.runtime != "python3" && c.runtime != "node") {
    return invalidArgument(
        fmt::format("gust.toml: contract \"{}\" is for runtime python3 or node, not {}", c.contract,
                    c.runtime));
  }
  if (c.contract == "openfaas" && c.runtime != "python3") {
    return invalidArgument(
        "gust.toml: contract \"openfaas\" (the python3-http template's "
        "handle(event, context)) is for runtime python3");
  }
  if (!c.ready_path.empty() && c.runtime != "http") {
    return invalidArgument("gust.toml: 'ready_path' is for runtime \"http\" only");
  }
  return validateFunctionName(c.name);
}

std::string defaultHandler(const std::string& runtime, const std::string& contract = "lambda") {
  // Where each platform's own tooling looks: an OpenWhisk zip action's __main__.py or package
  // main with `main`, the OpenFaaS python3-http template's handler.py with `handle`.
  if (contract == "openwhisk") return runtime == "node" ? "index.main" : "__main__.main";
  if (contract == "openfaas") return runtime == "node" ? "handler" : "handler.handle";
  if (runtime == "provided") return "bootstrap";  // as on Lambda: an executable named bootstrap
  if (runtime == "http") return "";               // the command must be given
  if (runtime == "java") return "";               // the class must be given
  return runtime == "node" ? "index.handler" : "main.handler";
}

// A directory without gust.toml: a Vercel-style project if it has api/ files, else a lone
// main.py or index.js/.mjs exporting `handler`.
Result<FunctionConfig> inferConfig(const fs::path& dir, const std::string& default_name) {
  FunctionConfig config;
  config.name = default_name;
  fs::path api = dir / "api";
  std::error_code ec;
  if (fs::is_directory(api, ec)) {
    for (auto it = fs::recursive_directory_iterator(api, ec); !ec && it != fs::end(it);
         it.increment(ec)) {
      if (!it->is_regular_file()) continue;
      fs::path rel = it->path().lexically_relative(dir);
      std::string ext = rel.extension().string();
      std::string runtime = ext == ".py"                                       ? "python3"
                            : (ext == ".js" || ext == ".mjs" || ext == ".cjs") ? "node"
                                                                               : "";
      if (runtime.empty()) continue;
      // Files and folders starting with _ or . are helpers, not endpoints (Vercel's rule).
      bool hidden = false;
      for (const auto& part : rel) {
        if (!part.empty() && (part.string()[0] == '_' || part.string()[0] == '.')) hidden = true;
      }
      if (hidden) continue;
      std::string path = (rel.parent_path() / rel.stem()).generic_string();
      config.entries.push_back({path, runtime, rel.generic_string()});
    }
    std::sort(config.entries.begin(), config.entries.end(),
              [](const Entry& a, const Entry& b) { return a.path < b.path; });
    if (!config.entries.empty()) {
      config.runtime = config.entries.front().runtime;
      config.handler = config.entries.front().handler;
      GUST_RETURN_IF_ERROR(validateFunctionName(config.name));
      return config;
    }
  }
  if (fs::exists(dir / "main.py")) {
    config.runtime = "python3";
  } else if (fs::exists(dir / "index.js") || fs::exists(dir / "index.mjs") ||
             fs::exists(dir / "index.cjs")) {
    config.runtime = "node";
  } else {
    return invalidArgument(
        "cannot tell how to run this directory: add a gust.toml (runtime, handler), a main.py or "
        "index.js exporting `handler`, or an api/ folder of .py/.js files");
  }
  config.handler = defaultHandler(config.runtime);
  GUST_RETURN_IF_ERROR(validateFunctionName(config.name));
  return config;
}

}  // namespace

std::string FunctionConfig::routeOf(const Entry& entry) {
  std::string path = "/" + entry.path;
  if (path.ends_with("/index")) path.resize(path.size() - 6);
  return path;
}

const Entry* FunctionConfig::findEntry(std::string_view relative_path) const {
  const Entry* best = nullptr;
  for (const Entry& entry : entries) {
    std::string_view p = entry.path;
    bool matches = relative_path == p ||
                   (relative_path.size() > p.size() && relative_path.substr(0, p.size()) == p &&
                    relative_path[p.size()] == '/');
    // api/index serves api/ itself, as on Vercel.
    if (!matches && p.size() > 6 && p.substr(p.size() - 6) == "/index") {
      std::string_view dir = p.substr(0, p.size() - 6);
      matches = relative_path == dir || relative_path == std::string(dir) + "/";
    }
    if (matches && (!best || entry.path.size() > best->path.size())) best = &entry;
  }
  return best;
}

Status validateFunctionName(std::string_view name) {
  bool ok = !name.empty() && name.size() <= 63 && std::isalnum(static_cast<unsigned char>(name[0]));
  for (char c : name) {
    if (!(std::islower(static_cast<unsigned char>(c)) ||
          std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '_')) {
      ok = false;
    }
  }
  if (ok) return Status::ok();
  return invalidArgument(fmt::format(
      "invalid function name '{}': use 1-63 lowercase letters, digits, '-' or '_', starting with "
      "a letter or digit (set `name` in gust.toml or pass --name)",
      name));
}

Status validateAccessMode(std::string_view access) {
  if (access == "public" || access == "key") return Status::ok();
  if (access.starts_with("keys:") && access.size() > 5) {
    std::string_view list = access.substr(5);
    for (;;) {
      auto comma = list.find(',');
      std::string_view id = list.substr(0, comma);
      if (id.size() != 19 || !id.starts_with("ck_") ||
          id.substr(3).find_first_not_of("0123456789abcdef") != std::string_view::npos) {
        return invalidArgument(
            fmt::format("'{}' in access '{}' is not a client id (ck_ and 16 hex digits, "
                        "as `gust key create` prints)",
                        id, access));
      }
      if (comma == std::string_view::npos) break;
      list.remove_prefix(comma + 1);
    }
    return Status::ok();
  }
  return invalidArgument(
      fmt::format("access '{}' must be public, key or keys:<client id>,<client id>", access));
}

namespace {
// [cors] origins = [...], methods = [...], headers = [...], expose = [...], credentials, max_age.
Result<nlohmann::json> parseCorsTable(const toml::node& node) {
  const toml::table* table = node.as_table();
  if (!table)
    return atLine(node,
                  "'cors' must be a table, e.g. [cors] origins = [\"https://app.example.com\"]");
  nlohmann::json cors = {{"origins", nlohmann::json::array()}};
  for (auto&& [key, value] : *table) {
    std::string_view k = key.str();
    if (k == "origins" || k == "methods" || k == "headers" || k == "expose") {
      const toml::array* items = value.as_array();
      if (!items) return atLine(value, fmt::format("cors.{} must be an array of strings", k));
      nlohmann::json list = nlohmann::json::array();
      for (auto&& item : *items) {
        auto text = item.value<std::string>();
        if (!text) return atLine(item, fmt::format("cors.{} must be an array of strings", k));
        if (k == "origins" && *text != "*" && text->find("://") == std::string::npos) {
          return atLine(item, fmt::format("CORS origin '{}' must be scheme://host[:port], e.g. "
                                          "https://app.example.com, or *",
                                          *text));
        }
        list.push_back(*text);
      }
      cors[std::string(k)] = list;
    } else if (k == "credentials") {
      auto v = value.value<bool>();
      if (!v) return atLine(value, "cors.credentials must be true or false");
      cors["credentials"] = *v;
    } else if (k == "max_age") {
      auto v = integerField(value, "cors.max_age", 0, 86400);
      if (!v) return v.status();
      cors["max_age"] = *v;
    } else {
      return atLine(value,
                    fmt::format("unknown key cors.{} (known: origins, methods, headers, expose, "
                                "credentials, max_age)",
                                k));
    }
  }
  return cors;
}
}  // namespace

Result<FunctionConfig> parseManifest(std::string_view toml_text, const std::string& default_name) {
  toml::table table;
  try {
    table = toml::parse(toml_text, std::string_view("gust.toml"));
  } catch (const toml::parse_error& error) {
    return invalidArgument(fmt::format("gust.toml:{}:{}: {}", error.source().begin.line,
                                       error.source().begin.column, error.description()));
  }
  FunctionConfig config;
  config.name = default_name;
  for (auto&& [key, node] : table) {
    std::string_view k = key.str();
    if (k == "name") {
      auto v = stringField(node, k);
      if (!v) return v.status();
      config.name = *v;
    } else if (k == "runtime") {
      auto v = stringField(node, k);
      if (!v) return v.status();
      if (!oneOf(*v, {"python3", "node", "java", "provided", "http"})) {
        return atLine(
            node, fmt::format("unknown runtime '{}' (this server runs {})", *v, listOf(kRuntimes)));
      }
      config.runtime = *v;
    } else if (k == "handler") {
      auto v = stringField(node, k);
      if (!v) return v.status();
      config.handler = *v;
    } else if (k == "memory_mb") {
      auto v = integerField(node, k, 64, 10240);
      if (!v) return v.status();
      config.memory_mb = *v;
    } else if (k == "timeout_s") {
      auto v = integerField(node, k, 1, 900);
      if (!v) return v.status();
      config.timeout_s = *v;
    } else if (k == "concurrency") {
      auto v = integerField(node, k, 1, 1000);
      if (!v) return v.status();
      config.concurrency = *v;
    } else if (k == "max_instances") {
      auto v = integerField(node, k, 1, 1000);
      if (!v) return v.status();
      config.max_instances = *v;
    } else if (k == "max_retries") {
      auto v = integerField(node, k, 0, 10);
      if (!v) return v.status();
      config.max_retries = *v;
    } else if (k == "max_event_age") {
      // Seconds, or a string with a unit: "90s", "10m", "6h".
      int64_t seconds = -1;
      if (node.is_integer()) {
        seconds = node.as_integer()->get();
      } else if (auto text = node.value<std::string>(); text && text->size() >= 2) {
        char unit = text->back();
        int64_t scale = unit == 's' ? 1 : unit == 'm' ? 60 : unit == 'h' ? 3600 : 0;
        std::string digits = text->substr(0, text->size() - 1);
        if (scale && digits.size() <= 6 && std::all_of(digits.begin(), digits.end(), [](char c) {
              return c >= '0' && c <= '9';
            })) {
          seconds = std::stoll(digits) * scale;
        }
      }
      if (seconds < 1 || seconds > 21600) {
        return atLine(node,
                      "'max_event_age' must be from 1 s to 6 h: seconds (600) or a string "
                      "like \"90s\", \"10m\", \"6h\"");
      }
      config.max_event_age_s = seconds;
    } else if (k == "on_success" || k == "on_failure") {
      auto v = stringField(node, k);
      if (!v) return v.status();
      if (auto destination = parseDestination(*v); !destination) {
        return atLine(node, fmt::format("'{}' {}", k, destination.status().message()));
      }
      (k == "on_success" ? config.on_success : config.on_failure) = *v;
    } else if (k == "contract") {
      auto v = stringField(node, k);
      if (!v) return v.status();
      if (!oneOf(*v, {"lambda", "openwhisk", "openfaas"})) {
        return atLine(node, fmt::format("'contract' must be {}", listOf(kContracts)));
      }
      config.contract = *v;
    } else if (k == "ready_path") {
      auto v = stringField(node, k);
      if (!v) return v.status();
      if (v->empty() || v->front() != '/' || v->find_first_of(" \r\n\t") != std::string::npos) {
        return atLine(node, "'ready_path' must be a path starting with /, e.g. \"/healthz\"");
      }
      config.ready_path = *v;
    } else if (k == "tmp_mb") {
      auto v = integerField(node, k, 1, 10240);
      if (!v) return v.status();
      config.tmp_mb = *v;
    } else if (k == "network") {
      auto v = stringField(node, k);
      if (!v) return v.status();
      if (!oneOf(*v, {"none", "egress"})) {
        return atLine(node, fmt::format("'network' must be {}", listOf(kNetworks)));
      }
      config.network = *v;
    } else if (k == "env") {
      auto env = parseEnvTable(node);
      if (!env) return env.status();
      config.env = std::move(*env);
    } else if (k == "secrets") {
      const toml::array* secrets = node.as_array();
      if (!secrets) return atLine(node, "'secrets' must be an array of names");
      for (auto&& item : *secrets) {
        auto v = item.value<std::string>();
        if (!v) return atLine(item, "'secrets' must be an array of strings");
        config.secrets.push_back(*v);
      }
    } else if (k == "access") {
      auto v = stringField(node, k);
      if (!v) return v.status();
      if (Status valid = validateAccessMode(*v); !valid.isOk())
        return atLine(node, valid.message());
      config.access = *v;
    } else if (k == "cors") {
      auto cors = parseCorsTable(node);
      if (!cors) return cors.status();
      config.cors = std::move(*cors);
    } else {
      return invalidArgument(fmt::format(
          "gust.toml:{}: unknown key '{}' (known: name, runtime, handler, memory_mb, timeout_s, "
          "concurrency, max_instances, tmp_mb, network, env, secrets, access, cors, max_retries, "
          "max_event_age, on_success, on_failure, contract, ready_path)",
          key.source().begin.line, k));
    }
  }
  if (config.handler.empty() && !config.runtime.empty()) {
    config.handler = defaultHandler(config.runtime, config.contract);
  }
  GUST_RETURN_IF_ERROR(checkRanges(config));
  return config;
}

Result<FunctionConfig> loadFunctionConfig(const std::string& code_dir,
                                          const std::string& default_name) {
  fs::path manifest = fs::path(code_dir) / kManifestFile;
  if (!fs::exists(manifest)) return inferConfig(code_dir, default_name);
  std::ifstream in(manifest, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return parseManifest(text.str(), default_name);
}

Result<Destination> parseDestination(std::string_view text) {
  constexpr std::string_view kForms =
      "must be \"function:NAME\" or \"kafka:TOPIC@HOST:PORT\" (brokers comma-separated)";
  Destination d;
  if (text.starts_with("function:")) {
    d.kind = Destination::Kind::kFunction;
    d.function = std::string(text.substr(9));
    if (Status valid = validateFunctionName(d.function); !valid.isOk()) {
      return invalidArgument(fmt::format("{}: {}", kForms, valid.message()));
    }
    return d;
  }
  if (text.starts_with("kafka:")) {
    std::string_view rest = text.substr(6);
    size_t at = rest.find('@');
    if (at == std::string_view::npos) {
      return invalidArgument(fmt::format("{}: no brokers after '@' in '{}'", kForms, text));
    }
    d.kind = Destination::Kind::kKafka;
    d.topic = std::string(rest.substr(0, at));
    d.brokers = std::string(rest.substr(at + 1));
    // Kafka's topic names: 1-249 of [a-zA-Z0-9._-].
    bool topic_ok =
        !d.topic.empty() && d.topic.size() <= 249 && d.topic != "." && d.topic != ".." &&
        std::all_of(d.topic.begin(), d.topic.end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
        });
    if (!topic_ok) {
      return invalidArgument(fmt::format(
          "{}: '{}' is not a Kafka topic name (1-249 of a-z A-Z 0-9 . _ -)", kForms, d.topic));
    }
    size_t start = 0;
    while (true) {
      size_t comma = d.brokers.find(',', start);
      std::string broker =
          d.brokers.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      size_t colon = broker.rfind(':');
      bool ok = colon != std::string::npos && colon > 0 && colon + 1 < broker.size() &&
                colon + 6 >= broker.size() &&
                std::all_of(broker.begin() + colon + 1, broker.end(),
                            [](char c) { return c >= '0' && c <= '9'; });
      if (!ok) {
        return invalidArgument(fmt::format("{}: broker '{}' is not HOST:PORT", kForms, broker));
      }
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    return d;
  }
  return invalidArgument(fmt::format("{}, not '{}'", kForms, text));
}

nlohmann::json toJson(const FunctionConfig& c) {
  nlohmann::json entries = nlohmann::json::array();
  for (const Entry& e : c.entries) {
    entries.push_back({{"path", e.path}, {"runtime", e.runtime}, {"handler", e.handler}});
  }
  return {{"name", c.name},
          {"runtime", c.runtime},
          {"handler", c.handler},
          {"memory_mb", c.memory_mb},
          {"timeout_s", c.timeout_s},
          {"concurrency", c.concurrency},
          {"max_instances", c.max_instances},
          {"tmp_mb", c.tmp_mb},
          {"network", c.network},
          {"env", c.env},
          {"secrets", c.secrets},
          {"access", c.access},
          {"cors", c.cors},
          {"max_retries", c.max_retries},
          {"max_event_age_s", c.max_event_age_s},
          {"on_success", c.on_success},
          {"on_failure", c.on_failure},
          {"contract", c.contract},
          {"ready_path", c.ready_path},
          {"entries", entries}};
}

Result<FunctionConfig> functionConfigFromJson(std::string_view json_text) {
  auto parsed = protocol::parseJson(json_text, "a stored function config");
  if (!parsed) return internalError(parsed.status().message());
  try {
    const nlohmann::json& j = *parsed;
    FunctionConfig c;
    c.name = j.at("name").get<std::string>();
    c.runtime = j.at("runtime").get<std::string>();
    c.handler = j.at("handler").get<std::string>();
    c.memory_mb = j.at("memory_mb").get<int64_t>();
    c.timeout_s = j.at("timeout_s").get<int64_t>();
    c.concurrency = j.at("concurrency").get<int64_t>();
    c.max_instances = j.at("max_instances").get<int64_t>();
    c.tmp_mb = j.value("tmp_mb", int64_t{64});  // versions deployed before tmp_mb existed
    c.network = j.at("network").get<std::string>();
    c.env = j.at("env").get<std::map<std::string, std::string>>();
    c.secrets = j.at("secrets").get<std::vector<std::string>>();
    c.access = j.value("access", std::string("public"));  // versions deployed before the gateway
    if (j.contains("cors")) c.cors = j.at("cors");
    // Versions deployed before asynchronous invocations existed have the defaults.
    c.max_retries = j.value("max_retries", int64_t{2});
    c.max_event_age_s = j.value("max_event_age_s", int64_t{21600});
    c.on_success = j.value("on_success", std::string());  // versions before destinations: none
    c.on_failure = j.value("on_failure", std::string());
    c.contract = j.value("contract", std::string("lambda"));  // versions before contracts
    c.ready_path = j.value("ready_path", std::string());
    for (const auto& e : j.at("entries")) {
      c.entries.push_back({e.at("path").get<std::string>(), e.at("runtime").get<std::string>(),
                           e.at("handler").get<std::string>()});
    }
    return c;
  } catch (const nlohmann::json::exception& error) {
    return internalError(fmt::format("stored function config is corrupt: {}", error.what()));
  }
}

}  // namespace gust::bundle
