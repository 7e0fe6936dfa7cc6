#!/bin/bash
# Overload and memory: a SIPp UAC -> mcx-sdproxyd -> a SIPp UAS on 127.0.0.1,
# the ladder's call flow (uac-overload.xml: a refused call is INVITE / 503 /
# ACK), a fresh daemon for each phase:
#   overload  RATE = FACTOR x --max calls/s for --seconds, then at once
#             --max / 2 for 10 s (recovery): calls set up per second, refused
#             (503), failed; how long each 503 took; when the last 503 of the
#             recovery phase came
#   memory    --mem-rate calls/s for --mem-seconds: the daemon's RSS every
#             10 s (all its processes)
# Output: a table on stdout, every phase's files in --workdir.  See
# bench/proxy/README.
set -u

. "$(dirname "$0")/common.sh"

usage() {
	cat <<EOF
usage: $0 --max RATE [options]
  --max RATE          the daemon's maximum rate (the ladder's), calls/s
  --factors "F ..."   overload factors (default "1.5 2")
  --seconds S         length of an overload phase (default 60)
  --mem-rate R        rate of the memory phase (default 3000; 0: no memory phase)
  --mem-seconds S     its length (default 300)
  --hold MS           call hold time (default 1000)
  --base-port P       proxy P, UAC P+2, UAS P+10 (default 27260)
  --sdproxyd PATH     daemon binary (default: \$SDPROXYD or src/mcx-sdproxyd)
  --workers N         the daemon's server.workers (default 2)
  --uac-sockets MODE  one (sipp -t u1, the default) or many (a socket per call, -t un: the
                      workers share the load by source)
  --sdtool PATH       mcx-sdtool (default: \$SDTOOL or src/mcx-sdtool)
  --workdir DIR       (default: a new /tmp/mcx-overload.XXXXXX)
  -h, --help
EOF
}

MAX=
FACTORS="1.5 2"
SECONDS_OV=60
MEM_RATE=3000
MEM_S=300
HOLD_MS=1000
BASE_PORT=27260
SDPROXYD=${SDPROXYD:-$TOP_DIR/src/mcx-sdproxyd}
SDTOOL=${SDTOOL:-$TOP_DIR/src/mcx-sdtool}
SDPROXY_WORKERS=2
UAC_SOCKETS=one
WORK=
while [ $# -gt 0 ]; do
	case $1 in
	--max) MAX=$2; shift ;;
	--factors) FACTORS=$2; shift ;;
	--seconds) SECONDS_OV=$2; shift ;;
	--mem-rate) MEM_RATE=$2; shift ;;
	--mem-seconds) MEM_S=$2; shift ;;
	--hold) HOLD_MS=$2; shift ;;
	--base-port) BASE_PORT=$2; shift ;;
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
[ -n "$MAX" ] || { usage >&2; exit 2; }
export SDPROXY_WORKERS
UAC_T=u1 UAC_MAXSOCK=
if [ "$UAC_SOCKETS" = many ]; then
	UAC_T=un
	ulimit -n 262144 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || :
	UAC_MAXSOCK="-max_socket $(($(ulimit -n) - 200))"
fi
for t in sipp jq awk ss; do command -v $t >/dev/null || die "$t is not installed"; done
[ -x "$SDPROXYD" ] || die "$SDPROXYD is not built"
PROXY_PORT=$BASE_PORT UAC_PORT=$((BASE_PORT + 2)) UAS_PORT=$((BASE_PORT + 10))
WORK=${WORK:-$(mktemp -d /tmp/mcx-overload.XXXXXX)}
mkdir -p "$WORK"
trap stop_all EXIT
trap 'exit 130' INT TERM
MIKEY=$(mikey_b64 kms.partner.example) || die "mcx-sdtool mikey build failed"
make_sdproxy_conf "$WORK" $PROXY_PORT $UAS_PORT no
"$SDPROXYD" -t -c "$WORK/sdproxy.conf" >"$WORK/check.out" 2>&1 || die "the configuration does not check ($WORK/check.out)"
log "work dir $WORK"

# run_phase DIR RATE SECONDS: the UAS and the UAC (in DIR), the daemon already running.
run_phase() {
	local dir=$1 rate=$2 s=$3 n
	n=$(awk -v r="$rate" -v s="$s" 'BEGIN { printf "%d", r * s }')
	mkdir -p "$dir"
	(cd "$dir" && exec sipp 127.0.0.1:$PROXY_PORT -sf "$BENCH_DIR/uac-overload.xml" -i 127.0.0.1 -p $UAC_PORT -t $UAC_T $UAC_MAXSOCK \
	    -s bob -key keymgmt "a=key-mgmt:mikey $MIKEY" -d $HOLD_MS -r "$rate" -rp 1000 -m "$n" \
	    -l $((rate * (HOLD_MS / 1000 + 10))) -buff_size 4194304 -recv_timeout 10000 -timeout $((s + 60)) \
	    -trace_stat -stf uac.csv -fd 1 -trace_logs -log_file refused.log -trace_err -nostdin \
	    >"$dir/uac.out" 2>&1 </dev/null)
}

