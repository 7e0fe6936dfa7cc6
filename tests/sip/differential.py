#!/usr/bin/env python3
"""Differential test of the policy point: hostile re-spellings of requests that carry
I_MESSAGEs, judged by readers that are not the project's.

A generator makes variants of requests (methods, inside dialogs or not) whose bodies carry
I_MESSAGEs in every form a client could read: a=key-mgmt at session and media level, spelled
in any case and spacing, with LF, CRLF or CR line ends, several of them, application/mikey
parts in binary or base64, multipart bodies nested, gzip or deflate content codings, compact
header names, no Content-Type at all.  Most carry an unacceptable I_MESSAGE somewhere; the
positive controls carry acceptable ones only, in the forms the proxy claims to read.

Ground truth comes from two readers independent of the project:
  - a reference reader written here from RFC 4566 (SDP), RFC 4567 (key-mgmt), RFC 2045/2046
    (MIME, through Python's own email package), RFC 3261 20.12 (Content-Encoding, through
    Python's zlib), as liberal as a client could be (it even sniffs a body without
    Content-Type), which finds the I_MESSAGE octets; tshark's MIKEY dissector then reads their
    IDRkmsi and IDRkmsr;
  - tshark's SIP, multipart, SDP and MIKEY dissectors on the whole message.
A variant carries an unacceptable key when either reader finds an I_MESSAGE whose KMS pair is
not one the configuration accepts for bob.

Every variant goes through the running daemon to a next-hop sink.  The test fails when a variant
with an unacceptable key reaches the sink, when a positive control does not, or when the
readers are blind to a key the generator put in (the test would then prove nothing).

    differential.py --sdtool PATH --tshark PATH --port PROXY-PORT --sink-port PORT
                    --sink-log FILE --work DIR [--seed N] [--max N]
"""
import argparse
import base64
import email
import email.policy
import gzip
import itertools
import os
import random
import re
import socket
import struct
import subprocess
import sys
import time
import zlib

HOME, PARTNER, WRONG, ROGUE = "kms.home.example", "kms.partner.example", "kms.wrong.example", "kms.rogue.example"
ALICE, BOB = "sip:alice@home.example", "sip:bob@partner.example"
# What the primary's configuration (tests/sip/lib_sip.sh make_conf) accepts for bob: his domain
# is kms.partner.example, which permits kms.home.example as an external initiator.
ACCEPTABLE = {(HOME, PARTNER), (PARTNER, PARTNER)}


# ---------------------------------------------------------------- the I_MESSAGEs

def build(sdtool, idri, idrr, kmsi, kmsr):
    out = subprocess.run([sdtool, "mikey", "build", "--idri", idri, "--idrr", idrr, "--idrkmsi", kmsi,
                          "--idrkmsr", kmsr, "--output", "raw"], check=True, capture_output=True)
    return out.stdout


def nul_terminated(raw, text):
    """The same message with the last octet of an IDR's text made a NUL (the length stays)."""
    t = text.encode()
    i = raw.rindex(t)
    return raw[:i + len(t) - 1] + b"\0" + raw[i + len(t):]


# ---------------------------------------------------------------- the reference reader

def sdp_lines(text):
    return re.split(r"\r\n|\n|\r", text)


def b64_liberal(data):
    s = re.sub(r"[^A-Za-z0-9+/=]", "", data)
    s = s.rstrip("=")
    s += "=" * (-len(s) % 4)
    try:
        return base64.b64decode(s)
    except Exception:
        return None


def key_mgmt(sdp_text):
    """RFC 4567 3.1: a=key-mgmt:<prtcl-id> <keymgmt-data>; names and blanks read liberally."""
    found = []
    for line in sdp_lines(sdp_text):
        m = re.match(r"^\s*a\s*=\s*key-mgmt\s*:\s*(\S+)\s+(.*?)\s*$", line, re.I | re.S)
        if m and m.group(1).lower() == "mikey":
            raw = b64_liberal(m.group(2))
            if raw:
                found.append(raw)
    return found


