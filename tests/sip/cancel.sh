# CANCEL before the answer, end to end: alice (sipp) -> primary -> partner -> bob (sipp), who
# rings and never answers; alice cancels.  She gets 200 OK to her CANCEL and 487 to her INVITE;
# the CANCEL reaches bob hop by hop through both proxies.
. "$top_srcdir/tests/sip/lib_sip.sh"

need_sip
sip_ports 25500
sip_keys
L=127.0.0.1

start_chain

csv cancel bob@partner.example "$(mikey_b64 "$ALICE" "$BOB" "$H" "$P")"
uas_start bob uas_cancel $L "$P_UAS"
uac cancel uac_cancel $L "$L:$P_PRI"
sipp_ok cancel "alice: INVITE, 180, CANCEL, 200 OK, 487, ACK"
uas_wait bob
sipp_ok bob "bob: INVITE, 180, CANCEL, 200 OK, 487, ACK"
CID=$(call_id cancel)

is "what alice got" "$(sip_firsts cancel recv | sed 's/^SIP\/2.0 100 Trying | //')" \
	"SIP/2.0 180 Ringing | SIP/2.0 200 OK | SIP/2.0 487 Request Terminated"
r200=$(sip_find cancel recv '^SIP/2.0 200 ')
r487=$(sip_find cancel recv '^SIP/2.0 487 ')
is "alice's 200 OK answers her CANCEL, her Via alone" "$(sip_hdr "$r200" CSeq) | $(via_hops "$r200")" \
	"1 CANCEL | UDP $L:$P_UAC"
is "alice's 487 answers her INVITE, her Via alone, bob's To tag" \
	"$(sip_hdr "$r487" CSeq) | $(via_hops "$r487") | $(sip_hdr "$r487" To t | sed 's/.*;tag=//')" \
	"1 INVITE | UDP $L:$P_UAC | $(sip_hdr "$(sip_find bob sent '^SIP/2.0 487 ')" To t | sed 's/.*;tag=//')"

inv=$(sip_find bob recv '^INVITE ')
can=$(sip_find bob recv '^CANCEL ')
ack=$(sip_find bob recv '^ACK ')
is "bob got INVITE, CANCEL, ACK" "$(sip_firsts bob recv | sed 's/ sip:[^ ]* SIP\/2.0//g')" "INVITE | CANCEL | ACK"
is "bob's CANCEL: from the partner, the branch of the INVITE it cancels (RFC 3261 9.1)" \
	"$(via_hops "$can") | $(sip_hdr_list "$can" Via v | sed 's/.*branch=\([^;]*\).*/\1/')" \
	"UDP $L:$P_PAR | $(sip_hdr_list "$inv" Via v | head -n 1 | sed 's/.*branch=\([^;]*\).*/\1/')"
is "bob's CANCEL: Request-URI, Call-ID, CSeq of the INVITE" \
	"$(head -n 1 "$can" | cut -d' ' -f2) $(sip_hdr "$can" Call-ID i) $(sip_hdr "$can" CSeq)" \
	"$(head -n 1 "$inv" | cut -d' ' -f2) $CID 1 CANCEL"
is "bob's ACK of his 487 comes from the partner (hop by hop)" "$(via_hops "$ack") | $(sip_hdr "$ack" CSeq)" \
	"UDP $L:$P_PAR | 1 ACK"
expect_decision primary primary.conf "$CID" "forward 4:acceptable 0 $BOB"
expect_decision partner partner.conf "$CID" "forward 4:acceptable 0 $BOB"

stop_daemon partner
stop_daemon primary
done_testing
