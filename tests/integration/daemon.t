#!/usr/bin/env bash
# kyotend on the sim board, in a namespace of its own:
#
#   [ kd$$-box ]  wan1 wan2 lan1  --veth--  [ kd$$-peer ]  p-wan1 p-wan2 p-lan1
#
# Checks configuration errors at start and on reload, the engine's
# confinement, ports and hub routes, carrier events, the control socket's
# permissions, engine restarts and a clean shutdown.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/integration/lib.sh
. tests/integration/lib.sh
B=${KYOTEN_BUILD:-$PWD/build/sim}
box=kd$$-box peer=kd$$-peer
dir=$(mktemp -d /tmp/kyoten-daemon-t.XXXXXX)
# Others may reach the socket's directory: the socket's own mode and the
# daemon's credential check are what the permission tests exercise.
chmod 755 "$dir"
sock=$dir/kyotend.sock pidf=$dir/kyotend.pid


cleanup() {
	if [ $failed -gt 0 ]; then
		echo "# kyotend's log:"
		tail -40 "$dir/kyotend.log" | sed 's/^/#   /'
	fi
	[ -f "$pidf" ] && kill "$(cat "$pidf")" 2>/dev/null
	for ns in $box $peer; do
		ip netns pids $ns 2>/dev/null | xargs -r kill -9 2>/dev/null
		ip netns del $ns 2>/dev/null
	done
	rm -rf "$dir"
}
trap cleanup EXIT

inbox() { ip netns exec $box "$@"; }
ctl() { inbox "$B/kyotenctl" -s "$sock" "$@"; }
json() { ctl status --json | jq -e "$@"; }
start() {
	ip netns exec $box setsid "$B/kyotend" -d -c "$dir/site.yaml" -s "$sock" \
		-p "$pidf" >>"$dir/kyotend.log" 2>&1 </dev/null &
	wait_for 10 test -S "$sock" -a -s "$pidf"
}

echo "1..21"
ip netns add $box && ip netns add $peer || exit 1
for p in wan1 wan2 lan1; do
	ip -n $box link add $p type veth peer name p-$p netns $peer
	ip -n $peer link set p-$p up
done
cat >"$dir/site.yaml" <<YAML
site:
  id: site9
  device-number: "TEST-0009"
  role: site
lines:
  - name: closed
    kind: closed
    port: wan1
    address: 100.64.9.2/30
    gateway: 100.64.9.1
  - name: internet
    kind: best-effort
    port: wan2
    address: 198.18.9.2/30
    gateway: 198.18.9.1
hubs:
  - name: hub1
    endpoints:
      closed: 100.64.0.2
      internet: 198.18.0.2
segments:
  - name: mynumber
    kind: mynumber
    port: lan1
    address: 10.9.1.1/24
policy:
  state-dir: $dir/policy
YAML
cp "$dir/site.yaml" "$dir/good.yaml"
sed 's/gateway: 198.18.9.1/gateway: 198.18.99.1/' "$dir/good.yaml" >"$dir/bad.yaml"

ok "kyotend -n accepts a good file" "$B/kyotend" -n -c "$dir/good.yaml"
check_bad() {
	! "$B/kyotend" -n -c "$dir/bad.yaml" 2>"$dir/err" &&
		grep -F "$dir/bad.yaml:15:14: lines[1].gateway: gateway 198.18.99.1 is not inside" "$dir/err"
}
ok "kyotend -n names file, line, column and field of an error" check_bad
refuse_start() {
	! ip netns exec $box "$B/kyotend" -d -c "$dir/bad.yaml" -s "$sock" 2>"$dir/err" &&
		grep -F "bad.yaml:15:14: lines[1].gateway" "$dir/err" && ! test -e "$sock"
}
ok "a bad file stops the daemon from starting, with that error" refuse_start

