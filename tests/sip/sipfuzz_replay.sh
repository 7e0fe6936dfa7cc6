# The messages that once crashed or hung the daemon under the SIP-level fuzzer
# (tests/fuzz/sipfuzz.sh), replayed: tests/data/sipfuzz/*.sip (what each is and what it once
# did: tests/data/sipfuzz/README), each sent as it is, first over UDP (one datagram), then over
# TCP (a new connection, the whole file in one write: a file may hold pipelined messages),
# inside a private network namespace (loopback only; resolv.conf names 127.0.0.1, where
# nothing listens: DNS fails at once).  After each: the daemon spent less than 2 s of CPU on it
# (measured from /proc until it is idle), is still running (not a zombie) and answers an OPTIONS
# addressed to itself (in dialog: a To tag) with 200; for the messages
# the table EXPECT names, the status of the answer and whether the next hop got it are as
# listed (and the Max-Forwards of the copy the next hop got, where the table has a fourth
# column).  Then a clean INVITE (sipp) still reaches the next hop (sipp) and is answered, the
# daemon stops on SIGTERM with status 0, and its log holds no sanitizer report.
#
# The next hop while the files are sent: a sink in the replayer (127.0.0.1:P_UAS, UDP) that
# answers 486 to INVITE, nothing to ACK, 200 to the rest, and says which Call-IDs it got.  Over
# TCP the top Via's transport is made TCP (nta drops a request whose top Via names another
# transport), the Call-ID and the Via branches get a "-t" so that the daemon does not take the
# TCP copy for a retransmission of the UDP one.
#
# tests/data/sipfuzz/open/ holds reproducers of failures not fixed yet: replayed only with
# SIPFUZZ_OPEN=1 (move a file up once its failure is fixed).  SIPFUZZ_ONLY="NAME..." replays
# only those files (names without .sip).
. "$top_srcdir/tests/sip/netns.sh"
. "$top_srcdir/tests/sip/lib_sip.sh"

need_sip
need python3
sip_ports 26500
sip_keys
L=127.0.0.1
own_resolv_conf 127.0.0.1

# FILE (without .sip)  STATUS (of the answer with the file's Call-ID; - none; * any)  FORWARDED (yes|no|*)
# [MAX-FORWARDS of the copy the next hop got]
EXPECT="
invite-two-max-forwards 400 no
invite-two-subject 486 yes
invite-two-expires 400 no
invite-two-session-expires 400 no
invite-two-min-se 400 no
invite-two-date 486 yes
invite-two-organization 486 yes
invite-two-priority 486 yes
invite-two-user-agent 486 yes
message-two-expires 400 no
options-to-self-3000-strict-routes * no
pipelined-second-route-100000-entries * *
stray-response-second-via-bad-received - no
pipelined-second-content-length-2147483648 * *
info-to-self-port-leading-zero 482 no
invite-max-forwards-4294967295 486 yes 70
"

# The replayer: one file over one transport, then the probe.  Prints
# "status=CODE|- forwarded=yes|no probe=yes|no busy=CPU-SECONDS mf=MAX-FORWARDS|-".
cat >"$WORK/replay.py" <<'EOF'
import re, select, socket, sys, time
fn, tr, port, sink, pid = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
data = open(fn, "rb").read()
if tr == "tcp":
    data = re.sub(rb"(?im)^((?:via|v)[ \t]*:[ \t]*SIP[ \t]*/[ \t]*2\.0[ \t]*/[ \t]*)UDP", rb"\1TCP", data, count=1)
    data = re.sub(rb"(?im)^((?:call-id|i)[ \t]*:[^\r\n]*?)([ \t]*\r?$)", rb"\1-t\2", data)
    data = re.sub(rb"(branch=z9hG4bK[^;,\s]*)", rb"\1-t", data)
m = re.search(rb"(?im)^(?:call-id|i)[ \t]*:[ \t]*([^\r\n]*?)[ \t]*\r?$", data)
cid = m.group(1) if m and m.group(1) else None


def cpu():
    try:
        f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / 100.0
    except (OSError, IndexError, ValueError):
        return -1.0


