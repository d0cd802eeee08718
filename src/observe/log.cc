#include "observe/log.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <memory>

#include "common/time.h"

namespace gust::observe {
namespace {

std::shared_ptr<spdlog::logger> logger() {
  static std::shared_ptr<spdlog::logger> instance = [] {
    auto created = std::make_shared<spdlog::logger>("gust", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    created->set_pattern("%v");  // we format the whole line ourselves
    created->set_level(spdlog::level::info);
    created->flush_on(spdlog::level::info);
    return created;
  }();
  return instance;
}

LogFormat& format() {
  static LogFormat value = LogFormat::Json;
  return value;
}

spdlog::level::level_enum toSpdlog(LogLevel level) {
  switch (level) {
    case LogLevel::Debug: return spdlog::level::debug;
    case LogLevel::Info: return spdlog::level::info;
    case LogLevel::Warn: return spdlog::level::warn;
    case LogLevel::Error: return spdlog::level::err;
  }
  return spdlog::level::info;
}

const char* name(LogLevel level) {
  switch (level) {
    case LogLevel::Debug: return "debug";
    case LogLevel::Info: return "info";
    case LogLevel::Warn: return "warn";
    case LogLevel::Error: return "error";
  }
  return "info";
}

}  // namespace

void initLog(LogFormat log_format, LogLevel level) {
  format() = log_format;
  logger()->set_level(toSpdlog(level));
}

void logEvent(LogLevel level, std::string_view event, const nlohmann::json& fields) {
  auto& log = *logger();
  if (!log.should_log(toSpdlog(level))) return;
  std::string ts = formatRfc3339Micros(nowMicros());
  std::string line;
  if (format() == LogFormat::Json) {
    nlohmann::json record = {{"ts", ts}, {"level", name(level)}, {"event", event}};
    if (fields.is_object()) record.update(fields);
    line = record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } else {
    line = ts + " " + name(level) + " " + std::string(event);
    if (fields.is_object()) {
      for (const auto& [key, value] : fields.items()) {
        line += " " + key + "=" + (value.is_string() ? value.get<std::string>() : value.dump());
      }
    }
  }
  log.log(toSpdlog(level), "{}", line);
}

bool parseLogLevel(std::string_view text, LogLevel& level) {
  if (text == "debug") level = LogLevel::Debug;
  else if (text == "info") level = LogLevel::Info;
  else if (text == "warn") level = LogLevel::Warn;
  else if (text == "error") level = LogLevel::Error;
  else return false;
  return true;
}

}  // namespace gust::observe
