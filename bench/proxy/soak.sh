#!/bin/bash
# Soak: mixed calls through mcx-sdproxyd for DURATION seconds at RATE calls/s,
# the daemon built with AddressSanitizer (configure --enable-sanitizers, in a
# separate copy of the tree) or run under valgrind memcheck; its RSS sampled
# every 10 s; at the end SIGTERM, then leaks/errors, RSS samples and calls
# done/failed per kind.  All on 127.0.0.1.  See bench/proxy/README.
#
# The mix (shares of RATE, each a SIPp UAC of its own):
#   accepted    55 %  uac.xml, an acceptable I_MESSAGE: forwarded, 200, ACK, hold, BYE
#   no-mikey    15 %  uac.xml without a=key-mgmt: forwarded (on_missing_mikey)
#   redirected  20 %  uac-krr.xml, receiver KMS not accepted: 488 + KRR, ACK
#   cancelled   10 %  uac-cancel.xml: forwarded, 180, CANCEL, 200, 487, ACK
# One UAS (uas-soak.xml) behind the daemon answers the forwarded ones.
set -u

. "$(dirname "$0")/common.sh"

usage() {
	cat <<EOF
usage: $0 (--rate R | --ladder-results FILE) [options]
  --rate R              total calls/s (default: half the max_rate of target sdproxy
                        in --ladder-results FILE, the JSON ladder.sh wrote)
  --ladder-results FILE take the rate from a ladder run
  --duration S          seconds of calls (default 600)
  --mode M              asan (default): build with --enable-sanitizers (see --asan-build);
                        valgrind: valgrind --leak-check=full --error-exitcode=99;
                        plain: the normal build (RSS/calls only)
  --asan-build DIR      where the ASan build goes (default /tmp/mcx-asan; reused when
                        newer than the sources)
  --hold MS             hold time of accepted calls (default 1000)
  --no-audit            no log.audit (default: audit.jsonl in the work dir)
  --base-port P         daemon P, UACs P+2..P+5, UAS P+10 (default 27260)
  --sample S            RSS sampling period (default 10)
  --sdproxyd PATH       the normal build (default src/mcx-sdproxyd; plain/valgrind)
  --workers N           the daemon's server.workers (default 2); RSS and CPU are the whole
                        process tree's (RSS summed)
  --uac-sockets MODE    many (default): each UAC sends every call from a socket of its own
                        (sipp -t un), as many clients do and as the ladder's maximum with
                        --uac-sockets many was measured, so the kernel spreads the calls over
                        the workers; one: each UAC from one socket (-t u1): four sources, so
                        one worker may carry most of the load
  --sdtool PATH         mcx-sdtool (default src/mcx-sdtool)
  --workdir DIR         (default: a new /tmp/mcx-soak.XXXXXX)
  -h, --help
EOF
}

RATE=
LADDER=
DURATION=600
MODE=asan
ASAN_DIR=/tmp/mcx-asan
HOLD_MS=1000
AUDIT=yes
BASE_PORT=27260
SAMPLE=10
SDPROXYD=${SDPROXYD:-$TOP_DIR/src/mcx-sdproxyd}
SDTOOL=${SDTOOL:-$TOP_DIR/src/mcx-sdtool}
SDPROXY_WORKERS=${SDPROXY_WORKERS:-2}
UAC_SOCKETS=many
WORK=

while [ $# -gt 0 ]; do
	case $1 in
	--rate) RATE=$2; shift ;;
	--ladder-results) LADDER=$2; shift ;;
	--duration) DURATION=$2; shift ;;
	--mode) MODE=$2; shift ;;
	--asan-build) ASAN_DIR=$2; shift ;;
	--hold) HOLD_MS=$2; shift ;;
	--no-audit) AUDIT=no ;;
	--base-port) BASE_PORT=$2; shift ;;
	--sample) SAMPLE=$2; shift ;;
	--sdproxyd) SDPROXYD=$2; shift ;;
	--sdtool) SDTOOL=$2; shift ;;
	--workers) SDPROXY_WORKERS=$2; shift ;;
	--uac-sockets) UAC_SOCKETS=$2; shift ;;
	--workdir) WORK=$2; shift ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
	shift
done

if [ -z "$RATE" ]; then
	[ -n "$LADDER" ] || { usage >&2; exit 2; }
	max=$(jq -r '.targets[] | select(.target == "sdproxy") | .max_rate // empty' "$LADDER")
	[ -n "$max" ] && [ "$max" -gt 0 ] || die "no max_rate for sdproxy in $LADDER"
	RATE=$((max / 2))
	log "rate: half the ladder's maximum for sdproxy ($max) = $RATE calls/s"
