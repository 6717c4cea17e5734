#!/usr/bin/env bash
# BFD on every tunnel path under kyotend, in the lab (TAP, for prove;
# root): every path of a site and of the hubs comes Up; a silent blackhole
# in the closed carrier, a line whose carrier goes down and a hub killed
# take exactly the paths they should Down, on both ends, within 5x the
# detection time, as PATH_DOWN events that name the cause; each comes back
# Up by itself (a killed hub's paths handshake again at once, not after
# the whitepaper's 15 s); the paths' round-trip probes fill the quality
# window; and with a segment policy applied BFD still passes inside the
# tunnels while nothing else new does.
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${KYOTEN_BUILD:-$REPO/build/sim}
LABCMD=$REPO/tools/lab
L=p$(($$ % 100000))	# lab name: [a-z0-9]{1,6}, unique per run
dir=$(mktemp -d /tmp/paths-lab-t.XXXXXX)
. "$REPO/tests/integration/lib.sh"

if [[ $(id -u) != 0 ]]; then
	echo "1..0 # SKIP needs root (creates network namespaces)"
	exit 0
fi
require_tools ip jq nft timeout
if [[ ! -x $BUILD/kyotend ]]; then
	echo "1..0 # SKIP kyotend is not built ($BUILD)"
	exit 0
fi

