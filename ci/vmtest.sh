#!/bin/sh
# ci/vmtest.sh — the module tier: build kmod/ for each test kernel, boot it
# under qemu with the kselftests (tests/kselftest/) and the Go VM tests
# (the module client in libtcptake, tcptakectl in ctl), and report.
#
# For each kernel of `ci/kernels.sh list` (6.1, 6.12 and sid's 7.x cloud),
# in turn:
#   1. build kmod/ against linux-headers-$K in a copy of kmod/ and uapi/
#      (nothing is built inside the source tree): out/vmtest/$K/build for
#      the host's kernels, inside the sid chroot for sid's (its headers
#      need sid's compiler)
#   2. pack an initramfs: busybox-static, veth.ko, tcptake.ko, the selftests,
#      the Go test binaries, ci/vm/init
#   3. boot it (ci/vm/boot.sh: TCG, -nic none, time limit) and count the
#      results that /init reports on the second serial port
# Prints "vmtest: <release>: N passed, N failed, N skipped" per kernel, ends
# with the line "vmtest: N passed, N failed, N skipped" and exits 1 on
# any failed test, a build failure, a timeout, a guest crash, a missing
# "# vmtest-exit: 0" or a kernel that could not be tested.
#
# Environment:
#   VMTEST_KERNELS     exact releases to test (default: ci/kernels.sh list)
#   VMTEST_NO_INSTALL  1: never run `ci/kernels.sh install`
#   VMTEST_TIMEOUT     seconds per boot (default 300: a loaded host
#                      makes a boot of ~90 s take twice as long)
#   VMTEST_KMOD        module source directory (default kmod/)
#   VMTEST_ARGS        arguments of tcptake_nl in the guest: test names to run
#                      (default all)
#   VMTEST_NO_GO       1: leave the Go VM tests out (a quicker module loop)
#   VMTEST_GO_RUN      -test.run of the Go VM tests (default VM|NFTFreezer: all
#                      of them, and the nftables freezer's; VM on the debug kernel)
#   VMTEST_GO_TIMEOUT  seconds per Go test binary in the guest (default 80)
#   TCPTAKE_BENCH_N    sessions of the VM benchmarks (passed to the guest)
#   VMTEST_NO_YNL      1: leave the YNL test out (tests/kselftest/tcptake_ynl.sh,
#                      the kernel's YNL CLIs; python3 in the guest)
#   VMTEST_DEBUG_DIR   a debug kernel (ci/debug/kernel.sh path): test it
#                      instead of the Debian kernels (make vmtest-debug)
#   VMTEST_MAKE_ARGS   more arguments of the module's make (CC=...)
set -eu
cd "$(dirname "$0")/.."
TOP=$(pwd)
# shellcheck source=ci/lib.sh
. ci/lib.sh
OUT=$TOP/out/vmtest${VMTEST_DEBUG_DIR:+-debug}
TMO=${VMTEST_TIMEOUT:-300}
KMOD=${VMTEST_KMOD:-$TOP/kmod}

say() { echo "vmtest: $*"; }
t0=$(date +%s)
total_pass=0 total_fail=0 total_skip=0
fail() { # fail REASON: a failure that no test line reports
	say "FAIL: $*"
	total_fail=$((total_fail + 1))
}
finish() {
	say "total time $(($(date +%s) - t0))s"
	echo "vmtest: $total_pass passed, $total_fail failed, $total_skip skipped"
	[ "$total_fail" = 0 ] && [ "$total_pass" -gt 0 ]
	exit $?
}

if [ -n "${VMTEST_DEBUG_DIR:-}" ]; then
	VMTEST_NO_INSTALL=1
	VMTEST_KERNELS=$(cat "$VMTEST_DEBUG_DIR/release")
fi
if [ "${VMTEST_NO_INSTALL:-}" != 1 ]; then
	ci/kernels.sh install || fail "ci/kernels.sh install failed"
fi
if [ -n "${VMTEST_KERNELS:-}" ]; then
	KVERS=$VMTEST_KERNELS
else
	KVERS=$(ci/kernels.sh list) || fail "a kernel series is not installed (see above)"
