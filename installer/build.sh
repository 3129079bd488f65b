#!/usr/bin/env bash
# Build DICOM Courier's Linux installers from this checkout:
#   dist/dicom-courier-VERSION-linux-ARCH.tar.gz  one-folder bundle (no Python needed)
#   dist/dicom-courier_VERSION_ARCH.deb            the bundle under /opt, menu entry, icons
# The bundle is frozen from a venv holding only the application and what it needs at run time,
# so the SBOM and the licence texts describe exactly what ships.
set -euo pipefail
cd "$(dirname "$0")/.."
here=installer
work=build/installer
dist=dist
version=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' desktop/__init__.py)
arch=$(dpkg --print-architecture 2>/dev/null || uname -m)

[ -x .venv/bin/python ] || scripts/setup.sh
rm -rf "$work" && mkdir -p "$work" "$dist"

echo "installer: runtime venv"
python3 -m venv --without-pip "$work/venv"
pip_into_venv() {
  .venv/bin/python -m pip --python "$work/venv/bin/python" install -q --disable-pip-version-check \
    -c constraints.txt "$@"
}
pip_into_venv .
.venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt cyclonedx-bom

echo "installer: SBOM and licences of what ships"
mkdir -p "$work/extra"
.venv/bin/cyclonedx-py environment --output-format JSON --output-reproducible \
  --output-file "$work/extra/sbom.cdx.json" "$work/venv/bin/python"
"$work/venv/bin/python" "$here/collect_licences.py" "$work/extra/licenses"

echo "installer: PyInstaller"
pip_into_venv pyinstaller
"$work/venv/bin/python" -m PyInstaller --noconfirm --log-level WARN \
  --distpath "$work/pyinstaller" --workpath "$work/pyinstaller-work" "$here/dicom-courier.spec"
bundle="$work/pyinstaller/dicom-courier"
# The interpreter's own libraries carry debug symbols (wheels' libraries are left alone: stripping
# auditwheel-patched ELF files breaks them).
strip --strip-unneeded "$bundle"/_internal/libpython3*.so* "$bundle"/_internal/python3*/lib-dynload/*.so
cp -r "$work/extra/." "$bundle/"
cp "$here/linux/README-bundle.txt" "$bundle/README.txt"

echo "installer: tarball"
tarball="$dist/dicom-courier-$version-linux-$(uname -m).tar.gz"
tar -C "$work/pyinstaller" -czf "$tarball" dicom-courier

echo "installer: .deb"
"$here/linux/make-deb.sh" "$bundle" "$version" "$arch" "$dist"
echo "installer: done: $tarball $(du -sh "$bundle" | cut -f1) unpacked"
