# Next hops named by DNS (RFC 3263), and DNS that fails, inside a private network namespace
# (only loopback; /etc/resolv.conf replaced by a bind mount): a request routed by a host name
# gets a final answer within the transaction time whether the DNS server answers (NAPTR -> SRV
# -> A, failing over to the second SRV target when the first cannot be reached), answers
# SERVFAIL, refuses (nothing listens), cannot be routed to, or stays silent; meanwhile other
# requests are served, the daemon does not spin, and it stops on SIGTERM.
. "$top_srcdir/tests/sip/netns.sh"
. "$top_srcdir/tests/sip/lib_sip.sh"

need_sip
need python3
sip_ports 26200
sip_keys
L=127.0.0.1
DNSD=$top_srcdir/tests/sip/dnsd.py
SIPNET=$top_srcdir/tests/sip/sipnet.py

# /etc/resolv.conf is $WORK/resolv.conf from here on, in this namespace only; it is rewritten in
# place (same inode) for each case, and the daemon told with SIGHUP.
own_resolv_conf 127.0.0.1
resolver() { printf 'nameserver %s\n' "$1" >"$WORK/resolv.conf"; }

sip_sink "$P_UAS"
: >"$WORK/sink.log"

# dns MODE: (re)start the DNS server on 127.0.0.1:53 in MODE (none: nothing listens there).
DNS_PID=
dns() {
	[ -z "$DNS_PID" ] || { kill "$DNS_PID" 2>/dev/null; wait "$DNS_PID" 2>/dev/null || :; }
	DNS_PID=
	[ "$1" = none ] && return 0
	python3 "$DNSD" 53 "$1" "$WORK/zone" >>"$WORK/dns.log" 2>&1 &
	DNS_PID=$!
	SIP_PIDS="$SIP_PIDS $DNS_PID"
	wait_bound udp 53
}

# A zone where far.test's NAPTR leads to SRV records for a dead port first, the sink second.
cat >"$WORK/zone" <<EOF
far.test NAPTR 10 10 s SIP+D2U _sip._udp.far.test
_sip._udp.far.test SRV 10 10 $P_DEAD dead.test
_sip._udp.far.test SRV 20 10 $P_UAS sink.test
dead.test A 127.0.0.1
sink.test A 127.0.0.1
EOF

make_conf primary.conf role=primary port="$P_PRI" transports=udp next_hop="sip:$L:$P_UAS;transport=udp"
resolver 127.0.0.1
dns answer
start_daemon primary.conf primary || { done_testing; exit 1; }
eval "DPID=\$PID_primary"


# send FILE SECONDS: the responses to FILE, "T STATUS-LINE" each, in $WORK/FILE.out.
send() { python3 "$SIPNET" send "$P_PRI" "$WORK/$1" "$2" >"$WORK/$1.out" 2>&1 || :; }
# send_one_source FILE SECONDS: the same from port P_UAC: with workers, one source reaches one
# worker (and its DNS cache) every time.
send_one_source() {
	SIPNET_FROM_PORT=$P_UAC python3 "$SIPNET" send "$P_PRI" "$WORK/$1" "$2" >"$WORK/$1.out" 2>&1 || :
}
final_of() { awk '$3 >= 200 { print $3; exit }' "$WORK/$1.out"; }
final_at() { awk '$3 >= 200 { print $1; exit }' "$WORK/$1.out"; }
in_sink() { grep -v "^ACK " "$WORK/sink.log" | grep -c " $1\$" || :; }
reload() {
	hup primary && master_log primary | grep -q "generation $1" || not_ok "reload $1 logged"
}

# ---- 1. DNS answers: NAPTR, SRV, A; the dead first target is skipped for the second ----
sip_request bye1.sip BYE sip:bob@far.test bye1
send_one_source bye1.sip 5
is "answering DNS: the BYE to far.test is answered 200 (by the sink behind the second SRV target)" \
	"$(final_of bye1.sip)" 200
is "answering DNS: the sink got the BYE once" "$(in_sink bye1)" 1
is "answering DNS: NAPTR, SRV, then addresses (A and AAAA), in RFC 3263 order" \
	"$(awk '{ print $1 }' "$WORK/dns.log" | sed 's/^AAAA$/A/' | uniq | paste -sd, -)" "NAPTR,SRV,A"
is "answering DNS: the names asked" \
	"$(awk '{ print $2 }' "$WORK/dns.log" | uniq | paste -sd, -)" "far.test,_sip._udp.far.test,dead.test,sink.test"
