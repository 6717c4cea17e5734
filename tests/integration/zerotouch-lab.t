#!/usr/bin/env bash
# Zero-touch for spares, in the lab (TAP, for prove; root). A spare box
# gets its own identity when it goes into stock (kyoten-noc spare add,
# installed once with a passphrase). When site1's box fails, the spare
# takes its place with no laptop: plugged into the lines, it gets an
# address by DHCP on the internet line (busybox udhcpc; the lab's carrier
# runs udhcpd), reaches the NOC's broker (Mosquitto, in the lab's
# internet-side "cloud"), and waits; the NOC assigns its serial to site1
# (kyoten-noc spare assign), which leaves site1's bundle at the broker
# with the passphrase sealed for the spare's key; the spare checks and
# installs it, says so, and comes up as site1 with all its tunnels.
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${KYOTEN_BUILD:-$REPO/build/sim}
LABCMD=$REPO/tools/lab
L=z$(($$ % 100000))
dir=$(mktemp -d /tmp/zt-t.XXXXXX)
. "$REPO/tests/integration/lib.sh"

if [[ $(id -u) != 0 ]]; then
	echo "1..0 # SKIP needs root (creates network namespaces)"
	exit 0
fi
require_tools ip jq mosquitto busybox timeout
require_built kyotend kyotenctl kyoten-noc kyoten-provision tests/interop/kymqtt

