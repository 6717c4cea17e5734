#!/usr/bin/env bash
# Signed commands from the NOC to one site, in the lab (TAP, for prove;
# root): `kyoten-noc site rollback`, `site diagnose` (kyotend's status and
# log, one path probed) and `site reboot` (on the sim board kyotend
# restarts in its own process), each signed with the NOC's policy key and
# checked by the site's agent. A command replayed, an older one after a
# newer, and one sent on another command's topic are refused, and
# nothing happens on the box.
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${KYOTEN_BUILD:-$REPO/build/sim}
LABCMD=$REPO/tools/lab
L=c$(($$ % 100000))
dir=$(mktemp -d /tmp/cmds-t.XXXXXX)
. "$REPO/tests/integration/lib.sh"

if [[ $(id -u) != 0 ]]; then
	echo "1..0 # SKIP needs root (creates network namespaces)"
	exit 0
fi
require_tools ip jq mosquitto timeout
require_built kyotend kyotenctl kyoten-noc kyoten-provision kyoten-agent kyoten-image \
	tests/interop/kymqtt

. "$REPO/tests/lib/noclab.sh"
trap noclab_cleanup EXIT
trap 'exit 130' INT TERM

echo "1..14"

noclab_up 1

st() { lab ctl site1 status --json; }
online() {
	noc status --json --wait 700 >"$dir/status.json" 2>/dev/null &&
		[[ $(jq '[.sites[] | select(.state == "online")] | length' "$dir/status.json") == 1 ]]
}
sessions_up() { [[ $(lab ctl site1 show tunnels --json | jq '[.paths[] | select(.session)] | length') == 4 ]]; }
wait_for 20 online || echo "# the agent did not come online"
wait_for 30 sessions_up || echo "# not every tunnel came up"

# A policy pushed and confirmed, so that there is one to roll back from.
lab policy-file site1 beta >"$dir/beta.yaml"
cat >>"$dir/beta.yaml" <<EOF
  - from: box
    to: internet-line
    proto: tcp
    ports: [8883]
    purpose: "the management channel to the NOC's broker (kyoten-agent)"
EOF
cp "$dir/beta.yaml" "$dir/beta2.yaml"
printf '  - from: box\n    to: internet-line\n    proto: udp\n    ports: [123]\n    purpose: "NTP"\n' \
	>>"$dir/beta2.yaml"
noc policy push "$dir/beta.yaml" --sites site1 --timeout 30 >"$dir/push" 2>&1
first=$(st | jq -r .policy.generation)
noc policy push "$dir/beta2.yaml" --sites site1 --timeout 30 >>"$dir/push" 2>&1
before=$(st | jq -r .policy.generation)
ok "site rollback: the box goes back to the generation confirmed before the push, and says so" bash -c '
	g=$1
	shift
	"$@" site rollback site1 --timeout 30 >"$0/rb" 2>&1 &&
	grep -Eq "^  site1 +rolled-back +generation [0-9]+ is generation $g again" "$0/rb"' \
	"$dir" "$first" ip netns exec "$L-cloud" "$BUILD/kyoten-noc" -d "$dir/noc"
sed 's/^/# /' "$dir/push" "$dir/rb"
ok "kyotend runs the rollback confirmed, named as the agent's, the pushed generation marked rolled back" bash -c '
	j=$("$0" --name "$1" ctl site1 status --json) &&
	jq -e ".policy.state == \"confirmed\" and .policy.generation > $2 and
		.policy.current.source == \"rollback\" and .policy.current.user == \"kyoten\" and
		.policy.current.sha256 == \"$3\"" <<<"$j" >/dev/null ||
		{ jq -c .policy <<<"$j"; exit 1; }
	"$0" --name "$1" ctl site1 policy history | grep -q "rolled-back"' "$LABCMD" "$L" "$before" \
	"$(sha256sum "$dir/beta.yaml" | cut -c1-64)"

g=$(st | jq -r .policy.generation)
ok "site rollback --to a generation the box does not have: refused with the reason, exit 1, nothing changed" bash -c '
	lab=$1 l=$2 g=$3
	shift 3
	! "$@" site rollback site1 --to 999 --timeout 20 >"$0/rb2" 2>&1 &&
	grep -q "refused .*no generation 999 in the store" "$0/rb2" &&
	[[ $("$lab" --name "$l" ctl site1 status --json | jq -r .policy.generation) == "$g" ]]' \
	"$dir" "$LABCMD" "$L" "$g" ip netns exec "$L-cloud" "$BUILD/kyoten-noc" -d "$dir/noc"
