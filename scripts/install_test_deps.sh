#!/usr/bin/env bash
# Installs what the test suite needs: Debian's chromium for the browser tests, then the Python packages.
set -euo pipefail
if ! command -v chromium >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q chromium
fi
python -m pip install -q -r requirements.txt -r requirements-dev.txt
