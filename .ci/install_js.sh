#!/bin/sh
# Installs what tests/test_export_js.py needs beyond Python: the npm packages of
# package-lock.json (@magenta/sketch and its TensorFlow.js) and a Chromium for
# the browser example.  Without them those tests skip.
set -eu
cd "$(dirname "$0")/.."

npm ci --no-audit --no-fund

if ! command -v chromium >/dev/null 2>&1; then
    # CI images often run as root without sudo.
    SUDO=''
    if [ "$(id -u)" -ne 0 ]; then SUDO='sudo'; fi
    $SUDO apt-get update
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends chromium
fi
