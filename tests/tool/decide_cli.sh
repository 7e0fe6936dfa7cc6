# End-to-end test of `mcx-sdtool lookup` and `mcx-sdtool decide` on SIP messages made here with `mikey build` and `krr build`, every KRR decide prints checked by xmlsec1 and `krr verify`.
. "$top_srcdir/tests/lib.sh"

: "${XMLSEC1:=xmlsec1}"
: "${OPENSSL:=openssl}"
need "$JQ" "$XMLSEC1" "$OPENSSL"
[ -x "$SDTOOL" ] || { echo "not ok - $SDTOOL is not built"; exit 1; }
LC_ALL=C
export LC_ALL

# the root's own signature (after EmbeddedKrr), and the embedded KRR's
# KMS validity matters here: inside every configured validity period (2026-01-01 .. 2031-01-01),
# and after kms.partner.example's.  Downstream KRRs are decided at the default time (now): their
# signer certificates are made now, by make-keys.sh.
TIME=2026-11-29T10:00:00Z
LATE=2031-06-01T00:00:00Z
CR=$(printf '\r')

ALICE=sip:alice@home.example BOB=sip:bob@partner.example CAROL=sip:carol@partner.example
DISPATCH=sip:dispatch@home.example ZED=sip:zed@nowhere.example
HOME_URI=sip:sdproxy@home.example PARTNER_URI=sip:sdproxy@partner.example
H=kms.home.example P=kms.partner.example WRONG=kms.wrong.example ROGUE=kms.rogue.example
OLD=kms.old.example NEXT=kms.next.example

# ---- helpers ----

# jqo FILTER [FILE]: compact jq output over $WORK/out (or FILE); "(no JSON)" when it does not parse.
jqo() { "$JQ" -c "$1" "${2:-$WORK/out}" 2>/dev/null || echo "(no JSON)"; }

size() { wc -c <"$1" | tr -d ' '; }
q() { printf '"%s"' "$1"; }	# a JSON string (for the plain strings used here)

# loads NAME CONF: CONF (a file in $WORK) is a valid configuration.
loads() {
	run "$SDTOOL" lookup -c "$WORK/$2" "$BOB"
	is "config $2 ($1): lookup exits 0, nothing on stderr" "$RC $(size "$WORK/err")" "0 0"
}

# edit SRC DST SED-SCRIPT: $WORK/DST is $WORK/SRC edited; the edit must change something.
edit() {
	sed -e "$3" "$WORK/$1" >"$WORK/$2"
	if cmp -s "$WORK/$1" "$WORK/$2"; then not_ok "config $2: the edit '$3' applies"; fi
}

# insert SRC DST AFTER TEXT: $WORK/DST is $WORK/SRC with TEXT (\n for new lines) after the
# first line containing AFTER.
insert() {
	awk -v after="$3" -v text="$4" '{ print } !done && index($0, after) { print text; done = 1 }' \
		"$WORK/$1" >"$WORK/$2"
	if cmp -s "$WORK/$1" "$WORK/$2"; then not_ok "config $2: a line with '$3' found"; fi
}

# invite NAME IDRI IDRR IDRKMSI IDRKMSR [OPTION...]: $WORK/NAME.sip, the INVITE of
# `mikey build --output sip`, its Call-ID made NAME@test.
invite() {
	i_n=$1 i_a=$2 i_b=$3 i_c=$4 i_d=$5
	shift 5
	if "$SDTOOL" mikey build --idri "$i_a" --idrr "$i_b" --idrkmsi "$i_c" --idrkmsr "$i_d" \
		--time "$TIME" "$@" --output sip >"$WORK/build.out" 2>"$WORK/build.err"; then
		sed "s/^Call-ID: .*/Call-ID: $i_n@test$CR/" "$WORK/build.out" >"$WORK/$i_n.sip"
		grep -q "^Call-ID: $i_n@test" "$WORK/$i_n.sip" || not_ok "$i_n: the Call-ID of mikey build is replaced"
	else
		not_ok "mikey build for $i_n"
		sed 's/^/#   /' "$WORK/build.err" | head -n 3
	fi
}

# ruri NAME URI: the Request-URI of $WORK/NAME.sip becomes URI.
ruri() {
	sed "1s|^INVITE [^ ]* |INVITE $2 |" "$WORK/$1.sip" >"$WORK/ruri.tmp" && mv "$WORK/ruri.tmp" "$WORK/$1.sip"
	grep -q "^INVITE $2 SIP/2.0" "$WORK/$1.sip" || not_ok "$1: Request-URI set to $2"
}

# sdp_invite NAME [ATTRIBUTE-LINE]: $WORK/NAME.sip, an INVITE from alice to bob whose
# application/sdp body has ATTRIBUTE-LINE (e.g. a=key-mgmt:...) at session level, or none.
sdp_invite() {
	{
		printf '%s\r\n' v=0 'o=- 1 1 IN IP4 127.0.0.1' s=- 'c=IN IP4 127.0.0.1' 't=0 0'
		[ -z "${2:-}" ] || printf '%s\r\n' "$2"
		printf '%s\r\n' 'm=audio 49170 RTP/SAVP 0' 'a=rtpmap:0 PCMU/8000'
	} >"$WORK/$1.body"
	{
		printf '%s\r\n' "INVITE $BOB SIP/2.0" "Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-$1" \
			"Max-Forwards: 70" "From: <$ALICE>;tag=a1" "To: <$BOB>" "Call-ID: $1@test" \
			"CSeq: 1 INVITE" "Contact: <sip:alice@127.0.0.1:5062>" "Content-Type: application/sdp" \
			"Content-Length: $(size "$WORK/$1.body")" ""
		cat "$WORK/$1.body"
	} >"$WORK/$1.sip"
}

