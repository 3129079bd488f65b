#!/usr/bin/env bash
# Set up, then show the application on generated sample media.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
media=${DICOM_COURIER_DEMO_MEDIA:-$(mktemp -d)/demo-media}
.venv/bin/dicom-courier demo-media "$media"
exec .venv/bin/dicom-courier tree "$media"
