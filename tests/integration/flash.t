#!/usr/bin/env bash
# kyoten-flash (TAP, for prove; root for the loop devices): writing a
# firmware image to an image file and to a loop device, reading it back,
# the report, and every refusal before anything is written: a mounted
# disk, this machine's own disk, a partition, a target too small, an
# image for another board or signed by another key, a corrupt image, a
# target that is no disk or file, no confirmation. The progress bar and
# the confirmation prompt are tested in a pseudo-terminal (script(1)).
# The machine's own disk is only ever given with --check-only, which
# stops before the target is opened for writing.
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${KYOTEN_BUILD:-$REPO/build/sim}
dir=$(mktemp -d /tmp/flash-t.XXXXXX)
. "$REPO/tests/integration/lib.sh"
IMG=$BUILD/kyoten-image FLASH=$BUILD/kyoten-flash

if [[ $(id -u) != 0 ]]; then
	echo "1..0 # SKIP needs root (loop devices, a mount)"
	exit 0
fi
if [[ ! -x $IMG || ! -x $FLASH ]]; then
	echo "1..0 # SKIP kyoten-image or kyoten-flash is not built ($BUILD)"
	exit 0
fi
require_tools jq losetup script mkfs.ext4 findmnt
loops=()
cleanup() {
	umount "$dir/mnt" 2>/dev/null
	for l in "${loops[@]}"; do losetup -d "$l" 2>/dev/null; done
	rm -rf "$dir"
}
trap cleanup EXIT

echo "1..14"
flash() { "$FLASH" -p "$dir/keys/image.pub" -b sim "$@"; }
# refused TARGET MESSAGE ARGS...: exit 1, the message, TARGET unchanged.
refused() {
	local target=$1 msg=$2 before after
	shift 2
	before=$( [[ -e $target ]] && head -c 2097152 "$target" | sha256sum)
	if flash "$@" "$target" >"$dir/err" 2>&1; then
		echo "flashed $target"
		return 1
	fi
	cat "$dir/err"
	after=$( [[ -e $target ]] && head -c 2097152 "$target" | sha256sum)
	grep -- "$msg" "$dir/err" >/dev/null && [[ $before == "$after" ]]
}
# slot_a TARGET: the image in slot a, checked by kyoten-image.
slot_a() {
	dd if="$1" of="$dir/back.kimg" bs=1M skip=1 count=$((($(stat -c %s "$dir/v1.kimg") + 1048575) / 1048576)) status=none &&
		truncate -s "$(stat -c %s "$dir/v1.kimg")" "$dir/back.kimg" &&
		cmp "$dir/back.kimg" "$dir/v1.kimg" &&
		"$IMG" verify -p "$dir/keys/image.pub" -b sim "$dir/back.kimg" >/dev/null &&
		[[ $(head -c 8 "$1") == KYTNDISK ]]
}

setup() {
	mkdir "$dir/keys" "$dir/other" "$dir/mnt" &&
		"$IMG" keygen "$dir/keys" >/dev/null && "$IMG" keygen "$dir/other" >/dev/null &&
		head -c 3000000 /dev/urandom >"$dir/blob" || return 1
	# A real site bundle (docs/noc.md): the NOC's CA, kochi-001's file.
	cat >"$dir/kochi-001.yaml" <<EOF
site: {id: kochi-001, device-number: KOCHI-0001, role: site}
lines:
  - {name: closed, kind: closed, port: wan1, address: 100.64.1.2/30, gateway: 100.64.1.1}
hubs:
  - {name: hub1, endpoints: {closed: 100.64.0.2}}
segments:
  - {name: lgwan, kind: lgwan, port: lan1, address: 10.1.1.1/24}
management:
  broker: noc.example:8883
  ca: /etc/kyoten/ca.crt
  certificate: /etc/kyoten/mgmt.crt
  key: /etc/kyoten/mgmt.key
  policy-key: /etc/kyoten/policy.pub
EOF
	"$BUILD/kyoten-noc" -d "$dir/noc" ca init >/dev/null &&
		"$BUILD/kyoten-noc" -d "$dir/noc" site issue kochi-001 -c "$dir/kochi-001.yaml" \
			-o "$dir/bundle" --serial KY-0001 --passphrase-file "$dir/pass" >/dev/null &&
		echo "site: s1" >"$dir/not-a-bundle" || return 1
	local x iname iboard ikey
	for x in "v1 sim keys" "foreign x86_64-generic keys" "stranger sim other"; do
		read -r iname iboard ikey <<<"$x"
		"$IMG" build -k "$dir/$ikey/image.key" -b "$iboard" -v 0.1.0 -o "$dir/$iname.kimg" \
			kyotend="$BUILD/kyotend:bin/kyotend:0755" blob="$dir/blob:share/blob:0644" >/dev/null || return 1
	done
	cp "$dir/v1.kimg" "$dir/corrupt.kimg"
	printf 'Z' | dd of="$dir/corrupt.kimg" bs=1 seek=500000 conv=notrunc status=none
}
ok "keys and images (sim, another board, another key, one corrupt)" setup

