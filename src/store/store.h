#pragma once
// Store: everything Gust remembers — tenants and their tokens, functions, their immutable
// versions and aliases, routes, sealed secrets, the audit log, and activation records with their
// logs. Every resource but the audit log belongs to exactly one tenant. One interface, backends in
// subfolders (sqlite/ now, postgres/ for clusters); no SQL leaks out of them.
//
// Thread contract: every method may be called from any thread. Metadata calls block (run them
// on a worker pool, never on an I/O loop); recordActivation() only enqueues and returns at once.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace gust::store {

class RecordTicket;

inline constexpr std::string_view kDefaultTenant = "default";
inline constexpr std::string_view kLiveAlias = "live";

struct FunctionRecord {
  std::string tenant;
  std::string name;
  int64_t live_version = 0;  // the version alias "live" points at
  int64_t versions = 0;      // how many versions exist
  int64_t created_at_us = 0;
  int64_t updated_at_us = 0;
};

struct VersionRecord {
  std::string tenant;
  std::string function;
  int64_t version = 0;
  std::string bundle_sha256;
  std::string config_json;  // the parsed manifest (bundle::FunctionConfig as JSON)
  int64_t bundle_bytes = 0;
  int64_t created_at_us = 0;
};

// A route sends requests whose path equals `path` (or lies under it, for prefixes ending in
// '/') to one entry of a function's live version.
struct RouteRecord {
  std::string path;
  std::string tenant;
  std::string function;
  std::string entry;
};

// Every route there is, read in the transaction that writes a new one (below).
struct RouteSpace;
// Checks a route change against the RouteSpace inside the transaction that makes it, so no
// other change slips in between; a non-OK status refuses the change. (The rules are the
// gateway's: gateway/route_ownership.h.)
using RouteGuard = std::function<Status(const RouteSpace&)>;

struct NewVersion {
  std::string tenant;
  std::string function;
  std::string bundle_sha256;
  std::string config_json;
  int64_t bundle_bytes = 0;
  std::vector<RouteRecord> routes;  // replaces the function's routes; 409 if another holds one
  RouteGuard guard;                 // if set, checks `routes` before they are written
};

struct ActivationRecord {
  std::string id;
  std::string tenant;
  std::string function;
  int64_t version = 0;
  std::string entry;
  std::string trigger;  // "http", "invoke"
  std::string status;   // "success", "error", "timeout", "crashed", "throttled", ...
  int http_status = 0;
  bool cold = false;
  int64_t init_ms = 0;
  int64_t received_at_us = 0;    // the request arrived
  int64_t dispatched_at_us = 0;  // handed to an instance (after any queueing)
  int64_t started_at_us = 0;     // the instance began (= dispatched: the frame is the start)
  int64_t finished_at_us = 0;    // the instance replied, failed or timed out
  int64_t responded_at_us = 0;   // the response was ready to send
  double duration_ms = 0;        // dispatched -> finished
  int64_t billed_ms = 0;         // ceil(duration) to 1 ms
  int64_t memory_mb = 0;
  int64_t cpu_user_us = 0;  // the instance's CPU during this activation alone
  int64_t cpu_sys_us = 0;
  int64_t peak_memory_bytes = 0;  // the instance's peak RSS during this activation alone
  int64_t bytes_in = 0;
  int64_t bytes_out = 0;
  std::string key_id;    // the API key that called, if any
  std::string trace_id;  // W3C trace id (32 hex)
  std::string error;     // what went wrong, for statuses other than success
  std::string logs;      // stdout/stderr lines, each prefixed with its stream
};

// Usage summed over activations: what the meter bills.
struct UsageRow {
  std::string group;  // the tenant, function, "function@version", key or hour it sums
  int64_t invocations = 0;
  int64_t errors = 0;
  int64_t billed_ms = 0;
  int64_t mb_ms = 0;  // memory_mb x billed_ms, summed: GB-s = mb_ms / 1024 / 1000
  int64_t cpu_user_us = 0;
  int64_t cpu_sys_us = 0;
  int64_t bytes_in = 0;
  int64_t bytes_out = 0;
};

