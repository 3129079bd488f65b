#!/usr/bin/env bash
# macOS recipe: DICOM Courier.app and a .dmg (UNTESTED here: no macOS machine in this project's
# CI). Run on macOS 12+ with Python 3.11 from python.org or Homebrew, from the repository root:
#   installer/macos/build-macos.sh
# Signing and notarisation need an Apple Developer ID: set CODESIGN_IDENTITY to sign.
set -euo pipefail
cd "$(dirname "$0")/../.."
version=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' desktop/__init__.py)
python3 -m venv build/macos-venv
build/macos-venv/bin/pip install -c constraints.txt . pyinstaller
build/macos-venv/bin/pyinstaller --noconfirm --windowed --distpath build/macos \
  --workpath build/macos-work installer/dicom-courier.spec
app="build/macos/DICOM Courier.app"
if [ -n "${CODESIGN_IDENTITY:-}" ]; then
  codesign --deep --force --options runtime --sign "$CODESIGN_IDENTITY" "$app"
fi
mkdir -p dist
hdiutil create -volname "DICOM Courier" -srcfolder "$app" -ov -format UDZO \
  "dist/dicom-courier-$version-macos.dmg"
