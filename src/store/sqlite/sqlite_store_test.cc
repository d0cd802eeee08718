#include "store/sqlite/sqlite_store.h"

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/ids.h"

namespace gust::store {
namespace {

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("gust-store-" + randomHex(6));
    std::filesystem::create_directories(dir_);
    reopen();
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  void reopen() {
    store_.reset();
    auto opened = openSqliteStore({(dir_ / "gust.db").string()});
    ASSERT_TRUE(opened.isOk()) << opened.status().message();
    store_ = std::move(opened).value();
  }
  NewVersion version(const std::string& fn, std::vector<RouteRecord> routes = {}) {
    return {"default", fn, "ab12", "{}", 10, std::move(routes), nullptr};
  }

  std::filesystem::path dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(SqliteStoreTest, EachDeployIsANewVersionAndMovesLive) {
  ASSERT_TRUE(store_->createVersion(version("hello")).isOk());
  auto second = store_->createVersion(version("hello"));
  ASSERT_TRUE(second.isOk());
  EXPECT_EQ(second->version, 2);
  auto fn = store_->getFunction("default", "hello");
  ASSERT_TRUE(fn.isOk());
  EXPECT_EQ(fn->live_version, 2);
  EXPECT_EQ(fn->versions, 2);
  ASSERT_TRUE(store_->setAlias("default", "hello", "live", 1).isOk());
  EXPECT_EQ(store_->resolveAlias("default", "hello", "live")->version, 1);
  EXPECT_EQ(store_->setAlias("default", "hello", "live", 9).code(), Code::NotFound);
}

TEST_F(SqliteStoreTest, SurvivesReopen) {
  ASSERT_TRUE(store_->createVersion(version("hello")).isOk());
  reopen();
  auto versions = store_->listVersions("default", "hello");
  ASSERT_TRUE(versions.isOk());
  ASSERT_EQ(versions->size(), 1u);
  EXPECT_EQ((*versions)[0].bundle_sha256, "ab12");
}

TEST_F(SqliteStoreTest, RouteHeldByAnotherFunctionIsAConflictAndNothingIsWritten) {
  ASSERT_TRUE(store_->createVersion(version("a", {{"/api/x", "", "", "api/x"}})).isOk());
  auto clash = store_->createVersion(version("b", {{"/api/x", "", "", "api/x"}}));
  ASSERT_FALSE(clash.isOk());
  EXPECT_EQ(clash.status().code(), Code::Conflict);
  EXPECT_NE(clash.status().message().find("'a'"), std::string::npos);
  EXPECT_EQ(store_->getFunction("default", "b").status().code(), Code::NotFound);
  // The holder may redeploy the same route.
  EXPECT_TRUE(store_->createVersion(version("a", {{"/api/x", "", "", "api/x"}})).isOk());
}

TEST_F(SqliteStoreTest, DeleteRemovesFunctionAndRoutes) {
  ASSERT_TRUE(store_->createVersion(version("a", {{"/api/x", "", "", "api/x"}})).isOk());
  ASSERT_TRUE(store_->deleteFunction("default", "a").isOk());
  EXPECT_TRUE(store_->listRoutes()->empty());
  EXPECT_EQ(store_->deleteFunction("default", "a").code(), Code::NotFound);
}

TEST_F(SqliteStoreTest, ActivationsAreWrittenAndListedNewestFirst) {
  for (int i = 0; i < 3; ++i) {
    ActivationRecord r;
    r.id = "act" + std::to_string(i);
    r.tenant = "default";
    r.function = "hello";
    r.status = "success";
    r.logs = "stdout: line " + std::to_string(i) + "\n";
    store_->recordActivation(r);
  }
  store_->flushActivations();
  ActivationQuery query;
  query.function = "hello";
  auto list = store_->listActivations(query);
  ASSERT_TRUE(list.isOk());
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[0].id, "act2");
  EXPECT_TRUE((*list)[0].logs.empty());
  auto one = store_->getActivation("default", "act1");
  ASSERT_TRUE(one.isOk());
  EXPECT_EQ(one->logs, "stdout: line 1\n");
  query.oldest_first = true;
  query.after_id = "act0";
  EXPECT_EQ(store_->listActivations(query)->front().id, "act1");
}

// A record answered (on_committed called) is in the journal; a server killed right after finds
// it on its next start, counted once in the usage even when SQLite had it already, and a line a
// crash cut short is skipped.
TEST_F(SqliteStoreTest, AnsweredActivationsSurviveAKillAndAreCountedOnce) {
  store_.reset();
  const std::string db = (dir_ / "gust.db").string();
  constexpr int kRecords = 300;
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto opened = openSqliteStore({db});
    if (!opened.isOk()) ::_exit(2);
    std::atomic<int> answered = 0;
    for (int i = 0; i < kRecords; ++i) {
      ActivationRecord r;
      r.id = "act" + std::to_string(i);
      r.tenant = "default";
      r.function = "hello";
      r.status = "success";
      r.billed_ms = 3;
      r.logs = "stdout: \xff not utf-8, line " + std::to_string(i) + "\n";
      (*opened)->recordActivation(r, [&answered] { ++answered; });
    }
    // Killed as soon as all are answered: no destructor, no flush, the writer mid-way.
    ::_exit(answered.load() == kRecords ? 0 : 3);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  // The journal's content ends at its first NUL (the file is preallocated).
  const auto journal = dir_ / "gust.db-activations";
  auto content = [&] {
    std::ifstream in(journal, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return bytes.substr(0, bytes.find('\0'));
  };
  const std::string written = content();
  ASSERT_FALSE(written.empty());
  // However far the writer got, one line is surely unapplied: act0's, under a new id; and a
  // crash cut the last line short.
  std::string first_line = written.substr(0, written.find('\n'));
  ASSERT_EQ(first_line.rfind("[\"act0\",", 0), 0u) << first_line;
  first_line.replace(0, 8, "[\"act-only-in-the-journal\",");
  {
    std::fstream out(journal, std::ios::in | std::ios::out | std::ios::binary);
    out.seekp(static_cast<std::streamoff>(written.size()));
    out << first_line << "\n[\"act-torn\", \"default\", \"hel" << '\0';
  }

  reopen();
  EXPECT_EQ(content(), "");  // applied, so emptied
  ActivationQuery query;
  query.function = "hello";
  query.limit = 1000;
  auto list = store_->listActivations(query);
  ASSERT_TRUE(list.isOk());
  EXPECT_EQ(list->size(), static_cast<std::size_t>(kRecords + 1));
  EXPECT_TRUE(store_->getActivation("default", "act-only-in-the-journal").isOk());
  EXPECT_EQ(store_->getActivation("default", "act-torn").status().code(), Code::NotFound);
  auto last = store_->getActivation("default", "act299");
  ASSERT_TRUE(last.isOk());
  EXPECT_EQ(last->billed_ms, 3);
  EXPECT_NE(last->logs.find("line 299"), std::string::npos);
  auto usage = store_->usage({});
  ASSERT_TRUE(usage.isOk());
  ASSERT_EQ(usage->size(), 1u);
  EXPECT_EQ((*usage)[0].invocations, kRecords + 1);
  EXPECT_EQ((*usage)[0].billed_ms, 3 * (kRecords + 1));
}

// A writer that falls behind (here another connection holds SQLite's write lock): past the
// journal's budget of unapplied records callers wait for the commit, so the journal stays
// within its files' switch point plus that budget; once the writer can write, every record is
// written and every caller answered.
TEST_F(SqliteStoreTest, AWriterFallingBehindSlowsCallersInsteadOfGrowingTheJournal) {
  sqlite3* blocker = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ / "gust.db").c_str(), &blocker), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(blocker, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  constexpr int kRecords = 800;  // 50 MiB of logs
  std::atomic<int> answered = 0;
  for (int i = 0; i < kRecords; ++i) {
    ActivationRecord r;
    r.id = "big" + std::to_string(i);
    r.tenant = "default";
    r.function = "hello";
    r.status = "success";
    r.logs = std::string(64 << 10, 'x');
    store_->recordActivation(r, [&answered] { ++answered; });
  }
  const int answered_while_blocked = answered.load();
  EXPECT_GT(answered_while_blocked, 400);  // the budget's worth: 32 MiB of 64 KiB lines
  EXPECT_LT(answered_while_blocked, 530);  // and no more: the rest wait for their commit
  for (const char* file : {"gust.db-activations", "gust.db-activations-2"}) {
    EXPECT_LE(std::filesystem::file_size(dir_ / file), uintmax_t{(4 + 32 + 1) << 20}) << file;
  }
  ASSERT_EQ(sqlite3_exec(blocker, "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(blocker);
  store_->flushActivations();
  EXPECT_EQ(answered.load(), kRecords);
  ActivationQuery query;
  query.function = "hello";
  query.limit = 1000;
  auto list = store_->listActivations(query);
  ASSERT_TRUE(list.isOk());
  EXPECT_EQ(list->size(), static_cast<std::size_t>(kRecords));
}

ActivationRecord activation(const std::string& id, const std::string& tenant,
                            int64_t received_at_us, std::size_t log_bytes = 100) {
  ActivationRecord r;
  r.id = id;
  r.tenant = tenant;
  r.function = "hello";
  r.status = "success";
  r.billed_ms = 10;
  r.received_at_us = received_at_us;
  r.logs = std::string(log_bytes, 'x');
  return r;
}

int64_t countActivations(Store& store, const std::string& tenant) {
  ActivationQuery query;
  query.tenant = tenant;
  query.limit = 100000;
  auto list = store.listActivations(query);
  return list ? static_cast<int64_t>(list->size()) : -1;
}

constexpr int64_t kDayUs = 86400LL * 1000000;

TEST_F(SqliteStoreTest, RetentionDeletesRecordsPastTheirAgeButKeepsUsage) {
  const int64_t now = 100 * kDayUs;
  for (int i = 0; i < 4; ++i) {
    store_->recordActivation(
        activation("act" + std::to_string(i), "default", now - (40 - i * 10) * kDayUs));
  }
  store_->flushActivations();
  // act0 is 40 days old: deleted; act1, exactly 30 days old, is not older than 30 days: kept.
  auto pruned = store_->pruneActivations(now, {30, 0, 1000});
  ASSERT_TRUE(pruned.isOk()) << pruned.status().message();
  EXPECT_EQ(*pruned, 1);
  EXPECT_EQ(store_->getActivation("default", "act0").status().code(), Code::NotFound);
  EXPECT_TRUE(store_->getActivation("default", "act1").isOk());
  auto usage = store_->usage({});
  ASSERT_TRUE(usage.isOk());
  ASSERT_EQ(usage->size(), 1u);
  EXPECT_EQ((*usage)[0].invocations, 4);
  EXPECT_EQ((*usage)[0].billed_ms, 40);
}

TEST_F(SqliteStoreTest, ATenantOverItsBudgetLosesOnlyItsOwnOldestRecords) {
  ASSERT_TRUE(store_->createTenant("noisy").isOk());
  ASSERT_TRUE(store_->createTenant("quiet").isOk());
  const int64_t now = 100 * kDayUs;
  // The quiet tenant's records are the oldest of all: a global budget would take them first.
  for (int i = 0; i < 5; ++i) {
    store_->recordActivation(
        activation("quiet" + std::to_string(i), "quiet", now - kDayUs + i, 10000));
  }
  for (int i = 0; i < 400; ++i) {
    store_->recordActivation(
        activation(fmt::format("noisy{:03}", i), "noisy", now - 1000 + i, 10000));
  }
  store_->flushActivations();
  // 1 MiB each: the quiet tenant's ~50 KB fit, the noisy one's ~4 MB do not.
  auto pruned = store_->pruneActivations(now, {30, 1, 1000});
  ASSERT_TRUE(pruned.isOk()) << pruned.status().message();
  EXPECT_EQ(countActivations(*store_, "quiet"), 5);
  int64_t noisy_left = countActivations(*store_, "noisy");
  EXPECT_GT(noisy_left, 50);
  EXPECT_LT(noisy_left, 105);  // 1 MiB / ~10.3 KB a record
  EXPECT_EQ(*pruned, 400 - noisy_left);
  // The newest stay, the oldest went.
  EXPECT_TRUE(store_->getActivation("noisy", "noisy399").isOk());
  EXPECT_EQ(store_->getActivation("noisy", "noisy000").status().code(), Code::NotFound);
}

TEST_F(SqliteStoreTest, ATenantsOwnRetentionWinsOverTheDefaults) {
  ASSERT_TRUE(store_->createTenant("brief").isOk());
  ASSERT_TRUE(store_->setTenantRetention("brief", {1, std::nullopt}).isOk());
  auto tenant = store_->getTenant("brief");
  ASSERT_TRUE(tenant.isOk());
  EXPECT_EQ(tenant->retention.days, 1);
  EXPECT_FALSE(tenant->retention.mb.has_value());
  const int64_t now = 100 * kDayUs;
  store_->recordActivation(activation("brief-old", "brief", now - 2 * kDayUs));
  store_->recordActivation(activation("default-old", "default", now - 2 * kDayUs));
  store_->flushActivations();
  auto pruned = store_->pruneActivations(now, {30, 1024, 1000});
  ASSERT_TRUE(pruned.isOk()) << pruned.status().message();
  EXPECT_EQ(*pruned, 1);
  EXPECT_EQ(store_->getActivation("brief", "brief-old").status().code(), Code::NotFound);
  EXPECT_TRUE(store_->getActivation("default", "default-old").isOk());

  ASSERT_TRUE(store_->setTenantRetention("brief", {}).isOk());  // back to the defaults
  EXPECT_FALSE(store_->getTenant("brief")->retention.days.has_value());
  EXPECT_EQ(store_->setTenantRetention("nobody", {1, 1}).code(), Code::NotFound);
}

TEST_F(SqliteStoreTest, PruningDeletesInBatchesUntilDone) {
  const int64_t now = 100 * kDayUs;
  for (int i = 0; i < 25; ++i) {
    store_->recordActivation(
        activation("old" + std::to_string(i), "default", now - 40 * kDayUs + i));
  }
  store_->recordActivation(activation("new", "default", now));
  store_->flushActivations();
  auto pruned = store_->pruneActivations(now, {30, 0, 4});
  ASSERT_TRUE(pruned.isOk()) << pruned.status().message();
  EXPECT_EQ(*pruned, 25);
  EXPECT_EQ(countActivations(*store_, "default"), 1);
}

TEST_F(SqliteStoreTest, UsageRollupsOutliveTheActivationsTheySum) {
  const int64_t now = 1000 * kDayUs;
  store_->recordActivation(activation("ancient", "default", now - 500 * kDayUs));
  store_->recordActivation(activation("old", "default", now - 60 * kDayUs));
  store_->flushActivations();
  ASSERT_EQ(*store_->pruneActivations(now, {30, 0, 1000}), 2);
  auto pruned = store_->pruneUsage(now - 400 * kDayUs);
  ASSERT_TRUE(pruned.isOk()) << pruned.status().message();
  EXPECT_EQ(*pruned, 1);  // the ancient hour only
  auto usage = store_->usage({});
  ASSERT_TRUE(usage.isOk());
  ASSERT_EQ(usage->size(), 1u);
  EXPECT_EQ((*usage)[0].invocations, 1);
}

TEST_F(SqliteStoreTest, CompactionGivesPrunedSpaceBackToTheFileSystem) {
  const int64_t now = 100 * kDayUs;
  for (int i = 0; i < 2000; ++i) {
    store_->recordActivation(
        activation("a" + std::to_string(i), "default", now - 40 * kDayUs, 4000));
  }
  store_->flushActivations();
  reopen();  // checkpoints the WAL into the database file
  auto size = [&] { return std::filesystem::file_size(dir_ / "gust.db"); };
  auto full = size();
  ASSERT_GT(full, 8u << 20);
  ASSERT_EQ(*store_->pruneActivations(now, {30, 0, 500}), 2000);
  auto given_back = store_->compact();
  ASSERT_TRUE(given_back.isOk()) << given_back.status().message();
  EXPECT_GT(*given_back, 4 << 20);
  reopen();
  EXPECT_LT(size(), full / 2);
}

TEST_F(SqliteStoreTest, UsageRollsUpPerFunctionVersionAndHour) {
  auto record = [&](const std::string& id, const std::string& fn, int64_t version,
                    const std::string& status, int64_t received_at_us) {
    ActivationRecord r;
    r.id = id;
    r.tenant = "default";
    r.function = fn;
    r.version = version;
    r.status = status;
    r.billed_ms = 7;
    r.memory_mb = 128;
    r.cpu_user_us = 1500;
    r.received_at_us = received_at_us;
    store_->recordActivation(r);
  };
  const int64_t hour = 3600LL * 1000000;
  record("a", "f", 1, "success", 10 * hour + 5);
  record("b", "f", 2, "error", 10 * hour + 6);
  record("c", "g", 1, "success", 11 * hour);
  store_->flushActivations();
  UsageQuery by_function;
  auto functions = store_->usage(by_function);
  ASSERT_EQ(functions->size(), 2u);
  EXPECT_EQ((*functions)[0].group, "f");
  EXPECT_EQ((*functions)[0].invocations, 2);
  EXPECT_EQ((*functions)[0].errors, 1);
  EXPECT_EQ((*functions)[0].mb_ms, 2 * 128 * 7);
  EXPECT_EQ((*functions)[0].cpu_user_us, 3000);
  UsageQuery by_version;
  by_version.by = UsageGrouping::Version;
  EXPECT_EQ(store_->usage(by_version)->size(), 3u);
  UsageQuery late;
  late.since_us = 11 * hour + 30;  // rounds down to the start of hour 11
  auto rows = store_->usage(late);
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].group, "g");
}

TEST_F(SqliteStoreTest, DefaultTenantExistsAndTenantsAreUnique) {
  ASSERT_TRUE(store_->getTenant("default").isOk());
  ASSERT_TRUE(store_->createTenant("acme").isOk());
  EXPECT_EQ(store_->createTenant("acme").code(), Code::Conflict);
  auto tenants = store_->listTenants();
  ASSERT_TRUE(tenants.isOk());
  ASSERT_EQ(tenants->size(), 2u);
  EXPECT_EQ((*tenants)[0].name, "acme");
  EXPECT_EQ(store_->deleteTenant("default").code(), Code::InvalidArgument);
  EXPECT_EQ(store_->deleteTenant("nope").code(), Code::NotFound);
}

TEST_F(SqliteStoreTest, TenantWithFunctionsIsNotDeletedAndDeletionTakesTokensAndSecrets) {
  ASSERT_TRUE(store_->createTenant("acme").isOk());
  ASSERT_TRUE(store_->createVersion({"acme", "fn", "ab", "{}", 1, {}, nullptr}).isOk());
  EXPECT_EQ(store_->deleteTenant("acme").code(), Code::Conflict);
  ASSERT_TRUE(store_->deleteFunction("acme", "fn").isOk());
  ASSERT_TRUE(store_->createToken({"t1", "acme", "ci", "hash", 1, 0}).isOk());
  ASSERT_TRUE(store_->putSecret({"acme", "DB", "sealed", 0, 0}).isOk());
  ASSERT_TRUE(store_->deleteTenant("acme").isOk());
  EXPECT_EQ(store_->getToken("t1").status().code(), Code::NotFound);
  EXPECT_EQ(store_->getSecret("acme", "DB").status().code(), Code::NotFound);
}

TEST_F(SqliteStoreTest, TokensRevokeOnce) {
  ASSERT_TRUE(store_->createToken({"t1", "acme", "ci", "hash", 1, 0}).isOk());
  ASSERT_TRUE(store_->createToken({"t2", "other", "", "hash2", 2, 0}).isOk());
  EXPECT_EQ(store_->listTokens(std::string("acme"))->size(), 1u);
  EXPECT_EQ(store_->listTokens(std::nullopt)->size(), 2u);
  ASSERT_TRUE(store_->revokeToken("t1").isOk());
  EXPECT_GT(store_->getToken("t1")->revoked_at_us, 0);
  EXPECT_EQ(store_->revokeToken("t1").code(), Code::NotFound);
  EXPECT_EQ(store_->revokeToken("zz").code(), Code::NotFound);
}

TEST_F(SqliteStoreTest, SecretsAreBinarySafeAndScopedToTheirTenant) {
  std::string sealed = std::string("\0\1bin", 5) + "\xff";
  ASSERT_TRUE(store_->putSecret({"acme", "DB", sealed, 0, 0}).isOk());
  auto got = store_->getSecret("acme", "DB");
  ASSERT_TRUE(got.isOk());
  EXPECT_EQ(got->sealed, sealed);
  EXPECT_EQ(store_->getSecret("other", "DB").status().code(), Code::NotFound);
  ASSERT_TRUE(store_->putSecret({"acme", "DB", "new", 0, 0}).isOk());
  EXPECT_EQ(store_->getSecret("acme", "DB")->sealed, "new");
  EXPECT_EQ(store_->listSecrets("acme")->size(), 1u);
  EXPECT_EQ(store_->deleteSecret("other", "DB").code(), Code::NotFound);
  ASSERT_TRUE(store_->deleteSecret("acme", "DB").isOk());
  EXPECT_TRUE(store_->listSecrets("acme")->empty());
}

TEST_F(SqliteStoreTest, AuditIsNewestFirstAndFiltersByTenant) {
  ASSERT_TRUE(
      store_
          ->appendAudit({0, 0, "admin", "default", "127.0.0.1", "tenant.create", "acme", "ok", ""})
          .isOk());
  ASSERT_TRUE(store_
                  ->appendAudit({0, 0, "token:t1", "acme", "127.0.0.1", "function.deploy", "fn",
                                 "ok", "version 1"})
                  .isOk());
  auto all = store_->listAudit({});
  ASSERT_TRUE(all.isOk());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].action, "function.deploy");
  AuditQuery acme;
  acme.tenant = "acme";
  ASSERT_EQ(store_->listAudit(acme)->size(), 1u);
}

