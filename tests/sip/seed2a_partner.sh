# Seed steps 2a and 2b end to end: the primary daemon accepts the I_MESSAGE's KMS pair (its lookup
# knows kms.legacy.example for partner.example users) and forwards; the partner daemon does not
# know kms.legacy.example and answers 488 + its KRR; the primary then
#   - passes it unchanged when it accepts all of it (bob), or
#   - narrows it when it does not (carol: the partner also proposes kms.extra.example, unknown to
#     the primary): its own KRR with the filtered lists, the partner's embedded.
# bob the terminating sipp never sees the calls.
. "$top_srcdir/tests/sip/lib_sip.sh"

need_sip
sip_ports 25300
sip_keys
L=127.0.0.1 LEG=kms.legacy.example EXTRA=kms.extra.example
VALID='valid_from = "2026-01-01T00:00:00Z"; valid_to = "2031-01-01T00:00:00Z";'

make_conf primary.conf role=primary port="$P_PRI" next_hop="sip:$L:$P_PAR;transport=udp" \
	kms_extra="{ uri = \"$LEG\"; role = \"external\"; $VALID }" \
	lookup='{ user = "sip:*@partner.example";
      domains = ( { kms = "kms.partner.example"; external = [ "kms.home.example" ]; },
                  { kms = "kms.legacy.example"; external = [ "kms.home.example" ]; } ); }'
make_conf partner.conf role=partner port="$P_PAR" next_hop="sip:$L:$P_UAS;transport=udp" \
	kms_extra="{ uri = \"$EXTRA\"; role = \"external\"; $VALID }" \
	lookup='{ user = "sip:*@partner.example";
      domains = ( { kms = "kms.partner.example"; external = [ "kms.home.example" ]; } ); },
    { user = "sip:carol@partner.example";
      domains = ( { kms = "kms.partner.example"; external = [ "kms.home.example" ]; },
                  { kms = "kms.extra.example"; external = [ "kms.home.example" ]; } ); }'
start_daemon primary.conf primary || { done_testing; exit 1; }
start_daemon partner.conf partner || { done_testing; exit 1; }
uas_start bob uas_answer $L "$P_UAS" -timeout 30s

# call NAME USER: alice calls USER@partner.example with (kms.home.example, kms.legacy.example);
# the 488 she gets must verify, signed by SIGNER; sets CID.
call() {
	csv "$1" "$2@partner.example" "$(mikey_b64 "$ALICE" "sip:$2@partner.example" "$H" "$LEG")"
	uac "$1" uac_final $L "$L:$P_PRI"
	sipp_ok "$1" "alice -> $2: INVITE ($H, $LEG), 488, ACK"
	CID=$(call_id "$1")
	for d in primary partner; do
		run "$SDTOOL" decide -c "$WORK/$d.conf" --json "$(sip_find "$1" sent '^INVITE ')"
		cp "$WORK/out" "$WORK/$1-$d.json"
	done
	is "$1: decide on alice's INVITE: the primary forwards, the partner redirects (2a)" \
		"$(jqo '[.decision, .rule]' "$WORK/$1-primary.json") $(jqo '[.decision, .rule, .accept_initiator_kms, .accept_receiver_kms]' "$WORK/$1-partner.json")" \
		"[\"forward\",\"4:acceptable\"] [\"krr\",\"2a:receiver-kms\",$3,$4]"
}

# ---- bob: the primary passes the partner's KRR unchanged ----
call pass bob "[\"$H\"]" "[\"$P\"]"
got_krr pass pass "$PARTNER_URI" null
is "pass: the KRR alice got is the partner's: originator, its KMS, receiver, KMSs used, nothing embedded" \
	"$(jqo '[.originator, .originator_kms, .receiver, .initiator_kms, .receiver_kms, .embedded]' "$WORK/pass.krr.json")" \
	"[\"$PARTNER_URI\",\"$P\",\"$BOB\",\"$H\",\"$LEG\",null]"
is "pass: its lists are the partner's (decide)" "$(krr_lists "$WORK/pass.krr.json")" \
	"$(jqo '[.accept_initiator_kms, .accept_receiver_kms]' "$WORK/pass-partner.json")"
# the oracle for the primary's step 2b: decide on the 488 alice got (the partner's KRR)
run "$SDTOOL" decide -c "$WORK/primary.conf" --json "$(sip_find pass recv '^SIP/2.0 488 ')"
is "pass: decide -c primary.conf on that 488: pass, valid signature" \
	"$(jqo '[.decision, .rule, .signature]' "$WORK/out")" '["pass","2b/3c:pass","valid"]'
expect_decision partner partner.conf "$CID" "krr 2a:receiver-kms 488 $BOB"
expect_decision primary primary.conf "$CID" "forward 4:acceptable 0 $BOB" "pass 2b/3c:pass 488 $BOB"
is "pass: the partner's audit record names the KRR alice got" \
	"$(audit_of partner.conf "$CID" | "$JQ" -r .krr_id)" "$("$JQ" -r .id "$WORK/pass.krr.json")"

# ---- carol: the primary narrows the partner's KRR ----
CAROL=sip:carol@partner.example
call narrow carol "[\"$H\"]" "[\"$P\",\"$EXTRA\"]"
got_krr narrow narrow "$HOME_URI" true
is "narrow: alice's KRR is the primary's, the partner's embedded in it" "$(krr_chain "$WORK/narrow.krr.json")" \
	"$HOME_URI > $PARTNER_URI"
is "narrow: the primary's KRR: receiver, KMSs used, lists without $EXTRA" \
	"$(jqo '[.receiver, .initiator_kms, .receiver_kms, .accept_initiator_kms, .accept_receiver_kms]' "$WORK/narrow.krr.json")" \
	"[\"$CAROL\",\"$H\",\"$LEG\",[\"$H\"],[\"$P\"]]"
is "narrow: the embedded KRR is the partner's: originator, lists with $EXTRA, signed, nothing below" \
	"$(jqo '.embedded | [.originator, .originator_kms, .accept_initiator_kms, .accept_receiver_kms, .signed, .embedded]' "$WORK/narrow.krr.json")" \
	"[\"$PARTNER_URI\",\"$P\",[\"$H\"],[\"$P\",\"$EXTRA\"],true,null]"
expect_decision partner partner.conf "$CID" "krr 2a:receiver-kms 488 $CAROL"
expect_decision primary primary.conf "$CID" "forward 4:acceptable 0 $CAROL" "replace 2b/3c:replace 488 $CAROL"
is "narrow: the primary's audit record: its KRR's Id, the partner's KRR's Id, originator and signature" \
	"$(audit_of primary.conf "$CID" | "$JQ" -r 'select(.decision == "replace") | "\(.krr_id) \(.downstream_krr.id) \(.downstream_krr.originator) \(.downstream_krr.signature)"')" \
	"$("$JQ" -r '"\(.id) \(.embedded.id) \(.embedded.originator)"' "$WORK/narrow.krr.json") valid"

uas_stop bob
is "bob got nothing" "$(sip_count bob recv .)" 0
stop_daemon partner
stop_daemon primary
done_testing
