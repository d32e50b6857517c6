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

# kmod_build K ROOT HDR D [MAKE_ARGS...]: build the module ($KMOD, default
# kmod/, with uapi/) for kernel K against its headers HDR (a path inside
# ROOT: / for the host's kernels, the sid chroot for sid's, where it is
# built with `ci/kernels.sh run K`, sid's compiler), with W=1, in a copy
# (nothing is built in the source tree): D/tcptake.ko, the log in
# D/kmod-build.log. Returns 1 (log printed) when it does not build, 2
# (warnings printed) when it builds with warnings.
kmod_build() {
	_k=$1 _root=$2 _hdr=$3 _d=$4
	shift 4
	if [ "$_root" = / ]; then
		_bdir=$_d/build _cb=$_d/build
	else
		_bdir=$_root/var/tmp/tcptake-kmod _cb=/var/tmp/tcptake-kmod
	fi
	rm -rf "$_bdir"
	mkdir -p "$_bdir"
	cp -r "${KMOD:-kmod}" "$_bdir/kmod"
	cp -r uapi "$_bdir/uapi"
	# kmod/Kbuild takes the module version from ../dkms.conf outside git.
	[ ! -f dkms.conf ] || cp dkms.conf "$_bdir/"
	# Debian's 6.1 headers ship no vmlinux, so module BTF can only be
	# skipped with a warning: turn it off. 6.12's headers have one.
	_btf=
	[ -f "$_root$_hdr/vmlinux" ] || _btf=CONFIG_DEBUG_INFO_BTF_MODULES=
	_run=
	[ "$_root" = / ] || _run="ci/kernels.sh run $_k"
	# shellcheck disable=SC2086 # word splitting wanted
	if ! $_run make -C "$_hdr" M="$_cb/kmod" W=1 $_btf "$@" modules >"$_d/kmod-build.log" 2>&1 ||
		! cp "$_bdir/kmod/tcptake.ko" "$_d/tcptake.ko"; then
		cat "$_d/kmod-build.log"
		return 1
	fi
	if grep -E 'warning:|error:' "$_d/kmod-build.log" | sed "s|^|$_k: build: |" | grep .; then
		return 2
	fi
}

# stage_libs ROOT FILE...: copy the shared libraries the ELF FILEs need
# (and the loader) into ROOT, at the paths ldd resolves.
stage_libs() {
	_root=$1
	shift
	for _f in "$@"; do
		ldd "$_f" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'
	done | sort -u | while read -r _lib; do
		cp -L --parents "$_lib" "$_root/"
	done
}
