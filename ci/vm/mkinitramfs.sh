#!/bin/sh
# ci/vm/mkinitramfs.sh — pack the test VM's initramfs.
#
# usage: mkinitramfs.sh -k KVER [-r ROOT] -o OUT.cpio.gz [-i INIT] [-m MOD]...
#                       [-K FILE.ko]... [-s PROG]... [-f SRC:DEST]... [-d DIR]...
#   -k KVER   kernel release the image boots (in-tree modules come from
#             ROOT/lib/modules/KVER)
#   -r ROOT   root directory holding the kernel's modules (default /; the
#             sid chroot for sid's kernel)
#   -i INIT   the image's /init (default ci/vm/init, the test run)
#   -m MOD    in-tree module to load (dependencies resolved with modprobe;
#             nothing is added when the flavour has it built in)
#   -K FILE   out-of-tree module to load, after the in-tree ones
#   -s PROG   kselftest program, copied to /selftests and run in this order
#   -f S:D    any other file, copied to D
#   -d DIR    a tree merged into the root as it is (links, modes)
# The image holds busybox-static with one link per applet, INIT as /init,
# the modules in /lib/modules (decompressed: busybox insmod hands the raw
# bytes to init_module(2)) and /lib/modules/load-order. It is a
# reproducible cpio newc owned by root; no root privileges are needed.
set -eu

die() {
	echo "mkinitramfs: $*" >&2
	exit 1
}

KVER='' ROOT=/ OUT='' INIT='' MODS='' KOS='' PROGS='' FILES='' DIRS=''
while getopts k:r:o:i:m:K:s:f:d: opt; do
	case $opt in
	k) KVER=$OPTARG ;;
	r) ROOT=$OPTARG ;;
	o) OUT=$OPTARG ;;
	i) INIT=$OPTARG ;;
	m) MODS="$MODS $OPTARG" ;;
	K) KOS="$KOS $OPTARG" ;;
	s) PROGS="$PROGS $OPTARG" ;;
	f) FILES="$FILES $OPTARG" ;;
	d) DIRS="$DIRS $OPTARG" ;;
	*) die "bad option (see the header of $0)" ;;
	esac
done
if [ -z "$KVER" ] || [ -z "$OUT" ]; then
	die "-k KVER and -o OUT are required"
fi

HERE=$(cd "$(dirname "$0")" && pwd)
ST=$(mktemp -d)
trap 'rm -rf "$ST"' EXIT
mkdir -p "$ST/bin" "$ST/proc" "$ST/sys" "$ST/dev" "$ST/tmp" "$ST/lib/modules" "$ST/selftests"

cp /bin/busybox "$ST/bin/busybox"
# Debian's applet list includes "busybox" itself; linking it would replace
# the binary with a symlink loop (the kernel then fails /init with ELOOP).
for a in $(/bin/busybox --list); do
	[ "$a" = busybox ] || ln -s busybox "$ST/bin/$a"
done
cp "${INIT:-$HERE/init}" "$ST/init"
chmod 755 "$ST/init"

order=$ST/lib/modules/load-order
: >"$order"
add_module() { # add_module PATH
	name=$(basename "$1")
	name=${name%.xz} name=${name%.zst} name=${name%.gz}
	grep -qx "$name" "$order" && return 0
	case $1 in
	*.ko.xz)  xz -dc "$1" >"$ST/lib/modules/$name" ;;
	*.ko.zst) zstd -qdc "$1" >"$ST/lib/modules/$name" ;;
	*.ko.gz)  gzip -dc "$1" >"$ST/lib/modules/$name" ;;
	*.ko)     cp "$1" "$ST/lib/modules/$name" ;;
	*)        die "not a module: $1" ;;
	esac
	echo "$name" >>"$order"
}
for m in $MODS; do
	# "insmod PATH" per module in dependency order, "builtin NAME" when =y.
	deps=$(modprobe -d "$ROOT" -S "$KVER" --show-depends "$m") || die "modprobe cannot resolve $m for $KVER"
	for ko in $(echo "$deps" | awk '$1 == "insmod" { print $2 }'); do
		add_module "$ko"
	done
done
for ko in $KOS; do
	[ -f "$ko" ] || die "missing module $ko"
	add_module "$ko"
done

: >"$ST/selftests/run-order"
for p in $PROGS; do
	[ -x "$p" ] || die "missing selftest program $p"
	cp "$p" "$ST/selftests/"
	basename "$p" >>"$ST/selftests/run-order"
done
for f in $FILES; do
	src=${f%%:*} dst=${f#*:}
	[ -f "$src" ] || die "missing file $src"
	mkdir -p "$ST$(dirname "$dst")"
	cp "$src" "$ST$dst"
done
for d in $DIRS; do
	[ -d "$d" ] || die "missing tree $d"
	cp -a "$d/." "$ST/"
done

(cd "$ST" && find . -mindepth 1 | LC_ALL=C sort |
	cpio --quiet -o -H newc -R 0:0 --reproducible) | gzip -1 -n >"$OUT"
echo "mkinitramfs: $OUT ($(($(stat -c %s "$OUT") / 1024)) KiB), modules: $(tr '\n' ' ' <"$order")" >&2
