# A private slapd for the benchmarks (Debian's slapd, ldap-utils): sourced by
# bench/ldap/micro_lookup.sh and bench/proxy/ladder.sh (bash); never run.
#
# bench_slapd_start DIR PORT LDIF: a slapd of its own in DIR, listening on
#   ldap://127.0.0.1:PORT only, with cn=config made by slapadd -n0 (Debian's core
#   and cosine schemas, the shipped conf/ldap/mcx-sdproxy.ldif, one mdb database
#   for dc=bench, mcxUserUri and objectClass indexed, logging off: olcLogLevel
#   none and -d 0), and the entries of LDIF loaded by slapadd -q -n1 before it
#   starts (100 000 entries take seconds; ldapadd would take minutes).  Runs in
#   the foreground (-d 0) as a child of this shell: its pid is $SLAPD_PID.
#   Returns when it answers a search (20 s at most).  Sets SLAPD_URI.
# bench_slapd_stop: SIGTERM by pid, SIGKILL after 10 s; the database stays in DIR.
#
# $BENCH_SLAPD_GLOBAL: more cn=config attribute lines (e.g. "olcConnMaxPending: 1000").
# Expects log and die (bench/proxy/common.sh has them); $SLAPD overrides the binary.
: "${SLAPD:=/usr/sbin/slapd}"
BENCH_LDAP_SUFFIX=dc=bench
SLAPD_PID=
SLAPD_URI=

bench_slapd_start() {
	local dir=$1 port=$2 ldif=$3 top i
	top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
	command -v "$SLAPD" >/dev/null || [ -x "$SLAPD" ] || die "slapd not found (apt-get install slapd ldap-utils)"
	command -v slapadd >/dev/null || [ -x /usr/sbin/slapadd ] || die "slapadd not found"
	command -v ldapsearch >/dev/null || die "ldapsearch not found (ldap-utils)"
	SLAPD_URI=ldap://127.0.0.1:$port
	rm -rf "$dir/slapd.d" "$dir/db"
	mkdir -p "$dir/slapd.d" "$dir/db"
	cat >"$dir/config.ldif" <<LDIF
dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: $dir/slapd.pid
olcLogLevel: none
${BENCH_SLAPD_GLOBAL:-}

dn: cn=module{0},cn=config
objectClass: olcModuleList
cn: module{0}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif
include: file:///etc/ldap/schema/cosine.ldif
include: file://$top/conf/ldap/mcx-sdproxy.ldif

dn: olcDatabase={-1}frontend,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {-1}frontend
olcSizeLimit: unlimited

dn: olcDatabase={0}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {0}config

dn: olcDatabase={1}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {1}mdb
olcDbDirectory: $dir/db
olcSuffix: $BENCH_LDAP_SUFFIX
olcRootDN: cn=admin,$BENCH_LDAP_SUFFIX
olcRootPW: secret
olcDbIndex: objectClass eq
olcDbIndex: mcxUserUri eq
olcDbMaxSize: 4294967296
LDIF
	printf 'dn: %s\nobjectClass: dcObject\nobjectClass: organization\ndc: bench\no: bench\n\n' \
	    "$BENCH_LDAP_SUFFIX" >"$dir/base.ldif"
	local t0=$(date +%s%N)
	{
		slapadd -q -n0 -F "$dir/slapd.d" -l "$dir/config.ldif" &&
		    slapadd -q -n1 -F "$dir/slapd.d" -l "$dir/base.ldif" &&
		    slapadd -q -n1 -F "$dir/slapd.d" -l "$ldif"
	} >"$dir/slapadd.log" 2>&1 || { sed 's/^/  /' "$dir/slapadd.log" >&2; die "slapadd failed (see $dir/slapadd.log)"; }
	log "slapadd: $(grep -c '^dn:' "$ldif") entries loaded in $((($(date +%s%N) - t0) / 1000000)) ms"
	"$SLAPD" -d 0 -h "$SLAPD_URI/" -F "$dir/slapd.d" >"$dir/slapd.log" 2>&1 </dev/null &
	SLAPD_PID=$!
	# ladder.sh's stop_all stops what it remembers
	declare -p STARTED_PIDS >/dev/null 2>&1 && STARTED_PIDS+=("$SLAPD_PID")
	for ((i = 0; i < 200; i++)); do
		ldapsearch -x -H "$SLAPD_URI" -b "$BENCH_LDAP_SUFFIX" -s base -LLL dn >/dev/null 2>&1 && return 0
		kill -0 "$SLAPD_PID" 2>/dev/null || break
		sleep 0.1
	done
	tail -5 "$dir/slapd.log" >&2
	die "slapd did not start on $SLAPD_URI (see $dir/slapd.log)"
}

bench_slapd_stop() {
	local i
	[ -n "$SLAPD_PID" ] || return 0
	if kill -0 "$SLAPD_PID" 2>/dev/null; then
		kill -TERM "$SLAPD_PID" 2>/dev/null
		for ((i = 0; i < 100; i++)); do
			kill -0 "$SLAPD_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$SLAPD_PID" 2>/dev/null && kill -KILL "$SLAPD_PID" 2>/dev/null
	fi
	wait "$SLAPD_PID" 2>/dev/null
	SLAPD_PID=
}

# slapd_cpu_us: utime+stime of the slapd (microseconds), 0 when it is gone.
slapd_cpu_us() {
	awk -v tck="$(getconf CLK_TCK)" '{ l = $0; sub(/^.*\) /, "", l); split(l, f, " "); printf "%.0f\n", (f[12] + f[13]) * 1000000 / tck }' \
	    "/proc/$SLAPD_PID/stat" 2>/dev/null || echo 0
}
