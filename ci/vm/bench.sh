#!/bin/sh
# ci/vm/bench.sh — `make bench-vm`: `make bench` (tests/bench) with the
# tcptake kernel module, in the test VM (the host kernel cannot load it).
#
# The same benchmark, unchanged: the four namespaces of tests/host/topo,
# the two `ha` nodes over the sync link, the clients' process, the lossy
# link (nftables numgen, htb) and, in the same run, the plain serial
# TCP_REPAIR loop; the nodes find the module loaded and freeze, get, set
# and thaw through it. The guest is booted once (ci/vm/boot.sh, TCG, 2
# vCPUs) from an initramfs with the module built for the kernel, the
# in-tree modules the topology needs, the static benchmark binary and
# Debian's ip, ss, tc, nft and sysctl with their libraries;
# ci/vm/bench-init runs it. Ratios only: TCG is an emulator, not a
# machine.
#
# Environment: BENCH_N (default 1,100,1000,10000), BENCH_REPEATS (3),
# BENCH_PINGERS, BENCH_LOSSY, BENCH_LOSS, BENCH_DEBUG (as make bench),
# BENCH_PROF (any value: the nodes' CPU profiles, in BENCH_OUT),
# BENCH_PERF (any value: a profile of every CPU over each switchover, by
# perf, in BENCH_OUT), BENCH_STRACE (any value: the nodes' system call
# counts over each switchover, in BENCH_OUT),
# BENCH_OUT (the directory for bench.md, bench.svg, the nodes' logs and
# the guest's console: default /tmp/tcptake-bench-vm), BENCH_KERNEL (a
# release of `ci/kernels.sh list`; default its 6.12), BENCH_MEM (guest
# MiB, 6144), BENCH_TCG_THREAD (multi: a host thread per vCPU, as `make
# bench-vm`; default single, see ci/vm/boot.sh), BENCH_TIMEOUT (seconds,
# 7200), VMTEST_NO_INSTALL=1 (never run `ci/kernels.sh install`). Prints
# the guest's run as it comes, then the "bench:" lines on stdout; exits 1
# when the benchmark fails (a lost byte, a session not moved) or the
# guest does not finish.
set -eu
cd "$(dirname "$0")/../.."
# shellcheck source=ci/lib.sh
. ci/lib.sh

say() { echo "bench-vm: $*" >&2; }
die() {
	say "$*"
	exit 1
}

[ "$(id -u)" = 0 ] || die "run as root (apt-get, the kernels)"
[ "${VMTEST_NO_INSTALL:-}" = 1 ] || ci/kernels.sh install
# shellcheck disable=SC2046 # a list of package names
apt_install bench-vm $(pkgs_missing iproute2 nftables)
K=${BENCH_KERNEL:-$(ci/kernels.sh list | grep '^6\.12\.' | tail -n 1)}
[ -n "$K" ] || die "no 6.12 kernel: set BENCH_KERNEL to one of: $(ci/kernels.sh list | tr '\n' ' ')"
root=$(ci/kernels.sh root "$K") || die "$K: not installed (ci/kernels.sh list)"
kimg=$(ci/kernels.sh image "$K") || die "$K: no kernel image"
OUT=${BENCH_OUT:-/tmp/tcptake-bench-vm}
W=$(pwd)/out/bench-vm/$K
rm -rf "$W"
mkdir -p "$W" "$OUT"

say "building the module for $K"
rc=0
kmod_build "$K" "$root" "/usr/src/linux-headers-$K" "$W" || rc=$?
[ $rc != 1 ] || die "$K: kmod does not build"
say "building the benchmark (tests/bench, static)"
CGO_ENABLED=0 go test -c -trimpath -o "$W/bench.test" ./tests/bench

