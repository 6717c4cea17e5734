#!/usr/bin/env bash
# kyotend applying the segment policy (firmware/policyd.c), driven through
# kyotenctl and checked by traffic:
#
#   [pd$$-my]  10.7.1.2  ----- lan1 10.7.1.1  +--------------+
#   [pd$$-lg]  10.7.2.2  ----- lan2 10.7.2.1  | [pd$$-box]   |
#   [pd$$-dc]  10.101.0.10     kt0 10.101.0.1 |  kyotend,    |
#              10.101.0.20 --                 |  table inet  |
#                                             |  kyoten      |
#                                             +--------------+
#
# Apply and confirm; an unconfirmed apply reverted within the timeout
# (the port it opened closes again, the old one opens); rollback; show,
# history and diff; malformed policies and policies that break each
# invariant refused with the ruleset unchanged; kill -9 leaves the
# ruleset; a restart adopts it without writing; a generation pending at
# restart is reverted; policy.file imported on reload.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/integration/lib.sh
. tests/integration/lib.sh
B=${KYOTEN_BUILD:-$PWD/build/sim}
require_tools nft jq
p=pd$$
box=$p-box my=$p-my lg=$p-lg dc=$p-dc
dir=$(mktemp -d /tmp/kyoten-policyd-t.XXXXXX)
sock=$dir/kyotend.sock pidf=$dir/kyotend.pid state=$dir/state
polnft=$B/tests/interop/polnft
TIMEOUT=5	# the configuration's confirm-timeout

cleanup() {
	if [ $failed -gt 0 ]; then
		echo "# kyotend's log:"
		grep -E 'POLICY|CONFIG|START|STOP' "$dir/kyotend.log" | tail -30 |
			cut -c1-60,150-400 | sed 's/^/#   /'
	fi
	[ -f "$pidf" ] && kill "$(cat "$pidf")" 2>/dev/null
	remove_netns $box $my $lg $dc
	rm -rf "$dir"
}
trap cleanup EXIT

nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
ctl() { nsx $box "$B/kyotenctl" -s "$sock" "$@"; }
pol() { ctl policy "$@"; }
# The whole ruleset with counters zeroed (handles kept: a rewrite
# changes them, so equal readings mean nothing was written).
ruleset() {
	nsx $box nft -j list ruleset |
		jq -S 'del(.nftables[0]) | walk(if type == "object" and has("counter")
			then .counter = {} else . end)'
}
start() {
	rm -f "$pidf"
	nsx $box setsid "$B/kyotend" -d -c "$dir/site.yaml" -s "$sock" \
		-p "$pidf" >>"$dir/kyotend.log" 2>&1 </dev/null &
	wait_for 10 test -S "$sock" -a -s "$pidf"
}
can_tcp() { nsx "$1" "$polnft" connect tcp "$2" "$3"; }
cannot_tcp() { ! can_tcp "$@"; }
history_json() { pol history --json; }
gen_state() {	# gen_state N STATE
	history_json | jq -e --argjson n "$1" --arg s "$2" \
		'any(.[]; .number == $n and .state == $s)' >/dev/null
}
n_gens() { history_json | jq length; }

echo "1..39"
for ns in $box $my $lg $dc; do
	ip netns add "$ns" || exit 1
	nsx "$ns" ip link set lo up
done
link $my lan1 10.7.1.1/24 10.7.1.2/24
link $lg lan2 10.7.2.1/24 10.7.2.2/24
link $dc kt0 10.101.0.1/16 10.101.0.10/16 10.101.0.20/16
# The line only names an interface for the policy (this kernel has no
# dummy links): a veth pair inside the box.
ip -n $box link add wan1 type veth peer name wan1-peer
ip -n $box link set wan1 up
nsx $box sysctl -qw net.ipv4.ip_forward=1

cat >"$dir/site.yaml" <<YAML
site:
  id: site7
  device-number: "TEST-0007"
  role: site
lines:
  - name: closed
    kind: closed
    port: wan1
    address: 100.64.7.2/30
    gateway: 100.64.7.1
hubs:
  - name: hub1
    endpoints:
      closed: 100.64.0.2
segments:
  - name: mynumber
    kind: mynumber
    port: lan1
    address: 10.7.1.1/24
policy:
  templates: $PWD/policy/templates
  state-dir: $state
  confirm-timeout: $TIMEOUT
