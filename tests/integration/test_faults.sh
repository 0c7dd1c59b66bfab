#!/usr/bin/env bash
# test_faults.sh — real ketend nodes against bad peers and bad days: an
# unknown CURVE key, a known key sending as another party, garbage,
# malformed and oversized frames and batches, a replayed envelope; a peer down with
# messages queueing (they arrive in order) and one that expires meanwhile;
# a corrupt store, a full store, a second ketend on one store, a bad
# configuration line; SIGHUP with a new directory, also while a batch of
# submissions is filling, and one that replaces a party's transport key.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/integration/lib.sh"
. "$top/tests/integration/nodes.sh"

rogue() { "${KETEN_BIN:-$top/build/bin}/rogue_peer" "$@"; }
port_of() { awk -v s="$1" '$1 == s { print $3 }' "$NET/parties.txt"; }
logged() { grep -qF -- "$2" "$T/$1.log"; }

devnet_make || { echo "0 passed, 1 failed"; exit 1; }
IND=$(oin_of ind); AMS=$(oin_of amsterdam); DTV=$(oin_of dtv); ESC=$(oin_of escalation)
EX="$top/conf/examples"
# Amsterdam takes frames of at most 256 KiB, so that an oversized one is cheap.
sed -i 's/^\[limits\]$/[limits]\nmax_message_size = 256KiB/' "$NET/nodes/amsterdam.conf"
for n in ind amsterdam; do node_start "$n" || bad "start $n"; done
AMS_EP="tcp://127.0.0.1:$(port_of amsterdam)"
AMS_PUB="$NET/parties/amsterdam/curve.pub"

id=$(kt ind send --kind DOSSIER_DELIVERY --to "$AMS" --case C-1 --purpose lvv-intake "$EX/dossier.json")
wait_for 10 delivered ind "$id" "$AMS" && ok "a dossier is delivered (the envelope to replay)" || bad "first dossier"
kt amsterdam subscribe --cursor zaak --ack >/dev/null
sql "$(db_of amsterdam)" "SELECT writefile('$T/env.bin', env) FROM inbox WHERE hex(msg_id) = upper('$id')" >/dev/null
[ -s "$T/env.bin" ] && ok "the wire envelope is in Amsterdam's inbox" || bad "no envelope captured"
inbox() { sql "$(db_of amsterdam)" "SELECT count(*) FROM inbox"; }
n_inbox=$(inbox)

# --- the transport ---------------------------------------------------
expect_rc 3 "an unknown CURVE key is refused at the handshake" \
	rogue --endpoint "$AMS_EP" --server-pub "$AMS_PUB" --random-key --garbage 100
wait_for 5 logged amsterdam "refused connection from" && ok "... and the refusal is logged" || bad "ZAP refusal not logged"

# A party's key (DT&V's) sending IND's envelope: the transport identity is
# not the signed sender, so it is dropped without a receipt to IND.
expect_rc 0 "a known key gets through the handshake" \
	rogue --endpoint "$AMS_EP" --server-pub "$AMS_PUB" --key "$NET/parties/dtv/curve.key" --file "$T/env.bin"
wait_for 5 logged amsterdam "from $DTV, dropped: transport identity" &&
	ok "IND's envelope sent with DT&V's key is dropped" || bad "impersonation not dropped"

# A forged envelope: IND's envelope with one byte of the payload changed.
python3 -c 'import sys; b = bytearray(open(sys.argv[1], "rb").read()); b[-40] ^= 1; open(sys.argv[2], "wb").write(b)' \
	"$T/env.bin" "$T/forged.bin"
rogue --endpoint "$AMS_EP" --server-pub "$AMS_PUB" --key "$NET/parties/ind/curve.key" --file "$T/forged.bin" >/dev/null
wait_for 5 logged amsterdam "claiming sender $IND, from $IND, dropped" &&
	ok "an envelope altered in flight is dropped" || bad "altered envelope"

# The same envelope replayed by IND's own key: the same receipt, no second delivery.
expect_rc 0 "a replayed envelope is sent" \
	rogue --endpoint "$AMS_EP" --server-pub "$AMS_PUB" --key "$NET/parties/ind/curve.key" --file "$T/env.bin" --count 3
