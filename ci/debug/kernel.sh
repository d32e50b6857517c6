#!/bin/sh
# ci/debug/kernel.sh — the debug kernel of `make vmtest-debug`: Debian's
# linux-source-6.12 built with KASAN, lockdep, kmemleak, UBSAN and
# PROVE_RCU (ci/debug/kernel.config), cached outside the checkout.
#
#   ci/debug/kernel.sh build    build it unless the cache has it (~15 min of
#                               both cores under TCG-free gcc-12; prints the
#                               cache directory last)
#   ci/debug/kernel.sh path     print the cache directory when the kernel is
#                               built; exit 1 otherwise
#
# Cache: $TCPTAKE_CACHE/debug-kernel/<key> (default /var/cache/tcptake),
# key = linux-source version + sha256 of kernel.config + RECIPE (bump it when
# a change to this script changes the kernel it builds).
# It holds vmlinux (PVH boot), bzImage, the .config and build/, an external
# module build tree (scripts/package/install-extmod-build). The source is
# unpacked into a scratch directory and removed afterwards.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${TCPTAKE_CACHE:-/var/cache/tcptake}/debug-kernel
CONFIG=$HERE/kernel.config
RECIPE=1

# shellcheck source=ci/lib.sh
. "$HERE/../lib.sh"

key() {
	ver=$(dpkg-query -W -f='${Version}' linux-source-6.12 2>/dev/null) || return 1
	sum=$({ cat "$CONFIG"; echo "recipe $RECIPE"; } | sha256sum | cut -c1-16)
	echo "6.12-$ver-$sum" | tr '~:+' '---'
}

path() {
	k=$(key) || return 1
	[ -f "$CACHE/$k/done" ] || return 1
	echo "$CACHE/$k"
}

build() {
	# shellcheck disable=SC2046 # a list of package names
	apt_install debug-kernel $(pkgs_missing linux-source-6.12 bc bison flex \
		libelf-dev libssl-dev dwarves cpio gcc-12 make xz-utils rsync)
	if d=$(path); then
		echo "debug-kernel: cached: $d" >&2
		echo "$d"
		return 0
	fi
	k=$(key)
	dst=$CACHE/$k
	work=$CACHE/work-$k
	rm -rf "$work" "$dst"
	mkdir -p "$work"
	s=$(date +%s)
	tar -xJf /usr/src/linux-source-6.12.tar.xz -C "$work"
	src=$work/linux-source-6.12
	obj=$work/obj
	mk() { nice -n 19 make -s -C "$src" O="$obj" ARCH=x86_64 CC=gcc-12 HOSTCC=gcc-12 "$@"; }
	mk allnoconfig >/dev/null
	args=
	opts=$(grep -v '^#' "$CONFIG" | grep .)
	for o in $opts; do
		case ${o#*=} in
		y) args="$args -e ${o%%=*}" ;;
		n) args="$args -d ${o%%=*}" ;;
		*) args="$args --set-val ${o%%=*} ${o#*=}" ;;
		esac
	done
	# shellcheck disable=SC2086
	"$src/scripts/config" --file "$obj/.config" $args
	mk olddefconfig >/dev/null
	# Options olddefconfig dropped (an unmet dependency) fail the build
	# here rather than silently giving a kernel without a detector.
	bad=
	for o in $opts; do
		want=${o#*=} name=CONFIG_${o%%=*}
		if [ "$want" = n ]; then
			grep -q "^$name=" "$obj/.config" && bad="$bad $o"
		else
			grep -qx "$name=$want" "$obj/.config" || bad="$bad $o"
		fi
	done
	if [ -n "$bad" ]; then
		echo "debug-kernel: olddefconfig dropped:$bad" >&2
		return 1
	fi
	jobs=$(nproc)
	mk -j"$jobs" bzImage modules
	mkdir -p "$dst.tmp"
	rm -rf "$dst.tmp"/*
	cp "$obj/vmlinux" "$obj/arch/x86/boot/bzImage" "$obj/.config" "$dst.tmp/"
	# An external-module build tree, as Debian's headers packages hold.
	(cd "$obj" && MAKE=make srctree="$src" srcarch=x86 SRCARCH=x86 \
		CC=gcc-12 HOSTCC=gcc-12 \
		"$src/scripts/package/install-extmod-build" "$dst.tmp/build")
	kver=$(cat "$obj/include/config/kernel.release")
	echo "$kver" >"$dst.tmp/release"
	mv "$dst.tmp" "$dst"
	rm -rf "$work"
	echo "built in $(($(date +%s) - s))s" >"$dst/done"
	echo "debug-kernel: built $kver in $(($(date +%s) - s))s: $dst" >&2
	echo "$dst"
}

case "${1:-}" in
build) build ;;
path)  path ;;
*)     echo "usage: $0 build|path" >&2; exit 2 ;;
esac
