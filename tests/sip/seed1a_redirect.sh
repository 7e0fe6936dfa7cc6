# Seed step 1a end to end: the primary daemon does not accept the I_MESSAGE's KMS pair and answers
# alice (sipp) with 488 + a KRR it signed; xmlsec1 and `mcx-sdtool krr verify` verify it, its
# lists are those `mcx-sdtool decide` gives for the same INVITE, and the partner and bob (sipp)
# never see the call.  Twice: a wrong receiver KMS, then an unknown initiator KMS.
. "$top_srcdir/tests/sip/lib_sip.sh"

need_sip
sip_ports 25200
sip_keys
L=127.0.0.1 WRONG=kms.wrong.example ROGUE=kms.rogue.example

start_chain
uas_start bob uas_answer $L "$P_UAS" -timeout 30s

# redirect NAME IDRKMSI IDRKMSR RULE AI AR: one call from alice that the primary redirects with
# RULE and the accept lists AI and AR (compact JSON arrays).
redirect() {
	r_n=$1 r_i=$2 r_r=$3 r_rule=$4 r_ai=$5 r_ar=$6
	csv "$r_n" bob@partner.example "$(mikey_b64 "$ALICE" "$BOB" "$r_i" "$r_r")"
	uac "$r_n" uac_final $L "$L:$P_PRI"
	sipp_ok "$r_n" "alice: INVITE ($r_i, $r_r), 488, ACK"
	is "$r_n: what alice got" "$(sip_firsts "$r_n" recv | sed 's/^SIP\/2.0 100 Trying | //')" \
		"SIP/2.0 488 Not Acceptable Here"
	r_cid=$(call_id "$r_n")
	r_resp=$(sip_find "$r_n" recv '^SIP/2.0 488 ')
	is "$r_n: the 488: Via alice's alone, To tagged, CSeq" \
		"$(via_hops "$r_resp") | $(sip_hdr "$r_resp" To t | grep -c ';tag=') | $(sip_hdr "$r_resp" CSeq)" \
		"UDP $L:$P_UAC | 1 | 1 INVITE"

	got_krr "$r_n" "$r_n" "$HOME_URI" null
	is "$r_n: KRR: originator, its KMS, initiator, receiver, the KMSs used, signed, nothing embedded" \
		"$(jqo '[.originator, .originator_kms, .initiator, .receiver, .initiator_kms, .receiver_kms, .signed, .embedded]' "$WORK/$r_n.krr.json")" \
		"[\"$HOME_URI\",\"$H\",\"$ALICE\",\"$BOB\",\"$r_i\",\"$r_r\",true,null]"
	is "$r_n: KRR: accept lists" "$(krr_lists "$WORK/$r_n.krr.json")" "[$r_ai,$r_ar]"

	# the oracle: mcx-sdtool decide on the very INVITE alice sent
	run "$SDTOOL" decide -c "$WORK/primary.conf" --json "$(sip_find "$r_n" sent '^INVITE ')"
	is "$r_n: decide on alice's INVITE: krr, $r_rule, 488, the KRR's lists" \
		"$(jqo '[.decision, .rule, .status, .accept_initiator_kms, .accept_receiver_kms]' "$WORK/out")" \
		"[\"krr\",\"$r_rule\",488,$(krr_lists "$WORK/$r_n.krr.json" | sed 's/^\[//; s/\]$//')]"
	expect_decision primary primary.conf "$r_cid" "krr $r_rule 488 $BOB"
	is "$r_n: the primary's audit record names the KRR it sent (Id, signed, lists)" \
		"$(audit_of primary.conf "$r_cid" | "$JQ" -c '[.krr_id, .krr_signed, .accept_initiator_kms, .accept_receiver_kms, .idrkmsi, .idrkmsr]')" \
		"$(jqo "[.id, .signed, .accept_initiator_kms, .accept_receiver_kms, \"$r_i\", \"$r_r\"]" "$WORK/$r_n.krr.json")"
	is "$r_n: the partner made no decision for this call" "$(decision_of partner "$r_cid")" ""
}

redirect wrongr "$H" "$WRONG" 1a:receiver-kms "[\"$H\"]" "[\"$P\"]"
redirect roguei "$ROGUE" "$P" 1a:initiator-kms "[\"$P\",\"$H\"]" "[\"$P\"]"

uas_stop bob
is "bob got nothing" "$(sip_count bob recv .)" 0
is "the partner logged no decision at all" "$(grep -c 'call .*: ' "$WORK/partner.log" || :)" 0

stop_daemon partner
stop_daemon primary
done_testing
