# Oracle test: tshark independently dissects the MIKEY I_MESSAGEs mcx-sdtool builds (raw, in SIP) and the vendor vector.
. "$top_srcdir/tests/lib.sh"

need "$TSHARK" "$TEXT2PCAP" "$JQ"
[ -x "$SDTOOL" ] || { echo "not ok - $SDTOOL is not built"; exit 1; }

TIME=2026-11-29T10:00:00Z
NTP_WANT='Nov 29, 2026 10:00:00.000000000 UTC' # how tshark prints TIME with TZ=UTC
RAND=00112233445566778899aabbccddeeff
ROLES_PLAIN='1;2;6;7'
ROLES_HIDDEN='8;9;6;7'

# eq NAME GOT WANT: one assertion on two strings; shows both on failure.
eq() {
	if [ "$2" = "$3" ]; then
		ok "$1"
	else
		not_ok "$1"
		printf '#   got:  %s\n#   want: %s\n' "$2" "$3"
	fi
}

# hexof STRING: lowercase hex of its octets, no separators.
hexof() { printf %s "$1" | od -An -tx1 -v | tr -d ' \n'; }

# join4 A B C D: "A;B;C;D" (the order of the four IDR payloads).
join4() { printf '%s;%s;%s;%s' "$1" "$2" "$3" "$4"; }

# dissect FILE PORTS: wrap FILE as one UDP datagram (PORTS = src,dst), let
# tshark dissect it, and set ts_* from what it reports.  mikey.id.data is an
# FT_STRING: binary UIDs come out as lossy text, so the exact octets of every
# ID are taken from the JSON "_raw" byte ranges instead (ts_hex).
dissect() {
	ts_type='' ts_roles='' ts_malformed='' ts_stype='' ts_slen='' ts_sakke='' ts_csb=''
	ts_ntp='' ts_method='' ts_kmpid='' ts_ext='' ts_sp='' ts_text='' ts_hex=''
	od -Ax -tx1 -v "$1" | "$TEXT2PCAP" -q -u "$2" - "$1.pcap" >/dev/null 2>&1 || return 0
	TZ=UTC "$TSHARK" -r "$1.pcap" -T fields -E separator='|' -E aggregator=';' -E occurrence=a \
		-e mikey.type -e mikey.id.role -e _ws.malformed -e mikey.sign.type \
		-e mikey.sign.len -e mikey.sakke.len -e mikey.csb_id -e mikey.t.ntp \
		-e sip.Method -e sdp.key_mgmt.kmpid -e mikey.ext.type -e mikey.sp.proto_type \
		-e mikey.id.data >"$1.fields" 2>/dev/null || :
	IFS='|' read -r ts_type ts_roles ts_malformed ts_stype ts_slen ts_sakke ts_csb \
		ts_ntp ts_method ts_kmpid ts_ext ts_sp ts_text <"$1.fields" || :
	ts_hex=$("$TSHARK" -r "$1.pcap" -T json -x --no-duplicate-keys 2>/dev/null |
		"$JQ" -r '[.. | objects | to_entries[] | select(.key == "mikey.id.data_raw")
			| .value | if (.[0] | type) == "array" then .[][0] else .[0] end]
			| join(";")' 2>/dev/null) || ts_hex=
}

