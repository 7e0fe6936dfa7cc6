# End-to-end test of the command line `mcx-sdtool mikey decode|build`: exit codes, round trips
# through every output and input kind, UIDs recomputed in shell, SIP/SDP/multipart inputs, errors.
. "$top_srcdir/tests/lib.sh"
need "$JQ" sha256sum od base64 date awk
LC_ALL=C
export LC_ALL

# ---- helpers ----

# is NAME GOT EXPECTED: one exact comparison, with both values shown on failure.
is() {
	if [ "$2" = "$3" ]; then
		ok "$1"
	else
		not_ok "$1"
		printf '#   got:      %s\n#   expected: %s\n' "$2" "$3"
		[ ! -s "$WORK/err" ] || sed 's/^/#   stderr: /' "$WORK/err"
	fi
}

# jqo FILTER [FILE]: compact jq output over $WORK/out (or FILE), one line per input object.
jqo() { "$JQ" -c "$1" "${2:-$WORK/out}" 2>&1 || true; }

# err_is NAME RC TEXT: the last run exited RC, printed nothing on stdout, and its stderr is
# one "mcx-sdtool: " line containing TEXT (a fixed string).
err_is() {
	got="rc=$RC out=$(wc -c <"$WORK/out" | tr -d ' ') lines=$(wc -l <"$WORK/err" | tr -d ' ')"
	if grep -q '^mcx-sdtool: ' "$WORK/err" && grep -F -q -- "$3" "$WORK/err"; then
		got="$got text=yes"
	else
		got="$got text=no"
	fi
	is "$1" "$got" "rc=$2 out=0 lines=1 text=yes"
}

size() { wc -c <"$1" | tr -d ' '; }

# crlf: LF line ends to CRLF.
crlf() { awk '{ printf "%s\r\n", $0 }'; }

# TS 33.180 F.2.1 UID, recomputed here: SHA-256 of 0x00 || P0 L0 || P1 L1 || ... || P5 L5.
uid_len() { printf "\\$(printf '%03o' $(($1 / 256)))\\$(printf '%03o' $(($1 % 256)))"; }
uid_str() { printf '%s' "$1"; uid_len "$(printf '%s' "$1" | wc -c)"; }
uid_int() {	# fewest big-endian octets, 0 as one 0x00 octet
	n=$1 esc='' k=0
	while :; do
		esc="\\$(printf '%03o' $((n % 256)))$esc"
		k=$((k + 1))
		n=$((n / 256))
		if [ "$n" -eq 0 ]; then break; fi
	done
	printf "$esc"
	uid_len "$k"
}
# uid_hex USER_URI KMS_URI PERIOD OFFSET PERIOD_NO
uid_hex() {
	{
		printf '\000'
		uid_str MIKEY-SAKKE-UID
		uid_str "$1"
		uid_str "$2"
		uid_int "$3"
		uid_int "$4"
		uid_int "$5"
	} | sha256sum | cut -c1-64
}
# 32-bit NTP seconds of an ISO time (the MIKEY T payload's seconds field), and back.
ntp_of() { echo $((($(date -u -d "$1" +%s) + 2208988800) % 4294967296)); }
iso_of_unix() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }

# ---- the shell UID itself, on published vectors (vectors/crypto.md 5.2) ----

is "shell UID: TS 33.180 F.2.1.2 example" \
    "$(uid_hex sip:user@example.org kms.example.org 2592000 0 1388)" \
    3a81fb14c3b1d0fe43c9c577104d55a6d81788bfd2f09743c4557746a5a0353b
is "shell UID: vendor vector with offset 45920000" \
    "$(uid_hex sip:user@example.org kms.example.org 25920000 45920000 20393844)" \
    8dc05540167345538475101514f4eabd384abd6ba665782abb312ecaf05934e1

# ---- build, every --output, decoded back by auto-detection and by --input ----

IDRI=sip:alice@home.example IDRR=sip:bob@partner.example
KMSI=kms.home.example KMSR=kms.partner.example
RAND=00112233445566778899aabbccddeeff
TIME=2026-11-29T10:00:00Z
set -- --idri "$IDRI" --idrr "$IDRR" --idrkmsi "$KMSI" --idrkmsr "$KMSR" \
    --csb-id 0x16992638 --time "$TIME" --rand "$RAND"
for o in raw base64 sdp sip; do
	run "$SDTOOL" mikey build "$@" --output "$o"
	is "build --output $o exits 0, nothing on stderr" "$RC $(size "$WORK/err")" "0 0"
	cp "$WORK/out" "$WORK/m.$o"
done

