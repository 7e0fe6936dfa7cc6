# A real slapd for the tests (Debian's slapd, ldap-utils): sourced by lib_sip.sh; never run.
#
# ldap_start [PORT]: a slapd of its own for this test script in $WORK/slapd, listening on
#   ldap://$LDAP_HOST:PORT (127.0.0.1 and $LDAP_PORT by default), with cn=config made from
#   Debian's core and cosine schemas and the shipped one (conf/ldap/mcx-sdproxy.ldif), one mdb
#   database for $LDAP_SUFFIX (default dc=test; admin cn=admin,SUFFIX, password "secret")
#   holding the entries of $LDAP_DATA (default: the suffix's entry alone), mcxUserUri
#   indexed.  Its PID file
#   is in $WORK, so the EXIT trap stops it.  Logs every operation (-d stats) to
#   $WORK/slapd/slapd.log.  Returns when it answers (5 s at most).
# ldap_add FILE: add the LDIF entries of FILE as the admin.
# ldap_conf NAME TABLE-TEXT: the entries of a make_conf lookup table under ou=NAME,dc=test;
#   prints the lookup section for the configuration (used by make_conf when
#   MCX_TEST_LOOKUP=ldap: every seed step then goes through the directory).  $LDAP_URIS, when
#   set, is the uris list's text instead of the one slapd; $LDAP_EXTRA the group's other settings
#   (default: timeout_ms = 1000;).
#   With $LDAP_TLS_CERT and $LDAP_TLS_KEY set before ldap_start, slapd offers StartTLS.
# ldap_searches ERE: how many searches slapd has logged whose filter matches ERE.
LDAP_ADMIN=cn=admin,dc=test
LDAP_SECRET=secret
: "${LDAP_HOST:=127.0.0.1}"
: "${LDAP_PORT:=3389}"
: "${SLAPD:=/usr/sbin/slapd}"

ldap_start() {
	l_port=${1:-$LDAP_PORT}
	l_dir=$WORK/slapd
	l_suffix=${LDAP_SUFFIX:-dc=test}
	LDAP_ADMIN=cn=admin,$l_suffix
	LDAP_URI=ldap://$LDAP_HOST:$l_port
	mkdir -p "$l_dir/slapd.d" "$l_dir/db"
	cat >"$l_dir/config.ldif" <<LDIF
dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: $l_dir/slapd.pid
${LDAP_TLS_CERT:+olcTLSCertificateFile: $LDAP_TLS_CERT
olcTLSCertificateKeyFile: $LDAP_TLS_KEY
}
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
include: file://$top_srcdir/conf/ldap/mcx-sdproxy.ldif

dn: olcDatabase={-1}frontend,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {-1}frontend

dn: olcDatabase={0}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {0}config

dn: olcDatabase={1}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {1}mdb
olcDbDirectory: $l_dir/db
olcSuffix: $l_suffix
olcRootDN: $LDAP_ADMIN
olcRootPW: $LDAP_SECRET
olcDbIndex: objectClass eq
olcDbIndex: mcxUserUri eq
olcDbMaxSize: 1073741824
LDIF
	printf 'dn: dc=test\nobjectClass: dcObject\nobjectClass: organization\ndc: test\no: test\n' >"$l_dir/base.ldif"
	if [ ! -f "$l_dir/db/data.mdb" ]; then
		slapadd -q -n0 -F "$l_dir/slapd.d" -l "$l_dir/config.ldif" >"$l_dir/slapadd.log" 2>&1 &&
			slapadd -q -n1 -F "$l_dir/slapd.d" -l "${LDAP_DATA:-$l_dir/base.ldif}" >>"$l_dir/slapadd.log" 2>&1 ||
			{ echo "# slapadd failed:"; sed 's/^/#   /' "$l_dir/slapadd.log"; return 1; }
	fi
	"$SLAPD" -d stats -h "$LDAP_URI/" -F "$l_dir/slapd.d" >>"$l_dir/slapd.log" 2>&1 &
	echo $! >"$WORK/slapd.pid"
	SLAPD_PID=$!
	l_i=0
	while ! ldapsearch -x -H "$LDAP_URI" -b "$l_suffix" -s base -LLL dn >/dev/null 2>&1; do
		l_i=$((l_i + 1))
		if [ "$l_i" -gt 50 ] || ! kill -0 "$SLAPD_PID" 2>/dev/null; then
			echo "# slapd did not start:"
			tail -5 "$l_dir/slapd.log" | sed 's/^/#   /'
			return 1
		fi
		sleep 0.1
	done
}

# Stop (TERM, by PID) the slapd ldap_start started; its database stays for the next ldap_start.
ldap_stop() {
	kill -TERM "$SLAPD_PID" 2>/dev/null || :
	l_i=0
	while kill -0 "$SLAPD_PID" 2>/dev/null && [ "$l_i" -lt 50 ]; do
		sleep 0.1
		l_i=$((l_i + 1))
	done
	kill -KILL "$SLAPD_PID" 2>/dev/null || :
	wait "$SLAPD_PID" 2>/dev/null || :
	rm -f "$WORK/slapd.pid"
}

ldap_add() {
	ldapadd -x -H "$LDAP_URI" -D "$LDAP_ADMIN" -w "$LDAP_SECRET" -f "$1" >/dev/null
}

ldap_searches() {
	grep -c -E "SRCH base=.*filter=\".*$1" "$WORK/slapd/slapd.log" || :
}

LDAP_CONFS=0
ldap_conf() {
	[ -n "${SLAPD_PID:-}" ] || ldap_start || return 1
	# A new branch for each configuration written: a reload then sees other settings (a new cache).
	LDAP_CONFS=$((LDAP_CONFS + 1))
	l_base="ou=$1-$LDAP_CONFS,dc=test"
	printf '%s\n' "$2" | python3 "$top_srcdir/tests/sip/table2ldif.py" "$l_base" >"$WORK/slapd/$1-$LDAP_CONFS.ldif" &&
		ldap_add "$WORK/slapd/$1-$LDAP_CONFS.ldif" || return 1
	echo "lookup = {
  backend = \"ldap\";
  ldap = { uris = [ ${LDAP_URIS:-\"$LDAP_URI\"} ]; base = \"$l_base\"; ${LDAP_EXTRA:-timeout_ms = 1000;} };
};"
}
