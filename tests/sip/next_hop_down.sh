# The next hop is down: the primary daemon forwards an acceptable INVITE from alice (sipp) to
#   - a closed UDP port (nothing listens there): alice gets 503 at once (well before Timer B);
#   - a sipp that takes the INVITE and never answers, with server.sip_t1 = 50: alice gets 408
#     when Timer B (64*T1 = 3.2 s) fires, within about 3.2 s, and the INVITE was retransmitted
#     on the T1 = 50 ms schedule meanwhile;
#   - the same when the daemon is stopped with the INVITE in flight: alice gets 503 at once.
. "$top_srcdir/tests/sip/lib_sip.sh"

need_sip
sip_ports 25600
sip_keys
L=127.0.0.1
B64=$(mikey_b64 "$ALICE" "$BOB" "$H" "$P")

# ---- a closed port ----
make_conf dead.conf role=primary port="$P_PRI" next_hop="sip:$L:$P_DEAD;transport=udp"
start_daemon dead.conf dead || { done_testing; exit 1; }
if port_bound udp "$P_DEAD" || port_bound tcp "$P_DEAD"; then
	not_ok "nothing listens on port $P_DEAD"
fi
csv closed bob@partner.example "$B64"
uac closed uac_final $L "$L:$P_PRI" -timeout 10s
sipp_ok closed "alice: INVITE, final error response, ACK"
r=$(sip_find closed recv '^SIP/2.0 [3-6]')
is "closed port: alice gets 503" "$(sip_status "$r")" 503
like "closed port: within 2 s (took ${MS} ms; Timer B would be 32 s)" "$MS" '^(1?[0-9]{1,3})$'
CID=$(call_id closed)
expect_decision dead dead.conf "$CID" "forward 4:acceptable 0 $BOB"
like "closed port: the daemon logs the 503 it sent for the call" "$(grep -F "call $CID: " "$WORK/dead.log" | grep -v ' rule ')" \
	"call $CID: 503 "
stop_daemon dead

# ---- a next hop that never answers, T1 = 50 ms ----
make_conf slow.conf role=primary port="$P_PAR" t1=50 next_hop="sip:$L:$P_UAS2;transport=udp"
start_daemon slow.conf slow || { done_testing; exit 1; }
uas_start hole uas_swallow $L "$P_UAS2" -timeout 10s
csv lost bob@partner.example "$B64"
uac lost uac_final $L "$L:$P_PAR" -timeout 12s
sipp_ok lost "alice: INVITE, final error response, ACK"
r=$(sip_find lost recv '^SIP/2.0 [3-6]')
is "no answer: alice gets 408" "$(sip_status "$r")" 408
if [ "$MS" -ge 2500 ] && [ "$MS" -le 4500 ]; then
	ok "no answer: the 408 comes after Timer B = 64 * 50 ms, within about 3.2 s (took $MS ms)"
else
	not_ok "no answer: the 408 comes after Timer B = 64 * 50 ms, within about 3.2 s (took $MS ms, want 2500..4500)"
fi
is "no answer: alice got 100 Trying first (no retransmission needed)" "$(sip_firsts lost recv | cut -d'|' -f1 | sed 's/ $//')" \
	"SIP/2.0 100 Trying"
uas_stop hole
n=$(sip_count hole recv '^INVITE ')
if [ "$n" -ge 5 ]; then
	ok "no answer: the INVITE was retransmitted on the T1 = 50 ms schedule ($n copies in 3.2 s)"
else
	not_ok "no answer: the INVITE was retransmitted on the T1 = 50 ms schedule ($n copies in 3.2 s, want 5 or more)"
fi
CID=$(call_id lost)
expect_decision slow slow.conf "$CID" "forward 4:acceptable 0 $BOB"
like "no answer: the daemon logs the 408 it sent for the call" "$(grep -F "call $CID: " "$WORK/slow.log" | grep -v ' rule ')" \
	"call $CID: 408 "

# ---- SIGTERM with a call in flight: cancelled downstream, 503 upstream, not left hanging ----
uas_start hole2 uas_swallow $L "$P_UAS2" -timeout 10s
csv stopped bob@partner.example "$B64"
uac_bg stopped uac_final $L "$L:$P_PAR" -timeout 12s
sleep 1	# the INVITE is at the swallowing sipp within milliseconds; Timer B is 3.2 s away
stop_daemon slow
uac_bg_wait stopped
r=$(sip_find stopped recv '^SIP/2.0 [3-6]')
is "stopped: alice gets 503 when the daemon stops with her INVITE in flight" "$(sip_status "$r")" 503
if [ "$MS" -lt 3000 ]; then
	ok "stopped: the 503 comes at the stop, not at Timer B (took $MS ms)"
else
	not_ok "stopped: the 503 comes at the stop, not at Timer B (took $MS ms)"
fi
check "stopped: the daemon says it cancelled the request in flight" \
	grep -q "stopping: 1 request(s) in flight cancelled downstream and answered 503" "$WORK/slow.log"
uas_stop hole2
done_testing
