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
# ci/ynl-tree.sh fetches it from sid (through the sid chroot of
# ci/kernels.sh) and caches the extract in $TCPTAKE_CACHE/ynl-$YNL_PIN.
# When sid no longer carries the pinned version, the newest
# linux-source-7.2 is used with a warning: make check-generated still fails
# if its output differs.
set -eu
cd "$(dirname "$0")/.."
. ci/lib.sh
# shellcheck disable=SC2046 # a list of package names
apt_install ynl-gen $(pkgs_missing python3-yaml python3-jsonschema)

ynl=$(ci/ynl-tree.sh 7.2)

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
