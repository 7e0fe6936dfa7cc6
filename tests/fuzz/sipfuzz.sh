#!/bin/bash
# SIP-level fuzzing of a running mcx-sdproxyd built with ASan and UBSan (not part of make check).
#
#   tests/fuzz/sipfuzz.sh [-n COUNT] [-s SEED] [-t udp,tcp] [-o OUTDIR] [-k] [-T SECONDS] [-1 T1_MS]
#
#   -n COUNT    messages in all, UDP and TCP together (default 1000000)
#   -s SEED     the fuzzer's seed (default: the time); the same seed sends the same messages
#   -t LIST     transports: udp, tcp or udp,tcp (default; chunks of messages alternate)
#   -o OUTDIR   findings, the summary, RSS over time (default ./sipfuzz-out-SEED)
#   -k          keep going after a finding: minimise it, restart the daemon, go on
#   -T SECONDS  bound of the whole run (default 14400)
#   -1 T1_MS    the daemon's server.sip_t1 (default: its own, 500 ms)
#   -K          skip the triggers of failures known and not fixed yet (sipfuzz.py --skip-known:
#               risky_cl and risky say which)
#
# It re-executes itself inside a new network and mount namespace (unshare -n -m, as root): only
# lo, brought up; /etc/resolv.conf replaced by "nameserver 127.0.0.1" (nothing answers: DNS
# lookups fail at once).  There it makes the KRR keys and a primary's configuration
# (tests/sip/lib_sip.sh make_conf: UDP and TCP on 127.0.0.1, next_hop the sink), starts the
# sink (sipfuzz.py sink: the next hop, answering what the daemon forwards), the daemon with
# ASAN_OPTIONS=abort_on_error=1:detect_leaks=1:handle_abort=1:fast_unwind_on_malloc=0 (whole stacks, also through Sofia-SIP, which has no frame pointers: about 3x slower; a stack for assertions too) UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
# (its stderr in the work folder), and sipfuzz.py fuzz.  A crash, a sanitizer report or a hang
# stops the run (-k: goes on); the window of messages before it lands in OUTDIR/finding-N/,
# minimised in OUTDIR/finding-N/min/.  At the end: a clean INVITE over each transport must reach
# the sink, and the daemon must stop on SIGTERM with status 0 and no leak report.
#
# The daemon: $SDPROXYD, by default the ASan build in $ASAN_BUILDDIR (default ../asan/src-copy
# beside this tree), made with:
#   mkdir -p ../asan && rsync -a --delete --exclude .git --exclude '*.o' --exclude '*.a' ./ ../asan/src-copy/
#   cd ../asan/src-copy && { make distclean >/dev/null 2>&1 || true; } && autoreconf -fi &&
#     ./configure --enable-sanitizers && make -j2 src/mcx-sdproxyd src/mcx-sdtool
# $SDTOOL (default: the same build's mcx-sdtool) makes the I_MESSAGEs and the KRRs.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$HERE/../.." && pwd)}
export top_srcdir

COUNT=1000000 SEED=$(date +%s) TRANSPORTS=udp,tcp OUT= KEEP_GOING=0 MAX_SECONDS=14400 T1= SKIP=
usage() { sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit "${1:-0}"; }
while getopts n:s:t:o:kKT:1:h o; do
	case $o in
	n) COUNT=$OPTARG ;;
	s) SEED=$OPTARG ;;
	t) TRANSPORTS=$OPTARG ;;
	o) OUT=$OPTARG ;;
	k) KEEP_GOING=1 ;;
	K) SKIP=--skip-known ;;
	T) MAX_SECONDS=$OPTARG ;;
	1) T1=$OPTARG ;;
	h) usage 0 ;;
	*) usage 2 >&2 ;;
	esac
done
: "${OUT:=$PWD/sipfuzz-out-$SEED}"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

if [ -z "${SIPFUZZ_IN_NS:-}" ]; then
	[ "$(id -u)" -eq 0 ] || { echo "sipfuzz.sh: run as root (it makes a network namespace)" >&2; exit 2; }
	export SIPFUZZ_IN_NS=1
	# the namespace dies with its last process: nothing here can reach beyond loopback
	exec unshare -n -m -- timeout -k 30 "$((MAX_SECONDS + 600))" bash "$0" "$@" -o "$OUT"
fi

