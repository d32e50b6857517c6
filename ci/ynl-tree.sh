#!/bin/sh
# ci/ynl-tree.sh — the kernel's YNL tooling (tools/net/ynl and
# Documentation/netlink, the schemas) out of a Debian linux-source package,
# extracted once and cached; prints the directory holding the two.
#
# usage: ci/ynl-tree.sh 7.2|6.12
#   7.2   sid's linux-source-7.2 at $YNL_PIN (default 7.2.13-1), through
#         the sid chroot of ci/kernels.sh; when sid no longer carries it,
#         the newest, with a warning. The code generator (ci/ynl-gen.sh)
#         and the YNL VM test use it: tools/net/ynl/pyynl/cli.py.
#   6.12  bookworm-security's linux-source-6.12, the version installed or
#         else the candidate (apt-get download; nothing is installed):
#         the cli of a bookworm system, tools/net/ynl/cli.py.
# Cached in $TCPTAKE_CACHE (default /var/cache/tcptake)/ynl-VERSION, with
# the .deb's file name in FROM.
set -eu
cd "$(dirname "$0")/.."
CACHE=${TCPTAKE_CACHE:-/var/cache/tcptake}
# shellcheck source=ci/lib.sh
. ci/lib.sh
series=${1:?usage: ci/ynl-tree.sh 7.2|6.12}

# extract DIR FROM: tools/net/ynl and Documentation/netlink of the
# linux-source tarball (.tar.xz) on stdin into DIR; FROM names the source.
extract() {
	rm -rf "$1.tmp"
	mkdir -p "$1.tmp"
	xz -dc | tar -x -C "$1.tmp" --strip-components=1 --wildcards \
		"linux-source-$series/tools/net/ynl" "linux-source-$series/Documentation/netlink"
	echo "$2" >"$1.tmp/FROM"
	rm -rf "$1"
	mv "$1.tmp" "$1"
}
# from_deb DEB: the source tarball inside DEB, on stdout.
from_deb() {
	dpkg-deb --fsys-tarfile "$1" | tar -xO "./usr/src/linux-source-$series.tar.xz"
}

case $series in
7.2)
	ver=${YNL_PIN:-7.2.13-1}
	dir=$CACHE/ynl-$ver
	[ -f "$dir/FROM" ] && { echo "$dir"; exit 0; }
	# shellcheck disable=SC2046 # a list of package names
	apt_install ynl-tree $(pkgs_missing xz-utils)
	ci/kernels.sh install >/dev/null
	root=$CACHE/sid-root
	dl=/var/tmp/ynl-tree
	rm -rf "$root$dl"
	mkdir -p "$root$dl"
	apt_sid() {
		chroot "$root" sh -c "cd $dl && apt-get -qq -o Acquire::Check-Valid-Until=false $*"
	}
	if ! apt_sid download "linux-source-7.2=$ver" >/dev/null 2>&1; then
		echo "ynl-tree: WARNING: linux-source-7.2 $ver is gone from sid; using the newest" >&2
		apt_sid update >/dev/null
		apt_sid download linux-source-7.2 >/dev/null
	fi
	deb=$(ls "$root$dl"/linux-source-7.2_*.deb)
	from_deb "$deb" | extract "$dir" "$(basename "$deb")"
	rm -rf "$root$dl"
	;;
6.12)
	ver=$(dpkg-query -W -f='${Version}' linux-source-6.12 2>/dev/null) || ver=
	if [ -z "$ver" ]; then
		# shellcheck disable=SC2046
		apt_install ynl-tree $(pkgs_missing xz-utils)
		ver=$(apt-cache policy linux-source-6.12 | sed -n 's/^ *Candidate: //p')
	fi
	if [ -z "$ver" ] || [ "$ver" = "(none)" ]; then
		echo "ynl-tree: no linux-source-6.12 in apt" >&2
		exit 1
	fi
	dir=$CACHE/ynl-$ver
	[ -f "$dir/FROM" ] && { echo "$dir"; exit 0; }
	if dpkg-query -W -f='${Status}' linux-source-6.12 2>/dev/null | grep -q 'install ok installed'; then
		# Installed (the debug kernel's source): no download.
		extract "$dir" "linux-source-6.12 $ver" </usr/src/linux-source-6.12.tar.xz
	else
		dl=$(mktemp -d)
		trap 'rm -rf "$dl"' EXIT
		(cd "$dl" && apt-get -qq download "linux-source-6.12=$ver") >/dev/null
		from_deb "$dl"/linux-source-6.12_*.deb | extract "$dir" "linux-source-6.12 $ver"
	fi
	;;
*)
	echo "ynl-tree: unknown series $series (7.2 or 6.12)" >&2
	exit 2
	;;
esac
echo "$dir"
