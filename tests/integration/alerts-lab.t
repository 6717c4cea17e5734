#!/usr/bin/env bash
# Alerts by mail and the NOC's event history, in the lab (TAP, for
# prove; root): `kyoten-noc watch --mail root` with the machine's own MTA
# (`sendmail -t`: dma, which tools/bootstrap installs when the machine has
# no MTA, delivering to /var/mail/root). A line cut at a site, its
# recovery, and its agent killed (the will: offline) and back each give a
# mail with the annex fields within seconds; a box's event that tries to
# add a mail header gets none; a failing MTA is recorded, not fatal;
# `kyoten-noc events` reads the history back with its filters.
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${KYOTEN_BUILD:-$REPO/build/sim}
LABCMD=$REPO/tools/lab
L=m$(($$ % 100000))
dir=$(mktemp -d /tmp/alerts-t.XXXXXX)
. "$REPO/tests/integration/lib.sh"

if [[ $(id -u) != 0 ]]; then
	echo "1..0 # SKIP needs root (creates network namespaces)"
	exit 0
fi
require_tools ip jq mosquitto timeout
require_built kyotend kyotenctl kyoten-noc kyoten-provision kyoten-agent tests/interop/kymqtt
if [[ ! -x /usr/sbin/sendmail ]]; then
	echo "1..0 # SKIP no MTA (/usr/sbin/sendmail); tools/bootstrap installs dma when there is none"
	exit 0
fi
MBOX=/var/mail/root

