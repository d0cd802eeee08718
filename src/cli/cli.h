#pragma once
// The `gust` command line: every subcommand but `serve` talks to a server over the control API
// only. Human output by default, --json for scripts; errors say what to do next.

namespace gust::cli {

// Parses argv and runs the chosen subcommand; returns the exit code.
int run(int argc, char** argv);

}  // namespace gust::cli
