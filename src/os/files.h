#pragma once
// Small file helpers with Status errors.

#include <cstdint>
#include <string>
#include <string_view>

#include <sys/types.h>

#include "common/status.h"

namespace gust::os {

// A failed file operation as a Status: a full disk or quota (ENOSPC, EDQUOT) is
// InsufficientStorage, anything else Internal. `message` may name paths: it is for the log.
Status fileError(std::string message, int error_number);

Result<std::string> readFile(const std::string& path);
// Writes to a temporary file beside `path`, fsyncs and renames: readers see old or new, never
// half. `mode` applies to the new file (0600 for secrets).
Status writeFileAtomic(const std::string& path, std::string_view contents, int mode = 0644);

// Bytes allocated on disk under `path` (a sparse file counts what it holds), its directories
// and symlinks included; never follows a symlink nor crosses into another mount. A missing
// path is 0; a tree it cannot walk whole (a path over PATH_MAX) is an error.
Result<int64_t> diskUsage(const std::string& path);

// Gives `path` and everything under it (symlinks themselves, never their targets; not across
// mounts) to uid:gid. With `seal`, also clears set-id bits and group/other write: for a tree a
// tenant's build wrote, handed back to root.
Status chownTree(const std::string& path, uid_t uid, gid_t gid, bool seal);

}  // namespace gust::os
