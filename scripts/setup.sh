#!/usr/bin/env bash
# Set up DICOM Courier on a Debian/Ubuntu machine: system packages, then a virtual environment
# in .venv with the pinned Python packages (constraints.txt).
#   scripts/setup.sh          what the application needs
#   scripts/setup.sh --test   also what the tests need (DCMTK, Xvfb, linters, sample data)
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-app}
APP_PACKAGES=(python3-venv python3-pip libgl1 libegl1 libxkbcommon0 libglib2.0-0 libfontconfig1
  libfreetype6 libdbus-1-3 libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1
  libxcb-shape0)
# stunnel4: DCMTK 3.6.7's movescu and getscu reach our TLS listener through it
# fonts-dejavu: the burned-in text the tests and bench/ocr_bench.py draw (tests/burned_in.py)
TEST_PACKAGES=(dcmtk orthanc openssl stunnel4 xorriso xvfb xauth xdotool rsyslog rsyslog-gnutls binutils appstream
  desktop-file-utils fonts-dejavu-core fonts-dejavu-extra)

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "setup: need root or sudo to install: $*" >&2; return 1; fi
}

install_system_packages() {
  local wanted=("${APP_PACKAGES[@]}")
  [ "$mode" = "--test" ] && wanted+=("${TEST_PACKAGES[@]}")
  local installed missing=()
  # One dpkg-query for all: a quick no-op when everything is there (a second demo start).
  installed=$(dpkg-query -W -f='${Package} ${Status}\n' "${wanted[@]}" 2>/dev/null \
    | awk '/install ok installed/ {print $1}') || true
  for package in "${wanted[@]}"; do
    grep -qx "$package" <<<"$installed" || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if ! command -v apt-get >/dev/null; then
    echo "setup: not a Debian/Ubuntu system; install these yourself: ${missing[*]}" >&2
    return 0
  fi
  echo "setup: installing ${missing[*]}"
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    "${missing[@]}"
}

python_command() {
  for candidate in python3 python3.13 python3.12 python3.11; do
    if command -v "$candidate" >/dev/null \
      && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  echo "setup: DICOM Courier needs Python 3.11 or newer" >&2; return 1
}

# The venv is current when it was installed from these very constraints and pyproject, the
# same way (the package itself is installed editable, so source changes need no reinstall):
# skip pip then.
STAMP=.venv/.setup-stamp
# A plain path in a .pth file: setuptools' default editable finder imports pathlib, re,
# fnmatch and importlib.util at every start of every command (30-40 ms of each start-up).
EDITABLE=(--config-settings editable_mode=compat)
wanted_stamp() {
  echo "$(cat constraints.txt pyproject.toml | sha256sum | cut -c1-64) $1 ${EDITABLE[*]}"
}

venv_is_current() {
  [ -x .venv/bin/python ] && [ -f "$STAMP" ] || return 1
  local stamp; stamp=$(cat "$STAMP")
  [ "$stamp" = "$(wanted_stamp "$mode")" ] || [ "$stamp" = "$(wanted_stamp --test)" ]
}

install_python_packages() {
  if venv_is_current; then return 0; fi
  local python; python=$(python_command)
  [ -x .venv/bin/python ] || "$python" -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade "pip>=24"
  local extras=""
  [ "$mode" = "--test" ] && extras="[test]"
  .venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt \
    "${EDITABLE[@]}" -e ".$extras"
  wanted_stamp "$mode" > "$STAMP"
}

install_system_packages
install_python_packages