cleanup() {
	[[ -n ${broker:-} ]] && kill "$broker" 2>/dev/null
	[[ -n ${KEEP:-} ]] && { echo "# kept $dir and lab $L"; return; }
	"$LABCMD" --name "$L" down >/dev/null 2>&1
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "1..9"

lab() { "$LABCMD" --name "$L" "$@"; }
noc() { "$BUILD/kyoten-noc" -d "$dir/noc" "$@"; }
NODE=/run/kyoten-lab/$L/site1
ROOT=$dir/etc		# the spare's /etc/kyoten
SERIAL=KT-SPARE1
SPARE=spare-kt-spare1
in_site() { ip netns exec "$L-site1" "$@"; }

if ! lab up 1 >"$dir/up.log" 2>&1; then
	echo "Bail out! the lab did not come up"
	sed 's/^/# /' "$dir/up.log" | tail -20
	exit 1
fi

# The NOC: its CA, and its broker where the internet side reaches it.
chmod 711 "$dir"
noc ca init >/dev/null && noc broker init --host 203.0.113.10 >/dev/null ||
	echo "# the NOC could not be set up"
ip netns exec "$L-cloud" mosquitto -c "$dir/noc/broker/mosquitto.conf" >"$dir/broker.log" 2>&1 &
broker=$!

ok "spare add: the spare's own bundle (a spare's, bound to its serial) and no private key kept at the NOC" bash -c '
	"$0" -d "$1/noc" spare add KT-SPARE1 -o "$1/spare.kbdl" --passphrase-file "$1/spare.pass" >"$1/o" &&
	[[ $(stat -c %a "$1/spare.kbdl") == 600 ]] && [[ ! -e $1/noc/spares/KT-SPARE1/mgmt.key ]] &&
	"$2" show "$1/spare.kbdl" >"$1/o" && grep -q "site bundle for spare-kt-spare1" "$1/o" &&
	grep -q "box           KT-SPARE1" "$1/o"' "$BUILD/kyoten-noc" "$dir" "$BUILD/kyoten-provision"

ok "into stock: the spare's bundle installs (with the passphrase, once) and the box knows it is a spare" bash -c '
	"$0" install "$1/spare.kbdl" --root "$1/etc" --serial KT-SPARE1 --passphrase-file "$1/spare.pass" >"$1/o" 2>&1 &&
	jq -e ".kind == \"spare\" and .site == \"spare-kt-spare1\" and .serial == \"KT-SPARE1\"" "$1/etc/provisioned.json" >/dev/null &&
	jq -e ".port == \"wan2\" and .dhcp and .broker == \"203.0.113.10\"" "$1/etc/enrol.json" >/dev/null &&
	[[ ! -e $1/etc/site.yaml && $(stat -c %a "$1/etc/mgmt.key") == 600 ]]' "$BUILD/kyoten-provision" "$dir"

# site1's box fails: its daemon is gone and the spare, with no site
# settings, sits on its lines. The carrier's router offers DHCP.
lab site kill site1 >/dev/null
ip -n "$L-site1" addr flush dev wan1
ip -n "$L-site1" addr flush dev wan2
lab dhcp on site1 >/dev/null

ok "a spare not yet assigned waits, gives up after its timeout, changes nothing and gives its DHCP lease back" bash -c '
	! ip netns exec "$0" "$1" fetch --root "$2/etc" --timeout 4 >"$2/o" 2>&1 &&
	grep -q "no site bundle arrived within 4 s" "$2/o" && grep -q "wan2: 198.18.1.2/30, router 198.18.1.1 (DHCP)" "$2/o" &&
	jq -e ".kind == \"spare\"" "$2/etc/provisioned.json" >/dev/null &&
	[[ -z $(ip -n "$0" -4 addr show dev wan2 | grep inet) ]]' "$L-site1" "$BUILD/kyoten-provision" "$dir"
sed 's/^/# /' "$dir/o" | head -5

# The NOC's site file for site1, with the identity where the spare keeps it.
sed "s|private-key: .*|private-key: $ROOT/tunnel.key|" "$NODE/kyoten.yaml" >"$dir/site1.yaml"
cat >>"$dir/site1.yaml" <<EOF
management:
  broker: 203.0.113.10:8883
  ca: $ROOT/ca.crt
  certificate: $ROOT/mgmt.crt
  key: $ROOT/mgmt.key
  policy-key: $ROOT/policy.pub
EOF

in_site "$BUILD/kyoten-provision" fetch --root "$ROOT" --timeout 90 >"$dir/fetch.out" 2>&1 &
fetch=$!
# A delivery that is not one, and one that cannot be opened: the spare
# refuses both, says so, and keeps waiting.
for i in $(seq 50); do
	grep -q "DHCP" "$dir/fetch.out" && break
	sleep 0.1
done
sleep 1
kyq() {
	ip netns exec "$L-cloud" "$BUILD/tests/interop/kymqtt" -H 203.0.113.10 -p 8883 \
		-C "$dir/noc/ca/ca.crt" -c "$dir/noc/noc/noc.crt" -k "$dir/noc/noc/noc.key" -i "$1" "${@:2}"
}
kyq forger pub "kyoten/site/$SPARE/bundle" "not a delivery" -q 1 >/dev/null 2>&1
# Framed as a delivery (a sealed passphrase of 288 bytes, then more),
# but nothing in it was sealed for this spare.
kyq forger pub "kyoten/site/$SPARE/bundle" "KYTNSPR1"$'\x01\x20'"$(head -c 400 /dev/urandom | base64 -w0)" \
	-q 1 >/dev/null 2>&1
t0=$(date +%s%N)
# The NOC's tools run where the NOC reaches its broker (here, beside it).
ip netns exec "$L-cloud" "$BUILD/kyoten-noc" -d "$dir/noc" spare assign "$SERIAL" site1 \
	-c "$dir/site1.yaml" --root "$ROOT" --wait 60 >"$dir/assign.out" 2>&1
arc=$?
t1=$(date +%s%N)
wait "$fetch"
frc=$?
ok "spare assign: the NOC issues site1's bundle for the spare and hears back that it was installed" bash -c '
	[[ $1 == 0 ]] && grep -q "installed    by spare-kt-spare1: installed site1 [0-9a-f]\{32\}" "$0"' \
	"$dir/assign.out" "$arc"
sed 's/^/# /' "$dir/assign.out"
echo "# measured: $(((t1 - t0) / 1000000)) ms from spare assign to the spare's word that site1 is installed"

ok "the spare refused the two forged deliveries, and installed the real one" bash -c '
	[[ $1 == 0 ]] && grep -q "the NOC.s message is not a delivery" "$0" &&
	grep -q "the delivery.s passphrase: " "$0" && grep -q "installed into .*: site site1" "$0"' \
	"$dir/fetch.out" "$frc"
sed 's/^/# /' "$dir/fetch.out"

ok "the spare is now site1: its files, no enrolment left, and the DHCP lease given back" bash -c '
	jq -e ".kind == \"site\" and .site == \"site1\" and .serial == \"KT-SPARE1\"" "$0/etc/provisioned.json" >/dev/null &&
	[[ ! -e $0/etc/enrol.json && -e $0/etc/site.yaml && $(stat -c %a "$0/etc/tunnel.key") == 600 ]] &&
	openssl x509 -in "$0/etc/mgmt.crt" -noout -subject | grep -q "CN = site1" &&
	[[ -z $(ip -n "$1" -4 addr show dev wan2 | grep inet) ]]' "$dir" "$L-site1"

ok "the broker no longer holds the delivery (the spare cleared it)" bash -c '
	out=$("$@" 2>&1); ! grep -q "KYTNSPR1" <<<"$out"' \
	ip netns exec "$L-cloud" "$BUILD/tests/interop/kymqtt" -H 203.0.113.10 -p 8883 \
	-C "$dir/noc/ca/ca.crt" -c "$dir/noc/noc/noc.crt" -k "$dir/noc/noc/noc.key" -i checker -t 1500 \
	sub "kyoten/site/$SPARE/bundle" -q 1 -n 1

# The hubs take the new key, as spare assign printed it; the box's
# daemon starts on the installed site file.
lab dhcp off site1 >/dev/null
newpub=$(jq -r '."tunnel-public-key"' "$dir/noc/sites/site1/issued.json")
oldpub=$(cat "$NODE/tunnel.pub")
for h in hub1 hub2; do
	sed -i "s|$oldpub|$newpub|" "/run/kyoten-lab/$L/$h/kyoten.yaml"
	lab ctl "$h" reload >/dev/null || echo "# $h did not reload"
done
ln -sf "$ROOT/site.yaml" "$NODE/kyoten.yaml"
ok "the spare's kyotend starts as site1 and all 4 paths come up with sessions" bash -c '
	"$0" --name "$1" site start site1 >/dev/null &&
	for i in $(seq 300); do
		n=$("$0" --name "$1" ctl site1 show paths --json |
			jq "[.[] | select(.bfd.state == \"up\" and .session)] | length")
		[[ $n == 4 ]] && exit 0
		sleep 0.1
	done; exit 1' "$LABCMD" "$L"

lab ctl site1 selftest --json --update-root "$dir/none" >"$dir/st.json"
ok "selftest on the replaced box: identity CN=site1 from the NOC's CA, the tunnels and lines pass" bash -c '
	for c in identity lines daemon; do
		[[ $(jq -r --arg c "$c" ".checks[] | select(.check == \$c) | .result" "$0") == pass ]] || exit 1
	done
	jq -r ".checks[] | select(.check == \"identity\") | .detail" "$0" | grep -q "CN=site1"' "$dir/st.json"
jq -r '.checks[] | "# \(.result) \(.check): \(.detail)"' "$dir/st.json"
