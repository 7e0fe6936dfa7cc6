# The RFC 4475 section 3 torture messages (tests/data/rfc4475/*.dat: the RFC's section 4
# archive, byte for byte) sent one at a time to the primary daemon, first all over UDP, then all
# over TCP (a connection per message) to a second daemon, inside a private network namespace
# (loopback only; resolv.conf names 127.0.0.1, where nothing listens: DNS fails at once and the
# daemon answers 503 for what it must route by DNS).  Checked, per message and transport:
#   1. the daemon survives it: still running afterwards (a crash is reported with the message
#      that caused it, and a daemon is started again for the rest); after each run it still
#      forwards a clean INVITE to its next hop, and stops cleanly on SIGTERM; no sanitizer report;
#   2. an invalid request is not forwarded to the next hop, and gets the error response the RFC
#      asks for when one can reach us;
#   3. a valid request is forwarded to the next hop, or answered with a final response (not
#      400: the RFC says it is well formed) -- never silently dropped;
#   4. a response (none is for this proxy: its top Via is not the daemon's) is not passed on.
# What the RFC asks of a proxy for each message: the table EXPECT below.
#
# How it is observed:
#   - "forwarded": the next hop is a sink run here (127.0.0.1:P_UAS, UDP and TCP) that records
#     every message it gets; a message counts as forwarded when a request the sink got during
#     its turn contains the message's Call-ID (insuf has none: its Via branch).  The sink answers
#     each request (486 to INVITE, nothing to ACK, 200 to the rest, "(torture sink)" in the
#     reason phrase and an X-Torture-Sink header) so that the transaction ends there.
#   - "answered": a final response containing the message's Call-ID or top Via branch came back to
#     the sender and is not the sink's.  The daemon answers to the received address (Sofia adds
#     received=127.0.0.1) and the top Via's port (or the source port, with rport), by the
#     connection the request came on or the Via's transport: the sender sends each message from
#     127.0.0.1 port = its top Via's port (5060 unless it names one) and listens there on UDP
#     and on TCP, and over TCP it reads the request's own connection: any of these answers
#     reaches it.  A response sent anywhere else cannot be seen: it counts as "no answer".
#   - "alive": /proc/PID/stat exists and is not a zombie (stricter than kill -0, which a zombie
#     passes), after each message.
# Each message gets TORTURE_WAIT seconds (default 2) for an answer; the wait ends at the first
# final response.  TORTURE_ONLY="NAME..." sends only those messages (to reproduce one).
#
# The one change made to the messages as sent: nta drops, unanswered, any request whose top
# Via names another transport than the one it came by (log: "nta: Via check: invalid
# transport"), so the top Via's transport token is made the one used (UDP <-> TCP; bext01's TLS
# too), as if its Via had named the transport it is sent by.  The results say which were.
if [ -z "${MCX_IN_NETNS:-}" ]; then
	command -v unshare >/dev/null || { echo "not ok - unshare (util-linux) is not installed"; exit 1; }
	# unshare -m: the bind mount below stays in this namespace (private propagation).  As root,
	# or else in a user namespace of its own (-r) where the kernel allows one.
	if unshare -n -m true 2>/dev/null; then
		set -- -n -m
	elif unshare -r -n -m true 2>/dev/null; then
		set -- -r -n -m
	else
		echo "not ok - no private network namespace (unshare -n needs root, or user namespaces)"
		exit 1
	fi
	# the whole run bounded (on the TERM, the EXIT trap stops what it started)
	MCX_IN_NETNS=1 exec timeout -k 10 600 unshare "$@" "${BASH:-sh}" "$0"
fi
ip link set lo up
. "$top_srcdir/tests/sip/lib_sip.sh"

need_sip
: "${PYTHON3:=python3}"
need "$PYTHON3"
sip_ports 26300
sip_keys
L=127.0.0.1
TDATA=$DATA/rfc4475
WAIT=${TORTURE_WAIT:-2}

# The messages name hosts like example.com and 192.0.2.x: nothing can leave this namespace (lo
# only, no route elsewhere) and DNS is refused at once (nothing listens on 127.0.0.1:53).
printf 'nameserver 127.0.0.1\n' >"$WORK/resolv.conf"
if [ -e /etc/resolv.conf ]; then
	mount --bind "$WORK/resolv.conf" /etc/resolv.conf || { echo "not ok - bind-mount resolv.conf"; exit 1; }