TEST_F(SqliteStoreTest, RouteConflictWithAnotherTenantDoesNotNameTheirFunction) {
  ASSERT_TRUE(store_
                  ->createVersion({"acme",
                                   "secret-name",
                                   "ab",
                                   "{}",
                                   1,
                                   {{"/api/x", "acme", "secret-name", "api/x"}},
                                   nullptr})
                  .isOk());
  auto clash = store_->createVersion(
      {"default", "mine", "ab", "{}", 1, {{"/api/x", "default", "mine", "api/x"}}, nullptr});
  ASSERT_FALSE(clash.isOk());
  EXPECT_EQ(clash.status().code(), Code::Conflict);
  EXPECT_EQ(clash.status().message().find("secret-name"), std::string::npos);
}

TEST_F(SqliteStoreTest, GatewayRoutesAreUniqueByShapeAcrossTenantsAndGoWithTheirFunction) {
  ASSERT_TRUE(store_->createVersion(version("users")).isOk());
  GatewayRouteRecord route;
  route.id = "rt_1";
  route.tenant = "default";
  route.method = "GET";
  route.path = "/users/{id}";
  route.shape = "/users/{}";
  route.function = "users";
  ASSERT_TRUE(store_->putGatewayRoute(route).isOk());
  GatewayRouteRecord edit = route;
  edit.id = "rt_2";
  edit.path = "/users/{uid}";
  edit.rate = "5/s";
  auto replaced = store_->putGatewayRoute(edit);
  ASSERT_TRUE(replaced.isOk());
  EXPECT_EQ(replaced->id, "rt_1");  // same tenant, same shape: an edit
  GatewayRouteRecord theirs = route;
  theirs.tenant = "acme";
  theirs.id = "rt_3";
  EXPECT_EQ(store_->putGatewayRoute(theirs).status().code(), Code::Conflict);
  theirs.host = "acme.example.com";
  EXPECT_TRUE(store_->putGatewayRoute(theirs).isOk());  // another host is another route
  auto mine = store_->listGatewayRoutes(std::string("default"));
  ASSERT_TRUE(mine.isOk());
  ASSERT_EQ(mine->size(), 1u);
  EXPECT_EQ((*mine)[0].rate, "5/s");
  ASSERT_TRUE(store_->deleteFunction("default", "users").isOk());
  EXPECT_TRUE(store_->listGatewayRoutes(std::string("default"))->empty());
  EXPECT_EQ(store_->listGatewayRoutes(std::nullopt)->size(), 1u);
}

