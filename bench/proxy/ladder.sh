#!/bin/bash
# Call-rate ladder: a SIPp UAC -> ONE proxy -> a SIPp UAS, all on 127.0.0.1,
# for up to three targets in the same run:
#   direct    sipp -> sipp, no proxy (the ceiling)
#   kamailio  Debian's Kamailio, bench/proxy/kamailio-baseline.cfg with
#             only the ports/mpath/NEXT_HOP adapted, run in the foreground as
#             kamailio -f CFG -DD -E -m 4096 -M 16 -x tlsf -X tlsf
#   sdproxy   src/mcx-sdproxyd -f -c CFG (conf/primary.conf with listen,
#             next_hop -> the UAS, log.level warning, no audit unless --audit)
#   sdproxy-ldap  the same with lookup.backend = "ldap": a slapd of the script's
#             own (bench/ldap/slapd.sh) holding primary.conf's entries and
#             --ldap-users exact users more
# Call flow: INVITE (~1 kB SDP with a=key-mgmt:mikey, an I_MESSAGE primary.conf
# forwards) / 100 / 180 / 200 / ACK / hold / BYE / 200 (uac.xml, uas.xml).
#
# For each target: the highest rate with zero failed calls and < 1
# retransmission per 100 calls (fixed-rate steps -r R -m STEP_S*R, a failing
# rate retried once, the top rate confirmed CONFIRM times), the proxy's CPU
# time per call (utime+stime of its process tree over each step), and
# INVITE->200 / BYE->200 response-time percentiles at LAT_RATE calls/s from a
# bounded packet capture on lo (median of LAT_RUNS runs).
#
# Output: a table on stdout; results (JSON) in --results, every step's files
# in --workdir.  See bench/proxy/README.
set -u

. "$(dirname "$0")/common.sh"

usage() {
	cat <<EOF
usage: $0 [options]
  --targets LIST      comma- or space-separated: direct,kamailio,sdproxy,sdproxy-ldap,
                      sdproxy-before (default: the first three; sdproxy is skipped with a
                      note when the daemon is not built; sdproxy-ldap is sdproxy with
                      lookup.backend = "ldap" against a slapd the script starts;
                      sdproxy-before is --sdproxyd-before, an older build to compare with
                      in the same run)
  --steps "R1 R2 ..." call rates to climb, calls/s (default: "$DEF_STEPS")
  --step-seconds S    calls per step = S * rate (default 10)
  --hold MS           call hold time between ACK and BYE (default 1000)
  --confirm N         repeats of the top rate (default 3)
  --lat-rate R        rate of the latency runs (default 2000)
  --lat-runs N        latency runs per target (default 3), median reported
  --lat-window S      capture window of a latency run, seconds (default 3)
  --settle S          wait after a step before reading the proxy's CPU (default 4)
  --base-port P       proxy P, UAC P+2, UAS P+10 (default 27160)
  --sipp-buff BYTES   SIPp socket buffers (default 1048576)
  --audit             mcx-sdproxyd writes log.audit to the work dir
  --workers N         mcx-sdproxyd's server.workers (default 2, as the Kamailio baseline's
                      children)
  --uac-sockets MODE  one: the UAC sends every call from one socket (sipp -t u1, the
                      default); many: a socket per call (sipp -t un), as many clients
                      would (the kernel spreads the workers' shared port by source)
  --sdproxyd PATH     daemon binary (default: \$SDPROXYD or src/mcx-sdproxyd)
  --sdproxyd-before PATH  an older daemon binary, the target sdproxy-before
                      (default: \$SDPROXYD_BEFORE)
  --sdtool PATH       mcx-sdtool (default: \$SDTOOL or src/mcx-sdtool)
  --ldap-users N      sdproxy-ldap: exact users in the directory besides primary.conf's
                      entries (default 100000)
  --ldap-port P       sdproxy-ldap: slapd's port on 127.0.0.1 (default base port + 30)
  --ldap-extra TEXT   sdproxy-ldap: more lookup.ldap settings, e.g. "cache_ttl = 60;"
                      (default none: the daemon's defaults)
  --kamailio-cfg F    baseline cfg (default: kamailio-baseline.cfg beside this script)
  --workdir DIR       where every step's files go (default: a new /tmp/mcx-ladder.XXXXXX)
  --results FILE      JSON results (default: WORKDIR/results.json)
  --quick             smoke run: steps "500 2000 4000", 3 s steps, 1 confirmation,
                      1 latency run of 2 s
  -h, --help
EOF
}

DEF_STEPS="500 1000 1500 2000 3000 4000 5000 6000 7000 8000 9000 10000 12000 14000 16000 18000 20000 22000 24000 26000 28000"
TARGETS="direct,kamailio,sdproxy"
STEPS=$DEF_STEPS
STEP_S=10
HOLD_MS=1000
CONFIRM=3
LAT_RATE=2000
LAT_RUNS=3
LAT_WINDOW=3
LAT_WARM=2
SETTLE=4
BASE_PORT=27160
SIPP_BUFF=1048576
AUDIT=no
SDPROXY_WORKERS=2
UAC_SOCKETS=one
SDPROXYD=${SDPROXYD:-$TOP_DIR/src/mcx-sdproxyd}
SDPROXYD_BEFORE=${SDPROXYD_BEFORE:-}
SDTOOL=${SDTOOL:-$TOP_DIR/src/mcx-sdtool}
KAM_CFG=$(cd "$(dirname "$0")" && pwd)/kamailio-baseline.cfg
WORK=
RESULTS=
QUICK=no
LDAP_USERS=100000
LDAP_PORT=
LDAP_EXTRA=

while [ $# -gt 0 ]; do
	case $1 in
	--targets) TARGETS=$2; shift ;;
	--steps) STEPS=$2; shift ;;
	--step-seconds) STEP_S=$2; shift ;;
	--hold) HOLD_MS=$2; shift ;;
	--confirm) CONFIRM=$2; shift ;;
	--lat-rate) LAT_RATE=$2; shift ;;
	--lat-runs) LAT_RUNS=$2; shift ;;
	--lat-window) LAT_WINDOW=$2; shift ;;
	--settle) SETTLE=$2; shift ;;
	--base-port) BASE_PORT=$2; shift ;;
	--sipp-buff) SIPP_BUFF=$2; shift ;;
	--audit) AUDIT=yes ;;
	--workers) SDPROXY_WORKERS=$2; shift ;;
	--uac-sockets) UAC_SOCKETS=$2; shift ;;
	--sdproxyd) SDPROXYD=$2; shift ;;
	--sdproxyd-before) SDPROXYD_BEFORE=$2; shift ;;
	--sdtool) SDTOOL=$2; shift ;;
	--ldap-users) LDAP_USERS=$2; shift ;;
	--ldap-port) LDAP_PORT=$2; shift ;;
	--ldap-extra) LDAP_EXTRA=$2; shift ;;
	--kamailio-cfg) KAM_CFG=$2; shift ;;
	--workdir) WORK=$2; shift ;;
	--results) RESULTS=$2; shift ;;
	--quick) QUICK=yes ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
	shift
