# server.workers: a master and two worker processes sharing the listen address (issue 10):
#   1. both workers listen, each also on its own port; the master says "ready" once; a second
#      daemon on the same addresses cannot start (SO_REUSEPORT would let it share them);
#   2. a call (sipp alice -> primary -> sipp bob): the INVITE's Via and Record-Route name one
#      worker's own address, and the ACK and BYE come through that same worker;
#   3. INVITEs from 16 source ports are spread over both workers (the kernel hashes the source;
#      16 sources all on one worker by chance: 2 in 65 536), every one answered;
#   4. a request in a dialog naming the daemon itself in another spelling loops through the workers and is
#      refused 482 (the loop key is the daemon's, not a worker's), whichever worker it reaches;
#   5. a worker killed with SIGKILL is logged and restarted, and calls go on;
#   6. SIGHUP: the master checks the file, every worker reads it, the master logs when all did;
#      only the master speaks to systemd (a stand-in notification socket records who said what);
#   7. the audit log holds every decision, one JSON record per line, from both workers;
#   8. SIGTERM stops the master and every worker, exit status 0;
#   9. server.worker_port_base: the workers' own ports are base + 0 and base + 1.
. "$top_srcdir/tests/sip/lib_sip.sh"

need_sip
need python3
sip_ports 26800
sip_keys
L=127.0.0.1
SIPNET=$top_srcdir/tests/sip/sipnet.py
MCX_TEST_WORKERS=2

# own_port NAME N PROTO: worker N's own port for PROTO, from daemon NAME's log (the latest start).
own_port() {
	grep "worker $2: listening on sip:.*;transport=$3 (this worker's own" "$WORK/$1.log" | tail -n 1 |
		sed 's/.*listening on sip:[^ ]*:\([0-9]*\);transport=.*/\1/'
}
# worker_of NAME PORT: which worker of daemon NAME owns PORT ("-" when none).
worker_of() {
	w_n=$(grep "listening on sip:$L:$2;.*(this worker's own" "$WORK/$1.log" | tail -n 1 | sed 's/.*worker \([0-9]*\): .*/\1/')
	echo "${w_n:--}"
}
# invite FILE CALLID: an INVITE without a body (no I_MESSAGE: forwarded) for the sink.
invite() {
	printf '%s\r\n' "INVITE sip:bob@partner.example SIP/2.0" "Via: SIP/2.0/UDP $L:9;rport;branch=z9hG4bK-$2" \
		"Max-Forwards: 70" "From: <sip:alice@home.example>;tag=a1" "To: <sip:bob@partner.example>" \
		"Call-ID: $2" "CSeq: 1 INVITE" "Contact: <sip:alice@$L:9>" "Content-Length: 0" "" >"$WORK/$1"
}
# send FILE FROM-PORT: the final status the request in FILE got, sent from FROM-PORT.
send() {
	SIPNET_FROM_PORT=$2 python3 "$SIPNET" send "$P_PRI" "$WORK/$1" 3 >"$WORK/$1.out" 2>&1 || :
	sed -n 's/^[0-9.]* SIP\/2\.0 \([2-6][0-9][0-9]\) .*/\1/p' "$WORK/$1.out" | tail -n 1
}

# invites NAME N PORT: N INVITEs (Call-IDs NAME-0 ..), the i-th from PORT + i; their final statuses.
invites() {
	i_all=
	i_n=0
	while [ "$i_n" -lt "$2" ]; do
		invite "$1$i_n.sip" "$1-$i_n"
		i_all="$i_all $(send "$1$i_n.sip" $(($3 + i_n)))"
		i_n=$((i_n + 1))
	done
	echo $i_all
}

# A stand-in for systemd's notification socket: each datagram as "PID MESSAGE", the sender's PID
# from its credentials (SO_PASSCRED), as systemd reads it (NotifyAccess=main: only the main PID's count).
cat >"$WORK/notify.py" <<'EOF'
import socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind(sys.argv[1])
out = open(sys.argv[2], "a", buffering=1)
while True:
    msg, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(12))
    pid = next((struct.unpack("iII", d)[0] for lvl, typ, d in anc
                if lvl == socket.SOL_SOCKET and typ == socket.SCM_CREDENTIALS), -1)
    for line in msg.decode(errors="replace").split("\n"):
        if line:
            out.write("%d %s\n" % (pid, line))
