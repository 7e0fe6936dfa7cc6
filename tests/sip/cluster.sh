# Many daemons (conf/cluster): sipp -> Kamailio with the dispatcher module -> two
# mcx-sdproxyd -> a sipp UAS, with the shipped files: conf/cluster/kamailio.cfg as it is
# (its defines set on the command line: test addresses, a 1 s probe interval, 1 s to a
# daemon's first answer), dispatcher.list, sdproxy-a.conf and sdproxy-b.conf with the test
# ports put in for the shipped ones.  Each "host" has its own loopback address: Kamailio
# 127.0.0.10, daemon A 127.0.0.11, daemon B 127.0.0.12; the callers and bob 127.0.0.1.
#   1. the daemons answer the dispatcher's OPTIONS probes themselves (the next hop, bob, is
#      not even up yet): both are active; a caller is no peer of the daemons (403 when it
#      calls one directly);
#   2. 20 calls (Call-IDs cluster-1 .. cluster-20) through Kamailio: all connected, both
#      daemons carried some, and each call's BYE went through the daemon of its INVITE;
#   3. daemon A is killed (SIGKILL) and at once a call hashed to A is placed, before any
#      probe can have noticed: Kamailio gets no answer, marks A inactive and sends the call
#      to B (failover): connected;
#   4. A is started again: the probes find it up; then A is stopped (SIGTERM): the probes
#      mark it down, and the same 20 Call-IDs again are all connected through B, those
#      that A carried in 2 among them.
# In a private network namespace (loopback only): its own addresses and ports.
. "$top_srcdir/tests/sip/netns.sh"
. "$top_srcdir/tests/sip/lib_sip.sh"

: "${KAMAILIO:=kamailio}"
: "${KAMCMD:=kamcmd}"
need_sip
need "$KAMAILIO" "$KAMCMD"
KAM_MODULES=${KAM_MODULES:-/usr/lib/x86_64-linux-gnu/kamailio/modules}
[ -f "$KAM_MODULES/dispatcher.so" ] || { echo "not ok - Kamailio's dispatcher module is not in $KAM_MODULES"; exit 1; }
sip_ports 29400
L=127.0.0.1 KA=127.0.0.10 DA=127.0.0.11 DB=127.0.0.12
P_A=$P_PRI P_B=$P_PAR P_KAM=$((P_PRI + 10))
CL=$top_srcdir/conf/cluster C=$WORK/cluster
own_resolv_conf 127.0.0.1
N=20

# ---- the shared directory: a slapd with the shipped schema and demo directory ----
LDAP_HOST=127.0.0.30 LDAP_PORT=$((P_PRI + 20)) LDAP_SUFFIX=dc=home,dc=example
LDAP_DATA=$top_srcdir/conf/ldap/demo-directory.ldif
if ldap_start; then
	ok "the shared directory: slapd on $LDAP_URI with conf/ldap's schema and demo directory"
else
	not_ok "the shared directory: slapd on $LDAP_URI with conf/ldap's schema and demo directory"
	done_testing
	exit 1
fi

# ---- the shipped configurations, their keys, the test ports ----
mkdir -p "$C"
cp "$CL/sdproxy-a.conf" "$CL/sdproxy-b.conf" "$CL/dispatcher.list" "$C/"
if OPENSSL=$OPENSSL sh "$top_srcdir/conf/make-keys.sh" "$C" >"$WORK/keys.log" 2>&1; then
	ok "KRR keys for the cluster's configurations made (make-keys.sh)"
else
	not_ok "KRR keys for the cluster's configurations made (make-keys.sh)"
	diag "$WORK/keys.log"
	done_testing
	exit 1
fi
for d in a b; do
	run "$SDPROXYD" -t -c "$C/sdproxy-$d.conf"
	is "-t accepts conf/cluster/sdproxy-$d.conf as shipped" "$RC $(cat "$WORK/out")" "0 $C/sdproxy-$d.conf: configuration ok"
