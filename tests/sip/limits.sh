# Flood limits (limits = { ... }), on loopback:
#   - limits.source_rate: a burst of 30 new requests from one address: the bucket's worth
#     forwarded, the rest 503 with Retry-After, one log line for the episode; another address
#     is served meanwhile; requests inside a dialog are not counted; after a pause the source
#     is admitted again (logged, with how many were refused);
#   - limits.connections: with 3 allowed, the 4th TCP connection is closed at once (logged);
#   - limits.idle_timeout: a silent connection and one that trickles half a message are
#     closed after it (logged), one that sends whole requests stays open.
. "$top_srcdir/tests/sip/lib_sip.sh"

need_sip
need python3
sip_ports 29100
sip_keys
L=127.0.0.1
LIM=$top_srcdir/tests/sip/limits.py
SIPNET=$top_srcdir/tests/sip/sipnet.py
sip_sink "$P_UAS"

make_conf primary.conf role=primary port="$P_PRI" next_hop="sip:$L:$P_UAS;transport=udp" \
	extra='limits = { source_rate = 2; source_burst = 5; connections = 3; idle_timeout = 2; };'
start_daemon primary.conf primary || { done_testing; exit 1; }

# ---- the per-source rate ----
python3 "$LIM" burst "$P_PRI" 30 >"$WORK/burst1.out" 2>&1
ok200=$(awk '$1 == 200 { print $2 }' "$WORK/burst1.out")
n503=$(awk '$1 == 503 { print $2 }' "$WORK/burst1.out")
check "a burst of 30 from $L: the bucket's 5 (and what refilled meanwhile) forwarded" \
	awk -v n="${ok200:-0}" 'BEGIN { exit !(n >= 5 && n <= 7) }'
is "... all the others 503" "$(( ${ok200:-0} + ${n503:-0} ))" 30
is "... with Retry-After: 1" "$(sed -n 's/^retry-after //p' "$WORK/burst1.out")" 1
is "... one line for the episode" "$(grep -c "flood: $L sends more than 2 new requests a second" "$WORK/primary.log")" 1
python3 "$LIM" burst "$P_PRI" 3 127.0.0.2 >"$WORK/burst2.out" 2>&1
is "another address meanwhile: served" "$(cat "$WORK/burst2.out" | tr '\n' ' ')" "200 3 retry-after - "
{
	printf 'BYE sip:bob@%s:%s SIP/2.0\r\n' $L "$P_UAS"
	printf 'Via: SIP/2.0/UDP %s:9;rport;branch=z9hG4bK-lim-bye\r\nMax-Forwards: 70\r\n' $L
	printf 'From: <sip:alice@home.example>;tag=a1\r\nTo: <sip:bob@partner.example>;tag=b1\r\n'
	printf 'Call-ID: lim-bye\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n'
} >"$WORK/bye.sip"
python3 "$SIPNET" send "$P_PRI" "$WORK/bye.sip" 3 >"$WORK/bye.out" 2>&1 || :
is "a request inside a dialog from the limited source is not counted: forwarded" \
	"$(awk '$3 >= 200 { print $3; exit }' "$WORK/bye.out")" 200
sleep 3
python3 "$LIM" burst "$P_PRI" 1 >"$WORK/burst3.out" 2>&1
is "after a pause the source is served again" "$(head -n 1 "$WORK/burst3.out")" "200 1"
like "... and the daemon says so, with the count" "$(grep "flood: $L admitted again" "$WORK/primary.log")" \
	"admitted again \\(2[0-9] new request\\(s\\) refused\\)"

# ---- connections ----
python3 "$LIM" conns "$P_PRI" 4 >"$WORK/conns.out" 2>&1
is "limits.connections 3: three TCP connections stay open, the fourth is closed at once" \
	"$(awk '{ print $2 }' "$WORK/conns.out" | paste -sd' ' -)" "open open open closed-at-once"
like "... logged" "$(grep 'flood: connection from' "$WORK/primary.log" | head -n 1)" \
	"closed at once: 3 connections are open \\(limits.connections 3\\)"

# ---- idle connections ----
python3 "$LIM" idle "$P_PRI" 5 >"$WORK/idle.out" 2>&1
like "limits.idle_timeout 2: the silent connection is closed" "$(grep '^silent' "$WORK/idle.out")" "^silent closed after [2-4]\\."
like "... and the one trickling half a message" "$(grep '^half' "$WORK/idle.out")" "^half closed after [2-4]\\."
is "... the one sending whole requests stays open" "$(grep '^busy' "$WORK/idle.out")" "busy open"
like "... each closing logged" "$(grep -c 'no complete message for' "$WORK/primary.log")" "^[2-9]"
stop_daemon primary

done_testing
