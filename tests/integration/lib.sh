# shellcheck shell=bash
# Shared by the integration tests (sourced). Each test sets $dir (a
# scratch folder) before calling ok.

n=0 failed=0

# ok NAME COMMAND...: one TAP line; on failure, the tail of its output.
ok() {
	local name=$1
	shift
	n=$((n + 1))
	if "$@" >"${dir:?set dir before calling ok}/out" 2>&1; then
		echo "ok $n - $name"
	else
		echo "not ok $n - $name"
		sed 's/^/# /' "$dir/out" | tail -15
		failed=$((failed + 1))
	fi
}

# wait_for SECONDS COMMAND...: polls until it succeeds.
wait_for() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		[ $SECONDS -ge $deadline ] && return 1
		sleep 0.1
	done
}

# require_built PROGRAM...: an empty plan, with the reason, if one of
# the programs is not built in $BUILD.
require_built() {
	local b
	for b in "$@"; do
		if [[ ! -x ${BUILD:?}/$b ]]; then
			echo "1..0 # SKIP $b is not built ($BUILD)"
			exit 0
		fi
	done
}

# require_tools TOOL...: an empty plan, with the reason, if one is missing.
require_tools() {
	local t
	for t; do
		if ! command -v "$t" >/dev/null; then
			echo "1..0 # SKIP $t is not installed (tools/bootstrap installs it)"
			exit 0
		fi
	done
}

# remove_netns NS...: stops every process in them, then deletes them.
remove_netns() {
	local ns
	for ns; do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null
	done
	sleep 0.3
	for ns; do
		ip netns del "$ns" 2>/dev/null
	done
}

# link NS IF BOXADDR PEERADDR...: a veth from the namespace $box (set by
# the test) to host NS: IF with BOXADDR on the box's side, eth0 with each
# PEERADDR on the host's, and the host's default route via the box.
link() {
	local ns=$1 ifn=$2 baddr=$3
	shift 3
	ip -n "${box:?set box before calling link}" link add "$ifn" type veth peer name eth0 netns "$ns"
	ip -n "$box" addr add "$baddr" dev "$ifn"
	ip -n "$box" link set "$ifn" up
	for a; do ip -n "$ns" addr add "$a" dev eth0; done
	ip -n "$ns" link set eth0 up
	ip -n "$ns" route add default via "${baddr%/*}"
}