n_q=$(wc -l <"$WORK/dns.log")
sip_request bye2.sip BYE sip:bob@far.test bye2
send_one_source bye2.sip 5
is "answering DNS: a second BYE to far.test, from the cache: 200, no new query" \
	"$(final_of bye2.sip) $(($(wc -l <"$WORK/dns.log") - n_q))" "200 0"
sip_request bye3.sip BYE "sip:bob@sink.test:$P_UAS" bye3
send_one_source bye3.sip 5
is "answering DNS: a name with a port: addresses only (no NAPTR or SRV), 200" \
	"$(final_of bye3.sip) $(tail -n +$((n_q + 1)) "$WORK/dns.log" | awk '{ print $1 }' | sort | paste -sd, -)" "200 A,AAAA"
sip_request bye4.sip BYE sip:bob@nowhere.test bye4
send bye4.sip 5
is "answering DNS: a name that does not exist: 503" "$(final_of bye4.sip)" 503
like "answering DNS: the 503 says why" "$(grep -F 'call bye4:' "$WORK/primary.log")" "next hop not resolved: no such host: 503"

# ---- 2. the failures: each a 503 at once ----
# fails NAME CASE-DESCRIPTION
fails() {
	sip_request "$1.sip" BYE "sip:bob@$1.test" "$1"
	f_t0=$(cpu_ticks primary)
	send "$1.sip" 10
	is "$2: the BYE to a host name gets 503" "$(final_of "$1.sip")" 503
	check "$2: at once (within 3 s)" awk -v t="$(final_at "$1.sip")" 'BEGIN { exit !(t != "" && t < 3) }'
	check "$2: the daemon does not spin (under 1 s of CPU meanwhile)" \
		[ $(($(cpu_ticks primary) - f_t0)) -lt "$(($(getconf CLK_TCK)))" ]
	is "$2: nothing reached the next hop" "$(in_sink "$1")" 0
}
dns servfail
reload 2
fails servfail "DNS answers SERVFAIL"
dns none
reload 3
fails refused "no DNS server listens (ICMP port unreachable)"
resolver 192.0.2.1
reload 4
fails unroutable "the DNS server cannot be routed to (ENETUNREACH, once a busy loop in Sofia's resolver)"
sip_request route.sip INVITE "sip:bob@partner.example" route "<sip:proxy.far.test;lr>"
send route.sip 5
is "unroutable DNS: an initial INVITE with a Route naming a host: 503" "$(final_of route.sip)" 503

# ---- 3. a silent DNS server: 503 within the transaction time, other requests served meanwhile ----
resolver 127.0.0.1
dns silent
reload 5
sip_request silent.sip BYE sip:bob@silent.test silent
t0=$(cpu_ticks primary)
send silent.sip 40 &
S_PID=$!
sleep 0.5
# A request whose answer nta sends to the host its Via names, before it adds a received address
# (RFC 4475 badvers: SIP/7.0 -> 505): that name must not be resolved by blocking the loop.
printf 'OPTIONS sip:bob@partner.example SIP/7.0\r\nVia: SIP/7.0/UDP c.example.com;branch=z9hG4bK-v7\r\nMax-Forwards: 70\r\nFrom: <sip:a@home.example>;tag=1\r\nTo: <sip:bob@partner.example>\r\nCall-ID: v7\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n' >"$WORK/v7.sip"
send v7.sip 0.1
sip_request inv.sip INVITE "sip:bob@partner.example" served
send inv.sip 5
is "silent DNS: meanwhile an INVITE to the numeric next hop is forwarded (486 from the sink)" \
	"$(final_of inv.sip) $(in_sink served)" "486 1"
check "silent DNS: at once, although a 505 to a Via naming a host was just due (no blocking lookup)" \
	awk -v t="$(final_at inv.sip)" 'BEGIN { exit !(t != "" && t < 1) }'
wait "$S_PID" || :
is "silent DNS: the BYE gets 503" "$(final_of silent.sip)" 503
check "silent DNS: within the transaction time (64 T1 = 32 s), here 16 T1" \
	awk -v t="$(final_at silent.sip)" 'BEGIN { exit !(t != "" && t < 16) }'
check "silent DNS: the daemon does not spin while it waits (under 1 s of CPU)" \
	[ $(($(cpu_ticks primary) - t0)) -lt "$(($(getconf CLK_TCK)))" ]
like "silent DNS: the log says why" "$(grep -F 'call silent:' "$WORK/primary.log")" \
	"next hop not resolved: (DNS server did not answer|DNS resolution timed out): 503"

# ---- 4. SIGTERM while a lookup is pending ----
sip_request pending.sip BYE sip:bob@pending.test pending
send pending.sip 1 &
sleep 0.3
stop_daemon primary
done_testing
