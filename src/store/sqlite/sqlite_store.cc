// DESIGN: two connections to one WAL database. `meta_` serves metadata calls under `meta_mutex_`
// (they are rare and small). Activation records are enqueued by the hot path and written by
// `writer_`, which takes everything queued, commits it in one transaction and signals flushers:
// one fsync covers a whole burst. Schema changes are numbered migrations applied at open.

#include "store/sqlite/sqlite_store.h"

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

#include <fcntl.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/time.h"
#include "protocol/json_input.h"
#include "store/record_ticket.h"
#include "store/sqlite/activation_journal.h"

namespace gust::store {
namespace {

// Migration N brings the schema from version N to N+1. Append only.
constexpr const char* kMigrations[] = {
    R"sql(
CREATE TABLE functions (
  id INTEGER PRIMARY KEY,
  tenant TEXT NOT NULL,
  name TEXT NOT NULL,
  created_at_us INTEGER NOT NULL,
  updated_at_us INTEGER NOT NULL,
  UNIQUE (tenant, name)
);
CREATE TABLE versions (
  function_id INTEGER NOT NULL REFERENCES functions(id) ON DELETE CASCADE,
  version INTEGER NOT NULL,
  bundle_sha256 TEXT NOT NULL,
  bundle_bytes INTEGER NOT NULL,
  config_json TEXT NOT NULL,
  created_at_us INTEGER NOT NULL,
  PRIMARY KEY (function_id, version)
);
CREATE TABLE aliases (
  function_id INTEGER NOT NULL REFERENCES functions(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  version INTEGER NOT NULL,
  PRIMARY KEY (function_id, name)
);
CREATE TABLE routes (
  path TEXT PRIMARY KEY,
  function_id INTEGER NOT NULL REFERENCES functions(id) ON DELETE CASCADE,
  entry TEXT NOT NULL
);
CREATE TABLE activations (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  tenant TEXT NOT NULL,
  function TEXT NOT NULL,
  version INTEGER NOT NULL,
  entry TEXT NOT NULL,
  trigger TEXT NOT NULL,
  status TEXT NOT NULL,
  http_status INTEGER NOT NULL,
  cold INTEGER NOT NULL,
  init_ms INTEGER NOT NULL,
  received_at_us INTEGER NOT NULL,
  started_at_us INTEGER NOT NULL,
  finished_at_us INTEGER NOT NULL,
  duration_ms REAL NOT NULL,
  memory_mb INTEGER NOT NULL,
  bytes_in INTEGER NOT NULL,
  bytes_out INTEGER NOT NULL,
  error TEXT NOT NULL,
  logs TEXT NOT NULL
);
CREATE INDEX activations_by_function ON activations (tenant, function, seq);
)sql",
    R"sql(
ALTER TABLE activations ADD COLUMN dispatched_at_us INTEGER NOT NULL DEFAULT 0;
ALTER TABLE activations ADD COLUMN responded_at_us INTEGER NOT NULL DEFAULT 0;
ALTER TABLE activations ADD COLUMN billed_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE activations ADD COLUMN cpu_user_us INTEGER NOT NULL DEFAULT 0;
ALTER TABLE activations ADD COLUMN cpu_sys_us INTEGER NOT NULL DEFAULT 0;
ALTER TABLE activations ADD COLUMN peak_memory_bytes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE activations ADD COLUMN key_id TEXT NOT NULL DEFAULT '';
ALTER TABLE activations ADD COLUMN trace_id TEXT NOT NULL DEFAULT '';
CREATE TABLE usage_hourly (
  tenant TEXT NOT NULL,
  function TEXT NOT NULL,
  version INTEGER NOT NULL,
  key_id TEXT NOT NULL,
  hour_us INTEGER NOT NULL,
  invocations INTEGER NOT NULL,
  errors INTEGER NOT NULL,
  billed_ms INTEGER NOT NULL,
  mb_ms INTEGER NOT NULL,
  cpu_user_us INTEGER NOT NULL,
  cpu_sys_us INTEGER NOT NULL,
  bytes_in INTEGER NOT NULL,
  bytes_out INTEGER NOT NULL,
  PRIMARY KEY (tenant, function, version, key_id, hour_us)
);
)sql",
    R"sql(
CREATE TABLE tenants (
  name TEXT PRIMARY KEY,
  created_at_us INTEGER NOT NULL
);
INSERT INTO tenants (name, created_at_us) VALUES ('default', CAST(strftime('%s', 'now') AS INTEGER) * 1000000);
INSERT OR IGNORE INTO tenants (name, created_at_us) SELECT DISTINCT tenant, MIN(created_at_us) FROM functions GROUP BY tenant;
CREATE TABLE tokens (
  id TEXT PRIMARY KEY,
  tenant TEXT NOT NULL,
  name TEXT NOT NULL,
  hash TEXT NOT NULL,
  created_at_us INTEGER NOT NULL,
  revoked_at_us INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE secrets (
  tenant TEXT NOT NULL,
  name TEXT NOT NULL,
  sealed BLOB NOT NULL,
  created_at_us INTEGER NOT NULL,
  updated_at_us INTEGER NOT NULL,
  PRIMARY KEY (tenant, name)
);
CREATE TABLE audit (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  at_us INTEGER NOT NULL,
  actor TEXT NOT NULL,
  tenant TEXT NOT NULL,
  source_ip TEXT NOT NULL,
  action TEXT NOT NULL,
  target TEXT NOT NULL,
  outcome TEXT NOT NULL,
  detail TEXT NOT NULL
);
CREATE INDEX audit_by_tenant ON audit (tenant, seq);
)sql",
    // v4: the API gateway — routes, client keys, shares, quota counters, the access log.
    R"sql(
CREATE TABLE gateway_routes (
  id TEXT PRIMARY KEY,
  tenant TEXT NOT NULL,
  method TEXT NOT NULL,
  path TEXT NOT NULL,
  shape TEXT NOT NULL,
  host TEXT NOT NULL,
  function TEXT NOT NULL,
  auth TEXT NOT NULL,
  rate TEXT NOT NULL,
  burst INTEGER NOT NULL,
  cors_json TEXT NOT NULL,
  max_body_bytes INTEGER NOT NULL,
  created_at_us INTEGER NOT NULL,
  UNIQUE (host, method, shape)
);
CREATE TABLE client_keys (
  client_id TEXT PRIMARY KEY,
  tenant TEXT NOT NULL,
  name TEXT NOT NULL,
  hash TEXT NOT NULL,
  scopes_json TEXT NOT NULL,
  rate TEXT NOT NULL,
  burst INTEGER NOT NULL,
  quota TEXT NOT NULL,
  expires_at_us INTEGER NOT NULL,
  created_at_us INTEGER NOT NULL,
  revoked_at_us INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE shares (
  tenant TEXT NOT NULL,
  function TEXT NOT NULL,
  with_tenant TEXT NOT NULL,
  created_at_us INTEGER NOT NULL,
  PRIMARY KEY (tenant, function, with_tenant)
);
CREATE TABLE quota_use (
  client_id TEXT NOT NULL,
  period_start_us INTEGER NOT NULL,
  count INTEGER NOT NULL,
  PRIMARY KEY (client_id, period_start_us)
);
CREATE TABLE access_log (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  at_us INTEGER NOT NULL,
  tenant TEXT NOT NULL,
  function TEXT NOT NULL,
  method TEXT NOT NULL,
  host TEXT NOT NULL,
  path TEXT NOT NULL,
  route TEXT NOT NULL,
  key_id TEXT NOT NULL,
  status INTEGER NOT NULL,
  latency_us INTEGER NOT NULL,
  bytes_in INTEGER NOT NULL,
  bytes_out INTEGER NOT NULL,
  activation_id TEXT NOT NULL,
  client_ip TEXT NOT NULL,
  user_agent TEXT NOT NULL,
  limited INTEGER NOT NULL
);
CREATE INDEX access_by_tenant ON access_log (tenant, seq);
CREATE INDEX access_by_time ON access_log (at_us);
)sql",
    // src/events: durable asynchronous invocations (their dead letters are those in state
    // 'dead'), their attempts, triggers and each cron trigger's last fired slot.
    R"sql(
CREATE TABLE async_invocations (
  id TEXT PRIMARY KEY,
  tenant TEXT NOT NULL,
  function TEXT NOT NULL,
  qualifier TEXT NOT NULL,
  entry TEXT NOT NULL,
  payload TEXT NOT NULL,
  trigger TEXT NOT NULL,
  source TEXT NOT NULL,
  trace_id TEXT NOT NULL,
  max_retries INTEGER NOT NULL,
  max_event_age_s INTEGER NOT NULL,
  received_at_us INTEGER NOT NULL,
  next_attempt_at_us INTEGER NOT NULL,
  attempts INTEGER NOT NULL,
  starts INTEGER NOT NULL,
  state TEXT NOT NULL,
  last_error TEXT NOT NULL,
  dead_reason TEXT NOT NULL,
  finished_at_us INTEGER NOT NULL
);
CREATE INDEX async_invocations_due ON async_invocations (state, next_attempt_at_us);
CREATE INDEX async_invocations_by_function ON async_invocations (tenant, function, state);
CREATE TABLE async_attempts (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  invocation_id TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  activation_id TEXT NOT NULL,
  status TEXT NOT NULL,
  error TEXT NOT NULL,
  started_at_us INTEGER NOT NULL,
  finished_at_us INTEGER NOT NULL
);
CREATE INDEX async_attempts_by_invocation ON async_attempts (invocation_id, seq);
CREATE TABLE triggers (
  id TEXT PRIMARY KEY,
  tenant TEXT NOT NULL,
  kind TEXT NOT NULL,
  function TEXT NOT NULL,
  config_json TEXT NOT NULL,
  paused INTEGER NOT NULL,
  created_at_us INTEGER NOT NULL
);
CREATE INDEX triggers_by_tenant ON triggers (tenant, created_at_us);
CREATE TABLE cron_state (
  trigger_id TEXT PRIMARY KEY REFERENCES triggers(id) ON DELETE CASCADE,
  last_slot_us INTEGER NOT NULL
);
)sql",
    // v6: hosts a tenant owns. A host that routes were bound to before is claimed for their
    // tenant when only one tenant had routes there (names of this server itself excepted), so
    // those routes keep serving.
    R"sql(
CREATE TABLE hosts (
  host TEXT PRIMARY KEY,
  tenant TEXT NOT NULL,
  created_at_us INTEGER NOT NULL
);
CREATE INDEX hosts_by_tenant ON hosts (tenant, host);
INSERT INTO hosts (host, tenant, created_at_us)
  SELECT host, MIN(tenant), MIN(created_at_us) FROM gateway_routes
  WHERE host != '' AND host != 'localhost' AND host NOT LIKE '%.localhost'
    AND host GLOB '*[^0-9.]*' AND host NOT LIKE '%:%'
  GROUP BY host HAVING COUNT(DISTINCT tenant) = 1;
)sql",
    // v7: retention per tenant. A tenant's own limits (NULL: the server's defaults); each
    // record's size, so that a tenant's size budget is summed from an index, not its rows.
    R"sql(
ALTER TABLE tenants ADD COLUMN retain_days INTEGER;
ALTER TABLE tenants ADD COLUMN retain_mb INTEGER;
ALTER TABLE activations ADD COLUMN record_bytes INTEGER NOT NULL DEFAULT 0;
UPDATE activations SET record_bytes = 256 + LENGTH(CAST(logs AS BLOB)) + LENGTH(CAST(error AS BLOB));
CREATE INDEX activations_by_tenant ON activations (tenant, seq, record_bytes, received_at_us);
)sql",
};

constexpr int64_t kHourUs = 3600LL * 1000000;

class Statement {
 public:
  Statement(sqlite3* db, const char* sql) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) {
      error_ = sqlite3_errmsg(db);
      stmt_ = nullptr;
    }
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  bool ok() const { return stmt_ != nullptr; }
  const std::string& error() const { return error_; }

  Statement& bind(int index, const std::string& value) {
    sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Statement& bind(int index, int64_t value) {
    sqlite3_bind_int64(stmt_, index, value);
    return *this;
  }
  Statement& bindBlob(int index, const std::string& value) {
    sqlite3_bind_blob(stmt_, index, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Statement& bindOptional(int index, const std::optional<int64_t>& value) {
    if (value) return bind(index, *value);
    sqlite3_bind_null(stmt_, index);
    return *this;
  }
  std::optional<int64_t> optionalInteger(int column) {
    if (sqlite3_column_type(stmt_, column) == SQLITE_NULL) return std::nullopt;
    return integer(column);
  }
  Statement& bind(int index, double value) {
    sqlite3_bind_double(stmt_, index, value);
    return *this;
  }
  // SQLITE_ROW, SQLITE_DONE or an error code.
  int step() { return sqlite3_step(stmt_); }
  void reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  int64_t integer(int column) { return sqlite3_column_int64(stmt_, column); }
  double real(int column) { return sqlite3_column_double(stmt_, column); }
  std::string blob(int column) {
    auto p = static_cast<const char*>(sqlite3_column_blob(stmt_, column));
    return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column)))
             : std::string();
  }
  std::string text(int column) {
    auto p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
    return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column)))
             : std::string();
  }

 private:
  sqlite3_stmt* stmt_ = nullptr;
  std::string error_;
};

