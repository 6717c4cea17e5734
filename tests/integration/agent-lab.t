#!/usr/bin/env bash
# The management agent in the lab (TAP, for prove; root): three sites'
# kyoten-agent, each with the identity a bundle gave it, connect to the
# NOC's broker (Mosquitto in the lab's internet side) over their
# internet lines; `kyoten-noc status` shows the fleet; a line cut shows
# up there and as annex-field events within seconds; an agent that dies
# is marked offline by its will; and events that happen while the broker
# is down wait on the box's disk and all arrive when it is back.
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${KYOTEN_BUILD:-$REPO/build/sim}
LABCMD=$REPO/tools/lab
L=a$(($$ % 100000))
dir=$(mktemp -d /tmp/agent-t.XXXXXX)
. "$REPO/tests/integration/lib.sh"

if [[ $(id -u) != 0 ]]; then
	echo "1..0 # SKIP needs root (creates network namespaces)"
	exit 0
fi
require_tools ip jq mosquitto timeout
require_built kyotend kyotenctl kyoten-noc kyoten-provision kyoten-agent

. "$REPO/tests/lib/noclab.sh"
trap noclab_cleanup EXIT
trap 'exit 130' INT TERM

echo "1..8"

noclab_up 3

# all_up: every one of the three sites online with 4 paths up.
all_up() {
	status_json >"$dir/status.json" &&
		[[ $(jq '[.sites[] | select(.state == "online" and
			([.telemetry.paths[] | select(.state == "up")] | length) == 4)] | length' \
			"$dir/status.json") == 3 ]]
}
ok "the three sites' agents connect and kyoten-noc status shows each online with its 4 paths up" \
	wait_for 20 all_up
ok "the text status: a row per site with its paths, worst RTT, policy and the path per segment" bash -c '
	"$@" >"$0/o" && [[ $(grep -c "^site[123] *online *4/4 " "$0/o") == 3 ]] &&
	grep -q "mynumber:kt-h1-l1" "$0/o"' "$dir" ip netns exec "$L-cloud" "$BUILD/kyoten-noc" \
	-d "$dir/noc" status --wait 700
sed 's/^/# /' "$dir/o"

# A line cut at site1, watched from the NOC.
noc watch --site site1 --class communications --timeout 10 --json >"$dir/watch1" 2>&1 &
watch=$!
sleep 1
t0=$(now_ms)
lab line down site1 closed >/dev/null
seen_cut() {
	status_json >"$dir/status.json" &&
		[[ $(jq '[.sites[] | select(.site == "site1") | .telemetry.paths[] | select(.state == "up")] | length' \
			"$dir/status.json") == 2 ]]
}
wait_for 15 seen_cut
t1=$(now_ms)
ok "the closed line's cut at site1 shows in kyoten-noc status (2 of 4 paths up) within 10 s" \
	test $((t1 - t0)) -lt 10000
echo "# measured: site1's line cut seen in kyoten-noc status after $((t1 - t0)) ms"
wait "$watch"
ok "the NOC receives the cut as events with the annex fields: class, device number, time, location, cause, code" bash -c '
	jq -se "([.[] | select(.code == \"KT-PATH_DOWN\")] | length == 2 and
		all(.[]; (.location | test(\"kt-h[12]-l1\")) and .cause == \"tunnel path\" and .alert)) and
		all(.[]; .class == \"communications\" and .[\"device-number\"] == \"LAB-0001\" and .site == \"site1\"
		and (.time | test(\"^2[0-9-]+T[0-9:.]+Z$\")) and (.code | startswith(\"KT-\")))" "$0" >/dev/null' "$dir/watch1"
grep KT-PATH_DOWN "$dir/watch1" | head -1 | sed 's/^/# /'
lab line up site1 closed >/dev/null

# An agent that dies: its will marks the site offline at once.
kill -9 "${agent[3]}"
unset 'agent[3]'
t0=$(now_ms)
offline3() {
	status_json >"$dir/status.json" &&
		[[ $(jq -r '.sites[] | select(.site == "site3") | .state' "$dir/status.json") == offline ]]
}
wait_for 10 offline3
t1=$(now_ms)
ok "an agent killed outright: the broker publishes its will and the NOC sees site3 offline within 5 s" \
	test $((t1 - t0)) -lt 5000
echo "# measured: site3 offline at the NOC $((t1 - t0)) ms after its agent was killed"

# The broker goes away; site2's internet line flaps meanwhile.
kill "$broker"
wait "$broker" 2>/dev/null
broker=
sleep 1
lab line down site2 inet >/dev/null
sleep 2
lab line up site2 inet >/dev/null
sleep 3
queued() { ls "$dir/s2/queue" | grep -c '\.ev$'; }
n_queued=$(queued)
ids=$(cat "$dir"/s2/queue/*.ev 2>/dev/null | jq -r .id | sort)
ok "with the broker down, site2's events wait on its disk ($n_queued queued, PATH_DOWN and PATH_UP among them)" bash -c '
	(($1 >= 4)) && cat "$0"/s2/queue/*.ev | jq -r .code | grep -q KT-PATH_DOWN &&
	cat "$0"/s2/queue/*.ev | jq -r .code | grep -q KT-PATH_UP' "$dir" "$n_queued"

# The agent held still until the NOC listens again, so that what it
# sends first is not missed by a watch that is not subscribed yet.
kill -STOP "${agent[2]}"
start_broker
sleep 1
noc watch --site site2 -n "$n_queued" --timeout 60 --json >"$dir/watch2" 2>"$dir/watch2.err" &
watch=$!
sleep 1
kill -CONT "${agent[2]}"
wait "$watch"
got=$(jq -r .id "$dir/watch2" | sort)
ok "when the broker is back every queued event arrives, once each, and site2's queue is empty" bash -c '
	[[ -n $0 && $0 == "$1" ]] && (($(ls "$2/s2/queue" | grep -c "\.ev$") == 0))' "$ids" "$got" "$dir"
echo "# $(wc -l <"$dir/watch2") events delivered after the outage; $(cat "$dir/watch2.err")"

ok "the NOC recorded every event it received in events.log" bash -c '
	for id in $0; do grep -q "\"id\":\"$id\"" "$1/noc/events.log" || exit 1; done' "$ids" "$dir"
