#!/bin/sh
# ci/deb-check.sh — build the Debian packages tcptake-dkms (module source)
# and tcptake (tcptakectl, its man page and completions) in a temporary
# copy of the tree (nothing lands in the repository) and check their
# contents. Installs the build dependencies when missing; Go (1.26, not
# Debian's) is GO, else go on the PATH, else /usr/local/go/bin/go.
# Prints "deb-check: ok ..." or "deb-check: FAIL ..." last.
set -eu
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

fail() { echo "deb-check: FAIL: $*" >&2; exit 1; }

. ci/lib.sh
need=$(pkgs_missing dpkg-dev debhelper dh-dkms man-db)
[ -z "$need" ] || [ "$(id -u)" = 0 ] || fail "missing$need (needs root to install)"
# shellcheck disable=SC2086 # a list of package names
apt_install deb-check $need
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
[ -x "$GO" ] || fail "no Go toolchain (set GO)"
export GO

VER=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' dkms.conf)
UPSTREAM=$(dpkg-parsechangelog -S Version | sed 's/-[^-]*$//')
[ "$VER" = "$UPSTREAM" ] ||
	fail "dkms.conf version $VER differs from debian/changelog $UPSTREAM"

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

# tcptake: tcptakectl, the man page and the completions, exactly.
ARCH=$(dpkg --print-architecture)
CTLDEB=$(find "$TMP" -maxdepth 1 -name "tcptake_*_$ARCH.deb" | head -n1)
[ -n "$CTLDEB" ] || fail "no tcptake_*_$ARCH.deb"
dpkg-deb -c "$CTLDEB" | awk '$1 !~ /^d/ {print $6}' | sort > "$TMP/ctl-contents"
sort > "$TMP/ctl-want" <<-EOT
	./usr/bin/tcptakectl
	./usr/share/bash-completion/completions/tcptakectl
	./usr/share/doc/tcptake/changelog.Debian.gz
	./usr/share/doc/tcptake/copyright
	./usr/share/man/man8/tcptakectl.8.gz
	./usr/share/zsh/vendor-completions/_tcptakectl
EOT
diff -u "$TMP/ctl-want" "$TMP/ctl-contents" >&2 ||
	fail "$(basename "$CTLDEB") holds other files than these"
mkdir "$TMP/root"
dpkg-deb -x "$CTLDEB" "$TMP/root"
R=$TMP/root/usr
[ "$("$R/bin/tcptakectl" version)" = "tcptakectl $VER" ] ||
	fail "tcptakectl version is not $VER: $("$R/bin/tcptakectl" version)"
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
"$R/bin/tcptakectl" --help | sed -n 's/^ *\(tcptakectl [a-z]* [a-z]*\).*/\1/p' > "$TMP/verbs"
[ -s "$TMP/verbs" ] || fail "tcptakectl --help lists no verbs"
while read -r verb; do
	grep -qF "$verb" "$TMP/man.txt" || fail "the man page lacks $verb"
done < "$TMP/verbs"
# The bash completion loads and completes the objects.
got=$(bash -c ". '$R/share/bash-completion/completions/tcptakectl'
	COMP_WORDS=(tcptakectl fr); COMP_CWORD=1; _tcptakectl; echo \"\${COMPREPLY[*]}\"")
[ "$got" = freeze ] || fail "bash completion of 'tcptakectl fr': '$got', want 'freeze'"

echo "deb-check: ok ($(basename "$DEB"), $DKMS_ENTRIES entries; $(basename "$CTLDEB"), $(wc -l < "$TMP/verbs") verbs in tcptakectl(8))"
