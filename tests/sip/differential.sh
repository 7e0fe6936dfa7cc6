# The policy point tested as an attacker would: tests/sip/differential.py generates hostile
# re-spellings of requests carrying I_MESSAGEs (every method, inside dialogs or not, every body
# form a client could read) and sends them through the primary daemon to a next-hop sink; no
# variant in which readers independent of the project (a reference reader written from the
# RFCs on Python's email and zlib, and tshark) find an unacceptable key may reach the sink,
# and every positive control must.
. "$top_srcdir/tests/sip/lib_sip.sh"

need_sip
need python3 "$TSHARK"
sip_ports 26000
sip_keys
L=127.0.0.1

python3 "$top_srcdir/tests/sip/sipnet.py" sink "$P_UAS" "$WORK/sink.log" &
SIP_PIDS="$SIP_PIDS $!"
wait_bound udp "$P_UAS"
: >"$WORK/sink.log"
make_conf primary.conf role=primary port="$P_PRI" transports=udp next_hop="sip:$L:$P_UAS;transport=udp"
start_daemon primary.conf primary || { done_testing; exit 1; }

run python3 "$top_srcdir/tests/sip/differential.py" --sdtool "$SDTOOL" --tshark "$TSHARK" \
	--port "$P_PRI" --sink-port "$P_UAS" --sink-log "$WORK/sink.log" --work "$WORK"
sed 's/^/# /' "$WORK/out"
[ "$RC" -eq 0 ] || sed 's/^/#   stderr: /' "$WORK/err" | head -n 20
is "differential: no variant with an unacceptable key got through, every control did" "$RC" 0
like "differential: a few hundred variants" "$(head -n 1 "$WORK/out")" '^variants: [0-9]{3,}'
stop_daemon primary
done_testing