done
# test_ports FILE: the shipped addresses and ports replaced by the test's; one worker each
test_ports() {
	sed -e "s|127\\.0\\.0\\.11:5060|$DA:$P_A|g" -e "s|127\\.0\\.0\\.12:5060|$DB:$P_B|g" \
		-e "s|\"sip:127\\.0\\.0\\.20:5060\"|\"sip:$L:$P_UAS;transport=udp\"|" \
		-e "s|\"127\\.0\\.0\\.10/32\"|\"$KA/32\"|" \
		-e "s|ldap://127\\.0\\.0\\.30:389|$LDAP_URI|" -e "s|ldap://127\\.0\\.0\\.31:389|ldap://127.0.0.31:$((LDAP_PORT + 1))|" \
		-e "s|workers = 2;|workers = ${MCX_TEST_WORKERS:-1};|" "$1"
}
test_ports "$C/sdproxy-a.conf" >"$C/a.conf"
test_ports "$C/sdproxy-b.conf" >"$C/b.conf"
test_ports "$C/dispatcher.list" >"$C/test.list"
is "the test's configurations: the shipped ones with the test ports" \
	"$(grep -c "$DA:$P_A\|$DB:$P_B\|$L:$P_UAS\|workers = " "$C/a.conf" "$C/b.conf" "$C/test.list" | tr '\n' ' ')" \
	"$C/a.conf:3 $C/b.conf:3 $C/test.list:2 "
is "... and the directory's URIs: the test's slapd, then a provider nobody runs" \
	"$(grep -c "uris = \\[ \"$LDAP_URI\", \"ldap://127.0.0.31:$((LDAP_PORT + 1))\" \\];" "$C/a.conf" "$C/b.conf" | tr '\n' ' ')" \
	"$C/a.conf:1 $C/b.conf:1 "
is "... and the dispatcher list names both daemons" "$(grep -c "^1 sip:\\($DA:$P_A\\|$DB:$P_B\\);" "$C/test.list")" 2

start_daemon cluster/a.conf a && start_daemon cluster/b.conf b || { done_testing; exit 1; }

# ---- Kamailio: conf/cluster/kamailio.cfg itself ----
mkdir -p "$WORK/kam.run"
CTL=unix:$WORK/kam.run/ctl
"$KAMAILIO" -f "$CL/kamailio.cfg" -A "LISTEN=udp:$KA:$P_KAM" -A "DS_LIST=\"$C/test.list\"" -A PING_INTERVAL=1 \
	-A FR_TIMER=1000 -A "CTL_SOCKET=\"$CTL\"" -A "MPATH=\"$KAM_MODULES/\"" \
	-DD -E -Y "$WORK/kam.run" -m 32 -M 8 >"$WORK/kam.log" 2>&1 </dev/null &
KAM_PID=$!
SIP_PIDS="$SIP_PIDS $KAM_PID"
if wait_bound udp "$P_KAM" 100; then
	ok "Kamailio listens on $KA:$P_KAM (conf/cluster/kamailio.cfg)"
else
	not_ok "Kamailio listens on $KA:$P_KAM (conf/cluster/kamailio.cfg)"
	diag "$WORK/kam.log" 20
	done_testing
	exit 1
fi

# ds_state URI: the dispatcher's flags for URI (AP: active and probed, IP: inactive and probed)
ds_state() {
	"$KAMCMD" -s "$CTL" dispatcher.list 2>/dev/null |
		awk -v u="$1" '$1 == "URI:" { cur = $2 } $1 == "FLAGS:" && cur == u { print $2; exit }'
}
# kam_count STRING: how many lines of Kamailio's log have STRING
kam_count() { grep -cF -- "$1" "$WORK/kam.log" || :; }
# wait_kam STRING COUNT [TENTHS]: wait until more than COUNT lines of Kamailio's log have STRING
# (5 s at most by default)
wait_kam() {
	w_i=0
	until [ "$(kam_count "$1")" -gt "$2" ]; do
		[ "$w_i" -lt "${3:-50}" ] || return 1
		sleep 0.1
		w_i=$((w_i + 1))
	done
}
URI_A="sip:$DA:$P_A;transport=udp" URI_B="sip:$DB:$P_B;transport=udp"