# response NAME [TO]: $WORK/NAME.sip, a 488 to alice's INVITE to TO (bob) carrying $WORK/NAME.xml.
response() {
	{
		printf '%s\r\n' "SIP/2.0 488 Not Acceptable Here" "Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-$1" \
			"From: <$ALICE>;tag=a1" "To: <${2:-$BOB}>;tag=b2" "Call-ID: $1@test" "CSeq: 1 INVITE" \
			"Content-Type: application/vnd.3gpp.kmsredirectresponse+xml" \
			"Content-Length: $(size "$WORK/$1.xml")" ""
		cat "$WORK/$1.xml"
	} >"$WORK/$1.sip"
}

# dkrr NAME SIGNER IDRKMSI IDRKMSR "AI..." "AR..." [ORIGINATOR ORIGINATOR-KMS]: a downstream
# KRR made by `krr build` in $WORK/NAME.xml (SIGNER: a signer folder under $WORK, or none), and
# $WORK/NAME.sip, the 488 that carries it.
dkrr() {
	d_n=$1 d_s=$2 d_i=$3 d_r=$4 d_ai=$5 d_ar=$6
	set -- --originator "${7:-$PARTNER_URI}" --originator-kms "${8:-$P}" --initiator "$ALICE" \
		--receiver "$BOB" --initiator-kms "$d_i" --receiver-kms "$d_r"
	for u in $d_ai; do set -- "$@" --accept-initiator-kms "$u"; done
	for u in $d_ar; do set -- "$@" --accept-receiver-kms "$u"; done
	[ "$d_s" = none ] || set -- "$@" --cert "$WORK/$d_s/krr-cert.pem" --key "$WORK/$d_s/krr-key.pem"
	if "$SDTOOL" krr build "$@" >"$WORK/$d_n.xml" 2>"$WORK/build.err"; then
		response "$d_n"
	else
		not_ok "krr build for $d_n"
		sed 's/^/#   /' "$WORK/build.err" | head -n 3
	fi
}

# decide CONF NAME [OPTION...]: `decide -c $WORK/CONF --json OPTION... $WORK/NAME.sip`; CID is
# the Call-ID of the message (NAME@test).
decide() {
	d_c=$1 CID=$2@test d_f=$WORK/$2.sip
	shift 2
	run "$SDTOOL" decide -c "$WORK/$d_c" --json "$@" "$d_f"
}

