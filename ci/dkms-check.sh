#!/bin/sh
# ci/dkms-check.sh — build tcptake.ko through DKMS for each supported kernel
# series (6.1 and 6.12, Debian cloud flavour), build only: the module is
# neither installed nor loaded. Installs dkms and missing kernel headers.
# Leaves nothing behind (dkms remove, /usr/src/tcptake-VER removed) and can
# be re-run. Prints "dkms-check: ok ..." or "dkms-check: FAIL ..." last.
set -eu
cd "$(dirname "$0")/.."

NAME=tcptake
VER=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' dkms.conf)
SRC=/usr/src/$NAME-$VER
export DEBIAN_FRONTEND=noninteractive

fail() { echo "dkms-check: FAIL: $*" >&2; exit 1; }
[ -n "$VER" ] || fail "no PACKAGE_VERSION in dkms.conf"
[ "$(id -u)" = 0 ] || fail "needs root (dkms, apt-get)"

# Newest installed headers of a series.
headers() {
	find /usr/src -maxdepth 1 -name "linux-headers-$1.*-cloud-amd64" |
		sed 's|/usr/src/linux-headers-||' | sort -V | tail -n1
}
pkgs() {
	case "$1" in
	6.1)  echo linux-headers-cloud-amd64 ;;
	6.12) echo linux-headers-6.12-cloud-amd64 ;;
	esac
}

need=""
command -v dkms >/dev/null || need="dkms"
for s in 6.1 6.12; do
	[ -n "$(headers "$s")" ] || need="$need $(pkgs "$s")"
done
. ci/lib.sh
# shellcheck disable=SC2086 # a list of package names
apt_install dkms-check $need

cleanup() {
	dkms remove -m "$NAME" -v "$VER" --all >/dev/null 2>&1 || true
	rm -rf "$SRC"
}
trap cleanup EXIT
cleanup

# The DKMS source tree, as the Debian package installs it.
make -s -C kmod install-src DEST="$SRC"
cp dkms.conf "$SRC/"

dkms add -m "$NAME" -v "$VER" >/dev/null || fail "dkms add"
built=""
for s in 6.1 6.12; do
	k=$(headers "$s")
	[ -n "$k" ] || fail "no linux-headers for $s"
	if ! dkms build -m "$NAME" -v "$VER" -k "$k" >/dev/null 2>&1; then
		log=/var/lib/dkms/$NAME/$VER/build/make.log
		[ -f "$log" ] && tail -n 30 "$log" >&2
		fail "dkms build for $k"
	fi
	ko=$(find "/var/lib/dkms/$NAME/$VER/$k" -name "$NAME.ko*" | head -n1)
	[ -n "$ko" ] || fail "no $NAME.ko for $k"
	case "$ko" in
	*.xz) xz -dc "$ko" > "${TMPDIR:-/tmp}/dkms-check.ko"; ko=${TMPDIR:-/tmp}/dkms-check.ko ;;
	*.zst) zstd -qdc "$ko" > "${TMPDIR:-/tmp}/dkms-check.ko"; ko=${TMPDIR:-/tmp}/dkms-check.ko ;;
	esac
	vm=$(modinfo -F vermagic "$ko" | cut -d' ' -f1)
	[ "$vm" = "$k" ] || fail "vermagic $vm, want $k"
	v=$(modinfo -F version "$ko")
	[ "$v" = "$VER" ] || fail "module version $v, want $VER"
	rm -f "${TMPDIR:-/tmp}/dkms-check.ko"
	built="$built $k"
done

# sid's 7.x headers need sid's compiler, which the host's dkms cannot use:
# the same source tree is built as DKMS builds it (make -C headers M=tree,
# from the tree's root Kbuild) inside the sid chroot, when it exists
# (ci/kernels.sh install makes it).
for k in $(ci/kernels.sh list 2>/dev/null); do
	r=$(ci/kernels.sh root "$k") && [ "$r" != / ] || continue
	t=/var/tmp/tcptake-dkms-check
	rm -rf "$r$t"
	cp -a "$SRC" "$r$t"
	if ! ci/kernels.sh run "$k" make -C "/usr/src/linux-headers-$k" M="$t" \
		modules >"$r$t.log" 2>&1; then
		tail -n 30 "$r$t.log" >&2
		fail "DKMS tree build for $k (in $r)"
	fi
	v=$(modinfo -F version "$r$t/kmod/$NAME.ko")
	vm=$(modinfo -F vermagic "$r$t/kmod/$NAME.ko" | cut -d' ' -f1)
	rm -rf "$r$t" "$r$t.log"
	[ "$vm" = "$k" ] || fail "vermagic $vm, want $k"
	[ "$v" = "$VER" ] || fail "module version $v, want $VER"
	built="$built $k(tree)"
done
echo "dkms-check: ok ($NAME $VER built for$built)"