snk = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
snk.bind(("127.0.0.1", sink))
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("127.0.0.1", 0))
me = u.getsockname()[1]
t = None
c0 = cpu()
t0 = time.time()
if tr == "udp" and len(data) > 65507:
    print("status=- forwarded=no probe=skip busy=0.00 mf=-")
    sys.exit(0)
if tr == "udp":
    u.sendto(data, ("127.0.0.1", port))
else:
    t = socket.create_connection(("127.0.0.1", port), timeout=2)
    t.sendall(data)
status, forwarded, probe, mf = "-", "no", "no", "-"
pcid = b"probe-%d-%s" % (me, tr.encode())
opt = (b"OPTIONS sip:127.0.0.1:%d SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-%s;rport\r\n"
       b"Max-Forwards: 70\r\nFrom: <sip:replay@home.example>;tag=r1\r\nTo: <sip:127.0.0.1:%d>;tag=probe\r\n"
       b"Call-ID: %s\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n") % (port, me, pcid, port, pcid)
tbuf = b""
# First until the daemon is idle (its CPU time still for 0.2 s; 60 s at most): how long the
# message kept it busy.  Then the probe, sent again each second, 5 s at most.
busy, p0, probe_at, last_cpu, last_at, still = None, None, 0.0, c0, t0, 0


def final_of(msg):
    global status
    if cid and cid in msg and msg.startswith(b"SIP/2.0 ") and msg[8:9] in b"23456" and status == "-":
        status = msg[8:11].decode()


while True:
    now = time.time()
    if busy is None and now - last_at >= 0.1:
        c = cpu()
        still = still + 1 if c - last_cpu < 0.01 else 0
        last_cpu, last_at = c, now
        if still >= 2 or now - t0 > 60 or c < 0:
            busy, p0 = max(0.0, c - c0), now
    if busy is not None:
        if probe == "no" and now >= probe_at:
            u.sendto(opt, ("127.0.0.1", port))
            probe_at = now + 1.0
        if now > p0 + 5 or probe == "yes" and (status != "-" or not cid or now > p0 + 0.5):
            break
    socks = [snk, u] + ([t] if t else [])
    r, _, _ = select.select(socks, [], [], 0.05)
    for s in r:
        if s is snk:
            d, a = snk.recvfrom(70000)
            if d.startswith(b"SIP/"):
                continue
            if cid and cid in d:
                forwarded = "yes"
                m = re.search(rb"(?im)^max-forwards[ \t]*:[ \t]*(\d+)", d)
                if m and mf == "-":
                    mf = m.group(1).decode()
            if d.startswith(b"ACK "):
                continue
            h = d.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
            keep = [x for x in h[1:] if re.match(rb"(?i)(via|v|from|f|to|t|call-id|i|cseq)[ \t]*:", x)]
            code = b"486 Busy Here (replay sink)" if d.startswith(b"INVITE ") else b"200 OK (replay sink)"
            keep = [x + b";tag=sink" if re.match(rb"(?i)(to|t)[ \t]*:", x) and b"tag=" not in x else x for x in keep]
            snk.sendto(b"SIP/2.0 " + code + b"\r\n" + b"\r\n".join(keep) + b"\r\nContent-Length: 0\r\n\r\n", a)
        elif s is u:
            d = u.recv(70000)
            if pcid in d and d.startswith(b"SIP/2.0 200"):
                probe = "yes"
            final_of(d)
        else:
            try:
                d = t.recv(65536)
            except OSError:
                d = b""
            if not d:
                t.close()
                t = None
                continue
            tbuf += d
            final_of(tbuf)
print("status=%s forwarded=%s probe=%s busy=%.2f mf=%s" % (status, forwarded, probe, busy or 0.0, mf))
EOF

# alive PID: running, not a zombie.
alive() { [ -r "/proc/$1/stat" ] && ! sed 's/.*) //' "/proc/$1/stat" | grep -q '^[ZX]'; }

make_conf primary.conf role=primary port="$P_PRI" next_hop="sip:$L:$P_UAS;transport=udp"
start_daemon primary.conf primary || { done_testing; exit 1; }