sleep 0.5
[ "$(inbox)" = "$n_inbox" ] && ok "a replayed envelope is stored once" || bad "replay stored again ($(inbox) vs $n_inbox)"
kt amsterdam subscribe --cursor zaak --ack >"$T/replay.jsonl"
[ ! -s "$T/replay.jsonl" ] && ok "... and not delivered to the case system again" || bad "replay delivered again"

DTV_KEY="$NET/parties/dtv/curve.key"
expect_rc 0 "garbage frames are sent" \
	rogue --endpoint "$AMS_EP" --server-pub "$AMS_PUB" --key "$DTV_KEY" --garbage 700 --count 20
wait_for 5 logged amsterdam "envelope from $DTV dropped" && ok "garbage is dropped and logged" || bad "garbage"
rogue --endpoint "$AMS_EP" --server-pub "$AMS_PUB" --key "$DTV_KEY" --type 2 --garbage 300 >/dev/null
wait_for 5 logged amsterdam "receipt from $DTV dropped" && ok "a garbage receipt is dropped" || bad "garbage receipt"
rogue --endpoint "$AMS_EP" --server-pub "$AMS_PUB" --key "$DTV_KEY" --type 7 --garbage 10 >/dev/null
wait_for 5 logged amsterdam "unknown message type from $DTV" && ok "an unknown frame type is dropped" || bad "frame type"
rogue --endpoint "$AMS_EP" --server-pub "$AMS_PUB" --key "$DTV_KEY" --frames 1 --garbage 0 >/dev/null
rogue --endpoint "$AMS_EP" --server-pub "$AMS_PUB" --key "$DTV_KEY" --frames 4 --garbage 10 >/dev/null
wait_for 5 logged amsterdam "malformed message (2 frames)" && logged amsterdam "malformed message (5 frames)" &&
	ok "a message of the wrong number of frames is dropped" || { bad "frame count"; grep malformed "$T/amsterdam.log"; }
# Batches (PROTOCOL.md §14.2): each item is taken as if it came alone;
# a body that is not a batch is dropped whole.
batch() { python3 - "$@" <<'PY'
import struct, sys
out = sys.argv[1]; b = b""
for a in sys.argv[2:]:
    t, f = a.split(":", 1)
    body = open(f, "rb").read()
    b += bytes([int(t)]) + struct.pack(">I", len(body)) + body
open(out, "wb").write(b)
PY
}
batch "$T/batch.bin" 1:"$T/env.bin" 1:"$T/forged.bin" 1:"$T/env.bin"
forged_before=$(grep -cF "claiming sender $IND, from $IND, dropped" "$T/amsterdam.log")
rogue --endpoint "$AMS_EP" --server-pub "$AMS_PUB" --key "$NET/parties/ind/curve.key" --type 3 \
	--file "$T/batch.bin" >/dev/null
wait_for 5 bash -c "[ \$(grep -cF 'claiming sender $IND, from $IND, dropped' '$T/amsterdam.log') -gt $forged_before ]" &&
	ok "an altered envelope in a batch is dropped" || bad "altered envelope in a batch"
[ "$(inbox)" = "$n_inbox" ] && ok "... and the replayed ones beside it are stored once" ||
	bad "batch replay stored again ($(inbox) vs $n_inbox)"
head -c 40 "$T/env.bin" >"$T/cut.bin"
batch "$T/badbatch.bin" 1:"$T/env.bin" 1:"$T/cut.bin"
head -c $(( $(stat -c %s "$T/badbatch.bin") - 3 )) "$T/badbatch.bin" >"$T/cutbatch.bin"
rogue --endpoint "$AMS_EP" --server-pub "$AMS_PUB" --key "$DTV_KEY" --type 3 --file "$T/cutbatch.bin" >/dev/null
wait_for 5 logged amsterdam "malformed batch from $DTV dropped" &&
	ok "a batch cut short is dropped whole" || bad "cut batch"
rogue --endpoint "$AMS_EP" --server-pub "$AMS_PUB" --key "$DTV_KEY" --size $((300 * 1024)) >"$T/big.out"
grep -q disconnected "$T/big.out" && ok "an oversized frame makes the node hang up" || { bad "oversized"; cat "$T/big.out"; }
kill -0 "${NODE_PID[amsterdam]}" 2>/dev/null && ok "Amsterdam is still running" || bad "Amsterdam died"
id=$(kt ind send --kind DOSSIER_DELIVERY --to "$AMS" --case C-2 --purpose lvv-intake "$EX/dossier.json")
wait_for 10 delivered ind "$id" "$AMS" && ok "... and still takes good messages" || bad "no delivery after bad input"

