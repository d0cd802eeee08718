#pragma once
// Bundles: a function's code as a tar.gz (or zip). The CLI packs a directory; the server checks
// every entry of an uploaded bundle before anything reaches the disk, because a bundle is
// hostile input: no absolute paths, no "..", no symlink that leaves the bundle, no device files,
// caps on file count and unpacked size (zip bombs), and each error names the offending path.

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace gust::bundle {

struct BundleLimits {
  int64_t max_files = 5000;
  int64_t max_unpacked_bytes = 512LL << 20;
};

// Unpacks `archive` (tar, tar.gz or zip) into `dest_dir`, which must not exist yet: the bundle
// is unpacked beside it and renamed into place, so a failed unpack leaves nothing behind.
Status extractBundle(std::string_view archive, const std::string& dest_dir,
                     const BundleLimits& limits);

// Packs the directory as tar.gz, skipping what is rebuilt at deploy time or never belongs in
// a function (.git, node_modules, .venv, __pycache__, .gust).
Result<std::string> packDirectory(const std::string& dir);

// Lowercase hex SHA-256.
std::string sha256Hex(std::string_view bytes);

}  // namespace gust::bundle
