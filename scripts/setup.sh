#!/usr/bin/env bash
# Set up audioguide on Debian or Ubuntu: the system packages it needs and a virtualenv in .venv.
# Usage: scripts/setup.sh [extra Debian packages...]   (safe to run again: it skips what is there)
set -euo pipefail
cd "$(dirname "$0")/.."

# ffmpeg encodes the MP3; espeak-ng is the system voice on Linux (pyttsx3 needs libespeak-ng1:
# the older libespeak1 alone fails); the DejaVu fonts set the cover's title with every accented
# letter of Spanish, German and French.
packages=(ffmpeg espeak-ng libespeak-ng1 fonts-dejavu-core fonts-dejavu-extra "$@")
python3 -c "import ensurepip, venv" 2>/dev/null || packages+=(python3-venv)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "Installing Debian packages: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
# natural: the Piper voice (GPL-3.0, so an optional extra; 175 MB with onnxruntime and its model);
# cluster: Dask distributed, for --scheduler (its tests start a scheduler and workers).
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[dev,natural,cluster]"
