#!/usr/bin/env python3
"""A tiny DNS server for the tests (RFC 1035 over UDP), on loopback only.

    dnsd.py PORT MODE [ZONE]

MODE answer: answers from ZONE, a file of lines "NAME TYPE DATA" where TYPE is
  A (DATA an IPv4 address), SRV (DATA "PRIORITY WEIGHT PORT TARGET") or NAPTR
  (DATA "ORDER PREFERENCE FLAGS SERVICE REPLACEMENT"); a name with no record of
  the type asked gets an empty answer, a name not in ZONE NXDOMAIN.
MODE silent: reads every query and never answers.
MODE servfail: answers every query with SERVFAIL.
Every query is logged to stdout as "TYPE NAME", flushed.
"""
import socket
import struct
import sys

TYPES = {"A": 1, "SRV": 33, "NAPTR": 35}
NAMES = dict([(v, k) for k, v in TYPES.items()] + [(28, "AAAA")])


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def read_name(msg, off):
    labels = []
    while msg[off]:
        n = msg[off]
        labels.append(msg[off + 1:off + 1 + n].decode("ascii", "replace"))
        off += 1 + n
    return ".".join(labels).lower(), off + 1


def rdata(rtype, data):
    f = data.split()
    if rtype == 1:
        return socket.inet_aton(f[0])
    if rtype == 33:
        return struct.pack("!HHH", int(f[0]), int(f[1]), int(f[2])) + encode_name(f[3])
    if rtype == 35:
        text = b""
        for s in (f[2], f[3], ""):
            text += bytes([len(s)]) + s.encode()
        return struct.pack("!HH", int(f[0]), int(f[1])) + text + encode_name(f[4])
    raise ValueError(rtype)


def main():
    port, mode = int(sys.argv[1]), sys.argv[2]
    zone = {}
    if mode == "answer":
        for line in open(sys.argv[3]):
            parts = line.split(None, 2)
            if len(parts) == 3 and not line.startswith("#"):
                zone.setdefault(parts[0].lower().rstrip("."), []).append((TYPES[parts[1]], parts[2].strip()))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", port))
    while True:
        q, peer = s.recvfrom(4096)
        if len(q) < 12:
            continue
        qid, flags, qd = struct.unpack("!HHH", q[:6])
        try:
            name, off = read_name(q, 12)
            qtype = struct.unpack("!H", q[off:off + 2])[0]
        except (IndexError, struct.error):
            continue
        print(NAMES.get(qtype, str(qtype)), name, flush=True)
        if mode == "silent":
            continue
        question = q[12:off + 4]
        answers = []
        rcode = 2 if mode == "servfail" else 0
        if mode == "answer":
            if name not in zone:
                rcode = 3
            else:
                answers = [(t, d) for t, d in zone[name] if t == qtype]
        body = b""
        for t, d in answers:
            rd = rdata(t, d)
            body += b"\xc0\x0c" + struct.pack("!HHIH", t, 1, 60, len(rd)) + rd
        header = struct.pack("!HHHHHH", qid, 0x8400 | 0x0100 | rcode, 1, len(answers), 0, 0)
        s.sendto(header + question + body, peer)


if __name__ == "__main__":
    main()