# expect NAME TARGET DECISION RULE STATUS AI AR: the last decide exited 0 with one JSON object
# with that decision, rule, status and target, accept lists AI and AR (compact JSON arrays, and
# a KRR document; null null: no KRR; - -: not checked here), and an audit record that agrees.
expect() {
	e_n=$1 e_t=$2 e_d=$3 e_r=$4 e_s=$5
	# one jq run, three lines per object
	e_j=$("$JQ" -c '[.decision, .rule, .status, .target],
		[.accept_initiator_kms, .accept_receiver_kms, (.krr | type)],
		(.audit | [.decision, .rule, .status, .call_id, .target])' "$WORK/out" 2>&1) || e_j="(no JSON) $e_j"
	is "$e_n: exit 0, one JSON object" "$RC $(printf '%s\n' "$e_j" | wc -l | tr -d ' ')" "0 3"
	is "$e_n: decision, rule, status, target" "$(printf '%s\n' "$e_j" | sed -n 1p)" \
		"[\"$e_d\",\"$e_r\",$e_s,\"$e_t\"]"
	if [ "$6" != - ]; then
		if [ "$6" = null ]; then e_k=null; else e_k=string; fi
		is "$e_n: accept lists, krr" "$(printf '%s\n' "$e_j" | sed -n 2p)" "[$6,$7,\"$e_k\"]"
	fi
	is "$e_n: audit record: decision, rule, status, call_id, target" "$(printf '%s\n' "$e_j" | sed -n 3p)" \
		"[\"$e_d\",\"$e_r\",$e_s,\"$CID\",\"$e_t\"]"
}

# krr_ok NAME SIGNER-URI EMBEDDED_VALID: the KRR in the last decide's JSON verifies with xmlsec1
# (the root's own signature) and with `krr verify --trust krr-ca.pem`, signed by SIGNER-URI, its
# originator is SIGNER-URI, and its Id and lists are those of the JSON and the audit record.
# Leaves the KRR in $WORK/krr.xml and the decide JSON in $WORK/decide.json.
krr_ok() {
	k_n=$1 k_s=$2 k_e=$3
	cp "$WORK/out" "$WORK/decide.json"
	"$JQ" -j '.krr // empty' "$WORK/decide.json" >"$WORK/krr.xml" 2>/dev/null || : >"$WORK/krr.xml"
	xs_ok "$k_n: xmlsec1 verifies the KRR's own signature" "$WORK/krr-ca.pem" "$WORK/krr.xml" --node-xpath "$XS_ROOT"
	run "$SDTOOL" krr verify --trust "$WORK/krr-ca.pem" --json "$WORK/krr.xml"
	is "$k_n: krr verify: exit 0, valid, signer URI, embedded_valid" \
		"$RC $(jqo '[.valid, .signer_uris, .embedded_valid]')" "0 [true,[\"$k_s\"],$k_e]"
	run "$SDTOOL" krr decode --json "$WORK/krr.xml"
	is "$k_n: krr decode: originator, Id, lists and signed as the JSON and its audit record say" \
		"$(jqo '[.originator, .id, .accept_initiator_kms, .accept_receiver_kms, .accept_initiator_kms, .accept_receiver_kms, .signed]')" \
		"$(jqo "[\"$k_s\", .audit.krr_id, .accept_initiator_kms, .accept_receiver_kms, .audit.accept_initiator_kms, .audit.accept_receiver_kms, .audit.krr_signed]" "$WORK/decide.json")"
}

# ---- setup: the example configurations and their keys, made now ----

cp "$top_srcdir"/conf/*.conf "$top_srcdir/conf/make-keys.sh" "$WORK/"
# ($WORK/other: another CA, and a partner.example signer under it that nobody here trusts)
if OPENSSL=$OPENSSL sh "$WORK/make-keys.sh" "$WORK" >"$WORK/keys.log" 2>&1 &&
	OPENSSL=$OPENSSL sh "$WORK/make-keys.sh" "$WORK/other" partner.example >>"$WORK/keys.log" 2>&1 &&
	[ -s "$WORK/krr-ca.pem" ] && [ -s "$WORK/home.example/krr-key.pem" ] && [ -s "$WORK/partner.example/krr-cert.pem" ]; then
	ok "make-keys.sh makes the CA and both domains' signers (and an untrusted CA's)"
else
	not_ok "make-keys.sh makes the CA and both domains' signers (and an untrusted CA's)"
	sed 's/^/#   /' "$WORK/keys.log" | tail -n 5
	done_testing || exit 1
fi
loads "as shipped" primary.conf
loads "as shipped" partner.conf

# Variants for what the examples do not cover.
edit primary.conf primary-flip.conf \
	's/on_missing_mikey = "forward"/on_missing_mikey = "reject"/; s/on_malformed_mikey = "reject"/on_malformed_mikey = "forward"/; s/on_unknown_target = "forward"/on_unknown_target = "reject"/'
loads "on_* flipped" primary-flip.conf
edit primary.conf primary-signed.conf 's/require_signed = false/require_signed = true/'
loads "require_signed" primary-signed.conf
edit primary.conf primary-deny.conf 's/deny_receiver_kms = \[ \]/deny_receiver_kms = [ "kms.partner.example" ]/'
loads "partner KMS denied as receiver" primary-deny.conf
edit partner.conf partner-deny.conf 's/deny_initiator_kms = \[ \]/deny_initiator_kms = [ "kms.home.example" ]/'
loads "home KMS denied as initiator" partner-deny.conf
insert partner.conf partner-strict.conf 'entries = (' \
	'    { user = "sip:carol@partner.example";\n      domains = ( { kms = "kms.partner.example"; external = [ ]; } ); },'
loads "carol accepts no external KMS" partner-strict.conf
insert primary.conf px0.conf '{ uri = "kms.home.example"; role = "home"; }' \
	'  { uri = "kms.old.example"; role = "external"; revoked = true; },\n  { uri = "kms.next.example"; role = "external"; valid_from = "2030-01-01T00:00:00Z"; },'
insert px0.conf px.conf 'entries = (' \
	'    { user = "sip:legacy@partner.example";\n      domains = ( { kms = "kms.old.example"; external = [ "kms.home.example" ]; },\n                  { kms = "kms.partner.example"; external = [ "kms.home.example" ]; } ); },\n    { user = "sip:future@partner.example";\n      domains = ( { kms = "kms.next.example"; external = [ "kms.home.example" ]; } ); },'
loads "a revoked and a not-yet-valid KMS" px.conf

# ---- lookup ----

run "$SDTOOL" lookup -c "$WORK/primary.conf" --json "$BOB"
is "lookup bob: exit 0, found, the wildcard, one usable domain" "$RC $(jqo '[.user, .found, .matched, .domains]')" \
	"0 [\"$BOB\",true,\"sip:*@partner.example\",[{\"kms\":\"$P\",\"state\":\"usable\",\"external\":[\"$H\"]}]]"
run "$SDTOOL" lookup -c "$WORK/primary.conf" --json "$DISPATCH"
is "lookup dispatch: the exact entry wins over the wildcard, both domains in order" \
	"$RC $(jqo '[.matched, [.domains[] | [.kms, .state, .external]]]')" \
	"0 [\"$DISPATCH\",[[\"$H\",\"usable\",[\"$P\"]],[\"$P\",\"usable\",[\"$H\"]]]]"
run "$SDTOOL" lookup -c "$WORK/primary.conf" --json --time "$LATE" "$DISPATCH"
is "lookup dispatch --time $LATE: the partner KMS is expired" "$RC $(jqo '[.domains[] | .state]')" \
	'0 ["usable","expired"]'
run "$SDTOOL" lookup -c "$WORK/px.conf" --json --time "$TIME" sip:legacy@partner.example
is "lookup legacy: a revoked domain is listed as revoked" "$RC $(jqo '[.domains[] | [.kms, .state]]')" \
	"0 [[\"$OLD\",\"revoked\"],[\"$P\",\"usable\"]]"
run "$SDTOOL" lookup -c "$WORK/px.conf" --json --time "$TIME" sip:future@partner.example
is "lookup future: a domain not valid yet" "$RC $(jqo '[.domains[] | [.kms, .state]]')" \
	"0 [[\"$NEXT\",\"not-yet-valid\"]]"
run "$SDTOOL" lookup -c "$WORK/primary.conf" "$BOB"
is "lookup bob, text: exit 0, the match, its line and the domain" "$RC $(head -n 1 "$WORK/out") $(sed -n 's/^ *//; 2p' "$WORK/out")" \
	"0 $BOB: matched sip:*@partner.example (line $(grep -n 'user = "sip:\*@partner.example"' "$WORK/primary.conf" | cut -d: -f1)) domain $P (usable), permits: $H"
run "$SDTOOL" lookup -c "$WORK/primary.conf" --json "$ZED"
is "lookup of an unknown user: exit 1, found false, no domains" "$RC $(jqo '[.found, .matched, .domains]')" "1 [false,null,[]]"
run "$SDTOOL" lookup -c "$WORK/partner.conf" "$ALICE"
is "lookup of an unknown user, text: exit 1, 'USER: not found'" "$RC $(cat "$WORK/out")" "1 $ALICE: not found"

# bad configuration files: exit 1, and the first stderr line is FILE:LINE: message
# bad_conf NAME CONF WANT-LINE TEXT
bad_conf() {
	for b_cmd in lookup decide; do
		if [ "$b_cmd" = lookup ]; then
			run "$SDTOOL" lookup -c "$WORK/$2" "$BOB"
		else
			run "$SDTOOL" decide -c "$WORK/$2" --json "$WORK/ok4.sip"
		fi
		b_l=$(head -n 1 "$WORK/err")
		case $b_l in
		"$WORK/$2:$3: "*"$4"*) b_g=yes ;;
		*) b_g="no: $b_l" ;;
		esac
		is "$b_cmd -c $1: exit 1, nothing on stdout, '$2:$3: ...$4...' on stderr" \
			"$RC $(size "$WORK/out") $b_g" "1 0 yes"
	done
}
invite ok4 "$ALICE" "$BOB" "$H" "$P"
insert primary.conf bad-key.conf 'role = "primary";' '  bogus = 1;'
bad_conf "an unknown key" bad-key.conf "$(grep -n 'bogus = 1' "$WORK/bad-key.conf" | cut -d: -f1)" server.bogus
edit primary.conf bad-kms.conf 's/{ kms = "kms.partner.example"; external = \[ "kms.home.example" \]; } ); }$/{ kms = "kms.nowhere.example"; external = [ "kms.home.example" ]; } ); }/'
bad_conf "a lookup entry naming an unknown KMS" bad-kms.conf "$(grep -n 'kms.nowhere.example' "$WORK/bad-kms.conf" | cut -d: -f1)" kms.nowhere.example
head -n 12 "$WORK/primary.conf" >"$WORK/bad-syntax.conf"
bad_conf "a file cut inside server = {" bad-syntax.conf 13 "syntax error"

