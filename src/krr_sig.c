/* KRR XML Signature (TS 33.180 D.4.2): sign into xmlsec's template, verify with xmlsec against trust anchors. */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <libxml/c14n.h>

#include <xmlsec/xmlsec.h>
#include <xmlsec/crypto.h>
#include <xmlsec/errors.h>
#include <xmlsec/templates.h>
#include <xmlsec/xmldsig.h>
#include <xmlsec/openssl/evp.h>

#include "b64.h"

#include "krr_int.h"

struct krr_signer {
	EVP_PKEY *key;		/* ECDSA P-256 private key; NULL: remote signs */
	krr_sign_fn *remote;	/* signs for a signer without the key (another process holds it) */
	void *remote_arg;
	X509 *cert;		/* its certificate, for the validity period */
	char *cert_b64;		/* the certificate's DER in base64, for KeyInfo */
};

/*
 * xmlsec reports errors through a callback, innermost first ("certificate
 * has expired", "data and digest do not match"), then each caller on the
 * way out: keep the first of each operation for the verdict.
 */
static char last_xmlsec_error[160];

static void xmlsec_error(const char *file, int line, const char *func, const char *obj,
    const char *subject, int reason, const char *msg)
{
	(void)file;
	(void)line;
	(void)func;
	(void)obj;
	(void)subject;
	if (last_xmlsec_error[0])
		return;
	const char *why = xmlSecErrorsGetMsg((xmlSecSize)reason);
	snprintf(last_xmlsec_error, sizeof(last_xmlsec_error), "%s%s%s", why ? why : "",
	    why && msg && *msg ? ": " : "", msg ? msg : "");
}

static void errors_quiet(void)
{
	static bool set;
	if (!set) {
		xmlSecErrorsSetCallback(xmlsec_error);
		set = true;
	}
	last_xmlsec_error[0] = '\0';
}

/* ---- signing ---- */

/* Whether a key is ECDSA on P-256, the only one TS 33.180 D.4.2 names. */
static bool is_p256(EVP_PKEY *key)
{
	char group[32] = "";
	return key && EVP_PKEY_is_a(key, "EC") &&
	    EVP_PKEY_get_utf8_string_param(key, "group", group, sizeof(group), NULL) &&
	    strcmp(group, "prime256v1") == 0;
}

/* The certificate part of a signer: s->cert and its base64 DER for KeyInfo. */
static int signer_cert(struct krr_signer *s, const char *cert_pem, size_t cert_len, struct krr_error *err)
{
	unsigned char *der = NULL;
	BIO *cb = cert_len <= INT32_MAX ? BIO_new_mem_buf(cert_pem, (int)cert_len) : NULL;
	int rc = 0, dlen;

	if (!cb)
		return krr_fail(err, KRR_E_NOMEM, 0, "out of memory");
	if ((s->cert = PEM_read_bio_X509(cb, NULL, NULL, NULL)) == NULL)
		rc = krr_fail(err, KRR_E_CRYPTO, 0, "cannot read the certificate (PEM)");
	else if (!is_p256(X509_get0_pubkey(s->cert)))
		rc = krr_fail(err, KRR_E_CRYPTO, 0, "the certificate's key is not ECDSA P-256");
	else if ((dlen = i2d_X509(s->cert, &der)) <= 0 ||
	    (s->cert_b64 = malloc(B64_ENCODED_LEN((size_t)dlen) + 1)) == NULL)
		rc = krr_fail(err, KRR_E_NOMEM, 0, "out of memory");
	else
		b64_encode(der, (size_t)dlen, s->cert_b64);
	OPENSSL_free(der);
	BIO_free(cb);
	return rc;
}

/* The key part of a signer: an ECDSA P-256 private key that matches s->cert. */
static int signer_key(struct krr_signer *s, const char *key_pem, size_t key_len, struct krr_error *err)
{
	BIO *kb;
	int rc = 0;

	if (key_len > INT32_MAX)
		return krr_fail(err, KRR_E_CRYPTO, 0, "key or certificate too large");
	if ((kb = BIO_new_mem_buf(key_pem, (int)key_len)) == NULL)
		return krr_fail(err, KRR_E_NOMEM, 0, "out of memory");
	if ((s->key = PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL)) == NULL)
		rc = krr_fail(err, KRR_E_CRYPTO, 0, "cannot read the private key (PEM)");
	else if (!is_p256(s->key))
		rc = krr_fail(err, KRR_E_CRYPTO, 0, "the key is not ECDSA P-256");
	else if (X509_check_private_key(s->cert, s->key) != 1)
		rc = krr_fail(err, KRR_E_CRYPTO, 0, "the key does not match the certificate");
	if (rc < 0) {
		EVP_PKEY_free(s->key);
		s->key = NULL;
	}
	BIO_free(kb);
	return rc;
}

