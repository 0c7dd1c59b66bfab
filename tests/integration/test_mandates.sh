#!/usr/bin/env bash
# test_mandates.sh — mandates checked at every hop, with real nodes of the
# dev network (whose mandates certs/mkdevnet.sh issues):
#   origin:   no mandate, wrong purpose, wrong recipient, wrong kind,
#             another party's mandate, a forged one, expired, revoked,
#             revoked from a moment in the future;
#   relay:    a mandate the relay holds only forged, the sender's mandate
#             revoked at the relay, the relay's own right to relay
#             revoked: REFUSED receipts naming the recipient;
#   receiver: a mandate it holds only forged (FORGED_MANDATE); a message
#             in flight when its mandate is revoked: REFUSED with
#             MANDATE_REVOKED, while one delivered before stays so;
#   local:    no local system registered for the purpose
#             (LOCAL_NOT_PERMITTED); with two systems, each reads only
#             the purposes it is registered for;
# and the operator's `keten mandate list|show|check`.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/integration/lib.sh"
. "$top/tests/integration/nodes.sh"

devnet_make || { echo "0 passed, 1 failed"; exit 1; }
IND=$(oin_of ind); AMS=$(oin_of amsterdam); DTV=$(oin_of dtv); NGO=$(oin_of ngo); ESC=$(oin_of escalation)
AUTH=$(cat "$NET/authority.oin")
EX="$top/conf/examples"
B="$NET/mandates.bundle"
TRUST=(--ca "$NET/ca.crt" --crl "$NET/crl.pem" --authority "$AUTH" --directory "$NET/directory.signed")
AKEY="$NET/parties/authority/sign.key"
iso() { date -u -d "$1" +%Y-%m-%dT%H:%M:%SZ; }
logged() { grep -qF -- "$2" "$T/$1.log"; }
reason_of() {	# SLUG MSGID RCPT: the reason of that recipient's refusal
	kt "$1" status --json "$2" 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(next((r.get("reason", "") for r in d["recipients"] if r["recipient"] == sys.argv[1]), ""))' "$3"
}
refused_with() { [ "$(reason_of "$1" "$2" "$3")" = "$4" ]; }

# --- the operator's view ----------------------------------------------
expect_out "keten mandate list verifies the dev network's mandates" "0 item(s) refused" \
	keten mandate list "${TRUST[@]}" --bundle "$B"
expect_out "keten mandate check names the mandate that allows a message" "dev-ind-dossier" \
	keten mandate check "${TRUST[@]}" --bundle "$B" --from "$IND" --to "$AMS" --kind DOSSIER_DELIVERY --purpose lvv-intake
expect_rc 1 "... and refuses one no mandate covers" \
	keten mandate check "${TRUST[@]}" --bundle "$B" --from "$AMS" --to "$IND" --kind DOSSIER_DELIVERY --purpose lvv-intake
expect_out "keten mandate show prints the legal basis" "Besluit LVV-ketenmandaten" \
	keten mandate show "${TRUST[@]}" --bundle "$B" dev-ind-dossier
# A mandate signed by a party that is not an authority is refused.
cp "$B" "$T/forged.bundle"
keten mandate issue --key "$NET/parties/ind/sign.key" --issuer "$IND" --id self-made --grantee "$IND" \
	--kind DOSSIER_DELIVERY --roles municipality --purpose lvv-intake --basis "none" \
	--until "$(iso '+1 day')" --bundle "$T/forged.bundle" >/dev/null
expect_out "a mandate issued by a party that is not an authority is refused" "KETEN_EMANDATEISSUER" \
	keten mandate list "${TRUST[@]}" --bundle "$T/forged.bundle"
# One that expired an hour ago, for the origin test below.
keten mandate issue --key "$AKEY" --issuer "$AUTH" --id old-intake --grantee "$IND" --kind DOSSIER_DELIVERY \
	--roles municipality --purpose lvv-intake --basis "Besluit 2025" --from "$(iso '-2 days')" \
	--until "$(iso '-1 hour')" --bundle "$B" >/dev/null

# IND's own copy holds a mandate IND made itself: not authentic.
keten mandate issue --key "$NET/parties/ind/sign.key" --issuer "$IND" --id self-made --grantee "$IND" \
	--kind DOSSIER_DELIVERY --roles municipality --purpose lvv-intake --basis "none" \
	--until "$(iso '+1 day')" --bundle "$B" >/dev/null

