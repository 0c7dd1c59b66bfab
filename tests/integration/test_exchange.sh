#!/usr/bin/env bash
# test_exchange.sh — real ketend nodes of a dev network on loopback: a
# dossier from IND to Amsterdam is delivered with a signed receipt and
# read by Amsterdam's case system through a durable cursor; a case event
# to two parties is encrypted once and reaches both, one of them through
# the relay; a message to a node that is down waits and arrives after it
# starts; a subscriber resumes after the node restarts, nothing twice;
# refusals: unknown recipient, a kind the local system may not send,
# a malformed payload.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/integration/lib.sh"
. "$top/tests/integration/nodes.sh"

devnet_make || { echo "0 passed, 1 failed"; exit 1; }
IND=$(oin_of ind); AMS=$(oin_of amsterdam); NGO=$(oin_of ngo); DTV=$(oin_of dtv)
EX="$top/conf/examples"

expect_rc 0 "ketend -n accepts the Amsterdam configuration" ketend -n -c "$NET/nodes/amsterdam.conf"
for n in ind amsterdam relay ngo; do node_start "$n" || bad "start $n"; done

# A dossier, delivered and receipted.
id=$(kt ind send --kind DOSSIER_DELIVERY --to "$AMS" --case C-1 --purpose lvv-intake "$EX/dossier.json")
[ ${#id} -eq 32 ] && ok "send returns a msg_id" || bad "send returned '$id'"
wait_for 10 delivered ind "$id" "$AMS" && ok "the dossier is delivered with a receipt" || bad "dossier not delivered"
expect_out "status shows the receipt time" "receipt 20" kt ind status "$id"
kt amsterdam subscribe --cursor zaak --ack >"$T/ams1.jsonl"
grep -q "\"msg_id\":\"$id\"" "$T/ams1.jsonl" && ok "Amsterdam's case system reads the dossier" || bad "dossier not read"
grep -q '"family_name":"Voorbeeld"' "$T/ams1.jsonl" && ok "... with its payload decrypted" || bad "payload missing"
kt amsterdam subscribe --cursor zaak --ack >"$T/ams2.jsonl"
[ ! -s "$T/ams2.jsonl" ] && ok "an acknowledged message is not read twice" || bad "read twice"

# One case event to Amsterdam and, through the relay, the NGO.
id2=$(kt ind send --kind CASE_EVENT --to "$AMS,$NGO" --case C-2 --purpose lvv-lso "$EX/case_event.json")
wait_for 10 delivered ind "$id2" "$NGO" && ok "the NGO behind the relay gets the case event" ||
	{ bad "NGO not reached"; kt ind status "$id2"; tail -n 25 "$T/ind.log" "$T/relay.log" "$T/ngo.log"; }
wait_for 10 delivered ind "$id2" "$AMS" && ok "Amsterdam gets the same case event" || bad "Amsterdam not reached"
grep -q "relaying CASE_EVENT $id2" "$T/relay.log" && ok "the relay logged what it forwarded" || { bad "relay log"; cat "$T/relay.log"; }
kt ngo subscribe --cursor los --ack >"$T/ngo.jsonl" 2>&1
grep -q "$id2" "$T/ngo.jsonl" && ok "the NGO reads it" || { bad "NGO cannot read"; cat "$T/ngo.jsonl"; }
# The NGO sends too: through its relay, and the receipt comes back that way.
idn=$(kt ngo send --kind CASE_EVENT --to "$AMS" --case C-N --purpose lvv-lso "$EX/case_event.json")
wait_for 10 delivered ngo "$idn" "$AMS" && ok "a message from the NGO behind the relay is receipted" ||
	{ bad "NGO's message not receipted"; kt ngo status "$idn"; tail -n 25 "$T/ngo.log" "$T/relay.log" "$T/amsterdam.log"; }
grep -q "relaying CASE_EVENT $idn" "$T/relay.log" && ok "... and went through the relay" || bad "NGO's message not relayed"

# DT&V is down: the message waits, and arrives once DT&V starts.
id3=$(kt ind send --kind DOSSIER_DELIVERY --to "$DTV" --case C-3 --purpose lvv-intake "$EX/dossier.json")
sleep 1
expect_out "a message to a node that is down is waiting" "$DTV" kt ind status "$id3"
kt ind status --json "$id3" | grep -q '"state":"delivered"' && bad "delivered to a node that is down" || ok "not delivered while DT&V is down"
node_start dtv
wait_for 20 delivered ind "$id3" "$DTV" && ok "delivered after DT&V came up" ||
	{ bad "not delivered after DT&V came up"; kt ind status "$id3"; tail -n 25 "$T/ind.log" "$T/dtv.log"; }

# Amsterdam restarts; its subscriber resumes where it was.
for i in 1 2 3; do kt ind send --kind DOSSIER_DELIVERY --to "$AMS" --case C-4 --purpose lvv-intake "$EX/dossier.json" >>"$T/ids4"; done
for i in $(cat "$T/ids4"); do wait_for 10 delivered ind "$i" "$AMS" || bad "C-4 $i not delivered"; done
kt amsterdam subscribe --cursor zaak --max 1 --ack >"$T/r1.jsonl"
node_stop amsterdam && ok "Amsterdam stops cleanly on SIGTERM" || { bad "Amsterdam did not stop cleanly"; tail -5 "$T/amsterdam.log"; }
node_start amsterdam
kt amsterdam subscribe --cursor zaak --ack >"$T/r2.jsonl"
cat "$T/r1.jsonl" "$T/r2.jsonl" | grep '"case_ref":"C-4"' | grep -o '"msg_id":"[0-9a-f]*"' | sort >"$T/got"
sed 's/.*/"msg_id":"&"/' "$T/ids4" | sort >"$T/want"
cmp -s "$T/got" "$T/want" && ok "after a restart the subscriber gets each message once" || { bad "resume"; diff "$T/got" "$T/want"; }

# A reader that does not acknowledge pages through once, and reads the
# same again next time; the lines carry what a message answers and its trace.
first=$(head -1 "$T/ids4")
tp=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
for i in 1 2 3; do kt ind send --kind DOSSIER_DELIVERY --to "$AMS" --case C-6 --purpose lvv-intake \
	--reply-to "$first" --trace "$tp" "$EX/dossier.json" >>"$T/ids6"; done
for i in $(cat "$T/ids6"); do wait_for 10 delivered ind "$i" "$AMS" || bad "C-6 $i not delivered"; done
KETEN_SOCKET=$(sock_of amsterdam) timeout 20 "${KETEN_BIN:-$top/build/bin}/keten" subscribe --cursor peek --case C-6 --max 1 \
	>"$T/p1.jsonl" 2>&1
rc=$?
KETEN_SOCKET=$(sock_of amsterdam) timeout 20 "${KETEN_BIN:-$top/build/bin}/keten" subscribe --cursor peek --case C-6 --max 1 \
	>"$T/p2.jsonl" 2>&1
[ $rc = 0 ] && [ "$(grep -o '"msg_id":"[0-9a-f]*"' "$T/p1.jsonl" | sort -u | wc -l)" = 3 ] &&
	[ "$(wc -l <"$T/p1.jsonl")" = 3 ] &&
	ok "subscribe without --ack prints each waiting message once and ends" ||
	{ bad "subscribe without --ack (rc $rc)"; head -c 600 "$T/p1.jsonl"; }
cmp -s "$T/p1.jsonl" "$T/p2.jsonl" && ok "... and, not acknowledged, the same ones again the next time" ||
	bad "not the same messages again"
grep -q "\"in_reply_to\":\"$first\"" "$T/p1.jsonl" && grep -q "\"traceparent\":\"$tp\"" "$T/p1.jsonl" &&
	ok "a line carries in_reply_to and traceparent" || { bad "no in_reply_to or traceparent"; head -1 "$T/p1.jsonl"; }

# Refusals at the origin, with clear errors.
expect_out "an unknown recipient is refused" "not in the directory" \
	kt ind send --kind DOSSIER_DELIVERY --to 00000009999999990000 --case C-5 --purpose p "$EX/dossier.json"
expect_out "a kind the local system may not send is refused" "KETEN_ENOTPERMITTED" \
	kt ind send --kind ESCALATION_DECISION --to "$AMS" --case C-5 --purpose p "$EX/escalation_decision.json"
echo '{"person":{"v_number":3}}' >"$T/bad.json"
expect_rc 1 "a payload that does not fit its kind is refused" \
	kt ind send --kind DOSSIER_DELIVERY --to "$AMS" --case C-5 --purpose p "$T/bad.json"
echo '{}' >"$T/empty.json"
expect_out "a dossier about no one is refused, naming what it lacks" "person.v_number (or person.bsn): required" \
	kt ind send --kind DOSSIER_DELIVERY --to "$AMS" --case C-5 --purpose lvv-intake "$T/empty.json"
# Numbers on the command line are read whole or refused.
expect_rc 2 "a ttl that does not fit in 64 bits is refused, not wrapped" \
	kt ind send --kind DOSSIER_DELIVERY --to "$AMS" --case C-5 --purpose lvv-intake --ttl 213503982335d \
	"$EX/dossier.json"
expect_rc 2 "--max with trailing text is refused" kt amsterdam subscribe --cursor zaak --max 10abc
expect_rc 2 "--max past 32 bits is refused, not wrapped to 1" kt amsterdam subscribe --cursor zaak --max 4294967297
expect_rc 2 "--wait past 32 bits is refused, not wrapped to 0" kt amsterdam subscribe --cursor zaak --wait 4294967296

# Refused after it took its sequence number: it gives it back.
gaps=$(grep -c "a gap" "$T/amsterdam.log")
expect_rc 1 "a case reference too long for the envelope is refused" \
	kt ind send --kind DOSSIER_DELIVERY --to "$AMS" --case "C-$(printf 'x%.0s' $(seq 1 300))" \
	--purpose lvv-intake "$EX/dossier.json"
id=$(kt ind send --kind DOSSIER_DELIVERY --to "$AMS" --case C-7 --purpose lvv-intake "$EX/dossier.json")
wait_for 10 delivered ind "$id" "$AMS" && [ "$(grep -c "a gap" "$T/amsterdam.log")" = "$gaps" ] &&
	ok "... and the receiver sees no gap in IND's sequence numbers" ||
	{ bad "a gap after a refused submission"; grep "a gap" "$T/amsterdam.log" | tail -2; }
expect_out "an unknown cursor is refused" "KETEN_ECURSOR" kt amsterdam unsubscribe --cursor nope
# A cursor for a kind that has not come: after one fetch it stands at the
# newest inbox row, so fetches do not read every other row again.
kt amsterdam subscribe --cursor rare --kind ESCALATION_DECISION >"$T/rare.jsonl"
at=$(sql "$(db_of amsterdam)" "SELECT last_acked FROM cursor WHERE name = 'rare'")
top_id=$(sql "$(db_of amsterdam)" "SELECT max(id) FROM inbox")
[ ! -s "$T/rare.jsonl" ] && [ "${top_id:-0}" -gt 5 ] && [ "$at" = "$top_id" ] &&
	ok "a cursor whose kind has not come moves past the other rows" ||
	bad "the rare cursor stayed behind (at ${at:-?}, inbox to ${top_id:-?})"
expect_out "queue counts what was delivered" "delivered" kt ind queue
kt ind peers --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert len(d["peers"]) > 3' &&
	ok "peers --json is one JSON document" || bad "peers --json"
finish
