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
[ -s "$dev/directory.signed" ] && [ -s "$dev/mandates.bundle" ] ||
	KETEN_BIN="$top/build/bin" certs/mkdevnet.sh --force --test-certs "$dev"
auth=$(cat "$dev/authority.oin")
trust=(--ca "$dev/ca.crt" --crl "$dev/crl.pem" --authority "$auth")
# The demo revokes a mandate; every run starts from the bundle as issued.
[ -f "$dev/mandates.bundle.issued" ] || cp "$dev/mandates.bundle" "$dev/mandates.bundle.issued"
cp "$dev/mandates.bundle.issued" "$dev/mandates.bundle"
mtrust=("${trust[@]}" --directory "$dev/directory.signed" --bundle "$dev/mandates.bundle")

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

say "The mandates the authority issued: who may send what, to whom, for which purpose"
run "$keten" mandate list "${mtrust[@]}" | sed -n '1,6p;$p'
run "$keten" mandate check "${mtrust[@]}" --from "$(cat "$dev/parties/ind/oin")" \
	--to "$(cat "$dev/parties/amsterdam/oin")" --kind DOSSIER_DELIVERY --purpose lvv-intake

say "A directory signed by a party that is not the authority is refused"
run "$keten" directory sign --source "$dev/directory.json" \
	--key "$dev/parties/ind/sign.key" --cert "$dev/parties/ind/sign.crt" --out "$tmp"
if run "$keten" directory verify "${trust[@]}" "$tmp"; then
	echo "demo: a directory signed by IND verified" >&2
	exit 1
fi
say "A scripted day in the chain: nodes on loopback"
# A fresh state for every demo run.
rm -rf "$dev/state"/*/* "$dev/run"/*/* 2>/dev/null || true
declare -A pid=()
stop_all() { for n in "${!pid[@]}"; do kill -TERM "${pid[$n]}" 2>/dev/null; done; wait 2>/dev/null; }
trap 'stop_all; rm -f "$tmp"' EXIT
logs=$(mktemp -d)
start() {
	build/bin/ketend -c "$dev/nodes/$1.conf" >"$logs/$1.log" 2>&1 &
	pid[$1]=$!
	for _ in $(seq 1 100); do grep -q ready "$logs/$1.log" && return 0; sleep 0.05; done
	echo "demo: ketend $1 did not start:"; cat "$logs/$1.log"; exit 1
}
oin() { cat "$dev/parties/$1/oin"; }
k() { local n=$1; shift; printf '$ [%s] keten %s\n' "$n" "$*" >&2; KETEN_SOCKET="ipc://$top/$dev/run/$n/case.sock" "$keten" "$@"; }
kq() { local n=$1; shift; KETEN_SOCKET="ipc://$top/$dev/run/$n/case.sock" "$keten" "$@"; }
wait_state() {	# node msgid recipient state
	for _ in $(seq 1 100); do
		kq "$1" status --json "$2" | grep -q "\"recipient\":\"$3\",\"state\":\"$4\"" && return 0
		sleep 0.1
	done
	return 1
}
for n in ind amsterdam utrecht rotterdam escalation coa avim relay ngo; do start "$n"; done
echo "9 nodes up (DT&V stays down for now); logs in $logs"
ex=conf/examples

say "IND delivers a dossier to Amsterdam; the receipt time starts the 14-day rest period"
id=$(k ind send --kind DOSSIER_DELIVERY --to "$(oin amsterdam)" --case LVV-AMS-2026-0412 --purpose lvv-intake "$ex/dossier.json")
echo "$id"
wait_state ind "$id" "$(oin amsterdam)" delivered
k ind status "$id"
k amsterdam subscribe --cursor zaaksysteem --ack | cut -c1-220

say "Amsterdam notifies DT&V, which is down: the message waits in Amsterdam's outbox"
id=$(k amsterdam send --kind DTV_NOTIFICATION --to "$(oin dtv)" --case LVV-AMS-2026-0412 --purpose lvv-intake "$ex/dtv_notification.json")
sleep 1
k amsterdam status "$id"
say "DT&V comes up; the notification arrives"
start dtv
wait_state amsterdam "$id" "$(oin dtv)" delivered
k amsterdam status "$id"

say "Utrecht escalates a stuck case to the national escalation table, and gets a decision"
id=$(k utrecht send --kind ESCALATION_REQUEST --to "$(oin escalation)" --case LVV-UTR-2025-0088 --purpose lvv-escalation "$ex/escalation_request.json")
wait_state utrecht "$id" "$(oin escalation)" delivered
k escalation subscribe --cursor tafel --ack | cut -c1-200
dec=$(k escalation send --kind ESCALATION_DECISION --to "$(oin utrecht)" --case LVV-UTR-2025-0088 --purpose lvv-escalation --reply-to "$id" "$ex/escalation_decision.json")
wait_state escalation "$dec" "$(oin utrecht)" delivered
k utrecht subscribe --cursor zaaksysteem --ack | cut -c1-200

