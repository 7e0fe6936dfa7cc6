# server.metrics_listen against a real Prometheus (Debian's): the daemon between alice (sipp) and
# bob (sipp) serves its counters; Prometheus scrapes them every second; after five calls put
# through and three redirected with a KRR, Prometheus's HTTP API reports those numbers per rule
# (and the audit log, an independent count, says the same); promtool accepts the exposition;
# a bad path is 404, a POST 405.  In a private network namespace.
. "$top_srcdir/tests/sip/netns.sh"
. "$top_srcdir/tests/sip/lib_sip.sh"

need_sip
command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 ||
	{ echo "not ok - prometheus and promtool are not installed"; exit 1; }
sip_ports 29600
sip_keys
L=127.0.0.1 WRONG=kms.wrong.example
P_MET=$((P_PRI + 30)) P_PROM=$((P_PRI + 31))
URL=http://$L:$P_MET/metrics
FWD=5 KRR=3

make_conf primary.conf role=primary port="$P_PRI" next_hop="sip:$L:$P_UAS;transport=udp" metrics="$URL"
start_daemon primary.conf primary || { done_testing; exit 1; }
like "the daemon says where it serves the metrics" "$(grep 'metrics: serving' "$WORK/primary.log")" "metrics: serving $URL"

# fetch URL [METHOD]: the HTTP status, then the body, into $WORK/fetched
fetch() {
	python3 - "$1" "${2:-GET}" >"$WORK/fetched" <<'PYEOF'
import sys, urllib.request, urllib.error
req = urllib.request.Request(sys.argv[1], method=sys.argv[2])
try:
    with urllib.request.urlopen(req, timeout=5) as r:
        print(r.status)
        sys.stdout.write(r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code)
PYEOF
}

# ---- Prometheus, scraping the daemon every second ----
mkdir -p "$WORK/prom"
cat >"$WORK/prom/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: mcx-sdproxy
    metrics_path: /metrics
    static_configs:
      - targets: ["$L:$P_MET"]
EOF
prometheus --config.file="$WORK/prom/prometheus.yml" --storage.tsdb.path="$WORK/prom/data" \
	--web.listen-address="$L:$P_PROM" --log.level=warn >"$WORK/prometheus.log" 2>&1 &
echo $! >"$WORK/prometheus.pid"
# query PROMQL: the result vector as "labels value" lines, sorted (labels in Prometheus's JSON order).
query() {
	python3 - "http://$L:$P_PROM/api/v1/query" "$1" <<'PYEOF'
import json, sys, urllib.parse, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1] + "?" + urllib.parse.urlencode({"query": sys.argv[2]}), timeout=5) as r:
        d = json.load(r)
except Exception as e:
    print("error %s" % e)
    sys.exit(0)
out = []
for x in d["data"]["result"]:
    m = {k: v for k, v in x["metric"].items() if k not in ("job", "instance", "__name__")}
    out.append("%s %s" % (",".join("%s=%s" % kv for kv in sorted(m.items())), x["value"][1]))
print("\n".join(sorted(out)))
PYEOF
}
up=
for i in $(seq 100); do
	up=$(query 'up{job="mcx-sdproxy"}')
	[ "$up" != " 1" ] || break
	sleep 0.2
done
is "Prometheus scrapes the daemon (up = 1)" "$up" " 1"
[ "$up" = " 1" ] || sed 's/^/#   /' "$WORK/prometheus.log" | tail -n 5

# ---- calls ----
uas_start bob uas_answer $L "$P_UAS" -m "$FWD" -timeout 30s
csv call bob@partner.example "$(mikey_b64 "$ALICE" "$BOB" "$H" "$P")"
uac call uac_call $L "$L:$P_PRI" -m "$FWD" -r 5
sipp_ok call "alice: $FWD calls put through (INVITE, 200, ACK, BYE)"
uas_wait bob
csv krr bob@partner.example "$(mikey_b64 "$ALICE" "$BOB" "$H" "$WRONG")"
uac krr uac_final $L "$L:$P_PRI" -m "$KRR" -r 5
sipp_ok krr "alice: $KRR calls redirected (INVITE, 488 + KRR, ACK)"

# ---- the exposition ----
fetch "$URL"
is "GET $URL: 200" "$(head -n 1 "$WORK/fetched")" 200
tail -n +2 "$WORK/fetched" >"$WORK/exposition"
run promtool check metrics <"$WORK/exposition"
is "promtool check metrics accepts the exposition" "$RC $(cat "$WORK/out" "$WORK/err")" "0 "
# expo SERIES: its value in the exposition (the line that starts with SERIES and a space)
# (through the environment: awk -v would take the backslashes of an escaped label as its own escapes)
expo() { K="$1 " awk 'index($0, ENVIRON["K"]) == 1 { print substr($0, length(ENVIRON["K"]) + 1) }' "$WORK/exposition"; }
is "decisions: forward 4:acceptable and krr 1a:receiver-kms, as made" \
	"$(expo 'mcx_sdproxy_decisions_total{decision="forward",rule="4:acceptable"}') $(expo 'mcx_sdproxy_decisions_total{decision="krr",rule="1a:receiver-kms"}')" \
	"$FWD $KRR"
is "... and as the audit log has them" \
	"$(grep -c '"rule":"4:acceptable"' "$WORK/primary-audit.jsonl") $(grep -c '"rule":"1a:receiver-kms"' "$WORK/primary-audit.jsonl")" \
	"$FWD $KRR"
