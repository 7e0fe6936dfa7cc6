#!/usr/bin/env python3
"""INVITEs with an I_MESSAGE, many at once, over UDP on loopback: the final answer of each.

    invites.py PORT SECONDS TARGET=B64 [TARGET=B64 ...]

Sends one INVITE per argument to 127.0.0.1:PORT, all at once from one
socket (Request-URI and To: TARGET; SDP a=key-mgmt:mikey B64), retransmits
each unanswered one after 0.5 s and 1 s (RFC 3261 Timer A), ACKs each final
answer, and prints one line per INVITE, in argument order, once every one
has its final answer or SECONDS have passed:
    STATUS MS RETRY-AFTER WARNING
(STATUS "-" for none; MS since it was sent; "-" for an absent header).
Exit 0 when every INVITE got a final answer, 1 otherwise.
"""
import os
import re
import socket
import sys
import time


def header(text, name):
    m = re.search(r"^%s[ \t]*:[ \t]*(.*?)\r?$" % name, text, re.M | re.I)
    return m.group(1) if m else "-"


RUN = os.urandom(4).hex()  # every run's Call-IDs and branches are new: no retransmission of an earlier run


def invite(i, target, b64, port):
    sdp = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
           "a=key-mgmt:mikey %s\r\nm=audio 9 RTP/SAVP 0\r\n" % b64)
    head = ("INVITE %s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;rport;branch=z9hG4bK-inv%s-%d\r\n"
            "Max-Forwards: 70\r\nFrom: <sip:alice@home.example>;tag=a%d\r\nTo: <%s>\r\n"
            "Call-ID: inv-%s-%d\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@127.0.0.1:%d>\r\n"
            "Content-Type: application/sdp\r\nContent-Length: %d\r\n\r\n"
            % (target, port, RUN, i, i, target, RUN, i, port, len(sdp)))
    return head + sdp


def ack(inv, resp):
    lines = inv.split("\r\n")
    ruri = lines[0].split(" ")[1]
    keep = [l for l in lines[1:] if re.match(r"(Via|From|Call-ID|Max-Forwards):", l, re.I)]
    return ("ACK %s SIP/2.0\r\n%s\r\nTo: %s\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
            % (ruri, "\r\n".join(keep), header(resp, "To")))


def main():
    port, seconds = int(sys.argv[1]), float(sys.argv[2])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    me = s.getsockname()[1]
    msgs, sent_at, final = [], [], {}
    for i, arg in enumerate(sys.argv[3:]):
        target, b64 = arg.split("=", 1)
        msgs.append(invite(i, target, b64, me))
    t0 = time.time()
    for m in msgs:
        s.sendto(m.encode(), ("127.0.0.1", port))
        sent_at.append(time.time())
    retrans = [t0 + 0.5, t0 + 1.5]
    while len(final) < len(msgs) and time.time() < t0 + seconds:
        if retrans and time.time() >= retrans[0]:
            retrans.pop(0)
            for i, m in enumerate(msgs):
                if i not in final:
                    s.sendto(m.encode(), ("127.0.0.1", port))
        s.settimeout(0.05)
        try:
            data = s.recv(65535).decode(errors="replace")
        except socket.timeout:
            continue
        m = re.match(r"SIP/2\.0 (\d+)", data)
        b = re.search(r"branch=z9hG4bK-inv%s-(\d+)" % RUN, data)
        if not m or not b:
            continue
        i, status = int(b.group(1)), int(m.group(1))
        if status < 200 or i >= len(msgs):
            continue
        if i not in final:
            final[i] = "%d %d %s %s" % (status, (time.time() - sent_at[i]) * 1000,
                                        header(data, "Retry-After"), header(data, "Warning"))
        s.sendto(ack(msgs[i], data).encode(), ("127.0.0.1", port))
    for i in range(len(msgs)):
        print(final.get(i, "- - - -"))
    sys.exit(0 if len(final) == len(msgs) else 1)


main()
