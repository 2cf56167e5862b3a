#!/usr/bin/env bash
# Set everything up (plus what only the tests use: mpg123, a second decoder, and Chromium with its
# driver, which opens the share page), then run the tests.
# Extra arguments go to pytest, e.g. scripts/test.sh -m "not integration" for the fast ones only.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh mpg123 chromium chromium-driver
.venv/bin/python -m pytest "$@"