fi
case $MODE in asan | valgrind | plain) ;; *) die "--mode asan|valgrind|plain" ;; esac
UAC_T=(-t u1)
case $UAC_SOCKETS in
one) ;;
many)
	ulimit -n 262144 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || :
	UAC_T=(-t un -max_socket $(($(ulimit -n) - 200)))
	;;
*) die "--uac-sockets one|many" ;;
esac
for t in sipp jq awk ss; do command -v $t >/dev/null || die "$t not found"; done
[ $MODE = valgrind ] && { command -v valgrind >/dev/null || die "valgrind not installed (apt-get install -y valgrind)"; }
[ -x "$SDTOOL" ] || die "mcx-sdtool not found at $SDTOOL"

[ -n "$WORK" ] || WORK=$(mktemp -d /tmp/mcx-soak.XXXXXX)
mkdir -p "$WORK" && WORK=$(cd "$WORK" && pwd)

trap 'stop_all' EXIT
trap 'log "interrupted"; exit 130' INT TERM

PROXY_PORT=$BASE_PORT
UAS_PORT=$((BASE_PORT + 10))
for p in $PROXY_PORT $((BASE_PORT + 2)) $((BASE_PORT + 3)) $((BASE_PORT + 4)) $((BASE_PORT + 5)) $UAS_PORT; do
	port_free $p || die "port $p is in use (choose another --base-port)"
done

# ------------------------------------------------------------ the daemon

case $MODE in
asan)
	build_asan "$ASAN_DIR"
	DAEMON=$ASAN_SDPROXYD
	;;
*)
	[ -x "$SDPROXYD" ] || die "mcx-sdproxyd not built ($SDPROXYD)"
	DAEMON=$SDPROXYD
	;;
esac

make_sdproxy_conf "$WORK" $PROXY_PORT $UAS_PORT $AUDIT
"$DAEMON" -t -c "$WORK/sdproxy.conf" >"$WORK/check.log" 2>&1 ||
    die "mcx-sdproxyd -t refuses $WORK/sdproxy.conf: $(cat "$WORK/check.log")"

case $MODE in
asan)
	# leaks and errors to asan.PID / ubsan.PID in the work dir; exit 99 on a leak
	export ASAN_OPTIONS="detect_leaks=1:log_path=$WORK/asan:exitcode=99:print_summary=1:quarantine_size_mb=64"
	export UBSAN_OPTIONS="print_stacktrace=1:log_path=$WORK/ubsan:exitcode=98"
	start_bg "$WORK/sdproxyd.log" "$DAEMON" -f -c "$WORK/sdproxy.conf"
	;;
valgrind)
	start_bg "$WORK/sdproxyd.log" valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite,indirect,possible \
	    --errors-for-leak-kinds=definite,indirect --error-exitcode=99 --num-callers=30 \
	    --log-file="$WORK/valgrind.log" "$DAEMON" -f -c "$WORK/sdproxy.conf"
	;;
plain)
	start_bg "$WORK/sdproxyd.log" "$DAEMON" -f -c "$WORK/sdproxy.conf"
	;;
esac
DPID=$BG_PID
wait_udp_port $PROXY_PORT $DPID 60 || die "the daemon did not start (see $WORK/sdproxyd.log)"
log "daemon ($MODE) pid $DPID listening on $PROXY_PORT; work dir $WORK"

# ------------------------------------------------------------ the traffic

MIKEY_OK=$(mikey_b64 kms.partner.example) || die "mcx-sdtool failed"
MIKEY_BAD=$(mikey_b64 kms.wrong.example) || die "mcx-sdtool failed"

share() {	# PERCENT -> calls/s (at least 1)
	local r=$((RATE * $1 / 100))
	[ $r -ge 1 ] || r=1
	echo $r
}
KINDS=(accepted no-mikey redirected cancelled)
declare -A KRATE KPID KDIR
KRATE[accepted]=$(share 55)
KRATE[no-mikey]=$(share 15)
KRATE[redirected]=$(share 20)
KRATE[cancelled]=$(share 10)
TOTAL_RATE=0
for k in "${KINDS[@]}"; do TOTAL_RATE=$((TOTAL_RATE + KRATE[$k])); done

run_in() {	# DIR OUT CMD...
	local dir=$1 out=$2
	shift 2
	start_bg "$out" sh -c 'cd "$1" && shift && exec "$@"' sh "$dir" "$@"
}

mkdir -p "$WORK/uas"
run_in "$WORK/uas" "$WORK/uas/uas.out" sipp -sf "$BENCH_DIR/uas-soak.xml" -i 127.0.0.1 -p $UAS_PORT -t u1 \
    -buff_size 1048576 -timeout $((DURATION + 120)) -trace_stat -stf uas.csv -fd $SAMPLE -trace_err -nostdin