TEST_F(SqliteStoreTest, HostsAreClaimedOnceListedPerTenantAndReleasedWhenNoRouteIsBound) {
  ASSERT_TRUE(store_->claimHost({"api.acme.example", "acme", 1}).isOk());
  EXPECT_TRUE(store_->claimHost({"api.acme.example", "acme", 2}).isOk());  // again: no change
  Status taken = store_->claimHost({"api.acme.example", "evil", 3});
  EXPECT_EQ(taken.code(), Code::Conflict);
  ASSERT_TRUE(store_->claimHost({"www.evil.example", "evil", 4}).isOk());
  EXPECT_EQ(store_->listHosts(std::nullopt)->size(), 2u);
  auto acme = store_->listHosts(std::string("acme"));
  ASSERT_EQ(acme->size(), 1u);
  EXPECT_EQ((*acme)[0].created_at_us, 1);

  ASSERT_TRUE(store_->createVersion({"acme", "users", "ab", "{}", 1, {}, nullptr}).isOk());
  GatewayRouteRecord route;
  route.id = "rt_1";
  route.tenant = "acme";
  route.method = "GET";
  route.path = "/";
  route.shape = "/";
  route.host = "api.acme.example";
  route.function = "users";
  ASSERT_TRUE(store_->putGatewayRoute(route).isOk());
  EXPECT_EQ(store_->releaseHost("api.acme.example").code(), Code::Conflict);
  ASSERT_TRUE(store_->deleteGatewayRoute("acme", "rt_1").isOk());
  EXPECT_TRUE(store_->releaseHost("api.acme.example").isOk());
  EXPECT_EQ(store_->releaseHost("api.acme.example").code(), Code::NotFound);
}