fi

# ---- what RFC 4475 asks of a proxy, per message ----
# file  section  kind  expected-over-UDP  expected-over-TCP
# kind:
#   valid      well formed per the RFC (3.1.1, and the valid ones of 3.2, 3.3, 3.4)
#   invalid    malformed per the RFC, or one it asks an error response for (3.1.2, some of 3.3)
#   response   a response
# expected:
#   pass            forwarded, or answered with a final response other than 400 ("parsers must
#                   accept"; a refusal for what it means -- 404, 416, 501, 503 -- is an answer)
#   pass|4xx        forwarded, or answered with any final response (the RFC allows a 400 too)
#   reject:C        not forwarded, and answered with a status in the list C (4xx: 400-499)
#   reject|repair:C the same, or forwarded with the error gone (the RFC lets a liberal element
#                   accept it, but says what it forwards must not have the error: repaired())
#   reject|liberal:C the same, or forwarded (the RFC lets a liberal element accept it and says
#                   nothing against passing it on as it is)
#   notfwd          not forwarded; no answer required (over TCP a message the RFC says cannot be
#                   framed: "wait for more data", or "close the connection")
#   drop            not passed on (a response not for us: "simply discard"; it must not crash)
#   sofia-drop      a known deviation: Sofia-SIP 1.12's parser (msg_extract, sip_method_d) cannot
#                   read it, and nta drops it unanswered before the proxy sees it ("received
#                   garbage", "bad Via"); asserted: not forwarded, the daemon runs; reported as a
#                   deviation from what the RFC asks
#   (badvers over UDP: nta answers 505 to the host its Via names before it adds a received
#   address, and the daemon never resolves names in its event loop: notfwd.)
#   (intmeth: its request line is read (src/sipread.c: a method token with % + `, which Sofia-SIP
#   did not accept), but Sofia-SIP's To parser refuses the quoted NUL in its display name: 400,
#   answered rather than dropped; the RFC says it is well formed: pass|4xx.  Over TCP Sofia-SIP's
#   stream parser stops at that NUL and waits for more of the message: no answer until the
#   connection closes: sofia-drop.)
# Why, from the RFC's words for each:
#   wsinv: its To has a tag and it has a Route (services.example.com;lr): routed by DNS, which
#     fails here: a 503.  mpart01 has a Route too (strict, no lr): by its Request-URI's
#     example.org: a 503.  intmeth, esc02: "a proxy will forward ... Otherwise ... 404" / "forward
#     or reject".  novelsc: 416, or 404, or forwarded.  unksm2, invut, regaut01, cparam01,
#     cparam02, regescrt, sdp01: a proxy treats them as any other request.
#   dblreq: over UDP the INVITE after the REGISTER is noise that must not be forwarded (checked
#     apart); over TCP it is a second request on the stream, which may go on.
#   badinv01, scalar02 ("due to the CSeq error"), mismatch01, insuf, multi01: 400.
#   clerr, ncl, mcl01: over UDP "respond with a 400" / "an error"; over TCP "wait for more data
#     ... and close the connection" / "the connection should be closed": notfwd.
#   quotbal, ltgtruri, lwsstart, trws, escruri, baddn: 400 ("acceptable to reject" for lwsstart,
#     trws: any 4xx), or accepted but forwarded without the error ("must not include the
#     brackets", "these extra SP characters", "the escaped headers must not appear in the
#     Request-URI of the forwarded request", "must not propagate the error"; quotbal: a
#     "reasonable inference" of the missing quote).
#   lwsruri, regbadct, badaspec: 400, or "ignore the embedded LWS", "infer the angle brackets",
#     "ignore the spaces": reject|liberal.
#   baddate: rejecting is acceptable, but an element "shouldn't do that unless the contents of
#     the Date header field were actually important to its processing": pass|4xx.
#   baddn: the RFC's archive has no empty line after its headers: over TCP it never ends: notfwd.
#   badvers: 505.  mismatch02: 501, "a 400 ... is also acceptable".  unkscm: 416.  bext01: 420
#     (a proxy: Unsupported lists the Proxy-Require tokens).  zeromf: a proxy "should not
#     forward the request and should respond 483".
#   badbranch (3.2.1): "could reject the request with a 400 ... or fall back to the RFC
#     2543-style transaction identifier": pass|4xx.
#   inv2543 (3.4.1): "should be accepted"; it has no Content-Length, which RFC 3261 18.3
#     requires over TCP (there its body would be read as the next message): pass|4xx over TCP.
#   unreason, noreason (well formed), scalarlg, bigcode ("simply discard"/"drop"), bcast
#     ("proxies should drop such responses"): drop.
EXPECT='
wsinv      3.1.1.1   valid    pass                 pass
intmeth    3.1.1.2   valid    pass|4xx             sofia-drop
esc01      3.1.1.3   valid    pass                 pass
escnull    3.1.1.4   valid    pass                 pass
esc02      3.1.1.5   valid    pass                 pass
lwsdisp    3.1.1.6   valid    pass                 pass
longreq    3.1.1.7   valid    pass                 pass
dblreq     3.1.1.8   valid    pass                 pass
semiuri    3.1.1.9   valid    pass                 pass
transports 3.1.1.10  valid    pass                 pass
mpart01    3.1.1.11  valid    pass                 pass
unreason   3.1.1.12  response drop                 drop
noreason   3.1.1.13  response drop                 drop
badinv01   3.1.2.1   invalid  sofia-drop           sofia-drop
clerr      3.1.2.2   invalid  reject:400           notfwd
ncl        3.1.2.3   invalid  reject:4xx           notfwd
scalar02   3.1.2.4   invalid  reject:400           reject:400
scalarlg   3.1.2.5   response drop                 drop
quotbal    3.1.2.6   invalid  reject|repair:400    reject|repair:400
ltgtruri   3.1.2.7   invalid  reject|repair:400    reject|repair:400
lwsruri    3.1.2.8   invalid  sofia-drop           sofia-drop
lwsstart   3.1.2.9   invalid  reject|repair:4xx    reject|repair:4xx
trws       3.1.2.10  invalid  reject|repair:4xx    reject|repair:4xx
escruri    3.1.2.11  invalid  reject|repair:400    reject|repair:400
baddate    3.1.2.12  invalid  pass|4xx             pass|4xx
regbadct   3.1.2.13  invalid  reject|liberal:400   reject|liberal:400
badaspec   3.1.2.14  invalid  reject|liberal:400   reject|liberal:400
baddn      3.1.2.15  invalid  reject|repair:400    notfwd
badvers    3.1.2.16  invalid  notfwd               reject:505
mismatch01 3.1.2.17  invalid  reject:400           reject:400
mismatch02 3.1.2.18  invalid  reject:501,400       reject:501,400
bigcode    3.1.2.19  response drop                 drop
badbranch  3.2.1     valid    pass|4xx             pass|4xx
insuf      3.3.1     invalid  reject:400           reject:400
unkscm     3.3.2     invalid  reject:416           reject:416
novelsc    3.3.3     valid    pass                 pass
unksm2     3.3.4     valid    pass                 pass
bext01     3.3.5     invalid  reject:420           reject:420
invut      3.3.6     valid    pass                 pass
regaut01   3.3.7     valid    pass                 pass
multi01    3.3.8     invalid  reject:400           reject:400
mcl01      3.3.9     invalid  reject:4xx           notfwd
bcast      3.3.10    response drop                 drop
zeromf     3.3.11    invalid  reject:483           reject:483
cparam01   3.3.12    valid    pass                 pass
cparam02   3.3.13    valid    pass                 pass
regescrt   3.3.14    valid    pass                 pass
sdp01      3.3.15    valid    pass                 pass
inv2543    3.4.1     valid    pass                 pass|4xx
'

