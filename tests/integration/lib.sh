# lib.sh — shared by the integration tests: a scratch directory removed on
# exit (kept, and named, when KETEN_IT_KEEP is set and a check failed),
# and checks that print "ok"/"FAIL" lines and the closing
# "N passed, N failed" line.
T=$(mktemp -d "${TMPDIR:-/tmp}/keten-it.XXXXXX")
chmod 0755 "$T"	# the nodes run as their own account
PASS=0
FAIL=0
CLEANUP=()
on_exit() {
	local c
	for c in "${CLEANUP[@]}"; do eval "$c" >/dev/null 2>&1; done
	if [ -n "${KETEN_IT_KEEP:-}" ] && [ "$FAIL" -gt 0 ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap on_exit EXIT
trap 'exit 130' INT TERM

keten() { "${KETEN_BIN:-$top/build/bin}/keten" "$@"; }

ok() { PASS=$((PASS + 1)); echo "ok   $1"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL $1"; }

# expect_rc CODE NAME CMD...: CMD exits with CODE.
expect_rc() {
	local want=$1 name=$2 rc
	shift 2
	"$@" >"$T/last.out" 2>&1
	rc=$?
	if [ "$rc" -eq "$want" ]; then ok "$name"; else
		bad "$name (exit $rc, expected $want)"; sed 's/^/    /' "$T/last.out"; fi
}

# expect_out NAME TEXT CMD...: CMD's stdout+stderr contain TEXT.
expect_out() {
	local name=$1 text=$2
	shift 2
	"$@" >"$T/last.out" 2>&1
	if grep -qF -- "$text" "$T/last.out"; then ok "$name"; else
		bad "$name (no \"$text\")"; sed 's/^/    /' "$T/last.out"; fi
}

finish() {
	echo "$PASS passed, $FAIL failed"
	[ "$FAIL" -eq 0 ]
}