FILES=$(ls "$DATA"/sipfuzz/*.sip)
[ -z "${SIPFUZZ_OPEN:-}" ] || FILES="$FILES $(ls "$DATA"/sipfuzz/open/*.sip 2>/dev/null || :)"
if [ -n "${SIPFUZZ_ONLY:-}" ]; then
	FILES=$(for n in $SIPFUZZ_ONLY; do ls "$DATA"/sipfuzz/"$n".sip "$DATA"/sipfuzz/open/"$n".sip 2>/dev/null || :; done)
fi
[ -n "$FILES" ] || { not_ok "no message in $DATA/sipfuzz"; done_testing; exit 1; }
SANS=0
for f in $FILES; do
	n=$(basename "$f" .sip)
	want=$(printf '%s\n' "$EXPECT" | awk -v n="$n" '$1 == n { print $2 " " $3 " " ($4 == "" ? "-" : $4) }')
	for tr in udp tcp; do
		got=$(python3 "$WORK/replay.py" "$f" "$tr" "$P_PRI" "$P_UAS" "$PID_primary" 2>"$WORK/replay.err" ||
			echo "replayer failed")
		g_pr=$(echo "$got" | sed -n 's/.*probe=\([^ ]*\).*/\1/p')
		if [ "$g_pr" = skip ]; then
			ok "$n over $tr: larger than a datagram, not sent"
			continue
		fi
		g_busy=$(echo "$got" | sed -n 's/.*busy=\([^ ]*\).*/\1/p')
		if alive "$PID_primary" && [ "$g_pr" = yes ] && awk -v b="${g_busy:-99}" 'BEGIN { exit !(b < 2) }'; then
			ok "$n over $tr: the daemon is alive, busy less than 2 s (CPU), and answers OPTIONS"
		else
			not_ok "$n over $tr: the daemon is alive, busy less than 2 s (CPU), and answers OPTIONS ($got)"
			diag "$WORK/replay.err" 5
			diag "$WORK/primary.log" 30
			grep -q 'Sanitizer\|runtime error' "$WORK/primary.log" && SANS=$((SANS + 1))
			# another daemon for the rest
			kill -KILL "$PID_primary" 2>/dev/null || :
			wait "$PID_primary" 2>/dev/null || :
			mv "$WORK/primary.log" "$WORK/primary-$n-$tr.log"
			start_daemon primary.conf primary >/dev/null || { not_ok "daemon restarts"; done_testing; exit 1; }
			continue
		fi
		if [ -n "$want" ]; then
			set -f; set -- $want; set +f	# the table holds * (any)
			w_st=$1 w_fw=$2 w_mf=$3
			g_st=$(echo "$got" | sed 's/.*status=\([^ ]*\).*/\1/')
			g_fw=$(echo "$got" | sed 's/.*forwarded=\([^ ]*\).*/\1/')
			g_mf=$(echo "$got" | sed 's/.*mf=\([^ ]*\).*/\1/')
			[ "$w_st" != "*" ] || w_st=$g_st
			[ "$w_fw" != "*" ] || w_fw=$g_fw
			is "$n over $tr: answer status, forwarded to the next hop" "$g_st $g_fw" "$w_st $w_fw"
			[ "$w_mf" = - ] || is "$n over $tr: Max-Forwards sent on" "$g_mf" "$w_mf"
		fi
	done
done
is "the daemon's log: no line from a sanitizer or an assertion" \
	"$SANS $(grep -c 'Sanitizer\|runtime error:\|Assertion .* failed' "$WORK/primary.log" || :)" "0 0"

# a clean INVITE still goes through: alice (sipp) -> primary -> bob (sipp)
csv call bob@partner.example "$(mikey_b64 "$ALICE" "$BOB" "$H" "$P")"
uas_start bob uas_answer $L "$P_UAS"
uac call uac_call $L "$L:$P_PRI"
sipp_ok call "alice: INVITE, 200 OK, ACK, BYE, 200 OK through the primary after the replay"
uas_wait bob
sipp_ok bob "bob (the next hop) got the clean INVITE and the BYE"
expect_decision primary primary.conf "$(call_id call)" "forward 4:acceptable 0 $BOB"
stop_daemon primary
done_testing
