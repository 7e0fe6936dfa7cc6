# lookup.backend = "ldap" against a real slapd (Debian's) started here with the shipped schema:
#   1. answers from the directory: a user's own entry, a domain's entry, a user it has not
#      (policy.on_unknown_target), a KRR built from the directory's domains;
#   2. the cache: a hit asks nothing, an entry expires (cache_ttl, negative_ttl), twenty
#      concurrent INVITEs for one new user make one search (slapd's log);
#   3. faults, each bounded in time, each INVITE with a final answer: slapd stopped
#      (connection refused: 503 + Retry-After at once, cached users still served), started
#      again (back without a daemon restart), frozen with SIGSTOP (silent: 503 within the
#      timeout, the connection replaced) and resumed; on_lookup_failure = "forward";
#   4. a reload keeps the connection and the cache when the directory settings stay, and
#      starts afresh when they change; mcx-sdtool lookup says where an answer came from;
#      StartTLS with the directory's CA, refused with another CA.
# In a private network namespace: slapd and the daemons on its loopback alone.
. "$top_srcdir/tests/sip/netns.sh"
. "$top_srcdir/tests/sip/lib_sip.sh"

need_sip
command -v slapd >/dev/null 2>&1 || [ -x /usr/sbin/slapd ] || { echo "not ok - slapd is not installed"; exit 1; }
sip_ports 29500
sip_keys
L=127.0.0.1
MCX_TEST_LOOKUP=ldap
LDAP_PORT=$((P_PRI + 40))

# The directory's TLS certificate (for StartTLS), issued by a CA of its own, and another CA.
(
	set -e
	cd "$WORK/keys"
	for ca in ldap-ca other-ca; do
		"$OPENSSL" req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$ca-key.pem" \
			-subj "/CN=$ca" -days 30 -out "$ca.pem"
	done
	"$OPENSSL" req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ldap-key.pem -subj "/CN=$L" \
		-out ldap.csr
	printf 'subjectAltName=IP:%s\nbasicConstraints=CA:FALSE\n' "$L" >ldap.ext
	"$OPENSSL" x509 -req -in ldap.csr -CA ldap-ca.pem -CAkey ldap-ca-key.pem -CAcreateserial -days 30 \
		-extfile ldap.ext -out ldap-cert.pem
) >"$WORK/ldap-keys.log" 2>&1 || { not_ok "the directory's TLS keys"; diag "$WORK/ldap-keys.log"; exit 1; }
LDAP_TLS_CERT=$WORK/keys/ldap-cert.pem LDAP_TLS_KEY=$WORK/keys/ldap-key.pem

TABLE='{ user = "sip:*@partner.example";
      domains = ( { kms = "kms.partner.example"; external = [ "kms.home.example" ]; } ); },
    { user = "sip:carol@partner.example";
      domains = ( { kms = "kms.home.example"; external = [ "kms.partner.example" ]; } ); }'
LDAP_EXTRA='cache_ttl = 4; negative_ttl = 1; timeout_ms = 500;'
make_conf primary.conf role=primary port="$P_PRI" next_hop="sip:$L:$P_UAS;transport=udp" unknown=reject \
	lookup="$TABLE" peers='"127.0.0.1"' metrics="http://$L:$((P_PRI + 30))/metrics"
ok "slapd started on $LDAP_URI with the shipped schema; the entries added with ldapadd"
sip_sink "$P_UAS"
start_daemon primary.conf primary || { done_testing; exit 1; }

# calls WHAT SECONDS USER...: an INVITE alice -> each USER (H -> P, bob's keys for a partner user),
# all at once; the final answers in $WORK/calls (STATUS MS RETRY-AFTER WARNING, one line each).
calls() {
	c_what=$1 c_s=$2
	shift 2
	c_args=
	for c_u; do
		c_args="$c_args $c_u=$(mikey_b64 "$ALICE" "$c_u" "$H" "$P")"
	done
	# shellcheck disable=SC2086
	python3 "$top_srcdir/tests/sip/invites.py" "$P_PRI" "$c_s" $c_args >"$WORK/calls" 2>"$WORK/calls.err" ||
		echo "# $c_what: some INVITE had no final answer within $c_s s"
}
statuses() { awk '{ print $1 }' "$WORK/calls" | sort | uniq -c | awk '{ printf "%s%s x%s", (NR > 1 ? ", " : ""), $2, $1 }'; }
searches() { ldap_searches "$(printf '%s' "$1" | sed 's/[.*]/\\&/g')"; }
audited() { grep -c "\"rule\":\"$1\"" "$WORK/primary-audit.jsonl" || :; }