# lookup reads no KRR key: an unreadable private key is decide's problem (it signs), not lookup's
edit primary.conf no-key.conf 's|private_key = "home.example/krr-key.pem"|private_key = "home.example/no-such-key.pem"|'
run "$SDTOOL" lookup -c "$WORK/no-key.conf" "$BOB"
is "lookup -c with an unreadable krr.private_key: it reads no key: exit 0, nothing on stderr" "$RC $(size "$WORK/err")" "0 0"
run "$SDTOOL" decide -c "$WORK/no-key.conf" --json "$WORK/ok4.sip"
n_l=$(grep -n 'no-such-key.pem' "$WORK/no-key.conf" | cut -d: -f1)
is "decide -c with an unreadable krr.private_key: exit 1, 'no-key.conf:$n_l: krr.private_key: cannot read ...' on stderr" \
	"$RC $(head -n 1 "$WORK/err")" \
	"1 $WORK/no-key.conf:$n_l: krr.private_key: cannot read $WORK/home.example/no-such-key.pem: No such file or directory"

# bad usage: exit 2, a usage or option message on stderr, nothing on stdout
# usage NAME COMMAND...
usage() {
	u_n=$1
	shift
	run "$SDTOOL" "$@"
	if grep -q '^mcx-sdtool: ' "$WORK/err"; then u_e=yes; else u_e=no; fi
	is "$u_n: exit 2, a message on stderr, nothing on stdout" "$RC $u_e $(size "$WORK/out")" "2 yes 0"
}
usage "lookup without -c" lookup "$BOB"
usage "lookup without USER" lookup -c "$WORK/primary.conf"
usage "lookup with two users" lookup -c "$WORK/primary.conf" "$BOB" "$ALICE"
usage "lookup with an unknown option" lookup -c "$WORK/primary.conf" --bogus "$BOB"
usage "lookup with a bad --time" lookup -c "$WORK/primary.conf" --time tomorrow "$BOB"
usage "decide without -c" decide --json "$WORK/ok4.sip"
usage "decide with two messages" decide -c "$WORK/primary.conf" "$WORK/ok4.sip" "$WORK/ok4.sip"
usage "decide with an unknown option" decide -c "$WORK/primary.conf" --bogus "$WORK/ok4.sip"
usage "decide with a bad --time" decide -c "$WORK/primary.conf" --time 2026-11-29 "$WORK/ok4.sip"