def decode_coding(codings, body):
    """RFC 3261 20.12: the codings in the order applied; undone last first.  None: unknown."""
    for c in reversed([c.strip().lower() for c in codings.split(",") if c.strip()]):
        try:
            if c in ("gzip", "x-gzip"):
                body = gzip.decompress(body)
            elif c == "deflate":
                try:
                    body = zlib.decompress(body)
                except zlib.error:
                    body = zlib.decompress(body, -15)
            elif c != "identity":
                return None
        except Exception:
            return None
    return body


def sniff(body):
    """A body without Content-Type, as a client that guesses might read it."""
    head = body.lstrip()
    if head.startswith(b"v=") or b"key-mgmt" in body.lower():
        return "application/sdp"
    if head.startswith(b"--"):
        return "multipart/mixed"
    if body[:2] == b"\x01\x1a":
        return "application/mikey"
    return None


def read_body(ctype, cenc, cte, body):
    """Every I_MESSAGE a liberal client could find in a body, as octets."""
    if cenc:
        body = decode_coding(cenc, body)
        if body is None:
            return []
    if cte and cte.strip().lower() == "base64":
        body = b64_liberal(body.decode("latin-1")) or b""
    if not ctype:
        ctype = sniff(body)
        if not ctype:
            return []
    mtype = ctype.split(";")[0].strip().lower().replace(" ", "")
    if mtype.startswith("multipart/"):
        if "boundary" not in ctype.lower():
            # a client may guess the boundary from the first line
            m = re.match(rb"\s*--(\S+)", body)
            if not m:
                return []
            ctype = '%s; boundary="%s"' % (mtype, m.group(1).decode("latin-1"))
        msg = email.message_from_bytes(b"Content-Type: " + ctype.encode("latin-1") + b"\r\n\r\n" + body,
                                       policy=email.policy.compat32)
        found = []
        for part in msg.walk():
            if part.is_multipart():
                continue
            payload = part.get_payload(decode=True) or b""
            enc = part.get("Content-Encoding") or part.get("e")
            pct = part.get("Content-Type") or part.get("c")
            found += read_body(pct, enc, None, payload)
        return found
    if mtype == "application/sdp":
        return key_mgmt(body.decode("latin-1"))
    if mtype == "application/mikey":
        return [body]
    return []


HEADER_NAMES = {"c": "content-type", "e": "content-encoding", "l": "content-length", "i": "call-id"}


def read_message(msg):
    """The headers and body of a SIP message (RFC 3261 7), names unfolded and compact forms expanded."""
    head, _, body = msg.partition(b"\r\n\r\n")
    headers = {}
    for line in head.decode("latin-1").split("\r\n")[1:]:
        if ":" not in line:
            continue
        name, value = line.split(":", 1)
        name = name.strip().lower()
        headers.setdefault(HEADER_NAMES.get(name, name), value.strip())
    n = headers.get("content-length")
    if n is not None and n.isdigit():
        body = body[:int(n)]
    return headers, body


# ---------------------------------------------------------------- tshark

def pcap(path, port, payloads):
    """Payloads as UDP datagrams to PORT (IPv4, Ethernet), for tshark."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        for n, p in enumerate(payloads):
            udp = struct.pack("!HHHH", 40000 + n % 20000, port, 8 + len(p), 0) + p
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), n & 0xffff, 0, 64, 17, 0,
                             bytes([192, 0, 2, 1]), bytes([192, 0, 2, 2])) + udp
            frame = b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip
            f.write(struct.pack("<IIII", 1700000000 + n, 0, len(frame), len(frame)) + frame)


def tshark_fields(tshark, path, fields):
    out = subprocess.run([tshark, "-r", path, "-T", "fields", "-E", "separator=|", "-E", "aggregator=;",
                          "-E", "occurrence=a"] + sum([["-e", f] for f in fields], []),
                         capture_output=True, text=True, errors="replace")
    if out.returncode != 0:
        sys.exit("tshark failed: " + out.stderr)
    return [line.split("|") for line in out.stdout.splitlines()]


def kms_pairs(roles, values):
    """(IDRkmsi, IDRkmsr) from tshark's mikey.id.role and mikey.id.data lists of one message."""
    r = roles.split(";") if roles else []
    v = values.split(";") if values else []
    if len(r) != len(v):
        return None
    ids = dict(zip(r, v))
    return ids.get("6"), ids.get("7")