enum class UsageGrouping { Tenant, Function, Version, Key, Hour };

struct UsageQuery {
  std::optional<std::string> tenant;  // nullopt: every tenant
  UsageGrouping by = UsageGrouping::Function;
  int64_t since_us = 0;  // hours starting at or after (rounded down to the hour)
  int64_t until_us = 0;  // hours starting before; 0 = no bound
};

struct ActivationQuery {
  std::string tenant{kDefaultTenant};
  std::optional<std::string> function;
  int64_t since_us = 0;  // received at or after
  std::string after_id;  // cursor: activations recorded after this one
  int limit = 50;
  bool with_logs = false;
  bool oldest_first = false;
};

// How long, and within how much space, a tenant's activation records (with their logs) are
// kept. Unset: the server's default (its --retain-days, --retain-mb).
struct Retention {
  std::optional<int64_t> days;  // records received longer ago are deleted
  std::optional<int64_t> mb;    // the tenant's records fit in this; its oldest go first
};

// The server's retention defaults, and how much one transaction of pruning may delete (so that
// pruning never holds the writer for long).
struct RetentionDefaults {
  int64_t days = 30;
  int64_t mb = 1024;
  int batch_rows = 1000;
};

struct TenantRecord {
  std::string name;
  int64_t created_at_us = 0;
  Retention retention;
};

// A tenant's bearer token. Only a hash of the token is stored; the token itself is shown once.
struct TokenRecord {
  std::string id;
  std::string tenant;
  std::string name;
  std::string hash;  // hex of a hash of the whole token string
  int64_t created_at_us = 0;
  int64_t revoked_at_us = 0;  // 0: live
};

// A secret as stored: `sealed` is ciphertext (secrets/secret_box.h); the store never sees values.
struct SecretRecord {
  std::string tenant;
  std::string name;
  std::string sealed;
  int64_t created_at_us = 0;
  int64_t updated_at_us = 0;
};

// One control-plane change: who, what, when, from where, and how it ended.
struct AuditRecord {
  int64_t seq = 0;
  int64_t at_us = 0;
  std::string actor;   // "admin" or "token:<id>"
  std::string tenant;  // the tenant acted on
  std::string source_ip;
  std::string action;   // "function.deploy", "secret.set", "token.revoke", ...
  std::string target;   // the resource's name
  std::string outcome;  // "ok" or the error's code name
  std::string detail;   // e.g. "version 3"; never a secret value
};

// An API gateway route: method + path template (+ optional Host) onto a function of the same
// tenant, with its policy. (RouteRecord above is a project's file route, made by deploys.)
struct GatewayRouteRecord {
  std::string id;  // "rt_<hex>"
  std::string tenant;
  std::string method;  // GET ... or ANY
  std::string path;    // the template, "/users/{id}"
  std::string shape;   // the template without parameter names: the uniqueness key
  std::string host;    // "" = any host
  std::string function;
  std::string auth = "public";  // public | key | keys:<id>,<id>
  std::string rate;             // "100/s" or ""
  int64_t burst = 0;
  std::string cors_json;       // "" = no CORS
  int64_t max_body_bytes = 0;  // 0 = the server's default
  int64_t created_at_us = 0;
};

// A host name the admin claimed for a tenant (`gust host add`): routes bound to it must be that
// tenant's, and only that tenant's routes serve requests for it.
struct HostRecord {
  std::string host;  // normalized: lowercase, no port
  std::string tenant;
  int64_t created_at_us = 0;
};

struct RouteSpace {
  std::vector<HostRecord> hosts;
  std::vector<GatewayRouteRecord> gateway_routes;
  std::vector<RouteRecord> project_routes;
};