fi
[ -n "$KVERS" ] || { fail "no kernel to test"; finish; }

rm -rf "$OUT"
mkdir -p "$OUT"

# Kernel-independent parts, built once.
say "building the selftests"
if ! make -s -C tests/kselftest OUTPUT="$OUT/kselftest" >"$OUT/kselftest-build.log" 2>&1; then
	cat "$OUT/kselftest-build.log"
	fail "tests/kselftest does not build"
	finish
fi
SELFTESTS=$(make -s -C tests/kselftest OUTPUT="$OUT/kselftest" print-progs)
UNLOAD=$OUT/kselftest/tcptake_unload

extra=
if [ -n "${VMTEST_ARGS:-}" ]; then
	echo "$VMTEST_ARGS" >"$OUT/tcptake_nl.args"
	extra="-f $OUT/tcptake_nl.args:/selftests/tcptake_nl.args"
fi

# The Go VM tests (TestVM*, gated by TCPTAKE_VMTEST=1): the module client
# (libtcptake) and tcptakectl (ctl). A package without them still builds a
# binary that runs no test.
gotest=
{
	# The VM tests, and the nftables freezer's (the path without the
	# module) on each kernel; the debug kernel has no nf_tables.
	run='VM|NFTFreezer'
	[ -z "${VMTEST_DEBUG_DIR:-}" ] || run=VM
	echo "VMTEST_GO_RUN='${VMTEST_GO_RUN:-$run}'" # a regexp: | is no pipe
	echo "VMTEST_GO_TIMEOUT=${VMTEST_GO_TIMEOUT:-80}"
	[ -z "${TCPTAKE_BENCH_N:-}" ] || echo "TCPTAKE_BENCH_N=$TCPTAKE_BENCH_N"
} >"$OUT/go.env"
if [ "${VMTEST_NO_GO:-}" = 1 ]; then
	say "VMTEST_NO_GO=1: the Go VM tests are left out"
else
	for pkg in libtcptake ctl tests/vm; do
		bin=$(basename "$pkg").test
		say "building the Go VM tests ($bin)"
		if CGO_ENABLED=0 go test -c -trimpath -o "$OUT/$bin" "./$pkg" >"$OUT/go-build.log" 2>&1; then
			[ -x "$OUT/$bin" ] && gotest="$gotest -f $OUT/$bin:/$bin"
		else
			cat "$OUT/go-build.log"
			fail "go test -c ./$pkg does not build"
		fi
	done
	gotest="$gotest -f $OUT/go.env:/go.env"
	# The cluster test (tests/vm) runs two streamd nodes.
	if CGO_ENABLED=0 go build -trimpath -o "$OUT/streamd" ./examples/streamd >"$OUT/go-build.log" 2>&1; then
		gotest="$gotest -f $OUT/streamd:/streamd"
	else
		cat "$OUT/go-build.log"
		fail "go build ./examples/streamd fails"
	fi
fi

# The YNL test: the kernel's YNL CLIs (6.12's and the pinned 7.2) with
# Debian's python3, staged once (ci/vm/ynl-root.sh, which also validates
# the spec against both trees' schemas).
ynl=
if [ "${VMTEST_NO_YNL:-}" = 1 ]; then
	say "VMTEST_NO_YNL=1: the YNL test is left out"
else
	say "staging the YNL CLIs and python3"
	if ci/vm/ynl-root.sh "$OUT/ynl-root" >"$OUT/ynl-root.log" 2>&1; then
		ynl="-s $TOP/tests/kselftest/tcptake_ynl.sh -d $OUT/ynl-root"
	else
		cat "$OUT/ynl-root.log"
		fail "ci/vm/ynl-root.sh cannot stage the YNL test"
	fi
fi

