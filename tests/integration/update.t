#!/usr/bin/env bash
# Firmware images and A/B slots on the sim board (TAP, for prove): the
# real kyoten-image and kyoten-update binaries, the images `make image`
# makes, and a box whose "boot" is kyoten-update boot followed by running
# the slot's own kyotend. A key is made for the test and thrown away.
#   - factory install, boot, update, confirm after a health check
#   - a new slot that never becomes healthy rolls back by itself
#   - tampered, foreign, wrongly signed and older images refused, with
#     nothing written
#   - power cuts: kyoten-update install killed (SIGKILL) at random points,
#     many times; every time the box boots a complete slot
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${KYOTEN_BUILD:-$REPO/build/sim}
dir=$(mktemp -d /tmp/update-t.XXXXXX)
. "$REPO/tests/integration/lib.sh"
IMG=$BUILD/kyoten-image UPD=$BUILD/kyoten-update
TRIALS=${UPDATE_T_TRIALS:-40}

if [[ ! -x $IMG || ! -x $UPD || ! -x $BUILD/kyotend ]]; then
	echo "1..0 # SKIP kyoten-image, kyoten-update or kyotend is not built ($BUILD)"
	exit 0
fi
require_tools jq
trap 'rm -rf "$dir"' EXIT

echo "1..12"
mkdir "$dir/keys" "$dir/other"
upd() { "$UPD" -r "$dir/box" -k "$dir/keys/image.pub" "$@"; }
state() { upd status --json | jq -r "$1"; }

keys() {
	"$IMG" keygen "$dir/keys" && "$IMG" keygen "$dir/other" &&
		[[ $(stat -c %a "$dir/keys/image.key") == 600 ]] &&
		! "$IMG" keygen "$dir/keys" &&		# never overwritten
		! "$IMG" keygen "$REPO/build"		# never inside the repository
}
ok "keygen: a signing key readable by its owner only, never overwritten, never in a git tree" keys