# ---- 1. the probes ----
# two probe rounds; bob is not up yet: had a probe gone on to him, it would have failed
sleep 2.5
is "both daemons answered the probes (OPTIONS to themselves, not forwarded): active" \
	"$(ds_state "$URI_A") $(ds_state "$URI_B")" "AP AP"
is "... and no daemon went down" "$(grep -c 'is down' "$WORK/kam.log" || :)" 0

B64=$(mikey_b64 "$ALICE" "$BOB" "$H" "$P")
for c in direct calls window again; do csv "$c" bob@partner.example "$B64"; done
uac direct uac_final $L "$DB:$P_B" -cid_str direct-1
is "a caller straight to daemon B (not a peer: the dispatcher is): 403" \
	"$(sip_status "$(sip_find direct recv '^SIP/2.0 [3-6]')")" 403

# via_of NAME METHOD: "CALL-ID DAEMON" for each METHOD that sipp NAME received (DAEMON: the
# top Via's host:port, the daemon that sent it), sorted
via_of() {
	sip_split "$1"
	for v_f in $(awk -v m="$2" '$2 == "recv" && $3 == m { print $1 }' "$WORK/$1.d/index"); do
		echo "$(sip_hdr "$WORK/$1.d/$v_f" Call-ID i) $(via_hops "$WORK/$1.d/$v_f" | sed 's/^UDP \([^,]*\),.*/\1/')"
	done | sort -u
}
# decided NAME CALL-ID-ERE: how many calls daemon NAME forwarded whose Call-ID matches
decided() { grep -cE "call $2: forward rule" "$WORK/$1.log" || :; }

# ---- 2. calls through both ----
uas_start bob uas_answer $L "$P_UAS" -m "$N" -timeout 40s
uac calls uac_call $L "$KA:$P_KAM" -m "$N" -r 10 -cid_str 'cluster-%u' -timeout 30s
sipp_ok calls "alice: $N calls through Kamailio (INVITE, 200, ACK, BYE, 200), Call-IDs cluster-1 .. cluster-$N"
uas_wait bob 300
sipp_ok bob "bob: $N calls answered, each ended by alice's BYE"
na=$(decided a 'cluster-[0-9]+') nb=$(decided b 'cluster-[0-9]+')
is "each call forwarded by exactly one daemon (A $na, B $nb)" "$((na + nb))" "$N"
check "daemon A carried some of them ($na)" [ "$na" -gt 0 ]
check "daemon B carried some of them ($nb)" [ "$nb" -gt 0 ]
via_of bob INVITE >"$WORK/inv.via"
via_of bob BYE >"$WORK/bye.via"
is "every BYE reached bob through the daemon that had its INVITE (Record-Route)" \
	"$(wc -l <"$WORK/inv.via") $(cmp -s "$WORK/inv.via" "$WORK/bye.via" && echo same)" "$N same"
is "... the INVITEs that A carried came through A's address" \
	"$(grep -c " $DA:$P_A\$" "$WORK/inv.via" || :)" "$na"
inv=$(sip_find bob recv '^INVITE ')
like "bob's INVITE: Vias a daemon, Kamailio, alice" "$(via_hops "$inv")" \
	"^UDP ($DA:$P_A|$DB:$P_B), UDP $KA:$P_KAM, UDP $L:$P_UAC\$"
like "... Record-Routes a daemon, then Kamailio" "$(rr_hops "$inv")" \
	"^sip:($DA:$P_A|$DB:$P_B);transport=udp;lr, sip:$KA:$P_KAM;lr"
is "the audit logs: one record per call, in A's or B's" \
	"$(cat "$C/audit-a.jsonl" "$C/audit-b.jsonl" | "$JQ" -r 'select(.call_id | test("^cluster-")) | .call_id' | sort -u | wc -l)" "$N"