// An API key of the gateway ("client id and secret"). Only a hash of the secret is kept.
struct ClientKeyRecord {
  std::string client_id;
  std::string tenant;
  std::string name;
  std::string hash;
  std::vector<std::string> scopes;  // function names or route keys ("GET /x"); empty = all
  std::string rate;                 // "100/s" or ""
  int64_t burst = 0;
  std::string quota;          // "10000/day" or ""
  int64_t expires_at_us = 0;  // 0 = never
  int64_t created_at_us = 0;
  int64_t revoked_at_us = 0;  // 0 = live
};

// `tenant` lets the keys of `with_tenant` call its function `function`.
struct ShareRecord {
  std::string tenant;
  std::string function;
  std::string with_tenant;
  int64_t created_at_us = 0;
};

// One line of the gateway's access log: every request, whatever became of it.
struct AccessRecord {
  int64_t seq = 0;
  int64_t at_us = 0;
  std::string tenant;  // "" when no route or function was found
  std::string function;
  std::string method;
  std::string host;
  std::string path;
  std::string route;  // the matched route key, "GET /users/{id}", or "/fn/<name>"
  std::string key_id;
  int status = 0;
  int64_t latency_us = 0;
  int64_t bytes_in = 0;
  int64_t bytes_out = 0;
  std::string activation_id;
  std::string client_ip;
  std::string user_agent;
  bool limited = false;  // turned away by a rate limit or quota
};

struct AccessQuery {
  std::optional<std::string> tenant;  // nullopt: every tenant
  std::string route;
  std::string key_id;
  std::string function;
  int status_class = 0;  // 2 for 2xx ... 5 for 5xx; 0 = any
  int status = 0;        // an exact status; 0 = any
  int64_t since_us = 0;
  int64_t after_seq = 0;  // newer than this (for -f)
  int limit = 100;
};

enum class TrafficGrouping { Key, Route, Function };

// Gateway traffic summed over the access log.
struct TrafficRow {
  std::string group;
  int64_t requests = 0;
  int64_t status_2xx = 0;
  int64_t status_4xx = 0;
  int64_t status_5xx = 0;
  int64_t limited = 0;
  double latency_p50_ms = 0;
  double latency_p95_ms = 0;
  double latency_p99_ms = 0;
  int64_t bytes_in = 0;
  int64_t bytes_out = 0;
};

struct AuditQuery {
  std::optional<std::string> tenant;  // nullopt: every tenant
  int64_t since_us = 0;
  int limit = 100;
};

// An asynchronous invocation: accepted (202) once this record is committed, then run, retried
// and finally marked succeeded or dead (its function's dead-letter list).
struct AsyncInvocationRecord {
  std::string id;  // answered with the 202; the first attempt's activation id
  std::string tenant;
  std::string function;
  std::string qualifier;  // "" = live
  std::string entry;      // for projects
  std::string payload;    // the event, JSON; emptied once the invocation succeeded
  std::string trigger;    // "async", "cron"
  std::string source;     // what sent it: the trigger id for cron, "" otherwise
  std::string trace_id;
  int64_t max_retries = 2;
  int64_t max_event_age_s = 21600;
  int64_t received_at_us = 0;
  int64_t next_attempt_at_us = 0;  // not run before this
  int64_t attempts = 0;            // finished attempts (throttled ones do not count)
  int64_t starts = 0;              // attempts started, counting those a crash cut short
  std::string state;               // "queued", "running", "succeeded", "dead"
  std::string last_error;
  std::string dead_reason;     // "retries_exhausted", "max_event_age"
  int64_t finished_at_us = 0;  // succeeded or dead at
};

// One finished attempt of an asynchronous invocation; its activation record has the details.
struct AsyncAttemptRecord {
  std::string invocation_id;
  int64_t attempt = 0;  // 1, 2, ...
  std::string activation_id;
  std::string status;  // the activation's status: "success", "error", "timeout", ...
  std::string error;
  int64_t started_at_us = 0;
  int64_t finished_at_us = 0;
};

struct AsyncQuery {
  std::string tenant{kDefaultTenant};
  std::optional<std::string> function;
  std::optional<std::string> state;
  int limit = 100;
};

