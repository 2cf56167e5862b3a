#!/usr/bin/env bash
# Set everything up (plus mpg123, which the tests use as a second decoder), then run the tests.
# Extra arguments go to pytest, e.g. scripts/test.sh -m "not integration" for the fast ones only.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh mpg123
.venv/bin/python -m pytest "$@"
