#!/usr/bin/env bash
# BFD of netstack/ (tests/interop/kybfd: netstack/bfd.c over RFC 5881
# UDP, netstack/bfdio.c) against FRR's bfdd (Debian's frr package), one
# hop apart, over IPv4 and IPv6 at once:
#
#   [ bf$$-frr ]  bfdd, 10.99.0.1  fd00:99::1   (vtysh reads its state)
#        |  veth
#   [ bf$$-ky  ]  kybfd 10.99.0.2, kybfd fd00:99::2
#
# Both sides at 50 ms x 3. The path is cut with an nftables drop in the
# kybfd namespace; bfdd's packets are given TTL 64 to check RFC 5881's
# one-hop rule; bfdd changes its timers (a poll sequence it starts) and
# shuts its peer down (AdminDown); kybfd goes AdminDown on SIGUSR1.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/integration/lib.sh
. tests/integration/lib.sh
B=${KYOTEN_BUILD:-$PWD/build/sim}
kybfd=$B/tests/interop/kybfd
bfdd=/usr/lib/frr/bfdd
frr=bf$$-frr ky=bf$$-ky
dir=$(mktemp -d /tmp/kyoten-bfd-t.XXXXXX)
frrdir=$dir/frr		# bfdd runs as user frr and makes its sockets here

cleanup() {
	[ -f "$frrdir/bfdd.pid" ] && kill "$(cat "$frrdir/bfdd.pid")" 2>/dev/null
	remove_netns $frr $ky
	rm -rf "$dir"
}
trap cleanup EXIT

if [ ! -x $bfdd ]; then
	echo "1..0 # SKIP FRR's bfdd is not installed (tools/bootstrap installs frr)"
	exit 0
fi
require_tools vtysh nft jq
echo "1..13"

ip netns add $frr && ip netns add $ky || exit 1
ip -n $frr link add v type veth peer name v netns $ky
ip -n $frr addr add 10.99.0.1/24 dev v
ip -n $ky addr add 10.99.0.2/24 dev v
ip -n $frr addr add fd00:99::1/64 dev v nodad
ip -n $ky addr add fd00:99::2/64 dev v nodad
for ns in $frr $ky; do ip -n $ns link set v up; ip -n $ns link set lo up; done

# Without zebra bfdd knows no interfaces, so the peers name their local
# addresses rather than an interface: still single hop (RFC 5881).
cat >"$dir/bfdd.conf" <<-EOF
	bfd
	 peer 10.99.0.2 local-address 10.99.0.1
	  receive-interval 50
	  transmit-interval 50
	  detect-multiplier 3
	 !
	 peer fd00:99::2 local-address fd00:99::1
	  receive-interval 50
	  transmit-interval 50
	  detect-multiplier 3
	 !
	!
EOF
mkdir -m 750 "$frrdir" && chown frr:frr "$frrdir" && chmod 644 "$dir/bfdd.conf"
chmod 711 "$dir"

vty() { ip netns exec $frr vtysh --vty_socket "$frrdir" "$@"; }
bfdd_runs() {
	ip netns exec $frr $bfdd -d -f "$dir/bfdd.conf" -i "$frrdir/bfdd.pid" \
		--vty_socket "$frrdir" --bfdctl "$frrdir/bfdctl.sock" -u frr -g frr \
		--log "file:$frrdir/bfdd.log" || return 1
	wait_for 5 vty -c 'show bfd peers brief'
}
ok "FRR's bfdd starts in its namespace and answers vtysh" bfdd_runs
# frr_peer ADDR: bfdd's JSON for that peer.
frr_peer() { vty -c "show bfd peer $1 json"; }
frr_is() {	# frr_is ADDR STATUS [DIAG [REMOTE_DIAG]]
	local j
	j=$(frr_peer "$1") || return 1
	jq -e --arg s "$2" --arg d "${3:-}" --arg r "${4:-}" \
		'.status == $s and ($d == "" or .diagnostic == $d) and
		 ($r == "" or ."remote-diagnostic" == $r)' <<<"$j" >/dev/null
}