ASAN_BUILDDIR=${ASAN_BUILDDIR:-$(cd "$top_srcdir/.." && pwd)/asan/src-copy}
: "${SDPROXYD:=$ASAN_BUILDDIR/src/mcx-sdproxyd}"
: "${SDTOOL:=$ASAN_BUILDDIR/src/mcx-sdtool}"
export SDPROXYD SDTOOL
PY=${PYTHON:-python3}
FUZZ="$HERE/sipfuzz.py"
. "$top_srcdir/tests/sip/lib_sip.sh"

[ -x "$SDPROXYD" ] || { echo "sipfuzz.sh: no daemon at $SDPROXYD (see the comment at the top)" >&2; exit 2; }
[ -x "$SDTOOL" ] || { echo "sipfuzz.sh: no mcx-sdtool at $SDTOOL" >&2; exit 2; }
need "$OPENSSL" "$PY"
if ! grep -q __asan_init "$SDPROXYD" 2>/dev/null; then
	echo "# warning: $SDPROXYD is not built with AddressSanitizer: crashes only, no sanitizer reports"
fi

# ---- the namespace: lo up, DNS that fails fast ----
ip link set lo up
printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' >"$WORK/resolv.conf"
mount --bind "$WORK/resolv.conf" /etc/resolv.conf
echo "# network namespace: $(ip -o link | awk -F': ' '{ print $2 }' | paste -sd' ' -), resolv.conf: 127.0.0.1"

sip_ports 26000
SINK=$P_UAS
L=127.0.0.1
echo "# seed $SEED, $COUNT messages over $TRANSPORTS, output $OUT"
echo "# daemon $SDPROXYD (git $(git -C "$top_srcdir" log -1 --format=%h 2>/dev/null || echo '?'))"

# ---- I_MESSAGEs, KRRs, keys, configuration ----
sip_keys
TOOLENV="ASAN_OPTIONS=detect_leaks=0"
env $TOOLENV "$SDTOOL" mikey build --idri "$ALICE" --idrr "$BOB" --idrkmsi "$H" --idrkmsr "$P" --output base64 |
	tr -d '\r\n' >"$WORK/mikey-good.b64"
env $TOOLENV "$SDTOOL" mikey build --idri "$ALICE" --idrr "$BOB" --idrkmsi "$H" --idrkmsr kms.wrong.example \
	--output base64 | tr -d '\r\n' >"$WORK/mikey-wrong.b64"
KRRARGS="--originator $BOB --originator-kms $P --initiator $ALICE --receiver $BOB --initiator-kms $H --receiver-kms $P"
# shellcheck disable=SC2086
env $TOOLENV "$SDTOOL" krr build $KRRARGS --accept-initiator-kms "$H" --accept-receiver-kms "$P" >"$WORK/krr-plain.xml"
# shellcheck disable=SC2086
env $TOOLENV "$SDTOOL" krr build $KRRARGS --accept-initiator-kms "$H" --accept-receiver-kms kms.wrong.example \
	--accept-receiver-kms "$P" --cert "$WORK/keys/ue/krr-cert.pem" --key "$WORK/keys/ue/krr-key.pem" \
	>"$WORK/krr-signed.xml"
KRRS="--krr $WORK/krr-plain.xml --krr $WORK/krr-signed.xml"
[ -s "$WORK/mikey-good.b64" ] && [ -s "$WORK/mikey-wrong.b64" ] && [ -s "$WORK/krr-plain.xml" ] ||
	{ echo "sipfuzz.sh: mcx-sdtool made no I_MESSAGE or KRR" >&2; exit 2; }
make_conf primary.conf role=primary port="$P_PRI" next_hop="sip:$L:$SINK;transport=udp" ${T1:+t1=$T1}
cp "$WORK/primary.conf" "$OUT/primary.conf"

# ---- the sink ----
# shellcheck disable=SC2086
"$PY" "$FUZZ" sink --port "$SINK" --seed "$SEED" $SKIP $KRRS --mikey-good "$WORK/mikey-good.b64" \
	--max-seconds "$((MAX_SECONDS + 300))" >"$OUT/sink.log" 2>&1 </dev/null &
SINK_PID=$!
SIP_PIDS="$SIP_PIDS $SINK_PID"
wait_bound udp "$SINK" 100 || { echo "sipfuzz.sh: the sink did not start" >&2; cat "$OUT/sink.log" >&2; exit 2; }

# ---- the daemon ----
export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1:handle_abort=1:fast_unwind_on_malloc=0:malloc_context_size=40 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
DLOG=$WORK/primary.log
start_daemon primary.conf primary >/dev/null || { cat "$DLOG" >&2; exit 2; }
echo "# daemon PID $PID_primary on $L:$P_PRI (udp, tcp), sink PID $SINK_PID on $L:$SINK"