YAML
cat >"$dir/v1.yaml" <<YAML
lines:
  - {name: closed, kind: closed, port: wan1, tunnel-ports: [51820]}
segments:
  - {name: my, kind: mynumber, ports: [lan1], prefixes: [10.7.1.0/24]}
  - {name: lg, kind: lgwan, ports: [lan2], prefixes: [10.7.2.0/24]}
  - {name: dc, kind: lgwan, ports: [kt0], prefixes: [10.101.0.0/16]}
  - {name: inet, kind: internet, ports: [lan3], prefixes: [10.7.3.0/24]}
hosts:
  - {name: ft, role: file-transfer, segment: dc, addresses: [10.101.0.10]}
flows:
  - {from: my, to: ft, proto: tcp, ports: [8443], purpose: files, log: true}
  - {from: lg, to: dc, proto: tcp, ports: [80], purpose: business systems}
YAML
# v2 closes 80 and opens 81.
sed 's/ports: \[80\]/ports: [81]/' "$dir/v1.yaml" >"$dir/v2.yaml"
flow() {	# flow NAME FLOW: v1 with one flow more
	{ cat "$dir/v1.yaml"; echo "  - $2"; } >"$dir/$1.yaml"
}
flow inv-mynumber-internet "{from: my, to: inet, proto: tcp, ports: [443], purpose: oops}"
flow inv-mynumber-lgwan "{from: my, to: dc, proto: tcp, ports: [22], purpose: oops}"
flow inv-lgwan-internet "{from: lg, to: inet, proto: tcp, ports: [80], purpose: oops}"
flow inv-management "{from: lg, to: box, proto: tcp, ports: [22], purpose: oops}"
flow inv-default-deny "{from: lg, to: dc, proto: any, purpose: oops}"
flow bad-unknown "{from: nowhere, to: dc, proto: tcp, ports: [80], purpose: oops}"
sed 's/ports: \[80\]/ports: [70000]/' "$dir/v1.yaml" >"$dir/bad-port.yaml"
sed 's/prefixes: \[10.7.2.0\/24\]/prefixes: [10.7.1.128\/25]/' "$dir/v1.yaml" >"$dir/bad-overlap.yaml"
{ head -3 "$dir/v1.yaml"; echo "  - {name: oops"; } >"$dir/bad-syntax.yaml"
truncate -s 8388609 "$dir/bad-huge.yaml"

# Servers in a subshell: not this shell's jobs.
(
	nsx $dc "$polnft" serve tcp 80 300 &
	nsx $dc "$polnft" serve tcp 81 300 &
	nsx $dc "$polnft" serve tcp 8443 300 &
)
sleep 0.3

# Everything the checks need, for bash -c.
env_fns="$(declare -f wait_for nsx ctl pol ruleset start can_tcp cannot_tcp history_json gen_state n_gens);
	B='$B' sock='$sock' box=$box polnft='$polnft' dir='$dir' pidf='$pidf' my=$my lg=$lg dc=$dc"
t() { ok "$1" bash -c "$env_fns; $2"; }

t "kyotend starts with no policy; status says so, the kernel is left alone" \
	"start && ctl status | grep -q '^Policy     no policy' &&
	 ! nsx $box nft list table inet kyoten >/dev/null 2>&1 && grep -q POLICY_NONE '$dir/kyotend.log'"
t "apply: a new generation, waiting for confirmation" \
	"pol apply -t 15 -m 'first policy' '$dir/v1.yaml' >'$dir/out1' &&
	 grep -q '^generation 1 applied from $dir/v1.yaml (sha256 [0-9a-f]\{16\}), waiting for confirmation' '$dir/out1' &&
	 ctl status | grep -q '^Policy     generation 1 PENDING: reverted in [0-9]* s unless confirmed'"
t "the table is tagged with the generation and its SHA-256" \
	"nsx $box nft list table inet kyoten |
	 grep -qF \"comment \\\"kyoten policy generation 1 sha256 \$(sha256sum <'$dir/v1.yaml' | cut -c1-64) format \""
t "confirm keeps it" "pol confirm | grep -q '^generation 1 confirmed'"
t "confirm with nothing pending is refused" \
	"! pol confirm 2>'$dir/err' && grep -q 'no policy generation waits for confirmation' '$dir/err'"
sleep 16
t "after its timeout (-t 15) a confirmed generation stays, and its flows pass" \
	"gen_state 1 confirmed && can_tcp $lg 10.101.0.20 80 && can_tcp $my 10.101.0.10 8443 &&
	 cannot_tcp $lg 10.101.0.20 81"

