#!/bin/sh
# ci/vm/boot.sh — boot one kernel with a test initramfs under qemu.
#
# usage: boot.sh KERNEL INITRD DIR [TIMEOUT_S]
# KERNEL: a bzImage (or an ELF vmlinux with a PVH note) path, or a release
# whose /boot/vmlinuz-RELEASE is used. BOOT_APPEND: more kernel parameters.
# BOOT_MEM: guest memory in MiB (default 1024). BOOT_TCG_THREAD: multi for
# one host thread per vCPU (default single, see below).
# Writes DIR/console.log (ttyS0: kernel console) and DIR/results.log (ttyS1:
# what /init and the tests print), with CR and terminal escapes removed.
# Exits with qemu's status (124/137 when the time limit hit). qemu's status
# says nothing about the guest: a panic with panic=-1 -no-reboot exits 0 too,
# so callers must look for "# vmtest-exit:" in results.log.
#
# TCG only (KVM on these PVM hosts is ~100x slower than TCG);
# thread=single: one host thread runs both vCPUs, as fast as MTTCG on 2
# cores and free of MTTCG's rare boot-time text-patching Oops.
# -nic none: the guest has no NIC; every test packet stays inside it.
set -eu
KERNEL=$1 INITRD=$2 DIR=$3 TMO=${4:-150}
case $KERNEL in
/*) ;;
*) KERNEL=/boot/vmlinuz-$KERNEL ;;
esac
[ -r "$KERNEL" ] || { echo "boot: no $KERNEL" >&2; exit 2; }
mkdir -p "$DIR"
rm -f "$DIR/console.raw" "$DIR/results.raw"
rc=0
timeout -k 5 "$TMO" qemu-system-x86_64 \
	-accel tcg,thread="${BOOT_TCG_THREAD:-single}" -cpu max -m "${BOOT_MEM:-1024}" -smp 2 \
	-nic none -no-reboot -nographic -no-user-config -monitor none \
	-serial "file:$DIR/console.raw" -serial "file:$DIR/results.raw" \
	-kernel "$KERNEL" -initrd "$INITRD" \
	-append "console=ttyS0 panic=-1 quiet ${BOOT_APPEND:-}" </dev/null >"$DIR/qemu.out" 2>&1 || rc=$?
# SeaBIOS writes terminal escapes (ESC c, ESC[2J ...) onto the console.
for f in console results; do
	touch "$DIR/$f.raw"
	tr -d '\r' <"$DIR/$f.raw" | sed 's/\x1bc//g; s/\x1b\[[0-9;?]*[A-Za-z]//g' >"$DIR/$f.log"
	rm -f "$DIR/$f.raw"
done
exit $rc
