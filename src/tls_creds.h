/*
 * TLS credentials (tls = { ... }): what `-t` and a reload check in the
 * certificate, private key and CA files before the SIP stack is given them,
 * and whether a peer's certificate shows one of tls.peer_identities.
 * OpenSSL only: no SIP stack, no sockets.
 */
#ifndef MCX_TLS_CREDS_H
#define MCX_TLS_CREDS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <openssl/x509.h>

/* Which setting a problem is about. */
enum tls_setting { TLS_CERTIFICATE, TLS_PRIVATE_KEY, TLS_CA };

struct tls_problem {
	enum tls_setting setting;
	char msg[320];
};

#define TLS_PROBLEMS_MAX 4

/*
 * Check the files as the daemon will use them at time now: the certificate
 * file holds PEM certificates, the first one (this server's) valid now; the
 * key file an unencrypted PEM private key that matches it; the CA file
 * (NULL: not checked) at least one PEM certificate, not all of them
 * expired.  Returns how many problems went to out (at most
 * TLS_PROBLEMS_MAX), 0 when none, -1 when out of memory.
 */
int tls_creds_check(const char *certificate, const char *private_key, const char *ca, time_t now,
    struct tls_problem out[TLS_PROBLEMS_MAX]);

/* Is this listen or next-hop URI one for TLS: sips:, or ;transport=tls? */
bool tls_uri(const char *uri);

/*
 * Does cert show one of ids: an id with a scheme ("sip:user@host") matches
 * a subjectAltName URI (case-insensitively), any other a DNS name (with
 * the certificate's wildcards, RFC 6125).  *shown gets what the certificate
 * shows (its URIs and DNS names, or its subject when it has none), for the
 * log.
 */
bool tls_identity_match(X509 *cert, const char *const *ids, size_t n_ids, char *shown, size_t cap);

#endif
