# Shared helpers for the sipp integration tests (tests/sip/*.sh); sourced, never run.
# make check sets SDPROXYD and SIPP besides what tests/lib.sh uses; XMLSEC1 and OPENSSL too.
#
# Each script takes its own loopback port range (sip_ports BASE: BASE .. BASE+99, see below)
# so that the scripts can run side by side under make -j, starts what it needs with
# start_daemon, uas_start and uac, and leaves the stopping to the EXIT trap set here, which
# kills (by PID) every daemon and sipp still running, then removes $WORK (KEEP_WORK=1 keeps it).
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/sip/lib_ldap.sh"

: "${SDPROXYD:=$top_builddir/src/mcx-sdproxyd}"
: "${SIPP:=sipp}"
: "${XMLSEC1:=xmlsec1}"
: "${OPENSSL:=openssl}"
LC_ALL=C
export LC_ALL

SCEN=$top_srcdir/tests/sip/scenarios
KRR_CT=application/vnd.3gpp.kmsredirectresponse+xml
CR=$(printf '\r')

ALICE=sip:alice@home.example BOB=sip:bob@partner.example
HOME_URI=sip:sdproxy@home.example PARTNER_URI=sip:sdproxy@partner.example
H=kms.home.example P=kms.partner.example

SIP_PIDS=
SIP_T0=$(date +%s%N)

# ---- cleanup: every process started here, by PID ----