done
if [ $QUICK = yes ]; then
	[ "$STEPS" = "$DEF_STEPS" ] && STEPS="500 2000 4000"
	STEP_S=3 CONFIRM=1 LAT_RUNS=1 LAT_WINDOW=2 LAT_WARM=1 SETTLE=2
fi

UAC_MAXSOCK=
case $UAC_SOCKETS in
one) UAC_T=u1 ;;
many)
	UAC_T=un
	# a socket per call: as many open at once as calls in progress (rate x (hold + set-up))
	ulimit -n 262144 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || :
	UAC_MAXSOCK="-max_socket $(($(ulimit -n) - 200))"
	;;
*) die "--uac-sockets: one or many" ;;
esac
export SDPROXY_WORKERS

PROXY_PORT=$BASE_PORT
UAC_PORT=$((BASE_PORT + 2))
UAS_PORT=$((BASE_PORT + 10))
: "${LDAP_PORT:=$((BASE_PORT + 30))}"
TARGETS=${TARGETS// /,}

for t in sipp dumpcap tshark jq awk ss; do
	command -v $t >/dev/null || die "$t not found"
done
[ -x "$SDTOOL" ] || die "mcx-sdtool not found at $SDTOOL (make -C $TOP_DIR)"

[ -n "$WORK" ] || WORK=$(mktemp -d /tmp/mcx-ladder.XXXXXX)
mkdir -p "$WORK" && WORK=$(cd "$WORK" && pwd)
[ -n "$RESULTS" ] || RESULTS=$WORK/results.json
STEPS_JSONL=$WORK/steps.jsonl
: >"$STEPS_JSONL"

trap 'stop_all' EXIT
trap 'log "interrupted"; exit 130' INT TERM

MIKEY=$(mikey_b64 kms.partner.example) || die "mcx-sdtool mikey build failed"

for p in $PROXY_PORT $UAC_PORT $UAS_PORT; do
	port_free $p || die "port $p is in use (choose another --base-port)"
done
case ",$TARGETS," in
*,sdproxy-ldap,*)
	port_free $LDAP_PORT || die "port $LDAP_PORT is in use (choose another --ldap-port)"
	. "$BENCH_DIR/../ldap/slapd.sh"
	;;
esac

# ---------------------------------------------------------------- targets

TARGET_PID=
DEST_PORT=
SLAPD_PID=
LDAP_BASE=ou=sdproxy,dc=bench