# Any method with an I_MESSAGE is decided like an INVITE: an OPTIONS carrying ok4's offer.
sed "1s|^INVITE |OPTIONS |; s|^CSeq: 1 INVITE|CSeq: 1 OPTIONS|" "$WORK/ok4.sip" >"$WORK/options.sip"
decide primary.conf options --json
is "decide on an OPTIONS with an I_MESSAGE: exit 0, decided (method in the audit)" \
	"$RC $(jqo '[.decision, .rule, .audit.method, .audit.in_dialog]')" '0 ["forward","4:acceptable","OPTIONS",false]'
# A request without an I_MESSAGE (not an initial INVITE) needs none: forwarded, no audit record.
printf 'BYE %s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-2\r\nMax-Forwards: 70\r\nFrom: <%s>;tag=a1\r\nTo: <%s>;tag=b2\r\nCall-ID: bye@test\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n' \
	"$BOB" "$ALICE" "$BOB" >"$WORK/bye.sip"
decide primary.conf bye --json
is "decide on a BYE: exit 0, forward without a rule or audit record" \
	"$RC $(jqo '[.decision, .rule, .audit]')" '0 ["forward",null,null]'
# What the daemon answers before any decision, decide refuses the same way: exit 1.
sed "s|^Max-Forwards: 70|Max-Forwards: 70\r\nMax-Forwards: 69|" "$WORK/ok4.sip" >"$WORK/twomf.sip"
decide primary.conf twomf
is "decide on an INVITE with two Max-Forwards: exit 1, the daemon's 400" \
	"$RC $(grep -c 'the daemon answers before deciding: 400 Bad Max-Forwards Header' "$WORK/err")" "1 1"

# messages decide takes no decision on: exit 1
printf 'SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-1\r\nFrom: <%s>;tag=a1\r\nTo: <%s>;tag=b2\r\nCall-ID: ok200@test\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n' \
	"$ALICE" "$BOB" >"$WORK/ok200.sip"
printf 'hello\n' >"$WORK/junk.sip"
for m in ok200 junk; do
	decide primary.conf "$m"
	if grep -q '^mcx-sdtool: ' "$WORK/err"; then m_e=yes; else m_e=no; fi
	is "decide on $m.sip (no decision to make): exit 1, a message on stderr, nothing on stdout" \
		"$RC $m_e $(size "$WORK/out")" "1 yes 0"
done

# ---- decide: INVITEs (steps 4, 1a, 2a; the policy.on_* cases) ----

# 4: the pair is acceptable, at both servers
decide primary.conf ok4 --time "$TIME"
expect "4 at the primary" "$BOB" forward 4:acceptable 0 null null
is "4 at the primary: no warning, no downstream signature, audit names the KMSs" \
	"$(jqo '[.warning, .signature, .audit.idrkmsi, .audit.idrkmsr, .audit.from, .audit.to, .audit.server]')" \
	"[null,null,\"$H\",\"$P\",\"$ALICE\",\"$BOB\",\"$HOME_URI\"]"
decide partner.conf ok4 --time "$TIME"
expect "4 at the partner" "$BOB" forward 4:acceptable 0 null null
run sh -c '"$1" decide -c "$2" --json --time "$3" <"$4"' sh "$SDTOOL" "$WORK/primary.conf" "$TIME" "$WORK/ok4.sip"
is "4, the message on stdin" "$RC $(jqo '[.decision, .rule]')" '0 ["forward","4:acceptable"]'
run "$SDTOOL" decide -c "$WORK/primary.conf" --time "$TIME" "$WORK/ok4.sip"
is "4, text output" "$RC $(head -n 1 "$WORK/out")" "0 decision: forward (rule 4:acceptable), SIP status 0"

# the target is IDRr when it is a URI, else the Request-URI
invite ridr "$ALICE" "$BOB" "$H" "$P"
ruri ridr "$ZED"
decide primary.conf ridr --time "$TIME"
expect "target: IDRr, not the Request-URI" "$BOB" forward 4:acceptable 0 null null
invite hidden "$ALICE" "$BOB" "$H" "$P" --hide
ruri hidden "$ZED"
decide primary.conf hidden --time "$TIME"
expect "identities hidden: the target is the Request-URI (unknown here)" "$ZED" forward unknown-target 0 null null
ruri hidden "$BOB"
decide primary.conf hidden --time "$TIME"
expect "identities hidden, Request-URI bob: acceptable" "$BOB" forward 4:acceptable 0 null null

# 1a: a wrong IDRkmsr; the primary redirects to the partner KMS, the initiator keeps its own
invite wrong1a "$ALICE" "$BOB" "$H" "$WRONG"
decide primary.conf wrong1a --time "$TIME"
expect "1a wrong IDRkmsr" "$BOB" krr 1a:receiver-kms 488 "[\"$H\"]" "[\"$P\"]"
krr_ok "1a wrong IDRkmsr" "$HOME_URI" null
# the reference command line, exactly (no --node-xpath: there is one signature)
if "$XMLSEC1" --verify --trusted-pem "$WORK/krr-ca.pem" --id-attr:Id "$KRR_NS:KmsRedirectResponse" \
	"$WORK/krr.xml" >"$WORK/xs.out" 2>&1; then
	ok "1a wrong IDRkmsr: xmlsec1 --verify --trusted-pem krr-ca.pem --id-attr:Id ... verifies the KRR"
