#!/usr/bin/env bash
# Set everything up (plus what only the tests use: mpg123, a second decoder; Chromium, which
# Playwright drives to open the pages; gPodder's command-line client gpo, which subscribes to the
# feeds; poppler-utils and zbar-tools, which read the handout PDF and its QR code; nginx, which
# serves a program's site beside `audioguide serve` and writes the access log `report --log`
# reads), then run the tests.
# Extra arguments go to pytest, e.g. scripts/test.sh -m "not integration" for the fast ones only.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh mpg123 chromium gpodder poppler-utils zbar-tools nginx
.venv/bin/python -m pytest "$@"
