#!/usr/bin/env bash
# bench_nodes.sh — the two-node benchmark of `make bench`: makes a dev
# network on free loopback ports in a scratch directory and runs
# build/bin/bench_nodes on it (which starts and stops ketend for IND and
# Amsterdam; see tests/bench/bench_nodes.c for what it measures).  The
# nodes are killed and the scratch directory removed when this script
# exits, also after a failure, an interrupt or the time-out.
#
#   tests/bench/bench_nodes.sh [bench_nodes options]
#   tests/bench/bench_nodes.sh --ab DIR [--rounds N] [--seconds S]
#       [--label-a TEXT] [--label-b TEXT] [--ab-target R]
#
# --ab DIR compares, in one run, the ketend of this build (A) with
# DIR/ketend (B, the baseline: e.g. build/variant/nomandate, a build with
# a feature compiled out): alternating legs, each starting both nodes with
# its binary, and the ratio A/B of their saturated rates (see
# bench_nodes.c).  DIR/ketend is copied like this build's, and the
# time-out grows with the rounds and seconds unless --timeout is given.
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

# The arguments are passed on as they are, except --ab DIR (the copy of
# DIR/ketend is passed instead); --rounds, --seconds and --timeout are
# read for the time-out (defaults as in bench_nodes.c).
ab="" rounds=3 seconds=8 tmo=""
args=()
while [ $# -gt 0 ]; do
	case $1 in
	--ab)
		[ $# -ge 2 ] || { echo "bench_nodes.sh: --ab needs a directory" >&2; exit 2; }
		ab=$2
		shift 2
		continue ;;
	--ab=*) ab=${1#*=}; shift; continue ;;
	--rounds) rounds=${2:-} ;;
	--rounds=*) rounds=${1#*=} ;;
	--seconds) seconds=${2:-} ;;
	--seconds=*) seconds=${1#*=} ;;
	--timeout) tmo=${2:-} ;;
	--timeout=*) tmo=${1#*=} ;;
	--label-a|--label-b)	# free text, that could look like an option
		[ $# -ge 2 ] || { echo "bench_nodes.sh: $1 needs a text" >&2; exit 2; }
		args+=("$1" "$2")
		shift 2
		continue ;;
	esac
	args+=("$1")
	shift
done
if [ -n "$ab" ] && [ ! -x "$ab/ketend" ]; then
	echo "bench_nodes.sh: $ab/ketend: no such executable (--ab)" >&2
	exit 2
fi

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
echo "bench_nodes.sh: ${ab:+A: }ketend of $rev, built $(date -u -r "$bin/ketend" +%Y-%m-%dT%H:%M:%SZ)"
if [ -n "$ab" ]; then
	mkdir -p "$T/bin-b"
	cp "$ab/ketend" "$T/bin-b/ketend" || exit 1
	same=""
	if cmp -s "$T/bin/ketend" "$T/bin-b/ketend"; then same=" (the same binary as A)"; fi
	echo "bench_nodes.sh: B: $ab/ketend, built $(date -u -r "$ab/ketend" +%Y-%m-%dT%H:%M:%SZ)$same"
	args=(--ab "$T/bin-b" "${args[@]}")
fi

# bench_nodes stops itself (and its nodes) after its own --timeout: 170 s,
# or for --ab 60 + 2 rounds (5 + seconds + 30) s (the same formula as
# bench_nodes.c, which is given it here); timeout(1) is the backstop,
# 30 s later.
if [ -z "$tmo" ]; then
	if [ -n "$ab" ]; then
		tmo=$(awk -v r="$rounds" -v s="$seconds" 'BEGIN { printf "%d", 60 + 2 * r * (5 + s + 30) }')
		args=(--timeout "$tmo" "${args[@]}")
	else
		tmo=170
	fi
fi
case $tmo in
''|*[!0-9]*) echo "bench_nodes.sh: --timeout $tmo: not a number of seconds" >&2; exit 2 ;;
esac

perf=()
if [ "${BENCH_PERF:-0}" = 1 ]; then perf=(--perf "$T"); fi
timeout -k 5 $((tmo + 30)) "$bin/bench_nodes" --work "$T" --bin "$T/bin" "${perf[@]}" "${args[@]}"
