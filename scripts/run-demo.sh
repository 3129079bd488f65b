#!/usr/bin/env bash
# Set up, then run the desktop application on its embedded demo: a demo CA and identities,
# sample media and a local TLS PACS. Without a display, show the demo media's tree instead.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
  exec .venv/bin/dicom-courier gui --demo
fi
echo "run-demo: no display; showing the demo media on the command line instead" >&2
media=$(mktemp -d)/demo-media
.venv/bin/dicom-courier demo-media "$media"
exec .venv/bin/dicom-courier tree "$media"
