#!/usr/bin/env bash
# The management channel's transport against the real broker (TAP, for
# prove; root): Mosquitto set up by `kyoten-noc broker init` (TLS 1.3,
# client certificates from the NOC's CA only, a per-site ACL), and
# firmware/mqttc.c (netstack/mqtt.c over wolfSSL) as the box's client,
# through tests/interop/kymqtt. Sites get their certificates the way a
# box does: a bundle from `kyoten-noc site issue`, installed by
# `kyoten-provision`. All in a network namespace of its own.
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${KYOTEN_BUILD:-$REPO/build/sim}
dir=$(mktemp -d /tmp/mqtt-t.XXXXXX)
NS=kymq$(($$ % 100000))
. "$REPO/tests/integration/lib.sh"

if [[ $(id -u) != 0 ]]; then
	echo "1..0 # SKIP needs root (network namespace, the broker's own user)"
	exit 0
fi
require_tools ip mosquitto openssl timeout
require_built kyoten-noc kyoten-provision tests/interop/kymqtt

cleanup() {
	[[ -n ${broker:-} ]] && kill "$broker" 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	[[ -n ${KEEP:-} ]] && { echo "# kept $dir"; return; }
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "1..12"

# The broker drops to its own user: it must be able to pass through.
chmod 711 "$dir"
ip netns add "$NS" && ip -n "$NS" link set lo up
in_ns() { ip netns exec "$NS" "$@"; }
noc() { "$BUILD/kyoten-noc" -d "$dir/noc" "$@"; }
PORT=18883
# mq NAME ARGS...: kymqtt as NAME (noc, site1, site2, or a files prefix).
mq() {
	local who=$1 crt key
	shift
	case $who in
	noc) crt=$dir/noc/noc/noc.crt key=$dir/noc/noc/noc.key ;;
	site*) crt=$dir/$who/etc/mgmt.crt key=$dir/$who/etc/mgmt.key ;;
	*) crt=$who.crt key=$who.key ;;
	esac
	in_ns "$BUILD/tests/interop/kymqtt" -H "${HOST:-127.0.0.1}" -p $PORT -C "$dir/noc/ca/ca.crt" \
		-c "$crt" -k "$key" -i "${ID:-${who##*/}}" "$@"
}

noc ca init >/dev/null
ok "kyoten-noc broker init: the broker's certificate, the NOC's, a configuration with TLS 1.3, client certificates only and the ACL" bash -c '
	"$0" -d "$1/noc" broker init --host 127.0.0.1 --port 18883 >"$1/o" &&
	c=$1/noc/broker/mosquitto.conf &&
	grep -qx "require_certificate true" "$c" && grep -qx "use_identity_as_username true" "$c" &&
	grep -qx "tls_version tlsv1.3" "$c" && grep -qx "allow_anonymous false" "$c" &&
	grep -qx "pattern readwrite kyoten/site/%u/#" "$1/noc/broker/acl" &&
	[[ $(stat -c %a "$1/noc/broker/server.key") == 600 ]] &&
	openssl verify -CAfile "$1/noc/ca/ca.crt" "$1/noc/broker/server.crt" "$1/noc/noc/noc.crt" >/dev/null' \
	"$BUILD/kyoten-noc" "$dir"

# Not through in_ns: $! must be mosquitto itself, not a subshell.
ip netns exec "$NS" mosquitto -c "$dir/noc/broker/mosquitto.conf" >"$dir/broker.log" 2>&1 &
broker=$!
for i in $(seq 50); do
	in_ns bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT" 2>/dev/null && break
	sleep 0.1
done

# Two sites, provisioned as boxes are.
for s in site1 site2; do
	mkdir -p "$dir/$s"
	cat >"$dir/$s.yaml" <<EOF
site: {id: $s, device-number: "MQ-$s", role: site}
lines:
  - {name: closed, kind: closed, port: wan1, address: 100.64.1.2/30, gateway: 100.64.1.1}
hubs:
  - {name: hub1, endpoints: {closed: 100.64.0.2}}
segments:
  - {name: lgwan, kind: lgwan, port: lan1, address: 10.1.1.1/24}
management:
  broker: 127.0.0.1:$PORT
  ca: $dir/$s/etc/ca.crt
  certificate: $dir/$s/etc/mgmt.crt
  key: $dir/$s/etc/mgmt.key
  policy-key: $dir/$s/etc/policy.pub
