// Uploaded bundles are hostile archives: whatever they hold, nothing may land outside the
// destination and a failed unpack leaves nothing behind.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>

#include "bundle/bundle.h"
#include "common/ids.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace fs = std::filesystem;
  static const fs::path root = fs::temp_directory_path() / ("gust-bundle-fuzz-" + gust::randomHex(6));
  fs::create_directories(root);
  fs::path dest = root / "code";
  gust::bundle::BundleLimits limits;
  limits.max_files = 200;
  limits.max_unpacked_bytes = 4 << 20;
  auto status = gust::bundle::extractBundle(
      std::string_view(reinterpret_cast<const char*>(data), size), dest.string(), limits);
  std::size_t entries = 0;
  for (const auto& entry : fs::directory_iterator(root)) {
    (void)entry;
    ++entries;
  }
  // Success leaves exactly the destination; failure leaves nothing at all.
  if (entries != (status.isOk() ? 1u : 0u)) std::abort();
  fs::remove_all(dest);
  return 0;
}
