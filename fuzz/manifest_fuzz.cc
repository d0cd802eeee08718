// gust.toml comes from the user's bundle.
#include <cstddef>
#include <cstdint>

#include "bundle/manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto config = gust::bundle::parseManifest(
      std::string_view(reinterpret_cast<const char*>(data), size), "fuzz");
  if (config.isOk()) (void)gust::bundle::functionConfigFromJson(gust::bundle::toJson(*config).dump());
  return 0;
}