EOF
: >"$WORK/notify.log"
python3 "$WORK/notify.py" "$WORK/notify.sock" "$WORK/notify.log" &
SIP_PIDS="$SIP_PIDS $!"
i=0
while [ ! -S "$WORK/notify.sock" ] && [ "$i" -lt 50 ]; do sleep 0.1; i=$((i + 1)); done

# ---- 1. start ----
make_conf primary.conf role=primary port="$P_PRI" transports="udp tcp" next_hop="sip:$L:$P_UAS;transport=udp"
NOTIFY_SOCKET=$WORK/notify.sock
export NOTIFY_SOCKET
start_daemon primary.conf primary || { done_testing; exit 1; }
unset NOTIFY_SOCKET
is "the master started two workers" "$(grep -c 'info: worker [12] started (pid [0-9]*)$' "$WORK/primary.log")" 2
like "one 'ready' line, from the master, naming the workers" "$(grep 'ready (' "$WORK/primary.log")" \
	"\\[$PID_primary\\]: info: ready \\(primary sip:sdproxy@home.example, configuration .*, 2 workers\\)$"
for n in 1 2; do
	is "worker $n listens on the shared UDP and TCP addresses" \
		"$(grep -c "worker $n: listening on sip:$L:$P_PRI;transport=\(udp\|tcp\) (shared)" "$WORK/primary.log")" 2
	check "worker $n has its own UDP and TCP ports" [ -n "$(own_port primary $n udp)" ] && [ -n "$(own_port primary $n tcp)" ]
done
W1=$(own_port primary 1 udp) W2=$(own_port primary 2 udp)
check "the workers' own ports differ" [ "$W1" != "$W2" ]
is "two processes share the UDP listen port" "$(ss -uanpH "sport = :$P_PRI" | grep -c mcx-sdproxyd)" 2
# SO_REUSEPORT would let any process of the user share the port: a second daemon must not.
for w in 2 1; do
	sed "s/^  workers = .*/  workers = $w;/" "$WORK/primary.conf" >"$WORK/second$w.conf"
	run timeout 10 "$SDPROXYD" -f -c "$WORK/second$w.conf"
	is "a second daemon (workers = $w) on the same addresses: exit 3" "$RC" 3
	like "a second daemon (workers = $w): the address is in use" "$(grep 'cannot listen' "$WORK/err")" \
		"cannot listen on sip:$L:$P_PRI;transport=udp: ([Aa]ddress already in use|address in use)"
done
is "still two processes on the UDP listen port" "$(ss -uanpH "sport = :$P_PRI" | grep -c mcx-sdproxyd)" 2