# Debian's iproute2, nftables and procps' sysctl (busybox's fails on the
# keys of modules not loaded, even with -e), with their libraries (the
# loader too), in /usr/sbin: first on the guest's PATH.
tools=$W/tools
mkdir -p "$tools/usr/sbin"
# BENCH_PERF and BENCH_STRACE (any value) add perf and strace: the
# switchover's profile of every CPU and the nodes' system call counts
# (tests/bench), into BENCH_OUT.
extra=
[ -z "${BENCH_PERF:-}" ] || extra="$extra perf"
[ -z "${BENCH_STRACE:-}" ] || extra="$extra strace"
# shellcheck disable=SC2046 # a list of package names
[ -z "$extra" ] || apt_install bench-vm $(pkgs_missing linux-perf strace)
for p in ip ss tc nft sysctl $extra; do
	b=$(command -v "$p") || die "no $p"
	cp "$b" "$tools/usr/sbin/"
	stage_libs "$tools" "$b"
done
# nft reads its symbolic names (ether types, protocols) from /etc.
mkdir -p "$tools/etc"
cp /etc/protocols /etc/services /etc/ethertypes "$tools/etc/" 2>/dev/null || true

env=$W/bench.env
: >"$env"
for v in BENCH_N BENCH_REPEATS BENCH_PINGERS BENCH_LOSSY BENCH_LOSS BENCH_DEBUG; do
	eval "val=\${$v:-}"
	[ -z "$val" ] || echo "$v='$val'" >>"$env"
done
# BENCH_PROF, BENCH_PERF, BENCH_STRACE (any value): into BENCH_OUT.
for v in BENCH_PROF BENCH_PERF BENCH_STRACE; do
	eval "val=\${$v:-}"
	[ -z "$val" ] || echo "$v='/tmp/bench'" >>"$env"
done
grep -q '^BENCH_N=' "$env" || echo "BENCH_N='1,100,1000,10000'" >>"$env"

# The topology's in-tree modules: veth and the bridge; nftables (the
# numgen loss, the in-flight drop; bridge and inet tables); htb and u32
# (the bottleneck); inet_diag (ss).
ci/vm/mkinitramfs.sh -k "$K" -r "$root" -o "$W/initramfs.cpio.gz" -i ci/vm/bench-init \
	-m veth -m bridge -m nf_tables -m nft_numgen -m nft_meta_bridge -m sch_htb -m cls_u32 -m tcp_diag \
	-K "$W/tcptake.ko" -f "$W/bench.test:/bench.test" -f "$env:/bench.env" -d "$tools"

say "booting $K ($(tr '\n' ' ' <"$env")); the run follows"
# The guest's serial output (ttyS1, boot.sh's results.raw) as it comes,
# without the archive.
tail --pid=$$ -n +1 -F "$W/results.raw" 2>/dev/null | sed -u 's/\r$//; /^# bench-out-begin/q' >&2 &
echoer=$!
rc=0
BOOT_MEM=${BENCH_MEM:-6144} BOOT_TCG_THREAD=${BENCH_TCG_THREAD:-single} ci/vm/boot.sh "$kimg" "$W/initramfs.cpio.gz" "$W" "${BENCH_TIMEOUT:-7200}" || rc=$?
! grep -q '^# bench-out-begin' "$W/results.log" || wait $echoer
cp "$W/console.log" "$W/results.log" "$OUT/"
sed -n '/^# bench-out-begin/,/^# bench-out-end/p' "$W/results.log" | sed '1d;$d' | base64 -d | tar -C "$OUT" -xzf - ||
	say "no benchmark output from the guest"
case $rc in
0) ;;
124 | 137) die "the guest did not finish in ${BENCH_TIMEOUT:-7200}s (console: $OUT/console.log)" ;;
*) die "qemu exited $rc" ;;
esac
exitline=$(sed -n 's/^# bench-exit: //p' "$W/results.log")
[ "$exitline" = 0 ] || die "the benchmark failed (exit ${exitline:-none}; $OUT/results.log, $OUT/console.log)"
grep '^bench: ' "$W/results.log" || true
say "$K: done; $OUT/bench.md, $OUT/bench.svg"