# phase_figures DIR: "calls ok refused failed", 503 latency percentiles.
phase_figures() {
	local dir=$1 ok failed refused
	ok=$(csv_last "$dir/uac.csv" SuccessfulCall\(C\))
	failed=$(csv_last "$dir/uac.csv" FailedCall\(C\))
	refused=$(awk '$1 == "refused"' "$dir/refused.log" 2>/dev/null | wc -l)
	echo "${ok:-0} ${refused:-0} ${failed:-0}"
}

lat_503() {	# DIR: p50 p99 max of INVITE -> 503, ms
	awk '$1 == "refused" && NF == 5 { printf "%.3f\n", (($4 - $2) * 1000000 + ($5 - $3)) / 1000 }' \
	    "$1/refused.log" 2>/dev/null | sort -n |
	    awk '{ v[NR] = $1 } END { if (!NR) { print "- - -"; exit }
		printf "%.1f %.1f %.1f\n", v[int((NR - 1) * 0.5) + 1], v[int((NR - 1) * 0.99) + 1], v[NR] }'
}

start_daemon() {
	start_bg "$1/daemon.log" "$SDPROXYD" -f -c "$WORK/sdproxy.conf"
	DAEMON=$BG_PID
	wait_udp_port $PROXY_PORT $DAEMON 10 || die "the daemon did not start ($1/daemon.log)"
}

start_uas() {
	mkdir -p "$1"
	(cd "$1" && exec sipp -sf "$BENCH_DIR/uas.xml" -i 127.0.0.1 -p $UAS_PORT -t u1 -buff_size 4194304 \
	    -timeout 900 -trace_err -nostdin >"$1/uas.out" 2>&1 </dev/null) &
	UAS=$!
	STARTED_PIDS+=("$UAS")
	wait_udp_port $UAS_PORT $UAS 10 || die "the UAS did not start"
}

printf '%-22s %8s %8s %9s %9s %8s %7s %s\n' phase "calls/s" offered "set up" refused failed "set up/s" "503 ms p50/p99/max"
for f in $FACTORS; do
	rate=$(awk -v m="$MAX" -v f="$f" 'BEGIN { printf "%d", m * f }')
	dir=$WORK/x$f
	mkdir -p "$dir"
	start_daemon "$dir"
	start_uas "$dir"
	t0=$(now_us)
	run_phase "$dir/overload" "$rate" "$SECONDS_OV"
	t1=$(now_us)
	run_phase "$dir/recovery" $((MAX / 2)) 10
	read -r ok refused failed <<<"$(phase_figures "$dir/overload")"
	setup_rate=$(awk -v n="$((ok - refused))" -v us="$((t1 - t0))" 'BEGIN { printf "%.0f", n * 1000000 / us }')
	printf '%-22s %8s %8s %9s %9s %8s %7s %s\n' "overload x$f" "$rate" "$((ok + failed))" "$((ok - refused))" \
	    "$refused" "$failed" "$setup_rate" "$(lat_503 "$dir/overload")"
	read -r ok refused failed <<<"$(phase_figures "$dir/recovery")"
	printf '%-22s %8s %8s %9s %9s %8s %7s %s\n' "  recovery" "$((MAX / 2))" "$((ok + failed))" "$((ok - refused))" \
	    "$refused" "$failed" "-" "$(lat_503 "$dir/recovery")"
	grep -h 'overload:' "$dir/daemon.log" | sed 's/^/    # /' | head -n 6
	stop_pid "$UAS" 3
	stop_pid "$DAEMON" 5
done

if [ "$MEM_RATE" -gt 0 ]; then
	dir=$WORK/memory
	mkdir -p "$dir"
	start_daemon "$dir"
	start_uas "$dir"
	(run_phase "$dir/calls" "$MEM_RATE" "$MEM_S") &
	UAC=$!
	t=0
	: >"$dir/rss.tsv"
	while kill -0 $UAC 2>/dev/null; do
		sleep 10
		t=$((t + 10))
		echo "$t $(tree_rss_kb "$DAEMON")" >>"$dir/rss.tsv"
	done
	wait $UAC
	read -r ok refused failed <<<"$(phase_figures "$dir/calls")"
	echo
	echo "memory: $MEM_RATE calls/s for $MEM_S s: $ok calls ended ($refused refused, $failed failed);" \
	    "daemon RSS (kB) every 10 s: $(awk '{ print $2 }' "$dir/rss.tsv" | paste -sd' ')"
	stop_pid "$UAS" 3
	stop_pid "$DAEMON" 5
fi