# repaired NAME FILE: FILE, a request as the sink got it, no longer has the error of message
# NAME that the RFC says a proxy must not pass on.
repaired() {
	r_first=$(head -n 1 "$2" | tr -d '\r')
	case $1 in
	ltgtruri | lwsstart | trws)
		# one SP between the three elements, no <> round the Request-URI, none at the end
		printf '%s\n' "$r_first" | grep -Eq '^[^ <>]+ [^ <>]+ SIP/2\.0$' ;;
	escruri)
		# no escaped headers left in the Request-URI, and no Route made of them
		printf '%s\n' "$r_first" | grep -Eq '^INVITE [^ ?]+ SIP/2\.0$' && ! sip_hdr "$2" Route | grep -q 'sip:example\.com'
		;;
	quotbal)
		# the To's quotes balanced
		[ $(($(sip_hdr "$2" To t | tr -cd '"' | wc -c) % 2)) -eq 0 ] ;;
	baddn)
		# the display names quoted
		sip_hdr "$2" To t | grep -q '^"Watson, Thomas" *<' && sip_hdr "$2" From f | grep -q '^"Bell, Alexander" *<' ;;
	*) return 1 ;;
	esac
}

# ---- the helpers: the next hop (sink) and the sender ----
cat >"$WORK/torture.py" <<'EOF'
"""The torture test's two helpers (tests/sip/torture.sh writes this file).

torture.py sink PORT LOG
    The next hop: UDP and TCP on 127.0.0.1:PORT.  Appends one JSON line per message it gets to
    LOG (proto, first line, Call-IDs, raw bytes in base64) and answers each request: 486 to
    INVITE, nothing to ACK, 200 to the rest, "(torture sink)" in the reason phrase.
torture.py send PID PORT PROTO SINKLOG OUTDIR WAIT FILE...
    Sends each FILE in turn to 127.0.0.1:PORT over PROTO (udp: from 127.0.0.1 port = the top
    Via's port; tcp: a new connection per message), listening on UDP and TCP on that Via port as
    well; collects what comes back within WAIT seconds (less when a final response comes), what
    the sink got meanwhile, and whether process PID is alive.  One JSON line per FILE on stdout;
    the requests the sink got for it in OUTDIR/NAME.PROTO.N.  Stops after a FILE that leaves PID
    dead (exit status 3).  The responses that came back for it in OUTDIR/resp-NAME.PROTO.N.
"""
import base64
import json
import os
import re
import select
import socket
import sys
import time

