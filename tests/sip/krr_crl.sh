# Revocation of KRR signers (krr.crl), with a CRL made by `openssl ca -gencrl`:
#   - mcx-sdtool krr verify: a KRR signed by a revoked signer is untrusted with --crl (a file or
#     a folder), trusted without (the control); a good signer stays trusted; a CRL past its
#     nextUpdate makes every chain fail (fail closed); `openssl verify -crl_check` (the oracle)
#     agrees that the signer's certificate is revoked, and xmlsec1 that the KRR is signed by it;
#   - the daemon (require_signed = true): bob answers 488 with a KRR of the revoked signer:
#     discarded (a plain 488 goes to alice) and audited as "invalid", the same
#     decision as `mcx-sdtool decide`; before the revocation (an empty CRL) it passed, and the
#     new CRL took effect on SIGHUP.
. "$top_srcdir/tests/sip/lib_sip.sh"

need_sip
sip_ports 29200
sip_keys
L=127.0.0.1
ue_cert revoked "$BOB" >>"$WORK/keys.log" 2>&1 || { not_ok "a second client signer"; done_testing; exit 1; }

# ---- the CA's database and CRLs ----
CA=$WORK/ca
mkdir -p "$CA"
: >"$CA/index.txt"
echo 1000 >"$CA/crlnumber"
cat >"$CA/ca.cnf" <<EOF
[ ca ]
default_ca = CA_default
[ CA_default ]
database = $CA/index.txt
crlnumber = $CA/crlnumber
certificate = $WORK/keys/krr-ca.pem
private_key = $WORK/keys/krr-ca-key.pem
default_md = sha256
default_crl_days = 30
EOF
gencrl() { "$OPENSSL" ca -config "$CA/ca.cnf" -gencrl "$@" >>"$WORK/ca.log" 2>&1; }
gencrl -out "$CA/empty-crl.pem"
"$OPENSSL" ca -config "$CA/ca.cnf" -revoke "$WORK/keys/revoked/krr-cert.pem" -crl_reason keyCompromise \
	>>"$WORK/ca.log" 2>&1
gencrl -out "$CA/krr-crl.pem"
gencrl -crl_lastupdate 20260101000000Z -crl_nextupdate 20260102000000Z -out "$CA/old-crl.pem"
mkdir -p "$CA/crl.d"
cp "$CA/krr-crl.pem" "$CA/crl.d/"
if [ -s "$CA/empty-crl.pem" ] && [ -s "$CA/krr-crl.pem" ] && [ -s "$CA/old-crl.pem" ]; then
	ok "CRLs made with openssl ca -gencrl (empty, revoking a signer, one past its nextUpdate)"
else
	not_ok "CRLs made with openssl ca -gencrl"
	diag "$WORK/ca.log"
fi
set +e
"$OPENSSL" verify -crl_check -CAfile "$WORK/keys/krr-ca.pem" -CRLfile "$CA/krr-crl.pem" \
	"$WORK/keys/revoked/krr-cert.pem" >"$WORK/ov.out" 2>&1
ov=$?
set -e
like "oracle: openssl verify -crl_check says the signer's certificate is revoked" "$ov $(tr '\n' ' ' <"$WORK/ov.out")" \
	"^2 .*certificate revoked"

# ---- mcx-sdtool krr verify ----
ue_krr "$WORK/good.krr" ue "$H" kms.wrong.example "$H" "$P" || :
ue_krr "$WORK/revoked.krr" revoked "$H" kms.wrong.example "$H" "$P" || :
set +e
"$XMLSEC1" --verify --enabled-reference-uris same-doc --trusted-pem "$WORK/keys/krr-ca.pem" \
	--id-attr:Id "$KRR_NS:KmsRedirectResponse" "$WORK/revoked.krr" >"$WORK/xs.out" 2>&1
