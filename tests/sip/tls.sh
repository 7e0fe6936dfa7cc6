# SIP over TLS with mutual authentication, with real TLS peers on both sides of the daemon:
#   alice (sipp, UDP) -> Kamailio "front" -> TLS -> mcx-sdproxyd -> TLS -> Kamailio "back"
#   -> bob (sipp, UDP)
# Each Kamailio (Debian's, with kamailio-tls-modules) presents a certificate of the peers' CA and
# requires one; the daemon has tls.verify_peer and tls.peer_identities.  A call is forwarded
# and ended by alice's BYE along the Record-Route, a call is redirected with a KRR, all over TLS.
# Then TLS peers the daemon must refuse (openssl s_client with a certificate from another CA,
# an expired one, one not in tls.peer_identities, none, TLS 1.1): each handshake refused and
# logged with its reason, their INVITE never reaches bob.  Then a next hop whose certificate
# is from another CA: the daemon refuses it (mutual authentication both ways), nothing
# forwarded.  A next hop named by DNS whose NAPTR and SRV records say TLS (RFC 3263), reached
# over TLS (openssl s_server requiring our certificate).  Then SIGHUP with a new certificate,
# and `-t` on bad credentials.  In a private network namespace (loopback only, our own DNS
# server in /etc/resolv.conf by a bind mount).
. "$top_srcdir/tests/sip/netns.sh"
. "$top_srcdir/tests/sip/lib_sip.sh"
# Under AddressSanitizer: whole stacks through libcrypto (no frame pointers), so that the
# suppression of Sofia-SIP's own leak per handshake (tests/sofia-tls.supp) can match it.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0"
export ASAN_OPTIONS

: "${KAMAILIO:=kamailio}"
need_sip
need "$KAMAILIO"
KAM_MODULES=${KAM_MODULES:-/usr/lib/x86_64-linux-gnu/kamailio/modules}
[ -f "$KAM_MODULES/tls.so" ] || { echo "not ok - Kamailio's tls module is not installed (kamailio-tls-modules)"; exit 1; }
sip_ports 26900
sip_keys
L=127.0.0.1
P_KF=$((P_PRI + 10)) P_KFT=$((P_PRI + 11)) P_KB=$((P_PRI + 12)) P_KBU=$((P_PRI + 13)) P_ROGUE=$((P_PRI + 14))
T=$WORK/tls

# ---- credentials: the peers' CA and its certificates; another CA ----
mk() { OPENSSL=$OPENSSL sh "$top_srcdir/conf/make-tls-keys.sh" "$@" >>"$WORK/tls-keys.log" 2>&1; }
if mk "$T" sdproxy URI:sip:sdproxy@home.example IP:127.0.0.1 &&
	mk "$T" front URI:sip:front@home.example IP:127.0.0.1 &&
	mk "$T" back URI:sip:back@partner.example IP:127.0.0.1 &&
	mk "$T" stranger URI:sip:stranger@home.example &&
	mk "$T" outsider URI:sip:outsider@home.example &&
	mk "$T" dnspeer DNS:gw.home.example &&
	DAYS=-1 mk "$T" expired URI:sip:front@home.example &&
	mk "$T/other" front URI:sip:front@home.example IP:127.0.0.1 &&
	mk "$T/other" back URI:sip:back@partner.example IP:127.0.0.1; then
	ok "TLS credentials made (conf/make-tls-keys.sh: the peers' CA, another CA)"
else
	not_ok "TLS credentials made"
	diag "$WORK/tls-keys.log"
	done_testing
	exit 1
fi

TLS_CONF="tls = {
  certificate = \"$T/sdproxy-cert.pem\";
  private_key = \"$T/sdproxy-key.pem\";
  ca = \"$T/tls-ca.pem\";
  verify_peer = true;
  peer_identities = [ \"sip:front@home.example\", \"sip:back@partner.example\", \"sip:stranger@home.example\",
                      \"gw.home.example\" ];
};"

# ---- Kamailio ----

