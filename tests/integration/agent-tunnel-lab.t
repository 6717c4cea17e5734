#!/usr/bin/env bash
# The management channel through the management tunnel, in the lab (TAP,
# for prove; root). The broker has a second address in the data centre
# (172.16.5.10, cloud's leg into dc-core); site1's agent runs with
# `via: auto`: it sends from the box's management address (10.1.4.1),
# which kyotend routes by the management segment's path. It stays on the
# tunnel through a line cut, falls back to the internet line when every
# tunnel path is gone, and goes back to the tunnel after the hold-down;
# with `via: tunnel` it never uses the line. A policy push goes through
# the tunnel too, and is confirmed only when both channels work under it.
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${KYOTEN_BUILD:-$REPO/build/sim}
LABCMD=$REPO/tools/lab
L=m$(($$ % 100000))
dir=$(mktemp -d /tmp/mgtun-t.XXXXXX)
. "$REPO/tests/integration/lib.sh"

if [[ $(id -u) != 0 ]]; then
	echo "1..0 # SKIP needs root (creates network namespaces)"
	exit 0
fi
require_tools ip jq mosquitto timeout
require_built kyotend kyotenctl kyoten-noc kyoten-provision kyoten-agent tests/interop/kymqtt

. "$REPO/tests/lib/noclab.sh"
trap noclab_cleanup EXIT
trap 'exit 130' INT TERM

echo "1..11"

# A short hold-down: the agent goes back to the tunnel as kyotend's
# paths do, once a path has held this long.
export KYOTEN_LAB_HOLD_DOWN_MS=3000
NOCLAB_VIA=auto noclab_up 1

tele() { noc status --json --wait 700 2>/dev/null | jq -c '.sites[] | select(.site == "site1")'; }
via_is() { # via [source]
	local t
	t=$(tele) && [[ $(jq -r '.state' <<<"$t") == online ]] &&
		[[ $(jq -r '.telemetry.channel.via' <<<"$t") == "$1" ]]
}
connects() { grep -c "kyoten-agent: connected to" "$dir/agent1.log"; }
sessions() { lab ctl site1 show tunnels --json | jq '[.paths[] | select(.session)] | length'; }
all_up() { [[ $(sessions) == 4 ]]; }
none_up() { [[ $(lab ctl site1 status --json | jq '[.paths.segments[] | select(.kind == "management" and .active != null)] | length') == 0 ]]; }

wait_for 30 all_up || echo "# not every tunnel came up"
wait_for 20 via_is tunnel
ok "via: auto with a tunnel path: the agent connects to the broker's data-centre address from the box's management address" bash -c '
	grep -q "connected to 172.16.5.10:8883 through the management tunnel from 10.1.4.1 as site1" "$0/agent1.log" &&
	grep -q "New client connected from 10.1.4.1:.* as site1" "$0/broker.log"' "$dir"
tele | jq -c .telemetry.channel | sed 's/^/# /'
ok "kyotend routes what the box sends from 10.1.4.1 by the management segment's table, into a tunnel" bash -c '
	ip -n "$0-site1" rule show | grep -Eq "from 10\.1\.4\.1 lookup 100[0-9]" &&
	ip -n "$0-site1" route get 172.16.5.10 from 10.1.4.1 | grep -q "dev kt-h"' "$L"
ip -n "$L-site1" route get 172.16.5.10 from 10.1.4.1 | sed 's/^/# /'

n0=$(connects)
lab line down site1 closed >/dev/null 2>&1
sleep 3
ok "a line cut moves the management segment to another path; the agent's connection stays up (no reconnect)" bash -c '
	[[ $(grep -c "kyoten-agent: connected to" "$0/agent1.log") == "$1" ]] && "$2" --name "$3" ctl site1 status --json |
	jq -e "[.paths.segments[] | select(.kind == \"management\") | .active | test(\"-l2\$\")] == [true]" >/dev/null' \
	"$dir" "$n0" "$LABCMD" "$L"
lab line up site1 closed >/dev/null 2>&1
wait_for 30 all_up

# Every tunnel path gone: both hubs' kyotend killed.
t0=$(now_ms)
lab hub kill hub1 >/dev/null 2>&1
lab hub kill hub2 >/dev/null 2>&1
wait_for 15 none_up
wait_for 20 via_is line
fell=$?
t1=$(now_ms)
# The agent notices at its next look at kyotend (each second), or when
# what it was sending through the dead tunnel is not acknowledged (5 s).
ok "every tunnel path gone: the agent is online over the internet line within seconds" bash -c '
	[[ $1 == 0 ]] && tail -1 "$0/agent1.log" | grep -q "connected to 203.0.113.10:8883 over the line as site1" &&
	grep -q "New client connected from 198.18.1.2:.* as site1" "$0/broker.log"' "$dir" "$fell"
grep -E "no path left|the broker:" "$dir/agent1.log" | tail -1 | sed 's/^/# /'
echo "# hubs killed to online over the line at the NOC: $((t1 - t0)) ms"
ok "the route from the management address is a blackhole meanwhile (nothing leaks by the main table)" bash -c '
	ip -n "$0-site1" route get 172.16.5.10 from 10.1.4.1 2>&1 | grep -Eiq "blackhole|invalid argument" &&
	ip -n "$0-site1" route show table 1003 | grep -q "^blackhole 172.16.0.0/16"' "$L"