# ---------------------------------------------------------------- the variants

SPELLINGS = [
    ("canonical", "a=key-mgmt:mikey {}"),
    ("upper-attribute", "a=KEY-MGMT:mikey {}"),
    ("upper-protocol", "a=key-mgmt:MIKEY {}"),
    ("mixed-case", "a=Key-Mgmt:Mikey {}"),
    ("blanks-after-colon", "a=key-mgmt:   mikey   {}"),
    ("tabs", "a=key-mgmt:\tmikey\t{}"),
    ("blanks-around", "a = key-mgmt : mikey {}"),
    ("upper-type-letter", "A=key-mgmt:mikey {}"),
    ("leading-blank", " a=key-mgmt:mikey {}"),
]
EOLS = [("crlf", "\r\n"), ("lf", "\n"), ("cr", "\r")]
# Where the I_MESSAGEs go: a list of (level, which) where level is session/media.
PLACEMENTS = [
    ("session", [("session", "x")]),
    ("media", [("media", "x")]),
    ("good-then-x-session", [("session", "g"), ("session", "x")]),
    ("good-session-x-media", [("session", "g"), ("media", "x")]),
    ("good-then-x-media", [("media", "g"), ("media", "x")]),
    ("x-then-good", [("session", "x"), ("media", "g")]),
]


def sdp(placement, spelling, eol, keys):
    lines = ["v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0"]
    for level, which in placement:
        if level == "session":
            lines.append(spelling.format(base64.b64encode(keys[which]).decode()))
    lines.append("m=audio 49170 RTP/SAVP 0")
    for level, which in placement:
        if level == "media":
            lines.append(spelling.format(base64.b64encode(keys[which]).decode()))
    lines.append("a=rtpmap:0 PCMU/8000")
    return (eol.join(lines) + eol).encode()


def multipart(parts, boundary, eol=b"\r\n"):
    out = b"preamble" + eol
    for headers, body in parts:
        out += b"--" + boundary + eol
        for h in headers:
            out += h.encode() + eol
        out += eol + body + eol
    return out + b"--" + boundary + b"--" + eol


def wrap_body(kind, keys, which):
    """Bodies other than plain SDP: returns (content-type, content-encoding, body) or None."""
    good_sdp = sdp([("session", "g")], SPELLINGS[0][1], "\r\n", keys)
    x_sdp = sdp([("session", which)], SPELLINGS[0][1], "\r\n", keys)
    b64 = base64.encodebytes(keys[which])
    if kind == "mikey-binary":
        return "application/mikey", None, keys[which]
    if kind == "multipart-sdp-then-mikey-b64":
        return ("multipart/mixed;boundary=b0und", None,
                multipart([(["Content-Type: application/sdp"], good_sdp),
                           (["Content-Type: application/mikey", "Content-Transfer-Encoding: base64"], b64)],
                          b"b0und"))
    if kind == "multipart-mikey-binary":
        return ("multipart/mixed; boundary=\"q q\"", None,
                multipart([(["Content-Type: application/sdp"], good_sdp),
                           (["content-type: APPLICATION/MIKEY"], keys[which])], b"q q"))
    if kind == "multipart-second-sdp":
        return ("Multipart/Mixed; BOUNDARY=zz", None,
                multipart([(["Content-Type: application/sdp"], good_sdp),
                           (["Content-Type: application/sdp"], x_sdp)], b"zz"))
    if kind == "multipart-sdp-base64":
        return ("multipart/mixed;boundary=zz", None,
                multipart([(["Content-Type: application/sdp", "Content-Transfer-Encoding: base64"],
                            base64.encodebytes(x_sdp))], b"zz"))
    if kind == "multipart-nested":
        inner = multipart([(["Content-Type: application/mikey", "Content-Transfer-Encoding: base64"], b64)],
                          b"inner")
        middle = multipart([(["Content-Type: multipart/related; boundary=inner"], inner)], b"middle")
        return ("multipart/mixed; boundary=outer", None,
                multipart([(["Content-Type: application/sdp"], good_sdp),
                           (["Content-Type: multipart/alternative; boundary=middle"], middle)], b"outer"))
    if kind == "multipart-lf":
        return ("multipart/mixed;boundary=lf", None,
                multipart([([ "Content-Type: application/sdp"], good_sdp.replace(b"\r\n", b"\n")),
                           (["Content-Type: application/mikey", "Content-Transfer-Encoding: base64"], b64)],
                          b"lf", b"\n"))
    if kind == "multipart-part-gzip":
        return ("multipart/mixed;boundary=gz", None,
                multipart([(["Content-Type: application/sdp", "Content-Encoding: gzip"], gzip.compress(x_sdp))],
                          b"gz"))
    if kind in ("gzip", "x-gzip"):
        return "application/sdp", kind, gzip.compress(x_sdp)
    if kind == "deflate":
        return "application/sdp", "deflate", zlib.compress(x_sdp)
    if kind == "deflate-raw":
        c = zlib.compressobj(9, zlib.DEFLATED, -15)
        return "application/sdp", "deflate", c.compress(x_sdp) + c.flush()
    if kind == "gzip-then-deflate":
        return "application/sdp", "gzip, deflate", zlib.compress(gzip.compress(x_sdp))
    if kind == "no-content-type":
        return None, None, x_sdp
    if kind == "type-parameters":
        return "Application/SDP ; charset=UTF-8", None, x_sdp
    raise ValueError(kind)


