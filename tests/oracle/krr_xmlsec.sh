# Oracle test: xmlsec1 independently verifies the KRRs mcx-sdtool signs, mcx-sdtool verifies the KRRs xmlsec1 signs, and tampered, moved, wrapped, wrongly certified and expired ones are rejected.
. "$top_srcdir/tests/lib.sh"

: "${XMLSEC1:=xmlsec1}"
: "${OPENSSL:=openssl}"
need "$XMLSEC1" "$OPENSSL" "$JQ" cut tr sed grep
[ -x "$SDTOOL" ] || { echo "not ok - $SDTOOL is not built"; exit 1; }
LC_ALL=C
export LC_ALL

TIME=2026-11-29T10:00:00Z
SIGNER_CN=sdproxy.partner.example
SIGNER_URI=sip:sdproxy@partner.example # the signer certificate's subjectAltName
NL='
'

# The KRR content that tests/data/krr/template.xml holds and `krr build` is given.
ORIG=sip:sdproxy@partner.example ORIG_KMS=kms.partner.example
INIT=sip:alice@home.example RECV=sip:bob@partner.example
INIT_KMS=kms.home.example RECV_KMS=kms.wrong.example
AI1=kms.home.example AI2=kms.backup.home.example AR1=kms.partner.example
# want_json ID [EMBEDDED]: the `krr decode --json` object (compact) of a signed KRR with that content
want_json() {
	printf '{"id":"%s","version":"1.0.0","time":"%s","originator":"%s","originator_kms":"%s","initiator":"%s","receiver":"%s","initiator_kms":"%s","receiver_kms":"%s","accept_initiator_kms":["%s","%s"],"accept_receiver_kms":["%s"],"signed":true,"embedded":%s}' \
		"$1" "$TIME" "$ORIG" "$ORIG_KMS" "$INIT" "$RECV" "$INIT_KMS" "$RECV_KMS" "$AI1" "$AI2" "$AR1" "${2:-null}"
}
# the same keys, in the same order, picked from $WORK/out (and recursively from .embedded)
PICK='def pick: {id, version, time, originator, originator_kms, initiator, receiver, initiator_kms,
	receiver_kms, accept_initiator_kms, accept_receiver_kms, signed,
	embedded: (if .embedded == null then null else (.embedded | pick) end)}; pick'

# ---- helpers ----

# eq NAME GOT WANT: one assertion on two strings; shows both (and our stderr) on failure.
eq() {
	if [ "$2" = "$3" ]; then
		ok "$1"
	else
		not_ok "$1"
		printf '#   got:  %s\n#   want: %s\n' "$2" "$3"
		[ ! -s "$WORK/err" ] || sed 's/^/#   stderr: /' "$WORK/err" | head -n 5
	fi
}

# jget [-c] FILTER: jq -r over $WORK/out (the last run's stdout), "(no JSON)" when it is not JSON.
jget() { "$JQ" -r "$@" "$WORK/out" 2>/dev/null || echo "(no JSON)"; }

# bump S: S with its first character changed (a->b .. z->a, 0->1 .. 9->0, anything else -> x),
# so that a URI or a time stays well-formed and only the signature can tell.
bump() {
	b_c=$(printf %s "$1" | cut -c1)
	b_n=$(printf %s "$b_c" | tr 'a-z0-9' 'b-za1-90')
	[ "$b_n" != "$b_c" ] || b_n=x
	printf '%s%s' "$b_n" "${1#?}"
}

# slurp FILE: its text without the XML declaration, so that it can be spliced or embedded.
slurp() {
	s_d=$(cat "$1") || return 1
	case $s_d in '<?xml'*) s_d=${s_d#*'?>'} s_d=${s_d#"$NL"} ;; esac
	printf '%s' "$s_d"
}

# tamper_text IN OUT ELEM [WITHIN]: OUT is IN with one character changed in the text of the first
# <ELEM> (the first one after <WITHIN> when given); sets T_FROM and T_TO.
tamper_text() {
	t_d=$(slurp "$1") || return 1
	t_h=
	if [ -n "${4:-}" ]; then
		case $t_d in *"<$4>"*) ;; *) return 1 ;; esac
		t_h=${t_d%%"<$4>"*}"<$4>" t_d=${t_d#*"<$4>"}
	fi
	case $t_d in *"<$3>"*) ;; *) return 1 ;; esac
	t_h=$t_h${t_d%%"<$3>"*}"<$3>" t_d=${t_d#*"<$3>"}
	T_FROM=${t_d%%<*}
	[ -n "$T_FROM" ] || return 1
	T_TO=$(bump "$T_FROM")
	printf '%s%s%s' "$t_h" "$T_TO" "${t_d#"$T_FROM"}" >"$2"
}

