#!/bin/bash
# Decisions per second with the table backend and with the ldap backend's warm
# cache, 100 000 users in each, in one run of bench/micro_lookup; and the
# ldap backend's cold lookups per second.  Starts a slapd of its own on
# 127.0.0.1 (bench/ldap/slapd.sh) holding the users bench/micro_lookup -l
# generates (the same generator writes the table), runs the benchmark, and
# stops slapd by its pid (EXIT trap).  make bench-lookup runs it.
set -u

die() { printf '%s error: %s\n' "$(date +%H:%M:%S)" "$*" >&2; exit 1; }
log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
. "$(dirname "$0")/slapd.sh"

usage() {
	cat <<EOF
usage: $0 [options] [-- micro_lookup options]
  --users N        users in the table and in the directory (default 100000)
  --windows LIST   lookups in flight in the cold passes, comma-separated (default 1,16,64;
                   the last pass's cache is the warm one)
  --port P         slapd's port on 127.0.0.1 (default 27389)
  --workdir DIR    slapd's files and the LDIF (default: a new /tmp/mcx-lookup.XXXXXX, removed)
  --keep           keep the work dir
  --binary PATH    micro_lookup (default: \$MICRO_LOOKUP or bench/micro_lookup)
  -h, --help
Anything after -- goes to micro_lookup (e.g. -- -n 200000 for one fixed run, for profilers).
EOF
}

USERS=100000
WINDOWS=1,16,64
PORT=27389
WORK=
KEEP=no
BIN=${MICRO_LOOKUP:-$(cd "$(dirname "$0")/../.." && pwd)/bench/micro_lookup}
while [ $# -gt 0 ]; do
	case $1 in
	--users) USERS=$2; shift ;;
	--windows) WINDOWS=$2; shift ;;
	--port) PORT=$2; shift ;;
	--workdir) WORK=$2; KEEP=yes; shift ;;
	--keep) KEEP=yes ;;
	--binary) BIN=$2; shift ;;
	-h | --help) usage; exit 0 ;;
	--) shift; break ;;
	*) usage >&2; exit 2 ;;
	esac
	shift
done
[ -x "$BIN" ] || die "no micro_lookup at $BIN (make bench/micro_lookup)"
if ss -Hltn "sport = :$PORT" 2>/dev/null | grep -q .; then
	die "port $PORT is in use (--port)"
fi
[ -n "$WORK" ] || WORK=$(mktemp -d /tmp/mcx-lookup.XXXXXX)
mkdir -p "$WORK" && WORK=$(cd "$WORK" && pwd)

cleanup() {
	bench_slapd_stop
	[ "$KEEP" = yes ] || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

BASE=ou=users,$BENCH_LDAP_SUFFIX
"$BIN" -l "$BASE" -u "$USERS" >"$WORK/users.ldif" || die "micro_lookup -l failed"
bench_slapd_start "$WORK" "$PORT" "$WORK/users.ldif"
log "slapd pid $SLAPD_PID on $SLAPD_URI; load: $(cut -d' ' -f1-3 /proc/loadavg)"
c0=$(slapd_cpu_us)
"$BIN" -H "$SLAPD_URI" -b "$BASE" -u "$USERS" -w "$WINDOWS" -p "$SLAPD_PID" "$@"
rc=$?
log "slapd CPU over the whole run: $((($(slapd_cpu_us) - c0) / 1000)) ms; load: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $rc