WRAPS = ["mikey-binary", "multipart-sdp-then-mikey-b64", "multipart-mikey-binary", "multipart-second-sdp",
         "multipart-sdp-base64", "multipart-nested", "multipart-lf", "multipart-part-gzip", "gzip", "x-gzip",
         "deflate", "deflate-raw", "gzip-then-deflate", "no-content-type", "type-parameters"]
# The forms the proxy claims to read: a positive control in any of them must get through.
READABLE_WRAPS = set(WRAPS) - {"no-content-type"}

# (method, in dialog, compact header names)
METHODS = [("INVITE", False), ("INVITE", True), ("UPDATE", True), ("MESSAGE", False), ("OPTIONS", False),
           ("INFO", True), ("MESSAGE", True), ("ACK", True)]


def request(method, in_dialog, call_id, ctype, cenc, body, sink_port, compact):
    ruri = "sip:bob@127.0.0.1:%d" % sink_port if in_dialog else BOB
    to = "<%s>%s" % (BOB, ";tag=b2" if in_dialog else "")
    h = [
        "%s %s SIP/2.0" % (method, ruri),
        "Via: SIP/2.0/UDP 127.0.0.1:9;rport;branch=z9hG4bK-%s" % call_id,
        "Max-Forwards: 70",
        "%s: <%s>;tag=a1" % ("f" if compact else "From", ALICE),
        "%s: %s" % ("t" if compact else "To", to),
        "%s: %s" % ("i" if compact else "Call-ID", call_id),
        "CSeq: %d %s" % (2 if in_dialog else 1, method),
        "Contact: <sip:alice@127.0.0.1:9>",
    ]
    if ctype is not None:
        h.append("%s: %s" % ("c" if compact else "Content-Type", ctype))
    if cenc is not None:
        h.append("%s: %s" % ("e" if compact else "Content-Encoding", cenc))
    h.append("%s: %d" % ("l" if compact else "Content-Length", len(body)))
    return ("\r\n".join(h) + "\r\n\r\n").encode("latin-1") + body


