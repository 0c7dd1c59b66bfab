#!/usr/bin/env bash
# test_audit.sh — the audit log (PROTOCOL.md §17) of real nodes on loopback,
# checked with the auditor's commands on copies of the logs:
#   1. an exchange that writes every event a node writes in normal work: a
#      dossier (V-nummer and BSN) to Amsterdam, a case event to Amsterdam,
#      COA and, through the relay, the NGO, a refusal by mandate, reads by
#      subscribers, a message that expires while DT&V is down, a SIGHUP
#      reload, a clean stop;
#   2. every log verifies against the directory's keys; every event is in
#      the log of the node that caused it; no V-nummer or BSN in the clear;
#   3. one trace id finds the same message and envelope hash at every hop;
#   4. subject access with the organisation's keys, with and without the
#      subject index; another person, or another organisation's keys, find
#      nothing;
#   5. reconcile: sender and receiver agree; a removed RECEIVE is named;
#   6. tampering, each on a fresh copy, each with its exit code (3 tampered,
#      4 torn write, 5 policy) and a message that says what;
#   7. a batch queued while the receiver was down: one of its receipts
#      brings the receiver's checkpoint, which covers the RECEIVE records
#      of all; two senders' batches queued at a relay: each sender gets
#      the checkpoint; then kill -9 of the receiver while a few hundred
#      messages flow: its log still verifies, a torn tail is cut at the
#      restart;
#   7b. a power cut that loses what the file had not made durable: the
#      node puts it back from its store; other bytes there stop it;
#   8. inclusion and consistency proofs, and altered ones;
#   9. a node whose audit log cannot be written does not start.
# KETEN_AUDIT_MESSAGES (default 300) bounds the crash run.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/integration/lib.sh"
. "$top/tests/integration/nodes.sh"

MESSAGES=${KETEN_AUDIT_MESSAGES:-300}
START=$(date +%s%N)

devnet_make || { echo "0 passed, 1 failed"; exit 1; }
IND=$(oin_of ind); AMS=$(oin_of amsterdam); DTV=$(oin_of dtv); NGO=$(oin_of ngo)
COA=$(oin_of coa); RELAY=$(oin_of relay)
EX="$top/conf/examples"
TRUST=(--directory "$NET/directory.signed" --ca "$NET/ca.crt" --crl "$NET/crl.pem"
	--authority-file "$NET/authority.oin")
A="$T/audit"	# the auditor's copies
mkdir -p "$A"
logged() { grep -qF -- "$2" "$T/$1.log"; }
expired() { [ "$(state_of "$1" "$2" "$3")" = expired ]; }

# The person of the tracked dossier: a V-nummer and a BSN (eleven-test)
# that appear nowhere else in this test.
VNR=3098765432
BSN=111222333
OTHER_VNR=3000000019
PROBE_BSN=123456782	# for the purpose Utrecht names (passes the eleven-test)
python3 - "$EX/dossier.json" "$T/dossier.json" "$VNR" "$BSN" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
d["person"]["v_number"] = sys.argv[3]
d["person"]["bsn"] = sys.argv[4]
json.dump(d, open(sys.argv[2], "w"))
EOF

# frames.py: read and rewrite the frames of an audit log (§17.1).
#   ls LOG                       one line per frame: n offset end type leaf|size
#   drop IN OUT LEAF...          without those record frames
#   swap IN OUT A B              records A and B change places
#   set IN OUT LEAF FIELD VALUE fix|nofix
#                                a top-level field of record LEAF set
#                                (varint: a number; bytes: a string), the
#                                frame check recomputed or left as it was
#   prune IN OUT LEAF            record LEAF replaced by a PRUNED frame
#   keep IN OUT N                the first N frames only
#   receipts IDS OIN             of the SignedReceipts (hex, one a line, on
#                                stdin) those of the messages in file IDS:
#                                "count carrying largest-tree origins-ok"
#                                (their checkpoints, PROTOCOL.md §17.6)
cat >"$T/frames.py" <<'EOF'
import hashlib, struct, sys
MAGIC = b"KETENAL\x01"

def load(path):
    d = open(path, "rb").read()
    assert d[:8] == MAGIC, "not an audit log"
    off, out, leaf = 8, [], 0
    while off < len(d):
        n = struct.unpack(">I", d[off:off + 4])[0]
        t, p = d[off + 4], d[off + 5:off + 4 + n]
        f = {"off": off, "end": off + 8 + n, "type": t, "payload": p,
             "check": d[off + 4 + n:off + 8 + n], "leaf": None}
        if t != 1:
            f["leaf"] = leaf
            leaf += 1
        out.append(f)
        off += 8 + n
    return out

def save(path, frames):
    with open(path, "wb") as o:
        o.write(MAGIC)
        for f in frames:
            body = bytes([f["type"]]) + f["payload"]
            check = f["check"] if f.get("nofix") else hashlib.sha256(body).digest()[:4]
            o.write(struct.pack(">I", len(body)) + body + check)

def rec(frames, leaf):
    for i, f in enumerate(frames):
        if f["type"] == 0 and f["leaf"] == leaf:
            return i
    sys.exit("no record %d" % leaf)

def varint(b, i):
    v = s = 0
    while True:
        c = b[i]; i += 1; v |= (c & 0x7F) << s; s += 7
        if c < 0x80:
            return v, i

def enc(v):
    out = b""
    while True:
        if v < 0x80:
            return out + bytes([v])
        out += bytes([v & 0x7F | 0x80]); v >>= 7

def each_field(p):
    """(start, field, wire type, value, end) of each field of message p;
    the value of a varint is its number, of a length-delimited field its
    bytes, of a fixed one its raw bytes."""
    i = 0
    while i < len(p):
        st = i
        key, i = varint(p, i)
        wt = key & 7
        if wt == 0:
            v, j = varint(p, i)
        elif wt == 2:
            n, i = varint(p, i); j = i + n; v = p[i:j]
        elif wt in (1, 5):
            j = i + (8 if wt == 1 else 4); v = p[i:j]
        else:
            sys.exit("wire type %d" % wt)
        yield st, key >> 3, wt, v, j
        i = j

def setfield(p, field, value):
    for st, f, wt, _, end in each_field(p):
        if f == field:
            new = enc(int(value)) if wt == 0 else enc(len(value)) + value.encode()
            return p[:st] + enc(field << 3 | wt) + new + p[end:]
    sys.exit("record has no field %d" % field)

def fields(p):
    return {f: v for _, f, _, v, _ in each_field(p)}

def receipts(ids, oin):
    ids, origin = set(open(ids).read().split()), "keten/audit/v1/" + oin
    got = carrying = size = 0
    ok = True
    for line in sys.stdin:
        r = fields(fields(bytes.fromhex(line.strip()))[1])
        if r[2].hex() not in ids:
            continue
        got += 1
        if 10 in r:
            carrying += 1
            note = r[10].decode().split("\n")
            ok = ok and note[0] == origin
            size = max(size, int(note[1]))
    print(got, carrying, size, ok)

cmd, a = sys.argv[1], sys.argv[2:]
if cmd == "receipts":
    receipts(a[0], a[1])
    sys.exit(0)
