/* One configuration generation, and the one loader of the files a configuration names: load everything a decision needs, or say what is wrong with it. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "pemfiles.h"
#include "tls_creds.h"
#include "world.h"

/* PEM files are small; anything larger is not what the configuration meant. */
#define PEM_MAX (1u << 20)

/* A problem with the file that the setting at `at` names: "file:line: text"; -EINVAL, or -ENOMEM. */
__attribute__((format(printf, 4, 5)))
static int problem(struct conf_diags *d, const struct conf *c, const struct conf_at *at, const char *fmt, ...)
{
	char *text;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&text, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	n = conf_diags_add(d, conf_at_file(c, at), at->line, "%s", text);
	free(text);
	return n < 0 ? -ENOMEM : -EINVAL;
}

/* The worse of two results: -ENOMEM, then -EINVAL, then 0. */
static int worse(int a, int b)
{
	return a == -ENOMEM || b == -ENOMEM ? -ENOMEM : a < 0 || b < 0 ? -EINVAL : 0;
}

/* Read the file that setting key names (at `at`); 0, -EINVAL reported, or -ENOMEM. */
static int read_setting(struct conf_diags *d, const struct conf *c, const struct conf_at *at, const char *key,
    const char *path, char **buf, size_t *len)
{
	int rc = pem_read_file(path, PEM_MAX, buf, len);

	if (rc == -ENOMEM || rc == 0)
		return rc;
	return problem(d, c, at, "%s: cannot read %s: %s", key, path, strerror(-rc));
}

/* Free a buffer that may have held a private key. */
static void drop(char *b, size_t len)
{
	if (b)
		OPENSSL_cleanse(b, len);
	free(b);
}

static krr_sign_fn *remote_fn;
static void *remote_arg;

void world_set_remote_signer(krr_sign_fn *fn, void *arg)
{
	remote_fn = fn;
	remote_arg = arg;
}

/* krr.certificate and, unless another process signs, krr.private_key: w->signer. */
static int load_signer(struct world *w, struct conf_diags *d)
{
	const struct conf *c = w->conf;
	struct krr_signer *s = NULL;
	struct krr_error e;
	char *cert = NULL, *key = NULL;
	size_t cl = 0, kl = 0;
	int rc, krc = 0;

	rc = read_setting(d, c, &c->krr.certificate_at, "krr.certificate", c->krr.certificate, &cert, &cl);
	if (!remote_fn && rc != -ENOMEM)
		krc = read_setting(d, c, &c->krr.private_key_at, "krr.private_key", c->krr.private_key, &key, &kl);
	if (rc == 0 && (rc = krr_signer_new_cert(cert, cl, &s, &e)) < 0) {
		if (rc == -ENOENT)
			rc = problem(d, c, &c->krr.certificate_at, "krr.certificate: no PEM certificate in %s",
			    c->krr.certificate);
		else if (rc != -ENOMEM)
			rc = problem(d, c, &c->krr.certificate_at, "krr.certificate: %s", e.detail);
	}
	if (rc == 0 && krc == 0) {
		if (remote_fn)
			krr_signer_set_remote(s, remote_fn, remote_arg);
		else if ((krc = krr_signer_set_key(s, key, kl, &e)) < 0 && krc != -ENOMEM)
			krc = problem(d, c, &c->krr.private_key_at, "krr.private_key: %s", e.detail);
	}
	drop(cert, cl);
	drop(key, kl);
	if ((rc = worse(rc, krc)) < 0) {
		krr_signer_free(s);
		return rc;
	}
	w->signer = s;
	return 0;
}

/* krr.trust_anchors and krr.crl: w->verifier. */
static int load_verifier(struct world *w, struct conf_diags *d)
{
	const struct conf *c = w->conf;
	struct krr_verifier *v = NULL;
	struct krr_error e;
	char *anchors = NULL, *crls = NULL, why[320];
	size_t al = 0, crl_len = 0;
	int rc;

	if ((rc = read_setting(d, c, &c->krr.trust_anchors_at, "krr.trust_anchors", c->krr.trust_anchors, &anchors,
	    &al)) < 0)
		return rc;
	rc = krr_verifier_new(anchors, al, &v, &e);
	free(anchors);
	if (rc < 0)
		return rc == -ENOMEM ? rc : problem(d, c, &c->krr.trust_anchors_at, "krr.trust_anchors: %s", e.detail);
	if (c->krr.crl) {
		if ((rc = pem_read_path(c->krr.crl, CONF_CRL_MAX, &crls, &crl_len, why, sizeof(why))) < 0)
			rc = rc == -ENOMEM ? rc : problem(d, c, &c->krr.crl_at, "krr.crl: %s", why);
		else if ((rc = krr_verifier_add_crls(v, crls, crl_len, &e)) < 0 && rc != -ENOMEM)
			rc = problem(d, c, &c->krr.crl_at, "krr.crl: %s", e.detail);
		free(crls);
	}
	if (rc < 0) {
		krr_verifier_free(v);
		return rc;
	}
	w->verifier = v;
	return 0;
}

/* The KRR files need asks for: the signer, the verifier. */
static int load_krr(struct world *w, unsigned need, struct conf_diags *d)
{
	const struct conf *c = w->conf;
	int rc = 0;

	/* In the order of the file (certificate and key, then trust anchors and CRLs), each reported. */
	if ((need & WORLD_SIGN) && c->krr.certificate)
		rc = load_signer(w, d);
	if (rc != -ENOMEM && (need & WORLD_VERIFY) && c->krr.trust_anchors)
		rc = worse(rc, load_verifier(w, d));
	return rc;
}