EOF
	noc site issue "$s" -c "$dir/$s.yaml" -o "$dir/$s.kbdl" --root "$dir/$s/etc" \
		--passphrase-file "$dir/$s.pass" >/dev/null &&
		"$BUILD/kyoten-provision" install "$dir/$s.kbdl" --root "$dir/$s/etc" \
			--passphrase-file "$dir/$s.pass" >/dev/null ||
		echo "# could not provision $s"
done

ok "a site's box connects with its certificate and the broker names it by its CN" bash -c '
	"$@" >"$0/o" 2>&1 && grep -q "as site1 (p2, c1, k30, u.site1.)" "$0/broker.log"' \
	"$dir" ip netns exec "$NS" "$BUILD/tests/interop/kymqtt" -H 127.0.0.1 -p $PORT \
	-C "$dir/noc/ca/ca.crt" -c "$dir/site1/etc/mgmt.crt" -k "$dir/site1/etc/mgmt.key" -i site1 \
	pub kyoten/site/site1/hello up -q 1

# A NOC command to site1, at QoS 1, while site1 listens.
mq site1 sub 'kyoten/site/site1/cmd/#' -q 1 -n 1 >"$dir/sub1" 2>&1 &
sub=$!
sleep 0.5
mq noc pub kyoten/site/site1/cmd/diag 'probe kt-h1-l1' -q 1 >/dev/null 2>&1
wait "$sub"
ok "the NOC publishes to site1 at QoS 1 and site1 receives it" \
	grep -qx "kyoten/site/site1/cmd/diag probe kt-h1-l1" "$dir/sub1"

# site1 subscribes to site2's topics and site1 publishes into them; site2
# then publishes its own state. The broker delivers site2's message to
# the NOC only, and drops site1's forgery (3.1.1 has no error for
# either: Mosquitto grants the subscription and filters on delivery).
ID=site1-spy mq site1 -t 2500 sub 'kyoten/site/site2/#' -q 1 -n 1 >"$dir/spy" 2>&1 &
spy=$!
mq noc -t 3000 sub 'kyoten/site/site2/#' -q 1 -n 1 >"$dir/sub2" 2>&1 &
sub=$!
sleep 0.5
mq site1 pub kyoten/site/site2/state forged -q 1 >/dev/null 2>&1
mq site2 pub kyoten/site/site2/state genuine -q 1 >/dev/null 2>&1
wait "$sub"
wait "$spy"
ok "the ACL: site1 subscribed to site2's topics receives none of site2's messages" bash -c '
	! grep -q "kyoten/site/site2/state" "$0" && grep -q "nothing from the broker in time" "$0"' "$dir/spy"
ok "the ACL: what site1 publishes under site2's topics never reaches the NOC; site2's own does" bash -c '
	grep -qx "kyoten/site/site2/state genuine" "$0" && ! grep -q forged "$0"' "$dir/sub2"

# Certificates the broker must refuse.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=site1 -days 30 \
	-keyout "$dir/stray.key" -out "$dir/stray.crt" >/dev/null 2>&1
ok "a certificate not issued by the NOC's CA is refused, and the box says why" bash -c '
	! "$@" >"$0/o" 2>&1 && grep -q "kymqtt: .*refused\|kymqtt: .*closed" "$0/o"' "$dir" \
	ip netns exec "$NS" "$BUILD/tests/interop/kymqtt" -H 127.0.0.1 -p $PORT -C "$dir/noc/ca/ca.crt" \
	-c "$dir/stray.crt" -k "$dir/stray.key" -i site1 pub kyoten/site/site1/x y -q 1
sed 's/^/# /' "$dir/o"

# An expired certificate from the NOC's own CA (OpenSSL's ca command can
# set past dates; wolfSSL's certificate maker always starts today).
mkdir -p "$dir/oldca" && : >"$dir/oldca/index.txt" && echo 01 >"$dir/oldca/serial"
cat >"$dir/oldca/ca.cnf" <<EOF
[ca]
default_ca = c
[c]
database = $dir/oldca/index.txt
new_certs_dir = $dir/oldca
serial = $dir/oldca/serial
default_md = sha256
policy = p
[p]
commonName = supplied
EOF
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=site1 \
	-keyout "$dir/expired.key" -out "$dir/expired.csr" >/dev/null 2>&1