# ldap_directory DIR: the slapd of sdproxy-ldap, started once (it outlives the
# daemon's restarts): primary.conf's lookup entries (tests/sip/table2ldif.py)
# and LDAP_USERS exact users sip:userN@partner.example (the partner's domain,
# as the wide entry has it), loaded by slapadd.
ldap_directory() {
	local dir=$1
	[ -z "$SLAPD_PID" ] || return 0
	mkdir -p "$dir"
	awk '/^lookup = \{/ { on = 1 } on { print } on && /^};/ { exit }' "$TOP_DIR/conf/primary.conf" |
	    python3 "$TOP_DIR/tests/sip/table2ldif.py" "$LDAP_BASE" >"$dir/directory.ldif" ||
	    { log "table2ldif.py failed on conf/primary.conf's lookup entries"; return 1; }
	awk -v n="$LDAP_USERS" -v base="$LDAP_BASE" 'BEGIN {
		for (i = 0; i < n; i++)
			printf "dn: cn=u%d,%s\nobjectClass: applicationProcess\nobjectClass: mcxUser\ncn: u%d\n" \
			    "mcxUserUri: sip:user%d@partner.example\nmcxSecurityDomain: kms.partner.example kms.home.example\n\n",
			    i, base, i, i
	}' >>"$dir/directory.ldif"
	bench_slapd_start "$dir" "$LDAP_PORT" "$dir/directory.ldif"
	log "slapd pid $SLAPD_PID on $SLAPD_URI: $(grep -c '^mcxUserUri:' "$dir/directory.ldif") users under $LDAP_BASE"
}

# ldap_conf FILE: replace the lookup group of a make_sdproxy_conf configuration with the directory.
ldap_conf() {
	awk -v uri="$SLAPD_URI" -v base="$LDAP_BASE" -v extra="$LDAP_EXTRA" '
		/^lookup = \{/ { skip = 1
			print "lookup = {\n  backend = \"ldap\";\n  ldap = { uris = [ \"" uri "\" ]; base = \"" base "\"; " extra " };\n};"
			next }
		skip && /^};/ { skip = 0; next }
		!skip { print }' "$1" >"$1.new" && mv "$1.new" "$1"
}

start_target() {	# NAME
	local name=$1 dir=$WORK/$1
	mkdir -p "$dir"
	TARGET_PID=
	case $name in
	direct)
		DEST_PORT=$UAS_PORT
		;;
	kamailio)
		command -v kamailio >/dev/null || { log "kamailio not installed (apt-get install -y kamailio)"; return 1; }
		local mpath
		mpath=$(dirname "$(find /usr/lib -name tm.so -path '*kamailio/modules*' 2>/dev/null | head -1)")/
		sed -e "s|^listen=udp:127\.0\.0\.1:5060|listen=udp:127.0.0.1:$PROXY_PORT|" \
		    -e "s|^listen=tcp:127\.0\.0\.1:5060|listen=tcp:127.0.0.1:$PROXY_PORT|" \
		    -e "s|^alias=\"127\.0\.0\.1:5060\"|alias=\"127.0.0.1:$PROXY_PORT\"|" \
		    -e "s|^mpath=.*|mpath=\"$mpath\"|" \
		    -e "s|^#!define NEXT_HOP .*|#!define NEXT_HOP \"sip:127.0.0.1:$UAS_PORT\"|" \
		    "$KAM_CFG" >"$dir/kamailio.cfg"
		diff "$KAM_CFG" "$dir/kamailio.cfg" >"$dir/kamailio.cfg.diff"
		start_bg "$dir/kamailio.log" kamailio -f "$dir/kamailio.cfg" -DD -E -m 4096 -M 16 -x tlsf -X tlsf
		TARGET_PID=$BG_PID
		DEST_PORT=$PROXY_PORT
		wait_udp_port $PROXY_PORT $TARGET_PID 20 || { log "kamailio did not start (see $dir/kamailio.log)"; return 1; }
		sleep 1
		;;
	sdproxy | sdproxy-before | sdproxy-ldap)
		local bin=$SDPROXYD
		[ "$name" = sdproxy-before ] && bin=$SDPROXYD_BEFORE
		[ -n "$bin" ] && [ -x "$bin" ] || { log "$name: no daemon binary (${bin:-none}): target skipped"; return 1; }
		make_sdproxy_conf "$dir" $PROXY_PORT $UAS_PORT $AUDIT
		if [ "$name" = sdproxy-ldap ]; then
			ldap_directory "$WORK/slapd" || return 1
			ldap_conf "$dir/sdproxy.conf"
			# the directory answers the calls' target before any call is made
			"$SDTOOL" lookup -c "$dir/sdproxy.conf" sip:bob@partner.example >"$dir/lookup-bob.txt" 2>&1 ||
			    { log "mcx-sdtool lookup sip:bob@partner.example failed: $(cat "$dir/lookup-bob.txt")"; return 1; }
		fi
		"$bin" -t -c "$dir/sdproxy.conf" >"$dir/check.log" 2>&1 ||
		    { log "$bin -t refuses $dir/sdproxy.conf: $(cat "$dir/check.log")"; return 1; }
		start_bg "$dir/sdproxyd.log" "$bin" -f -c "$dir/sdproxy.conf"
		TARGET_PID=$BG_PID
		DEST_PORT=$PROXY_PORT
		wait_udp_port $PROXY_PORT $TARGET_PID 20 || { log "mcx-sdproxyd did not start (see $dir/sdproxyd.log)"; return 1; }
		local i
		for ((i = 0; i < 50; i++)); do
			grep -q 'ready' "$dir/sdproxyd.log" && break
			sleep 0.1
		done
		;;
	esac
	return 0
}