UAS_PID=$BG_PID
wait_udp_port $UAS_PORT $UAS_PID 10 || die "the UAS did not start"

cpu0=$(tree_cpu_us $DPID)
t0=$(date +%s)
port=$((BASE_PORT + 2))
for k in "${KINDS[@]}"; do
	r=${KRATE[$k]}
	n=$((r * DURATION))
	d=$WORK/$k
	mkdir -p "$d"
	common=(-i 127.0.0.1 -p $port "${UAC_T[@]}" -r $r -rp 1000 -m $n -buff_size 1048576 -recv_timeout 20000
	    -timeout $((DURATION + 90)) -trace_stat -stf uac.csv -fd $SAMPLE -trace_err -nostdin)
	case $k in
	accepted)
		run_in "$d" "$d/uac.out" sipp 127.0.0.1:$PROXY_PORT -sf "$BENCH_DIR/uac.xml" -s bob \
		    -key keymgmt "a=key-mgmt:mikey $MIKEY_OK" -d $HOLD_MS "${common[@]}" ;;
	no-mikey)
		run_in "$d" "$d/uac.out" sipp 127.0.0.1:$PROXY_PORT -sf "$BENCH_DIR/uac.xml" -s bob \
		    -key keymgmt "a=x-no-key-management:1" -d $HOLD_MS "${common[@]}" ;;
	redirected)
		run_in "$d" "$d/uac.out" sipp 127.0.0.1:$PROXY_PORT -sf "$BENCH_DIR/uac-krr.xml" -s bob \
		    -key keymgmt "a=key-mgmt:mikey $MIKEY_BAD" "${common[@]}" ;;
	cancelled)
		run_in "$d" "$d/uac.out" sipp 127.0.0.1:$PROXY_PORT -sf "$BENCH_DIR/uac-cancel.xml" -s bob \
		    -key keymgmt "a=key-mgmt:mikey $MIKEY_OK" "${common[@]}" ;;
	esac
	KPID[$k]=$BG_PID
	KDIR[$k]=$d
	port=$((port + 1))
done
log "traffic: $TOTAL_RATE calls/s for ${DURATION}s (accepted ${KRATE[accepted]}, no-mikey ${KRATE[no-mikey]}, redirected ${KRATE[redirected]}, cancelled ${KRATE[cancelled]})"

# ------------------------------------------------------------ sampling

RSS_TSV=$WORK/rss.tsv
printf 'elapsed_s\trss_kb\tcpu_s\tcalls_started\n' >"$RSS_TSV"
sample() {
	local now rss cpu started=0 k c
	now=$(($(date +%s) - t0))
	rss=$(tree_rss_kb $DPID)
	cpu=$(tree_cpu_us $DPID)
	for k in "${KINDS[@]}"; do
		c=$(csv_last "${KDIR[$k]}/uac.csv" 'OutgoingCall(C)')
		started=$((started + ${c:-0}))
	done
	printf '%s\t%s\t%s\t%s\n' $now "${rss:-0}" "$(awk -v c=$((cpu - cpu0)) 'BEGIN { printf "%.2f", c / 1e6 }')" $started >>"$RSS_TSV"
	log "t=${now}s rss=${rss:-?}kB cpu=$(awk -v c=$((cpu - cpu0)) 'BEGIN { printf "%.1f", c / 1e6 }')s calls=$started"
}

running_uacs() {
	local k n=0
	for k in "${KINDS[@]}"; do kill -0 ${KPID[$k]} 2>/dev/null && n=$((n + 1)); done
	echo $n
}

next=$SAMPLE
while [ "$(running_uacs)" -gt 0 ]; do
	if ! kill -0 $DPID 2>/dev/null; then
		log "the daemon died during the soak"
		break
	fi
	sleep 1
	if [ $(($(date +%s) - t0)) -ge $next ]; then
		sample
		next=$((next + SAMPLE))
	fi
done
for k in "${KINDS[@]}"; do wait ${KPID[$k]} 2>/dev/null; done
# the UAS's time-waits, then the daemon's transaction timers (Timer J/K/D ~32 s)
sleep 3
stop_pid $UAS_PID 5
log "calls done; waiting 40 s for the daemon's transactions to time out"
for ((i = 0; i < 4; i++)); do sleep 10; sample; done
rss_end=$(tree_rss_kb $DPID)

# ------------------------------------------------------------ stop and report

