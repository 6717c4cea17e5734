#!/usr/bin/env bash
# The policy compiler against the kernel (policy/nft.c), with real traffic:
#
#   [pol$$-my]  10.7.1.2  ----- lan1 10.7.1.1  +-------------+
#   [pol$$-lg]  10.7.2.2  ----- lan2 10.7.2.1  | [pol$$-box] |
#   [pol$$-dc]  10.101.0.10     kt0 10.101.0.1 |  forwards,  |
#               10.101.0.20 --                 |  table inet |
#   [pol$$-noc] 10.250.0.2 ---- mg0 10.250.0.1 |  kyoten     |
#                                              +-------------+
# (every link a veth pair; dc stands for the data centre behind a tunnel)
#
# Checks kyotenctl policy check, that the applied table is what the policy
# says (read back with nft -j), that traffic passes or is dropped as the
# policy says, that a replacement is whole and leaves other tables alone,
# and that a batch the kernel refuses, or a bad file, changes nothing.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/integration/lib.sh
. tests/integration/lib.sh
B=${KYOTEN_BUILD:-$PWD/build/sim}
require_tools nft jq ping
p=pol$$
box=$p-box my=$p-my lg=$p-lg dc=$p-dc noc=$p-noc
dir=$(mktemp -d /tmp/kyoten-policy-t.XXXXXX)
polnft=$B/tests/interop/polnft

cleanup() {
	remove_netns $box $my $lg $dc $noc
	rm -rf "$dir"
}
trap cleanup EXIT

nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
# The table without counters or handles, to compare two readings.
ruleset() {
	nsx $box nft -j list ruleset |
		jq -S 'del(.nftables[0]) | walk(if type == "object" then
			del(.handle) | (if has("counter") then .counter = {} else . end)
			else . end)'
}
can_tcp() { nsx "$1" "$polnft" connect tcp "$2" "$3"; }
cannot_tcp() { ! can_tcp "$@"; }
can_ping() { nsx "$1" ping -c1 -W1 "$2" >/dev/null; }
cannot_ping() { ! can_ping "$@"; }

echo "1..23"
for ns in $box $my $lg $dc $noc; do
	ip netns add "$ns" || exit 1
	nsx "$ns" ip link set lo up
done
link $my lan1 10.7.1.1/24 10.7.1.2/24
link $lg lan2 10.7.2.1/24 10.7.2.2/24
link $dc kt0 10.101.0.1/16 10.101.0.10/16 10.101.0.20/16
link $noc mg0 10.250.0.1/24 10.250.0.2/24
nsx $box sysctl -qw net.ipv4.ip_forward=1
nsx $box nft add table inet bystander

cat >"$dir/site.yaml" <<YAML
lines:
  - {name: closed, kind: closed, port: wan1, tunnel-ports: [51820]}
segments:
  - {name: my, kind: mynumber, ports: [lan1], prefixes: [10.7.1.0/24]}
  - {name: lg, kind: lgwan, ports: [lan2], prefixes: [10.7.2.0/24]}
  - {name: dc, kind: lgwan, ports: [kt0], prefixes: [10.101.0.0/16]}
  - {name: noc, kind: management, ports: [mg0], prefixes: [10.250.0.0/24]}
hosts:
  - {name: ft, role: file-transfer, segment: dc, addresses: [10.101.0.10]}
flows:
  - {from: my, to: ft, proto: tcp, ports: [8443], purpose: files, log: true}
  - {from: lg, to: dc, proto: tcp, ports: [80], purpose: business systems}
  - {from: lg, to: dc, proto: icmp, purpose: ping}
  - {from: noc, to: box, proto: icmp, purpose: the NOC pings the box}
YAML
sed 's/ports: \[8443\]/ports: [9443]/' "$dir/site.yaml" >"$dir/v2.yaml"
{ cat "$dir/site.yaml"; echo "  - {from: my, to: dc, proto: tcp, ports: [22], purpose: oops}"; } >"$dir/bad.yaml"
sed 's/ports: \[80\]/ports: [70000]/' "$dir/site.yaml" >"$dir/malformed.yaml"

