#include "store/sqlite/sqlite_store.h"

#include <gtest/gtest.h>

#include <filesystem>

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
    return {"default", fn, "ab12", "{}", 10, std::move(routes)};
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

}  // namespace
}  // namespace gust::store
