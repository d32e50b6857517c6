#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# tcptake_ynl.sh — the family from the kernel's generic YNL tooling: its
# CLI (tools/net/ynl/cli.py of a 6.12 tree, tools/net/ynl/pyynl/cli.py or
# `ynl` of newer ones) driven by nothing but the project's spec. In a fresh
# network namespace, on a loopback session 127.0.0.1:40002 -> :40001 whose
# ends hold 3 and 5 unread bytes:
#   --do info                  (first CLI) version and max-freezes as
#                              /sys/module/tcptake says, no freeze
# and for each CLI:
#   --do get                   the client end: tuple, established, queues
#   --dump get                 exactly the two ends, sequence numbers crossed
#   --subscribe events         a listener while one call freezes and thaws
#                              (--multi): two freeze-ntf, frozen then
#                              thawed, with the tuple
# Every check reads the CLI's --output-json and compares exact values.
#
# usage: tcptake_ynl.sh [--spec SPEC] [CLI...]
#        tcptake_ynl.sh --imports
#   SPEC   the spec (default: uapi/tcptake.yaml of this repository)
#   CLI    a cli.py, run with $PYTHON (default python3), or a program
#          (default: ynl, when on PATH)
#   --imports  prints the Python modules the test's own snippets import
# KTAP on stdout; exit 0 pass, 1 fail, 4 skip (not root, no python3, no
# CLI, no spec, no tcptake family). Needs unshare(1) and ip(8); busybox's
# will do. The CLIs run with --no-schema: validating the spec needs
# jsonschema and the kernel tree's Documentation/netlink (CI does it once,
# on the host: ci/vm/ynl-root.sh).

# The loopback session: each end sends, nothing is read.
HELPER='import socket, sys, time
ls = socket.socket()
ls.bind(("127.0.0.1", 40001))
ls.listen(1)
c = socket.socket()
c.bind(("127.0.0.1", 40002))
c.connect(("127.0.0.1", 40001))
s = ls.accept()[0]
ls.close()
c.sendall(b"hello")
s.sendall(b"abc")
time.sleep(0.5)
print("ready", flush=True)
time.sleep(600)'
if [ "${1:-}" = --imports ]; then
	echo socket sys time
	exit 0
fi

PYTHON=${PYTHON:-python3}
here=$(cd "$(dirname "$0")" && pwd)
spec=$here/../../uapi/tcptake.yaml
if [ "${1:-}" = --spec ]; then
	spec=$2
	shift 2