# replace_first STRING OLD NEW: STRING with its first OLD replaced by NEW (fails when absent).
replace_first() {
	case $1 in *"$2"*) ;; *) return 1 ;; esac
	printf '%s%s%s' "${1%%"$2"*}" "$3" "${1#*"$2"}"
}

# split_sig FILE: S_PRE, S_SIG, S_POST: the text before, of and after the last ds:Signature
# element (the root's own one: it comes after EmbeddedKrr and its signature).
split_sig() {
	s_all=$(slurp "$1") || return 1
	case $s_all in *'<ds:Signature '*'</ds:Signature>'*) ;; *) return 1 ;; esac
	S_PRE=${s_all%'<ds:Signature '*}
	S_SIG=${s_all#"$S_PRE"} S_SIG=${S_SIG%'</ds:Signature>'*}'</ds:Signature>'
	S_POST=${s_all##*'</ds:Signature>'}
}

# write FILE STRING
write() { printf '%s\n' "$2" >"$1"; }

# xs, xs_ok, XS_ROOT and XS_EMB: tests/lib.sh.
xs_fails() { # NAME TRUST FILE [OPTION...]
	x_n=$1
	shift
	xs "$@"
	if [ "$XS_RC" -ne 0 ]; then ok "$x_n"; else not_ok "$x_n"; echo "#   xmlsec1 said OK"; fi
}

# ours FILE [OPTION...]: mcx-sdtool krr verify --json with the good CA; $WORK/out, $WORK/err, $RC.
ours() {
	o_f=$1
	shift
	run "$SDTOOL" krr verify --trust "$WORK/ca.pem" --json "$@" "$o_f"
}

# accepts NAME FILE [OPTION...]: our verifier says valid (exit 0, "valid": true).
accepts() {
	a_n=$1
	shift
	ours "$@"
	eq "$a_n: krr verify exits 0" "$RC" 0
	eq "$a_n: krr verify says valid" "$(jget .valid)" true
}

# one_of WORD A|B|...: WORD is one of the alternatives.
one_of() {
	o_rest="$2|"
	while [ -n "$o_rest" ]; do
		[ "${o_rest%%|*}" != "$1" ] || return 0
		o_rest=${o_rest#*|}
	done
	return 1
}

# rejects NAME FILE XS ERRS [OPTION...]: our verifier says not valid: exit 1, and JSON with
# "valid": false, an "error" and an "error_name" that is one of ERRS (A|B|...).  XS: "fails"
# (xmlsec1 must reject it too), "ok" (xmlsec1 accepts it: its digest and signature still hold,
# only our structural checks can catch it), "-" (not asked).
rejects() {
	r_n=$1 r_f=$2 r_xs=$3 r_errs=$4
	shift 4
	ours "$r_f" "$@"
	eq "$r_n: krr verify exits 1" "$RC" 1
	r_j=$(jget '[.valid, (.error // "" | length > 0), .error_name] | map(tostring) | join(" ")')
	r_name=${r_j##* }
	eq "$r_n: krr verify says not valid, and why" "${r_j% *}" "false true"
	if one_of "$r_name" "$r_errs"; then ok "$r_n: the error is $r_name"
	else not_ok "$r_n: the error is $r_errs"; echo "#   got: $r_name"; fi
	case $r_xs in
	fails) xs_fails "$r_n: xmlsec1 rejects it too" "$WORK/ca.pem" "$r_f" ;;
	ok) xs_ok "$r_n: xmlsec1 still verifies it (only the structure is wrong)" "$WORK/ca.pem" "$r_f" ;;
	esac
}

# plain NAME FILE ERR: without --json, krr verify exits 1 and its stderr is the one line
# "mcx-sdtool: FILE: ... [ERR]".
plain() {
	run "$SDTOOL" krr verify --trust "$WORK/ca.pem" "$2"
	p_l=$(head -n 1 "$WORK/err")
	case "$RC $(wc -l <"$WORK/err" | tr -d ' ') $p_l" in
	"1 1 mcx-sdtool: $2: "*" [$3]") ok "$1: without --json, exit 1 and 'mcx-sdtool: FILE: ... [$3]' on stderr" ;;
	*) not_ok "$1: without --json, exit 1 and 'mcx-sdtool: FILE: ... [$3]' on stderr"
		printf '#   got: exit %s, %s\n' "$RC" "$p_l" ;;
	esac
}

