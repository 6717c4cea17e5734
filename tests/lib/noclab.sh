# shellcheck shell=bash disable=SC2154
# A lab with the NOC in it, for the management channel's tests (sourced
# by agent-lab.t and policy-push-lab.t after lib.sh; they set REPO,
# BUILD, LABCMD, L and dir first): the NOC's CA and broker (Mosquitto in
# the lab's internet-side "cloud", 203.0.113.10:8883), each site given
# its management identity by a bundle (kyoten-noc site issue,
# kyoten-provision install), and a kyoten-agent per site. kyotend keeps
# running the lab's own file (its tunnels and keys); the agent reads the
# installed one for its broker, certificate and key. The broker is also
# at 172.16.5.10 in the data centre (cloud's second leg), reached through
# the management tunnel; NOCLAB_VIA (default line) is the sites' `via`.

declare -A agent=()
broker=

noclab_cleanup() {
	local p
	for p in "${agent[@]}"; do kill "$p" 2>/dev/null; done
	[[ -n ${broker:-} ]] && kill "$broker" 2>/dev/null
	[[ -n ${KEEP:-} ]] && { echo "# kept $dir and lab $L"; return; }
	"$LABCMD" --name "$L" down >/dev/null 2>&1
	rm -rf "$dir"
}

lab() { "$LABCMD" --name "$L" "$@"; }
# The NOC's tool, run where the NOC reaches its broker.
noc() { ip netns exec "$L-cloud" "$BUILD/kyoten-noc" -d "$dir/noc" "$@"; }
# A raw MQTT client with the NOC's identity (tests/interop/kymqtt), as
# the NOC reaches the broker: kyq CLIENT-ID pub|sub ...
kyq() {
	ip netns exec "$L-cloud" "$BUILD/tests/interop/kymqtt" -H 203.0.113.10 -p 8883 \
		-C "$dir/noc/ca/ca.crt" -c "$dir/noc/noc/noc.crt" -k "$dir/noc/noc/noc.key" -i "$1" "${@:2}"
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }
status_json() { noc status --json --wait 700 2>/dev/null; }
# Not through a function: $! must be the program itself.
start_broker() {
	ip netns exec "$L-cloud" mosquitto -c "$dir/noc/broker/mosquitto.conf" >>"$dir/broker.log" 2>&1 &
	broker=$!
}
start_agent() { # s
	ip netns exec "$L-site$1" "$BUILD/kyoten-agent" -c "$dir/s$1/etc/site.yaml" \
		-s "/run/kyoten-lab/$L/site$1/kyotend.sock" -q "$dir/s$1/queue" -i 2 \
		>>"$dir/agent$1.log" 2>&1 &
	agent[$1]=$!
}

# noclab_up N: the lab with N sites, the NOC, the sites' identities and
# agents; bails out when the lab does not come up.
noclab_up() {
	local s root
	if ! lab up "$1" >"$dir/up.log" 2>&1; then
		echo "Bail out! the lab did not come up"
		sed 's/^/# /' "$dir/up.log" | tail -20
		exit 1
	fi
	# The broker drops to its own user: it must be able to pass through.
	chmod 711 "$dir"
	"$BUILD/kyoten-noc" -d "$dir/noc" ca init >/dev/null &&
		"$BUILD/kyoten-noc" -d "$dir/noc" broker init --host 203.0.113.10 >/dev/null ||
		echo "# the NOC could not be set up"
	start_broker
	for ((s = 1; s <= $1; s++)); do
		root=$dir/s$s/etc
		mkdir -p "$dir/s$s"
		sed "s|private-key: .*|private-key: $root/tunnel.key|" \
			"/run/kyoten-lab/$L/site$s/kyoten.yaml" >"$dir/site$s.yaml"
		cat >>"$dir/site$s.yaml" <<EOT
management:
  broker: 203.0.113.10:8883
  tunnel-broker: 172.16.5.10:8883
  via: ${NOCLAB_VIA:-line}
  ca: $root/ca.crt
  certificate: $root/mgmt.crt
  key: $root/mgmt.key
  policy-key: $root/policy.pub
EOT
		"$BUILD/kyoten-noc" -d "$dir/noc" site issue "site$s" -c "$dir/site$s.yaml" \
			-o "$dir/site$s.kbdl" --root "$root" --passphrase-file "$dir/site$s.pass" \
			>/dev/null &&
			"$BUILD/kyoten-provision" install "$dir/site$s.kbdl" --root "$root" \
				--passphrase-file "$dir/site$s.pass" >/dev/null ||
			echo "# site$s could not be provisioned"
		start_agent "$s"
	done
}