# ours FILE: our decoder on FILE; sets our_rc and our_* (values: text, or hex when binary).
ours() {
	our_roles='' our_vals='' our_hex='' our_csb='' our_time='' our_uidi='' our_uidr=''
	run "$SDTOOL" mikey decode --json "$1"
	our_rc=$RC
	[ "$RC" -eq 0 ] || return 0
	# shellcheck disable=SC2046,SC2016 # split on purpose; $ids is jq's
	set -- $("$JQ" -r '
		[.payloads[] | select(.type == "IDR")] as $ids
		| ($ids | map(.role_id | tostring) | join(";")),
		  (.csb_id | tostring), .timestamp, (.uidi // "-"), (.uidr // "-")' "$WORK/out" 2>/dev/null) || return 0
	[ $# -eq 5 ] || return 0
	our_roles=$1 our_time=$3 our_uidi=$4 our_uidr=$5
	our_csb=$(printf '0x%08x' "$2")
	our_vals=$("$JQ" -r '[.payloads[] | select(.type == "IDR") | .value // .value_hex] | join(";")' "$WORK/out")
	# the octets of each ID as we decoded them: text values re-encoded, binary ones as given
	our_hex=
	n=0
	while [ $n -lt 4 ]; do
		# shellcheck disable=SC2016 # $n is jq's
		v=$("$JQ" -r --argjson n $n '[.payloads[] | select(.type == "IDR")][$n] | if .value != null then "t" + .value else "h" + (.value_hex // "") end' "$WORK/out")
		case $v in t*) h=$(hexof "${v#t}") ;; *) h=${v#h} ;; esac
		our_hex=${our_hex:+$our_hex;}$h
		n=$((n + 1))
	done
}

# verify LABEL FILE PORTS CSB IDRKMSI IDRKMSR [IDRI IDRR]
# Dissect FILE with tshark and with our decoder, and compare both with what we
# built.  Without IDRI/IDRR the identities are hidden: tshark must then show
# roles 8/9 whose octets are the UIDs our decoder reports.
verify() {
	label=$1 f=$2 ports=$3 csb=$4 ki=$5 kr=$6
	shift 6
	dissect "$f" "$ports"
	ours "$f"
	eq "$label: our decoder accepts it" "$our_rc" 0
	eq "$label: tshark dissects a MIKEY SAKKE I_MESSAGE (data type 26)" "$ts_type" 26
	eq "$label: tshark flags nothing malformed" "$ts_malformed" ""
	if [ $# -eq 2 ]; then
		roles=$ROLES_PLAIN
		want_text=$(join4 "$1" "$2" "$ki" "$kr")
		want_hex=$(join4 "$(hexof "$1")" "$(hexof "$2")" "$(hexof "$ki")" "$(hexof "$kr")")
		eq "$label: tshark ID roles are IDRi,IDRr,IDRkmsi,IDRkmsr in order" "$ts_roles" "$roles"
		eq "$label: tshark ID values (text) are the expected URIs, in order" "$ts_text" "$want_text"
		eq "$label: tshark ID octets are exactly the expected URIs" "$ts_hex" "$want_hex"
		eq "$label: tshark ID values equal our decoder's" "$ts_text" "$our_vals"
	else
		roles=$ROLES_HIDDEN
		want_hex=$(join4 "$our_uidi" "$our_uidr" "$(hexof "$ki")" "$(hexof "$kr")")
		eq "$label: tshark ID roles are IDRuidi,IDRuidr,IDRkmsi,IDRkmsr in order" "$ts_roles" "$roles"
		# shellcheck disable=SC2016 # expanded by eval
		check "$label: our decoder reports 32-octet UIDs" \
			eval '[ ${#our_uidi} -eq 64 ] && [ ${#our_uidr} -eq 64 ]'
		eq "$label: tshark IDRuidi/IDRuidr octets are our decoder's UIDs, IDRkms* octets the expected URIs" \
			"$ts_hex" "$want_hex"
		case $ts_text in
		*";$ki;$kr") ok "$label: tshark IDRkmsi/IDRkmsr values (text) are the expected URIs" ;;
		*) not_ok "$label: tshark IDRkmsi/IDRkmsr values (text) are the expected URIs"
			printf '#   got:  %s\n#   want: ...;%s;%s\n' "$ts_text" "$ki" "$kr" ;;
		esac
	fi
	eq "$label: tshark ID roles equal our decoder's" "$ts_roles" "$our_roles"
	eq "$label: tshark ID octets equal our decoder's" "$ts_hex" "$our_hex"
	eq "$label: tshark SIGN type is ECCSI (2)" "$ts_stype" 2
	eq "$label: tshark SIGN length is 129" "$ts_slen" 129
	eq "$label: tshark SAKKE data length is 273" "$ts_sakke" 273
	eq "$label: tshark CSB ID is the expected one" "$ts_csb" "$csb"
	eq "$label: tshark CSB ID equals our decoder's" "$ts_csb" "$our_csb"
}

# build NAME CSB IDRI IDRR IDRKMSI IDRKMSR OUTPUT [--hide]: $WORK/NAME.OUTPUT
build() {
	b_out="$WORK/$1.$7"
	b_csb=$2
	shift 2
	b_ri=$1 b_rr=$2 b_ki=$3 b_kr=$4 b_fmt=$5
	shift 5
	"$SDTOOL" mikey build --idri "$b_ri" --idrr "$b_rr" --idrkmsi "$b_ki" --idrkmsr "$b_kr" \
		--time "$TIME" --csb-id "$b_csb" --rand "$RAND" "$@" --output "$b_fmt" >"$b_out" ||
		not_ok "mcx-sdtool mikey build $* --output $b_fmt succeeds"
}

LONG_USER=$(printf '%0300d' 0 | tr 0 u)     # IDRi of 320 octets: length high octet 1
LONG_KMS=$(printf '%0260d' 0 | tr 0 k)      # IDRkmsr of 272 octets

# --- 1. raw MIKEY over UDP 2269 ------------------------------------------------
build typical 0x16992638 sip:alice@mcx.home.example sip:bob@mcx.partner.example \
	kms.home.example kms.partner.example raw
verify "raw typical" "$WORK/typical.raw" 40000,2269 0x16992638 \
	kms.home.example kms.partner.example sip:alice@mcx.home.example sip:bob@mcx.partner.example
eq "raw typical: tshark T payload is the --time we gave" "$ts_ntp" "$NTP_WANT"
eq "raw typical: our decoder's T payload is the --time we gave" "$our_time" "$TIME"

build short 0x10000001 sip:a@b tel:+1 k kms raw
verify "raw short URIs" "$WORK/short.raw" 40000,2269 0x10000001 k kms sip:a@b tel:+1

build long 0x1fffffff "sip:$LONG_USER@long.example" sip:x@y kms.example.org "kms.$LONG_KMS.example" raw
verify "raw long URIs (>255 octets)" "$WORK/long.raw" 40000,2269 0x1fffffff \
	kms.example.org "kms.$LONG_KMS.example" "sip:$LONG_USER@long.example" sip:x@y

build hidden 0x1abcdef0 sip:alice@mcx.home.example sip:bob@mcx.partner.example \
	kms.home.example kms.partner.example raw --hide
verify "raw --hide" "$WORK/hidden.raw" 40000,2269 0x1abcdef0 kms.home.example kms.partner.example
eq "raw --hide: tshark T payload is the --time we gave" "$ts_ntp" "$NTP_WANT"

# --- 2. the same messages inside a SIP INVITE over UDP 5060 ----------------------
# tshark 4.0.17 decodes session-level a=key-mgmt only (media level is not dissected).
sip_body_is() { # SIPFILE RAWFILE: the key-mgmt base64 decodes to exactly RAWFILE
	sed -n 's/^a=key-mgmt:mikey \([A-Za-z0-9+/=]*\).*$/\1/p' "$1" | head -n 1 | base64 -d >"$1.mikey" 2>/dev/null &&
		cmp -s "$1.mikey" "$2"
}
build typical 0x16992638 sip:alice@mcx.home.example sip:bob@mcx.partner.example \
	kms.home.example kms.partner.example sip
check "sip typical: a=key-mgmt carries the same octets as the raw message" \
	sip_body_is "$WORK/typical.sip" "$WORK/typical.raw"
verify "sip typical" "$WORK/typical.sip" 5060,5060 0x16992638 \
	kms.home.example kms.partner.example sip:alice@mcx.home.example sip:bob@mcx.partner.example
eq "sip typical: tshark sees a SIP INVITE" "$ts_method" INVITE
eq "sip typical: tshark sees SDP key-mgmt protocol mikey" "$ts_kmpid" mikey

build hidden 0x1abcdef0 sip:alice@mcx.home.example sip:bob@mcx.partner.example \
	kms.home.example kms.partner.example sip --hide
check "sip --hide: a=key-mgmt carries the same octets as the raw message" \
	sip_body_is "$WORK/hidden.sip" "$WORK/hidden.raw"
verify "sip --hide" "$WORK/hidden.sip" 5060,5060 0x1abcdef0 kms.home.example kms.partner.example
eq "sip --hide: tshark sees a SIP INVITE" "$ts_method" INVITE
eq "sip --hide: tshark sees SDP key-mgmt protocol mikey" "$ts_kmpid" mikey

# --- 3. the real vendor I_MESSAGE (Streamwide PCK vector) -------------------------
VKMS=kms.mydev.streamwide.com
base64 -d "$DATA/vendor-pck.b64" >"$WORK/vendor.raw"
verify "vendor PCK" "$WORK/vendor.raw" 40000,2269 0x16992638 "$VKMS" "$VKMS"
eq "vendor PCK: tshark sees the GEN EXT type 7 (3GPP key parameters)" "$ts_ext" 7
eq "vendor PCK: tshark sees the SP payload (protocol SRTP, 0)" "$ts_sp" 0

# --- 3b. a real client's I_MESSAGE with NUL-terminated KMS URIs (Streamwide SmartMS) ---
# IDRkmsi and IDRkmsr hold "streamwide.com" and a NUL octet; IDRi and IDRr 32-octet UIDs.
base64 -d "$DATA/smartms-pck.b64" >"$WORK/smartms.raw"
dissect "$WORK/smartms.raw" 40000,2269
eq "SmartMS: tshark dissects a MIKEY SAKKE I_MESSAGE, nothing malformed" "$ts_type|$ts_malformed" "26|"
eq "SmartMS: the KMS octets end in a NUL" "$(printf %s "$ts_hex" | awk -F';' '{ print $(NF-1) ";" $NF }')" \
	"$(hexof streamwide.com)00;$(hexof streamwide.com)00"
eq "SmartMS: tshark shows IDRkmsi and IDRkmsr as streamwide.com" \
	"$(printf %s "$ts_text" | awk -F';' '{ print $(NF-1) ";" $NF }')" "streamwide.com;streamwide.com"
run "$SDTOOL" mikey decode --json "$WORK/smartms.raw"
eq "SmartMS: our decoder reads the KMS URIs as tshark does (the NUL is no part of them)" \
	"$RC $("$JQ" -r '[.idrkmsi, .idrkmsr] | join(";")' "$WORK/out" 2>/dev/null)" "0 streamwide.com;streamwide.com"

# --- 4. negative control: the oracle can fail ------------------------------------
n=$(wc -c <"$WORK/typical.raw")
dd if="$WORK/typical.raw" of="$WORK/trunc.raw" bs=$((n - 10)) count=1 2>/dev/null
eq "truncated by 10 octets: the file is 10 octets shorter" "$(wc -c <"$WORK/trunc.raw" | tr -d ' ')" $((n - 10))
dissect "$WORK/trunc.raw" 40000,2269
eq "truncated by 10 octets: tshark still sees a MIKEY SAKKE message" "$ts_type" 26
check "truncated by 10 octets: tshark flags it malformed" [ -n "$ts_malformed" ]
run "$SDTOOL" mikey decode --json "$WORK/trunc.raw"
eq "truncated by 10 octets: our decoder exits 1" "$RC" 1

done_testing