# build OUT [OPTION...]: `krr build` of the standard content (that of template.xml), plus OPTIONs.
build() {
	b_out=$1
	shift
	"$SDTOOL" krr build --time "$TIME" --originator "$ORIG" --originator-kms "$ORIG_KMS" \
		--initiator "$INIT" --receiver "$RECV" --initiator-kms "$INIT_KMS" --receiver-kms "$RECV_KMS" \
		--accept-initiator-kms "$AI1" --accept-initiator-kms "$AI2" --accept-receiver-kms "$AR1" \
		"$@" >"$b_out" 2>"$WORK/build.err" ||
		{ not_ok "krr build $* succeeds"; sed 's/^/#   /' "$WORK/build.err" | head -n 5; }
}

# ---- 1. certificates (ECDSA P-256), all made here with openssl ------------------------------
# `openssl x509` of OpenSSL 3.0 has no -not_before/-not_after (and a negative -days gives
# notAfter < notBefore, not an expired certificate): `openssl ca` sets both dates.
cat >"$WORK/ca.cnf" <<EOF
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
default_ca = testca
[testca]
database = $WORK/index.txt
serial = $WORK/serial
new_certs_dir = $WORK
default_md = sha256
policy = anything
unique_subject = no
email_in_dn = no
[anything]
commonName = supplied
organizationName = optional
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[v3_signer]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
subjectAltName = URI:$SIGNER_URI
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
: >"$WORK/index.txt"
echo 01 >"$WORK/serial"

# mkcert NAME SUBJECT ISSUER|self EXTENSIONS NOTBEFORE NOTAFTER: $WORK/NAME.pem, $WORK/NAME-key.pem
mkcert() {
	"$OPENSSL" genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$WORK/$1-key.pem" &&
		"$OPENSSL" req -new -config "$WORK/ca.cnf" -key "$WORK/$1-key.pem" -subj "$2" -out "$WORK/$1.csr" &&
		if [ "$3" = self ]; then
			"$OPENSSL" ca -batch -config "$WORK/ca.cnf" -selfsign -keyfile "$WORK/$1-key.pem" \
				-in "$WORK/$1.csr" -out "$WORK/$1.pem" -preserveDN -notext -extensions "$4" -startdate "$5" -enddate "$6"
		else
			"$OPENSSL" ca -batch -config "$WORK/ca.cnf" -cert "$WORK/$3.pem" -keyfile "$WORK/$3-key.pem" \
				-in "$WORK/$1.csr" -out "$WORK/$1.pem" -preserveDN -notext -extensions "$4" -startdate "$5" -enddate "$6"
		fi
}
LONG_AGO=20190101000000Z FAR=20491231235959Z
{
	mkcert ca "/O=KRR Test/CN=KRR Test CA" self v3_ca $LONG_AGO $FAR &&
		mkcert signer "/O=Partner/CN=$SIGNER_CN" ca v3_signer 20240101000000Z $FAR &&
		mkcert expired "/O=Partner/CN=expired.partner.example" ca v3_signer 20200101000000Z 20210101000000Z &&
		mkcert other-ca "/O=Elsewhere/CN=Unrelated CA" self v3_ca $LONG_AGO $FAR &&
		mkcert other "/O=Partner/CN=$SIGNER_CN" other-ca v3_signer 20240101000000Z $FAR &&
		mkcert impostor-ca "/O=KRR Test/CN=KRR Test CA" self v3_ca $LONG_AGO $FAR &&
		mkcert impostor "/O=Partner/CN=$SIGNER_CN" impostor-ca v3_signer 20240101000000Z $FAR
} >"$WORK/openssl.log" 2>&1 || { not_ok "openssl makes the test certificates"; sed 's/^/#   /' "$WORK/openssl.log"; exit 1; }
# (impostor-ca has the good CA's very name but another key)
vfy() { "$OPENSSL" verify -CAfile "$WORK/$1.pem" "$WORK/$2.pem" >/dev/null 2>&1; }
check "openssl: the signer certificate chains to the CA" vfy ca signer
check "openssl: the expired certificate does not verify now" eval '! vfy ca expired'
check "openssl: the unrelated CA's signer does not chain to the CA" eval '! vfy ca other'
check "openssl: the impostor CA's signer does not chain to the CA" eval '! vfy ca impostor'