# Length from the wire format: HDR 10, T 10, RAND 2+16, 4 IDR 5+len, SAKKE 5+273, SIGN 2+129.
LEN=$((10 + 10 + 18 + 5 + ${#IDRI} + 5 + ${#IDRR} + 5 + ${#KMSI} + 5 + ${#KMSR} + 278 + 131))
NTP_HEX=$(printf '%08x' "$(ntp_of "$TIME")")
is "raw output: $LEN octets" "$(size "$WORK/m.raw")" "$LEN"
is "raw output: HDR v1, SAKKE, next T, PRF 1, CSB ID, #CS 0, map empty" \
    "$(od -An -tx1 -N10 "$WORK/m.raw" | tr -d ' \n')" 011a0501169926380001
is "raw output: T payload is NTP-UTC $TIME" \
    "$(od -An -tx1 -j10 -N10 "$WORK/m.raw" | tr -d ' \n')" "0b00${NTP_HEX}00000000"
is "raw output: RAND payload carries --rand" \
    "$(od -An -tx1 -j20 -N18 "$WORK/m.raw" | tr -d ' \n')" "0e10$RAND"
is "raw output: ends with SIGN ECCSI, 129 octets" \
    "$(od -An -tx1 -j$((LEN - 131)) -N2 "$WORK/m.raw" | tr -d ' \n')" 2081
is "base64 output is the base64 of the raw output" \
    "$(cat "$WORK/m.base64")" "$(base64 <"$WORK/m.raw" | tr -d '\n')"
B64=$(cat "$WORK/m.base64")
is "sdp output: one session-level key-mgmt line with that base64, every line CRLF" \
    "$(grep -c "^a=key-mgmt:mikey $B64.\$" "$WORK/m.sdp") $(head -n 1 "$WORK/m.sdp" | od -An -c | tr -d ' \n') $(awk '!/\r$/' "$WORK/m.sdp" | wc -l | tr -d ' ')" \
    "1 v=0\r\n 0"
is "sip output: INVITE to --idrr whose body is the sdp output, Content-Length right" \
    "$(head -n 1 "$WORK/m.sip" | tr -d '\r') $(grep '^Content-Length:' "$WORK/m.sip" | tr -d '\r') $(tail -c "$(size "$WORK/m.sdp")" "$WORK/m.sip" | cmp -s - "$WORK/m.sdp" && echo same)" \
    "INVITE $IDRR SIP/2.0 Content-Length: $(size "$WORK/m.sdp") same"

SUMMARY='[.idri,.idrr,.idrkmsi,.idrkmsr,.uidi,.uidr,.csb_id,.timestamp,.ts_type,.ts_value,.rand,.length,.signed_len,.sign_len,.sign_type_name,.sakke_params,.sakke_id_scheme,.cs_count,.cs_id_map_type,[.payloads[].type],[.payloads[]|select(.type=="IDR")|.role]]'
WANT="[\"$IDRI\",\"$IDRR\",\"$KMSI\",\"$KMSR\",null,null,379135544,\"$TIME\",\"NTP-UTC\",\"${NTP_HEX}00000000\",\"$RAND\",$LEN,$((LEN - 129)),129,\"ECCSI\",1,2,0,\"empty\",[\"T\",\"RAND\",\"IDR\",\"IDR\",\"IDR\",\"IDR\",\"SAKKE\",\"SIGN\"],[\"IDRi\",\"IDRr\",\"IDRkmsi\",\"IDRkmsr\"]]"
for o in raw base64 sdp sip; do
	case $o in
	raw) src=raw ;;
	base64) src=base64 ;;
	*) src=sdp-session ;;
	esac
	for how in auto "--input $o"; do
		if [ "$how" = auto ]; then
			run "$SDTOOL" mikey decode --json "$WORK/m.$o"
		else
			run "$SDTOOL" mikey decode --json --input "$o" "$WORK/m.$o"
		fi
		is "decode ($how) of build --output $o: exit 0, one line" \
		    "$RC $(wc -l <"$WORK/out" | tr -d ' ') $(size "$WORK/err")" "0 1 0"
		is "decode ($how) of build --output $o: source $src, no media, no part" \
		    "$(jqo '[.source,has("media"),has("part")]')" "[\"$src\",false,false]"
		is "decode ($how) of build --output $o: every field as built" "$(jqo "$SUMMARY")" "$WANT"
	done
done

# Decode from stdin: no FILE, and FILE "-".
run sh -c '"$1" mikey decode --json <"$2"' sh "$SDTOOL" "$WORK/m.raw"
is "decode from stdin (no FILE)" "$RC $(jqo '[.source,.length,.idri]')" "0 [\"raw\",$LEN,\"$IDRI\"]"
run sh -c '"$1" mikey decode --json - <"$2"' sh "$SDTOOL" "$WORK/m.sip"
is "decode from stdin (FILE -)" "$RC $(jqo '[.source,.length,.idrkmsr]')" "0 [\"sdp-session\",$LEN,\"$KMSR\"]"
run sh -c 't=$1; shift; "$t" mikey build "$@" --output raw | "$t" mikey decode --json' sh "$SDTOOL" "$@"
is "build | decode pipe" "$RC $(jqo "$SUMMARY")" "0 $WANT"

