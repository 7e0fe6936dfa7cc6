#!/bin/sh
# The Debian package, end to end: build it with dpkg-buildpackage from a copy of
# this tree (the files git knows and the new ones it does not ignore), check it
# with lintian (no errors), install it with apt-get, check what is in place
# (programs, manual pages, unit, sysusers entry and user, conffile, examples),
# run "mcx-sdproxyd -t" on the installed default configuration, then remove and
# purge it and check that nothing is left.
#
# Not in "make check": it needs root and installs onto this machine (any
# installed mcx-sdproxy is replaced, then purged).  .ci/run runs it after the
# test suite; ./bootstrap installs what it needs (dpkg-dev, debhelper, lintian
# and the build dependencies).
#
#   sh tests/package/deb.sh
#   MCX_DEB_OUT=DIR sh tests/package/deb.sh   also keeps the .deb, .changes,
#                                             build log and lintian output in DIR
. "$(dirname "$0")/../lib.sh"

PKG=mcx-sdproxy
CONF=/etc/mcx-sdproxy/mcx-sdproxy.conf
DOC=/usr/share/doc/mcx-sdproxy
export DEBIAN_FRONTEND=noninteractive

if [ "$(id -u)" -ne 0 ]; then
	echo "not ok - tests/package/deb.sh installs a package: run it as root"
	exit 1
fi
need git dpkg-buildpackage dh lintian apt-get dpkg-query openssl setpriv

