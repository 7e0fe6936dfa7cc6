#!/usr/bin/env python3
"""Drive the daemon into overload and record what each request got.

    overload.py burst PORT SINK PIDS FILL OUT
        Stops the daemon (SIGSTOP to each of PIDS, comma-separated: its workers), sends it INVITEs outside any dialog, and
        after every tenth one a BYE inside a dialog (To tag), until its UDP
        receive queue holds FILL % of its buffer (as ss(8) reports it), then
        lets it go on (SIGCONT).  The BYEs name the next hop, 127.0.0.1:SINK,
        in their Request-URI (no Route): in a dialog that is where they go.
    overload.py calls PORT SINK COUNT OUT
        Sends COUNT INVITEs outside any dialog back to back.

Both then read the answers for at most 20 s, sending a request again while
it has none as a UA would (the proxy sends requests inside dialogs on
statelessly: a lost one is the UA's to repeat), ACK every final answer to an
INVITE (burst: once every request has its answer, so that the queue drains
as it would with new requests stopped), and write one line per request to
OUT, in the order sent:
"CALL-ID METHOD STATUS RETRY-AFTER MS" (STATUS: the final status or "-";
RETRY-AFTER: "-" when absent; MS: from sending to the final answer).
Call-IDs: ovl-i-N (initial INVITEs), ovl-d-N (in-dialog BYEs).  The INVITEs
carry an SDP offer, with a=key-mgmt:mikey $OVL_MIKEY when that is set (a
base64 I_MESSAGE), so that they weigh what a call set-up weighs.
"""
import os
import re
import signal
import socket
import subprocess
import sys
import time

HOST = "127.0.0.1"


def header(text, name, compact):
    m = re.search(r"^(?:%s|%s)[ \t]*:[ \t]*(.*?)\r?$" % (name, compact), text, re.M | re.I)
    return m.group(1) if m else None


def sdp(me):
    lines = ["v=0", "o=alice 1 1 IN IP4 %s" % HOST, "s=-", "c=IN IP4 %s" % HOST, "t=0 0"]
    if os.environ.get("OVL_MIKEY"):
        lines.append("a=key-mgmt:mikey " + os.environ["OVL_MIKEY"])
    lines += ["m=audio %d RTP/SAVP 0 8 101" % (me + 2), "a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000",
              "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-15", "a=ptime:20", "a=sendrecv"]
    return "".join(line + "\r\n" for line in lines)


def request(method, call_id, me, sink, in_dialog):
    body = "" if in_dialog else sdp(me)
    to_tag = ";tag=b%s" % call_id if in_dialog else ""
    ruri = "sip:bob@%s:%d" % (HOST, sink) if in_dialog else "sip:bob@partner.example"
    return ("%s %s SIP/2.0\r\n"
            "Via: SIP/2.0/UDP %s:%d;rport;branch=z9hG4bK-%s\r\n"
            "Max-Forwards: 70\r\n"
            "From: <sip:alice@home.example>;tag=a%s\r\n"
            "To: <sip:bob@partner.example>%s\r\n"
            "Call-ID: %s\r\n"
            "CSeq: %d %s\r\n"
            "Contact: <sip:alice@%s:%d>\r\n"
            "%s"
            "Content-Length: %d\r\n\r\n%s" % (method, ruri, HOST, me, call_id, call_id, to_tag, call_id,
                                              2 if in_dialog else 1, method, HOST, me,
                                              "Content-Type: application/sdp\r\n" if body else "",
                                              len(body), body)).encode()


def ack_for(response, call_id, me):
    to = header(response, "To", "t")
    return ("ACK sip:bob@partner.example SIP/2.0\r\n"
            "Via: SIP/2.0/UDP %s:%d;rport;branch=z9hG4bK-%s\r\n"
            "Max-Forwards: 70\r\n"
            "From: <sip:alice@home.example>;tag=a%s\r\n"
            "To: %s\r\n"
            "Call-ID: %s\r\n"
            "CSeq: 1 ACK\r\n"
            "Content-Length: 0\r\n\r\n" % (HOST, me, call_id, call_id, to, call_id)).encode()


