#!/usr/bin/env python3
"""Flood-limit probes for tests/sip/limits.sh, on loopback only.

    limits.py burst PORT N [FROM-HOST]
        Sends N initial OPTIONS (distinct Call-IDs) at once from one UDP socket
        to 127.0.0.1:PORT and, for 2 s, collects their final responses; prints
        "STATUS COUNT" lines, then "retry-after VALUES" (the distinct
        Retry-After values of the 503s).
    limits.py conns PORT N
        Opens N TCP connections to 127.0.0.1:PORT, one after the other, and
        prints for each "i open" or "i closed-at-once" (the server closed it
        within 0.5 s without a byte sent).
    limits.py idle PORT SECONDS
        Three TCP connections: "silent" sends nothing, "half" sends half a
        request and then one more octet every 0.5 s, "busy" sends a whole
        OPTIONS every 0.5 s; after SECONDS prints for each whether the server
        has closed it ("NAME closed" / "NAME open") and when ("after T s").
"""
import select
import socket
import sys
import time


def options(i, port, transport="UDP", host="127.0.0.1"):
    return ("OPTIONS sip:bob@partner.example SIP/2.0\r\n"
            "Via: SIP/2.0/%s %s:9;rport;branch=z9hG4bK-lim-%d-%f\r\n"
            "Max-Forwards: 70\r\nFrom: <sip:alice@home.example>;tag=a%d\r\n"
            "To: <sip:bob@partner.example>\r\nCall-ID: lim-%d-%f\r\nCSeq: 1 OPTIONS\r\n"
            "Content-Length: 0\r\n\r\n" % (transport, host, i, time.time(), i, i, time.time())).encode()


def burst(port, n, host):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((host, 0))
    for i in range(n):
        s.sendto(options(i, port, host=host), ("127.0.0.1", port))
    statuses, retry = {}, set()
    end = time.time() + 2
    while time.time() < end:
        s.settimeout(max(0.01, end - time.time()))
        try:
            data, _ = s.recvfrom(65535)
        except socket.timeout:
            break
        text = data.decode("latin-1")
        code = text.split(" ", 2)[1]
        if code.startswith("1"):
            continue
        statuses[code] = statuses.get(code, 0) + 1
        for line in text.split("\r\n"):
            if line.lower().startswith("retry-after:"):
                retry.add(line.split(":", 1)[1].strip())
    for code in sorted(statuses):
        print(code, statuses[code])
    print("retry-after", " ".join(sorted(retry)) or "-")


def closed_within(c, seconds):
    r, _, _ = select.select([c], [], [], seconds)
    if not r:
        return False
    try:
        return c.recv(65535) == b""
    except OSError:
        return True


def conns(port, n):
    keep = []
    for i in range(n):
        c = socket.create_connection(("127.0.0.1", port))
        keep.append(c)
        print(i, "closed-at-once" if closed_within(c, 0.5) else "open", flush=True)


def idle(port, seconds):
    names = ["silent", "half", "busy"]
    socks = {n: socket.create_connection(("127.0.0.1", port)) for n in names}
    half = options(0, port, "TCP")
    socks["half"].sendall(half[:40])
    sent = 40
    t0 = time.time()
    closed = {}
    i = 1
    while time.time() - t0 < seconds:
        for n, c in socks.items():
            if n in closed:
                continue
            r, _, _ = select.select([c], [], [], 0)
            if r:
                try:
                    data = c.recv(65535)
                except OSError:
                    data = b""
                if data == b"":
                    closed[n] = time.time() - t0
        if "half" not in closed and sent < len(half) - 4:
            try:
                socks["half"].sendall(half[sent:sent + 1])
                sent += 1
            except OSError:
                closed["half"] = time.time() - t0
        if "busy" not in closed:
            try:
                socks["busy"].sendall(options(i, port, "TCP"))
                i += 1
            except OSError:
                closed["busy"] = time.time() - t0
        time.sleep(0.5)
    for n in names:
        print(n, ("closed after %.1f s" % closed[n]) if n in closed else "open", flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "burst":
        burst(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] if len(sys.argv) > 4 else "127.0.0.1")
    elif sys.argv[1] == "conns":
        conns(int(sys.argv[2]), int(sys.argv[3]))
    elif sys.argv[1] == "idle":
        idle(int(sys.argv[2]), float(sys.argv[3]))
    else:
        sys.exit(__doc__)