int krr_signer_new(const char *cert_pem, size_t cert_len, const char *key_pem, size_t key_len,
    struct krr_signer **out, struct krr_error *err)
{
	struct krr_signer *s;
	int rc;

	if (key_len > INT32_MAX)
		return krr_fail(err, KRR_E_CRYPTO, 0, "key or certificate too large");
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return krr_fail(err, KRR_E_NOMEM, 0, "out of memory");
	if ((rc = signer_cert(s, cert_pem, cert_len, err)) < 0 || (rc = signer_key(s, key_pem, key_len, err)) < 0) {
		krr_signer_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

int krr_signer_new_cert(const char *cert_pem, size_t cert_len, struct krr_signer **out, struct krr_error *err)
{
	struct krr_signer *s = calloc(1, sizeof(*s));
	int rc;

	if (!s)
		return krr_fail(err, KRR_E_NOMEM, 0, "out of memory");
	if ((rc = signer_cert(s, cert_pem, cert_len, err)) < 0) {
		/* Told apart for the loader: no certificate at all, or one that will not do. */
		if (rc != -ENOMEM && !s->cert)
			rc = -ENOENT;
		krr_signer_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

int krr_signer_set_key(struct krr_signer *s, const char *key_pem, size_t key_len, struct krr_error *err)
{
	if (s->key || s->remote)
		return krr_fail(err, KRR_E_CRYPTO, 0, "the signer has a key already");
	return signer_key(s, key_pem, key_len, err);
}

void krr_signer_set_remote(struct krr_signer *s, krr_sign_fn *fn, void *arg)
{
	s->remote = fn;
	s->remote_arg = arg;
}

int krr_sign_digest(const struct krr_signer *s, const unsigned char digest[32], unsigned char rs[64])
{
	unsigned char der[80];
	size_t dlen = sizeof(der);
	EVP_PKEY_CTX *ctx;
	ECDSA_SIG *es = NULL;
	const BIGNUM *r, *sv;
	int rc = -1;

	if (!s->key)
		return s->remote ? s->remote(s->remote_arg, digest, rs) : -1;
	if ((ctx = EVP_PKEY_CTX_new(s->key, NULL)) == NULL || EVP_PKEY_sign_init(ctx) != 1 ||
	    EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) != 1 || EVP_PKEY_sign(ctx, der, &dlen, digest, 32) != 1)
		goto out;
	const unsigned char *p = der;
	if ((es = d2i_ECDSA_SIG(NULL, &p, (long)dlen)) == NULL)
		goto out;
	ECDSA_SIG_get0(es, &r, &sv);
	if (BN_bn2binpad(r, rs, 32) == 32 && BN_bn2binpad(sv, rs + 32, 32) == 32)
		rc = 0;
out:
	ECDSA_SIG_free(es);
	EVP_PKEY_CTX_free(ctx);
	ERR_clear_error();
	return rc;
}

int krr_signer_check_time(const struct krr_signer *s, int64_t now, struct krr_error *err)
{
	time_t t = (time_t)now;
	const ASN1_TIME *nb = X509_get0_notBefore(s->cert), *na = X509_get0_notAfter(s->cert);

	if (X509_cmp_time(nb, &t) > 0)
		return krr_fail(err, KRR_E_CERTIFICATE, 0, "the signing certificate is not valid yet");
	if (X509_cmp_time(na, &t) < 0)
		return krr_fail(err, KRR_E_CERTIFICATE, 0, "the signing certificate has expired");
	return 0;
}

void krr_signer_free(struct krr_signer *s)
{
	if (!s)
		return;
	EVP_PKEY_free(s->key);		/* OpenSSL clears the private key it frees */
	X509_free(s->cert);
	free(s->cert_b64);
	free(s);
}

/* The template: ds:Signature, C14N 1.0, ECDSA-SHA256, one Reference to #Id, X.509 KeyInfo. */
static xmlNodePtr add_template(xmlDocPtr doc, const char *id)
{
	xmlNodePtr root = xmlDocGetRootElement(doc), sig, ref, ki, x509;
	char uri[KRR_MAX_ID + 2];

	snprintf(uri, sizeof(uri), "#%s", id);
	sig = xmlSecTmplSignatureCreateNsPref(doc, xmlSecTransformInclC14NId,
	    xmlSecTransformEcdsaSha256Id, NULL, (const xmlChar *)"ds");
	/* Placed last, indented like its siblings (krr_build_doc ends with a newline). */
	if (!sig || !xmlAddChild(root, xmlNewText((const xmlChar *)"  ")) || !xmlAddChild(root, sig) ||
	    !xmlAddChild(root, xmlNewText((const xmlChar *)"\n")))
		return NULL;
	ref = xmlSecTmplSignatureAddReference(sig, xmlSecTransformSha256Id, NULL,
	    (const xmlChar *)uri, NULL);
	if (!ref || !xmlSecTmplReferenceAddTransform(ref, xmlSecTransformEnvelopedId) ||
	    !xmlSecTmplReferenceAddTransform(ref, xmlSecTransformInclC14NId))
		return NULL;
	ki = xmlSecTmplSignatureEnsureKeyInfo(sig, NULL);
	x509 = ki ? xmlSecTmplKeyInfoAddX509Data(ki) : NULL;
	if (!x509 || !xmlSecTmplX509DataAddCertificate(x509))
		return NULL;
	return sig;
}

/* Register the Id attribute of every KRR element, so that "#id" resolves (and only once). */
static int register_ids(xmlDocPtr doc, xmlNodePtr e, struct krr_error *err)
{
	for (; e; e = e->next) {
		if (e->type != XML_ELEMENT_NODE)
			continue;
		if (krr_is(e, krr_names.ns, krr_names.root)) {
			xmlAttrPtr a = xmlHasProp(e, (const xmlChar *)krr_names.id);
			if (a && a->children && a->atype != XML_ATTRIBUTE_ID) {
				xmlChar *v = xmlNodeListGetString(doc, a->children, 1);
				xmlIDPtr ok = v ? xmlAddID(NULL, doc, v, a) : NULL;
				xmlFree(v);
				if (!ok)
					return krr_fail(err, KRR_E_DUPLICATE, e->line, "Id used twice");
			}
		}
		if (register_ids(doc, e->children, err) < 0)
			return -EBADMSG;
	}
	return 0;
}

/* The text of the first ds:name element below node (depth first), or NULL. */
static xmlNodePtr dsig_find(xmlNodePtr node, const char *name)
{
	for (xmlNodePtr c = node->children; c; c = c->next) {
		if (krr_is(c, krr_names.dsig_ns, name))
			return c;
		xmlNodePtr f = c->type == XML_ELEMENT_NODE ? dsig_find(c, name) : NULL;
		if (f)
			return f;
	}
	return NULL;
}

/* C14N 1.0 (no comments) of the nodes for which visible() holds, into a malloc'd buffer. */
static int c14n(xmlDocPtr doc, xmlC14NIsVisibleCallback visible, void *data, xmlChar **out,
    int *len)
{
	xmlBufferPtr buf = xmlBufferCreate();
	xmlOutputBufferPtr ob = buf ? xmlOutputBufferCreateBuffer(buf, NULL) : NULL;
	int rc;

	if (!ob) {
		xmlBufferFree(buf);
		return -ENOMEM;
	}
	rc = xmlC14NExecute(doc, visible, data, XML_C14N_1_0, NULL, 0, ob);
	xmlOutputBufferClose(ob);
	if (rc < 0) {
		xmlBufferFree(buf);
		return -EIO;
	}
	*len = xmlBufferLength(buf);
	*out = xmlBufferDetach(buf);
	xmlBufferFree(buf);
	return *out ? 0 : -ENOMEM;
}

/* A C14N node set: the subtree of top, less the subtree of cut (the enveloped signature). */
struct subtree {
	xmlNodePtr top, cut;
};

static int in_subtree(void *data, xmlNodePtr node, xmlNodePtr parent)
{
	const struct subtree *t = data;
	xmlNodePtr n = node->type == XML_NAMESPACE_DECL ? parent : node;

	for (; n; n = n->parent) {
		if (n == t->cut)
			return 0;
		if (n == t->top)
			return 1;
	}
	return 0;
}

static int set_b64(xmlNodePtr node, const unsigned char *p, size_t n)
{
	char *b = malloc(B64_ENCODED_LEN(n) + 1);
	if (!b)
		return -ENOMEM;
	b64_encode(p, n, b);
	xmlNodeSetContent(node, (const xmlChar *)b);
	free(b);
	return 0;
}

/*
 * Sign per TS 33.180 D.4.2 with xmlsec's template and libxml2's C14N:
 * 1. the template (xmlsec), last child of the KRR element;
 * 2. the Reference digest: SHA-256 of the C14N form of the KRR element
 *    without the Signature element (enveloped-signature, then C14N, of "#Id");
 * 3. ECDSA-SHA256 over the C14N form of SignedInfo in place, its value the
 *    32-octet r and s (RFC 4050 / XML DSig 1.1).
 * xmlsec's own pipeline did the same at a fifth of the rate of a bare
 * ECDSA signature; verification stays with xmlsec (and xmlsec1 checks these).
 */
int krr_encode_signed(const struct krr *k, const struct krr_signer *s, char **xml, size_t *len,
    struct krr_error *err)
{
	unsigned char digest[32], rs[64];
	xmlChar *canon = NULL;
	int clen = 0, rc;
	xmlDocPtr doc;
	xmlNodePtr root, sig, node;

	if ((rc = krr_build_doc(k, &doc, err)) < 0)
		return rc;
	root = xmlDocGetRootElement(doc);
	/* 1 */
	if ((sig = add_template(doc, k->id)) == NULL) {
		rc = krr_fail(err, KRR_E_NOMEM, 0, "cannot build the signature");
		goto out;
	}
	/* 2 */
	struct subtree krr_less_sig = { root, sig };
	if (c14n(doc, in_subtree, &krr_less_sig, &canon, &clen) < 0 ||
	    !EVP_Digest(canon, (size_t)clen, digest, NULL, EVP_sha256(), NULL)) {
		rc = krr_fail(err, KRR_E_CRYPTO, 0, "cannot digest the KRR");
		goto out;
	}
	xmlFree(canon);
	canon = NULL;
	if ((node = dsig_find(sig, "DigestValue")) == NULL || set_b64(node, digest, 32) < 0 ||
	    (node = dsig_find(sig, "X509Certificate")) == NULL) {
		rc = krr_fail(err, KRR_E_NOMEM, 0, "cannot build the signature");
		goto out;
	}
	xmlNodeSetContent(node, (const xmlChar *)s->cert_b64);
	/* 3: the digest here, the signature by whoever holds the key (this process, or the signer process) */
	struct subtree signed_info = { dsig_find(sig, "SignedInfo"), NULL };
	if (c14n(doc, in_subtree, &signed_info, &canon, &clen) < 0 ||
	    !EVP_Digest(canon, (size_t)clen, digest, NULL, EVP_sha256(), NULL)) {
		rc = krr_fail(err, KRR_E_CRYPTO, 0, "cannot digest SignedInfo");
		goto out;
	}
	if (krr_sign_digest(s, digest, rs) < 0) {
		rc = krr_fail(err, KRR_E_CRYPTO, 0, "ECDSA signing failed%s", s->key ? "" : " (the signer process)");
		goto out;
	}
	if ((node = dsig_find(sig, "SignatureValue")) == NULL || set_b64(node, rs, 64) < 0) {
		rc = krr_fail(err, KRR_E_NOMEM, 0, "cannot build the signature");
		goto out;
	}
	rc = krr_dump(doc, xml, len, err);
out:
	xmlFree(canon);
	xmlFreeDoc(doc);
	return rc;
}

/* ---- verification ---- */

/*
 * A signer seen before: its certificate chain (the X509Certificate octets
 * of the KeyInfo, in order) already verified against the anchors, the window
 * in which the whole chain is valid, and its public key ready for xmlsec.
 * Partners sign every KRR with one certificate: decoding and chaining it once
 * takes most of the cost of a verification away.
 */
struct signer_entry {
	uint8_t *chain;		/* concatenated DER certificates: the cache key */
	size_t chain_len;
	int64_t not_before, not_after;
	xmlSecKeyPtr key;
	char *subject;
	char *uris[KRR_MAX_SIGNER_URIS];
	size_t n_uris;
};

#define SIGNER_CACHE	16
#define MAX_KEYINFO_CERTS 4

struct krr_verifier {
	X509_STORE *anchors;	/* only the configured anchors: no system defaults */
	struct signer_entry cache[SIGNER_CACHE];
	size_t next;		/* the slot to reuse next (round robin) */
};

static void entry_clear(struct signer_entry *e)
{
	free(e->chain);
	if (e->key)
		xmlSecKeyDestroy(e->key);
	free(e->subject);
	for (size_t i = 0; i < e->n_uris; i++)
		free(e->uris[i]);
	memset(e, 0, sizeof(*e));
}

int krr_verifier_new(const char *pem, size_t len, struct krr_verifier **out, struct krr_error *err)
{
	struct krr_verifier *v = calloc(1, sizeof(*v));
	BIO *b = len <= INT32_MAX ? BIO_new_mem_buf(pem, (int)len) : NULL;
	X509 *cert;
	int n = 0, rc = 0;

	if (!v || !b || (v->anchors = X509_STORE_new()) == NULL) {
		rc = krr_fail(err, KRR_E_NOMEM, 0, "cannot set up the trust store");
		goto out;
	}
	while ((cert = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		int ok = X509_STORE_add_cert(v->anchors, cert);
		X509_free(cert);
		if (!ok) {
			rc = krr_fail(err, KRR_E_CRYPTO, 0, "cannot add trust anchor %d", n + 1);
			goto out;
		}
		n++;
	}
	if (n == 0)
		rc = krr_fail(err, KRR_E_CRYPTO, 0, "no PEM certificate among the trust anchors");
out:
	BIO_free(b);
	if (rc < 0) {
		krr_verifier_free(v);
		return rc;
	}
	*out = v;
	return 0;
}

int krr_verifier_add_crls(struct krr_verifier *v, const char *pem, size_t len, struct krr_error *err)
{
	BIO *b = len <= INT32_MAX ? BIO_new_mem_buf(pem, (int)len) : NULL;
	X509_CRL *crl;
	int n = 0, rc = 0;

	if (!b)
		return krr_fail(err, KRR_E_NOMEM, 0, "out of memory");
	while ((crl = PEM_read_bio_X509_CRL(b, NULL, NULL, NULL)) != NULL) {
		int ok = X509_STORE_add_crl(v->anchors, crl);
		X509_CRL_free(crl);
		if (!ok) {
			rc = krr_fail(err, KRR_E_CRYPTO, 0, "cannot add CRL %d", n + 1);
			goto out;
		}
		n++;
	}
	ERR_clear_error();
	if (n == 0) {
		rc = krr_fail(err, KRR_E_CRYPTO, 0, "no PEM certificate revocation list");
		goto out;
	}
	X509_STORE_set_flags(v->anchors, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
	/* chains verified before the CRLs came must be checked again */
	for (size_t i = 0; i < SIGNER_CACHE; i++)
		entry_clear(&v->cache[i]);
out:
	BIO_free(b);
	return rc;
}

void krr_verifier_free(struct krr_verifier *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < SIGNER_CACHE; i++)
		entry_clear(&v->cache[i]);
	X509_STORE_free(v->anchors);
	free(v);
}

void krr_verdict_clear(struct krr_verdict *out)
{
	free(out->signer);
	for (size_t i = 0; i < out->n_signer_uris; i++)
		free(out->signer_uris[i]);
	memset(out, 0, sizeof(*out));
	out->embedded_valid = -1;
}

/* Subject (RFC 2253) and URI subjectAltNames of the signing certificate. */
static int describe_cert(X509 *cert, struct signer_entry *e)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *text;
	long n;

	if (!b || X509_NAME_print_ex(b, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) < 0) {
		BIO_free(b);
		return -ENOMEM;
	}
	n = BIO_get_mem_data(b, &text);
	e->subject = strndup(text, (size_t)n);
	BIO_free(b);
	if (!e->subject)
		return -ENOMEM;

	GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; names && i < sk_GENERAL_NAME_num(names); i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
		if (g->type != GEN_URI || e->n_uris == KRR_MAX_SIGNER_URIS)
			continue;
		const unsigned char *u = ASN1_STRING_get0_data(g->d.uniformResourceIdentifier);
		int ulen = ASN1_STRING_length(g->d.uniformResourceIdentifier);
		if ((e->uris[e->n_uris] = strndup((const char *)u, (size_t)ulen)) == NULL)
			break;
		e->n_uris++;
	}
	GENERAL_NAMES_free(names);
	return 0;
}

/* The one ds:Signature child of the root (the decoder checked where it stands). */
static xmlNodePtr root_signature(xmlNodePtr root)
{
	for (xmlNodePtr c = root->children; c; c = c->next)
		if (krr_is(c, krr_names.dsig_ns, krr_names.signature))
			return c;
	return NULL;
}

static xmlNodePtr dsig_child(xmlNodePtr parent, const char *name)
{
	for (xmlNodePtr c = parent ? parent->children : NULL; c; c = c->next)
		if (krr_is(c, krr_names.dsig_ns, name))
			return c;
	return NULL;
}

/*
 * Before any crypto: SignedInfo has exactly one Reference, and it names the
 * root's own Id.  A signature over something else is not this KRR's.
 */
static bool reference_is_root(xmlNodePtr sig, const char *id)
{
	xmlNodePtr si = dsig_child(sig, "SignedInfo"), ref = NULL;
	int refs = 0;

	for (xmlNodePtr c = si ? si->children : NULL; c; c = c->next)
		if (krr_is(c, krr_names.dsig_ns, "Reference") && refs++ == 0)
			ref = c;
	if (refs != 1)
		return false;
	xmlChar *uri = xmlGetNoNsProp(ref, (const xmlChar *)"URI");
	bool ok = uri && uri[0] == '#' && strcmp((const char *)uri + 1, id) == 0;
	xmlFree(uri);
	return ok;
}

/*
 * The certificates of KeyInfo/X509Data, decoded from base64 and
 * concatenated (leaf first); the signer's key comes from the first.
 */
static int keyinfo_chain(xmlNodePtr sig, uint8_t **chain, size_t *len, size_t offs[], size_t *n,
    struct krr_error *err)
{
	xmlNodePtr x509 = dsig_child(dsig_child(sig, "KeyInfo"), "X509Data");
	uint8_t *buf = NULL;
	size_t used = 0;

	*n = 0;
	for (xmlNodePtr c = x509 ? x509->children : NULL; c; c = c->next) {
		if (!krr_is(c, krr_names.dsig_ns, "X509Certificate"))
			continue;
		if (*n == MAX_KEYINFO_CERTS) {
			free(buf);
			return krr_fail(err, KRR_E_LIMIT, c->line, "more than %d certificates in KeyInfo",
			    MAX_KEYINFO_CERTS);
		}
		xmlChar *text = xmlNodeGetContent(c);
		size_t tlen = text ? strlen((const char *)text) : 0, dlen;
		uint8_t *nb = realloc(buf, used + B64_DECODED_MAX(tlen) + 1);
		if (!text || !nb) {
			xmlFree(text);
			free(nb ? nb : buf);
			return krr_fail(err, KRR_E_NOMEM, 0, "out of memory");
		}
		buf = nb;
		int rc = b64_decode((const char *)text, tlen, buf + used, &dlen, NULL);
		xmlFree(text);
		if (rc < 0 || dlen == 0) {
			free(buf);
			return krr_fail(err, KRR_E_CERTIFICATE, c->line, "X509Certificate is not base64");
		}
		offs[(*n)++] = used;
		used += dlen;
	}
	if (*n == 0) {
		free(buf);
		return krr_fail(err, KRR_E_CERTIFICATE, sig->line,
		    "no X509Certificate in the signature's KeyInfo");
	}
	offs[*n] = used;
	*chain = buf;
	*len = used;
	return 0;
}

static int64_t asn1_time(const ASN1_TIME *t)
{
	struct tm tm;
	if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return (int64_t)timegm(&tm);
}

/*
 * Verify a chain the cache does not hold: leaf and intermediates from
 * KeyInfo, against the anchors alone, at time now; then keep the result.
 */
static struct signer_entry *chain_verify(struct krr_verifier *v, uint8_t *chain, size_t len,
    const size_t offs[], size_t n, int64_t now, int line, struct krr_error *err)
{
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	X509 *leaf = NULL;
	struct signer_entry e = { 0 }, *slot = NULL;

	if (!untrusted || !ctx) {
		krr_fail(err, KRR_E_NOMEM, 0, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const unsigned char *p = chain + offs[i];
		X509 *c = d2i_X509(NULL, &p, (long)(offs[i + 1] - offs[i]));
		if (!c || p != chain + offs[i + 1]) {
			X509_free(c);
			krr_fail(err, KRR_E_CERTIFICATE, line, "certificate %zu of KeyInfo is not DER X.509", i + 1);
			goto out;
		}
		if (i == 0)
			leaf = c;
		else if (!sk_X509_push(untrusted, c)) {
			X509_free(c);
			krr_fail(err, KRR_E_NOMEM, 0, "out of memory");
			goto out;
		}
	}
	if (!X509_STORE_CTX_init(ctx, v->anchors, leaf, untrusted)) {
		krr_fail(err, KRR_E_NOMEM, 0, "out of memory");
		goto out;
	}
	X509_STORE_CTX_set_time(ctx, 0, (time_t)now);
	if (X509_verify_cert(ctx) != 1) {
		krr_fail(err, KRR_E_CERTIFICATE, line, "signer certificate: %s",
		    X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
		goto out;
	}
	/* The window in which every certificate of the chain holds. */
	STACK_OF(X509) *path = X509_STORE_CTX_get0_chain(ctx);
	e.not_before = INT64_MIN;
	e.not_after = INT64_MAX;
	for (int i = 0; i < sk_X509_num(path); i++) {
		X509 *c = sk_X509_value(path, i);
		int64_t nb = asn1_time(X509_get0_notBefore(c)), na = asn1_time(X509_get0_notAfter(c));
		if (nb > e.not_before)
			e.not_before = nb;
		if (na < e.not_after)
			e.not_after = na;
	}
	/* D.4.2: ECDSA P-256. */
	EVP_PKEY *pk = X509_get0_pubkey(leaf);
	if (!is_p256(pk)) {
		krr_fail(err, KRR_E_CERTIFICATE, line, "the signer's key is not ECDSA P-256");
		goto out;
	}
	xmlSecKeyDataPtr kd = EVP_PKEY_up_ref(pk) ? xmlSecOpenSSLEvpKeyAdopt(pk) : NULL;
	if (!kd || (e.key = xmlSecKeyCreate()) == NULL || xmlSecKeySetValue(e.key, kd) < 0) {
		if (kd && !e.key)
			xmlSecKeyDataDestroy(kd);
		krr_fail(err, KRR_E_NOMEM, 0, "out of memory");
		goto out;
	}
	if (describe_cert(leaf, &e) < 0) {
		krr_fail(err, KRR_E_NOMEM, 0, "out of memory");
		goto out;
	}
	e.chain = chain;
	e.chain_len = len;
	chain = NULL;
	slot = &v->cache[v->next];
	v->next = (v->next + 1) % SIGNER_CACHE;
	entry_clear(slot);
	*slot = e;
	memset(&e, 0, sizeof(e));
out:
	entry_clear(&e);
	free(chain);
	X509_free(leaf);
	sk_X509_pop_free(untrusted, X509_free);
	X509_STORE_CTX_free(ctx);
	return slot;
}

/* The signer: from the cache when its chain was verified before and still holds at now. */
static struct signer_entry *signer_of(struct krr_verifier *v, xmlNodePtr sig, int64_t now,
    struct krr_error *err)
{
	size_t offs[MAX_KEYINFO_CERTS + 1], n = 0, len = 0;
	uint8_t *chain = NULL;

	if (keyinfo_chain(sig, &chain, &len, offs, &n, err) < 0)
		return NULL;
	for (size_t i = 0; i < SIGNER_CACHE; i++) {
		struct signer_entry *e = &v->cache[i];
		if (e->chain && e->chain_len == len && memcmp(e->chain, chain, len) == 0) {
			free(chain);
			if (now < e->not_before || now > e->not_after) {
				krr_fail(err, KRR_E_CERTIFICATE, sig->line,
				    "signer certificate: %s", now < e->not_before
				    ? "certificate is not yet valid" : "certificate has expired");
				return NULL;
			}
			return e;
		}
	}
	return chain_verify(v, chain, len, offs, n, now, sig->line, err);
}

/*
 * Restrict xmlsec to the D.4.2 profile: a same-document reference and these
 * algorithms only.  The key is given, so xmlsec reads no KeyInfo itself.
 */
static int restrict_profile(xmlSecDSigCtxPtr ctx)
{
	ctx->enabledReferenceUris = xmlSecTransformUriTypeSameDocument;
	if (xmlSecDSigCtxEnableSignatureTransform(ctx, xmlSecTransformInclC14NId) < 0 ||
	    xmlSecDSigCtxEnableSignatureTransform(ctx, xmlSecTransformEcdsaSha256Id) < 0 ||
	    xmlSecDSigCtxEnableReferenceTransform(ctx, xmlSecTransformEnvelopedId) < 0 ||
	    xmlSecDSigCtxEnableReferenceTransform(ctx, xmlSecTransformInclC14NId) < 0 ||
	    xmlSecDSigCtxEnableReferenceTransform(ctx, xmlSecTransformSha256Id) < 0)
		return -ENOMEM;
	return 0;
}

static int copy_signer(const struct signer_entry *e, struct krr_verdict *out)
{
	if ((out->signer = strdup(e->subject)) == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < e->n_uris; i++) {
		if ((out->signer_uris[i] = strdup(e->uris[i])) == NULL)
			return -ENOMEM;
		out->n_signer_uris++;
	}
	return 0;
}

/* Verify one document; the embedded KRR, if any, is left to the caller. */
static int verify_doc(struct krr_verifier *v, xmlDocPtr doc, const char *id_value,
    int64_t now, struct krr_verdict *out)
{
	xmlNodePtr root = xmlDocGetRootElement(doc), sig = root_signature(root);
	struct signer_entry *signer;
	xmlSecDSigCtxPtr ctx;
	int rc;

	if (!sig)
		return krr_fail(&out->why, KRR_E_UNSIGNED, root->line, "the KRR is not signed");
	if (!reference_is_root(sig, id_value))
		return krr_fail(&out->why, KRR_E_REFERENCE, sig->line,
		    "the signature must have one Reference, to #%s", id_value);
	if ((signer = signer_of(v, sig, now, &out->why)) == NULL)
		return out->why.code == KRR_E_NOMEM ? -ENOMEM : -EPERM;
	if (register_ids(doc, root, &out->why) < 0)
		return -EPERM;
	errors_quiet();
	if ((ctx = xmlSecDSigCtxCreate(NULL)) == NULL || restrict_profile(ctx) < 0) {
		if (ctx)
			xmlSecDSigCtxDestroy(ctx);
		return -ENOMEM;
	}
	ctx->signKey = signer->key;	/* lent, as in signing */
	rc = xmlSecDSigCtxVerify(ctx, sig);
	ctx->signKey = NULL;
	if (rc < 0 || ctx->status != xmlSecDSigStatusSucceeded) {
		krr_fail(&out->why, KRR_E_SIGNATURE, sig->line, "%s",
		    last_xmlsec_error[0] ? last_xmlsec_error : "digest or signature mismatch");
		xmlSecDSigCtxDestroy(ctx);
		return -EPERM;
	}
	/* No wrapping, again after the fact: one Reference, resolving to this very element. */
	xmlSecDSigReferenceCtxPtr ref = xmlSecPtrListGetSize(&ctx->signedInfoReferences) == 1
	    ? xmlSecPtrListGetItem(&ctx->signedInfoReferences, 0) : NULL;
	xmlAttrPtr id = xmlGetID(doc, (const xmlChar *)id_value);
	bool bound = ref && ref->uri && ref->uri[0] == '#' &&
	    strcmp((const char *)ref->uri + 1, id_value) == 0 && id && id->parent == root;
	xmlSecDSigCtxDestroy(ctx);
	if (!bound)
		return krr_fail(&out->why, KRR_E_REFERENCE, sig->line,
		    "the signature must have one Reference, to #%s", id_value);
	if (copy_signer(signer, out) < 0)
		return -ENOMEM;
	out->valid = true;
	return 0;
}

int krr_verify_doc(struct krr_verifier *v, struct krr_doc *d, int64_t now, struct krr_verdict *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	out->embedded_valid = -1;
	if ((rc = verify_doc(v, d->xml, d->id, now, out)) == -ENOMEM) {
		krr_verdict_clear(out);
		return rc;
	}
	/* An embedded KRR stands on its own signature (TS 33.180 5.2.8): on its copy made while decoding. */
	if (d->embedded) {
		struct krr_verdict inner;
		memset(&inner, 0, sizeof(inner));
		rc = verify_doc(v, d->embedded, d->embedded_id, now, &inner);
		if (rc != -ENOMEM) {
			out->embedded_valid = inner.valid;
			out->embedded_why = inner.why;
		}
		krr_verdict_clear(&inner);
		if (rc == -ENOMEM) {
			krr_verdict_clear(out);
			return rc;
		}
	}
	return 0;
}

int krr_verify(struct krr_verifier *v, const char *xml, size_t len, int64_t now,
    struct krr_verdict *out)
{
	struct krr_doc *d;
	int rc;

	memset(out, 0, sizeof(*out));
	out->embedded_valid = -1;
	if ((rc = krr_doc_parse(xml, len, &d, &out->why)) < 0)
		return rc == -ENOMEM ? rc : 0;
	rc = krr_verify_doc(v, d, now, out);
	krr_doc_free(d);
	return rc;
}