sip_cleanup() {
	s_rc=$?
	for s_f in "$WORK"/*.pid; do
		[ ! -f "$s_f" ] || SIP_PIDS="$SIP_PIDS $(cat "$s_f")"
	done
	for s_p in $SIP_PIDS; do
		kill -TERM "$s_p" 2>/dev/null || :
	done
	for s_p in $SIP_PIDS; do
		s_i=0
		while kill -0 "$s_p" 2>/dev/null && [ "$s_i" -lt 20 ]; do
			sleep 0.1
			s_i=$((s_i + 1))
		done
		kill -KILL "$s_p" 2>/dev/null || :
	done
	if [ -n "${KEEP_WORK:-}" ]; then
		echo "# kept $WORK"
	else
		rm -rf "$WORK"
	fi
	echo "# wall time $(( ($(date +%s%N) - SIP_T0) / 1000000 )) ms"
	exit "$s_rc"
}
trap sip_cleanup EXIT
trap 'exit 130' INT TERM HUP

# ---- assertions ----

# like NAME GOT ERE: GOT matches the extended regular expression ERE.
like() {
	if printf '%s\n' "$2" | grep -Eq -- "$3"; then
		ok "$1"
	else
		not_ok "$1"
		printf '#   got:  %s\n#   want: /%s/\n' "$2" "$3"
	fi
}

# jqo FILTER FILE: compact jq output, "(no JSON)" when FILE does not parse.
jqo() { "$JQ" -c "$1" "$2" 2>/dev/null || echo "(no JSON)"; }

# diag FILE [LINES]: the last lines of FILE as comments (for a failure's context).
diag() {
	[ -s "$1" ] || return 0
	echo "#   --- $(basename "$1") (last ${2:-15} lines)"
	tail -n "${2:-15}" "$1" | tr -d '\r' | sed 's/^/#   /'
}

# need_sip: the tools, the tool and the daemon; a missing one is a failure, not a skip.
need_sip() {
	need "$SIPP" "$XMLSEC1" "$OPENSSL" "$JQ"
	[ -x "$SDTOOL" ] || { echo "not ok - $SDTOOL is not built"; exit 1; }
	[ -x "$SDPROXYD" ] || { echo "not ok - $SDPROXYD is not built"; exit 1; }
}

# ---- ports ----

# sip_ports BASE: this script's ports (BASE + $MCX_TEST_PORT_OFFSET: tests/sip/workers2.sh runs the
# scripts again with workers beside the first run).  P_PRI (primary) P_PAR (partner) P_UAS (terminating
# sipp) P_UAC (initiating sipp) P_UAS2 (another sipp) P_DEAD (nothing listens there) P_UAC2
# (an initiating sipp in the background), and sipp control ports from BASE+50 up (one per
# sipp run).
sip_ports() {
	set -- $(($1 + ${MCX_TEST_PORT_OFFSET:-0}))
	P_PRI=$1 P_PAR=$(($1 + 1)) P_UAS=$(($1 + 2)) P_UAC=$(($1 + 3)) P_UAS2=$(($1 + 4))
	P_DEAD=$(($1 + 5)) P_UAC2=$(($1 + 6))
	CP_NEXT=$(($1 + 50)) CP_LAST=$(($1 + 99))
}

# next_cp: the next sipp control port of the range (wraps: one sipp at a time uses each).
next_cp() {
	CP=$CP_NEXT
	CP_NEXT=$((CP_NEXT + 1))
	[ "$CP_NEXT" -le "$CP_LAST" ] || CP_NEXT=$((CP_LAST - 49))
}

# port_bound PROTO PORT: something is bound to PORT (udp) or listens on it (tcp), v4 or v6.
port_bound() {
	p_hex=$(printf ':%04X' "$2")
	cat "/proc/net/$1" "/proc/net/${1}6" 2>/dev/null |
		awk -v h="$p_hex" -v tcp="$([ "$1" = tcp ] && echo 1)" \
			'substr($2, length($2) - 4) == h && (!tcp || $4 == "0A") { f = 1 } END { exit !f }'
}

# wait_bound PROTO PORT [TENTHS]: wait until port_bound, at most TENTHS/10 s (default 5 s).
wait_bound() {
	w_i=0
	until port_bound "$1" "$2"; do
		[ "$w_i" -lt "${3:-50}" ] || return 1
		sleep 0.1
		w_i=$((w_i + 1))
	done
}

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# ---- private namespaces (tests/sip/netns.sh) ----

# own_resolv_conf NAMESERVER: /etc/resolv.conf becomes $WORK/resolv.conf (naming NAMESERVER) by a
# bind mount, in this script's private namespaces only: refused anywhere else, where it would
# change the host's resolver.  Rewrite $WORK/resolv.conf in place to change it.
own_resolv_conf() {
	if [ -z "${MCX_IN_NETNS:-}" ] || [ -z "${WORK:-}" ]; then
		echo "not ok - own_resolv_conf outside a private namespace (source tests/sip/netns.sh first)"
		exit 1
	fi
	printf 'nameserver %s\n' "$1" >"$WORK/resolv.conf"
	mount --bind "$WORK/resolv.conf" /etc/resolv.conf || { echo "not ok - bind-mount resolv.conf"; exit 1; }
}

# sip_sink PORT: tests/sip/sipnet.py's sink on 127.0.0.1:PORT (every request logged in
# $WORK/sink.log and answered), in the background; waits until it listens.
sip_sink() {
	python3 "$top_srcdir/tests/sip/sipnet.py" sink "$1" "$WORK/sink.log" &
	SIP_PIDS="$SIP_PIDS $!"
	wait_bound udp "$1"
}

# sip_request FILE METHOD RURI CALLID [ROUTE]: a request from alice in $WORK/FILE, inside a
# dialog (To tag) unless an INVITE or OPTIONS, with a Route when ROUTE is given.
sip_request() {
	r_to="<sip:bob@partner.example>;tag=b2"
	[ "$2" != INVITE ] && [ "$2" != OPTIONS ] || r_to="<sip:bob@partner.example>"
	{
		printf '%s %s SIP/2.0\r\n' "$2" "$3"
		printf 'Via: SIP/2.0/UDP 127.0.0.1:9;rport;branch=z9hG4bK-%s\r\n' "$4"
		printf 'Max-Forwards: 70\r\nFrom: <sip:alice@home.example>;tag=a1\r\nTo: %s\r\n' "$r_to"
		printf 'Call-ID: %s\r\nCSeq: 2 %s\r\n' "$4" "$2"
		[ -z "${5:-}" ] || printf 'Route: %s\r\n' "$5"
		printf 'Contact: <sip:alice@127.0.0.1:9>\r\nContent-Length: 0\r\n\r\n'
	} >"$WORK/$1"
}

# metric_value URL SERIES: the value of SERIES (name{labels}, as written) in the exposition at
# URL (server.metrics_listen), or "none".
metric_value() {
	python3 - "$1" "$2" <<'PYEOF'
import sys, urllib.request
try:
    text = urllib.request.urlopen(sys.argv[1], timeout=5).read().decode()
except Exception as e:
    print("none (%s)" % e)
    sys.exit(0)
for line in text.splitlines():
    if line.startswith(sys.argv[2] + " "):
        print(line[len(sys.argv[2]) + 1:])
        sys.exit(0)
print("none")
PYEOF
}

# ---- keys, I_MESSAGEs, KRRs ----

# sip_keys: $WORK/keys/krr-ca.pem and the home.example and partner.example signers
# (conf/make-keys.sh), and a terminating client's signer: $WORK/keys/ue/krr-{cert,key}.pem,
# issued by the same CA, subjectAltName URI:$BOB.
sip_keys() {
	if OPENSSL=$OPENSSL sh "$top_srcdir/conf/make-keys.sh" "$WORK/keys" >"$WORK/keys.log" 2>&1 &&
		ue_cert ue "$BOB" >>"$WORK/keys.log" 2>&1; then
		ok "KRR keys made (make-keys.sh, and a terminating client's signer)"
	else
		not_ok "KRR keys made (make-keys.sh, and a terminating client's signer)"
		diag "$WORK/keys.log"
		exit 1
	fi
}

# ue_cert NAME URI: an ECDSA P-256 signer in $WORK/keys/NAME, subjectAltName URI, from the CA.
ue_cert() {
	(
		set -e
		cd "$WORK/keys"
		mkdir -p "$1"
		"$OPENSSL" genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1/krr-key.pem"
		"$OPENSSL" req -new -key "$1/krr-key.pem" -subj "/CN=$1" -out "$1/krr.csr"
		printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
			"subjectAltName=URI:$2" >"$1/krr.ext"
		"$OPENSSL" x509 -req -in "$1/krr.csr" -CA krr-ca.pem -CAkey krr-ca-key.pem -CAcreateserial \
			-sha256 -days 30 -extfile "$1/krr.ext" -out "$1/krr-cert.pem"
	)
}

# mikey_b64 IDRI IDRR IDRKMSI IDRKMSR: an I_MESSAGE (mcx-sdtool mikey build), base64, one line.
mikey_b64() {
	"$SDTOOL" mikey build --idri "$1" --idrr "$2" --idrkmsi "$3" --idrkmsr "$4" --output base64 | tr -d '\r\n'
}

# csv NAME TARGET FIELD1: $WORK/NAME.csv, a sipp injection file for one call (field0 TARGET,
# user@host; field1 the I_MESSAGE's base64 or whatever the call puts there).
csv() {
	printf 'SEQUENTIAL\n%s;%s;\n' "$2" "$3" >"$WORK/$1.csv"
}

# ue_krr FILE SIGNER IDRKMSI IDRKMSR "AI..." "AR..." [ORIGINATOR ORIGINATOR-KMS]: a KRR made by
# `mcx-sdtool krr build` for alice -> bob, signed by $WORK/keys/SIGNER (none: unsigned).
ue_krr() {
	u_f=$1 u_s=$2 u_i=$3 u_r=$4 u_ai=$5 u_ar=$6
	set -- --originator "${7:-$BOB}" --originator-kms "${8:-$P}" --initiator "$ALICE" \
		--receiver "$BOB" --initiator-kms "$u_i" --receiver-kms "$u_r"
	for u in $u_ai; do set -- "$@" --accept-initiator-kms "$u"; done
	for u in $u_ar; do set -- "$@" --accept-receiver-kms "$u"; done
	[ "$u_s" = none ] || set -- "$@" --cert "$WORK/keys/$u_s/krr-cert.pem" --key "$WORK/keys/$u_s/krr-key.pem"
	"$SDTOOL" krr build "$@" >"$u_f" 2>"$WORK/krr-build.err" || {
		not_ok "krr build $(basename "$u_f")"
		diag "$WORK/krr-build.err"
		return 1
	}
}

# ---- configurations ----

# make_conf FILE KEY=VALUE...: $WORK/FILE, a daemon configuration from the template below.
#   role=primary|partner (default primary; domain home.example, or partner.example)
#   host=127.0.0.1|::1   port=N   transports="udp tcp" (the listen URIs)
#   next_hop=URI (none by default)   t1=MS (server.sip_t1; absent by default)
#   kms=TEXT (the kms list's entries; default: this domain's KMS as home, the other's as
#   external, valid 2026-01-01 .. 2031-01-01)   kms_extra=TEXT (entries added to that)
#   lookup=TEXT (the lookup table's entries; default: the example configurations' entries
#   for *@partner.example, and for *@home.example on the primary; with MCX_TEST_LOOKUP=ldap,
#   the .ldap variants, the same entries in a slapd of the test's own, lib_ldap.sh)
#   unknown=forward|reject   malformed=reject|forward   uninspectable=reject|forward
#   deny_i=TEXT   deny_r=TEXT
#   require_signed=false|true   level=info|debug   signer=DIR (under $WORK/keys; none: unsigned)
#   peers=TEXT (server.peers entries, quoted, comma-separated; none by default: anyone)
#   extra=TEXT (appended to the file: other groups, such as limits = { ... };)
#   crl=PATH (krr.crl; none by default)   lookup_failure=reject|forward (policy.on_lookup_failure)
#   metrics=URL (server.metrics_listen; none by default)
# Key paths are absolute; the audit log is $WORK/FILE-without-.conf-audit.jsonl.
make_conf() {
	m_f=$1
	shift
	m_role=primary m_host=127.0.0.1 m_port=5060 m_tr="udp tcp" m_nh='' m_t1='' m_kms='' m_kx=''
	m_lookup='' m_unknown='' m_malformed=reject m_uninsp=reject m_di='' m_dr='' m_rs=false m_level=info m_signer=
	m_peers= m_extra= m_crl= m_lf= m_metrics=
	for m_a; do
		case $m_a in
		role=*) m_role=${m_a#*=} ;;
		host=*) m_host=${m_a#*=} ;;
		port=*) m_port=${m_a#*=} ;;
		transports=*) m_tr=${m_a#*=} ;;
		next_hop=*) m_nh=${m_a#*=} ;;
		t1=*) m_t1=${m_a#*=} ;;
		kms=*) m_kms=${m_a#*=} ;;
		kms_extra=*) m_kx=${m_a#*=} ;;
		lookup=*) m_lookup=${m_a#*=} ;;
		unknown=*) m_unknown=${m_a#*=} ;;
		malformed=*) m_malformed=${m_a#*=} ;;
		uninspectable=*) m_uninsp=${m_a#*=} ;;
		deny_i=*) m_di=${m_a#*=} ;;
		deny_r=*) m_dr=${m_a#*=} ;;
		require_signed=*) m_rs=${m_a#*=} ;;
		level=*) m_level=${m_a#*=} ;;
		signer=*) m_signer=${m_a#*=} ;;
		peers=*) m_peers=${m_a#*=} ;;
		extra=*) m_extra=${m_a#*=} ;;
		crl=*) m_crl=${m_a#*=} ;;
		lookup_failure=*) m_lf=${m_a#*=} ;;
		metrics=*) m_metrics=${m_a#*=} ;;
		*) echo "make_conf: unknown setting $m_a" >&2; return 2 ;;
		esac
	done
	if [ "$m_role" = primary ]; then
		m_dom=home.example m_other=partner.example
	else
		m_dom=partner.example m_other=home.example
	fi
	[ -n "$m_signer" ] || m_signer=$m_dom
	[ -n "$m_unknown" ] || { [ "$m_role" = primary ] && m_unknown=forward || m_unknown=reject; }
	case $m_host in *:*) m_uh="[$m_host]" ;; *) m_uh=$m_host ;; esac
	m_listen=
	for m_t in $m_tr; do
		m_listen="$m_listen${m_listen:+, }\"sip:$m_uh:$m_port;transport=$m_t\""
	done
	[ -n "$m_kms" ] || m_kms="{ uri = \"kms.$m_dom\"; role = \"home\"; },
  { uri = \"kms.$m_other\"; role = \"external\";
    valid_from = \"2026-01-01T00:00:00Z\"; valid_to = \"2031-01-01T00:00:00Z\"; revoked = false; }"
	[ -z "$m_kx" ] || m_kms="$m_kms,
  $m_kx"
	if [ -z "$m_lookup" ]; then
		m_lookup='{ user = "sip:*@partner.example";
      domains = ( { kms = "kms.partner.example"; external = [ "kms.home.example" ]; } ); }'
		[ "$m_role" = partner ] || m_lookup='{ user = "sip:*@home.example";
      domains = ( { kms = "kms.home.example"; external = [ "kms.partner.example" ]; } ); },
    '$m_lookup
	fi
	if [ "${MCX_TEST_LOOKUP:-table}" = ldap ]; then
		# The same entries in a directory (tests/sip/lib_ldap.sh): the .ldap variants of the tests.
		# Not in $(...): ldap_conf may start slapd, whose PID this shell must keep.
		ldap_conf "${m_f%.conf}" "$m_lookup" >"$WORK/.lookup-section" ||
			{ echo "make_conf: no directory for $m_f" >&2; return 1; }
		m_section=$(cat "$WORK/.lookup-section")
	else
		m_section="lookup = {
  backend = \"table\";
  entries = (
    $m_lookup
  );
};"
	fi
	{
		echo "# $m_f: generated by $(basename "$0") (tests/sip/lib_sip.sh make_conf)"
		echo "server = {"
		echo "  role = \"$m_role\";"
		echo "  uri = \"sip:sdproxy@$m_dom\";"
		echo "  kms_uri = \"kms.$m_dom\";"
		echo "  listen = [ $m_listen ];"
		[ -z "$m_nh" ] || echo "  next_hop = \"$m_nh\";"
		[ -z "$m_t1" ] || echo "  sip_t1 = $m_t1;"
		echo "  workers = ${MCX_TEST_WORKERS:-1};"
		[ -z "$m_peers" ] || echo "  peers = [ $m_peers ];"
		[ -z "$m_metrics" ] || echo "  metrics_listen = \"$m_metrics\";"
		echo "};"
		echo "kms = (
  $m_kms
);"
		echo "$m_section"
		echo "policy = {
  on_missing_mikey = \"forward\";
  on_malformed_mikey = \"$m_malformed\";
  on_uninspectable = \"$m_uninsp\";
  on_unknown_target = \"$m_unknown\";${m_lf:+
  on_lookup_failure = \"$m_lf\";}
  verify_imessage = false;
  deny_initiator_kms = [ $m_di ];
  deny_receiver_kms = [ $m_dr ];
};"
		echo "krr = {"
		if [ "$m_signer" != none ]; then
			echo "  certificate = \"$WORK/keys/$m_signer/krr-cert.pem\";"
			echo "  private_key = \"$WORK/keys/$m_signer/krr-key.pem\";"
		fi
		echo "  trust_anchors = \"$WORK/keys/krr-ca.pem\";"
		[ -z "$m_crl" ] || echo "  crl = \"$m_crl\";"
		echo "  require_signed = $m_rs;"
		echo "};"
		echo "log = { level = \"$m_level\"; audit = \"$WORK/${m_f%.conf}-audit.jsonl\"; };"
		[ -z "$m_extra" ] || echo "$m_extra"
	} >"$WORK/$m_f"
}

# ---- daemons ----

# start_daemon CONF NAME: mcx-sdproxyd -f -c $WORK/CONF in the background, its stderr in
# $WORK/NAME.log; waits (10 s at most) for its "ready" line.  Sets PID_NAME.  One assertion.
start_daemon() {
	"$SDPROXYD" -f -c "$WORK/$1" >"$WORK/$2.log" 2>&1 </dev/null &
	s_pid=$!
	SIP_PIDS="$SIP_PIDS $s_pid"
	eval "PID_$2=$s_pid"
	s_i=0
	while :; do
		if grep -q 'ready (' "$WORK/$2.log" 2>/dev/null; then
			ok "daemon $2 ($1) is ready"
			return 0
		fi
		if ! kill -0 "$s_pid" 2>/dev/null; then
			set +e
			wait "$s_pid"
			s_rc=$?
			set -e
			not_ok "daemon $2 ($1) is ready (it exited with status $s_rc)"
			diag "$WORK/$2.log"
			return 1
		fi
		if [ "$s_i" -ge 100 ]; then
			not_ok "daemon $2 ($1) is ready within 10 s"
			diag "$WORK/$2.log"
			return 1
		fi
		sleep 0.1
		s_i=$((s_i + 1))
	done
}

# start_chain: the usual path, alice -> primary -> partner -> bob's UAS, UDP on 127.0.0.1, the
# configurations as make_conf makes them; the test ends here when a daemon does not start.
start_chain() {
	make_conf primary.conf role=primary port="$P_PRI" next_hop="sip:127.0.0.1:$P_PAR;transport=udp"
	make_conf partner.conf role=partner port="$P_PAR" next_hop="sip:127.0.0.1:$P_UAS;transport=udp"
	start_daemon primary.conf primary && start_daemon partner.conf partner || { done_testing; exit 1; }
}

# stop_daemon NAME: SIGTERM; it logs "stopping" and exits 0 within 5 s.  One assertion.
stop_daemon() {
	eval "s_pid=\${PID_$1:-}"
	[ -n "$s_pid" ] || { not_ok "daemon $1 was started"; return 1; }
	kill -TERM "$s_pid" 2>/dev/null || :
	s_i=0
	while kill -0 "$s_pid" 2>/dev/null && [ "$s_i" -lt 50 ]; do
		sleep 0.1
		s_i=$((s_i + 1))
	done
	if kill -0 "$s_pid" 2>/dev/null; then
		not_ok "daemon $1 stops within 5 s of SIGTERM"
		kill -KILL "$s_pid" 2>/dev/null || :
		diag "$WORK/$1.log"
		return 1
	fi
	set +e
	wait "$s_pid"
	s_rc=$?
	set -e
	if grep -q 'stopping' "$WORK/$1.log"; then s_st=yes; else s_st=no; fi
	is "daemon $1: SIGTERM -> 'stopping' logged, exit status 0" "$s_st $s_rc" "yes 0"
	[ "$s_st $s_rc" = "yes 0" ] || diag "$WORK/$1.log"
}

# wait_log NAME ERE [TENTHS]: wait until $WORK/NAME.log has a line matching ERE (5 s default).
wait_log() {
	w_i=0
	until grep -Eq -- "$2" "$WORK/$1.log" 2>/dev/null; do
		[ "$w_i" -lt "${3:-50}" ] || return 1
		sleep 0.1
		w_i=$((w_i + 1))
	done
}

# daemon_pids NAME: the processes doing daemon NAME's SIP work: its workers (the latest of each,
# from its log) or, alone, itself.
daemon_pids() {
	eval "d_pid=\${PID_$1:-}"
	d_w=$(sed -n 's/.*: worker \([0-9]*\) started (pid \([0-9]*\)).*/\1 \2/p' "$WORK/$1.log" |
		awk '{ p[$1] = $2 } END { for (w in p) print p[w] }')
	echo ${d_w:-$d_pid}
}