else
	not_ok "1a wrong IDRkmsr: xmlsec1 --verify --trusted-pem krr-ca.pem --id-attr:Id ... verifies the KRR"
	sed 's/^/#   xmlsec1: /' "$WORK/xs.out" | head -n 4
fi
run "$SDTOOL" krr decode --json "$WORK/krr.xml"
is "1a wrong IDRkmsr: the KRR's time, originator KMS, initiator, receiver and the KMSs used" \
	"$(jqo '[.time, .originator_kms, .initiator, .receiver, .initiator_kms, .receiver_kms, .embedded]')" \
	"[\"$TIME\",\"$H\",\"$ALICE\",\"$BOB\",\"$H\",\"$WRONG\",null]"
is "1a wrong IDRkmsr: audit: the KMSs used, KRR signed, no downstream KRR" \
	"$(jqo '.audit | [.idrkmsi, .idrkmsr, .krr_signed, .downstream_krr]' "$WORK/decide.json")" "[\"$H\",\"$WRONG\",true,null]"
decide primary.conf wrong1a
krr_ok "1a wrong IDRkmsr, decided now" "$HOME_URI" null

# 1a for a user in two domains: both receivers proposed, in configured order
invite disp1a "$ALICE" "$DISPATCH" "$H" "$WRONG"
decide primary.conf disp1a --time "$TIME"
expect "1a dispatcher, wrong IDRkmsr" "$DISPATCH" krr 1a:receiver-kms 488 "[\"$H\"]" "[\"$H\",\"$P\"]"
krr_ok "1a dispatcher, wrong IDRkmsr" "$HOME_URI" null
invite disprog "$ALICE" "$DISPATCH" "$ROGUE" "$P"
decide primary.conf disprog --time "$TIME"
expect "1a dispatcher, an unknown IDRkmsi: every acceptable initiator, no repeats" "$DISPATCH" \
	krr 1a:initiator-kms 488 "[\"$H\",\"$P\"]" "[\"$H\",\"$P\"]"
invite disp4 "$ALICE" "$DISPATCH" "$P" "$P"
decide primary.conf disp4 --time "$TIME"
expect "4 dispatcher, partner keys on both sides" "$DISPATCH" forward 4:acceptable 0 null null

# expired, revoked, not yet valid: never accepted, never proposed
invite dispexp "$ALICE" "$DISPATCH" "$H" "$P"
decide primary.conf dispexp --time "$TIME"
expect "dispatcher, home/partner, partner KMS valid" "$DISPATCH" forward 4:acceptable 0 null null
decide primary.conf dispexp --time "$LATE"
expect "dispatcher, home/partner, partner KMS expired" "$DISPATCH" krr 1a:receiver-kms 488 "[\"$H\"]" "[\"$H\"]"
invite legacy "$ALICE" sip:legacy@partner.example "$H" "$OLD"
decide px.conf legacy --time "$TIME"
expect "IDRkmsr revoked" sip:legacy@partner.example krr 1a:receiver-kms 488 "[\"$H\"]" "[\"$P\"]"
krr_ok "IDRkmsr revoked" "$HOME_URI" null
invite future "$ALICE" sip:future@partner.example "$H" "$NEXT"
decide px.conf future --time "$TIME"
expect "the user's only KMS not valid yet: empty lists" sip:future@partner.example \
	krr 1a:no-acceptable-pair 488 "[]" "[]"
krr_ok "the user's only KMS not valid yet" "$HOME_URI" null
decide primary-deny.conf ok4 --time "$TIME"
expect "partner KMS denied as receiver: empty lists" "$BOB" krr 1a:no-acceptable-pair 488 "[]" "[]"

# 2a: the partner refuses the pair, and signs with its own key
invite carol "$ALICE" "$CAROL" "$H" "$P"
decide partner.conf carol --time "$TIME"
expect "carol at the partner as shipped (control)" "$CAROL" forward 4:acceptable 0 null null
decide partner-strict.conf carol --time "$TIME"
expect "2a carol accepts no external KMS" "$CAROL" krr 2a:initiator-kms 488 "[\"$P\"]" "[\"$P\"]"
krr_ok "2a carol accepts no external KMS" "$PARTNER_URI" null
run "$SDTOOL" krr verify --trust "$WORK/krr-ca.pem" "$WORK/krr.xml"
is "2a: krr verify (text) exits 0" "$RC" 0
run "$SDTOOL" krr decode --json "$WORK/krr.xml"
is "2a: the KRR's originator KMS, initiator, receiver, KMSs used" \
	"$(jqo '[.originator_kms, .initiator, .receiver, .initiator_kms, .receiver_kms]')" \
	"[\"$P\",\"$ALICE\",\"$CAROL\",\"$H\",\"$P\"]"
decide partner-deny.conf ok4 --time "$TIME"
expect "2a home KMS denied as initiator" "$BOB" krr 2a:initiator-kms 488 "[\"$P\"]" "[\"$P\"]"
krr_ok "2a home KMS denied as initiator" "$PARTNER_URI" null
decide partner.conf wrong1a --time "$TIME"
expect "2a wrong IDRkmsr at the partner" "$BOB" krr 2a:receiver-kms 488 "[\"$H\"]" "[\"$P\"]"

