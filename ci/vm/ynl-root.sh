#!/bin/sh
# ci/vm/ynl-root.sh — stage what the YNL test (tests/kselftest/tcptake_ynl.sh)
# needs in the busybox guest, as a tree for ci/vm/mkinitramfs.sh -d:
#   /ynl/6.12/tools/net/ynl/cli.py        bookworm's linux-source-6.12
#   /ynl/7.2/tools/net/ynl/pyynl/cli.py   the pinned sid linux-source-7.2
#   /ynl/uapi/tcptake.yaml                the spec
#   /selftests/tcptake_ynl.sh.args        the test's arguments
#   Debian's python3.11 with only the modules the two CLIs and the test
#   import (traced on the host), PyYAML (its libyaml loader) and the shared
#   libraries these need; precompiled (unchecked-hash .pyc: valid whatever
#   the files' times, nothing compiled at boot)
# Before staging, the spec is validated against the genetlink-legacy schema
# of both trees (the guest runs the CLIs with --no-schema: no jsonschema
# there).
#
# usage: ci/vm/ynl-root.sh OUTDIR
set -eu
cd "$(dirname "$0")/../.."
OUT=${1:?usage: ynl-root.sh OUTDIR}
# shellcheck source=ci/lib.sh
. ci/lib.sh
# shellcheck disable=SC2046 # a list of package names
apt_install ynl-root $(pkgs_missing python3-minimal python3-yaml python3-jsonschema)
# Debian's interpreter, not whatever python3 comes first on PATH.
PY=/usr/bin/python3.11
[ -x "$PY" ] || { echo "ynl-root: no $PY" >&2; exit 1; }

t612=$(ci/ynl-tree.sh 6.12)
t72=$(ci/ynl-tree.sh 7.2)
cli612=$t612/tools/net/ynl/cli.py
cli72=$t72/tools/net/ynl/pyynl/cli.py

for t in "$t612" "$t72"; do
	lib=$(dirname "$(find "$t/tools/net/ynl" -path '*/lib/nlspec.py')")
	if ! "$PY" -c 'import sys; sys.path.insert(0, sys.argv[1])
from lib.nlspec import SpecFamily
try:
    SpecFamily(sys.argv[2], sys.argv[3])
except Exception as e:  # jsonschema.ValidationError: its message and where
    sys.exit("%s (at %s)" % (getattr(e, "message", e), "/".join(map(str, getattr(e, "absolute_path", [])))))
' "$(dirname "$lib")" uapi/tcptake.yaml "$t/Documentation/netlink/genetlink-legacy.yaml"; then
		echo "ynl-root: uapi/tcptake.yaml fails the genetlink-legacy schema of $(cat "$t/FROM")" >&2
		exit 1
	fi
done

rm -rf "$OUT"
mkdir -p "$OUT/ynl/6.12/tools/net/ynl/lib" "$OUT/ynl/7.2/tools/net/ynl/pyynl/lib" \
	"$OUT/ynl/uapi" "$OUT/selftests" "$OUT/usr/bin"
cp "$cli612" "$OUT/ynl/6.12/tools/net/ynl/"
cp "$t612"/tools/net/ynl/lib/*.py "$OUT/ynl/6.12/tools/net/ynl/lib/"
cp "$cli72" "$OUT/ynl/7.2/tools/net/ynl/pyynl/"
cp "$t72"/tools/net/ynl/pyynl/lib/*.py "$OUT/ynl/7.2/tools/net/ynl/pyynl/lib/"
cp uapi/tcptake.yaml "$OUT/ynl/uapi/"
echo "--spec /ynl/uapi/tcptake.yaml /ynl/6.12/tools/net/ynl/cli.py /ynl/7.2/tools/net/ynl/pyynl/cli.py" \
	>"$OUT/selftests/tcptake_ynl.sh.args"

# The modules: what each CLI imports up to its family lookup (the host has
# no tcptake family: it stops there), and what the test's own
# snippets import (tcptake_ynl.sh --imports).
mods=$(mktemp)
trap 'rm -f "$mods"' EXIT
trace() { # trace SCRIPT ARGS...: the files of the modules it loaded
	"$PY" -c 'import atexit, os, runpy, sys
out = open(sys.argv[1], "a")
atexit.register(lambda: out.write("".join(m.__file__ + "\n" for m in list(sys.modules.values())
                                         if getattr(m, "__file__", None))))
sys.argv = sys.argv[2:]
sys.path.insert(0, os.path.dirname(sys.argv[0]))
runpy.run_path(sys.argv[0], run_name="__main__")' "$mods" "$@" >/dev/null 2>&1 || true
}
for c in "$cli612" "$cli72"; do
	trace "$c" --spec uapi/tcptake.yaml --no-schema --output-json --subscribe events --dump get
done
# shellcheck disable=SC2046 # module names
"$PY" -c 'import sys; [__import__(m) for m in sys.argv[2:]]
print("\n".join(m.__file__ for m in list(sys.modules.values()) if getattr(m, "__file__", None)),
      file=open(sys.argv[1], "a"))' "$mods" $(sh tests/kselftest/tcptake_ynl.sh --imports)
# The interpreter's landmark (it finds its prefix by os.py) and lib-dynload.
echo "/usr/lib/python3.11/os.py" >>"$mods"
mkdir -p "$OUT/usr/lib/python3.11/lib-dynload"
grep -E '^/usr/lib/python3(\.11)?/' "$mods" | sort -u | while read -r f; do
	cp --parents "$f" "$OUT/"
done
cp "$PY" "$OUT/usr/bin/python3.11"
ln -s python3.11 "$OUT/usr/bin/python3"
# /init's PATH is /bin.
mkdir -p "$OUT/bin"
ln -s /usr/bin/python3.11 "$OUT/bin/python3"
# Their shared libraries (and the loader).
# shellcheck disable=SC2046 # file names without spaces
stage_libs "$OUT" "$PY" $(find "$OUT/usr/lib" -name '*.so')
"$PY" -m compileall -q -j 1 --invalidation-mode unchecked-hash "$OUT/usr/lib" "$OUT/ynl" >/dev/null
echo "ynl-root: $OUT ($(du -sk "$OUT" | cut -f1) KiB; $(cat "$t612/FROM"), $(cat "$t72/FROM"))" >&2