# cpu_ticks NAME: user + system clock ticks used so far by daemon NAME's SIP processes.
cpu_ticks() {
	for c_p in $(daemon_pids "$1"); do
		cat "/proc/$c_p/stat"
	done | awk '{ sub(/.*\) /, ""); t += $12 + $13 } END { print t + 0 }'
}

# master_log NAME: daemon NAME's log without its workers' lines (all of it when alone).
master_log() { grep -v ': worker [0-9]*: ' "$WORK/$1.log" || :; }

# hup NAME: SIGHUP daemon NAME and wait (5 s at most) until the reload is over: refused, or
# loaded (with workers: read by every worker, which the master logs).  1 on timeout.
hup() {
	h_done='reload refused: keeping|reload: configuration .* loaded'
	[ "${MCX_TEST_WORKERS:-1}" -le 1 ] || h_done='reload refused: keeping|reload: (every|some)'
	h_before=$(master_log "$1" | grep -cE "$h_done" || :)
	eval "kill -HUP \$PID_$1"
	h_i=0
	until [ "$(master_log "$1" | grep -cE "$h_done" || :)" -gt "$h_before" ]; do
		[ "$h_i" -lt 50 ] || return 1
		sleep 0.1
		h_i=$((h_i + 1))
	done
}

# decision_of NAME CALL-ID: what daemon NAME logged for that call ("<decision> rule <rule>
# status <status> target <target>", what may follow cut), one line per decision; other lines
# about the call (a 503 or 408 sent upstream ...) are not decisions.
decision_of() {
	grep -F "call $2: " "$WORK/$1.log" | sed 's/.*call [^ ]*: //' | awk '$2 == "rule" && $4 == "status" && $6 == "target"' |
		cut -d' ' -f1-7 || :
}

