# nodes.sh — real ketend processes for the integration tests (source after
# lib.sh).  devnet_make makes a dev network in $T/net on free loopback
# ports; node_start/node_stop/node_kill run its nodes; kt runs the keten
# CLI against a node's local socket.  Every node started is killed when
# the test exits, also after a failure.
NET="$T/net"
declare -A NODE_PID=()

ketend() { "${KETEN_BIN:-$top/build/bin}/ketend" "$@"; }

. "$top/tests/integration/ports.sh"

devnet_make() {
	local base
	base=$(free_base) || { echo "no free ports" >&2; return 1; }
	KETEN_BIN="${KETEN_BIN:-$top/build/bin}" "$top/certs/mkdevnet.sh" --base-port "$base" \
		"$@" "$NET" >"$T/mkdevnet.log" 2>&1 || { cat "$T/mkdevnet.log" >&2; return 1; }
}

oin_of() { cat "$NET/parties/$1/oin"; }
sock_of() { echo "ipc://$NET/run/$1/case.sock"; }
db_of() { echo "$NET/state/$1/node.db"; }
# a query on a node's store (read while the node runs: WAL)
sql() { sqlite3 -cmd ".timeout 5000" "$@"; }

# node_start SLUG: start it and wait until its local socket (or, for a
# relay, its listening port) is up.
node_start() {
	local slug=$1 i port from
	# "ready" of this start, not of an earlier one in the same log
	from=$(($(cat "$T/$slug.log" 2>/dev/null | wc -l) + 1))
	# the binary itself, not a function: $! must be ketend's own pid
	"${KETEN_BIN:-$top/build/bin}/ketend" -c "$NET/nodes/$slug.conf" >>"$T/$slug.log" 2>&1 &
	NODE_PID[$slug]=$!
	CLEANUP+=("kill -9 ${NODE_PID[$slug]}")
	port=$(awk -v s="$slug" '$1 == s { print $3 }' "$NET/parties.txt")
	for i in $(seq 1 100); do
		if tail -n +"$from" "$T/$slug.log" 2>/dev/null | grep -q "ready"; then return 0; fi
		if ! kill -0 "${NODE_PID[$slug]}" 2>/dev/null; then
			echo "ketend $slug exited at start:" >&2; tail -5 "$T/$slug.log" >&2; return 1
		fi
		sleep 0.05
	done
	echo "ketend $slug did not come up (port $port)" >&2
	return 1
}

node_stop() {
	local pid=${NODE_PID[$1]:-}
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	local rc=$?
	unset "NODE_PID[$1]"
	return $rc
}

node_kill() {
	local pid=${NODE_PID[$1]:-}
	[ -n "$pid" ] || return 0
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	unset "NODE_PID[$1]"
	return 0
}

# kt SLUG ARGS...: keten against SLUG's case socket.
kt() {
	local slug=$1
	shift
	KETEN_SOCKET=$(sock_of "$slug") keten "$@"
}

# wait_for SECONDS CMD...: until CMD succeeds.
wait_for() {
	local s=$1 i
	shift
	for i in $(seq 1 $((s * 10))); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

# state_of SLUG MSGID RCPT: that recipient's delivery state.
state_of() {
	kt "$1" status --json "$2" 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(next((r["state"] for r in d["recipients"] if r["recipient"] == sys.argv[1]), "none"))' "$3"
}
delivered() { [ "$(state_of "$1" "$2" "$3")" = delivered ]; }
