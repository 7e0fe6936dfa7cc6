# The sipp scenarios of tests/sip, played against each other with no daemon in between: each
# pair completes, the I_MESSAGE arrives decodable, a KRR sent by [file] arrives byte for byte
# with its signature intact, over UDP, TCP and IPv6; and the trace helpers of lib_sip.sh read
# what sipp logged.  A failure here is in the tests, not in the daemon.
. "$top_srcdir/tests/sip/lib_sip.sh"

need "$SIPP" "$XMLSEC1" "$OPENSSL" "$JQ"
[ -x "$SDTOOL" ] || { echo "not ok - $SDTOOL is not built"; exit 1; }
sip_ports 25000
sip_keys

B64=$(mikey_b64 "$ALICE" "$BOB" "$H" "$P")
L=127.0.0.1

# ---- answered call, BYE (uac_call <-> uas_answer), UDP ----
csv call bob@partner.example "$B64"
uas_start uas_call uas_answer $L "$P_UAS"
uac call uac_call $L "$L:$P_UAS"
sipp_ok call "INVITE, 200, ACK, BYE, 200 against uas_answer"
uas_wait uas_call
sipp_ok uas_call "uas_answer saw INVITE, ACK, BYE"
is "call: what the UAC got" "$(sip_firsts call recv)" "SIP/2.0 180 Ringing | SIP/2.0 200 OK | SIP/2.0 200 OK"
is "call: what the UAS got" "$(sip_firsts uas_call recv | sed 's/ SIP\/2.0//g; s/ sip:[^ |]*//g')" "INVITE | ACK | BYE"
inv=$(sip_find uas_call recv '^INVITE ')
run "$SDTOOL" mikey decode --input sip --json "$inv"
is "call: the I_MESSAGE of the INVITE decodes (IDRi IDRr IDRkmsi IDRkmsr)" \
	"$RC $(jqo '[.idri, .idrr, .idrkmsi, .idrkmsr]' "$WORK/out")" "0 [\"$ALICE\",\"$BOB\",\"$H\",\"$P\"]"
is "call: Request-URI and To of the INVITE" \
	"$(head -n 1 "$inv" | tr -d '\r') $(sip_hdr "$inv" To t)" "INVITE sip:bob@partner.example SIP/2.0 <sip:bob@partner.example>"
bye=$(sip_find uas_call recv '^BYE ')
is "call: the BYE goes to the UAS's Contact, Call-ID of the INVITE" \
	"$(head -n 1 "$bye" | tr -d '\r' | cut -d' ' -f2) $(sip_hdr "$bye" Call-ID i)" \
	"sip:bob@$L:$P_UAS;transport=UDP $(sip_hdr "$inv" Call-ID i)"
is "call: call_id reads the INVITE's Call-ID" "$(call_id call)" "$(sip_hdr "$inv" Call-ID i)"

# ---- 488 + KRR (uac_final <-> uas_krr), UDP, then TCP ----
ue_krr "$WORK/uas-krr.xml" ue "$H" kms.wrong.example "$H" "$P" || :
for tr in u1 t1; do
	csv krr$tr bob@partner.example "$B64"
	uas_start uas_krr$tr uas_krr $L "$P_UAS" -t "$tr"
	uac krr$tr uac_final $L "$L:$P_UAS" -t "$tr"
	sipp_ok krr$tr "INVITE, 488, ACK against uas_krr (-t $tr)"
	uas_wait uas_krr$tr
	sipp_ok uas_krr$tr "uas_krr saw INVITE, ACK (-t $tr)"
	r=$(sip_find krr$tr recv '^SIP/2.0 488 ')
	is "krr -t $tr: status, Content-Type" "$(sip_status "$r") $(sip_hdr "$r" Content-Type c)" "488 $KRR_CT"
	sip_body "$r" >"$WORK/got-krr$tr-raw.xml"
	sip_body "$(sip_find uas_krr$tr sent '^SIP/2.0 488 ')" >"$WORK/sent-krr$tr-raw.xml"
	{ cat "$WORK/uas-krr.xml"; printf '\r\n'; } >"$WORK/want-krr.xml"
	if cmp -s "$WORK/sent-krr$tr-raw.xml" "$WORK/got-krr$tr-raw.xml" && cmp -s "$WORK/want-krr.xml" "$WORK/got-krr$tr-raw.xml"; then
		ok "krr -t $tr: the KRR arrives as sent, the file byte for byte and a CRLF"
	else
		not_ok "krr -t $tr: the KRR arrives as sent, the file byte for byte and a CRLF"
		diff "$WORK/want-krr.xml" "$WORK/got-krr$tr-raw.xml" | head -n 6 | sed 's/^/#   /'
	fi
	krr_check "krr -t $tr (as received)" "$WORK/got-krr$tr-raw.xml" "$BOB" null
	is "krr -t $tr: originator chain, lists" \
		"$(krr_chain "$WORK/got-krr$tr-raw.xml.json") $(krr_lists "$WORK/got-krr$tr-raw.xml.json")" \
		"$BOB [[\"$H\"],[\"$P\"]]"