daemon_alive=no
kill -0 $DPID 2>/dev/null && daemon_alive=yes
kill -TERM $DPID 2>/dev/null
for ((i = 0; i < 600; i++)); do kill -0 $DPID 2>/dev/null || break; sleep 0.5; done
if kill -0 $DPID 2>/dev/null; then
	log "the daemon did not stop within 300 s of SIGTERM: SIGKILL"
	kill -KILL $DPID
fi
wait $DPID
dstatus=$?
log "daemon exit status $dstatus (alive at the end: $daemon_alive)"

summary_asan() {
	local f found=0
	for f in "$WORK"/asan.* "$WORK"/ubsan.*; do
		[ -f "$f" ] || continue
		found=1
		echo "--- $f"
		grep -E 'ERROR: (Address|Leak)Sanitizer|SUMMARY:|runtime error' "$f" | head -20
	done
	[ $found = 1 ] || echo "no ASan/UBSan report (no leak, no error)"
}
summary_valgrind() {
	grep -E 'ERROR SUMMARY|definitely lost|indirectly lost|possibly lost|still reachable|Invalid (read|write)|uninitialised' \
	    "$WORK/valgrind.log" | sed 's/^==[0-9]*== //' | sort | uniq -c | sort -rn | head -20
}

{
	echo "soak: mode $MODE, $TOTAL_RATE calls/s for ${DURATION}s, hold ${HOLD_MS}ms, audit $AUDIT"
	echo "daemon: $DAEMON (exit status $dstatus after SIGTERM; alive until the end: $daemon_alive)"
	echo
	printf '%-11s %7s %9s %9s %9s %8s\n' kind rate started ok failed retrans
	tot_s=0 tot_ok=0 tot_f=0
	for k in "${KINDS[@]}"; do
		s=$(csv_last "${KDIR[$k]}/uac.csv" 'OutgoingCall(C)')
		o=$(csv_last "${KDIR[$k]}/uac.csv" 'SuccessfulCall(C)')
		f=$(csv_last "${KDIR[$k]}/uac.csv" 'FailedCall(C)')
		r=$(csv_last "${KDIR[$k]}/uac.csv" 'Retransmissions(C)')
		printf '%-11s %7s %9s %9s %9s %8s\n' $k ${KRATE[$k]} ${s:-?} ${o:-?} ${f:-?} ${r:-?}
		tot_s=$((tot_s + ${s:-0})) tot_ok=$((tot_ok + ${o:-0})) tot_f=$((tot_f + ${f:-0}))
	done
	printf '%-11s %7s %9s %9s %9s\n' total $TOTAL_RATE $tot_s $tot_ok $tot_f
	echo "UAS: ok $(csv_last "$WORK/uas/uas.csv" 'SuccessfulCall(C)') failed $(csv_last "$WORK/uas/uas.csv" 'FailedCall(C)') retrans $(csv_last "$WORK/uas/uas.csv" 'Retransmissions(C)')"
	[ -f "$WORK/audit.jsonl" ] && echo "audit lines: $(wc -l <"$WORK/audit.jsonl") ($(jq -r '.decision' "$WORK/audit.jsonl" 2>/dev/null | sort | uniq -c | tr '\n' ' '))"
	echo
	echo "daemon RSS (kB) every ${SAMPLE}s (elapsed_s rss_kb cpu_s calls_started):"
	column -t "$RSS_TSV"
	echo
	case $MODE in
	asan) echo "AddressSanitizer / LeakSanitizer / UBSan:"; summary_asan ;;
	valgrind) echo "valgrind memcheck ($WORK/valgrind.log):"; summary_valgrind ;;
	esac
	echo
	echo "daemon log: $(wc -l <"$WORK/sdproxyd.log") lines; most frequent:"
	sed -E 's/^[0-9T:.Z-]+ mcx-sdproxyd\[[0-9]+\]: //; s/call [^ ]+:/call X:/; s/[0-9]+/N/g' "$WORK/sdproxyd.log" |
	    sort | uniq -c | sort -rn | head -8
} | tee "$WORK/summary.txt"

jq -n --arg mode $MODE --argjson rate $TOTAL_RATE --argjson duration $DURATION --argjson status $dstatus \
    --arg alive $daemon_alive --rawfile rss "$RSS_TSV" --arg workdir "$WORK" \
    '{mode: $mode, rate: $rate, duration_s: $duration, daemon_exit: $status, daemon_alive_at_end: ($alive == "yes"),
      rss_samples: ($rss | split("\n") | .[1:] | map(select(length > 0) | split("\t") |
        {t: (.[0] | tonumber), rss_kb: (.[1] | tonumber), cpu_s: (.[2] | tonumber), calls: (.[3] | tonumber)})),
      workdir: $workdir}' >"$WORK/soak.json"
log "summary: $WORK/summary.txt, $WORK/soak.json"