COMPACT = {b"i": b"call-id", b"v": b"via", b"f": b"from", b"t": b"to", b"l": b"content-length",
           b"m": b"contact", b"c": b"content-type"}


def split(data):
    """(head, offset of the body); the head is everything when there is no empty line"""
    i = data.find(b"\r\n\r\n")
    return (data, len(data)) if i < 0 else (data[:i], i + 4)


def headers(head):
    """[[canonical lower-case name, unfolded value]], the start line left out"""
    out = []
    for line in head.split(b"\r\n")[1:]:
        if line[:1] in (b" ", b"\t") and out:
            out[-1][1] += b" " + line.strip()
            continue
        i = line.find(b":")
        if i < 0:
            continue
        n = line[:i].strip().lower()
        out.append([COMPACT.get(n, n), line[i + 1:].strip()])
    return out


def values(hs, name):
    return [v for n, v in hs if n == name]


def frame(buf):
    """(message, rest) from a stream buffer; (None, buf) while incomplete"""
    i = buf.find(b"\r\n\r\n")
    if i < 0:
        return None, buf
    cl = 0
    for v in values(headers(buf[:i]), b"content-length"):
        try:
            cl = max(0, int(v))
        except ValueError:
            pass
        break
    end = i + 4 + cl
    if len(buf) < end:
        return None, buf
    return buf[:end], buf[end:]


def record(msg, proto):
    head, _ = split(msg)
    return {"proto": proto, "first": head.split(b"\r\n", 1)[0].decode("latin-1"),
            "call_ids": [v.decode("latin-1") for v in values(headers(head), b"call-id")],
            "raw": base64.b64encode(msg).decode()}


def answer(msg):
    head, _ = split(msg)
    first = head.split(b"\r\n", 1)[0]
    if first.startswith(b"SIP/"):
        return None
    method = first.split(b" ", 1)[0]
    if method == b"ACK":
        return None
    out = [b"SIP/2.0 486 Busy Here (torture sink)" if method == b"INVITE" else b"SIP/2.0 200 OK (torture sink)"]
    for n, v in headers(head):
        if n in (b"via", b"from", b"call-id", b"cseq"):
            out.append(n + b": " + v)
        elif n == b"to":
            out.append(b"to: " + v + (b"" if re.search(rb";\s*tag\s*=", v) else b";tag=sink"))
    out += [b"X-Torture-Sink: 1", b"Content-Length: 0", b"", b""]
    return b"\r\n".join(out)