# audit_of CONF CALL-ID: the audit records (compact JSON, one per line) of that call.
audit_of() {
	a_f=$WORK/${1%.conf}-audit.jsonl
	[ -f "$a_f" ] || return 0
	"$JQ" -c --arg c "$2" 'select(.call_id == $c)' "$a_f" 2>/dev/null || echo "(audit log not JSON lines)"
}

# expect_decision NAME CONF CALL-ID "DECISION RULE STATUS TARGET"...: daemon NAME logged exactly
# these decisions for the call, in order, and appended audit records that say the same.
expect_decision() {
	e_d=$1 e_c=$2 e_id=$3
	shift 3
	e_w=$(printf '%s\n' "$@" | awk '{ print $1 " rule " $2 " status " $3 " target " $4 }')
	is "$e_d: logged decision(s) for call $e_id" "$(decision_of "$e_d" "$e_id")" "$e_w"
	is "$e_d: audit record(s) for call $e_id with the same decision(s)" \
		"$(audit_of "$e_c" "$e_id" | "$JQ" -r '"\(.decision) \(.rule) \(.status) \(.target)"' 2>&1)" \
		"$(printf '%s\n' "$@")"
}

# ---- sipp ----

# sipp_opts NAME: the options of every sipp run: one call, traces under $WORK/NAME.*, the
# control port CP (call next_cp first, outside the command substitution).
sipp_opts() {
	echo "-nostdin -m 1 -cp $CP -trace_msg -message_file $WORK/$1.msg -trace_err -error_file $WORK/$1.errors -trace_logs -log_file $WORK/$1.logs"
}