# daemon_stop [KILL]: SIGTERM (or SIGKILL), wait up to 60 s; sets STOP_RC.
daemon_stop() {
	kill "-${1:-TERM}" "$PID_primary" 2>/dev/null || :
	s=0
	while kill -0 "$PID_primary" 2>/dev/null && [ "$s" -lt 600 ]; do
		sleep 0.1
		s=$((s + 1))
	done
	kill -KILL "$PID_primary" 2>/dev/null || :
	set +e
	wait "$PID_primary" 2>/dev/null
	STOP_RC=$?
	set -e
}

# alive_pid PID: running, not a zombie.
alive_pid() { [ -r "/proc/$1/stat" ] && ! sed 's/.*) //' "/proc/$1/stat" | grep -q '^[ZX]'; }

# sinkq QUERY: the sink's answer to a control query (SEEN CALL-ID, STATS, DUMP DIR).
sinkq() {
	"$PY" -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)
s.sendto(sys.argv[2].encode(), ("127.0.0.1", int(sys.argv[1]) + 1)); print(s.recv(65536).decode())' "$SINK" "$1" 2>&1 || :
}

# san_count FILE: sanitizer or assertion reports in a daemon log.
san_count() { grep -Ec 'ERROR: (Address|Leak)Sanitizer|runtime error:|Assertion .* failed' "$1" || :; }

START=0 FINDINGS=0 CRASHES=0 HANGS=0 SANREP=0 CLEAN=unknown T_BEGIN=$(date +%s)
while :; do
	LEFT=$((COUNT - START))
	[ "$LEFT" -gt 0 ] || break
	ELAPSED=$(($(date +%s) - T_BEGIN))
	[ "$ELAPSED" -lt "$MAX_SECONDS" ] || break
	set +e
	# shellcheck disable=SC2086
	"$PY" "$FUZZ" fuzz --port "$P_PRI" --sink "$SINK" --seed "$SEED" --start "$START" --count "$LEFT" \
		--transports "$TRANSPORTS" --out "$OUT" --pid "$PID_primary" --log "$DLOG" \
		--mikey-good "$WORK/mikey-good.b64" --mikey-wrong "$WORK/mikey-wrong.b64" $KRRS $SKIP \
		--max-seconds "$((MAX_SECONDS - ELAPSED))" </dev/null &
	FUZZ_PID=$!
	SIP_PIDS="$SIP_PIDS $FUZZ_PID"
	wait "$FUZZ_PID"
	RC=$?
	set -e
	NEXT=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["next"])' "$OUT/run-$START.json" 2>/dev/null ||
		echo "$COUNT")
	if [ "$RC" -ne 3 ]; then
		[ "$RC" -eq 0 ] && CLEAN=yes || CLEAN=no
		break
	fi
	# ---- a finding ----
	FINDINGS=$((FINDINGS + 1))
	FDIR=$OUT/finding-$NEXT
	WHY=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["why"])' "$FDIR/finding.json" 2>/dev/null || echo '?')
	case $WHY in *died*) CRASHES=$((CRASHES + 1)) ;; *hang*) HANGS=$((HANGS + 1)) ;; esac
	sink_dump=$(sinkq "DUMP $FDIR/sink-sent")
	if alive_pid "$PID_primary"; then
		# a hang: where it is, and whether it spins, before it is killed
		{
			echo "$WHY"
			c0=$(awk '{ print $14 + $15 }' "/proc/$PID_primary/stat" 2>/dev/null || echo 0)
			sleep 1
			c1=$(awk '{ print $14 + $15 }' "/proc/$PID_primary/stat" 2>/dev/null || echo 0)
			echo "daemon CPU ticks over 1 s: $((c1 - c0)) (of $(getconf CLK_TCK)); $(grep VmRSS "/proc/$PID_primary/status" 2>/dev/null)"
			timeout 60 gdb -p "$PID_primary" -batch -ex 'bt 40' 2>&1 || echo "(no gdb)"
		} >"$FDIR/stack.txt" 2>&1
		echo "# the daemon is still running: its stack in $FDIR/stack.txt"
	fi
	daemon_stop KILL
	SANREP=$((SANREP + $(san_count "$DLOG")))
	echo "# daemon exit status $STOP_RC; sink: $sink_dump"
	tail -n 300 "$DLOG" >"$FDIR/daemon.log.tail"
	awk '/ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer|Assertion .* failed/ { p = 1 } p' "$DLOG" |
		head -n 400 >"$FDIR/sanitizer.txt" || :
	[ -s "$FDIR/sanitizer.txt" ] && sed -n '1,40p' "$FDIR/sanitizer.txt" | sed 's/^/#   /'
	# one minimisation per kind of report (its SUMMARY or assertion line, addresses left out)
	SIG=$(grep -m1 -E 'SUMMARY: |Assertion .* failed|runtime error:' "$FDIR/sanitizer.txt" 2>/dev/null |
		sed 's/0x[0-9a-f]*//g; s/==[0-9]*==//g' || :)
	[ -n "$SIG" ] || SIG="$WHY"
	echo "$SIG" >"$FDIR/signature"
	if grep -qxF -- "$SIG" "$OUT/signatures" 2>/dev/null; then
		echo "# seen before ($SIG): not minimised again"
	else
		echo "$SIG" >>"$OUT/signatures"
		echo "# minimising $FDIR ($SIG)"
		set +e
		timeout -k 10 1800 "$PY" "$FUZZ" minimise --port "$P_PRI" --sink "$SINK" --dir "$FDIR" -- \
			"$SDPROXYD" -f -c "$WORK/primary.conf" </dev/null
		set -e
	fi
	[ "$KEEP_GOING" = 1 ] || break
	mv "$DLOG" "$WORK/primary-$NEXT.log"
	start_daemon primary.conf primary >/dev/null || { cat "$DLOG" >&2; exit 2; }
	START=$NEXT