# ---- 1. answers from the directory ----
calls "bob" 5 sip:bob@partner.example
is "bob (the domain's entry: H -> P acceptable): forwarded (the sink's 486)" "$(statuses)" "486 x1"
like "the daemon connected to the directory" "$(grep 'lookup:' "$WORK/primary.log" | head -n 1)" \
	"lookup: connected to the directory $LDAP_URI"
calls "carol" 5 sip:carol@partner.example
is "carol (her own entry: a home-keyed domain, P not acceptable): 488 with a KRR" "$(statuses)" "488 x1"
is "carol's KRR decision audited (1a:receiver-kms)" "$(audited 1a:receiver-kms)" 1
calls "zed" 5 sip:zed@nowhere.example
is "zed (in no entry) follows on_unknown_target = reject: 404" "$(statuses)" "404 x1"
run "$SDTOOL" lookup -c "$WORK/primary.conf" sip:carol@partner.example
like "mcx-sdtool lookup: exit 0, carol's own entry, from the directory" "$RC $(head -n 1 "$WORK/out")" \
	"^0 sip:carol@partner.example: matched cn=e1,ou=primary-1,dc=test \\(from the directory $LDAP_URI\\)"
run "$SDTOOL" lookup -c "$WORK/primary.conf" --json sip:dave@partner.example
is "mcx-sdtool lookup --json: the domain's entry, source and origin" \
	"$RC $(jqo '[.matched, .source, .origin, .domains[0].kms]' "$WORK/out")" \
	"0 [\"cn=e0,ou=primary-1,dc=test\",\"directory\",\"$LDAP_URI\",\"$P\"]"

# ---- 2. the cache ----
n0=$(searches sip:bob@partner.example)
calls "bob again" 5 sip:bob@partner.example
is "bob again within cache_ttl: forwarded, and slapd was not asked (1 search for bob in all)" \
	"$(statuses) $n0 $(searches sip:bob@partner.example)" "486 x1 1 1"
calls "zed again" 5 sip:zed@nowhere.example
is "zed again within negative_ttl: 404 from the cache (1 search for zed)" "$(statuses) $(searches sip:zed@nowhere.example)" \
	"404 x1 1"
sleep 1.2
calls "zed after negative_ttl" 5 sip:zed@nowhere.example
is "zed after negative_ttl (1 s): asked again (2 searches)" "$(statuses) $(searches sip:zed@nowhere.example)" "404 x1 2"
sleep 3
calls "bob after cache_ttl" 5 sip:bob@partner.example
is "bob after cache_ttl (4 s): asked again (2 searches)" "$(statuses) $(searches sip:bob@partner.example)" "486 x1 2"
set --
for i in $(seq 20); do set -- "$@" sip:dave@partner.example; done
calls "twenty for dave" 10 "$@"
is "twenty concurrent INVITEs for dave (not cached): all forwarded" "$(statuses)" "486 x20"
is "... and slapd got one search for dave (mcx-sdtool's earlier one aside: 2)" "$(searches sip:dave@partner.example)" 2

# 150 users at once, more than slapd lets one connection have pending (olcConnMaxPending, 100),
# slapd frozen while they arrive so that none is answered before the last is asked: the daemon
# keeps at most 64 searches outstanding and queues the rest (else slapd closes the connection).
# One I_MESSAGE with hidden identities for all (its target is then the Request-URI).
B64H=$("$SDTOOL" mikey build --idri "$ALICE" --idrr "$BOB" --idrkmsi "$H" --idrkmsr "$P" --hide --output base64 |
	tr -d '\r\n')
set --
for i in $(seq 150); do set -- "$@" "sip:crowd$i@partner.example=$B64H"; done
kill -STOP "$SLAPD_PID"
python3 "$top_srcdir/tests/sip/invites.py" "$P_PRI" 15 "$@" >"$WORK/calls" 2>"$WORK/calls.err" &
crowd=$!
sleep 0.25
kill -CONT "$SLAPD_PID"
wait "$crowd" || :
is "150 INVITEs for 150 users not cached, at once: all forwarded" "$(statuses)" "486 x150"
is "... one search each" "$(ldap_searches 'crowd[0-9]+@partner')" 150
check "... and the connection was never lost" sh -c "! grep -q 'lost the directory' '$WORK/primary.log'"

