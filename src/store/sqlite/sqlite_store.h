#pragma once
// The embedded backend: one SQLite file in WAL mode. Metadata goes through one connection under
// a mutex; activation records go through a second connection owned by a writer thread that
// commits whatever has queued up in one transaction (group commit).

#include <memory>
#include <string>

#include "store/store.h"

namespace gust::store {

struct SqliteOptions {
  std::string path;  // the database file; created with its migrations if missing
};

Result<std::unique_ptr<Store>> openSqliteStore(const SqliteOptions& options);

}  // namespace gust::store
