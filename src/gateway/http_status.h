#pragma once
// The one table from Status codes to HTTP statuses, and the JSON error response built from it.

#include "common/status.h"
#include "http/server.h"

namespace gust::gateway {

http::beast::http::status httpStatusFor(Code code);
http::Response errorResponseFor(const Status& status);

}  // namespace gust::gateway
