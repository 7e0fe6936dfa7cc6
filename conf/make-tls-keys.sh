#!/bin/sh
# Make TLS credentials for SIP over TLS between mcx-sdproxyd and its peers: one ECDSA P-256
# CA (the peers' CA: tls.ca) and certificates it issues, for tests and trials.  An operator's
# own PKI issues the real ones.
#
# Usage: make-tls-keys.sh DIR NAME SAN [SAN ...]
#   SAN: as openssl writes a subjectAltName: URI:sip:sdproxy@home.example,
#        DNS:sdproxy.home.example, IP:127.0.0.1
#
# Writes, with the openssl command:
#   DIR/tls-ca.pem            the CA certificate (tls.ca, and the peers' CA list)
#   DIR/tls-ca-key.pem        the CA private key: keep it offline
#   DIR/NAME-cert.pem         NAME's certificate (tls.certificate), for TLS servers and clients
#   DIR/NAME-key.pem          its private key (tls.private_key), mode 600
# An existing CA in DIR is reused.  CA_DAYS (default 3650) and DAYS (default 730) set the
# validity periods (DAYS=-1 makes a certificate that has already expired, for tests);
# OPENSSL names the openssl command.
set -eu

if [ $# -lt 3 ] || [ "$1" = "-h" ]; then
	echo "usage: $0 DIR NAME SAN [SAN ...]" >&2
	exit 2
fi
dir=$1 name=$2
shift 2
openssl=${OPENSSL:-openssl}
ca_days=${CA_DAYS:-3650}
days=${DAYS:-730}
sans=$(printf '%s,' "$@")
sans=${sans%,}

umask 077
mkdir -p "$dir"
cd "$dir"

if [ ! -f tls-ca-key.pem ] || [ ! -f tls-ca.pem ]; then
	"$openssl" genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out tls-ca-key.pem
	"$openssl" req -x509 -new -key tls-ca-key.pem -sha256 -days "$ca_days" \
	    -subj "/CN=MCX SIP peers CA $(basename "$(pwd)")" \
	    -addext basicConstraints=critical,CA:TRUE \
	    -addext keyUsage=critical,keyCertSign,cRLSign \
	    -out tls-ca.pem
	chmod 644 tls-ca.pem
fi

"$openssl" genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$name-key.pem"
"$openssl" req -new -key "$name-key.pem" -subj "/CN=$name" -out "$name.csr"
printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
    "extendedKeyUsage=serverAuth,clientAuth" "subjectAltName=$sans" >"$name.ext"
"$openssl" x509 -req -in "$name.csr" -CA tls-ca.pem -CAkey tls-ca-key.pem -CAcreateserial \
    -sha256 -days "$days" -extfile "$name.ext" -out "$name-cert.pem" 2>/dev/null
rm -f "$name.csr" "$name.ext"
chmod 644 "$name-cert.pem"
