#!/bin/sh
# ci/kernels.sh — the kernels the VM tier (ci/vmtest.sh) runs on.
#
#   ci/kernels.sh install   apt-get install the cloud kernels, their headers and
#                           the VM tooling (idempotent; apt-get update only when
#                           something is missing)
#   ci/kernels.sh list      print the newest installed release of each series
#                           that has both an image and headers, one per
#                           line; exit 1 (after printing the others) when a
#                           series has none
#   ci/kernels.sh root K    print the root directory K lives in: / for the
#                           host's kernels, the sid chroot for sid's. Its
#                           image is ROOT/boot/vmlinuz-K or
#                           ROOT/usr/lib/modules/K/vmlinuz, its headers
#                           ROOT/usr/src/linux-headers-K, and a module for it
#                           is built inside ROOT (with the compiler the
#                           headers pin)
#   ci/kernels.sh image K   print the path of K's bzImage
#   ci/kernels.sh run K CMD...  run CMD where K's headers live: on the host,
#                           or chrooted into the sid chroot (with /proc, in
#                           a private mount namespace that goes with it)
#
# Series: 6.1 (bookworm, linux-*-cloud-amd64), 6.12 (bookworm-security,
# linux-*-6.12-cloud-amd64) and sid (Debian unstable's cloud kernel, 7.x,
# in a chroot: its headers need sid's gcc). The cloud flavour boots fastest
# under TCG (LZ4/ZSTD bzImage, few modules); see
# /work/shared/notes/vmtest.md and kernels.md.
#
# The sid chroot is $TCPTAKE_CACHE/sid-root (default /var/cache/tcptake),
# made once by debootstrap (~80 s, ~150 MB download, ~700 MB on disk) and
# then reused as is; KERNELS_SID_UPDATE=1 upgrades it to sid's current
# kernel. sid's Release is often past its Valid-Until on the mirrors, so
# apt in the chroot runs with Acquire::Check-Valid-Until=false.
set -eu

SERIES="6.1 6.12 sid"
CACHE=${TCPTAKE_CACHE:-/var/cache/tcptake}
SID_ROOT=$CACHE/sid-root
SID_MIRROR=${KERNELS_SID_MIRROR:-http://deb.debian.org/debian}
# In the chroot: sid's cloud kernel (image and headers, which pull gcc-N and
# pahole), make for kbuild, xz for the module's compression.
SID_PKGS="linux-image-cloud-amd64 linux-headers-cloud-amd64 make xz-utils"

# Debian meta packages of a series; they pull the newest ABI's image+headers.
kernel_pkgs() {
	case "$1" in
	6.1)  echo linux-image-cloud-amd64 linux-headers-cloud-amd64 ;;
	6.12) echo linux-image-6.12-cloud-amd64 linux-headers-6.12-cloud-amd64 ;;
	sid)  echo debootstrap ;;
	*)    echo "kernels.sh: unknown series $1" >&2; return 1 ;;
	esac
}

# What the harness needs besides the kernels: qemu, the initramfs userland
# (busybox-static, cpio), module decompression (xz, zstd), modprobe to
# resolve veth's dependencies, gcc-12 + make for kbuild (Debian's headers pin
# CC=gcc-12), libc6-dev for the static C selftests.
TOOL_PKGS="qemu-system-x86 busybox-static cpio xz-utils zstd kmod make gcc-12 libc6-dev"

# shellcheck source=ci/lib.sh
. "$(dirname "$0")/lib.sh"

# sid_apt ROOT ARGS...: apt-get in the chroot.
sid_apt() {
	_r=$1
	shift
	DEBIAN_FRONTEND=noninteractive INITRD=No in_root "$_r" apt-get -qq \
		-o Acquire::Check-Valid-Until=false "$@" >/dev/null
}

sid_install() {
	if [ -f "$SID_ROOT/.tcptake-ready" ] && [ "${KERNELS_SID_UPDATE:-}" != 1 ]; then
		return 0
	fi
	if [ ! -f "$SID_ROOT/.tcptake-ready" ]; then
		echo "kernels.sh: creating the sid chroot $SID_ROOT (debootstrap)" >&2
		new=$SID_ROOT.new
		rm -rf "$new"
		mkdir -p "$CACHE"
		debootstrap --variant=minbase sid "$new" "$SID_MIRROR" >"$CACHE/debootstrap.log" 2>&1 || {
			tail -n 20 "$CACHE/debootstrap.log" >&2
			return 1
		}
	else
		new=$SID_ROOT
	fi
	sid_root=$new
	# shellcheck disable=SC2086
	sid_apt_run update && sid_apt_run install -y --no-install-recommends $SID_PKGS &&
		sid_apt_run upgrade -y --no-install-recommends || return 1
	sid_apt_run clean
	[ "$new" = "$SID_ROOT" ] || { rm -rf "$SID_ROOT" && mv "$new" "$SID_ROOT"; }
	echo "$SID_PKGS" >"$SID_ROOT/.tcptake-ready"
}
sid_apt_run() { sid_apt "$sid_root" "$@"; }

install() {
	want=$TOOL_PKGS
	for s in $SERIES; do want="$want $(kernel_pkgs "$s")"; done
	# shellcheck disable=SC2086
	missing=$(pkgs_missing $want)
	if [ -z "$missing" ]; then
		echo "kernels.sh: all packages installed" >&2
	else
		# shellcheck disable=SC2086
		apt_install kernels.sh $missing
	fi
	sid_install
}

# Newest release of series $1 with both an image and headers.
newest() {
	if [ "$1" = sid ]; then
		for img in "$SID_ROOT"/usr/lib/modules/*/vmlinuz "$SID_ROOT"/boot/vmlinuz-*; do
			[ -e "$img" ] || continue
			k=${img%/vmlinuz}
			k=${k##*/}
			k=${k#vmlinuz-}
			[ -d "$SID_ROOT/usr/src/linux-headers-$k" ] && echo "$k"
		done | sort -uV | tail -n 1
		return
	fi
	for img in /boot/vmlinuz-"$1".*-cloud-amd64; do
		[ -e "$img" ] || continue
		k=${img#/boot/vmlinuz-}
		[ -d "/usr/src/linux-headers-$k" ] && echo "$k"
	done | sort -V | tail -n 1
}

root() {
	if [ -d "/usr/src/linux-headers-$1" ]; then
		echo /
	elif [ -d "$SID_ROOT/usr/src/linux-headers-$1" ]; then
		echo "$SID_ROOT"
	else
		echo "kernels.sh: no headers for $1" >&2
		return 1
	fi
}

image() {
	r=$(root "$1") || return 1
	for img in "$r/boot/vmlinuz-$1" "$r/usr/lib/modules/$1/vmlinuz"; do
		[ -r "$img" ] && { echo "$img" | sed 's|^//|/|'; return 0; }
	done
	echo "kernels.sh: no image for $1" >&2
	return 1
}

list() {
	rc=0
	for s in $SERIES; do
		k=$(newest "$s")
		if [ -n "$k" ]; then
			echo "$k"
		else
			echo "kernels.sh: no $s cloud kernel with headers installed (run: ci/kernels.sh install)" >&2
			rc=1
		fi
	done
	return $rc
}

case "${1:-}" in
install) install ;;
list)    list ;;
root)    root "$2" ;;
run)
	k=$2
	shift 2
	r=$(root "$k")
	if [ "$r" = / ]; then exec "$@"; fi
	in_root "$r" "$@"
	;;
image)   image "$2" ;;
*)       echo "usage: $0 install|list|root K|image K|run K CMD..." >&2; exit 2 ;;
esac