# The relay and Amsterdam read their own copies of the bundle (the
# relay's is changed below).  Two mandates are genuine in IND's copy and
# forged in theirs: the same id, but signed with IND's key, not the
# authority's.  They are wider than the dev network's own, so they are
# used only where a message names them.
cp "$B" "$T/relay.bundle"
cp "$B" "$T/amsterdam.bundle"
sed -i "s|^mandates = .*|mandates = $T/relay.bundle|" "$NET/nodes/relay.conf"
sed -i "s|^mandates = .*|mandates = $T/amsterdam.bundle|" "$NET/nodes/amsterdam.conf"
issue2() {	# KEY BUNDLE ID KIND ROLES PURPOSE
	keten mandate issue --key "$1" --issuer "$AUTH" --id "$3" --grantee "$IND" --kind "$4" \
		--roles "$5" --purpose "$6" --basis "Besluit LVV-ketenmandaten (dev), art. 2" \
		--from "$(iso '-1 hour')" --until "$(iso '+1 day')" --bundle "$2" >/dev/null
}
wide=municipality,ind,dtv,avim,coa,ngo,escalation_table
issue2 "$AKEY" "$B" ind-dossier-2 DOSSIER_DELIVERY municipality,dtv,avim,coa,ngo lvv-intake
issue2 "$NET/parties/ind/sign.key" "$T/amsterdam.bundle" ind-dossier-2 DOSSIER_DELIVERY municipality,dtv,avim,coa,ngo lvv-intake
issue2 "$AKEY" "$B" ind-lso-2 CASE_EVENT,DTV_NOTIFICATION "$wide" lvv-lso
issue2 "$NET/parties/ind/sign.key" "$T/relay.bundle" ind-lso-2 CASE_EVENT,DTV_NOTIFICATION "$wide" lvv-lso
# Amsterdam has a second local system, registered for intake only.
cat >>"$NET/nodes/amsterdam.conf" <<EOF

[local intake]
socket = ipc://$NET/run/amsterdam/intake.sock
mode = 0600
send = DTV_NOTIFICATION
receive = DOSSIER_DELIVERY,CASE_EVENT
purposes = lvv-intake
EOF
for n in ind amsterdam relay ngo; do node_start "$n" || bad "start $n"; done

# --- at the origin -------------------------------------------------------
send_ind() { kt ind send --case C-M --kind "$1" --to "$2" --purpose "$3" "${@:5}" "$EX/$4"; }
id_first=$(send_ind DOSSIER_DELIVERY "$AMS" lvv-intake dossier.json)
wait_for 10 delivered ind "$id_first" "$AMS" && ok "a message its mandate covers is delivered" || bad "covered message"
kt amsterdam subscribe --cursor m --ack >"$T/m1.jsonl"
grep -q '"mandate_id":"dev-ind-dossier"' "$T/m1.jsonl" && ok "... and the envelope names the mandate" ||
	{ bad "mandate not named"; head -c 400 "$T/m1.jsonl"; }
expect_out "wrong purpose is refused at the origin" "WRONG_PURPOSE" send_ind DOSSIER_DELIVERY "$AMS" lvv-lso dossier.json
expect_out "wrong recipient is refused at the origin" "WRONG_RECIPIENT" send_ind DOSSIER_DELIVERY "$ESC" lvv-intake dossier.json
expect_out "wrong kind under a named mandate is refused" "WRONG_KIND" \
	send_ind DOSSIER_DELIVERY "$AMS" lvv-intake dossier.json --mandate dev-ind-lso
expect_out "another party's mandate is refused" "NO_MANDATE" \
	send_ind DOSSIER_DELIVERY "$AMS" lvv-intake dossier.json --mandate dev-dtv-dossier
expect_out "an unknown mandate is refused" "NO_MANDATE" \
	send_ind DOSSIER_DELIVERY "$AMS" lvv-intake dossier.json --mandate nothing-like-it
expect_out "a mandate that is not authentic is refused as forged" "FORGED_MANDATE" \
	send_ind DOSSIER_DELIVERY "$AMS" lvv-intake dossier.json --mandate self-made
