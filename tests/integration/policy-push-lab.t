#!/usr/bin/env bash
# Signed policy pushed from the NOC, in the lab (TAP, for prove; root):
# `kyoten-noc policy push` to three sites' agents, the canary first and
# then a wave; each agent checks the signature and the site, has kyotend
# apply it and confirms only once its management channel has carried a
# message after the change. A push signed with another key, another
# site's push replayed, and a canary that does not answer are refused or
# stop the rollout, and the sites keep what they ran.
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${KYOTEN_BUILD:-$REPO/build/sim}
LABCMD=$REPO/tools/lab
L=q$(($$ % 100000))
dir=$(mktemp -d /tmp/push-t.XXXXXX)
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

echo "1..11"

noclab_up 3

gen_of() { lab ctl "$1" status --json | jq -r '.policy.generation // 0'; }
state_of() { lab ctl "$1" status --json | jq -r '.policy.state'; }
online() {
	noc status --json --wait 700 >"$dir/status.json" 2>/dev/null &&
		[[ $(jq '[.sites[] | select(.state == "online")] | length' "$dir/status.json") == 3 ]]
}
wait_for 20 online || echo "# not every agent came online"
# The lab's beta policy for each site, and the one flow a box needs to
# reach the NOC's broker over its internet line (the agent's channel):
# without it the box cannot confirm, and kyotend reverts the push.
for s in 1 2 3; do
	lab policy-file "site$s" beta >"$dir/policy-site$s.yaml"
	cat >>"$dir/policy-site$s.yaml" <<EOF
  - from: box
    to: internet-line
    proto: tcp
    ports: [8883]
    purpose: "the management channel to the NOC's broker (kyoten-agent)"
EOF
done

ok "policy push: the canary (site1), then a wave (site2, site3); every site applies and confirms" bash -c '
	"$@" >"$0/push1" 2>&1 && grep -q "every site confirmed" "$0/push1" &&
	[[ $(grep -cE "^  site[123] +confirmed" "$0/push1") == 3 ]]' "$dir" \
	ip netns exec "$L-cloud" "$BUILD/kyoten-noc" -d "$dir/noc" policy push "$dir/policy-{site}.yaml" \
	--sites site1,site2,site3 --canary site1 --wave 2 --timeout 30
sed 's/^/# /' "$dir/push1"

ok "each box runs it confirmed, applied by its agent with the push named" bash -c '
	for s in 1 2 3; do
		j=$("$0" --name "$1" ctl "site$s" status --json) &&
		jq -e ".policy.state == \"confirmed\" and (.policy.current.comment | test(\"NOC push [0-9a-f]{16} by \")) and
			.policy.current.user == \"kyoten\"" \
			<<<"$j" >/dev/null || { jq -c .policy.current <<<"$j"; exit 1; }
	done' "$LABCMD" "$L"