# Two I_MESSAGEs naming two receivers (bob, and carol of the first test) in one INVITE, with
# cache_ttl = 0: the decision waits for each target in turn and must find the first still
# there (kept for timeout_ms), or it would ask for it again forever; it ends in mikey-disagree.
"$SDTOOL" mikey build --idri "$ALICE" --idrr sip:ted@partner.example --idrkmsi "$H" --idrkmsr "$P" --output sip \
	>"$WORK/two.sip"
B64C=$(mikey_b64 "$ALICE" sip:ursula@partner.example "$H" "$P")
python3 - "$WORK/two.sip" "$B64C" <<'PYEOF2'
import re, sys
m = open(sys.argv[1], newline="").read()
head, body = m.split("\r\n\r\n", 1)
body = body.replace("m=audio", "m=audio", 1) + "a=key-mgmt:mikey %s\r\n" % sys.argv[2]
head = re.sub(r"Content-Length: \d+", "Content-Length: %d" % len(body), head)
open(sys.argv[1], "w", newline="").write(head + "\r\n\r\n" + body)
PYEOF2
sed 's/cache_ttl = 4; negative_ttl = 1;/cache_ttl = 0; negative_ttl = 0;/' "$WORK/primary.conf" >"$WORK/ttl0.conf"
run "$SDTOOL" decide -c "$WORK/ttl0.conf" --json "$WORK/two.sip"
is "cache_ttl = 0, an INVITE with I_MESSAGEs for two users: decided (mikey-disagree), each asked once" \
	"$RC $(jqo '[.decision, .rule]' "$WORK/out") $(searches sip:ted@partner.example) $(searches sip:ursula@partner.example)" \
	'0 ["reject","mikey-disagree"] 1 1'

# ---- 3. faults ----
ldap_stop
calls "slapd stopped" 10 sip:erin@partner.example sip:bob@partner.example
is "slapd stopped: a user not cached gets 503, bob (cached) is still forwarded" "$(statuses)" "486 x1, 503 x1"
read -r st ms ra warn <<EOF
$(grep '^503' "$WORK/calls")
EOF
is "... the 503 says Retry-After and why (Warning)" "$ra $(echo "$warn" | sed 's/^399 [^ ]* //')" \
	'1 "security domain lookup failed"'
check "... within 2 s (the connection refused: at once, not after a timeout; took $ms ms)" [ "$ms" -lt 2000 ]
check "the daemon logged that the directory was lost" grep -q "lookup: lost the directory $LDAP_URI" "$WORK/primary.log"
wait_log primary "lookup: the directory cannot be reached .*trying again in" 30 &&
	ok "... and that it cannot be reached, and when it tries again" ||
	not_ok "... and that it cannot be reached, and when it tries again"
is "the 503 is audited with its own rule (lookup-failed)" "$(audited lookup-failed)" 1
calls "while lost" 5 sip:frank@partner.example sip:grace@partner.example sip:heidi@partner.example
is "while the directory is lost, lookups fail fast: three 503" "$(statuses)" "503 x3"
check "... each within 200 ms ($(awk '{ print $2 }' "$WORK/calls" | tr '\n' ' ')ms)" \
	awk '$2 >= 200 { exit 1 }' "$WORK/calls"

# forwarded_again USER TRIES: an INVITE for USER every 0.25 s until one is forwarded (back=yes) or TRIES.
forwarded_again() {
	back=no
	for i in $(seq "$2"); do
		calls "$1, until forwarded" 3 "$1"
		[ "$(statuses)" != "486 x1" ] || { back=yes; break; }
		sleep 0.25
	done
}

ldap_start "$LDAP_PORT" >/dev/null
forwarded_again sip:ivan@partner.example 40
is "slapd started again: lookups work again without a daemon restart" "$back" yes
like "the daemon logged that the directory is back" "$(grep 'directory is back' "$WORK/primary.log" | tail -n 1)" \
	"lookup: the directory is back: $LDAP_URI \\([0-9.]+ s after it was lost; [0-9]+ lookups failed meanwhile\\)"