expect_out "... saying why it was not accepted" "was refused when it reached this node" \
	send_ind DOSSIER_DELIVERY "$AMS" lvv-intake dossier.json --mandate self-made
expect_out "an expired mandate is refused" "MANDATE_EXPIRED" \
	send_ind DOSSIER_DELIVERY "$AMS" lvv-intake dossier.json --mandate old-intake
expect_out "the refusal says which mandate and why" "mandate old-intake is not valid now" \
	send_ind DOSSIER_DELIVERY "$AMS" lvv-intake dossier.json --mandate old-intake
wait_for 2 logged ind "mandate: refused DOSSIER_DELIVERY from case for lvv-lso" &&
	ok "every refusal is logged with the mandate and rule" || bad "refusal not logged"

# The end of the agreements: Amsterdam's notifications to DT&V end in 3 s.
at=$(date -u -d '+3 seconds' +%s)000
for bundle in "$B" "$T/amsterdam.bundle"; do
	keten mandate revoke --key "$AKEY" --issuer "$AUTH" --id dev-amsterdam-dtv --at "$at" \
		--reason "agreements end" --bundle "$bundle" >/dev/null
done
kill -HUP "${NODE_PID[amsterdam]}"
wait_for 5 logged amsterdam "reload: directory serial" || bad "Amsterdam reload"
id=$(kt amsterdam send --kind DTV_NOTIFICATION --to "$DTV" --case C-R --purpose lvv-intake "$EX/dtv_notification.json")
[ ${#id} -eq 32 ] && ok "before the revocation takes effect the message is queued" || bad "refused too early"
sleep 3.2
expect_out "after it takes effect the same message is refused" "MANDATE_REVOKED" \
	kt amsterdam send --kind DTV_NOTIFICATION --to "$DTV" --case C-R --purpose lvv-intake "$EX/dtv_notification.json"

# --- at the receiver: a mandate it holds only as a forgery ----------------
id=$(send_ind DOSSIER_DELIVERY "$AMS" lvv-intake dossier.json --mandate ind-dossier-2)
wait_for 10 refused_with ind "$id" "$AMS" FORGED_MANDATE &&
	ok "the receiver refuses a message under a mandate it holds only forged: FORGED_MANDATE" ||
	{ bad "receiver forged: $(reason_of ind "$id" "$AMS")"; kt ind status "$id"; }
logged amsterdam "refused: mandate ind-dossier-2 was refused when it reached this node" &&
	ok "... and logs the decision" || bad "receiver forged decision not logged"

# --- at the receiver: in flight when the revocation takes effect -----------
# DT&V is down; IND's dossier waits in IND's outbox.  The authority revokes
# IND's dossier mandate; DT&V starts with the new bundle and refuses it.
id=$(send_ind DOSSIER_DELIVERY "$DTV" lvv-intake dossier.json)
keten mandate revoke --key "$AKEY" --issuer "$AUTH" --id dev-ind-dossier --reason "agreements end" \
	--bundle "$B" >/dev/null
sed -i 's/^purposes = \*$/purposes = lvv-intake/' "$NET/nodes/dtv.conf"
node_start dtv
wait_for 20 refused_with ind "$id" "$DTV" MANDATE_REVOKED &&
	ok "a message in flight is refused by the receiver with MANDATE_REVOKED" ||
	{ bad "in flight: $(reason_of ind "$id" "$DTV")"; kt ind status "$id"; }
expect_out "... and the sender's system sees the receiver's reason" "revoked" kt ind status "$id"
[ "$(state_of ind "$id_first" "$AMS")" = delivered ] && ok "a dossier delivered under it before stays delivered" ||
	bad "delivered message changed"

# --- delivery to a local system -------------------------------------------
# DT&V's case system is registered for the intake purpose only: a case
# event for the case consultation has nobody at DT&V who may process it.
id=$(send_ind CASE_EVENT "$DTV" lvv-lso case_event.json)
wait_for 10 refused_with ind "$id" "$DTV" LOCAL_NOT_PERMITTED &&
	ok "a message no local system may receive for its purpose is refused: LOCAL_NOT_PERMITTED" ||
	{ bad "local: $(reason_of ind "$id" "$DTV")"; kt ind status "$id"; }

# Amsterdam's intake system reads the intake dossier but not a case event
# for the case consultation (a purpose it is not registered for); the
# case system, registered for every purpose, reads both.
ki() { KETEN_SOCKET="ipc://$NET/run/amsterdam/intake.sock" keten "$@"; }
ki subscribe --cursor in >/dev/null || bad "intake subscribe"
kt amsterdam subscribe --cursor all >/dev/null || bad "case subscribe"
id_lso=$(send_ind CASE_EVENT "$AMS" lvv-lso case_event.json)
wait_for 10 delivered ind "$id_lso" "$AMS" || bad "case event to Amsterdam not delivered"
id_dos=$(send_ind DOSSIER_DELIVERY "$AMS" lvv-intake dossier.json)
wait_for 10 delivered ind "$id_dos" "$AMS" || bad "dossier to Amsterdam not delivered"
ki subscribe --cursor in --ack >"$T/in.jsonl" 2>&1
kt amsterdam subscribe --cursor all --ack >"$T/all.jsonl" 2>&1
grep -q "\"$id_dos\"" "$T/in.jsonl" && ! grep -q "\"$id_lso\"" "$T/in.jsonl" &&
	ok "a local system reads only the purposes it is registered for" ||
	{ bad "intake read: $(head -c 300 "$T/in.jsonl")"; }
grep -q "\"$id_dos\"" "$T/all.jsonl" && grep -q "\"$id_lso\"" "$T/all.jsonl" &&
	ok "... and one registered for every purpose reads both" || bad "case system read: $(head -c 300 "$T/all.jsonl")"
wait_for 2 logged amsterdam "local intake: CASE_EVENT $id_lso for purpose \"lvv-lso\" passed over" &&
	ok "... the message passed over is logged" || bad "pass-over not logged"
ki subscribe --cursor in >"$T/in2.jsonl" 2>&1
[ ! -s "$T/in2.jsonl" ] && [ "$(grep -c "passed over" "$T/amsterdam.log")" = 1 ] &&
	ok "... and not offered again" || bad "offered again: $(grep -c "passed over" "$T/amsterdam.log") pass-overs"
# Messages passed over do not hide the one behind them: with --max 1 the
# fetch goes on past two case events to the dossier.
ki subscribe --cursor in3 >/dev/null || bad "intake subscribe in3"
for i in 1 2; do
	idp=$(send_ind CASE_EVENT "$AMS" lvv-lso case_event.json)
	wait_for 10 delivered ind "$idp" "$AMS" || bad "case event $i not delivered"
done
id_dos2=$(send_ind DOSSIER_DELIVERY "$AMS" lvv-intake dossier.json)
wait_for 10 delivered ind "$id_dos2" "$AMS" || bad "dossier 2 not delivered"
ki subscribe --cursor in3 --max 1 --ack >"$T/in3.jsonl" 2>&1
grep -q "\"$id_dos2\"" "$T/in3.jsonl" && ok "... nor hide a readable message behind them from a fetch" ||
	{ bad "fetch after passed-over messages: $(head -c 300 "$T/in3.jsonl")"; }
# A reader that does not acknowledge pages past them (one at a time) and
# is shown the same messages again next time: passing over does not
# acknowledge what it was shown.
ki subscribe --cursor page --max 1 >"$T/p1.jsonl" 2>&1
ki subscribe --cursor page --max 1 >"$T/p2.jsonl" 2>&1
[ "$(grep -c '"msg_id"' "$T/p1.jsonl")" -ge 3 ] && grep -q "\"$id_dos2\"" "$T/p1.jsonl" &&
	cmp -s "$T/p1.jsonl" "$T/p2.jsonl" &&
	ok "... and a reader paging without --ack is shown the same again" ||
	{ bad "paging past passed-over messages: $(wc -l <"$T/p1.jsonl") then $(wc -l <"$T/p2.jsonl") lines"; }

# --- at the relay --------------------------------------------------------
id=$(send_ind CASE_EVENT "$NGO" lvv-lso case_event.json --mandate ind-lso-2)
wait_for 10 refused_with ind "$id" "$NGO" FORGED_MANDATE &&
	ok "the relay refuses a message under a mandate it holds only forged: FORGED_MANDATE" ||
	{ bad "relay forged: $(reason_of ind "$id" "$NGO")"; kt ind status "$id"; }
# The relay reads its own copy of the bundle: in it IND's case-event
# mandate is revoked; later also the relay's own right to relay.
keten mandate revoke --key "$AKEY" --issuer "$AUTH" --id dev-ind-lso --bundle "$T/relay.bundle" >/dev/null
kill -HUP "${NODE_PID[relay]}"
wait_for 5 logged relay "reload: directory serial" || bad "relay reload"
id=$(send_ind CASE_EVENT "$NGO" lvv-lso case_event.json)
wait_for 10 refused_with ind "$id" "$NGO" MANDATE_REVOKED &&
	ok "the relay refuses a message whose mandate it knows is revoked" ||
	{ bad "relay mandate check: $(reason_of ind "$id" "$NGO")"; kt ind status "$id"; }
cp "$B" "$T/relay.bundle"
keten mandate revoke --key "$AKEY" --issuer "$AUTH" --id dev-relay-relay --bundle "$T/relay.bundle" >/dev/null
kill -HUP "${NODE_PID[relay]}"
wait_for 5 bash -c "[ \$(grep -c 'reload: directory serial' $T/relay.log) -ge 2 ]" || bad "relay reload 2"
# (IND's revoked mandate stays revoked at the relay: Amsterdam sends.)
send_ams() { kt amsterdam send --kind CASE_EVENT --to "$NGO" --case C-M --purpose lvv-lso "$EX/case_event.json"; }
id=$(send_ams)
wait_for 10 refused_with amsterdam "$id" "$NGO" RELAY_NOT_PERMITTED &&
	ok "a relay whose right to relay is revoked refuses, naming the recipient" ||
	{ bad "relay permission: $(reason_of amsterdam "$id" "$NGO")"; kt amsterdam status "$id"; }
logged relay "refused: no mandate lets $(oin_of relay) relay CASE_EVENT" &&
	ok "... and logs the decision" || bad "relay decision not logged"

# A node keeps what it has accepted: the relay's bundle is emptied, and
# it still knows IND's mandate and its own revoked right to relay.
: >"$T/relay.bundle"
kill -HUP "${NODE_PID[relay]}"
wait_for 5 bash -c "[ \$(grep -c 'reload: directory serial' $T/relay.log) -ge 3 ]" || bad "relay reload 3"
grep -q "0 verified from $T/relay.bundle, 0 item(s) refused; [1-9][0-9]* more kept" "$T/relay.log" &&
	ok "a node keeps the mandates and revocations it accepted before" ||
	{ bad "nothing kept"; grep "mandates:" "$T/relay.log"; }
id=$(send_ams)
wait_for 10 refused_with amsterdam "$id" "$NGO" RELAY_NOT_PERMITTED &&
	ok "... so a revocation cannot be undone by leaving it out of a bundle" ||
	{ bad "kept revocation: $(reason_of amsterdam "$id" "$NGO")"; kt amsterdam status "$id"; }

# A later bundle that holds only the revocation of a mandate the node kept
# from an earlier one: the revocation takes effect.  (IND's own copy of
# dev-ind-lso is not revoked; the relay's is.)
id=$(send_ind CASE_EVENT "$NGO" lvv-lso case_event.json --mandate dev-ind-lso)
[ ${#id} -eq 32 ] && ok "IND sends under dev-ind-lso" || bad "dev-ind-lso refused at IND: $id"
: >"$B"
keten mandate revoke --key "$AKEY" --issuer "$AUTH" --id dev-ind-lso --bundle "$B" >/dev/null
kill -HUP "${NODE_PID[ind]}"
wait_for 5 logged ind "is of a mandate not in this bundle: kept" || bad "IND reload with the revocation"
expect_out "a later bundle's revocation of a mandate kept from an earlier one takes effect" \
	"MANDATE_REVOKED" send_ind CASE_EVENT "$NGO" lvv-lso case_event.json --mandate dev-ind-lso
expect_out "keten mandate revoke refuses a revocation at 0 (it would read as none)" "must be after" \
	keten mandate revoke --key "$AKEY" --issuer "$AUTH" --id dev-ind-lso --at 1970-01-01T00:00:00Z \
	--bundle "$B"
finish