# uas_start NAME SCENARIO HOST PORT [SIPP-OPTION...]: a terminating sipp (scenarios/SCENARIO.xml)
# in the background, run in $WORK; waits until it listens.  Bound it with -timeout (default
# -timeout 20s here).  Sets UASPID_NAME.
uas_start() {
	u_n=$1 u_s=$2 u_h=$3 u_p=$4
	shift 4
	u_proto=udp
	next_cp
	case " $* " in *" -t t1 "* | *" -t tn "*) u_proto=tcp ;; esac
	# shellcheck disable=SC2046
	(cd "$WORK" && exec "$SIPP" -sf "$SCEN/$u_s.xml" -i "$u_h" -p "$u_p" $(sipp_opts "$u_n") \
		-timeout 20s "$@" >"$WORK/$u_n.out" 2>&1 </dev/null) &
	u_pid=$!
	SIP_PIDS="$SIP_PIDS $u_pid"
	eval "UASPID_$u_n=$u_pid"
	if ! wait_bound "$u_proto" "$u_p"; then
		not_ok "sipp $u_n ($u_s) listens on $u_proto port $u_p"
		diag "$WORK/$u_n.out"
		return 1
	fi
}

# uas_wait NAME [TENTHS]: wait for sipp NAME to end (10 s default); RC its exit status, or 124
# when it had to be killed.
uas_wait() {
	eval "u_pid=\$UASPID_$1"
	u_i=0
	while kill -0 "$u_pid" 2>/dev/null && [ "$u_i" -lt "${2:-100}" ]; do
		sleep 0.1
		u_i=$((u_i + 1))
	done
	if kill -0 "$u_pid" 2>/dev/null; then
		kill -TERM "$u_pid" 2>/dev/null || :
		sleep 0.2
		kill -KILL "$u_pid" 2>/dev/null || :
		set +e
		wait "$u_pid" 2>/dev/null
		set -e
		RC=124
	else
		set +e
		wait "$u_pid"
		RC=$?
		set -e
	fi
}

