#!/bin/sh
# Installs the proxies ravelin-load compares Ravelin against (Debian/Ubuntu), plus the
# nginx stream module (TCP scenarios), wrk (cross-checks) and taskset (CPU pinning).
set -eu
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update
$SUDO apt-get install -y haproxy nginx libnginx-mod-stream wrk util-linux
# The Debian packages start system services on ports 80 etc.; the comparison never uses
# them, and stopping them keeps the machine quiet while measuring.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    $SUDO systemctl stop haproxy nginx 2>/dev/null || true
fi
haproxy -v | head -1
nginx -v
