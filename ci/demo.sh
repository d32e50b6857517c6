#!/usr/bin/env bash
# ci/demo.sh — make demo: live downloads and an echo session move to the
# other node and back, then survive the death of their node.
#
#   tt-cli-$$             tt-act-$$                 tt-sby-$$
#  ┌──────────────┐     ┌─────────────────────┐   ┌─────────────────────┐
#  │ curl, socat  │     │ streamd (active)    │   │ streamd (standby)   │
#  │ 192.0.2.1    │     │ 192.0.2.2           │◀─▶│ 192.0.2.3           │
#  │ 2001:db8::1  │     │ 2001:db8::2         │TLS│ 2001:db8::3         │
#  │              │     │ service address:    │   │   (it moves here    │
#  │              │     │ 192.0.2.100         │   │    and back)        │
#  │              │     │ 2001:db8::100       │   │                     │
#  └──────┬───────┘     └─────────┬───────────┘   └─────────┬───────────┘
#         └────────── br0 (bridge in tt-br-$$) ─────────────┘
#
# Each node gets a key from `tcptakectl keygen`; the two streamd processes
# link over TCP (TLS 1.3, pinned keys). curl downloads DEMO_SIZE bytes at
# DEMO_RATE bytes/s from the service address over IPv4 and IPv6, and socat
# sends random bytes through streamd's echo service. A quarter of the way
# in, `tcptakectl node switchover` moves every session (and the address)
# to the standby; half way, a second one moves them back. Three quarters
# of the way, the failover act: the active checkpoints its sessions every
# 50 ms to the standby; its link is cut and it is killed with SIGKILL, and
# `tcptakectl node takeover` on the standby sets the last checkpoints,
# adjusts each session to where its client really is and restarts it; the
# adjustment reports are shown. Every body is checked line by line and the
# echo stream byte for byte (or, if the takeover closed it for a conflict,
# as a correct prefix). Run as root; everything created is removed on exit.
#
#   DEMO_SIZE=200000000 DEMO_RATE=20000000 ci/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE=${DEMO_SIZE:-200000000}
RATE=${DEMO_RATE:-20000000}
PORT=8080
GO=${GO:-go}

if [ "$(id -u)" -ne 0 ]; then
	echo "demo: run as root (network namespaces, TCP_REPAIR, nftables)" >&2
	exit 1
fi
need=""
for pair in curl:curl socat:socat ip:iproute2 nft:nftables cmp:diffutils; do
	command -v "${pair%%:*}" >/dev/null 2>&1 || need="$need ${pair#*:}"
done
. ci/lib.sh
# shellcheck disable=SC2086 # word splitting wanted
apt_install demo $need

tmp=$(mktemp -d /tmp/tcptake-demo.XXXXXX)
CLI=tt-cli-$$ ACT=tt-act-$$ SBY=tt-sby-$$ BR=tt-br-$$
pids=()
cleanup() {
	set +e
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	for ns in $CLI $ACT $SBY $BR; do ip netns del "$ns" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '%s\n' "$*"; }

say "== building streamd and tcptakectl"
"$GO" build -o "$tmp/streamd" ./examples/streamd
"$GO" build -o "$tmp/tcptakectl" ./ctl
ctl() { "$tmp/tcptakectl" "$@"; }

say "== topology: $CLI, $ACT, $SBY around a bridge in $BR"
for ns in $CLI $ACT $SBY $BR; do
	ip netns add "$ns"
	# no IPv6 duplicate address detection: addresses are usable at once
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
	ip -n "$ns" link set lo up