say "A case event to every member of Rotterdam's local case consultation (encrypted once), the NGO through the relay"
id=$(k rotterdam send --kind CASE_EVENT --to "$(oin coa),$(oin avim),$(oin dtv),$(oin ngo)" --case LVV-RTM-2026-0031 --purpose lvv-lso "$ex/case_event.json")
for p in coa avim dtv ngo; do wait_state rotterdam "$id" "$(oin $p)" delivered; done
k rotterdam status "$id"
k ngo subscribe --cursor los --ack | cut -c1-160
grep relaying "$logs/relay.log" | tail -1

say "A refusal: Utrecht's case system may not send a dossier delivery"
k utrecht send --kind DOSSIER_DELIVERY --to "$(oin amsterdam)" --case LVV-UTR-2025-0088 --purpose lvv-intake "$ex/dossier.json" || true

say "A refusal by mandate: Amsterdam's mandates do not cover a case event for the intake purpose"
k amsterdam send --kind CASE_EVENT --to "$(oin dtv)" --case LVV-AMS-2026-0412 --purpose lvv-intake "$ex/case_event.json" || true

say "The end of the agreements: the authority revokes Amsterdam's notifications to DT&V, from 3 seconds from now"
at=$(( $(date +%s) + 3 ))000
run "$keten" mandate revoke --key "$dev/parties/authority/sign.key" --issuer "$auth" --id dev-amsterdam-dtv \
	--at "$at" --reason "the LVV agreements end" --bundle "$dev/mandates.bundle"
kill -HUP "${pid[amsterdam]}"
sleep 0.5
grep "mandates:" "$logs/amsterdam.log" | tail -1
id=$(k amsterdam send --kind DTV_NOTIFICATION --to "$(oin dtv)" --case LVV-AMS-2026-0413 --purpose lvv-intake "$ex/dtv_notification.json")
wait_state amsterdam "$id" "$(oin dtv)" delivered
k amsterdam status "$id"
sleep 3
echo "... the revocation has taken effect; the same message again:"
k amsterdam send --kind DTV_NOTIFICATION --to "$(oin dtv)" --case LVV-AMS-2026-0413 --purpose lvv-intake "$ex/dtv_notification.json" || true
grep "mandate: refused" "$logs/amsterdam.log" | tail -1

say "What is queued where"
k ind peers | head -6
k amsterdam queue

say "The auditor: every node's audit log, verified offline on a copy, with the keys the directory lists"
stop_all
pid=()
audit=$(mktemp -d)
trap 'rm -rf "$tmp" "$audit"' EXIT
atrust=("${trust[@]}" --directory "$dev/directory.signed")
for n in ind amsterdam dtv utrecht escalation rotterdam coa avim relay ngo; do
	cp "$dev/state/$n/audit.log" "$audit/$n.log"
	printf '%-11s ' "$n"
	"$keten" audit verify "${atrust[@]}" "$audit/$n.log" | tail -1
done
run "$keten" audit verify "${atrust[@]}" "$audit/amsterdam.log"

say "What Amsterdam's log holds: every submit, send, receipt, read, refusal and reload"
run "$keten" audit query "$audit/amsterdam.log"
echo "(no V-nummer in any log:" "$(cat "$audit"/*.log | grep -c 3012345678 || true)" "matches)"

say "One message followed across the hops by its trace: Rotterdam, the relay, the NGO"
trace=$("$keten" audit query --json --kind CASE_EVENT --event SUBMIT "$audit/rotterdam.log" |
	head -1 | sed 's/.*"trace_id":"\([0-9a-f]*\)".*/\1/')
for n in rotterdam relay ngo; do run "$keten" audit query --trace "$trace" "$audit/$n.log" | sed '$d'; done

say "Reconcile: every SEND in IND's log has its RECEIVE in Amsterdam's, and the checkpoints each witnessed agree"
run "$keten" audit reconcile "$audit/ind.log" "$audit/amsterdam.log"

say "A subject-access request at Amsterdam for V-nummer 3012345678 (the privacy officer holds Amsterdam's audit keys)"
run "$keten" audit index --keys "$dev/state/amsterdam/audit.keys" "$audit/amsterdam.log"
run "$keten" audit subject --keys "$dev/state/amsterdam/audit.keys" "$audit/amsterdam.log" 3012345678

say "Proofs an auditor can check alone: record 3 is in the log, and the log only grew"
echo "$ $keten audit prove --index 3 $audit/amsterdam.log > incl.json"
"$keten" audit prove --index 3 "$audit/amsterdam.log" >"$audit/incl.json"
cat "$audit/incl.json"
run "$keten" audit check-proof "$audit/incl.json"
echo "$ $keten audit prove --from 4 $audit/amsterdam.log > cons.json"
"$keten" audit prove --from 4 "$audit/amsterdam.log" >"$audit/cons.json"
run "$keten" audit check-proof "$audit/cons.json"

say "Tampering is found: one altered byte in a record of Amsterdam's log"
cp "$audit/amsterdam.log" "$audit/altered.log"
printf 'X' | dd of="$audit/altered.log" bs=1 seek=600 conv=notrunc 2>/dev/null
set +e
"$keten" audit verify "${atrust[@]}" "$audit/altered.log"
echo "exit status $? (3: tampered, 4: torn write after a crash, 5: policy)"
set -e
say "Done"
