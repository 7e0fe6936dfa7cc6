# Trusted peers and no open relay (server.peers), over UDP in a private network namespace
# (requests here name foreign hosts; nothing may leave):
#   - a call from a peer (127.0.0.1/32) is forwarded, and its BYE, inside the dialog the
#     proxy Record-Routed, goes through;
#   - an INVITE from 127.0.0.2, a loopback address not among the peers: 403 with a Warning,
#     logged and audited, nothing forwarded;
#   - a request inside a dialog (To tag) without this proxy's Route, naming a foreign host:
#     403, even from a peer; the same with our Route goes on;
#   - an initial request from a peer with a Route to a foreign host: 403 (no relaying);
#   - an OPTIONS to the daemon's own address is answered by the daemon, next_hop or not (the
#     probe of a load balancer in front, tests/sip/cluster.sh);
#   - without server.next_hop the Request-URI decides: a peer's domain is allowed (then DNS
#     answers), any other domain refused;
#   - the same daemon without server.peers relays as before (open: the default).
. "$top_srcdir/tests/sip/netns.sh"
. "$top_srcdir/tests/sip/lib_sip.sh"

need_sip
need python3
sip_ports 29000
sip_keys
L=127.0.0.1 STRANGER=127.0.0.2
SIPNET=$top_srcdir/tests/sip/sipnet.py
# no DNS server in this namespace: names fail at once
own_resolv_conf 127.0.0.1
sip_sink "$P_UAS2"

# send FILE [FROM-HOST]: the responses in $WORK/FILE.out, the final one in $WORK/FILE.final.
send() { SIPNET_FROM_HOST=${2:-$L} python3 "$SIPNET" send "$P_PRI" "$WORK/$1" 3 >"$WORK/$1.out" 2>&1 || :; }
final_of() { awk '$3 >= 200 { print $3; exit }' "$WORK/$1.out"; }
warning_of() { tr -d '\r' <"$WORK/$1.final" 2>/dev/null | sed -n 's/^Warning: //p'; }
in_sink() { grep -c " $1\$" "$WORK/sink.log" || :; }

make_conf primary.conf role=primary port="$P_PRI" transports=udp next_hop="sip:$L:$P_UAS;transport=udp" \
	peers='"127.0.0.1/32", "sip:sdproxy@partner.example"'
start_daemon primary.conf primary || { done_testing; exit 1; }

# ---- a peer's call, and its BYE along our Record-Route ----
csv call bob@partner.example "$(mikey_b64 "$ALICE" "$BOB" "$H" "$P")"
uas_start bob uas_answer $L "$P_UAS"
uac call uac_call $L "$L:$P_PRI"
sipp_ok call "from a peer: INVITE, 200, ACK, BYE (along our Record-Route), 200"
uas_wait bob
sipp_ok bob "bob got the call and its BYE"

# ---- not a peer ----
csv stranger bob@partner.example "$(mikey_b64 "$ALICE" "$BOB" "$H" "$P")"
uas_start bob2 uas_swallow $L "$P_UAS" -timeout 6s
uac stranger uac_final $STRANGER "$L:$P_PRI"
s_resp=$(sip_find stranger recv '^SIP/2.0 [3-6]')
is "an INVITE from $STRANGER (not among server.peers): 403" "$(sip_status "$s_resp")" 403
like "... with a Warning naming the fault" "$(sip_hdr "$s_resp" Warning)" "\"$STRANGER is not a peer of this server\""
s_cid=$(call_id stranger)
like "... logged" "$(grep -F "call $s_cid:" "$WORK/primary.log")" "reject rule access:not-a-peer status 403"
is "... audited" "$(audit_of primary.conf "$s_cid" | "$JQ" -r '"\(.decision) \(.rule) \(.status)"')" \
	"reject access:not-a-peer 403"
uas_wait bob2 80
is "... and bob got nothing" "$(sip_count bob2 recv '^INVITE ' 2>/dev/null || echo 0)" 0

# ---- inside a dialog: only along our Route ----
sip_request bye-foreign.sip BYE "sip:victim@192.0.2.99:5060" bye-foreign
send bye-foreign.sip
is "a BYE inside a dialog naming a foreign host, no Route of ours, from a peer: 403" "$(final_of bye-foreign.sip)" 403
like "... its Warning says why" "$(warning_of bye-foreign.sip)" "without this proxy's Route"
like "... logged (access:not-our-dialog)" "$(grep -F 'call bye-foreign:' "$WORK/primary.log")" "rule access:not-our-dialog status 403"
sip_request bye-ours.sip BYE "sip:bob@$L:$P_UAS2" bye-ours "<sip:$L:$P_PRI;transport=udp;lr>"
send bye-ours.sip
is "the same BYE with this proxy's Route (a dialog we Record-Routed): forwarded, 200 from the sink" \
	"$(final_of bye-ours.sip) $(in_sink bye-ours)" "200 1"

# ---- no relaying for initial requests ----
sip_request inv-route.sip INVITE "sip:bob@partner.example" inv-route "<sip:192.0.2.99;lr>"
send inv-route.sip
is "an INVITE from a peer with a Route to a foreign host: 403" "$(final_of inv-route.sip)" 403
like "... no relaying to it" "$(warning_of inv-route.sip)" "no relaying to 192.0.2.99"
sip_request opt-peer.sip OPTIONS "sip:bob@partner.example" opt-peer "<sip:$L:$P_UAS2;lr>"
send opt-peer.sip
is "an OPTIONS from a peer with a Route to a peer's address: forwarded (200 from the sink)" \
	"$(final_of opt-peer.sip) $(in_sink opt-peer)" "200 1"
sip_request opt-self.sip OPTIONS "sip:$L:$P_PRI" opt-self
send opt-self.sip
is "an OPTIONS to the daemon's own address, no user part, next_hop set: answered 200 by the daemon (a load balancer's probe), not forwarded" \
	"$(final_of opt-self.sip) $(in_sink opt-self)" "200 0"
stop_daemon primary

# ---- without next_hop: the Request-URI's host must be a peer's domain ----
make_conf nonext.conf role=primary port="$P_PRI" transports=udp peers='"127.0.0.1/32", "sip:sdproxy@partner.example"'
start_daemon nonext.conf nonext || { done_testing; exit 1; }
sip_request opt-evil.sip OPTIONS "sip:mallory@evil.example" opt-evil
send opt-evil.sip
is "no next hop, a Request-URI in another domain: 403" "$(final_of opt-evil.sip) $(warning_of opt-evil.sip)" \
	"403 399 $L \"no relaying to evil.example\""
sip_request opt-partner.sip OPTIONS "sip:bob@partner.example" opt-partner
send opt-partner.sip
is "no next hop, a Request-URI in a peer's domain: allowed (then DNS, which has no answer here: 503)" \
	"$(final_of opt-partner.sip)" 503
stop_daemon nonext

# ---- no server.peers: open, as before ----
make_conf open.conf role=primary port="$P_PRI" transports=udp next_hop="sip:$L:$P_UAS2;transport=udp"
start_daemon open.conf open || { done_testing; exit 1; }
sip_request opt-open.sip OPTIONS "sip:bob@partner.example" opt-open
send opt-open.sip "$STRANGER"
is "without server.peers, $STRANGER's OPTIONS is forwarded (200 from the sink)" \
	"$(final_of opt-open.sip) $(in_sink opt-open)" "200 1"
like "... and the daemon said at start that it relays for anyone" "$(grep 'server.peers' "$WORK/open.log")" \
	"no server.peers: any host may send"
stop_daemon open

done_testing
