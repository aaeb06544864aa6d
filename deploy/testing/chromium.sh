#!/usr/bin/env bash
# Installs Debian's chromium for the console's browser tests (services/console), when it is
# not there already: instant when present, one apt-get otherwise. Without root or apt-get it
# says so and leaves the tests to fail in CI (they skip outside CI).
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
	exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
	echo "chromium.sh: no chromium and no apt-get: install Chromium for the console's browser tests" >&2
	exit 0
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
	sudo="sudo"
fi
echo "chromium.sh: installing chromium (the console's browser tests drive it)"
$sudo apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 ||
	{ $sudo apt-get update >/dev/null && $sudo apt-get install -y --no-install-recommends chromium >/dev/null; }