# image OUT VERSION [BOARD [KEY [EXTRA PARTS...]]]
image() {
	local out=$1 v=$2 board=${3:-sim} key=${4:-$dir/keys/image.key}
	shift $(($# < 4 ? $# : 4))
	echo "$v" >"$dir/VERSION-$v"
	"$IMG" build -k "$key" -b "$board" -v "$v" -i test -o "$dir/$out" \
		kyotend="$BUILD/kyotend:bin/kyotend:0755" \
		kyotenctl="$BUILD/kyotenctl:bin/kyotenctl:0755" \
		version="$dir/VERSION-$v:VERSION:0644" "$@" >/dev/null
}
images() {
	image v1.kimg 0.1.0 && image v2.kimg 0.2.0 && image v0.kimg 0.0.9 &&
		image foreign.kimg 0.3.0 x86_64-generic && image stranger.kimg 0.3.0 sim "$dir/other/image.key" &&
		"$IMG" verify -p "$dir/keys/image.pub" -b sim "$dir/v2.kimg"
}
ok "images built and verified (kyotend, kyotenctl, VERSION)" images

# make image: the build's own parts, signed with the key given.
make_image() {
	local out
	rm -f "$BUILD"/kyoten-sim-*.kimg	# earlier builds' images, of other versions
	! make -s -C "$REPO" O="$BUILD" image 2>"$dir/err" && grep 'no signing key' "$dir/err" >/dev/null || return 1
	out=$(make -s -C "$REPO" O="$BUILD" image KEY="$dir/keys/image.key") || return 1
	echo "$out"
	"$IMG" verify -p "$dir/keys/image.pub" -b sim "$BUILD"/kyoten-sim-*.kimg | tee "$dir/made" &&
		grep 'bin/kyoten-update' "$dir/made" >/dev/null && grep 'share/kyoten/policy/beta.yaml' "$dir/made" >/dev/null
}
ok "make image: refused without KEY; with it, a verified image of kyotend, kyotenctl, kyoten-update, config, board, policies" make_image

# boot: the sim box's boot loader step, then the slot's own kyotend runs.
boot() {
	local slot
	slot=$(upd boot 2>>"$dir/boot.log") || return 1
	"$slot/bin/kyotend" --version >/dev/null || return 1
	cat "$slot/VERSION"
}

first_boot() {
	upd factory "$dir/v1.kimg" && [[ $(boot) == 0.1.0 ]] && [[ $(state .good) == a ]]
}
ok "factory install of 0.1.0 into slot a; the box boots it and its kyotend runs" first_boot

update_confirm() {
	upd install "$dir/v2.kimg" | grep 'slot b' >/dev/null &&
		[[ $(state .pending) == b && $(state '."tries-left"') == 3 ]] &&
		[[ $(boot) == 0.2.0 ]] &&
		upd confirm --health "$dir/box/slot-b/bin/kyotend --version" --timeout 5 &&
		[[ $(state .good) == b && $(state .pending) == none ]] &&
		[[ $(boot) == 0.2.0 ]]
}
ok "install 0.2.0 into slot b, boot it, health check passes, confirmed: slot b is good" update_confirm

never_healthy() {
	local i code
	image v3.kimg 0.3.0 && upd install "$dir/v3.kimg" >/dev/null || return 1
	for i in 1 2 3; do
		[[ $(boot) == 0.3.0 ]] || return 1
		upd confirm --health false --timeout 1
		code=$?
		((code == 3)) || { echo "confirm exited $code, not 3"; return 1; }
	done
	# The fourth boot is the good slot again, by itself.
	[[ $(boot) == 0.2.0 ]] && [[ $(state '."rolled-back"') == a && $(state .good) == b ]] &&
		grep 'rolled back from slot a' "$dir/boot.log" >/dev/null
}
ok "a new slot whose health check never passes: 3 boots, then back to the good slot by itself" never_healthy

# refused IMAGE MESSAGE [OPTIONS]: exit 1, the message, the state unchanged.
refused() {
	local before after
	before=$(state .sequence)
	if upd install "$dir/$1" "${@:3}" 2>"$dir/err"; then
		echo "installed $1"
		return 1
	fi
	cat "$dir/err"
	after=$(state .sequence)
	grep -- "$2" "$dir/err" >/dev/null && [[ $before == "$after" ]]
}
tampered() {
	cp "$dir/v2.kimg" "$dir/flipped.kimg"
	# One byte inside kyotend's part, one inside the manifest.
	printf 'Z' | dd of="$dir/flipped.kimg" bs=1 seek=40000 conv=notrunc status=none
	cp "$dir/v2.kimg" "$dir/manifest.kimg"
	printf 'Z' | dd of="$dir/manifest.kimg" bs=1 seek=40 conv=notrunc status=none
	head -c 1000 "$dir/v2.kimg" >"$dir/short.kimg"
	refused flipped.kimg 'part kyotend' && refused manifest.kimg 'signature' &&
		refused short.kimg 'truncated\|length' &&
		refused foreign.kimg 'for board x86_64-generic' &&
		refused stranger.kimg 'signature: not valid for the trusted key' &&
		refused v0.kimg 'older than the running 0.2.0'
}
ok "refused before anything is written: a flipped byte (part, manifest), truncated, another board, another key, older" tampered

downgrade() {
	upd install "$dir/v0.kimg" --allow-downgrade >/dev/null && [[ $(boot) == 0.0.9 ]] &&
		upd confirm >/dev/null && [[ $(state .good) == a ]]
}
ok "--allow-downgrade installs the older image, explicitly" downgrade

# Power cuts: an install killed at a random point of its run. A real cut
# can also lose what the kernel had not written; the unit test
# (test_update) cuts at every step with torn writes for that.
big() { head -c $((24 * 1024 * 1024)) /dev/urandom >"$dir/blob"; image big1.kimg 1.0.0 sim "$dir/keys/image.key" blob="$dir/blob:share/blob:0644" && image big2.kimg 1.1.0 sim "$dir/keys/image.key" blob="$dir/blob:share/blob:0644"; }
ok "two 24 MB images for the power-cut trials" big

power_cuts() {
	local i t0 t1 us r cut=0 done_=0 v slot pid
	rm -rf "$dir/box"
	upd factory "$dir/big1.kimg" >/dev/null || return 1
	t0=${EPOCHREALTIME/./}
	upd install "$dir/big2.kimg" >/dev/null || return 1
	t1=${EPOCHREALTIME/./}
	us=$((10#$t1 - 10#$t0))
	echo "an uninterrupted install takes $((us / 1000)) ms"
	for ((i = 1; i <= TRIALS; i++)); do
		rm -rf "$dir/box"
		upd factory "$dir/big1.kimg" >/dev/null || return 1
		# The binary itself in the background (not through upd, whose
		# subshell would die and leave kyoten-update running).
		"$UPD" -r "$dir/box" -k "$dir/keys/image.pub" install "$dir/big2.kimg" >/dev/null 2>&1 &
		pid=$!
		# A random point from the start to a little past the end.
		r=$(((RANDOM * 32768 + RANDOM) % (us * 12 / 10 + 1)))
		sleep "$(printf '%d.%06d' $((r / 1000000)) $((r % 1000000)))"
		if kill -KILL "$pid" 2>/dev/null; then cut=$((cut + 1)); else done_=$((done_ + 1)); fi
		wait "$pid" 2>/dev/null
		v=$(boot) || { echo "trial $i: no boot"; upd status; return 1; }
		slot=$(state .booted)
		[[ $(state ".slots.$slot.ok") == true ]] || { echo "trial $i: slot $slot does not check"; return 1; }
		[[ $v == 1.0.0 || $v == 1.1.0 ]] || { echo "trial $i: booted '$v'"; return 1; }
		# And the box can always try again.
		upd install "$dir/big2.kimg" >/dev/null 2>&1 || { echo "trial $i: the retry failed"; upd status; return 1; }
	done
	echo "measured: $TRIALS installs, $cut killed part way, $done_ finished first; every boot on a complete slot"
	# The trials are only worth something if most of them cut the install.
	((cut * 2 >= TRIALS))
}
ok "power cut: kyoten-update install killed at a random point $TRIALS times; the box always boots a complete slot, and the retry works" power_cuts
grep '^measured' "$dir/out" | sed 's/^/# /'

usage_errors() {
	local c
	upd frobnicate; c=$?; ((c == 2)) || return 1
	upd install; c=$?; ((c == 2)) || return 1
	upd confirm --timeout 0; c=$?; ((c == 2)) || return 1
	# (Each exits non-zero: its message is read from a file, not a pipe,
	# which pipefail would fail.)
	"$UPD" -r "$dir/box" -k /nonexistent status >"$dir/err" 2>&1
	grep 'image key /nonexistent' "$dir/err" >/dev/null || return 1
	"$IMG" build -k "$dir/keys/image.key" -b sim -v 1.0 -o "$dir/x.kimg" a="$BUILD/kyotend:bin/a:0755" >"$dir/err" 2>&1
	grep 'MAJOR.MINOR.PATCH' "$dir/err" >/dev/null || return 1
	"$IMG" build -k "$dir/keys/image.key" -b sim -v 1.0.0 -o "$dir/x.kimg" a="$BUILD/kyotend:../a:0755" >"$dir/err" 2>&1
	grep "must be relative" "$dir/err" >/dev/null && [[ ! -e $dir/x.kimg ]]
}
ok "bad command lines: clear errors, exit 2 (kyoten-update), nothing built from a bad version or path" usage_errors

no_keys_left() {
	# The private key never went into an image or a slot.
	! grep -rl "$(cat "$dir/keys/image.key")" "$dir/box" "$BUILD"/kyoten-sim-*.kimg 2>/dev/null
}
ok "the signing key is in no image and no slot" no_keys_left

exit $((failed > 0))