# uas_stop NAME: stop sipp NAME now, whatever it was doing.
uas_stop() {
	eval "u_pid=\$UASPID_$1"
	kill -TERM "$u_pid" 2>/dev/null || :
	uas_wait "$1" 20
}

# uac NAME SCENARIO HOST REMOTE [SIPP-OPTION...]: an initiating sipp (scenarios/SCENARIO.xml)
# from HOST port P_UAC to REMOTE (host:port, [v6]:port), one call from $WORK/NAME.csv, in the
# foreground, -timeout 15s unless given.  RC: its exit status (0: the call went as the scenario
# says); MS: its run time in milliseconds.
uac() {
	next_cp
	uac_run "$P_UAC" "$@"
}

# uac_bg NAME SCENARIO HOST REMOTE [SIPP-OPTION...]: the same from port P_UAC2, in the
# background; uac_bg_wait NAME then sets RC and MS.
uac_bg() {
	next_cp
	(
		uac_run "$P_UAC2" "$@"
		echo "$RC $MS" >"$WORK/$1.rc"
	) &
	SIP_PIDS="$SIP_PIDS $!"
	eval "BGPID_$1=$!"
}

uac_bg_wait() {
	eval "b_pid=\$BGPID_$1"
	set +e
	wait "$b_pid"
	set -e
	RC=255 MS=0
	[ ! -s "$WORK/$1.rc" ] || read -r RC MS <"$WORK/$1.rc"
}

# uac_run PORT NAME SCENARIO HOST REMOTE [SIPP-OPTION...]: uac's work, control port CP.
uac_run() {
	c_lp=$1 c_n=$2 c_s=$3 c_h=$4 c_r=$5
	shift 5
	c_t0=$(now_ms)
	# shellcheck disable=SC2046
	(cd "$WORK" && exec "$SIPP" -sf "$SCEN/$c_s.xml" -i "$c_h" -p "$c_lp" $(sipp_opts "$c_n") \
		-inf "$WORK/$c_n.csv" -timeout 15s -timeout_error "$@" "$c_r" >"$WORK/$c_n.out" 2>&1 </dev/null) &
	c_pid=$!
	# (for sip_cleanup, should this run in a background subshell that it cannot see into)
	echo "$c_pid" >"$WORK/$c_n.pid"
	set +e
	wait "$c_pid"
	RC=$?
	set -e
	rm -f "$WORK/$c_n.pid"
	MS=$(( $(now_ms) - c_t0 ))
}