INSTALLED=no
USER_BEFORE=no
getent passwd mcx-sdproxy >/dev/null && USER_BEFORE=yes
# A failure half way must not leave the package on the machine.
cleanup() {
	if [ "$INSTALLED" = yes ]; then
		dpkg --purge "$PKG" >/dev/null 2>&1 || :
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT

# ---- build, from a copy of the tree ----
mkdir "$WORK/src"
(cd "$top_srcdir" && git ls-files -z --cached --others --exclude-standard |
	tar --null --ignore-failed-read -T - -cf -) | tar -xf - -C "$WORK/src"
version=$(cd "$WORK/src" && dpkg-parsechangelog -S Version)
upstream=$(sed -n 's/^AC_INIT(\[mcx-sdproxy\], \[\([^]]*\)\].*/\1/p' "$top_srcdir/configure.ac")
is "debian/changelog's version is configure.ac's" "$version" "$upstream"

arch=$(dpkg --print-architecture)
DEB=$WORK/${PKG}_${version}_$arch.deb
CHANGES=$WORK/${PKG}_${version}_$arch.changes
start=$(date +%s)
run sh -c 'cd "$1" && dpkg-buildpackage -us -uc -b' sh "$WORK/src"
cat "$WORK/out" "$WORK/err" >"$WORK/build.log"
echo "# dpkg-buildpackage -us -uc -b: exit $RC in $(($(date +%s) - start)) s"
is "dpkg-buildpackage -us -uc -b" "$RC" 0
if [ "$RC" -ne 0 ] || [ ! -f "$DEB" ]; then
	tail -n 30 "$WORK/build.log" | sed 's/^/#   /'
	not_ok "$DEB was built"
	done_testing
	exit 1
fi
ok "$(basename "$DEB") built"
mkdir "$WORK/control"
dpkg-deb -e "$DEB" "$WORK/control"
is "the package's conffiles" "$(cat "$WORK/control/conffiles")" "$CONF"

# ---- lintian: no errors (its whole output is shown) ----
run lintian --display-info "$CHANGES"
cat "$WORK/out" "$WORK/err" | grep -v '^running with root privileges' >"$WORK/lintian.txt" || :
sed 's/^/# lintian: /' "$WORK/lintian.txt"
[ -s "$WORK/lintian.txt" ] || echo "# lintian: no tags"
is "lintian: no errors" "$(grep -c '^E:' "$WORK/lintian.txt" || :)" 0
is "lintian: exit status" "$RC" 0

if [ -n "${MCX_DEB_OUT:-}" ]; then
	mkdir -p "$MCX_DEB_OUT"
	cp "$WORK"/*.deb "$WORK"/*.changes "$WORK"/*.buildinfo "$WORK/build.log" "$WORK/lintian.txt" "$MCX_DEB_OUT"/
fi

# ---- install ----
before=$(dpkg-query -W -f='${db:Status-Status} ${Version}' "$PKG" 2>/dev/null || :)
case $before in installed*) echo "# $PKG was installed ($before): this test replaces and purges it" ;; esac
INSTALLED=yes
run apt-get install -y -q --no-install-recommends "$DEB"
is "apt-get install $(basename "$DEB")" "$RC" 0
[ "$RC" -eq 0 ] || sed 's/^/#   /' "$WORK/err" | tail -n 20
is "dpkg says it is installed" "$(dpkg-query -W -f='${db:Status-Status} ${Version}' "$PKG")" "installed $version"

# ---- the files ----
for f in /usr/sbin/mcx-sdproxyd /usr/bin/mcx-sdtool; do
	check "$f is an executable" test -x "$f"
done
for f in /usr/share/man/man8/mcx-sdproxyd.8.gz /usr/share/man/man1/mcx-sdtool.1.gz \
	/usr/share/man/man5/mcx-sdproxy.conf.5.gz \
	/lib/systemd/system/mcx-sdproxyd.service /usr/lib/sysusers.d/mcx-sdproxy.conf "$CONF" \
	$DOC/README.Debian $DOC/copyright $DOC/changelog.gz \
	$DOC/examples/primary.conf $DOC/examples/partner.conf $DOC/examples/invite-example.sip \
	$DOC/examples/cluster/README $DOC/examples/cluster/kamailio.cfg \
	$DOC/ldap/README $DOC/ldap/mcx-sdproxy.ldif $DOC/ldap/demo-directory.ldif; do
	check "$f is there" test -s "$f"
done
for f in $DOC/examples/make-keys.sh $DOC/examples/make-tls-keys.sh; do
	check "$f is an executable" test -x "$f"
done
if command -v man >/dev/null 2>&1; then
	is "man -w mcx-sdproxyd" "$(man -w mcx-sdproxyd 2>/dev/null)" /usr/share/man/man8/mcx-sdproxyd.8.gz
fi
is "dpkg lists the conffile" "$(dpkg-query -W -f='${Conffiles}' "$PKG" | awk 'NF { print $1 }')" "$CONF"
check "the unit runs /usr/sbin/mcx-sdproxyd -f -c $CONF" \
	grep -qx "ExecStart=/usr/sbin/mcx-sdproxyd -f -c $CONF" /lib/systemd/system/mcx-sdproxyd.service
if command -v systemd-analyze >/dev/null 2>&1; then
	run systemd-analyze verify /lib/systemd/system/mcx-sdproxyd.service
	is "systemd-analyze verify mcx-sdproxyd.service" "$RC $(cat "$WORK/err")" "0 "
fi
check "the unit is not enabled" sh -c '! ls /etc/systemd/system/*/mcx-sdproxyd.service 2>/dev/null'

# ---- the user, made by systemd-sysusers in the postinst ----
run getent passwd mcx-sdproxy
is "the user mcx-sdproxy exists, with no login" "$(cut -d: -f1,7 "$WORK/out")" mcx-sdproxy:/usr/sbin/nologin
run getent group mcx-sdproxy
is "the group mcx-sdproxy exists" "$(cut -d: -f1 "$WORK/out")" mcx-sdproxy
[ "$USER_BEFORE" = no ] || echo "# the user mcx-sdproxy existed before the install"

# ---- the programs on the installed configuration ----
run /usr/sbin/mcx-sdproxyd -t
is "mcx-sdproxyd -t (the default file)" "$RC" 0
is "mcx-sdproxyd -t says which file" "$(cat "$WORK/out")" "$CONF: configuration ok"
run setpriv --reuid=mcx-sdproxy --regid=mcx-sdproxy --clear-groups /usr/sbin/mcx-sdproxyd -t -c "$CONF"
is "mcx-sdproxyd -t -c $CONF as the user mcx-sdproxy" "$RC" 0
run /usr/bin/mcx-sdtool --version
is "mcx-sdtool --version" "$(cat "$WORK/out")" "mcx-sdproxy $version"
run /usr/bin/mcx-sdtool lookup -c "$CONF" sip:alice@home.example
is "mcx-sdtool lookup on the default configuration" "$RC" 0
# The installed examples work together: make-keys.sh makes the KRR keys primary.conf names.
mkdir "$WORK/ex"
cp -r $DOC/examples/. "$WORK/ex/"
run sh -c 'cd "$1" && ./make-keys.sh .' sh "$WORK/ex"
is "examples/make-keys.sh ." "$RC" 0
run /usr/sbin/mcx-sdproxyd -t -c "$WORK/ex/primary.conf"
is "mcx-sdproxyd -t on examples/primary.conf with its keys" "$RC" 0
run /usr/sbin/mcx-sdproxyd -t -c "$WORK/ex/partner.conf"
is "mcx-sdproxyd -t on examples/partner.conf with its keys" "$RC" 0

# ---- remove keeps the configuration, purge removes everything ----
dpkg-query -L "$PKG" >"$WORK/files"
# What the service would have written (LogsDirectory=): purge removes it.
install -d -o mcx-sdproxy -g mcx-sdproxy -m 0750 /var/log/mcx-sdproxy
echo '{}' >/var/log/mcx-sdproxy/audit.jsonl
run dpkg --remove "$PKG"
is "dpkg --remove" "$RC" 0
check "remove keeps $CONF" test -f "$CONF"
check "remove takes /usr/sbin/mcx-sdproxyd" test ! -e /usr/sbin/mcx-sdproxyd
run dpkg --purge "$PKG"
is "dpkg --purge" "$RC" 0
[ "$RC" -eq 0 ] && INSTALLED=no
sed 's/^/#   /' "$WORK/err"
st=$(dpkg-query -W -f='${db:Status-Status}' "$PKG" 2>/dev/null || :)
is "dpkg no longer knows it" "${st:-not-installed}" not-installed
left=$(while read -r f; do [ ! -e "$f" ] || [ -d "$f" ] || echo "$f"; done <"$WORK/files")
is "no file of the package is left" "$left" ""
for d in /etc/mcx-sdproxy /var/log/mcx-sdproxy $DOC /usr/share/doc/mcx-sdproxy/examples; do
	check "$d is gone" test ! -e "$d"
done
check "no trace in systemd's state" sh -c \
	'! ls /etc/systemd/system/*/mcx-sdproxyd.service /var/lib/systemd/deb-systemd-helper-*/mcx-sdproxyd.service* 2>/dev/null'

# The user stays on purge (Debian keeps system users); one this test made goes.
if [ "$USER_BEFORE" = no ]; then
	userdel mcx-sdproxy 2>/dev/null || :
	! getent group mcx-sdproxy >/dev/null || groupdel mcx-sdproxy
fi

done_testing