stop_target() {
	[ -n "$TARGET_PID" ] || return 0
	stop_pid "$TARGET_PID" 10
	TARGET_PID=
}

# restart_target NAME: a fresh proxy (no transactions left from a failed step)
restart_target() {
	[ -n "$TARGET_PID" ] || return 0
	stop_target
	local i
	for ((i = 0; i < 100; i++)); do
		port_free $PROXY_PORT && break
		sleep 0.1
	done
	start_target $1 || { log "$1: restart failed"; return 1; }
	log "$1: restarted (pid $TARGET_PID)"
	sleep 1
}

target_alive() {
	[ -z "$TARGET_PID" ] || kill -0 "$TARGET_PID" 2>/dev/null
}

# ---------------------------------------------------------------- one step

# run_sipp_dir DIR OUT CMD...: start CMD with DIR as its working directory
run_in() {
	local dir=$1 out=$2
	shift 2
	start_bg "$out" sh -c 'cd "$1" && shift && exec "$@"' sh "$dir" "$@"
}

# proc_cpu_us PID: utime+stime of one process (0 when gone)
proc_cpu_us() {
	awk -v tck="$CLK_TCK" '{ l = $0; sub(/^.*\) /, "", l); split(l, f, " "); printf "%.0f\n", (f[12] + f[13]) * 1000000 / tck }' \
	    "/proc/$1/stat" 2>/dev/null || echo 0
}

# analyse_capture PCAP DIR: per Call-ID, INVITE (UAC->) to its first 200
# (->UAC), INVITE to its first response, and BYE to its 200, in
# microseconds; prints "n p50 p90 p99 first_p50 bye_n bye_p50 bye_p99"
analyse_capture() {
	local pcap=$1 dir=$2
	# (a socket per call: the capture holds only UAC <-> proxy messages, on any ports;
	# tshark finds SIP on them by its heuristic, on by default)
	tshark -r "$pcap" -n -d udp.port==$UAC_PORT,sip -d udp.port==$DEST_PORT,sip -Y sip \
	    -T fields -E separator=/t -e frame.time_epoch -e udp.srcport -e udp.dstport \
	    -e sip.Call-ID -e sip.Method -e sip.Status-Code -e sip.CSeq.method \
	    >"$dir/capture.tsv" 2>"$dir/tshark.err"
	awk -F'\t' -v uac=$UAC_PORT -v all=$([ "$UAC_T" = u1 ] && echo 0 || echo 1) -v dir="$dir" '
		function us(t) { return t * 1000000 }
		{
			t = $1; src = $2; dst = $3; cid = $4; m = $5; st = $6; cm = $7
			from = all || src == uac; to = all || dst == uac
			if (from && m == "INVITE" && !(cid in inv)) inv[cid] = t
			else if (to && st != "" && cm == "INVITE") {
				if ((cid in inv) && !(cid in first)) first[cid] = t
				if (st == 200 && (cid in inv) && !(cid in ok)) ok[cid] = t
			}
			else if (from && m == "BYE" && !(cid in bye)) bye[cid] = t
			else if (to && st == 200 && cm == "BYE" && (cid in bye) && !(cid in byeok)) byeok[cid] = t
		}
		END {
			for (c in ok) printf "%.0f\n", us(ok[c]) - us(inv[c]) > (dir "/lat-setup.txt")
			for (c in first) printf "%.0f\n", us(first[c]) - us(inv[c]) > (dir "/lat-first.txt")
			for (c in byeok) printf "%.0f\n", us(byeok[c]) - us(bye[c]) > (dir "/lat-bye.txt")
		}' "$dir/capture.tsv"
	local f
	for f in setup first bye; do
		[ -f "$dir/lat-$f.txt" ] || : >"$dir/lat-$f.txt"
		sort -n -o "$dir/lat-$f.txt" "$dir/lat-$f.txt"
	done
	pct() {	# FILE P -> nearest-rank percentile
		awk -v p=$2 '{ v[NR] = $1 } END { if (NR == 0) { print "null"; exit } i = int((p * NR + 99) / 100); if (i < 1) i = 1; print v[i] }' "$1"
	}
	echo "$(wc -l <"$dir/lat-setup.txt") $(pct "$dir/lat-setup.txt" 50) $(pct "$dir/lat-setup.txt" 90) $(pct "$dir/lat-setup.txt" 99)" \
	    "$(pct "$dir/lat-first.txt" 50) $(wc -l <"$dir/lat-bye.txt") $(pct "$dir/lat-bye.txt" 50) $(pct "$dir/lat-bye.txt" 99)"
}