TEST_F(SqliteStoreTest, RouteGuardSeesEveryRouteAndItsRefusalWritesNothing) {
  ASSERT_TRUE(store_->claimHost({"api.acme.example", "acme", 1}).isOk());
  ASSERT_TRUE(store_->createVersion(version("proj", {{"/api/x", "", "", "api/x"}})).isOk());
  GatewayRouteRecord route;
  route.id = "rt_1";
  route.tenant = "default";
  route.method = "GET";
  route.path = "/users/{id}";
  route.shape = "/users/{}";
  route.function = "proj";
  RouteSpace seen;
  auto refuse = [&](const RouteSpace& space) {
    seen = space;
    return Status(Code::Conflict, "no");
  };
  EXPECT_EQ(store_->putGatewayRoute(route, refuse).status().code(), Code::Conflict);
  EXPECT_TRUE(store_->listGatewayRoutes(std::nullopt)->empty());
  ASSERT_EQ(seen.hosts.size(), 1u);
  ASSERT_EQ(seen.project_routes.size(), 1u);
  EXPECT_EQ(seen.project_routes[0].path, "/api/x");

  NewVersion next = version("proj", {{"/api/y", "", "", "api/y"}});
  next.guard = refuse;
  EXPECT_EQ(store_->createVersion(next).status().code(), Code::Conflict);
  EXPECT_EQ(store_->listVersions("default", "proj")->size(), 1u);
  EXPECT_EQ(store_->listRoutes()->at(0).path, "/api/x");
  EXPECT_EQ(
      store_->setAlias("default", "proj", "live", 1, std::vector<RouteRecord>{}, refuse).code(),
      Code::Conflict);
  EXPECT_EQ(store_->listRoutes()->size(), 1u);
}

