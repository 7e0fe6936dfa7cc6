# SIGHUP end to end, one primary daemon between alice and bob (sipp):
#   1. generation 1 forwards (kms.home.example, kms.partner.example) to bob;
#   2. the lookup table changes (partner.example users now hold home keys), SIGHUP: generation 2
#      redirects the same INVITE with the KRR the new table gives;
#   3. a call acceptable to generation 2 is ringing when the file is broken and SIGHUP comes:
#      the reload is refused ("reload refused: FILE:LINE: ...", the errors of -t), the call
#      completes, and the next call is still decided by generation 2;
#   4. the table is changed back, SIGHUP: generation 3 forwards again;
#   5. a transaction in flight finishes under the configuration it started with: bob takes
#      1.5 s to answer 488 with a KRR proposing kms.extra.example; generation 3 does not know
#      it (replace), generation 4, loaded meanwhile, does (pass): the primary replaces it; the
#      next such call, all under generation 4, passes.
. "$top_srcdir/tests/sip/lib_sip.sh"

need_sip
sip_ports 25800
sip_keys
L=127.0.0.1
CONF=$WORK/primary.conf
PAIR_HP=$(mikey_b64 "$ALICE" "$BOB" "$H" "$P")
PAIR_HH=$(mikey_b64 "$ALICE" "$BOB" "$H" "$H")
LOOKUP_HOME='{ user = "sip:*@partner.example";
      domains = ( { kms = "kms.home.example"; external = [ "kms.partner.example" ]; } ); }'

# reload WHAT ERE: SIGHUP the primary; its log gets a new line matching ERE within 5 s.
reload() {
	r_before=$(master_log primary | grep -c 'reload' || :)
	hup primary || :
	like "$1" "$(master_log primary | grep 'reload' | tail -n +"$((r_before + 1))" | tr '\n' '~')" "$2"
}

# forwarded NAME B64: a call bob answers (200 OK, ACK, BYE).
forwarded() {
	csv "$1" bob@partner.example "$2"
	uas_start "bob$1" uas_answer $L "$P_UAS"
	uac "$1" uac_call $L "$L:$P_PRI"
	sipp_ok "$1" "alice: INVITE, 200 OK, ACK, BYE, 200 OK"
	uas_wait "bob$1"
	sipp_ok "bob$1" "bob answered"
	expect_decision primary primary.conf "$(call_id "$1")" "forward 4:acceptable 0 $BOB"
}

# redirected NAME B64 AI AR: a call the primary redirects with a KRR with these lists.
redirected() {
	csv "$1" bob@partner.example "$2"
	uac "$1" uac_final $L "$L:$P_PRI"
	sipp_ok "$1" "alice: INVITE, 488, ACK"
	got_krr "$1" "$1" "$HOME_URI" null
	is "$1: the KRR's lists" "$(krr_lists "$WORK/$1.krr.json")" "[$3,$4]"
	run "$SDTOOL" decide -c "$CONF" --json "$(sip_find "$1" sent '^INVITE ')"
	is "$1: decide with the configuration in force: krr, the same lists" \
		"$(jqo '[.decision, .accept_initiator_kms, .accept_receiver_kms]' "$WORK/out")" "[\"krr\",$3,$4]"
	expect_decision primary primary.conf "$(call_id "$1")" "krr 1a:receiver-kms 488 $BOB"
}

# ---- generation 1 ----
make_conf primary.conf role=primary port="$P_PRI" next_hop="sip:$L:$P_UAS;transport=udp"
cp "$CONF" "$WORK/gen1.conf"
start_daemon primary.conf primary || { done_testing; exit 1; }
forwarded gen1 "$PAIR_HP"

# ---- generation 2: a changed lookup table ----
make_conf primary.conf role=primary port="$P_PRI" next_hop="sip:$L:$P_UAS;transport=udp" lookup="$LOOKUP_HOME"
cp "$CONF" "$WORK/gen2.conf"
reload "SIGHUP with a changed lookup table: generation 2 loaded" \
	"reload: configuration $CONF loaded \\(generation 2\\)"
redirected gen2 "$PAIR_HP" "[\"$H\"]" "[\"$H\"]"

# ---- a broken file, refused while a call rings ----
csv ringing bob@partner.example "$PAIR_HH"
uas_start bobringing uas_answer $L "$P_UAS" -d 1500
uac_bg ringing uac_call $L "$L:$P_PRI"
# wait until bob rings
i=0
until [ -s "$WORK/bobringing.msg" ] && grep -q '^SIP/2.0 180' "$WORK/bobringing.msg"; do
	[ "$i" -lt 50 ] || break
	sleep 0.1
	i=$((i + 1))
