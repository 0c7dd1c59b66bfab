#!/usr/bin/env bash
# demo.sh — `make demo`: the dev network and what keten does with it,
# narrated.  Runs from the top of the repository after `make all`.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
keten=build/bin/keten
dev=certs/dev

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

say "The dev network: chain CA, CRL, keys and certificates per party"
KETEN_BIN="$top/build/bin" certs/mkdevnet.sh --test-certs "$dev"
[ -s "$dev/directory.signed" ] || KETEN_BIN="$top/build/bin" certs/mkdevnet.sh --force --test-certs "$dev"
auth=$(cat "$dev/authority.oin")
trust=(--ca "$dev/ca.crt" --crl "$dev/crl.pem" --authority "$auth")

say "The party directory, signed by the network authority"
run "$keten" directory show "${trust[@]}" "$dev/directory.signed"

say "A directory with one altered byte is refused whole"
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
cp "$dev/directory.signed" "$tmp"
printf '\001' | dd of="$tmp" bs=1 seek=300 conv=notrunc 2>/dev/null
if run "$keten" directory verify "${trust[@]}" "$tmp"; then
	echo "demo: a tampered directory verified" >&2
	exit 1
fi

say "A directory signed by a party that is not the authority is refused"
run "$keten" directory sign --source "$dev/directory.json" \
	--key "$dev/parties/ind/sign.key" --cert "$dev/parties/ind/sign.crt" --out "$tmp"
if run "$keten" directory verify "${trust[@]}" "$tmp"; then
	echo "demo: a directory signed by IND verified" >&2
	exit 1
fi
say "Done"
