#!/usr/bin/env bash
# Integration test of tools/lab (TAP, for prove). Builds a lab of its own
# name, checks the topology, every fault and the teardown, and removes the lab
# on exit. Needs root. Daemon checks are skipped while kyotend is not built.
set -uo pipefail # no -e: one failing check must not end the run

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LABCMD=$REPO/tools/lab
BUILD=${KYOTEN_BUILD:-$REPO/build/sim}
A=t$(($$ % 100000)) # lab names: [a-z0-9]{1,6}, unique per run
B=u$(($$ % 100000))
PLAN=43
LOG=$(mktemp /tmp/lab-t.XXXXXX)

if [[ $(id -u) != 0 ]]; then
	echo "1..0 # SKIP needs root (creates network namespaces)"
	exit 0
fi
for t in ip tc nft ping flock; do
	if ! command -v "$t" >/dev/null; then
		echo "1..0 # SKIP '$t' is not installed"
		exit 0
	fi
done

if [[ -x $BUILD/kyotend && -x $BUILD/kyotenctl ]]; then
	MODE=()
	NODAEMON=
else
	MODE=(--no-daemon)
	NODAEMON="kyotend is not built ($BUILD/kyotend missing)"
fi

cleanup() {
	"$LABCMD" --name "$B" down >/dev/null 2>&1
	"$LABCMD" --name "$A" down >/dev/null 2>&1
	rm -f "$LOG"
}
trap cleanup EXIT
trap 'exit 130' INT TERM # so that the EXIT trap still removes the labs

N=0
ok() { N=$((N + 1)); echo "ok $N - $1"; }
not_ok() {
	N=$((N + 1))
	echo "not ok $N - $1"
	[[ -s $LOG ]] && sed 's/^/# /' "$LOG"
	return 0
}
skip() { N=$((N + 1)); echo "ok $N - $1 # SKIP $2"; }
# check NAME CMD...: one test point; output of CMD shown only if it fails.
check() {
	local name=$1
	shift
	if "$@" >"$LOG" 2>&1; then ok "$name"; else not_ok "$name"; fi
}
daemon_check() {
	if [[ -n $NODAEMON ]]; then skip "$1" "$NODAEMON"; else check "$@"; fi
}