# Other accepted option forms.
run sh -c '"$1" mikey build --idri a --idrr b --idrkmsi k --idrkmsr l --time 2026-11-29T12:00:00+02:00 --csb-id 4294967295 | "$1" mikey decode --json' sh "$SDTOOL"
is "--time with a +02:00 offset, --csb-id 2^32-1" "$(jqo '[.timestamp,.csb_id]')" "[\"$TIME\",4294967295]"
run sh -c '"$1" mikey build --idri a --idrr b --idrkmsi k --idrkmsr l | "$1" mikey decode --json' sh "$SDTOOL"
is "no --csb-id: random PCK-ID with purpose tag 1; no --rand: 16 random octets" \
    "$(jqo '[(.csb_id / 268435456 | floor), (.rand | test("^[0-9a-f]{32}$"))]')" "[1,true]"
run sh -c '"$1" mikey build --idri "$2" --idrr b --idrkmsi k --idrkmsr l | "$1" mikey decode --json' \
    sh "$SDTOOL" 'sip:"q"\x@a'
is "an IDR with JSON specials comes back intact" "$(jqo .idri)" '"sip:\"q\"\\x@a"'

# ---- identity hiding: UIDs checked against the shell recomputation ----

U=sip:user@example.org K=kms.example.org U2=sip:other@example.net K2=kms.example.net
hide() {	# hide TIME [OPTIONS...]
	t=$1
	shift
	run sh -c 't=$1; shift; "$t" mikey build --hide "$@" | "$t" mikey decode --json' \
	    sh "$SDTOOL" --idri "$U" --idrr "$U2" --idrkmsi "$K" --idrkmsr "$K2" --time "$t" "$@"
}
HIDDEN='[.idri,.idrr,.idrkmsi,.idrkmsr,.uidi,.uidr,([.payloads[]|select(.type=="IDR")|[.role,.role_id,.id_len]])]'
hidden_want() {	# hidden_want PERIOD OFFSET PERIOD_NO
	echo "[null,null,\"$K\",\"$K2\",\"$(uid_hex "$U" "$K" "$1" "$2" "$3")\",\"$(uid_hex "$U2" "$K2" "$1" "$2" "$3")\",[[\"IDRuidi\",8,32],[\"IDRuidr\",9,32],[\"IDRkmsi\",6,${#K}],[\"IDRkmsr\",7,${#K2}]]]"
}

# F.2.1.2: 2014-01-26T10:07:14Z is NTP 3599719634, period 1388 of 30 days.
T1=2014-01-26T10:07:14Z
is "F.2.1.2 time is NTP 3599719634, key period 1388" \
    "$(ntp_of $T1) $(($(ntp_of $T1) / 2592000))" "3599719634 1388"
hide $T1 --key-period 2592000 --key-offset 0
is "--hide at $T1: uidi is the published F.2.1.2 UID" "$(jqo .uidi)" \
    '"3a81fb14c3b1d0fe43c9c577104d55a6d81788bfd2f09743c4557746a5a0353b"'
is "--hide at $T1: no idri/idrr, UIDs = shell SHA-256 (uidr with --idrkmsr)" \
    "$(jqo "$HIDDEN")" "$(hidden_want 2592000 0 1388)"
hide $T1
is "--hide default key period is 2592000 s, offset 0" "$(jqo "$HIDDEN")" "$(hidden_want 2592000 0 1388)"

# Key period 1 is NTP 2592000..5183999: 32-bit NTP seconds wrap in 2036 (era 1).
P1_START=$(iso_of_unix $((4294967296 - 2208988800 + 2592000)))
P0_END=$(iso_of_unix $((4294967296 - 2208988800 + 2592000 - 1)))
is "NTP era 1: key period 1 starts at $P1_START" "$(ntp_of "$P1_START") $(ntp_of "$P0_END")" "2592000 2591999"
hide "$P1_START" --key-period 2592000 --key-offset 0
is "--hide at $P1_START (period 1): uidi is the vendor period-1 vector" "$(jqo '[.timestamp,.uidi]')" \
    "[\"$P1_START\",\"74e2af803ab5d72841bbced0ce319ffe64f6fe23c88a2d258aabcf6ac5658ef4\"]"
is "--hide at $P1_START (period 1): both UIDs = shell SHA-256" "$(jqo "$HIDDEN")" "$(hidden_want 2592000 0 1)"
hide "$P0_END" --key-period 2592000 --key-offset 0
is "--hide one second earlier ($P0_END): period 0 UIDs" "$(jqo "$HIDDEN")" "$(hidden_want 2592000 0 0)"

# An offset: period 25920000 s from NTP 100 on; NTP 25920100 opens period 1.
T3=$(iso_of_unix $((4294967296 - 2208988800 + 25920100)))
hide "$T3" --key-period 25920000 --key-offset 100
is "--hide with --key-offset 100 at NTP 25920100: vendor vector (period 1)" "$(jqo .uidi)" \
    '"3c0ad8828cfae1ad1d08b27cc7b61258c6cfcd405081b68cd778f1e1c7f562a7"'