# kam_start NAME UDP-PORT TLS-PORT NEXT-HOP CERT-DIR CERT-NAME: a Kamailio proxy that
# Record-Routes INVITEs (both interfaces) and sends initial requests to NEXT-HOP; TLS 1.2+ with
# CERT-DIR/CERT-NAME-*.pem, verifying and requiring the peer's certificate (CERT-DIR/tls-ca.pem
# of the peers' CA: a peer from another CA fails).  Sets KAMPID_NAME.
kam_start() {
	k_n=$1 k_u=$2 k_t=$3 k_nh=$4 k_d=$5 k_c=$6
	mkdir -p "$WORK/$k_n.run"
	for k_side in server client; do
		printf '[%s:default]\n' "$k_side"
		printf '%s\n' "method = TLSv1.2+" "verify_certificate = yes" "require_certificate = yes" \
			"private_key = $k_d/$k_c-key.pem" "certificate = $k_d/$k_c-cert.pem" "ca_list = $T/tls-ca.pem" ""
	done >"$WORK/$k_n.tls.cfg"
	cat >"$WORK/$k_n.cfg" <<EOF
#!KAMAILIO
debug=2
log_stderror=yes
children=1
tcp_children=1
auto_aliases=no
enable_tls=yes
listen=udp:$L:$k_u
listen=tls:$L:$k_t
mpath="$KAM_MODULES/"
loadmodule "tls.so"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "maxfwd.so"
loadmodule "siputils.so"
loadmodule "pv.so"
loadmodule "textops.so"
modparam("tls", "config", "$WORK/$k_n.tls.cfg")
modparam("rr", "enable_double_rr", 1)

request_route {
	if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
	if (is_method("CANCEL")) { if (t_check_trans()) t_relay(); exit; }
	if (has_totag()) {
		if (loose_route()) { t_relay(); exit; }
		if (is_method("ACK") && t_check_trans()) t_relay();
		exit;
	}
	t_check_trans();
	if (is_method("INVITE")) record_route();
	\$du = "$k_nh";
	if (!t_relay()) sl_reply_error();
}
EOF
	"$KAMAILIO" -f "$WORK/$k_n.cfg" -DD -E -Y "$WORK/$k_n.run" -m 32 -M 8 >"$WORK/$k_n.log" 2>&1 </dev/null &
	k_pid=$!
	SIP_PIDS="$SIP_PIDS $k_pid"
	eval "KAMPID_$k_n=$k_pid"
	if wait_bound tcp "$k_t" 100 && wait_bound udp "$k_u" 50; then
		ok "Kamailio $k_n listens (udp $k_u, tls $k_t)"
	else
		not_ok "Kamailio $k_n listens (udp $k_u, tls $k_t)"
		diag "$WORK/$k_n.log" 20
		done_testing
		exit 1
	fi
}

kam_stop() {
	eval "k_pid=\$KAMPID_$1"
	kill -TERM "$k_pid" 2>/dev/null || :
	k_i=0
	while kill -0 "$k_pid" 2>/dev/null && [ "$k_i" -lt 50 ]; do sleep 0.1; k_i=$((k_i + 1)); done
	kill -KILL "$k_pid" 2>/dev/null || :
	set +e
	wait "$k_pid" 2>/dev/null
	set -e
}

# ---- the daemon over TLS between two Kamailios ----
# server.peers by TLS identity alone: the front's address (127.0.0.1) is no peer by itself
make_conf primary.conf role=primary port="$P_PRI" transports=tls next_hop="sip:$L:$P_KB;transport=tls" \
	peers='"sip:front@home.example", "sip:back@partner.example"' \
	metrics="http://$L:$((P_PRI + 18))/metrics"
echo "$TLS_CONF" >>"$WORK/primary.conf"
run "$SDPROXYD" -t -c "$WORK/primary.conf"
is "-t accepts the TLS configuration" "$RC $(cat "$WORK/out")" "0 $WORK/primary.conf: configuration ok"
start_daemon primary.conf primary || { done_testing; exit 1; }
like "the daemon listens on TLS" "$(listen_lines primary | head -n 1)" "listening on sip:$L:$P_PRI;transport=tls"
is "no credentials file is left behind" "$(ls -d /tmp/mcx-sdproxyd-tls.* 2>/dev/null | while read -r d; do
	[ -O "$d" ] && [ "$(stat -c %Y "$d")" -ge "$(stat -c %Y "$WORK/primary.log")" ] && echo "$d"; done)" ""
kam_start front "$P_KF" "$P_KFT" "sip:$L:$P_PRI;transport=tls" "$T" front
kam_start back "$P_KBU" "$P_KB" "sip:$L:$P_UAS" "$T" back

