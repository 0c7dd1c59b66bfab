#!/usr/bin/env bash
# test_directory_cli.sh — `keten directory sign|verify|show` against a
# fresh dev PKI: a signed directory verifies; a tampered one, one checked
# against the wrong authority or another CA, and bad usage are refused
# with the documented exit codes.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/integration/lib.sh"

pki="$T/pki"
KETEN_BIN="$top/build/bin" "$top/certs/mkdevnet.sh" --test-certs "$pki" >"$T/mk.log" 2>&1
expect_rc 0 "mkdevnet.sh makes a dev PKI" test -s "$pki/directory.signed"
auth=$(cat "$pki/authority.oin")
trust=(--ca "$pki/ca.crt" --crl "$pki/crl.pem" --authority "$auth")

expect_rc 0 "verify the signed directory" keten directory verify "${trust[@]}" "$pki/directory.signed"
expect_out "verify names network, serial and parties" "network lvv-dev, serial 1, 13 parties" \
	keten directory verify "${trust[@]}" "$pki/directory.signed"
expect_out "show lists the NGO behind the relay" "Stichting LOS" \
	keten directory show "${trust[@]}" "$pki/directory.signed"
expect_out "show --json is JSON" '"oin"' keten directory show --json "${trust[@]}" "$pki/directory.signed"

cp "$pki/directory.signed" "$T/tampered"
printf '\x01' | dd of="$T/tampered" bs=1 seek=200 conv=notrunc 2>/dev/null
expect_rc 1 "a flipped byte is refused" keten directory verify "${trust[@]}" "$T/tampered"
expect_rc 1 "the wrong authority is refused" keten directory verify --ca "$pki/ca.crt" \
	--crl "$pki/crl.pem" --authority 00000001999000010000 "$pki/directory.signed"
expect_rc 1 "another CA is refused" keten directory verify --ca "$pki/test/otherca.crt" \
	--crl "$pki/crl.pem" --authority "$auth" "$pki/directory.signed"

# Signing with a party's key instead of the authority's: the result does
# not verify as the authority's directory.
expect_rc 0 "sign with a non-authority key" keten directory sign --source "$pki/directory.json" \
	--key "$pki/parties/ind/sign.key" --cert "$pki/parties/ind/sign.crt" --out "$T/ind.signed"
expect_rc 1 "... and it is refused" keten directory verify "${trust[@]}" "$T/ind.signed"

# A source with a duplicate OIN is refused by the signer, naming the field.
sed 's/00000001999000020000/00000001999000010000/' "$pki/directory.json" >"$T/dup.json"
sed -i "s|\"parties/|\"$pki/parties/|g" "$T/dup.json"
expect_out "a duplicate OIN is named" "parties[2].oin" keten directory sign --source "$T/dup.json" \
	--key "$pki/parties/authority/sign.key" --cert "$pki/parties/authority/sign.crt" --out "$T/dup.signed"
expect_rc 2 "usage: missing options" keten directory sign
expect_rc 2 "usage: unknown option" keten directory verify --nope
finish
