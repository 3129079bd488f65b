#!/usr/bin/env bash
# Set up, then run the desktop application on its embedded demo: a demo CA and identities,
# sample media and a local TLS PACS. Without a display, show the demo media's tree instead.
# A second start is quick: setup.sh skips pip when the venv is current, and the sample media
# are kept in the user's cache folder; the demo's temporary home is removed at exit.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
  exec .venv/bin/dicom-courier gui --demo
fi
echo "run-demo: no display; showing the demo media on the command line instead" >&2
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
.venv/bin/dicom-courier demo-media "$scratch/demo-media"
.venv/bin/dicom-courier tree "$scratch/demo-media"
