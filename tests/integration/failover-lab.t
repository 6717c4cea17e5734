#!/usr/bin/env bash
# Failover in the lab (TAP, for prove; root): a 1,000 packets/s stream
# each way between site1's LGWAN host and the LGWAN server while a line
# loses its carrier, the closed carrier silently drops site1's packets,
# hub1 is killed, and the closed line comes back (failback); then a line
# that flaps, and both lines down. Bounds are 5x the goals of the
# failover issue (docs/failover.md), so a busy machine does not fail
# them; tests/bench/failover measures the real figures.
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${KYOTEN_BUILD:-$REPO/build/sim}
LABCMD=$REPO/tools/lab
LAB=f$(($$ % 100000))
SEQSTREAM=$BUILD/tests/interop/seqstream
FO_DIR=$(mktemp -d /tmp/failover-lab-t.XXXXXX)
FO_HOLD_DOWN_S=2
dir=$FO_DIR
. "$REPO/tests/integration/lib.sh"
. "$REPO/tests/lib/failover.sh"

if [[ $(id -u) != 0 ]]; then
	echo "1..0 # SKIP needs root (creates network namespaces)"
	exit 0
fi
require_tools ip jq timeout
if [[ ! -x $BUILD/kyotend || ! -x $SEQSTREAM ]]; then
	echo "1..0 # SKIP kyotend or seqstream is not built ($BUILD)"
	exit 0
fi

cleanup() {
	"$LABCMD" --name "$LAB" down >/dev/null 2>&1
	rm -rf "$FO_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "1..11"
note() { grep '^measured' "$dir/out" | sed 's/^/# /'; }

up() { KYOTEN_LAB_HOLD_DOWN_MS=$((FO_HOLD_DOWN_S * 1000)) fo_lab up 1 >/dev/null; }
ok "lab with 1 site, kyotend and a ${FO_HOLD_DOWN_S} s hold-down comes up" up
ok "site1's LGWAN traffic runs on kt-h1-l1 and hub1 routes site1 by its closed line" \
	fo_wait_healthy 40

# within NAME UP DOWN MAX: both directions lost at most MAX packets.
within() {
	local name=$1 upl=$2 downl=$3 max=$4
	echo "measured: $name: $upl ms up (site to data centre), $downl ms down"
	((upl <= max && downl <= max))
}

scenario() { # letter name max
	local r
	r=$(fo_trial "$1") || return 1
	# shellcheck disable=SC2086 # two numbers
	within "$2" $r "$3"
}

ok "(a) carrier loss on the closed line: at most 250 ms lost each way (goal 50)" \
	scenario a "carrier loss" 250
note
ok "(b) silent blackhole in the closed carrier: at most 1500 ms each way (goal 300)" \
	scenario b "blackhole" 1500
note

# Both directions: the site moves to hub2 by BFD, the data-centre core
# by BGP (hub1's routes leave with its tunnels; tools/lab runs FRR there).
hub_kill() {
	local r upl downl
	r=$(fo_trial c) || return 1
	upl=${r% *} downl=${r#* }
	echo "measured: hub1 killed: $upl ms up, $downl ms down"
	((upl <= 1500 && downl <= 1500))
}
if [[ $(fo_dc_routing) == frr ]]; then
	ok "(c) hub1 killed: both directions move to hub2 within 1500 ms (goal 300)" hub_kill
	note
	ok "hub1 stops dead (FRR frozen too): the data-centre core notices by BFD, both directions within 1500 ms" \
		scenario e "hub1 dead" 1500
	note
else
	for what in "(c) hub1 killed" "hub1 stops dead"; do
		n=$((n + 1))
		echo "ok $n - $what # SKIP FRR is not installed: the lab's data-centre core routes statically and cannot route around a dead hub (tools/bootstrap installs frr)"
	done
fi

ok "(d) failback after the closed line is repaired: at most 5 packets lost each way (goal 0)" \
	scenario d "failback" 5
note

flap() {
	local before after i t0 secs
	fo_wait_healthy 30 || return 1
	before=$(fo_lab ctl site1 status --json | jq '.paths.segments[] | select(.segment == "lgwan") | .failbacks')
	t0=$SECONDS
	for ((i = 0; i < 50; i++)); do
		fo_lab line down site1 closed >/dev/null
		sleep 0.2
		fo_lab line up site1 closed >/dev/null
		sleep 0.2
	done
	secs=$((SECONDS - t0))
	fo_wait_healthy 40 || return 1
	after=$(fo_lab ctl site1 status --json | jq '.paths.segments[] | select(.segment == "lgwan") | .failbacks')
	echo "measured: a line flapping every 200 ms for $secs s: $((after - before)) failbacks (hold-down ${FO_HOLD_DOWN_S} s)"
	# One per hold-down at most, and the one after it settles.
	((after - before <= secs / FO_HOLD_DOWN_S + 1))
}
ok "a line flapping every 200 ms: at most one failback per hold-down, healthy after" flap
note

never_leaks() {
	local n
	fo_wait_healthy 30 || return 1
	fo_lab line down site1 closed >/dev/null || return 1
	sleep 1
	# What My Number sends is counted on its way out of any other port.
	fo_lab exec site1 nft -f - <<-EOF || return 1
		table inet fotest {
			chain f {
				type filter hook forward priority -10; policy accept;
				ip saddr 10.1.1.0/24 oifname != "lan1" counter
			}
		}
	EOF
	fo_lab exec site1-mn ping -c 5 -i 0.2 -W 1 172.16.3.10 >/dev/null && { echo "My Number got through"; return 1; }
	n=$(fo_lab exec site1 nft -j list chain inet fotest f |
		jq '[.nftables[] | select(.rule) | .rule.expr[] | select(.counter) | .counter.packets] | add')
	fo_lab exec site1 nft delete table inet fotest
	echo "My Number packets that left the box with the closed line down: $n"
	# ... while LGWAN goes over the internet line.
	fo_lab exec site1-lg ping -c1 -W1 172.16.1.10 >/dev/null && [[ $n == 0 ]]
}
ok "the closed line down: My Number is dropped, never sent over the internet line; LGWAN still reaches the data centre" never_leaks

both_down() {
	local t
	fo_lab line down site1 closed >/dev/null && fo_lab line down site1 inet >/dev/null || return 1
	sleep 1
	# The LAN still works: a host reaches the box and another segment.
	fo_lab exec site1-lg ping -c1 -W1 10.1.2.1 >/dev/null &&
		fo_lab exec site1-lg ping -c1 -W1 10.1.1.10 >/dev/null || { echo "the LAN stopped"; return 1; }
	# Every segment's table ends the data centre's prefixes in a
	# blackhole: nothing falls through to the main table.
	for t in 1000 1001 1002 1003; do
		fo_lab exec site1 ip route show table "$t" 172.16.0.0/16 | grep '^blackhole' >/dev/null ||
			{ echo "table $t: $(fo_lab exec site1 ip route show table "$t")"; return 1; }
	done
	fo_lab line up site1 inet >/dev/null
	# One line back: traffic again, by itself.
	wait_for 20 fo_lab exec site1-lg ping -c1 -W1 172.16.1.10 >/dev/null || { echo "no recovery"; return 1; }
	fo_lab line up site1 closed >/dev/null
	fo_wait_healthy 40
}
ok "both lines down: the LAN keeps working, nothing leaks; a line back and traffic resumes by itself" both_down

lab_down() { fo_lab down >/dev/null && ! ip netns list | grep -q "^$LAB-"; }
ok "the lab comes down without leftovers" lab_down
exit $((failed > 0))