TEST_F(SqliteStoreTest, ClientKeysRevokeOnceAndSharesListAndDelete) {
  ClientKeyRecord key;
  key.client_id = "ck_0123456789abcdef";
  key.tenant = "default";
  key.name = "mobile";
  key.hash = std::string(64, 'a');
  key.scopes = {"users", "GET /x"};
  key.quota = "10/day";
  ASSERT_TRUE(store_->createClientKey(key).isOk());
  EXPECT_EQ(store_->revokeClientKey("acme", key.client_id).code(), Code::NotFound);
  ASSERT_TRUE(store_->revokeClientKey("default", key.client_id).isOk());
  EXPECT_EQ(store_->revokeClientKey("default", key.client_id).code(), Code::NotFound);
  reopen();
  auto keys = store_->listClientKeys(std::nullopt);
  ASSERT_EQ(keys->size(), 1u);
  EXPECT_EQ((*keys)[0].scopes, key.scopes);
  EXPECT_NE((*keys)[0].revoked_at_us, 0);

  ASSERT_TRUE(store_->putShare({"default", "users", "acme", 0}).isOk());
  ASSERT_TRUE(store_->putShare({"default", "users", "acme", 0}).isOk());  // idempotent
  EXPECT_EQ(store_->listShares(std::string("default"))->size(), 1u);
  ASSERT_TRUE(store_->deleteShare("default", "users", "acme").isOk());
  EXPECT_EQ(store_->deleteShare("default", "users", "acme").code(), Code::NotFound);
}

