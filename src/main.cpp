// The gust binary: subcommand dispatch only.
#include <cstdlib>
#include <cstring>

#include "cli/cli.h"
#include "sandbox/sandbox.h"

int main(int argc, char** argv) {
  // The sandbox's setup helper, started by the server for each instance (not for users).
  if (argc == 3 && std::strcmp(argv[1], "sandbox-exec") == 0) {
    return gust::sandbox::runSandboxHelper(std::atoi(argv[2]));
  }
  return gust::cli::run(argc, argv);
}