cleanup() {
	"$LABCMD" --name "$L" down >/dev/null 2>&1
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "1..12"

lab() { "$LABCMD" --name "$L" "$@"; }
paths() { lab ctl "$1" show paths --json; }
# count NODE JQ-FILTER: how many of NODE's paths match.
count() { paths "$1" | jq "[.[] | select($2)] | length"; }
is_count() { [[ $(count "$1" "$2") == "$3" ]]; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# note: a passing test's measured lines as TAP comments.
note() { grep '^measured' "$dir/out" | sed 's/^/# /'; }

# until_count MS NODE FILTER N: polls every 20 ms; prints how long it took.
until_count() {
	local limit=$1 t0 t
	shift
	t0=$(now_ms)
	while ! is_count "$@"; do
		t=$(($(now_ms) - t0))
		((t > limit)) && { echo "after $t ms:"; paths "$1" | jq -c '.[] | [.interface, .peer, .bfd.state, .bfd.diag]'; return 1; }
		sleep 0.02
	done
	echo $(($(now_ms) - t0))
}

ok "lab with 2 sites and kyotend comes up" lab up 2

all_up() {
	is_count site1 '.bfd.state == "up"' 4 && is_count site2 '.bfd.state == "up"' 4 &&
		is_count hub1 '.bfd.state == "up"' 4 && is_count hub2 '.bfd.state == "up"' 4
}
timers() {
	paths site1 | jq -c '.[] | [.interface, .["line-kind"], .bfd["detect-ms"], .bfd["tx-interval-ms"]]'
	# Closed lines 50 ms x 3, best-effort 100 ms x 5 (the defaults).
	is_count site1 '.["line-kind"] == "closed" and .bfd["detect-ms"] == 150 and .bfd["tx-interval-ms"] == 50' 2 &&
		is_count site1 '.["line-kind"] == "best-effort" and .bfd["detect-ms"] == 500 and .bfd["tx-interval-ms"] == 100' 2
}
ok "BFD is Up on every path: 4 per site, 2 per site on each hub" wait_for 20 all_up
ok "each line's timers are negotiated: closed 150 ms detection, best-effort 500 ms" wait_for 5 timers

quality() {
	paths site1 | jq -c '.[] | [.interface, .bfd.rtt]'
	is_count site1 '.bfd.rtt.samples >= 3 and .bfd.rtt["min-us"] > 0 and .bfd.rtt["avg-us"] >= .bfd.rtt["min-us"]' 4
}
ok "round-trip probes fill every path's quality window (RTT, jitter)" wait_for 10 quality

blackhole() {
	local t hub_t
	lab blackhole on site1 closed >/dev/null || return 1
	t=$(until_count 750 site1 '.line == "closed" and .bfd.state == "down"' 2) || { echo "$t"; return 1; }
	hub_t=$(until_count 750 hub1 '.peer == "site1" and .line == "closed" and .bfd.state == "down"' 1) ||
		{ echo "$hub_t"; return 1; }
	echo "measured: blackhole in the closed carrier: site1 saw both closed paths down after $t ms, hub1 after $hub_t ms more (detection 150 ms)"
	# The other line's paths stayed up, and site2 noticed nothing.
	is_count site1 '.line == "internet" and .bfd.state == "up"' 2 &&
		is_count site2 '.bfd.state == "up"' 4 &&
		lab ctl site1 log | grep 'PATH_DOWN.*kt-h1-l1 to hub1 over line closed is down: BFD timeout' >/dev/null
}
ok "a silent blackhole in the closed carrier: both closed paths Down within 5x 150 ms, at site1 and hub1, cause BFD timeout" blackhole
note

heal() {
	local t0=$SECONDS
	lab blackhole off site1 closed >/dev/null || return 1
	wait_for 30 is_count site1 '.bfd.state == "up"' 4 || { paths site1 | jq -c '.[] | [.interface, .bfd.state, .session]'; return 1; }
	echo "measured: the paths were Up again $((SECONDS - t0)) s after the blackhole ended"
	wait_for 10 is_count hub1 '.peer == "site1" and .bfd.state == "up"' 2 &&
		lab ctl site1 log | grep 'PATH_UP.*kt-h1-l1 to hub1 over line closed is up' >/dev/null
}
ok "the blackhole ends: the paths come back Up by themselves" heal
note

carrier() {
	local t
	lab line down site1 inet >/dev/null || return 1
	t=$(until_count 2500 site1 '.line == "internet" and .bfd.state == "down"' 2) || { echo "$t"; return 1; }
	echo "measured: carrier loss on the internet line: both paths down after $t ms (detection 500 ms)"
	lab line up site1 inet >/dev/null &&
		wait_for 15 is_count site1 '.bfd.state == "up"' 4
}
ok "the internet line's carrier goes down: its two paths Down within 5x 500 ms; Up again after" carrier
note

# A line that loses carrier: the box whose line it is tells the other end
# over its other line at once (netstack/pathsig.h), so the other end does
# not wait for BFD's detection time. Both ways: a site's line, a hub's.
signalled() { # node filter: that path is Down, by a signal
	is_count "$1" "$2 and .bfd.state == \"down\" and .bfd.diag == \"neighbor-signaled-session-down\"" 1
}
# Every path Up for 2 s at least: a path that has just come back after a
# carrier flap can still bounce once (docs/failover.md), and a signal
# about it must not race that.
settled() {
	all_up && is_count site1 '.bfd.state == "up" and .bfd["since-s"] >= 2' 4 &&
		is_count hub1 '.bfd.state == "up" and .bfd["since-s"] >= 2' 4
}
signal() {
	local t u
	wait_for 15 settled || return 1
	lab line down site1 closed >/dev/null || return 1
	t=$(until_count 750 hub1 '.peer == "site1" and .line == "closed" and .bfd.state == "down"' 1) ||
		{ echo "$t"; lab line up site1 closed; return 1; }
	echo "measured: site1's closed line lost carrier: hub1's path to site1 down after $t ms (BFD alone: 150 ms)"
	signalled hub1 '.peer == "site1" and .line == "closed"' &&
		signalled hub2 '.peer == "site1" and .line == "closed"' &&
		wait_for 3 is_count site1 '.line == "internet" and .bfd.signals.sent >= 1' 2 &&
		wait_for 3 is_count hub1 '.peer == "site1" and .line == "internet" and .bfd.signals.received >= 1' 1 ||
		{ paths hub1 | jq -c '.[] | [.interface, .peer, .bfd.state, .bfd.diag, .bfd.signals]'; lab line up site1 closed; return 1; }
	lab line up site1 closed >/dev/null && wait_for 15 settled || return 1
	lab line down hub1 closed >/dev/null || return 1
	u=$(until_count 750 site1 '.peer == "hub1" and .line == "closed" and .bfd.state == "down"' 1) ||
		{ echo "$u"; lab line up hub1 closed; return 1; }
	echo "measured: hub1's closed line lost carrier: site1's path to hub1 down after $u ms"
	signalled site1 '.peer == "hub1" and .line == "closed"' &&
		signalled site2 '.peer == "hub1" and .line == "closed"' ||
		{ paths site1 | jq -c '.[] | [.interface, .peer, .bfd.state, .bfd.diag]'; lab line up hub1 closed; return 1; }
	lab line up hub1 closed >/dev/null && wait_for 15 all_up &&
		is_count hub1 '.bfd.signals.refused == 0 and .bfd.signals.ignored == 0' 4
}
ok "a line loses carrier: the other end takes its path Down at once, told over the other line (site's line, then hub's)" signal
note

hub_kill() {
	local t back t0
	lab hub kill hub1 >/dev/null || return 1
	t=$(until_count 2500 site1 '.peer == "hub1" and .bfd.state == "down"' 2) || { echo "$t"; return 1; }
	is_count site1 '.peer == "hub2" and .bfd.state == "up"' 2 || return 1
	t0=$(now_ms)
	lab hub start hub1 >/dev/null || return 1
	wait_for 10 is_count site1 '.bfd.state == "up"' 4 || return 1
	back=$(($(now_ms) - t0))
	echo "measured: hub1 killed: site1's paths to it down after $t ms; Up again $back ms after hub1 restarted"
	# Well before the 15 s after which a WireGuard initiator would try
	# again by itself: the site handshakes when a path goes down.
	((back < 8000))
}
ok "hub1 killed: site1's two paths to it Down (hub2's stay Up); hub1 restarted: Up again within seconds" hub_kill
note

policy_passes_bfd() {
	local file=/run/kyoten-lab/$L/site1/policy-beta.yaml before after
	lab policy-file site1 beta >/dev/null || return 1
	lab ctl site1 policy apply "$file" >/dev/null &&
		lab ctl site1 policy confirm >/dev/null || return 1
	before=$(lab exec site1 nft -j list chain inet kyoten input |
		jq '[.nftables[] | select(.rule) | .rule | select(any(.expr[]; .match.right == 3784)) | .expr[] | select(.counter) | .counter.packets] | add')
	sleep 2
	after=$(lab exec site1 nft -j list chain inet kyoten input |
		jq '[.nftables[] | select(.rule) | .rule | select(any(.expr[]; .match.right == 3784)) | .expr[] | select(.counter) | .counter.packets] | add')
	echo "BFD packets accepted by the policy's rule in 2 s: $((after - before))"
	((after - before > 20)) && is_count site1 '.bfd.state == "up"' 4 &&
		lab exec site1 "$BUILD/kyotenctl" policy verify -T "$REPO/policy/templates" "$file" | grep 'keeps every invariant' >/dev/null
}
ok "with the beta policy applied, BFD passes inside the tunnels by its own rule, every path stays Up, verify agrees" policy_passes_bfd

no_refusals() {
	paths site1 | jq -c '.[] | [.interface, .bfd.refused]'
	is_count site1 '.bfd.refused == 0' 4 && is_count hub1 '.bfd.refused == 0' 4
}
ok "no BFD packet was refused on any path (all well-formed, one hop, ours)" no_refusals

lab_down() { lab down >/dev/null && ! ip netns list | grep -q "^$L-"; }
ok "the lab comes down without leftovers" lab_down
exit $((failed > 0))