done

# ---- the end: the clean INVITEs were sent by the fuzzer; the daemon stops cleanly ----
RSS_END=$(awk '/^VmRSS/ { print $2 }' "/proc/$PID_primary/status" 2>/dev/null || echo '?')
daemon_stop TERM
SAN_END=$(san_count "$DLOG")
SANREP=$((SANREP + SAN_END))
tail -n 2000 "$DLOG" >"$OUT/daemon.log.tail"
grep -E 'ERROR: LeakSanitizer' -A 60 "$DLOG" >"$OUT/leaks.txt" 2>/dev/null || rm -f "$OUT/leaks.txt"
grep -c . "$DLOG" >/dev/null 2>&1 && echo "# daemon log: $(wc -l <"$DLOG") lines, $(grep -c 'WARN\|warn' "$DLOG" || :) warnings"

"$PY" - "$OUT" <<'EOF'
import glob, json, os, sys
out = sys.argv[1]
runs = [json.load(open(f)) for f in sorted(glob.glob(os.path.join(out, "run-*.json")))]
udp = sum(r["sent"].get("udp", 0) for r in runs)
tcp = sum(r["sent"].get("tcp", 0) for r in runs)
secs = sum(r["seconds"] for r in runs)
st = {}
for r in runs:
    for k, v in r["stats"].items():
        st[k] = st.get(k, 0) + v
rows = [l.split("\t") for l in open(os.path.join(out, "rss.tsv")).read().splitlines()[1:]] if os.path.exists(
    os.path.join(out, "rss.tsv")) else []
rss = [int(r[2]) for r in rows if r[2].lstrip("-").isdigit() and int(r[2]) > 0]
print("sipfuzz summary: %d messages (udp %d, tcp %d) in %.0f s, %.0f msg/s" % (udp + tcp, udp, tcp, secs,
                                                                              (udp + tcp) / max(secs, 1)))
print("  probes: udp %d, tcp %d; max probe latency %.0f ms; tcp reconnects %d (reframes %d, closed by the daemon %d)"
      % (st.get("udp_probes", 0), st.get("tcp_probes", 0), max([r["probe_max_ms"] for r in runs] or [0]),
         st.get("tcp_connects", 0), st.get("tcp_reframe", 0), st.get("tcp_closed_by_daemon", 0)))
if rss:
    print("  daemon RSS: first %d kB, max %d kB, last %d kB (%s)" % (rss[0], max(rss), rss[-1],
                                                                     os.path.join(out, "rss.tsv")))
EOF
echo "  findings: $FINDINGS (crashes $CRASHES, hangs $HANGS), sanitizer/assertion reports in the daemon's logs: $SANREP"
echo "  clean INVITE after the run forwarded to the next hop: $CLEAN"
echo "  daemon at the end: RSS $RSS_END kB, SIGTERM exit status $STOP_RC$([ -s "$OUT/leaks.txt" ] && echo ', LEAKS reported (leaks.txt)')"
echo "  sink: $(sinkq STATS)"
[ "$FINDINGS" -eq 0 ] && [ "$CLEAN" = yes ] && [ "$STOP_RC" -eq 0 ] && [ "$SANREP" -eq 0 ]