def sink(port, log):
    out = open(log, "ab", buffering=0)
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", port))
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    t.bind(("127.0.0.1", port))
    t.listen(16)
    conns = {}

    def got(msg, proto, reply):
        out.write(json.dumps(record(msg, proto)).encode() + b"\n")
        a = answer(msg)
        if a:
            try:
                reply(a)
            except OSError:
                pass

    while True:
        r, _, _ = select.select([u, t] + list(conns), [], [])
        for s in r:
            if s is u:
                data, peer = u.recvfrom(65535)
                got(data, "udp", lambda a, p=peer: u.sendto(a, p))
            elif s is t:
                c, _ = t.accept()
                conns[c] = b""
            else:
                try:
                    d = s.recv(65535)
                except OSError:
                    d = b""
                if not d:
                    s.close()
                    del conns[s]
                    continue
                conns[s] += d
                while True:
                    m, conns[s] = frame(conns[s])
                    if m is None:
                        break
                    got(m, "tcp", s.sendall)


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


class Listeners:
    """A UDP socket and a TCP listener on 127.0.0.1:PORT for each Via port met, for the run"""

    def __init__(self):
        self.udp, self.tcp = {}, {}

    def get(self, port):
        if port not in self.udp:
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            u.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            u.bind(("127.0.0.1", port))
            t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            t.bind(("127.0.0.1", port))
            t.listen(16)
            self.udp[port], self.tcp[port] = u, t
        return self.udp[port]


VIA = rb"SIP\s*/\s*[0-9.]+\s*/\s*([A-Za-z]+)\s+(\[[^\]]*\]|[^;,:\s]+)(?:\s*:\s*([0-9]+))?"


def via_port(hs):
    vias = values(hs, b"via")
    m = re.match(VIA, vias[0]) if vias else None
    if not m:
        return 5060
    if m.group(3):
        return int(m.group(3))
    return 5061 if m.group(1).upper() == b"TLS" else 5060


TOP_VIA = re.compile(rb"(\r\n(?:via|v)[ \t]*:[ \t\r\n]*SIP[ \t\r\n]*/[ \t\r\n]*[0-9.]+[ \t\r\n]*/[ \t\r\n]*)([A-Za-z]+)",
                     re.I)


def as_sent(data, proto):
    """The message with its top Via's transport made PROTO (nta drops a request whose top Via
    names another transport than the one it came by); whether it had to be changed"""
    head, _ = split(data)
    m = TOP_VIA.search(head)
    if not m or m.group(2).upper() == proto.upper().encode():
        return data, False
    return data[:m.start(2)] + proto.upper().encode() + data[m.end(2):], True


def send(pid, dport, proto, sinklog, outdir, wait, files):
    lst = Listeners()
    conns = {}      # TCP connections (accepted on the Via ports, or ours) -> what they gave
    for path in files:
        name = os.path.basename(path)
        name = name[:-4] if name.endswith(".dat") else name
        data, rewritten = as_sent(open(path, "rb").read(), proto)
        head, _ = split(data)
        hs = headers(head)
        # the Call-ID, and the top Via's branch: an error response nta builds from a request it
        # cannot fully read may carry no Call-ID, but always the Via it answers to
        keys = values(hs, b"call-id")
        m = re.search(rb"branch\s*=\s*([^;,\s]+)", b" ".join(values(hs, b"via")))
        # (a branch that is no more than the magic cookie, or short, would match other answers)
        keys = keys + ([m.group(1)] if m and len(m.group(1)) > 12 else [])
        keys = keys or [b"\0none"]
        usock = lst.get(via_port(hs))
        start = os.path.getsize(sinklog)
        t0 = time.time()
        client = None
        error = None
        try:
            if proto == "udp":
                usock.sendto(data, ("127.0.0.1", dport))
            else:
                client = socket.create_connection(("127.0.0.1", dport), timeout=wait)
                client.sendall(data)
                conns[client] = b""
        except OSError as e:
            error = str(e)
        responses = []
        deadline = t0 + wait
        while error is None and time.time() < deadline:
            rl = list(lst.udp.values()) + list(lst.tcp.values()) + list(conns)
            r, _, _ = select.select(rl, [], [], max(0.0, deadline - time.time()))
            got = []
            for s in r:
                if s in lst.udp.values():
                    got.append(s.recv(65535))
                elif s in lst.tcp.values():
                    c, _ = s.accept()
                    conns[c] = b""
                else:
                    try:
                        d = s.recv(65535)
                    except OSError:
                        d = b""
                    if not d:
                        s.close()
                        del conns[s]
                        if s is client:
                            client = None
                        continue
                    conns[s] += d
                    while True:
                        m, conns[s] = frame(conns[s])
                        if m is None:
                            break
                        got.append(m)
            for m in got:
                first = split(m)[0].split(b"\r\n", 1)[0]
                if not first.startswith(b"SIP/2.0 ") or not any(k in m for k in keys):
                    continue
                try:
                    code = int(first.split(b" ")[1])
                except (ValueError, IndexError):
                    code = 0
                responses.append({"code": code, "sink": b"X-Torture-Sink" in m,
                                  "first": first.decode("latin-1")})
                with open(os.path.join(outdir, "resp-%s.%s.%d" % (name, proto, len(responses))), "wb") as o:
                    o.write(m)
            if any(x["code"] >= 200 for x in responses):
                break
        ms = int((time.time() - t0) * 1000)
        if client is not None:
            client.close()
            conns.pop(client, None)
        time.sleep(0.1)     # what the sink gets last, and a crash just after the answer
        fwd, others = [], []
        with open(sinklog, "rb") as f:
            f.seek(start)
            for line in f:
                rec = json.loads(line)
                raw = base64.b64decode(rec["raw"])
                if rec["first"].startswith("SIP/"):
                    others.append("response: " + rec["first"])
                elif any(k in raw for k in keys):
                    fwd.append(rec)
                    with open(os.path.join(outdir, "%s.%s.%d" % (name, proto, len(fwd))), "wb") as o:
                        o.write(raw)
                else:
                    others.extend(rec["call_ids"] or [rec["first"]])
        ok = alive(pid)
        print(json.dumps({"name": name, "proto": proto, "alive": ok, "ms": ms, "via_rewritten": rewritten,
                          "error": error, "fwd": [r["first"] for r in fwd],
                          "fwd_methods": [r["first"].split(" ")[0] for r in fwd],
                          "responses": responses, "others": others}), flush=True)
        if not ok:
            sys.exit(3)


