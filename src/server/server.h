#pragma once
// The composition root: reads the options, builds every component explicitly (no singletons,
// so two servers can run in one process), serves until SIGINT/SIGTERM, then drains.

#include <chrono>
#include <cstdint>
#include <string>

namespace gust::server {

struct ServeOptions {
  std::string listen = "127.0.0.1:8080";
  std::string data_dir = ".gust";
  int io_threads = 0;  // 0: one per core
  std::chrono::milliseconds idle_ttl{std::chrono::minutes(5)};
  uint64_t max_body_bytes = 6 << 20;      // Lambda's synchronous payload limit
  uint32_t max_response_bytes = 6 << 20;  // a reply held in memory (Lambda's buffered limit)
  uint64_t max_bundle_bytes = 64 << 20;   // a deploy's upload
  std::size_t max_queue = 100;
  std::chrono::milliseconds queue_wait{std::chrono::seconds(10)};
  std::string runtimes_dir;  // "": found beside the binary or in the source tree
  std::string config_path;   // optional server config (TOML): [prices]
  // Retention, per tenant unless it has its own (gust tenant set): activation records older
  // than retain_days are deleted, then its oldest until the rest fit in retain_mb (0: no limit).
  int64_t retain_days = 30;
  int64_t retain_mb = 1024;
  int64_t retain_usage_days = 400;       // hourly usage roll-ups: what bills are made from
  int64_t retain_access_days = 7;        // gateway access-log records older than this are deleted
  int64_t retain_access_rows = 2000000;  // and the oldest past this many
  int64_t retain_async_days = 30;        // finished asynchronous invocations and dead letters
  int64_t retain_audit_days = 365;       // audit entries
  int retention_interval_s = 60;         // retention, then compaction, run this often
  // Below this much free space on the data dir's disk, new work answers 507; it is served again
  // past min_free_mb + min_free_mb / 4 (0: never refused).
  int64_t min_free_mb = 256;
  // A request head must arrive within this (slowloris); connections beyond max_connections are
  // closed at accept.
  std::chrono::milliseconds header_timeout{std::chrono::seconds(10)};
  std::size_t max_connections = 10000;
  bool meter_process = true;        // off only to measure what metering costs (bench)
  bool prestart = true;             // a pre-started Python instance per tenant (sandbox linux only)
  std::string sandbox = "linux";    // linux | none (no isolation: trusted code, control runs)
  std::string log_format = "json";  // the server's own log on stderr: json | text
  std::string log_level = "info";   // debug | info | warn | error
  std::string build_network = "egress";  // egress | none: what dependency builds reach
  int build_timeout_s = 600;             // per build step
  int64_t build_memory_mb = 2048;
  int64_t max_version_mb = 1024;  // one version's files once built
  int64_t tenant_disk_mb = 4096;  // everything a tenant holds on disk
};

// Serves until a signal; returns the process exit code.
int serve(const ServeOptions& options);

}  // namespace gust::server