ok "policy check explains a good policy" \
	bash -c "'$B/kyotenctl' policy check -T policy/templates '$dir/site.yaml' >'$dir/explain' &&
		grep -qx '  From segment my (My Number):' '$dir/explain' &&
		grep -q 'to ft (file-transfer host in dc, LGWAN) by tcp port 8443, each connection logged' '$dir/explain'"
ok "policy check refuses a flow that breaks an invariant, naming it" \
	bash -c "! '$B/kyotenctl' policy check '$dir/bad.yaml' 2>'$dir/err' &&
		grep -q '^$dir/bad.yaml:15:5: flows\[4\]: breaks invariant mynumber-lgwan-host-port' '$dir/err'"
ok "policy check refuses a malformed policy with file, line, column and field" \
	bash -c "! '$B/kyotenctl' policy check '$dir/malformed.yaml' 2>'$dir/err' &&
		grep -q '^$dir/malformed.yaml:12:44: flows\[1\].ports\[0\]: port 70000 is out of range' '$dir/err'"

ok "before: traffic flows with no policy" can_ping $lg 10.7.1.2
ok "apply builds the table in one batch" \
	bash -c "ip netns exec $box '$polnft' apply '$dir/site.yaml' | grep -q '^elements 4 messages'"
ok "the kernel holds chains input, forward, output with policy drop" \
	bash -c "nft_out=\$(ip netns exec $box nft -j list table inet kyoten) &&
		[ \"\$(jq -r '[.nftables[] | select(.chain.hook) | .chain | \"\\(.name):\\(.hook):\\(.policy)\"] | sort | join(\" \")' <<<\"\$nft_out\")\" = 'forward:forward:drop input:input:drop output:output:drop' ]"
ok "every rule has a counter" \
	bash -c "ip netns exec $box nft -j list table inet kyoten |
		jq -e '[.nftables[] | select(.rule) | .rule | any(.expr[]; has(\"counter\"))] | all and length > 15' >/dev/null"
ok "flows are elements of interval verdict maps (logged flow jumps to log-accept)" \
	bash -c "ip netns exec $box nft -j list table inet kyoten |
		jq -e '[.nftables[] | select(.map.name == \"fwd4\") | .map | .type == [\"ipv4_addr\",\"inet_service\",\"ipv4_addr\",\"ifname\",\"inet_proto\"] and (.flags | index(\"interval\")) and (.elem | length == 3) and any(.elem[]; .[1].jump.target == \"log-accept\")] == [true]' >/dev/null"

# Servers in a subshell: not this shell's jobs, so their end at cleanup
# prints nothing.
(
	nsx $dc "$polnft" serve tcp 8443 60 &
	nsx $dc "$polnft" serve tcp 9443 60 &
	nsx $dc "$polnft" serve tcp 80 60 &
)
sleep 0.3
ok "My Number reaches the file-transfer host on its port" can_tcp $my 10.101.0.10 8443
ok "... and nothing else: another port, another host, ping" \
	bash -c "! ip netns exec $my '$polnft' connect tcp 10.101.0.10 9443 &&
		! ip netns exec $my '$polnft' connect tcp 10.101.0.20 80 &&
		! ip netns exec $my ping -c1 -W1 10.101.0.10 >/dev/null"
ok "LGWAN reaches the data centre by tcp 80 and ping" \
	bash -c "ip netns exec $lg '$polnft' connect tcp 10.101.0.20 80 &&
		ip netns exec $lg ping -c1 -W1 10.101.0.10 >/dev/null"
ok "LGWAN does not reach My Number, nor the data centre back" \
	bash -c "! ip netns exec $lg ping -c1 -W1 10.7.1.2 >/dev/null &&
		! ip netns exec $dc ping -c1 -W1 10.7.2.2 >/dev/null"
ok "the box answers the NOC, not My Number" \
	bash -c "ip netns exec $noc ping -c1 -W1 10.250.0.1 >/dev/null &&
		! ip netns exec $my ping -c1 -W1 10.7.1.1 >/dev/null"
ok "denied packets are counted and logged (rate-limited), logged flows counted" \
	bash -c "[ \"\$(ip netns exec $box nft -j list chain inet kyoten forward |
		jq '[.nftables[] | select(.rule) | .rule.expr | select(any(.[]; has(\"log\"))) | .[] | select(.counter) | .counter.packets] | add')\" -gt 0 ] &&
		[ \"\$(ip netns exec $box nft -j list chain inet kyoten log-accept |
		jq '[.nftables[] | select(.rule) | .rule.expr[] | select(.counter) | .counter.packets] | add')\" -gt 0 ]"

