# A malformed I_MESSAGE (policy.on_malformed_mikey = "reject"): the primary daemon answers alice
# (sipp) 400 with a Warning header (399, its host, the fault and its offset: the warning that
# `mcx-sdtool decide` gives for the same INVITE), and forwards nothing.  Two faults: a
# truncated MIKEY message (valid base64), a MIKEY version that is not 1; and text that is not
# base64, which leaves the body uninspectable (policy.on_uninspectable = "reject": also 400).
. "$top_srcdir/tests/sip/lib_sip.sh"

need_sip
sip_ports 25700
sip_keys
L=127.0.0.1

start_chain
uas_start bob uas_answer $L "$P_UAS" -timeout 30s

B64=$(mikey_b64 "$ALICE" "$BOB" "$H" "$P")
TRUNC=$(printf %s "$B64" | cut -c1-200)
# the first octet (version) 1 -> 2: "AR..." -> "Ah..."
BADVER=Ah${B64#AR}

# malformed NAME I_MESSAGE-TEXT FAULT-ERE [RULE WARNING-ERE]: one call; the Warning's text must be
# decide's and match FAULT-ERE; the rule is malformed-mikey unless given.
malformed() {
	m_rule=${4:-malformed-mikey}
	csv "$1" bob@partner.example "$2"
	uac "$1" uac_final $L "$L:$P_PRI"
	sipp_ok "$1" "alice: INVITE with a malformed I_MESSAGE, final error response, ACK"
	m_r=$(sip_find "$1" recv '^SIP/2.0 [3-6]')
	is "$1: alice gets 400" "$(sip_status "$m_r")" 400
	m_w=$(sip_hdr "$m_r" Warning)
	like "$1: one Warning: 399 <host> \"text\"" "$m_w" '^399 [^ "]+ "[^"]*"$'
	m_t=$(printf '%s' "$m_w" | sed 's/^399 [^ ]* "\(.*\)"$/\1/')
	run "$SDTOOL" decide -c "$WORK/primary.conf" --json "$(sip_find "$1" sent '^INVITE ')"
	is "$1: decide on alice's INVITE: reject, $m_rule, 400" "$(jqo '[.decision, .rule, .status]' "$WORK/out")" \
		"[\"reject\",\"$m_rule\",400]"
	is "$1: the Warning text is decide's warning" "$m_t" "$("$JQ" -r .warning "$WORK/out" | tr '"\\' "''")"
	like "$1: the Warning names the fault and its offset" "$m_t" "${5:-I_MESSAGE.*}$3.* at (body )?offset [0-9]+"
	expect_decision primary primary.conf "$(call_id "$1")" "reject $m_rule 400 $BOB"
}

malformed truncated "$TRUNC" truncated
malformed version "$BADVER" version
malformed notb64 'this-is-not-base64!!' base64 uninspectable "cannot inspect the body: .*"

uas_stop bob
is "bob got nothing" "$(sip_count bob recv .)" 0
is "the partner logged no decision" "$(grep -c ' rule ' "$WORK/partner.log" || :)" 0
stop_daemon partner
stop_daemon primary
done_testing