fr = load(a[0])
if cmd == "ls":
    for n, f in enumerate(fr):
        what = f["leaf"] if f["type"] != 1 else "size=" + f["payload"].split(b"\n")[1].decode()
        print(n, f["off"], f["end"], "RCP"[f["type"]], what)
    sys.exit(0)
out = a[1]
if cmd == "drop":
    gone = {rec(fr, int(x)) for x in a[2:]}
    fr = [f for i, f in enumerate(fr) if i not in gone]
elif cmd == "swap":
    i, j = rec(fr, int(a[2])), rec(fr, int(a[3]))
    fr[i], fr[j] = fr[j], fr[i]
elif cmd == "set":
    f = fr[rec(fr, int(a[2]))]
    f["payload"] = setfield(f["payload"], int(a[3]), a[4])
    f["nofix"] = a[5] == "nofix"
elif cmd == "prune":
    f = fr[rec(fr, int(a[2]))]
    leafhash = hashlib.sha256(b"\x00" + f["payload"]).digest()
    f["type"], f["payload"] = 2, struct.pack(">Q", f["leaf"]) + leafhash
elif cmd == "keep":
    fr = fr[:int(a[2])]
save(out, fr)
EOF
fr() { python3 "$T/frames.py" "$@"; }

# jq-less JSON: jget FILE EXPR evaluates EXPR on the JSON in FILE (as d),
# or on the list of JSON lines (as L) when the file holds several.
jget() {
	python3 -c '
import json, sys
t = open(sys.argv[1]).read()
try:
    d = json.loads(t); L = [d]
except ValueError:
    L = [json.loads(x) for x in t.splitlines() if x.strip()]; d = None
print(eval(sys.argv[2]))' "$@"
}

# =====================================================================
# 1. The exchange
# =====================================================================
for n in ind amsterdam relay ngo coa utrecht; do node_start "$n" || bad "start $n"; done

id1=$(kt ind send --kind DOSSIER_DELIVERY --to "$AMS" --case C-AUD-1 --purpose lvv-intake "$T/dossier.json")
TRACE=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
id2=$(kt ind send --kind CASE_EVENT --to "$AMS,$COA,$NGO" --case C-AUD-2 --purpose lvv-lso \
	--trace "00-$TRACE-00f067aa0ba902b7-01" "$EX/case_event.json")
# A refusal by mandate: IND's dossier mandate is for the intake only.
expect_out "a dossier for the case consultation is refused by mandate (WRONG_PURPOSE)" "WRONG_PURPOSE" \
	kt ind send --kind DOSSIER_DELIVERY --to "$AMS" --case C-AUD-3 --purpose lvv-lso "$EX/dossier.json"