def queue_fill(port):
    """(bytes queued, receive buffer) of the fullest UDP socket bound to HOST:port (the
    workers' sockets share it), from ss(8)."""
    out = subprocess.run(["ss", "-uamnH", "sport", "=", ":%d" % port], capture_output=True, text=True).stdout
    found = [(int(r), int(rb)) for r, rb in re.findall(r"skmem:\(r(\d+),rb(\d+)", out)]
    return max(found, key=lambda q: q[0] / q[1]) if found else (0, 1)


def collect(s, sent, port, me, out, ack_later, wire):
    """wire: each request's datagram by Call-ID, sent again as a UA would
    (RFC 3261 Timer A/E: 0.5 s, doubling, at most 4 s apart) while it has no
    answer (an INVITE: none at all; other requests: no final one)."""
    final, retry, when, heard = {}, {}, {}, set()
    acks = []
    t_sent = {cid: t for cid, _, t in sent}
    method_of = {cid: method for cid, method, _ in sent}
    end = time.time() + 20
    interval, next_resend = 0.5, time.time() + 0.5
    while len(final) < len(sent) and time.time() < end:
        if time.time() >= next_resend:
            for cid, method, _ in sent:
                if cid not in final and (method != "INVITE" or cid not in heard):
                    s.sendto(wire[cid], (HOST, port))
            interval = min(interval * 2, 4.0)
            next_resend = time.time() + interval
        s.settimeout(max(0.01, min(end, next_resend) - time.time()))
        try:
            data, _ = s.recvfrom(65535)
        except socket.timeout:
            continue
        text = data.decode("latin-1")
        m = re.match(r"SIP/2\.0 (\d\d\d) ", text)
        cid = header(text, "Call-ID", "i")
        if not m or cid not in t_sent:
            continue
        heard.add(cid)
        if int(m.group(1)) < 200:
            continue
        if header(text, "CSeq", "") and "INVITE" in header(text, "CSeq", ""):
            acks.append(ack_for(text, cid, me))
            if not ack_later:
                s.sendto(acks.pop(), (HOST, port))
        if cid not in final:
            final[cid] = m.group(1)
            retry[cid] = header(text, "Retry-After", "") or "-"
            when[cid] = int((time.time() - t_sent[cid]) * 1000)
    for ack in acks:
        s.sendto(ack, (HOST, port))
    with open(out, "w") as f:
        for cid, method, _ in sent:
            f.write("%s %s %s %s %s\n" % (cid, method, final.get(cid, "-"), retry.get(cid, "-"), when.get(cid, "-")))


def main():
    mode, port, sink = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind((HOST, 0))
    me = s.getsockname()[1]
    sent, wire = [], {}

    def send(method, cid, in_dialog):
        wire[cid] = request(method, cid, me, sink, in_dialog)
        s.sendto(wire[cid], (HOST, port))
        sent.append((cid, method, time.time()))

    if mode == "burst":
        pids, fill, out = [int(p) for p in sys.argv[4].split(",")], int(sys.argv[5]), sys.argv[6]
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        try:
            n = 0
            while n < 20000:
                send("INVITE", "ovl-i-%d" % n, False)
                n += 1
                if n % 10 == 0:
                    send("BYE", "ovl-d-%d" % n, True)
                    queued, buf = queue_fill(port)
                    if queued * 100 >= fill * buf:
                        break
            # When the sending started again does not matter: the queue is the point.
            t0 = time.time()
            sent[:] = [(cid, method, t0) for cid, method, _ in sent]
        finally:
            for pid in pids:
                os.kill(pid, signal.SIGCONT)
    elif mode == "calls":
        count, out = int(sys.argv[4]), sys.argv[5]
        for n in range(count):
            send("INVITE", "ovl-i-%d" % n, False)
    else:
        sys.exit(__doc__)
    collect(s, sent, port, me, out, mode == "burst", wire)


if __name__ == "__main__":
    main()