B64=$(mikey_b64 "$ALICE" "$BOB" "$H" "$P")
csv call bob@partner.example "$B64"
uas_start bob uas_answer $L "$P_UAS" -timeout 30s
uac call uac_call $L "$L:$P_KF"
sipp_ok call "alice: INVITE through front, the daemon (TLS) and back; 200, ACK, BYE, 200"
uas_wait bob
sipp_ok bob "bob: INVITE, 200, ACK, BYE, 200"
inv=$(sip_find bob recv '^INVITE ')
like "bob's INVITE: Vias back (UDP), daemon (TLS), front (TLS), alice" "$(via_hops "$inv")" \
	"^UDP $L:$P_KBU, TLS $L:$P_PRI, TLS $L:$P_KFT, UDP $L:$P_UAC\$"
like "bob's INVITE: the daemon's Record-Route is TLS" "$(rr_hops "$inv")" "sip:$L:$P_PRI;transport=tls;lr"
cid=$(call_id call)
expect_decision primary primary.conf "$cid" "forward 4:acceptable 0 $BOB"
bye=$(sip_find bob recv '^BYE ')
like "alice's BYE reached bob along the Record-Route: front, the daemon (TLS), back" "$(via_hops "$bye")" \
	"^UDP $L:$P_KBU, TLS $L:$P_PRI, TLS $L:$P_KFT, UDP $L:$P_UAC\$"
is "no TLS peer was refused on the way" "$(grep -c 'TLS from\|TLS to' "$WORK/primary.log" || :)" 0

csv krr bob@partner.example "$(mikey_b64 "$ALICE" "$BOB" "$H" kms.wrong.example)"
uac krr uac_final $L "$L:$P_KF"
sipp_ok krr "alice: INVITE through front and the daemon (TLS): 488 + KRR, ACK"
got_krr krr krr "$HOME_URI" null
is "the KRR's lists" "$(krr_lists "$WORK/krr.krr.json")" "[[\"$H\"],[\"$P\"]]"

# ---- peers the daemon must refuse ----
# tls_peer NAME ARGS...: openssl s_client to the daemon with ARGS, sending an INVITE to bob
# (Call-ID tls-NAME).
uas_start bob2 uas_swallow $L "$P_UAS" -timeout 60s
tls_peer() {
	t_n=$1
	shift
	printf 'INVITE sip:bob@partner.example SIP/2.0\r\nVia: SIP/2.0/TLS %s:1;branch=z9hG4bK-tls-%s\r\nMax-Forwards: 70\r\nFrom: <sip:alice@home.example>;tag=raw\r\nTo: <sip:bob@partner.example>\r\nCall-ID: tls-%s\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@%s:1>\r\nContent-Length: 0\r\n\r\n' \
		$L "$t_n" "$t_n" $L >"$WORK/$t_n.sip"
	(sleep 1; cat "$WORK/$t_n.sip"; sleep 1) | timeout 8 "$OPENSSL" s_client -connect "$L:$P_PRI" -CAfile "$T/tls-ca.pem" \
		-quiet "$@" >"$WORK/$t_n.sclient" 2>&1 || :
}
tls_peer other-ca -cert "$T/other/front-cert.pem" -key "$T/other/front-key.pem"
like "another CA: refused, logged" "$(grep 'TLS from' "$WORK/primary.log" | tail -n 2 | tr '\n' ' ')" \
	"certificate refused: unable to get local issuer certificate .*we sent the alert \"unknown CA\""
tls_peer expired -cert "$T/expired-cert.pem" -key "$T/expired-key.pem"
like "an expired certificate: refused, logged" "$(grep 'TLS from' "$WORK/primary.log" | tail -n 2 | tr '\n' ' ')" \
	"certificate refused: certificate has expired .*alert \"certificate expired\""
tls_peer outsider -cert "$T/outsider-cert.pem" -key "$T/outsider-key.pem"
like "a certificate not in tls.peer_identities: refused, logged" "$(grep 'TLS from' "$WORK/primary.log" | tail -n 2 | tr '\n' ' ')" \
	"it shows none of tls.peer_identities \\(it shows URI:sip:outsider@home.example\\)"
