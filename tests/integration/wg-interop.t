#!/usr/bin/env bash
# The tunnel protocol of netstack/ against wireguard-go, a real WireGuard
# implementation (Debian's package), configured with wg:
#
#   [ wi$$-go ]  wireguard-go $wgif 10.99.0.1  v 192.0.2.1:51820
#        |  veth
#   [ wi$$-ky ]  tests/interop/wgpeer (inner 10.99.0.2)  v 192.0.2.2
#
# wgpeer performs the handshake and carries one ICMP echo through the
# tunnel, as initiator or as responder.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/integration/lib.sh
. tests/integration/lib.sh
B=${KYOTEN_BUILD:-$PWD/build/sim}
peer=$B/tests/interop/wgpeer
go=wi$$-go ky=wi$$-ky
dir=$(mktemp -d /tmp/kyoten-wg-t.XXXXXX)
# wireguard-go's control socket (/var/run/wireguard/NAME.sock) is shared
# by all namespaces: the interface name must be unique to this run.
wgif=wg$$

cleanup() {
	remove_netns $go $ky
	rm -rf "$dir"
}
trap cleanup EXIT

require_tools wireguard-go wg
echo "1..6"
umask 077
wg genkey >"$dir/go.key"; wg pubkey <"$dir/go.key" >"$dir/go.pub"
wg genkey >"$dir/ky.key"; wg pubkey <"$dir/ky.key" >"$dir/ky.pub"
wg genkey >"$dir/other.key"
wg genpsk >"$dir/psk"; wg genpsk >"$dir/psk2"
gopub=$(cat "$dir/go.pub") kypub=$(cat "$dir/ky.pub")
ip netns add $go && ip netns add $ky || exit 1
ip -n $go link add v type veth peer name v netns $ky
ip -n $go addr add 192.0.2.1/24 dev v
ip -n $ky addr add 192.0.2.2/24 dev v
for ns in $go $ky; do ip -n $ns link set v up; ip -n $ns link set lo up; done
ip netns exec $go env WG_PROCESS_FOREGROUND=1 wireguard-go $wgif >"$dir/wg-go.log" 2>&1 &
for _ in $(seq 50); do ip -n $go link show $wgif >/dev/null 2>&1 && break; sleep 0.1; done
ip netns exec $go wg set $wgif private-key "$dir/go.key" listen-port 51820
ip -n $go addr add 10.99.0.1/24 dev $wgif
ip -n $go link set $wgif up

# A fresh peer entry each time, so wireguard-go holds no session from the
# previous case and must handshake again.
go_peer() {	# go_peer [psk FILE]
	ip netns exec $go wg set $wgif peer "$kypub" remove
	ip netns exec $go wg set $wgif peer "$kypub" allowed-ips 10.99.0.2/32 \
		endpoint 192.0.2.2:51821 "$@"
}
initiate() {	# initiate PORT [PSKFILE]
	local port=$1
	shift
	ip netns exec $ky "$peer" initiate "$dir/ky.key" "$gopub" "$port" \
		192.0.2.1:51820 10.99.0.2 10.99.0.1 "$@"
}
respond() {
	ip netns exec $ky "$peer" respond "$dir/ky.key" "$gopub" 51821 \
		192.0.2.1:51820 10.99.0.2 10.99.0.1 "$@" &
	local pid=$!
	sleep 0.3
	ip netns exec $go ping -c 1 -W 3 10.99.0.2 && wait $pid
}

go_peer
ok "kyoten initiates: handshake, echo through wireguard-go and back" initiate 51821
go_peer
ok "wireguard-go initiates: kyoten responds and answers its ping" respond
go_peer preshared-key "$dir/psk"
ok "with a pre-shared key on both sides" initiate 51821 "$dir/psk"
go_peer preshared-key "$dir/psk"
wrong_psk() {
	! WGPEER_TIMEOUT_MS=3000 initiate 51821 "$dir/psk2" 2>"$dir/err" &&
		grep 'response refused' "$dir/err"
}
ok "a different pre-shared key: the response is refused" wrong_psk
go_peer
unknown_key() {
	! WGPEER_TIMEOUT_MS=2000 ip netns exec $ky "$peer" initiate "$dir/other.key" \
		"$gopub" 51821 192.0.2.1:51820 10.99.0.2 10.99.0.1 2>"$dir/err" &&
		grep 'timed out' "$dir/err"
}
ok "a key wireguard-go does not know gets no answer" unknown_key
go_peer
roam() {
	# Configured endpoint is port 51821; we come from 51899. wireguard-go
	# must follow the authenticated packet to its new address.
	initiate 51899 &&
		ip netns exec $go wg show $wgif endpoints | grep '192.0.2.2:51899'
}
ok "roaming: wireguard-go follows kyoten to a new source port" roam
[ $failed -eq 0 ]