# run_step TARGET RATE KIND(ladder|retry|confirm|latency) SEQ
# Appends a JSON line to steps.jsonl; STEP_PASS=1/0.
run_step() {
	local target=$1 rate=$2 kind=$3 seq=$4
	local n=$((rate * STEP_S))
	[ "$kind" = latency ] && n=$((rate * (LAT_WARM + LAT_WINDOW + 2)))
	local dir=$WORK/$target/$(printf '%02d' "$seq")-$kind-$rate
	mkdir -p "$dir"
	local hold_s=$(((HOLD_MS + 999) / 1000))
	local tmo=$((n / rate + hold_s + 45))
	local limit=$((rate * (hold_s + 10)))

	# the UAS, fresh for every step; no -m (a stray message from an earlier
	# call would count as a call), stopped after the UAC's end + its time-wait
	run_in "$dir" "$dir/uas.out" sipp -sf "$BENCH_DIR/uas.xml" -i 127.0.0.1 -p $UAS_PORT -t u1 \
	    -buff_size $SIPP_BUFF -timeout $((tmo + 10)) -trace_stat -stf uas.csv -fd 1 \
	    -trace_err -nostdin
	local uas=$BG_PID
	wait_udp_port $UAS_PORT $uas 10 || { log "UAS did not start ($dir/uas.out)"; STEP_PASS=0; return; }

	local cpu0 sys0 t0 ldap0=0
	cpu0=$(tree_cpu_us $TARGET_PID)
	[ "$target" = sdproxy-ldap ] && ldap0=$(slapd_cpu_us)
	sys0=$(sys_busy_us)
	t0=$(now_us)
	run_in "$dir" "$dir/uac.out" sipp 127.0.0.1:$DEST_PORT -sf "$BENCH_DIR/uac.xml" -i 127.0.0.1 -p $UAC_PORT -t $UAC_T $UAC_MAXSOCK \
	    -s bob -key keymgmt "a=key-mgmt:mikey $MIKEY" -d $HOLD_MS -r $rate -rp 1000 -m $n -l $limit \
	    -buff_size $SIPP_BUFF -recv_timeout 10000 -timeout $tmo -trace_stat -stf uac.csv -fd 1 \
	    -trace_err -nostdin
	local uac=$BG_PID

	local cap_pid=
	if [ "$kind" = latency ]; then
		sleep $LAT_WARM
		# (a socket per call: what is not the UAS's is the UAC's)
		local filter="udp port $UAC_PORT"
		[ "$UAC_T" = u1 ] || filter="udp and not port $UAS_PORT"
		start_bg "$dir/dumpcap.out" dumpcap -i lo -f "$filter" -B 64 -s 2048 \
		    -a duration:$LAT_WINDOW -a filesize:204800 -w "$dir/capture.pcapng" -q
		cap_pid=$BG_PID
	fi

	# wait for the UAC, sampling the SIPp processes' CPU while they live
	local uac_cpu=0 uas_cpu=0 c
	while kill -0 $uac 2>/dev/null; do
		c=$(proc_cpu_us $uac); [ "$c" -gt 0 ] && uac_cpu=$c
		c=$(proc_cpu_us $uas); [ "$c" -gt 0 ] && uas_cpu=$c
		sleep 0.5
	done
	wait $uac 2>/dev/null
	local uac_rc=$?
	local t_uac=$(now_us)
	# the UAS's last calls end after their 2 s time-wait
	local i
	for ((i = 0; i < 30; i++)); do
		kill -0 $uas 2>/dev/null || break
		c=$(proc_cpu_us $uas); [ "$c" -gt 0 ] && uas_cpu=$c
		sleep 0.1
	done
	stop_pid $uas 3
	wait $uas 2>/dev/null
	[ -n "$cap_pid" ] && { stop_pid $cap_pid 5; }
	sleep $SETTLE
	local cpu1 sys1 t1 ldap_us=null
	cpu1=$(tree_cpu_us $TARGET_PID)
	[ "$target" = sdproxy-ldap ] && ldap_us=$(($(slapd_cpu_us) - ldap0))
	sys1=$(sys_busy_us)
	t1=$(now_us)
	local rss=0
	[ -n "$TARGET_PID" ] && rss=$(tree_rss_kb $TARGET_PID)

	local ok fail retr uas_fail uas_retr uas_ok uas_unexp elapsed
	ok=$(csv_last "$dir/uac.csv" 'SuccessfulCall(C)')
	fail=$(csv_last "$dir/uac.csv" 'FailedCall(C)')
	retr=$(csv_last "$dir/uac.csv" 'Retransmissions(C)')
	uas_ok=$(csv_last "$dir/uas.csv" 'SuccessfulCall(C)')
	uas_fail=$(csv_last "$dir/uas.csv" 'FailedCall(C)')
	uas_retr=$(csv_last "$dir/uas.csv" 'Retransmissions(C)')
	uas_unexp=$(csv_last "$dir/uas.csv" 'FailedUnexpectedMessage(C)')
	: "${ok:=0}" "${fail:=0}" "${retr:=0}" "${uas_ok:=0}" "${uas_fail:=0}" "${uas_retr:=0}" "${uas_unexp:=0}"
	elapsed=$(((t_uac - t0) / 1000))	# ms, UAC start to exit
	local failed=$((n - ok))
	[ $fail -gt $failed ] && failed=$fail
	local retr_total=$((retr + uas_retr))
	local cpu_us=$((cpu1 - cpu0))
	local sys_us=$((sys1 - sys0))
	local win_us=$((t1 - t0))
	local reason=""
	[ $failed -gt 0 ] && reason="$reason failed=$failed"
	[ $((retr_total * 100)) -ge $n ] && reason="$reason retrans=$retr_total"
	[ $uac_rc -ne 0 ] && reason="$reason uac_exit=$uac_rc"
	# a rate that SIPp could not hold: creation took > 20 % (+1 s) longer than planned
	local planned=$((n * 1000 / rate + HOLD_MS + 1000))
	[ $elapsed -gt $((planned * 12 / 10 + 1000)) ] && reason="$reason slow=${elapsed}ms"
	target_alive || reason="$reason proxy_died"
	reason=${reason# }
	STEP_PASS=1
	[ -n "$reason" ] && STEP_PASS=0
	[ "$kind" = latency ] && [ $failed -gt 0 ] && STEP_PASS=0

	local lat="null"
	if [ "$kind" = latency ] && [ -s "$dir/capture.pcapng" ]; then
		local a
		a=($(analyse_capture "$dir/capture.pcapng" "$dir"))
		lat=$(jq -cn --argjson n "${a[0]}" --argjson p50 "${a[1]}" --argjson p90 "${a[2]}" --argjson p99 "${a[3]}" \
		    --argjson first_p50 "${a[4]}" --argjson bye_n "${a[5]}" --argjson bye_p50 "${a[6]}" --argjson bye_p99 "${a[7]}" \
		    '{calls: $n, setup_p50_us: $p50, setup_p90_us: $p90, setup_p99_us: $p99, first_response_p50_us: $first_p50,
		      bye_calls: $bye_n, bye_p50_us: $bye_p50, bye_p99_us: $bye_p99}')
		grep -h -E 'dropped|Packets' "$dir/dumpcap.out" >"$dir/dumpcap.summary" 2>/dev/null
	fi
	local load
	load=$(cut -d' ' -f1-3 /proc/loadavg)
	jq -cn --arg target "$target" --argjson rate $rate --arg kind "$kind" --argjson calls $n \
	    --argjson ok $ok --argjson failed $failed --argjson retrans_uac $retr --argjson retrans_uas $uas_retr \
	    --argjson uas_failed $uas_fail --argjson uas_unexpected $uas_unexp --argjson uac_exit $uac_rc \
	    --argjson elapsed_ms $elapsed --argjson proxy_cpu_us $cpu_us --argjson uac_cpu_us $uac_cpu \
	    --argjson uas_cpu_us $uas_cpu --argjson sys_busy_us $sys_us --argjson window_us $win_us \
	    --argjson rss $rss --argjson ncpu $(nproc) --argjson pass $STEP_PASS --arg reason "$reason" --arg dir "$dir" --arg load "$load" \
	    --argjson latency "$lat" --argjson slapd_cpu_us "$ldap_us" --arg has_proxy "$([ -n "$TARGET_PID" ] && echo yes || echo no)" \
	    '{target: $target, kind: $kind, rate: $rate, calls: $calls, ok: $ok, failed: $failed,
	      retrans: ($retrans_uac + $retrans_uas), retrans_uac: $retrans_uac, retrans_uas: $retrans_uas,
	      retrans_per_100: (($retrans_uac + $retrans_uas) * 100 / $calls),
	      uas_failed: $uas_failed, uas_unexpected: $uas_unexpected, uac_exit: $uac_exit,
	      elapsed_ms: $elapsed_ms,
	      proxy_cpu_us: (if $has_proxy == "yes" then $proxy_cpu_us else null end),
	      proxy_cpu_us_per_call: (if $has_proxy == "yes" then ($proxy_cpu_us / $calls * 10 | round / 10) else null end),
	      uac_cpu_us_per_call: ($uac_cpu_us / $calls * 10 | round / 10),
	      uas_cpu_us_per_call: ($uas_cpu_us / $calls * 10 | round / 10),
	      proxy_rss_kb_after: (if $has_proxy == "yes" then $rss else null end),
	      slapd_cpu_us: $slapd_cpu_us,
	      machine_busy_pct: ($sys_busy_us * 100 / $window_us / $ncpu | round),
	      pass: ($pass == 1), reason: $reason, loadavg: $load, latency: $latency, dir: $dir}' >>"$STEPS_JSONL"
	local cpu_txt="-"
	[ -n "$TARGET_PID" ] && cpu_txt=$(awk -v c=$cpu_us -v n=$n 'BEGIN { printf "%.1f", c / n }')
	log "$target $kind r=$rate: ok=$ok/$n failed=$failed retrans=$retr_total cpu/call=${cpu_txt}us elapsed=${elapsed}ms rss=${rss}kB load=$load -> $([ $STEP_PASS = 1 ] && echo PASS || echo "FAIL ($reason)")"
	if [ "$kind" = latency ] && [ "$lat" != null ]; then
		log "   latency: $(jq -r '"setup p50/p90/p99 = \(.setup_p50_us)/\(.setup_p90_us)/\(.setup_p99_us) us over \(.calls) calls; BYE p50/p99 = \(.bye_p50_us)/\(.bye_p99_us) us"' <<<"$lat")"
	fi
}