. "$REPO/tests/lib/noclab.sh"
watcher= metrics=
cleanup() {
	[[ -n $watcher ]] && kill "$watcher" 2>/dev/null
	[[ -n $metrics ]] && kill "$metrics" 2>/dev/null
	noclab_cleanup
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "1..14"

noclab_up 1
online1() {
	status_json >"$dir/status.json" &&
		[[ $(jq '[.sites[] | select(.site == "site1" and .state == "online" and
			([.telemetry.paths[] | select(.state == "up")] | length) == 4)] | length' \
			"$dir/status.json") == 1 ]]
}
wait_for 20 online1 || echo "# site1 did not come online: $(tail -3 "$dir/agent1.log")"

ok "telemetry carries CPU use and memory, and temperature as null where the board has none" \
	jq -e '.sites[0].telemetry.system | (.["cpu-percent"] | type == "number" and . >= 0 and . <= 100)
		and .["memory-total-kib"] > 0 and has("temperature-c")' "$dir/status.json"

# The Prometheus endpoint.
ip netns exec "$L-cloud" "$BUILD/kyoten-noc" -d "$dir/noc" metrics --listen 127.0.0.1:9105 \
	--timeout 120 >/dev/null 2>"$dir/metrics.err" &
metrics=$!
scrape() { ip netns exec "$L-cloud" curl -sS --max-time 5 "$@"; }
paths_up() { # N: site1's paths up in the metrics
	scrape http://127.0.0.1:9105/metrics >"$dir/metrics" 2>/dev/null &&
		[[ $(grep -c '^kyoten_path_up{site="site1",path="kt-h[12]-l[12]",line="[a-z]*",peer="hub[12]"} 1$' \
			"$dir/metrics") == "$1" ]]
}
# RTT once the paths' first probes came back.
metrics_ready() { paths_up 4 && (($(grep -c '^kyoten_path_rtt_seconds' "$dir/metrics") == 4)); }
wait_for 15 metrics_ready
ok "kyoten-noc metrics: site1 up with its 4 paths up, RTT in seconds, every family typed" bash -c '
	grep -Ec "^kyoten_path_up\{site=\"site1\".*\} 1$" "$0" | grep -qx 4 &&
	grep -q "^kyoten_site_up{site=\"site1\"} 1$" "$0" &&
	(($(grep -Ec "^kyoten_path_rtt_seconds\{site=\"site1\",path=\"kt-h[12]-l[12]\"\} [0-9.e-]+$" "$0") == 4)) &&
	grep -q "^# TYPE kyoten_path_receive_bytes_total counter$" "$0" &&
	grep -Eq "^kyoten_site_memory_total_bytes\{site=\"site1\"\} [0-9.e+]+$" "$0" &&
	! grep -v "^#" "$0" | grep -Ev "^[a-z_][a-z0-9_]*(\{[^}]*\})? [-0-9.e+]+$" || { grep -v "^#" "$0"; exit 1; }' "$dir/metrics"
ok "metrics: another path is 404, another method 405, each saying why" bash -c '
	[[ $("$@" -o /dev/null -w "%{http_code}" http://127.0.0.1:9105/) == 404 ]] &&
	[[ $("$@" -o /dev/null -w "%{http_code}" -X POST http://127.0.0.1:9105/metrics) == 405 ]] &&
	"$@" http://127.0.0.1:9105/x | grep -q "at /metrics"' - ip netns exec "$L-cloud" curl -sS --max-time 5

# The mail that came after byte $start of the mailbox.
start=$(stat -c %s "$MBOX" 2>/dev/null || echo 0)
mail_since() { tail -c +$((start + 1)) "$MBOX" 2>/dev/null; }
has_mail() { mail_since | grep -q "^Subject: $1"; }

ip netns exec "$L-cloud" "$BUILD/kyoten-noc" -d "$dir/noc" watch --mail root --timeout 90 \
	>"$dir/watch" 2>"$dir/watch.err" &
watcher=$!
sleep 1

t0=$(now_ms)
lab line down site1 closed >/dev/null
wait_for 15 has_mail "\[Kyoten\] ALERT site1: communications KT-PATH_DOWN"
t1=$(now_ms)
ok "a line cut at site1 is mailed as an alert within 10 s" \
	has_mail "\[Kyoten\] ALERT site1: communications KT-PATH_DOWN"
echo "# measured: the alert mail was in the mailbox $((t1 - t0)) ms after the cut"
# The MTA may still be writing the rest of it.
mail_whole() { mail_since | awk '/^Subject: .*KT-PATH_DOWN/ { m = 1 } m && /show more\.$/ { f = 1 } END { exit !f }'; }
wait_for 5 mail_whole
mail_since >"$dir/mbox"
ok "the mail holds the annex fields: device number, time, class, location, cause, error code" bash -c '
	awk "/^Subject: .*ALERT site1: communications KT-PATH_DOWN/ { m = 1 } m" "$1" >"$0/mail1" &&
	grep -q "^Device number  *LAB-0001$" "$0/mail1" && grep -q "^Event class  *communications$" "$0/mail1" &&
	grep -Eq "^Date and time \(UTC\)  *2[0-9-]+T[0-9:.]+Z$" "$0/mail1" &&
	grep -Eq "^Location in the device  *.*kt-h[12]-l1" "$0/mail1" &&
	grep -q "^Cause  *tunnel path$" "$0/mail1" && grep -q "^Error code  *KT-PATH_DOWN$" "$0/mail1" &&
	grep -q "^Content-Type: text/plain; charset=UTF-8$" "$0/mail1"' "$dir" "$dir/mbox"
sed -n '/^Subject: .*KT-PATH_DOWN/,/^Event ID/p' "$dir/mail1" | head -20 | sed 's/^/# /'

ok "metrics: the cut shows as 2 of site1's paths up" wait_for 10 paths_up 2
lab line up site1 closed >/dev/null
ok "the line's return is mailed as a recovery" \
	wait_for 20 has_mail "\[Kyoten\] RECOVERED site1: communications KT-PATH_UP"

kill -9 "${agent[1]}"
wait "${agent[1]}" 2>/dev/null
unset 'agent[1]'
t0=$(now_ms)
wait_for 15 has_mail "\[Kyoten\] ALERT site1: offline"
t1=$(now_ms)
ok "site1's agent killed outright: the will's offline is mailed as an alert within 10 s" \
	has_mail "\[Kyoten\] ALERT site1: offline"
echo "# measured: offline alert mailed $((t1 - t0)) ms after the agent was killed"
start_agent 1
ok "site1 back online is mailed as a recovery" \
	wait_for 20 has_mail "\[Kyoten\] RECOVERED site1: online"

# A box (its own, valid certificate) sends an event whose fields carry
# line breaks and a header: the mail gets neither.
cat >"$dir/evil.json" <<'EOT'
{"id":"evil-1","site":"site1","device-number":"LAB-0001","time":"2026-12-02T00:00:00Z","class":"communications","location":"x\nBcc: someone@example.org\n","cause":"c","code":"KT-EVIL\r\nX-Injected: yes","severity":"error","detail":"d\n\nbody","alert":true,"recovery":false}
EOT
ip netns exec "$L-cloud" "$BUILD/tests/interop/kymqtt" -H 203.0.113.10 -p 8883 -C "$dir/s1/etc/ca.crt" \
	-c "$dir/s1/etc/mgmt.crt" -k "$dir/s1/etc/mgmt.key" -i site1-test \
	pub kyoten/site/site1/event "@$dir/evil.json" -q 1 >/dev/null 2>&1
wait_for 10 has_mail ".*KT-EVIL"
mail_since >"$dir/mbox"
ok "an event whose fields hold line breaks and headers is mailed with neither" bash -c '
	grep -q "^Subject: \[Kyoten\] ALERT site1: communications KT-EVIL  X-Injected: yes" "$0" &&
	! grep -Eq "^(Bcc|X-Injected):" "$0"' "$dir/mbox"

kill "$watcher" 2>/dev/null
wait "$watcher" 2>/dev/null
watcher=
ok "every alert is in alerts.log as sent, and watch said how many it mailed" bash -c '
	(($(jq -s "[.[] | select(.result == \"sent\" and .site == \"site1\")] | length" "$0/noc/alerts.log") >= 5)) &&
	jq -se "[.[] | .what] | index(\"offline\") != null" "$0/noc/alerts.log" >/dev/null' "$dir"

# An MTA that refuses: the alert is recorded as not sent, watch goes on.
ip netns exec "$L-cloud" "$BUILD/kyoten-noc" -d "$dir/noc" watch --mail root --sendmail /bin/false \
	--timeout 12 >"$dir/watch2" 2>"$dir/watch2.err" &
w2=$!
sleep 1
lab line down site1 inet >/dev/null
sleep 6
lab line up site1 inet >/dev/null
wait "$w2"
ok "an MTA that fails: the alert is recorded with its exit status and watch carries on" bash -c '
	jq -se "[.[] | select(.result == \"/bin/false exited with 1\")] | length >= 1" "$0/noc/alerts.log" >/dev/null &&
	grep -q "could not be" "$0/watch2.err" && grep -q "KT-PATH_UP" "$0/watch2"' "$dir"

# The history.
noc events --site site1 --class communications --json >"$dir/hist" 2>/dev/null
ok "kyoten-noc events: the recorded history, filtered by site and class" bash -c '
	jq -se "length >= 4 and all(.[]; .site == \"site1\" and .class == \"communications\") and
		([.[] | select(.code == \"KT-PATH_DOWN\")] | length >= 2)" "$0" >/dev/null' "$dir/hist"
echo 'not json {' >>"$dir/noc/events.log"
ok "events: --since in the future shows none; a torn line is named and skipped; a bad --since is refused" bash -c '
	"$@" events --since 2999-01-01 2>"$0/e1" | grep -c . | grep -qx 0 && grep -q "^0 events" "$0/e1" &&
	grep -q "events.log:[0-9]*: not an event" "$0/e1" &&
	! "$@" events --since yesterday 2>"$0/e2" && grep -q "is not a UTC time" "$0/e2" &&
	"$@" events --site site1 2>/dev/null | grep -q KT-PATH_DOWN' "$dir" ip netns exec "$L-cloud" \
	"$BUILD/kyoten-noc" -d "$dir/noc"
