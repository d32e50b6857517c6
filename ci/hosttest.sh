#!/usr/bin/env bash
# ci/hosttest.sh — the host tier (make hosttest): real TCP sessions moved
# between network namespaces of this host with TCP_REPAIR and nftables
# (tests/host), plus libtcptake's own TestIntegration* tests if any.
#
# Needs root (netns, TCP_REPAIR, nftables). Installs the tools the tests
# drive when they are missing: curl, socat, keepalived, iproute2 (ip, ss, nstat),
# nftables, util-linux (setpriv).
#
#   ci/hosttest.sh              run everything
#   HOSTTEST_RUN=TestStates ci/hosttest.sh    only the matching tests
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
	echo "hosttest: must run as root (network namespaces, TCP_REPAIR, nftables)" >&2
	exit 1
fi

# tool → Debian package
need=""
for pair in curl:curl socat:socat keepalived:keepalived ip:iproute2 ss:iproute2 nstat:iproute2 nft:nftables setpriv:util-linux; do
	command -v "${pair%%:*}" >/dev/null 2>&1 || need="$need ${pair#*:}"
done
. ci/lib.sh
# shellcheck disable=SC2046,SC2086 # word splitting wanted
apt_install hosttest $(echo $need | tr ' ' '\n' | sort -u)

GO=${GO:-go}
export TCPTAKE_HOSTTEST=1
run=()
[ -n "${HOSTTEST_RUN:-}" ] && run=(-run "$HOSTTEST_RUN")

start=$(date +%s)
rc=0
"$GO" test -count=1 -timeout 15m -v "${run[@]}" ./tests/host/... || rc=$?
if grep -qs 'func TestIntegration' libtcptake/*_test.go; then
	"$GO" test -count=1 -timeout 5m -v -run Integration ./libtcptake/... || rc=$?
fi
echo "hosttest: $(( $(date +%s) - start )) s, exit $rc"

# The tests remove what they create; say so loudly if anything is left.
left=$(ip netns list | grep -E "^tt-(cli|act|sby|br)-" || true)
if [ -n "$left" ]; then
	echo "hosttest: namespaces left behind:" >&2
	echo "$left" >&2
	rc=1
fi
exit $rc