# DT&V stays down: this one expires in IND's outbox.
id4=$(kt ind send --kind DOSSIER_DELIVERY --to "$DTV" --case C-AUD-4 --purpose lvv-intake --ttl 2s "$EX/dossier.json")
[ ${#id1} -eq 32 ] && [ ${#id2} -eq 32 ] && [ ${#id4} -eq 32 ] && ok "three messages queued" ||
	bad "send: '$id1' '$id2' '$id4'"
wait_for 10 delivered ind "$id1" "$AMS" && ok "the dossier is delivered to Amsterdam" || bad "dossier not delivered"
for r in "$AMS" "$COA" "$NGO"; do wait_for 10 delivered ind "$id2" "$r" || bad "case event not delivered to $r"; done
[ "$(state_of ind "$id2" "$NGO")" = delivered ] && ok "the case event is delivered to all three, the NGO through the relay" ||
	bad "case event: $(kt ind status "$id2")"
kt amsterdam subscribe --cursor zs --ack >"$T/ams.jsonl"
kt ngo subscribe --cursor zs --ack >"$T/ngo.jsonl"
grep -q "$id1" "$T/ams.jsonl" && grep -q "$id2" "$T/ams.jsonl" && grep -q "$id2" "$T/ngo.jsonl" &&
	ok "Amsterdam's and the NGO's subscribers fetch them" || bad "subscribers did not get the messages"
kill -HUP "${NODE_PID[ind]}"
wait_for 5 logged ind "reload: directory serial" && ok "IND reloads on SIGHUP" || bad "IND reload"
wait_for 15 expired ind "$id4" "$DTV" && ok "the dossier to DT&V (down) expires after its 2 s ttl" ||
	bad "not expired: $(kt ind status "$id4")"
# Utrecht's case system names a purpose and a mandate that hold numbers
# shaped like a BSN and a V-nummer; both are refused.  (The records of
# the refusals are looked at in 6.)
expect_out "a submission whose purpose holds a BSN-like number is refused" "WRONG_PURPOSE" \
	kt utrecht send --kind CASE_EVENT --to "$AMS" --case C-AUD-5 --purpose "lvv-$PROBE_BSN" "$EX/case_event.json"
expect_out "a submission naming a V-nummer-like mandate is refused" "NO_MANDATE" \
	kt utrecht send --kind CASE_EVENT --to "$AMS" --case C-AUD-6 --purpose lvv-lso --mandate "$OTHER_VNR" "$EX/case_event.json"
NODES=(ind amsterdam relay ngo coa)
stopped=0
for n in "${NODES[@]}" utrecht; do node_stop "$n" && stopped=$((stopped + 1)); done
[ $stopped -eq 6 ] && ok "every node stops cleanly" || bad "only $stopped of 6 nodes stopped with 0"

# The auditor's copies, logs and keys.
for n in "${NODES[@]}" utrecht; do
	cp "$NET/state/$n/audit.log" "$A/$n.log"
	cp "$NET/state/$n/audit.keys" "$A/$n.keys"
done

# =====================================================================
# 2. Verify, events, no identifiers in the clear
# =====================================================================
for n in "${NODES[@]}"; do
	expect_rc 0 "$n's log verifies against the directory's key" keten audit verify "${TRUST[@]}" "$A/$n.log"
	keten audit verify "${TRUST[@]}" --json "$A/$n.log" >"$A/$n.verify.json" 2>&1
	v=$(jget "$A/$n.verify.json" 'd["result"], d["node"], d["keys_from_log"], d["records"] > 0, d["covered"] == d["records"], d["problems"]' 2>&1)
	[ "$v" = "('verified', '$(oin_of "$n")', False, True, True, [])" ] &&
		ok "... --json says verified, of $n, by a trusted key, every record covered" || bad "$n --json: $v"
	keten audit export --jsonl "$A/$n.log" >"$A/$n.jsonl" 2>"$A/$n.export.err"
done

# event_in SLUG EVENT [FILTER...]: query finds it, and the export has it.
event_in() {
	local slug=$1 ev=$2
	shift 2
	keten audit query --event "$ev" --json "$@" "$A/$slug.log" >"$T/q.jsonl" 2>&1
	if [ -s "$T/q.jsonl" ] && [ "$(jget "$T/q.jsonl" 'all(r["event"] == "'"$ev"'" for r in L)')" = True ] &&
		grep -q "\"event\":\"$ev\"" "$A/$slug.jsonl"; then
		ok "$slug's log has $ev ($(wc -l <"$T/q.jsonl") record(s)) $*"
	else
		bad "$slug's log lacks $ev $*"; head -3 "$T/q.jsonl"
	fi
}
for n in "${NODES[@]}"; do
	[ "$(jget "$A/$n.jsonl" 'L[0]["event"], L[-1]["event"], [r["index"] for r in L] == list(range(len(L)))')" = \
		"('LOG_START', 'LOG_STOP', True)" ] && ok "$n's export: LOG_START first, LOG_STOP last, indexes 0..n-1" ||
		bad "$n's export: $(head -c 300 "$A/$n.jsonl")"
done
event_in ind SUBMIT --msg-id "$id1"
event_in ind SUBMIT --decision deny
[ "$(keten audit query --event SUBMIT --decision deny --json "$A/ind.log" | jget /dev/stdin 'L[0]["reason"], L[0]["mandate_id"], L[0]["purpose"]')" = \
	"('WRONG_PURPOSE', 'dev-ind-dossier', 'lvv-lso')" ] &&
	ok "... the refusal names the reason, the mandate and the purpose" || bad "refusal record"
event_in ind SEND --msg-id "$id2"
[ "$(keten audit query --event SEND --msg-id "$id2" --json "$A/ind.log" | jget /dev/stdin 'sorted(r["peer"] for r in L)')" = \
	"$(python3 -c 'import sys; print(sorted(sys.argv[1:]))' "$AMS" "$COA" "$RELAY")" ] &&
	ok "... one SEND of the case event per next hop: Amsterdam, COA, the relay" || bad "SEND peers of the case event"
event_in ind RECEIPT --msg-id "$id2"
event_in ind WITNESS
event_in ind CONFIG
event_in ind EXPIRE --msg-id "$id4"
event_in relay RELAY --msg-id "$id2" --party "$NGO"
event_in amsterdam RECEIVE --msg-id "$id1"
event_in amsterdam DELIVER --msg-id "$id1"
event_in coa RECEIVE --msg-id "$id2"
event_in ngo RECEIVE --msg-id "$id2"
event_in ngo DELIVER --msg-id "$id2"
[ "$(jget "$A/relay.jsonl" 'any("subject" in r for r in L)')" = False ] &&
	ok "the relay, which cannot read the payload, records no subject" || bad "the relay recorded a subject"
cat "$A"/*.export.err >"$T/export.err"
[ ! -s "$T/export.err" ] && ok "every export reads without a warning" || { bad "export warnings"; cat "$T/export.err"; }

# No V-nummer or BSN in the clear: not in a log, an export, or a node's
# own log lines.  The example payloads' V-nummers are looked for too.
leaked=""
for id in "$VNR" "$BSN" 3012345678 3055544433; do
	for f in "$NET"/state/*/audit.log "$A"/*.jsonl; do
		grep -qaF -- "$id" "$f" && leaked="$leaked $id:${f#"$T"/}"
	done
done
[ -z "$leaked" ] && ok "no V-nummer or BSN of a payload in any log or export" || bad "in the clear:$leaked"
leaked=""
for id in "$VNR" "$BSN"; do
	for n in "${NODES[@]}" utrecht; do grep -qF -- "$id" "$T/$n.log" && leaked="$leaked $id:$n"; done
done
[ -z "$leaked" ] && ok "... nor in the nodes' own log lines" || bad "node log lines hold:$leaked"

# =====================================================================
# 3. The trace
# =====================================================================
for n in ind relay amsterdam coa ngo; do keten audit query --trace "$TRACE" --json "$A/$n.log" >"$A/$n.trace"; done
python3 - "$A" "$id2" <<'EOF' >"$T/trace.out" 2>&1
import json, sys
A, mid = sys.argv[1], sys.argv[2]
hops = {}
for n in ["ind", "relay", "amsterdam", "coa", "ngo"]:
    hops[n] = [json.loads(l) for l in open(f"{A}/{n}.trace")]
ids = {r.get("msg_id") for L in hops.values() for r in L}
eh = {r["envelope_hash"] for L in hops.values() for r in L if "envelope_hash" in r}
withhash = {n for n, L in hops.items() if any("envelope_hash" in r for r in L)}
events = {n: sorted({r["event"] for r in L}) for n, L in hops.items()}
print(events)
ok = ids == {mid} and len(eh) == 1 and withhash == set(hops) and all(hops.values())
sys.exit(0 if ok else 1)
EOF
if [ $? -eq 0 ]; then ok "one trace id finds the case event at IND, the relay and the three recipients, with one envelope hash"
else bad "trace"; cat "$T/trace.out"; fi
sed 's/^/# trace: /' "$T/trace.out"

# =====================================================================
# 4. Subject access
# =====================================================================
# subject SLUG KEYS ID: the record indexes `keten audit subject` lists.
# The dossier's person has a V-nummer and a BSN: each event about it is
# recorded once per identifier (§17.3), and each identifier finds its own
# records plus the dossier's records without a subject (a receipt's).
for n in ind amsterdam; do
	keten audit query --msg-id "$id1" --json "$A/$n.log" >"$T/m.jsonl"
	keten audit subject --keys "$A/$n.keys" --json "$A/$n.log" "$VNR" >"$T/sv.jsonl"
	keten audit subject --keys "$A/$n.keys" --json "$A/$n.log" "$BSN" >"$T/sb.jsonl"
	python3 - "$T/m.jsonl" "$T/sv.jsonl" "$T/sb.jsonl" >"$T/subj.out" <<'EOF2'
import json, sys
M, V, B = ({json.loads(l)["index"]: json.loads(l) for l in open(f)} for f in sys.argv[1:4])
nosub = {i for i, r in M.items() if "subject" not in r}
ev = lambda S: sorted(M[i]["event"] for i in set(S) - nosub)
print("V-nummer", sorted(V), "BSN", sorted(B), "the dossier's records", sorted(M), "without a subject", sorted(nosub))
ok = (set(V) | set(B)) == set(M) and (set(V) & set(B)) == nosub and ev(V) and ev(V) == ev(B)
sys.exit(0 if ok else 1)
EOF2
	if [ $? -eq 0 ]; then ok "$n: the V-nummer and the BSN each find their records of the dossier ($(cat "$T/subj.out"))"
	else bad "$n: subject access: $(cat "$T/subj.out")"; fi
	keten audit subject --keys "$A/$n.keys" --json "$A/$n.log" "$VNR" >"$T/subj.before"
	expect_out "$n: keten audit index builds the subject index" "with a subject" \
		keten audit index --keys "$A/$n.keys" "$A/$n.log"
	keten audit subject --keys "$A/$n.keys" --json "$A/$n.log" "$VNR" >"$T/subj.after" 2>"$T/subj.err"
	cmp -s "$T/subj.before" "$T/subj.after" && [ ! -s "$T/subj.err" ] &&
		ok "$n: with the index the same records" || { bad "$n: index changes the answer"; diff "$T/subj.before" "$T/subj.after"; cat "$T/subj.err"; }
	expect_out "$n: ... and the index is used" "(subject index used)" \
		keten audit subject --keys "$A/$n.keys" "$A/$n.log" "$VNR"
	expect_out "$n: another V-nummer finds 0 records" "0 record(s) about this person" \
		keten audit subject --keys "$A/$n.keys" "$A/$n.log" "$OTHER_VNR"
done
# A PRUNED frame of the wrong length (whole, with its check) at the end of
# a copy: the index is not built from it (it would read past the frame).
cp "$A/ind.log" "$T/badprune.log"
python3 - "$T/badprune.log" <<'EOF'
import hashlib, struct, sys
body = bytes([0x02]) + bytes(9)
open(sys.argv[1], "ab").write(struct.pack(">I", len(body)) + body + hashlib.sha256(body).digest()[:4])
EOF
expect_rc 1 "an index is not built over a PRUNED frame of the wrong length" \
	keten audit index --keys "$A/ind.keys" "$T/badprune.log"
expect_out "Amsterdam's keys find nothing in IND's log: pseudonyms do not link across organisations" \
	"0 record(s) about this person" keten audit subject --keys "$A/amsterdam.keys" "$A/ind.log" "$VNR"
expect_out "... nor IND's in Amsterdam's" "0 record(s) about this person" \
	keten audit subject --keys "$A/ind.keys" "$A/amsterdam.log" "$VNR"
# a stale index is not trusted: the index of a longer log over a shorter copy
cp "$A/amsterdam.log.idx" "$T/stale.idx"
fr keep "$A/amsterdam.log" "$T/short.log" 2 && cp "$T/stale.idx" "$T/short.log.idx"
expect_out "a stale subject index is noticed and the whole log read" "stale, altered" \
	keten audit subject --keys "$A/amsterdam.keys" "$T/short.log" "$VNR"
# nor an altered one (an entry taken out, its count made to match), nor one
# built with keys that lacked a period these have: the whole log answers
keten audit subject --keys "$A/amsterdam.keys" --json "$A/amsterdam.log" "$VNR" >"$T/subj.idx" 2>/dev/null
cp "$A/amsterdam.log" "$T/alt.log"
python3 - "$A/amsterdam.log.idx" "$T/alt.log.idx" <<'EOF'
import struct, sys
p = open(sys.argv[1], "rb").read()
n = struct.unpack(">Q", p[96:104])[0]
open(sys.argv[2], "wb").write(p[:96] + struct.pack(">Q", n - 1) + p[120:])
EOF
expect_out "a subject index with an entry taken out is noticed" "stale, altered" \
	keten audit subject --keys "$A/amsterdam.keys" "$T/alt.log" "$VNR"
keten audit subject --keys "$A/amsterdam.keys" --json "$T/alt.log" "$VNR" >"$T/subj.alt" 2>/dev/null
cmp -s "$T/subj.idx" "$T/subj.alt" && ok "... and the answer is whole" || { bad "altered index answer"; diff "$T/subj.idx" "$T/subj.alt"; }
grep -v '^period ' "$A/amsterdam.keys" >"$T/noperiod.keys"
keten audit index --keys "$T/noperiod.keys" "$T/alt.log" >/dev/null 2>&1
expect_out "an index built with keys that lacked a period is not used with keys that have it" \
	"built with other keys" keten audit subject --keys "$A/amsterdam.keys" "$T/alt.log" "$VNR"
keten audit subject --keys "$A/amsterdam.keys" --json "$T/alt.log" "$VNR" >"$T/subj.alt" 2>/dev/null
[ -s "$T/subj.idx" ] && cmp -s "$T/subj.idx" "$T/subj.alt" && ok "... and the answer is whole" ||
	{ bad "other-keys index answer"; diff "$T/subj.idx" "$T/subj.alt"; }
grep -qaF -- "$VNR" "$A"/*.idx &&
	bad "an index holds the V-nummer" || ok "no index holds the V-nummer"

# =====================================================================
# 5. Reconcile
# =====================================================================
expect_out "reconcile IND -> Amsterdam: 0 missing, witnessed checkpoints consistent" "; 0 missing; " \
	keten audit reconcile "$A/ind.log" "$A/amsterdam.log"
expect_rc 0 "... exit 0" keten audit reconcile "$A/ind.log" "$A/amsterdam.log"
expect_rc 0 "reconcile IND -> relay: exit 0" keten audit reconcile "$A/ind.log" "$A/relay.log"
expect_rc 0 "reconcile relay -> NGO: exit 0" keten audit reconcile "$A/relay.log" "$A/ngo.log"
rx=$(keten audit query --event RECEIVE --msg-id "$id1" --json "$A/amsterdam.log" | jget /dev/stdin '" ".join(str(r["index"]) for r in L)')
# shellcheck disable=SC2086
fr drop "$A/amsterdam.log" "$T/ams-norx.log" $rx
keten audit reconcile "$A/ind.log" "$T/ams-norx.log" >"$T/rec.out" 2>&1
rc=$?
[ $rc -ne 0 ] && grep -q "MISSING: .*$id1" "$T/rec.out" &&
	ok "without Amsterdam's RECEIVE records ($rx) reconcile names the dossier (exit $rc)" ||
	{ bad "reconcile without the RECEIVE: exit $rc"; cat "$T/rec.out"; }
sed 's/^/# /' "$T/rec.out"

# =====================================================================
# 6. Tampering, each on a fresh copy
# =====================================================================
# tamper NAME CODE TEXT FILE [verify options]: verify FILE exits CODE and
# says TEXT.
tamper() {
	local name=$1 want=$2 text=$3 f=$4 rc
	shift 4
	keten audit verify "${TRUST[@]}" "$@" "$f" >"$T/v.out" 2>&1
	rc=$?
	if [ $rc -eq "$want" ] && grep -qF -- "$text" "$T/v.out"; then ok "$name: exit $rc, \"$text\""
	else bad "$name (exit $rc, expected $want and \"$text\")"; sed 's/^/    /' "$T/v.out"; fi
}
deny=$(keten audit query --event SUBMIT --decision deny --json "$A/ind.log" | jget /dev/stdin 'L[0]["index"]')
L=$A/ind.log
C=$T/c.log
fr set "$L" "$C" "$deny" 14 1 nofix	# the refusal made an ALLOW, check left
tamper "a refusal turned into an allow" 3 "was altered" "$C"
fr set "$L" "$C" "$deny" 14 1 fix	# ... and the frame check fixed up
tamper "... with the frame check fixed up" 3 "do not match the checkpoint" "$C"
fr drop "$L" "$C" "$deny"
tamper "the refusal deleted" 3 "records were deleted, inserted or reordered" "$C"
fr swap "$L" "$C" 1 2
tamper "two records swapped" 3 "records were deleted, inserted or reordered" "$C"
read -r _ off end _ < <(fr ls "$L" | tail -1)
cp "$L" "$C"; truncate -s $(((off + end) / 2)) "$C"
tamper "cut in the middle of the last frame" 4 "torn write" "$C"
cp "$L" "$C"; head -c 4096 /dev/zero >>"$C"
tamper "a zero-filled tail (the file grew, its data never reached the disk)" 4 "torn write" "$C"
cp "$L" "$C"; dd if=/dev/zero of="$C" bs=1 seek="$off" count=$((end - off)) conv=notrunc 2>/dev/null
tamper "the last frame zeroed" 4 "torn write" "$C"
cp "$L" "$C"; printf '\001' | dd of="$C" bs=1 seek=$(((off + end) / 2)) conv=notrunc 2>/dev/null
tamper "a byte of the last frame (a checkpoint) altered, with no mark of a crash" 3 "was altered" "$C"
expect_rc 3 "reconcile on that log: tampering too" keten audit reconcile "$C" "$L"
keys17=$(printf '%064d,' $(seq 1 17))
expect_rc 2 "verify --key with 17 keys: a usage error, none dropped unsaid" \
	keten audit verify --key "${keys17%,}" "$L"
cp "$L" "$C"; truncate -s $(((off + end) / 2)) "$C"
keten audit query "$C" >"$T/q.out" 2>&1
grep -q "torn write" "$T/q.out" && grep -q "record(s)" "$T/q.out" &&
	ok "query reads a torn log up to the tear, and says so" || { bad "query on a torn log"; cat "$T/q.out"; }

# Policy: a raw BSN in a record.  In a record a checkpoint covers, the
# root no longer matches either, and tampering wins (3); the policy
# problem is still named.
cfg=$(keten audit query --event CONFIG --json "$L" | jget /dev/stdin 'L[0]["index"]')
fr set "$L" "$C" "$cfg" 25 "reload: BSN $BSN" fix
tamper "a BSN planted in a covered record: tampering wins" 3 "looks like a raw BSN or V-nummer" "$C"
grep -q "^TAMPERED: " "$T/v.out" && ok "... and the tampering is named too" || bad "planted BSN: no TAMPERED line"
# After the last checkpoint a record is not yet covered: with the log cut
# right after the CONFIG record, only the policy check can object (5).
n=$(fr ls "$L" | awk -v l="$cfg" '$4 == "R" && $5 == l { print $1 + 1 }')
fr keep "$L" "$T/cut.log" "$n"
tamper "the log cut right after its CONFIG record (not yet covered) still verifies" 0 "not yet covered" "$T/cut.log"
fr set "$T/cut.log" "$C" "$cfg" 25 "reload: BSN $BSN" fix
tamper "a BSN planted in a record no checkpoint covers yet: a policy violation" 5 "looks like a raw BSN or V-nummer" "$C"
fr set "$T/cut.log" "$C" "$cfg" 25 "reload: V-nummer $VNR" fix
tamper "... a V-nummer likewise" 5 "POLICY VIOLATION" "$C"
# The node itself must not write one: Utrecht's refused submissions named
# a purpose and a mandate shaped like a BSN and a V-nummer.
keten audit verify "${TRUST[@]}" "$A/utrecht.log" >"$T/v.out" 2>&1
rc=$?
[ $rc -eq 0 ] && ok "the node keeps BSN/V-nummer-shaped input (purpose, mandate id) out of its log" ||
	{ bad "Utrecht's own log fails verify with exit $rc: the node wrote a local system's input verbatim"
	  sed 's/^/    /' "$T/v.out"
	  keten audit query --event SUBMIT --json "$A/utrecht.log" | grep -o '"purpose":"[^"]*"\|"mandate_id":"[^"]*"' | sed 's/^/    /'; }

# Truncated at a frame boundary: alone it still verifies (every frame and
# the last checkpoint left are sound); IND's WITNESS records hold later
# checkpoints of Amsterdam's log.
n=$(fr ls "$A/amsterdam.log" | awk '$4 == "C" { print $1 + 1; exit }')
fr keep "$A/amsterdam.log" "$C" "$n"
tamper "Amsterdam's log cut after its first checkpoint verifies alone" 0 "verified" "$C"
tamper "... not against the checkpoints IND witnessed" 3 "truncated or rolled back" "$C" --witness "$A/ind.log"
tamper "the whole log against them" 0 "checkpoint(s) from elsewhere checked" "$A/amsterdam.log" --witness "$A/ind.log"
expect_rc 3 "reconcile finds the cut log too" keten audit reconcile "$A/ind.log" "$C"
# Another node's log passed off as Amsterdam's.
tamper "IND's log verified as Amsterdam's (--oin)" 3 "belongs to the log of node $IND, not $AMS" "$A/ind.log" --oin "$AMS"
tamper "... its key is not Amsterdam's" 3 "not among the trusted keys" "$A/ind.log" --oin "$AMS"
# A body removed without a PRUNE record: the tree still matches.
fr prune "$A/amsterdam.log" "$C" 1
tamper "a record's body replaced by a PRUNED frame without a PRUNE record" 3 "without a pruning record" "$C"
grep -q "do not match the checkpoint" "$T/v.out" && bad "... a PRUNED frame broke the tree" ||
	ok "... while every checkpoint still matches (the leaf hash stands in)"
# Verify without a trusted key uses the log's own and says so.
expect_out "without --key or --directory verify says it proves consistency, not who wrote it" \
	"proves consistency, not who wrote it" keten audit verify "$A/ind.log"
expect_rc 1 "verify of something that is not an audit log: exit 1" keten audit verify "$T/dossier.json"
expect_rc 2 "verify without a log: exit 2 (usage)" keten audit verify

# =====================================================================
# 8. Proofs
# =====================================================================
sidx=$(keten audit query --event SEND --msg-id "$id1" --json "$L" | jget /dev/stdin 'L[0]["index"]')
keten audit prove --index "$sidx" "$L" >"$T/p.json"
expect_rc 0 "an inclusion proof of IND's SEND of the dossier verifies" keten audit check-proof "$T/p.json"
[ "$(jget "$T/p.json" 'd["root"], d["leaf_hash"], d["tree_size"]')" = \
	"$(python3 -c 'import json,sys; v=json.load(open(sys.argv[1])); e=[json.loads(l) for l in open(sys.argv[2])]; print((v["root"], e[int(sys.argv[3])]["leaf_hash"], v["records"]))' \
	"$A/ind.verify.json" "$A/ind.jsonl" "$sidx")" ] &&
	ok "... for the root verify reports and the leaf hash the export shows" || bad "proof root/leaf: $(head -c 300 "$T/p.json")"
# flip HEXKEY FILE OUT: the first hex digit of that hash changed
flip() {
	python3 - "$@" <<'EOF'
import json, sys
k, src, dst = sys.argv[1:4]
d = json.load(open(src))
h = d[k][0] if isinstance(d[k], list) else d[k]
h = ("0" if h[0] != "0" else "1") + h[1:]
if isinstance(d[k], list): d[k][0] = h
else: d[k] = h
json.dump(d, open(dst, "w"))
EOF
}
flip proof "$T/p.json" "$T/p2.json"
expect_rc 3 "... a hash of the path altered: exit 3" keten audit check-proof "$T/p2.json"
expect_out "... and it says so" "does NOT verify" keten audit check-proof "$T/p2.json"
flip leaf_hash "$T/p.json" "$T/p2.json"
expect_rc 3 "... the leaf hash altered: exit 3" keten audit check-proof "$T/p2.json"
# --key checks the checkpoint's signature: with IND's key it verifies; a
# proof stripped of its checkpoint has no signature to check
ikey=$(keten audit query --event LOG_START --json "$L" | jget /dev/stdin 'L[0]["key"]')
expect_rc 0 "... and with --key, against a checkpoint IND signed" keten audit check-proof --key "$ikey" "$T/p.json"
okey=$( [ "${ikey:0:1}" = 0 ] && echo "1${ikey:1}" || echo "0${ikey:1}" )
expect_rc 3 "... with another key: exit 3" keten audit check-proof --key "$okey" "$T/p.json"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d.pop("checkpoint"); json.dump(d, open(sys.argv[2], "w"))' \
	"$T/p.json" "$T/p2.json"
expect_rc 3 "... without a checkpoint, --key cannot pass: exit 3" keten audit check-proof --key "$ikey" "$T/p2.json"
keten audit prove --from 5 "$L" >"$T/c.json"
expect_rc 0 "a consistency proof from size 5 verifies" keten audit check-proof "$T/c.json"
flip proof "$T/c.json" "$T/c2.json"
expect_rc 3 "... a hash of it altered: exit 3" keten audit check-proof "$T/c2.json"
flip old_root "$T/c.json" "$T/c2.json"
expect_rc 3 "... the old root altered: exit 3" keten audit check-proof "$T/c2.json"
# The checkpoint of Amsterdam's log that IND witnessed is a prefix of it.
w=$(keten audit query --event WITNESS --party "$AMS" --json "$L" | jget /dev/stdin 'L[-1]["checkpoint"].split("\n")[1] + " " + __import__("base64").b64decode(L[-1]["checkpoint"].split("\n")[2]).hex()')
keten audit prove --from "${w%% *}" "$A/amsterdam.log" >"$T/c.json"
[ "$(jget "$T/c.json" 'd["old_root"]')" = "${w#* }" ] && keten audit check-proof "$T/c.json" >/dev/null &&
	ok "Amsterdam's log proves consistent with the checkpoint IND witnessed (size ${w%% *})" ||
	bad "witnessed checkpoint ${w}: $(head -c 300 "$T/c.json")"
expect_rc 2 "prove --index past the end: exit 2" keten audit prove --index 100000 "$L"

# =====================================================================
# 7. kill -9 of the receiver while messages flow
# =====================================================================
node_start ind || bad "restart ind"
# delivered_of SLUG IDS RCPT: how many of the messages in file IDS SLUG
# sees delivered to RCPT, each waited for up to 20 s.
delivered_of() {
	local n=0 id
	while read -r id; do wait_for 20 delivered "$1" "$id" "$3" && n=$((n + 1)); done <"$2"
	echo $n
}
# held_receipts SLUG IDS RCPT: of the receipts from RCPT that SLUG holds,
# those of the messages in file IDS, as frames.py receipts says them.
held_receipts() {
	sql "$NET/state/$1/node.db" "SELECT hex(receipt) FROM outbox_rcpt WHERE rcpt = '$3' AND receipt IS NOT NULL" |
		python3 "$T/frames.py" receipts "$2" "$3"
}
# First a batch (PROTOCOL.md §17.6): IND queues messages for Amsterdam
# while it is down and sends them when it is back; the receipts of one
# batch share one checkpoint, carried by the first of them to IND.
BATCH=20
for i in $(seq 1 $BATCH); do
	kt ind send --kind CASE_EVENT --to "$AMS" --case "C-B-$i" --purpose lvv-lso "$EX/case_event.json" \
		>>"$T/batch.ids" 2>>"$T/send.err"
done
node_start amsterdam || bad "restart amsterdam"
n=$(delivered_of ind "$T/batch.ids" "$AMS")
[ $n -eq $BATCH ] && ok "a batch of $BATCH queued while Amsterdam was down is delivered" ||
	bad "only $n of $BATCH delivered"
rcpt=$(held_receipts ind "$T/batch.ids" "$AMS")
read -r got carriers cp_size origins <<<"$rcpt"
[ "$got" = $BATCH ] && [ "$origins" = True ] && [ "$carriers" -ge 1 ] && [ "$carriers" -lt $BATCH ] &&
	ok "IND holds the $BATCH receipts; Amsterdam's checkpoint came with $carriers of them" ||
	bad "receipts of the batch: $rcpt (receipts, carriers, largest tree, origins)"
# The same behind a relay: IND and COA queue case events for the NGO,
# which is down, at its relay; when it is back the relay forwards them
# together, and the NGO's receipts go back through the relay.  All come
# from one hop, so a checkpoint is carried per hop and original sender:
# each sender gets one with its receipts.
node_start relay || bad "restart relay"
node_start coa || bad "restart coa"
RB=10
for i in $(seq 1 $RB); do
	kt ind send --kind CASE_EVENT --to "$NGO" --case "C-RB-I$i" --purpose lvv-lso "$EX/case_event.json" \
		>>"$T/rb.ind" 2>>"$T/send.err"
	kt coa send --kind CASE_EVENT --to "$NGO" --case "C-RB-C$i" --purpose lvv-lso "$EX/case_event.json" \
		>>"$T/rb.coa" 2>>"$T/send.err"
done
relay_holds() {
	[ "$(sql "$NET/state/relay/node.db" "SELECT count(*) FROM relay WHERE rcpt = '$NGO' AND state = 0")" = $((2 * RB)) ]
}
wait_for 20 relay_holds && ok "the relay holds the $((2 * RB)) case events of IND and COA for the NGO, which is down" ||
	bad "the relay holds $(sql "$NET/state/relay/node.db" "SELECT count(*) FROM relay WHERE rcpt = '$NGO'") for the NGO"
node_start ngo || bad "restart ngo"
n=$(($(delivered_of ind "$T/rb.ind" "$NGO") + $(delivered_of coa "$T/rb.coa" "$NGO")))
[ $n -eq $((2 * RB)) ] && ok "all $n are delivered through the relay when the NGO is back" ||
	bad "only $n of $((2 * RB)) delivered through the relay"
for s in ind coa; do
	# names of their own: cp_size of the batch to Amsterdam is read at 7's end
	rb=$(held_receipts "$s" "$T/rb.$s" "$NGO")
	read -r rb_got rb_carriers _ rb_origins <<<"$rb"
	[ "$rb_got" = $RB ] && [ "$rb_origins" = True ] && [ "$rb_carriers" -ge 1 ] &&
		ok "$s holds its $RB receipts from behind the relay; the NGO's checkpoint came with $rb_carriers of them" ||
		bad "$s, receipts through the relay: $rb (receipts, carriers, largest tree, origins)"
done
stopped=0
for n in ngo coa relay; do node_stop "$n" && stopped=$((stopped + 1)); done
[ $stopped -eq 3 ] || bad "only $stopped of the NGO, COA and the relay stopped cleanly"
submitter() {
	local k=$1 i
	for i in $(seq "$k" 3 "$MESSAGES"); do
		kt ind send --kind CASE_EVENT --to "$AMS" --case "C-K-$i" --purpose lvv-lso "$EX/case_event.json" \
			>>"$T/ids.$k" 2>>"$T/send.err"
	done
}
SUBM=()
for k in 1 2 3; do submitter "$k" & SUBM+=($!); done
CLEANUP+=("kill ${SUBM[*]}")
sleep 0.8
node_kill amsterdam
cp "$NET/state/amsterdam/audit.log" "$T/crash1.log"
keten audit verify "${TRUST[@]}" "$T/crash1.log" >"$T/v.out" 2>&1
rc=$?
[ $rc -eq 0 ] || [ $rc -eq 4 ] && ok "the log as kill -9 left it ($(fr ls "$T/crash1.log" | grep -c ' R ') records) verifies (exit $rc: $(tail -1 "$T/v.out"))" ||
	{ bad "log after kill -9: exit $rc"; sed 's/^/    /' "$T/v.out"; }
mark=$(wc -l <"$T/amsterdam.log")
node_start amsterdam || bad "restart amsterdam after kill -9"
tail -n +"$mark" "$T/amsterdam.log" | grep -q "torn write" && echo "# restart 1: the node cut a torn tail" ||
	echo "# restart 1: no torn tail to cut (a killed process leaves whole writes)"
sleep 0.6
node_kill amsterdam
# A crash mid-append: the first half of the first frame of the write the
# crash cut short.  The node writes the file from frames its store has
# already committed, so if the store holds frames past the file's end, the
# write carried those; if not, a copy of the last frame stands in for it.
size=$(stat -c %s "$NET/state/amsterdam/audit.log")
# (A row with len holds its frames LZ4-compressed, len bytes before.)
sqlite3 "$NET/state/amsterdam/node.db" \
	"SELECT off, hex(frames), coalesce(len, -1) FROM audit_frames
	 WHERE off + coalesce(len, length(frames)) > $size ORDER BY off" |
	python3 -c '
import ctypes, sys
lz4 = ctypes.CDLL("liblz4.so.1")
def frames_of(hexed, n):
    b = bytes.fromhex(hexed)
    if n < 0:
        return b
    out = ctypes.create_string_buffer(n)
    if lz4.LZ4_decompress_safe(b, out, len(b), n) != n:
        sys.exit("a row of audit_frames does not decompress")
    return out.raw
size, ahead = int(sys.argv[1]), b""
for line in sys.stdin:
    off, hexed, n = line.strip().split("|")
    b = frames_of(hexed, int(n))
    if int(off) <= size + len(ahead):
        ahead += b[size + len(ahead) - int(off):]
# half of the first frame: never a whole one (a whole frame appended to a
# log is a copy of a record, which verify reports as tampering)
if len(ahead) >= 8:
    ahead = ahead[:min(len(ahead), int.from_bytes(ahead[:4], "big") + 8)]
sys.stdout.buffer.write(ahead[:len(ahead) // 2])' "$size" >"$T/tail"
if [ -s "$T/tail" ]; then
	ahead=1
	echo "# the store holds frames the file had not received; the torn write is half of the first ($(stat -c %s "$T/tail") bytes)"
else
	ahead=0
	read -r _ off end _ < <(fr ls "$NET/state/amsterdam/audit.log" | tail -1)
	head -c $(((off + end) / 2)) "$NET/state/amsterdam/audit.log" | tail -c +$((off + 1)) >"$T/tail"
fi
torn=$(stat -c %s "$T/tail")
cat "$T/tail" >>"$NET/state/amsterdam/audit.log"
cp "$NET/state/amsterdam/audit.log" "$T/crash2.log"
tamper "the log with a torn append (before the restart)" 4 "torn write" "$T/crash2.log"
# What a power cut leaves when the file's new size reached the disk but
# only the first page of the write did: part of a frame, then zeros.
{ cat "$T/crash2.log"; head -c 4096 /dev/zero; } >"$T/crash3.log"
tamper "part of a frame followed by zeros (a write torn at a page boundary)" 4 "torn write" "$T/crash3.log"
mark=$(wc -l <"$T/amsterdam.log")
node_start amsterdam || bad "restart amsterdam after the torn append"
if [ $ahead = 1 ]; then
	tail -n +"$mark" "$T/amsterdam.log" | grep -q "bytes of records a crash kept from the file were put back" &&
		ok "at the restart the node completes the torn write from its store" ||
		{ bad "no put-back message"; tail -n +"$mark" "$T/amsterdam.log" | grep audit; }
else
	tail -n +"$mark" "$T/amsterdam.log" | grep -q "ended in a torn write ($torn bytes, from a crash); cut off" &&
		ok "at the restart the node says it cut the torn tail ($torn bytes)" ||
		{ bad "no torn-tail message"; tail -n +"$mark" "$T/amsterdam.log" | grep audit; }
fi
wait "${SUBM[@]}"
sent=$(cat "$T"/ids.* | wc -l)
[ "$sent" -ge $((MESSAGES * 9 / 10)) ] && ok "$sent of $MESSAGES submits acknowledged" || bad "only $sent of $MESSAGES acknowledged"
undelivered() {
	sqlite3 -cmd ".timeout 5000" "$NET/state/ind/node.db" "SELECT count(*) FROM outbox_rcpt WHERE state <> 3"
}
wait_for 30 bash -c "[ \$(sqlite3 -cmd '.timeout 5000' $NET/state/ind/node.db 'SELECT count(*) FROM outbox_rcpt WHERE state NOT IN (3, 5)') -eq 0 ]" &&
	ok "every message reached Amsterdam" || bad "$(undelivered) destinations without a receipt"
node_stop amsterdam || bad "amsterdam did not stop cleanly"
node_stop ind || bad "ind did not stop cleanly"
cp "$NET/state/amsterdam/audit.log" "$A/ams2.log"
cp "$NET/state/ind/audit.log" "$A/ind2.log"
tamper "Amsterdam's live log after the crashes verifies" 0 "verified" "$A/ams2.log"
tamper "IND's live log verifies" 0 "verified" "$A/ind2.log"
starts=$(keten audit query --event LOG_START "$A/ams2.log" | tail -1)
[ "$starts" = "4 record(s)" ] && ok "Amsterdam's log holds its four starts ($starts)" || bad "LOG_START: $starts"
keten audit reconcile "$A/ind2.log" "$A/ams2.log" >"$T/rec.out" 2>&1
rc=$?
[ $rc -eq 0 ] && grep -q "; 0 missing; .*: consistent" "$T/rec.out" &&
	ok "reconcile after the crashes: every SEND has its RECEIVE, the witnessed checkpoints agree" ||
	{ bad "reconcile after the crashes: exit $rc"; sed 's/^/    /' "$T/rec.out" | tail -5; }
keten audit query --event RECEIVE --json "$A/ams2.log" >"$T/rx.jsonl"
got=$(python3 -c '
import json, sys
rx = {json.loads(l)["msg_id"] for l in open(sys.argv[1])}
acked = set(open(sys.argv[2]).read().split())
print(len(acked - rx))' "$T/rx.jsonl" <(cat "$T"/ids.*))
[ "$got" = 0 ] && ok "Amsterdam's log has a RECEIVE of every one of the $sent acknowledged messages" ||
	bad "$got acknowledged messages have no RECEIVE in Amsterdam's log"
last=$(python3 -c '
import json, sys
ids = set(open(sys.argv[2]).read().split())
print(max(json.loads(l)["index"] for l in open(sys.argv[1]) if json.loads(l)["msg_id"] in ids))' \
	"$T/rx.jsonl" "$T/batch.ids")
[ -n "$last" ] && [ "${cp_size:-0}" -gt "$last" ] &&
	ok "the checkpoint the batch's receipts carried covers all their RECEIVE records (tree size $cp_size, last at $last)" ||
	bad "the batch's RECEIVE records end at ${last:-?}; the receipts carried a tree of ${cp_size:-?}"

# The same at a restart: the node should cut it, as any torn tail.
{ cat "$T/tail"; head -c 4096 /dev/zero; } >>"$NET/state/amsterdam/audit.log"
mark=$(wc -l <"$T/amsterdam.log")
if node_start amsterdam 2>"$T/start.err"; then
	tail -n +"$mark" "$T/amsterdam.log" | grep -q "ended in a torn write" && ok "a node restarts on a log torn at a page boundary, cutting it" ||
		bad "a node restarts on a log torn at a page boundary, but says nothing of a torn tail"
	node_stop amsterdam
else
	bad "a node does not restart on a log torn at a page boundary (part of a frame, then zeros)"
	grep "audit:" "$T/start.err" | tail -1 | sed 's/^/    /'
fi

# =====================================================================
# 7b. A power cut: what the file had not yet made durable is lost
# =====================================================================
# The node keeps each turn's frames in the store's commit and makes the
# file durable every 30 s, or every checkpoint interval if that is longer
# (here an hour: only the start is on disk).  After kill -9 the file is
# cut back to what was on disk, as a power cut would leave it, and its
# tail filled with zeros; at the restart the node puts the lost frames
# back from its store.
cp "$NET/nodes/amsterdam.conf" "$T/ams.conf.saved"
printf '\n[audit]\ncheckpoint_interval = 1h\n' >>"$NET/nodes/amsterdam.conf"
node_start ind || bad "restart ind (power cut)"
node_start amsterdam || bad "restart amsterdam (power cut)"
on_disk=$(stat -c %s "$NET/state/amsterdam/audit.log")
: >"$T/ids.pc"
for i in $(seq 1 30); do
	kt ind send --kind CASE_EVENT --to "$AMS" --case "C-P-$i" --purpose lvv-lso "$EX/case_event.json" >>"$T/ids.pc"
done
wait_for 20 bash -c "[ \$(sqlite3 -cmd '.timeout 5000' $NET/state/ind/node.db 'SELECT count(*) FROM outbox_rcpt WHERE state NOT IN (3, 5)') -eq 0 ]" ||
	bad "power cut: messages without a receipt"
node_kill amsterdam
grown=$(stat -c %s "$NET/state/amsterdam/audit.log")
kept=$(sqlite3 "$NET/state/amsterdam/node.db" "SELECT count(*), coalesce(min(off), 0) FROM audit_frames")
[ "${kept%%|*}" -gt 0 ] && [ "${kept##*|}" -ge "$on_disk" ] &&
	ok "the store keeps the frames written since the file was last made durable (${kept%%|*} turns from byte ${kept##*|})" ||
	bad "store copies: $kept (file on disk up to $on_disk)"
truncate -s "$on_disk" "$NET/state/amsterdam/audit.log"
head -c 8192 /dev/zero >>"$NET/state/amsterdam/audit.log"
mark=$(wc -l <"$T/amsterdam.log")
node_start amsterdam || bad "restart amsterdam after the power cut"
tail -n +"$mark" "$T/amsterdam.log" | grep -q "bytes of records a crash kept from the file were put back from the store" &&
	ok "at the restart the node puts back $((grown - on_disk)) lost bytes from its store" ||
	{ bad "nothing put back"; tail -n +"$mark" "$T/amsterdam.log" | grep audit; }
node_stop amsterdam || bad "amsterdam did not stop cleanly (power cut)"
node_stop ind || bad "ind did not stop cleanly (power cut)"
[ "$(sqlite3 "$NET/state/amsterdam/node.db" "SELECT count(*) FROM audit_frames")" = 0 ] &&
	ok "after a clean stop the store keeps no copies" || bad "copies left after a clean stop"
cp "$NET/state/amsterdam/audit.log" "$A/ams3.log"
tamper "Amsterdam's log after the power cut verifies" 0 "verified" "$A/ams3.log"
keten audit query --event RECEIVE --json "$A/ams3.log" >"$T/rx3.jsonl"
got=$(python3 -c '
import json, sys
rx = {json.loads(l)["msg_id"] for l in open(sys.argv[1])}
acked = set(open(sys.argv[2]).read().split())
print(len(acked - rx), len(acked))' "$T/rx3.jsonl" "$T/ids.pc")
[ "${got%% *}" = 0 ] && ok "... with a RECEIVE of each of the ${got##* } messages received before the cut" ||
	bad "$got: RECEIVE records lost in the power cut"
# Bytes in place of lost frames that are not zeros: someone wrote there.
node_start amsterdam || bad "restart amsterdam (altered tail)"
node_start ind || bad "restart ind (altered tail)"
on_disk=$(stat -c %s "$NET/state/amsterdam/audit.log")
kt ind send --kind CASE_EVENT --to "$AMS" --case "C-P-X" --purpose lvv-lso "$EX/case_event.json" >/dev/null
wait_for 20 bash -c "[ \$(sqlite3 -cmd '.timeout 5000' $NET/state/ind/node.db 'SELECT count(*) FROM outbox_rcpt WHERE state NOT IN (3, 5)') -eq 0 ]" ||
	bad "altered tail: message without a receipt"
node_kill amsterdam
node_stop ind
printf 'X' | dd of="$NET/state/amsterdam/audit.log" bs=1 seek=$((on_disk + 20)) conv=notrunc status=none
mark=$(wc -l <"$T/amsterdam.log")
if node_start amsterdam 2>/dev/null; then
	bad "a node starts on a log whose lost tail holds other bytes"
	node_stop amsterdam
else
	tail -n +"$mark" "$T/amsterdam.log" | grep -q "do not match the file.*it was altered" &&
		ok "a node does not start when bytes where its store's frames belong were altered" ||
		{ bad "altered tail: no message"; tail -n +"$mark" "$T/amsterdam.log" | tail -3; }
fi
cp "$T/ams.conf.saved" "$NET/nodes/amsterdam.conf"

# =====================================================================
# 9. Fail closed
# =====================================================================
cp "$NET/nodes/eindhoven.conf" "$T/full.conf"
printf '\n[audit]\nlog = /dev/full\n' >>"$T/full.conf"
timeout 20 "${KETEN_BIN:-$top/build/bin}/ketend" -c "$T/full.conf" >"$T/full.log" 2>&1
rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "audit: /dev/full" "$T/full.log" && ! grep -q ready "$T/full.log" &&
	ok "a node whose audit log is /dev/full does not start (exit $rc): $(grep 'audit: /dev/full' "$T/full.log" | sed 's/.*error: //')" ||
	{ bad "ketend with [audit] log = /dev/full: exit $rc"; sed 's/^/    /' "$T/full.log"; }

echo "# $(( ($(date +%s%N) - START) / 1000000 )) ms"
finish
