#!/bin/sh
# ci/uapi-check.sh — uapi/linux/tcptake.h compiles on its own, as C and as
# C++, so that C programs (libnl, libmnl) and C++ ones can include it: a
# file that includes only <linux/tcptake.h> (twice: the include guard) and
# uses each of its macros and structs, with uapi/ first on the include path and
# linux-libc-dev's headers behind it. C90 with the kernel's flags for its exported headers (usr/include/
# Makefile: -std=c90 -Wall -Werror=implicit-function-declaration; no
# -pedantic, which rejects the trailing commas of every uapi enum), C99 and
# C11 -pedantic, C++11 and C++20 -pedantic; all -Wextra -Wundef -Werror.
# Prints "uapi-check: ok ..." or "uapi-check: FAIL ..." last.
set -eu
cd "$(dirname "$0")/.."
. ci/lib.sh
# shellcheck disable=SC2046 # a list of package names
apt_install uapi-check $(pkgs_missing gcc g++ linux-libc-dev)

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
printf '#include <linux/tcptake.h>\n#include <linux/tcptake.h>\n' >"$TMP/inc"
# The compiler parses a macro only where it is used (a // comment in one
# passes as C90 until then).
{
	cat "$TMP/inc"
	echo 'void tcptake_uapi_check(void);'
	echo 'void tcptake_uapi_check(void) {'
	gcc -dM -E -Iuapi -x c "$TMP/inc" | sed -n 's/^#define \(TCPTAKE_[A-Z0-9_]*\) .*/	(void)sizeof(\1);/p'
	sed -n 's/^struct \(tcptake_[a-z0-9_]*\) {$/	(void)sizeof(struct \1);/p' uapi/linux/tcptake.h
	echo '}'
} >"$TMP/tu"
ok=
# compile CC LANG STD FLAGS...
compile() {
	cc=$1 lang=$2 std=$3
	shift 3
	"$cc" -x "$lang" -std="$std" -Wall -Wextra -Wundef -Werror "$@" -Iuapi -fsyntax-only "$TMP/tu" 2>"$TMP/err" || {
		cat "$TMP/err" >&2
		echo "uapi-check: FAIL: uapi/linux/tcptake.h does not compile alone as $std ($cc)" >&2
		exit 1
	}
	ok="$ok $std"
}
compile gcc c c90 -Werror=implicit-function-declaration
compile gcc c c99 -pedantic
compile gcc c c11 -pedantic
compile g++ c++ c++11 -pedantic
compile g++ c++ c++20 -pedantic
echo "uapi-check: ok (uapi/linux/tcptake.h alone, $(grep -c sizeof "$TMP/tu") macros and structs used, as$ok)"