for K in $KVERS; do
	D=$OUT/$K
	mkdir -p "$D"
	say "=== $K"
	hdr=/usr/src/linux-headers-$K
	# In-tree modules (veth; bridge for the cluster test; tls for the kTLS
	# refusal test; nf_tables for the nftables freezer's tests) and kernel
	# command line; the debug kernel has the first three built in, and
	# boots as PVH.
	mods="-m veth -m bridge -m tls -m nf_tables" append=
	if [ -n "${VMTEST_DEBUG_DIR:-}" ]; then
		root=/ hdr=$VMTEST_DEBUG_DIR/build kimg=$VMTEST_DEBUG_DIR/vmlinux
		mods=''
	elif ! root=$(ci/kernels.sh root "$K") || ! kimg=$(ci/kernels.sh image "$K"); then
		fail "$K: kernel image or headers missing"
		continue
	fi
	rc=0
	# shellcheck disable=SC2086 # word splitting wanted
	kmod_build "$K" "$root" "$hdr" "$D" ${VMTEST_MAKE_ARGS:-} || rc=$?
	case $rc in
	1) fail "$K: kmod does not build"; continue ;;
	2) fail "$K: kmod builds with warnings (W=1)" ;; # its tests still run
	esac
	ko=$D/tcptake.ko

	progs=
	for prog in $SELFTESTS; do progs="$progs -s $OUT/kselftest/$prog"; done
	# shellcheck disable=SC2086
	if ! ci/vm/mkinitramfs.sh -k "$K" -r "$root" -o "$D/initramfs.cpio.gz" $mods -K "$ko" \
		$progs $ynl -f "$UNLOAD:/selftests/tcptake_unload" $gotest $extra; then
		fail "$K: cannot build the initramfs"
		continue
	fi

	for try in 1 2; do
		s=$(date +%s)
		rc=0
		BOOT_APPEND=$append ci/vm/boot.sh "$kimg" "$D/initramfs.cpio.gz" "$D" "$TMO" || rc=$?
		say "$K: boot took $(($(date +%s) - s))s (qemu exit $rc)"
		# Retry once, only when the kernel died before /init said hello:
		# the module is not loaded yet, so it is a TCG boot flake.
		if [ "$try" = 1 ] && ! grep -q '^# vmtest: kernel ' "$D/console.log" &&
			grep -qE 'Oops|Kernel panic|BUG:' "$D/console.log"; then
			say "$K: guest crashed before /init; retrying once"
			cp "$D/console.log" "$D/console-try1.log"
			continue
		fi
		break
	done

	# The results, without the dmesg copy unless something failed.
	grep -v '^# dmesg: ' "$D/results.log" || true
	awk -f ci/vm/results.awk "$D/results.log" >"$D/counts"
	grep '^#' "$D/counts" | sed "s|^# |vmtest: $K: |" || true
	read -r p f sk <<-EOF
	$(tail -n 1 "$D/counts")
	EOF
	ok=1
	case $rc in
	0) ;;
	124 | 137) say "$K: TIMEOUT after ${TMO}s"; ok=0 ;;
	*) say "$K: qemu exited $rc: $(tail -n 3 "$D/qemu.out")"; ok=0 ;;
	esac
	exitline=$(sed -n 's/^# vmtest-exit: //p' "$D/results.log" | tail -n 1)
	if [ -z "$exitline" ]; then
		say "$K: no '# vmtest-exit' line: the guest crashed or hung"
		ok=0
	elif [ "$exitline" != 0 ]; then
		say "$K: guest /init reported failure ($exitline)"
		[ "$f" -gt 0 ] || ok=0
	fi
	if grep -qE 'Kernel panic|Oops|BUG:|WARNING:|general protection' "$D/console.log"; then
		say "$K: kernel console:"
		grep -E -A 20 'Kernel panic|Oops|BUG:|WARNING:|general protection' "$D/console.log" | head -n 60
		ok=0
	fi
	if [ $ok = 0 ]; then
		say "$K: console tail:"
		tail -n 30 "$D/console.log"
		f=$((f + 1))
	fi
	[ "$f" = 0 ] || say "$K: logs (with the guest's dmesg): $D/results.log $D/console.log"
	say "$K: $p passed, $f failed, $sk skipped"
	total_pass=$((total_pass + p)) total_fail=$((total_fail + f)) total_skip=$((total_skip + sk))
done
finish
