#!/usr/bin/env bash
# The data path of netstack/ (device, timers, TUN, batched UDP) through a
# real TUN, with real traffic (ping, iperf3), against wireguard-go and
# against itself with the cryptrec suite:
#
#   [ tu$$-a ]  wireguard-go $wgif | kytun kt0   10.99.0.1   v 192.0.2.1
#        |  veth
#   [ tu$$-b ]  kytun kt0                      10.99.0.2   v 192.0.2.2
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/integration/lib.sh
. tests/integration/lib.sh
B=${KYOTEN_BUILD:-$PWD/build/sim}
kytun=$B/tests/interop/kytun
ctl=$B/kyotenctl
na=tu$$-a nb=tu$$-b
dir=$(mktemp -d /tmp/kyoten-tun-t.XXXXXX)
# wireguard-go's control socket (/var/run/wireguard/NAME.sock) is shared
# by all namespaces: the interface name must be unique to this run.
wgif=wg$$

stop_all() {
	for ns in $na $nb; do
		ip netns pids $ns 2>/dev/null | xargs -r kill 2>/dev/null
	done
	sleep 0.3
}
cleanup() {
	remove_netns $na $nb
	rm -rf "$dir"
}
trap cleanup EXIT

require_tools wireguard-go wg iperf3
echo "1..8"
umask 077
ip netns add $na && ip netns add $nb || exit 1
ip -n $na link add v type veth peer name v netns $nb
ip -n $na addr add 192.0.2.1/24 dev v
ip -n $nb addr add 192.0.2.2/24 dev v
for ns in $na $nb; do ip -n $ns link set v up; ip -n $ns link set lo up; done

up_tun() {	# up_tun NS DEV ADDR
	for _ in $(seq 50); do ip -n "$1" link show "$2" >/dev/null 2>&1 && break; sleep 0.1; done
	ip -n "$1" addr add "$3/24" dev "$2" && ip -n "$1" link set "$2" up mtu 1420
}
kytun_b() {	# kytun_b SUITE PEERPUB [extra...]: kytun in B towards A
	local suite=$1 pub=$2
	shift 2
	ip netns exec $nb "$kytun" --suite "$suite" --tun kt0 --key "$dir/b-$suite.key" \
		--port 51821 --peer "$pub" --allowed 10.99.0.1/32 \
		--endpoint 192.0.2.1:51820 "$@" 2>"$dir/kytun-b.log" &
	up_tun $nb kt0 10.99.0.2
}
ping_both() {
	ip netns exec $nb ping -c 3 -i 0.2 -W 2 10.99.0.1 &&
		ip netns exec $na ping -c 3 -i 0.2 -W 2 10.99.0.2
}
iperf_both() {	# TCP for 2 s each way; some throughput, and it completes
	ip netns exec $na iperf3 -s -D -1 -p 5201 && sleep 0.3 &&
		ip netns exec $nb iperf3 -c 10.99.0.1 -p 5201 -t 2 -J >"$dir/up.json" &&
		ip netns exec $na iperf3 -s -D -1 -p 5202 && sleep 0.3 &&
		ip netns exec $nb iperf3 -c 10.99.0.1 -p 5202 -t 2 -R -J >"$dir/down.json" &&
		jq -e '.end.sum_received.bits_per_second > 10000000' "$dir/up.json" &&
		jq -e '.end.sum_received.bits_per_second > 10000000' "$dir/down.json"
}

# --- against wireguard-go, wireguard suite ---
wg genkey >"$dir/a-go.key"
"$ctl" keygen "$dir/b-wireguard.key" >"$dir/b-wireguard.pub"
ip netns exec $na env WG_PROCESS_FOREGROUND=1 wireguard-go $wgif >/dev/null 2>&1 &
for _ in $(seq 50); do ip -n $na link show $wgif >/dev/null 2>&1 && break; sleep 0.1; done
ip netns exec $na wg set $wgif private-key "$dir/a-go.key" listen-port 51820 \
	peer "$(cat "$dir/b-wireguard.pub")" allowed-ips 10.99.0.2/32
up_tun $na $wgif 10.99.0.1
kytun_b wireguard "$(wg pubkey <"$dir/a-go.key")" --rekey-after-ms 2000

ok "kytun <-> wireguard-go: ping both ways through TUN" ping_both
ok "kytun <-> wireguard-go: TCP both ways (iperf3)" iperf_both
rekey() {
	# kytun (initiator) rekeys every 2 s; 6 s of pings every 20 ms must
	# lose nothing across the rekeys.
	ip netns exec $nb ping -q -c 300 -i 0.02 -W 1 10.99.0.1 >"$dir/ping" &&
		grep ' 0% packet loss' "$dir/ping" &&
		[ "$(ip netns exec $na wg show $wgif latest-handshakes | awk '{print $2}')" -gt 0 ]
}
ok "rekeys every 2 s with wireguard-go lose no ping" rekey
stop_all
counted() {	# kytun's counters: at least 3 handshakes, no drops but no-route
	grep -E 'handshakes ([3-9]|[1-9][0-9]+)' "$dir/kytun-b.log" &&
		! grep -E '(bad-mac|replay|no-session|allowed-ips|malformed)=' "$dir/kytun-b.log"
}
ok "kytun counted the rekeys and no bad packet" counted

# --- kytun to kytun, cryptrec suite ---
"$ctl" keygen --suite cryptrec "$dir/a-cryptrec.key" >"$dir/a-cryptrec.pub"
"$ctl" keygen --suite cryptrec "$dir/b-cryptrec.key" >"$dir/b-cryptrec.pub"
ip netns exec $na "$kytun" --suite cryptrec --tun kt0 --key "$dir/a-cryptrec.key" \
	--port 51820 --peer "$(cat "$dir/b-cryptrec.pub")" --allowed 10.99.0.2/32 \
	2>"$dir/kytun-a.log" &
up_tun $na kt0 10.99.0.1
kytun_b cryptrec "$(cat "$dir/a-cryptrec.pub")"
ok "kytun <-> kytun, cryptrec suite: ping both ways" ping_both
ok "kytun <-> kytun, cryptrec suite: TCP both ways" iperf_both
mismatch() {	# a cryptrec endpoint and a wireguard one never talk
	stop_all
	ip netns exec $na "$kytun" --suite cryptrec --tun kt0 --key "$dir/a-cryptrec.key" \
		--port 51820 --peer "$(cat "$dir/b-cryptrec.pub")" --allowed 10.99.0.2/32 \
		2>"$dir/kytun-a.log" &
	up_tun $na kt0 10.99.0.1
	kytun_b wireguard "$("$ctl" pubkey "$dir/b-wireguard.key")"
	! ip netns exec $nb ping -c 2 -W 1 10.99.0.1
}
ok "a wireguard-suite endpoint cannot reach a cryptrec one" mismatch
stop_all
ok "the cryptrec endpoint counted the foreign messages as malformed" \
	grep -E 'malformed=[1-9]' "$dir/kytun-a.log"
[ $failed -eq 0 ]
