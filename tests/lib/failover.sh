# shellcheck shell=bash
# One failover trial in a running lab (sourced by tests/integration/
# failover-lab.t and tests/bench/failover): a 1,000 packets/s UDP stream
# with sequence numbers each way between site1's LGWAN host (10.1.2.10)
# and the LGWAN server (172.16.1.10), a fault in the middle, and the
# packets each direction lost. At 1,000 a second each lost packet is 1 ms
# of outage.
#
# Needs: LABCMD, LAB (the lab's name), SEQSTREAM (tests/interop/seqstream),
# a scratch folder FO_DIR, and FO_HOLD_DOWN_S (the lab's hold-down).
#
#   fo_trial a|b|c|d      prints "UP_LOST DOWN_LOST" (packets), after the
#                         lab has recovered from the fault
#   a  carrier loss on site1's closed line (its wan1 loses carrier)
#   b  a silent blackhole in the closed carrier for site1
#   c  hub1's kyotend killed (SIGKILL)
#   e  hub1 stops dead (tools/lab hub crash: kyotend killed, the hub's
#      FRR frozen, so the data-centre core has only BFD to notice)
#   d  failback: the closed line repaired while the stream runs over the
#      internet line, through the hold-down and back

fo_lab() { "$LABCMD" --name "$LAB" "$@"; }

# fo_healthy: site1's LGWAN segment on kt-h1-l1, hub1 routing site1
# through its closed line again and, where the lab runs FRR, dc-core
# routing site1 through hub1: the state every trial starts from.
fo_healthy() {
	fo_lab ctl site1 status --json 2>/dev/null |
		jq -e '(.paths.segments[] | select(.segment == "lgwan") | .active == "kt-h1-l1") and
			([.tunnels.paths[] | select(.bfd.state == "up")] | length == 4)' >/dev/null &&
		fo_lab exec hub1 ip route show 10.1.0.0/16 | grep 'dev kt-l1' >/dev/null || return 1
	[[ $(fo_dc_routing) == static ]] ||
		fo_lab exec dc-core ip route show 10.1.0.0/16 proto bgp | grep 'via 172.31.1.2' >/dev/null
}

# fo_dc_routing: "frr" when the lab's data-centre core learns the sites'
# routes from the hubs (BGP, tools/lab), "static" when it cannot.
fo_dc_routing() {
	if fo_lab status 2>/dev/null | grep '^data-centre routing: FRR' >/dev/null; then
		echo frr
	else
		echo static
	fi
}

fo_wait_healthy() { # seconds
	local deadline=$((SECONDS + $1))
	until fo_healthy; do
		((SECONDS >= deadline)) && return 1
		sleep 0.2
	done
}

# fo_stream SECONDS: both streams for SECONDS, in the background; fo_lost
# waits for them and sets FO_LOST to "UP_LOST DOWN_LOST".
fo_stream() {
	local secs=$1
	rm -f "$FO_DIR"/up.json "$FO_DIR"/down.json
	# The receivers stop by themselves 2 s after the stream (killing the
	# wrapper would leave them running inside their namespaces).
	fo_lab exec srv-lgwan "$SEQSTREAM" recv 9000 $((secs + 2)) >"$FO_DIR/up.json" &
	FO_R1=$!
	fo_lab exec site1-lg "$SEQSTREAM" recv 9001 $((secs + 2)) >"$FO_DIR/down.json" &
	FO_R2=$!
	sleep 0.3
	fo_lab exec site1-lg "$SEQSTREAM" send 172.16.1.10 9000 1000 "$secs" >/dev/null &
	FO_S1=$!
	fo_lab exec srv-lgwan "$SEQSTREAM" send 10.1.2.10 9001 1000 "$secs" >/dev/null &
	FO_S2=$!
	FO_SENT=$((1000 * secs))
}

# (Not in a $(...): the streams are this shell's children.)
fo_lost() {
	local up down
	wait "$FO_S1" "$FO_S2" "$FO_R1" "$FO_R2"
	up=$(jq -e .received "$FO_DIR/up.json") && down=$(jq -e .received "$FO_DIR/down.json") ||
		{ echo "a receiver said nothing" >&2; return 1; }
	FO_LOST="$((FO_SENT - up)) $((FO_SENT - down))"
}

fo_trial() {
	fo_wait_healthy 60 || { echo "the lab did not become healthy" >&2; return 1; }
	case $1 in
	a | b | c | e)
		fo_stream 5
		sleep 2
		case $1 in
		a) fo_lab line down site1 closed >/dev/null ;;
		b) fo_lab blackhole on site1 closed >/dev/null ;;
		c) fo_lab hub kill hub1 >/dev/null ;;
		e) fo_lab hub crash hub1 >/dev/null ;;
		esac
		fo_lost || return 1
		case $1 in
		a) fo_lab line up site1 closed >/dev/null ;;
		b) fo_lab blackhole off site1 closed >/dev/null ;;
		c | e) fo_lab hub start hub1 >/dev/null ;;
		esac
		;;
	d)
		fo_lab line down site1 closed >/dev/null
		sleep 2		# both ends have moved to the internet line
		fo_stream $((FO_HOLD_DOWN_S + 5))
		sleep 1
		fo_lab line up site1 closed >/dev/null
		fo_lost || return 1
		;;
	*)
		echo "fo_trial: no scenario '$1'" >&2
		return 2
		;;
	esac
	echo "$FO_LOST"
}
