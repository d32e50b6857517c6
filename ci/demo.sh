#!/usr/bin/env bash
# ci/demo.sh — make demo: a live download moves to another node.
#
#   tt-cli-$$             tt-act-$$                 tt-sby-$$
#  ┌──────────────┐     ┌─────────────────────┐   ┌─────────────────────┐
#  │ curl         │     │ rateserver (active) │   │ rateserver (standby)│
#  │ 192.0.2.1    │     │ 192.0.2.2           │   │ 192.0.2.3           │
#  │ 2001:db8::1  │     │ 2001:db8::2         │   │ 2001:db8::3         │
#  │              │     │ service address:    │   │   (it moves here)   │
#  │              │     │ 192.0.2.100         │   │                     │
#  │              │     │ 2001:db8::100       │   │                     │
#  └──────┬───────┘     └─────────┬───────────┘   └─────────┬───────────┘
#         └────────── br0 (bridge in tt-br-$$) ─────────────┘
#
# curl downloads 4 MiB at 1 MiB/s from the service address (IPv4 and IPv6
# at once). After about a second the active rateserver gets SIGUSR1: it
# stops and dumps both sessions (tcptake Stop/Get, the download positions
# go in the images), streams the images to the standby over a unix
# socket, the standby sets them up frozen, the service addresses move
# (delete on act, add + gratuitous ARP / unsolicited NA on sby), the
# standby restarts the sessions and finishes the downloads. Each body is
# checked byte for byte. Run as root; everything created is removed on exit.
#
#   DEMO_SIZE=4194304 DEMO_RATE=1048576 DEMO_FAMILIES="4 6" ci/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE=${DEMO_SIZE:-4194304}
RATE=${DEMO_RATE:-1048576}
FAMILIES=${DEMO_FAMILIES:-4 6}
PORT=8080
GO=${GO:-go}

if [ "$(id -u)" -ne 0 ]; then
	echo "demo: run as root (network namespaces, TCP_REPAIR, nftables)" >&2
	exit 1
fi
need=""
for pair in curl:curl ip:iproute2 nft:nftables sha256sum:coreutils; do
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

ms() { date +%s%3N; }
say() { printf '%s\n' "$*"; }

say "== building rateserver"
"$GO" build -o "$tmp/rateserver" ./examples/rateserver

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

say "== rateservers: active in $ACT, standby in $SBY, both listening on the service address"
common=(-listen 192.0.2.100:$PORT -listen "[2001:db8::100]:$PORT"
	-vip 192.0.2.100/24@eth0 -vip 2001:db8::100/64@eth0 -rate "$RATE")
ip netns exec $ACT "$tmp/rateserver" "${common[@]}" -handoff "$tmp/act.sock" -peer "$tmp/sby.sock" \
	>"$tmp/act.events" 2>"$tmp/act.log" &
act_pid=$!
pids+=($act_pid)
ip netns exec $SBY "$tmp/rateserver" "${common[@]}" -handoff "$tmp/sby.sock" -peer "$tmp/act.sock" \
	>"$tmp/sby.events" 2>"$tmp/sby.log" &
pids+=($!)
for f in act sby; do
	for _ in $(seq 100); do grep -qs '"ready"' "$tmp/$f.events" && break; sleep 0.05; done
	grep -qs '"ready"' "$tmp/$f.events" || { say "demo: $f rateserver did not start:"; cat "$tmp/$f.log"; exit 1; }
done

want=$("$tmp/rateserver" -sha256 "$SIZE")
say "== curl in $CLI: $SIZE bytes at $RATE B/s over IPv${FAMILIES// /+IPv}"
t0=$(ms)
curls=()
for fam in $FAMILIES; do
	case $fam in
	4) url="http://192.0.2.100:$PORT/body?size=$SIZE" ;;
	6) url="http://[2001:db8::100]:$PORT/body?size=$SIZE" ;;
	*) say "demo: DEMO_FAMILIES takes 4 and 6"; exit 2 ;;
	esac
	ip netns exec $CLI curl -sS -g --max-time 60 -o "$tmp/body$fam" -w "%{size_download} %{time_total}\n" "$url" \
		>"$tmp/curl$fam.out" 2>&1 &
	curls+=($!)
	pids+=($!)
done

# Move when about a quarter has arrived.
sleep "$(awk "BEGIN { print $SIZE / $RATE / 4 }")"
t_sig=$(ms)
say "   t=$(awk "BEGIN { printf \"%.2f\", ($t_sig - $t0) / 1000 }")s  SIGUSR1 → active hands its sessions to the standby"
kill -USR1 $act_pid
for _ in $(seq 200); do grep -qs '"pushed"' "$tmp/act.events" && break; sleep 0.05; done
ev=$(grep '"pushed"' "$tmp/act.events" || true)
field() { printf '%s' "$ev" | grep -o "\"$1\":[0-9]*" | head -1 | cut -d: -f2; }
fail=0
if [ -z "$ev" ] || printf '%s' "$ev" | grep -q '"err"'; then
	say "   handoff FAILED: ${ev:-no report}"
	sed 's/^/   act: /' "$tmp/act.log"
	sed 's/^/   sby: /' "$tmp/sby.log"
	fail=1
else
	printf '   %-22s %8s µs   (%s session(s), %s bytes of images)\n' "stop + get (act)" "$(field stop_get_us)" "$(field sessions)" "$(field image_bytes)"
	printf '   %-22s %8s µs\n' "set (sby, frozen)" "$(field set_us)"
	printf '   %-22s %8s µs\n' "address down (act)" "$(field ip_down_us)"
	printf '   %-22s %8s µs\n' "address up + GARP/NA" "$(field ip_up_us)"
	printf '   %-22s %8s µs\n' "restart (sby)" "$(field restart_us)"
	printf '   %-22s %8s µs   (off the critical path)\n' "release (act)" "$(field release_us)"
	printf '   %-22s %8s ms   (first stop → last restart)\n' "blackout" "$(awk "BEGIN { printf \"%.2f\", $(field blackout_us) / 1000 }")"
	mss=$(printf '%s' "$ev" | grep -o '"mss_[a-z]*":[0-9]*' | tr -d '"' | tr '\n' ' ' || true)
	printf '   %-22s %s (TCP_INFO snd_mss per session)\n' "mss" "$mss"
fi

for i in "${!curls[@]}"; do
	fam=$(echo $FAMILIES | cut -d' ' -f$((i + 1)))
	if ! wait "${curls[$i]}"; then
		say "   IPv$fam: curl failed: $(cat "$tmp/curl$fam.out")"
		fail=1
		continue
	fi
	got=$(sha256sum <"$tmp/body$fam" | cut -d' ' -f1)
	len=$(stat -c %s "$tmp/body$fam")
	read -r _ secs <"$tmp/curl$fam.out"
	if [ "$got" = "$want" ] && [ "$len" = "$SIZE" ]; then
		say "   IPv$fam: $len bytes in ${secs}s, sha256 $got: OK"
	else
		say "   IPv$fam: $len bytes, sha256 $got; want $SIZE bytes, sha256 $want: CORRUPT"
		fail=1
	fi
done
if [ $fail -ne 0 ]; then
	say "== demo FAILED"
	exit 1
fi
say "== demo OK: the downloads finished on the standby, byte for byte"