tls_peer stranger -cert "$T/stranger-cert.pem" -key "$T/stranger-key.pem"
like "a TLS peer whose identity is verified but not among server.peers: 403" \
	"$(grep -a '^SIP/2.0\|^Warning' "$WORK/stranger.sclient" | tr -d '\r' | tr '\n' ' ')" \
	"^SIP/2.0 403 Forbidden Warning: 399 $L \"$L \\(TLS sip:stranger@home.example\\) is not a peer of this server\""
tls_peer dnspeer -cert "$T/dnspeer-cert.pem" -key "$T/dnspeer-key.pem"
like "a DNS identity in tls.peer_identities: the handshake holds (then 403: not among server.peers)" \
	"$(grep -a '^SIP/2.0' "$WORK/dnspeer.sclient" | tr -d '\r')" "^SIP/2.0 403 Forbidden"
tls_peer none
like "no certificate: refused, logged" "$(grep 'TLS from' "$WORK/primary.log" | tail -n 1)" \
	"handshake refused: we sent the alert \"certificate required"
tls_peer tls11 -tls1_1 -cert "$T/front-cert.pem" -key "$T/front-key.pem"
like "TLS 1.1: refused, logged" "$(grep 'TLS from' "$WORK/primary.log" | tail -n 1)" \
	"handshake refused: we sent the alert \"protocol version\""
M=http://$L:$((P_PRI + 18))/metrics
is "the metrics: five handshakes refused (another CA, expired, outsider, none, TLS 1.1), two peers refused 403" \
	"$(metric_value "$M" 'mcx_sdproxy_refused_total{reason="tls"}') $(metric_value "$M" 'mcx_sdproxy_refused_total{reason="access"}')" \
	"5 2"
# the positive control: the same INVITE with the front's certificate reaches bob
tls_peer good -cert "$T/front-cert.pem" -key "$T/front-key.pem"
uas_wait bob2 150
is "of the eight TLS peers only the one with a good certificate got its INVITE to bob" \
	"$(grep -h '^Call-ID:' "$WORK/bob2.msg" | tr -d '\r' | sort -u)" "Call-ID: tls-good"
like "... through the daemon: Via back, the daemon (TLS), the s_client peer (TLS)" \
	"$(via_hops "$(sip_find bob2 recv '^INVITE ')")" "^UDP $L:$P_KBU, TLS $L:$P_PRI, TLS $L:1\$"

# ---- a next hop from another CA: the daemon refuses it ----
kam_stop back
kam_start back "$P_KBU" "$P_KB" "sip:$L:$P_UAS" "$T/other" back
uas_start bob3 uas_swallow $L "$P_UAS" -timeout 12s
csv rogue bob@partner.example "$B64"
uac rogue uac_final $L "$L:$P_KF" -timeout 12s
r_resp=$(sip_find rogue recv '^SIP/2.0 [3-6]')
# (the front Kamailio turns the daemon's 503 into 500, as RFC 3261 16.7 asks of a proxy)
is "next hop from another CA: alice gets an error at once, not a call" \
	"$(sip_status "$r_resp") $([ "$MS" -lt 5000 ] && echo fast)" "500 fast"
like "... the daemon answered 503 saying why" "$(grep "call $(call_id rogue): 503" "$WORK/primary.log")" \
	"503 upstream: TLS with the next hop $L:$P_KB failed: unable to get local issuer certificate"
like "... the daemon logged why" "$(grep 'TLS to' "$WORK/primary.log" | head -n 1)" \
	"TLS to $L:$P_KB: certificate refused: unable to get local issuer certificate"
uas_stop bob3
is "... and bob got nothing" "$(sip_count bob3 recv '^INVITE ')" 0
kam_stop back
kam_stop front

# ---- a next hop named by DNS over TLS (NAPTR SIPS+D2T -> SRV _sips._tcp -> A) ----
need python3
P_D2=$((P_PRI + 15)) P_SRV=$((P_PRI + 16))
printf '%s\n' "tls.test NAPTR 10 10 s SIPS+D2T _sips._tcp.tls.test" \
	"tls.test NAPTR 20 10 s SIP+D2U _sip._udp.tls.test" \
	"_sips._tcp.tls.test SRV 10 10 $P_SRV srv.test" \
	"_sip._udp.tls.test SRV 10 10 $P_DEAD srv.test" \
	"srv.test A 127.0.0.1" >"$WORK/zone"