# sipp_ok NAME WHAT: the last sipp run (RC) exited 0: WHAT went as its scenario says.
sipp_ok() {
	if [ "$RC" -eq 0 ]; then
		ok "sipp $1: $2 (exit 0)"
	else
		not_ok "sipp $1: $2 (exit $RC)"
		diag "$WORK/$1.errors" 30
		grep -E 'call|Call|rror|nexpected|Aborted|timeout' "$WORK/$1.out" 2>/dev/null | tail -n 8 | sed 's/^/#   /'
		for d_f in "$WORK"/*.log; do diag "$d_f" 10; done
	fi
}

# ---- the message traces (sipp -trace_msg) ----

# sip_split NAME: $WORK/NAME.msg cut into one file per message, $WORK/NAME.d/NNN, and an index
# $WORK/NAME.d/index: "NNN sent|recv FIRST-LINE" per message.
sip_split() {
	rm -rf "$WORK/$1.d"
	mkdir -p "$WORK/$1.d"
	[ -f "$WORK/$1.msg" ] || { : >"$WORK/$1.d/index"; return 0; }
	awk -v d="$WORK/$1.d" '
		function flush() {
			if (n == 0) return
			# the trace adds one empty line after each message
			if (nl > 0 && lines[nl] == "") nl--
			f = sprintf("%s/%03d", d, n)
			for (i = 1; i <= nl; i++) printf "%s\n", lines[i] > f
			close(f)
			first = (nl > 0) ? lines[1] : ""
			sub(/\r$/, "", first)
			printf "%03d %s %s\n", n, dir, first > (d "/index")
			nl = 0
		}
		/^-+ [0-9][0-9][0-9][0-9]-/ { flush(); n++; state = 1; next }
		state == 1 { dir = ($0 ~ /received/) ? "recv" : "sent"; state = 2; next }
		state == 2 { state = 3; next }
		state == 3 { lines[++nl] = $0 }
		END { flush() }' "$WORK/$1.msg"
	touch "$WORK/$1.d/index"
	unworker_files "$WORK/$1.d"/[0-9]*
}

# listen_lines NAME: daemon NAME's "listening on" lines for its server.listen addresses (a
# worker's own addresses left out), each once.
listen_lines() {
	grep 'listening on sip:' "$WORK/$1.log" | grep -v "worker's own" | sed 's/.*listening on /listening on /' | awk '!seen[$0]++'
}

# unworker_files FILE...: with workers (MCX_TEST_WORKERS above 1), the daemons put each worker's
# own address in Via and Record-Route; written back here as the server.listen address of the same
# host and transport (from the daemons' "listening on" lines), so that the scripts check the same
# routes with workers and without.  tests/sip/workers.sh checks the workers' own addresses.
unworker_files() {
	[ "${MCX_TEST_WORKERS:-1}" -gt 1 ] && [ -e "$1" ] || return 0
	u_sed=$(for u_l in "$WORK"/*.log; do tr -d '\r' <"$u_l" | awk '
		/listening on sip:.*\(this worker.s own/ { own[++n] = $0 }
		/listening on sip:.*\(shared\)/ { shared[++m] = $0 }
		function hpt(l, a) { sub(/.*listening on sip:/, "", l); sub(/ .*/, "", l)
			t = l; sub(/.*;transport=/, "", t); sub(/;transport=.*/, "", l)
			p = l; sub(/.*:/, "", p); h = substr(l, 1, length(l) - length(p) - 1)
			a["h"] = h; a["p"] = p; a["t"] = tolower(t) }
		END {
			for (i = 1; i <= n; i++) {
				hpt(own[i], o)
				for (j = 1; j <= m; j++) {
					hpt(shared[j], s)
					if (s["h"] == o["h"] && s["t"] == o["t"]) {
						h = o["h"]; gsub(/[][.]/, "\\\\&", h)
						printf "s/%s:%s\\([^0-9]\\|$\\)/%s:%s\\1/g\n", h, o["p"], s["h"], s["p"]
						break
					}
				}
			}
		}'; done)
	[ -n "$u_sed" ] || return 0
	for u_f; do
		sed -i "$u_sed" "$u_f"
	done
}

# sip_find NAME DIR ERE [NTH]: the file of the NTH (default first) message DIR (sent|recv) in
# sipp NAME's trace whose first line matches ERE; prints nothing when there is none.
sip_find() {
	[ -f "$WORK/$1.d/index" ] || sip_split "$1"
	awk -v dir="$2" -v re="$3" -v nth="${4:-1}" -v d="$WORK/$1.d" '
		$2 == dir { l = $0; sub(/^[0-9]+ [a-z]+ /, "", l); if (l ~ re && ++k == nth) { print d "/" $1; exit } }' \
		"$WORK/$1.d/index"
}

# sip_count NAME DIR ERE: how many messages DIR in sipp NAME's trace have a first line matching ERE.
sip_count() {
	[ -f "$WORK/$1.d/index" ] || sip_split "$1"
	awk -v dir="$2" -v re="$3" '
		$2 == dir { l = $0; sub(/^[0-9]+ [a-z]+ /, "", l); if (l ~ re) k++ } END { print k + 0 }' \
		"$WORK/$1.d/index"
}

# sip_firsts NAME DIR: the first lines of the messages DIR, joined with " | " (for messages).
sip_firsts() {
	[ -f "$WORK/$1.d/index" ] || sip_split "$1"
	awk -v dir="$2" '$2 == dir { l = $0; sub(/^[0-9]+ [a-z]+ /, "", l); s = s (s == "" ? "" : " | ") l }
		END { print s }' "$WORK/$1.d/index"
}

