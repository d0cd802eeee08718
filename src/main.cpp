// The gust binary: subcommand dispatch only.
#include "cli/cli.h"

int main(int argc, char** argv) { return gust::cli::run(argc, argv); }