own_resolv_conf 127.0.0.1
python3 "$top_srcdir/tests/sip/dnsd.py" 53 answer "$WORK/zone" >"$WORK/dnsd.log" 2>&1 &
SIP_PIDS="$SIP_PIDS $!"
wait_bound udp 53
# (s_server closes the connection when its stdin ends: a sleep feeds it)
(exec timeout 20 sh -c 'sleep 19 | exec "$0" "$@"' "$OPENSSL" s_server -accept "$L:$P_SRV" -cert "$T/back-cert.pem" \
	-key "$T/back-key.pem" -CAfile "$T/tls-ca.pem" -Verify 2 -quiet -naccept 1 >"$WORK/s_server.out" \
	2>"$WORK/s_server.err" </dev/null) &
SIP_PIDS="$SIP_PIDS $!"
wait_bound tcp "$P_SRV"
make_conf dns.conf role=primary port="$P_D2" transports="udp tls" next_hop="sip:tls.test"
echo "$TLS_CONF" >>"$WORK/dns.conf"
start_daemon dns.conf dns || { done_testing; exit 1; }
csv viadns bob@partner.example "$B64"
uac viadns uac_final $L "$L:$P_D2" -timeout 4s
w_i=0
until grep -q '^INVITE ' "$WORK/s_server.out" 2>/dev/null || [ "$w_i" -ge 30 ]; do sleep 0.1; w_i=$((w_i + 1)); done
is "DNS asked NAPTR, then the TLS SRV first" "$(head -n 2 "$WORK/dnsd.log" | tr '\n' ' ')" \
	"NAPTR tls.test SRV _sips._tcp.tls.test "
# (with workers, the Via names the worker's own TLS port)
d_port=$P_D2
[ "${MCX_TEST_WORKERS:-1}" -le 1 ] || d_port='[0-9]+'
like "the INVITE reached the TLS next hop that DNS named (which required our certificate)" \
	"$(grep -m1 '^Via:' "$WORK/s_server.out" | tr -d '\r')" "^Via: SIP/2.0/TLS $L:$d_port;"
stop_daemon dns

# ---- a certificate issued by an intermediate CA: the whole chain is sent ----
P_CH=$((P_PRI + 17))
(
	set -e
	cd "$T"
	"$OPENSSL" genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out inter-key.pem
	"$OPENSSL" req -new -key inter-key.pem -subj "/CN=MCX SIP peers intermediate CA" -out inter.csr
	printf '%s\n' "basicConstraints=critical,CA:TRUE" "keyUsage=critical,keyCertSign,cRLSign" >inter.ext
	"$OPENSSL" x509 -req -in inter.csr -CA tls-ca.pem -CAkey tls-ca-key.pem -CAcreateserial -days 30 \
		-extfile inter.ext -out inter.pem
	"$OPENSSL" genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out chained-key.pem
	"$OPENSSL" req -new -key chained-key.pem -subj "/CN=chained" -out chained.csr
	printf '%s\n' "basicConstraints=critical,CA:FALSE" "extendedKeyUsage=serverAuth,clientAuth" \
		"subjectAltName=URI:sip:sdproxy@home.example,IP:127.0.0.1" >chained.ext
	"$OPENSSL" x509 -req -in chained.csr -CA inter.pem -CAkey inter-key.pem -CAcreateserial -days 30 \
		-extfile chained.ext -out chained-leaf.pem
	cat chained-leaf.pem inter.pem >chained-chain.pem
) >>"$WORK/tls-keys.log" 2>&1 || not_ok "an intermediate CA and a certificate it issued"
# chain_check CERT-FILE: a daemon with tls.certificate CERT-FILE; what openssl s_client (trusting
# the root alone, as peers do) says of its chain, "VERIFY-CODE CERTS-SENT", in $WORK/chain.result.
chain_check() {
	make_conf chain.conf role=primary port="$P_CH" transports=tls
	printf 'tls = { certificate = "%s"; private_key = "%s"; ca = "%s"; };\n' "$1" "$T/chained-key.pem" \
		"$T/tls-ca.pem" >>"$WORK/chain.conf"
	start_daemon chain.conf chain || return 0
	echo | timeout 5 "$OPENSSL" s_client -connect "$L:$P_CH" -CAfile "$T/tls-ca.pem" -showcerts \
		-cert "$T/front-cert.pem" -key "$T/front-key.pem" >"$WORK/chain.sclient" 2>&1 || :
	stop_daemon chain
	echo "$(sed -n 's/^ *Verify return code: \([0-9]*\).*/\1/p' "$WORK/chain.sclient" | head -n 1)" \
		"$(grep -c 'BEGIN CERTIFICATE' "$WORK/chain.sclient")" >"$WORK/chain.result"
}
chain_check "$T/chained-chain.pem"
is "a leaf of an intermediate CA, with the intermediate in tls.certificate: both sent, verified to the root" \
	"$(cat "$WORK/chain.result")" "0 2"
