#!/bin/sh
# Installs what the tests need beyond Python: the npm packages of
# package-lock.json (@magenta/sketch and its TensorFlow.js), a Chromium for
# the browser pages, and the cairo library cairosvg draws the SVG tests'
# reference pictures with.  Without them those tests skip (or, under
# SKETCHGEN_REQUIRE_REFERENCE=1, fail).
set -eu
cd "$(dirname "$0")/.."

npm ci --no-audit --no-fund

missing=''
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
python3 -c 'import ctypes.util, sys; sys.exit(not ctypes.util.find_library("cairo"))' \
    || missing="$missing libcairo2"
if [ -n "$missing" ]; then
    # CI images often run as root without sudo.
    SUDO=''
    if [ "$(id -u)" -ne 0 ]; then SUDO='sudo'; fi
    $SUDO apt-get update
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends $missing
fi