# What the NOC sees of the site's state while the agent moves back.
kyq state-watch -t 60000 sub kyoten/site/site1/state -q 1 -n 100 >"$dir/states" 2>&1 &
watcher=$!
sleep 1
t0=$(now_ms)
lab hub start hub1 >/dev/null 2>&1
lab hub start hub2 >/dev/null 2>&1
wait_for 30 all_up
wait_for 40 via_is tunnel
t1=$(now_ms)
sleep 1
kill "$watcher" 2>/dev/null
wait "$watcher" 2>/dev/null
ok "the paths back: after the hold-down (3 s) the agent moves back to the tunnel, and the NOC never sees the site offline meanwhile" bash -c '
	held=$(grep -o "has had a path for [0-9]* s; moving to the tunnel" "$0/agent1.log" | tail -1 | grep -o "[0-9]\+") &&
	(( held >= 3 )) && [[ $(grep -c "through the management tunnel from 10.1.4.1" "$0/agent1.log") -ge 2 ]] &&
	grep -q "state online" "$0/states" && ! grep -q "offline" "$0/states"' "$dir"
sed 's/^/# /' "$dir/states"
echo "# hubs started to online through the tunnel again: $((t1 - t0)) ms (hold-down 3 s)"

# A policy push through the tunnel: confirmed only when both channels
# work under it (via: auto), so the beta policy with the flows for both
# is confirmed, and one with the tunnel's flow only, which would leave
# the site nothing the day the tunnels go, is reverted by the box.
lab policy-file site1 beta >"$dir/beta.yaml"
cat >>"$dir/beta.yaml" <<EOF
  - from: box
    to: noc
    proto: tcp
    ports: [8883]
    purpose: "the management channel to the NOC's broker through the management tunnel"
EOF
cp "$dir/beta.yaml" "$dir/beta-tunnel-only.yaml"
cat >>"$dir/beta.yaml" <<EOF
  - from: box
    to: internet-line
    proto: tcp
    ports: [8883]
    purpose: "the management channel to the NOC's broker over the internet line"
EOF
ok "a policy pushed through the tunnel, with the flows for both channels, is applied and confirmed" bash -c '
	"$@" policy push "$0/beta.yaml" --sites site1 --timeout 30 >"$0/push1" 2>&1 &&
	grep -Eq "^  site1 +confirmed" "$0/push1"' "$dir" ip netns exec "$L-cloud" "$BUILD/kyoten-noc" -d "$dir/noc"
sed 's/^/# /' "$dir/push1"
g=$(lab ctl site1 status --json | jq -r .policy.generation)
noc policy push "$dir/beta-tunnel-only.yaml" --sites site1 --confirm-timeout 5 --timeout 10 >"$dir/push2" 2>&1
back() { [[ $(lab ctl site1 status --json | jq -r '.policy.state + " " + (.policy.generation | tostring)') == "confirmed $g" ]]; }
wait_for 20 back
reverted=$?
ok "a policy that shuts the line the agent would fall back to is never confirmed: the box goes back to the one before" bash -c '
	[[ $1 == 0 ]] && grep -q "site1 *no answer" "$0/push2" &&
	grep -q "a new connection to the broker failed under generation .*(over the line: " "$0/agent1.log"' \
	"$dir" "$reverted"
sed 's/^/# /' "$dir/push2"
grep "failed under generation" "$dir/agent1.log" | tail -1 | sed 's/^/# /'

# via: tunnel: the line is never used.
kill "${agent[1]}"
wait "${agent[1]}" 2>/dev/null
sed -i 's/^  via: auto$/  via: tunnel/' "$dir/s1/etc/site.yaml"
lab hub kill hub1 >/dev/null 2>&1
lab hub kill hub2 >/dev/null 2>&1
wait_for 15 none_up
lines0=$(grep -c "New client connected from 198.18.1.2" "$dir/broker.log")
: >"$dir/agent1.log"
start_agent 1
sleep 6
ok "via: tunnel and no tunnel path: the agent waits, and never connects over the line" bash -c '
	grep -q "via: tunnel, and the management segment has no path: waiting for one" "$0/agent1.log" &&
	! grep -q "kyoten-agent: connected to" "$0/agent1.log" &&
	[[ $(grep -c "New client connected from 198.18.1.2" "$0/broker.log") == "$1" ]]' "$dir" "$lines0"
lab hub start hub1 >/dev/null 2>&1
lab hub start hub2 >/dev/null 2>&1
wait_for 30 all_up
wait_for 20 via_is tunnel
ok "via: tunnel: once a path is back the agent connects through it" \
	grep -q "connected to 172.16.5.10:8883 through the management tunnel from 10.1.4.1" "$dir/agent1.log"
ok "the agent's log names its channel at start" grep -q "broker 203.0.113.10:8883 (172.16.5.10 in the data centre), via tunnel" "$dir/agent1.log"