start_ky() {	# start_ky NAME LOCAL REMOTE
	ip netns exec $ky "$kybfd" --local "$2" --remote "$3" --tx-ms 50 --rx-ms 50 \
		--mult 3 --probe-ms 500 >"$dir/$1.out" 2>"$dir/$1.err" &
	echo $! >"$dir/$1.pid"
}
# ky_saw NAME PATTERN: kybfd printed a line matching it.
ky_saw() { grep -Eq -e "$2" "$dir/$1.out"; }
ky_count() { grep -Ec -e "$2" "$dir/$1.out"; }
# ky_more NAME PATTERN N: more than N such lines.
ky_more() { (($(ky_count "$1" "$2") > $3)); }
ky_stats() {	# ky_stats NAME: stops it, prints its counters (JSON)
	kill "$(cat "$dir/$1.pid")"
	wait_for 5 ky_saw "$1" '^stats ' && sed -n 's/^stats //p' "$dir/$1.out"
}

# note: a passing test's measured figures (its lines starting "measured")
# as TAP comments.
note() { grep '^measured' "$dir/out" | sed 's/^/# /'; }

start_ky v4 10.99.0.2 10.99.0.1
start_ky v6 fd00:99::2 fd00:99::1

both_up() {
	wait_for 10 frr_is "$1" up && wait_for 10 ky_saw "$2" '-> up' || return 1
	frr_peer "$1" | jq -c '{status, "remote-id", "receive-interval", "transmit-interval",
		"remote-receive-interval", "remote-transmit-interval", "remote-detect-multiplier"}'
	cat "$dir/$2.out"
	# bfdd knows kybfd by its discriminator, and got its timers.
	frr_peer "$1" | jq -e --argjson d "$(sed -n 's/.*discriminator //p' "$dir/$2.out")" \
		'."remote-id" == $d and ."remote-receive-interval" == 50 and
		 ."remote-transmit-interval" == 50 and ."remote-detect-multiplier" == 3' >/dev/null
}
ok "IPv4: kybfd and bfdd both come Up, bfdd sees kybfd's discriminator and timers" both_up 10.99.0.2 v4
ok "IPv6: the same over IPv6" both_up fd00:99::2 v6

rtt_sampled() {
	wait_for 5 ky_more v4 ' rtt [0-9]+$' 2 || return 1
	echo "measured: round trips (µs) $(grep -E ' rtt [0-9]+$' "$dir/v4.out" | awk '{ print $3 }' | tr '\n' ' ')"
	# A veth round trip: under 50 ms even on a busy machine.
	! grep -E ' rtt [0-9]+$' "$dir/v4.out" | awk '$3 >= 50000 { bad = 1 } END { exit !bad }'
}
ok "bfdd answers kybfd's polls with a Final: round-trip samples (µs)" rtt_sampled
note

cut() {
	ip netns exec $ky nft -f - <<-EOF
		table inet bfdcut {
			chain in { type filter hook input priority -50; policy accept; udp dport 3784 drop; }
			chain out {
				type filter hook output priority -50; policy accept
				ip daddr 10.99.0.1 udp dport 3784 counter drop
				udp dport 3784 drop
			}
		}
	EOF
}
heal() { ip netns exec $ky nft delete table inet bfdcut; }

detect() {
	local t0 t1 downs
	downs=$(ky_count v4 'up -> down')
	t0=$(date +%s%N)
	cut || return 1
	wait_for 5 ky_more v4 'up -> down diag control-detection-time-expired' "$downs" || return 1
	t1=$(date +%s%N)
	wait_for 5 frr_is 10.99.0.2 down "control detection time expired" || return 1
	wait_for 5 frr_is fd00:99::2 down "control detection time expired" || return 1
	echo "measured: kybfd saw the cut after $(((t1 - t0) / 1000000)) ms (detection time 150 ms)"
	# Generous: 5 x the 150 ms detection time, for a loaded machine.
	(((t1 - t0) / 1000000 <= 750))
}
ok "a cut path: both sides Down for 'control detection time expired', kybfd within 5x the detection time" detect
note

