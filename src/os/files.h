#pragma once
// Small file helpers with Status errors.

#include <string>
#include <string_view>

#include "common/status.h"

namespace gust::os {

Result<std::string> readFile(const std::string& path);
// Writes to a temporary file beside `path`, fsyncs and renames: readers see old or new, never
// half. `mode` applies to the new file (0600 for secrets).
Status writeFileAtomic(const std::string& path, std::string_view contents, int mode = 0644);

}  // namespace gust::os
