#!/usr/bin/env bash
# The peer tools the benchmarks run beside hameau (Debian packages).
set -euo pipefail
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v rclone >/dev/null || need+=(rclone)
command -v curl >/dev/null || need+=(curl)
command -v rsync >/dev/null || need+=(rsync)
command -v unison >/dev/null || need+=(unison)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "bench needs: ${need[*]}; install them with: sudo apt-get install ${need[*]}" >&2
    exit 1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