kill -STOP "$SLAPD_PID"
set --
for i in $(seq 10); do set -- "$@" "sip:frozen$i@partner.example"; done
t0=$(now_ms)
calls "slapd frozen" 10 "$@"
t1=$(now_ms)
is "slapd frozen (SIGSTOP): ten INVITEs for new users each get 503" "$(statuses)" "503 x10"
check "... all within 2.5 s (timeout_ms 500; took $((t1 - t0)) ms)" [ $((t1 - t0)) -lt 2500 ]
wait_log primary "lookup: (lost the directory|the directory cannot be reached \\().*no answer for 500 ms" 30 &&
	ok "the daemon logged the silent directory (no answer for 500 ms)" ||
	not_ok "the daemon logged the silent directory (no answer for 500 ms)"
kill -CONT "$SLAPD_PID"
forwarded_again sip:judy@partner.example 60
is "slapd resumed (SIGCONT): lookups work again" "$back" yes

# on_lookup_failure = "forward": a second daemon whose directory URI nobody listens on
LDAP_URIS="\"ldap://$L:$((LDAP_PORT + 1))\""
make_conf forward.conf role=primary port="$P_PAR" next_hop="sip:$L:$P_UAS;transport=udp" lookup="$TABLE" \
	lookup_failure=forward peers='"127.0.0.1"'
LDAP_URIS=
start_daemon forward.conf forward
P_KEEP=$P_PRI P_PRI=$P_PAR
calls "on_lookup_failure = forward" 5 sip:carol@partner.example
P_PRI=$P_KEEP
is "on_lookup_failure = forward: the directory cannot answer, carol's call goes on (486 from the sink)" \
	"$(statuses)" "486 x1"
is "... audited as lookup-failed:forward" "$(grep -c '"rule":"lookup-failed:forward"' "$WORK/forward-audit.jsonl")" 1
stop_daemon forward

# ---- 4. reload, the tool, StartTLS ----
calls "kate" 5 sip:kate@partner.example
check "SIGHUP with the same file: reloaded" hup primary
calls "kate after a reload with the same settings" 5 sip:kate@partner.example
is "SIGHUP, same directory settings: kate from the cache (1 search)" "$(statuses) $(searches sip:kate@partner.example)" \
	"486 x1 1"
sed 's/cache_ttl = 4;/cache_ttl = 5;/' "$WORK/primary.conf" >"$WORK/primary.conf.new" && mv "$WORK/primary.conf.new" "$WORK/primary.conf"
check "SIGHUP with a changed cache_ttl: reloaded" hup primary
calls "kate after a reload with other settings" 5 sip:kate@partner.example
is "... a new client: kate asked again (2 searches)" "$(statuses) $(searches sip:kate@partner.example)" "486 x1 2"

# An entry whose values cannot be read fails the lookup (503), and does not fall back to its domain's entry.
printf 'dn: cn=mallory,ou=primary-1,dc=test\nobjectClass: applicationProcess\nobjectClass: mcxUser\ncn: mallory\nmcxUserUri: sip:mallory@partner.example\nmcxSecurityDomain: kms.home.example\tkms.partner.example\n' \
	>"$WORK/mallory.ldif"
ldap_add "$WORK/mallory.ldif"
calls "mallory" 5 sip:mallory@partner.example
is "an entry with a control character in a value: 503, not the domain's entry (486)" "$(statuses)" "503 x1"
like "... and the log names the entry and the fault" "$(grep 'directory entry' "$WORK/primary.log" | tail -n 1)" \
	"error: lookup: directory entry cn=mallory,ou=primary-1,dc=test: mcxSecurityDomain: a character that no KMS URI has"

# The other way round: a domain's entry that cannot be read does not spoil a user's own good entry
# (whichever order slapd returns them in), and fails the domain's other users.
printf 'dn: cn=bad-domain,ou=primary-1,dc=test\nobjectClass: applicationProcess\nobjectClass: mcxUser\ncn: bad-domain\nmcxUserUri: sip:*@bad.example\nmcxSecurityDomain: {x}kms.partner.example\n\ndn: cn=good,ou=primary-1,dc=test\nobjectClass: applicationProcess\nobjectClass: mcxUser\ncn: good\nmcxUserUri: sip:good@bad.example\nmcxSecurityDomain: kms.partner.example kms.home.example\n' \
	>"$WORK/bad-domain.ldif"
ldap_add "$WORK/bad-domain.ldif"
calls "good and other of bad.example" 5 sip:good@bad.example sip:other@bad.example
is "a user's good entry answers despite its domain's bad one (486); the domain's other user: 503" \
	"$(awk '{ print $1 }' "$WORK/calls" | tr '\n' ' ')" "486 503 "