def variants(keys, sink_port, rng, limit):
    """(name, control, message) for every variant, in a fixed order."""
    out = []
    n = 0

    def add(name, control, method, in_dialog, ctype, cenc, body, compact=False):
        nonlocal n
        n += 1
        cid = ("v%04d-%s" % (n, re.sub(r"[^A-Za-z0-9.-]", "", name)))[:90]
        out.append((cid, name, control, request(method, in_dialog, cid, ctype, cenc, body, sink_port, compact)))

    # 1. every SDP placement x spelling x line end, each method once, with the rogue key and as a control.
    for (pn, placement), (sn, spelling), (en, eol) in itertools.product(PLACEMENTS, SPELLINGS, EOLS):
        method, in_dialog = METHODS[(len(out) // 2) % len(METHODS)]
        compact = len(out) % 3 == 0
        for which, control in (("x", False), ("g", True)):
            pl = [(lvl, "g" if w == "x" and control else w) for lvl, w in placement]
            add("%s/%s/%s/%s%s/%s" % (method, pn, sn, en, "/compact" if compact else "",
                                      "control" if control else "rogue"),
                control, method, in_dialog, "application/sdp", None, sdp(pl, spelling, eol, keys), compact)
    # 2. every other body form, for every method, with each unacceptable key and as a control.
    for kind, (method, in_dialog), which in itertools.product(WRAPS, METHODS, ("x", "y", "z", "g")):
        ctype, cenc, body = wrap_body(kind, keys, which)
        compact = (len(out) % 4) == 1
        add("%s/%s%s/%s" % (method, kind, "/compact" if compact else "", which),
            which == "g" and kind in READABLE_WRAPS, method, in_dialog, ctype, cenc, body, compact)
    if limit and len(out) > limit:
        out = sorted(rng.sample(out, limit), key=lambda v: v[0])
    return out


# ---------------------------------------------------------------- through the daemon

def send_all(port, items, wait):
    """Each message to the daemon over UDP; the first final status for each Call-ID."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    status = {}
    expected = sum(1 for _, name, _, _ in items if not name.startswith("ACK/"))
    for i, (cid, _, _, msg) in enumerate(items):
        s.sendto(msg, ("127.0.0.1", port))
        if i % 20 == 19:
            time.sleep(0.02)  # a modest pace: a burst should not be what is tested here
    end = time.time() + wait
    while time.time() < end and len(status) < expected:
        s.settimeout(max(0.05, end - time.time()))
        try:
            data, _ = s.recvfrom(65535)
        except (socket.timeout, ConnectionRefusedError):
            continue
        text = data.decode("latin-1")
        m = re.match(r"SIP/2\.0 (\d{3})", text)
        c = re.search(r"^(?:Call-ID|i)\s*:\s*(\S+)", text, re.M | re.I)
        if m and c and int(m.group(1)) >= 200:
            status.setdefault(c.group(1), int(m.group(1)))
    return status


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sdtool", required=True)
    ap.add_argument("--tshark", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--sink-port", type=int, required=True)
    ap.add_argument("--sink-log", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--seed", type=int, default=4475)
    ap.add_argument("--max", type=int, default=0)
    ap.add_argument("--wait", type=float, default=10.0)
    ap.add_argument("--dump", help="write each variant to a file in this folder (a fuzzing corpus) and stop")
    a = ap.parse_args()
    rng = random.Random(a.seed)

    keys = {
        "g": build(a.sdtool, ALICE, BOB, HOME, PARTNER),          # acceptable
        "x": build(a.sdtool, ALICE, BOB, HOME, WRONG),            # rogue receiver KMS
        "y": build(a.sdtool, ALICE, BOB, ROGUE, PARTNER),         # rogue initiator KMS
        # a real client's NUL-terminated KMS URI, naming the rogue receiver KMS
        "z": nul_terminated(build(a.sdtool, ALICE, BOB, HOME, WRONG + "X"), WRONG + "X"),
    }
    items = variants(keys, a.sink_port, rng, a.max)
    if a.dump:
        for cid, _, _, msg in items:
            with open(os.path.join(a.dump, cid), "wb") as f:
                f.write(msg)
        return 0

    # Ground truth, reader 1: the reference reader finds octets, tshark's MIKEY dissector reads them.
    found = {}
    for cid, _, _, msg in items:
        headers, body = read_message(msg)
        found[cid] = read_body(headers.get("content-type"), headers.get("content-encoding"),
                               headers.get("content-transfer-encoding"), body)
    distinct = sorted({raw for raws in found.values() for raw in raws})
    pcap(os.path.join(a.work, "imessages.pcap"), 2269, distinct)
    rows = tshark_fields(a.tshark, os.path.join(a.work, "imessages.pcap"), ["mikey.id.role", "mikey.id.data"])
    pair_of = {raw: kms_pairs(r[0], r[1]) if len(r) == 2 else None for raw, r in zip(distinct, rows)}
    # Ground truth, reader 2: tshark on the whole SIP message (its SDP dissector reads
    # session-level key-mgmt, through multipart and content codings where it can).
    pcap(os.path.join(a.work, "variants.pcap"), 5060, [msg for _, _, _, msg in items])
    rows = tshark_fields(a.tshark, os.path.join(a.work, "variants.pcap"),
                         ["sip.Call-ID", "mikey.id.role", "mikey.id.data"])
    tshark_pairs = {}
    for r in rows:
        if len(r) == 3 and r[0]:
            roles, values = r[1].split(";") if r[1] else [], r[2].split(";") if r[2] else []
            pairs = []
            # several I_MESSAGEs: roles come in groups; cut at each IDRi (1) or IDRuidi (8)
            group = []
            for role, value in zip(roles, values):
                if role in ("1", "8") and group:
                    pairs.append(dict(group))
                    group = []
                group.append((role, value))
            if group:
                pairs.append(dict(group))
            tshark_pairs[r[0]] = [(g.get("6"), g.get("7")) for g in pairs]

    status = send_all(a.port, items, a.wait)
    time.sleep(0.5)
    # An ACK has no response: only the sink can tell whether it went on.
    reached = set()
    for line in open(a.sink_log, errors="replace"):
        parts = line.split()
        if len(parts) == 2 and (parts[0] != "ACK" or parts[1].split("-", 1)[-1].startswith("ACK")):
            reached.add(parts[1])

    failures, counts = [], {"rogue": 0, "rogue-blocked": 0, "control": 0, "control-through": 0,
                            "tshark-saw": 0, "other": 0}
    for cid, name, control, _ in items:
        pairs = [pair_of.get(raw) for raw in found[cid]] + tshark_pairs.get(cid, [])
        if tshark_pairs.get(cid):
            counts["tshark-saw"] += 1
        unreadable = any(p is None or None in p for p in pairs)
        bad = [p for p in pairs if p and None not in p and p not in ACCEPTABLE]
        designed_bad = not name.endswith("/g") and not name.endswith("/control")
        if designed_bad and not bad and not unreadable and not control:
            failures.append("%s (%s): the independent readers find no unacceptable key in it: the test is blind"
                            % (cid, name))
        if bad or unreadable:
            counts["rogue"] += 1
            if cid in reached:
                failures.append("%s (%s): reached the next hop although it carries %s (daemon answered %s)"
                                % (cid, name, bad or "an unreadable I_MESSAGE", status.get(cid, "nothing")))
            else:
                counts["rogue-blocked"] += 1
        elif control:
            counts["control"] += 1
            if not pairs:
                failures.append("%s (%s): positive control in which the readers find no I_MESSAGE" % (cid, name))
            if cid in reached:
                counts["control-through"] += 1
            else:
                failures.append("%s (%s): positive control did not reach the next hop (daemon answered %s)"
                                % (cid, name, status.get(cid, "nothing")))
        else:
            counts["other"] += 1
    answered = sum(1 for cid, name, _, _ in items if cid in status or cid in reached or name.startswith("ACK/"))
    print("variants: %d (answered or forwarded: %d)" % (len(items), answered))
    print("with an unacceptable key (by the independent readers): %d, none forwarded: %d" %
          (counts["rogue"], counts["rogue-blocked"]))
    print("positive controls: %d, forwarded: %d" % (counts["control"], counts["control-through"]))
    print("variants in which tshark itself found I_MESSAGEs: %d; other variants: %d" %
          (counts["tshark-saw"], counts["other"]))
    for f in failures:
        print("FAIL: " + f)
    return 1 if failures or answered < len(items) else 0


if __name__ == "__main__":
    sys.exit(main())
