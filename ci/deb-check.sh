#!/bin/sh
# ci/deb-check.sh — build the Debian packages tcptake-dkms (module source)
# and tcptake (tcptakectl, its man page and completions, streamd and the
# keepalived notify script, the example keepalived.conf) in a temporary
# copy of the tree (nothing lands in the repository), check their contents,
# and install both with apt in a clean Debian 12 root, where tcptakectl,
# streamd and the notify script must run; then purge them there. Installs
# the build dependencies and debootstrap when missing; Go (1.26, not
# Debian's) is GO, else go on the PATH, else /usr/local/go/bin/go. Needs
# root (the chroot). Prints "deb-check: ok ..." or "deb-check: FAIL ..." last.
#
# The clean root: Debian 12 minbase made once by debootstrap (~1 min, ~80 MB
# download) in $TCPTAKE_CACHE/bookworm-root (default /var/cache/tcptake)
# with the .debs of dkms and its dependencies already downloaded, so that
# apt in it installs without the network; each check copies it and installs
# into the copy. rm -rf it to make it anew (DEB_CHECK_MIRROR: the mirror).
set -eu
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

fail() { echo "deb-check: FAIL: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || fail "run as root (packages, the chroot)"
. ci/lib.sh
# shellcheck disable=SC2046 # a list of package names
apt_install deb-check $(pkgs_missing dpkg-dev debhelper dh-dkms man-db debootstrap)
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
[ -x "$GO" ] || fail "no Go toolchain (set GO)"
export GO
CACHE=${TCPTAKE_CACHE:-/var/cache/tcptake}
BASE=$CACHE/bookworm-root

VER=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' dkms.conf)
FULL=$(dpkg-parsechangelog -S Version)
UPSTREAM=${FULL%-*}
[ "$VER" = "$UPSTREAM" ] ||
	fail "dkms.conf version $VER differs from debian/changelog $UPSTREAM"

# make_base: $BASE, unless it is there; the caller holds the lock.
make_base() {
	[ ! -f "$BASE/.tcptake-ready" ] || return 0
	echo "deb-check: creating the clean root $BASE (debootstrap bookworm)" >&2
	new=$BASE.new
	rm -rf "$new"
	debootstrap --variant=minbase bookworm "$new" "${DEB_CHECK_MIRROR:-http://deb.debian.org/debian}" \
		>"$CACHE/bookworm-debootstrap.log" 2>&1 || {
		tail -n 20 "$CACHE/bookworm-debootstrap.log" >&2
		return 1
	}
	# A root that lives for one check: dpkg need not fsync.
	echo force-unsafe-io >"$new/etc/dpkg/dpkg.cfg.d/tcptake-unsafe-io"
	in_root "$new" apt-get -qq clean && in_root "$new" apt-get -qq update &&
		in_root "$new" apt-get -qq install -y --no-install-recommends --download-only dkms >/dev/null ||
		return 1
	date -u >"$new/.tcptake-ready"
	mv "$new" "$BASE"
}

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# The tree as git sees it: tracked and new files, no build outputs.
mkdir "$TMP/src"
git ls-files -z --cached --others --exclude-standard |
	tar --null --ignore-failed-read -T - -cf - 2>/dev/null | tar -xf - -C "$TMP/src"

if ! (cd "$TMP/src" && dpkg-buildpackage -us -uc -b) > "$TMP/build.log" 2>&1; then
	tail -n 40 "$TMP/build.log" >&2
	fail "dpkg-buildpackage"
fi

# tcptake-dkms: the module source at /usr/src/tcptake-VER.
DEB=$(find "$TMP" -maxdepth 1 -name 'tcptake-dkms_*_all.deb' | head -n1)
[ -n "$DEB" ] || fail "no tcptake-dkms_*_all.deb"
dpkg-deb -c "$DEB" | awk '{print $6}' > "$TMP/contents"
D=./usr/src/tcptake-$VER
for f in dkms.conf Kbuild kmod/Kbuild kmod/Makefile kmod/compat.h \
	kmod/tcptake.h kmod/main.c kmod/netlink.c kmod/freeze.c \
	kmod/session.c kmod/probes/timer_delete_sync.c uapi/linux/tcptake.h; do
	grep -qx "$D/$f" "$TMP/contents" || fail "$D/$f missing from $(basename "$DEB")"
done
[ "$(dpkg-deb -f "$DEB" Architecture)" = all ] || fail "Architecture is not all"
dpkg-deb --fsys-tarfile "$DEB" | tar -xO "$D/dkms.conf" > "$TMP/dkms.conf"
grep -qx "PACKAGE_VERSION=\"$VER\"" "$TMP/dkms.conf" ||
	fail "dkms.conf in the package does not carry PACKAGE_VERSION=\"$VER\""
DKMS_ENTRIES=$(grep -c "^$D/" "$TMP/contents")

# tcptake: exactly these files.
ARCH=$(dpkg --print-architecture)
CTLDEB=$(find "$TMP" -maxdepth 1 -name "tcptake_*_$ARCH.deb" | head -n1)
[ -n "$CTLDEB" ] || fail "no tcptake_*_$ARCH.deb"
dpkg-deb -c "$CTLDEB" | awk '$1 !~ /^d/ {print $6}' | sort > "$TMP/ctl-contents"
sort > "$TMP/ctl-want" <<-EOT
	./usr/bin/tcptakectl
	./usr/lib/tcptake/streamd
	./usr/lib/tcptake/tcptake-notify
	./usr/share/bash-completion/completions/tcptakectl
	./usr/share/doc/tcptake/README.md.gz
	./usr/share/doc/tcptake/changelog.Debian.gz
	./usr/share/doc/tcptake/copyright
	./usr/share/doc/tcptake/examples/keepalived.conf
	./usr/share/doc/tcptake/examples/tcptake-notify
	./usr/share/doc/tcptake/failover.md.gz
	./usr/share/doc/tcptake/ha.md.gz
	./usr/share/man/man8/tcptakectl.8.gz
	./usr/share/zsh/vendor-completions/_tcptakectl
EOT
diff -u "$TMP/ctl-want" "$TMP/ctl-contents" >&2 ||
	fail "$(basename "$CTLDEB") holds other files than these"

# Both packages with apt (dkms comes from the root's cache) in a copy of the
# clean root. No kernel headers there: dkms adds the module and builds it
# for no kernel, the install succeeds.
mkdir -p "$CACHE"
exec 9>"$CACHE/bookworm-root.lock"
flock 9
make_base || fail "could not make the clean root $BASE"
ROOT=$TMP/root
cp -a "$BASE" "$ROOT"
flock -u 9
cp "$DEB" "$CTLDEB" "$ROOT/tmp/"
in_root "$ROOT" apt-get install -y --no-install-recommends \
	"/tmp/$(basename "$DEB")" "/tmp/$(basename "$CTLDEB")" >"$TMP/install.log" 2>&1 || {
	tail -n 30 "$TMP/install.log" >&2
	fail "apt-get install of both packages in a clean Debian 12 root"
}
for p in tcptake tcptake-dkms; do
	# shellcheck disable=SC2016 # dpkg-query's fields
	st=$(chroot "$ROOT" dpkg-query -W -f='${Status} ${Version}' "$p")
	[ "$st" = "install ok installed $FULL" ] ||
		fail "$p in the clean root: $st"
done
in_root "$ROOT" dkms status -m tcptake -v "$VER" | grep -q "^tcptake/$VER" ||
	fail "dkms does not know tcptake/$VER after the install"
R=$ROOT/usr
[ "$(chroot "$ROOT" tcptakectl version)" = "tcptakectl $VER" ] ||
	fail "tcptakectl version is not $VER: $(chroot "$ROOT" tcptakectl version)"
# The packaged man page and completions are the current ones.
gzip -dc "$R/share/man/man8/tcptakectl.8.gz" | cmp -s - ctl/dist/tcptakectl.8 ||
	fail "the man page differs from ctl/dist/tcptakectl.8"
cmp -s "$R/share/bash-completion/completions/tcptakectl" ctl/dist/tcptakectl.bash ||
	fail "the bash completion differs from ctl/dist/tcptakectl.bash"
cmp -s "$R/share/zsh/vendor-completions/_tcptakectl" ctl/dist/_tcptakectl ||
	fail "the zsh completion differs from ctl/dist/_tcptakectl"
# The man page renders without warnings and shows every verb of --help.
MANWIDTH=80 man --warnings -l "$R/share/man/man8/tcptakectl.8.gz" > "$TMP/man.txt" 2> "$TMP/man.err" ||
	fail "man: $(cat "$TMP/man.err")"
[ ! -s "$TMP/man.err" ] || fail "man page warnings: $(cat "$TMP/man.err")"
chroot "$ROOT" tcptakectl --help | sed -n 's/^ *\(tcptakectl [a-z]* [a-z]*\).*/\1/p' > "$TMP/verbs"
[ -s "$TMP/verbs" ] || fail "tcptakectl --help lists no verbs"
while read -r verb; do
	grep -qF "$verb" "$TMP/man.txt" || fail "the man page lacks $verb"
done < "$TMP/verbs"
# The bash completion loads and completes the objects.
got=$(bash -c ". '$R/share/bash-completion/completions/tcptakectl'
	COMP_WORDS=(tcptakectl fr); COMP_CWORD=1; _tcptakectl; echo \"\${COMPREPLY[*]}\"")
[ "$got" = freeze ] || fail "bash completion of 'tcptakectl fr': '$got', want 'freeze'"
# streamd answers -h with its flags; the example keepalived.conf's notify
# script is the installed one, and it runs (usage: exit 2).
chroot "$ROOT" /usr/lib/tcptake/streamd -h 2>&1 | grep -q -- '-checkpoint-interval DURATION' ||
	fail "/usr/lib/tcptake/streamd -h does not show its flags"
ex=$R/share/doc/tcptake/examples
notify=$(sed -n 's/^[[:space:]]*notify "\([^ ]*\) .*/\1/p' "$ex/keepalived.conf")
[ "$notify" = /usr/lib/tcptake/tcptake-notify ] ||
	fail "keepalived.conf's notify script is '$notify', not /usr/lib/tcptake/tcptake-notify"
cmp -s "$ex/tcptake-notify" examples/keepalived/tcptake-notify ||
	fail "the packaged notify script differs from examples/keepalived/tcptake-notify"
rc=0
chroot "$ROOT" "$notify" >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "$notify without arguments: exit $rc, want 2 (usage)"
# Purged, they leave nothing behind.
in_root "$ROOT" apt-get purge -y tcptake tcptake-dkms >"$TMP/purge.log" 2>&1 || {
	tail -n 30 "$TMP/purge.log" >&2
	fail "apt-get purge of both packages"
}
for d in "/usr/src/tcptake-$VER" /usr/lib/tcptake /usr/share/doc/tcptake /var/lib/dkms/tcptake; do
	[ ! -e "$ROOT$d" ] || fail "$d is left after the purge"
done

echo "deb-check: ok ($(basename "$DEB"), $DKMS_ENTRIES entries; $(basename "$CTLDEB"), $(wc -l < "$TMP/verbs") verbs in tcptakectl(8); installed, run and purged in a clean Debian 12 root)"
