#pragma once
// Host names a tenant can own (`gust host add api.acme.example --tenant acme`): the Host a
// gateway route is bound to. A claimed host serves only its owner's routes; the server's own
// names (loopback, localhost, the --listen host) are the shared space of host-less routes and
// are never claimed. Pure functions; any thread.

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace gust::gateway {

// "API.Acme.Example:443" -> "api.acme.example". A DNS name: labels of 1-63 letters, digits and
// '-' (not first or last), at most 253 characters, a last label that is not all digits (so IP
// addresses, which are the server's own or nobody's to claim, are refused), one trailing dot
// dropped.
Result<std::string> normalizeHostName(std::string_view host);

// Names that address this server itself: "localhost", "*.localhost" and `server_names` (the
// --listen host when it is a name, the machine's host name), compared case-insensitively.
bool isServerHostName(std::string_view normalized, const std::vector<std::string>& server_names);

}  // namespace gust::gateway