sed 's/^/# /' "$dir/rb2"

# A generation never confirmed (applied on the box, rolled back there)
# brought back by the NOC: pending, and confirmed by the agent only once
# a new connection to the broker works under it.
lab ctl site1 policy apply -t 60 -m "never confirmed" "$dir/beta2.yaml" >/dev/null 2>&1
never=$(st | jq -r .policy.generation)
pend=$(st | jq -r .policy.state)
lab ctl site1 policy rollback >/dev/null 2>&1
ok "site rollback --to a generation never confirmed: it comes back pending, and the agent confirms it once the broker is reached under it" bash -c '
	lab=$1 l=$2 g=$3 pend=$4
	shift 4
	[[ $pend == pending ]] && "$@" site rollback site1 --to "$g" --timeout 30 >"$0/rb3" 2>&1 &&
	grep -Eq "^  site1 +rolled-back +generation [0-9]+ is generation $g again, never confirmed before: confirmed once" "$0/rb3" &&
	"$lab" --name "$l" ctl site1 status --json | jq -e ".policy.state == \"confirmed\" and
		.policy.current.\"rollback-of\" == $g and .policy.current.\"confirmed-by\" == \"kyoten\"" >/dev/null' \
	"$dir" "$LABCMD" "$L" "$never" "$pend" ip netns exec "$L-cloud" "$BUILD/kyoten-noc" -d "$dir/noc"
sed 's/^/# /' "$dir/rb3"

# The diagnostic, caught on its way too (for the replays below).
kyq catcher -t 30000 sub kyoten/site/site1/cmd/diagnose -q 1 -n 1 -o "$dir/diag.cmd" >/dev/null 2>&1 &
catcher=$!
sleep 1
ok "site diagnose --probe closed/hub1: every path's state and counters, the path's own BFD probes over 2 s, the newest log entries" bash -c '
	"$@" site diagnose site1 --probe closed/hub1 --seconds 2 --log 5 --timeout 30 >"$0/diag" 2>&1 &&
	grep -Eq "^  site1 +done" "$0/diag" &&
	[[ $(grep -cE "^(closed|internet)/hub[12] +up " "$0/diag") == 4 ]] &&
	grep -Eq "^probe closed/hub1 for 2 s: up, [1-9][0-9]* BFD packets sent, [1-9][0-9]* received, 0 lost" "$0/diag" &&
	[[ $(grep -c "^  <" "$0/diag") == 5 ]]' \
	"$dir" ip netns exec "$L-cloud" "$BUILD/kyoten-noc" -d "$dir/noc"