is "--hide with --key-offset 100: both UIDs = shell SHA-256" "$(jqo "$HIDDEN")" "$(hidden_want 25920000 100 1)"
T4=$(iso_of_unix $((4294967296 - 2208988800 + 25920099)))
hide "$T4" --key-period 25920000 --key-offset 100
is "--hide with --key-offset 100 at NTP 25920099: period 0" "$(jqo "$HIDDEN")" "$(hidden_want 25920000 100 0)"
hide 2014-01-26T10:07:14Z --key-offset 4000000000
is "--hide at a time before --key-offset: exit 1, no UID" \
    "$RC $(grep -c '^mcx-sdtool: cannot derive the UID of sip:user@example.org' "$WORK/err")" "1 1"

run sh -c '"$1" mikey build --idri "$2" --idrr b --idrkmsi "$3" --idrkmsr k --time "$4" --hide | "$1" mikey decode' \
    sh "$SDTOOL" "$U" "$K" "$T1"
is "text output of a hidden message shows IDRuidi as hex" \
    "$(grep -c '^  IDR     @38   IDRuidi  3a81fb14c3b1d0fe43c9c577104d55a6d81788bfd2f09743c4557746a5a0353b$' "$WORK/out")" 1

# ---- the vendor vector ----

VENDOR=$DATA/vendor-pck.b64
base64 -d <"$VENDOR" >"$WORK/vendor.raw"
is "vendor vector is 683 octets (coreutils base64)" "$(size "$WORK/vendor.raw")" 683
VWANT='[683,null,null,"b5c452309219da6a3d805615548d6c1b0f4de45a6b48fb13d9a24d857fc03dc4","780851cda91a9c33f941cd3a2831697e2893264754e363f8a0cef827eb201a81","kms.mydev.streamwide.com","kms.mydev.streamwide.com",554,129,2,1,"ECCSI",379135544,["T","RAND","IDR","IDR","IDR","IDR","SP","SAKKE","GENEXT","SIGN"]]'
VSUM='[.length,.idri,.idrr,.uidi,.uidr,.idrkmsi,.idrkmsr,.signed_len,.sign_len,.sakke_id_scheme,.sakke_params,.sign_type_name,.csb_id,[.payloads[].type]]'
run "$SDTOOL" mikey decode --json "$VENDOR"
is "vendor vector (base64, auto): exit 0, source base64" "$RC $(jqo .source)" '0 "base64"'
is "vendor vector: every field" "$(jqo "$VSUM")" "$VWANT"
VNTP=$(jqo .ts_value | tr -d '"' | cut -c1-8)
is "vendor vector: timestamp is its NTP seconds" "$(jqo .timestamp)" "\"$(iso_of_unix $((0x$VNTP - 2208988800)))\""
is "vendor vector: uidi/uidr = shell UID of alice/bob at period floor(T/16777215)" \
    "$(jqo '[.uidi,.uidr]')" \
    "[\"$(uid_hex sip:alice@streamwide.com kms.mydev.streamwide.com 16777215 0 $((0x$VNTP / 16777215)))\",\"$(uid_hex sip:bob@streamwide.com kms.mydev.streamwide.com 16777215 0 $((0x$VNTP / 16777215)))\"]"
run "$SDTOOL" mikey decode --json --input raw "$WORK/vendor.raw"
is "vendor vector (raw, --input raw): same fields" "$RC $(jqo .source) $(jqo "$VSUM")" "0 \"raw\" $VWANT"

# ---- text output ----

run "$SDTOOL" mikey decode "$top_srcdir/conf/invite-example.sip"
is "text output of conf/invite-example.sip: exit 0, header line" \
    "$RC $(head -n 1 "$WORK/out")" "0 I_MESSAGE 1: 545 octets from sdp-session"
is "text output names IDRkmsi kms.home.example and IDRkmsr kms.wrong.example" \
    "$(grep -c -x -e '  IDR     @93   IDRkmsi  kms.home.example' -e '  IDR     @114  IDRkmsr  kms.wrong.example' \
        -e '  initiator KMS (IDRkmsi): kms.home.example' -e '  receiver KMS (IDRkmsr):  kms.wrong.example' "$WORK/out")" 4

# ---- hand-written SIP inputs ----

VB64=$(tr -d '\n' <"$VENDOR")
sip_head() {	# sip_head CONTENT-TYPE-LINE
	printf '%s\r\n' "INVITE sip:bob@partner.example SIP/2.0" \
	    "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-mcx" \
	    "From: <sip:alice@home.example>;tag=1" "To: <sip:bob@partner.example>" \
	    "Call-ID: cli@test" "CSeq: 1 INVITE" "$1" ""
}

