#!/usr/bin/env bash
# Set everything up, then render the bundled psoas-release routine to output/psoas-release.mp3.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# --progress: the build says how far it is even when this runs in a log or a pipe.
.venv/bin/audioguide build psoas-release --progress "$@"