// A trigger: durable configuration that makes events for a function (cron now; kafka later).
struct TriggerRecord {
  std::string id;
  std::string tenant;
  std::string kind;  // "cron"
  std::string function;
  std::string config_json;  // the kind's settings (events/ owns their shape)
  bool paused = false;
  int64_t created_at_us = 0;
  int64_t last_slot_us = 0;  // cron: the last slot fired (or skipped); 0 = none yet
};

class Store {
 public:
  virtual ~Store() = default;

  // Creates the function if needed, adds the next version, points "live" at it and replaces the
  // function's routes, all in one transaction.
  virtual Result<VersionRecord> createVersion(const NewVersion& version) = 0;
  virtual Result<std::vector<FunctionRecord>> listFunctions(const std::string& tenant) = 0;
  virtual Result<FunctionRecord> getFunction(const std::string& tenant,
                                             const std::string& name) = 0;
  virtual Result<std::vector<VersionRecord>> listVersions(const std::string& tenant,
                                                          const std::string& function) = 0;
  virtual Result<VersionRecord> getVersion(const std::string& tenant, const std::string& function,
                                           int64_t version) = 0;
  virtual Result<VersionRecord> resolveAlias(const std::string& tenant, const std::string& function,
                                             const std::string& alias) = 0;
  // Points the alias at a version; with `routes`, replaces the function's routes in the same
  // transaction (a rollback of "live" restores that version's routes; 409 if one is taken).
  virtual Status setAlias(const std::string& tenant, const std::string& function,
                          const std::string& alias, int64_t version,
                          const std::optional<std::vector<RouteRecord>>& routes = std::nullopt,
                          const RouteGuard& guard = nullptr) = 0;
  // Removes the function, its versions, aliases and routes (activations stay for the record).
  virtual Status deleteFunction(const std::string& tenant, const std::string& function) = 0;
  // The bundle digests that some version still refers to; other blobs can be deleted.
  virtual Result<std::vector<std::string>> referencedBundles() = 0;

  virtual Result<std::vector<RouteRecord>> listRoutes() = 0;

  // Tenants. "default" always exists and cannot be deleted. Deleting a tenant that still has
  // functions is a Conflict; its tokens and secrets go with it.
  virtual Status createTenant(const std::string& name) = 0;
  virtual Result<std::vector<TenantRecord>> listTenants() = 0;
  virtual Result<TenantRecord> getTenant(const std::string& name) = 0;
  virtual Status deleteTenant(const std::string& name) = 0;
  // Replaces the tenant's own retention (unset fields: the server's defaults again).
  virtual Status setTenantRetention(const std::string& name, const Retention& retention) = 0;

  virtual Status createToken(const TokenRecord& token) = 0;
  virtual Result<TokenRecord> getToken(const std::string& id) = 0;
  // nullopt: every tenant's tokens.
  virtual Result<std::vector<TokenRecord>> listTokens(const std::optional<std::string>& tenant) = 0;
  virtual Status revokeToken(const std::string& id) = 0;

  // Creates or replaces the secret (keeping its created time).
  virtual Status putSecret(const SecretRecord& secret) = 0;
  virtual Result<SecretRecord> getSecret(const std::string& tenant, const std::string& name) = 0;
  virtual Result<std::vector<SecretRecord>> listSecrets(const std::string& tenant) = 0;
  virtual Status deleteSecret(const std::string& tenant, const std::string& name) = 0;

  // Gateway routes. putGatewayRoute creates or replaces (same tenant, host, method and shape);
  // a route another tenant holds is a Conflict; `guard`, if set, checks it first.
  virtual Result<GatewayRouteRecord> putGatewayRoute(const GatewayRouteRecord& route,
                                                     const RouteGuard& guard = nullptr) = 0;
  virtual Result<std::vector<GatewayRouteRecord>> listGatewayRoutes(
      const std::optional<std::string>& tenant) = 0;
  virtual Status deleteGatewayRoute(const std::string& tenant, const std::string& id) = 0;

