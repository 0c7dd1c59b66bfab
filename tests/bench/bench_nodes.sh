#!/usr/bin/env bash
# bench_nodes.sh — the two-node benchmark of `make bench`: makes a dev
# network on free loopback ports in a scratch directory and runs
# build/bin/bench_nodes on it (which starts and stops ketend for IND and
# Amsterdam; see tests/bench/bench_nodes.c for what it measures).  The
# nodes are killed and the scratch directory removed when this script
# exits, also after a failure, an interrupt or the time-out.
#
#   tests/bench/bench_nodes.sh [bench_nodes options]
#
# BENCH_KEEP=1 keeps the scratch directory (node logs, stores);
# BENCH_PERF=1 records `perf record -g` of both nodes during the
# saturated phase into the scratch directory (kept; with
# BENCH_PERF_CALLGRAPH=dwarf, stacks through libraries without frame
# pointers);
# BENCH_LIMITS='batch_delay = 0ms; batch_max = 512' sets [limits] keys in
# the two nodes' configurations (to try a tuning; the default run uses
# the dev network's configuration as mkdevnet.sh writes it).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
bin=${KETEN_BIN:-$top/build/bin}

T=$(mktemp -d "${TMPDIR:-/tmp}/keten-bench.XXXXXX")
chmod 0755 "$T"	# the nodes run as their own account when started as root
cleanup() {
	local p
	if [ -f "$T/pids" ]; then
		while read -r p; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null; done <"$T/pids"
	fi
	if [ "${BENCH_KEEP:-0}" = 1 ] || [ "${BENCH_PERF:-0}" = 1 ]; then
		echo "bench_nodes.sh: scratch directory kept: $T"
	else
		rm -rf "$T"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

. "$top/tests/integration/ports.sh"

for b in ketend keten bench_nodes; do
	[ -x "$bin/$b" ] || { echo "bench_nodes.sh: $bin/$b not built (make bench)" >&2; exit 1; }
done
base=$(free_base) || { echo "bench_nodes.sh: no free ports" >&2; exit 1; }
if ! KETEN_BIN="$bin" "$top/certs/mkdevnet.sh" --base-port "$base" "$T/net" >"$T/mkdevnet.log" 2>&1; then
	echo "bench_nodes.sh: certs/mkdevnet.sh failed:" >&2
	cat "$T/mkdevnet.log" >&2
	exit 1
fi

if [ -n "${BENCH_LIMITS:-}" ]; then
	for slug in ind amsterdam; do
		conf="$T/net/nodes/$slug.conf"
		IFS=';' read -ra kv <<<"$BENCH_LIMITS"
		for x in "${kv[@]}"; do
			x=$(echo "$x" | sed 's/^ *//; s/ *$//')
			[ -n "$x" ] || continue
			sed -i "/^\[limits\]/a $x" "$conf"
		done
	done
	echo "bench_nodes.sh: [limits] set for this run: $BENCH_LIMITS"
fi

# The nodes run a copy of ketend: a rebuild during the run cannot change
# what is measured, and perf finds the symbols of what ran.
mkdir -p "$T/bin"
cp "$bin/ketend" "$T/bin/ketend" || exit 1
rev=$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo "?")
if [ -n "$(git -C "$top" status --porcelain -- daemon proto 2>/dev/null)" ]; then rev="$rev+changes"; fi
echo "bench_nodes.sh: ketend of $rev, built $(date -u -r "$bin/ketend" +%Y-%m-%dT%H:%M:%SZ)"

perf=()
if [ "${BENCH_PERF:-0}" = 1 ]; then perf=(--perf "$T"); fi
# bench_nodes stops itself (and its nodes) after its own --timeout (170 s);
# this one is the backstop.
timeout -k 5 200 "$bin/bench_nodes" --work "$T" --bin "$T/bin" "${perf[@]}" "$@"