/* The lookup backend, with the files it needs read here (the ldap backend's password, its CAs checked). */
static int open_lookup(struct world *w, struct conf_diags *d)
{
	const struct conf *c = w->conf;
	const struct conf_ldap *l = &c->lookup.ldap;
	struct lookup_files files = { 0 };
	char *secret = NULL, *ca = NULL, err[256];
	size_t secret_len = 0, ca_len = 0;
	int rc = 0;

	if (strcmp(c->lookup.backend, "ldap") == 0) {
		if (l->bind_secret_file &&
		    (rc = read_setting(d, c, &l->bind_secret_file_at, "lookup.ldap.bind_secret_file", l->bind_secret_file,
		    &secret, &secret_len)) == 0) {
			if (secret_len == 0 || strcspn(secret, "\r\n") == 0)
				rc = problem(d, c, &l->bind_secret_file_at,
				    "lookup.ldap.bind_secret_file: %s is empty (its first line is the password)",
				    l->bind_secret_file);
			files.bind_secret = secret;
			files.bind_secret_len = secret_len;
		}
		/* libldap reads the CAs itself when it connects: say now what it would find wrong. */
		if (l->ca && rc != -ENOMEM) {
			int crc = read_setting(d, c, &l->ca_at, "lookup.ldap.ca", l->ca, &ca, &ca_len);
			if (crc == 0 && !strstr(ca, "-----BEGIN CERTIFICATE-----"))
				crc = problem(d, c, &l->ca_at, "lookup.ldap.ca: no PEM certificate in %s", l->ca);
			rc = worse(rc, crc);
		}
	}
	if (rc == 0 && (rc = lookup_open_files(c, &files, &w->lookup, err, sizeof(err))) < 0 &&
	    conf_diags_add(d, c->path, 0, "lookup: %s", err) < 0)
		rc = -ENOMEM;
	drop(secret, secret_len);
	free(ca);
	return rc;
}

/* The TLS files, checked (not kept: the SIP stack reads them itself when it listens). */
static int check_tls(const struct conf *c, struct conf_diags *d)
{
	static const char *const keys[] = { [TLS_CERTIFICATE] = "certificate", [TLS_PRIVATE_KEY] = "private_key",
		[TLS_CA] = "ca" };
	const struct conf_at *at[] = { [TLS_CERTIFICATE] = &c->tls.certificate_at,
		[TLS_PRIVATE_KEY] = &c->tls.private_key_at, [TLS_CA] = &c->tls.ca_at };
	struct tls_problem pr[TLS_PROBLEMS_MAX];
	int n, rc = 0;

	if (!c->tls.certificate || !c->tls.private_key)
		return 0;
	if ((n = tls_creds_check(c->tls.certificate, c->tls.private_key, c->tls.ca, time(NULL), pr)) < 0)
		return -ENOMEM;
	for (int k = 0; k < n; k++)
		rc = worse(rc, problem(d, c, at[pr[k].setting], "tls.%s: %s", keys[pr[k].setting], pr[k].msg));
	return rc;
}

int world_load(const char *path, unsigned need, struct world **out, struct conf_diags *d)
{
	struct world *w = calloc(1, sizeof(*w));
	int rc;

	if (!w)
		return -ENOMEM;
	w->refs = 1;
	if ((rc = conf_load(path, &w->conf, d)) < 0)
		goto fail;
	/* KmsCertificate files and KRR keys go through libxml2 and xmlsec, set up once per process. */
	if (krr_global_init() < 0) {
		rc = conf_diags_add(d, path, 0, "cannot initialise libxml2 and xmlsec") < 0 ? -ENOMEM : -EINVAL;
		goto fail;
	}
	/* The configuration holds: every file it names, once each, every problem reported. */
	rc = kms_registry_build(w->conf, &w->kms, d);
	if (rc != -ENOMEM) {
		rc = worse(rc, open_lookup(w, d));
	}
	if (rc != -ENOMEM)
		rc = worse(rc, load_krr(w, need, d));
	if (rc != -ENOMEM && (need & WORLD_TLS))
		rc = worse(rc, check_tls(w->conf, d));
	if (rc < 0)
		goto fail;
	if ((rc = access_new(w->conf, &w->access)) < 0)
		goto fail;	/* conf_load checked every entry: only memory can fail */
	*out = w;
	return 0;
fail:
	world_unref(w);
	return rc == -ENOMEM ? -ENOMEM : -EINVAL;
}

struct world *world_ref(struct world *w)
{
	w->refs++;
	return w;
}

void world_unref(struct world *w)
{
	if (!w || --w->refs > 0)
		return;
	access_free(w->access);
	krr_verifier_free(w->verifier);
	krr_signer_free(w->signer);
	lookup_close(w->lookup);
	kms_registry_free(w->kms);
	conf_free(w->conf);
	free(w);
}

struct policy_ctx world_policy_ctx(struct world *w)
{
	return (struct policy_ctx){ .conf = w->conf, .kms = w->kms, .lookup = w->lookup,
		.signer = w->signer, .verifier = w->verifier };
}