is "KMS pairs: (H, P) and (H, $WRONG)" \
	"$(expo "mcx_sdproxy_kms_pair_decisions_total{initiator_kms=\"$H\",receiver_kms=\"$P\"}") $(expo "mcx_sdproxy_kms_pair_decisions_total{initiator_kms=\"$H\",receiver_kms=\"$WRONG\"}")" \
	"$FWD $KRR"
is "KRRs built and signed" "$(expo 'mcx_sdproxy_krr_total{event="built"}') $(expo 'mcx_sdproxy_krr_total{event="signed"}')" "$KRR $KRR"
is "the signing time histogram counted them" "$(expo 'mcx_sdproxy_krr_sign_seconds_count')" "$KRR"
is "lookups: the table found the target of each INVITE" "$(expo 'mcx_sdproxy_lookups_total{backend="table",outcome="found"}')" \
	$((FWD + KRR))
# (the ACK of a 488 belongs to its INVITE's transaction: the SIP stack takes it, it is not a request here)
is "SIP: INVITEs, ACKs (of the 200s) and BYEs received" \
	"$(expo 'mcx_sdproxy_sip_requests_total{method="INVITE"}') $(expo 'mcx_sdproxy_sip_requests_total{method="ACK"}') $(expo 'mcx_sdproxy_sip_requests_total{method="BYE"}')" \
	"$((FWD + KRR)) $FWD $FWD"
is "SIP: bob's 2xx (200 to INVITE and BYE) came back" "$(expo 'mcx_sdproxy_sip_responses_total{class="2xx"}')" $((2 * FWD))
is "nothing in flight, configuration generation 1" \
	"$(expo 'mcx_sdproxy_transactions_in_flight') $(expo 'mcx_sdproxy_config_generation')" "0 1"
like "build info" "$(grep '^mcx_sdproxy_build_info' "$WORK/exposition")" \
	"^mcx_sdproxy_build_info\\{version=\"[0-9.]+\",workers=\"${MCX_TEST_WORKERS:-1}\"\\} 1\$"
fetch "http://$L:$P_MET/other"
is "another path: 404" "$(head -n 1 "$WORK/fetched")" 404
fetch "$URL" POST
is "POST: 405" "$(head -n 1 "$WORK/fetched")" 405

# ---- what Prometheus reports ----
want="decision=forward,rule=4:acceptable $FWD
decision=krr,rule=1a:receiver-kms $KRR"
for i in $(seq 50); do
	got=$(query 'mcx_sdproxy_decisions_total')
	[ "$got" != "$want" ] || break
	sleep 0.2
done
is "Prometheus's API: the decisions per rule equal the calls made" "$got" "$want"
is "Prometheus's API: KRRs signed" "$(query 'mcx_sdproxy_krr_total{event="signed"}')" "event=signed $KRR"
is "Prometheus's API: the rate of INVITEs is a number (PromQL works on the counters)" \
	"$(query 'sum(increase(mcx_sdproxy_sip_requests_total{method="INVITE"}[1m])) >= 0' | grep -cE '^ [0-9.]+$')" 1

# ---- a KMS URI from the network with a quote, a backslash and a brace: escaped in its label ----
EVIL='kms."evil\}.example'
csv evil bob@partner.example "$(mikey_b64 "$ALICE" "$BOB" "$EVIL" "$P")"
uac evil uac_final $L "$L:$P_PRI"
sipp_ok evil "alice: an I_MESSAGE whose IDRkmsi is $EVIL: refused"
fetch "$URL"
tail -n +2 "$WORK/fetched" >"$WORK/exposition"
run promtool check metrics <"$WORK/exposition"
is "promtool still accepts the exposition" "$RC $(cat "$WORK/out" "$WORK/err")" "0 "
is "... the pair's label escaped (\\\" and \\\\)" \
	"$(expo 'mcx_sdproxy_kms_pair_decisions_total{initiator_kms="kms.\"evil\\}.example",receiver_kms="'"$P"'"}')" 1

# ---- with workers: one scrape, every worker's counts ----
if [ "${MCX_TEST_WORKERS:-1}" -gt 1 ]; then
	# INVITEs from a new socket each (the kernel gives a source to one worker) until both workers
	# have decided some; each is redirected with a KRR by the daemon itself.
	B64W=$(mikey_b64 "$ALICE" "$BOB" "$H" "$WRONG")
	n=0
	while [ "$n" -lt 40 ]; do
		python3 "$top_srcdir/tests/sip/invites.py" "$P_PRI" 5 "sip:bob@partner.example=$B64W" >/dev/null || :
		n=$((n + 1))
		w1=$(grep -c 'worker 1: call inv-.*rule 1a:receiver-kms' "$WORK/primary.log" || :)
		w2=$(grep -c 'worker 2: call inv-.*rule 1a:receiver-kms' "$WORK/primary.log" || :)
		[ "$w1" -eq 0 ] || [ "$w2" -eq 0 ] || break
	done
	check "both workers decided some of $n INVITEs from new sockets ($w1 and $w2)" [ "$w1" -gt 0 -a "$w2" -gt 0 ]
	is "one scrape counts both workers' decisions" \
		"$(metric_value "$URL" 'mcx_sdproxy_decisions_total{decision="krr",rule="1a:receiver-kms"}')" $((KRR + n))
fi

# ---- a reload counts ----
check "SIGHUP: reloaded" hup primary
fetch "$URL"
tail -n +2 "$WORK/fetched" >"$WORK/exposition"
is "after SIGHUP: generation 2, one reload done" \
	"$(expo mcx_sdproxy_config_generation) $(expo 'mcx_sdproxy_reloads_total{result="done"}')" "2 1"

stop_daemon primary
done_testing