to_file() {
	flash -i "$dir/v1.kimg" --size 64M --yes --site kochi-001 --serial KY-0001 \
		--bundle "$dir/bundle" --report "$dir/report.json" "$dir/box.img" &&
		slot_a "$dir/box.img" &&
		jq -e '.verified == true and .site == "kochi-001" and .serial == "KY-0001" and
			.image.version == "0.1.0" and .target.kind == "file" and
			(.bundle["bundle-id"] | length) == 32 and .bundle["device-number"] == "KOCHI-0001"' \
			"$dir/report.json" >/dev/null &&
		[[ $(jq .bundle.bytes "$dir/report.json") == $(stat -c %s "$dir/bundle") ]] &&
		[[ $(jq -r .image.sha256 "$dir/report.json") == $(sha256sum "$dir/v1.kimg" | cut -d' ' -f1) ]]
}
ok "to a new image file: written, read back, slot a is the image byte for byte, report with site, serial, hashes" to_file

to_loop() {
	local l
	truncate -s 64M "$dir/disk1" && l=$(losetup -f --show "$dir/disk1") || return 1
	loops+=("$l")
	flash -i "$dir/v1.kimg" --yes --report "$dir/r2.json" "$l" &&
		slot_a "$l" && jq -e '.target.kind == "disk"' "$dir/r2.json" >/dev/null &&
		[[ $(jq -r .target.model "$dir/r2.json") == "$dir/disk1" ]]
}
ok "to a loop device: the same, the disk described in the report" to_loop

mounted() {
	local l
	truncate -s 64M "$dir/disk2" && mkfs.ext4 -q "$dir/disk2" && l=$(losetup -f --show "$dir/disk2") || return 1
	loops+=("$l")
	mount "$l" "$dir/mnt" || return 1
	refused "$l" "mounted on $dir/mnt" -i "$dir/v1.kimg" --yes
}
ok "a mounted disk is refused, untouched" mounted

