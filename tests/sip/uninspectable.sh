# What the proxy cannot read it does not forward blindly (policy.on_uninspectable): through the
# primary daemon to a next-hop sink, INVITEs whose body cannot be inspected are answered 415
# with Accept-Encoding: identity (a content coding it cannot undo, a decompression bomb) or 400
# with a Warning naming the fault (a multipart body without a boundary, a body without
# Content-Type, bad base64 in key-mgmt), and audited; a gzip body it can read is decided like
# any other.  With on_uninspectable = "forward" (after SIGHUP) the same request goes on.
. "$top_srcdir/tests/sip/lib_sip.sh"

need_sip
need python3
sip_ports 26400
sip_keys
L=127.0.0.1
SIPNET=$top_srcdir/tests/sip/sipnet.py

python3 "$SIPNET" sink "$P_UAS" "$WORK/sink.log" &
SIP_PIDS="$SIP_PIDS $!"
wait_bound udp "$P_UAS"
: >"$WORK/sink.log"
make_conf primary.conf role=primary port="$P_PRI" transports=udp next_hop="sip:$L:$P_UAS;transport=udp"
start_daemon primary.conf primary || { done_testing; exit 1; }

GOOD=$(mikey_b64 "$ALICE" "$BOB" "$H" "$P")
BAD=$(mikey_b64 "$ALICE" "$BOB" "$H" kms.wrong.example)
sdp() { printf 'v=0\r\no=- 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\na=key-mgmt:mikey %s\r\nm=audio 9 RTP/SAVP 0\r\n' "$L" "$L" "$1"; }

# invite NAME HEADERS BODY-FILE: $WORK/NAME.sip, an INVITE from alice to bob with that body.
invite() {
	{
		printf 'INVITE %s SIP/2.0\r\nVia: SIP/2.0/UDP %s:9;rport;branch=z9hG4bK-%s\r\n' "$BOB" "$L" "$1"
		printf 'Max-Forwards: 70\r\nFrom: <%s>;tag=a1\r\nTo: <%s>\r\nCall-ID: %s\r\nCSeq: 1 INVITE\r\n' "$ALICE" "$BOB" "$1"
		printf 'Contact: <sip:alice@%s:9>\r\n%bContent-Length: %d\r\n\r\n' "$L" "$2" "$(wc -c <"$3")"
		cat "$3"
	} >"$WORK/$1.sip"
}
send() { python3 "$SIPNET" send "$P_PRI" "$WORK/$1.sip" 5 >"$WORK/$1.out" 2>&1 || :; }
status() { awk 'NR == 1 { print $2 }' "$WORK/$1.sip.final" 2>/dev/null; }
in_sink() { grep -v '^ACK ' "$WORK/sink.log" | grep -c " $1\$" || :; }

# ---- bodies it cannot read: refused ----
sdp "$BAD" >"$WORK/bad.sdp"
invite coding 'Content-Type: application/sdp\r\nContent-Encoding: br\r\n' "$WORK/bad.sdp"
send coding
is "an unknown content coding (br): 415" "$(status coding)" 415
is "the 415 says Accept-Encoding: identity" "$(sip_hdr "$WORK/coding.sip.final" Accept-Encoding)" identity
is "the 415's Warning names the fault" "$(sip_hdr "$WORK/coding.sip.final" Warning)" \
	"399 $L \"cannot inspect the body: Content-Encoding that cannot be decoded at body offset 0\""

# 8 MiB of blanks before the key, gzipped: it inflates past the 1 MiB bound.
python3 -c 'import gzip, sys; sys.stdout.buffer.write(gzip.compress(b" " * (8 << 20) + open(sys.argv[1], "rb").read()))' \
	"$WORK/bad.sdp" >"$WORK/bomb.gz"
invite bomb 'Content-Type: application/sdp\r\nContent-Encoding: gzip\r\n' "$WORK/bomb.gz"
send bomb
is "a gzip bomb: 415" "$(status bomb)" 415
like "its Warning says it decodes past the bound" "$(sip_hdr "$WORK/bomb.sip.final" Warning)" "body decodes to more than 1 MiB"

{ printf -- '--b\r\nContent-Type: application/sdp\r\n\r\n'; cat "$WORK/bad.sdp"; printf -- '\r\n--b--\r\n'; } >"$WORK/mp.body"
invite noboundary 'Content-Type: multipart/mixed\r\n' "$WORK/mp.body"
send noboundary
is "a multipart body without a boundary: 400" "$(status noboundary)" 400
like "its Warning names the fault" "$(sip_hdr "$WORK/noboundary.sip.final" Warning)" \
	"cannot inspect the body: multipart body without a valid boundary parameter at body offset 0"
invite notype '' "$WORK/bad.sdp"
send notype
is "a body without Content-Type: 400" "$(status notype)" 400
printf 'v=0\r\na=key-mgmt:mikey %s!!\r\n' "$GOOD" >"$WORK/b64.sdp"
invite badb64 'Content-Type: application/sdp\r\n' "$WORK/b64.sdp"
send badb64
is "bad base64 in key-mgmt: 400" "$(status badb64)" 400
is "none of them reached the next hop" \
	"$(($(in_sink coding) + $(in_sink bomb) + $(in_sink noboundary) + $(in_sink notype) + $(in_sink badb64)))" 0
is "each refusal is audited with the rule uninspectable" \
	"$(for c in coding bomb noboundary notype badb64; do audit_of primary.conf "$c" | "$JQ" -r '"\(.decision) \(.rule) \(.status)"'; done | paste -sd, -)" \
	"reject uninspectable 415,reject uninspectable 415,reject uninspectable 400,reject uninspectable 400,reject uninspectable 400"

# ---- a body it can read, gzipped: decided ----
python3 -c 'import gzip, sys; sys.stdout.buffer.write(gzip.compress(open(sys.argv[1], "rb").read()))' "$WORK/bad.sdp" >"$WORK/bad.gz"
invite gzipbad 'Content-Type: application/sdp\r\nContent-Encoding: gzip\r\n' "$WORK/bad.gz"
send gzipbad
is "gzip with a rogue receiver KMS inside: 488 with a KRR" \
	"$(status gzipbad) $(sip_hdr "$WORK/gzipbad.sip.final" Content-Type c)" "488 $KRR_CT"
sdp "$GOOD" | python3 -c 'import gzip, sys; sys.stdout.buffer.write(gzip.compress(sys.stdin.buffer.read()))' >"$WORK/good.gz"
invite gzipgood 'Content-Type: application/sdp\r\nContent-Encoding: gzip\r\n' "$WORK/good.gz"
send gzipgood
is "gzip with an acceptable key: forwarded (the sink's 486)" "$(status gzipgood) $(in_sink gzipgood)" "486 1"

# ---- on_uninspectable = forward ----
make_conf primary.conf role=primary port="$P_PRI" transports=udp next_hop="sip:$L:$P_UAS;transport=udp" \
	uninspectable=forward
hup primary && master_log primary | grep -q "generation 2" || not_ok "reload logged"
invite coding2 'Content-Type: application/sdp\r\nContent-Encoding: br\r\n' "$WORK/bad.sdp"
send coding2
is "on_uninspectable = forward: the br body goes on (the sink's 486)" "$(status coding2) $(in_sink coding2)" "486 1"
is "... audited as forwarded, rule uninspectable" \
	"$(audit_of primary.conf coding2 | "$JQ" -r '"\(.decision) \(.rule)"')" "forward uninspectable"
stop_daemon primary
done_testing
