#!/usr/bin/env bash
# Install what tests/test_deflate_interop.py needs from the machine: Node's `ws`, pinned in
# tests/interop/package-lock.json (npm ci), and Debian's chromium when it is missing and we
# are root with apt-get. Idempotent; scripts/test.sh runs it before pytest.
#
# Exits non-zero when something could not be installed; the tests then skip with the reason,
# or fail under CI=true, so a missing peer never passes unnoticed in CI.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
failed=0

if command -v npm > /dev/null; then
    npm ci --prefix "$here" --no-audit --no-fund --loglevel=error || failed=1
else
    echo "install.sh: npm is not on PATH: the Node ws tests cannot run" >&2
    failed=1
fi

if ! command -v chromium > /dev/null && ! command -v chromium-browser > /dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
        export DEBIAN_FRONTEND=noninteractive
        { apt-get update -q && apt-get install -y -q chromium; } || failed=1
    else
        echo "install.sh: chromium is missing and needs root with apt-get to install" >&2
        failed=1
    fi
fi

exit "$failed"
