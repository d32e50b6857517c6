#!/bin/sh
# ci/ynl-gen.sh — generate from uapi/tcptake.yaml, with the kernel's own YNL
# generator (ynl_gen_c.py, which also validates the spec against the
# kernel's genetlink-legacy schema):
#   uapi/linux/tcptake.h                 --mode uapi
#   kmod/netlink-gen.h, kmod/netlink-gen.c  --mode kernel: the policies
#                                        (const range tables) and the
#                                        genl_split_ops table
#
# The generator is pinned: tools/net/ynl of Debian's linux-source-7.2 at
# $YNL_PIN (6.12's generator cannot do a binary max-len in kernel mode).
# The package comes from sid, through the sid chroot that ci/kernels.sh
# install makes; the extract (tools/net/ynl and Documentation/netlink) is
# cached in $TCPTAKE_CACHE/ynl-$YNL_PIN. When sid no longer carries the
# pinned version, the newest linux-source-7.2 is used with a warning:
# make check-generated still fails if its output differs.
set -eu
cd "$(dirname "$0")/.."
YNL_PIN=${YNL_PIN:-7.2.13-1}
CACHE=${TCPTAKE_CACHE:-/var/cache/tcptake}
. ci/lib.sh
# shellcheck disable=SC2046 # a list of package names
apt_install ynl-gen $(pkgs_missing python3-yaml python3-jsonschema xz-utils)

ynl=$CACHE/ynl-$YNL_PIN
if [ ! -f "$ynl/tools/net/ynl/pyynl/ynl_gen_c.py" ]; then
	ci/kernels.sh install >/dev/null
	root=$CACHE/sid-root
	dl=/var/tmp/ynl-gen
	rm -rf "$root$dl"
	mkdir -p "$root$dl"
	apt_sid() {
		chroot "$root" sh -c "cd $dl && apt-get -qq -o Acquire::Check-Valid-Until=false $*"
	}
	if ! apt_sid download "linux-source-7.2=$YNL_PIN" >/dev/null 2>&1; then
		echo "ynl-gen: WARNING: linux-source-7.2 $YNL_PIN is gone from sid; using the newest" >&2
		apt_sid update >/dev/null
		apt_sid download linux-source-7.2 >/dev/null
	fi
	deb=$(ls "$root$dl"/linux-source-7.2_*.deb)
	rm -rf "$ynl.tmp"
	mkdir -p "$ynl.tmp"
	dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/src/linux-source-7.2.tar.xz | xz -dc |
		tar -x -C "$ynl.tmp" --strip-components=1 --wildcards \
			'linux-source-7.2/tools/net/ynl' 'linux-source-7.2/Documentation/netlink'
	basename "$deb" >"$ynl.tmp/FROM"
	rm -rf "$root$dl" "$ynl"
	mv "$ynl.tmp" "$ynl"
fi

# The generator finds the schema next to the spec's parent folder and
# names the spec relative to the folder holding MAINTAINERS.
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/uapi"
cp "$ynl/Documentation/netlink/genetlink-legacy.yaml" "$stage/"
: >"$stage/MAINTAINERS"
cp uapi/tcptake.yaml "$stage/uapi/tcptake.yaml"
gen() {
	python3 "$ynl/tools/net/ynl/pyynl/ynl_gen_c.py" --spec "$stage/uapi/tcptake.yaml" "$@"
}
gen --mode uapi --header -o uapi/linux/tcptake.h
gen --mode kernel --header -o kmod/netlink-gen.h
gen --mode kernel --source -o kmod/netlink-gen.c
