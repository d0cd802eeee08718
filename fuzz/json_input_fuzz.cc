// Deep and wide JSON from outside, through every reader of it: the reader itself, a function's
// reply (the HTTP mapping, a Kafka batch's failures), a frame header from an instance, and a
// payload stored and read back later (as an older Gust may have stored it, unchecked). Whatever
// a reader lets through must survive the walks that recurse: dump, copy, comparison.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>

#include <unistd.h>

#include "events/kafka/kafka_config.h"
#include "gateway/http_event.h"
#include "protocol/frame.h"
#include "protocol/json_input.h"
#include "store/sqlite/sqlite_store.h"

namespace {

using nlohmann::json;
namespace protocol = gust::protocol;

void check(bool holds) {
  if (!holds) std::abort();
}

void readerAgreesWithItself(std::string_view text) {
  auto parsed = protocol::parseJson(text, "the input");
  check(parsed.isOk() == !protocol::parseJsonOrDiscarded(text).is_discarded());
  if (!parsed) return;
  std::string dumped = parsed->dump();
  check(protocol::jsonDepth(dumped) <= protocol::kMaxJsonDepth);
  json copy = *parsed;
  check(copy == *parsed);
  check(protocol::parseJsonOrDiscarded(dumped) == *parsed);
}

void frameHeader(std::string_view text) {
  std::string header = "{\"type\":\"RESULT\",\"x\":" + std::string(text) + "}";
  std::string wire(8, '\0');
  auto length = static_cast<uint32_t>(header.size());
  for (int i = 0; i < 4; ++i) wire[3 - i] = static_cast<char>((length >> (8 * i)) & 0xff);
  protocol::FrameDecoder decoder;
  decoder.feed(wire + header);
  auto frame = decoder.next();
  if (frame.isOk() && frame->has_value()) (void)(*frame)->header.dump();
}

// One SQLite store for the whole run, in a directory of its own that goes when the run ends.
class ScratchStore {
 public:
  ScratchStore()
      : dir_(std::filesystem::temp_directory_path() /
             ("json_input_fuzz." + std::to_string(::getpid()))) {
    std::filesystem::create_directories(dir_);
    auto opened = gust::store::openSqliteStore({(dir_ / "gust.db").string()});
    check(opened.isOk());
    store_ = std::move(*opened);
  }
  ~ScratchStore() {
    store_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  gust::store::Store& operator*() { return *store_; }

 private:
  std::filesystem::path dir_;
  std::unique_ptr<gust::store::Store> store_;
};

void storedThenRead(std::string_view text) {
  if (std::memchr(text.data(), '\0', text.size()) != nullptr) return;  // TEXT columns end at NUL
  static ScratchStore store;
  static int64_t next_id = 0;
  gust::store::AsyncInvocationRecord record;
  record.id = "fuzz" + std::to_string(++next_id);
  record.tenant = "default";
  record.function = "f";
  record.payload = std::string(text);
  record.state = "dead";
  check((*store).enqueueAsync(record).isOk());
  auto read = (*store).getAsync(record.tenant, record.id);
  check(read.isOk() && read->payload == text);
  json shown = {{"id", read->id}, {"payload", protocol::jsonOrText(read->payload)}};
  (void)shown.dump();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  readerAgreesWithItself(text);
  (void)gust::gateway::mapHandlerResult(text);
  (void)gust::events::kafka::batchItemFailures(text);
  frameHeader(text);
  storedThenRead(text);
  return 0;
}