fi
if [ $# = 0 ] && command -v ynl >/dev/null; then
	set -- ynl
fi

skip() {
	[ -n "${TCPTAKE_YNL_NETNS:-}" ] || echo "KTAP version 1"
	echo "1..0 # SKIP $*"
	exit 4
}
[ "$(id -u)" = 0 ] || skip "needs root"
[ $# -gt 0 ] || skip "no YNL CLI (give a cli.py, or put ynl on PATH)"
[ -f "$spec" ] || skip "no spec $spec"
command -v "$PYTHON" >/dev/null || skip "no $PYTHON"

# A fresh network namespace: the dump must see this test's sessions only.
if [ -z "${TCPTAKE_YNL_NETNS:-}" ]; then
	TCPTAKE_YNL_NETNS=1 exec unshare -n "$0" --spec "$spec" "$@"
fi
echo "KTAP version 1"
start=$(cut -d' ' -f1 /proc/uptime)
ip link set lo up

tmp=$(mktemp -d)
hpid=
# shellcheck disable=SC2317 # a trap
cleanup() {
	[ -z "$hpid" ] || kill "$hpid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

# cli CLI ARGS...: run CLI with the spec, JSON output on stdout.
cli() {
	_c=$1
	shift
	case $_c in
	*.py) "$PYTHON" "$_c" --spec "$spec" --no-schema --output-json "$@" ;;
	*) "$_c" --spec "$spec" --no-schema --output-json "$@" ;;
	esac
}
# run_cli CLI ARGS...: the same, its output (and errors) in $tmp/out.
run_cli() {
	t0=$(cut -d' ' -f1 /proc/uptime)
	cli "$@" >"$tmp/out" 2>&1
	echo "# $1 ${2:-} ${3:-}: $(awk -v t0="$t0" '{ printf "%.1f", $1 - t0 }' /proc/uptime)s"
}

run_cli "$1" --do info
if grep -q "not supported by the kernel" "$tmp/out"; then
	skip "no tcptake family (load tcptake.ko)"
fi
cp "$tmp/out" "$tmp/info"

: >"$tmp/helper"
"$PYTHON" -c "$HELPER" >"$tmp/helper" 2>&1 &
hpid=$!
i=0
while ! grep -q ready "$tmp/helper"; do
	i=$((i + 1))
	if [ $i -gt 300 ] || ! kill -0 "$hpid" 2>/dev/null; then
		sed 's/^/# helper: /' "$tmp/helper"
		echo "1..1"
		echo "not ok 1 - a loopback session 127.0.0.1:40002 -> :40001"
		exit 1
	fi
	sleep 0.1
done

echo "1..$((1 + $# * 3))"
n=0 status=0
# result NAME: ok when the checks since the last result all held.
bad=0
result() {
	n=$((n + 1))
	if [ "$bad" = 0 ]; then
		echo "ok $n - $*"
	else
		echo "not ok $n - $*"
		sed 's/^/# output: /' "$tmp/out"
		status=1
	fi
	bad=0
}
# has FILE STRING...: each STRING is in FILE.
has() {
	_f=$1
	shift
	for _s; do
		grep -qF -- "$_s" "$_f" || { echo "# expected $_s"; bad=1; }
	done
}
# count N FILE STRING: STRING occurs N times in FILE.
count() {
	_n=$(awk -v s="$3" '{ while ((i = index($0, s)) > 0) { n++; $0 = substr($0, i + length(s)) } }
		END { print n + 0 }' "$2")
	[ "$_n" = "$1" ] || { echo "# expected $1 times $3, found $_n"; bad=1; }
}
# field NAME FILE: the number after "NAME": in FILE.
field() {
	sed -n "s/.*\"$1\": \([0-9]*\).*/\1/p" "$2"
}

version=$(cat /sys/module/tcptake/version 2>/dev/null)
maxf=$(cat /sys/module/tcptake/parameters/max_freezes 2>/dev/null)
cp "$tmp/info" "$tmp/out"
has "$tmp/out" "{\"version\": \"$version\", \"max-freezes\": $maxf, \"freezes\": 0}"
result "${1#"${1%/*/*}/"} --do info: version $version, max-freezes $maxf, freezes 0"

tuple='{"family": 2, "local-addr": "7f000001", "local-port": 40002, "remote-addr": "7f000001", "remote-port": 40001}'
ports='"local-port": 40002, "remote-addr": "7f000001", "remote-port": 40001'
for prog; do
	name=${prog#"${prog%/*/*}/"}
	run_cli "$prog" --do get --json "{\"tuple\": $tuple}"
	count 1 "$tmp/out" '"session": {'
	has "$tmp/out" '"family": 2' "$ports" '"state": "established"' \
		'"rcvq-len": 3,' '"sndq-unacked-len": 0,' '"sndq-unsent-len": 0,'
	result "$name --do get: 127.0.0.1:40002 -> :40001 established, rcvq-len 3, nothing unacked"
	cp "$tmp/out" "$tmp/do"

	run_cli "$prog" --dump get
	count 2 "$tmp/out" '"session": {'
	sed 's/}, {"session"/}\n{"session"/g' "$tmp/out" >"$tmp/dump"
	grep -F '"local-port": 40002,' "$tmp/dump" >"$tmp/client"
	grep -F '"local-port": 40001,' "$tmp/dump" >"$tmp/server"
	has "$tmp/client" "$ports" '"state": "established"' '"rcvq-len": 3,'
	has "$tmp/server" '"local-port": 40001, "remote-addr": "7f000001", "remote-port": 40002' \
		'"state": "established"' '"rcvq-len": 5,'
	# Each end's snd-nxt is the other's rcv-nxt; the client as the do saw it.
	for f in snd-una snd-nxt write-seq rcv-nxt; do
		[ "$(field "$f" "$tmp/client")" = "$(field "$f" "$tmp/do")" ] ||
			{ echo "# $f: dump $(field "$f" "$tmp/client"), do $(field "$f" "$tmp/do")"; bad=1; }
	done
	if [ -z "$(field snd-nxt "$tmp/client")" ] ||
		[ "$(field snd-nxt "$tmp/client")" != "$(field rcv-nxt "$tmp/server")" ] ||
		[ "$(field rcv-nxt "$tmp/client")" != "$(field snd-nxt "$tmp/server")" ]; then
		echo "# snd-nxt and rcv-nxt of the two ends do not cross"
		bad=1
	fi
	result "$name --dump get: the two ends, rcvq-len 3 and 5, each snd-nxt the other's rcv-nxt"

	# A listener in the background (6.12's CLI fails a --do that notifies
	# its own subscribed socket): once it waits (blocked: state S twice),
	# one CLI call freezes and thaws. 6.12's prints what came after
	# --sleep; newer ones print as it comes (unbuffered) and end on SIGINT.
	PYTHONUNBUFFERED=1 cli "$prog" --subscribe events --sleep 6 >"$tmp/ntf" 2>&1 &
	lpid=$! i=0 waits=0
	while [ $waits -lt 2 ] && [ $i -lt 300 ] && kill -0 $lpid 2>/dev/null; do
		if [ "$(sed 's/^.*) //' /proc/$lpid/stat | cut -c1)" = S ]; then
			waits=$((waits + 1))
		else
			waits=0
		fi
		i=$((i + 1))
		sleep 0.1
	done
	run_cli "$prog" --multi freeze "{\"tuple\": $tuple}" --multi thaw "{\"tuple\": $tuple}"
	i=0
	while [ $i -lt 100 ] && kill -0 $lpid 2>/dev/null &&
		[ "$(grep -c freeze-ntf "$tmp/ntf")" -lt 2 ]; do
		i=$((i + 1))
		sleep 0.1
	done
	kill -INT $lpid 2>/dev/null
	wait $lpid
	cat "$tmp/out" "$tmp/ntf" >"$tmp/both"
	mv "$tmp/both" "$tmp/out"
	count 2 "$tmp/out" '"name": "freeze-ntf"'
	count 2 "$tmp/out" "$ports"
	tr -d '\n' <"$tmp/out" | grep -q '"event": "frozen".*"event": "thawed"' ||
		{ echo "# expected the events frozen, then thawed"; bad=1; }
	result "$name --subscribe events: freeze-ntf frozen, then thawed, with the tuple"
done
echo "# $(awk -v t0="$start" '{ printf "%.1f", $1 - t0 }' /proc/uptime)s in all"
exit $status