// A full disk (SQLITE_FULL, or ENOSPC/EDQUOT under an I/O error) is InsufficientStorage: callers
// are told to retry later (507); the message, for the log, may name the database's path.
Code failureCode(sqlite3* db, int rc) {
  int system_errno = sqlite3_system_errno(db);
  bool full = (rc & 0xff) == SQLITE_FULL || system_errno == ENOSPC || system_errno == EDQUOT;
  return full ? Code::InsufficientStorage : Code::Internal;
}

Status execute(sqlite3* db, const char* sql) {
  char* error = nullptr;
  if (int rc = sqlite3_exec(db, sql, nullptr, nullptr, &error); rc != SQLITE_OK) {
    std::string message = error ? error : "unknown error";
    sqlite3_free(error);
    return {failureCode(db, rc), fmt::format("sqlite: {}", message)};
  }
  return Status::ok();
}

Status sqliteError(sqlite3* db, std::string_view what) {
  return {failureCode(db, sqlite3_extended_errcode(db)),
          fmt::format("sqlite: {}: {}", what, sqlite3_errmsg(db))};
}

Result<sqlite3*> openConnection(const std::string& path) {
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(path.c_str(), &db, flags, nullptr) != SQLITE_OK) {
    Status status = internalError(fmt::format("cannot open database {}: {}", path,
                                              db ? sqlite3_errmsg(db) : "out of memory"));
    sqlite3_close(db);
    return status;
  }
  sqlite3_busy_timeout(db, 10000);
  Status status = execute(db,
                          "PRAGMA auto_vacuum=INCREMENTAL; PRAGMA journal_mode=WAL; "
                          "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; "
                          "PRAGMA journal_size_limit=67108864;");
  if (!status.isOk()) {
    sqlite3_close(db);
    return status;
  }
  return db;
}

// Pages that retention frees go back to the file system only in incremental auto-vacuum mode.
// A new database starts in it (openConnection asks before the first table exists); one made
// before is converted once, with a VACUUM (which needs room for a copy: if that fails, the
// database stays as it was and compact() gives nothing back).
Status useIncrementalVacuum(sqlite3* db) {
  {
    Statement mode(db, "PRAGMA auto_vacuum");  // finalized before the VACUUM, which needs that
    if (!mode.ok() || mode.step() != SQLITE_ROW) return sqliteError(db, "auto_vacuum");
    if (mode.integer(0) == 2) return Status::ok();
  }
  Status converted = execute(db, "PRAGMA auto_vacuum=INCREMENTAL; VACUUM;");
  if (!converted.isOk()) {
    std::fprintf(stderr, "store: cannot convert the database to incremental vacuum: %s\n",
                 converted.message().c_str());
  }
  return Status::ok();
}