t "apply without confirm: the port the new policy opens works, the old one not" \
	"pol apply '$dir/v2.yaml' >/dev/null && can_tcp $lg 10.101.0.20 81 && cannot_tcp $lg 10.101.0.20 80"
start_wait=$SECONDS
t "a second apply while one is pending is refused" \
	"! pol apply '$dir/v1.yaml' 2>'$dir/err' && grep -q 'generation 2 waits for confirmation' '$dir/err'"
t "unconfirmed, it is reverted within the timeout: 81 closes, 80 opens again" \
	"wait_for $((TIMEOUT + 20)) cannot_tcp $lg 10.101.0.20 81 && can_tcp $lg 10.101.0.20 80"
echo "# reverted after $((SECONDS - start_wait)) s (timeout $TIMEOUT s)"
t "history records it reverted with the reason; the log has POLICY_REVERTED" \
	"history_json | jq -e '.[] | select(.number == 2) | .state == \"reverted\" and (.reason | test(\"not confirmed within $TIMEOUT s\"))' >/dev/null &&
	 gen_state 1 confirmed &&
	 grep -q 'POLICY_REVERTED.*policy generation 2 reverted (not confirmed within $TIMEOUT s); generation 1 is in force again' '$dir/kyotend.log'"
t "show: the running generation in words, with who applied it and why" \
	"pol show >'$dir/show' && grep -q '^Generation 1 (running), confirmed' '$dir/show' &&
	 grep -q '^  applied    .* by root (uid 0), apply' '$dir/show' &&
	 grep -q '^  comment    first policy' '$dir/show' &&
	 grep -qx '  From segment lg (LGWAN):' '$dir/show' &&
	 grep -q 'to segment dc (LGWAN) by tcp port 80: business systems' '$dir/show'"
t "show GEN: a reverted generation and why" \
	"pol show 2 >'$dir/show2' && grep -q '^Generation 2, reverted' '$dir/show2' &&
	 grep -q 'not confirmed within $TIMEOUT s' '$dir/show2' && grep -q 'by tcp port 81' '$dir/show2'"
t "history: number, time, who, comment, state, short SHA-256, newest first" \
	"pol history >'$dir/hist' && sed -n 2p '$dir/hist' | grep -Eq '^  2 +[0-9-]+ [0-9:]+ root +reverted +[0-9a-f]{16} *\$' &&
	 sed -n 3p '$dir/hist' | grep -Eq '^\\* 1 +[0-9-]+ [0-9:]+ root +confirmed +[0-9a-f]{16} first policy\$'"
t "diff 1 2: the flow that changed, - and +, exit 1" \
	"pol diff 1 2 >'$dir/diff'; [ \$? = 1 ] && grep -q '^--- generation 1' '$dir/diff' && grep -q '^+++ generation 2' '$dir/diff' &&
	 grep -q '^-     - to segment dc (LGWAN) by tcp port 80' '$dir/diff' &&
	 grep -q '^+     - to segment dc (LGWAN) by tcp port 81' '$dir/diff' &&
	 grep -q '^    From segment lg (LGWAN):' '$dir/diff' && [ \$(grep -c '^[-+] ' '$dir/diff') = 4 ]"
t "diff against a file: the running generation and the same file differ in nothing" \
	"pol diff '$dir/v1.yaml' >'$dir/diff2' && grep -q 'allow and deny the same' '$dir/diff2'"

ruleset >"$dir/before.json"
gens_before=$(n_gens)
refused() {	# refused NAME FILE PATTERN
	t "refused, ruleset and store unchanged: $1" \
		"! pol apply '$dir/$2.yaml' 2>'$dir/err' && grep -q -- \"$3\" '$dir/err' &&
		 ruleset | cmp -s - '$dir/before.json' && [ \$(n_gens) = $gens_before ]"
}
refused "syntax error" bad-syntax "^$dir/bad-syntax.yaml:[0-9]*:[0-9]*: "
refused "unknown segment" bad-unknown "^$dir/bad-unknown.yaml:13:[0-9]*: flows\[2\]\.from: no segment or host group is named 'nowhere'"
refused "overlapping prefixes" bad-overlap "^$dir/bad-overlap.yaml:[0-9]*:[0-9]*: segments\[1\]\.prefixes\[0\]: 10.7.1.128/25 overlaps 10.7.1.0/24"
refused "port out of range" bad-port "^$dir/bad-port.yaml:[0-9]*:[0-9]*: flows\[1\]\.ports\[0\]: port 70000 is out of range"
refused "a file over the size limit" bad-huge "^$dir/bad-huge.yaml: (file): is 8388609 bytes; a policy file is at most 8388608"
for inv in mynumber-internet:inv-mynumber-internet mynumber-lgwan-host-port:inv-mynumber-lgwan \
	lgwan-internet-relay:inv-lgwan-internet management-plane:inv-management \
	default-deny:inv-default-deny; do
	refused "invariant ${inv%%:*}" "${inv#*:}" "^$dir/${inv#*:}.yaml:13:5: flows\[2\]: breaks invariant ${inv%%:*}"