done
ip -n $BR link add br0 type bridge stp_state 0 mcast_snooping 0
ip -n $BR link set br0 up
i=1
for pair in cli:$CLI act:$ACT sby:$SBY; do
	role=${pair%%:*} ns=${pair#*:}
	ip -n $BR link add "$role" type veth peer name eth0 netns "$ns"
	ip -n $BR link set "$role" master br0 up
	ip -n "$ns" link set eth0 up
	ip -n "$ns" addr add 192.0.2.$i/24 dev eth0
	ip -n "$ns" addr add 2001:db8::$i/64 dev eth0 nodad
	i=$((i + 1))
done
ip -n $ACT addr add 192.0.2.100/24 dev eth0
ip -n $ACT addr add 2001:db8::100/64 dev eth0 nodad

say "== keys: tcptakectl keygen"
act_pub=$(ctl keygen "$tmp/act.key")
sby_pub=$(ctl keygen "$tmp/sby.key")
say "   act: $act_pub"
say "   sby: $sby_pub"

say "== streamd: active in $ACT, standby in $SBY, linked over TCP 192.0.2.2:7000"
common=(--listen 192.0.2.100:$PORT --listen "[2001:db8::100]:$PORT" --echo-listen 192.0.2.100:7
	--vip 192.0.2.100/24@eth0 --vip 2001:db8::100/64@eth0 --checkpoint-interval 50ms)
ip netns exec $ACT "$tmp/streamd" "${common[@]}" --role active --sync-listen 192.0.2.2:7000 \
	--key "$tmp/act.key" --peer-key "$sby_pub" --control "$tmp/act.sock" 2>"$tmp/act.log" &
act_pid=$!
pids+=($!)
ip netns exec $SBY "$tmp/streamd" "${common[@]}" --role standby --sync-peer 192.0.2.2:7000 \
	--key "$tmp/sby.key" --peer-key "$act_pub" --control "$tmp/sby.sock" 2>"$tmp/sby.log" &
pids+=($!)
linked() { ctl -j node status --control "$1" 2>/dev/null | grep -q '"address"'; }
for _ in $(seq 100); do linked "$tmp/act.sock" && linked "$tmp/sby.sock" && break; sleep 0.1; done
if ! linked "$tmp/act.sock"; then
	say "demo: the nodes did not link:"
	sed 's/^/   act: /' "$tmp/act.log"
	sed 's/^/   sby: /' "$tmp/sby.log"
	exit 1
fi
ctl node status --control "$tmp/act.sock" | sed 's/^/   act: /'

secs=$(awk "BEGIN { print $SIZE / $RATE }")
say "== clients in $CLI: curl $SIZE bytes at $RATE B/s over IPv4 and IPv6, socat echo (${secs}s)"
curls=()
for fam in 4 6; do
	host=192.0.2.100
	[ $fam = 6 ] && host="[2001:db8::100]"
	ip netns exec $CLI curl -sS -g --fail --max-time $(awk "BEGIN { print int($secs * 3 + 30) }") \
		-o "$tmp/body$fam" "http://$host:$PORT/stream?bytes=$SIZE&rate=$RATE" 2>"$tmp/curl$fam.err" &
	curls+=($!)
	pids+=($!)
done
# The echo input goes in 64 KiB every 20 ms, for about as long as the downloads.
chunks=$(awk "BEGIN { print int($secs * 50) }")
head -c $((chunks * 65536)) /dev/urandom >"$tmp/echo.in"
{
	for c in $(seq 0 $((chunks - 1))); do
		dd if="$tmp/echo.in" bs=65536 skip="$c" count=1 status=none
		sleep 0.02
	done
} | ip netns exec $CLI socat -b 65536 -t 30 STDIO TCP4:192.0.2.100:7 >"$tmp/echo.out" 2>"$tmp/socat.err" &
socat_pid=$!
pids+=($socat_pid)

fail=0
switchover() {
	say "== $(date +%T.%3N) tcptakectl node switchover --control $1"
	if ! ctl node switchover --control "$1" | sed 's/^/   /'; then
		fail=1
	fi
}
sleep "$(awk "BEGIN { print $secs / 4 }")"
switchover "$tmp/act.sock"
sleep "$(awk "BEGIN { print $secs / 4 }")"
switchover "$tmp/sby.sock"

sleep "$(awk "BEGIN { print $secs / 4 }")"
say "== $(date +%T.%3N) failover: the active's link is cut, streamd there killed with SIGKILL"
ctl node status --control "$tmp/sby.sock" | grep '^checkpoint' | sed 's/^/   standby holds: /'
ip -n $ACT link set eth0 down
{ kill -9 $act_pid && wait $act_pid || true; } 2>/dev/null # its exit status is the SIGKILL
say "== $(date +%T.%3N) tcptakectl node takeover --control sby.sock"
if ! ctl node takeover --control "$tmp/sby.sock" >"$tmp/takeover.txt"; then
	fail=1
fi
sed 's/^/   /' "$tmp/takeover.txt"

say "== checking"
for i in 0 1; do
	fam=$((4 + 2 * i))
	if ! wait "${curls[$i]}"; then
		say "   IPv$fam: curl failed: $(cat "$tmp/curl$fam.err")"
		fail=1
		continue
	fi
	# line k must be printf("%015d\n", k); the last one may be cut
	if res=$(awk -v size="$SIZE" '
		{ want = sprintf("%015d", NR - 1); n += length($0) + 1 }
		$0 != want && !(n > size && substr(want, 1, length($0)) == $0) { print "line " NR - 1 ": " $0; exit 1 }
		END { if (n < size || n > size + 1) { print n " bytes"; exit 1 } }' "$tmp/body$fam") &&
		[ "$(stat -c %s "$tmp/body$fam")" = "$SIZE" ]; then
		say "   IPv$fam: $SIZE bytes, every line right: OK"
	else
		say "   IPv$fam: CORRUPT: $res"
		fail=1
	fi
done
if ! wait $socat_pid; then
	got=$(stat -c %s "$tmp/echo.out")
	if grep -q ':7 .* closed ' "$tmp/takeover.txt" && cmp -s -n "$got" "$tmp/echo.in" "$tmp/echo.out"; then
		say "   echo: closed by the takeover for a conflict (reported above), the $got bytes back are right: OK"
	else
		say "   echo: socat failed: $(cat "$tmp/socat.err")"
		fail=1
	fi
elif cmp -s "$tmp/echo.in" "$tmp/echo.out"; then
	say "   echo: $(stat -c %s "$tmp/echo.out") bytes back, byte for byte: OK"
else
	say "   echo: CORRUPT: $(cmp "$tmp/echo.in" "$tmp/echo.out" 2>&1 | head -1)"
	fail=1
fi
if [ $fail -ne 0 ]; then
	sed 's/^/   act: /' "$tmp/act.log" | tail -20
	sed 's/^/   sby: /' "$tmp/sby.log" | tail -20
	say "== demo FAILED"
	exit 1
fi
say "== demo OK: the sessions moved to the standby and back, then survived the death of their node"
