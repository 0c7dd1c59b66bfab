#!/usr/bin/env bash
# test_relays.sh — a sender and a recipient each behind a relay of their
# own (the NGO behind the relay, AVIM behind a second one): a message
# goes NGO -> relay -> relay2 -> AVIM and the other way, every hop logs
# it, and its receipt comes back the same way, past both relays, so that
# the sender sees it delivered and neither relay is left sending it again.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/integration/lib.sh"
. "$top/tests/integration/nodes.sh"

logged() { grep -qF -- "$2" "$T/$1.log"; }

# The dev network's parties, with a second relay that reaches AVIM.
awk '$1 == "avim" { $5 = "relay2" } { print }' "$top/conf/devnet.parties" >"$T/parties"
echo "relay2     00000001999000130000  7413  relay             -      Tweede ketenknooppunt" >>"$T/parties"
devnet_make --parties "$T/parties" || { echo "0 passed, 1 failed"; exit 1; }
NGO=$(oin_of ngo); AVIM=$(oin_of avim)
EX="$top/conf/examples"
for n in relay relay2 ngo avim; do node_start "$n" || bad "start $n"; done

id=$(kt ngo send --kind CASE_EVENT --to "$AVIM" --case C-R --purpose lvv-lso "$EX/case_event.json")
[ ${#id} -eq 32 ] || bad "send returned '$id'"
wait_for 10 delivered ngo "$id" "$AVIM" && ok "NGO -> AVIM, each behind a relay of its own: receipted" ||
	{ bad "not receipted"; kt ngo status "$id"; tail -n 15 "$T/ngo.log" "$T/relay.log" "$T/relay2.log" "$T/avim.log"; }
logged relay "relaying CASE_EVENT $id" && logged relay2 "relaying CASE_EVENT $id" &&
	ok "... through the NGO's relay and then AVIM's" || bad "relay logs: $(grep -c "$id" "$T/relay.log") $(grep -c "$id" "$T/relay2.log")"
kt avim subscribe --cursor los --ack >"$T/avim.jsonl" 2>&1
grep -q "$id" "$T/avim.jsonl" && ok "... and AVIM reads it" || { bad "AVIM cannot read"; cat "$T/avim.jsonl"; }

id2=$(kt avim send --kind CASE_EVENT --to "$NGO" --case C-R2 --purpose lvv-lso "$EX/case_event.json")
wait_for 10 delivered avim "$id2" "$NGO" && ok "AVIM -> NGO, the other way: receipted" ||
	{ bad "AVIM -> NGO not receipted"; kt avim status "$id2"; tail -n 15 "$T/relay.log" "$T/relay2.log"; }

# Both relays saw the receipts: after their first wait for one (5 s) has
# passed, neither sends either message again.
sleep 6
n1=$(grep -c "relaying CASE_EVENT $id" "$T/relay.log"); n2=$(grep -c "relaying CASE_EVENT $id" "$T/relay2.log")
m1=$(grep -c "relaying CASE_EVENT $id2" "$T/relay.log"); m2=$(grep -c "relaying CASE_EVENT $id2" "$T/relay2.log")
[ "$n1$n2$m1$m2" = 1111 ] && ! grep -q "is not for this node" "$T/relay.log" "$T/relay2.log" &&
	ok "each relay took each receipt: nothing sent again, nothing dropped" ||
	{ bad "relays: $n1 $n2 $m1 $m2 forwards"; grep "not for this node\|again" "$T/relay.log" "$T/relay2.log" | head; }
finish