done
t "refusals are counted" "ctl status --json | jq -e '.policy.counters.refused >= 11' >/dev/null"

t "apply --confirmed, then rollback: the previous confirmed generation again, as a new entry" \
	"pol apply --confirmed -m 'open 81' '$dir/v2.yaml' | grep -q '^generation 3 applied.*, confirmed' &&
	 can_tcp $lg 10.101.0.20 81 &&
	 pol rollback | grep -q '^rolled back to generation 1: now generation 4 (confirmed)' &&
	 can_tcp $lg 10.101.0.20 80 && cannot_tcp $lg 10.101.0.20 81 &&
	 history_json | jq -e '(.[] | select(.number == 4) | .source == \"rollback\" and .[\"rollback-of\"] == 1 and .state == \"confirmed\") and
		(.[] | select(.number == 3) | .state == \"rolled-back\")' >/dev/null"
t "rollback GEN to a given generation" \
	"pol rollback 3 | grep -q 'now generation 5 (confirmed)' && can_tcp $lg 10.101.0.20 81 &&
	 pol rollback 4 >/dev/null && can_tcp $lg 10.101.0.20 80"
t "the store: folder and generations 0700, files 0600" \
	"[ \$(stat -c %a '$dir/state') = 700 ] && [ \$(stat -c %a '$dir/state/gen-1') = 700 ] &&
	 [ \$(stat -c %a '$dir/state/gen-1/policy.yaml') = 600 ] && [ \$(stat -c %a '$dir/state/gen-1/meta.json') = 600 ] &&
	 cmp '$dir/state/gen-1/policy.yaml' '$dir/v1.yaml'"

ruleset >"$dir/running.json"
gens=$(n_gens)
t "kill -9 kyotend leaves the ruleset as it was, and traffic as the policy says" \
	"kill -9 \$(cat '$pidf') && sleep 0.5 && ruleset | cmp -s - '$dir/running.json' &&
	 can_tcp $lg 10.101.0.20 80 && cannot_tcp $lg 10.101.0.20 81"
t "restart adopts it: no write, no new generation, the log says adopted" \
	"rm -f '$sock' && start && ruleset | cmp -s - '$dir/running.json' && [ \$(n_gens) = $gens ] &&
	 grep -q 'POLICY_ADOPTED.*policy generation 6 adopted' '$dir/kyotend.log' &&
	 ctl status | grep -q '^Policy     generation 6, confirmed, adopted at start'"
t "a generation pending when kyotend dies is reverted at restart" \
	"pol apply -t 600 '$dir/v2.yaml' >/dev/null && can_tcp $lg 10.101.0.20 81 &&
	 kill -9 \$(cat '$pidf') && sleep 0.3 && rm -f '$sock' && start &&
	 gen_state 7 reverted && history_json | jq -e '.[] | select(.number == 7) | .reason == \"kyotend restarted before it was confirmed\"' >/dev/null &&
	 can_tcp $lg 10.101.0.20 80 && cannot_tcp $lg 10.101.0.20 81 &&
	 ctl status | grep -q '^Policy     generation 6, confirmed'"
t "stopping kyotend (SIGTERM) leaves the table" \
	"kill \$(cat '$pidf') && sleep 0.5 && ! test -S '$sock' && nsx $box nft list table inet kyoten >/dev/null &&
	 cannot_tcp $lg 10.101.0.20 81"
t "a corrupt store entry is reported and skipped; the others stay" \
	"echo '{broken' >'$dir/state/gen-3/meta.json' && start &&
	 grep -q 'POLICY_STORE_BAD.*gen-3 skipped: meta.json: not a JSON object' '$dir/kyotend.log' &&
	 ctl status --json | jq -e '.policy.unreadable[0].number == 3 and .policy[\"store-errors\"] >= 1 and .policy.generation == 6' >/dev/null &&
	 pol history | grep -q '^  3 .*unreadable' && [ \$(n_gens) = $((gens + 1)) ] &&
	 grep -q 'POLICY_ADOPTED.*generation 6' '$dir/kyotend.log'"
t "policy.file: imported on reload when its content changes, as confirmed" \
	"cp '$dir/v2.yaml' '$dir/site-policy.yaml' && sed -i 's|^  templates:|  file: $dir/site-policy.yaml\n  templates:|' '$dir/site.yaml' &&
	 ctl reload >/dev/null && history_json | jq -e '.[-1] | .number == 8 and .source == \"config\" and .state == \"confirmed\"' >/dev/null &&
	 can_tcp $lg 10.101.0.20 81 && ctl reload >/dev/null && [ \$(history_json | jq '.[-1].number') = 8 ]"
# Raw requests, as kyotenctl would not send them: COMMAND GEN OPTIONS
# NAME COMMENT (ctl.h: magic, command, flags, argument; then
# struct kt_ctl_policy).
raw_req() {
	nsx $box perl -MSocket -e '
		my ($path, $cmd, $gen, $opt, $name, $comment) = @ARGV;
		socket(my $s, AF_UNIX, SOCK_STREAM, 0) or die;
		connect($s, pack_sockaddr_un($path)) or die "connect: $!";
		syswrite($s, pack("L S S L", 0x4b595431, $cmd, 0, 0) .
			pack("L L L L a256 a128", $gen, 0, 0, $opt, $name, $comment));
		local $/; print scalar <$s>;' "$sock" "$@"
}
t_raw() { ok "$1" bash -c "$env_fns; $(declare -f raw_req); sock='$sock'; $2"; }
t_raw "malformed policy requests are refused and counted: bad UTF-8, control characters, a missing descriptor" \
	"before=\$(ctl status --json | jq .control.malformed) &&
	 raw_req 7 0 0 site.yaml \$'\\xff\\xfe' | jq -e '.ok == false and (.error | test(\"not printable UTF-8\"))' >/dev/null &&
	 raw_req 7 0 0 \$'a\\nb' '' | jq -e '.ok == false and (.error | test(\"not printable UTF-8\"))' >/dev/null &&
	 raw_req 4 0 2 site.yaml '' | jq -e '.ok == false and (.error | test(\"descriptor\"))' >/dev/null &&
	 raw_req 4 0 0 site.yaml '' | jq -e '.ok == false and (.error | test(\"descriptor\"))' >/dev/null &&
	 raw_req 7 0 128 site.yaml '' | jq -e '.ok == false and (.error | test(\"options\"))' >/dev/null &&
	 [ \$(ctl status --json | jq .control.malformed) = \$((before + 5)) ] &&
	 raw_req 7 1 0 '' '' | jq -e '.ok and .generation.number == 1' >/dev/null"
t "a second kyotend on the same state-dir leaves the store and its kernel alone" \
	"nsx $my setsid '$B/kyotend' -d -c '$dir/site.yaml' -s '$dir/two.sock' -p '$dir/two.pid' \
		>'$dir/two.log' 2>&1 </dev/null &
	 wait_for 10 test -s '$dir/two.pid' &&
	 nsx $my '$B/kyotenctl' -s '$dir/two.sock' status >'$dir/two.status' &&
	 grep -q '^Policy     no policy' '$dir/two.status' &&
	 grep -q 'fault: state folder .* used by another kyotend' '$dir/two.status' &&
	 ! nsx $my nft list table inet kyoten >/dev/null 2>&1 &&
	 kill \$(cat '$dir/two.pid') && ctl status | grep -q '^Policy     generation 8, confirmed'"
t "the configuration's policy section: errors name file, line, column, field" \
	"sed 's/confirm-timeout: $TIMEOUT/confirm-timeout: 2/' '$dir/site.yaml' >'$dir/badcfg.yaml' &&
	 ! '$B/kyotend' -n -c '$dir/badcfg.yaml' 2>'$dir/err' &&
	 grep -q 'badcfg.yaml:[0-9]*:[0-9]*: policy.confirm-timeout: ' '$dir/err'"
t "the test's namespaces are its own" "ip netns list | grep -c '^$p-' | grep -qx 4"
exit $((failed > 0))