# key-mgmt at media level, two lines: media index is the 0-based m= line.
{
	sip_head "Content-Type: application/sdp"
	crlf <<EOF
v=0
o=- 1 1 IN IP4 192.0.2.1
s=-
t=0 0
m=audio 49170 RTP/SAVP 0
a=rtpmap:0 PCMU/8000
m=video 49172 RTP/SAVP 96
a=key-mgmt:mikey $B64
m=application 49174 udp MCPTT
a=key-mgmt:mikey $VB64
EOF
} >"$WORK/media.sip"
run "$SDTOOL" mikey decode --json "$WORK/media.sip"
is "media-level key-mgmt: two JSON lines, sdp-media with media 1 and 2" \
    "$RC $(jqo '[.source,.media,has("part"),.length,.idrkmsr]' | tr '\n' ' ')" \
    "0 [\"sdp-media\",1,false,$LEN,\"$KMSR\"] [\"sdp-media\",2,false,683,\"kms.mydev.streamwide.com\"] "
run "$SDTOOL" mikey decode "$WORK/media.sip"
is "media-level key-mgmt, text: two I_MESSAGE headers with their m= line" \
    "$(grep '^I_MESSAGE' "$WORK/out" | tr '\n' '|')" \
    "I_MESSAGE 1: $LEN octets from sdp-media (m= line 1)|I_MESSAGE 2: 683 octets from sdp-media (m= line 2)|"

# Compact forms c: and l:; what lies past Content-Length (a broken key-mgmt) is not read.
{
	printf '%s\r\n' "MESSAGE sip:bob@partner.example SIP/2.0" "c: application/sdp" "l: $((5 + 17 + ${#B64} + 2))" ""
	printf 'v=0\r\na=key-mgmt:mikey %s\r\na=key-mgmt:mikey !!!!\r\n' "$B64"
} >"$WORK/compact.sip"
run "$SDTOOL" mikey decode --json "$WORK/compact.sip"
is "compact c: and l: headers" "$RC $(jqo '[.source,.length,.idri]')" "0 [\"sdp-session\",$LEN,\"$IDRI\"]"

# multipart/mixed: an SDP part and a base64 application/mikey part (folded at 76).
{
	sip_head 'Content-Type: multipart/mixed;boundary="b0und4ry"'
	crlf <<EOF
preamble
--b0und4ry
Content-Type: application/sdp

v=0
o=- 1 1 IN IP4 192.0.2.1
s=-
a=key-mgmt:mikey $B64
m=audio 49170 RTP/SAVP 0
--b0und4ry
Content-Type: application/mikey
Content-Transfer-Encoding: base64

$(printf '%s' "$VB64" | fold -w 76)
--b0und4ry
Content-Type: text/plain

nothing here
--b0und4ry--
epilogue
EOF
} >"$WORK/multipart.sip"
run "$SDTOOL" mikey decode --json "$WORK/multipart.sip"
is "multipart: sdp-session in part 1, application/mikey (base64) in part 2" \
    "$RC $(jqo '[.source,has("media"),.part,.length,.idrkmsr]' | tr '\n' ' ')" \
    "0 [\"sdp-session\",false,1,$LEN,\"$KMSR\"] [\"application/mikey\",false,2,683,\"kms.mydev.streamwide.com\"] "
run "$SDTOOL" mikey decode --json --input sip "$WORK/multipart.sip"
is "multipart with --input sip: same two messages" "$RC $(jqo .part | tr '\n' ' ')" "0 1 2 "

# application/mikey as the whole body, binary.
{ printf '%s\r\n' "MESSAGE sip:bob@partner.example SIP/2.0" "Content-Type: application/mikey" ""; cat "$WORK/m.raw"; } >"$WORK/binary.sip"
run "$SDTOOL" mikey decode --json "$WORK/binary.sip"
is "binary application/mikey body: source application/mikey, no part" \
    "$RC $(jqo '[.source,has("part"),.length,.idri]')" "0 [\"application/mikey\",false,$LEN,\"$IDRI\"]"

# No MIKEY at all.
{ sip_head "Content-Type: application/sdp"; printf 'v=0\r\ns=-\r\nm=audio 49170 RTP/SAVP 0\r\n'; } >"$WORK/nomikey.sip"
run "$SDTOOL" mikey decode --json "$WORK/nomikey.sip"
err_is "SIP without MIKEY: exit 1" 1 "no MIKEY I_MESSAGE found in the sip input"
printf 'BYE sip:bob@partner.example SIP/2.0\r\nCall-ID: x\r\n\r\n' >"$WORK/bye.sip"
run "$SDTOOL" mikey decode "$WORK/bye.sip"
err_is "SIP without Content-Type: exit 1" 1 "SIP message without Content-Type"

# ---- bad inputs: exit 1 with the named error and offset ----