chain_check "$T/chained-leaf.pem"
is "... the control: without the intermediate, the peer cannot verify it (21: unable to verify the first certificate)" \
	"$(cat "$WORK/chain.result")" "21 1"

# ---- SIGHUP: new credentials for new connections ----
mk "$T" sdproxy2 URI:sip:sdproxy@home.example IP:127.0.0.1
sed -i "s|$T/sdproxy-cert.pem|$T/sdproxy2-cert.pem|; s|$T/sdproxy-key.pem|$T/sdproxy2-key.pem|" "$WORK/primary.conf"
hup primary
like "reload: TLS credentials read again" "$(grep 'reload: TLS' "$WORK/primary.log" | tail -n 1)" "certificate, key and CAs read again"
serial() { "$OPENSSL" x509 -noout -serial -in "$1" | sed 's/.*=//'; }
echo | timeout 5 "$OPENSSL" s_client -connect "$L:$P_PRI" -CAfile "$T/tls-ca.pem" -cert "$T/front-cert.pem" \
	-key "$T/front-key.pem" -showcerts >"$WORK/after-hup.sclient" 2>&1 || :
"$OPENSSL" x509 -noout -serial <"$WORK/after-hup.sclient" 2>/dev/null | sed 's/.*=//' >"$WORK/after-hup.serial" || :
is "a new connection after SIGHUP gets the new certificate" "$(cat "$WORK/after-hup.serial")" "$(serial "$T/sdproxy2-cert.pem")"
# a broken new key: refused, the old credentials stay
cp "$T/front-key.pem" "$T/sdproxy2-key.pem"
hup primary
like "reload with a key that does not match: refused" "$(grep 'reload' "$WORK/primary.log" | tail -n 2 | tr '\n' ' ')" \
	"does not match the certificate"
stop_daemon primary

# ---- -t on bad credentials ----
bad_conf() {	# NAME SETTING...: primary.conf's TLS section replaced by SETTING
	make_conf "$1.conf" role=primary port="$P_PRI" transports=tls
	printf 'tls = { %s };\n' "$2" >>"$WORK/$1.conf"
	run "$SDPROXYD" -t -c "$WORK/$1.conf"
}
bad_conf nocert "ca = \"$T/tls-ca.pem\";"
like "-t: a TLS listen address without a certificate" "$RC $(cat "$WORK/err")" \
	"^1 .*nocert.conf:[0-9]+: server.listen\\[0\\]: a TLS address needs tls.certificate and tls.private_key"
bad_conf expired "certificate = \"$T/expired-cert.pem\"; private_key = \"$T/expired-key.pem\"; ca = \"$T/tls-ca.pem\";"
like "-t: an expired certificate (file:line)" "$(cat "$WORK/err")" \
	"expired.conf:[0-9]+: tls.certificate: the certificate in $T/expired-cert.pem expired on "
bad_conf mismatch "certificate = \"$T/front-cert.pem\"; private_key = \"$T/back-key.pem\"; ca = \"$T/tls-ca.pem\";"
like "-t: a key that does not match" "$(cat "$WORK/err")" \
	"mismatch.conf:[0-9]+: tls.private_key: the key in $T/back-key.pem does not match the certificate in $T/front-cert.pem"
bad_conf noca "certificate = \"$T/front-cert.pem\"; private_key = \"$T/front-key.pem\"; ca = \"$T/nothere.pem\";"
like "-t: an unreadable CA file" "$(cat "$WORK/err")" "noca.conf:[0-9]+: tls.ca: cannot read $T/nothere.pem: No such file or directory"

done_testing
