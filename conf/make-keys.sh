#!/bin/sh
# Make the KRR keys the example configurations name: one ECDSA P-256 CA and one signer per domain.
#
# Usage: make-keys.sh DIR [DOMAIN ...]          (domains: home.example partner.example)
#
# Writes, with the openssl command:
#   DIR/krr-ca.pem               the CA certificate: krr.trust_anchors of every domain
#   DIR/krr-ca-key.pem           the CA private key: keep it offline, it issues signers
#   DIR/krr-ca.srl               the serial number of the last certificate it issued
#   DIR/DOMAIN/krr-cert.pem      the domain's signing certificate (krr.certificate),
#                                subjectAltName URI:sip:sdproxy@DOMAIN (its server.uri)
#   DIR/DOMAIN/krr-key.pem       its ECDSA P-256 private key (krr.private_key), mode 600
# An existing CA in DIR is reused, so more domains can be added later.
# CA_DAYS (default 3650) and DAYS (default 730) set the validity periods;
# OPENSSL names the openssl command.
set -eu

if [ $# -lt 1 ] || [ "$1" = "-h" ]; then
	echo "usage: $0 DIR [DOMAIN ...]" >&2
	exit 2
fi
dir=$1
shift
[ $# -gt 0 ] || set -- home.example partner.example
openssl=${OPENSSL:-openssl}
ca_days=${CA_DAYS:-3650}
days=${DAYS:-730}

umask 077
mkdir -p "$dir"
cd "$dir"

if [ ! -f krr-ca-key.pem ] || [ ! -f krr-ca.pem ]; then
	"$openssl" genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out krr-ca-key.pem
	"$openssl" req -x509 -new -key krr-ca-key.pem -sha256 -days "$ca_days" \
	    -subj "/CN=MCX KRR signing CA" \
	    -addext basicConstraints=critical,CA:TRUE \
	    -addext keyUsage=critical,keyCertSign,cRLSign \
	    -out krr-ca.pem
	chmod 644 krr-ca.pem
fi

for domain; do
	mkdir -p "$domain"
	chmod 755 "$domain"
	"$openssl" genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$domain/krr-key.pem"
	"$openssl" req -new -key "$domain/krr-key.pem" -subj "/CN=sdproxy.$domain" -out "$domain/krr.csr"
	printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
	    "subjectAltName=URI:sip:sdproxy@$domain" > "$domain/krr.ext"
	"$openssl" x509 -req -in "$domain/krr.csr" -CA krr-ca.pem -CAkey krr-ca-key.pem -CAcreateserial \
	    -sha256 -days "$days" -extfile "$domain/krr.ext" -out "$domain/krr-cert.pem"
	chmod 644 "$domain/krr-cert.pem"
	rm -f "$domain/krr.csr" "$domain/krr.ext"
done
