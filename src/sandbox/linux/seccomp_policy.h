#pragma once
// The seccomp filter every sandboxed process runs under: an allowlist (anything not listed
// fails with EPERM, so runtimes that probe for a feature fall back instead of dying), with
// argument checks on the calls that are only safe in part — clone without namespace flags,
// socket families by network mode, no terminal injection ioctls — and clone3 answering ENOSYS
// so libc falls back to the checked clone. Syscalls of a foreign ABI (i386 `int 0x80`, x32) kill
// the process. Built with libseccomp.

#include <string>
#include <string_view>

#include "common/status.h"

namespace gust::sandbox {

struct SeccompProfile {
  std::string runtime;  // python3 | node | ...: adds what that runtime needs beyond the base list
};

// The filter as a compiled BPF program (struct sock_filter[]): libseccomp takes a few
// milliseconds to build it, so the helper keeps programs and loads them with loadSeccompProgram.
Result<std::string> compileSeccompProgram(const SeccompProfile& profile);

// Installs a program from compileSeccompProgram on the calling thread (and the threads and
// processes it creates). Must be called with no_new_privs already set. Fails closed: the kernel
// loads a whole program or none.
Status loadSeccompProgram(std::string_view program);

}  // namespace gust::sandbox