# ---- 2. xmlsec1 signs the template; the oracle checks itself --------------------------------
T="$DATA/krr/template.xml"
XS_SIGNED="$WORK/xs-signed.xml"
"$XMLSEC1" --sign --privkey-pem "$WORK/signer-key.pem,$WORK/signer.pem" \
	--id-attr:Id "$KRR_NS:KmsRedirectResponse" --output "$XS_SIGNED" "$T" >"$WORK/xs.out" 2>&1 ||
	{ not_ok "xmlsec1 --sign signs template.xml"; sed 's/^/#   /' "$WORK/xs.out"; exit 1; }
xs_ok "xmlsec1 verifies the KRR it signed, against the CA" "$WORK/ca.pem" "$XS_SIGNED"
xs_fails "xmlsec1 rejects it against the unrelated CA" "$WORK/other-ca.pem" "$XS_SIGNED"
# without --id-attr, Id is no ID attribute for xmlsec1 (no DTD or schema says so): #Id is not found
# shellcheck disable=SC2016 # expanded by eval
check "xmlsec1 rejects it without --id-attr" eval '! "$XMLSEC1" --verify --trusted-pem "$WORK/ca.pem" "$XS_SIGNED" >/dev/null 2>&1'

# ---- 3. direction xmlsec1 -> mcx-sdtool ------------------------------------------------------
accepts "xmlsec1-signed template" "$XS_SIGNED"
eq "xmlsec1-signed template: no embedded KRR (embedded_valid null)" "$(jget .embedded_valid)" null
case $(jget .signer) in
*"$SIGNER_CN"*) ok "xmlsec1-signed template: signer is the certificate subject (CN=$SIGNER_CN)" ;;
*) not_ok "xmlsec1-signed template: signer is the certificate subject (CN=$SIGNER_CN)"; echo "#   got: $(jget .signer)" ;;
esac
eq "xmlsec1-signed template: signer_uris is the subjectAltName URI" "$(jget -c .signer_uris)" "[\"$SIGNER_URI\"]"
run "$SDTOOL" krr decode --json "$XS_SIGNED"
eq "xmlsec1-signed template: krr decode exits 0" "$RC" 0
eq "xmlsec1-signed template: krr decode gives the template's values" "$(jget -c "$PICK")" "$(want_json krr-5f0c3a)"
run "$SDTOOL" krr verify --json "$XS_SIGNED"
eq "krr verify without --trust: usage error (exit 2)" "$RC" 2

# ---- 4. direction mcx-sdtool -> xmlsec1 ------------------------------------------------------
OURS="$WORK/ours.xml"
build "$OURS" --id krr-ours --cert "$WORK/signer.pem" --key "$WORK/signer-key.pem"
xs_ok "krr build --cert --key: xmlsec1 verifies it against the CA" "$WORK/ca.pem" "$OURS"
xs_fails "krr build --cert --key: xmlsec1 rejects it against the unrelated CA" "$WORK/other-ca.pem" "$OURS"
accepts "krr build --cert --key" "$OURS"
eq "krr build --cert --key: signer_uris is the subjectAltName URI" "$(jget -c .signer_uris)" "[\"$SIGNER_URI\"]"
run "$SDTOOL" krr decode --json "$OURS"
eq "krr build --cert --key: krr decode gives what was built" "$(jget -c "$PICK")" "$(want_json krr-ours)"
# the profile of DESIGN.md 2.2, as written in the document
algs=$(grep -o 'Algorithm="[^"]*"' "$OURS" | tr '\n' ' ')
eq "krr build --cert --key: the signature uses the D.4.2 algorithms, in order" "$algs" \
	'Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315" Algorithm="http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256" Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature" Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315" Algorithm="http://www.w3.org/2001/04/xmlenc#sha256" '