# --- a peer down ------------------------------------------------------
: >"$T/ids"
for i in $(seq 1 20); do
	kt ind send --kind CASE_EVENT --to "$DTV" --case "C-Q$i" --purpose lvv-lso "$EX/case_event.json" >>"$T/ids"
done
short=$(kt ind send --ttl 2s --kind CASE_EVENT --to "$DTV" --case C-X --purpose lvv-lso "$EX/case_event.json")
expect_out "a lifetime over 366 days is refused at submit" "at most 366 days" \
	kt ind send --ttl 400d --kind CASE_EVENT --to "$DTV" --case C-Y --purpose lvv-lso "$EX/case_event.json"
kt ind peers >"$T/peers.out"
awk -v o="$DTV" '$1 == o' "$T/peers.out" | grep -q "down *21 " && ok "21 messages wait while DT&V is down" ||
	{ bad "queue while down"; cat "$T/peers.out"; }
expired() { [ "$(state_of ind "$1" "$DTV")" = expired ]; }
wait_for 10 expired "$short" && ok "a message whose lifetime ends while DT&V is down is expired" ||
	{ bad "not expired"; kt ind status "$short"; }
expect_out "... and its sender sees why" "expired" kt ind status "$short"
node_start dtv
t0=$(date +%s%N)
n=0
for i in $(cat "$T/ids"); do wait_for 20 delivered ind "$i" "$DTV" && n=$((n + 1)); done
took=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$n" -eq 20 ] && ok "all 20 arrive once DT&V is up" || bad "$n of 20 arrived"
# IND's link finds DT&V within its reconnect interval (at most 5 s); DT&V's
# receipts wait for its own link to IND instead of being lost to it, so
# IND does not wait out a retry time grown while DT&V was down.
[ "$took" -lt 8000 ] && ok "... and IND has every receipt ${took} ms after DT&V starts" ||
	bad "the receipts took ${took} ms"
kt dtv subscribe --cursor regie --ack >"$T/dtv.jsonl"
grep -o '"msg_id":"[0-9a-f]*"' "$T/dtv.jsonl" | cut -d'"' -f4 >"$T/got"
cmp -s "$T/got" "$T/ids" && ok "DT&V's case system reads them in the order they were sent" ||
	{ bad "order"; diff "$T/got" "$T/ids" | head; }
grep -q "$short" "$T/dtv.jsonl" && bad "the expired message was delivered" || ok "the expired message is not delivered"

# --- the store --------------------------------------------------------
expect_out "a second ketend on the same store is refused" "held by another ketend" \
	ketend -c "$NET/nodes/amsterdam.conf"
expect_rc 0 "ketend -n on a running node's configuration still checks it" ketend -n -c "$NET/nodes/amsterdam.conf"

