#!/usr/bin/env bash
# tests/run.sh — runs every test tier and prints the closing line
# "N passed, N failed" that CI reads.  Exits non-zero on any failure.
#
#   unit         build/bin/test_*            (plain build), and
#                tests/vectors/check_hashes.py
#   asan         build/bin/asan/test_*       (AddressSanitizer + UBSan)
#   integration  tests/integration/*.sh      (real processes on loopback)
#   fuzz-smoke   build/fuzz/fuzz_*           (short run over the seeds)
#
# KETEN_ONLY=unit|asan|integration|fuzz runs one tier.
set -u
cd "$(dirname "$0")/.."
top=$(pwd)

work=$(mktemp -d "${TMPDIR:-/tmp}/keten-test.XXXXXX")
cleanup() { rm -rf "$work"; }
trap cleanup EXIT INT TERM

total_pass=0
total_fail=0
failed_names=()

# Adds the "N passed, N failed" line of one test program to the totals.
# A program that fails, or prints no such line, counts as (at least) one
# failure.
tally() {
	local name=$1 log=$2 rc=$3 line p f
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
	if [ -n "$line" ]; then
		p=${line%% passed*}
		f=${line#*passed, }; f=${f%% failed*}
	else
		p=0; f=1	# no closing line: the program did not run its tests
	fi
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
	total_pass=$((total_pass + p))
	total_fail=$((total_fail + f))
	if [ "$f" -ne 0 ]; then
		failed_names+=("$name")
		echo "---- $name failed (exit $rc); its output:"
		sed 's/^/    /' "$log"
	else
		printf '%-40s %s\n' "$name" "$line"
	fi
}

want() { [ -z "${KETEN_ONLY:-}" ] || [ "$KETEN_ONLY" = "$1" ]; }

# One dev PKI for the unit tests that need certificates.
if [ -x certs/mkdevnet.sh ]; then
	if ! certs/mkdevnet.sh --test-certs "$work/pki" >"$work/pki.log" 2>&1; then
		echo "certs/mkdevnet.sh failed:"; cat "$work/pki.log"
		echo "0 passed, 1 failed"
		exit 1
	fi
	export KETEN_TEST_PKI="$work/pki"
fi
export KETEN_BIN="$top/build/bin"
export KETEN_REPO="$top"

run_bins() {
	local tier=$1; shift
	for t in "$@"; do
		[ -x "$t" ] || continue
		local log="$work/$(basename "$t").$tier.log"
		local rc name
		name="$tier/$(basename "$t")"
		( cd "$work" && timeout 300 "$top/$t" ) >"$log" 2>&1
		rc=$?
		tally "$name" "$log" "$rc"
	done
}

if want unit; then
	run_bins unit build/bin/test_*
	# the vectors' hashes, worked out from docs/PROTOCOL.md in Python
	log="$work/check_hashes.log"
	python3 tests/vectors/check_hashes.py >"$log" 2>&1
	tally unit/check_hashes.py "$log" $?
fi
if want asan; then
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
	export UBSAN_OPTIONS=print_stacktrace=1
	run_bins asan build/bin/asan/test_*
fi
if want integration; then
	for t in tests/integration/test_*.sh; do
		[ -f "$t" ] || continue
		log="$work/$(basename "$t").log"
		timeout 600 bash "$t" >"$log" 2>&1
		rc=$?
		tally "integration/$(basename "$t" .sh)" "$log" "$rc"
	done
fi
if want fuzz; then
	# Regression run of each libFuzzer harness over its seeds and a short
	# random stretch; the long runs are `make fuzz`.
	for f in build/fuzz/fuzz_*; do
		[ -x "$f" ] || continue
		n=$(basename "$f")
		log="$work/$n.fuzz.log"
		seeds=""
		[ -d "tests/fuzz/seeds/$n" ] && seeds="tests/fuzz/seeds/$n"
		mkdir -p "$work/corpus-$n"
		timeout 120 "$f" -max_total_time=5 -rss_limit_mb=2048 "$work/corpus-$n" $seeds >"$log" 2>&1
		rc=$?
		if [ $rc -eq 0 ]; then echo "1 passed, 0 failed" >>"$log"; else echo "0 passed, 1 failed" >>"$log"; fi
		tally "fuzz/$n" "$log" $rc
	done
fi

echo
if [ ${#failed_names[@]} -ne 0 ]; then echo "failed: ${failed_names[*]}"; fi
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
