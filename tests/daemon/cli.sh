# mcx-sdproxyd's command line: -t on good and bad configurations, -h, -V, bad usage, a
# listen address that cannot be bound, and SIGTERM / SIGHUP on a running daemon (port 5460).
. "$top_srcdir/tests/lib.sh"

: "${SDPROXYD:=$top_builddir/src/mcx-sdproxyd}"
[ -x "$SDPROXYD" ] || { echo "not ok - $SDPROXYD is not built"; exit 1; }
GOOD="$top_srcdir/tests/conf/good"
# the daemon resolves its configuration path (it leaves its folder when it detaches)
BAD=$(cd "$top_srcdir/tests/conf/bad" && pwd -P)
PORT=5460
DPID=

cleanup() {
	[ -z "$DPID" ] || kill "$DPID" 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

# ---- -t ----
for f in "$GOOD"/*.conf; do
	run "$SDPROXYD" -t -c "$f"
	check "-t $(basename "$f"): exit 0" [ "$RC" -eq 0 ]
	check "-t $(basename "$f"): says ok" grep -q "configuration ok" "$WORK/out"
done
n=0
for f in "$BAD"/*.conf; do
	run "$SDPROXYD" -t -c "$f"
	name=$(basename "$f" .conf)
	# the first expected message (with @DIR@ and the basename as conf_load prints them) is on stderr
	want=$(head -n 1 "$BAD/$name.expect" | sed "s|@DIR@|$BAD|g; s|^$name.conf:|$f:|")
	check "-t $name: exit 1" [ "$RC" -eq 1 ]
	check "-t $name: stderr has '$want'" grep -qF -- "$want" "$WORK/err"
	n=$((n + 1))
done
check "bad configurations tried: $n > 10" [ "$n" -gt 10 ]
run "$SDPROXYD" -t -c "$WORK/absent.conf"
check "-t on a missing file: exit 1" [ "$RC" -eq 1 ]
check "-t on a missing file: names it" grep -q "absent.conf" "$WORK/err"

# ---- usage ----
run "$SDPROXYD" -h
check "-h: exit 0 and usage" sh -c '[ '"$RC"' -eq 0 ] && grep -q "usage: mcx-sdproxyd" "$1"' - "$WORK/out"
run "$SDPROXYD" -V
check "-V: exit 0 and version" sh -c '[ '"$RC"' -eq 0 ] && grep -q "^mcx-sdproxyd [0-9]" "$1"' - "$WORK/out"
run "$SDPROXYD" -x
check "unknown option: exit 2" [ "$RC" -eq 2 ]
check "unknown option: named" grep -q "unknown option -x" "$WORK/err"
run "$SDPROXYD" -c
check "-c without a file: exit 2" [ "$RC" -eq 2 ]
run "$SDPROXYD" -t -c "$GOOD/minimal.conf" extra
check "an extra argument: exit 2" [ "$RC" -eq 2 ]

# ---- a running daemon ----
# conf_at FILE PORT: the minimal configuration listening on PORT (udp and tcp).
conf_at() {
	sed "/^server *= *{/a\\
  listen = [ \"sip:127.0.0.1:$2;transport=udp\", \"sip:127.0.0.1:$2;transport=tcp\" ];" \
		"$GOOD/minimal.conf" >"$1"
}
# wait_log TEXT: up to 5 s for TEXT in the daemon's log.
wait_log() {
	i=0
	while ! grep -q "$1" "$WORK/d.log"; do
		i=$((i + 1))
		[ $i -le 50 ] || return 1
		sleep 0.1
	done
}
conf_at "$WORK/d.conf" $PORT
run "$SDPROXYD" -t -c "$WORK/d.conf"
check "the running configuration is valid" [ "$RC" -eq 0 ]
"$SDPROXYD" -f -c "$WORK/d.conf" 2>"$WORK/d.log" &
DPID=$!
check "ready" wait_log "ready (primary"
check "listening on udp" grep -q "listening on sip:127.0.0.1:$PORT;transport=udp" "$WORK/d.log"
check "listening on tcp" grep -q "listening on sip:127.0.0.1:$PORT;transport=tcp" "$WORK/d.log"

# the same port again: exit 3, with the address in the message
run "$SDPROXYD" -f -c "$WORK/d.conf"
check "a second daemon on the same port: exit 3" [ "$RC" -eq 3 ]
check "a second daemon on the same port: says where" grep -q "cannot listen on sip:127.0.0.1:$PORT" "$WORK/err"

kill -HUP "$DPID"
check "SIGHUP: reloaded" wait_log "configuration .*d.conf loaded (generation 2)"
echo "this is not libconfig" >>"$WORK/d.conf"
kill -HUP "$DPID"
check "SIGHUP with a broken file: refused with its error" wait_log "reload refused: .*d.conf:[0-9]*: syntax error"
check "SIGHUP with a broken file: old one kept" wait_log "keeping configuration generation 2"
check "still running" kill -0 "$DPID"
kill -TERM "$DPID"
set +e
wait "$DPID"
rc=$?
set -e
DPID=
check "SIGTERM: exit 0" [ "$rc" -eq 0 ]
check "SIGTERM: says stopped" grep -q "info: stopped" "$WORK/d.log"

done_testing
