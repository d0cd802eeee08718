#!/usr/bin/env bash
# Installs what Gust needs to build, test and run on Debian 12. Idempotent: a second run on a
# machine that has everything installs nothing and takes a moment.
set -euo pipefail

debian_packages=(
  build-essential cmake ninja-build pkg-config git
  libboost-system-dev libboost1.74-dev nlohmann-json3-dev libsqlite3-dev libarchive-dev
  libtomlplusplus-dev libcli11-dev libspdlog-dev libfmt-dev libsodium-dev libssl-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libseccomp-dev slirp4netns iptables libicu-dev
  librdkafka-dev kcat default-jdk-headless maven
  python3 python3-venv python3-pip nodejs npm wrk curl
  chromium
)

# `deps.sh --fuzz` adds clang and its libFuzzer runtime for `make fuzz`.
if [[ "${1:-}" == "--fuzz" ]]; then
  debian_packages+=(clang libclang-rt-14-dev)
fi

# `deps.sh --lint` adds the pinned clang-format and clang-tidy for `make lint`.
if [[ "${1:-}" == "--lint" ]]; then
  debian_packages+=(clang-format-16 clang-tidy-16)
fi

missing=()
for package in "${debian_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' ||
    missing+=("$package")
done
# The machine may already carry its own python3/node/npm outside Debian's packages: keep them.
for tool in python3 node npm; do
  if command -v "$tool" >/dev/null 2>&1; then
    case "$tool" in
      python3) missing=("${missing[@]/python3}"); missing=("${missing[@]/python3-venv}"); missing=("${missing[@]/python3-pip}") ;;
      node) missing=("${missing[@]/nodejs}") ;;
      npm) missing=("${missing[@]/npm}") ;;
    esac
  fi
done
packages=()
for package in "${missing[@]}"; do [ -n "$package" ] && packages+=("$package"); done

if ((${#packages[@]})); then
  echo "deps: installing ${packages[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi

# Python packages for the end-to-end tests, in a project-local venv so the system stays clean.
venv=.venv
if [ ! -x "$venv/bin/pytest" ] || ! "$venv/bin/python" -c 'import requests' 2>/dev/null; then
  echo "deps: creating $venv with pytest and requests"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check pytest requests
fi

# playwright-core (no browser download of its own) drives Debian's chromium in tests/e2e's CORS
# tests. npm's hidden lockfile is rewritten by every install, so an older one means a stale tree.
browser=tests/browser
if [ ! -f "$browser/node_modules/playwright-core/package.json" ] ||
   [ "$browser/package-lock.json" -nt "$browser/node_modules/.package-lock.json" ]; then
  echo "deps: npm ci in $browser"
  (cd "$browser" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi

# The compatibility tests (tests/e2e/compat) build Go and Rust Lambda clients from the Go module
# proxy and crates.io. This machine image carries recent toolchains; a bare Debian gets its own.
for tool in go:golang-go cargo:cargo; do
  command -v "${tool%%:*}" >/dev/null 2>&1 && continue
  [ -x "/usr/local/go/bin/${tool%%:*}" ] || [ -x "$HOME/.cargo/bin/${tool%%:*}" ] && continue
  echo "deps: installing ${tool#*:}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${tool#*:}" >/dev/null
done

# The java runtime's Runtime API client and its Jackson, into runtimes/java/lib.
bash runtimes/java/build.sh