done
# cut inside server = { ... }: a syntax error
head -n 5 "$WORK/gen2.conf" >"$CONF"
set +e
"$SDPROXYD" -t -c "$CONF" >"$WORK/t.out" 2>"$WORK/t.err"
t_rc=$?
set -e
is "the broken file: mcx-sdproxyd -t exits 1 with file:line: messages" \
	"$t_rc $(grep -c "^$CONF:[0-9][0-9]*: " "$WORK/t.err" || :)" "1 $(grep -c . "$WORK/t.err" || :)"
reload "SIGHUP with a broken file: refused, one 'reload refused: FILE:LINE: message' per problem" \
	"reload refused: $CONF:[0-9]+: "
is "the refused reload logs exactly the problems -t reports" \
	"$(grep -o "reload refused: $CONF:.*" "$WORK/primary.log" | sed 's/^reload refused: //')" "$(cat "$WORK/t.err")"
if kill -0 "$PID_primary" 2>/dev/null; then ok "the daemon runs on after the refused reload"; else not_ok "the daemon runs on after the refused reload"; fi
uac_bg_wait ringing
sipp_ok ringing "alice's call ringing during the refused reload: answered, ACK, BYE, 200 OK"
uas_wait bobringing
sipp_ok bobringing "bob answered after 1.5 s of ringing"
expect_decision primary primary.conf "$(call_id ringing)" "forward 4:acceptable 0 $BOB"
cp "$WORK/gen2.conf" "$WORK/decide.conf"
CONF_SAVED=$CONF CONF=$WORK/decide.conf
redirected still2 "$PAIR_HP" "[\"$H\"]" "[\"$H\"]"
CONF=$CONF_SAVED

# ---- generation 3: back to the first table ----
cp "$WORK/gen1.conf" "$CONF"
reload "SIGHUP with the first table again: generation 3 loaded" \
	"reload: configuration $CONF loaded \\(generation 3\\)"
forwarded gen3 "$PAIR_HP"

# ---- generation 4 while a transaction is in flight ----
EXTRA=kms.extra.example
ue_krr "$WORK/uas-krr.xml" ue "$H" "$P" "$H $EXTRA" "$P" || :
csv flight bob@partner.example "$PAIR_HP"
uas_start bobflight uas_krr $L "$P_UAS" -d 1500
uac_bg flight uac_final $L "$L:$P_PRI"
i=0
until [ -s "$WORK/bobflight.msg" ] && grep -q '^INVITE ' "$WORK/bobflight.msg"; do
	[ "$i" -lt 50 ] || break
	sleep 0.1
	i=$((i + 1))
done
make_conf primary.conf role=primary port="$P_PRI" next_hop="sip:$L:$P_UAS;transport=udp" \
	kms_extra="{ uri = \"$EXTRA\"; role = \"external\"; }"
reload "SIGHUP while bob thinks: generation 4 (knows $EXTRA) loaded" \
	"reload: configuration $CONF loaded \\(generation 4\\)"
uac_bg_wait flight
sipp_ok flight "alice: INVITE, 488, ACK (bob answered after the reload)"
uas_wait bobflight
sipp_ok bobflight "bob: INVITE, 488 + KRR after 1.5 s, ACK"
got_krr flight flight "$HOME_URI" true
is "flight: decided under generation 3: the primary's KRR without $EXTRA, bob's embedded" \
	"$(krr_chain "$WORK/flight.krr.json") $(krr_lists "$WORK/flight.krr.json")" "$HOME_URI > $BOB [[\"$H\"],[\"$P\"]]"
expect_decision primary primary.conf "$(call_id flight)" "forward 4:acceptable 0 $BOB" "replace 2b/3c:replace 488 $BOB"
is "flight: generation 4 was loaded before bob's 488 came back (log order)" \
	"$(grep -n -e 'loaded (generation 4)' -e "call $(call_id flight): replace" "$WORK/primary.log" | sed 's/:.*call .*/:krr/; s/:.*generation 4.*/:gen4/' | cut -d: -f2 | uniq | tr '\n' ' ')" \
	"gen4 krr "

csv after bob@partner.example "$PAIR_HP"
uas_start bobafter uas_krr $L "$P_UAS"
uac after uac_final $L "$L:$P_PRI"
sipp_ok after "alice: INVITE, 488, ACK"
uas_wait bobafter
sipp_ok bobafter "bob: INVITE, 488 + KRR, ACK"
got_krr after after "$BOB" null
is "after: under generation 4 bob's KRR passes unchanged" \
	"$(krr_chain "$WORK/after.krr.json") $(krr_lists "$WORK/after.krr.json")" "$BOB [[\"$H\",\"$EXTRA\"],[\"$P\"]]"
expect_decision primary primary.conf "$(call_id after)" "forward 4:acceptable 0 $BOB" "pass 2b/3c:pass 488 $BOB"

is "four reloads logged: generations 2, 3 and 4 loaded, one refused" \
	"$(master_log primary | grep -c 'reload: configuration .* loaded' || :) $(master_log primary | grep -c 'reload refused: keeping' || :)" "3 1"

stop_daemon primary
done_testing