# no I_MESSAGE
sdp_invite plain
decide primary.conf plain --time "$TIME"
expect "no MIKEY, on_missing_mikey forward" "$BOB" forward missing-mikey 0 null null
decide primary-flip.conf plain --time "$TIME"
expect "no MIKEY, on_missing_mikey reject" "$BOB" reject missing-mikey 488 null null
is "no MIKEY, reject: a warning" "$(jqo '.warning | type')" '"string"'

# a malformed I_MESSAGE: cut short (valid base64), or not base64 at all
if B64=$("$SDTOOL" mikey build --idri "$ALICE" --idrr "$BOB" --idrkmsi "$H" --idrkmsr "$P" --output base64 2>"$WORK/err") &&
	[ "${#B64}" -gt 200 ]; then
	ok "mikey build --output base64"
else
	not_ok "mikey build --output base64"
fi
sdp_invite trunc "a=key-mgmt:mikey $(printf '%.80s' "$B64")"
decide primary.conf trunc --time "$TIME"
expect "I_MESSAGE cut after 60 octets" "$BOB" reject malformed-mikey 400 null null
is "I_MESSAGE cut after 60 octets: the warning names the fault" \
	"$(jqo '.warning | test("^malformed MIKEY I_MESSAGE: .*truncated")')" true
sdp_invite bad64 "a=key-mgmt:mikey $(printf '%.8s' "$B64")!!!!${B64#????????}"
decide primary.conf bad64 --time "$TIME"
expect "I_MESSAGE with bad base64 (the body cannot be inspected)" "$BOB" reject uninspectable 400 null null
is "I_MESSAGE with bad base64: the warning names the fault" \
	"$(jqo '.warning | test("^cannot inspect the body: bad base64 at body offset [0-9]+$")')" true
decide primary-flip.conf trunc --time "$TIME"
expect "I_MESSAGE cut short, on_malformed_mikey forward" "$BOB" forward malformed-mikey 0 null null

# unknown target
invite zed "$ALICE" "$ZED" "$H" "$P"
decide primary.conf zed --time "$TIME"
expect "unknown target at the primary (forward)" "$ZED" forward unknown-target 0 null null
decide partner.conf zed --time "$TIME"
expect "unknown target at the partner (reject)" "$ZED" reject unknown-target 404 null null
decide primary-flip.conf zed --time "$TIME"
expect "unknown target, on_unknown_target reject" "$ZED" reject unknown-target 404 null null

# ---- decide: a 488 + KRR from downstream (steps 2b, 3b, 3c), at the default time ----

# pass: everything it proposes is acceptable here
dkrr pass partner.example "$H" "$WRONG" "$H" "$P"
decide primary.conf pass
expect "2b pass, signed by the partner" "$BOB" pass 2b/3c:pass 488 - -
is "2b pass: signature valid, the audit names the downstream KRR and its signer" \
	"$(jqo '[.signature, .audit.downstream_krr.signature, .audit.downstream_krr.signer, .audit.downstream_krr.originator, .audit.downstream_krr.accept_initiator_kms, .audit.downstream_krr.accept_receiver_kms, .audit.idrkmsi, .audit.idrkmsr]')" \
	"[\"valid\",\"valid\",\"CN=sdproxy.partner.example\",\"$PARTNER_URI\",[\"$H\"],[\"$P\"],\"$H\",\"$WRONG\"]"
is "2b pass: the downstream KRR's Id in the audit record" "$(jqo .audit.downstream_krr.id)" \
	"$("$SDTOOL" krr decode --json "$WORK/pass.xml" | "$JQ" -c .id)"
# KNOWN BUG (sdtool_decide.c print_outcome): on pass a KRR is sent upstream, the received one
# unchanged, but `decide --json` shows "krr": null and no accept lists (issue 4: the lists and
# krr are given "when a KRR would be sent").
is "2b pass: the JSON shows the KRR sent upstream (the received one, verbatim) and its lists" \
	"$("$JQ" -c --rawfile b "$WORK/pass.xml" '[.accept_initiator_kms, .accept_receiver_kms, .krr == $b]' "$WORK/out" 2>&1)" \
	"[[\"$H\"],[\"$P\"],true]"
dkrr passu none "$H" "$WRONG" "$H" "$P"
decide primary.conf passu
expect "2b pass, unsigned, require_signed false" "$BOB" pass 2b/3c:pass 488 - -
is "2b pass unsigned: signature unsigned" "$(jqo '[.signature, .audit.downstream_krr.signature]')" '["unsigned","unsigned"]'
decide primary-signed.conf pass
expect "2b pass, signed, require_signed true (control)" "$BOB" pass 2b/3c:pass 488 - -

# replace: something proposed is not acceptable here; ours embeds the received one
dkrr rogue partner.example "$H" "$WRONG" "$H" "$ROGUE $P"
decide primary.conf rogue
expect "2b replace: an unknown receiver KMS proposed" "$BOB" replace 2b/3c:replace 488 "[\"$H\"]" "[\"$P\"]"
krr_ok "2b replace: an unknown receiver KMS proposed" "$HOME_URI" true
xs_ok "2b replace: xmlsec1 verifies the embedded KRR's signature too" "$WORK/krr-ca.pem" "$WORK/krr.xml" --node-xpath "$XS_EMB"
run "$SDTOOL" krr decode --json "$WORK/krr.xml"
is "2b replace: the received KRR is embedded, unchanged" \
	"$(jqo '.embedded | [.id, .originator, .accept_initiator_kms, .accept_receiver_kms, .signed]')" \
	"$("$SDTOOL" krr decode --json "$WORK/rogue.xml" | "$JQ" -c '[.id, .originator, .accept_initiator_kms, .accept_receiver_kms, .signed]')"
