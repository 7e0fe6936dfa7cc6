/* TLS credentials: checks of the files, and peer identities (see tls_creds.h). */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "tls_creds.h"

/* Files larger than this are no PEM credentials of ours. */
#define CREDS_MAX_FILE (1024 * 1024)

struct problems {
	struct tls_problem *v;
	int n;
};

__attribute__((format(printf, 3, 4)))
static void problem(struct problems *p, enum tls_setting s, const char *fmt, ...)
{
	va_list ap;

	if (p->n >= TLS_PROBLEMS_MAX)
		return;
	p->v[p->n].setting = s;
	va_start(ap, fmt);
	vsnprintf(p->v[p->n].msg, sizeof(p->v[p->n].msg), fmt, ap);
	va_end(ap);
	p->n++;
}

/* A BIO on the file, or NULL with why (errno's words). */
static BIO *open_file(const char *path, char *why, size_t cap)
{
	FILE *f = fopen(path, "re");
	long size;

	if (!f) {
		snprintf(why, cap, "cannot read %s: %s", path, strerror(errno));
		return NULL;
	}
	if (fseek(f, 0, SEEK_END) < 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0) {
		snprintf(why, cap, "cannot read %s: %s", path, strerror(errno ? errno : EIO));
		fclose(f);
		return NULL;
	}
	if (size > CREDS_MAX_FILE) {
		snprintf(why, cap, "%s: larger than %d octets", path, CREDS_MAX_FILE);
		fclose(f);
		return NULL;
	}
	BIO *b = BIO_new_fp(f, BIO_CLOSE);
	if (!b) {
		fclose(f);
		snprintf(why, cap, "out of memory");
	}
	return b;
}

/* Every PEM certificate of a file (other PEM blocks skipped); NULL with why when none. */
static STACK_OF(X509) *read_certs(const char *path, char *why, size_t cap)
{
	BIO *b = open_file(path, why, cap);
	STACK_OF(X509) *certs;
	X509 *x;

	if (!b)
		return NULL;
	if ((certs = sk_X509_new_null()) == NULL) {
		BIO_free(b);
		snprintf(why, cap, "out of memory");
		return NULL;
	}
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
		if (!sk_X509_push(certs, x)) {
			X509_free(x);
			break;
		}
	ERR_clear_error();	/* the end of the file reads as an error */
	BIO_free(b);
	if (sk_X509_num(certs) == 0) {
		sk_X509_free(certs);
		snprintf(why, cap, "no PEM certificate in %s", path);
		return NULL;
	}
	return certs;
}

/* A passphrase callback that has none: an encrypted key does not load (the daemon runs unattended). */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

static void time_text(const ASN1_TIME *t, char *out, size_t cap)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p;
	long n;

	snprintf(out, cap, "?");
	if (!b)
		return;
	if (ASN1_TIME_print(b, t) && (n = BIO_get_mem_data(b, &p)) > 0)
		snprintf(out, cap, "%.*s", (int)n, p);
	BIO_free(b);
}

/* "expired on ..." / "not valid before ..." / NULL when valid at now. */
static const char *validity(X509 *x, time_t now, char *when, size_t cap)
{
	if (X509_cmp_time(X509_get0_notAfter(x), &now) < 0) {
		time_text(X509_get0_notAfter(x), when, cap);
		return "expired on";
	}
	if (X509_cmp_time(X509_get0_notBefore(x), &now) > 0) {
		time_text(X509_get0_notBefore(x), when, cap);
		return "is not valid before";
	}
	return NULL;
}

static void check_key(struct problems *p, const char *path, X509 *leaf, const char *cert_path)
{
	char why[256];
	BIO *b = open_file(path, why, sizeof(why));
	EVP_PKEY *key;

	if (!b) {
		problem(p, TLS_PRIVATE_KEY, "%s", why);
		return;
	}
	key = PEM_read_bio_PrivateKey(b, NULL, no_passphrase, NULL);
	ERR_clear_error();
	BIO_free(b);
	if (!key) {
		problem(p, TLS_PRIVATE_KEY, "no unencrypted PEM private key in %s", path);
		return;
	}
	if (leaf && X509_check_private_key(leaf, key) != 1)
		problem(p, TLS_PRIVATE_KEY, "the key in %s does not match the certificate in %s", path, cert_path);
	ERR_clear_error();
	EVP_PKEY_free(key);
}

