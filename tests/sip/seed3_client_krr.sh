# Seed steps 3a, 3b and 3c end to end: both daemons forward alice's INVITE; bob the terminating
# sipp answers 488 with a KRR made by `mcx-sdtool krr build` and signed with a client certificate
# of the test CA.
#   replace: bob's KRR proposes kms.rogue.example (known to nobody) and kms.extra.example (known
#     to the partner only): the partner replaces it (3b) with its own KRR, bob's embedded, and
#     the primary replaces that (3c), the partner's embedded: three KRRs deep.
#   pass: bob's KRR proposes only what both accept: alice gets it unchanged.
. "$top_srcdir/tests/sip/lib_sip.sh"

need_sip
sip_ports 25400
sip_keys
L=127.0.0.1 EXTRA=kms.extra.example ROGUE=kms.rogue.example
VALID='valid_from = "2026-01-01T00:00:00Z"; valid_to = "2031-01-01T00:00:00Z";'
EMB="/*[local-name()='EmbeddedKrr']/*"
SIG="/*[local-name()='Signature' and namespace-uri()='$DSIG_NS']"

make_conf primary.conf role=primary port="$P_PRI" next_hop="sip:$L:$P_PAR;transport=udp"
make_conf partner.conf role=partner port="$P_PAR" next_hop="sip:$L:$P_UAS;transport=udp" \
	kms_extra="{ uri = \"$EXTRA\"; role = \"external\"; $VALID }"
start_daemon primary.conf primary || { done_testing; exit 1; }
start_daemon partner.conf partner || { done_testing; exit 1; }
B64=$(mikey_b64 "$ALICE" "$BOB" "$H" "$P")

# call NAME: alice calls bob, who answers 488 with $WORK/uas-krr.xml; sets CID, SENT (the 488
# bob sent) and GOT (the 488 alice got).
call() {
	csv "$1" bob@partner.example "$B64"
	uas_start "bob$1" uas_krr $L "$P_UAS"
	uac "$1" uac_final $L "$L:$P_PRI"
	sipp_ok "$1" "alice: INVITE, 488, ACK"
	uas_wait "bob$1"
	sipp_ok "bob$1" "bob: INVITE, 488 + KRR, ACK"
	CID=$(call_id "$1")
	SENT=$(sip_find "bob$1" sent '^SIP/2.0 488 ')
	GOT=$(sip_find "$1" recv '^SIP/2.0 488 ')
	is "$1: bob's INVITE came through both proxies, the ACK of his 488 from the partner alone" \
		"$(via_hops "$(sip_find "bob$1" recv '^INVITE ')" | sed 's/^\([^,]*\),.*, \([^,]*\)$/\1 .. \2/') | $(via_hops "$(sip_find "bob$1" recv '^ACK ')")" \
		"UDP $L:$P_PAR .. UDP $L:$P_UAC | UDP $L:$P_PAR"
}

# ---- replace, replace ----
ue_krr "$WORK/uas-krr.xml" ue "$H" "$P" "$H $EXTRA $ROGUE" "$P $ROGUE" || :
"$SDTOOL" krr decode --json "$WORK/uas-krr.xml" >"$WORK/bob.krr.json"
call replace
got_krr replace replace "$HOME_URI" true
is "replace: three KRRs deep: the primary's, the partner's, bob's" "$(krr_chain "$WORK/replace.krr.json")" \
	"$HOME_URI > $PARTNER_URI > $BOB"
is "replace: the primary's lists (3c): neither $EXTRA nor $ROGUE" "$(krr_lists "$WORK/replace.krr.json")" \
	"[[\"$H\"],[\"$P\"]]"
is "replace: the partner's lists (3b): $EXTRA kept, $ROGUE gone" \
	"$(jqo '.embedded | [.accept_initiator_kms, .accept_receiver_kms, .originator_kms, .signed]' "$WORK/replace.krr.json")" \
	"[[\"$H\",\"$EXTRA\"],[\"$P\"],\"$P\",true]"