# ---------------------------------------------------------------- the ladder

SEQ=0
ladder() {	# TARGET
	local target=$1 rate top=0 failed_at=0
	for rate in $STEPS; do
		SEQ=$((SEQ + 1)); run_step $target $rate ladder $SEQ
		if [ $STEP_PASS = 0 ]; then
			target_alive || { log "$target: the proxy died"; break; }
			restart_target $target || break
			SEQ=$((SEQ + 1)); run_step $target $rate retry $SEQ
			if [ $STEP_PASS = 0 ]; then
				failed_at=$rate
				break
			fi
		fi
		top=$rate
	done
	local i
	if [ $top -gt 0 ] && [ $CONFIRM -gt 0 ]; then
		restart_target $target
		for ((i = 1; i <= CONFIRM; i++)); do
			SEQ=$((SEQ + 1)); run_step $target $top confirm $SEQ
		done
	fi
	if [ $LAT_RUNS -gt 0 ]; then
		restart_target $target
		for ((i = 1; i <= LAT_RUNS; i++)); do
			SEQ=$((SEQ + 1)); run_step $target $LAT_RATE latency $SEQ
		done
	fi
	jq -cn --arg t $target --argjson top $top --argjson failed_at $failed_at \
	    '{target: $t, top: $top, failed_at: $failed_at}' >>"$WORK/ladders.jsonl"
}