# Bad base64 in a key-mgmt line: the offset of the bad character in the body.
sip_head "Content-Type: application/sdp" >"$WORK/h"
printf 'v=0\r\ns=-\r\na=key-mgmt:mikey ARoFARaZ' >"$WORK/p"
{ cat "$WORK/h" "$WORK/p"; printf '*JjgA\r\n'; } >"$WORK/badb64.sip"
run "$SDTOOL" mikey decode "$WORK/badb64.sip"
err_is "bad base64 in key-mgmt: offset of the '*' in the body" 1 "bad base64 at body offset $(size "$WORK/p")"
printf 'v=0\r\ns=-\r\na=key-mgmt:mikey ' >"$WORK/p"
{ cat "$WORK/h" "$WORK/p"; printf 'QQ\r\n'; } >"$WORK/short64.sip"
run "$SDTOOL" mikey decode "$WORK/short64.sip"
err_is "base64 ending mid-group: offset of its end" 1 "bad base64 at body offset $(($(size "$WORK/p") + 2))"
# BUG: data after the padding is reported at the end of the value, not at the 'Q' after '=='.
{ cat "$WORK/h" "$WORK/p"; printf 'QQ==QQ==\r\n'; } >"$WORK/pad64.sip"
run "$SDTOOL" mikey decode "$WORK/pad64.sip"
err_is "base64 with data after its padding: offset of that data" 1 "bad base64 at body offset $(($(size "$WORK/p") + 4))"
printf 'QQ==QQ==\n' >"$WORK/pad.b64"
run "$SDTOOL" mikey decode --input base64 "$WORK/pad.b64"
err_is "--input base64 with data after its padding: offset 4" 1 "bad base64 at offset 4"
printf 'ARoF*ARaZ\n' >"$WORK/bad.b64"
run "$SDTOOL" mikey decode --input base64 "$WORK/bad.b64"
err_is "--input base64 with a '*': offset 4" 1 "bad base64 at offset 4"

# a=key-mgmt:mikey without data: the offset of its line.
printf 'v=0\r\ns=-\r\n' >"$WORK/p"
{ cat "$WORK/h" "$WORK/p"; printf 'a=key-mgmt:mikey \r\n'; } >"$WORK/nodata.sip"
run "$SDTOOL" mikey decode "$WORK/nodata.sip"
err_is "a=key-mgmt:mikey with no data" 1 "a=key-mgmt:mikey without data at body offset $(size "$WORK/p")"

# A good message then a truncated one: the good one is printed, the bad one named, exit 1.
printf 'v=0\r\ns=-\r\na=key-mgmt:mikey %s\r\nm=audio 1 RTP/SAVP 0\r\na=key-mgmt:mikey ' "$B64" >"$WORK/p"
{ cat "$WORK/h" "$WORK/p"; head -c $((LEN - 1)) "$WORK/m.raw" | base64 | tr -d '\n'; printf '\r\n'; } >"$WORK/second.sip"
run "$SDTOOL" mikey decode --json "$WORK/second.sip"
is "second I_MESSAGE truncated: first printed, exit 1, error names message 2 and its body offset" \
    "$RC $(jqo '[.source,.length]') $(grep -c -F "mcx-sdtool: I_MESSAGE 2 (sdp-media, body offset $(size "$WORK/p")): " "$WORK/err") $(grep -c -F "[truncated] at offset $((LEN - 129))" "$WORK/err")" \
    "1 [\"sdp-session\",$LEN] 1 1"

# More than 16 I_MESSAGEs in one body: the offset of the 17th.
{ printf 'v=0\r\n'; for i in $(seq 16); do printf 'm=audio %d RTP/SAVP 0\r\na=key-mgmt:mikey %s\r\n' "$i" "$B64"; done
  printf 'm=audio 17 RTP/SAVP 0\r\na=key-mgmt:mikey '; } >"$WORK/p"
{ cat "$WORK/p"; printf '%s\r\n' "$B64"; } >"$WORK/many.sdp"
run "$SDTOOL" mikey decode --json "$WORK/many.sdp"
err_is "seventeen key-mgmt lines in an SDP" 1 "more than 16 MIKEY messages in one body at body offset $(size "$WORK/p")"

# Multipart errors.
sed 's/;boundary="b0und4ry"//' "$WORK/multipart.sip" >"$WORK/noboundary.sip"
run "$SDTOOL" mikey decode "$WORK/noboundary.sip"
err_is "multipart without boundary" 1 "multipart body without a valid boundary parameter at body offset 0"
sip_head "Content-Type: multipart/mixed; boundary=XX" >"$WORK/h2"
printf -- '--XX\r\nContent-Type: application/mikey\r\nContent-Transfer-Encoding: base64\r\n\r\n%s\r\n--XX\r\n' "$B64" >"$WORK/p"
cat "$WORK/h2" "$WORK/p" >"$WORK/noclose.sip"
run "$SDTOOL" mikey decode "$WORK/noclose.sip"
err_is "multipart without its close delimiter: offset of the body's end" 1 \
    "multipart body that cannot be split into parts at body offset $(size "$WORK/p")"
printf -- '--XX\r\nContent-Type: application/mikey\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n' >"$WORK/p"
{ cat "$WORK/h2" "$WORK/p"; printf 'x\r\n--XX--\r\n'; } >"$WORK/qp.sip"
run "$SDTOOL" mikey decode "$WORK/qp.sip"
err_is "application/mikey in quoted-printable" 1 \
    "Content-Transfer-Encoding that cannot be decoded at body offset $(size "$WORK/p")"