sent_v4() {
	ip netns exec $ky nft -j list chain inet bfdcut out |
		jq '[.nftables[] | select(.rule) | .rule.expr[] | select(.counter) | .counter.packets] | add'
}
slow_while_down() {
	local a b
	a=$(sent_v4) && sleep 4 && b=$(sent_v4) || return 1
	echo "measured: kybfd sent $((b - a)) packets in 4 s while down"
	((b - a >= 3 && b - a <= 6))
}
ok "while down kybfd sends slowly (about one packet a second)" slow_while_down
note

recover() {
	heal || return 1
	wait_for 10 frr_is 10.99.0.2 up && wait_for 10 frr_is fd00:99::2 up &&
		wait_for 10 ky_more v4 '-> up' 1
}
ok "the path heals: Up again on both sides, by itself" recover

ttl() {
	local before
	before=$(ky_count v4 'up -> down')
	ip netns exec $frr nft -f - <<-EOF
		table ip bfdttl {
			chain post { type filter hook postrouting priority 0; policy accept; udp dport 3784 ip ttl set 64; }
		}
	EOF
	wait_for 5 ky_more v4 'up -> down' "$before"
	local rc=$?
	ip netns exec $frr nft delete table ip bfdttl
	return $rc
}
ok "bfdd's packets arriving with TTL 64 are refused (RFC 5881: one hop): kybfd goes Down" ttl

frr_poll() {
	wait_for 10 frr_is 10.99.0.2 up || return 1
	wait_for 10 ky_saw v4 'init -> up|down -> up' || return 1
	vty -c 'configure terminal' -c 'bfd' -c 'peer 10.99.0.2 local-address 10.99.0.1' \
		-c 'transmit-interval 200' -c 'receive-interval 200' || return 1
	sleep 2
	frr_peer 10.99.0.2 | jq -c '{status, "transmit-interval", "receive-interval", "remote-transmit-interval"}'
	frr_is 10.99.0.2 up && frr_peer 10.99.0.2 | jq -e '."transmit-interval" == 200' >/dev/null
}
ok "bfdd changes its timers while Up (its poll sequence, kybfd's Final): the session stays Up" frr_poll

frr_shutdown() {
	vty -c 'configure terminal' -c 'bfd' -c 'peer 10.99.0.2 local-address 10.99.0.1' -c 'shutdown' || return 1
	wait_for 5 ky_saw v4 'up -> down diag neighbor-signaled-session-down' || return 1
	vty -c 'configure terminal' -c 'bfd' -c 'peer 10.99.0.2 local-address 10.99.0.1' -c 'no shutdown' || return 1
	wait_for 10 frr_is 10.99.0.2 up
}
ok "bfdd shuts its peer down (AdminDown): kybfd goes Down, neighbour signalled; back Up after" frr_shutdown

ky_admin() {
	kill -USR1 "$(cat "$dir/v6.pid")"
	wait_for 5 frr_is fd00:99::2 down "" "administratively down" || return 1
	ky_saw v6 'up -> admin-down diag administratively-down' || return 1
	kill -USR1 "$(cat "$dir/v6.pid")"
	wait_for 10 frr_is fd00:99::2 up
}
ok "kybfd goes AdminDown: bfdd sees Down with 'administratively down'; back Up after" ky_admin

counted() {
	local s
	s=$(ky_stats v4) || return 1
	echo "$s"
	# The TTL step's packets are counted by reason; nothing else was bad.
	jq -e '.bad.ttl > 0 and .bad.length == 0 and .bad.version == 0 and .rx >= 20' <<<"$s" >/dev/null
}
ok "kybfd counted the refused packets by reason (ttl), and nothing else as bad" counted

frr_alive() {
	kill -0 "$(cat "$frrdir/bfdd.pid")" && ky_stats v6 >/dev/null
}
ok "bfdd is still running; kybfd stops cleanly" frr_alive
exit $((failed > 0))