# Binding as a DN with its password from bind_secret_file.
printf '%s\n' "$LDAP_SECRET" >"$WORK/ldap-secret"
printf 'wrong\n' >"$WORK/ldap-wrong"
sed "s|timeout_ms = 500;|timeout_ms = 500; bind_dn = \"$LDAP_ADMIN\"; bind_secret_file = \"$WORK/ldap-secret\";|" \
	"$WORK/primary.conf" >"$WORK/bound.conf"
run "$SDTOOL" lookup -c "$WORK/bound.conf" sip:carol@partner.example
is "bind_dn with the right password (a file's first line): carol found" "$RC" 0
check "... slapd logged the bind as that DN" grep -q "BIND dn=\"$LDAP_ADMIN\" method=128" "$WORK/slapd/slapd.log"
sed "s|ldap-secret|ldap-wrong|" "$WORK/bound.conf" >"$WORK/bound-wrong.conf"
run "$SDTOOL" lookup -c "$WORK/bound-wrong.conf" sip:carol@partner.example
is "a wrong password: exit 3" "$RC" 3
like "... Invalid credentials, the password never shown" "$(cat "$WORK/err")" "bind as $LDAP_ADMIN: Invalid credentials"
check "... (not in the message)" sh -c "! grep -q wrong '$WORK/err'"

run "$SDTOOL" lookup -c "$WORK/primary.conf" sip:nobody@nowhere.example
is "mcx-sdtool lookup of a user in no entry: exit 1, says so" "$RC $(cat "$WORK/out")" \
	"1 sip:nobody@nowhere.example: not found (the directory has no entry for it)"
sed "s|uris = \\[ \"$LDAP_URI\" \\];|uris = [ \"ldap://$L:$((LDAP_PORT + 1))\" ];|" "$WORK/primary.conf" >"$WORK/dead.conf"
run "$SDTOOL" lookup -c "$WORK/dead.conf" sip:kate@partner.example
is "mcx-sdtool lookup when the directory cannot answer: exit 3" "$RC" 3
like "... and says why" "$(cat "$WORK/err")" "cannot be reached \\(ldap://$L:$((LDAP_PORT + 1)): bind \\(anonymous\\): Can't contact LDAP server\\)"
sed "s|timeout_ms = 500;|timeout_ms = 500; starttls = true; ca = \"$WORK/keys/ldap-ca.pem\";|" "$WORK/primary.conf" \
	>"$WORK/tls.conf"
run "$SDTOOL" lookup -c "$WORK/tls.conf" sip:carol@partner.example
is "StartTLS with the directory's CA: carol found" "$RC" 0
sed "s|ldap-ca.pem|other-ca.pem|" "$WORK/tls.conf" >"$WORK/tls-other.conf"
run "$SDTOOL" lookup -c "$WORK/tls-other.conf" sip:carol@partner.example
is "StartTLS with another CA: the directory's certificate refused (exit 3)" "$RC" 3
like "... the reason" "$(cat "$WORK/err")" "StartTLS"
check "the daemon's log shows no error or warning but the directory's" sh -c \
	"! grep -E '\]: (error|warning): ' '$WORK/primary.log' | grep -v ': lookup: '"

M=http://$L:$((P_PRI + 30))/metrics
m_found=$(metric_value "$M" 'mcx_sdproxy_lookups_total{backend="ldap",outcome="found"}')
m_nf=$(metric_value "$M" 'mcx_sdproxy_lookups_total{backend="ldap",outcome="not_found"}')
m_failed=$(metric_value "$M" 'mcx_sdproxy_lookups_total{backend="ldap",outcome="failed"}')
m_hit=$(metric_value "$M" 'mcx_sdproxy_lookup_cache_total{result="hit"}')
m_miss=$(metric_value "$M" 'mcx_sdproxy_lookup_cache_total{result="miss"}')
m_time=$(metric_value "$M" 'mcx_sdproxy_lookup_seconds_count{backend="ldap"}')
check "the metrics saw it all: lookups found ($m_found), not found ($m_nf), failed ($m_failed); cache hits ($m_hit), misses ($m_miss); directory searches timed ($m_time)" \
	sh -c "[ '$m_found' -ge 170 ] && [ '$m_nf' -ge 3 ] && [ '$m_failed' -ge 10 ] && [ '$m_hit' -ge 3 ] && [ '$m_miss' -ge 170 ] && [ '$m_time' -ge 150 ]"
stop_daemon primary
done_testing
