#!/usr/bin/env bash
# A box provisioned as the field engineer's procedure says
# (docs/field-guide.md), in the lab (TAP, for prove; root): the NOC makes
# its CA and issues site1's identity bundle (kyoten-noc), the bundle goes
# onto the boot medium with the image (kyoten-flash), the box installs it
# from the medium with the one-time passphrase (kyoten-provision), the
# hubs learn the new tunnel key, and the box comes up on its new
# identity; kyotenctl selftest then says what a field engineer needs to
# know, healthy and not. Refusals write nothing: a wrong passphrase, a
# changed byte, the wrong box, the wrong site.
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${KYOTEN_BUILD:-$REPO/build/sim}
LABCMD=$REPO/tools/lab
L=v$(($$ % 100000))
dir=$(mktemp -d /tmp/prov-t.XXXXXX)
. "$REPO/tests/integration/lib.sh"

if [[ $(id -u) != 0 ]]; then
	echo "1..0 # SKIP needs root (creates network namespaces)"
	exit 0
fi
require_tools ip jq openssl timeout
require_built kyotend kyotenctl kyoten-noc kyoten-provision kyoten-flash kyoten-image

cleanup() {
	[[ -n ${KEEP:-} ]] && { echo "# kept $dir and lab $L"; return; }
	"$LABCMD" --name "$L" down >/dev/null 2>&1
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "1..16"

lab() { "$LABCMD" --name "$L" "$@"; }
noc() { "$BUILD/kyoten-noc" -d "$dir/noc" "$@"; }
mode() { stat -c %a "$1"; }
NODE=/run/kyoten-lab/$L/site1
ROOT=$dir/etc		# the box's /etc/kyoten
PROV=("$BUILD/kyoten-provision" install --root "$ROOT" --serial LAB1)
selftest() { lab ctl site1 selftest --json --update-root "$dir/none"; }
# check_result JSON CHECK RESULT: that check's result in a selftest report.
check_is() { [[ $(jq -r --arg c "$2" '.checks[] | select(.check == $c) | .result' "$1") == "$3" ]]; }

if ! lab up 1 >"$dir/up.log" 2>&1; then
	echo "Bail out! the lab did not come up"
	sed 's/^/# /' "$dir/up.log" | tail -20
	exit 1
fi

# The NOC's files, and site1's configuration as the NOC writes it: the
# lab's own, with the identity where the bundle puts it.
ok "kyoten-noc ca init makes the CA and the policy key, private keys 0600; a second init is refused" bash -c '
	"$0" -d "$1/noc" ca init >"$1/o" &&
	[[ $(stat -c %a "$1/noc/ca/ca.key") == 600 && $(stat -c %a "$1/noc/ca/policy.key") == 600 ]] &&
	openssl x509 -in "$1/noc/ca/ca.crt" -noout -subject -ext basicConstraints >"$1/ca.txt" &&
	grep -q "CN = Kyoten NOC CA" "$1/ca.txt" && grep -q "CA:TRUE" "$1/ca.txt" &&
	! "$0" -d "$1/noc" ca init >"$1/o2" 2>&1 && grep -q "never replaced" "$1/o2"' \
	"$BUILD/kyoten-noc" "$dir"

mkdir -p "$ROOT"
echo "the box's image key" >"$ROOT/image.pub"
sed "s|private-key: .*|private-key: $ROOT/tunnel.key|" "$NODE/kyoten.yaml" >"$dir/site1.yaml"
cat >>"$dir/site1.yaml" <<EOF
management:
  broker: noc.lab.invalid:8883
  ca: $ROOT/ca.crt
  certificate: $ROOT/mgmt.crt
  key: $ROOT/mgmt.key
  policy-key: $ROOT/policy.pub
EOF
cp "$dir/site1.yaml" "$dir/wrongpath.yaml"
sed -i "s|  key: $ROOT/mgmt.key|  key: /etc/kyoten/mgmt.key|" "$dir/wrongpath.yaml"

ok "site issue refuses a file that puts a key where the bundle does not, naming the field, and another site's ID" bash -c '
	! "$0" -d "$1/noc" site issue site1 -c "$1/wrongpath.yaml" -o "$1/x.kbdl" --root "$1/etc" >"$1/o" 2>&1 &&
	grep -q "management.key is /etc/kyoten/mgmt.key; the bundle installs it as $1/etc/mgmt.key" "$1/o" &&
	! "$0" -d "$1/noc" site issue site2 -c "$1/site1.yaml" -o "$1/x.kbdl" --root "$1/etc" >"$1/o" 2>&1 &&
	grep -q "site.id is .site1., not .site2." "$1/o" && [[ ! -e $1/x.kbdl ]]' "$BUILD/kyoten-noc" "$dir"

ok "site issue seals site1's bundle (0600), records it, and keeps no private key at the NOC" bash -c '
	"$0" -d "$1/noc" site issue site1 -c "$1/site1.yaml" -o "$1/site1.kbdl" --root "$1/etc" \
		--serial LAB1 --passphrase-file "$1/pass" >"$1/issue.out" &&
	[[ $(stat -c %a "$1/site1.kbdl") == 600 && $(stat -c %a "$1/pass") == 600 ]] &&
	jq -e ".site == \"site1\" and .serial == \"LAB1\" and (.\"tunnel-public-key\" | length) > 40" \
		"$1/noc/sites/site1/issued.json" >/dev/null &&
	[[ $(wc -l <"$1/noc/issued.log") == 1 ]] &&
	! grep -rq "PRIVATE KEY" "$1/noc/sites" &&
	! grep -q "$(cat "$1/pass")" "$1/site1.kbdl" &&
	! grep -q "BEGIN" "$1/site1.kbdl"' "$BUILD/kyoten-noc" "$dir"

ok "OpenSSL accepts the site certificate as the NOC CA's, for CN=site1 and the box's serial" bash -c '
	openssl verify -CAfile "$0/noc/ca/ca.crt" "$0/noc/sites/site1/mgmt.crt" >/dev/null &&
	openssl x509 -in "$0/noc/sites/site1/mgmt.crt" -noout -subject | grep -q "CN = site1, serialNumber = LAB1"' "$dir"

ok "issuing site1 again is refused without --reissue" bash -c '
	! "$0" -d "$1/noc" site issue site1 -c "$1/site1.yaml" -o "$1/again.kbdl" --root "$1/etc" >"$1/o" 2>&1 &&
	grep -q "issued before" "$1/o"' "$BUILD/kyoten-noc" "$dir"

# The boot medium: a small signed image and the bundle.
"$BUILD/kyoten-image" keygen "$dir" >/dev/null &&
	"$BUILD/kyoten-image" build -k "$dir/image.key" -b sim -v 1.0.0 -o "$dir/img.kimg" \
		"kyotenctl=$BUILD/kyotenctl:bin/kyotenctl:0755" >/dev/null ||
	echo "# could not build the test image"

ok "kyoten-flash refuses the bundle for another site, then writes image and bundle and reports the bundle" bash -c '
	! "$0" -i "$1/img.kimg" -p "$1/image.pub" -b sim --bundle "$1/site1.kbdl" --site site2 \
		--size 32M --yes "$1/medium.img" >"$1/o" 2>&1 &&
	grep -q "it is for site site1, not site2" "$1/o" && [[ ! -e $1/medium.img ]] &&
	"$0" -i "$1/img.kimg" -p "$1/image.pub" -b sim --bundle "$1/site1.kbdl" --size 32M --yes \
		--report "$1/report.json" "$1/medium.img" >"$1/o" 2>&1 &&
	jq -e ".site == \"site1\" and .serial == \"LAB1\" and (.bundle.\"bundle-id\" | length) == 32" \
		"$1/report.json" >/dev/null' "$BUILD/kyoten-flash" "$dir"

ok "kyoten-provision show reads the medium's bundle without a passphrase" bash -c '
	"$0" show --medium "$1/medium.img" >"$1/o" && grep -q "site bundle for site1" "$1/o" &&
	grep -q "box           LAB1" "$1/o"' "$BUILD/kyoten-provision" "$dir"

# Refusals: nothing in ROOT changes.
tree() { find "$1" -printf '%p %s %T@ %m\n' | sort | md5sum; }
before=$(tree "$ROOT")
printf 'AAAA-BBBB-CCCC-DDDD-EEEE\n' >"$dir/wrongpass"
cp "$dir/site1.kbdl" "$dir/changed.kbdl"
# One byte of the sealed body, well past the head.
printf 'x' | dd of="$dir/changed.kbdl" bs=1 seek=$(($(stat -c %s "$dir/site1.kbdl") - 100)) conv=notrunc status=none
ok "install refuses a wrong passphrase, a changed byte and another box's serial, and writes nothing" bash -c '
	! "$0" install --root "$1/etc" --serial LAB1 --passphrase-file "$1/wrongpass" --medium "$1/medium.img" >"$1/o1" 2>&1 &&
	grep -q "the passphrase is wrong" "$1/o1" &&
	! "$0" install --root "$1/etc" --serial LAB1 --passphrase-file "$1/pass" "$1/changed.kbdl" >"$1/o2" 2>&1 &&
	grep -q "changed after it was made" "$1/o2" &&
	! "$0" install --root "$1/etc" --serial LAB2 --passphrase-file "$1/pass" --medium "$1/medium.img" >"$1/o3" 2>&1 &&
	grep -q "serial number LAB1, not LAB2" "$1/o3" &&
	[[ "$(find "$1/etc" -printf "%p %s %T@ %m\n" | sort | md5sum)" == "$2" && ! -e $1/etc.new ]] ||
	{ head -n 5 "$1"/o[123]; find "$1/etc" "$1/etc.new" -printf "%p %s %T@ %m\n"; exit 1; }' \
	"$BUILD/kyoten-provision" "$dir" "$before"

# What a power cut part way through an earlier install leaves behind.
mkdir -p "$ROOT.new" && echo junk >"$ROOT.new/site.yaml"
ok "install from the medium: the files with their modes, image.pub kept, a stale ROOT.new gone, the bundle erased" bash -c '
	"$@" --passphrase-file "$0/pass" --medium "$0/medium.img" >"$0/inst.out" 2>&1 &&
	[[ $(stat -c %a "$0/etc/tunnel.key") == 600 && $(stat -c %a "$0/etc/mgmt.key") == 600 &&
	   $(stat -c %a "$0/etc/site.yaml") == 600 && $(stat -c %a "$0/etc/ca.crt") == 644 ]] &&
	[[ $(cat "$0/etc/image.pub") == "the box'"'"'s image key" ]] && [[ ! -e $0/etc.new ]] &&
	jq -e ".site == \"site1\"" "$0/etc/provisioned.json" >/dev/null &&
	grep -q "erased from" "$0/inst.out" &&
	! "${@:1:1}" show --medium "$0/medium.img" >"$0/o" 2>&1 && grep -q "holds no site bundle" "$0/o"' \
	"$dir" "${PROV[@]}"

ok "the installed tunnel key is the one the NOC recorded" bash -c '
	[[ $("$0" pubkey --suite cryptrec "$1/etc/tunnel.key") == $(jq -r ".\"tunnel-public-key\"" "$1/noc/sites/site1/issued.json") ]]' \
	"$BUILD/kyotenctl" "$dir"

# The hubs take site1's new public key (as the NOC's issue output says),
# and the box's daemon restarts on the installed file.
newpub=$(jq -r '."tunnel-public-key"' "$dir/noc/sites/site1/issued.json")
oldpub=$(cat "$NODE/tunnel.pub")
for h in hub1 hub2; do
	sed -i "s|$oldpub|$newpub|" "/run/kyoten-lab/$L/$h/kyoten.yaml"
	lab ctl "$h" reload >/dev/null || echo "# $h did not reload"
done
cp "$NODE/kyoten.yaml" "$dir/lab-site1.yaml"
ln -sf "$ROOT/site.yaml" "$NODE/kyoten.yaml"
lab site kill site1 >/dev/null
# All 4 paths with a session and BFD Up, and so for 2 s (a TUN interface
# the killed daemon held can take a moment to go; kyotend retries it).
ok "site1's kyotend starts on the installed identity and all 4 paths come up" bash -c '
	"$0" --name "$1" site start site1 >/dev/null &&
	since=
	for i in $(seq 300); do
		n=$("$0" --name "$1" ctl site1 show paths --json |
			jq "[.[] | select(.bfd.state == \"up\" and .session)] | length")
		if [[ $n == 4 ]]; then
			since=${since:-$i}
			((i - since >= 20)) && exit 0
		else
			since=
		fi
		sleep 0.1
	done; exit 1' "$LABCMD" "$L"

# A policy, so that the self-test has a separated box to look at.
lab policy-file site1 beta >/dev/null &&
	lab ctl site1 policy apply --confirmed "$NODE/policy-beta.yaml" >/dev/null ||
	echo "# the policy was not applied"
selftest >"$dir/st1.json"
ok "selftest on the healthy box: no failure; identity, tunnels, segment paths and policy pass" bash -c '
	jq -e ".result != \"fail\" and .site == \"site1\"" "$0" >/dev/null &&
	for c in daemon lines tunnels "segment paths" policy identity; do
		[[ $(jq -r --arg c "$c" ".checks[] | select(.check == \$c) | .result" "$0") == pass ]] || exit 1
	done
	jq -r ".checks[] | select(.check == \"identity\") | .detail" "$0" | grep -q "CN=site1"' "$dir/st1.json"
jq -r '.checks[] | "# \(.result) \(.check): \(.detail)"' "$dir/st1.json"

ok "selftest prints a report for a person and exits 0" bash -c '
	"$0" --name "$1" ctl site1 selftest --update-root /nonexistent >"$2/st.txt" &&
	grep -q "^  PASS  identity" "$2/st.txt" && grep -q "^Result: PASS" "$2/st.txt"' "$LABCMD" "$L" "$dir"

# The closed line goes: My Number (closed lines only) has nowhere to go.
lab line down site1 closed >/dev/null
sleep 1
selftest >"$dir/st2.json"; rc=$?
ok "selftest with the closed line down: exit 1, the line and its paths named, My Number without a path" bash -c '
	[[ $2 == 1 ]] &&
	jq -e ".result == \"fail\"" "$0" >/dev/null &&
	jq -r ".checks[] | select(.check == \"lines\") | .result + \" \" + .detail" "$0" | grep -q "^warn .*line closed (wan1)" &&
	jq -r ".checks[] | select(.check == \"tunnels\") | .result + \" \" + .detail" "$0" | grep -q "^warn 2 of 4 paths up" &&
	jq -r ".checks[] | select(.check == \"segment paths\") | .result + \" \" + .detail" "$0" | grep -q "^fail .*mynumber"' \
	"$dir/st2.json" "$dir" "$rc"
lab line up site1 closed >/dev/null

lab site kill site1 >/dev/null
"$BUILD/kyotenctl" -s "$NODE/kyotend.sock" selftest --json --update-root "$dir/none" \
	--config "$ROOT/site.yaml" >"$dir/st3.json"; rc=$?
ok "selftest with kyotend stopped: exit 1, the daemon named, and still a report on identity and clock" bash -c '
	[[ $1 == 1 ]] &&
	jq -r ".checks[] | select(.check == \"daemon\") | .result + \" \" + .detail" "$0" | grep -q "^fail kyotend does not answer" &&
	jq -r ".checks[] | select(.check == \"identity\") | .result + \" \" + .detail" "$0" | grep -q "^pass certificate CN=site1" &&
	jq -e ".site == \"site1\" and ([.checks[] | select(.check == \"clock\")] | length == 1)" "$0" >/dev/null' \
	"$dir/st3.json" "$rc"

# A certificate the CA did not issue, in place of the box's.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=site1 -days 30 \
	-keyout "$dir/stray.key" -out "$dir/stray.crt" >/dev/null 2>&1
cp "$ROOT/mgmt.crt" "$dir/mgmt.crt.good"
cp "$dir/stray.crt" "$ROOT/mgmt.crt"
"$BUILD/kyotenctl" -s "$NODE/kyotend.sock" selftest --json --config "$ROOT/site.yaml" >"$dir/st4.json"
ok "selftest fails the identity when the certificate is not the NOC CA's" bash -c '
	jq -r ".checks[] | select(.check == \"identity\") | .result + \" \" + .detail" "$0" |
		grep -q "^fail the management certificate: the certificate is not one the CA issued"' "$dir/st4.json"
cp "$dir/mgmt.crt.good" "$ROOT/mgmt.crt"
