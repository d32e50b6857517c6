#!/bin/sh
# Generate uapi/linux/tcptake.h from uapi/tcptake.yaml with the kernel's
# own YNL generator (tools/net/ynl/ynl-gen-c.py), which also validates the
# spec against the kernel's genetlink-legacy schema. The generator comes
# from Debian's linux-source-6.12; it is extracted once into out/ynl.
set -eu
cd "$(dirname "$0")/.."
KSRC_TAR=${KSRC_TAR:-$(ls /usr/src/linux-source-6.12*.tar.xz 2>/dev/null | head -n1)}
. ci/lib.sh
# shellcheck disable=SC2046 # a list of package names
apt_install ynl-gen $(pkgs_missing linux-source-6.12 python3-yaml python3-jsonschema)
[ -n "$KSRC_TAR" ] || KSRC_TAR=$(ls /usr/src/linux-source-6.12*.tar.xz | head -n1)

ynl=out/ynl
top=$(tar -tJf "$KSRC_TAR" 2>/dev/null | head -n1 | cut -d/ -f1)
if [ ! -f "$ynl/$top/tools/net/ynl/ynl-gen-c.py" ]; then
	mkdir -p "$ynl"
	tar -xJf "$KSRC_TAR" -C "$ynl" "$top/tools/net/ynl" "$top/Documentation/netlink/genetlink-legacy.yaml"
fi

# The generator finds the schema next to the spec's parent folder and
# names the spec relative to the folder holding MAINTAINERS.
stage=$ynl/stage
mkdir -p "$stage/uapi"
cp "$ynl/$top/Documentation/netlink/genetlink-legacy.yaml" "$stage/"
: >"$stage/MAINTAINERS"
cp uapi/tcptake.yaml "$stage/uapi/tcptake.yaml"
python3 "$ynl/$top/tools/net/ynl/ynl-gen-c.py" --mode uapi --header \
	--spec "$stage/uapi/tcptake.yaml" -o uapi/linux/tcptake.h
