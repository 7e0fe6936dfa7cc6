/* KRR XML Signature (TS 33.180 D.4.2) with xmlsec: sign, and verify against trust anchors. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <xmlsec/xmlsec.h>
#include <xmlsec/crypto.h>
#include <xmlsec/errors.h>
#include <xmlsec/templates.h>
#include <xmlsec/xmldsig.h>
#include <xmlsec/openssl/x509.h>

#include "krr_int.h"

struct krr_signer {
	xmlSecKeyPtr key;	/* the private key with its certificate attached */
	X509 *cert;		/* the same certificate, for its validity period */
};

struct krr_verifier {
	xmlSecKeysMngrPtr mngr;	/* trusted certificates only: no keys by name */
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

/* ECDSA on P-256 (TS 33.180 D.4.2), and the key must be the certificate's. */
static int check_key_and_cert(const char *cert_pem, size_t cert_len, const char *key_pem,
    size_t key_len, struct krr_error *err)
{
	BIO *cb = BIO_new_mem_buf(cert_pem, (int)cert_len), *kb = BIO_new_mem_buf(key_pem, (int)key_len);
	X509 *cert = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
	EVP_PKEY *key = kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
	char group[32] = "";
	int rc = 0;

	if (!cert)
		rc = krr_fail(err, KRR_E_CRYPTO, 0, "cannot read the certificate (PEM)");
	else if (!key)
		rc = krr_fail(err, KRR_E_CRYPTO, 0, "cannot read the private key (PEM)");
	else if (!EVP_PKEY_is_a(key, "EC") ||
	    !EVP_PKEY_get_utf8_string_param(key, "group", group, sizeof(group), NULL) ||
	    strcmp(group, "prime256v1") != 0)
		rc = krr_fail(err, KRR_E_CRYPTO, 0, "the key is not ECDSA P-256");
	else if (X509_check_private_key(cert, key) != 1)
		rc = krr_fail(err, KRR_E_CRYPTO, 0, "the key does not match the certificate");
	EVP_PKEY_free(key);
	X509_free(cert);
	BIO_free(kb);
	BIO_free(cb);
	return rc;
}

int krr_signer_new(const char *cert_pem, size_t cert_len, const char *key_pem, size_t key_len,
    struct krr_signer **out, struct krr_error *err)
{
	struct krr_signer *s;
	int rc;

	if (cert_len > INT32_MAX || key_len > INT32_MAX)
		return krr_fail(err, KRR_E_CRYPTO, 0, "key or certificate too large");
	if ((rc = check_key_and_cert(cert_pem, cert_len, key_pem, key_len, err)) < 0)
		return rc;
	errors_quiet();
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return krr_fail(err, KRR_E_NOMEM, 0, "out of memory");
	s->key = xmlSecCryptoAppKeyLoadMemory((const xmlSecByte *)key_pem, (xmlSecSize)key_len,
	    xmlSecKeyDataFormatPem, NULL, NULL, NULL);
	if (!s->key || xmlSecCryptoAppKeyCertLoadMemory(s->key, (const xmlSecByte *)cert_pem,
	    (xmlSecSize)cert_len, xmlSecKeyDataFormatPem) < 0) {
		krr_signer_free(s);
		return krr_fail(err, KRR_E_CRYPTO, 0, "xmlsec cannot load the key: %s", last_xmlsec_error);
	}
	BIO *b = BIO_new_mem_buf(cert_pem, (int)cert_len);
	s->cert = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	if (!s->cert) {
		krr_signer_free(s);
		return krr_fail(err, KRR_E_NOMEM, 0, "out of memory");
	}
	*out = s;
	return 0;
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
	if (s->key)
		xmlSecKeyDestroy(s->key);	/* xmlsec clears key material it frees */
	X509_free(s->cert);
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

int krr_encode_signed(const struct krr *k, const struct krr_signer *s, char **xml, size_t *len,
    struct krr_error *err)
{
	xmlSecDSigCtxPtr ctx = NULL;
	xmlNodePtr sig;
	xmlDocPtr doc;
	int rc;

