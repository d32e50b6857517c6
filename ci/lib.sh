# shellcheck shell=sh
# ci/lib.sh — sourced by the CI scripts (POSIX sh): installing Debian
# packages, running commands in a chroot.

# pkgs_missing PKG...: prints those of the packages that are not installed.
pkgs_missing() {
	for _p in "$@"; do
		dpkg-query -W -f='${Status}' "$_p" 2>/dev/null | grep -q 'install ok installed' ||
			printf ' %s' "$_p"
	done
}

# apt_install WHO PKG...: apt-get update, then install the packages (none:
# nothing at all). Waits for another apt/dpkg (Lock::Timeout) instead of
# failing; INITRD=No: a kernel's postinst would otherwise build an initrd
# that is never booted (tens of seconds per kernel).
apt_install() {
	_who=$1
	shift
	[ $# -gt 0 ] || return 0
	echo "$_who: installing $*" >&2
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -qq
	DEBIAN_FRONTEND=noninteractive INITRD=No apt-get -o DPkg::Lock::Timeout=300 \
		install -y -qq --no-install-recommends "$@" >/dev/null
}

# in_root ROOT CMD...: CMD chrooted into ROOT, /proc mounted there in a
# private mount namespace (objtool and dpkg need it; the mount goes with
# the namespace, nothing stays mounted).
in_root() {
	# shellcheck disable=SC2016 # expanded by the inner shell
	unshare -m --propagation private sh -c \
		'r=$1; shift; mount -t proc proc "$r/proc" && exec chroot "$r" "$@"' \
		in_root "$@"
}
