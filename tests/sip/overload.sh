# Overload control: refuse new requests early with 503 + Retry-After, keep serving the calls
# already admitted, and admit again once the load is gone; a log line when refusing starts
# and when it stops.  Two short overloads, bounded in requests and time, through the primary
# daemon to a next-hop sink (sipnet.py):
#   1. the receive queue: the daemon is stopped (SIGSTOP) while INVITEs and in-dialog BYEs
#      fill its UDP receive queue to 60 % of the buffer (overload.queue_high = 30, queue_low =
#      20), then let go: INVITEs get 503 until the queue is below 20 %, the rest are forwarded,
#      every BYE is forwarded.  The sender ACKs the final answers only once it has them all:
#      the kernel charges a small ACK almost what it charges an INVITE, and ACKs coming back
#      as fast as the 503s go out would keep the queue at its level until its very end;
#   2. requests in flight: the sink answers INVITEs after 2 s, max_in_flight = 4: of 10
#      INVITEs sent back to back 4 are forwarded, 6 get 503 at once; then one more goes on.
. "$top_srcdir/tests/sip/lib_sip.sh"

need_sip
need python3 ss
sip_ports 26600
sip_keys
L=127.0.0.1
SIPNET=$top_srcdir/tests/sip/sipnet.py
OVERLOAD=$top_srcdir/tests/sip/overload.py

# The INVITEs carry an acceptable I_MESSAGE (alice -> bob, home -> partner KMS): each is decided.
OVL_MIKEY=$(mikey_b64 "$ALICE" "$BOB" "$H" "$P")
export OVL_MIKEY

# forwarded CALL-ID-PREFIX: how many distinct such Call-IDs the sink saw (not ACKs).
forwarded() { grep -v '^ACK ' "$WORK/sink.log" | awk -v p="$1" 'index($2, p) == 1 { print $2 }' | sort -u | wc -l; }
# count FILE METHOD STATUS: requests of METHOD whose final answer was STATUS.
count() { awk -v m="$2" -v s="$3" '$2 == m && $3 == s' "$WORK/$1" | wc -l; }

python3 "$SIPNET" sink "$P_UAS" "$WORK/sink.log" &
SINK=$!
SIP_PIDS="$SIP_PIDS $SINK"
wait_bound udp "$P_UAS"
: >"$WORK/sink.log"

# ---- 1: the receive queue ----
make_conf queue.conf role=primary port="$P_PRI" transports=udp next_hop="sip:$L:$P_UAS;transport=udp"
echo 'overload = { queue_high = 30; queue_low = 20; retry_after = 7; };' >>"$WORK/queue.conf"
start_daemon queue.conf queue || { done_testing; exit 1; }

python3 "$OVERLOAD" burst "$P_PRI" "$P_UAS" "$(daemon_pids queue | tr ' ' ,)" 60 "$WORK/burst.out"
sent=$(grep -c ' INVITE ' "$WORK/burst.out")
refused=$(count burst.out INVITE 503)
passed=$(count burst.out INVITE 486)
diag_burst() { echo "# $sent INVITEs: $refused refused, $passed forwarded; $(grep -c ' BYE ' "$WORK/burst.out") BYEs"; }
diag_burst
check "some of the queued INVITEs were refused with 503" [ "$refused" -gt 0 ]
check "some of them were admitted and forwarded (486 from the sink)" [ "$passed" -gt 0 ]
is "every INVITE got a final answer, 503 or the sink's 486" "$((refused + passed))" "$sent"
is "every 503 says Retry-After: 7" "$(awk '$3 == 503 { print $4 }' "$WORK/burst.out" | sort -u)" 7
is "every in-dialog BYE was served (200 from the sink), none refused" \
	"$(awk '$2 == "BYE" { print $3 }' "$WORK/burst.out" | sort -u)" 200
is "the next hop saw exactly the admitted INVITEs (no refused one reached it)" "$(forwarded ovl-i-)" "$passed"
like "refusing started: logged with its cause" "$(grep 'overload: receive' "$WORK/queue.log" | head -n 1)" \
	'overload: receive queue [0-9]+ % full \(queue_high 30 %\), [0-9]+ request\(s\) in flight: refusing new requests with 503 Retry-After 7$'
wait_log queue 'overload: over after' 50 || :
like "refusing stopped: logged with the count" "$(grep 'overload: over' "$WORK/queue.log" | head -n 1)" \
	"overload: over after [0-9]+ ms, $refused new request\\(s\\) refused, receive queue at most [0-9]+ % full: admitting again"
python3 "$OVERLOAD" calls "$P_PRI" "$P_UAS" 1 "$WORK/after1.out"
is "after the overload a new INVITE is forwarded again" "$(awk '{ print $3 }' "$WORK/after1.out")" 486
stop_daemon queue

# ---- 2: requests in flight ----
kill -TERM "$SINK"
python3 "$SIPNET" sink "$P_UAS2" "$WORK/sink.log" 2 &
SIP_PIDS="$SIP_PIDS $!"
wait_bound udp "$P_UAS2"
: >"$WORK/sink.log"
make_conf flight.conf role=primary port="$P_PRI" transports=udp next_hop="sip:$L:$P_UAS2;transport=udp"
echo 'overload = { max_in_flight = 4; };' >>"$WORK/flight.conf"
start_daemon flight.conf flight || { done_testing; exit 1; }

python3 "$OVERLOAD" calls "$P_PRI" "$P_UAS2" 10 "$WORK/flight.out"
is "10 INVITEs back to back: the first 4 forwarded (486 after 2 s), 6 refused" \
	"$(awk '{ print $3 }' "$WORK/flight.out" | paste -sd' ')" "486 486 486 486 503 503 503 503 503 503"
is "the 503s say Retry-After: 5 (the default)" "$(awk '$3 == 503 { print $4 }' "$WORK/flight.out" | sort -u)" 5
echo "# 503 after (ms): $(awk '$3 == 503 { print $5 }' "$WORK/flight.out" | paste -sd' ')"
is "the next hop saw the 4 admitted INVITEs only" "$(forwarded ovl-i-)" 4
like "refusing started: logged with its cause" "$(grep 'overload: [0-9]' "$WORK/flight.log" | head -n 1)" \
	'overload: 4 request\(s\) in flight \(max_in_flight 4\), receive queue [0-9]+ % full: refusing new requests with 503 Retry-After 5$'
python3 "$OVERLOAD" calls "$P_PRI" "$P_UAS2" 1 "$WORK/after2.out"
is "once they are answered, a new INVITE is forwarded" "$(awk '{ print $3 }' "$WORK/after2.out")" 486
like "refusing stopped" "$(grep 'overload: over' "$WORK/flight.log" | head -n 1)" \
	'overload: over after [0-9]+ ms, 6 new request\(s\) refused'
stop_daemon flight
done_testing
