#!/usr/bin/env bash
# Set everything up, then render the bundled psoas-release routine to output/psoas-release.mp3.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/audioguide build psoas-release "$@"