# sip_status FILE: the status code of the response in FILE.
sip_status() { [ -f "${1:-}" ] && sed -n '1s/^SIP\/2\.0 \([0-9][0-9][0-9]\) .*/\1/p' "$1" | tr -d '\r'; }

# sip_hdr FILE NAME [COMPACT]: the values of header NAME (or its compact form), one per header
# line, in order; case-insensitive names, no CR.
sip_hdr() {
	[ -f "${1:-}" ] || return 0
	awk -v n="$2" -v c="${3:-}" '
		{ sub(/\r$/, "") }
		NR > 1 && $0 == "" { exit }
		NR > 1 {
			i = index($0, ":"); if (!i) next
			h = tolower(substr($0, 1, i - 1)); sub(/[ \t]+$/, "", h)
			if (h == tolower(n) || (c != "" && h == tolower(c))) {
				v = substr($0, i + 1); sub(/^[ \t]+/, "", v); print v
			}
		}' "$1"
}

# sip_hdr_list FILE NAME [COMPACT]: the header's values split at the commas between them
# (outside <> and quotes), one per line: the Via or Record-Route entries, in order.
sip_hdr_list() {
	sip_hdr "$@" | awk '{
		q = 0; a = 0; s = ""
		for (i = 1; i <= length($0); i++) {
			ch = substr($0, i, 1)
			if (ch == "\"") q = !q
			else if (!q && ch == "<") a = 1
			else if (!q && ch == ">") a = 0
			if (ch == "," && !q && !a) { sub(/^[ \t]+/, "", s); print s; s = ""; continue }
			s = s ch
		}
		sub(/^[ \t]+/, "", s); if (s != "") print s
	}'
}

# sip_body FILE: the body of the message in FILE, as it came (after the first empty line).
sip_body() {
	[ -f "${1:-}" ] || return 0
	awk 'b { print; next } /^\r?$/ { b = 1 }' "$1"
}

# call_id NAME: the Call-ID of the (first) INVITE sipp NAME sent.
call_id() {
	sip_hdr "$(sip_find "$1" sent '^INVITE ')" Call-ID i
}

# via_hops FILE: the Via entries of the message in FILE, top first, as "PROTO HOST:PORT"
# joined with ", ".
via_hops() {
	sip_hdr_list "$1" Via v | sed 's/^SIP *\/ *2\.0 *\/ *\([A-Za-z]*\) *\([^;]*\).*/\1 \2/' | paste -sd, - | sed 's/,/, /g'
}

# rr_hops FILE [HEADER]: the URIs of the Record-Route (or HEADER) entries, top first, joined
# with ", ".
rr_hops() {
	sip_hdr_list "$1" "${2:-Record-Route}" | sed 's/^[^<]*<\([^>]*\)>.*/\1/' | paste -sd, - | sed 's/,/, /g'
}

# ---- KRR checks ----

# krr_xs NAME FILE: xmlsec1 verifies the KRR root's own signature against the test CA.
krr_xs() { xs_ok "$1" "$WORK/keys/krr-ca.pem" "$2" --node-xpath "$XS_ROOT"; }

# krr_check NAME FILE SIGNER-URI EMBEDDED-VALID: the KRR in FILE verifies with xmlsec1 and
# with `mcx-sdtool krr verify` (valid, signed by SIGNER-URI, embedded_valid as given: true,
# false or null); leaves `krr decode --json` of it in FILE.json.
krr_check() {
	krr_xs "$1: xmlsec1 verifies the KRR's signature" "$2"
	run "$SDTOOL" krr verify --trust "$WORK/keys/krr-ca.pem" --json "$2"
	is "$1: krr verify: exit 0, valid, signer, embedded_valid" \
		"$RC $(jqo '[.valid, .signer_uris, .embedded_valid]' "$WORK/out")" "0 [true,[\"$3\"],$4]"
	[ "$RC" -eq 0 ] || diag "$WORK/err" 5
	"$SDTOOL" krr decode --json "$2" >"$2.json" 2>"$WORK/err" || {
		not_ok "$1: krr decode --json"
		diag "$WORK/err" 5
	}
}

# krr_chain FILE.json: the originators of the KRR and of its EmbeddedKrr, outermost first,
# joined with " > ".
krr_chain() {
	"$JQ" -r '[recurse(.embedded; . != null) | .originator] | join(" > ")' "$1" 2>/dev/null || echo "(no JSON)"
}

# krr_lists FILE.json: the outermost KRR's accept lists, compact JSON.
krr_lists() {
	jqo '[.accept_initiator_kms, .accept_receiver_kms]' "$1"
}

# got_krr NAME SIPP SIGNER-URI EMBEDDED-VALID: sipp SIPP received a 488 whose Content-Type is the
# KRR's and whose body verifies (krr_check); the body in $WORK/NAME.krr, its decode in
# $WORK/NAME.krr.json.
got_krr() {
	g_r=$(sip_find "$2" recv '^SIP/2.0 488 ')
	is "$1: a 488 with a KRR body (Content-Type)" "$(sip_status "$g_r") $(sip_hdr "$g_r" Content-Type c)" "488 $KRR_CT"
	sip_body "$g_r" >"$WORK/$1.krr"
	krr_check "$1" "$WORK/$1.krr" "$3" "$4"
}
