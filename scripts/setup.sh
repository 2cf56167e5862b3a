#!/usr/bin/env bash
# Set up audioguide on Debian or Ubuntu: the system packages it needs and a virtualenv in .venv.
# Usage: scripts/setup.sh [extra Debian packages...]   (safe to run again: it skips what is there)
#
# It says what it does as it goes, so a first run (a few minutes: about 175 MB of Python packages)
# is never silent for long, and a rerun with nothing to do takes seconds: the Python packages are
# installed again only when pyproject.toml, the Python or the installed set changed since the
# last install (a stamp of them is kept in .venv/).
set -euo pipefail
cd "$(dirname "$0")/.."

# ffmpeg encodes the MP3; espeak-ng is the system voice on Linux (libespeak-ng1 is what speaks:
# the speaker loads it, as pyttsx3 does; the older libespeak1 alone fails); the DejaVu fonts set the cover's title with every accented
# letter of Spanish, German and French; Noto's and WenQuanYi's draw a client's name in any other
# script (Devanagari, Thai, Chinese...) on the cover and the pages printed to PDF.
packages=(ffmpeg espeak-ng libespeak-ng1 fonts-dejavu-core fonts-dejavu-extra fonts-noto-core
  fonts-wqy-microhei "$@")
python3 -c "import ensurepip, venv" 2>/dev/null || packages+=(python3-venv)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages with apt-get: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -q
  # One line per package as apt fetches, unpacks and sets it up: progress, not a silent minute.
  set +e
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends \
    "${missing[@]}" | grep --line-buffered -E '^(Get|Unpacking|Setting up)'
  status=("${PIPESTATUS[@]}")
  set -e
  [ "${status[0]}" -eq 0 ] || { echo "setup: apt-get install failed" >&2; exit 1; }
else
  echo "setup: Debian packages already installed: ${packages[*]}"
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: making the virtualenv .venv"
  python3 -m venv .venv
fi

# natural: the Piper voice (GPL-3.0, so an optional extra; 175 MB with onnxruntime and its model);
# cluster: Dask distributed, for --scheduler (its tests start a scheduler and workers).
extras="dev,natural,cluster"
stamp_file=.venv/.audioguide-setup
stamp() {
  # What the install depends on: the project's dependencies, the extras, the Python, and what is
  # installed now (a package removed by hand is noticed).
  {
    cat pyproject.toml
    echo "$extras"
    .venv/bin/python --version
    .venv/bin/python -m pip freeze --disable-pip-version-check --exclude-editable 2>/dev/null
  } | sha256sum | cut -d' ' -f1
}
if [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$(stamp)" ]; then
  echo "setup: Python packages up to date in .venv (pyproject.toml unchanged since they were installed)"
else
  echo "setup: installing audioguide and its Python packages into .venv ($extras; a first run downloads about 175 MB)"
  # pip's own lines (Collecting..., Downloading..., Installing...) show it working; -q hid them
  # for three minutes. What is already there goes unsaid.
  # pip then installs what it collected without a word for up to half a minute: a line every
  # 8 s says it is still at work.
  (while sleep 8; do echo "setup: pip is still installing ($SECONDS s)"; done) &
  ticker=$!
  trap 'kill $ticker 2>/dev/null || true' EXIT
  set +e
  .venv/bin/python -m pip install --disable-pip-version-check --progress-bar off \
    -e ".[$extras]" | grep --line-buffered -v '^Requirement already satisfied'
  status=("${PIPESTATUS[@]}")
  set -e
  kill $ticker 2>/dev/null || true
  [ "${status[0]}" -eq 0 ] || { echo "setup: pip install failed" >&2; exit 1; }
  stamp >"$stamp_file"
  echo "setup: done"
fi