is "2b replace: KMSs used and the parties carried over" \
	"$(jqo '[.originator_kms, .initiator, .receiver, .initiator_kms, .receiver_kms]')" \
	"[\"$H\",\"$ALICE\",\"$BOB\",\"$H\",\"$WRONG\"]"
is "2b replace: audit: downstream signature valid, its lists as received" \
	"$(jqo '.audit.downstream_krr | [.signature, .accept_initiator_kms, .accept_receiver_kms]' "$WORK/decide.json")" \
	"[\"valid\",[\"$H\"],[\"$ROGUE\",\"$P\"]]"
dkrr revoked partner.example "$H" "$WRONG" "$OLD $H" "$P"
decide px.conf revoked
expect "2b replace: a revoked initiator KMS proposed" "$BOB" replace 2b/3c:replace 488 "[\"$H\"]" "[\"$P\"]"
krr_ok "2b replace: a revoked initiator KMS proposed" "$HOME_URI" true
dkrr notperm partner.example "$H" "$WRONG" "$H" "$H $P"
decide primary.conf notperm
expect "2b replace: a receiver KMS our lookup does not give bob" "$BOB" replace 2b/3c:replace 488 "[\"$H\"]" "[\"$P\"]"
dkrr term3b partner.example "$H" "$WRONG" "$H" "$ROGUE $P" "$BOB" "$P"
decide partner.conf term3b
expect "3b replace at the partner (KRR from the terminating client)" "$BOB" replace 3b:replace 488 "[\"$H\"]" "[\"$P\"]"
krr_ok "3b replace at the partner" "$PARTNER_URI" true

# discard: unsigned or untrusted while require_signed; malformed
dkrr unsig none "$H" "$WRONG" "$H" "$P"
decide primary-signed.conf unsig
expect "discard: unsigned, require_signed true: our own KRR" "$BOB" discard discard:unverified-own-krr 488 "[\"$H\"]" "[\"$P\"]"
is "discard unsigned: signature unsigned" "$(jqo '[.signature, .audit.downstream_krr.signature]')" '["unsigned","unsigned"]'
krr_ok "discard unsigned: our own KRR" "$HOME_URI" null
run "$SDTOOL" krr decode --json "$WORK/krr.xml"
is "discard unsigned: our own KRR embeds nothing, names the KMSs used" \
	"$(jqo '[.embedded, .initiator_kms, .receiver_kms, .receiver]')" "[null,\"$H\",\"$WRONG\",\"$BOB\"]"
dkrr untrusted other/partner.example "$H" "$WRONG" "$H" "$P"
decide primary-signed.conf untrusted
expect "discard: signed under an untrusted CA, require_signed true" "$BOB" discard discard:unverified-own-krr 488 "[\"$H\"]" "[\"$P\"]"
is "discard untrusted: signature invalid" "$(jqo '[.signature, .audit.downstream_krr.signature]')" '["invalid","invalid"]'
dkrr unsig4 none "$H" "$P" "$H" "$P"
decide primary-signed.conf unsig4
expect "discard: unsigned, our lookup would forward: a plain 488" "$BOB" discard discard:unverified-plain-488 488 null null
printf '<KmsRedirectResponse xmlns="%s">not a KRR' "$KRR_NS" >"$WORK/garbage.xml"
response garbage
decide primary.conf garbage
expect "discard: malformed KRR" "$BOB" discard discard:malformed-plain-488 488 null null
is "discard malformed: signature malformed" "$(jqo .signature)" '"malformed"'

# Two servers replacing KRRs of one call in the same second (3b at the partner, then 3c at the
# primary): each new KRR has its own Id, never the one of the KRR it embeds.
SAME=$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)
edit primary.conf primary-deny-pi.conf 's/deny_initiator_kms = \[ \]/deny_initiator_kms = [ "kms.partner.example" ]/'
dkrr chain partner.example "$H" "$P" "$H $P $ROGUE" "$P" "$BOB" "$P"
decide partner.conf chain --time "$SAME"
expect "3b then 3c, same second: the partner replaces" "$BOB" replace 3b:replace 488 "[\"$H\",\"$P\"]" "[\"$P\"]"
jq -j .krr "$WORK/out" >"$WORK/chain2.xml"
response chain2
sed -i 's/^Call-ID: chain2@test/Call-ID: chain@test/' "$WORK/chain2.sip"	# the same call
decide primary-deny-pi.conf chain2 --time "$SAME"
CID=chain@test
expect "3b then 3c, same second: the primary replaces again" "$BOB" replace 2b/3c:replace 488 "[\"$H\"]" "[\"$P\"]"
jq -j .krr "$WORK/out" >"$WORK/chain3.xml"
run "$SDTOOL" krr decode --json "$WORK/chain3.xml"
is "3b then 3c: three KRRs, three Ids" \
	"$(jqo '[.originator, .embedded.originator, .embedded.embedded.originator] | length')
$(jqo '[.id, .embedded.id, .embedded.embedded.id] | unique | length')" "3
3"

done_testing