log "work dir $WORK; targets $TARGETS; steps: $STEPS; ${STEP_S}s per step; hold ${HOLD_MS}ms"
: >"$WORK/ladders.jsonl"
IFS=, read -r -a TLIST <<<"$TARGETS"
for target in "${TLIST[@]}"; do
	case $target in direct | kamailio | sdproxy | sdproxy-ldap | sdproxy-before) ;; *) die "unknown target $target" ;; esac
	log "=== $target"
	if ! start_target $target; then
		jq -cn --arg t $target '{target: $t, skipped: true}' >>"$WORK/ladders.jsonl"
		stop_target
		continue
	fi
	if [ -n "$TARGET_PID" ]; then
		# idle CPU of the proxy, for reference
		c0=$(tree_cpu_us $TARGET_PID); sleep 2; c1=$(tree_cpu_us $TARGET_PID)
		echo "{\"target\":\"$target\",\"idle_cpu_us_per_s\":$(((c1 - c0) / 2))}" >>"$WORK/idle.jsonl"
	fi
	ladder $target
	if [ -n "$TARGET_PID" ] && ! target_alive; then
		wait $TARGET_PID 2>/dev/null
		log "$target: proxy process $TARGET_PID exited (status $?) during the ladder; see $WORK/$target"
	fi
	stop_target
done

# ---------------------------------------------------------------- results

ver_sdproxyd=$([ -x "$SDPROXYD" ] && "$SDPROXYD" -V 2>&1 | head -1 || echo "not built")
jq -n --slurpfile steps "$STEPS_JSONL" --slurpfile ladders "$WORK/ladders.jsonl" \
    --arg date "$(date -u +%FT%TZ)" --arg host "$(uname -srm)" --arg cpus "$(nproc)" \
    --arg sipp "$(sipp -v 2>&1 | grep -o 'v[0-9][^ ]*' | head -1)" \
    --arg kamailio "$(kamailio -v 2>/dev/null | head -1)" --arg sdproxyd "$ver_sdproxyd" \
    --arg git "$(git -C "$TOP_DIR" describe --always --dirty 2>/dev/null)" \
    --argjson step_s $STEP_S --argjson hold $HOLD_MS --argjson lat_rate $LAT_RATE --arg audit $AUDIT \
    --argjson buff $SIPP_BUFF --arg workdir "$WORK" '
  def median: sort | if length == 0 then null elif length % 2 == 1 then .[length / 2 | floor]
                     else ((.[length / 2 - 1] + .[length / 2]) / 2) end;
  {meta: {date: $date, host: $host, cpus: $cpus, sipp: $sipp, kamailio: $kamailio, sdproxyd: $sdproxyd,
          git: $git, step_seconds: $step_s, hold_ms: $hold, latency_rate: $lat_rate, sdproxy_audit: $audit,
          sipp_buff_size: $buff, workdir: $workdir},
   targets: [ $ladders[] | . as $l |
     if .skipped then {target: .target, skipped: true} else
     ($steps | map(select(.target == $l.target))) as $s |
     {target: $l.target, max_rate: $l.top, first_failing_rate: $l.failed_at,
      confirm_pass: ($s | map(select(.kind == "confirm" and .pass)) | length),
      confirm_runs: ($s | map(select(.kind == "confirm")) | length),
      cpu_us_per_call_at_latency_rate: ($s | map(select(.rate == $lat_rate and .kind != "latency") | .proxy_cpu_us_per_call) | map(select(. != null)) | median),
      cpu_us_per_call_at_max: ($s | map(select(.rate == $l.top and (.kind == "confirm" or .kind == "ladder" or .kind == "retry") and .pass) | .proxy_cpu_us_per_call) | map(select(. != null)) | median),
      slapd_cpu_us_per_call_at_latency_rate: ($s | map(select(.rate == $lat_rate and .kind != "latency" and .slapd_cpu_us != null) | .slapd_cpu_us / .calls) | median),
      latency_runs: ($s | map(select(.kind == "latency")) | length),
      latency_us: (($s | map(select(.kind == "latency" and .latency != null) | .latency)) as $L |
        {setup_p50: ($L | map(.setup_p50_us) | median), setup_p90: ($L | map(.setup_p90_us) | median),
         setup_p99: ($L | map(.setup_p99_us) | median), first_response_p50: ($L | map(.first_response_p50_us) | median),
         bye_p50: ($L | map(.bye_p50_us) | median), bye_p99: ($L | map(.bye_p99_us) | median)}),
      steps: $s}
     end ]}' >"$RESULTS"