ok "the push is recorded: who, when, which file, each site's result" bash -c '
	jq -se "length == 1 and .[0].complete and .[0].by != \"\" and
		([.[0].sites[] | select(.result == \"confirmed\")] | length) == 3" "$0/noc/pushes.log" >/dev/null' "$dir"

# policy plan: nothing sent, each site against what it confirmed.
cp "$dir/policy-site2.yaml" "$dir/plan-site2.yaml"
for s in 1 3; do cp "$dir/policy-site$s.yaml" "$dir/plan-site$s.yaml"; done
printf '  - from: box\n    to: internet-line\n    proto: udp\n    ports: [123]\n    purpose: "NTP"\n' \
	>>"$dir/plan-site2.yaml"
g2=$(gen_of site2)
ok "policy plan: site1 and site3 unchanged, site2 changes by the lines added, shown with --diff; nothing sent" bash -c '
	"$@" policy plan "$0/plan-{site}.yaml" --sites site1,site2,site3 --diff >"$0/plan" 2>&1 &&
	grep -Eq "^  site1 +unchanged +the policy of push [0-9a-f]{16}, confirmed" "$0/plan" &&
	grep -Eq "^  site3 +unchanged " "$0/plan" &&
	grep -Eq "^  site2 +changes +against push [0-9a-f]{16}, confirmed .*: 5 lines added, 0 removed$" "$0/plan" &&
	grep -q "^    +    purpose: \"NTP\"" "$0/plan" && grep -q "^1 sites change, 2 unchanged, 0 new" "$0/plan"' \
	"$dir" ip netns exec "$L-cloud" "$BUILD/kyoten-noc" -d "$dir/noc"
sed 's/^/# /' "$dir/plan" | head -20
ok "policy plan sent nothing: site2 still runs the generation it confirmed" test "$(gen_of site2)" = "$g2"
ok "policy plan: a site never pushed is new, a missing file is named and fails the plan" bash -c '
	"$@" policy plan "$0/policy-site1.yaml" --sites site7 >"$0/plan2" 2>&1 &&
	grep -Eq "^  site7 +new +no push confirmed" "$0/plan2" &&
	! "$@" policy plan "$0/nothing-{site}.yaml" --sites site1 >"$0/plan3" 2>&1 &&
	grep -q "nothing-site1.yaml: No such file" "$0/plan3"' "$dir" ip netns exec "$L-cloud" \
	"$BUILD/kyoten-noc" -d "$dir/noc"

# Another NOC's key: the same broker identity, another policy key.
cp -a "$dir/noc" "$dir/noc2"
rm -f "$dir/noc2/ca/policy.key" "$dir/noc2/ca/policy.pub"
"$BUILD/kyoten-image" keygen "$dir/noc2/ca" >/dev/null 2>&1 &&
	mv "$dir/noc2/ca/image.key" "$dir/noc2/ca/policy.key" && mv "$dir/noc2/ca/image.pub" "$dir/noc2/ca/policy.pub"
g1=$(gen_of site1)
ok "a push signed with another key is refused by the box, reported, and changes nothing" bash -c '
	lab=$1 l=$2 g=$3
	shift 3
	! "$@" >"$0/push2" 2>&1 && grep -q "refused .*signature is not the NOC" "$0/push2" &&
	[[ $("$lab" --name "$l" ctl site1 status --json | jq -r .policy.generation) == "$g" ]]' \
	"$dir" "$LABCMD" "$L" "$g1" ip netns exec "$L-cloud" "$BUILD/kyoten-noc" -d "$dir/noc2" policy push \
	"$dir/policy-site1.yaml" --sites site1 --timeout 15
sed 's/^/# /' "$dir/push2"

# site2's genuine push, caught on its way and replayed to site1.
kyq catcher -t 20000 sub kyoten/site/site2/cmd/policy -q 1 -n 1 -o "$dir/site2.push" >/dev/null 2>&1 &
catcher=$!
sleep 1
noc policy push "$dir/policy-site2.yaml" --sites site2 --timeout 30 >"$dir/push3" 2>&1
wait "$catcher"
kyq replayer -t 20000 sub kyoten/site/site1/reply -q 1 -n 1 >"$dir/reply1" 2>&1 &
rp=$!
sleep 1
kyq replayer2 pub kyoten/site/site1/cmd/policy "@$dir/site2.push" -q 1 >/dev/null 2>&1
wait "$rp"
ok "site2's push replayed to site1 is refused there as another site's" bash -c '
	[[ -s $0/site2.push ]] && grep -q "\"result\":\"refused\".*for site site2, not site1" "$0/reply1" &&
	[[ $("$1" --name "$2" ctl site1 status --json | jq -r .policy.generation) == "$3" ]]' \
	"$dir" "$LABCMD" "$L" "$g1"
sed 's/^/# /' "$dir/reply1"

# A canary that does not answer (its agent frozen): nothing else is touched.
g2=$(gen_of site2)
kill -STOP "${agent[3]}"
ok "a canary that does not confirm stops the rollout: the other sites are not pushed and keep what they ran" bash -c '
	lab=$1 l=$2 g=$3
	shift 3
	! "$@" >"$0/push4" 2>&1 && grep -q "site3 *no answer" "$0/push4" &&
	grep -q "site1 *not pushed" "$0/push4" && grep -q "site2 *not pushed" "$0/push4" &&
	[[ $("$lab" --name "$l" ctl site2 status --json | jq -r .policy.generation) == "$g" ]]' \
	"$dir" "$LABCMD" "$L" "$g2" ip netns exec "$L-cloud" "$BUILD/kyoten-noc" -d "$dir/noc" policy push \
	"$dir/policy-{site}.yaml" --sites site1,site2,site3 --canary site3 --timeout 8
kill -CONT "${agent[3]}"
sed 's/^/# /' "$dir/push4"

# A policy that cuts the box off its broker: the agent cannot carry a
# message after the change, so it never confirms, and kyotend puts the
# previous policy back by itself when the confirm timeout runs out.
lab policy-file site1 beta >"$dir/cuts-off.yaml"
g1=$(gen_of site1)
noc policy push "$dir/cuts-off.yaml" --sites site1 --confirm-timeout 5 --timeout 10 >"$dir/push5" 2>&1
back() { [[ $(state_of site1) == confirmed && $(gen_of site1) == "$g1" ]]; }
wait_for 20 back
reverted=$?
ok "a policy that cuts the management channel is never confirmed, and the box goes back to the one before" bash -c '
	grep -q "site1 *no answer" "$0/push5" && [[ $1 == 0 ]] &&
	grep -q "POLICY_REVERTED" "$2"' "$dir" "$reverted" "/run/kyoten-lab/$L/site1/kyotend.log"
sed 's/^/# /' "$dir/push5"

ok "every push of this NOC is in its record, the stopped ones marked incomplete" bash -c '
	jq -se "length == 4 and ([.[] | select(.complete | not)] | length) == 2 and
		(.[2].sites.site3.result == \"no answer\") and (.[2].sites.site1.result == \"not pushed\") and
		(.[3].sites.site1.result == \"no answer\")" \
		"$0/noc/pushes.log" >/dev/null' "$dir"