  // Hosts. Claiming a host another tenant holds is a Conflict (the same tenant's: a no-op);
  // releasing one that routes are still bound to is a Conflict.
  virtual Status claimHost(const HostRecord& host) = 0;
  // nullopt: every tenant's.
  virtual Result<std::vector<HostRecord>> listHosts(const std::optional<std::string>& tenant) = 0;
  virtual Status releaseHost(const std::string& host) = 0;

  virtual Status createClientKey(const ClientKeyRecord& key) = 0;
  virtual Result<std::vector<ClientKeyRecord>> listClientKeys(
      const std::optional<std::string>& tenant) = 0;
  virtual Status revokeClientKey(const std::string& tenant, const std::string& client_id) = 0;

  virtual Status putShare(const ShareRecord& share) = 0;
  virtual Result<std::vector<ShareRecord>> listShares(const std::optional<std::string>& tenant) = 0;
  virtual Status deleteShare(const std::string& tenant, const std::string& function,
                             const std::string& with_tenant) = 0;

  // Quota counters: requests a key made in the period starting at `period_start_us`.
  virtual Status addQuotaUse(const std::string& client_id, int64_t period_start_us,
                             int64_t count) = 0;
  virtual Result<int64_t> quotaUse(const std::string& client_id, int64_t period_start_us) = 0;

  // Enqueued for the writer thread like activations (committed in the same batches; flushed by
  // flushActivations() too).
  virtual void recordAccess(AccessRecord record) = 0;
  // Newest first (oldest first with after_seq, for following).
  virtual Result<std::vector<AccessRecord>> listAccess(const AccessQuery& query) = 0;
  virtual Result<std::vector<TrafficRow>> traffic(const std::optional<std::string>& tenant,
                                                  TrafficGrouping by, int64_t since_us) = 0;
  // Deletes access-log lines from before `older_than_us`, in batches of `batch_rows`.
  virtual Result<int64_t> pruneAccess(int64_t older_than_us, int batch_rows = 1000) = 0;
  // Deletes the oldest access-log records until at most `keep_rows` are left, in batches.
  virtual Result<int64_t> capAccess(int64_t keep_rows, int batch_rows = 1000) = 0;

  virtual Status appendAudit(const AuditRecord& record) = 0;
  // Newest first.
  virtual Result<std::vector<AuditRecord>> listAudit(const AuditQuery& query) = 0;

  // Asynchronous invocations (src/events). enqueueAsync() returns once the record is committed.
  virtual Status enqueueAsync(const AsyncInvocationRecord& record) = 0;
  // Marks up to `limit` queued invocations due at `now_us` running (counting a start) and
  // returns them, oldest due first.
  virtual Result<std::vector<AsyncInvocationRecord>> claimDueAsync(int64_t now_us, int limit) = 0;
  // Commits an attempt's end: the attempt (if any: a throttled try records none) and the
  // invocation's new state, in one transaction.
  virtual Status finishAsyncAttempt(const std::optional<AsyncAttemptRecord>& attempt,
                                    const AsyncInvocationRecord& updated) = 0;
  // At start: invocations a previous process was running go back to the queue.
  virtual Result<int64_t> requeueRunningAsync() = 0;
  virtual Result<AsyncInvocationRecord> getAsync(const std::string& tenant,
                                                 const std::string& id) = 0;
  virtual Result<std::vector<AsyncAttemptRecord>> listAsyncAttempts(const std::string& id) = 0;
  // Newest first.
  virtual Result<std::vector<AsyncInvocationRecord>> listAsync(const AsyncQuery& query) = 0;
  // Dead letters of a function (all of them when `ids` is empty): replay puts them back in the
  // queue as new (attempts 0, received now); purge deletes them. Both return the ids touched.
  virtual Result<std::vector<std::string>> replayDeadLetters(const std::string& tenant,
                                                             const std::string& function,
                                                             const std::vector<std::string>& ids,
                                                             int64_t now_us) = 0;
  virtual Result<std::vector<std::string>> purgeDeadLetters(
      const std::string& tenant, const std::string& function,
      const std::vector<std::string>& ids) = 0;