TEST_F(SqliteStoreTest, QuotaUseAddsUpPerPeriodAndSurvivesReopen) {
  ASSERT_TRUE(store_->addQuotaUse("ck_a", 100, 3).isOk());
  ASSERT_TRUE(store_->addQuotaUse("ck_a", 100, 2).isOk());
  ASSERT_TRUE(store_->addQuotaUse("ck_a", 200, 7).isOk());
  reopen();
  EXPECT_EQ(*store_->quotaUse("ck_a", 100), 5);
  EXPECT_EQ(*store_->quotaUse("ck_a", 200), 7);
  EXPECT_EQ(*store_->quotaUse("ck_b", 100), 0);
}

TEST_F(SqliteStoreTest, AccessLogFiltersSumsTrafficAndPrunes) {
  auto record = [](int64_t at, std::string route, int status, int64_t latency_us, bool limited) {
    AccessRecord r;
    r.at_us = at;
    r.tenant = "default";
    r.function = "users";
    r.method = "GET";
    r.path = "/users/1";
    r.route = std::move(route);
    r.key_id = "ck_a";
    r.status = status;
    r.latency_us = latency_us;
    r.bytes_out = 10;
    r.limited = limited;
    return r;
  };
  for (int i = 1; i <= 100; ++i)
    store_->recordAccess(record(1000 + i, "GET /users/{id}", 200, i * 1000, false));
  store_->recordAccess(record(2000, "GET /users/{id}", 429, 50, true));
  store_->recordAccess(record(2001, "GET /other", 503, 7000, false));
  store_->flushActivations();  // access records ride the same writer
  AccessQuery query;
  query.status_class = 4;
  auto limited = store_->listAccess(query);
  ASSERT_TRUE(limited.isOk());
  ASSERT_EQ(limited->size(), 1u);
  EXPECT_TRUE((*limited)[0].limited);
  query = {};
  query.route = "GET /other";
  EXPECT_EQ(store_->listAccess(query)->size(), 1u);
  query = {};
  query.after_seq = 100;
  auto after = store_->listAccess(query);
  ASSERT_EQ(after->size(), 2u);
  EXPECT_LT((*after)[0].seq, (*after)[1].seq);  // oldest first when following

  auto traffic = store_->traffic(std::nullopt, TrafficGrouping::Route, 0);
  ASSERT_TRUE(traffic.isOk());
  ASSERT_EQ(traffic->size(), 2u);
  const TrafficRow& users =
      (*traffic)[1].group == "GET /users/{id}" ? (*traffic)[1] : (*traffic)[0];
  EXPECT_EQ(users.requests, 101);
  EXPECT_EQ(users.status_2xx, 100);
  EXPECT_EQ(users.status_4xx, 1);
  EXPECT_EQ(users.limited, 1);
  EXPECT_EQ(users.bytes_out, 1010);
  EXPECT_NEAR(users.latency_p50_ms, 50, 1.5);
  EXPECT_NEAR(users.latency_p99_ms, 99, 1.5);
  EXPECT_EQ(*store_->pruneAccess(1051), 50);
  EXPECT_EQ(store_->traffic(std::nullopt, TrafficGrouping::Key, 0)->at(0).requests, 52);
}