static void check_ca(struct problems *p, const char *path, time_t now)
{
	char why[256], when[64];
	STACK_OF(X509) *cas = read_certs(path, why, sizeof(why));
	int valid = 0;

	if (!cas) {
		problem(p, TLS_CA, "%s", why);
		return;
	}
	for (int i = 0; i < sk_X509_num(cas); i++)
		if (!validity(sk_X509_value(cas, i), now, when, sizeof(when)))
			valid++;
	if (valid == 0)
		problem(p, TLS_CA, "no certificate in %s is valid now (%d expired or not yet valid)", path,
		    sk_X509_num(cas));
	sk_X509_pop_free(cas, X509_free);
}

int tls_creds_check(const char *certificate, const char *private_key, const char *ca, time_t now,
    struct tls_problem out[TLS_PROBLEMS_MAX])
{
	struct problems p = { .v = out };
	char why[256], when[64];
	STACK_OF(X509) *chain = read_certs(certificate, why, sizeof(why));
	X509 *leaf = chain ? sk_X509_value(chain, 0) : NULL;
	const char *bad;

	if (!chain)
		problem(&p, TLS_CERTIFICATE, "%s", why);
	else if ((bad = validity(leaf, now, when, sizeof(when))) != NULL)
		problem(&p, TLS_CERTIFICATE, "the certificate in %s %s %s", certificate, bad, when);
	check_key(&p, private_key, leaf, certificate);
	if (ca)
		check_ca(&p, ca, now);
	sk_X509_pop_free(chain, X509_free);
	return p.n;
}

bool tls_uri(const char *uri)
{
	const char *t;

	if (strncasecmp(uri, "sips:", 5) == 0)
		return true;
	for (t = strchr(uri, ';'); t; t = strchr(t + 1, ';'))
		if (strncasecmp(t, ";transport=tls", 14) == 0 && (t[14] == '\0' || t[14] == ';' || t[14] == '?'))
			return true;
	return false;
}

static void append(char *out, size_t cap, const char *what, const unsigned char *s, int n)
{
	size_t len = strlen(out);

	if (len < cap)
		snprintf(out + len, cap - len, "%s%s:%.*s", len ? ", " : "", what, n, (const char *)s);
}

bool tls_identity_match(X509 *cert, const char *const *ids, size_t n_ids, char *shown, size_t cap)
{
	GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	bool match = false;

	if (cap)
		shown[0] = '\0';
	for (int i = 0; names && i < sk_GENERAL_NAME_num(names); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
		if (g->type == GEN_URI)
			append(shown, cap, "URI", ASN1_STRING_get0_data(g->d.uniformResourceIdentifier),
			    ASN1_STRING_length(g->d.uniformResourceIdentifier));
		else if (g->type == GEN_DNS)
			append(shown, cap, "DNS", ASN1_STRING_get0_data(g->d.dNSName), ASN1_STRING_length(g->d.dNSName));
	}
	if (cap && !shown[0])
		X509_NAME_oneline(X509_get_subject_name(cert), shown, (int)(cap > 256 ? 256 : cap));
	for (size_t k = 0; k < n_ids && !match; k++) {
		const char *id = ids[k];
		if (strchr(id, ':')) {
			size_t len = strlen(id);
			for (int i = 0; names && i < sk_GENERAL_NAME_num(names) && !match; i++) {
				const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
				/* the exact URI: no NUL inside, the same length, the same text */
				match = g->type == GEN_URI &&
				    (size_t)ASN1_STRING_length(g->d.uniformResourceIdentifier) == len &&
				    strncasecmp((const char *)ASN1_STRING_get0_data(g->d.uniformResourceIdentifier), id,
				    len) == 0 && !memchr(ASN1_STRING_get0_data(g->d.uniformResourceIdentifier), '\0', len);
			}
		} else {
			/* DNS names only (no fallback to the subject's CN when the certificate has DNS names, RFC 6125) */
			match = X509_check_host(cert, id, 0, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT, NULL) == 1;
		}
	}
	GENERAL_NAMES_free(names);
	ERR_clear_error();
	return match;
}