node_stop dtv
cp -p "$(db_of dtv)" "$T/dtv.db.good"
size=$(stat -c %s "$(db_of dtv)")
# Overwrite the middle of the database (past the header, inside the b-trees).
python3 -c 'import os, sys
f = os.open(sys.argv[1], os.O_WRONLY); os.lseek(f, int(sys.argv[2]) // 2, 0); os.write(f, os.urandom(4096)); os.close(f)' \
	"$(db_of dtv)" "$size"
rm -f "$(db_of dtv)-wal" "$(db_of dtv)-shm"
expect_out "a corrupt store is refused by ketend -n, naming the file" "node.db" \
	ketend -n -c "$NET/nodes/dtv.conf"
expect_rc 1 "ketend will not start on a corrupt store" ketend -c "$NET/nodes/dtv.conf"
grep -q "corrupt" "$T/last.out" && ok "... and says it is corrupt" || { bad "corrupt not named"; cat "$T/last.out"; }

# A full store (max_store_size stands in for a full disk: SQLite answers
# both with SQLITE_FULL).  A big attachment fills it in a few submits.
python3 - "$EX/dossier.json" "$T/big.json" <<'EOF'
import base64, json, os, sys
d = json.load(open(sys.argv[1]))
d["attachments"][0]["content"] = base64.b64encode(os.urandom(200 * 1024)).decode()
json.dump(d, open(sys.argv[2], "w"))
EOF
cp -p "$T/dtv.db.good" "$(db_of dtv)"
sed -i 's/^\[limits\]$/[limits]\nmax_store_size = 2MiB/' "$NET/nodes/dtv.conf"
node_start dtv && ok "a node starts again on its store restored from a copy" || bad "restore"
ok=0; full=0; : >"$T/dtv.ids"
for i in $(seq 1 30); do
	if kt dtv send --kind DOSSIER_DELIVERY --to "$AMS" --case "C-F$i" --purpose lvv-intake \
		"$T/big.json" >>"$T/dtv.ids" 2>"$T/dtv.err"; then ok=$((ok + 1)); else full=1; break; fi
done
[ $full -eq 1 ] && ok "a full store refuses a submit" || bad "the store never filled"
grep -q "KETEN_EFULL" "$T/dtv.err" && ok "... with a clear error" || { bad "unclear error"; cat "$T/dtv.err"; }
kill -0 "${NODE_PID[dtv]}" 2>/dev/null && ok "the node keeps running when its store is full" || bad "DT&V died"
good=0
for i in $(cat "$T/dtv.ids"); do kt dtv status "$i" >/dev/null 2>&1 && good=$((good + 1)); done
[ "$good" -eq "$ok" ] && [ "$ok" -gt 0 ] && ok "every acknowledged submit is in the store ($ok)" ||
	bad "$good of $ok acknowledged submits found"
node_stop dtv
sed -i '/^max_store_size/d' "$NET/nodes/dtv.conf"
node_start dtv
n=0
for i in $(cat "$T/dtv.ids"); do wait_for 20 delivered dtv "$i" "$AMS" && n=$((n + 1)); done
[ "$n" -eq "$ok" ] && ok "after a restart every acknowledged message is delivered" || bad "$n of $ok delivered"
id=$(kt dtv send --kind DOSSIER_DELIVERY --to "$AMS" --case C-G --purpose lvv-intake "$EX/dossier.json")
[ ${#id} -eq 32 ] && ok "with room again, submits are taken" || bad "no submit after the cap was lifted"

# --- configuration ----------------------------------------------------
cp "$NET/nodes/amsterdam.conf" "$T/bad.conf"
sed -i 's/^log_level = info$/log_level = info\nthis is not a key/' "$T/bad.conf"
line=$(grep -n "this is not a key" "$T/bad.conf" | cut -d: -f1)
expect_out "a bad configuration line is named by file and line" "$T/bad.conf:$line" ketend -n -c "$T/bad.conf"
expect_rc 1 "... and ketend -n fails" ketend -n -c "$T/bad.conf"
sed -i 's/^this is not a key$/syslog = yes/' "$T/bad.conf"
chmod 0644 "$NET/parties/amsterdam/seal.key"
expect_out "ketend -n tells its answer on standard error, also with syslog = yes" \
	"accessible by group or others" ketend -n -c "$T/bad.conf"
chmod 0600 "$NET/parties/amsterdam/seal.key"
if [ "$(id -u)" = 0 ] && id keten >/dev/null 2>&1 && ! id -nG keten | grep -qw daemon; then
	sed 's/^mode = 0600$/mode = 0660\ngroup = daemon/' "$NET/nodes/amsterdam.conf" >"$T/grp.conf"
	chmod 0600 "$T/grp.conf"
	expect_out "a [local] group the node's account is not in is named by ketend -n" \
		"group daemon: the node's account is not a member" ketend -n -c "$T/grp.conf"
fi

# --- SIGHUP: a new directory without the escalation table --------------
cp "$NET/directory.signed" "$T/directory1.signed"
python3 - "$NET/directory.json" "$ESC" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
d["serial"] += 1
d["parties"] = [p for p in d["parties"] if p["oin"] != sys.argv[2]]
json.dump(d, open(sys.argv[1], "w"), indent=2)
EOF
keten directory sign --source "$NET/directory.json" --key "$NET/parties/authority/sign.key" \
	--cert "$NET/parties/authority/sign.crt" --out "$NET/directory.signed.new" >"$T/sign.out" 2>&1 ||
	{ bad "re-sign the directory"; cat "$T/sign.out"; }
# IND holds its submissions for a second (batch_delay): the reload comes
# while a message to the escalation table waits in the batch.  It was
# accepted under the old directory, and is stored under it.
node_stop ind
sed -i 's/^\[limits\]$/[limits]\nbatch_delay = 1s/' "$NET/nodes/ind.conf"
node_start ind || bad "restart ind with batch_delay"
kt ind send --kind CASE_EVENT --to "$ESC" --case C-B --purpose lvv-lso "$EX/case_event.json" \
	>"$T/batched.id" 2>&1 &
sender=$!
sleep 0.3
mv "$NET/directory.signed.new" "$NET/directory.signed"
kill -HUP "${NODE_PID[ind]}" "${NODE_PID[amsterdam]}"
wait_for 5 logged ind "reload: directory serial 2" && ok "SIGHUP loads the new directory" || bad "no reload"
wait "$sender"
bid=$(cat "$T/batched.id")
[ ${#bid} -eq 32 ] && ok "a submission in a batch that was filling when the directory changed is answered" ||
	bad "batched submission: '$bid'"
kill -0 "${NODE_PID[ind]}" 2>/dev/null && ok "... and the node runs on" ||
	{ bad "IND died at the reload"; tail -n 20 "$T/ind.log"; }
expect_out "... and it is queued for its recipient, now gone from the directory" "$ESC" kt ind status "$bid"
sed -i '/^batch_delay = 1s$/d' "$NET/nodes/ind.conf"
expect_out "a party taken out of the directory cannot be sent to" "not in the directory" \
	kt ind send --kind DOSSIER_DELIVERY --to "$ESC" --case C-H --purpose lvv-intake "$EX/dossier.json"
wait_for 5 logged amsterdam "reload: directory serial 2"
expect_rc 3 "... and its transport key is refused" \
	rogue --endpoint "$AMS_EP" --server-pub "$AMS_PUB" --key "$NET/parties/escalation/curve.key" --garbage 10
echo '{}' >"$NET/directory.signed"
kill -HUP "${NODE_PID[ind]}"
wait_for 5 logged ind "reload: keeping directory serial 2" && ok "a broken directory is refused; the node keeps the one it has" ||
	bad "broken directory"
id=$(kt ind send --kind DOSSIER_DELIVERY --to "$AMS" --case C-I --purpose lvv-intake "$EX/dossier.json")
wait_for 10 delivered ind "$id" "$AMS" && ok "... and goes on delivering" || bad "no delivery after a bad reload"

# --- SIGHUP: IND's transport key replaced ---------------------------------
# Amsterdam reloads a directory in which IND has another CURVE key (the
# escalation table's, free since it left).  IND's connection, made with
# its old key before the reload, no longer speaks for IND.
python3 - "$NET/directory.json" "$IND" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
d["serial"] += 1
for p in d["parties"]:
    if p["oin"] == sys.argv[2]:
        p["curve_key"] = "parties/escalation/curve.pub"
json.dump(d, open(sys.argv[1], "w"), indent=2)
EOF
keten directory sign --source "$NET/directory.json" --key "$NET/parties/authority/sign.key" \
	--cert "$NET/parties/authority/sign.crt" --out "$NET/directory.signed" >"$T/sign.out" 2>&1 ||
	{ bad "re-sign the directory"; cat "$T/sign.out"; }
kill -HUP "${NODE_PID[amsterdam]}"
wait_for 5 logged amsterdam "reload: directory serial 3" || bad "Amsterdam did not reload serial 3"
id=$(kt ind send --kind DOSSIER_DELIVERY --to "$AMS" --case C-K --purpose lvv-intake "$EX/dossier.json")
wait_for 10 logged amsterdam "CURVE key the directory no longer holds" &&
	ok "a connection made with a key the directory replaced no longer speaks for its party" ||
	{ bad "old key still admitted"; tail -n 10 "$T/amsterdam.log"; }
# Taken, it would be receipted over Amsterdam's own connection to IND within
# milliseconds.
sleep 1
kt ind status --json "$id" | grep -q '"state":"delivered"' && bad "a message on the old key was taken" ||
	ok "... and its message is not taken"

# --- an older directory, validly signed, after a restart ----------------
node_stop amsterdam
cp "$NET/directory.signed" "$T/directory3.signed"
cp "$T/directory1.signed" "$NET/directory.signed"
timeout 20 "${KETEN_BIN:-$top/build/bin}/ketend" -c "$NET/nodes/amsterdam.conf" >"$T/old.out" 2>&1
rc=$?
[ $rc = 1 ] && grep -q "directory serial 1 is older than serial 3, which this node accepted before" \
	"$T/old.out" && ok "a node does not start on a directory older than the one it accepted" ||
	{ bad "started on an older directory (rc $rc)"; tail -3 "$T/old.out"; }
expect_out "... and ketend -n says so" "older than serial 3" ketend -n -c "$NET/nodes/amsterdam.conf"
cp "$T/directory3.signed" "$NET/directory.signed"

# --- two local systems on one socket file, by two paths -----------------
ln -s "$NET/run/amsterdam" "$T/link"
cp "$NET/nodes/amsterdam.conf" "$T/twice.conf"
printf '\n[local reader]\nsocket = ipc://%s/link/case.sock\nmode = 0600\nreceive = *\npurposes = *\n' "$T" \
	>>"$T/twice.conf"
timeout 20 "${KETEN_BIN:-$top/build/bin}/ketend" -c "$T/twice.conf" >"$T/twice.out" 2>&1
rc=$?
[ $rc = 1 ] && grep -q "local reader: .*/link/case.sock is in use" "$T/twice.out" &&
	ok "a local socket another section listens on is not taken over" ||
	{ bad "socket taken over (rc $rc)"; tail -3 "$T/twice.out"; }
node_start amsterdam && ok "... and Amsterdam starts on the newest directory" ||
	bad "no start on the newest directory"

# --- the directory in use expires -------------------------------------
# Serial 4 (with IND's own transport key again) expires 8 s after it is
# signed; both nodes load it.
sign_dir() {	# EXPIRES_MS (0: valid_days 365): the next serial, signed
	python3 - "$NET/directory.json" "$1" "$IND" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
d["serial"] += 1
for p in d["parties"]:
    if p["oin"] == sys.argv[3]:
        p["curve_key"] = "parties/ind/curve.pub"
d.pop("valid_days", None)
d.pop("expires_at", None)
if int(sys.argv[2]):
    d["expires_at"] = int(sys.argv[2])
else:
    d["valid_days"] = 365
json.dump(d, open(sys.argv[1], "w"), indent=2)
EOF
	keten directory sign --source "$NET/directory.json" --key "$NET/parties/authority/sign.key" \
		--cert "$NET/parties/authority/sign.crt" --out "$NET/directory.signed" >"$T/sign.out" 2>&1 ||
		{ bad "sign a directory"; cat "$T/sign.out"; }
}
sign_dir $(( $(date +%s%3N) + 8000 ))
kill -HUP "${NODE_PID[ind]}" "${NODE_PID[amsterdam]}"
wait_for 5 logged ind "reload: directory serial 4" || bad "IND did not load serial 4"
wait_for 15 logged ind "trust: directory serial 4 expired" &&
	ok "a node notices that its directory expired" || bad "expiry not noticed"
expect_out "... and refuses submissions, saying why" "directory (serial 4) expired" \
	kt ind send --kind DOSSIER_DELIVERY --to "$AMS" --case C-X --purpose lvv-intake "$EX/dossier.json"
sign_dir 0
kill -HUP "${NODE_PID[ind]}" "${NODE_PID[amsterdam]}"
wait_for 5 logged ind "trust: a current directory again" &&
	ok "a current directory loaded, messages are exchanged again" || bad "not current again"
wait_for 5 logged amsterdam "trust: a current directory again" || bad "Amsterdam not current again"
id=$(kt ind send --kind DOSSIER_DELIVERY --to "$AMS" --case C-X --purpose lvv-intake "$EX/dossier.json")
wait_for 10 delivered ind "$id" "$AMS" && ok "... and delivered" || bad "no delivery after a current directory"

# --- IPv6 --------------------------------------------------------------
if grep -q "^00000000000000000000000000000001 " /proc/net/if_inet6 2>/dev/null; then
	node_stop amsterdam
	port=${AMS_EP##*:}
	sed -i "s|^listen = .*|listen = tcp://[::1]:$port|" "$NET/nodes/amsterdam.conf"
	node_start amsterdam && ok "a node listens on an IPv6 address" || bad "no IPv6 listen"
	expect_rc 0 "... and a known key gets through the handshake over IPv6" \
		rogue --endpoint "tcp://[::1]:$port" --server-pub "$AMS_PUB" --key "$NET/parties/dtv/curve.key" \
		--garbage 1
else
	echo "  (no IPv6 loopback here: IPv6 listen not tried)"
fi
finish
