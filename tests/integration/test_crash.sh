#!/usr/bin/env bash
# test_crash.sh — kill -9 while messages flow.  IND sends case events to
# Amsterdam and, through the relay, to the NGO, from four submitters at
# once; meanwhile the sender, the receiver and the relay are killed with
# SIGKILL at random moments and started again, and subscribers read with
# acknowledgements the whole time.  Afterwards: every message IND
# acknowledged is delivered to each recipient's subscriber exactly once
# (stored once; read again only when its acknowledgement was lost), and IND
# holds a signed receipt for every destination.
#
# KETEN_CRASH_MESSAGES (default 1200) and KETEN_CRASH_KILLS (default 9)
# bound the run.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/integration/lib.sh"
. "$top/tests/integration/nodes.sh"

MESSAGES=${KETEN_CRASH_MESSAGES:-1200}
KILLS=${KETEN_CRASH_KILLS:-9}
SUBMITTERS=4

devnet_make || { echo "0 passed, 1 failed"; exit 1; }
AMS=$(oin_of amsterdam); NGO=$(oin_of ngo)
EX="$top/conf/examples"
for n in ind amsterdam relay ngo; do node_start "$n" || bad "start $n"; done

# submitter K: its share of the messages; each acknowledged msg_id goes to
# ids.K, each submit that got no answer (its node was killed) to lost.K.
submitter() {
	local k=$1 i
	for i in $(seq "$k" "$SUBMITTERS" "$MESSAGES"); do
		if id=$(kt ind send --kind CASE_EVENT --to "$AMS,$NGO" --case "C-$i" --purpose lvv-lso \
			"$EX/case_event.json" 2>>"$T/send.err"); then
			echo "$id" >>"$T/ids.$k"
		else
			echo "C-$i" >>"$T/lost.$k"
			sleep 0.2	# the node is being restarted
		fi
	done
}

# subscriber SLUG: reads and acknowledges until told to stop, across
# restarts of its node.
subscriber() {
	local slug=$1
	while [ ! -e "$T/stop" ]; do
		kt "$slug" subscribe --cursor crash --ack --max 256 --wait 200 >>"$T/got.$slug" 2>/dev/null
		sleep 0.1
	done
}

SUBM_PIDS=()
for k in $(seq 1 "$SUBMITTERS"); do submitter "$k" & SUBM_PIDS+=($!); done
SUB_PIDS=()
for s in amsterdam ngo; do subscriber "$s" & SUB_PIDS+=($!); done
CLEANUP+=("touch $T/stop" "kill ${SUB_PIDS[*]}")

# The chaos: kill a random one of the three, start it again.
kills=0
victims=(ind amsterdam relay)
while [ $kills -lt "$KILLS" ]; do
	sleep "0.$((3 + RANDOM % 7))"
	v=${victims[$((RANDOM % 3))]}
	node_kill "$v"
	kills=$((kills + 1))
	echo "kill -9 $v" >>"$T/chaos"
	sleep "0.$((1 + RANDOM % 4))"
	node_start "$v" || bad "restart $v after kill -9"
done
wait "${SUBM_PIDS[@]}"
cat "$T"/ids.* 2>/dev/null | sort >"$T/ids"
acked=$(wc -l <"$T/ids")
lost=$(cat "$T"/lost.* 2>/dev/null | wc -l)
echo "# $acked submits acknowledged, $lost without an answer, $kills kill -9 ($(sort "$T/chaos" | uniq -c | tr -s ' ' | tr '\n' ','))"
[ "$acked" -gt $((MESSAGES / 2)) ] && ok "most submits were acknowledged while nodes were killed" ||
	bad "only $acked of $MESSAGES acknowledged"

# Every destination of every message ends with a receipt.
pending() {
	sql "$NET/state/ind/node.db" "SELECT count(*) FROM outbox_rcpt WHERE state <> 3"
}
wait_for 90 bash -c "[ \$(sqlite3 -cmd '.timeout 5000' $NET/state/ind/node.db 'SELECT count(*) FROM outbox_rcpt WHERE state <> 3') -eq 0 ]" &&
	ok "IND holds a DELIVERED receipt for every destination" || bad "$(pending) destinations without a receipt"
sql "$NET/state/ind/node.db" "SELECT lower(hex(o.msg_id)) FROM outbox o JOIN outbox_rcpt r ON r.oid = o.id
	WHERE r.state = 3 AND r.receipt IS NOT NULL GROUP BY o.id HAVING count(*) = 2" | sort >"$T/receipted"
comm -23 "$T/ids" "$T/receipted" >"$T/missing"
[ ! -s "$T/missing" ] && ok "... including every acknowledged message, for both recipients" ||
	{ bad "$(wc -l <"$T/missing") acknowledged messages lack a receipt"; head -3 "$T/missing"; }

# Stored once at each recipient.
for s in amsterdam ngo; do
	dup=$(sql "$NET/state/$s/node.db" "SELECT count(*) FROM (SELECT msg_id FROM inbox GROUP BY sender, msg_id HAVING count(*) > 1)")
	[ "$dup" = 0 ] && ok "$s stored each message once" || bad "$s stored $dup messages twice"
done

# Read by the subscribers: wait until they have caught up, then stop them.
caught_up() {
	local s=$1 n
	n=$(sql "$NET/state/$s/node.db" "SELECT count(*) FROM inbox")
	[ "$(grep -o '"msg_id":"[0-9a-f]*"' "$T/got.$s" | sort -u | wc -l)" -ge "$n" ]
}
for s in amsterdam ngo; do wait_for 30 caught_up "$s" || bad "$s subscriber did not catch up"; done
touch "$T/stop"
wait "${SUB_PIDS[@]}" 2>/dev/null
for s in amsterdam ngo; do
	python3 - "$T/got.$s" "$T/ids" >"$T/check.$s" <<'EOF'
import json, sys
seen = {}        # msg_id -> set of cursor ids it was read at
for line in open(sys.argv[1]):
    try:
        m = json.loads(line)    # a line cut short by a kill is no message
    except ValueError:
        continue
    seen.setdefault(m["msg_id"], set()).add(m["id"])
acked = set(open(sys.argv[2]).read().split())
twice = [k for k, v in seen.items() if len(v) > 1]
missing = acked - set(seen)
extra = set(seen) - acked
print(f"read {len(seen)} acked {len(acked)} missing {len(missing)} stored-twice {len(twice)} unacknowledged-submits {len(extra)}")
sys.exit(1 if missing or twice else 0)
EOF
	if [ $? -eq 0 ]; then ok "$s's subscriber read every acknowledged message, none at two positions"; else
		bad "$s's subscriber"; fi
	sed 's/^/# /' "$T/check.$s"
done
for s in amsterdam ngo; do
	extra=$(awk '{ for (i = 1; i <= NF; i++) if ($i == "unacknowledged-submits") print $(i + 1) }' "$T/check.$s")
	[ "${extra:-0}" -le "$lost" ] && ok "$s got no message beyond the submits that lost their answer" ||
		bad "$s got $extra unexplained messages ($lost submits lost their answer)"
done
finish