	if ((rc = krr_build_doc(k, &doc, err)) < 0)
		return rc;
	errors_quiet();
	if ((rc = register_ids(doc, xmlDocGetRootElement(doc), err)) < 0)
		goto out;
	if ((sig = add_template(doc, k->id)) == NULL) {
		rc = krr_fail(err, KRR_E_NOMEM, 0, "cannot build the signature template");
		goto out;
	}
	if ((ctx = xmlSecDSigCtxCreate(NULL)) == NULL) {
		rc = krr_fail(err, KRR_E_NOMEM, 0, "out of memory");
		goto out;
	}
	ctx->signKey = s->key;		/* lent: taken back before the context goes */
	rc = xmlSecDSigCtxSign(ctx, sig);
	ctx->signKey = NULL;
	if (rc < 0) {
		rc = krr_fail(err, KRR_E_CRYPTO, 0, "signing failed: %s", last_xmlsec_error);
		goto out;
	}
	rc = krr_dump(doc, xml, len, err);
out:
	if (ctx)
		xmlSecDSigCtxDestroy(ctx);
	xmlFreeDoc(doc);
	return rc;
}

/* ---- verification ---- */

int krr_verifier_new(const char *pem, size_t len, struct krr_verifier **out, struct krr_error *err)
{
	struct krr_verifier *v = calloc(1, sizeof(*v));
	BIO *b = len <= INT32_MAX ? BIO_new_mem_buf(pem, (int)len) : NULL;
	X509 *cert;
	int n = 0, rc = 0;

	errors_quiet();
	if (!v || !b || (v->mngr = xmlSecKeysMngrCreate()) == NULL ||
	    xmlSecCryptoAppDefaultKeysMngrInit(v->mngr) < 0) {
		rc = krr_fail(err, KRR_E_NOMEM, 0, "cannot set up the trust store");
		goto out;
	}
	/* Every certificate of the bundle is an anchor; xmlsec takes one per call, as DER. */
	while ((cert = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		unsigned char *der = NULL;
		int dlen = i2d_X509(cert, &der);
		X509_free(cert);
		if (dlen <= 0 || xmlSecCryptoAppKeysMngrCertLoadMemory(v->mngr, der, (xmlSecSize)dlen,
		    xmlSecKeyDataFormatDer, xmlSecKeyDataTypeTrusted) < 0) {
			OPENSSL_free(der);
			rc = krr_fail(err, KRR_E_CRYPTO, 0, "cannot load trust anchor %d: %s", n + 1,
			    last_xmlsec_error);
			goto out;
		}
		OPENSSL_free(der);
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

void krr_verifier_free(struct krr_verifier *v)
{
	if (!v)
		return;
	if (v->mngr)
		xmlSecKeysMngrDestroy(v->mngr);
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

/* Subject and URI subjectAltNames of the certificate that signed. */
static int describe_signer(X509 *cert, struct krr_verdict *out)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *text;
	long n;

	if (!b || X509_NAME_print_ex(b, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) < 0) {
		BIO_free(b);
		return -ENOMEM;
	}
	n = BIO_get_mem_data(b, &text);
	out->signer = strndup(text, (size_t)n);
	BIO_free(b);
	if (!out->signer)
		return -ENOMEM;

	GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; names && i < sk_GENERAL_NAME_num(names); i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
		if (g->type != GEN_URI || out->n_signer_uris == KRR_MAX_SIGNER_URIS)
			continue;
		const unsigned char *u = ASN1_STRING_get0_data(g->d.uniformResourceIdentifier);
		int ulen = ASN1_STRING_length(g->d.uniformResourceIdentifier);
		if ((out->signer_uris[out->n_signer_uris] = strndup((const char *)u, (size_t)ulen)) == NULL)
			break;
		out->n_signer_uris++;
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

/*
 * Before any crypto: SignedInfo has exactly one Reference, and it names the
 * root's own Id.  A signature over something else is not this KRR's.
 */
static bool reference_is_root(xmlNodePtr sig, const char *id)
{
	xmlNodePtr si = NULL, ref = NULL;
	int refs = 0;

	for (xmlNodePtr c = sig->children; c && !si; c = c->next)
		if (krr_is(c, krr_names.dsig_ns, "SignedInfo"))
			si = c;
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

/* Restrict xmlsec to the D.4.2 profile: same-document reference, these algorithms, X.509 only. */
static int restrict_profile(xmlSecDSigCtxPtr ctx, int64_t now)
{
	ctx->enabledReferenceUris = xmlSecTransformUriTypeSameDocument;
	ctx->keyInfoReadCtx.certsVerificationTime = (time_t)now;
	if (xmlSecDSigCtxEnableSignatureTransform(ctx, xmlSecTransformInclC14NId) < 0 ||
	    xmlSecDSigCtxEnableSignatureTransform(ctx, xmlSecTransformEcdsaSha256Id) < 0 ||
	    xmlSecDSigCtxEnableReferenceTransform(ctx, xmlSecTransformEnvelopedId) < 0 ||
	    xmlSecDSigCtxEnableReferenceTransform(ctx, xmlSecTransformInclC14NId) < 0 ||
	    xmlSecDSigCtxEnableReferenceTransform(ctx, xmlSecTransformSha256Id) < 0 ||
	    xmlSecPtrListAdd(&ctx->keyInfoReadCtx.enabledKeyData, (void *)xmlSecKeyDataX509Id) < 0)
		return -ENOMEM;
	return 0;
}

/* Verify one document; the embedded KRR, if any, is left to the caller. */
static int verify_doc(const struct krr_verifier *v, xmlDocPtr doc, const struct krr *k,
    int64_t now, struct krr_verdict *out)
{
	xmlNodePtr root = xmlDocGetRootElement(doc), sig = root_signature(root);
	xmlSecDSigCtxPtr ctx;
	int rc;

	if (!sig)
		return krr_fail(&out->why, KRR_E_UNSIGNED, root->line, "the KRR is not signed");
	if (!reference_is_root(sig, k->id))
		return krr_fail(&out->why, KRR_E_REFERENCE, sig->line,
		    "the signature must have one Reference, to #%s", k->id);
	if (register_ids(doc, root, &out->why) < 0)
		return -EPERM;
	errors_quiet();
	if ((ctx = xmlSecDSigCtxCreate(v->mngr)) == NULL || restrict_profile(ctx, now) < 0) {
		if (ctx)
			xmlSecDSigCtxDestroy(ctx);
		return -ENOMEM;
	}
	rc = xmlSecDSigCtxVerify(ctx, sig);
	if (rc < 0 || ctx->status != xmlSecDSigStatusSucceeded) {
		/* Without a key, no certificate chained to an anchor at that time. */
		bool no_key = ctx->signKey == NULL;
		krr_fail(&out->why, no_key ? KRR_E_CERTIFICATE : KRR_E_SIGNATURE, sig->line, "%s",
		    last_xmlsec_error[0] ? last_xmlsec_error
					 : no_key ? "no trusted certificate" : "digest or signature mismatch");
		xmlSecDSigCtxDestroy(ctx);
		return -EPERM;
	}
	/* No wrapping: one Reference, and it names this very element. */
	char want[KRR_MAX_ID + 2];
	snprintf(want, sizeof(want), "#%s", k->id);
	xmlSecDSigReferenceCtxPtr ref = xmlSecPtrListGetSize(&ctx->signedInfoReferences) == 1
	    ? xmlSecPtrListGetItem(&ctx->signedInfoReferences, 0) : NULL;
	if (!ref || !ref->uri || strcmp((const char *)ref->uri, want) != 0 ||
	    xmlGetID(doc, (const xmlChar *)k->id) == NULL ||
	    xmlGetID(doc, (const xmlChar *)k->id)->parent != root) {
		krr_fail(&out->why, KRR_E_REFERENCE, sig->line,
		    "the signature must have one Reference, to %s", want);
		xmlSecDSigCtxDestroy(ctx);
		return -EPERM;
	}
	X509 *cert = xmlSecOpenSSLKeyDataX509GetKeyCert(
	    xmlSecKeyGetData(ctx->signKey, xmlSecOpenSSLKeyDataX509Id));
	rc = cert ? describe_signer(cert, out) : 0;
	xmlSecDSigCtxDestroy(ctx);
	if (rc < 0)
		return rc;
	out->valid = true;
	return 0;
}

int krr_verify(const struct krr_verifier *v, const char *xml, size_t len, int64_t now,
    struct krr_verdict *out)
{
	struct krr *k = NULL;
	xmlDocPtr doc = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	out->embedded_valid = -1;
	if (krr_parse(xml, len, &doc, &out->why) < 0)
		return out->why.code == KRR_E_NOMEM ? -ENOMEM : 0;
	if ((rc = krr_decode_doc(doc, &k, &out->why)) < 0) {
		xmlFreeDoc(doc);
		return rc == -ENOMEM ? rc : 0;
	}
	rc = verify_doc(v, doc, k, now, out);
	xmlFreeDoc(doc);
	if (rc == -ENOMEM) {
		krr_free(k);
		krr_verdict_clear(out);
		return rc;
	}
	/* An embedded KRR stands on its own signature (TS 33.180 5.2.8). */
	if (k->embedded_xml) {
		struct krr_verdict inner;
		rc = krr_verify(v, k->embedded_xml, strlen(k->embedded_xml), now, &inner);
		if (rc == 0) {
			out->embedded_valid = inner.valid;
			out->embedded_why = inner.why;
			krr_verdict_clear(&inner);
		}
	}
	krr_free(k);
	return rc == -ENOMEM ? rc : 0;
}
