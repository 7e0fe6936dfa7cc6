#!/usr/bin/env python3
"""sipfuzz.py: a SIP-level fuzzer for a running mcx-sdproxyd (Python 3 standard library only).

tests/fuzz/sipfuzz.sh runs it inside a network namespace against a daemon built with ASan and
UBSan; it is not part of make check.  Modes:

  fuzz      mutated SIP messages to the daemon over UDP and TCP, with a probe every few hundred
            (flow control and hang detection), liveness and sanitizer checks; a finding stops
            the run and leaves the window of messages before it in OUT/finding-N/
  sink      the next hop: answers what the daemon forwards (UDP and TCP), some answers mutated;
            a control port (PORT+1, UDP) for SEEN/STATS/DUMP queries
  minimise  replays a finding's window against fresh daemons to find the message (or the short
            sequence) that triggers it
  replay    sends message files to a running daemon, one at a time, probing after each
  seeds     writes one example of each seed message to a folder

The probe is an in-dialog OPTIONS (To tag) whose Request-URI is the daemon itself: the daemon
answers it 200 without forwarding it (an OPTIONS without To tag would go to the next hop).
"""

import argparse
import base64
import collections
import gzip
import heapq
import json
import os
import random
import re
import selectors
import signal
import socket
import subprocess
import sys
import time
import zlib

CRLF = b"\r\n"
LEN = b"\x00LEN\x00"  # Content-Length placeholder: the body's length when serialised
KRR_CT = b"application/vnd.3gpp.kmsredirectresponse+xml"
# --skip-known: a message that is not the first of its TCP connection and whose Content-Length
# reads as 2^31-1 .. 2^32-1 (sign, folding and 32-bit truncation as Sofia-SIP reads it) aborts
# the daemon (su_alloc's size assertion through msg_extract_payload; tests/data/sipfuzz/open/).
# With --skip-known such a message goes alone on a new connection (the first message of a
# connection is checked against the size limit), and the sink does not send it.
CL_ANY = re.compile(rb"(?im)^(?:content-length|l)[ \t]*:[ \t]*(?:\r?\n[ \t]+)*([+-]?)[ \t]*(\d+)")


def risky_cl(d):
    for m in CL_ANY.finditer(d):
        if m.group(1) == b"-" or int(m.group(2)[:40]) >= 2147483647:
            return True
    return False


# --skip-known, too: a message over the daemon's 256 kB bound that is not the first of its TCP
# connection is read whole (msg_next() does not carry the bound): a Route list of some 100000
# entries overflows the stack (sip_any_route_d recurses per entry), 30000 keep the daemon busy
# for seconds.  Such a message goes alone on a new connection, where the bound applies.
BIG = 256 * 1024


def risky(d):
    return len(d) > BIG or risky_cl(d)


SAN_RE = re.compile(
    rb"ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|SUMMARY: \w+Sanitizer|"
    rb"Assertion .* failed|AddressSanitizer:DEADLYSIGNAL|UndefinedBehaviorSanitizer"
)

SINGLE = [
    b"Max-Forwards", b"Content-Length", b"Content-Type", b"Content-Encoding", b"CSeq", b"Call-ID",
    b"From", b"To", b"Expires", b"RSeq", b"RAck", b"Session-Expires", b"Min-SE", b"Subject",
    b"Min-Expires", b"Date", b"Timestamp", b"Retry-After", b"Event", b"Refer-To", b"Priority",
    b"Organization", b"User-Agent", b"Server", b"Reply-To", b"MIME-Version", b"Subscription-State",
    b"Content-Disposition", b"Privacy", b"Referred-By", b"Replaces", b"Call-Info",
]
COMPACT = {
    b"via": b"v", b"call-id": b"i", b"from": b"f", b"to": b"t", b"contact": b"m",
    b"content-length": b"l", b"content-type": b"c", b"content-encoding": b"e", b"supported": b"k",
    b"subject": b"s", b"event": b"o", b"refer-to": b"r", b"allow-events": b"u",
    b"referred-by": b"b", b"session-expires": b"x", b"accept-contact": b"a",
    b"reject-contact": b"j", b"request-disposition": b"d", b"identity": b"y",
}
EXTREMES = [
    b"0", b"-1", b"1", b"2147483647", b"2147483648", b"-2147483648", b"4294967295", b"4294967296",
    b"4294967297", b"18446744073709551615", b"18446744073709551616", b"99999999999999999999",
    b"0000000000000000000070", b"007", b"00", b"+1", b"1e3", b"0x10", b"", b" 70", b"70 70",
    b"65535", b"65536", b"9" * 100, b"-0", b"255", b"256", b"32767", b"32768", b"1.5",
]
NUMERIC = [b"Max-Forwards", b"CSeq", b"Content-Length", b"Expires", b"Session-Expires", b"Min-SE",
           b"RSeq", b"RAck", b"Retry-After", b"Min-Expires", b"Timestamp", b"l", b"x"]
FUNNY = [b"\x00", b"\r", b"\n", b"\r\n", b":", b";", b",", b"<", b">", b'"', b"\\", b"\xff", b"%",
         b" ", b"\t", b"=", b"@", b"[", b"]", b"/", b"?", b"\x80", b"%00", b"\r\n\r\n", b"--"]


def b(s):
    return s if isinstance(s, bytes) else str(s).encode()


# ---------------------------------------------------------------------------------------------
# Messages
# ---------------------------------------------------------------------------------------------

class Msg:
    """A SIP message as a start line, [name, separator, value] headers and a body."""
    __slots__ = ("start", "hdrs", "body", "kind")

    def __init__(self, start, hdrs, body=b"", kind=""):
        self.start = start
        self.hdrs = [[n, b": ", v] for n, v in hdrs]
        self.body = body
        self.kind = kind

    def wire(self):
        bl = b"%d" % len(self.body)
        out = [self.start]
        for n, s, v in self.hdrs:
            out.append(n + s + (bl if v == LEN else v))
        return CRLF.join(out) + CRLF + CRLF + self.body

    def find(self, name):
        ln = name.lower()
        cl = COMPACT.get(ln)
        return [i for i, h in enumerate(self.hdrs) if h[0].lower() in (ln, cl)]


def sdp_body(b64s=None, where="session", extra=b"", port=49170):
    lines = [b"v=0", b"o=alice 2890844526 2890844526 IN IP4 127.0.0.1", b"s=-",
             b"c=IN IP4 127.0.0.1", b"t=0 0"]
    km = [b"a=key-mgmt:mikey " + x for x in (b64s or [])]
    if where == "session":
        lines += km
    lines += [b"m=audio %d RTP/SAVP 0" % port, b"a=rtpmap:0 PCMU/8000"]
    if where == "media":
        lines += km
    if where == "mcptt":
        lines += [b"m=application 49172 udp MCPTT", b"a=fmtp:MCPTT mc_queueing;mc_priority=5"] + km
    if extra:
        lines.append(extra)
    return CRLF.join(lines) + CRLF


def multipart(parts, boundary):
    out = b""
    for hdrs, body in parts:
        out += b"--" + boundary + CRLF + b"".join(h + CRLF for h in hdrs) + CRLF + body + CRLF
    return out + b"--" + boundary + b"--" + CRLF


MCPTT_INFO = (b'<?xml version="1.0" encoding="UTF-8"?>\r\n<mcpttinfo xmlns="urn:3gpp:ns:mcpttInfo:1.0">'
              b"<mcptt-Params><session-type>private</session-type></mcptt-Params></mcpttinfo>\r\n")