  // Triggers. A trigger's function need not exist (yet); its events fail until it does.
  virtual Status createTrigger(const TriggerRecord& trigger) = 0;
  // nullopt: every tenant's (the server's cron loop).
  virtual Result<std::vector<TriggerRecord>> listTriggers(
      const std::optional<std::string>& tenant) = 0;
  virtual Result<TriggerRecord> getTrigger(const std::string& tenant, const std::string& id) = 0;
  virtual Status deleteTrigger(const std::string& tenant, const std::string& id) = 0;
  virtual Status setTriggerPaused(const std::string& tenant, const std::string& id,
                                  bool paused) = 0;
  // Claims a cron slot: moves the trigger's last slot from `expected_last_slot_us` to
  // `slot_us` and, when `fire` is given, enqueues it — in one transaction, so a slot fires at
  // most once however many processes race for it. False when another claim got there first.
  virtual Result<bool> claimCronSlot(const std::string& trigger_id, int64_t expected_last_slot_us,
                                     int64_t slot_us,
                                     const std::optional<AsyncInvocationRecord>& fire) = 0;

  // Makes the record durable and enqueues it for the writer thread, which commits it in a batch
  // (group commit) together with its hourly usage roll-up. `on_committed` is called once the
  // record survives a kill: on the caller's thread before this returns when the journal took
  // it, else on the writer thread after its commit. Callers answer a request only after that,
  // so no answered activation is ever lost. Reads of activations and usage see it. A caller that
  // may stop waiting passes a `ticket` (record_ticket.h): the writer then writes what it answered.
  virtual void recordActivation(ActivationRecord record,
                                std::function<void()> on_committed = nullptr,
                                std::shared_ptr<RecordTicket> ticket = nullptr) = 0;
  // Records (activations and access-log lines) enqueued but not yet committed (the writer's lag).
  virtual std::size_t pendingActivations() = 0;
  virtual Result<std::vector<UsageRow>> usage(const UsageQuery& query) = 0;
  // Blocks until every record enqueued before the call is committed to the database.
  virtual void flushActivations() = 0;
  virtual Result<std::vector<ActivationRecord>> listActivations(const ActivationQuery& query) = 0;
  virtual Result<ActivationRecord> getActivation(const std::string& tenant,
                                                 const std::string& id) = 0;
  // Retention, tenant by tenant under each one's own Retention (else `defaults`): deletes its
  // activation records received more than `days` before `now_us`, then its oldest records until
  // the rest (logs included) fit in `mb`. A tenant's budget never deletes another tenant's
  // records. Deletes in transactions of at most `batch_rows` rows; usage roll-ups are kept.
  // Returns how many records were deleted.
  virtual Result<int64_t> pruneActivations(int64_t now_us, const RetentionDefaults& defaults) = 0;
  // Deletes asynchronous invocations that ended (succeeded, or dead letters never replayed)
  // before `older_than_us`, with their attempts, in batches. Queued and running ones stay.
  virtual Result<int64_t> pruneFinishedAsync(int64_t older_than_us, int batch_rows = 1000) = 0;
  // Deletes audit entries older than `older_than_us`, in batches.
  virtual Result<int64_t> pruneAudit(int64_t older_than_us, int batch_rows = 1000) = 0;
  // Deletes hourly usage roll-ups of hours that began before `older_than_us`, in batches.
  virtual Result<int64_t> pruneUsage(int64_t older_than_us, int batch_rows = 1000) = 0;
  // Gives the pages that pruning freed back to the file system (a bounded number per
  // transaction) and checkpoints the WAL down to nothing. Returns the bytes given back.
  virtual Result<int64_t> compact() = 0;
};

}  // namespace gust::store