printf 'INVITE sip:bob@x SIP/2.0\r\nContent-Type: application/sdp\r\nContent-Length: ' >"$WORK/p"
{ cat "$WORK/p"; printf '999\r\n\r\nv=0\r\n'; } >"$WORK/cl.sip"
run "$SDTOOL" mikey decode "$WORK/cl.sip"
err_is "Content-Length past the end" 1 "Content-Length 999 runs past the end of the message"

# Raw messages broken in known places.
head -c $((LEN - 1)) "$WORK/m.raw" >"$WORK/trunc.raw"
run "$SDTOOL" mikey decode "$WORK/trunc.raw"
err_is "raw message one octet short: signature runs past the end" 1 \
    "I_MESSAGE 1 (raw, body offset 0): truncated: a length runs past the end of the message [truncated] at offset $((LEN - 129))"
{ cat "$WORK/m.raw"; printf '\000'; } >"$WORK/trail.raw"
run "$SDTOOL" mikey decode "$WORK/trail.raw"
err_is "raw message with one trailing octet" 1 "[trailing-octets] at offset $LEN"
{ head -c 10 "$WORK/m.raw"; printf '\077'; tail -c +12 "$WORK/m.raw"; } >"$WORK/unknown.raw"
run "$SDTOOL" mikey decode "$WORK/unknown.raw"
err_is "T's next payload set to 63: unknown payload where RAND starts" 1 "[unknown-payload] at offset 20"
{ head -c 10 "$WORK/m.raw"; printf '\001'; tail -c +12 "$WORK/m.raw"; } >"$WORK/kemac.raw"
run "$SDTOOL" mikey decode "$WORK/kemac.raw"
err_is "T's next payload set to KEMAC: unsupported payload" 1 "[unsupported-payload] at offset 20"
{ printf '\002'; tail -c +2 "$WORK/m.raw"; } >"$WORK/v2.raw"
run "$SDTOOL" mikey decode "$WORK/v2.raw"
err_is "MIKEY version 2" 1 "[bad-version] at offset 0"
run "$SDTOOL" mikey decode --input raw "$WORK/m.base64"
err_is "--input raw on base64 text" 1 "[bad-version] at offset 0"
run "$SDTOOL" mikey decode --input sip "$WORK/m.sdp"
err_is "--input sip on an SDP" 1 "not a SIP request or status line"

# Files.
: >"$WORK/empty"
run "$SDTOOL" mikey decode "$WORK/empty"
err_is "empty file" 1 "mcx-sdtool: empty input"
head -c 1048576 /dev/zero >"$WORK/1mib"
run "$SDTOOL" mikey decode "$WORK/1mib"
err_is "exactly 1 MiB is read (then too long for MIKEY)" 1 "[too-long] at offset 65535"
head -c 1048577 /dev/zero >"$WORK/big"
run "$SDTOOL" mikey decode "$WORK/big"
err_is "1 MiB + 1 octet" 1 "$WORK/big: input longer than 1048576 octets"
run sh -c '"$1" mikey decode <"$2"' sh "$SDTOOL" "$WORK/big"
err_is "1 MiB + 1 octet on stdin" 1 "stdin: input longer than 1048576 octets"
run "$SDTOOL" mikey decode "$WORK/nonexistent"
err_is "nonexistent file" 1 "$WORK/nonexistent: No such file or directory"
run "$SDTOOL" mikey decode "$WORK"
err_is "a directory" 1 "read error"

# ---- bad usage: exit 2 ----

run "$SDTOOL" mikey
err_is "mikey without subcommand" 2 "mikey needs a subcommand: decode or build"
run "$SDTOOL" mikey frob
err_is "unknown mikey subcommand" 2 "unknown mikey subcommand 'frob'"
run "$SDTOOL" mikey decode --bogus "$WORK/m.raw"
err_is "decode: unknown option" 2 "mcx-sdtool: mikey decode: unknown option or missing argument: --bogus"
run "$SDTOOL" mikey decode --input
err_is "decode: --input without its value" 2 "mcx-sdtool: mikey decode: unknown option or missing argument: --input"
run "$SDTOOL" mikey decode --input xml "$WORK/m.raw"
err_is "decode: bad --input" 2 "--input: 'xml' is not raw, base64, sdp or sip"
run "$SDTOOL" mikey decode "$WORK/m.raw" "$WORK/m.raw"
err_is "decode: two FILE operands" 2 "mikey decode takes one FILE"
run "$SDTOOL" mikey build "$@" --bogus
err_is "build: unknown option" 2 "mcx-sdtool: mikey build: unknown option or missing argument: --bogus"
run "$SDTOOL" mikey build "$@" --input raw
err_is "build: --input is a decode option" 2 "mcx-sdtool: mikey build: unknown option or missing argument: --input"
run "$SDTOOL" mikey build "$@" extra
err_is "build: an operand" 2 "mikey build takes no operands"
for opt in idri idrr idrkmsi idrkmsr; do
	case $opt in
	idri) run "$SDTOOL" mikey build --idrr b --idrkmsi k --idrkmsr l ;;
	idrr) run "$SDTOOL" mikey build --idri a --idrkmsi k --idrkmsr l ;;
	idrkmsi) run "$SDTOOL" mikey build --idri a --idrr b --idrkmsr l ;;
	idrkmsr) run "$SDTOOL" mikey build --idri a --idrr b --idrkmsi k ;;
	esac
	err_is "build without --$opt" 2 "mikey build needs --$opt"
