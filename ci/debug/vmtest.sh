#!/bin/sh
# ci/debug/vmtest.sh — `make vmtest-debug`: the module tier (ci/vmtest.sh:
# selftests, fuzzer, Go VM tests) on the 6.12 debug kernel (KASAN,
# lockdep, PROVE_RCU, kmemleak, UBSAN; ci/debug/kernel.config). The
# kernel is built first when the cache lacks it (~15 min of both cores;
# ci/debug/kernel.sh). The guest fails on any report of a detector: its
# /init scans dmesg (lockdep and UBSAN do not taint) and runs two kmemleak
# scans after the module is unloaded.
set -eu
cd "$(dirname "$0")/../.."
d=$(ci/debug/kernel.sh path) || d=$(ci/debug/kernel.sh build | tail -n 1)
# Everything runs ~10x slower under KASAN and lockdep. The module is built
# with the compiler the kernel was (ci/debug/kernel.sh: gcc-12).
VMTEST_DEBUG_DIR=$d VMTEST_MAKE_ARGS="CC=gcc-12 HOSTCC=gcc-12" \
	VMTEST_TIMEOUT=${VMTEST_TIMEOUT:-900} exec ci/vmtest.sh
