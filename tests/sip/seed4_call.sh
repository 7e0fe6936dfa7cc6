# Seed step 4 end to end: sipp (alice, initiator) -> primary daemon -> partner daemon -> sipp
# (bob, terminating client) on 127.0.0.1 over UDP.  The KMS pair is acceptable to both servers:
# the INVITE arrives untouched, 200 OK comes back, then the ACK and the in-dialog BYE go
# through both proxies along the route set they recorded.
. "$top_srcdir/tests/sip/lib_sip.sh"

need_sip
sip_ports 25100
sip_keys
L=127.0.0.1

start_chain
is "primary: one 'listening on' line per listen URI" "$(listen_lines primary | wc -l)" 2
like "primary: listening on its UDP URI" "$(listen_lines primary | head -n 1)" \
	"listening on sip:$L:$P_PRI;transport=udp"

B64=$(mikey_b64 "$ALICE" "$BOB" "$H" "$P")
csv call bob@partner.example "$B64"
uas_start bob uas_answer $L "$P_UAS"
uac call uac_call $L "$L:$P_PRI"
sipp_ok call "alice: INVITE, 200 OK, ACK, BYE, 200 OK through both proxies"
uas_wait bob
sipp_ok bob "bob: INVITE, 200 OK, ACK, BYE, 200 OK"

CID=$(call_id call)
sent=$(sip_find call sent '^INVITE ')
inv=$(sip_find bob recv '^INVITE ')
ok200=$(sip_find call recv '^SIP/2.0 200 ')
ack=$(sip_find bob recv '^ACK ')
bye=$(sip_find bob recv '^BYE ')
byeok=$(sip_find call recv '^SIP/2.0 200 ' 2)

# the decisions: what `mcx-sdtool decide` makes of the INVITE alice sent, and what each logged
for d in primary partner; do
	run "$SDTOOL" decide -c "$WORK/$d.conf" --json "$sent"
	is "$d: decide says forward (4:acceptable) for this INVITE" "$RC $(jqo '[.decision, .rule]' "$WORK/out")" \
		'0 ["forward","4:acceptable"]'
	expect_decision "$d" "$d.conf" "$CID" "forward 4:acceptable 0 $BOB"
done

# the INVITE as bob got it: through the partner then the primary, untouched
is "bob's INVITE: Request-URI" "$(head -n 1 "$inv" | tr -d '\r')" "INVITE sip:bob@partner.example SIP/2.0"
# (the INVITE is over 1300 octets when the primary sends it: RFC 3261 18.1.1 lets it go by TCP)
like "bob's INVITE: Via partner, primary, alice" "$(via_hops "$inv")" \
	"^UDP $L:$P_PAR, (UDP|TCP) $L:$P_PRI, UDP $L:$P_UAC\$"
like "bob's INVITE: Record-Route partner then primary, loose routing" "$(rr_hops "$inv")" \
	"^sip:$L:$P_PAR;([^,]*;)?lr(;[^,]*)?, sip:$L:$P_PRI;([^,]*;)?lr(;[^,]*)?\$"
is "bob's INVITE: Max-Forwards 70 - 2" "$(sip_hdr "$inv" Max-Forwards)" 68
is "bob's INVITE: Call-ID" "$(sip_hdr "$inv" Call-ID i)" "$CID"
if [ "$(sip_body "$sent" | od -c)" = "$(sip_body "$inv" | od -c)" ]; then
	ok "bob's INVITE: the SDP body (the signed I_MESSAGE) is byte for byte alice's"
else
	not_ok "bob's INVITE: the SDP body (the signed I_MESSAGE) is byte for byte alice's"
fi
run "$SDTOOL" mikey decode --input sip --json "$inv"
is "bob's INVITE: its I_MESSAGE decodes, the same KMS pair" "$RC $(jqo '[.idrkmsi, .idrkmsr]' "$WORK/out")" \
	"0 [\"$H\",\"$P\"]"

# alice's 200 OK: the route set, her Via alone
is "alice's 200 OK: CSeq, Via: hers alone" "$(sip_hdr "$ok200" CSeq) | $(via_hops "$ok200")" "1 INVITE | UDP $L:$P_UAC"
is "alice's 200 OK: the same Record-Route as bob's INVITE" "$(rr_hops "$ok200")" "$(rr_hops "$inv")"

# ACK and BYE: sent by alice along the route set; bob sees both proxies' Via
is "alice's ACK and BYE carry Route: primary, partner (the route set reversed)" \
	"$(rr_hops "$(sip_find call sent '^ACK ')" Route) | $(rr_hops "$(sip_find call sent '^BYE ')" Route)" \
	"$(rr_hops "$inv" | awk -F', ' '{ print $2 ", " $1 }') | $(rr_hops "$inv" | awk -F', ' '{ print $2 ", " $1 }')"
is "bob's ACK: Via partner, primary, alice" "$(via_hops "$ack")" "UDP $L:$P_PAR, UDP $L:$P_PRI, UDP $L:$P_UAC"
is "bob's BYE: Via partner, primary, alice (it came through both proxies)" "$(via_hops "$bye")" \
	"UDP $L:$P_PAR, UDP $L:$P_PRI, UDP $L:$P_UAC"
is "bob's BYE: Request-URI his Contact, no Route left, Max-Forwards 68" \
	"$(head -n 1 "$bye" | cut -d' ' -f2) [$(rr_hops "$bye" Route)] $(sip_hdr "$bye" Max-Forwards)" \
	"sip:bob@$L:$P_UAS;transport=UDP [] 68"
is "alice's 200 OK to the BYE" "$(sip_hdr "$byeok" CSeq) | $(via_hops "$byeok")" "2 BYE | UDP $L:$P_UAC"
is "no decision is logged for the ACK and the BYE (one per initial INVITE)" \
	"$(grep -c "call $CID: " "$WORK/primary.log") $(grep -c "call $CID: " "$WORK/partner.log")" "1 1"

stop_daemon partner
stop_daemon primary
done_testing