done
run "$SDTOOL" mikey build "$@" --idri ""
err_is "build: empty --idri" 2 "--idri: 1 to 1024 printable characters, no spaces, '<' or '>'"
run "$SDTOOL" mikey build "$@" --idrkmsr "$(printf '%1025s' '' | tr ' ' k)"
err_is "build: --idrkmsr of 1025 characters" 2 "--idrkmsr: 1 to 1024 printable characters, no spaces, '<' or '>'"
# Identities are also written into SIP headers: nothing that could break out of them.
for v in "$(printf 'sip:a@b>\r\nX-Injected: 1\r\nY: <x')" "sip:a b@c" "sip:<a>@b" "$(printf 'sip:a\tb')"; do
	run "$SDTOOL" mikey build "$@" --idri "$v" --output sip
	err_is "build: --idri with a space, tab, CR/LF or angle bracket is refused" 2 "--idri: 1 to 1024 printable characters"
done
for t in 1950-01-01T00:00:00Z 2110-01-01T00:00:00Z; do
	run "$SDTOOL" mikey build "$@" --time "$t"
	err_is "build: --time $t outside the NTP eras" 2 "--time: '$t' is outside 1968-01-20 to 2104-02-26"
done
run "$SDTOOL" mikey build "$@" --output pem
err_is "build: bad --output" 2 "--output: 'pem' is not raw, base64, sdp or sip"
for t in 2026-02-29T10:00:00Z "2026-11-29 10:00:00Z" 2026-11-29T10:00:00 2026-11-29T24:00:00Z yesterday; do
	run "$SDTOOL" mikey build "$@" --time "$t"
	err_is "build: bad --time '$t'" 2 "--time: '$t' is not YYYY-MM-DDTHH:MM:SSZ"
done
for c in 4294967296 -1 abc 0x "" " 7" 0x-1 "+5"; do
	run "$SDTOOL" mikey build "$@" --csb-id "$c"
	err_is "build: bad --csb-id '$c'" 2 "--csb-id: '$c' is not a 32-bit number"
done
for r in 00112233445566778899aabbccddeef 00112233445566778899aabbccddeeff00 00112233445566778899aabbccddeefg \
    "0x112233445566778899aabbccddeeff"; do
	run "$SDTOOL" mikey build "$@" --rand "$r"
	err_is "build: bad --rand '$r'" 2 "--rand: '$r' is not 32 hex digits"
done
run "$SDTOOL" mikey build "$@" --key-period 0
err_is "build: --key-period 0" 2 "--key-period: '0' is not a number of seconds"
run "$SDTOOL" mikey build "$@" --key-offset -5
err_is "build: negative --key-offset" 2 "--key-offset: '-5' is not a number of seconds"
run "$SDTOOL" mikey decode --help
is "decode --help: exit 0, usage on stdout" "$RC $(head -n 1 "$WORK/out")" \
    "0 usage: mcx-sdtool mikey decode [--input raw|base64|sdp|sip] [--json] [FILE]"

# ---- long identities ----

L1024=$(printf '%1024s' '' | tr ' ' a)
run "$SDTOOL" mikey build --idri "$L1024" --idrr b --idrkmsi k --idrkmsr l --output raw
is "build: one 1024-character IDR" "$RC $(size "$WORK/out")" "0 $((10 + 10 + 18 + 5 + 1024 + 5 + 1 + 5 + 1 + 5 + 1 + 278 + 131))"
run "$SDTOOL" mikey build --idri "$L1024" --idrr "$L1024" --idrkmsi "$L1024" --idrkmsr "$L1024" --output raw
is "build: four 1024-character IDRs make a 4563-octet message (MIKEY allows 65535)" \
    "$RC $(size "$WORK/out")" "0 4563"
if [ "$RC" -eq 0 ]; then
	cp "$WORK/out" "$WORK/long.raw"
	run "$SDTOOL" mikey decode --json "$WORK/long.raw"
	is "four 1024-character IDRs decode back" \
	    "$RC $(jqo '[.length,.idri,.idrr,.idrkmsi,.idrkmsr]')" \
	    "0 [4563,\"$L1024\",\"$L1024\",\"$L1024\",\"$L1024\"]"
fi

done_testing