own_disk() {
	local src disk
	src=$(findmnt -no SOURCE /)
	if [[ $src != /dev/* ]]; then
		echo "# this machine's / is not on a disk ($src)"
		return 0
	fi
	disk=/dev/$(lsblk -no PKNAME "$src" 2>/dev/null | head -1)
	[[ $disk == /dev/ ]] && disk=$src
	echo "the root file system is on $src, disk $disk"
	# --check-only: the check runs, the target is never opened to write.
	"$FLASH" -p "$dir/keys/image.pub" -b sim -i "$dir/v1.kimg" --check-only "$disk" >"$dir/err" 2>&1
	cat "$dir/err"
	grep "this computer's own / file system" "$dir/err" >/dev/null
}
ok "this machine's own disk is refused (--check-only)" own_disk

# A disk with one partition (an MBR written by hand: type 83 from sector
# 2048, 30 MiB), if this kernel reads partition tables on loop devices.
part_loop() {
	truncate -s 64M "$dir/disk3" || return 1
	printf '\x00\x00\x00\x00\x83\x00\x00\x00\x00\x08\x00\x00\x00\xf0\x00\x00' |
		dd of="$dir/disk3" bs=1 seek=446 conv=notrunc status=none
	printf '\x55\xaa' | dd of="$dir/disk3" bs=1 seek=510 conv=notrunc status=none
	PART_LOOP=$(losetup -P -f --show "$dir/disk3") || return 1
	loops+=("$PART_LOOP")
	wait_for 3 test -b "${PART_LOOP}p1"
}
if part_loop; then
	ok "a partition is refused: the whole disk is wanted" \
		refused "${PART_LOOP}p1" "it is a partition; give the whole disk" -i "$dir/v1.kimg" --yes
else
	n=$((n + 1))
	echo "ok $n - a partition is refused # SKIP this kernel reads no partition table on a loop device (no partition to refuse)"
fi

refusals() {
	truncate -s 4M "$dir/small.img"
	refused "$dir/small.img" "too small: 4.0 MiB" -i "$dir/v1.kimg" --yes &&
		refused "$dir/box.img" "for board x86_64-generic" -i "$dir/foreign.kimg" --yes &&
		refused "$dir/box.img" "signature" -i "$dir/stranger.kimg" --yes &&
		refused "$dir/box.img" "is not the manifest's: the image is corrupt" -i "$dir/corrupt.kimg" --yes &&
		refused /dev/null "not a disk or a file" -i "$dir/v1.kimg" --yes &&
		refused "$dir/mnt" "not a disk or a file (a directory)" -i "$dir/v1.kimg" --yes &&
		refused "$dir/none.img" "give --size" -i "$dir/v1.kimg" --yes &&
		refused "$dir/box.img" "not a Kyoten site bundle" -i "$dir/v1.kimg" --yes \
			--bundle "$dir/not-a-bundle" &&
		refused "$dir/box.img" "it is for site kochi-001, not kochi-002" -i "$dir/v1.kimg" \
			--yes --bundle "$dir/bundle" --site kochi-002 &&
		refused "$dir/box.img" "serial number KY-0001, not KY-0002" -i "$dir/v1.kimg" --yes \
			--bundle "$dir/bundle" --serial KY-0002
}
ok "refused before anything is written: too small, another board, another key, corrupt, /dev/null, a directory, missing, not a bundle, another site's or box's bundle" refusals

no_tty() {
	refused "$dir/box.img" "not confirmed" -i "$dir/v1.kimg" </dev/null
}
ok "without --yes and without a person at a terminal: not confirmed, nothing written" no_tty

# In a pseudo-terminal: the prompt, a wrong answer, then the right one
# with the progress bar.
pty_wrong() {
	printf 'box\n' | script -qec "$FLASH -p $dir/keys/image.pub -b sim -i $dir/v1.kimg $dir/pty.img --size 64M" /dev/null >"$dir/pty1" 2>&1
	cat "$dir/pty1"
	grep 'This ERASES file pty.img' "$dir/pty1" >/dev/null && grep 'not confirmed' "$dir/pty1" >/dev/null &&
		[[ ! -e $dir/pty.img ]]
}
ok "in a terminal: the prompt names the target; a wrong answer writes nothing" pty_wrong

pty_right() {
	printf 'pty.img\n' | script -qec "$FLASH -p $dir/keys/image.pub -b sim -i $dir/v1.kimg $dir/pty.img --size 64M" /dev/null >"$dir/pty2" 2>&1
	tr '\r' '\n' <"$dir/pty2" | grep -E '^writing +\[#+\] 100%' >/dev/null &&
		tr '\r' '\n' <"$dir/pty2" | grep -E '^verifying +\[#+\] 100%' >/dev/null &&
		grep 'flashed and verified' "$dir/pty2" >/dev/null && slot_a "$dir/pty.img"
}
ok "in a terminal: the right answer, a progress bar writing and verifying to 100 %, the report" pty_right

quiet_pipe() {
	flash -i "$dir/v1.kimg" --yes "$dir/box.img" 2>"$dir/stderr" >/dev/null && [[ ! -s $dir/stderr ]]
}
ok "not at a terminal: no progress bar on stderr" quiet_pipe

overwrite_check() {
	# A box flashed before is flashed again: slot b is cleared, the
	# state names slot a good.
	printf 'stale' | dd of="$dir/box.img" bs=1M seek=40 conv=notrunc status=none
	flash -i "$dir/v1.kimg" --yes "$dir/box.img" >/dev/null && slot_a "$dir/box.img" &&
		[[ $(dd if="$dir/box.img" bs=1 skip=4096 count=4 status=none) == KYBS ]]
}
ok "reflashing a used medium: slot a the image, the boot state written" overwrite_check

usage() {
	local c
	"$FLASH" >/dev/null 2>&1; c=$?
	((c == 2)) || return 1
	"$FLASH" -p "$dir/keys/image.pub" -b sim -i "$dir/v1.kimg" --size lots --yes x 2>"$dir/err"; c=$?
	((c == 2)) && grep "is not a size" "$dir/err" >/dev/null
}
ok "bad command lines: exit 2 with the reason" usage

no_key() {
	! grep -rl "$(cat "$dir/keys/image.key")" "$dir/box.img" "$dir/report.json"
}
ok "the signing key is not on the medium nor in the report" no_key

exit $((failed > 0))