ok "kyotend starts and answers on its control socket" start
ok "status --json names the site" json '.site.id == "site9" and .site["device-number"] == "TEST-0009"'
engine_confined() {
	local pid uid
	wait_for 5 json '.processes[1].state == "up"' || return 1
	pid=$(ctl status --json | jq -r '.processes[1].pid')
	uid=$(id -u kyoten)
	json ".processes[1].uid == $uid and .processes[1].chrooted and .processes[1][\"no-new-privs\"]" &&
		grep -E "^Uid:\s+$uid\s+$uid\s+$uid\s+$uid" /proc/$pid/status &&
		[ "$(stat -Lc %d:%i /proc/$pid/root)" = "$(stat -c %d:%i /run/kyoten/empty)" ] &&
		[ "$(readlink /proc/$pid/fd/1)" = /dev/null ] &&
		[ "$(readlink /proc/$pid/fd/2)" = /dev/null ]
}
ok "the engine runs as user kyoten, chrooted, no_new_privs, stdio on /dev/null" engine_confined
ports_set() {
	ip -n $box -4 addr show wan1 | grep >/dev/null 'inet 100.64.9.2/30' &&
		ip -n $box -4 addr show lan1 | grep >/dev/null 'inet 10.9.1.1/24' &&
		ip -n $box route show proto 201 | grep >/dev/null '100.64.0.2 via 100.64.9.1 dev wan1' &&
		ip -n $box route show proto 201 | grep >/dev/null '198.18.0.2 via 198.18.9.1 dev wan2'
}
ok "ports get their addresses and the hub routes go out of their own lines" ports_set
carrier() {
	ip -n $peer link set p-wan2 down &&
		wait_for 3 json '.ports[] | select(.port == "wan2") | .carrier == false' &&
		ip -n $peer link set p-wan2 up &&
		wait_for 3 json '.ports[] | select(.port == "wan2") | .carrier and .["carrier-changes"] == 2'
}
ok "carrier loss and return are reported" carrier
bad_reload() {
	cp "$dir/bad.yaml" "$dir/site.yaml"
	! ctl reload 2>"$dir/err" && grep -F "lines[1].gateway" "$dir/err" &&
		json '.config.generation == 1 and .config["reload-failures"] == 1' &&
		json '.config["last-error"] | test("site.yaml:15:14: lines\\[1\\].gateway")' &&
		ip -n $box -4 addr show wan2 | grep >/dev/null 'inet 198.18.9.2/30'
}
ok "a bad reload is refused and the old configuration keeps running" bad_reload
good_reload() {
	sed 's|10.9.1.1/24|10.9.7.1/24|; s|internet: 198.18.0.2|internet: 198.18.0.9|' \
		"$dir/good.yaml" >"$dir/site.yaml"
	ctl reload && json '.config.generation == 2 and .config["last-error"] == null' &&
		ip -n $box -4 addr show lan1 | grep >/dev/null 'inet 10.9.7.1/24' &&
		! ip -n $box -4 addr show lan1 | grep >/dev/null 'inet 10.9.1.1/24' &&
		ip -n $box route show proto 201 >"$dir/routes" &&
		grep >/dev/null '198.18.0.9 via 198.18.9.1 dev wan2' "$dir/routes" &&
		! grep >/dev/null '198.18.0.2 ' "$dir/routes" &&
		grep >/dev/null '100.64.0.2 via 100.64.9.1 dev wan1' "$dir/routes"
}
ok "a good reload replaces the changed address and hub route, keeps the rest" good_reload
log_level() {
	{ cat "$dir/site.yaml"; printf 'log:\n  level: warning\n'; } >"$dir/warn.yaml" &&
		cp "$dir/warn.yaml" "$dir/site.yaml" && ctl reload >/dev/null &&
		json '.["log-level"] == "warning"' &&
		sed '/^log:/,$d' "$dir/warn.yaml" >"$dir/site.yaml" && ctl reload >/dev/null &&
		json '.["log-level"] == "debug"'
}
ok "the log level follows the file down and back up on reload" log_level
socket_perms() {
	[ "$(stat -c '%a %U %G' "$sock")" = "660 root kyoten" ] &&
		! inbox setpriv --reuid=nobody --regid=nogroup --clear-groups \
			"$B/kyotenctl" -s "$sock" status 2>"$dir/err" &&
		grep -q 'Permission denied' "$dir/err"
}
ok "the control socket is 0660 root:kyoten and refuses other users" socket_perms
ok "a supplementary member of group kyoten may use it" \
	inbox setpriv --reuid=nobody --regid=nogroup --groups="$(getent group kyoten | cut -d: -f3)" \
	"$B/kyotenctl" -s "$sock" status
rfc5424() {
	ctl log --rfc5424 -n 50 | grep -E '^<[0-9]+>1 [0-9T:.-]+Z \S+ kyotend [0-9]+ PORT_DOWN \[kyoten@32473 site="site9" device="TEST-0009" proc="parent" module="ports"\] port wan2'
}
ok "kyotenctl log shows RFC 5424 entries with site and device number" rfc5424
child_logs() {
	ctl log --json | jq -e 'any(.[]; .proc == "engine" and .msgid == "ENGINE_CONFIG")'
}
ok "the engine's log entries reach the parent's ring" child_logs
restart() {
	local old
	old=$(ctl status --json | jq -r '.processes[1].pid')
	kill -9 "$old"
	wait_for 8 json ".processes[1].state == \"up\" and .processes[1].pid != $old and .processes[1].restarts == 1"
}
ok "a killed engine is restarted" restart
second() {
	sed 's|10.9.7.1/24|10.9.55.1/24|' "$dir/site.yaml" >"$dir/other.yaml"
	! ip netns exec $box "$B/kyotend" -d -c "$dir/other.yaml" -s "$sock" 2>"$dir/err" &&
		grep >/dev/null 'another kyotend is answering' "$dir/err" &&
		json '.site.id == "site9"' &&
		! ip -n $box -4 addr show lan1 | grep >/dev/null '10.9.55.1'
}
ok "a second kyotend refuses before touching the kernel, the first runs on" second
not_a_socket() {
	echo keep >"$dir/not-a-socket"
	! ip netns exec $box "$B/kyotend" -d -c "$dir/site.yaml" -s "$dir/not-a-socket" \
		2>"$dir/err" && grep >/dev/null 'exists and is not a socket' "$dir/err" &&
		[ "$(cat "$dir/not-a-socket")" = keep ]
}
ok "-s naming a regular file is refused and the file is left alone" not_a_socket
stuck_engine() {
	local old
	old=$(ctl status --json | jq -r '.processes[1].pid')
	kill -STOP "$old"
	# Each reload sends the engine two messages it does not read; the
	# parent must stay responsive and replace the engine.
	for _ in $(seq 1 200); do ctl reload >/dev/null || return 1; done
	json '.site.id == "site9"' &&
		wait_for 25 json ".processes[1].state == \"up\" and .processes[1].pid != $old"
}
ok "a stuck engine does not stall the parent and is replaced" stuck_engine
stop() {
	local pid
	pid=$(cat "$pidf")
	kill -TERM "$pid" && wait_for 5 sh -c "! kill -0 $pid 2>/dev/null" &&
		! test -e "$sock" && ! test -e "$pidf" &&
		[ -z "$(ip netns pids $box)" ]
}
ok "SIGTERM stops parent and engine and removes socket and pid file" stop
ok "addresses stay after a stop, so a restart does not cut the site off" \
	sh -c "ip -n $box -4 addr show wan1 | grep >/dev/null 'inet 100.64.9.2/30'"
[ $failed -eq 0 ]
