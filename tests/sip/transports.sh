# The other transports end to end, alice (sipp) -> primary -> partner -> bob (sipp):
#   IPv6: everything on ::1 over UDP: an answered call with its BYE through both proxies;
#   TCP: everything over TCP (listen and next_hop ;transport=tcp, sipp -t t1): an answered call
#     with its BYE, then a call the primary redirects (the KRR comes back over TCP).
. "$top_srcdir/tests/sip/lib_sip.sh"

need_sip
sip_ports 25900
sip_keys
B64=$(mikey_b64 "$ALICE" "$BOB" "$H" "$P")

# answered TAG HOST URIHOST PROTO [SIPP-OPTION...]: a call bob answers, through both proxies.
answered() {
	a_t=$1 a_h=$2 a_u=$3 a_p=$4
	shift 4
	csv "call$a_t" bob@partner.example "$B64"
	uas_start "bob$a_t" uas_answer "$a_h" "$P_UAS" "$@"
	uac "call$a_t" uac_call "$a_h" "$a_u:$P_PRI" "$@"
	sipp_ok "call$a_t" "$a_t: alice: INVITE, 200 OK, ACK, BYE, 200 OK"
	uas_wait "bob$a_t"
	sipp_ok "bob$a_t" "$a_t: bob: INVITE, 200 OK, ACK, BYE, 200 OK"
	a_inv=$(sip_find "bob$a_t" recv '^INVITE ')
	a_bye=$(sip_find "bob$a_t" recv '^BYE ')
	is "$a_t: bob's INVITE: Via partner, primary, alice" "$(via_hops "$a_inv")" \
		"$a_p $a_u:$P_PAR, $a_p $a_u:$P_PRI, $a_p $a_u:$P_UAC"
	like "$a_t: bob's INVITE: Record-Route partner, primary ($(echo "$a_p" | tr A-Z a-z), lr)" "$(rr_hops "$a_inv")" \
		"^sip:$(echo "$a_u" | sed 's/\[/\\[/g; s/\]/\\]/g'):$P_PAR;.*lr.*, sip:$(echo "$a_u" | sed 's/\[/\\[/g; s/\]/\\]/g'):$P_PRI;.*lr"
	is "$a_t: bob's BYE came through both proxies" "$(via_hops "$a_bye")" \
		"$a_p $a_u:$P_PAR, $a_p $a_u:$P_PRI, $a_p $a_u:$P_UAC"
	a_cid=$(call_id "call$a_t")
	expect_decision primary primary.conf "$a_cid" "forward 4:acceptable 0 $BOB"
	expect_decision partner partner.conf "$a_cid" "forward 4:acceptable 0 $BOB"
}

# ---- IPv6 ----
make_conf primary.conf role=primary host=::1 port="$P_PRI" next_hop="sip:[::1]:$P_PAR;transport=udp"
make_conf partner.conf role=partner host=::1 port="$P_PAR" next_hop="sip:[::1]:$P_UAS;transport=udp"
start_daemon primary.conf primary || { done_testing; exit 1; }
start_daemon partner.conf partner || { done_testing; exit 1; }
like "ipv6: the primary listens on [::1]" "$(listen_lines primary | head -n 1)" \
	"listening on sip:\[::1\]:$P_PRI;transport=udp"
answered ipv6 ::1 '[::1]' UDP
stop_daemon partner
stop_daemon primary

# ---- TCP ----
P_PRI=$((P_PRI + 10)) P_PAR=$((P_PAR + 10)) P_UAS=$((P_UAS + 10)) P_UAC=$((P_UAC + 10))
L=127.0.0.1
make_conf primary.conf role=primary port="$P_PRI" transports=tcp next_hop="sip:$L:$P_PAR;transport=tcp"
make_conf partner.conf role=partner port="$P_PAR" transports=tcp next_hop="sip:$L:$P_UAS;transport=tcp"
start_daemon primary.conf primary || { done_testing; exit 1; }
start_daemon partner.conf partner || { done_testing; exit 1; }
answered tcp $L $L TCP -t t1

csv krrtcp bob@partner.example "$(mikey_b64 "$ALICE" "$BOB" "$H" kms.wrong.example)"
uac krrtcp uac_final $L "$L:$P_PRI" -t t1
sipp_ok krrtcp "tcp: alice: INVITE, 488, ACK"
got_krr krrtcp krrtcp "$HOME_URI" null
is "tcp: the KRR's lists" "$(krr_lists "$WORK/krrtcp.krr.json")" "[[\"$H\"],[\"$P\"]]"
is "tcp: the 488's Via is alice's, over TCP" "$(via_hops "$(sip_find krrtcp recv '^SIP/2.0 488 ')")" "TCP $L:$P_UAC"
expect_decision primary primary.conf "$(call_id krrtcp)" "krr 1a:receiver-kms 488 $BOB"
stop_daemon partner
stop_daemon primary
done_testing