Status migrate(sqlite3* db) {
  GUST_RETURN_IF_ERROR(execute(db, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER)"));
  Statement current(db, "SELECT COALESCE(MAX(version), 0) FROM schema_version");
  if (!current.ok() || current.step() != SQLITE_ROW) return sqliteError(db, "schema version");
  int64_t version = current.integer(0);
  constexpr int64_t kLatest = std::size(kMigrations);
  if (version > kLatest) {
    return internalError(fmt::format(
        "the database has schema version {} but this gust knows only up to {}: use a newer gust",
        version, kLatest));
  }
  for (; version < kLatest; ++version) {
    GUST_RETURN_IF_ERROR(execute(db, "BEGIN IMMEDIATE"));
    Status status = execute(db, kMigrations[version]);
    if (status.isOk()) {
      status =
          execute(db, fmt::format("INSERT INTO schema_version VALUES ({})", version + 1).c_str());
    }
    if (!status.isOk()) {
      (void)execute(db, "ROLLBACK");
      return status;
    }
    GUST_RETURN_IF_ERROR(execute(db, "COMMIT"));
  }
  return useIncrementalVacuum(db);
}

constexpr const char* kActivationColumns =
    "id, tenant, function, version, entry, trigger, status, http_status, cold, init_ms, "
    "received_at_us, started_at_us, finished_at_us, duration_ms, memory_mb, bytes_in, bytes_out, "
    "error, dispatched_at_us, responded_at_us, billed_ms, cpu_user_us, cpu_sys_us, "
    "peak_memory_bytes, key_id, trace_id, logs";
constexpr int kActivationColumnCount = 27;

// What a record costs against its tenant's size budget: its text, plus the fixed columns and
// index entries (about 256 bytes a row, measured on a database of small records).
int64_t recordBytes(const ActivationRecord& r) {
  constexpr int64_t kFixedBytes = 256;
  std::size_t text = r.id.size() + r.tenant.size() + r.function.size() + r.entry.size() +
                     r.trigger.size() + r.status.size() + r.key_id.size() + r.trace_id.size() +
                     r.error.size() + r.logs.size();
  return kFixedBytes + static_cast<int64_t>(text);
}

ActivationRecord readActivation(Statement& row, bool with_logs) {
  ActivationRecord r;
  r.id = row.text(0);
  r.tenant = row.text(1);
  r.function = row.text(2);
  r.version = row.integer(3);
  r.entry = row.text(4);
  r.trigger = row.text(5);
  r.status = row.text(6);
  r.http_status = static_cast<int>(row.integer(7));
  r.cold = row.integer(8) != 0;
  r.init_ms = row.integer(9);
  r.received_at_us = row.integer(10);
  r.started_at_us = row.integer(11);
  r.finished_at_us = row.integer(12);
  r.duration_ms = row.real(13);
  r.memory_mb = row.integer(14);
  r.bytes_in = row.integer(15);
  r.bytes_out = row.integer(16);
  r.error = row.text(17);
  r.dispatched_at_us = row.integer(18);
  r.responded_at_us = row.integer(19);
  r.billed_ms = row.integer(20);
  r.cpu_user_us = row.integer(21);
  r.cpu_sys_us = row.integer(22);
  r.peak_memory_bytes = row.integer(23);
  r.key_id = row.text(24);
  r.trace_id = row.text(25);
  if (with_logs) r.logs = row.text(26);
  return r;
}

constexpr const char* kAccessColumns =
    "seq, at_us, tenant, function, method, host, path, route, key_id, status, latency_us, "
    "bytes_in, "
    "bytes_out, activation_id, client_ip, user_agent, limited";

AccessRecord readAccess(Statement& q) {
  AccessRecord r;
  r.seq = q.integer(0);
  r.at_us = q.integer(1);
  r.tenant = q.text(2);
  r.function = q.text(3);
  r.method = q.text(4);
  r.host = q.text(5);
  r.path = q.text(6);
  r.route = q.text(7);
  r.key_id = q.text(8);
  r.status = static_cast<int>(q.integer(9));
  r.latency_us = q.integer(10);
  r.bytes_in = q.integer(11);
  r.bytes_out = q.integer(12);
  r.activation_id = q.text(13);
  r.client_ip = q.text(14);
  r.user_agent = q.text(15);
  r.limited = q.integer(16) != 0;
  return r;
}

TenantRecord readTenant(Statement& q) {
  return {q.text(0), q.integer(1), {q.optionalInteger(2), q.optionalInteger(3)}};
}

constexpr const char* kTokenColumns = "id, tenant, name, hash, created_at_us, revoked_at_us";

TokenRecord readToken(Statement& q) {
  return {q.text(0), q.text(1), q.text(2), q.text(3), q.integer(4), q.integer(5)};
}

constexpr const char* kAsyncColumns =
    "id, tenant, function, qualifier, entry, payload, trigger, source, trace_id, max_retries, "
    "max_event_age_s, received_at_us, next_attempt_at_us, attempts, starts, state, last_error, "
    "dead_reason, finished_at_us";

AsyncInvocationRecord readAsync(Statement& q) {
  AsyncInvocationRecord r;
  r.id = q.text(0);
  r.tenant = q.text(1);
  r.function = q.text(2);
  r.qualifier = q.text(3);
  r.entry = q.text(4);
  r.payload = q.text(5);
  r.trigger = q.text(6);
  r.source = q.text(7);
  r.trace_id = q.text(8);
  r.max_retries = q.integer(9);
  r.max_event_age_s = q.integer(10);
  r.received_at_us = q.integer(11);
  r.next_attempt_at_us = q.integer(12);
  r.attempts = q.integer(13);
  r.starts = q.integer(14);
  r.state = q.text(15);
  r.last_error = q.text(16);
  r.dead_reason = q.text(17);
  r.finished_at_us = q.integer(18);
  return r;
}

Status insertAsync(sqlite3* db, const AsyncInvocationRecord& r) {
  Statement q(db, fmt::format("INSERT INTO async_invocations ({}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
                              "?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
                              kAsyncColumns)
                      .c_str());
  q.bind(1, r.id).bind(2, r.tenant).bind(3, r.function).bind(4, r.qualifier).bind(5, r.entry);
  q.bind(6, r.payload).bind(7, r.trigger).bind(8, r.source).bind(9, r.trace_id);
  q.bind(10, r.max_retries).bind(11, r.max_event_age_s).bind(12, r.received_at_us);
  q.bind(13, r.next_attempt_at_us).bind(14, r.attempts).bind(15, r.starts).bind(16, r.state);
  q.bind(17, r.last_error).bind(18, r.dead_reason).bind(19, r.finished_at_us);
  if (q.step() != SQLITE_DONE) return sqliteError(db, "enqueue async invocation");
  return Status::ok();
}

constexpr const char* kTriggerColumns =
    "t.id, t.tenant, t.kind, t.function, t.config_json, t.paused, t.created_at_us, "
    "COALESCE(c.last_slot_us, 0)";

TriggerRecord readTrigger(Statement& q) {
  TriggerRecord t;
  t.id = q.text(0);
  t.tenant = q.text(1);
  t.kind = q.text(2);
  t.function = q.text(3);
  t.config_json = q.text(4);
  t.paused = q.integer(5) != 0;
  t.created_at_us = q.integer(6);
  t.last_slot_us = q.integer(7);
  return t;
}

// Runs `body` in one write transaction on `db`: committed when it returns ok, rolled back else.
template <typename Body>
auto inTransaction(sqlite3* db, Body&& body) -> decltype(body()) {
  if (Status begun = execute(db, "BEGIN IMMEDIATE"); !begun.isOk()) return begun;
  auto result = body();
  if (!result.isOk()) {
    (void)execute(db, "ROLLBACK");
    return result;
  }
  if (Status committed = execute(db, "COMMIT"); !committed.isOk()) {
    (void)execute(db, "ROLLBACK");
    return committed;
  }
  return result;
}

// One record as a line of the activation journal (activation_journal.h), and back.
std::string journalLine(const ActivationRecord& r) {
  nlohmann::json row = nlohmann::json::array({r.id,
                                              r.tenant,
                                              r.function,
                                              r.version,
                                              r.entry,
                                              r.trigger,
                                              r.status,
                                              r.http_status,
                                              r.cold,
                                              r.init_ms,
                                              r.received_at_us,
                                              r.dispatched_at_us,
                                              r.started_at_us,
                                              r.finished_at_us,
                                              r.responded_at_us,
                                              r.duration_ms,
                                              r.billed_ms,
                                              r.memory_mb,
                                              r.cpu_user_us,
                                              r.cpu_sys_us,
                                              r.peak_memory_bytes,
                                              r.bytes_in,
                                              r.bytes_out,
                                              r.key_id,
                                              r.trace_id,
                                              r.error,
                                              r.logs});
  // Logs are the function's raw output: bytes that are not UTF-8 become U+FFFD here, and only a
  // record replayed after a crash keeps that replacement.
  std::string line = row.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  line += '\n';
  return line;
}

std::optional<ActivationRecord> parseJournalLine(std::string_view line) {
  nlohmann::json row = protocol::parseJsonOrDiscarded(line);
  if (!row.is_array() || row.size() != 27) return std::nullopt;
  try {
    ActivationRecord r;
    std::size_t i = 0;
    auto next = [&](auto& field) { field = row.at(i++).get<std::decay_t<decltype(field)>>(); };
    next(r.id), next(r.tenant), next(r.function), next(r.version), next(r.entry), next(r.trigger);
    next(r.status), next(r.http_status), next(r.cold), next(r.init_ms), next(r.received_at_us);
    next(r.dispatched_at_us), next(r.started_at_us), next(r.finished_at_us);
    next(r.responded_at_us), next(r.duration_ms), next(r.billed_ms), next(r.memory_mb);
    next(r.cpu_user_us), next(r.cpu_sys_us), next(r.peak_memory_bytes), next(r.bytes_in);
    next(r.bytes_out), next(r.key_id), next(r.trace_id), next(r.error), next(r.logs);
    return r;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

class SqliteStore final : public Store {
  struct Pending {
    ActivationRecord record;
    std::function<void()> on_committed;
    std::shared_ptr<RecordTicket> ticket;  // only with on_committed: the journal did not take it
    std::size_t journaled_bytes = 0;        // its line's, while in the journal and not applied
  };

 public:
  SqliteStore(sqlite3* meta, sqlite3* writer_db, sqlite3* checkpoint_db,
              ActivationJournal journal)
      : meta_(meta),
        writer_db_(writer_db),
        journal_(std::move(journal)),
        checkpoint_db_(checkpoint_db) {
    replayJournal();
    // Checkpoints run on their own thread and connection. SQLite's default runs one inside the
    // commit that crosses 1000 WAL pages, with two fsyncs: every request waiting for that commit
    // waited for them too (the ~20 ms p99 of the warm path). This hook replaces the default.
    for (sqlite3* db : {meta_, writer_db_}) sqlite3_wal_hook(db, &SqliteStore::onWalCommit, this);
    sqlite3_busy_timeout(checkpoint_db_, kForceCheckpointWaitMs);
    writer_ = std::thread([this] { writeActivations(); });
    checkpointer_ = std::thread([this] { checkpointWal(); });
  }

  ~SqliteStore() override {
    {
      std::lock_guard lock(queue_mutex_);
      stopping_ = true;
    }
    queue_cv_.notify_all();
    writer_.join();
    {
      std::lock_guard lock(checkpoint_mutex_);
      checkpoint_stopping_ = true;
    }
    checkpoint_cv_.notify_all();
    checkpointer_.join();
    sqlite3_close(checkpoint_db_);
    sqlite3_close(writer_db_);
    journal_.close();
    sqlite3_close(meta_);  // the last connection to close checkpoints what is left
  }

  Result<VersionRecord> createVersion(const NewVersion& v) override {
    std::lock_guard lock(meta_mutex_);
    GUST_RETURN_IF_ERROR(execute(meta_, "BEGIN IMMEDIATE"));
    Status guarded = guardLocked(v.guard);
    Result<VersionRecord> result = guarded;
    if (guarded.isOk()) result = createVersionLocked(v);
    (void)execute(meta_, result.isOk() ? "COMMIT" : "ROLLBACK");
    return result;
  }

  Result<std::vector<FunctionRecord>> listFunctions(const std::string& tenant) override {
    std::lock_guard lock(meta_mutex_);
    Statement q(meta_, R"sql(
      SELECT f.tenant, f.name, COALESCE(a.version, 0), (SELECT COUNT(*) FROM versions v
             WHERE v.function_id = f.id), f.created_at_us, f.updated_at_us
      FROM functions f LEFT JOIN aliases a ON a.function_id = f.id AND a.name = 'live'
      WHERE f.tenant = ?1 ORDER BY f.name)sql");
    q.bind(1, tenant);
    std::vector<FunctionRecord> out;
    while (q.step() == SQLITE_ROW) out.push_back(readFunction(q));
    return out;
  }

  Result<FunctionRecord> getFunction(const std::string& tenant, const std::string& name) override {
    std::lock_guard lock(meta_mutex_);
    Statement q(meta_, R"sql(
      SELECT f.tenant, f.name, COALESCE(a.version, 0), (SELECT COUNT(*) FROM versions v
             WHERE v.function_id = f.id), f.created_at_us, f.updated_at_us
      FROM functions f LEFT JOIN aliases a ON a.function_id = f.id AND a.name = 'live'
      WHERE f.tenant = ?1 AND f.name = ?2)sql");
    q.bind(1, tenant).bind(2, name);
    if (q.step() != SQLITE_ROW) return noSuchFunction(name);
    return readFunction(q);
  }

  Result<std::vector<VersionRecord>> listVersions(const std::string& tenant,
                                                  const std::string& function) override {
    std::lock_guard lock(meta_mutex_);
    if (!functionId(tenant, function)) return noSuchFunction(function);
    Statement q(meta_, R"sql(
      SELECT f.tenant, f.name, v.version, v.bundle_sha256, v.config_json, v.bundle_bytes,
             v.created_at_us
      FROM versions v JOIN functions f ON f.id = v.function_id
      WHERE f.tenant = ?1 AND f.name = ?2 ORDER BY v.version)sql");
    q.bind(1, tenant).bind(2, function);
    std::vector<VersionRecord> out;
    while (q.step() == SQLITE_ROW) out.push_back(readVersion(q));
    return out;
  }

  Result<VersionRecord> getVersion(const std::string& tenant, const std::string& function,
                                   int64_t version) override {
    std::lock_guard lock(meta_mutex_);
    return getVersionLocked(tenant, function, version);
  }

  Result<VersionRecord> resolveAlias(const std::string& tenant, const std::string& function,
                                     const std::string& alias) override {
    std::lock_guard lock(meta_mutex_);
    auto id = functionId(tenant, function);
    if (!id) return noSuchFunction(function);
    Statement q(meta_, "SELECT version FROM aliases WHERE function_id = ?1 AND name = ?2");
    q.bind(1, *id).bind(2, alias);
    if (q.step() != SQLITE_ROW) {
      return notFound(fmt::format("function '{}' has no alias '{}'", function, alias));
    }
    return getVersionLocked(tenant, function, q.integer(0));
  }

  Status setAlias(const std::string& tenant, const std::string& function, const std::string& alias,
                  int64_t version, const std::optional<std::vector<RouteRecord>>& routes,
                  const RouteGuard& guard) override {
    std::lock_guard lock(meta_mutex_);
    GUST_RETURN_IF_ERROR(execute(meta_, "BEGIN IMMEDIATE"));
    Status status = routes ? guardLocked(guard) : Status::ok();
    if (status.isOk()) status = setAliasLocked(tenant, function, alias, version, routes);
    (void)execute(meta_, status.isOk() ? "COMMIT" : "ROLLBACK");
    return status;
  }

  Status deleteFunction(const std::string& tenant, const std::string& function) override {
    std::lock_guard lock(meta_mutex_);
    auto id = functionId(tenant, function);
    if (!id) return noSuchFunction(function);
    Statement q(meta_, "DELETE FROM functions WHERE id = ?1");
    q.bind(1, *id);
    if (q.step() != SQLITE_DONE) return sqliteError(meta_, "delete function");
    // Its gateway routes and shares would point at nothing (or at a namesake deployed later).
    for (const char* sql : {"DELETE FROM gateway_routes WHERE tenant = ?1 AND function = ?2",
                            "DELETE FROM shares WHERE tenant = ?1 AND function = ?2"}) {
      Statement gone(meta_, sql);
      gone.bind(1, tenant).bind(2, function);
      if (gone.step() != SQLITE_DONE) return sqliteError(meta_, "delete function's routes");
    }
    return Status::ok();
  }

  Result<std::vector<std::string>> referencedBundles() override {
    std::lock_guard lock(meta_mutex_);
    Statement q(meta_, "SELECT DISTINCT bundle_sha256 FROM versions");
    std::vector<std::string> referenced;
    while (q.step() == SQLITE_ROW) referenced.push_back(q.text(0));
    return referenced;
  }

  Result<std::vector<RouteRecord>> listRoutes() override {
    std::lock_guard lock(meta_mutex_);
    return listRoutesLocked();
  }

  Result<std::vector<RouteRecord>> listRoutesLocked() {
    Statement q(meta_, R"sql(SELECT r.path, f.tenant, f.name, r.entry FROM routes r
                             JOIN functions f ON f.id = r.function_id ORDER BY r.path)sql");
    std::vector<RouteRecord> out;
    while (q.step() == SQLITE_ROW) out.push_back({q.text(0), q.text(1), q.text(2), q.text(3)});
    return out;
  }

  Status createTenant(const std::string& name) override {
    std::lock_guard lock(meta_mutex_);
    Statement q(meta_, "INSERT OR IGNORE INTO tenants (name, created_at_us) VALUES (?1, ?2)");
    q.bind(1, name).bind(2, nowMicros());
    if (q.step() != SQLITE_DONE) return sqliteError(meta_, "create tenant");
    if (sqlite3_changes(meta_) == 0) {
      return Status(Code::Conflict, fmt::format("tenant '{}' already exists", name));
    }
    return Status::ok();
  }

  Result<std::vector<TenantRecord>> listTenants() override {
    std::lock_guard lock(meta_mutex_);
    Statement q(meta_,
                "SELECT name, created_at_us, retain_days, retain_mb FROM tenants ORDER BY name");
    std::vector<TenantRecord> out;
    while (q.step() == SQLITE_ROW) out.push_back(readTenant(q));
    return out;
  }

  Result<TenantRecord> getTenant(const std::string& name) override {
    std::lock_guard lock(meta_mutex_);
    Statement q(meta_,
                "SELECT name, created_at_us, retain_days, retain_mb FROM tenants WHERE name = ?1");
    q.bind(1, name);
    if (q.step() != SQLITE_ROW) return notFound(fmt::format("no tenant named '{}'", name));
    return readTenant(q);
  }

  Status setTenantRetention(const std::string& name, const Retention& retention) override {
    std::lock_guard lock(meta_mutex_);
    Statement q(meta_, "UPDATE tenants SET retain_days = ?2, retain_mb = ?3 WHERE name = ?1");
    q.bind(1, name).bindOptional(2, retention.days).bindOptional(3, retention.mb);
    if (q.step() != SQLITE_DONE) return sqliteError(meta_, "set tenant retention");
    if (sqlite3_changes(meta_) == 0) return notFound(fmt::format("no tenant named '{}'", name));
    return Status::ok();
  }

  Status deleteTenant(const std::string& name) override {
    if (name == kDefaultTenant) {
      return invalidArgument("the default tenant holds the admin's own resources and stays");
    }
    std::lock_guard lock(meta_mutex_);
    Statement functions(meta_, "SELECT COUNT(*) FROM functions WHERE tenant = ?1");
    functions.bind(1, name);
    if (functions.step() != SQLITE_ROW) return sqliteError(meta_, "count functions");
    if (int64_t count = functions.integer(0); count > 0) {
      return Status(
          Code::Conflict,
          fmt::format("tenant '{}' still has {} function(s): remove them first", name, count));
    }
    GUST_RETURN_IF_ERROR(execute(meta_, "BEGIN IMMEDIATE"));
    Status status = Status::ok();
    for (const char* sql :
         {"DELETE FROM tokens WHERE tenant = ?1", "DELETE FROM secrets WHERE tenant = ?1",
          "DELETE FROM client_keys WHERE tenant = ?1",
          "DELETE FROM shares WHERE tenant = ?1 OR with_tenant = ?1",
          "DELETE FROM gateway_routes WHERE tenant = ?1", "DELETE FROM hosts WHERE tenant = ?1",
          "DELETE FROM tenants WHERE name = ?1"}) {
      Statement q(meta_, sql);
      q.bind(1, name);
      if (q.step() != SQLITE_DONE) {
        status = sqliteError(meta_, "delete tenant");
        break;
      }
    }
    if (status.isOk() && sqlite3_changes(meta_) == 0) {
      status = notFound(fmt::format("no tenant named '{}'", name));
    }
    (void)execute(meta_, status.isOk() ? "COMMIT" : "ROLLBACK");
    return status;
  }

  Status createToken(const TokenRecord& token) override {
    std::lock_guard lock(meta_mutex_);
    Statement q(meta_, R"sql(INSERT INTO tokens (id, tenant, name, hash, created_at_us)
                             VALUES (?1, ?2, ?3, ?4, ?5))sql");
    q.bind(1, token.id).bind(2, token.tenant).bind(3, token.name).bind(4, token.hash);
    q.bind(5, token.created_at_us);
    if (q.step() != SQLITE_DONE) return sqliteError(meta_, "create token");
    return Status::ok();
  }

  Result<TokenRecord> getToken(const std::string& id) override {
    std::lock_guard lock(meta_mutex_);
    Statement q(meta_, fmt::format("SELECT {} FROM tokens WHERE id = ?1", kTokenColumns).c_str());
    q.bind(1, id);
    if (q.step() != SQLITE_ROW) return notFound(fmt::format("no token '{}'", id));
    return readToken(q);
  }

  Result<std::vector<TokenRecord>> listTokens(const std::optional<std::string>& tenant) override {
    std::lock_guard lock(meta_mutex_);
    Statement q(meta_, fmt::format("SELECT {} FROM tokens WHERE (?1 = '' OR tenant = ?1) "
                                   "ORDER BY created_at_us, id",
                                   kTokenColumns)
                           .c_str());
    q.bind(1, tenant.value_or(""));
    std::vector<TokenRecord> out;
    while (q.step() == SQLITE_ROW) out.push_back(readToken(q));
    return out;
  }

  Status revokeToken(const std::string& id) override {
    std::lock_guard lock(meta_mutex_);
    Statement q(meta_, "UPDATE tokens SET revoked_at_us = ?2 WHERE id = ?1 AND revoked_at_us = 0");
    q.bind(1, id).bind(2, nowMicros());
    if (q.step() != SQLITE_DONE) return sqliteError(meta_, "revoke token");
    if (sqlite3_changes(meta_) == 0) {
      return notFound(fmt::format("no live token '{}'", id));
    }
    return Status::ok();
  }

  Status putSecret(const SecretRecord& secret) override {
    std::lock_guard lock(meta_mutex_);
    Statement q(meta_,
                R"sql(INSERT INTO secrets (tenant, name, sealed, created_at_us, updated_at_us)
                             VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT (tenant, name) DO UPDATE
                             SET sealed = ?3, updated_at_us = ?4)sql");
    q.bind(1, secret.tenant).bind(2, secret.name).bindBlob(3, secret.sealed).bind(4, nowMicros());
    if (q.step() != SQLITE_DONE) return sqliteError(meta_, "put secret");
    return Status::ok();
  }

  Result<SecretRecord> getSecret(const std::string& tenant, const std::string& name) override {
    std::lock_guard lock(meta_mutex_);
    Statement q(meta_, R"sql(SELECT tenant, name, sealed, created_at_us, updated_at_us FROM secrets
                             WHERE tenant = ?1 AND name = ?2)sql");
    q.bind(1, tenant).bind(2, name);
    if (q.step() != SQLITE_ROW) return notFound(fmt::format("no secret named '{}'", name));
    return SecretRecord{q.text(0), q.text(1), q.blob(2), q.integer(3), q.integer(4)};
  }

  Result<std::vector<SecretRecord>> listSecrets(const std::string& tenant) override {
    std::lock_guard lock(meta_mutex_);
    Statement q(meta_, R"sql(SELECT tenant, name, sealed, created_at_us, updated_at_us FROM secrets
                             WHERE tenant = ?1 ORDER BY name)sql");
    q.bind(1, tenant);
    std::vector<SecretRecord> out;
    while (q.step() == SQLITE_ROW) {
      out.push_back({q.text(0), q.text(1), q.blob(2), q.integer(3), q.integer(4)});
    }
    return out;
  }

  Status deleteSecret(const std::string& tenant, const std::string& name) override {
    std::lock_guard lock(meta_mutex_);
    Statement q(meta_, "DELETE FROM secrets WHERE tenant = ?1 AND name = ?2");
    q.bind(1, tenant).bind(2, name);
    if (q.step() != SQLITE_DONE) return sqliteError(meta_, "delete secret");
    if (sqlite3_changes(meta_) == 0) return notFound(fmt::format("no secret named '{}'", name));
    return Status::ok();
  }

  Status appendAudit(const AuditRecord& r) override {
    std::lock_guard lock(meta_mutex_);
    Statement q(meta_, R"sql(INSERT INTO audit (at_us, actor, tenant, source_ip, action, target,
                             outcome, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8))sql");
    q.bind(1, r.at_us > 0 ? r.at_us : nowMicros()).bind(2, r.actor).bind(3, r.tenant);
    q.bind(4, r.source_ip).bind(5, r.action).bind(6, r.target).bind(7, r.outcome).bind(8, r.detail);
    if (q.step() != SQLITE_DONE) return sqliteError(meta_, "append audit");
    return Status::ok();
  }

  Result<std::vector<AuditRecord>> listAudit(const AuditQuery& query) override {
    std::lock_guard lock(meta_mutex_);
    Statement q(meta_, R"sql(SELECT seq, at_us, actor, tenant, source_ip, action, target, outcome,
                             detail FROM audit WHERE (?1 = '' OR tenant = ?1) AND at_us >= ?2
                             ORDER BY seq DESC LIMIT ?3)sql");
    q.bind(1, query.tenant.value_or("")).bind(2, query.since_us).bind(3, int64_t{query.limit});
    std::vector<AuditRecord> out;
    while (q.step() == SQLITE_ROW) {
      out.push_back({q.integer(0), q.integer(1), q.text(2), q.text(3), q.text(4), q.text(5),
                     q.text(6), q.text(7), q.text(8)});
    }
    return out;
  }

  Result<GatewayRouteRecord> putGatewayRoute(const GatewayRouteRecord& route,
                                             const RouteGuard& guard) override {
    std::lock_guard lock(meta_mutex_);
    GUST_RETURN_IF_ERROR(guardLocked(guard));
    Statement holder(
        meta_,
        "SELECT id, tenant FROM gateway_routes WHERE host = ?1 AND method = ?2 AND shape = ?3");
    holder.bind(1, route.host).bind(2, route.method).bind(3, route.shape);
    GatewayRouteRecord stored = route;
    stored.created_at_us = nowMicros();
    if (holder.step() == SQLITE_ROW) {
      if (holder.text(1) != route.tenant) {
        return Status(Code::Conflict, fmt::format("route {} {} is already taken by another tenant",
                                                  route.method, route.path));
      }
      stored.id = holder.text(0);  // an edit keeps the route's id
    }
    Statement q(meta_, R"sql(INSERT OR REPLACE INTO gateway_routes (id, tenant, method, path, shape,
        host, function, auth, rate, burst, cors_json, max_body_bytes, created_at_us)
        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13))sql");
    q.bind(1, stored.id).bind(2, stored.tenant).bind(3, stored.method).bind(4, stored.path);
    q.bind(5, stored.shape).bind(6, stored.host).bind(7, stored.function).bind(8, stored.auth);
    q.bind(9, stored.rate).bind(10, stored.burst).bind(11, stored.cors_json);
    q.bind(12, stored.max_body_bytes).bind(13, stored.created_at_us);
    if (q.step() != SQLITE_DONE) return sqliteError(meta_, "put route");
    return stored;
  }

  Result<std::vector<GatewayRouteRecord>> listGatewayRoutes(
      const std::optional<std::string>& tenant) override {
    std::lock_guard lock(meta_mutex_);
    return listGatewayRoutesLocked(tenant);
  }

  Result<std::vector<GatewayRouteRecord>> listGatewayRoutesLocked(
      const std::optional<std::string>& tenant) {
    Statement q(meta_,
                R"sql(SELECT id, tenant, method, path, shape, host, function, auth, rate, burst,
        cors_json, max_body_bytes, created_at_us FROM gateway_routes
        WHERE (?1 = '' OR tenant = ?1) ORDER BY host, path, method)sql");
    q.bind(1, tenant.value_or(""));
    std::vector<GatewayRouteRecord> out;
    while (q.step() == SQLITE_ROW) {
      GatewayRouteRecord r;
      r.id = q.text(0);
      r.tenant = q.text(1);
      r.method = q.text(2);
      r.path = q.text(3);
      r.shape = q.text(4);
      r.host = q.text(5);
      r.function = q.text(6);
      r.auth = q.text(7);
      r.rate = q.text(8);
      r.burst = q.integer(9);
      r.cors_json = q.text(10);
      r.max_body_bytes = q.integer(11);
      r.created_at_us = q.integer(12);
      out.push_back(std::move(r));
    }
    return out;
  }

  Status deleteGatewayRoute(const std::string& tenant, const std::string& id) override {
    std::lock_guard lock(meta_mutex_);
    Statement q(meta_, "DELETE FROM gateway_routes WHERE tenant = ?1 AND id = ?2");
    q.bind(1, tenant).bind(2, id);
    if (q.step() != SQLITE_DONE) return sqliteError(meta_, "delete route");
    if (sqlite3_changes(meta_) == 0) return notFound(fmt::format("no route '{}'", id));
    return Status::ok();
  }

  Status claimHost(const HostRecord& host) override {
    std::lock_guard lock(meta_mutex_);
    Statement holder(meta_, "SELECT tenant FROM hosts WHERE host = ?1");
    holder.bind(1, host.host);
    if (holder.step() == SQLITE_ROW) {
      if (holder.text(0) == host.tenant) return Status::ok();
      return Status(Code::Conflict,
                    fmt::format("host {} is claimed by tenant '{}': `gust host rm {}` "
                                "first to give it to another",
                                host.host, holder.text(0), host.host));
    }
    Statement q(meta_, "INSERT INTO hosts (host, tenant, created_at_us) VALUES (?1, ?2, ?3)");
    q.bind(1, host.host).bind(2, host.tenant).bind(3, host.created_at_us);
    if (q.step() != SQLITE_DONE) return sqliteError(meta_, "claim host");
    return Status::ok();
  }

  Result<std::vector<HostRecord>> listHosts(const std::optional<std::string>& tenant) override {
    std::lock_guard lock(meta_mutex_);
    return listHostsLocked(tenant);
  }

  Result<std::vector<HostRecord>> listHostsLocked(const std::optional<std::string>& tenant) {
    Statement q(meta_, R"sql(SELECT host, tenant, created_at_us FROM hosts
                             WHERE (?1 = '' OR tenant = ?1) ORDER BY host)sql");
    q.bind(1, tenant.value_or(""));
    std::vector<HostRecord> out;
    while (q.step() == SQLITE_ROW) out.push_back({q.text(0), q.text(1), q.integer(2)});
    return out;
  }

  Status releaseHost(const std::string& host) override {
    std::lock_guard lock(meta_mutex_);
    Statement bound(meta_, "SELECT COUNT(*), MIN(tenant) FROM gateway_routes WHERE host = ?1");
    bound.bind(1, host);
    if (bound.step() != SQLITE_ROW) return sqliteError(meta_, "count host routes");
    if (int64_t count = bound.integer(0); count > 0) {
      return Status(Code::Conflict,
                    fmt::format("host {} still has {} route(s) of tenant '{}': remove them first "
                                "(`gust --tenant {} route ls`)",
                                host, count, bound.text(1), bound.text(1)));
    }
    Statement q(meta_, "DELETE FROM hosts WHERE host = ?1");
    q.bind(1, host);
    if (q.step() != SQLITE_DONE) return sqliteError(meta_, "release host");
    if (sqlite3_changes(meta_) == 0) return notFound(fmt::format("no host '{}' is claimed", host));
    return Status::ok();
  }

  // Runs a route change's guard on every route there is, inside the caller's lock.
  Status guardLocked(const RouteGuard& guard) {
    if (!guard) return Status::ok();
    RouteSpace space;
    auto hosts = listHostsLocked(std::nullopt);
    if (!hosts) return hosts.status();
    auto gateway_routes = listGatewayRoutesLocked(std::nullopt);
    if (!gateway_routes) return gateway_routes.status();
    auto project_routes = listRoutesLocked();
    if (!project_routes) return project_routes.status();
    space.hosts = std::move(*hosts);
    space.gateway_routes = std::move(*gateway_routes);
    space.project_routes = std::move(*project_routes);
    return guard(space);
  }

  Status createClientKey(const ClientKeyRecord& key) override {
    std::lock_guard lock(meta_mutex_);
    Statement q(meta_,
                R"sql(INSERT INTO client_keys (client_id, tenant, name, hash, scopes_json, rate,
        burst, quota, expires_at_us, created_at_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10))sql");
    q.bind(1, key.client_id).bind(2, key.tenant).bind(3, key.name).bind(4, key.hash);
    q.bind(5, nlohmann::json(key.scopes).dump()).bind(6, key.rate).bind(7, key.burst);
    q.bind(8, key.quota).bind(9, key.expires_at_us).bind(10, key.created_at_us);
    if (q.step() != SQLITE_DONE) return sqliteError(meta_, "create key");
    return Status::ok();
  }

  Result<std::vector<ClientKeyRecord>> listClientKeys(
      const std::optional<std::string>& tenant) override {
    std::lock_guard lock(meta_mutex_);
    Statement q(meta_, R"sql(SELECT client_id, tenant, name, hash, scopes_json, rate, burst, quota,
        expires_at_us, created_at_us, revoked_at_us FROM client_keys
        WHERE (?1 = '' OR tenant = ?1) ORDER BY created_at_us, client_id)sql");
    q.bind(1, tenant.value_or(""));
    std::vector<ClientKeyRecord> out;
    while (q.step() == SQLITE_ROW) {
      ClientKeyRecord k;
      k.client_id = q.text(0);
      k.tenant = q.text(1);
      k.name = q.text(2);
      k.hash = q.text(3);
      auto scopes = protocol::parseJsonOrDiscarded(q.text(4));
      if (scopes.is_array()) {
        for (const auto& scope : scopes) {
          if (scope.is_string()) k.scopes.push_back(scope.get<std::string>());
        }
      }
      k.rate = q.text(5);
      k.burst = q.integer(6);
      k.quota = q.text(7);
      k.expires_at_us = q.integer(8);
      k.created_at_us = q.integer(9);
      k.revoked_at_us = q.integer(10);
      out.push_back(std::move(k));
    }
    return out;
  }

  Status revokeClientKey(const std::string& tenant, const std::string& client_id) override {
    std::lock_guard lock(meta_mutex_);
    Statement q(meta_,
                "UPDATE client_keys SET revoked_at_us = ?3 WHERE tenant = ?1 AND client_id = ?2 "
                "AND revoked_at_us = 0");
    q.bind(1, tenant).bind(2, client_id).bind(3, nowMicros());
    if (q.step() != SQLITE_DONE) return sqliteError(meta_, "revoke key");
    if (sqlite3_changes(meta_) == 0) return notFound(fmt::format("no live key '{}'", client_id));
    return Status::ok();
  }

  Status putShare(const ShareRecord& share) override {
    std::lock_guard lock(meta_mutex_);
    Statement q(meta_,
                R"sql(INSERT OR IGNORE INTO shares (tenant, function, with_tenant, created_at_us)
                             VALUES (?1, ?2, ?3, ?4))sql");
    q.bind(1, share.tenant).bind(2, share.function).bind(3, share.with_tenant).bind(4, nowMicros());
    if (q.step() != SQLITE_DONE) return sqliteError(meta_, "share");
    return Status::ok();
  }

  Result<std::vector<ShareRecord>> listShares(const std::optional<std::string>& tenant) override {
    std::lock_guard lock(meta_mutex_);
    Statement q(meta_, R"sql(SELECT tenant, function, with_tenant, created_at_us FROM shares
                             WHERE (?1 = '' OR tenant = ?1) ORDER BY tenant, function, with_tenant)sql");
    q.bind(1, tenant.value_or(""));
    std::vector<ShareRecord> out;
    while (q.step() == SQLITE_ROW) out.push_back({q.text(0), q.text(1), q.text(2), q.integer(3)});
    return out;
  }

  Status deleteShare(const std::string& tenant, const std::string& function,
                     const std::string& with_tenant) override {
    std::lock_guard lock(meta_mutex_);
    Statement q(meta_,
                "DELETE FROM shares WHERE tenant = ?1 AND function = ?2 AND with_tenant = ?3");
    q.bind(1, tenant).bind(2, function).bind(3, with_tenant);
    if (q.step() != SQLITE_DONE) return sqliteError(meta_, "unshare");
    if (sqlite3_changes(meta_) == 0) {
      return notFound(fmt::format("function '{}' is not shared with '{}'", function, with_tenant));
    }
    return Status::ok();
  }

  Status addQuotaUse(const std::string& client_id, int64_t period_start_us,
                     int64_t count) override {
    std::lock_guard lock(meta_mutex_);
    Statement q(meta_,
                R"sql(INSERT INTO quota_use (client_id, period_start_us, count) VALUES (?1, ?2, ?3)
                             ON CONFLICT (client_id, period_start_us) DO UPDATE SET count = count + ?3)sql");
    q.bind(1, client_id).bind(2, period_start_us).bind(3, count);
    if (q.step() != SQLITE_DONE) return sqliteError(meta_, "count quota");
    return Status::ok();
  }

  Result<int64_t> quotaUse(const std::string& client_id, int64_t period_start_us) override {
    std::lock_guard lock(meta_mutex_);
    Statement q(meta_, "SELECT count FROM quota_use WHERE client_id = ?1 AND period_start_us = ?2");
    q.bind(1, client_id).bind(2, period_start_us);
    if (q.step() != SQLITE_ROW) return int64_t{0};
    return q.integer(0);
  }

  void recordAccess(AccessRecord record) override {
    {
      std::lock_guard lock(queue_mutex_);
      access_queue_.push_back(std::move(record));
      ++enqueued_;  // so flushActivations() waits for access records too
    }
    queue_cv_.notify_all();
  }

  Result<std::vector<AccessRecord>> listAccess(const AccessQuery& query) override {
    std::string sql = std::string("SELECT ") + kAccessColumns +
                      " FROM access_log WHERE (?1 = '' OR tenant = ?1) AND (?2 = '' OR route = ?2)"
                      " AND (?3 = '' OR key_id = ?3) AND (?4 = 0 OR status / 100 = ?4)"
                      " AND (?5 = 0 OR status = ?5) AND at_us >= ?6 AND seq > ?7"
                      " AND (?9 = '' OR function = ?9)";
    sql += query.after_seq > 0 ? " ORDER BY seq ASC LIMIT ?8" : " ORDER BY seq DESC LIMIT ?8";
    std::lock_guard lock(meta_mutex_);
    Statement q(meta_, sql.c_str());
    if (!q.ok()) return internalError("sqlite: " + q.error());
    q.bind(1, query.tenant.value_or("")).bind(2, query.route).bind(3, query.key_id);
    q.bind(4, int64_t{query.status_class}).bind(5, int64_t{query.status}).bind(6, query.since_us);
    q.bind(7, query.after_seq).bind(8, int64_t{query.limit}).bind(9, query.function);
    std::vector<AccessRecord> out;
    while (q.step() == SQLITE_ROW) out.push_back(readAccess(q));
    return out;
  }

  Result<std::vector<TrafficRow>> traffic(const std::optional<std::string>& tenant,
                                          TrafficGrouping by, int64_t since_us) override {
    const char* group = by == TrafficGrouping::Key     ? "key_id"
                        : by == TrafficGrouping::Route ? "route"
                                                       : "function";
    std::string sql = fmt::format(
        "SELECT {0}, status, latency_us, bytes_in, bytes_out, limited FROM access_log "
        "WHERE (?1 = '' OR tenant = ?1) AND at_us >= ?2 AND tenant != '' ORDER BY {0}, latency_us",
        group);
    std::lock_guard lock(meta_mutex_);
    Statement q(meta_, sql.c_str());
    if (!q.ok()) return internalError("sqlite: " + q.error());
    q.bind(1, tenant.value_or("")).bind(2, since_us);
    std::vector<TrafficRow> rows;
    std::vector<int64_t> latencies;  // sorted within a group by the query
    auto finish = [&] {
      if (rows.empty() || latencies.empty()) return;
      auto at = [&](double quantile) {
        std::size_t index =
            static_cast<std::size_t>(quantile * static_cast<double>(latencies.size() - 1) + 0.5);
        return static_cast<double>(latencies[std::min(index, latencies.size() - 1)]) / 1000.0;
      };
      rows.back().latency_p50_ms = at(0.50);
      rows.back().latency_p95_ms = at(0.95);
      rows.back().latency_p99_ms = at(0.99);
      latencies.clear();
    };
    while (q.step() == SQLITE_ROW) {
      std::string key = q.text(0);
      if (rows.empty() || rows.back().group != key) {
        finish();
        rows.push_back({});
        rows.back().group = key;
      }
      TrafficRow& row = rows.back();
      int status = static_cast<int>(q.integer(1));
      ++row.requests;
      if (status / 100 == 2) ++row.status_2xx;
      if (status / 100 == 4) ++row.status_4xx;
      if (status / 100 == 5) ++row.status_5xx;
      latencies.push_back(q.integer(2));
      row.bytes_in += q.integer(3);
      row.bytes_out += q.integer(4);
      row.limited += q.integer(5);
    }
    finish();
    return rows;
  }

  Result<int64_t> capAccess(int64_t keep_rows, int batch_rows) override {
    // Records are only ever deleted oldest first, so the sequence numbers left are contiguous
    // and the newest keep_rows are those at or above MAX(seq) - keep_rows + 1.
    return deleteInBatches(
        "DELETE FROM access_log WHERE seq IN (SELECT seq FROM access_log "
        "WHERE seq <= (SELECT MAX(seq) FROM access_log) - ?3 ORDER BY seq LIMIT ?1)",
        "", keep_rows, batch_rows);
  }

  Result<int64_t> pruneFinishedAsync(int64_t older_than_us, int batch_rows) override {
    // Attempts first: an invocation is never left without its history while it is listable.
    auto attempts = deleteInBatches(
        "DELETE FROM async_attempts WHERE invocation_id IN (SELECT id FROM async_invocations "
        "WHERE state IN ('succeeded', 'dead') AND finished_at_us < ?3 ORDER BY finished_at_us "
        "LIMIT ?1)",
        "", older_than_us, batch_rows);
    if (!attempts) return attempts;
    return deleteInBatches(
        "DELETE FROM async_invocations WHERE id IN (SELECT id FROM async_invocations "
        "WHERE state IN ('succeeded', 'dead') AND finished_at_us < ?3 ORDER BY finished_at_us "
        "LIMIT ?1)",
        "", older_than_us, batch_rows);
  }

  Result<int64_t> pruneAudit(int64_t older_than_us, int batch_rows) override {
    return deleteInBatches(
        "DELETE FROM audit WHERE seq IN (SELECT seq FROM audit "
        "WHERE at_us < ?3 ORDER BY seq LIMIT ?1)",
        "", older_than_us, batch_rows);
  }

  Result<int64_t> pruneAccess(int64_t older_than_us, int batch_rows) override {
    return deleteInBatches(
        "DELETE FROM access_log WHERE seq IN (SELECT seq FROM access_log "
        "WHERE at_us < ?3 ORDER BY at_us LIMIT ?1)",
        "", older_than_us, batch_rows);
  }

  void recordActivation(ActivationRecord record, std::function<void()> on_committed,
                        std::shared_ptr<RecordTicket> ticket) override {
    // Serialised outside the lock; written under it, so lines are in queue order and the writer
    // restarts only a journal whose every line it has applied.
    std::string line = journalLine(record);
    bool journaled = false;
    {
      std::lock_guard lock(queue_mutex_);
      // Past its budget of unapplied records the journal takes no more: callers wait for the
      // commit instead, so answers slow to what the store can record rather than memory and the
      // journal growing without bound (the writer falls behind when the CPU is saturated).
      const std::size_t bytes = line.size();
      journaled = unapplied_bytes_ < kMaxUnappliedBytes &&
                  journal_.append(std::move(line), enqueued_ + 1);
      if (journaled) {
        queue_.push_back({std::move(record), nullptr, nullptr, bytes});
        unapplied_bytes_ += bytes;
      } else {
        queue_.push_back({std::move(record), std::move(on_committed), std::move(ticket)});
        ++callers_waiting_;
      }
      ++enqueued_;
    }
    queue_cv_.notify_all();
    // Durable now: answered without waiting for the writer (on the caller's thread).
    if (journaled && on_committed) on_committed();
  }

  std::size_t pendingActivations() override {
    std::lock_guard lock(queue_mutex_);
    return static_cast<std::size_t>(enqueued_ - committed_);
  }

  Result<std::vector<UsageRow>> usage(const UsageQuery& query) override {
    flushActivations();
    const char* group = "function";
    switch (query.by) {
      case UsageGrouping::Tenant:
        group = "tenant";
        break;
      case UsageGrouping::Function:
        group = "function";
        break;
      case UsageGrouping::Version:
        group = "function || '@' || version";
        break;
      case UsageGrouping::Key:
        group = "key_id";
        break;
      case UsageGrouping::Hour:
        group = "hour_us";
        break;
    }
    std::string sql = fmt::format(
        "SELECT {0}, SUM(invocations), SUM(errors), SUM(billed_ms), SUM(mb_ms), SUM(cpu_user_us), "
        "SUM(cpu_sys_us), SUM(bytes_in), SUM(bytes_out) FROM usage_hourly "
        "WHERE (?1 = '' OR tenant = ?1) AND hour_us >= ?2 AND (?3 = 0 OR hour_us < ?3) "
        "GROUP BY {0} ORDER BY {0}",
        group);
    std::lock_guard lock(meta_mutex_);
    Statement q(meta_, sql.c_str());
    if (!q.ok()) return internalError("sqlite: " + q.error());
    q.bind(1, query.tenant.value_or("")).bind(2, query.since_us - query.since_us % kHourUs);
    q.bind(3, query.until_us);
    std::vector<UsageRow> rows;
    while (q.step() == SQLITE_ROW) {
      UsageRow row;
      row.group = query.by == UsageGrouping::Hour ? formatRfc3339Micros(q.integer(0)) : q.text(0);
      row.invocations = q.integer(1);
      row.errors = q.integer(2);
      row.billed_ms = q.integer(3);
      row.mb_ms = q.integer(4);
      row.cpu_user_us = q.integer(5);
      row.cpu_sys_us = q.integer(6);
      row.bytes_in = q.integer(7);
      row.bytes_out = q.integer(8);
      rows.push_back(std::move(row));
    }
    return rows;
  }

  void flushActivations() override {
    std::unique_lock lock(queue_mutex_);
    uint64_t target = enqueued_;
    if (committed_ >= target) return;
    ++flush_waiters_;  // the writer commits now rather than at its next interval
    queue_cv_.notify_all();
    flushed_cv_.wait(lock, [&] { return committed_ >= target; });
    --flush_waiters_;
  }

  Result<std::vector<ActivationRecord>> listActivations(const ActivationQuery& query) override {
    flushActivations();  // read your writes: answered records may still be only in the journal
    std::lock_guard lock(meta_mutex_);
    std::string sql =
        fmt::format("SELECT {} FROM activations WHERE tenant = ?1", kActivationColumns);
    if (query.function) sql += " AND function = ?2";
    if (query.since_us > 0) sql += " AND received_at_us >= ?3";
    if (!query.after_id.empty()) {
      sql += query.oldest_first ? " AND seq > (SELECT seq FROM activations WHERE id = ?4)"
                                : " AND seq < (SELECT seq FROM activations WHERE id = ?4)";
    }
    sql += query.oldest_first ? " ORDER BY seq ASC" : " ORDER BY seq DESC";
    sql += " LIMIT ?5";
    Statement q(meta_, sql.c_str());
    if (!q.ok()) return internalError("sqlite: " + q.error());
    q.bind(1, query.tenant);
    if (query.function) q.bind(2, *query.function);
    q.bind(3, query.since_us).bind(4, query.after_id).bind(5, int64_t{query.limit});
    std::vector<ActivationRecord> out;
    while (q.step() == SQLITE_ROW) out.push_back(readActivation(q, query.with_logs));
    return out;
  }

  Result<int64_t> pruneActivations(int64_t now_us, const RetentionDefaults& defaults) override {
    auto tenants = retentionByTenant(defaults);
    if (!tenants) return tenants.status();
    int64_t deleted = 0;
    for (const auto& [tenant, limits] : *tenants) {
      if (limits.days > 0) {
        auto aged = deleteInBatches(
            "DELETE FROM activations WHERE seq IN (SELECT seq FROM activations "
            "WHERE tenant = ?2 AND received_at_us < ?3 ORDER BY seq LIMIT ?1)",
            tenant, now_us - limits.days * kDayUs, defaults.batch_rows);
        if (!aged) return aged.status();
        deleted += *aged;
      }
      if (limits.mb > 0) {
        auto newest_over = newestRecordOverBudget(tenant, limits.mb << 20);
        if (!newest_over) return newest_over.status();
        if (*newest_over == 0) continue;
        auto over = deleteInBatches(
            "DELETE FROM activations WHERE seq IN (SELECT seq FROM activations "
            "WHERE tenant = ?2 AND seq <= ?3 ORDER BY seq LIMIT ?1)",
            tenant, *newest_over, defaults.batch_rows);
        if (!over) return over.status();
        deleted += *over;
      }
    }
    return deleted;
  }

  Result<int64_t> pruneUsage(int64_t older_than_us, int batch_rows) override {
    return deleteInBatches(
        "DELETE FROM usage_hourly WHERE rowid IN (SELECT rowid FROM "
        "usage_hourly WHERE hour_us < ?3 LIMIT ?1)",
        "", older_than_us, batch_rows);
  }

  Result<int64_t> compact() override {
    int64_t given_back = 0;
    for (int64_t before = -1;;) {
      std::lock_guard lock(meta_mutex_);
      Statement pages(
          meta_, "SELECT freelist_count, page_size FROM pragma_freelist_count, pragma_page_size");
      if (pages.step() != SQLITE_ROW) return sqliteError(meta_, "count free pages");
      int64_t free_pages = pages.integer(0);
      if (before >= 0) given_back += (before - free_pages) * pages.integer(1);
      // Stops when nothing is left, or nothing moved (a database not in incremental mode).
      if (free_pages == 0 || free_pages == before) break;
      before = free_pages;
      GUST_RETURN_IF_ERROR(execute(
          meta_, fmt::format("PRAGMA incremental_vacuum({})", kVacuumPagesPerStep).c_str()));
    }
    {
      std::lock_guard lock(checkpoint_mutex_);
      checkpoint_wanted_ = true;
      truncate_wanted_ = true;
    }
    checkpoint_cv_.notify_one();
    return given_back;
  }

  Status enqueueAsync(const AsyncInvocationRecord& record) override {
    std::lock_guard lock(meta_mutex_);
    return insertAsync(meta_, record);
  }

  Result<std::vector<AsyncInvocationRecord>> claimDueAsync(int64_t now_us, int limit) override {
    std::lock_guard lock(meta_mutex_);
    std::vector<AsyncInvocationRecord> claimed;
    {
      // Most polls find nothing due: look before taking the write lock.
      Statement any(meta_,
                    "SELECT 1 FROM async_invocations WHERE state = 'queued' AND "
                    "next_attempt_at_us <= ?1 LIMIT 1");
      any.bind(1, now_us);
      if (any.step() != SQLITE_ROW) return claimed;
    }
    Status status = inTransaction(meta_, [&]() -> Status {
      Statement q(meta_, fmt::format("SELECT {} FROM async_invocations WHERE state = 'queued' AND "
                                     "next_attempt_at_us <= ?1 ORDER BY next_attempt_at_us, rowid "
                                     "LIMIT ?2",
                                     kAsyncColumns)
                             .c_str());
      q.bind(1, now_us).bind(2, int64_t{limit});
      while (q.step() == SQLITE_ROW) claimed.push_back(readAsync(q));
      Statement mark(meta_,
                     "UPDATE async_invocations SET state = 'running', starts = starts + 1 "
                     "WHERE id = ?1");
      for (auto& r : claimed) {
        mark.reset();
        mark.bind(1, r.id);
        if (mark.step() != SQLITE_DONE) return sqliteError(meta_, "claim async invocation");
        r.state = "running";
        ++r.starts;
      }
      return Status::ok();
    });
    if (!status.isOk()) return status;
    return claimed;
  }

  Status finishAsyncAttempt(const std::optional<AsyncAttemptRecord>& attempt,
                            const AsyncInvocationRecord& r) override {
    std::lock_guard lock(meta_mutex_);
    return inTransaction(meta_, [&]() -> Status {
      if (attempt) {
        Statement add(meta_, R"sql(INSERT INTO async_attempts (invocation_id, attempt,
            activation_id, status, error, started_at_us, finished_at_us)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7))sql");
        add.bind(1, attempt->invocation_id)
            .bind(2, attempt->attempt)
            .bind(3, attempt->activation_id);
        add.bind(4, attempt->status).bind(5, attempt->error).bind(6, attempt->started_at_us);
        add.bind(7, attempt->finished_at_us);
        if (add.step() != SQLITE_DONE) return sqliteError(meta_, "record attempt");
      }
      Statement update(meta_, R"sql(UPDATE async_invocations SET payload = ?2,
          next_attempt_at_us = ?3, attempts = ?4, state = ?5, last_error = ?6, dead_reason = ?7,
          finished_at_us = ?8 WHERE id = ?1)sql");
      update.bind(1, r.id).bind(2, r.payload).bind(3, r.next_attempt_at_us).bind(4, r.attempts);
      update.bind(5, r.state)
          .bind(6, r.last_error)
          .bind(7, r.dead_reason)
          .bind(8, r.finished_at_us);
      if (update.step() != SQLITE_DONE) return sqliteError(meta_, "update async invocation");
      return Status::ok();
    });
  }

  Result<int64_t> requeueRunningAsync() override {
    std::lock_guard lock(meta_mutex_);
    Statement q(meta_, "UPDATE async_invocations SET state = 'queued' WHERE state = 'running'");
    if (q.step() != SQLITE_DONE) return sqliteError(meta_, "requeue async invocations");
    return static_cast<int64_t>(sqlite3_changes(meta_));
  }

  Result<AsyncInvocationRecord> getAsync(const std::string& tenant,
                                         const std::string& id) override {
    std::lock_guard lock(meta_mutex_);
    Statement q(meta_, fmt::format("SELECT {} FROM async_invocations WHERE tenant = ?1 AND id = ?2",
                                   kAsyncColumns)
                           .c_str());
    q.bind(1, tenant).bind(2, id);
    if (q.step() != SQLITE_ROW) return notFound(fmt::format("no asynchronous invocation '{}'", id));
    return readAsync(q);
  }

  Result<std::vector<AsyncAttemptRecord>> listAsyncAttempts(const std::string& id) override {
    std::lock_guard lock(meta_mutex_);
    Statement q(meta_, R"sql(SELECT invocation_id, attempt, activation_id, status, error,
        started_at_us, finished_at_us FROM async_attempts WHERE invocation_id = ?1
        ORDER BY seq)sql");
    q.bind(1, id);
    std::vector<AsyncAttemptRecord> out;
    while (q.step() == SQLITE_ROW) {
      out.push_back(
          {q.text(0), q.integer(1), q.text(2), q.text(3), q.text(4), q.integer(5), q.integer(6)});
    }
    return out;
  }

  Result<std::vector<AsyncInvocationRecord>> listAsync(const AsyncQuery& query) override {
    std::lock_guard lock(meta_mutex_);
    std::string sql =
        fmt::format("SELECT {} FROM async_invocations WHERE tenant = ?1", kAsyncColumns);
    if (query.function) sql += " AND function = ?2";
    if (query.state) sql += " AND state = ?3";
    sql += " ORDER BY rowid DESC LIMIT ?4";
    Statement q(meta_, sql.c_str());
    if (!q.ok()) return internalError("sqlite: " + q.error());
    q.bind(1, query.tenant);
    if (query.function) q.bind(2, *query.function);
    if (query.state) q.bind(3, *query.state);
    q.bind(4, int64_t{query.limit});
    std::vector<AsyncInvocationRecord> out;
    while (q.step() == SQLITE_ROW) out.push_back(readAsync(q));
    return out;
  }

  Result<std::vector<std::string>> replayDeadLetters(const std::string& tenant,
                                                     const std::string& function,
                                                     const std::vector<std::string>& ids,
                                                     int64_t now_us) override {
    std::lock_guard lock(meta_mutex_);
    std::vector<std::string> touched = deadLetterIds(tenant, function, ids);
    Status status = inTransaction(meta_, [&]() -> Status {
      Statement q(meta_, R"sql(UPDATE async_invocations SET state = 'queued', attempts = 0,
          received_at_us = ?2, next_attempt_at_us = ?2, dead_reason = '', finished_at_us = 0
          WHERE id = ?1 AND state = 'dead')sql");
      for (const auto& id : touched) {
        q.reset();
        q.bind(1, id).bind(2, now_us);
        if (q.step() != SQLITE_DONE) return sqliteError(meta_, "replay dead letter");
      }
      return Status::ok();
    });
    if (!status.isOk()) return status;
    return touched;
  }

  Result<std::vector<std::string>> purgeDeadLetters(const std::string& tenant,
                                                    const std::string& function,
                                                    const std::vector<std::string>& ids) override {
    std::lock_guard lock(meta_mutex_);
    std::vector<std::string> touched = deadLetterIds(tenant, function, ids);
    Status status = inTransaction(meta_, [&]() -> Status {
      Statement attempts(meta_, "DELETE FROM async_attempts WHERE invocation_id = ?1");
      Statement q(meta_, "DELETE FROM async_invocations WHERE id = ?1 AND state = 'dead'");
      for (const auto& id : touched) {
        attempts.reset();
        attempts.bind(1, id);
        q.reset();
        q.bind(1, id);
        if (attempts.step() != SQLITE_DONE || q.step() != SQLITE_DONE) {
          return sqliteError(meta_, "purge dead letter");
        }
      }
      return Status::ok();
    });
    if (!status.isOk()) return status;
    return touched;
  }

  Status createTrigger(const TriggerRecord& t) override {
    std::lock_guard lock(meta_mutex_);
    return inTransaction(meta_, [&]() -> Status {
      Statement q(meta_, R"sql(INSERT INTO triggers (id, tenant, kind, function, config_json,
          paused, created_at_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7))sql");
      q.bind(1, t.id).bind(2, t.tenant).bind(3, t.kind).bind(4, t.function).bind(5, t.config_json);
      q.bind(6, int64_t{t.paused}).bind(7, t.created_at_us);
      if (q.step() != SQLITE_DONE) return sqliteError(meta_, "create trigger");
      if (t.kind == "cron") {
        Statement state(meta_, "INSERT INTO cron_state (trigger_id, last_slot_us) VALUES (?1, ?2)");
        state.bind(1, t.id).bind(2, t.last_slot_us);
        if (state.step() != SQLITE_DONE) return sqliteError(meta_, "create cron state");
      }
      return Status::ok();
    });
  }

  Result<std::vector<TriggerRecord>> listTriggers(
      const std::optional<std::string>& tenant) override {
    std::lock_guard lock(meta_mutex_);
    std::string sql = fmt::format(
        "SELECT {} FROM triggers t LEFT JOIN cron_state c ON "
        "c.trigger_id = t.id{} ORDER BY t.created_at_us, t.id",
        kTriggerColumns, tenant ? " WHERE t.tenant = ?1" : "");
    Statement q(meta_, sql.c_str());
    if (tenant) q.bind(1, *tenant);
    std::vector<TriggerRecord> out;
    while (q.step() == SQLITE_ROW) out.push_back(readTrigger(q));
    return out;
  }

  Result<TriggerRecord> getTrigger(const std::string& tenant, const std::string& id) override {
    std::lock_guard lock(meta_mutex_);
    Statement q(meta_, fmt::format("SELECT {} FROM triggers t LEFT JOIN cron_state c ON "
                                   "c.trigger_id = t.id WHERE t.tenant = ?1 AND t.id = ?2",
                                   kTriggerColumns)
                           .c_str());
    q.bind(1, tenant).bind(2, id);
    if (q.step() != SQLITE_ROW) return notFound(fmt::format("no trigger '{}'", id));
    return readTrigger(q);
  }

  Status deleteTrigger(const std::string& tenant, const std::string& id) override {
    std::lock_guard lock(meta_mutex_);
    Statement q(meta_, "DELETE FROM triggers WHERE tenant = ?1 AND id = ?2");
    q.bind(1, tenant).bind(2, id);
    if (q.step() != SQLITE_DONE) return sqliteError(meta_, "delete trigger");
    if (sqlite3_changes(meta_) == 0) return notFound(fmt::format("no trigger '{}'", id));
    return Status::ok();
  }

  Status setTriggerPaused(const std::string& tenant, const std::string& id, bool paused) override {
    std::lock_guard lock(meta_mutex_);
    Statement q(meta_, "UPDATE triggers SET paused = ?3 WHERE tenant = ?1 AND id = ?2");
    q.bind(1, tenant).bind(2, id).bind(3, int64_t{paused});
    if (q.step() != SQLITE_DONE) return sqliteError(meta_, "pause trigger");
    if (sqlite3_changes(meta_) == 0) return notFound(fmt::format("no trigger '{}'", id));
    return Status::ok();
  }

  Result<bool> claimCronSlot(const std::string& trigger_id, int64_t expected_last_slot_us,
                             int64_t slot_us,
                             const std::optional<AsyncInvocationRecord>& fire) override {
    std::lock_guard lock(meta_mutex_);
    bool claimed = false;
    Status status = inTransaction(meta_, [&]() -> Status {
      Statement q(meta_,
                  "UPDATE cron_state SET last_slot_us = ?3 WHERE trigger_id = ?1 AND "
                  "last_slot_us = ?2");
      q.bind(1, trigger_id).bind(2, expected_last_slot_us).bind(3, slot_us);
      if (q.step() != SQLITE_DONE) return sqliteError(meta_, "claim cron slot");
      claimed = sqlite3_changes(meta_) == 1;
      if (claimed && fire) return insertAsync(meta_, *fire);
      return Status::ok();
    });
    if (!status.isOk()) return status;
    return claimed;
  }

  Result<ActivationRecord> getActivation(const std::string& tenant,
                                         const std::string& id) override {
    flushActivations();
    std::lock_guard lock(meta_mutex_);
    Statement q(meta_, fmt::format("SELECT {} FROM activations WHERE tenant = ?1 AND id = ?2",
                                   kActivationColumns)
                           .c_str());
    q.bind(1, tenant).bind(2, id);
    if (q.step() != SQLITE_ROW) return notFound(fmt::format("no activation '{}'", id));
    return readActivation(q, /*with_logs=*/true);
  }

 private:
  // The dead letters of a function among `ids` (all of them when `ids` is empty).
  std::vector<std::string> deadLetterIds(const std::string& tenant, const std::string& function,
                                         const std::vector<std::string>& ids) {
    Statement q(meta_,
                "SELECT id FROM async_invocations WHERE tenant = ?1 AND function = ?2 AND "
                "state = 'dead' ORDER BY rowid");
    q.bind(1, tenant).bind(2, function);
    std::vector<std::string> out;
    while (q.step() == SQLITE_ROW) {
      std::string id = q.text(0);
      if (ids.empty() || std::find(ids.begin(), ids.end(), id) != ids.end()) out.push_back(id);
    }
    return out;
  }

  static Status noSuchFunction(const std::string& name) {
    return notFound(fmt::format("no function named '{}'", name));
  }

  static FunctionRecord readFunction(Statement& q) {
    return {q.text(0), q.text(1), q.integer(2), q.integer(3), q.integer(4), q.integer(5)};
  }

  static VersionRecord readVersion(Statement& q) {
    return {q.text(0), q.text(1), q.integer(2), q.text(3), q.text(4), q.integer(5), q.integer(6)};
  }

  std::optional<int64_t> functionId(const std::string& tenant, const std::string& name) {
    Statement q(meta_, "SELECT id FROM functions WHERE tenant = ?1 AND name = ?2");
    q.bind(1, tenant).bind(2, name);
    if (q.step() != SQLITE_ROW) return std::nullopt;
    return q.integer(0);
  }

  Result<VersionRecord> getVersionLocked(const std::string& tenant, const std::string& function,
                                         int64_t version) {
    Statement q(meta_, R"sql(
      SELECT f.tenant, f.name, v.version, v.bundle_sha256, v.config_json, v.bundle_bytes,
             v.created_at_us
      FROM versions v JOIN functions f ON f.id = v.function_id
      WHERE f.tenant = ?1 AND f.name = ?2 AND v.version = ?3)sql");
    q.bind(1, tenant).bind(2, function).bind(3, version);
    if (q.step() != SQLITE_ROW) {
      if (!functionId(tenant, function)) return noSuchFunction(function);
      return notFound(fmt::format("function '{}' has no version {}", function, version));
    }
    return readVersion(q);
  }

  Status setAliasLocked(const std::string& tenant, const std::string& function,
                        const std::string& alias, int64_t version,
                        const std::optional<std::vector<RouteRecord>>& routes) {
    auto id = functionId(tenant, function);
    if (!id) return noSuchFunction(function);
    if (!getVersionLocked(tenant, function, version).isOk()) {
      return notFound(fmt::format("function '{}' has no version {}", function, version));
    }
    Statement q(meta_, R"sql(INSERT INTO aliases (function_id, name, version) VALUES (?1, ?2, ?3)
                             ON CONFLICT (function_id, name) DO UPDATE SET version = ?3)sql");
    q.bind(1, *id).bind(2, alias).bind(3, version);
    if (q.step() != SQLITE_DONE) return sqliteError(meta_, "set alias");
    if (routes) GUST_RETURN_IF_ERROR(replaceRoutesLocked(*id, tenant, *routes));
    Statement touch(meta_, "UPDATE functions SET updated_at_us = ?2 WHERE id = ?1");
    touch.bind(1, *id).bind(2, nowMicros());
    if (touch.step() != SQLITE_DONE) return sqliteError(meta_, "touch function");
    return Status::ok();
  }

  // Replaces the function's routes; 409 if another function holds one of them.
  Status replaceRoutesLocked(int64_t id, const std::string& tenant,
                             const std::vector<RouteRecord>& routes) {
    for (const RouteRecord& route : routes) {
      Statement holder(meta_, R"sql(SELECT f.tenant, f.name FROM routes r
                                    JOIN functions f ON f.id = r.function_id
                                    WHERE r.path = ?1 AND r.function_id != ?2)sql");
      holder.bind(1, route.path).bind(2, id);
      if (holder.step() == SQLITE_ROW) {
        // Another tenant's function names are not ours to tell.
        if (holder.text(0) != tenant) {
          return Status(Code::Conflict,
                        fmt::format("route {} is already taken by another tenant", route.path));
        }
        return Status(Code::Conflict,
                      fmt::format("route {} is already held by function '{}': rename the file "
                                  "or remove that function first",
                                  route.path, holder.text(1)));
      }
    }
    Statement clear(meta_, "DELETE FROM routes WHERE function_id = ?1");
    clear.bind(1, id);
    if (clear.step() != SQLITE_DONE) return sqliteError(meta_, "clear routes");
    for (const RouteRecord& route : routes) {
      Statement add(meta_, "INSERT INTO routes (path, function_id, entry) VALUES (?1, ?2, ?3)");
      add.bind(1, route.path).bind(2, id).bind(3, route.entry);
      if (add.step() != SQLITE_DONE) return sqliteError(meta_, "add route");
    }
    return Status::ok();
  }

  Result<VersionRecord> createVersionLocked(const NewVersion& v) {
    int64_t now = nowMicros();
    auto id = functionId(v.tenant, v.function);
    if (!id) {
      Statement insert(meta_, R"sql(INSERT INTO functions (tenant, name, created_at_us,
                                    updated_at_us) VALUES (?1, ?2, ?3, ?3))sql");
      insert.bind(1, v.tenant).bind(2, v.function).bind(3, now);
      if (insert.step() != SQLITE_DONE) return sqliteError(meta_, "create function");
      id = sqlite3_last_insert_rowid(meta_);
    }
    Statement next(meta_,
                   "SELECT COALESCE(MAX(version), 0) + 1 FROM versions WHERE function_id = ?1");
    next.bind(1, *id);
    if (next.step() != SQLITE_ROW) return sqliteError(meta_, "next version");
    int64_t version = next.integer(0);

    Statement insert(meta_, R"sql(INSERT INTO versions (function_id, version, bundle_sha256,
                                  bundle_bytes, config_json, created_at_us)
                                  VALUES (?1, ?2, ?3, ?4, ?5, ?6))sql");
    insert.bind(1, *id).bind(2, version).bind(3, v.bundle_sha256).bind(4, v.bundle_bytes);
    insert.bind(5, v.config_json).bind(6, now);
    if (insert.step() != SQLITE_DONE) return sqliteError(meta_, "create version");

    Statement alias(meta_, R"sql(INSERT INTO aliases (function_id, name, version) VALUES (?1,
                                 'live', ?2) ON CONFLICT (function_id, name) DO UPDATE SET
                                 version = ?2)sql");
    alias.bind(1, *id).bind(2, version);
    if (alias.step() != SQLITE_DONE) return sqliteError(meta_, "move alias");

    GUST_RETURN_IF_ERROR(replaceRoutesLocked(*id, v.tenant, v.routes));
    Statement touch(meta_, "UPDATE functions SET updated_at_us = ?2 WHERE id = ?1");
    touch.bind(1, *id).bind(2, now);
    if (touch.step() != SQLITE_DONE) return sqliteError(meta_, "touch function");
    return VersionRecord{v.tenant,      v.function,     version, v.bundle_sha256,
                         v.config_json, v.bundle_bytes, now};
  }

  // Each tenant that holds records, with the limits it is kept under (its own, else defaults).
  struct Limits {
    int64_t days = 0;
    int64_t mb = 0;
  };
  Result<std::vector<std::pair<std::string, Limits>>> retentionByTenant(
      const RetentionDefaults& defaults) {
    std::lock_guard lock(meta_mutex_);
    Statement q(meta_, R"sql(
      SELECT a.tenant, t.retain_days, t.retain_mb
      FROM (SELECT DISTINCT tenant FROM activations) a LEFT JOIN tenants t ON t.name = a.tenant)sql");
    if (!q.ok()) return internalError("sqlite: " + q.error());
    std::vector<std::pair<std::string, Limits>> out;
    int rc;
    while ((rc = q.step()) == SQLITE_ROW) {
      out.push_back({q.text(0),
                     {q.optionalInteger(1).value_or(defaults.days),
                      q.optionalInteger(2).value_or(defaults.mb)}});
    }
    if (rc != SQLITE_DONE) return sqliteError(meta_, "list tenants' retention");
    return out;
  }

  // The seq of the tenant's newest record that does not fit in `max_bytes` once every newer one
  // is kept (0: all fit). Summed over the activations_by_tenant index alone.
  Result<int64_t> newestRecordOverBudget(const std::string& tenant, int64_t max_bytes) {
    std::lock_guard lock(meta_mutex_);
    Statement q(meta_, R"sql(
      SELECT seq FROM (SELECT seq, SUM(record_bytes) OVER (ORDER BY seq DESC) AS kept
                       FROM activations WHERE tenant = ?1)
      WHERE kept > ?2 LIMIT 1)sql");
    if (!q.ok()) return internalError("sqlite: " + q.error());
    q.bind(1, tenant).bind(2, max_bytes);
    int rc = q.step();
    if (rc == SQLITE_ROW) return q.integer(0);
    if (rc != SQLITE_DONE) return sqliteError(meta_, "measure a tenant's records");
    return int64_t{0};
  }

  // Runs `sql` (a DELETE of at most ?1 rows; ?2 and ?3 its parameters) until it deletes fewer
  // than a batch, one transaction per batch, letting metadata calls and the writer in between.
  Result<int64_t> deleteInBatches(const char* sql, const std::string& text, int64_t number,
                                  int batch_rows) {
    int64_t deleted = 0;
    for (;;) {
      std::lock_guard lock(meta_mutex_);
      Statement q(meta_, sql);
      if (!q.ok()) return internalError("sqlite: " + q.error());
      q.bind(1, int64_t{batch_rows}).bind(2, text).bind(3, number);
      if (q.step() != SQLITE_DONE) return sqliteError(meta_, "prune");
      int64_t changed = sqlite3_changes(meta_);
      deleted += changed;
      if (changed < batch_rows) return deleted;
    }
  }

  static constexpr int64_t kDayUs = 86400LL * 1000000;
  static constexpr int kVacuumPagesPerStep = 2048;  // 8 MB of 4 KiB pages per transaction

  static constexpr auto kCommitInterval = std::chrono::milliseconds(10);
  // The journaled records the writer may be behind by (their lines' bytes), about 6,000 records
  // with 4 KiB of logs each; past it, callers wait for the commit (recordActivation).
  static constexpr std::size_t kMaxUnappliedBytes = 32 << 20;
  static constexpr int kCheckpointFrames = 4000;  // ~16 MB of WAL: fewer fsyncs than SQLite's 1000
  static constexpr int kForceCheckpointFrames = 4 * kCheckpointFrames;
  static constexpr int kPassiveBeforeForce = 3;
  static constexpr int kForceCheckpointWaitMs = 1000;

  // After every commit, on the committing thread: wakes the checkpointer once the WAL is long.
  static int onWalCommit(void* self, sqlite3*, const char*, int frames) {
    if (frames >= kCheckpointFrames) {
      auto* store = static_cast<SqliteStore*>(self);
      {
        std::lock_guard lock(store->checkpoint_mutex_);
        store->checkpoint_wanted_ = true;
      }
      store->checkpoint_cv_.notify_one();
    }
    return SQLITE_OK;
  }

  // PASSIVE: copies what it can without waiting for or blocking the writers. Once everything is
  // copied, the next write starts the WAL over from its beginning, so it stays bounded. Readers
  // that overlap without pause can starve PASSIVE forever (the WAL then only grows): a WAL still
  // long after a few of them, or past kForceCheckpointFrames, gets a TRUNCATE, which waits for
  // readers (and holds new writers) at most kForceCheckpointWait, then gives up until next time.
  void checkpointWal() {
    int unfinished = 0;  // PASSIVE checkpoints in a row that left frames behind
    for (;;) {
      bool truncate = false;
      {
        std::unique_lock lock(checkpoint_mutex_);
        checkpoint_cv_.wait(lock, [&] { return checkpoint_stopping_ || checkpoint_wanted_; });
        if (checkpoint_stopping_) return;
        checkpoint_wanted_ = false;
        std::swap(truncate, truncate_wanted_);
      }
      int log_frames = 0, copied_frames = 0;
      if (!truncate) {
        if (sqlite3_wal_checkpoint_v2(checkpoint_db_, nullptr, SQLITE_CHECKPOINT_PASSIVE,
                                      &log_frames, &copied_frames) != SQLITE_OK) {
          std::fprintf(stderr, "store: WAL checkpoint failed: %s\n",
                       sqlite3_errmsg(checkpoint_db_));
        }
        unfinished = copied_frames < log_frames ? unfinished + 1 : 0;
        truncate = unfinished >= kPassiveBeforeForce || log_frames >= kForceCheckpointFrames;
      }
      if (!truncate) continue;
      int rc = sqlite3_wal_checkpoint_v2(checkpoint_db_, nullptr, SQLITE_CHECKPOINT_TRUNCATE,
                                         &log_frames, &copied_frames);
      if (rc == SQLITE_OK) {
        unfinished = 0;
      } else if (rc != SQLITE_BUSY) {
        std::fprintf(stderr, "store: WAL checkpoint (truncate) failed: %s\n",
                     sqlite3_errmsg(checkpoint_db_));
      }
    }
  }

  // Applies what a crash left in the journal, then empties it. Runs before the writer starts.
  void replayJournal() {
    const std::string content = journal_.content();
    if (content.empty()) return;
    std::deque<Pending> batch;
    std::size_t unreadable = 0;
    for (std::size_t start = 0; start < content.size();) {
      std::size_t end = content.find('\n', start);
      if (end == std::string::npos) end = content.size();  // a crash cut the last line short
      if (auto record = parseJournalLine(std::string_view(content).substr(start, end - start))) {
        batch.push_back({std::move(*record), nullptr, nullptr});
      } else {
        ++unreadable;
      }
      start = end + 1;
    }
    auto statements = prepareWriter();
    if (!writeBatch(*statements, batch, {})) {
      // Kept whole for the next start; this run answers after each commit, without a journal.
      std::fprintf(stderr,
                   "store: cannot apply the activation journal: %s (kept for the next start)\n",
                   sqlite3_errmsg(writer_db_));
      journal_.close();
      return;
    }
    if (unreadable > 0) {
      std::fprintf(stderr, "store: %zu unreadable line(s) in the activation journal were skipped\n",
                   unreadable);
    }
    (void)journal_.clear();
  }

  void writeActivations() {
    auto statements = prepareWriter();
    std::deque<Pending> batch;
    std::deque<AccessRecord> access_batch;
    for (;;) {
      uint64_t batch_end = 0;
      const auto batch_started = std::chrono::steady_clock::now();
      {
        std::unique_lock lock(queue_mutex_);
        queue_cv_.wait(lock,
                       [&] { return stopping_ || !queue_.empty() || !access_queue_.empty(); });
        if (queue_.empty() && access_queue_.empty() && stopping_) {
          if (committed_ == enqueued_) (void)journal_.clear();  // a clean stop: nothing to replay
          return;
        }
        batch.swap(queue_);
        access_batch.swap(access_queue_);
        batch_end = enqueued_;
        callers_waiting_ = 0;
      }
      // A failed batch is retried rather than dropped: records are what users are billed by.
      // Before each attempt a waiting caller's ticket says which record it stands for now.
      while (!writeBatch(*statements, settle(batch), access_batch)) {
        for (Pending& pending : batch) {
          if (pending.ticket) pending.ticket->release();
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      std::size_t applied_bytes = 0;
      for (Pending& pending : batch) {
        if (pending.on_committed) pending.on_committed();  // the ones the journal could not take
        applied_bytes += pending.journaled_bytes;
      }
      batch.clear();
      access_batch.clear();
      {
        std::lock_guard lock(queue_mutex_);
        committed_ = batch_end;
        unapplied_bytes_ -= applied_bytes;
        journal_.applied(committed_);
      }
      flushed_cv_.notify_all();
      // When nobody waits for the commit (the journal answered them), gather a few milliseconds of
      // records into each. Fewer, larger commits write far fewer WAL pages per record (the same
      // leaf and index pages once per commit, not once per record), so checkpoints, and their
      // fsyncs, come far less often: on this VM an fsync stalls the whole vCPU it runs on, other
      // threads' requests included (the warm path's p99).
      std::unique_lock lock(queue_mutex_);
      queue_cv_.wait_until(lock, batch_started + kCommitInterval,
                           [&] { return stopping_ || flush_waiters_ > 0 || callers_waiting_ > 0; });
    }
  }

  // The batch with each record whose caller stopped waiting replaced by the record of what that
  // caller was answered instead (for good: a withheld ticket stays withheld).
  static std::deque<Pending>& settle(std::deque<Pending>& batch) {
    for (Pending& pending : batch) {
      if (!pending.ticket) continue;
      if (const WithheldAnswer* answer = pending.ticket->take())
        applyAnswer(pending.record, *answer);
    }
    return batch;
  }

  // The writer's statements, prepared once on its connection.
  struct WriterStatements {
    explicit WriterStatements(sqlite3* db);
    Statement insert, rollup, access;
  };
  std::unique_ptr<WriterStatements> prepareWriter() {
    return std::make_unique<WriterStatements>(writer_db_);
  }

  bool writeBatch(WriterStatements& statements, const std::deque<Pending>& batch,
                  const std::deque<AccessRecord>& access_batch) {
    Statement& insert = statements.insert;
    Statement& rollup = statements.rollup;
    Statement& access = statements.access;
    if (!execute(writer_db_, "BEGIN IMMEDIATE").isOk()) return false;
    for (const AccessRecord& a : access_batch) {
      access.reset();
      access.bind(1, a.at_us)
          .bind(2, a.tenant)
          .bind(3, a.function)
          .bind(4, a.method)
          .bind(5, a.host);
      access.bind(6, a.path).bind(7, a.route).bind(8, a.key_id).bind(9, int64_t{a.status});
      access.bind(10, a.latency_us)
          .bind(11, a.bytes_in)
          .bind(12, a.bytes_out)
          .bind(13, a.activation_id);
      access.bind(14, a.client_ip).bind(15, a.user_agent).bind(16, int64_t{a.limited});
      if (access.step() != SQLITE_DONE) {
        std::fprintf(stderr, "store: cannot write the access log: %s\n",
                     sqlite3_errmsg(writer_db_));
        (void)execute(writer_db_, "ROLLBACK");
        return false;
      }
    }
    for (const Pending& pending : batch) {
      const ActivationRecord& r = pending.record;
      insert.reset();
      insert.bind(1, r.id).bind(2, r.tenant).bind(3, r.function).bind(4, r.version);
      insert.bind(5, r.entry).bind(6, r.trigger).bind(7, r.status).bind(8, int64_t{r.http_status});
      insert.bind(9, int64_t{r.cold}).bind(10, r.init_ms).bind(11, r.received_at_us);
      insert.bind(12, r.started_at_us).bind(13, r.finished_at_us).bind(14, r.duration_ms);
      insert.bind(15, r.memory_mb).bind(16, r.bytes_in).bind(17, r.bytes_out);
      insert.bind(18, r.error).bind(19, r.dispatched_at_us).bind(20, r.responded_at_us);
      insert.bind(21, r.billed_ms).bind(22, r.cpu_user_us).bind(23, r.cpu_sys_us);
      insert.bind(24, r.peak_memory_bytes).bind(25, r.key_id).bind(26, r.trace_id);
      insert.bind(27, r.logs).bind(28, recordBytes(r));
      bool ok = insert.step() == SQLITE_DONE;
      if (ok && sqlite3_changes(writer_db_) == 1) {
        rollup.reset();
        rollup.bind(1, r.tenant).bind(2, r.function).bind(3, r.version).bind(4, r.key_id);
        rollup.bind(5, r.received_at_us - r.received_at_us % kHourUs);
        rollup.bind(6, int64_t{r.status != "success"}).bind(7, r.billed_ms);
        rollup.bind(8, r.memory_mb * r.billed_ms).bind(9, r.cpu_user_us).bind(10, r.cpu_sys_us);
        rollup.bind(11, r.bytes_in).bind(12, r.bytes_out);
        ok = rollup.step() == SQLITE_DONE;
      }
      if (!ok) {
        std::fprintf(stderr, "store: cannot write activation %s: %s\n", r.id.c_str(),
                     sqlite3_errmsg(writer_db_));
        (void)execute(writer_db_, "ROLLBACK");
        return false;
      }
    }
    return execute(writer_db_, "COMMIT").isOk();
  }

  std::mutex meta_mutex_;
  sqlite3* meta_;  // GUARDED_BY(meta_mutex_)

  sqlite3* writer_db_;           // used by writer_ only
  ActivationJournal journal_;  // GUARDED_BY(queue_mutex_), and replayed before writer_ starts
  std::mutex queue_mutex_;
  std::condition_variable queue_cv_;
  std::condition_variable flushed_cv_;
  std::deque<Pending> queue_;              // GUARDED_BY(queue_mutex_)
  std::deque<AccessRecord> access_queue_;  // GUARDED_BY(queue_mutex_)
  uint64_t enqueued_ = 0;                  // GUARDED_BY(queue_mutex_)
  uint64_t committed_ = 0;                 // GUARDED_BY(queue_mutex_)
  int flush_waiters_ = 0;                  // GUARDED_BY(queue_mutex_): reads waiting for a commit
  int callers_waiting_ = 0;  // GUARDED_BY(queue_mutex_): queued records whose callers wait for it
  std::size_t unapplied_bytes_ = 0;  // GUARDED_BY(queue_mutex_): journaled lines not yet applied
  bool stopping_ = false;                  // GUARDED_BY(queue_mutex_)
  std::thread writer_;

  sqlite3* checkpoint_db_;  // used by checkpointer_ only
  std::mutex checkpoint_mutex_;
  std::condition_variable checkpoint_cv_;
  bool checkpoint_wanted_ = false;    // GUARDED_BY(checkpoint_mutex_)
  bool checkpoint_stopping_ = false;  // GUARDED_BY(checkpoint_mutex_)
  bool truncate_wanted_ = false;      // GUARDED_BY(checkpoint_mutex_): compact() asked for one
  std::thread checkpointer_;
};

// OR IGNORE: a record written twice (a replayed journal line, a retried batch) must not wedge
// the writer or be counted twice in the roll-up, which is updated only when the insert inserted.
std::string activationInsertSql() {
  std::string placeholders;
  for (int i = 1; i <= kActivationColumnCount; ++i)
    placeholders += fmt::format("{}?{}", i > 1 ? ", " : "", i);
  return fmt::format("INSERT OR IGNORE INTO activations ({}, record_bytes) VALUES ({}, ?{})",
                     kActivationColumns, placeholders, kActivationColumnCount + 1);
}

SqliteStore::WriterStatements::WriterStatements(sqlite3* db)
    : insert(db, activationInsertSql().c_str()),
      rollup(db, R"sql(
      INSERT INTO usage_hourly (tenant, function, version, key_id, hour_us, invocations, errors,
                                billed_ms, mb_ms, cpu_user_us, cpu_sys_us, bytes_in, bytes_out)
      VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
      ON CONFLICT (tenant, function, version, key_id, hour_us) DO UPDATE SET
        invocations = invocations + 1, errors = errors + ?6, billed_ms = billed_ms + ?7,
        mb_ms = mb_ms + ?8, cpu_user_us = cpu_user_us + ?9, cpu_sys_us = cpu_sys_us + ?10,
        bytes_in = bytes_in + ?11, bytes_out = bytes_out + ?12)sql"),
      access(db, R"sql(INSERT INTO access_log (at_us, tenant, function, method, host,
        path, route, key_id, status, latency_us, bytes_in, bytes_out, activation_id, client_ip,
        user_agent, limited) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,
        ?15, ?16))sql") {}

}  // namespace

Result<std::unique_ptr<Store>> openSqliteStore(const SqliteOptions& options) {
  auto meta = openConnection(options.path);
  if (!meta.isOk()) return meta.status();
  Status migrated = migrate(*meta);
  if (!migrated.isOk()) {
    sqlite3_close(*meta);
    return migrated;
  }
  auto writer = openConnection(options.path);
  if (!writer.isOk()) {
    sqlite3_close(*meta);
    return writer.status();
  }
  auto checkpointer = openConnection(options.path);
  if (!checkpointer.isOk()) {
    sqlite3_close(*writer);
    sqlite3_close(*meta);
    return checkpointer.status();
  }
  auto journal = ActivationJournal::open(options.path + "-activations");
  if (!journal) {
    sqlite3_close(*checkpointer);
    sqlite3_close(*writer);
    sqlite3_close(*meta);
    return journal.status();
  }
  return std::unique_ptr<Store>(
      std::make_unique<SqliteStore>(*meta, *writer, *checkpointer, std::move(*journal)));
}

}  // namespace gust::store