printf '\n%-14s %9s %8s %10s %10s %9s %9s %9s %9s %9s\n' target max_cps confirm cpu@lat cpu@max setup_p50 setup_p90 setup_p99 bye_p50 bye_p99
jq -r --argjson lat_rate $LAT_RATE '.targets[] | if .skipped then [.target, "skipped"] else
    [.target, (.max_rate | tostring), "\(.confirm_pass)/\(.confirm_runs)",
     (.cpu_us_per_call_at_latency_rate // "-" | if type == "number" then (. * 10 | round / 10) else . end | tostring),
     (.cpu_us_per_call_at_max // "-" | if type == "number" then (. * 10 | round / 10) else . end | tostring),
     (.latency_us.setup_p50 // "-" | tostring), (.latency_us.setup_p90 // "-" | tostring),
     (.latency_us.setup_p99 // "-" | tostring), (.latency_us.bye_p50 // "-" | tostring),
     (.latency_us.bye_p99 // "-" | tostring)] end | @tsv' "$RESULTS" |
    awk -F'\t' '{ printf "%-14s %9s %8s %10s %10s %9s %9s %9s %9s %9s\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10 }'
# The same daemon before and after a change, in this run: ratios.
jq -r '[.targets[] | select(.skipped | not)] as $t
    | ($t | map(select(.target == "sdproxy")) | first) as $a
    | ($t | map(select(.target == "sdproxy-before")) | first) as $b
    | if $a and $b then
        "sdproxy / sdproxy-before: max rate \(($a.max_rate / $b.max_rate * 100 | round) / 100)x, CPU per call at the latency rate \(if $a.cpu_us_per_call_at_latency_rate and $b.cpu_us_per_call_at_latency_rate then (($a.cpu_us_per_call_at_latency_rate / $b.cpu_us_per_call_at_latency_rate * 100 | round) / 100 | tostring) + "x" else "-" end), set-up p50 \(if $a.latency_us.setup_p50 and $b.latency_us.setup_p50 then (($a.latency_us.setup_p50 / $b.latency_us.setup_p50 * 100 | round) / 100 | tostring) + "x" else "-" end)"
      else empty end' "$RESULTS"
# The ldap backend beside the table, in this run.
jq -r '[.targets[] | select(.skipped | not)] as $t
    | ($t | map(select(.target == "sdproxy-ldap")) | first) as $a
    | ($t | map(select(.target == "sdproxy")) | first) as $b
    | def r(x; y): if x and y then ((x / y * 100 | round) / 100 | tostring) + "x" else "-" end;
      if $a and $b then
        "sdproxy-ldap / sdproxy: max rate \(r($a.max_rate; $b.max_rate)), CPU per call at the latency rate \(r($a.cpu_us_per_call_at_latency_rate; $b.cpu_us_per_call_at_latency_rate)), at the maximum \(r($a.cpu_us_per_call_at_max; $b.cpu_us_per_call_at_max)), set-up p50 \(r($a.latency_us.setup_p50; $b.latency_us.setup_p50)); slapd CPU per call at the latency rate \($a.slapd_cpu_us_per_call_at_latency_rate // "-" | if type == "number" then (. * 100 | round / 100 | tostring) + " us" else . end)"
      else empty end' "$RESULTS"
echo
echo "max_cps: highest step with 0 failed calls and < 1 retransmission per 100 calls (a failing step retried once);"
echo "confirm: passes of the repeats at max_cps; cpu@lat / cpu@max: proxy utime+stime per call (us) at $LAT_RATE/s and at max_cps;"
echo "latencies (us, median of the runs at $LAT_RATE/s, from a capture on lo): INVITE->200 and BYE->200 seen at the UAC port."
echo "results: $RESULTS   steps: $STEPS_JSONL"