is "replace: the innermost KRR is bob's, as he sent it (krr decode)" \
	"$(jqo '.embedded.embedded' "$WORK/replace.krr.json")" "$(jqo . "$WORK/bob.krr.json")"
is "replace: every KRR names the same call: initiator, receiver, KMSs used" \
	"$(jqo '[recurse(.embedded; . != null) | [.initiator, .receiver, .initiator_kms, .receiver_kms]] | unique' "$WORK/replace.krr.json")" \
	"[[\"$ALICE\",\"$BOB\",\"$H\",\"$P\"]]"
# xmlsec1 on each level's own signature
set +e
"$XMLSEC1" --verify --enabled-reference-uris same-doc --trusted-pem "$WORK/keys/krr-ca.pem" \
	--id-attr:Id "$KRR_NS:KmsRedirectResponse" --node-xpath "/*$EMB$SIG" "$WORK/replace.krr" >"$WORK/xs.out" 2>&1
x1=$?
"$XMLSEC1" --verify --enabled-reference-uris same-doc --trusted-pem "$WORK/keys/krr-ca.pem" \
	--id-attr:Id "$KRR_NS:KmsRedirectResponse" --node-xpath "/*$EMB$EMB$SIG" "$WORK/replace.krr" >>"$WORK/xs.out" 2>&1
x2=$?
set -e
is "replace: xmlsec1 verifies the partner's and bob's embedded signatures too" "$x1 $x2" "0 0"
[ "$x1 $x2" = "0 0" ] || grep -v '^func=' "$WORK/xs.out" | head -n 4 | sed 's/^/#   /'
# the oracle for the partner's step 3b: decide on the 488 bob sent
run "$SDTOOL" decide -c "$WORK/partner.conf" --json "$SENT"
is "replace: decide -c partner.conf on bob's 488: replace, valid, the lists the partner sent" \
	"$(jqo '[.decision, .rule, .signature, .accept_initiator_kms, .accept_receiver_kms]' "$WORK/out")" \
	"[\"replace\",\"3b:replace\",\"valid\",[\"$H\",\"$EXTRA\"],[\"$P\"]]"
expect_decision partner partner.conf "$CID" "forward 4:acceptable 0 $BOB" "replace 3b:replace 488 $BOB"
expect_decision primary primary.conf "$CID" "forward 4:acceptable 0 $BOB" "replace 2b/3c:replace 488 $BOB"
is "replace: the audit records chain the Ids: partner replaces bob's, primary replaces the partner's" \
	"$(audit_of partner.conf "$CID" | "$JQ" -r 'select(.decision == "replace") | "\(.downstream_krr.id) \(.krr_id)"') $(audit_of primary.conf "$CID" | "$JQ" -r 'select(.decision == "replace") | .krr_id')" \
	"$("$JQ" -r '"\(.embedded.embedded.id) \(.embedded.id) \(.id)"' "$WORK/replace.krr.json")"

# ---- pass, pass ----
ue_krr "$WORK/uas-krr.xml" ue "$H" kms.wrong.example "$H" "$P" || :
call pass
sip_body "$SENT" >"$WORK/pass-sent.krr"
got_krr pass pass "$BOB" null
if cmp -s "$WORK/pass-sent.krr" "$WORK/pass.krr"; then
	ok "pass: alice gets bob's KRR byte for byte"
else
	not_ok "pass: alice gets bob's KRR byte for byte"
	diff "$WORK/pass-sent.krr" "$WORK/pass.krr" | head -n 6 | sed 's/^/#   /'
fi
expect_decision partner partner.conf "$CID" "forward 4:acceptable 0 $BOB" "pass 3b:pass 488 $BOB"
expect_decision primary primary.conf "$CID" "forward 4:acceptable 0 $BOB" "pass 2b/3c:pass 488 $BOB"

stop_daemon partner
stop_daemon primary
done_testing