eq "krr build --cert --key: one Reference, to the root's Id" "$(grep -o '<ds:Reference [^>]*>' "$OURS" | tr '\n' ' ')" '<ds:Reference URI="#krr-ours"> '
# the X509Certificate is the signer's certificate (DER in base64), and only that one
want_der=$("$OPENSSL" x509 -in "$WORK/signer.pem" -outform DER | base64 | tr -d ' \n\r')
got_der=$(tr -d ' \n\r\t' <"$OURS" | sed -n 's|.*<ds:X509Certificate>\([^<]*\)</ds:X509Certificate>.*|\1|p')
eq "krr build --cert --key: KeyInfo carries the signer's certificate" "$got_der" "$want_der"
eq "krr build --cert --key: exactly one X509Certificate" "$(grep -o '<ds:X509Certificate>' "$OURS" | wc -l | tr -d ' ')" 1
build "$WORK/unsigned.xml" --id krr-unsigned
rejects "krr build without --cert: unsigned" "$WORK/unsigned.xml" fails unsigned
plain "krr build without --cert: unsigned" "$WORK/unsigned.xml" unsigned

# ---- 5. tampering, on our KRR and on xmlsec1's ----------------------------------------------
# negatives LABEL FILE ID
negatives() {
	n_l=$1 n_f=$2 n_id=$3
	for e in Time OriginatorUri OriginatorKmsUri InitiatorUri ReceiverUri InitiatorKmsUri ReceiverKmsUri \
		AcceptableInitiatorKmsUris/KmsUri AcceptableReceiverKmsUris/KmsUri; do
		n_t="$WORK/$n_l-$(echo "$e" | tr / -).xml"
		case $e in */*) n_ok=$(tamper_text "$n_f" "$n_t" "${e#*/}" "${e%/*}" && echo "$T_FROM -> $T_TO") ;;
		*) n_ok=$(tamper_text "$n_f" "$n_t" "$e" && echo "$T_FROM -> $T_TO") ;;
		esac || n_ok=
		if [ -n "$n_ok" ]; then
			rejects "$n_l: one character changed in $e ($n_ok)" "$n_t" fails bad-signature
		else
			not_ok "$n_l: $e found, to change one character in it"
		fi
	done
	n_d=$(slurp "$n_f") || n_d=

	n_t="$WORK/$n_l-id.xml"
	if n_x=$(replace_first "$n_d" "Id=\"$n_id\"" "Id=\"$(bump "$n_id")\""); then
		write "$n_t" "$n_x"
		rejects "$n_l: one character changed in the Id attribute" "$n_t" fails bad-reference
	else not_ok "$n_l: Id=\"$n_id\" found"; fi
	n_t="$WORK/$n_l-version.xml"
	if n_x=$(replace_first "$n_d" 'Version="1.0.0"' 'Version="2.0.0"'); then
		write "$n_t" "$n_x"
		rejects "$n_l: the Version attribute changed" "$n_t" fails bad-signature
	else not_ok "$n_l: Version=\"1.0.0\" found"; fi

	if ! split_sig "$n_f"; then
		not_ok "$n_l: ds:Signature found"
		return 0
	fi
	write "$WORK/$n_l-nosig.xml" "$S_PRE$S_POST"
	rejects "$n_l: signature removed" "$WORK/$n_l-nosig.xml" fails unsigned
	# (xmlsec1 fails here: the enveloped transform drops only the signature it processes)
	write "$WORK/$n_l-twice.xml" "$S_PRE$S_SIG$S_SIG$S_POST"
	rejects "$n_l: signature given twice" "$WORK/$n_l-twice.xml" fails 'duplicate|unexpected'

	# The enveloped-signature transform drops the signature wherever it is in the signed
	# element, so a moved signature still verifies cryptographically (xmlsec1 says OK).
	n_t="$WORK/$n_l-in-list.xml"
	if n_x=$(replace_first "$S_PRE" '</AcceptableReceiverKmsUris>' "$S_SIG</AcceptableReceiverKmsUris>"); then
		write "$n_t" "$n_x$S_POST"
		rejects "$n_l: signature moved into AcceptableReceiverKmsUris" "$n_t" ok 'unexpected|bad-namespace|unsigned|bad-reference'
	else not_ok "$n_l: </AcceptableReceiverKmsUris> found"; fi
	n_t="$WORK/$n_l-first.xml"
	if n_x=$(replace_first "$S_PRE" '<Time>' "$S_SIG<Time>"); then
		write "$n_t" "$n_x$S_POST"
		rejects "$n_l: signature moved before Time" "$n_t" ok 'unexpected|missing|bad-reference'
	else not_ok "$n_l: <Time> found"; fi

	# Signature wrapping.  The forged KRR proposes kms.evil.example instead of $AR1.
	n_evil=$(replace_first "$S_PRE" "<KmsUri>$AR1</KmsUri>" '<KmsUri>kms.evil.example</KmsUri>') || n_evil=
	[ -n "$n_evil" ] || not_ok "$n_l: <KmsUri>$AR1</KmsUri> found"
	# a) the forged root takes the original Id and signature, the original (Id renamed, own
	#    signature kept) hides in EmbeddedKrr: the root's digest no longer matches.
	n_x=$(replace_first "$n_d" "Id=\"$n_id\"" "Id=\"$n_id-0\"") || n_x=
	write "$WORK/$n_l-wrap-a.xml" "$n_evil<EmbeddedKrr>$n_x</EmbeddedKrr>$S_SIG$S_POST"
	rejects "$n_l: wrapped: forged root with the original Id, original renamed in EmbeddedKrr" \
		"$WORK/$n_l-wrap-a.xml" fails bad-signature
	# b) the classic: the forged root (another Id) carries the original signature, whose
	#    Reference still points at a copy of the original element hidden in EmbeddedKrr.
	#    xmlsec1 finds that element by its Id and says OK: only the check that the Reference
	#    is the root's own Id catches it.
	n_x=$(replace_first "$n_evil" "Id=\"$n_id\"" 'Id="krr-forged"') || n_x=
	write "$WORK/$n_l-wrap-b.xml" "$n_x<EmbeddedKrr>$S_PRE$S_POST</EmbeddedKrr>$S_SIG$S_POST"
	rejects "$n_l: wrapped: Reference points at a copy of the signed KRR hidden in EmbeddedKrr" \
		"$WORK/$n_l-wrap-b.xml" ok bad-reference
	# c) the same with the root keeping the original Id: two elements with one Id (xmlsec1
	#    refuses duplicate IDs).
	write "$WORK/$n_l-wrap-c.xml" "$n_evil<EmbeddedKrr>$S_PRE$S_POST</EmbeddedKrr>$S_SIG$S_POST"
	rejects "$n_l: wrapped: root and hidden copy share the Id" "$WORK/$n_l-wrap-c.xml" fails 'duplicate|bad-reference'
}
negatives ours "$OURS" krr-ours
plain "ours: one character changed in Time" "$WORK/ours-Time.xml" bad-signature
plain "ours: wrapped (Reference to a hidden copy)" "$WORK/ours-wrap-b.xml" bad-reference
negatives xmlsec1 "$XS_SIGNED" krr-5f0c3a

# ---- 6. certificates -------------------------------------------------------------------------
build "$WORK/other.xml" --id krr-other --cert "$WORK/other.pem" --key "$WORK/other-key.pem"
rejects "signer from the unrelated CA" "$WORK/other.xml" fails untrusted-certificate
plain "signer from the unrelated CA" "$WORK/other.xml" untrusted-certificate
accepts "signer from the unrelated CA, trusting that CA (control)" "$WORK/other.xml" --trust "$WORK/other-ca.pem"
xs_ok "signer from the unrelated CA: xmlsec1 verifies it trusting that CA (control)" "$WORK/other-ca.pem" "$WORK/other.xml"
build "$WORK/impostor.xml" --id krr-impostor --cert "$WORK/impostor.pem" --key "$WORK/impostor-key.pem"
rejects "signer from a CA with the good CA's name but another key" "$WORK/impostor.xml" fails untrusted-certificate
# The expired certificate signs with xmlsec1 (krr build may rightly refuse an expired one).
# xmlsec1 1.2.37 checks the chain at the current time by default and rejects it (OpenSSL
# X509_V_ERR_CERT_HAS_EXPIRED, "certificate has expired"); --verification-gmt-time inside the
# validity period makes it accept.
EXPIRED="$WORK/expired.xml"
"$XMLSEC1" --sign --privkey-pem "$WORK/expired-key.pem,$WORK/expired.pem" \
	--id-attr:Id "$KRR_NS:KmsRedirectResponse" --output "$EXPIRED" "$T" >"$WORK/xs.out" 2>&1 ||
	not_ok "xmlsec1 --sign with the expired certificate"
rejects "expired signer certificate (now)" "$EXPIRED" fails untrusted-certificate
accepts "expired signer certificate, --time inside its validity (control)" "$EXPIRED" --time 2020-06-01T00:00:00Z
xs_ok "expired signer certificate: xmlsec1 accepts it at a time inside its validity (control)" \
	"$WORK/ca.pem" "$EXPIRED" --verification-gmt-time "2020-06-01 00:00:00"

# ---- 7. embedded KRRs ------------------------------------------------------------------------
INNER="$WORK/inner.xml"
"$SDTOOL" krr build --time 2026-11-29T09:59:59Z --id krr-inner \
	--originator sip:kmsproxy@far.example --originator-kms kms.far.example \
	--initiator "$INIT" --receiver "$RECV" --initiator-kms "$INIT_KMS" --receiver-kms "$RECV_KMS" \
	--accept-receiver-kms kms.far.example --accept-receiver-kms "$AR1" \
	--cert "$WORK/signer.pem" --key "$WORK/signer-key.pem" >"$INNER" 2>"$WORK/err" ||
	not_ok "krr build of the inner KRR"
WANT_INNER='{"id":"krr-inner","version":"1.0.0","time":"2026-11-29T09:59:59Z","originator":"sip:kmsproxy@far.example","originator_kms":"kms.far.example","initiator":"'$INIT'","receiver":"'$RECV'","initiator_kms":"'$INIT_KMS'","receiver_kms":"'$RECV_KMS'","accept_initiator_kms":[],"accept_receiver_kms":["kms.far.example","'$AR1'"],"signed":true,"embedded":null}'
tamper_text "$INNER" "$WORK/inner-broken.xml" ReceiverKmsUri || not_ok "ReceiverKmsUri found in the inner KRR"

build "$WORK/outer-broken.xml" --id krr-outer --embed "$WORK/inner-broken.xml" --cert "$WORK/signer.pem" --key "$WORK/signer-key.pem"
accepts "outer KRR embedding a KRR with a broken signature" "$WORK/outer-broken.xml"
eq "outer KRR embedding a KRR with a broken signature: embedded_valid is false, bad-signature" \
	"$(jget '"\(.embedded_valid) \(.embedded_error_name)"')" "false bad-signature"
xs_ok "outer KRR embedding a broken one: xmlsec1 verifies the root's signature" "$WORK/ca.pem" "$WORK/outer-broken.xml" --node-xpath "$XS_ROOT"
xs_fails "outer KRR embedding a broken one: xmlsec1 rejects the embedded signature" "$WORK/ca.pem" "$WORK/outer-broken.xml" --node-xpath "$XS_EMB"

"$SDTOOL" krr build --time "$TIME" --id krr-inner-other --originator sip:kmsproxy@far.example \
	--originator-kms kms.far.example --initiator "$INIT" --receiver "$RECV" --initiator-kms "$INIT_KMS" \
	--receiver-kms "$RECV_KMS" --cert "$WORK/other.pem" --key "$WORK/other-key.pem" >"$WORK/inner-other.xml" 2>"$WORK/err" ||
	not_ok "krr build of an inner KRR signed under the unrelated CA"
build "$WORK/outer-other.xml" --id krr-outer --embed "$WORK/inner-other.xml" --cert "$WORK/signer.pem" --key "$WORK/signer-key.pem"
accepts "outer KRR embedding a KRR signed under the unrelated CA" "$WORK/outer-other.xml"
eq "outer KRR embedding a KRR signed under the unrelated CA: embedded_valid is false, untrusted-certificate" \
	"$(jget '"\(.embedded_valid) \(.embedded_error_name)"')" "false untrusted-certificate"

OUTER="$WORK/outer.xml"
build "$OUTER" --id krr-outer --embed "$INNER" --cert "$WORK/signer.pem" --key "$WORK/signer-key.pem"
accepts "outer KRR embedding an intact KRR" "$OUTER"
eq "outer KRR embedding an intact KRR: embedded_valid is true" "$(jget .embedded_valid)" true
xs_ok "outer KRR embedding an intact KRR: xmlsec1 verifies the root's signature" "$WORK/ca.pem" "$OUTER" --node-xpath "$XS_ROOT"
xs_ok "outer KRR embedding an intact KRR: xmlsec1 verifies the embedded signature" "$WORK/ca.pem" "$OUTER" --node-xpath "$XS_EMB"
run "$SDTOOL" krr decode --json "$OUTER"
eq "outer KRR: krr decode exits 0" "$RC" 0
eq "outer KRR: krr decode shows the outer and the embedded KRR's fields" "$(jget -c "$PICK")" "$(want_json krr-outer "$WANT_INNER")"
tamper_text "$OUTER" "$WORK/outer-inner-changed.xml" ReceiverKmsUri EmbeddedKrr || not_ok "EmbeddedKrr/ReceiverKmsUri found"
rejects "outer KRR with one character changed inside its EmbeddedKrr" "$WORK/outer-inner-changed.xml" - bad-signature
xs_fails "outer KRR with one character changed inside its EmbeddedKrr: xmlsec1 rejects the root's signature" \
	"$WORK/ca.pem" "$WORK/outer-inner-changed.xml" --node-xpath "$XS_ROOT"
tamper_text "$OUTER" "$WORK/outer-changed.xml" Time || not_ok "Time found in the outer KRR"
rejects "outer KRR with one character changed in its own Time" "$WORK/outer-changed.xml" - bad-signature
# xmlsec1 without --node-xpath verifies the first signature in document order, the embedded
# one, and so says OK for an outer KRR whose own content was changed.
xs_ok "outer KRR with its own Time changed: xmlsec1 without --node-xpath checks only the embedded signature" \
	"$WORK/ca.pem" "$WORK/outer-changed.xml"

# the outer built by xmlsec1 (direction xmlsec1 -> mcx-sdtool), embedding our inner KRR
if s_i=$(slurp "$INNER") && split_sig "$T" &&
	o_pre=$(replace_first "$S_PRE" 'Id="krr-5f0c3a"' 'Id="krr-xs-outer"') &&
	o_sig=$(replace_first "$S_SIG" 'URI="#krr-5f0c3a"' 'URI="#krr-xs-outer"'); then
	write "$WORK/xs-outer-t.xml" "$o_pre<EmbeddedKrr>$s_i</EmbeddedKrr>$o_sig$S_POST"
else
	not_ok "the template of an outer KRR is made"
fi
"$XMLSEC1" --sign --privkey-pem "$WORK/signer-key.pem,$WORK/signer.pem" --id-attr:Id "$KRR_NS:KmsRedirectResponse" \
	--node-xpath "$XS_ROOT" --output "$WORK/xs-outer.xml" "$WORK/xs-outer-t.xml" >"$WORK/xs.out" 2>&1 ||
	not_ok "xmlsec1 --sign --node-xpath signs the outer template"
accepts "xmlsec1-signed outer KRR embedding ours" "$WORK/xs-outer.xml"
eq "xmlsec1-signed outer KRR embedding ours: embedded_valid is true" "$(jget .embedded_valid)" true
run "$SDTOOL" krr decode --json "$WORK/xs-outer.xml"
eq "xmlsec1-signed outer KRR embedding ours: krr decode shows both" "$(jget -c "$PICK")" "$(want_json krr-xs-outer "$WANT_INNER")"

# our outer KRR embedding the xmlsec1-signed one (a whole document, XML declaration included)
build "$WORK/outer-xs.xml" --id krr-outer --embed "$XS_SIGNED" --cert "$WORK/signer.pem" --key "$WORK/signer-key.pem"
accepts "our outer KRR embedding the xmlsec1-signed one" "$WORK/outer-xs.xml"
eq "our outer KRR embedding the xmlsec1-signed one: embedded_valid is true" "$(jget .embedded_valid)" true
xs_ok "our outer KRR embedding the xmlsec1-signed one: xmlsec1 verifies the root's signature" "$WORK/ca.pem" "$WORK/outer-xs.xml" --node-xpath "$XS_ROOT"

done_testing