# ---- 2. a call: Via and Record-Route name one worker, whose dialog it stays ----
B64=$(mikey_b64 "$ALICE" "$BOB" "$H" "$P")
csv call bob@partner.example "$B64"
uas_start bob uas_answer $L "$P_UAS"
uac call uac_call $L "$L:$P_PRI"
sipp_ok call "alice: INVITE, 200 OK, ACK, BYE, 200 OK"
uas_wait bob
sipp_ok bob "bob: INVITE, 200 OK, ACK, BYE, 200 OK"
# (the traces as sipp wrote them: this script checks the workers' own addresses themselves)
inv_via=$(grep -m 1 -i '^Via: SIP/2.0/UDP' "$WORK/bob.msg" | sed 's/.*UDP \([^;]*\);.*/\1/')
wport=${inv_via##*:}
W=$(worker_of primary "$wport")
check "bob's INVITE: its top Via names a worker's own port ($inv_via: worker $W)" [ "$W" != - ]
like "bob's INVITE: Record-Route names the same worker's own port" \
	"$(grep -m 1 -i '^Record-Route:' "$WORK/bob.msg")" "<sip:$L:$wport;transport=udp;lr>"
is "bob's ACK and BYE came through the same worker (their Via)" \
	"$(awk '/^(ACK|BYE) / { m = 1 } m && tolower($0) ~ /^via: sip\/2.0\/udp/ { sub(/.*UDP /, ""); sub(/;.*/, ""); print; m = 0 }' "$WORK/bob.msg" | sort -u)" \
	"$inv_via"
CID=$(call_id call)
like "the decision was logged by worker $W" "$(grep -F "call $CID: forward" "$WORK/primary.log")" ": worker $W: call "

# ---- 3. spread over both workers ----
python3 "$SIPNET" sink "$P_UAS" "$WORK/sink.log" &
SINK=$!
SIP_PIDS="$SIP_PIDS $SINK"
wait_bound udp "$P_UAS"
is "16 INVITEs from 16 ports: each forwarded, the sink's 486 back" "$(invites spread 16 $((P_UAC + 10)))" \
	"$(printf '486 %.0s' $(seq 16) | sed 's/ $//')"
for n in 1 2; do
	c=$(grep -c ": worker $n: call spread-[0-9]*: forward" "$WORK/primary.log" || :)
	check "worker $n decided some of them ($c)" [ "$c" -gt 0 ]
done

# ---- 4. a loop through the workers ----
for i in 1 2 3 4; do
	printf '%s\r\n' "OPTIONS sip:bob@$L:0$P_PRI SIP/2.0" "Via: SIP/2.0/UDP $L:9;rport;branch=z9hG4bK-loop$i" \
		"Max-Forwards: 70" "From: <sip:alice@home.example>;tag=l$i" "To: <sip:bob@partner.example>;tag=b$i" \
		"Call-ID: loop-$i" "CSeq: 1 OPTIONS" "Content-Length: 0" "" >"$WORK/loop$i.sip"
	is "a request to the daemon itself (port 0$P_PRI), from port $((P_UAC + 30 + i)): 482" \
		"$(send "loop$i.sip" $((P_UAC + 30 + i)))" 482
done

# ---- 5. a worker dies ----
victim=$(sed -n 's/.*info: worker 2 started (pid \([0-9]*\))$/\1/p' "$WORK/primary.log" | tail -n 1)
kill -KILL "$victim"
wait_log primary 'worker 2 ready again' 50 || :
like "the master logs the death and restarts the worker" \
	"$(grep "worker 2 (pid $victim)" "$WORK/primary.log")" \
	"worker 2 \\(pid $victim\\) was killed by signal 9 \\(Killed\\) after [0-9]+ ms: restarting it"
like "the new worker 2 started and is ready" "$(grep 'worker 2 ready again' "$WORK/primary.log")" "worker 2 ready again \\(pid [0-9]+\\)"
check "the old worker is gone" [ ! -e "/proc/$victim" ]
is "8 INVITEs after the restart: each forwarded" "$(invites after 8 $((P_UAC + 40)))" \
	"486 486 486 486 486 486 486 486"

# ---- 6. SIGHUP ----
hup primary || :
is "SIGHUP: the master and both workers loaded generation 2" \
	"$(grep -c 'reload: configuration .* loaded (generation 2)' "$WORK/primary.log")" 3
like "SIGHUP: the master logs when every worker has read it" "$(master_log primary | grep 'reload: every')" \
	"reload: every worker has read the configuration"

notify_of() { awk -v p="$1" '$1 == p { print $2 }' "$WORK/notify.log" | paste -sd' ' -; }
is "systemd: READY=1 once the workers listen, RELOADING=1 and READY=1 around the reload, from the master" \
	"$(notify_of "$PID_primary")" "READY=1 RELOADING=1 READY=1"
is "systemd: nothing from any other process (NotifyAccess=main would drop it)" \
	"$(awk -v p="$PID_primary" '$1 != p' "$WORK/notify.log")" ""

# ---- 7. the audit log ----
AUDIT=$WORK/primary-audit.jsonl
is "the audit log: one record per decision (the call, 16 + 8 INVITEs), each line JSON" \
	"$("$JQ" -c . "$AUDIT" 2>&1 | wc -l) $(wc -l <"$AUDIT")" "25 25"

# ---- 8. SIGTERM ----
pids=$(daemon_pids primary)
stop_daemon primary
sleep 0.2
is "systemd: STOPPING=1 from the master at SIGTERM" "$(notify_of "$PID_primary" | sed 's/.* //')" "STOPPING=1"
left=
for p in $pids; do
	[ ! -e "/proc/$p" ] || left="$left $p"
done
is "SIGTERM: no worker left" "$left" ""

# ---- 9. fixed worker ports ----
BASE=$((P_PRI + 20))
make_conf fixed.conf role=primary port="$P_PRI" transports=udp next_hop="sip:$L:$P_UAS;transport=udp"
sed -i "s/^  workers = .*/  workers = 2;\n  worker_port_base = $BASE;/" "$WORK/fixed.conf"
start_daemon fixed.conf fixed || { done_testing; exit 1; }
is "worker_port_base $BASE: the workers' own ports" "$(own_port fixed 1 udp) $(own_port fixed 2 udp)" "$BASE $((BASE + 1))"
stop_daemon fixed

kill -TERM "$SINK" 2>/dev/null || :
done_testing