lab() { "$LABCMD" --name "$A" "$@"; }
labB() { "$LABCMD" --name "$B" "$@"; }
ns_count() { ip netns list | grep -c "^$1-" || true; }
pings() { # lab node src dst: one ping, retried briefly (ARP after a change)
	for _ in 1 2 3; do
		"$LABCMD" --name "$1" exec "$2" ping -c1 -W1 -I "$3" "$4" && return 0
		sleep 0.3
	done
	return 1
}
no_ping() { ! "$LABCMD" --name "$1" exec "$2" ping -c1 -W1 -I "$3" "$4"; }
kyotend_pids() { # namespace
	local p
	for p in $(ip netns pids "$1" 2>/dev/null); do
		[[ $(cat "/proc/$p/comm" 2>/dev/null) == kyotend ]] && echo "$p"
	done
	return 0
}
json_ok() { # json-file id
	if command -v jq >/dev/null; then
		jq -e --arg id "$2" '.site.id == $id' "$1" >/dev/null
	else
		python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(d["site"]["id"] != sys.argv[2])' "$1" "$2"
	fi
}
# Waits up to 3 s for kyotend on site1 to report wan1's carrier as WANT.
wan1_carrier() { # want
	local got i
	for ((i = 0; i < 30; i++)); do
		if command -v jq >/dev/null; then
			got=$(lab ctl site1 status --json | jq -r '.ports[] | select(.port == "wan1") | .carrier')
		else
			got=$(lab ctl site1 status --json | python3 -c '
import json, sys
ports = json.load(sys.stdin).get("ports", [])
print(str([p.get("carrier") for p in ports if p.get("port") == "wan1"][0]).lower())')
		fi
		[[ $got == "$1" ]] && return 0
		sleep 0.1
	done
	echo "kyotend reports wan1 carrier '$got', expected $1"
	return 1
}

echo "1..$PLAN"
[[ -n $NODAEMON ]] && echo "# $NODAEMON: running with --no-daemon"

# 1. up 3
t0=$(date +%s%N)
check "up 3 succeeds" lab "${MODE[@]}" up 3
ms=$((($(date +%s%N) - t0) / 1000000))
echo "# up 3 took $ms ms"
if ((ms < 30000)); then ok "up 3 takes under 30 s ($ms ms)"; else not_ok "up 3 takes under 30 s ($ms ms)"; fi

# 2. idempotent up, refusal of another size
before_ns=$(ns_count "$A")
before_d=$(for h in hub1 hub2 site1 site2 site3; do kyotend_pids "$A-$h"; done | wc -l)
if lab "${MODE[@]}" up 3 >"$LOG" 2>&1 && grep -q "already up" "$LOG"; then
	ok "up 3 again says it is already up"
else
	not_ok "up 3 again says it is already up"
fi
same() {
	[[ $(ns_count "$A") == "$before_ns" && $before_ns == 25 ]] || { echo "namespaces: $before_ns then $(ns_count "$A")"; return 1; }
	local d
	d=$(for h in hub1 hub2 site1 site2 site3; do kyotend_pids "$A-$h"; done | wc -l)
	[[ $d == "$before_d" ]] || { echo "kyotend processes: $before_d then $d"; return 1; }
	[[ $(ip -n "$A-site1" -4 -o addr show dev wan1 | wc -l) == 1 ]] || { echo "wan1 addresses:"; ip -n "$A-site1" -4 addr show dev wan1; return 1; }
	[[ $(ip -n "$A-hub1" route show 172.16.0.0/16 | wc -l) == 1 ]] || { echo "hub1 routes:"; ip -n "$A-hub1" route; return 1; }
}
check "second up duplicates nothing (25 namespaces, same daemons, one address, one route)" same
if lab "${MODE[@]}" up 2 >"$LOG" 2>&1; then
	not_ok "up 2 on a 3-site lab refuses"
elif grep -q "down" "$LOG"; then
	ok "up 2 on a 3-site lab refuses and suggests down"
else
	not_ok "up 2 on a 3-site lab refuses and suggests down"
fi

# 3. reachability
for s in 1 2 3; do
	check "site$s reaches hub1 and hub2 over closed" \
		eval "pings $A site$s 100.64.$s.2 100.64.0.2 && pings $A site$s 100.64.$s.2 100.64.0.6"
	check "site$s reaches hub1 and hub2 over inet" \
		eval "pings $A site$s 198.18.$s.2 198.18.0.2 && pings $A site$s 198.18.$s.2 198.18.0.6"
done
lan_gw() { # s
	local k h
	for k in 1 2 3 4; do
		h=$(echo mn lg in mg | cut -d' ' -f"$k")
		pings "$A" "site$1-$h" "10.$1.$k.10" "10.$1.$k.1" || return 1
	done
}
for s in 1 2 3; do check "site$s LAN hosts reach their gateways" lan_gw "$s"; done

# 4. carriers are separate
separate() {
	! ip -n "$A-closed" route get 198.18.0.2 &&
		! ip -n "$A-inet" route get 100.64.0.2 &&
		no_ping "$A" closed 100.64.0.1 198.18.0.2 &&
		no_ping "$A" inet 198.18.0.1 100.64.1.2
}
check "closed carrier cannot reach inet addresses, nor inet closed ones" separate
# The internet side (cloud) is behind the internet carrier only: a site
# reaches it over wan2, from its line's address; the closed carrier cannot.
cloud() {
	pings "$A" site2 198.18.2.2 203.0.113.10 &&
		[[ $(ip -n "$A-site2" route get 203.0.113.10) == *"dev wan2"* ]] &&
		! ip -n "$A-closed" route get 203.0.113.10
}
check "sites reach the internet side (cloud) over wan2; the closed carrier does not" cloud

# 5. daemons answer
ctl_all() {
	local n
	for n in hub1 hub2 site1 site2 site3; do lab ctl "$n" status >/dev/null || { echo "no answer from $n"; return 1; }; done
}
daemon_check "ctl NODE status answers for every site and hub" ctl_all
json_all() {
	local n f=$LOG.json
	for n in hub1 hub2 site1 site2 site3; do
		lab ctl "$n" status --json >"$f" || return 1
		json_ok "$f" "$n" || { echo "$n:"; cat "$f"; rm -f "$f"; return 1; }
	done
	rm -f "$f"
}
daemon_check "ctl NODE status --json parses and names the node" json_all

# 6. line down/up
no_carrier() { ip -n "$A-site1" link show wan1 | grep -Eq 'NO-CARRIER|LOWERLAYERDOWN'; }
check "line down site1 closed (twice): wan1 loses carrier" \
	eval "lab line down site1 closed && lab line down site1 closed && no_carrier"
check "line down: pings over wan1 fail" no_ping "$A" site1 100.64.1.2 100.64.0.2
daemon_check "line down: kyotend on site1 reports wan1 without carrier" wan1_carrier false
check "line up site1 closed: carrier back, pings work" \
	eval "lab line up site1 closed && lab line up site1 closed && ! no_carrier && pings $A site1 100.64.1.2 100.64.0.2"
daemon_check "line up: kyotend on site1 reports wan1 with carrier" wan1_carrier true

# 7. blackhole
bh_rules() { ip netns exec "$A-closed" nft list table inet kyoten_lab 2>/dev/null | grep -c 'comment "blackhole"'; }
check "blackhole on site1 closed (twice): link stays up, one rule" \
	eval "lab blackhole on site1 closed && lab blackhole on site1 closed && ! no_carrier && [[ \$(bh_rules) == 1 ]]"
check "blackhole: pings over wan1 fail, inet still works" \
	eval "no_ping $A site1 100.64.1.2 100.64.0.2 && pings $A site1 198.18.1.2 198.18.0.2"
check "blackhole off: pings work, no nft table left" \
	eval "lab blackhole off site1 closed && lab blackhole off site1 closed && pings $A site1 100.64.1.2 100.64.0.2 && ! ip netns exec $A-closed nft list table inet kyoten_lab"

# 8. loss
loss_pct() {
	lab exec site1 ping -q -i 0.01 -c 200 -W 1 -I 100.64.1.2 100.64.0.2 | sed -n 's/.* \([0-9.]*\)% packet loss.*/\1/p'
}
lab loss site1 closed 50 >"$LOG" 2>&1
lost=$(loss_pct)
lost=${lost%.*}
echo "# loss 50: ${lost:-?}% of 200 pings lost"
if [[ -n $lost ]] && ((lost >= 25 && lost <= 75)); then
	ok "loss site1 closed 50: $lost% of 200 pings lost (25..75)"
else
	not_ok "loss site1 closed 50: ${lost:-?}% of 200 pings lost (25..75)"
fi
check "loss site1 closed 0 removes it" \
	eval "lab loss site1 closed 0 && ! ip netns exec $A-closed nft list table inet kyoten_lab && [[ \$(loss_pct) == 0 ]]"

# 9. rate
tbf_both() {
	tc -n "$A-closed" qdisc show dev site1 | grep -q '^qdisc tbf' &&
		tc -n "$A-site1" qdisc show dev wan1 | grep -q '^qdisc tbf'
}
check "rate site1 closed 1mbit: tbf on the carrier veth and on wan1" \
	eval "lab rate site1 closed 1mbit && tbf_both"
check "rate site1 closed off: both removed" \
	eval "lab rate site1 closed off && lab rate site1 closed off && ! tc -n $A-closed qdisc show dev site1 | grep -q tbf && ! tc -n $A-site1 qdisc show dev wan1 | grep -q tbf"

# 10. hub kill/start
daemon_check "hub kill hub1: no kyotend left in hub1" \
	eval "lab hub kill hub1 && [[ -z \$(kyotend_pids $A-hub1) ]]"
daemon_check "hub start hub1: it answers again, site1 reaches it" \
	eval "lab hub start hub1 && lab ctl hub1 status && pings $A site1 100.64.1.2 100.64.0.2"

# 10b. the data centre's routing (FRR: BGP from the hubs, BFD on the sessions)
if [[ -x /usr/lib/frr/bgpd ]] && command -v vtysh jq >/dev/null; then
	frr_routes() { # S H: dc-core's BGP route to site S's tunnel address goes via hub H (within 30 s)
		local i
		for ((i = 0; i < 150; i++)); do
			ip -n "$A-dc-core" route show "172.30.1.$1/32" proto bgp | grep "via 172.31.$2.2" >/dev/null && return 0
			sleep 0.2
		done
		ip -n "$A-dc-core" route show "172.30.1.$1/32"
		return 1
	}
	daemon_check "FRR: dc-core has BGP and BFD up with both hubs, a route to every site through hub1" \
		eval "lab vtysh dc-core -c 'show bfd peers brief' | grep -c ' up ' | grep -x 2 >/dev/null && frr_routes 1 1 && frr_routes 2 1 && frr_routes 3 1 && lab status | grep '^data-centre routing: FRR' >/dev/null"
	daemon_check "hub crash hub1: kyotend gone, FRR frozen; dc-core reroutes site1 through hub2 by BFD" \
		eval "lab hub crash hub1 && [[ -z \$(kyotend_pids $A-hub1) ]] && frr_routes 1 2 && lab vtysh dc-core -c 'show bfd peers brief' | grep -q ' down '"
	daemon_check "hub start hub1 after a crash: FRR thawed, dc-core routes site1 through hub1 again" \
		eval "lab hub start hub1 && frr_routes 1 1"
	check "vtysh refuses a node without FRR, and a lab that is not up" \
		eval "! lab vtysh site1 -c 'show version' && ! $LABCMD --name zz9 vtysh dc-core -c 'show version'"
else
	for t in "FRR: dc-core routes" "hub crash" "hub start after a crash" "vtysh refuses"; do
		skip "$t" "FRR is not installed (tools/bootstrap installs frr)"
	done
fi

# 11. two labs side by side
check "a second lab ($B) with 1 site comes up beside the first" labB "${MODE[@]}" up 1
check "both labs healthy" \
	eval "lab status && labB status && pings $B site1 100.64.1.2 100.64.0.6 && pings $A site3 198.18.3.2 198.18.0.2"
check "the labs do not share namespaces (25 and 15)" \
	eval "[[ \$(ns_count $A) == 25 && \$(ns_count $B) == 15 ]]"
check "down of the second lab leaves the first working" \
	eval "labB down && [[ \$(ns_count $B) == 0 && ! -e /run/kyoten-lab/$B ]] && lab status && pings $A site2 100.64.2.2 100.64.0.6"

# 12. down
pids_before=$(for n in $(ip netns list | grep -o "^$A-[a-z0-9-]*"); do ip netns pids "$n"; done)
check "down removes every namespace and the state dir" \
	eval "lab down && [[ \$(ns_count $A) == 0 && ! -e /run/kyoten-lab/$A ]]"
alive() { # pids that still run (zombies awaiting a reaper do not count)
	local p st
	for p in $pids_before; do
		st=$(awk '{ print $3 }' "/proc/$p/stat" 2>/dev/null) || continue
		[[ $st == Z ]] || echo "$p"
	done
}
check "no process of the lab survives down" eval "[[ -z \$(alive) ]]"
check "down again is fine" lab down

if ((N != PLAN)); then
	echo "# planned $PLAN tests but ran $N"
	exit 1
fi
