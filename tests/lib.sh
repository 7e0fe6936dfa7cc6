# Shared helpers for the shell tests; sourced, never run.  make check sets
# top_srcdir, top_builddir, SDTOOL, TSHARK, TEXT2PCAP and JQ.
set -eu

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
: "${SDTOOL:=$top_builddir/src/mcx-sdtool}"
: "${TSHARK:=tshark}"
: "${TEXT2PCAP:=text2pcap}"
: "${JQ:=jq}"
DATA="$top_srcdir/tests/data"

T_PASS=0
T_FAIL=0
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mcx-test.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

ok() { T_PASS=$((T_PASS + 1)); echo "ok - $*"; }
not_ok() { T_FAIL=$((T_FAIL + 1)); echo "not ok - $*"; }

# check NAME COMMAND...: one assertion, run as a command.
check() {
	name=$1
	shift
	if "$@"; then ok "$name"; else not_ok "$name"; fi
}

# need TOOL...: a missing oracle is a failure, not a skip (./bootstrap installs it).
need() {
	for t in "$@"; do
		command -v "$t" >/dev/null 2>&1 || { echo "not ok - $t is not installed (run ./bootstrap)"; exit 1; }
	done
}

# Run a command, keep its stdout, stderr and status in $WORK/out, $WORK/err, $RC.
run() {
	set +e
	"$@" >"$WORK/out" 2>"$WORK/err"
	RC=$?
	set -e
}

# done_testing: the closing line, and the exit status for automake.
done_testing() {
	echo "$T_PASS passed, $T_FAIL failed"
	[ "$T_FAIL" -eq 0 ]
}
