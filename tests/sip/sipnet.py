#!/usr/bin/env python3
"""SIP over UDP on loopback for the tests, where sipp is not the point.

    sipnet.py sink PORT LOG [DELAY]
        Records each request received ("METHOD CALL-ID", one line, flushed) and
        answers it: 486 to INVITE (DELAY seconds later, default 0), nothing to
        ACK, 200 to anything else.  With $SIPNET_BRANCHES naming a file, also
        "METHOD CALL-ID BRANCH" (the top Via's) there.
    sipnet.py send PORT FILE [SECONDS]
        Sends the message in FILE to 127.0.0.1:PORT from an ephemeral port and
        prints each response that comes back as "T STATUS-LINE" (T: seconds
        since sending), until a final response or SECONDS (default 2); the
        final response, whole, goes to FILE.final.  $SIPNET_FROM_PORT, when set,
        is the port to send from instead (one source: with workers, the kernel
        gives all its datagrams to the same worker); $SIPNET_FROM_HOST the
        loopback address to send from (127.0.0.1 by default).
"""
import os
import re
import socket
import sys
import time


def header(text, name, compact):
    m = re.search(r"^(?:%s|%s)[ \t]*:[ \t]*(.*?)\r?$" % (name, compact), text, re.M | re.I)
    return m.group(1) if m else "-"


def sink(port, log, delay):
    out = open(log, "a")
    vias = open(os.environ["SIPNET_BRANCHES"], "a") if os.environ.get("SIPNET_BRANCHES") else None
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", port))
    later = []  # (due, response, peer), in order of due
    while True:
        while later and later[0][0] <= time.time():
            s.sendto(later[0][1], later[0][2])
            later.pop(0)
        s.settimeout(max(0.001, later[0][0] - time.time()) if later else None)
        try:
            data, peer = s.recvfrom(65535)
        except socket.timeout:
            continue
        text = data.decode("latin-1")
        first = text.split("\r\n", 1)[0]
        if first.startswith("SIP/2.0"):
            continue
        method = first.split(" ", 1)[0]
        out.write("%s %s\n" % (method, header(text, "Call-ID", "i")))
        out.flush()
        if vias:
            via = header(text, "Via", "v")
            m = re.search(r";\s*branch=([^;,\s]+)", via or "", re.I)
            vias.write("%s %s %s\n" % (method, header(text, "Call-ID", "i"), m.group(1) if m else "-"))
            vias.flush()
        if method == "ACK":
            continue
        heads = text.split("\r\n\r\n", 1)[0].split("\r\n")[1:]
        keep = [h for h in heads if re.match(r"^(Via|v|From|f|To|t|Call-ID|i|CSeq)[ \t]*:", h, re.I)]
        status = "486 Busy Here" if method == "INVITE" else "200 OK"
        resp = ("SIP/2.0 %s\r\n%s\r\nContent-Length: 0\r\n\r\n" % (status, "\r\n".join(keep))).encode("latin-1")
        if method == "INVITE" and delay > 0:
            later.append((time.time() + delay, resp, peer))
        else:
            s.sendto(resp, peer)


def send(port, path, wait):
    data = open(path, "rb").read()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((os.environ.get("SIPNET_FROM_HOST", "127.0.0.1"), int(os.environ.get("SIPNET_FROM_PORT", "0"))))
    t0 = time.time()
    s.sendto(data, ("127.0.0.1", port))
    end = t0 + wait
    while True:
        left = end - time.time()
        if left <= 0:
            break
        s.settimeout(left)
        try:
            resp, _ = s.recvfrom(65535)
        except (socket.timeout, ConnectionRefusedError):
            break
        first = resp.decode("latin-1").split("\r\n", 1)[0]
        print("%.2f %s" % (time.time() - t0, first), flush=True)
        if re.match(r"SIP/2\.0 [2-6]\d\d ", first):
            with open(path + ".final", "wb") as f:
                f.write(resp)
            break


if __name__ == "__main__":
    if sys.argv[1] == "sink":
        sink(int(sys.argv[2]), sys.argv[3], float(sys.argv[4]) if len(sys.argv) > 4 else 0.0)
    elif sys.argv[1] == "send":
        send(int(sys.argv[2]), sys.argv[3], float(sys.argv[4]) if len(sys.argv) > 4 else 2.0)
    else:
        sys.exit(__doc__)