ruleset >"$dir/v1.json"
ok "a replacement takes effect whole (8443 closed, 9443 open)" \
	bash -c "ip netns exec $box '$polnft' apply '$dir/v2.yaml' >/dev/null &&
		! ip netns exec $my '$polnft' connect tcp 10.101.0.10 8443 &&
		ip netns exec $my '$polnft' connect tcp 10.101.0.10 9443"
ok "other tables are left alone" bash -c "ip netns exec $box nft list table inet bystander >/dev/null"
ruleset >"$dir/v2.json"
ok "the rulesets differ only where the policy does" \
	bash -c "! cmp -s '$dir/v1.json' '$dir/v2.json' &&
		[ \"\$(diff '$dir/v1.json' '$dir/v2.json' | grep -c '^[<>]')\" -le 4 ]"
ok "a batch the kernel refuses changes nothing, and says what it refused" \
	bash -c "! ip netns exec $box '$polnft' apply --fail-last '$dir/site.yaml' 2>'$dir/err' &&
		grep -q 'the kernel refused a rule in chain forward' '$dir/err' &&
		cmp '$dir/v2.json' <(ip netns exec $box nft -j list ruleset | jq -S 'del(.nftables[0]) | walk(if type == \"object\" then del(.handle) | (if has(\"counter\") then .counter = {} else . end) else . end)')"
ok "a malformed or refused policy changes nothing" \
	bash -c "! ip netns exec $box '$polnft' apply '$dir/malformed.yaml' 2>/dev/null &&
		! ip netns exec $box '$polnft' apply '$dir/bad.yaml' 2>/dev/null &&
		cmp '$dir/v2.json' <(ip netns exec $box nft -j list ruleset | jq -S 'del(.nftables[0]) | walk(if type == \"object\" then del(.handle) | (if has(\"counter\") then .counter = {} else . end) else . end)') &&
		ip netns exec $my '$polnft' connect tcp 10.101.0.10 9443"
ok "verify: the kernel's ruleset keeps every invariant" \
	bash -c "ip netns exec $box '$B/kyotenctl' policy verify '$dir/v2.yaml' | grep -q 'keeps every invariant'"
nsx $box nft insert rule inet kyoten forward iifname lan1 oifname kt0 accept
ok "verify finds a hand-inserted rule and the invariant it breaks" \
	bash -c "! ip netns exec $box '$B/kyotenctl' policy verify '$dir/v2.yaml' >'$dir/verify' &&
		grep -q '^chain forward rule (handle [0-9]*) .*: breaks invariant default-deny' '$dir/verify' &&
		grep -q '^chain forward rule (handle [0-9]*) .*: breaks invariant mynumber-lgwan-host-port' '$dir/verify' &&
		ip netns exec $my '$polnft' connect tcp 10.101.0.20 80"
ok "applying again removes it; verify agrees" \
	bash -c "ip netns exec $box '$polnft' apply '$dir/v2.yaml' >/dev/null &&
		ip netns exec $box '$B/kyotenctl' policy verify '$dir/v2.yaml' >/dev/null &&
		! ip netns exec $my '$polnft' connect tcp 10.101.0.20 80"
ok "the test's namespaces are its own" bash -c "ip netns list | grep -c '^$p-' | grep -qx 5"
exit $((failed > 0))