wait "$catcher"
sed 's/^/# /' "$dir/diag" | head -20
ok "the report is kept at the NOC, whole (kyotend's status with its counters)" bash -c '
	f=$(ls "$0"/noc/sites/site1/diagnostics/*.json | head -1) &&
	jq -e "(.status.tunnels.paths | length) == 4 and .probe.path == \"closed/hub1\" and
		.probe.received > 0 and (.log | length) == 5 and .status.site.id == \"site1\"" "$f" >/dev/null' "$dir"

kyq catcher2 -t 30000 sub kyoten/site/site1/cmd/diagnose -q 1 -n 1 -o "$dir/diag9.cmd" >/dev/null 2>&1 &
catcher=$!
sleep 1
ok "site diagnose --probe of a path the box does not have: failed, naming the paths it has" bash -c '
	! "$@" site diagnose site1 --probe closed/hub9 --timeout 20 >"$0/diag2" 2>&1 &&
	grep -q "failed .*no path closed/hub9 on this box; its paths: closed/hub1 " "$0/diag2"' \
	"$dir" ip netns exec "$L-cloud" "$BUILD/kyoten-noc" -d "$dir/noc"
wait "$catcher"
sed 's/^/# /' "$dir/diag2"

# Replays: the newest command again (taken before), then on the reboot
# topic (another command's), then the first diagnostic (older than the
# newest taken).
replay() { # topic file -> the reply
	kyq "replay-sub-$1" -t 15000 sub kyoten/site/site1/reply -q 1 -n 1 >"$dir/reply-$1" 2>&1 &
	local p=$!
	sleep 1
	kyq "replay-pub-$1" pub "kyoten/site/site1/cmd/$1" "@$2" -q 1 >/dev/null 2>&1
	wait "$p"
}
up0=$(st | jq -r .uptime)
replay diagnose "$dir/diag9.cmd"
ok "the newest command replayed is refused as taken before" \
	grep -q '"result":"refused".*taken before (a replay?)' "$dir/reply-diagnose"
sed 's/^/# /' "$dir/reply-diagnose"
replay reboot "$dir/diag9.cmd"
ok "a diagnostic on the reboot topic is refused as another command's, and the box does not reboot" bash -c '
	grep -q "\"result\":\"refused\".*a diagnose command came on the reboot topic" "$0/reply-reboot" &&
	sleep 2 && (( $("$1" --name "$2" ctl site1 status --json | jq -r .uptime) >= $3 ))' \
	"$dir" "$LABCMD" "$L" "$up0"
replay diagnose "$dir/diag.cmd"
ok "the first diagnostic replayed after a newer command is refused as older than it" \
	grep -q '"result":"refused".*older than the newest command taken' "$dir/reply-diagnose"

pid=$(st | jq -r '.processes[0].pid')
started=$(st | jq -r .started)
ok "site reboot without --yes is a usage error and sends nothing" bash -c '
	"$@" site reboot site1 >/dev/null 2>&1; [[ $? == 2 ]]' - \
	ip netns exec "$L-cloud" "$BUILD/kyoten-noc" -d "$dir/noc"
kyq catcher3 -t 40000 sub kyoten/site/site1/cmd/reboot -q 1 -n 1 -o "$dir/reboot.cmd" >/dev/null 2>&1 &
catcher=$!
sleep 1
t0=$(now_ms)
ok "site reboot: the box says it is rebooting, and the NOC sees it back (kyotend started anew)" bash -c '
	"$@" site reboot site1 --yes --timeout 60 >"$0/reboot" 2>&1 &&
	grep -Eq "^  site1 +rebooting" "$0/reboot" && grep -Eq "^  site1 +back after [0-9]+ s" "$0/reboot"' \
	"$dir" ip netns exec "$L-cloud" "$BUILD/kyoten-noc" -d "$dir/noc"
t1=$(now_ms)
sed 's/^/# /' "$dir/reboot"
echo "# reboot asked to back at the NOC: $((t1 - t0)) ms"
wait "$catcher"
wait_for 30 sessions_up
ok "after the reboot: kyotend restarted in place (same pid, new start), its tunnels up, the policy it ran still confirmed; every command recorded" bash -c '
	j=$("$0" --name "$1" ctl site1 status --json) &&
	jq -e ".processes[0].pid == $2 and .started > $3 and .policy.state == \"confirmed\"" <<<"$j" >/dev/null &&
	grep -q "reboot asked for by kyoten" "/run/kyoten-lab/$1/site1/kyotend.log" &&
	jq -se "[.[].command] == [\"rollback\", \"rollback\", \"rollback\", \"diagnose\", \"diagnose\", \"reboot\"] and
		.[5].result == \"rebooting\" and .[1].result == \"refused\" and .[0].result == \"rolled-back\" and
		.[2].result == \"rolled-back\" and .[3].probe == \"closed/hub1\" and (.[0].by | length) > 0" \
		"$4/noc/commands.log" >/dev/null' \
	"$LABCMD" "$L" "$pid" "$started" "$dir" || jq -c . "$dir/noc/commands.log" | sed 's/^/# /'

# The agent restarted (as after a real reboot): what it took is on disk,
# so the reboot caught on its way is not taken again.
kill "${agent[1]}"
wait "${agent[1]}" 2>/dev/null
start_agent 1
wait_for 20 online
started=$(st | jq -r .started)
replay reboot "$dir/reboot.cmd"
ok "the reboot replayed to a restarted agent is refused as taken before, and the box does not reboot" bash -c '
	[[ -s $0/reboot.cmd ]] && grep -q "\"result\":\"refused\".*taken before (a replay?)" "$0/reply-reboot" &&
	sleep 2 && [[ $("$1" --name "$2" ctl site1 status --json | jq -r .started) == "$3" ]]' \
	"$dir" "$LABCMD" "$L" "$started"
sed 's/^/# /' "$dir/reply-reboot"
