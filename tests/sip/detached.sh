# Answers after a provisional one, over UDP: once the next hop has sent 180 the daemon lets nta's
# INVITE client transaction go (nta would keep it 32 s after the call, Timer D) and handles
# the rest itself (proxy.c, detach).  What must still hold, through the primary alone:
#   1. bob rings, then answers 488 with a KRR: alice gets the 180 and a 488 decided on like any
#      other (here: replaced, the primary's own KRR with bob's embedded); bob's 488 is ACKed hop
#      by hop, from the primary, with the branch of the INVITE it got; bob sends the same 488
#      again (his ACK "lost"): ACKed again, and alice gets no second 488;
#   2. CANCEL after 180: bob gets CANCEL with the INVITE's branch, 487 back, alice 487 (cancel.sh
#      does it through two daemons);
#   3. 180 then 200: the call is set up and ended (seed4_call.sh does it through two daemons);
#   4. a BYE inside a dialog, no body, numeric next hop: sent on statelessly, the same branch
#      for its repetition (a stateless proxy leaves retransmitting to the client).
. "$top_srcdir/tests/sip/lib_sip.sh"

need_sip
sip_ports 26700
sip_keys
L=127.0.0.1
ROGUE=kms.rogue.example

make_conf primary.conf role=primary port="$P_PRI" transports=udp next_hop="sip:$L:$P_UAS;transport=udp"
start_daemon primary.conf primary || { done_testing; exit 1; }
B64=$(mikey_b64 "$ALICE" "$BOB" "$H" "$P")
branch_of() { sip_hdr_list "$1" Via v | head -n 1 | sed 's/.*branch=\([^;]*\).*/\1/'; }

# ---- 1: 180, then 488 + KRR, twice ----
ue_krr "$WORK/uas-krr.xml" ue "$H" "$P" "$H $ROGUE" "$P" || :
csv krr bob@partner.example "$B64"
uas_start bobkrr uas_ring_krr $L "$P_UAS"
uac krr uac_final $L "$L:$P_PRI"
sipp_ok krr "alice: INVITE, 180, 488, ACK"
uas_wait bobkrr
RC_BOB=$RC
RC=$RC_BOB sipp_ok bobkrr "bob: INVITE, 180, 488 + KRR, ACK, the same 488 again, ACK again"
CID=$(call_id krr)
inv=$(sip_find bobkrr recv '^INVITE ')
is "alice got 180 then one 488" "$(sip_firsts krr recv | sed 's/^SIP\/2.0 100 Trying | //')" \
	"SIP/2.0 180 Ringing | SIP/2.0 488 Not Acceptable Here"
is "bob got INVITE, ACK, ACK" "$(sip_firsts bobkrr recv | sed 's/ sip:[^ ]* SIP\/2.0//g')" "INVITE | ACK | ACK"
for n in 1 2; do
	ack=$(sip_find bobkrr recv '^ACK ' $n)
	is "bob's ACK $n: from the primary, the INVITE's branch, CSeq of the INVITE" \
		"$(via_hops "$ack") | $(branch_of "$ack") | $(sip_hdr "$ack" CSeq)" \
		"UDP $L:$P_PRI | $(branch_of "$inv") | $(sip_hdr "$inv" CSeq | sed 's/INVITE/ACK/')"
done
is "the first ACK names the INVITE's Request-URI" \
	"$(head -n 1 "$(sip_find bobkrr recv '^ACK ')" | cut -d' ' -f2)" "$(head -n 1 "$inv" | cut -d' ' -f2)"
got_krr krr krr "$HOME_URI" true
expect_decision primary primary.conf "$CID" "forward 4:acceptable 0 $BOB" "replace 2b/3c:replace 488 $BOB"

# ---- 2: CANCEL after 180 ----
csv cancel bob@partner.example "$B64"
uas_start bobcancel uas_cancel $L "$P_UAS"
uac cancel uac_cancel $L "$L:$P_PRI"
sipp_ok cancel "alice: INVITE, 180, CANCEL, 200 OK, 487, ACK"
uas_wait bobcancel
sipp_ok bobcancel "bob: INVITE, 180, CANCEL, 200 OK, 487, ACK"
inv=$(sip_find bobcancel recv '^INVITE ')
can=$(sip_find bobcancel recv '^CANCEL ')
is "bob's CANCEL: from the primary, the INVITE's branch, Request-URI and CSeq number" \
	"$(via_hops "$can") | $(branch_of "$can") | $(head -n 1 "$can" | cut -d' ' -f2) | $(sip_hdr "$can" CSeq)" \
	"UDP $L:$P_PRI | $(branch_of "$inv") | $(head -n 1 "$inv" | cut -d' ' -f2) | $(sip_hdr "$inv" CSeq | sed 's/INVITE/CANCEL/')"
is "alice got 487" "$(sip_status "$(sip_find cancel recv '^SIP/2.0 487 ')")" 487

# ---- 3: 180, 200, ACK, BYE ----
csv call bob@partner.example "$B64"
uas_start bobcall uas_answer $L "$P_UAS"
uac call uac_call $L "$L:$P_PRI"
sipp_ok call "alice: INVITE, 180, 200, ACK, BYE, 200"
uas_wait bobcall
sipp_ok bobcall "bob: INVITE, 180, 200, ACK, BYE, 200"

# ---- 4: a BYE in a dialog goes on statelessly, the same branch for its retransmission ----
SIPNET_BRANCHES=$WORK/branches python3 "$top_srcdir/tests/sip/sipnet.py" sink "$P_UAS2" "$WORK/sink.log" &
SIP_PIDS="$SIP_PIDS $!"
wait_bound udp "$P_UAS2"
printf 'BYE sip:bob@%s:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s:9;rport;branch=z9hG4bK-bye1\r\nMax-Forwards: 70\r\nFrom: <%s>;tag=a1\r\nTo: <%s>;tag=b1\r\nCall-ID: stateless-bye\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n' \
	"$L" "$P_UAS2" "$L" "$ALICE" "$BOB" >"$WORK/bye.sip"
python3 "$top_srcdir/tests/sip/sipnet.py" send "$P_PRI" "$WORK/bye.sip" 3 >"$WORK/bye1.out" 2>&1 || :
python3 "$top_srcdir/tests/sip/sipnet.py" send "$P_PRI" "$WORK/bye.sip" 3 >"$WORK/bye2.out" 2>&1 || :
is "the BYE and its repetition: 200 from the next hop both times" "$(cut -d' ' -f2- "$WORK/bye1.out") | $(cut -d' ' -f2- "$WORK/bye2.out")" \
	"SIP/2.0 200 OK | SIP/2.0 200 OK"
is "the next hop got both with the same branch of the primary (RFC 3261 16.11)" \
	"$(awk '$2 == "stateless-bye" { print $3 }' "$WORK/branches" | uniq -c | awk '{ print $1 }')" 2
like "that branch is the primary's: magic cookie, loop key, a token" \
	"$(awk '$2 == "stateless-bye" { print $3; exit }' "$WORK/branches")" '^z9hG4bK[A-Za-z0-9]{16}\.[A-Za-z0-9]+$'

stop_daemon primary
done_testing
