// gust-sandbox: the sandbox's setup helper (see src/sandbox/linux/helper.cc). The server starts
// it as `gust-sandbox FD` for each instance; it is not meant to be run by hand.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "sandbox/sandbox.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "gust-sandbox: started by `gust serve` for each instance, not by hand\n");
    return 2;
  }
  return gust::sandbox::runSandboxHelper(std::atoi(argv[1]));
}