AsyncInvocationRecord asyncRecord(const std::string& id, const std::string& fn, int64_t due_us) {
  AsyncInvocationRecord r;
  r.id = id;
  r.tenant = "default";
  r.function = fn;
  r.payload = "{\"n\":1}";
  r.trigger = "async";
  r.received_at_us = due_us;
  r.next_attempt_at_us = due_us;
  r.state = "queued";
  return r;
}

TEST_F(SqliteStoreTest, AsyncInvocationsAreClaimedOnceWhenDueAndRequeuedAfterACrash) {
  ASSERT_TRUE(store_->enqueueAsync(asyncRecord("a", "fn", 100)).isOk());
  ASSERT_TRUE(store_->enqueueAsync(asyncRecord("b", "fn", 200)).isOk());
  auto early = store_->claimDueAsync(150, 10);
  ASSERT_TRUE(early.isOk());
  ASSERT_EQ(early->size(), 1u);
  EXPECT_EQ((*early)[0].id, "a");
  EXPECT_EQ((*early)[0].starts, 1);
  EXPECT_TRUE(store_->claimDueAsync(150, 10)->empty());  // running: not claimed twice
  reopen();                                              // the server died while "a" ran
  EXPECT_EQ(*store_->requeueRunningAsync(), 1);
  auto again = store_->claimDueAsync(300, 10);
  ASSERT_EQ(again->size(), 2u);
  EXPECT_EQ((*again)[0].id, "a");
  EXPECT_EQ((*again)[0].starts, 2);
  EXPECT_EQ((*again)[0].payload, "{\"n\":1}");
}

TEST_F(SqliteStoreTest, AttemptsAndDeadLettersCanBeListedReplayedAndPurged) {
  ASSERT_TRUE(store_->enqueueAsync(asyncRecord("a", "fn", 100)).isOk());
  ASSERT_TRUE(store_->enqueueAsync(asyncRecord("b", "fn", 100)).isOk());
  auto claimed = store_->claimDueAsync(100, 10);
  ASSERT_EQ(claimed->size(), 2u);
  for (auto r : *claimed) {
    r.attempts = 1;
    r.state = "dead";
    r.dead_reason = "retries_exhausted";
    r.last_error = "boom";
    AsyncAttemptRecord attempt{r.id, 1, r.id, "error", "boom", 100, 110};
    ASSERT_TRUE(store_->finishAsyncAttempt(attempt, r).isOk());
  }
  AsyncQuery dead;
  dead.function = "fn";
  dead.state = "dead";
  EXPECT_EQ(store_->listAsync(dead)->size(), 2u);
  auto attempts = store_->listAsyncAttempts("a");
  ASSERT_EQ(attempts->size(), 1u);
  EXPECT_EQ((*attempts)[0].error, "boom");
  EXPECT_EQ(store_->getAsync("other-tenant", "a").status().code(), Code::NotFound);

  auto replayed = store_->replayDeadLetters("default", "fn", {"a"}, 500);
  ASSERT_EQ(*replayed, std::vector<std::string>{"a"});
  auto a = store_->getAsync("default", "a");
  EXPECT_EQ(a->state, "queued");
  EXPECT_EQ(a->attempts, 0);
  EXPECT_EQ(a->received_at_us, 500);
  EXPECT_EQ(*store_->purgeDeadLetters("default", "fn", {}), std::vector<std::string>{"b"});
  EXPECT_EQ(store_->listAsync(dead)->size(), 0u);
  EXPECT_TRUE(store_->listAsyncAttempts("b")->empty());
}

