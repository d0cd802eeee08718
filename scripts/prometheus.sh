#!/usr/bin/env bash
# A real Prometheus for the metrics end-to-end test, run by the test itself, never as a service.
#
#   scripts/prometheus.sh install                     Debian's prometheus package, if missing
#   scripts/prometheus.sh run CONFIG_DIR PORT TARGET  scrape http://TARGET/metrics every second,
#                                                     serve on 127.0.0.1:PORT, in the foreground
#
# Debian's package enables and starts a system-wide prometheus on :9090 when it installs. A test
# wants none of that: a background daemon would outlive the test, hold the port and scrape nothing
# we asked for. So the install forbids service starts for its duration (policy-rc.d is what both
# invoke-rc.d and deb-systemd-invoke consult) and then disables whatever got enabled anyway.
set -euo pipefail

prometheus_bin=/usr/bin/prometheus

usage() {
  echo "usage: $0 install | run CONFIG_DIR PORT TARGET" >&2
  exit 2
}

is_installed() {
  dpkg-query -W -f='${Status}' prometheus 2>/dev/null | grep -q 'install ok installed' &&
    [ -x "$prometheus_bin" ]
}

systemd_running() {
  [ -d /run/systemd/system ]
}

install_prometheus() {
  if is_installed; then
    return 0
  fi
  local sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive

  # A policy-rc.d that exits 101 means "no service may start now". Keep one the machine already
  # has (Docker images ship exactly this); otherwise add ours and take it away afterwards.
  local policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# Added by gust scripts/prometheus.sh during its install.\nexit 101\n' |
      "${sudo_cmd[@]}" tee "$policy" >/dev/null
    "${sudo_cmd[@]}" chmod 755 "$policy"
    # shellcheck disable=SC2064  # expand now: the trap must remove exactly what we added.
    trap "${sudo_cmd[*]} rm -f $policy" EXIT
  fi

  # Recommends would pull in node-exporter, another daemon we do not want.
  local install=(apt-get install -y -qq --no-install-recommends prometheus)
  # The package lists may be missing or stale; refreshing them is slow, so only on failure.
  if ! "${sudo_cmd[@]}" "${install[@]}" >/dev/null 2>&1; then
    "${sudo_cmd[@]}" apt-get update -qq
    "${sudo_cmd[@]}" "${install[@]}" >/dev/null
  fi

  # The package also enables the service for the next boot; a later boot of this machine must
  # not start it either.
  if systemd_running; then
    "${sudo_cmd[@]}" systemctl disable --now prometheus >/dev/null 2>&1 || true
  else
    local init_script=/etc/init.d/prometheus
    if [ -x "$init_script" ] && "${sudo_cmd[@]}" "$init_script" status >/dev/null 2>&1; then
      "${sudo_cmd[@]}" "$init_script" stop >/dev/null 2>&1 || true
    fi
    if command -v deb-systemd-helper >/dev/null 2>&1; then
      "${sudo_cmd[@]}" deb-systemd-helper disable prometheus.service >/dev/null 2>&1 || true
    fi
    "${sudo_cmd[@]}" update-rc.d prometheus disable >/dev/null 2>&1 || true
  fi
  is_installed
}

run_prometheus() {
  local config_dir=$1 port=$2 target=$3
  [[ "$port" =~ ^[0-9]+$ ]] || { echo "prometheus.sh: PORT must be a number: $port" >&2; exit 2; }
  mkdir -p "$config_dir/data"
  local config="$config_dir/prometheus.yml"
  cat >"$config" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: gust
    metrics_path: /metrics
    static_configs:
      - targets: ["$target"]
EOF
  # exec: the caller's pid is Prometheus itself, so killing it leaves nothing behind.
  exec "$prometheus_bin" \
    --config.file="$config" \
    --storage.tsdb.path="$config_dir/data" \
    --web.listen-address="127.0.0.1:$port" \
    --log.level=warn
}

case "${1:-}" in
  install)
    [ $# -eq 1 ] || usage
    install_prometheus
    ;;
  run)
    [ $# -eq 4 ] || usage
    run_prometheus "$2" "$3" "$4"
    ;;
  *) usage ;;
esac