class Gen:
    """Seed messages (fresh Call-ID, branch and tags each time) and their mutations."""

    def __init__(self, rng, host, dport, sink, mikey_good, mikey_wrong, krrs, tag):
        self.rng = rng
        self.host = b(host)
        self.dport = dport
        self.sink = sink
        self.mg = mikey_good
        self.mw = mikey_wrong
        self.bg = base64.b64encode(mikey_good)
        self.bw = base64.b64encode(mikey_wrong)
        self.krrs = krrs or [b"<KmsRedirectResponse/>"]
        self.tag = b(tag)
        self.n = 0
        self.recent = collections.deque(maxlen=64)  # (cid, branch, ftag, ruri) of INVITEs sent
        self.bomb = gzip.compress(b"\0" * (2 << 20), 9)
        self.seeds = [
            (14, self.inv_sdp), (4, self.inv_sdp_wrong), (2, self.inv_sdp_two), (5, self.inv_mp_b64),
            (4, self.inv_mp_bin), (2, self.inv_mp_nested), (3, self.inv_gzip), (1, self.inv_deflate),
            (2, self.inv_mp_gzip_part), (2, self.inv_nobody), (1, self.inv_route),
            (4, self.reinvite), (3, self.update), (4, self.bye), (3, self.ack), (3, self.info),
            (3, self.message), (1, self.prack), (1, self.notify), (1, self.refer),
            (4, self.cancel), (3, self.options), (1, self.register), (1, self.subscribe),
            (5, self.r488_krr), (3, self.r180), (3, self.r200), (1, self.r100), (1, self.r4xx),
        ]
        self.weights = []
        acc = 0
        for w, _ in self.seeds:
            acc += w
            self.weights.append(acc)
        self.mutators = [
            (8, self.m_dup), (4, self.m_dup_single), (4, self.m_reorder), (4, self.m_compact),
            (4, self.m_case_names), (4, self.m_case_values), (10, self.m_extreme), (3, self.m_space),
            (2, self.m_fold), (2, self.m_huge), (2, self.m_many), (6, self.m_cl), (8, self.m_keymgmt),
            (5, self.m_mikey_bytes), (5, self.m_multipart), (3, self.m_coding), (3, self.m_ctype),
            (4, self.m_start), (4, self.m_via), (3, self.m_fromto), (2, self.m_callid),
            (3, self.m_drop), (3, self.m_value_bytes), (2, self.m_body_bytes), (1, self.m_splice_hdr),
        ]
        self.mweights = []
        acc = 0
        for w, _ in self.mutators:
            acc += w
            self.mweights.append(acc)

    # ---- identifiers ----

    def ids(self):
        self.n += 1
        r = self.rng.getrandbits(32)
        return (b"sf-%s-%d-%08x" % (self.tag, self.n, r), b"z9hG4bK-sf%08x.%d" % (r, self.n),
                b"%08x" % self.rng.getrandbits(32))

    def via(self, me, branch):
        tr, port = me
        return b"SIP/2.0/%s %s:%d;branch=%s;rport" % (tr, self.host, port, branch)

    def contact(self, me, user=b"alice"):
        tr, port = me
        return b"<sip:%s@%s:%d;transport=%s>" % (user, self.host, port, tr.lower())

    def request(self, method, ruri, me, ctype=None, body=b"", dialog=False, cseq=1, extra=(),
                cid=None, branch=None, ftag=None):
        c, br, ft = self.ids()
        cid = cid or c
        branch = branch or br
        ftag = ftag or ft
        to = b"<sip:bob@partner.example>"
        if dialog:
            to += b";tag=%08x" % self.rng.getrandbits(32)
        h = [(b"Via", self.via(me, branch)), (b"Max-Forwards", b"70"),
             (b"From", b'"Alice" <sip:alice@home.example>;tag=' + ftag), (b"To", to),
             (b"Call-ID", cid), (b"CSeq", b"%d %s" % (cseq, method))]
        if method not in (b"CANCEL", b"ACK", b"BYE"):
            h.append((b"Contact", self.contact(me)))
        h += list(extra)
        if ctype:
            h.append((b"Content-Type", ctype))
        h.append((b"Content-Length", LEN))
        m = Msg(b"%s %s SIP/2.0" % (method, ruri), h, body, kind=method.decode("latin1"))
        if method == b"INVITE" and not dialog:
            self.recent.append((cid, branch, ftag, ruri))
        return m

    def extras(self):
        r = self.rng
        pool = [(b"Supported", b"100rel, timer"), (b"Session-Expires", b"1800;refresher=uac"),
                (b"Min-SE", b"90"), (b"Expires", b"60"), (b"Subject", b"mcx call"),
                (b"Allow", b"INVITE, ACK, CANCEL, BYE, UPDATE, INFO, MESSAGE, PRACK, OPTIONS"),
                (b"User-Agent", b"sipfuzz/1"), (b"Accept", b"application/sdp, application/mikey"),
                (b"P-Asserted-Identity", b"<sip:alice@home.example>"), (b"Priority", b"urgent"),
                (b"Date", b"Thu, 04 Dec 2026 18:00:00 GMT"), (b"Require", b"timer"),
                (b"Organization", b"home"), (b"Privacy", b"none"),
                (b"Call-Info", b"<http://home.example/a>;purpose=info"),
                (b"P-Preferred-Service", b"urn:urn-7:3gpp-service.ims.icsi.mcptt"),
                (b"Accept-Contact", b"*;+g.3gpp.icsi-ref=\"urn%3Aurn-7%3A3gpp-service.ims.icsi.mcptt\""),
                (b"Record-Route", b"<sip:rr.home.example;lr>"), (b"Timestamp", b"54"),
                (b"MIME-Version", b"1.0")]
        return r.sample(pool, r.randint(0, 5))

    # ---- seeds: initial INVITEs ----

    def ruri_bob(self):
        return b"sip:bob@partner.example"

    def inv_sdp(self, me):
        where = self.rng.choice(("session", "session", "media", "mcptt"))
        return self.request(b"INVITE", self.ruri_bob(), me, b"application/sdp",
                            sdp_body([self.bg], where), extra=self.extras())

    def inv_sdp_wrong(self, me):
        return self.request(b"INVITE", self.ruri_bob(), me, b"application/sdp", sdp_body([self.bw]),
                            extra=self.extras())

    def inv_sdp_two(self, me):
        return self.request(b"INVITE", self.ruri_bob(), me, b"application/sdp",
                            sdp_body([self.bg, self.rng.choice((self.bg, self.bw))], "media"),
                            extra=self.extras())

    def bnd(self):
        return b"sfb%08x" % self.rng.getrandbits(32)

    def inv_mp_b64(self, me):
        bd = self.bnd()
        parts = [([b"Content-Type: application/sdp"], sdp_body()),
                 ([b"Content-Type: application/mikey", b"Content-Transfer-Encoding: base64"],
                  self.rng.choice((self.bg, self.bg, self.bw)))]
        if self.rng.random() < 0.3:
            parts.insert(0, ([b"Content-Type: application/vnd.3gpp.mcptt-info+xml"], MCPTT_INFO))
        return self.request(b"INVITE", self.ruri_bob(), me, b"multipart/mixed;boundary=" + bd,
                            multipart(parts, bd), extra=self.extras())

    def inv_mp_bin(self, me):
        bd = self.bnd()
        parts = [([b"Content-Type: application/sdp"], sdp_body()),
                 ([b"Content-Type: application/mikey", b"Content-Disposition: render;handling=optional"],
                  self.rng.choice((self.mg, self.mg, self.mw)))]
        return self.request(b"INVITE", self.ruri_bob(), me, b'multipart/mixed; boundary="%s"' % bd,
                            multipart(parts, bd), extra=self.extras())

    def inv_mp_nested(self, me):
        b1, b2 = self.bnd(), self.bnd()
        inner = multipart([([b"Content-Type: application/sdp"], sdp_body([self.bg])),
                           ([b"Content-Type: application/mikey"], self.mg)], b2)
        outer = multipart([([b"Content-Type: application/vnd.3gpp.mcptt-info+xml"], MCPTT_INFO),
                           ([b"Content-Type: multipart/alternative;boundary=" + b2], inner)], b1)
        return self.request(b"INVITE", self.ruri_bob(), me, b"multipart/mixed;boundary=" + b1, outer,
                            extra=self.extras())

    def inv_gzip(self, me):
        return self.request(b"INVITE", self.ruri_bob(), me, b"application/sdp",
                            gzip.compress(sdp_body([self.bg]), 6),
                            extra=self.extras() + [(b"Content-Encoding", b"gzip")])

    def inv_deflate(self, me):
        return self.request(b"INVITE", self.ruri_bob(), me, b"application/sdp",
                            zlib.compress(sdp_body([self.bg])),
                            extra=self.extras() + [(b"Content-Encoding", b"deflate")])

    def inv_mp_gzip_part(self, me):
        bd = self.bnd()
        parts = [([b"Content-Type: application/sdp"], sdp_body()),
                 ([b"Content-Type: application/mikey", b"Content-Encoding: gzip"], gzip.compress(self.mg))]
        return self.request(b"INVITE", self.ruri_bob(), me, b"multipart/mixed;boundary=" + bd,
                            multipart(parts, bd), extra=self.extras())

    def inv_nobody(self, me):
        return self.request(b"INVITE", self.ruri_bob(), me, extra=self.extras())

    def inv_route(self, me):
        route = self.rng.choice((
            b"<sip:127.0.0.1:%d;lr>" % self.dport,
            b"<sip:127.0.0.1:%d;transport=tcp;lr>" % self.sink,
            b"<sip:127.0.0.1:%d;lr>" % self.sink,
            b"<sip:proxy.nowhere.example;lr>",
            b"<sip:127.0.0.1:%d;lr>, <sip:127.0.0.1:%d;lr>" % (self.dport, self.sink)))
        return self.request(b"INVITE", self.ruri_bob(), me, b"application/sdp", sdp_body([self.bg]),
                            extra=[(b"Route", route)] + self.extras())

    # ---- seeds: in-dialog requests ----

    def dialog_ruri(self):
        return self.rng.choice((
            b"sip:bob@127.0.0.1:%d" % self.sink, b"sip:bob@127.0.0.1:%d" % self.sink,
            b"sip:bob@127.0.0.1:%d;transport=tcp" % self.sink, b"sip:bob@partner.example",
            b"sip:bob@127.0.0.1:%d" % (self.sink + 7)))

    def dialog_extra(self):
        e = []
        if self.rng.random() < 0.4:
            e.append((b"Route", b"<sip:127.0.0.1:%d;lr>" % self.dport))
        return e

    def reinvite(self, me):
        return self.request(b"INVITE", self.dialog_ruri(), me, b"application/sdp",
                            sdp_body([self.rng.choice((self.bg, self.bw))]), dialog=True, cseq=2,
                            extra=self.dialog_extra() + self.extras())

    def update(self, me):
        return self.request(b"UPDATE", self.dialog_ruri(), me, b"application/sdp", sdp_body([self.bg]),
                            dialog=True, cseq=3, extra=self.dialog_extra())

    def bye(self, me):
        return self.request(b"BYE", self.dialog_ruri(), me, dialog=True, cseq=4, extra=self.dialog_extra())

    def ack(self, me):
        if self.rng.random() < 0.5:
            return self.request(b"ACK", self.dialog_ruri(), me, b"application/sdp", sdp_body([self.bg]),
                                dialog=True, extra=self.dialog_extra())
        return self.request(b"ACK", self.dialog_ruri(), me, dialog=True, extra=self.dialog_extra())

    def info(self, me):
        body, ct = self.rng.choice(((self.mg, b"application/mikey"), (self.bg, b"application/mikey")))
        ex = self.dialog_extra() + [(b"Info-Package", b"mikey")]
        if body is self.bg:
            ex.append((b"Content-Transfer-Encoding", b"base64"))
        return self.request(b"INFO", self.dialog_ruri(), me, ct, body, dialog=True, cseq=5, extra=ex)

    def message(self, me):
        return self.request(b"MESSAGE", self.dialog_ruri(), me, b"application/mikey",
                            self.rng.choice((self.mg, self.mw)), dialog=self.rng.random() < 0.6, cseq=6,
                            extra=self.dialog_extra())

    def prack(self, me):
        return self.request(b"PRACK", self.dialog_ruri(), me, dialog=True, cseq=7,
                            extra=self.dialog_extra() + [(b"RAck", b"1 1 INVITE")])

    def notify(self, me):
        return self.request(b"NOTIFY", self.dialog_ruri(), me, b"message/sipfrag", b"SIP/2.0 200 OK\r\n",
                            dialog=True, cseq=8, extra=[(b"Event", b"refer"),
                                                        (b"Subscription-State", b"active;expires=60")])

    def refer(self, me):
        return self.request(b"REFER", self.dialog_ruri(), me, dialog=True, cseq=9,
                            extra=[(b"Refer-To", b"<sip:carol@partner.example>"),
                                   (b"Referred-By", b"<sip:alice@home.example>")])

    def subscribe(self, me):
        return self.request(b"SUBSCRIBE", b"sip:bob@partner.example", me, extra=[
            (b"Event", b"presence"), (b"Expires", b"3600"), (b"Accept", b"application/pidf+xml")])

    def cancel(self, me):
        if self.recent and self.rng.random() < 0.8:
            cid, branch, ftag, ruri = self.rng.choice(self.recent)
            return self.request(b"CANCEL", ruri, me, cid=cid, branch=branch, ftag=ftag)
        return self.request(b"CANCEL", self.ruri_bob(), me)

    def options(self, me):
        return self.request(b"OPTIONS", self.rng.choice((b"sip:bob@partner.example",
                                                         b"sip:127.0.0.1:%d" % self.dport)), me,
                            extra=[(b"Accept", b"application/sdp")])

    def register(self, me):
        return self.request(b"REGISTER", b"sip:home.example", me, extra=[(b"Expires", b"3600")])

    # ---- seeds: responses (top Via the daemon's, second ours) ----

    def response(self, me, status, reason, ctype=None, body=b"", extra=(), method=b"INVITE"):
        cid, br, ft = self.ids()
        h = [(b"Via", b"SIP/2.0/%s %s:%d;branch=z9hG4bK-%08x" % (me[0], self.host, self.dport,
                                                                 self.rng.getrandbits(32))),
             (b"Via", self.via(me, br) + b";received=127.0.0.1"),
             (b"From", b"<sip:alice@home.example>;tag=" + ft),
             (b"To", b"<sip:bob@partner.example>;tag=%08x" % self.rng.getrandbits(32)),
             (b"Call-ID", cid), (b"CSeq", b"1 " + method)]
        h += list(extra)
        if ctype:
            h.append((b"Content-Type", ctype))
        h.append((b"Content-Length", LEN))
        return Msg(b"SIP/2.0 %d %s" % (status, reason), h, body, kind="%d" % status)

    def r488_krr(self, me):
        return self.response(me, 488, b"Not Acceptable Here", KRR_CT, self.rng.choice(self.krrs),
                             extra=[(b"Warning", b'399 kms.partner.example "KMS redirect"')])

    def r180(self, me):
        return self.response(me, 180, b"Ringing", extra=[(b"RSeq", b"1"), (b"Require", b"100rel"),
                                                         (b"Contact", b"<sip:bob@127.0.0.1:%d>" % self.sink)])

    def r200(self, me):
        return self.response(me, 200, b"OK", b"application/sdp", sdp_body([self.bg]),
                             extra=[(b"Contact", b"<sip:bob@127.0.0.1:%d>" % self.sink),
                                    (b"Record-Route", b"<sip:127.0.0.1:%d;lr>" % self.dport)])

    def r100(self, me):
        return self.response(me, 100, b"Trying")

    def r4xx(self, me):
        st = self.rng.choice(((486, b"Busy Here"), (603, b"Decline"), (404, b"Not Found"),
                              (503, b"Service Unavailable"), (481, b"Call Does Not Exist")))
        return self.response(me, st[0], st[1], method=self.rng.choice((b"INVITE", b"BYE", b"MESSAGE")))

    def seed(self, me):
        x = self.rng.randrange(self.weights[-1])
        for i, w in enumerate(self.weights):
            if x < w:
                return self.seeds[i][1](me)
        return self.inv_sdp(me)

    # ---- structural mutations ----

    def pick_hdr(self, m):
        return self.rng.randrange(len(m.hdrs)) if m.hdrs else None

    def m_dup(self, m):
        i = self.pick_hdr(m)
        if i is None:
            return
        h = list(m.hdrs[i])
        j = self.rng.choice((i + 1, len(m.hdrs), self.rng.randrange(len(m.hdrs) + 1)))
        m.hdrs.insert(j, h)

    def m_dup_single(self, m):
        name = self.rng.choice(SINGLE)
        idx = m.find(name)
        if idx:
            h = list(m.hdrs[self.rng.choice(idx)])
            if self.rng.random() < 0.4 and name in (b"Max-Forwards", b"Content-Length", b"CSeq", b"Expires",
                                                     b"RSeq", b"Session-Expires"):
                h[2] = self.rng.choice(EXTREMES) if name != b"CSeq" else b"%d INVITE" % self.rng.randrange(9)
        else:
            v = self.rng.choice((b"70", b"1", b"0", b"text", b"<sip:x@y>;tag=1", b"1 INVITE", b"60"))
            h = [name, b": ", v]
            m.hdrs.insert(self.rng.randrange(len(m.hdrs) + 1), list(h))
        m.hdrs.insert(self.rng.randrange(len(m.hdrs) + 1), h)

    def m_reorder(self, m):
        r = self.rng
        if len(m.hdrs) < 2:
            return
        c = r.random()
        if c < 0.3:
            r.shuffle(m.hdrs)
        elif c < 0.7:
            i, j = r.randrange(len(m.hdrs)), r.randrange(len(m.hdrs))
            m.hdrs[i], m.hdrs[j] = m.hdrs[j], m.hdrs[i]
        else:
            m.hdrs.reverse()

    def m_compact(self, m):
        p = self.rng.choice((0.3, 1.0))
        for h in m.hdrs:
            c = COMPACT.get(h[0].lower())
            if c and self.rng.random() < p:
                h[0] = c if self.rng.random() < 0.8 else c.upper()

    def recase(self, s):
        c = self.rng.random()
        if c < 0.3:
            return s.upper()
        if c < 0.5:
            return s.lower()
        return bytes(x ^ 0x20 if 97 <= (x | 0x20) <= 122 and self.rng.random() < 0.5 else x for x in s)

    def m_case_names(self, m):
        for h in m.hdrs:
            if self.rng.random() < 0.5:
                h[0] = self.recase(h[0])
        if self.rng.random() < 0.3:
            p = m.start.split(b" ", 1)
            m.start = self.recase(p[0]) + (b" " + p[1] if len(p) > 1 else b"")

    def m_case_values(self, m):
        for i in m.find(b"Content-Type") + m.find(b"Content-Encoding") + m.find(b"Via"):
            m.hdrs[i][2] = self.recase(m.hdrs[i][2])
        if m.body and self.rng.random() < 0.6:
            body = m.body
            for word in (b"key-mgmt", b"mikey", b"Content-Type", b"application/mikey", b"application/sdp",
                         b"Content-Transfer-Encoding", b"base64", b"Content-Encoding", b"gzip"):
                if word in body and self.rng.random() < 0.5:
                    body = body.replace(word, self.recase(word))
            m.body = body

    def m_extreme(self, m):
        r = self.rng
        names = [n for n in NUMERIC if m.find(n)]
        c = r.random()
        if names and c < 0.6:
            name = r.choice(names)
            i = r.choice(m.find(name))
            x = r.choice(EXTREMES)
            if name.lower() == b"cseq":
                parts = m.hdrs[i][2].split(b" ", 1)
                m.hdrs[i][2] = x + (b" " + parts[1] if len(parts) > 1 and r.random() < 0.8 else b"")
            elif name.lower() == b"rack":
                m.hdrs[i][2] = b"%s %s INVITE" % (r.choice(EXTREMES), x)
            else:
                m.hdrs[i][2] = x
        elif c < 0.75:
            i = r.choice(m.find(b"Max-Forwards") or [len(m.hdrs)])
            if i == len(m.hdrs):
                m.hdrs.insert(0, [b"Max-Forwards", b": ", r.choice(EXTREMES)])
            else:
                m.hdrs[i][2] = r.choice(EXTREMES)
        elif c < 0.9:
            # ports: Via, Contact, Request-URI, Route
            x = r.choice(EXTREMES)
            cand = m.find(b"Via") + m.find(b"Contact") + m.find(b"Route")
            if cand and r.random() < 0.6:
                i = r.choice(cand)
                m.hdrs[i][2] = re.sub(rb":\d+", b":" + x, m.hdrs[i][2], count=1)
            else:
                m.start = re.sub(rb":\d+", b":" + x, m.start, count=1)
        else:
            if m.start.startswith(b"SIP/2.0 "):
                p = m.start.split(b" ", 2)
                m.start = b"SIP/2.0 " + r.choice(EXTREMES + [b"99", b"1000", b"699", b"700", b"000"]) + \
                    (b" " + p[2] if len(p) > 2 else b"")
            elif m.body:
                m.body = re.sub(rb"m=audio \d+", b"m=audio " + r.choice(EXTREMES), m.body, count=1)

    def m_space(self, m):
        i = self.pick_hdr(m)
        if i is None:
            return
        m.hdrs[i][1] = self.rng.choice((b":", b" : ", b"\t:\t", b":    ", b" :", b":\t", b"::", b": \r\n "))
        if self.rng.random() < 0.3:
            m.hdrs[i][2] = m.hdrs[i][2] + self.rng.choice((b"   ", b"\t", b" ;", b";", b",", b" ,"))

    def m_fold(self, m):
        i = self.pick_hdr(m)
        if i is None:
            return
        v = m.hdrs[i][2]
        k = self.rng.randrange(len(v) + 1)
        m.hdrs[i][2] = v[:k] + self.rng.choice((b"\r\n ", b"\r\n\t", b"\r\n   \t ")) + v[k:]

    def m_huge(self, m):
        r = self.rng
        size = r.choice((1000, 4096, 8192, 16384, 40000, 65000, 70000, 140000, 300000, 700000))
        fill = r.choice((b"a", b"x;", b"%41", b" ", b"<sip:a@b>,", b"<a:b>,", b"9", b"\t"))
        val = (fill * (size // len(fill) + 1))[:size]
        c = r.random()
        if c < 0.5 or not m.hdrs:
            m.hdrs.insert(r.randrange(len(m.hdrs) + 1), [r.choice((b"X-Huge", b"Subject", b"Call-ID", b"Via",
                                                                    b"To", b"Route", b"Max-Forwards")),
                                                         b": ", val])
        elif c < 0.8:
            i = self.pick_hdr(m)
            m.hdrs[i][2] = m.hdrs[i][2] + val
        else:
            m.start = m.start.replace(b" SIP/2.0", b"" + val[:2000] + b" SIP/2.0") if b" SIP/2.0" in m.start \
                else m.start + val[:2000]

    def m_many(self, m):
        r = self.rng
        n = r.choice((50, 200, 1000, 3000))
        name = r.choice((b"Via", b"Route", b"Record-Route", b"X-H", b"Max-Forwards", b"Content-Type",
                         b"Supported", b"Contact", b"Call-ID", b"To"))
        idx = m.find(name)
        val = m.hdrs[idx[0]][2] if idx else b"<sip:127.0.0.1:%d;lr>" % self.dport
        at = r.randrange(len(m.hdrs) + 1)
        if r.random() < 0.5:
            m.hdrs[at:at] = [[name, b": ", val] for _ in range(n)]
        else:
            m.hdrs.insert(at, [name, b": ", b", ".join([val] * n)])

    def m_cl(self, m):
        r = self.rng
        idx = m.find(b"Content-Length")
        c = r.random()
        if c < 0.2:
            for i in reversed(idx):
                del m.hdrs[i]
        elif c < 0.5 and idx:
            m.hdrs[r.choice(idx)][2] = b"%d" % max(0, len(m.body) + r.choice((-100, -10, -2, -1, 1, 2, 10, 1000)))
        elif c < 0.7:
            k = r.randrange(len(m.body) + 1) if m.body else 0
            # the header keeps the full length, the body is cut
            if idx:
                m.hdrs[idx[0]][2] = b"%d" % len(m.body)
            m.body = m.body[:k]
        elif c < 0.85:
            if idx:
                m.hdrs[idx[0]][2] = b"%d" % len(m.body)
            m.body += r.choice((b"\r\n", b"garbage", b"INVITE sip:x SIP/2.0\r\n\r\n", os.urandom(20)))
        else:
            if idx:
                m.hdrs[r.choice(idx)][2] = r.choice(EXTREMES)

    def bad_b64(self, s):
        r = self.rng
        c = r.random()
        if c < 0.15:
            return s[: r.randrange(len(s) + 1)]
        if c < 0.3:
            k = r.randrange(len(s) + 1)
            return s[:k] + r.choice((b"*", b"=", b"==", b" ", b"\r\n", b"-", b"_", b"\x00", b"===")) + s[k:]
        if c < 0.4:
            return s.rstrip(b"=")
        if c < 0.5:
            return b""
        if c < 0.6:
            return s * r.choice((2, 10, 60))
        if c < 0.7:
            return b"=" * r.randrange(1, 8)
        if c < 0.8:
            return base64.b64encode(os.urandom(r.randrange(1, 300)))
        if c < 0.9:
            return s.replace(b"A", b"a")
        return s + b" " + s

    def m_keymgmt(self, m):
        r = self.rng
        body = m.body
        k = body.find(b"a=key-mgmt:mikey ")
        if k < 0:
            k = body.find(b"a=key-mgmt")
        if k < 0:
            # base64 part of a multipart or INFO body
            for x in (self.bg, self.bw):
                if x in body:
                    m.body = body.replace(x, self.bad_b64(x), 1)
                    return
            return
        e = body.find(b"\r\n", k)
        e = len(body) if e < 0 else e
        line = body[k:e]
        c = r.random()
        if c < 0.5:
            pre, _, data = line.partition(b"mikey ")
            line = pre + b"mikey " + self.bad_b64(data)
        elif c < 0.7:
            line = r.choice((b"a=key-mgmt:mikey", b"a=key-mgmt:mikey ", b"a=key-mgmt:", b"a=key-mgmt",
                             b"a=key-mgmt: mikey " + self.bg, b"a=key-mgmt:mikey\t" + self.bg,
                             b"a=key-mgmt:kmp " + self.bg, b"a=KEY-MGMT:MIKEY " + self.bg,
                             b"a=key-mgmt:mikey  " + self.bg, b"a=key-mgmt:mikey " + self.bg + b" extra"))
        elif c < 0.85:
            line = CRLF.join([line] * r.choice((2, 3, 16, 17, 40)))
        else:
            line = line + r.choice((b"\n", b"\r", b"\x00")) + line
        m.body = body[:k] + line + body[e:]

    def mut_mikey(self, raw):
        r = self.rng
        d = bytearray(raw)
        for _ in range(r.randint(1, 4)):
            c = r.random()
            if not d:
                break
            if c < 0.4:
                i = r.randrange(len(d))
                d[i] ^= 1 << r.randrange(8)
            elif c < 0.6:
                i = r.randrange(len(d))
                d[i] = r.choice((0, 1, 0x7F, 0x80, 0xFF, 0xFE, 0x10, 0x20))
            elif c < 0.75:
                del d[r.randrange(len(d)):]
            elif c < 0.85:
                i = r.randrange(len(d))
                d[i:i] = os.urandom(r.randrange(1, 64))
            else:
                i = r.randrange(len(d))
                j = r.randrange(i, min(len(d), i + 64) + 1)
                d[i:i] = d[i:j]
        return bytes(d)

    def m_mikey_bytes(self, m):
        """A well-formed encoding of a damaged I_MESSAGE: reaches the MIKEY decoder."""
        body = m.body
        for raw, enc in ((self.mg, self.bg), (self.mw, self.bw)):
            if enc in body:
                m.body = body.replace(enc, base64.b64encode(self.mut_mikey(raw)), 1)
                return
            if raw in body:
                m.body = body.replace(raw, self.mut_mikey(raw), 1)
                return

    def m_multipart(self, m):
        r = self.rng
        ct = m.find(b"Content-Type")
        mb = re.search(rb'boundary="?([^";\r\n]+)"?', m.hdrs[ct[0]][2], re.I) if ct else None
        if not mb:
            return
        bd = mb.group(1)
        c = r.random()
        if c < 0.15:
            m.hdrs[ct[0]][2] = re.sub(rb';\s*boundary="?[^";]*"?', b"", m.hdrs[ct[0]][2], flags=re.I)
        elif c < 0.25:
            m.hdrs[ct[0]][2] += b";boundary=" + r.choice((b"other", bd, b"", b"x" * 71, b'"' + bd + b'"'))
        elif c < 0.35:
            m.hdrs[ct[0]][2] = m.hdrs[ct[0]][2].replace(bd, r.choice((b"x" * 71, b"x" * 70, b"", b'"', b"-",
                                                                      bd[:-1], bd + b"0")))
        elif c < 0.5:
            m.body = m.body.replace(b"--" + bd + b"--", r.choice((b"", b"--" + bd, b"--" + bd + b"-")))
        elif c < 0.6:
            m.body = m.body.replace(b"--" + bd + CRLF, b"--" + bd + CRLF + b"--" + bd + CRLF, 1)
        elif c < 0.7:
            m.body = m.body.replace(CRLF + CRLF, CRLF, r.randint(1, 2))
        elif c < 0.8:
            m.body = m.body.replace(b"Content-Type: application/mikey",
                                    b"Content-Type: application/mikey\r\nContent-Type: application/sdp", 1)
        elif c < 0.9:
            # nest deeper than the reader allows, same boundary or new ones
            inner = m.body
            for d in range(r.randint(2, 6)):
                nb = bd if r.random() < 0.3 else b"n%d%s" % (d, bd)
                inner = multipart([([b"Content-Type: multipart/mixed;boundary=" + bd], inner)], nb)
                bd = nb
            m.body = inner
            m.hdrs[ct[0]][2] = b"multipart/mixed;boundary=" + bd
        else:
            m.body = m.body.replace(b"\r\n", b"\n")

    def m_coding(self, m):
        r = self.rng
        ce = m.find(b"Content-Encoding")
        c = r.random()
        if c < 0.25 and m.body:
            m.body = gzip.compress(m.body)
            m.hdrs.insert(r.randrange(len(m.hdrs) + 1), [b"Content-Encoding", b": ",
                                                         r.choice((b"gzip", b"x-gzip", b"GZIP", b"deflate"))])
        elif c < 0.4:
            val = r.choice((b"gzip, gzip", b"gzip,gzip,gzip,gzip,gzip", b"identity", b"br", b"compress",
                            b"gzip;q=1", b"", b",,,,", b"deflate, gzip", b"gzip, identity, gzip"))
            if ce:
                m.hdrs[ce[0]][2] = val
            else:
                m.hdrs.append([b"Content-Encoding", b": ", val])
        elif c < 0.55:
            m.body = self.bomb
            if not ce:
                m.hdrs.append([b"Content-Encoding", b": ", b"gzip"])
        elif c < 0.8 and ce and m.body:
            d = bytearray(m.body)
            for _ in range(r.randint(1, 4)):
                i = r.randrange(len(d))
                d[i] ^= 1 << r.randrange(8)
            m.body = bytes(d)
        elif m.body:
            m.body = m.body[: r.randrange(len(m.body))]

    def m_ctype(self, m):
        r = self.rng
        ct = m.find(b"Content-Type")
        val = r.choice((b"application/mikey", b"application/sdp", b"multipart/mixed", b"multipart/mixed;boundary=",
                        b"multipart/related;boundary=x;type=application/sdp", b"text/plain", b"", b"/", b"a/",
                        b"application/SDP;charset=utf-8", b"MULTIPART/MIXED; BOUNDARY=sfb", b"application/*",
                        KRR_CT, b"application/mikey;x=" + b"y" * 300, b'application/sdp;q="unterminated'))
        if ct and r.random() < 0.8:
            if r.random() < 0.2:
                del m.hdrs[ct[0]]
            else:
                m.hdrs[ct[0]][2] = val
        else:
            m.hdrs.append([b"Content-Type", b": ", val])

    def m_start(self, m):
        r = self.rng
        if m.start.startswith(b"SIP/"):
            m.start = r.choice((b"SIP/2.0 488", b"SIP/2.0 488 ", b"SIP/2.1 200 OK", b"SIP/2.0  200 OK",
                                b"sip/2.0 200 OK", b"SIP/2.0 2000 OK", b"SIP/2.0 20 OK", b"SIP/2.0 488 " + b"x" * 500,
                                m.start.lower(), m.start + b"\x00"))
            return
        method, _, rest = m.start.partition(b" ")
        uri, _, ver = rest.rpartition(b" ")
        c = r.random()
        if c < 0.3:
            method = r.choice((b"INVITE", b"invite", b"Invite", b"FOO", b"INVITE\x00", b"", b"I" * 200,
                               b"ACK", b"CANCEL", b"BYE", b"PRACK", b"PUBLISH", b"UPDATE"))
        elif c < 0.7:
            uri = r.choice((b"sips:bob@partner.example", b"tel:+123456", b"sip:", b"<sip:bob@partner.example>",
                            b"sip:bob@[::1]:%d" % self.sink, b"sip:bob@[::1", b"sip:@", b"urn:service:sos",
                            b"sip:bob@partner.example;maddr=127.0.0.1", b"sip:bob@127.0.0.1:0",
                            b"sip:bob@127.0.0.1:%d;transport=sctp" % self.sink, b"sip:bob@256.1.1.1",
                            b"sip:bob@partner.example?Route=%3Csip:x%3E", b"sip:%62ob@partner.example",
                            b"sip:bob@" + b"a." * 120 + b"example", b"sip:bob@127.0.0.1:%d;lr" % self.dport,
                            b"sip:127.0.0.1:%d" % self.dport, b"*"))
        else:
            ver = r.choice((b"SIP/2.1", b"SIP/1.0", b"sip/2.0", b"SIP/2.0 ", b"HTTP/1.1", b"SIP/2", b""))
        m.start = method + b" " + uri + b" " + ver

    def m_via(self, m):
        r = self.rng
        idx = m.find(b"Via")
        if not idx:
            m.hdrs.insert(0, [b"Via", b": ", b"SIP/2.0/UDP 127.0.0.1:%d" % self.dport])
            return
        i = r.choice(idx)
        v = m.hdrs[i][2]
        c = r.random()
        if c < 0.3:
            m.hdrs[i][2] = re.sub(rb";branch=[^;,]*", r.choice((b"", b";branch=", b";branch=abc", b";branch=z9hG4bK",
                                                                 b";branch=z9hG4bK" + b"x" * 300)), v, count=1)
        elif c < 0.5:
            m.hdrs[i][2] = v + r.choice((b";received=", b";received=::1", b";rport=0", b";rport=99999",
                                         b";maddr=127.0.0.1", b";ttl=256", b";received=bogus.example",
                                         b";rport=" + r.choice(EXTREMES), b";branch=z9hG4bKdup", b";;;"))
        elif c < 0.7:
            m.hdrs[i][2] = re.sub(rb"127\.0\.0\.1", r.choice((b"[::1]", b"localhost", b"host.nowhere.example",
                                                               b"127.0.0.256", b"", b"[::1", b"0.0.0.0")), v, count=1)
        elif c < 0.85:
            m.hdrs[i][2] = re.sub(rb"SIP/2\.0/\w+", r.choice((b"SIP/2.0/SCTP", b"SIP/2.0/TLS", b"SIP/2.0/WS",
                                                               b"SIP/2.0/", b"SIP/3.0/UDP", b"sip/2.0/udp")), v, count=1)
        else:
            del m.hdrs[i]

    def m_fromto(self, m):
        r = self.rng
        idx = m.find(b"From") + m.find(b"To")
        if not idx:
            return
        i = r.choice(idx)
        m.hdrs[i][2] = r.choice((
            b"<sip:x@y>", b"sip:alice@home.example;tag=1;tag=2", b'"\\"" <sip:a@b>;tag=1', b"<>", b"",
            b"<sip:bob@partner.example>;tag=", b'"' + b"x" * 500 + b'" <sip:a@b>', b"<sip:a@b;tag=1",
            m.hdrs[i][2] + b";tag=dup", m.hdrs[i][2].replace(b"<", b"").replace(b">", b""),
            b"<tel:+1234>;tag=9", b"<sip:" + b"a" * 1000 + b"@b>"))

    def m_callid(self, m):
        idx = m.find(b"Call-ID")
        val = self.rng.choice((b"", b"a b c", b"@", b"x" * 2000, b"\x01\x02", b"a@b@c", b"<id>"))
        if idx:
            m.hdrs[idx[0]][2] = val
        else:
            m.hdrs.append([b"Call-ID", b": ", val])

    def m_drop(self, m):
        for _ in range(self.rng.randint(1, 3)):
            i = self.pick_hdr(m)
            if i is not None:
                del m.hdrs[i]

    def m_value_bytes(self, m):
        i = self.pick_hdr(m)
        if i is None:
            return
        v = m.hdrs[i][2]
        k = self.rng.randrange(len(v) + 1)
        m.hdrs[i][2] = v[:k] + self.rng.choice(FUNNY) + v[k:]

    def m_body_bytes(self, m):
        if m.body:
            d = bytearray(m.body)
            for _ in range(self.rng.randint(1, 8)):
                i = self.rng.randrange(len(d))
                d[i] = self.rng.randrange(256)
            m.body = bytes(d)

    def m_splice_hdr(self, m):
        other = self.seed((b"UDP", 5060))
        if other.hdrs:
            m.hdrs.insert(self.rng.randrange(len(m.hdrs) + 1), list(self.rng.choice(other.hdrs)))
        if self.rng.random() < 0.3:
            m.body = other.body

    # ---- byte-level mutations (after serialising) ----

    def bytes_mutate(self, d):
        r = self.rng
        d = bytearray(d)
        for _ in range(r.randint(1, 3)):
            if not d:
                break
            c = r.random()
            if c < 0.3:
                for _ in range(r.randint(1, 8)):
                    i = r.randrange(len(d))
                    d[i] ^= 1 << r.randrange(8)
            elif c < 0.5:
                i = r.randrange(len(d))
                d[i:i + 1] = r.choice(FUNNY)
            elif c < 0.65:
                del d[r.randrange(len(d)):]
            elif c < 0.8:
                i = r.randrange(len(d) + 1)
                d[i:i] = os.urandom(r.choice((1, 2, 4, 16, 100)))
            elif c < 0.9:
                i = r.randrange(len(d))
                del d[i:i + r.randint(1, 64)]
            else:
                i = r.randrange(len(d))
                j = min(len(d), i + r.randint(1, 200))
                d[j:j] = d[i:j]
        return bytes(d)

    def make(self, me, mutate=True):
        """One message for the transport me=(b'UDP'|b'TCP', port): (wire bytes, seed kind)."""
        m = self.seed(me)
        if not mutate:
            return m.wire(), m.kind
        r = self.rng
        x = r.random()
        if x < 0.04:
            return m.wire(), m.kind
        if x < 0.85:
            for _ in range(r.choice((1, 1, 1, 2, 2, 3, 4))):
                y = r.randrange(self.mweights[-1])
                for i, w in enumerate(self.mweights):
                    if y < w:
                        self.mutators[i][1](m)
                        break
        d = m.wire()
        if x >= 0.6:
            d = self.bytes_mutate(d)
        return d, m.kind

    def probe(self, me, tag=b"p"):
        cid, br, ft = self.ids()
        cid = b"probe-" + cid
        m = Msg(b"OPTIONS sip:%s:%d SIP/2.0" % (self.host, self.dport),
                [(b"Via", self.via(me, br)), (b"Max-Forwards", b"70"),
                 (b"From", b"<sip:sipfuzz@home.example>;tag=" + ft),
                 (b"To", b"<sip:%s:%d>;tag=probe" % (self.host, self.dport)),
                 (b"Call-ID", cid), (b"CSeq", b"1 OPTIONS"), (b"Content-Length", LEN)])
        return m.wire(), cid

    def clean_invite(self, me, cid):
        m = self.request(b"INVITE", self.ruri_bob(), me, b"application/sdp", sdp_body([self.bg]), cid=cid)
        return m.wire()


# ---------------------------------------------------------------------------------------------
# Wire helpers
# ---------------------------------------------------------------------------------------------

HDR_RE = re.compile(rb"^([A-Za-z-]+|[a-zA-Z])[ \t]*:[ \t]*(.*)$")


def split_msg(data):
    """(start line, [(lower name, value, raw line)], body) of a well-formed message, or None."""
    k = data.find(b"\r\n\r\n")
    if k < 0:
        return None
    lines = data[:k].split(b"\r\n")
    hdrs = []
    for ln in lines[1:]:
        if ln[:1] in (b" ", b"\t") and hdrs:
            n, v, raw = hdrs[-1]
            hdrs[-1] = (n, v + b" " + ln.strip(), raw + b"\r\n" + ln)
            continue
        mm = HDR_RE.match(ln)
        if mm:
            hdrs.append((mm.group(1).lower(), mm.group(2).strip(), ln))
    return lines[0], hdrs, data[k + 4:]


def hval(hdrs, name, compact=None):
    for n, v, _ in hdrs:
        if n == name or (compact and n == compact):
            return v
    return None


def frame_clean(data):
    """Whether a TCP peer reading data frames it as exactly one message (conservatively)."""
    k = data.find(b"\r\n\r\n")
    if k < 0 or b"\n\n" in data[:k + 2] or b"\r\r" in data[:k] or b"\x00" in data[:k]:
        return False
    if data.startswith((b"\r", b"\n", b" ", b"\t")):
        return False
    cl = None
    for ln in data[:k].split(b"\r\n")[1:]:
        low = ln.lower()
        if low.startswith(b"content-length") or low.startswith(b"l:") or low.startswith(b"l ") or \
                low.startswith(b"l\t"):
            if cl is not None:
                return False
            mm = re.match(rb"^(?:content-length|l)[ \t]*:[ \t]*(\d{1,7})[ \t]*$", low)
            if not mm:
                return False
            cl = int(mm.group(1))
        elif ln[:1] in (b" ", b"\t") or b":" not in ln:
            return False
    return cl is not None and k + 4 + cl == len(data)


class StreamReader:
    """SIP messages out of a TCP byte stream (Content-Length framing)."""

    def __init__(self):
        self.buf = b""

    def feed(self, data):
        self.buf += data
        out = []
        while True:
            k = self.buf.find(b"\r\n\r\n")
            if k < 0:
                if len(self.buf) > 1 << 20:
                    self.buf = b""
                break
            head = self.buf[:k]
            mm = re.search(rb"(?im)^(?:content-length|l)[ \t]*:[ \t]*(\d+)", head)
            cl = int(mm.group(1)) if mm else 0
            if len(self.buf) < k + 4 + cl:
                break
            out.append(self.buf[:k + 4 + cl])
            self.buf = self.buf[k + 4 + cl:]
        return out


def ack_for(resp):
    """The ACK a UAC sends for a non-2xx final response to INVITE (RFC 3261 17.1.1.3), or None."""
    p = split_msg(resp)
    if not p or not p[0].startswith(b"SIP/2.0 "):
        return None
    try:
        st = int(p[0].split(b" ")[1])
    except (ValueError, IndexError):
        return None
    cseq = hval(p[1], b"cseq")
    if st < 300 or not cseq or not cseq.endswith(b"INVITE"):
        return None
    via = hval(p[1], b"via", b"v")
    fr, to, cid = hval(p[1], b"from", b"f"), hval(p[1], b"to", b"t"), hval(p[1], b"call-id", b"i")
    if not (via and fr and to and cid):
        return None
    via = via.split(b",")[0]
    return b"ACK sip:bob@partner.example SIP/2.0\r\nVia: %s\r\nMax-Forwards: 70\r\nFrom: %s\r\nTo: %s\r\n" \
           b"Call-ID: %s\r\nCSeq: %s ACK\r\nContent-Length: 0\r\n\r\n" % (via, fr, to, cid, cseq.split(b" ")[0])


# ---------------------------------------------------------------------------------------------
# The daemon under test
# ---------------------------------------------------------------------------------------------

class Daemon:
    """Liveness, sanitizer reports and memory of the daemon (by PID and its stderr log)."""

    def __init__(self, pid, log):
        self.pid = pid
        self.log = log
        self.off = 0
        self.report = None

    def alive(self):
        try:
            with open("/proc/%d/stat" % self.pid, "rb") as f:
                st = f.read()
            return st[st.rfind(b")") + 2:st.rfind(b")") + 3] not in (b"Z", b"X")
        except OSError:
            return False

    def rss_kb(self):
        try:
            with open("/proc/%d/status" % self.pid) as f:
                for ln in f:
                    if ln.startswith("VmRSS:"):
                        return int(ln.split()[1])
        except OSError:
            pass
        return -1

    def cpu_s(self):
        try:
            with open("/proc/%d/stat" % self.pid, "rb") as f:
                st = f.read()
            fields = st[st.rfind(b")") + 2:].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return -1.0

    def sanitizer(self):
        """The first sanitizer or assertion line logged since the last call, or None."""
        if not self.log:
            return None
        try:
            with open(self.log, "rb") as f:
                f.seek(max(0, self.off - 200))
                data = f.read()
        except OSError:
            return None
        self.off += max(0, len(data) - min(200, self.off))
        mm = SAN_RE.search(data)
        if mm:
            s = data.rfind(b"\n", 0, mm.start()) + 1
            e = data.find(b"\n", mm.end())
            self.report = data[s:e if e > 0 else len(data)].decode("latin1")
            return self.report
        return None


# ---------------------------------------------------------------------------------------------
# Channels to the daemon
# ---------------------------------------------------------------------------------------------

class Stats:
    def __init__(self):
        self.c = collections.Counter()


class UdpChan:
    name = "udp"

    def __init__(self, host, port, st):
        self.addr = (host, port)
        self.st = st
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        self.s.bind((host, 0))
        self.s.setblocking(False)
        self.me = (b"UDP", self.s.getsockname()[1])
        self.conn = 0

    def send(self, data):
        if len(data) > 65000:
            data = data[:65000]
            self.st.c["udp_cut"] += 1
        for _ in range(200):
            try:
                self.s.sendto(data, self.addr)
                return data
            except BlockingIOError:
                time.sleep(0.001)
            except OSError as e:
                self.st.c["udp_send_err_%d" % e.errno] += 1
                return data
        self.st.c["udp_send_block"] += 1
        return data

    def drain(self, want=None):
        """Read what came back; ACK non-2xx final responses to INVITE; True when want was seen."""
        seen = False
        while True:
            try:
                d = self.s.recv(70000)
            except (BlockingIOError, InterruptedError):
                return seen
            except OSError:
                return seen
            self.st.c["udp_recv"] += 1
            if want and want in d and d.startswith(b"SIP/2.0 200"):
                seen = True
                continue
            if d.startswith(b"SIP/2.0 "):
                a = ack_for(d)
                if a:
                    try:
                        self.s.sendto(a, self.addr)
                        self.st.c["udp_ack"] += 1
                    except OSError:
                        pass

    def wait(self, want, timeout):
        end = time.monotonic() + timeout
        while True:
            if self.drain(want):
                return True
            left = end - time.monotonic()
            if left <= 0:
                return False
            sel = selectors.DefaultSelector()
            sel.register(self.s, selectors.EVENT_READ)
            sel.select(min(left, 0.2))
            sel.close()

    def close(self):
        self.s.close()


class TcpChan:
    name = "tcp"

    def __init__(self, host, port, st):
        self.addr = (host, port)
        self.st = st
        self.s = None
        self.conn = 0
        self.me = None
        self.rd = None
        self.connect()

    def connect(self):
        if self.s:
            try:
                self.s.close()
            except OSError:
                pass
        self.s = None
        for _ in range(50):
            try:
                s = socket.create_connection(self.addr, timeout=2)
                break
            except OSError:
                self.st.c["tcp_connect_fail"] += 1
                time.sleep(0.1)
        else:
            raise ConnectionError("cannot connect to the daemon over TCP")
        s.setblocking(False)
        self.s = s
        self.conn += 1
        self.st.c["tcp_connects"] += 1
        self.me = (b"TCP", s.getsockname()[1])
        self.rd = StreamReader()

    def send(self, data):
        """Send all of data; a reset or a stalled connection is replaced by a new one."""
        view = memoryview(data)
        end = time.monotonic() + 5
        while view:
            try:
                n = self.s.send(view)
                view = view[n:]
            except BlockingIOError:
                self.drain()
                if time.monotonic() > end:
                    self.st.c["tcp_send_stall"] += 1
                    self.connect()
                    return data
                sel = selectors.DefaultSelector()
                sel.register(self.s, selectors.EVENT_WRITE)
                sel.select(0.05)
                sel.close()
            except OSError:
                self.st.c["tcp_send_reset"] += 1
                self.connect()
                return data
        return data

    def drain(self, want=None):
        seen = False
        while True:
            try:
                d = self.s.recv(1 << 16)
            except (BlockingIOError, InterruptedError):
                return seen
            except OSError:
                self.st.c["tcp_reset"] += 1
                self.connect()
                return seen
            if not d:
                self.st.c["tcp_closed_by_daemon"] += 1
                self.connect()
                return seen
            for msg in self.rd.feed(d):
                self.st.c["tcp_recv"] += 1
                if want and want in msg and msg.startswith(b"SIP/2.0 200"):
                    seen = True
                    continue
                a = ack_for(msg) if msg.startswith(b"SIP/2.0 ") else None
                if a:
                    try:
                        self.s.send(a)
                        self.st.c["tcp_ack"] += 1
                    except OSError:
                        pass

    def wait(self, want, timeout):
        end = time.monotonic() + timeout
        while True:
            c0 = self.conn
            if self.drain(want):
                return True
            if self.conn != c0:
                return False  # the connection the probe went on is gone
            left = end - time.monotonic()
            if left <= 0:
                return False
            sel = selectors.DefaultSelector()
            sel.register(self.s, selectors.EVENT_READ)
            sel.select(min(left, 0.2))
            sel.close()

    def close(self):
        if self.s:
            self.s.close()


# ---------------------------------------------------------------------------------------------
# fuzz
# ---------------------------------------------------------------------------------------------

def load_inputs(a):
    mg = base64.b64decode(open(a.mikey_good).read().strip())
    mw = base64.b64decode(open(a.mikey_wrong).read().strip())
    krrs = [open(f, "rb").read() for f in (a.krr or [])]
    return mg, mw, krrs


def save_window(outdir, window, why, extra):
    os.makedirs(outdir, exist_ok=True)
    for idx, tr, conn, data in window:
        with open(os.path.join(outdir, "%08d-%s-c%d.sip" % (idx, tr, conn)), "wb") as f:
            f.write(data)
    with open(os.path.join(outdir, "finding.json"), "w") as f:
        json.dump(dict(why=why, messages=len(window), **extra), f, indent=1)


# Stalls: when a probe waits longer than STALL["after"] seconds, the daemon's stack (gdb) and
# whether it spends CPU, in STALL["dir"]/stall-N.txt (STALL["max"] of them at most).
STALL = {"dir": None, "after": 2.0, "n": 0, "max": 12}


def stall_snapshot(dmn, why):
    if not STALL["dir"] or STALL["n"] >= STALL["max"] or not dmn.alive():
        return
    STALL["n"] += 1
    c0, t0 = dmn.cpu_s(), time.monotonic()
    time.sleep(0.5)
    busy = (dmn.cpu_s() - c0) / (time.monotonic() - t0)
    try:
        bt = subprocess.run(["gdb", "-p", str(dmn.pid), "-batch", "-ex", "bt 40"], capture_output=True,
                            timeout=30).stdout.decode("latin1", "replace")
    except (OSError, subprocess.TimeoutExpired) as e:
        bt = "(no gdb stack: %s)" % e
    fn = os.path.join(STALL["dir"], "stall-%d.txt" % STALL["n"])
    with open(fn, "w") as f:
        f.write("%s\ndaemon CPU over 0.5 s: %.0f%%, RSS %d kB\n\n%s" % (why, busy * 100, dmn.rss_kb(), bt))
    print("sipfuzz: a probe waits: %s, daemon CPU %.0f%%: stack in %s" % (why, busy * 100, fn), flush=True)


def probe_ok(ch, gen, timeout, st, lat, dmn=None):
    """An in-dialog OPTIONS to the daemon itself, answered 200 within timeout (seconds)."""
    t0 = time.monotonic()
    data, cid = gen.probe(ch.me)
    ch.send(data)
    ok = False
    snapped = False
    paused = 0.0  # time the daemon spent stopped by gdb: not the daemon's
    while time.monotonic() - t0 - paused < timeout:
        if ch.wait(cid, min(0.5, timeout)):
            ok = True
            break
        if dmn and not dmn.alive():
            break
        if dmn and not snapped and time.monotonic() - t0 > STALL["after"]:
            snapped = True
            s0 = time.monotonic()
            stall_snapshot(dmn, "%s probe unanswered for %.1f s" % (ch.name, s0 - t0))
            paused = time.monotonic() - s0
    st.c["%s_probes" % ch.name] += 1
    if ok:
        lat.append(time.monotonic() - t0 - paused)
    return ok


def cmd_fuzz(a):
    mg, mw, krrs = load_inputs(a)
    seed = a.seed
    rng = random.Random("%d/%d" % (seed, a.start))
    gen = Gen(rng, a.host, a.port, a.sink, mg, mw, krrs, "%d" % seed)
    st = Stats()
    dmn = Daemon(a.pid, a.log) if a.pid else None
    os.makedirs(a.out, exist_ok=True)
    if a.stall_after > 0:
        STALL["dir"], STALL["after"] = a.out, a.stall_after
    trs = [t for t in a.transports.split(",") if t]
    chans = {}
    if "udp" in trs:
        chans["udp"] = UdpChan(a.host, a.port, st)
    if "tcp" in trs:
        chans["tcp"] = TcpChan(a.host, a.port, st)
    window = collections.deque(maxlen=a.window)
    lat = []
    lat_max = 0.0
    sent = collections.Counter()
    kinds = collections.Counter()
    rss_log = open(os.path.join(a.out, "rss.tsv"), "a")
    if a.start == 0:
        rss_log.write("messages\tseconds\trss_kb\tdaemon_cpu_s\trate_msg_s\tprobe_ms_max\n")
    t0 = time.monotonic()
    last_report = t0
    finding = None
    i = a.start
    end = a.start + a.count
    chunk = a.sync_every
    rot = 0
    deadline = t0 + a.max_seconds if a.max_seconds else None

    def fail(why):
        nonlocal finding
        fdir = os.path.join(a.out, "finding-%d" % i)
        time.sleep(0.5)  # let a dying daemon finish its report
        rep = dmn.sanitizer() if dmn else None
        extra = dict(index=i, seed=seed, pid=a.pid, alive=dmn.alive() if dmn else None,
                     sanitizer=rep or (dmn.report if dmn else None), stats=dict(st.c),
                     sent=dict(sent))
        save_window(fdir, window, why, extra)
        finding = dict(dir=fdir, why=why, **extra)
        print("sipfuzz: FINDING after %d messages: %s (window of %d in %s)" % (i, why, len(window), fdir),
              flush=True)

    while i < end:
        if deadline and time.monotonic() > deadline:
            print("sipfuzz: time is up after %d messages" % (i - a.start), flush=True)
            break
        tr = trs[rot % len(trs)]
        rot += 1
        ch = chans[tr]
        n = min(chunk, end - i)
        try:
            for _ in range(n):
                data, kind = gen.make(ch.me)
                if tr == "tcp":
                    alone = a.skip_known and risky(data)
                    if alone:
                        ch.drain()
                        ch.connect()
                        st.c["tcp_alone_known"] += 1
                    c0 = ch.conn
                    window.append((i, tr, c0, data))
                    ch.send(data)
                    if alone or not frame_clean(data):
                        # the daemon cannot tell where the next message starts: a new connection
                        ch.drain()
                        ch.connect()
                        st.c["tcp_reframe"] += 1
                else:
                    data = ch.send(data)
                    window.append((i, tr, 0, data))
                kinds[kind] += 1
                sent[tr] += 1
                i += 1
                if i % 16 == 0:
                    ch.drain()
            # flow control and hang detection: the probe on this channel (over TCP on a new
            # connection: the last one may hold a message whose end the daemon still awaits;
            # TCP's own flow control paces the messages)
            if tr == "tcp":
                ch.drain()
                ch.connect()
            ok = probe_ok(ch, gen, a.probe_timeout, st, lat, dmn)
            if not ok and tr == "tcp" and (not dmn or dmn.alive()):
                st.c["tcp_probe_retry"] += 1
                ch.connect()
                ok = probe_ok(ch, gen, a.probe_timeout, st, lat, dmn)
            if not ok and (not dmn or dmn.alive()):
                st.c["%s_probe_retry" % tr] += 1
                ok = probe_ok(ch, gen, a.probe_timeout, st, lat, dmn)
        except ConnectionError:
            ok = False
            if dmn is None or dmn.alive():
                time.sleep(1)
        if dmn and not dmn.alive():
            fail("the daemon died")
            break
        if not ok:
            fail("no 200 to the %s probe within %gs (twice): a hang" % (tr, a.probe_timeout))
            break
        if lat:
            lat_max = max(lat_max, max(lat))
        if (i - a.start) % a.check_every < chunk or i >= end:
            rep = dmn.sanitizer() if dmn else None
            if rep:
                fail("sanitizer report: " + rep)
                break
            now = time.monotonic()
            rate = (i - a.start) / max(now - t0, 1e-6)
            rss_log.write("%d\t%.1f\t%d\t%.1f\t%.0f\t%.1f\n" % (i, now - t0, dmn.rss_kb() if dmn else -1,
                                                               dmn.cpu_s() if dmn else -1, rate,
                                                               max(lat) * 1000 if lat else 0))
            rss_log.flush()
            lat = []
            if now - last_report >= a.report_every:
                last_report = now
                print("sipfuzz: %d sent (udp %d, tcp %d), %.0f msg/s, daemon RSS %d kB, probe max %.0f ms" %
                      (i, sent["udp"], sent["tcp"], rate, dmn.rss_kb() if dmn else -1, lat_max * 1000),
                      flush=True)
    elapsed = time.monotonic() - t0
    # a last look for a sanitizer report
    if not finding and dmn:
        time.sleep(0.2)
        if not dmn.alive():
            fail("the daemon died")
        else:
            rep = dmn.sanitizer()
            if rep:
                fail("sanitizer report: " + rep)
    clean = {}
    if not finding and a.clean:
        for tr, ch in chans.items():
            clean[tr] = clean_invite(a, gen, ch)
    summary = dict(seed=seed, start=a.start, next=i, sent=dict(sent), seconds=round(elapsed, 1),
                   rate=round((i - a.start) / max(elapsed, 1e-6), 1), probe_max_ms=round(lat_max * 1000, 1),
                   stats=dict(st.c), kinds=dict(kinds), finding=finding, clean=clean,
                   rss_kb_end=dmn.rss_kb() if dmn else None)
    with open(os.path.join(a.out, "run-%d.json" % a.start), "w") as f:
        json.dump(summary, f, indent=1)
    print("sipfuzz: %d sent (udp %d, tcp %d) in %.1f s, %.0f msg/s; %s" % (
        i - a.start, sent["udp"], sent["tcp"], elapsed, summary["rate"],
        "FINDING: " + finding["why"] if finding else "no finding"), flush=True)
    for ch in chans.values():
        ch.close()
    if finding:
        return 3
    if a.clean and not all(clean.values()):
        return 4
    return 0


def sink_query(port, q, timeout=2.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(q, ("127.0.0.1", port + 1))
        return s.recv(65536)
    except OSError:
        return b""
    finally:
        s.close()


def clean_invite(a, gen, ch):
    """A clean INVITE (a good I_MESSAGE) forwarded to the sink: its 200 back, and the sink saw it."""
    cid = b"clean-%d-%s-%d" % (a.seed, ch.name.encode(), int(time.time()))
    data = gen.clean_invite(ch.me, cid)
    got = False
    for _ in range(5):
        ch.send(data)  # the same branch: a retransmission for the daemon
        if ch.wait(cid, 2.0):
            got = True
            break
    seen = sink_query(a.sink, b"SEEN " + cid) == b"yes"
    print("sipfuzz: clean INVITE over %s: %s, %s" % (
        ch.name, "200 OK came back" if got else "no 200 OK", "the next hop saw it" if seen else
        "the next hop did NOT see it"), flush=True)
    return got and seen


# ---------------------------------------------------------------------------------------------
# sink (the next hop)
# ---------------------------------------------------------------------------------------------

class Sink:
    def __init__(self, a):
        self.a = a
        self.rng = random.Random("sink/%d" % a.seed)
        krrs = [open(f, "rb").read() for f in (a.krr or [])] or [b"<KmsRedirectResponse/>"]
        self.krrs = krrs
        mg = base64.b64decode(open(a.mikey_good).read().strip()) if a.mikey_good else b"\x01"
        self.gen = Gen(self.rng, "127.0.0.1", a.port, a.port, mg, mg, krrs, "sink")
        self.sel = selectors.DefaultSelector()
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.udp.bind(("127.0.0.1", a.port))
        self.udp.setblocking(False)
        self.ctl = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.ctl.bind(("127.0.0.1", a.port + 1))
        self.lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lst.bind(("127.0.0.1", a.port))
        self.lst.listen(128)
        self.lst.setblocking(False)
        self.sel.register(self.udp, selectors.EVENT_READ, "udp")
        self.sel.register(self.ctl, selectors.EVENT_READ, "ctl")
        self.sel.register(self.lst, selectors.EVENT_READ, "lst")
        self.conns = {}
        self.timers = []  # (when, seq, key)
        self.pending = {}  # key -> (dest, response bytes)
        self.seq = 0
        self.seen = set()
        self.ring = collections.deque(maxlen=a.window)
        self.st = collections.Counter()

    def respond(self, dest, data):
        if self.a.skip_known and dest[0] == "tcp" and risky(data):
            self.st["skipped_known"] += 1
            return
        self.ring.append((time.time(), data))
        self.st["sent"] += 1
        if dest[0] == "udp":
            try:
                self.udp.sendto(data[:65000], dest[1])
            except OSError:
                self.st["send_err"] += 1
        else:
            c = dest[1]
            if c.fileno() >= 0:
                try:
                    c.sendall(data)
                except OSError:
                    self.st["send_err"] += 1

    def build(self, hdrs, status, reason, totag, ctype=None, body=b"", extra=()):
        out = [b"SIP/2.0 %d %s" % (status, reason)]
        for n, v, raw in hdrs:
            if n in (b"via", b"v", b"from", b"f", b"call-id", b"i", b"cseq"):
                out.append(raw)
            elif n in (b"to", b"t"):
                out.append(raw if b"tag=" in raw or status == 100 else raw + b";tag=" + totag)
        out += list(extra)
        if ctype:
            out.append(b"Content-Type: " + ctype)
        out.append(b"Content-Length: %d" % len(body))
        return CRLF.join(out) + CRLF + CRLF + body

    def maybe_mutate(self, data):
        if self.rng.random() >= self.a.mutate:
            return data
        self.st["mutated"] += 1
        p = split_msg(data)
        if p and self.rng.random() < 0.7:
            m = Msg(p[0], [(raw.split(b":", 1)[0], raw.split(b":", 1)[1].strip()) for _, _, raw in p[1]
                           if b":" in raw and not raw.lower().startswith((b"content-length", b"l:"))] +
                    [(b"Content-Length", LEN)], p[2])
            for _ in range(self.rng.randint(1, 3)):
                y = self.rng.randrange(self.gen.mweights[-1])
                for i, w in enumerate(self.gen.mweights):
                    if y < w:
                        self.gen.mutators[i][1](m)
                        break
            data = m.wire()
        if self.rng.random() < 0.4:
            data = self.gen.bytes_mutate(data)
        return data

    def on_request(self, dest, data):
        p = split_msg(data)
        if not p:
            return
        start, hdrs, body = p
        if start.startswith(b"SIP/"):
            self.st["responses_in"] += 1
            return
        self.st["requests_in"] += 1
        method = start.split(b" ", 1)[0]
        cid = hval(hdrs, b"call-id", b"i") or b""
        via = hval(hdrs, b"via", b"v") or b""
        mb = re.search(rb"branch=([^;, ]+)", via)
        key = (cid, mb.group(1) if mb else b"")
        if cid.startswith(b"clean-"):
            self.seen.add(cid)
            if len(self.seen) > 10000:
                self.seen.clear()
        h = zlib.crc32(key[0] + b"|" + key[1])
        totag = b"s%08x" % h
        if method == b"ACK":
            return
        if method == b"CANCEL":
            self.respond(dest, self.build(hdrs, 200, b"OK", totag))
            pend = self.pending.pop(key, None)
            if pend:
                self.respond(pend[0], pend[2])
            return
        r = h / 4294967296.0 if not cid.startswith(b"clean-") else -1
        contact = b"Contact: <sip:bob@127.0.0.1:%d>" % self.a.port
        sdp = sdp_body()
        if method != b"INVITE":
            if r < 0.85 or method == b"BYE":
                out = self.build(hdrs, 200, b"OK", totag, extra=[contact])
            elif r < 0.95 and body:
                out = self.build(hdrs, 488, b"Not Acceptable Here", totag, KRR_CT, self.rng.choice(self.krrs))
            else:
                out = self.build(hdrs, self.rng.choice((404, 405, 481, 500, 503)), b"Nope", totag)
            self.respond(dest, self.maybe_mutate(out) if r >= 0 else out)
            return
        ok200 = self.build(hdrs, 200, b"OK", totag, b"application/sdp", sdp, extra=[contact])
        if r < 0:
            self.respond(dest, ok200)
            return
        krr = self.build(hdrs, 488, b"Not Acceptable Here", totag, KRR_CT, self.rng.choice(self.krrs),
                         extra=[b'Warning: 399 kms.partner.example "KMS redirect"'])
        if r < 0.5:
            self.respond(dest, self.maybe_mutate(ok200))
        elif r < 0.65:
            self.respond(dest, self.maybe_mutate(krr))
        elif r < 0.8:
            self.respond(dest, self.maybe_mutate(self.build(hdrs, 180, b"Ringing", totag, extra=[
                contact, b"RSeq: 1", b"Require: 100rel"])))
            self.later(dest, key, ok200 if r < 0.75 else krr,
                       self.build(hdrs, 487, b"Request Terminated", totag))
        elif r < 0.85:
            self.respond(dest, self.maybe_mutate(self.build(hdrs, 183, b"Session Progress", totag,
                                                            b"application/sdp", sdp, extra=[contact])))
            self.respond(dest, self.maybe_mutate(krr))
        elif r < 0.93:
            self.respond(dest, self.maybe_mutate(self.build(
                hdrs, self.rng.choice((486, 603, 404, 480, 500)), b"No", totag)))
        else:
            self.respond(dest, self.build(hdrs, 100, b"Trying", totag))
            self.later(dest, key, ok200, self.build(hdrs, 487, b"Request Terminated", totag))

    def later(self, dest, key, final, cancelled):
        self.seq += 1
        self.pending[key] = (dest, final, cancelled)
        heapq.heappush(self.timers, (time.monotonic() + self.rng.uniform(0.2, 1.5), self.seq, key))

    def run_timers(self):
        now = time.monotonic()
        while self.timers and self.timers[0][0] <= now:
            _, _, key = heapq.heappop(self.timers)
            pend = self.pending.pop(key, None)
            if pend:
                self.respond(pend[0], self.maybe_mutate(pend[1]))

    def on_ctl(self):
        q, addr = self.ctl.recvfrom(4096)
        if q.startswith(b"SEEN "):
            ans = b"yes" if q[5:].strip() in self.seen else b"no"
        elif q.startswith(b"STATS"):
            ans = json.dumps(dict(self.st)).encode()
        elif q.startswith(b"DUMP "):
            d = q[5:].strip().decode()
            os.makedirs(d, exist_ok=True)
            for k, (t, data) in enumerate(self.ring):
                with open(os.path.join(d, "%05d-%.3f.sip" % (k, t)), "wb") as f:
                    f.write(data)
            ans = b"dumped %d" % len(self.ring)
        else:
            ans = b"?"
        self.ctl.sendto(ans, addr)

    def run(self):
        stop = []
        signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
        deadline = time.monotonic() + self.a.max_seconds if self.a.max_seconds else None
        print("sink: listening on 127.0.0.1:%d (udp, tcp), control udp %d" % (self.a.port, self.a.port + 1),
              flush=True)
        while not stop:
            if deadline and time.monotonic() > deadline:
                break
            to = 0.5
            if self.timers:
                to = max(0.0, min(to, self.timers[0][0] - time.monotonic()))
            for key, ev in self.sel.select(to):
                what = key.data
                if what == "udp":
                    for _ in range(256):
                        try:
                            d, addr = self.udp.recvfrom(70000)
                        except (BlockingIOError, InterruptedError):
                            break
                        try:
                            self.on_request(("udp", addr), d)
                        except Exception as e:  # noqa: BLE001 - the sink must not die of a message
                            self.st["error_" + type(e).__name__] += 1
                elif what == "ctl":
                    self.on_ctl()
                elif what == "lst":
                    try:
                        c, _ = self.lst.accept()
                    except OSError:
                        continue
                    c.setblocking(False)
                    self.conns[c] = StreamReader()
                    self.sel.register(c, selectors.EVENT_READ, "conn")
                    self.st["tcp_accepted"] += 1
                else:
                    c = key.fileobj
                    try:
                        d = c.recv(1 << 16)
                    except (BlockingIOError, InterruptedError):
                        continue
                    except OSError:
                        d = b""
                    if not d:
                        self.sel.unregister(c)
                        self.conns.pop(c, None)
                        c.close()
                        continue
                    for msg in self.conns[c].feed(d):
                        try:
                            self.on_request(("tcp", c), msg)
                        except Exception as e:  # noqa: BLE001
                            self.st["error_" + type(e).__name__] += 1
            self.run_timers()
        print("sink: stopping: %s" % json.dumps(dict(self.st)), flush=True)
        return 0


def cmd_sink(a):
    return Sink(a).run()


# ---------------------------------------------------------------------------------------------
# replay and minimise
# ---------------------------------------------------------------------------------------------

def list_window(d):
    out = []
    for fn in sorted(os.listdir(d)):
        mm = re.match(r"^(\d+)-(udp|tcp)-c(\d+)\.sip$", fn)
        if mm:
            out.append((int(mm.group(1)), mm.group(2), int(mm.group(3)), open(os.path.join(d, fn), "rb").read()))
    return out


class Fresh:
    """A daemon started for a replay: cmd (a list), its stderr in log; waits for its ready line."""

    def __init__(self, cmd, log):
        self.log = log
        self.f = open(log, "wb")
        self.p = subprocess.Popen(cmd, stdout=self.f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        end = time.monotonic() + 15
        while time.monotonic() < end:
            if b"ready (" in open(log, "rb").read():
                break
            if self.p.poll() is not None:
                raise RuntimeError("the daemon exited at start (see %s)" % log)
            time.sleep(0.05)
        self.d = Daemon(self.p.pid, log)

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.f.close()
        return self.p.returncode


def send_burst(a, msgs, st):
    """Send msgs (idx, tr, conn, data) the way the fuzzer did: in order, at full speed, one TCP
    connection per conn number, closed after a message that does not frame cleanly."""
    udp = UdpChan(a.host, a.port, st)
    tcp = None
    cur = None
    try:
        for idx, tr, conn, data in msgs:
            if tr == "udp":
                udp.send(data)
                udp.drain()
                continue
            if tcp is None or conn != cur:
                if tcp:
                    tcp.close()
                tcp = TcpChan(a.host, a.port, st)
                cur = conn
            tcp.send(data)
            tcp.drain()
            if not frame_clean(data):
                tcp.close()
                tcp = None
    except ConnectionError:
        pass
    finally:
        udp.close()
        if tcp:
            tcp.close()


def replay_burst(a, msgs, log):
    """msgs sent as a burst to a fresh daemon, then probes; True when it failed."""
    fr = Fresh(a.daemon_cmd, log)
    st = Stats()
    send_burst(a, msgs, st)
    gen = Gen(random.Random(2), a.host, a.port, a.sink, b"\x01", b"\x01", [], "replay")
    udp = UdpChan(a.host, a.port, st)
    time.sleep(0.5)
    ok = fr.d.alive() and probe_ok(udp, gen, a.probe_timeout, st, [])
    time.sleep(0.3)
    bad = not ok or not fr.d.alive() or bool(fr.d.sanitizer())
    udp.close()
    fr.stop()
    return bad


def replay_seq(a, msgs, log, settle=0.01, keep=False):
    """Send msgs (idx, tr, conn, data) to a fresh daemon, a probe after each; the index of the first
    message after which it is dead, hung or reported, or None.  (The Fresh daemon too when keep.)"""
    fr = Fresh(a.daemon_cmd, log)
    rng = random.Random(1)
    gen = Gen(rng, a.host, a.port, a.sink, b"\x01", b"\x01", [], "replay")
    st = Stats()
    udp = UdpChan(a.host, a.port, st)
    tcp = None
    cur_conn = None
    bad = None
    lat = []
    try:
        for k, (idx, tr, conn, data) in enumerate(msgs):
            if tr == "udp":
                udp.send(data)
            else:
                if tcp is None or conn != cur_conn:
                    if tcp:
                        tcp.close()
                    tcp = TcpChan(a.host, a.port, st)
                    cur_conn = conn
                tcp.send(data)
            time.sleep(settle)
            ok = probe_ok(udp, gen, a.probe_timeout, st, lat, fr.d)
            if tcp:
                tcp.drain()
            if not ok or not fr.d.alive() or fr.d.sanitizer():
                time.sleep(0.5)
                bad = k
                break
    finally:
        udp.close()
        if tcp:
            tcp.close()
        if not keep:
            fr.stop()
    if bad is None and fr.d.sanitizer():
        bad = len(msgs) - 1
    return (bad, fr) if keep else bad


def cmd_minimise(a):
    msgs = list_window(a.dir)
    if not msgs:
        print("minimise: no messages in %s" % a.dir)
        return 2
    outd = os.path.join(a.dir, "min")
    os.makedirs(outd, exist_ok=True)
    logn = [0]

    def trial(seq):
        logn[0] += 1
        log = os.path.join(outd, "daemon-%03d.log" % logn[0])
        bad = replay_seq(a, seq, log)
        return bad, log

    print("minimise: replaying %d messages one at a time against a fresh daemon" % len(msgs), flush=True)
    bad, log = trial(msgs)
    if bad is None:
        # one at a time is not enough: as a burst, the way they were sent; then halves (ddmin-like)
        def burst(seq):
            logn[0] += 1
            log = os.path.join(outd, "daemon-%03d.log" % logn[0])
            return replay_burst(a, seq, log), log
        print("minimise: not one at a time; as a burst, the way they were sent", flush=True)
        b0, log0 = burst(msgs)
        sd = os.path.join(a.dir, "sink-sent")
        if not b0 and os.path.isdir(sd):
            # what the sink sent the daemon (responses, some mutated) may be the trigger
            sink_msgs = [(k, "udp", 0, open(os.path.join(sd, fn), "rb").read())
                         for k, fn in enumerate(sorted(os.listdir(sd)))]
            print("minimise: not the fuzzer's messages; the %d the sink sent, one at a time" % len(sink_msgs),
                  flush=True)
            bad, log = trial(sink_msgs)
            if bad is not None:
                b1, log1 = trial([sink_msgs[bad]])
                if b1 is not None:
                    return write_min(outd, [sink_msgs[bad]], log1, "one of the sink's answers, alone")
                return write_min(outd, sink_msgs[:bad + 1], log, "the sink's answers up to it")
        if not b0:
            print("minimise: the window does not reproduce it on its own (a timing or sink-response effect?)")
            json.dump(dict(reproduced=False), open(os.path.join(outd, "result.json"), "w"))
            return 1
        seq, slog = msgs, log0
        n = 2
        while len(seq) >= 2 and logn[0] < a.max_trials:
            size = (len(seq) + n - 1) // n
            chunks = [seq[k:k + size] for k in range(0, len(seq), size)]
            done = False
            for c in chunks:
                bc, lc = burst(c)
                if bc:
                    seq, slog, n, done = c, lc, 2, True
                    break
            if not done:
                for k in range(len(chunks)):
                    rest = [m for j, c in enumerate(chunks) if j != k for m in c]
                    bc, lc = burst(rest)
                    if bc:
                        seq, slog, n, done = rest, lc, max(n - 1, 2), True
                        break
            if not done:
                if n >= len(seq):
                    break
                n = min(len(seq), n * 2)
        return write_min(outd, seq, slog, "burst")
    print("minimise: reproduced: the daemon fails after message %d (%08d)" % (bad, msgs[bad][0]), flush=True)
    culprit = msgs[bad]
    # alone?
    b1, log1 = trial([culprit])
    if b1 is not None:
        seq, slog = [culprit], log1
    else:
        # the shortest tail before it that reproduces
        seq, slog = msgs[:bad + 1], log
        k = 2
        while k <= bad + 1:
            b2, log2 = trial(msgs[bad + 1 - k:bad + 1])
            if b2 is not None:
                seq, slog = msgs[bad + 1 - k:bad + 1], log2
                break
            k *= 2
        # drop what is not needed, one at a time (not the last)
        j = 0
        while j < len(seq) - 1 and logn[0] < a.max_trials:
            b3, log3 = trial(seq[:j] + seq[j + 1:])
            if b3 is not None:
                seq, slog = seq[:j] + seq[j + 1:], log3
            else:
                j += 1
    return write_min(outd, seq, slog, "one at a time")


def write_min(outd, seq, slog, how):
    for idx, tr, conn, data in seq:
        with open(os.path.join(outd, "%08d-%s-c%d.sip" % (idx, tr, conn)), "wb") as f:
            f.write(data)
    rep = open(slog, "rb").read()
    mm = SAN_RE.search(rep)
    res = dict(reproduced=True, how=how, messages=[m[0] for m in seq], transports=[m[1] for m in seq],
               daemon_log=slog, sanitizer=mm and rep[rep.rfind(b"\n", 0, mm.start()) + 1:][:6000].decode("latin1"))
    json.dump(res, open(os.path.join(outd, "result.json"), "w"), indent=1)
    print("minimise: %d message(s) trigger it (%s): %s; log %s" % (len(seq), how, res["messages"], slog),
          flush=True)
    return 0


def cmd_replay(a):
    """Each file over the transport(s), a probe after each; exit 1 at the first failure."""
    rng = random.Random(1)
    gen = Gen(rng, a.host, a.port, a.sink, b"\x01", b"\x01", [], "replay")
    st = Stats()
    dmn = Daemon(a.pid, a.log) if a.pid else None
    udp = UdpChan(a.host, a.port, st)
    rc = 0
    for fn in a.files:
        data = open(fn, "rb").read()
        for tr in a.transports.split(","):
            if tr == "udp":
                udp.send(data)
            else:
                t = TcpChan(a.host, a.port, st)
                t.send(data)
                time.sleep(0.05)
                t.drain()
                t.close()
            ok = probe_ok(udp, gen, a.probe_timeout, st, [])
            alive = dmn.alive() if dmn else True
            rep = dmn.sanitizer() if dmn else None
            good = ok and alive and not rep
            print("%s %s over %s: probe %s, %s%s" % ("ok" if good else "FAIL", os.path.basename(fn), tr,
                                                     "200" if ok else "unanswered", "alive" if alive else "DEAD",
                                                     ", " + rep if rep else ""), flush=True)
            if not good:
                rc = 1
    udp.close()
    return rc


def cmd_seeds(a):
    mg, mw, krrs = load_inputs(a)
    gen = Gen(random.Random(a.seed), a.host, a.port, a.sink, mg, mw, krrs, "seed")
    os.makedirs(a.out, exist_ok=True)
    for _, fn in gen.seeds:
        m = fn((b"UDP", 5062))
        with open(os.path.join(a.out, fn.__name__ + ".sip"), "wb") as f:
            f.write(m.wire())
    print("seeds: %d written to %s" % (len(gen.seeds), a.out))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="mode", required=True)

    def common(p):
        p.add_argument("--host", default="127.0.0.1")
        p.add_argument("--port", type=int, required=True, help="the daemon's port (UDP and TCP)")
        p.add_argument("--sink", type=int, default=0, help="the next hop's port (sink mode: its own)")
        p.add_argument("--seed", type=int, default=1)
        p.add_argument("--probe-timeout", type=float, default=5.0)

    p = sub.add_parser("fuzz")
    common(p)
    p.add_argument("--count", type=int, default=1000000)
    p.add_argument("--start", type=int, default=0, help="index of the first message (a resumed run)")
    p.add_argument("--transports", default="udp,tcp")
    p.add_argument("--out", required=True)
    p.add_argument("--pid", type=int, default=0)
    p.add_argument("--log", default="")
    p.add_argument("--mikey-good", required=True)
    p.add_argument("--mikey-wrong", required=True)
    p.add_argument("--krr", action="append")
    p.add_argument("--sync-every", type=int, default=200, help="messages between probes")
    p.add_argument("--check-every", type=int, default=2000, help="messages between sanitizer/RSS checks")
    p.add_argument("--window", type=int, default=2000, help="messages kept for a finding")
    p.add_argument("--report-every", type=float, default=60.0)
    p.add_argument("--max-seconds", type=float, default=0)
    p.add_argument("--no-clean", dest="clean", action="store_false")
    p.add_argument("--stall-after", type=float, default=2.0,
                   help="seconds a probe waits before the daemon's stack is taken (0: never)")
    p.add_argument("--skip-known", action="store_true",
                   help="do not send what triggers the failures known and not fixed yet (see risky)")

    p = sub.add_parser("sink")
    common(p)
    p.add_argument("--krr", action="append")
    p.add_argument("--mikey-good", default="")
    p.add_argument("--mutate", type=float, default=0.2, help="share of answers mutated")
    p.add_argument("--skip-known", action="store_true")
    p.add_argument("--window", type=int, default=500)
    p.add_argument("--max-seconds", type=float, default=0)

    p = sub.add_parser("minimise")
    common(p)
    p.add_argument("--dir", required=True)
    p.add_argument("--max-trials", type=int, default=60)
    p.add_argument("daemon_cmd", nargs=argparse.REMAINDER)

    p = sub.add_parser("replay")
    common(p)
    p.add_argument("--transports", default="udp,tcp")
    p.add_argument("--pid", type=int, default=0)
    p.add_argument("--log", default="")
    p.add_argument("files", nargs="+")

    p = sub.add_parser("seeds")
    common(p)
    p.add_argument("--out", required=True)
    p.add_argument("--mikey-good", required=True)
    p.add_argument("--mikey-wrong", required=True)
    p.add_argument("--krr", action="append")

    a = ap.parse_args()
    if a.mode != "sink":
        # SIGTERM unwinds (finally: a daemon started for a replay is stopped)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if a.mode == "minimise":
        if a.daemon_cmd and a.daemon_cmd[0] == "--":
            a.daemon_cmd = a.daemon_cmd[1:]
        if not a.daemon_cmd:
            ap.error("minimise needs the daemon's command line after --")
    return {"fuzz": cmd_fuzz, "sink": cmd_sink, "minimise": cmd_minimise, "replay": cmd_replay,
            "seeds": cmd_seeds}[a.mode](a)


if __name__ == "__main__":
    sys.exit(main())