openssl ca -batch -config "$dir/oldca/ca.cnf" -cert "$dir/noc/ca/ca.crt" -keyfile "$dir/noc/ca/ca.key" \
	-in "$dir/expired.csr" -out "$dir/expired.crt" -startdate 20240101000000Z \
	-enddate 20240201000000Z -notext >/dev/null 2>&1
ok "a certificate of the NOC's CA that has expired is refused" bash -c '
	openssl verify -CAfile "$0/noc/ca/ca.crt" -no_check_time "$0/expired.crt" >/dev/null &&
	! "${@}" >"$0/o" 2>&1 && grep -q "kymqtt: .*refused\|kymqtt: .*closed" "$0/o"' "$dir" \
	ip netns exec "$NS" "$BUILD/tests/interop/kymqtt" -H 127.0.0.1 -p $PORT -C "$dir/noc/ca/ca.crt" \
	-c "$dir/expired.crt" -k "$dir/expired.key" -i site1 pub kyoten/site/site1/x y -q 1
sed 's/^/# /' "$dir/o"

ok "the box refuses a broker whose certificate names another host than it dialled" bash -c '
	! "$@" >"$0/o" 2>&1 && grep -q "TLS handshake" "$0/o"' "$dir" \
	ip netns exec "$NS" "$BUILD/tests/interop/kymqtt" -H localhost -p $PORT -C "$dir/noc/ca/ca.crt" \
	-c "$dir/site1/etc/mgmt.crt" -k "$dir/site1/etc/mgmt.key" -i site1 pub kyoten/site/site1/x y

ok "the box refuses a broker whose certificate is not from the NOC's CA" bash -c '
	! "$@" >"$0/o" 2>&1 && grep -q "TLS handshake" "$0/o"' "$dir" \
	ip netns exec "$NS" "$BUILD/tests/interop/kymqtt" -H 127.0.0.1 -p $PORT -C "$dir/stray.crt" \
	-c "$dir/site1/etc/mgmt.crt" -k "$dir/site1/etc/mgmt.key" -i site1 pub kyoten/site/site1/x y

# The last will: the NOC learns at once that site1's connection dropped.
mq noc -t 8000 sub 'kyoten/site/site1/state' -q 1 -n 2 >"$dir/will" 2>&1 &
sub=$!
sleep 0.5
ID=site1 mq site1 -W "kyoten/site/site1/state=offline" pub kyoten/site/site1/state online -q 1 -r \
	>/dev/null 2>&1
t0=$(date +%s%N)
ID=site1 mq site1 -W "kyoten/site/site1/state=offline" hold 1 >/dev/null 2>&1
wait "$sub"
t1=$(date +%s%N)
ok "a connection that drops without DISCONNECT publishes the site's will (offline) to the NOC" bash -c '
	grep -qx "kyoten/site/site1/state online" "$0" && grep -qx "kyoten/site/site1/state offline" "$0"' \
	"$dir/will"
echo "# measured: the will reached the NOC $(((t1 - t0) / 1000000)) ms after the box connected (it held 1 s, then dropped)"

# A retained message waits for a box that subscribes later (a command
# sent while the box was offline).
mq noc pub kyoten/site/site2/cmd/policy 'generation 7' -q 1 -r >/dev/null 2>&1
mq site2 -t 3000 sub 'kyoten/site/site2/cmd/#' -q 1 -n 1 >"$dir/late" 2>&1
ok "a retained NOC message reaches a site that subscribes after it was sent" \
	grep -qx "kyoten/site/site2/cmd/policy generation 7 (retained)" "$dir/late"

ok "an idle box keeps its connection: with a 2 s keep-alive it pings, and the broker keeps it for 7 s" bash -c '
	"$@" >"$0/o" 2>&1 && ! grep -q "site1-idle.*exceeded timeout\|site1-idle.*closed" "$0/broker.log"' "$dir" \
	ip netns exec "$NS" "$BUILD/tests/interop/kymqtt" -H 127.0.0.1 -p $PORT -C "$dir/noc/ca/ca.crt" \
	-c "$dir/site1/etc/mgmt.crt" -k "$dir/site1/etc/mgmt.key" -i site1-idle -K 2 idle 7