if __name__ == "__main__":
    if sys.argv[1] == "sink":
        sink(int(sys.argv[2]), sys.argv[3])
    else:
        pid, dport, proto, sinklog, outdir, wait = sys.argv[2:8]
        send(int(pid), int(dport), proto, sinklog, outdir, float(wait), sys.argv[8:])
EOF

# alive NAME: daemon NAME's process is there and not a zombie.
alive() {
	eval "a_pid=\${PID_$1:-}"
	[ -n "$a_pid" ] && [ -r "/proc/$a_pid/stat" ] && ! sed 's/.*) //' "/proc/$a_pid/stat" | grep -q '^[ZX]'
}

# ---- the next hop, and the daemon ----
: >"$WORK/sink.jsonl"
"$PYTHON3" "$WORK/torture.py" sink "$P_UAS" "$WORK/sink.jsonl" >"$WORK/sink.out" 2>&1 &
SIP_PIDS="$SIP_PIDS $!"
if ! wait_bound udp "$P_UAS" || ! wait_bound tcp "$P_UAS"; then
	not_ok "the sink listens on $L:$P_UAS"
	diag "$WORK/sink.out"
	done_testing
	exit 1
fi
make_conf torture.conf role=primary port="$P_PRI" next_hop="sip:$L:$P_UAS;transport=udp"

# D: the daemon running now (its log $WORK/$D.log): udp, tcp, then udp2, tcp2 ... after a crash.
RUNS=
start_run() {
	D=$1
	n=2
	while [ -f "$WORK/$D.log" ]; do
		D=$1$n
		n=$((n + 1))
	done
	RUNS="$RUNS $D"
	start_daemon torture.conf "$D" || { done_testing; exit 1; }
}

mkdir -p "$WORK/fwd"
[ -z "${TORTURE_ONLY:-}" ] || EXPECT=$(printf '%s\n' "$EXPECT" | awk -v only=" $TORTURE_ONLY " 'NF && index(only, " " $1 " ")')
printf '%s\n' "$EXPECT" | awk 'NF' >"$WORK/expect"
: >"$WORK/results.jsonl"