TEST_F(SqliteStoreTest, FinishedAsyncInvocationsArePrunedWithTheirAttemptsButNotLiveOnes) {
  for (const char* id : {"old-dead", "old-done", "new-dead", "queued", "running"}) {
    ASSERT_TRUE(store_->enqueueAsync(asyncRecord(id, "fn", 100)).isOk());
  }
  auto claimed = store_->claimDueAsync(100, 10);
  ASSERT_EQ(claimed->size(), 5u);
  for (auto r : *claimed) {
    if (r.id == "queued") {
      r.state = "queued";
      ASSERT_TRUE(store_->finishAsyncAttempt(std::nullopt, r).isOk());
      continue;
    }
    if (r.id == "running") continue;
    r.attempts = 1;
    r.state = r.id == "old-done" ? "succeeded" : "dead";
    r.finished_at_us = r.id == "new-dead" ? 5000 : 110;
    AsyncAttemptRecord attempt{r.id, 1, r.id, "error", "boom", 100, r.finished_at_us};
    ASSERT_TRUE(store_->finishAsyncAttempt(attempt, r).isOk());
  }
  EXPECT_EQ(*store_->pruneFinishedAsync(1000, /*batch_rows=*/1), 2);
  EXPECT_EQ(store_->getAsync("default", "old-dead").status().code(), Code::NotFound);
  EXPECT_EQ(store_->getAsync("default", "old-done").status().code(), Code::NotFound);
  EXPECT_TRUE(store_->listAsyncAttempts("old-dead")->empty());
  EXPECT_EQ(store_->getAsync("default", "new-dead")->state, "dead");
  EXPECT_EQ(store_->listAsyncAttempts("new-dead")->size(), 1u);
  EXPECT_EQ(store_->getAsync("default", "queued")->state, "queued");
  EXPECT_EQ(store_->getAsync("default", "running")->state, "running");
}

TEST_F(SqliteStoreTest, TheAccessLogIsCappedToItsNewestRows) {
  for (int i = 0; i < 25; ++i) {
    AccessRecord a;
    a.at_us = 1000 + i;
    a.tenant = "default";
    a.path = "/p" + std::to_string(i);
    store_->recordAccess(a);
  }
  store_->flushActivations();
  EXPECT_EQ(*store_->capAccess(10, /*batch_rows=*/4), 15);
  EXPECT_EQ(*store_->capAccess(10), 0);
  AccessQuery all;
  all.limit = 100;
  auto left = store_->listAccess(all);
  ASSERT_EQ(left->size(), 10u);
  EXPECT_EQ(left->front().path, "/p24");  // newest first: the newest ten stay
  EXPECT_EQ(left->back().path, "/p15");
}

TEST_F(SqliteStoreTest, AuditEntriesArePrunedByAge) {
  ASSERT_TRUE(
      store_->appendAudit({0, 100, "admin", "default", "127.0.0.1", "a", "x", "ok", ""}).isOk());
  ASSERT_TRUE(
      store_->appendAudit({0, 900, "admin", "default", "127.0.0.1", "b", "x", "ok", ""}).isOk());
  EXPECT_EQ(*store_->pruneAudit(500), 1);
  auto left = store_->listAudit({});
  ASSERT_EQ(left->size(), 1u);
  EXPECT_EQ((*left)[0].action, "b");
}

TEST_F(SqliteStoreTest, ACronSlotIsClaimedOnlyFromTheValueRead) {
  TriggerRecord t{"t1", "default", "cron", "fn", "{}", false, 1, 1000};
  ASSERT_TRUE(store_->createTrigger(t).isOk());
  auto fire = asyncRecord("c1", "fn", 2000);
  EXPECT_TRUE(*store_->claimCronSlot("t1", 1000, 2000, fire));
  // A second claimer that read the old value loses, and enqueues nothing.
  auto late = asyncRecord("c2", "fn", 2000);
  EXPECT_FALSE(*store_->claimCronSlot("t1", 1000, 2000, late));
  EXPECT_EQ(store_->getTrigger("default", "t1")->last_slot_us, 2000);
  EXPECT_TRUE(store_->getAsync("default", "c1").isOk());
  EXPECT_EQ(store_->getAsync("default", "c2").status().code(), Code::NotFound);
  ASSERT_TRUE(store_->setTriggerPaused("default", "t1", true).isOk());
  EXPECT_TRUE(store_->getTrigger("default", "t1")->paused);
  EXPECT_EQ(store_->deleteTrigger("other", "t1").code(), Code::NotFound);
  ASSERT_TRUE(store_->deleteTrigger("default", "t1").isOk());
  EXPECT_TRUE(store_->listTriggers(std::nullopt)->empty());
}

}  // namespace
}  // namespace gust::store
