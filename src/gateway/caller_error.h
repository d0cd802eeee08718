#pragma once
// What an HTTP caller of a function (/fn/..., /t/.../fn/..., a gateway or project route: anyone,
// often anonymous) is told when an invocation fails.
//
// The full message can carry operator hints: a secret's name ("needs secret 'DB_PASSWORD'"),
// the load error with its file and line, the handler's exception message, host paths from a
// failed sandbox set-up. It stays in the activation record (read by the function's owner through
// the control API) and in the server log. The caller gets the status and error code, what kind
// of failure it was, and the activation id to quote to the owner. The owner's own entry points
// (the control API's invoke) keep the full message.

#include <string_view>

#include "common/status.h"

namespace gust::gateway {

// `status` with a message fit for the caller. `state` is the activation's status ("error",
// "init_error", "crashed", ...; "" when the invocation failed before it had one).
Status callerError(const Status& status, std::string_view state, std::string_view activation_id);

}  // namespace gust::gateway
