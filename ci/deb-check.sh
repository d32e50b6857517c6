#!/bin/sh
# ci/deb-check.sh — build the tcptake-dkms Debian package in a temporary
# copy of the tree (nothing lands in the repository) and check its
# contents. Installs the build dependencies when missing.
# Prints "deb-check: ok ..." or "deb-check: FAIL ..." last.
set -eu
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

fail() { echo "deb-check: FAIL: $*" >&2; exit 1; }

. ci/lib.sh
need=$(pkgs_missing dpkg-dev debhelper dh-dkms)
[ -z "$need" ] || [ "$(id -u)" = 0 ] || fail "missing$need (needs root to install)"
# shellcheck disable=SC2086 # a list of package names
apt_install deb-check $need

VER=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' dkms.conf)
UPSTREAM=$(dpkg-parsechangelog -S Version | sed 's/-[^-]*$//')
[ "$VER" = "$UPSTREAM" ] ||
	fail "dkms.conf version $VER differs from debian/changelog $UPSTREAM"

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
mkdir "$TMP/src"
cp -a debian Kbuild dkms.conf "$TMP/src/"
make -s -C kmod install-src DEST="$TMP/src"

if ! (cd "$TMP/src" && dpkg-buildpackage -us -uc -b) > "$TMP/build.log" 2>&1; then
	tail -n 40 "$TMP/build.log" >&2
	fail "dpkg-buildpackage"
fi
DEB=$(find "$TMP" -maxdepth 1 -name 'tcptake-dkms_*_all.deb' | head -n1)
[ -n "$DEB" ] || fail "no tcptake-dkms_*_all.deb"

dpkg-deb -c "$DEB" | awk '{print $6}' > "$TMP/contents"
D=./usr/src/tcptake-$VER
for f in dkms.conf Kbuild kmod/Kbuild kmod/Makefile kmod/compat.h \
	kmod/tcptake.h kmod/main.c kmod/netlink.c kmod/freeze.c \
	kmod/session.c kmod/probes/timer_delete_sync.c uapi/linux/tcptake.h; do
	grep -qx "$D/$f" "$TMP/contents" || fail "$D/$f missing from $(basename "$DEB")"
done
[ "$(dpkg-deb -f "$DEB" Architecture)" = all ] || fail "Architecture is not all"
dpkg-deb --fsys-tarfile "$DEB" | tar -xO "$D/dkms.conf" > "$TMP/dkms.conf"
grep -qx "PACKAGE_VERSION=\"$VER\"" "$TMP/dkms.conf" ||
	fail "dkms.conf in the package does not carry PACKAGE_VERSION=\"$VER\""
echo "deb-check: ok ($(basename "$DEB"), $(grep -c "^$D/" "$TMP/contents") entries)"
