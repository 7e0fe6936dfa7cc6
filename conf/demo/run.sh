#!/bin/sh
# The README's run command ("make run"): two mcx-sdproxyd servers on loopback
# from conf/primary.conf and conf/partner.conf, a sipp terminating client
# behind them, and a call from alice@home.example to bob@partner.example that
# is redirected (488 + a signed KRR), retried with the KMSs the KRR proposes,
# and connected.  Everything it starts is stopped when it ends.
#
# usage: run.sh SRCDIR WORKDIR   (SDPROXYD, SDTOOL, SIPP, OPENSSL from the environment)
set -eu

srcdir=$(cd "$1" && pwd)
work=$2
: "${SDPROXYD:=src/mcx-sdproxyd}" "${SDTOOL:=src/mcx-sdtool}" "${SIPP:=sipp}" "${OPENSSL:=openssl}"
export OPENSSL
pids=

stop_all() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	for p in $pids; do wait "$p" 2>/dev/null || true; done
	pids=
}
trap stop_all EXIT INT TERM

say() { printf '\n== %s\n' "$*"; }
fail() { printf 'demo: %s\n' "$*" >&2; exit 1; }

command -v "$SIPP" >/dev/null 2>&1 || fail "sipp is not installed (run ./bootstrap)"

rm -rf "$work"
mkdir -p "$work"
cp "$srcdir/conf/primary.conf" "$srcdir/conf/partner.conf" "$work/"
sh "$srcdir/conf/make-keys.sh" "$work" >/dev/null 2>&1 || fail "cannot make the KRR keys"
# The demonstration's calls happen now: the example KMS validity must hold today.
work=$(cd "$work" && pwd)

# wait_for FILE TEXT: up to 5 s for a daemon's log line.
wait_for() {
	i=0
	while ! grep -q "$2" "$1" 2>/dev/null; do
		i=$((i + 1))
		[ $i -le 50 ] || { cat "$1" >&2; fail "no '$2' in $1"; }
		sleep 0.1
	done
}

say "starting the partner server (partner.example, 127.0.0.1:5070) and the primary server (home.example, 127.0.0.1:5060)"
"$SDPROXYD" -f -c "$work/partner.conf" 2>"$work/partner.log" &
pids="$pids $!"
"$SDPROXYD" -f -c "$work/primary.conf" 2>"$work/primary.log" &
pids="$pids $!"
wait_for "$work/partner.log" ready
wait_for "$work/primary.log" ready
echo "both ready; bob's MCX client (sipp) answers on 127.0.0.1:5080"
"$SIPP" -sf "$srcdir/conf/demo/uas.xml" -i 127.0.0.1 -p 5080 -m 1 -timeout 20 -timeout_error \
	-nostdin >"$work/uas.out" 2>&1 &
uas=$!
pids="$pids $uas"

# call FILE-PREFIX KMSI KMSR: one call from alice with an I_MESSAGE naming these KMSs.
call() {
	"$SDTOOL" mikey build --idri sip:alice@home.example --idrr sip:bob@partner.example \
		--idrkmsi "$2" --idrkmsr "$3" --output base64 >"$work/$1.b64"
	printf 'SEQUENTIAL\n%s;alice@home.example;bob@partner.example\n' "$(cat "$work/$1.b64")" >"$work/$1.csv"
	(cd "$work" && "$SIPP" -sf "$srcdir/conf/demo/uac.xml" -inf "$work/$1.csv" -i 127.0.0.1 -p 5090 \
		127.0.0.1:5060 -m 1 -timeout 20 -timeout_error -nostdin -trace_logs -trace_msg \
		-message_file "$work/$1.msg" -log_file "$work/$1.log" >"$work/$1.out" 2>&1) || true
}

say "call 1: alice@home.example calls bob@partner.example, keyed for kms.home.example -> kms.wrong.example"
call call1 kms.home.example kms.wrong.example
grep -q '^SIP/2.0 488' "$work/call1.msg" || fail "call 1 was not redirected (see $work/call1.msg)"
sed -n 's/.*BEGIN-KRR//; /END-KRR/{s/END-KRR.*//; p; q}; p' "$work/call1.log" | sed -n '/<?xml/,$p' >"$work/krr.xml"
echo "the primary server answered: 488 Not Acceptable Here, with a KMS Redirect Response:"
"$SDTOOL" krr decode --json "$work/krr.xml" >"$work/krr.json" || fail "the KRR does not decode"
kmsi=$(sed -n 's/.*"accept_initiator_kms": *\[ *"\([^"]*\)".*/\1/p' "$work/krr.json")
kmsr=$(sed -n 's/.*"accept_receiver_kms": *\[ *"\([^"]*\)".*/\1/p' "$work/krr.json")
"$SDTOOL" krr decode "$work/krr.xml" | sed 's/^/    /'
printf 'its signature: '
"$SDTOOL" krr verify --trust "$work/krr-ca.pem" "$work/krr.xml" || fail "the KRR's signature does not verify"
[ -n "$kmsi" ] && [ -n "$kmsr" ] || fail "the KRR proposes no KMS pair"

say "call 2: alice's client retries with the KMSs the KRR proposes: $kmsi -> $kmsr"
call call2 "$kmsi" "$kmsr"
grep -q '^SIP/2.0 200' "$work/call2.msg" || fail "call 2 was not connected (see $work/call2.msg)"
wait "$uas" || fail "bob's client did not see the whole call (see $work/uas.out)"
pids=$(echo "$pids" | sed "s/ $uas//")
echo "connected: 200 OK through both servers, ACK and BYE along their Record-Route, BYE answered 200"

say "what each server decided (its log; the JSON lines are in audit.jsonl and audit-partner.jsonl)"
grep -h ': call ' "$work/primary.log" | sed 's/^[^ ]* /    primary: /'
grep -h ': call ' "$work/partner.log" | sed 's/^[^ ]* /    partner: /'

say "stopping both servers"
stop_all
echo "done; everything is in $work"
