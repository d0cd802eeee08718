#pragma once
// The one way JSON from outside this process is read: request bodies and payloads from callers,
// replies and frame headers from functions, files in a tenant's bundle, and anything of theirs
// stored and read back later (queued payloads, journal lines, configs).
//
// Why a limit on nesting: nlohmann's parser is iterative, but dump(), copies and comparisons
// recurse once per level, and so do Python's json module and most handlers. A 100k-deep array
// (200 KB) overflows any thread's stack. Refused before the parser builds anything, so no
// later walk of the value can recurse deeper than kMaxJsonDepth.

#include <string_view>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace gust::protocol {

// Arrays and objects inside one another, counting the outermost as 1 (serde_json's default).
inline constexpr int kMaxJsonDepth = 128;

// How deeply `text` nests arrays and objects, stopping once past `limit` (so the scan is
// linear and allocates nothing). Brackets inside strings do not count. Meaningful for valid
// JSON and for any prefix of it, which is all a parser reads before it stops at an error.
int jsonDepth(std::string_view text, int limit = kMaxJsonDepth);

// `text` parsed; InvalidArgument naming `what` ("the payload") when it is not JSON or nests
// deeper than kMaxJsonDepth.
Result<nlohmann::json> parseJson(std::string_view text, std::string_view what);

// For callers that answer any bad input with one message of their own (a shape check that
// follows): `text` parsed, or a discarded value when it is not JSON or nests too deep.
nlohmann::json parseJsonOrDiscarded(std::string_view text);

// A stored document read back for display: its JSON when it is JSON within the limit, else
// its text as a JSON string (payloads stored before the limit, results that are not JSON).
nlohmann::json jsonOrText(std::string_view stored);

// InvalidArgument naming `what` when `text` nests deeper than kMaxJsonDepth; says nothing
// about whether it is JSON.
Status checkJsonDepth(std::string_view text, std::string_view what);

}  // namespace gust::protocol
