# The KRR signing key out of reach of the network-facing processes (keysigner.c): each SIP
# process (the daemon alone, or each worker) has a "krr-signer" child that alone reads
# krr.private_key.  Checked by reading process memory (/proc/PID/mem, as root): the key's
# private scalar (both byte orders) and its PEM text are in no SIP process (nor the master),
# and are in the signer (the control that the scan can find them).  KRRs are still signed
# (xmlsec1 verifies them); after SIGHUP with a new key and certificate, the new signer signs
# with them, and the new key is again only in the signer; a signer killed is started again on
# the next KRR; a key that does not match stops the start with a clear message.
. "$top_srcdir/tests/sip/lib_sip.sh"

need_sip
need python3
[ -r /proc/self/mem ] || { echo "not ok - /proc/PID/mem cannot be read here"; exit 1; }
sip_ports 29300
sip_keys
L=127.0.0.1
MEMSCAN=$top_srcdir/tests/sip/memscan.py

# needles KEY: the private scalar in hex, big- and little-endian, and the PEM's first body line.
needles() {
	n_hex=$("$OPENSSL" pkey -in "$1" -text -noout 2>/dev/null | sed -n '/^priv:/,/^pub:/p' | sed '1d;$d' |
		tr -d ' :\n' | sed 's/^00//')
	n_le=$(printf '%s' "$n_hex" | sed 's/../& /g' | tr ' ' '\n' | grep . | tac | tr -d '\n')
	n_pem=$(sed -n '2p' "$1" | tr -d '\n' | od -An -tx1 | tr -d ' \n')
	echo "$n_hex $n_le $n_pem"
}
# scan PID KEY: "found" when any needle of KEY is in PID's memory, else "absent".
scan() {
	# shellcheck disable=SC2046
	python3 "$MEMSCAN" "$1" $(needles "$2") >"$WORK/scan.out" 2>&1 || { echo "unreadable"; return; }
	if grep -q ' found$' "$WORK/scan.out"; then echo found; else echo absent; fi
}
# signers NAME: the krr-signer processes under daemon NAME's SIP processes.
signers() {
	for s_w in $(daemon_pids "$1"); do
		for s_c in $(cat "/proc/$s_w/task/$s_w/children" 2>/dev/null); do
			[ "$(cat "/proc/$s_c/comm" 2>/dev/null)" = krr-signer ] && echo "$s_c"
		done
	done
}
check_memory() {	# WHAT KEY
	for m_p in $(printf "%s\n" $(daemon_pids primary) "$PID_primary" | sort -u); do
		is "$1: no SIP process holds the key (pid $m_p: $(cat "/proc/$m_p/comm"))" "$(scan "$m_p" "$2")" absent
	done
	# (after a reload the previous configuration's signer stays too, with the previous key)
	m_n=0
	for m_p in $(signers primary); do
		[ "$(scan "$m_p" "$2")" != found ] || m_n=$((m_n + 1))
	done
	is "$1: a signer under each SIP process holds it (the scan can find it)" "$m_n" "${MCX_TEST_WORKERS:-1}"
}

make_conf primary.conf role=primary port="$P_PRI" next_hop="sip:$L:$P_UAS;transport=udp"
start_daemon primary.conf primary || { done_testing; exit 1; }
like "a signer started for each SIP process" "$(grep -c 'KRR signer started (pid' "$WORK/primary.log")" \
	"^${MCX_TEST_WORKERS:-1}\$"
check_memory start "$WORK/keys/home.example/krr-key.pem"

redirect() {	# NAME SIGNER-CERT: alice's call for a wrong KMS: a KRR signed with SIGNER-CERT
	csv "$1" bob@partner.example "$(mikey_b64 "$ALICE" "$BOB" "$H" kms.wrong.example)"
	uac "$1" uac_final $L "$L:$P_PRI"
	sipp_ok "$1" "$1: alice: INVITE, 488 + KRR, ACK"
	got_krr "$1" "$1" "$HOME_URI" null
	r_cert=$(tr -d '\r\n' <"$WORK/$1.krr" | sed -n 's/.*<[a-z:]*X509Certificate>\([^<]*\)<.*/\1/p')
	is "$1: signed with $(basename "$(dirname "$2")")/$(basename "$2")" "$r_cert" \
		"$("$OPENSSL" x509 -in "$2" -outform DER | base64 -w0)"
}
redirect first "$WORK/keys/home.example/krr-cert.pem"

# ---- SIGHUP: a new key and certificate ----
ue_cert rotated "$HOME_URI" >>"$WORK/keys.log" 2>&1
sed -i "s|$WORK/keys/home.example/krr-cert.pem|$WORK/keys/rotated/krr-cert.pem|; s|$WORK/keys/home.example/krr-key.pem|$WORK/keys/rotated/krr-key.pem|" \
	"$WORK/primary.conf"
hup primary || not_ok "SIGHUP with a new KRR key"
redirect rotated "$WORK/keys/rotated/krr-cert.pem"
check_memory "after SIGHUP" "$WORK/keys/rotated/krr-key.pem"

# ---- a signer killed: started again at the next KRR ----
for k_p in $(signers primary); do kill -KILL "$k_p"; done
sleep 0.2
redirect again "$WORK/keys/rotated/krr-cert.pem"
like "the SIP process said it started another signer" "$(grep 'did not answer: starting another' "$WORK/primary.log" | head -n 1)" \
	"KRR signer \\(pid [0-9]+\\) did not answer"
stop_daemon primary

# ---- a key that does not match its certificate ----
make_conf bad.conf role=primary port="$P_PRI" signer=home.example
sed -i "s|$WORK/keys/home.example/krr-key.pem|$WORK/keys/partner.example/krr-key.pem|" "$WORK/bad.conf"
run "$SDPROXYD" -f -c "$WORK/bad.conf"
like "a key that does not match: the daemon does not start, and says why" "$RC $(cat "$WORK/err")" \
	"^1 .*bad.conf: krr.private_key: the key does not match the certificate"

done_testing
