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

# is NAME GOT WANT: one exact comparison; both values (and the last run's stderr) shown on failure.
is() {
	if [ "$2" = "$3" ]; then
		ok "$1"
	else
		not_ok "$1"
		printf '#   got:  %s\n#   want: %s\n' "$2" "$3"
		[ ! -s "$WORK/err" ] || sed 's/^/#   stderr: /' "$WORK/err" | head -n 5
	fi
}

# ---- KRR signatures checked by xmlsec1, the independent oracle ----
KRR_NS=urn:3gpp:ns:mcsecKMSKRR:1.0
DSIG_NS=http://www.w3.org/2000/09/xmldsig#
# Without --node-xpath xmlsec1 verifies the FIRST ds:Signature in document order wherever it is
# (in a KRR with EmbeddedKrr, the embedded one): XS_ROOT selects the root's own, XS_EMB the
# embedded KRR's.
XS_ROOT="/*/*[local-name()='Signature' and namespace-uri()='$DSIG_NS']"
XS_EMB="/*/*[local-name()='EmbeddedKrr']/*/*[local-name()='Signature']"

# xs TRUST FILE [OPTION...]: xmlsec1's verdict on the KRR in FILE against the CA certificates in
# TRUST, in XS_RC (same-document references only); its output in $WORK/xs.out.
xs() {
	x_ca=$1 x_f=$2
	shift 2
	set +e
	"${XMLSEC1:-xmlsec1}" --verify --enabled-reference-uris same-doc --trusted-pem "$x_ca" \
		--id-attr:Id "$KRR_NS:KmsRedirectResponse" "$@" "$x_f" >"$WORK/xs.out" 2>&1
	XS_RC=$?
	set -e
}

# xs_ok NAME TRUST FILE [OPTION...]: one assertion that xmlsec1 verifies it; its complaint shown.
xs_ok() {
	x_n=$1
	shift
	xs "$@"
	if [ "$XS_RC" -eq 0 ]; then
		ok "$x_n"
	else
		not_ok "$x_n"
		grep -v '^func=' "$WORK/xs.out" | sed 's/^/#   xmlsec1: /' | head -n 4
	fi
}

# done_testing: the closing line, and the exit status for automake.
done_testing() {
	echo "$T_PASS passed, $T_FAIL failed"
	[ "$T_FAIL" -eq 0 ]
}