# send PROTO FILE...: the messages in turn over PROTO, results appended to results.jsonl; after
# a crash a daemon is started again for the rest.
send() {
	s_proto=$1
	shift
	while [ $# -gt 0 ]; do
		eval "s_pid=\$PID_$D"
		timeout 300 "$PYTHON3" "$WORK/torture.py" send "$s_pid" "$P_PRI" "$s_proto" "$WORK/sink.jsonl" \
			"$WORK/fwd" "$WAIT" "$@" >"$WORK/send.out" 2>"$WORK/send.err" || :
		cat "$WORK/send.out" >>"$WORK/results.jsonl"
		[ ! -s "$WORK/send.err" ] || sed 's/^/# sender: /' "$WORK/send.err"
		s_done=$(wc -l <"$WORK/send.out")
		if [ "$s_done" -eq 0 ]; then
			not_ok "the sender ran over $s_proto from $(basename "$1")"
			return 1
		fi
		shift "$s_done"
		if ! alive "$D"; then
			set +e
			eval "wait \$PID_$D"
			s_rc=$?
			set -e
			echo "# the daemon $D died (exit status $s_rc) after $(tail -n 1 "$WORK/send.out" | "$JQ" -r .name) over $s_proto; its log:"
			diag "$WORK/$D.log" 40
			[ $# -eq 0 ] || start_run "$s_proto"
		fi
	done
}

# clean PROTO: a minimal well-formed INVITE, over PROTO; it must reach the next hop, and the
# next hop's 486 come back.
clean() {
	c_port=$((P_PRI + 7))
	printf '%s\r\n' "INVITE sip:bob@partner.example SIP/2.0" \
		"Via: SIP/2.0/UDP $L:$c_port;branch=z9hG4bK-torture-clean-$1;rport" "Max-Forwards: 70" \
		"From: <sip:alice@home.example>;tag=clean-$1" "To: <sip:bob@partner.example>" \
		"Call-ID: torture-clean-$1@$L" "CSeq: 1 INVITE" "Contact: <sip:alice@$L:$c_port>" \
		"Content-Length: 0" "" >"$WORK/clean-$1.dat"
	eval "c_pid=\$PID_$D"
	timeout 60 "$PYTHON3" "$WORK/torture.py" send "$c_pid" "$P_PRI" "$1" "$WORK/sink.jsonl" "$WORK/fwd" \
		"$WAIT" "$WORK/clean-$1.dat" >"$WORK/clean-$1.out" 2>&1 || :
	# shellcheck disable=SC2016
	is "after the torture over $1: a clean INVITE over $1 reaches the next hop, its 486 comes back" \
		"$("$JQ" -r '"\(.fwd_methods | map(select(. == "INVITE")) | join(",")) \([.responses[] | select(.code >= 200) |
			"\(.code)\(if .sink then " from the sink" else "" end)"] | join(","))"' "$WORK/clean-$1.out" 2>&1)" \
		"INVITE 486 from the sink"
}

# the whole set over UDP to one daemon, then over TCP to another: a request sent twice would be
# taken for a retransmission by the same daemon (same branch) for 32 s.
for proto in udp tcp; do
	start_run "$proto"
	# shellcheck disable=SC2046
	send "$proto" $(awk -v d="$TDATA" '{ print d "/" $1 ".dat" }' "$WORK/expect")
	if alive "$D"; then
		clean "$proto"
		stop_daemon "$D"
	else
		not_ok "after the torture over $proto: the daemon runs, to forward a clean INVITE"
	fi
done

# ---- the verdicts ----
# outcome NAME PROTO: "forwarded (METHODS; answer CODE)", "answered CODE" or "no answer"
outcome() {
	# shellcheck disable=SC2016
	"$JQ" -r --arg n "$1" --arg p "$2" 'select(.name == $n and .proto == $p) |
		if (.fwd | length) > 0 then
			"forwarded (\(.fwd_methods | join(",")); answer \([.responses[] | select(.code >= 200) | .code] | first // "none"))"
		else ([.responses[] | select(.code >= 200 and (.sink | not)) | .code] | first) as $c |
			if $c then "answered \($c)" else "no answer\(if .error then " (" + .error + ")" else "" end)" end
		end' "$WORK/results.jsonl" | head -n 1
}

# judge NAME SECTION KIND PROTO EXPECTED: one assertion: what the daemon did is what is expected.
judge() {
	j_n=$1 j_s=$2 j_k=$3 j_p=$4 j_e=$5
	j_o=$(outcome "$j_n" "$j_p")
	j_what="$j_n ($j_s, $j_k) over $j_p: $j_e"
	if [ -z "$j_o" ]; then
		not_ok "$j_what: not sent (the daemon did not run)"
		return 0
	fi
	j_code=
	case $j_o in answered*) j_code=${j_o#answered } ;; esac
	j_good=no
	case $j_e in
	pass)
		case $j_o in forwarded*) j_good=yes ;; answered*) [ "$j_code" = 400 ] || j_good=yes ;; esac ;;
	pass\|4xx)
		case $j_o in forwarded* | answered*) j_good=yes ;; esac ;;
	reject:* | reject\|*:*)
		case $j_o in
		answered*)
			for j_c in $(echo "${j_e#*:}" | tr , ' '); do
				case $j_c in
				4xx) [ "$j_code" -lt 400 ] || [ "$j_code" -gt 499 ] || j_good=yes ;;
				*) [ "$j_code" != "$j_c" ] || j_good=yes ;;
				esac
			done ;;
		forwarded*)
			case $j_e in
			reject\|liberal:*) j_good=yes ;;
			reject\|repair:*)
				j_good=yes
				for j_f in "$WORK/fwd/$j_n.$j_p".*; do
					repaired "$j_n" "$j_f" || { j_good=no; j_o="$j_o with the error: $(head -n 1 "$j_f" | tr -d '\r')"; }
				done ;;
			esac ;;
		esac ;;
	notfwd | drop)
		case $j_o in forwarded*) ;; *) j_good=yes ;; esac ;;
	sofia-drop)
		case $j_o in
		forwarded*) ;;
		*) j_good=yes
		   j_o="$j_o (deviation from RFC 4475: Sofia-SIP's parser cannot read it, nta drops it unanswered)" ;;
		esac ;;
	*) j_o="(unknown expectation)" ;;
	esac
	if [ "$j_good" = yes ]; then
		ok "$j_what: $j_o"
	else
		not_ok "$j_what: got $j_o"
	fi
}