done

# ---- CANCEL (uac_cancel <-> uas_cancel) ----
csv cancel bob@partner.example "$B64"
uas_start uas_cancel uas_cancel $L "$P_UAS"
uac cancel uac_cancel $L "$L:$P_UAS"
sipp_ok cancel "INVITE, 180, CANCEL, 200, 487, ACK against uas_cancel"
uas_wait uas_cancel
sipp_ok uas_cancel "uas_cancel saw INVITE, CANCEL, ACK"
is "cancel: what the UAC got" "$(sip_firsts cancel recv)" \
	"SIP/2.0 180 Ringing | SIP/2.0 200 OK | SIP/2.0 487 Request Terminated"
r=$(sip_find cancel recv '^SIP/2.0 200 ')
is "cancel: the 200 answers the CANCEL" "$(sip_hdr "$r" CSeq)" "1 CANCEL"

# ---- a next hop that swallows the INVITE (uac_final -> uas_swallow) ----
csv lost bob@partner.example "$B64"
uas_start uas_lost uas_swallow $L "$P_UAS" -timeout 4s
uac lost uac_final $L "$L:$P_UAS" -timeout 2s
is "lost: uac_final fails when nothing answers (exit != 0, ~2 s)" \
	"$([ "$RC" -ne 0 ] && echo fails) $([ "$MS" -ge 1500 ] && [ "$MS" -lt 6000 ] && echo bounded)" "fails bounded"
uas_stop uas_lost
is "lost: uas_swallow got the INVITE and its retransmissions (500 ms, 1 s ...)" \
	"$(sip_count uas_lost recv '^INVITE ' | awk '{ print ($1 >= 3) ? "3+" : $1 }') $(sip_count uas_lost sent .)" "3+ 0"

# ---- IPv6: answered call over ::1 ----
csv v6 bob@partner.example "$B64"
uas_start uas_v6 uas_answer ::1 "$P_UAS"
uac v6 uac_call ::1 "[::1]:$P_UAS"
sipp_ok v6 "INVITE, 200, ACK, BYE, 200 over ::1"
uas_wait uas_v6
sipp_ok uas_v6 "uas_answer over ::1"
inv=$(sip_find uas_v6 recv '^INVITE ')
like "v6: the INVITE's Via is [::1]" "$(sip_hdr_list "$inv" Via v)" "^SIP/2.0/UDP \[::1\]:$P_UAC;"

# ---- the trace helpers on a made-up message ----
printf '%s\r\n' 'SIP/2.0 200 OK' 'Via: SIP/2.0/UDP a:1;branch=z9hG4bK1, SIP/2.0/UDP b:2;branch=z9hG4bK2' \
	'v: SIP/2.0/TCP c:3;branch=z9hG4bK3' 'Record-Route: <sip:p1;lr>, <sip:p2;lr;x="a,b">' \
	'Record-Route: <sip:p3;lr>' 'Content-Length: 5' '' 'a=b,c' >"$WORK/made.sip"
is "sip_hdr_list: Via entries, compact form too" "$(sip_hdr_list "$WORK/made.sip" Via v | cut -d' ' -f2 | tr '\n' ' ')" "a:1;branch=z9hG4bK1 b:2;branch=z9hG4bK2 c:3;branch=z9hG4bK3 "
is "sip_hdr_list: Record-Route entries" "$(sip_hdr_list "$WORK/made.sip" Record-Route | tr '\n' ' ')" \
	'<sip:p1;lr> <sip:p2;lr;x="a,b"> <sip:p3;lr> '
is "sip_body, sip_status" "$(sip_body "$WORK/made.sip" | tr -d '\r') $(sip_status "$WORK/made.sip")" "a=b,c 200"

done_testing
