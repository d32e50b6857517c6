#!/bin/sh
# ci/kernels.sh — the kernels the VM tier (ci/vmtest.sh) runs on.
#
#   ci/kernels.sh install   apt-get install the cloud kernels, their headers and
#                           the VM tooling (idempotent; apt-get update only when
#                           something is missing)
#   ci/kernels.sh list      print the newest installed release of each series
#                           that has both /boot/vmlinuz-$K and
#                           /usr/src/linux-headers-$K, one per line; exit 1
#                           (after printing the others) when a series has none
#
# Series: 6.1 (bookworm, linux-*-cloud-amd64) and 6.12 (bookworm-security,
# linux-*-6.12-cloud-amd64). The cloud flavour boots fastest under TCG (LZ4/
# ZSTD bzImage, few modules); see /work/shared/notes/vmtest.md.
set -eu

SERIES="6.1 6.12"

# Debian meta packages of a series; they pull the newest ABI's image+headers.
kernel_pkgs() {
	case "$1" in
	6.1)  echo linux-image-cloud-amd64 linux-headers-cloud-amd64 ;;
	6.12) echo linux-image-6.12-cloud-amd64 linux-headers-6.12-cloud-amd64 ;;
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

install() {
	want=$TOOL_PKGS
	for s in $SERIES; do want="$want $(kernel_pkgs "$s")"; done
	# shellcheck disable=SC2086
	missing=$(pkgs_missing $want)
	if [ -z "$missing" ]; then
		echo "kernels.sh: all packages installed" >&2
		return 0
	fi
	# shellcheck disable=SC2086
	apt_install kernels.sh $missing
}

# Newest release of series $1 with both an image and headers.
newest() {
	for img in /boot/vmlinuz-"$1".*-cloud-amd64; do
		[ -e "$img" ] || continue
		k=${img#/boot/vmlinuz-}
		[ -d "/usr/src/linux-headers-$k" ] && echo "$k"
	done | sort -V | tail -n 1
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
*)       echo "usage: $0 install|list" >&2; exit 2 ;;
esac
