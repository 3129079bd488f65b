#!/usr/bin/env bash
# Package a built one-folder bundle as a .deb: /opt/dicom-courier, /usr/bin/dicom-courier,
# a menu entry, the icon in the hicolor theme, AppStream metainfo and the warm service's
# systemd user unit (not enabled).
#   make-deb.sh BUNDLE_DIR VERSION ARCH OUT_DIR
set -euo pipefail
bundle=$1 version=$2 arch=$3 out=$4
here=$(cd "$(dirname "$0")" && pwd)
app_id=org.dicomcourier.DicomCourier
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT

mkdir -p "$root/opt" "$root/usr/bin" "$root/usr/share/applications" \
  "$root/usr/share/icons/hicolor/scalable/apps" "$root/usr/share/metainfo" \
  "$root/usr/share/doc/dicom-courier" "$root/usr/lib/systemd/user" "$root/DEBIAN"
cp -r "$bundle" "$root/opt/dicom-courier"
ln -s /opt/dicom-courier/dicom-courier "$root/usr/bin/dicom-courier"
cp "$here/$app_id.desktop" "$root/usr/share/applications/"
cp "$here/$app_id.metainfo.xml" "$root/usr/share/metainfo/"
cp "$here/dicom-courier.service" "$root/usr/lib/systemd/user/"
icon=$(find "$bundle" -path '*icons/app.svg' | head -n 1)
cp "$icon" "$root/usr/share/icons/hicolor/scalable/apps/$app_id.svg"
cp "$here/copyright" "$root/usr/share/doc/dicom-courier/copyright"
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" \
  -e "s/@SIZE@/$(du -sk "$root" | cut -f1)/" "$here/control.in" > "$root/DEBIAN/control"
chmod -R u=rwX,go=rX "$root"

if command -v appstreamcli >/dev/null; then
  appstreamcli validate --no-net --pedantic "$root/usr/share/metainfo/$app_id.metainfo.xml"
fi
if command -v desktop-file-validate >/dev/null; then
  desktop-file-validate "$root/usr/share/applications/$app_id.desktop"
fi
dpkg-deb --root-owner-group -Zzstd -z6 --build "$root" "$out/dicom-courier_${version}_${arch}.deb" >/dev/null