for proto in udp tcp; do
	while read -r n s k eu et; do
		# shellcheck disable=SC2016
		a=$("$JQ" -r --arg n "$n" --arg p "$proto" 'select(.name == $n and .proto == $p) |
			"\(.alive)\(if .via_rewritten then " (top Via transport made \($p | ascii_upcase))" else "" end)"' \
			"$WORK/results.jsonl" | head -n 1)
		like "$n over $proto: the daemon still runs afterwards" "${a:-not sent}" '^true'
		[ "$proto" = udp ] && e=$eu || e=$et
		judge "$n" "$s" "$k" "$proto" "$e"
	done <"$WORK/expect"
done

# bext01: the 420 of a proxy lists the Proxy-Require tokens in Unsupported (RFC 4475 3.3.5,
# RFC 3261 16.3 step 4)
for proto in udp tcp; do
	grep -q '^bext01 ' "$WORK/expect" || break
	r=$(grep -l '^SIP/2.0 420 ' "$WORK/fwd/resp-bext01.$proto".* 2>/dev/null | head -n 1)
	[ -n "$r" ] || continue
	like "bext01 over $proto: the 420 lists the Proxy-Require tokens in Unsupported" "$(sip_hdr "$r" Unsupported | tr -d ' ' | paste -sd, -)" \
		'(^|,)noProxiesSupportThis,norDoAnyProxiesSupportThis(,|$)'
done

# dblreq over UDP: the INVITE after the REGISTER in the datagram is noise (RFC 3261 18.3)
if grep -q '^dblreq ' "$WORK/expect"; then
	is "dblreq over udp: the INVITE octets after the REGISTER are not forwarded, as a request or in one" \
		"$(cat "$WORK"/fwd/dblreq.udp.* 2>/dev/null | grep -c 'INVITE sip:joe@example\.com' || :) $("$JQ" -r \
			'select(.name == "dblreq" and .proto == "udp") | .others | map(select(startswith("dblreq.0ha0isnda977644900765"))) | length' \
			"$WORK/results.jsonl")" "0 0"
fi

# no sanitizer report (an AddressSanitizer/UBSan build stops at the first; LeakSanitizer at exit)
for d in $RUNS; do
	if grep -Eq 'Sanitizer|runtime error:' "$WORK/$d.log"; then
		not_ok "daemon $d: no sanitizer report in its log"
		grep -E -m 3 'Sanitizer|runtime error:' "$WORK/$d.log" | sed 's/^/#   /'
	else
		ok "daemon $d: no sanitizer report in its log"
	fi
done
done_testing