for d in a b; do
	like "daemon $(echo $d | tr ab AB) read the shared directory" \
		"$(grep -m 1 'lookup: connected' "$WORK/$d.log")" "lookup: connected to the directory $LDAP_URI, anonymous"
done
is "slapd had one connection from each daemon (their caches kept the rest), beside ldap_start's ldapsearch" \
	"$(grep -cE 'conn=[0-9]+ op=0 BIND dn="" method=128$' "$WORK/slapd/slapd.log")" 3
# the Call-IDs that A carried (they go to B in 4)
grep -oE "call cluster-[0-9]+: forward rule" "$WORK/a.log" | awk '{ print $2 }' | tr -d : | sort >"$WORK/a.ids"

# ---- 3. A dies; a call hashed to A before the probes notice ----
CID_A=$(head -n 1 "$WORK/a.ids")
kill -KILL "$PID_a"
set +e
wait "$PID_a" 2>/dev/null
set -e
uas_start bob2 uas_answer $L "$P_UAS" -timeout 20s
uac window uac_call $L "$KA:$P_KAM" -cid_str "$CID_A"
sipp_ok window "a call hashed to A ($CID_A), placed as A died: connected"
uas_wait bob2
like "... Kamailio waited for A (no answer), marked it inactive" "$(grep -F "(Call-ID $CID_A)" "$WORK/kam.log" | tr '\n' ' ')" \
	"did not answer INVITE \\(Call-ID $CID_A\\): marked inactive.* INVITE \\(Call-ID $CID_A\\) tried again on $URI_B"
check "... which took Kamailio's wait for a first answer, 1 s ($MS ms)" [ "$MS" -ge 1000 ]
is "... B forwarded it" "$(decided b "$CID_A")" 1
is "... A is inactive" "$(ds_state "$URI_A")" IP

# ---- 4. A back, then stopped: new calls go to B ----
UP_A="mcx-sdproxyd $URI_A is up" DOWN_A="mcx-sdproxyd $URI_A is down"
up0=$(kam_count "$UP_A")
start_daemon cluster/a.conf a || { done_testing; exit 1; }
if wait_kam "$UP_A" "$up0"; then
	ok "A started again: a probe found it up"
else
	not_ok "A started again: a probe found it up"
	diag "$WORK/kam.log"
fi
is "... active" "$(ds_state "$URI_A")" AP
down0=$(kam_count "$DOWN_A")
stop_daemon a
if wait_kam "$DOWN_A" "$down0"; then
	ok "A stopped (SIGTERM): a probe found it down"
else
	not_ok "A stopped (SIGTERM): a probe found it down"
	diag "$WORK/kam.log"
fi
is "... inactive" "$(ds_state "$URI_A")" IP
nb0=$(decided b 'cluster-[0-9]+')
uas_start bob3 uas_answer $L "$P_UAS" -m "$N" -timeout 40s
uac again uac_call $L "$KA:$P_KAM" -m "$N" -r 10 -cid_str 'cluster-%u' -timeout 30s
sipp_ok again "alice: the same $N Call-IDs again, A stopped: all connected"
uas_wait bob3 300
sipp_ok bob3 "bob: $N calls answered and ended"
is "... all through B" "$(($(decided b 'cluster-[0-9]+') - nb0)) $(via_of bob3 INVITE | cut -d' ' -f2 | sort -u)" "$N $DB:$P_B"
via_of bob3 INVITE >"$WORK/again.via"
is "... the $na Call-IDs that A carried before among them" \
	"$(awk -v b="$DB:$P_B" 'NR == FNR { a[$1]; next } ($1 in a) && $2 == b' "$WORK/a.ids" "$WORK/again.via" | wc -l)" "$na"
is "... and Kamailio never lacked a daemon" "$(grep -c 'no mcx-sdproxyd is active' "$WORK/kam.log" || :)" 0

done_testing
