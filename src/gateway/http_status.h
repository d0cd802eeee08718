#pragma once
// The one table from Status codes to HTTP statuses, and the JSON error response built from it.

#include "common/status.h"
#include "http/server.h"

namespace gust::gateway {

http::beast::http::status httpStatusFor(Code code);
// What a caller may read of a status: the status itself, but for a full disk, whose detail
// (host paths) goes to the server log and whose callers read the disk guard's words.
Status callerFacing(const Status& status);
http::Response errorResponseFor(const Status& status);

}  // namespace gust::gateway
