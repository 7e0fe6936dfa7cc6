# I_MESSAGEs beyond the initial INVITE (issue: every request that carries one is decided):
# alice (sipp) -> primary -> partner -> bob (sipp) on 127.0.0.1 over UDP.  A call keyed
# acceptably is re-keyed inside its dialog: a re-INVITE and an UPDATE keyed acceptably reach
# bob; a re-INVITE and an UPDATE keyed for a receiver KMS the primary does not accept are
# answered 488 + KRR by the primary and never reach bob, and the dialog survives (BYE goes
# through).  Then MCData-style MESSAGEs with an application/mikey body: the acceptable one
# reaches bob, the other is answered 488 + KRR.  Each decision is logged and audited with the
# method and whether it was inside a dialog.
. "$top_srcdir/tests/sip/lib_sip.sh"

need_sip
sip_ports 26100
sip_keys
L=127.0.0.1

start_chain
GOOD=$(mikey_b64 "$ALICE" "$BOB" "$H" "$P")
BAD=$(mikey_b64 "$ALICE" "$BOB" "$H" kms.wrong.example)
printf 'SEQUENTIAL\n%s;%s;%s;\n' bob@partner.example "$GOOD" "$BAD" >"$WORK/dialog.csv"
cp "$WORK/dialog.csv" "$WORK/message.csv"

# ---- re-INVITE and UPDATE inside a dialog ----
uas_start bob uas_dialog $L "$P_UAS"
uac dialog uac_dialog $L "$L:$P_PRI"
sipp_ok dialog "alice: INVITE 200 ACK, re-INVITE 200 ACK, re-INVITE 488 ACK, UPDATE 488, UPDATE 200, BYE 200"
uas_wait bob
sipp_ok bob "bob: only the INVITE, the acceptable re-INVITE and UPDATE, and the BYE reached it"
CID=$(call_id dialog)
is "alice got two 488s" "$(sip_count dialog recv '^SIP/2.0 488 ')" 2
is "bob got two INVITEs and one UPDATE" "$(sip_count bob recv '^INVITE ') $(sip_count bob recv '^UPDATE ')" "2 1"

got_krr reinvite dialog "$HOME_URI" null
r2=$(sip_find dialog recv '^SIP/2.0 488 ' 2)
is "the UPDATE's 488: the KRR's Content-Type" "$(sip_hdr "$r2" Content-Type c)" "$KRR_CT"
sip_body "$r2" >"$WORK/update.krr"
krr_check update "$WORK/update.krr" "$HOME_URI" null
is "the KRR of the refused re-INVITE proposes the partner's KMS for bob" \
	"$(krr_lists "$WORK/reinvite.krr.json")" "[[\"$H\"],[\"$P\"]]"
is "the KRR names bob (IDRr), not the Contact the re-INVITE was sent to" \
	"$(jqo .receiver "$WORK/reinvite.krr.json")" "\"$BOB\""

# Both refusals came from the primary, inside the dialog: the dialog went on (the BYE went through).
expect_decision primary primary.conf "$CID" \
	"forward 4:acceptable 0 $BOB" "forward 4:acceptable 0 $BOB" \
	"krr 1a:receiver-kms 488 $BOB" "krr 1a:receiver-kms 488 $BOB" "forward 4:acceptable 0 $BOB"
is "primary's audit: method and dialog of each decision" \
	"$(audit_of primary.conf "$CID" | "$JQ" -r '"\(.method) \(.in_dialog)"' | paste -sd, -)" \
	"INVITE false,INVITE true,INVITE true,UPDATE true,UPDATE true"
like "primary's log line says UPDATE in-dialog" "$(grep -F "call $CID: krr" "$WORK/primary.log" | tail -n 1)" \
	"method UPDATE in-dialog"
expect_decision partner partner.conf "$CID" \
	"forward 4:acceptable 0 $BOB" "forward 4:acceptable 0 $BOB" "forward 4:acceptable 0 $BOB"

# ---- MESSAGE with application/mikey ----
uas_start bobm uas_message $L "$P_UAS"
uac message uac_message $L "$L:$P_PRI"
sipp_ok message "alice: MESSAGE keyed acceptably 200, MESSAGE keyed for a rogue KMS 488"
uas_wait bobm
sipp_ok bobm "bob: one MESSAGE, answered 200"
is "bob got exactly one MESSAGE" "$(sip_count bobm recv '^MESSAGE ')" 1
MCID=$(sip_hdr "$(sip_find message sent '^MESSAGE ')" Call-ID i)
got_krr message message "$HOME_URI" null
expect_decision primary primary.conf "$MCID" "forward 4:acceptable 0 $BOB" "krr 1a:receiver-kms 488 $BOB"
is "primary's audit: MESSAGE, outside a dialog, one I_MESSAGE each" \
	"$(audit_of primary.conf "$MCID" | "$JQ" -r '"\(.method) \(.in_dialog) \(.imessages)"' | paste -sd, -)" \
	"MESSAGE false 1,MESSAGE false 1"

stop_daemon partner
stop_daemon primary
done_testing