xs=$?
set -e
is "oracle: xmlsec1 verifies the revoked signer's KRR signature (it knows no CRL)" "$xs" 0
verify() { run "$SDTOOL" krr verify --trust "$WORK/keys/krr-ca.pem" "$@"; }
verify "$WORK/revoked.krr"
is "krr verify without --crl: the revoked signer's KRR is valid (the control)" "$RC" 0
verify --crl "$CA/krr-crl.pem" "$WORK/revoked.krr"
like "krr verify --crl: untrusted, the certificate revoked" "$RC $(cat "$WORK/err")" "^1 .*certificate revoked"
verify --crl "$CA/crl.d" "$WORK/revoked.krr"
like "krr verify --crl FOLDER: the same" "$RC $(cat "$WORK/err")" "^1 .*certificate revoked"
verify --crl "$CA/krr-crl.pem" "$WORK/good.krr"
is "krr verify --crl: a signer not on the CRL stays valid" "$RC" 0
verify --crl "$CA/old-crl.pem" "$WORK/good.krr"
like "krr verify with a CRL past its nextUpdate: untrusted (fail closed)" "$RC $(cat "$WORK/err")" "^1 .*CRL has expired"
verify --crl "$WORK/keys/krr-ca.pem" "$WORK/good.krr"
like "krr verify --crl with no CRL in the file: a clear error" "$RC $(cat "$WORK/err")" "^1 .*no PEM certificate revocation list"

# ---- the daemon: pass before the revocation, discard after SIGHUP ----
make_conf primary.conf role=primary port="$P_PRI" next_hop="sip:$L:$P_UAS;transport=udp" require_signed=true \
	crl="$CA/empty-crl.pem" metrics="http://$L:$((P_PRI + 30))/metrics"
start_daemon primary.conf primary || { done_testing; exit 1; }
B64=$(mikey_b64 "$ALICE" "$BOB" "$H" "$P")
call() {	# NAME: alice calls, bob answers 488 with $WORK/uas-krr.xml
	csv "$1" bob@partner.example "$B64"
	uas_start "bob$1" uas_krr $L "$P_UAS"
	uac "$1" uac_final $L "$L:$P_PRI"
	sipp_ok "$1" "alice: INVITE, 488, ACK"
	uas_wait "bob$1"
	CID=$(call_id "$1")
	SENT=$(sip_find "bob$1" sent '^SIP/2.0 488 ')
}
cp "$WORK/revoked.krr" "$WORK/uas-krr.xml"
call before
got_krr before before "$BOB" null
expect_decision primary primary.conf "$CID" "forward 4:acceptable 0 $BOB" "pass 2b/3c:pass 488 $BOB"
sed -i "s|$CA/empty-crl.pem|$CA/krr-crl.pem|" "$WORK/primary.conf"
hup primary || not_ok "SIGHUP: the new CRL loaded"
call after
a_resp=$(sip_find after recv '^SIP/2.0 488 ')
is "after: alice gets a plain 488, bob's KRR discarded (the call's own KMSs are acceptable: nothing to propose)" \
	"$(sip_status "$a_resp") $(sip_hdr "$a_resp" Content-Type c)" "488 "
expect_decision primary primary.conf "$CID" "forward 4:acceptable 0 $BOB" "discard discard:unverified-plain-488 488 $BOB"
is "after: audited with the downstream KRR's signature invalid" \
	"$(audit_of primary.conf "$CID" | "$JQ" -r 'select(.decision == "discard") | .downstream_krr.signature')" invalid
M=http://$L:$((P_PRI + 30))/metrics
is "the metrics: one KRR passed (before), one discarded (after), invalid for its revoked signer" \
	"$(metric_value "$M" 'mcx_sdproxy_krr_total{event="passed"}') $(metric_value "$M" 'mcx_sdproxy_krr_total{event="discarded"}') $(metric_value "$M" 'mcx_sdproxy_krr_invalid_total{reason="untrusted-certificate"}')" \
	"1 1 1"
run "$SDTOOL" decide -c "$WORK/primary.conf" --json "$SENT"
# (decide sees the 488 alone, not alice's INVITE: it proposes from the KRR's own KMSs, so its rule
# says own-krr where the daemon, which knows the call's acceptable KMSs, had nothing to propose)
is "after: mcx-sdtool decide on bob's 488: discard too, the signature invalid" \
	"$(jqo '[.decision, .signature]' "$WORK/out")" "[\"discard\",\"invalid\"]"
cp "$WORK/good.krr" "$WORK/uas-krr.xml"
call good
got_krr good good "$BOB" null
expect_decision primary primary.conf "$CID" "forward 4:acceptable 0 $BOB" "pass 2b/3c:pass 488 $BOB"
stop_daemon primary

# ---- -t ----
make_conf nocrl.conf role=primary port="$P_PRI" crl="$CA/nothere.pem"
run "$SDPROXYD" -t -c "$WORK/nocrl.conf"
like "-t: a krr.crl that cannot be read" "$RC $(cat "$WORK/err")" "^1 .*nocrl.conf:[0-9]+: krr.crl: cannot read $CA/nothere.pem"

done_testing
