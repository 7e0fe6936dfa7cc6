/* One configuration generation: load everything a decision needs, or say what is wrong with it. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "pemfiles.h"
#include "world.h"

/* PEM files are small; anything larger is not what the configuration meant. */
#define PEM_MAX (1u << 20)

static int read_pem(const char *path, char **buf, size_t *len, struct conf_diags *d)
{
	FILE *f = fopen(path, "rb");
	char *b = NULL;
	size_t n = 0;

	if (!f || (b = malloc(PEM_MAX + 1)) == NULL) {
		int e = errno;
		if (f)
			fclose(f);
		return conf_diags_add(d, path, 0, "cannot read: %s", strerror(e)) < 0 ? -ENOMEM : -EINVAL;
	}
	n = fread(b, 1, PEM_MAX + 1, f);
	bool bad = ferror(f) || n > PEM_MAX;
	fclose(f);
	if (bad) {
		OPENSSL_cleanse(b, PEM_MAX + 1);
		free(b);
		return conf_diags_add(d, path, 0, "cannot read (or larger than %u octets)", PEM_MAX) < 0 ?
		    -ENOMEM : -EINVAL;
	}
	b[n] = '\0';
	*buf = b;
	*len = n;
	return 0;
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
	conf_skip_private_keys(fn != NULL);
}

static int load_keys(struct world *w, struct conf_diags *d)
{
	const struct conf *c = w->conf;
	struct krr_error e;
	char *cert = NULL, *key = NULL, *anchors = NULL;
	size_t cl = 0, kl = 0, al = 0;
	int rc = 0;

	if (c->krr.certificate && remote_fn) {
		if ((rc = read_pem(c->krr.certificate, &cert, &cl, d)) == 0 &&
		    krr_signer_new_remote(cert, cl, remote_fn, remote_arg, &w->signer, &e) < 0)
			rc = conf_diags_add(d, c->path, 0, "krr.certificate: %s", e.detail) < 0 ? -ENOMEM : -EINVAL;
	} else if (c->krr.certificate) {
		if ((rc = read_pem(c->krr.certificate, &cert, &cl, d)) == 0 &&
		    (rc = read_pem(c->krr.private_key, &key, &kl, d)) == 0 &&
		    krr_signer_new(cert, cl, key, kl, &w->signer, &e) < 0)
			rc = conf_diags_add(d, c->path, 0, "krr.certificate/krr.private_key: %s", e.detail) < 0 ?
			    -ENOMEM : -EINVAL;
	}
	if (rc == 0 && c->krr.trust_anchors) {
		if ((rc = read_pem(c->krr.trust_anchors, &anchors, &al, d)) == 0 &&
		    krr_verifier_new(anchors, al, &w->verifier, &e) < 0)
			rc = conf_diags_add(d, c->krr.trust_anchors, 0, "krr.trust_anchors: %s", e.detail) < 0 ?
			    -ENOMEM : -EINVAL;
	}
	if (rc == 0 && c->krr.crl && w->verifier) {
		char *crls = NULL, why[320];
		size_t crl_len = 0;
		if ((rc = pem_read_path(c->krr.crl, CONF_CRL_MAX, &crls, &crl_len, why, sizeof(why))) < 0)
			rc = rc == -ENOMEM ? -ENOMEM : conf_diags_add(d, c->path, 0, "krr.crl: %s", why) < 0 ? -ENOMEM : -EINVAL;
		else if (krr_verifier_add_crls(w->verifier, crls, crl_len, &e) < 0)
			rc = conf_diags_add(d, c->krr.crl, 0, "krr.crl: %s", e.detail) < 0 ? -ENOMEM : -EINVAL;
		free(crls);
	}
	drop(cert, cl);
	drop(key, kl);
	drop(anchors, al);
	return rc;
}

/* The lookup backend, with the files it needs read here (the ldap backend's password and CAs). */
static int open_lookup(struct world *w, struct conf_diags *d)
{
	const struct conf_ldap *l = &w->conf->lookup.ldap;
	struct lookup_files files = { 0 };
	char *secret = NULL, *ca = NULL, err[256];
	size_t secret_len = 0, ca_len = 0;
	int rc = 0;

	if (strcmp(w->conf->lookup.backend, "ldap") == 0) {
		if (l->bind_secret_file && (rc = read_pem(l->bind_secret_file, &secret, &secret_len, d)) == 0) {
			if (secret_len == 0 || strcspn(secret, "\r\n") == 0)
				rc = conf_diags_add(d, l->bind_secret_file, 0,
				    "lookup.ldap.bind_secret_file: empty (the first line is the password)") < 0 ? -ENOMEM : -EINVAL;
			files.bind_secret = secret;
			files.bind_secret_len = secret_len;
		}
		/* libldap reads the CAs itself when it connects: say now what it would find wrong. */
		if (rc == 0 && l->ca && (rc = read_pem(l->ca, &ca, &ca_len, d)) == 0 && !strstr(ca, "-----BEGIN CERTIFICATE-----"))
			rc = conf_diags_add(d, l->ca, 0, "lookup.ldap.ca: no PEM certificate in it") < 0 ? -ENOMEM : -EINVAL;
	}
	if (rc == 0 && (rc = lookup_open_files(w->conf, &files, &w->lookup, err, sizeof(err))) < 0 &&
	    conf_diags_add(d, w->conf->path, 0, "lookup: %s", err) < 0)
		rc = -ENOMEM;
	drop(secret, secret_len);
	free(ca);
	return rc;
}

int world_load(const char *path, bool keys, struct world **out, struct conf_diags *d)
{
	struct world *w = calloc(1, sizeof(*w));
	int rc;

	if (!w)
		return -ENOMEM;
	w->refs = 1;
	if ((rc = conf_load(path, &w->conf, d)) < 0 || (rc = kms_registry_build(w->conf, &w->kms, d)) < 0)
		goto fail;
	if ((rc = open_lookup(w, d)) < 0)
		goto fail;
	if (keys && (rc = load_keys(w, d)) < 0)
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
