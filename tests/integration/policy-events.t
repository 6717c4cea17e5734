#!/usr/bin/env bash
# Denied packets become events: kyotend applies the policy, whose log
# rules send them to nflog; the parent binds the group and hands the
# socket and the policy's segments to the engine, which names them and
# reports counts per segment pair.
#
#   [pe$$-lg] 10.9.2.10 --- lan2 10.9.2.1 +----------+ lan1 10.9.1.1 --- 10.9.1.10 [pe$$-dc]
#                                         | pe$$-box |
#                                         +----------+  kyotend; table inet kyoten
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/integration/lib.sh
. tests/integration/lib.sh
B=${KYOTEN_BUILD:-$PWD/build/sim}
require_tools nft jq ping
p=pe$$
box=$p-box lg=$p-lg dc=$p-dc
dir=$(mktemp -d /tmp/kyoten-events-t.XXXXXX)
sock=$dir/kyotend.sock pidf=$dir/kyotend.pid
polnft=$B/tests/interop/polnft

cleanup() {
	if [ $failed -gt 0 ]; then
		echo "# kyotend's log:"
		tail -30 "$dir/kyotend.log" | sed 's/^/#   /'
	fi
	[ -f "$pidf" ] && kill "$(cat "$pidf")" 2>/dev/null
	remove_netns $box $lg $dc
	rm -rf "$dir"
}
trap cleanup EXIT

nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
ctl() { nsx $box "$B/kyotenctl" -s "$sock" "$@"; }
json() { ctl status --json | jq -e "$@" >/dev/null; }
events() { ctl log | grep -F "$1"; }

echo "1..7"
for ns in $box $lg $dc; do
	ip netns add "$ns" || exit 1
	nsx "$ns" ip link set lo up
done
link $dc lan1 10.9.1.1/24 10.9.1.10/24
link $lg lan2 10.9.2.1/24 10.9.2.10/24
for w in wan1 wan2; do
	ip -n $box link add $w type veth peer name p-$w netns $dc
	ip -n $dc link set p-$w up
done
nsx $box sysctl -qw net.ipv4.ip_forward=1

cat >"$dir/site.yaml" <<YAML
site: {id: site9, device-number: "TEST-0009", role: site}
policy: {templates: $PWD/policy/templates, state-dir: $dir/policy}
lines:
  - {name: closed, kind: closed, port: wan1, address: 100.64.9.2/30, gateway: 100.64.9.1}
  - {name: internet, kind: best-effort, port: wan2, address: 198.18.9.2/30, gateway: 198.18.9.1}
hubs:
  - {name: hub1, endpoints: {closed: 100.64.0.2, internet: 198.18.0.2}}
segments:
  - {name: dc, kind: mynumber, port: lan1, address: 10.9.1.1/24}
  - {name: lg, kind: lgwan, port: lan2, address: 10.9.2.1/24}
YAML
cat >"$dir/policy.yaml" <<YAML
segments:
  - {name: lg, kind: lgwan, ports: [lan2], prefixes: [10.9.2.0/24]}
  - {name: dc, kind: lgwan, ports: [lan1], prefixes: [10.9.1.0/24]}
flows:
  - {from: lg, to: dc, proto: tcp, ports: [80], purpose: business systems, log: true}
YAML

start() {
	nsx $box setsid "$B/kyotend" -d -c "$dir/site.yaml" -s "$sock" \
		-p "$pidf" >>"$dir/kyotend.log" 2>&1 </dev/null &
	wait_for 10 test -S "$sock" -a -s "$pidf"
}
start
ok "kyotend starts and listens to the policy's nflog group" \
	wait_for 5 json '.denials.state == "listening" and .denials["nflog-group"] == 2573'
ok "kyotend applies the policy" ctl policy apply --confirmed "$dir/policy.yaml"
(nsx $dc "$polnft" serve tcp 80 60 &)
sleep 0.3

denied_tcp() {
	! nsx $lg "$polnft" connect tcp 10.9.1.10 8080 &&
		wait_for 5 events 'POLICY_DENIED' >"$dir/ev" &&
		grep -F 'denied: 10.9.2.10 -> 10.9.1.10 by tcp port 8080, from lg to dc (in lan2, out lan1)' "$dir/ev"
}
ok "a denied connection is an event naming source, destination, port and interfaces" denied_tcp
denied_ping() {
	! nsx $lg ping -c1 -W1 10.9.2.1 >/dev/null &&
		wait_for 5 events 'denied to the box: 10.9.2.10 -> 10.9.2.1 by icmp type 8 code 0, from lg to the box (in lan2, out -)'
}
ok "a denied ping to the box is an event too" denied_ping
logged() {
	nsx $lg "$polnft" connect tcp 10.9.1.10 80 &&
		wait_for 5 events 'allowed and logged: 10.9.2.10 -> 10.9.1.10 by tcp port 80, from lg to dc'
}
ok "a connection of a flow with log: true is an event" logged
repeats() {
	local before after
	before=$(ctl log | grep -c 'POLICY_DENIED.*port 8080') || return 1
	for _ in 1 2 3 4 5; do nsx $lg "$polnft" connect tcp 10.9.1.10 8080; done
	wait_for 5 json '[.denials.pairs[] | select(.from == "lg" and .to == "dc" and .kind == "denied-forward") | .packets] | add >= 6' &&
		after=$(ctl log | grep -c 'POLICY_DENIED.*port 8080') &&
		[ "$before" = "$after" ] &&
		json '.denials.suppressed >= 5 and .denials.malformed["bad-length"] == 0 and .denials.malformed["bad-payload"] == 0'
}
ok "repeats are counted per segment pair, not logged again" repeats
restart_engine() {
	local pid
	pid=$(ctl status --json | jq -r '.processes[1].pid') &&
		kill -9 "$pid" &&
		wait_for 10 json ".processes[1].state == \"up\" and .processes[1].pid != $pid" &&
		! nsx $lg "$polnft" connect tcp 10.9.1.10 8081 &&
		wait_for 5 events 'by tcp port 8081'
}
ok "a restarted engine gets the socket again and goes on reporting" restart_engine
exit $((failed > 0))
