/* KMS Redirect Response (TS 33.180 5.2.8, D.4): model, XML codec, XML Signature. */
#ifndef MCX_KRR_H
#define MCX_KRR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KRR_CONTENT_TYPE	"application/vnd.3gpp.kmsredirectresponse+xml"

/* Bounds checked before and while parsing: a real KRR is a few kB. */
#define KRR_MAX_DOC		(64 * 1024)	/* octets of XML */
#define KRR_MAX_DEPTH		4	/* KRRs embedded in one another, the outer one included */
#define KRR_MAX_LIST		32	/* KMS URIs in one acceptable list */
#define KRR_MAX_URI		1024	/* octets in one URI */
#define KRR_MAX_ID		64	/* octets in the Id attribute */
#define KRR_MAX_SIGNER_URIS	8

/* The six single URIs of a KRR, in document order. */
enum krr_uri {
	KRR_ORIGINATOR,		/* who made this KRR */
	KRR_ORIGINATOR_KMS,	/* its own KMS */
	KRR_INITIATOR,		/* IDRi / From */
	KRR_RECEIVER,		/* the lookup target */
	KRR_INITIATOR_KMS,	/* IDRkmsi used */
	KRR_RECEIVER_KMS,	/* IDRkmsr used */
	KRR_URI__COUNT,
};

/*
 * The element and attribute names, in one place: the normative schema of
 * TS 33.180 D.4.4 was not available, so these are ours until aligned with it.
 */
struct krr_names {
	const char *ns, *root, *id, *version, *time;
	const char *uri[KRR_URI__COUNT];
	const char *accept_initiator, *accept_receiver, *kms_uri, *embedded;
	const char *dsig_ns, *signature;
};
extern const struct krr_names krr_names;

struct krr_list {
	char *uri[KRR_MAX_LIST];
	size_t n;
};

/* A KRR; every string is owned (krr_free frees them). */
struct krr {
	char *id;
	char *version;
	int64_t time;			/* Unix seconds, UTC */
	char *uri[KRR_URI__COUNT];
	struct krr_list accept_initiator, accept_receiver;
	struct krr *embedded;		/* the KRR this one replaces, decoded; or NULL */
	char *embedded_xml;		/* that KRR's element as it stands in the document (NUL-terminated) */
	bool is_signed;			/* a ds:Signature is present (not that it verifies) */
	/*
	 * krr_encode: when set, EmbeddedKrr is copied from this parsed document
	 * (the one embedded_xml holds, not owned) instead of parsing
	 * embedded_xml again.
	 */
	const struct krr_doc *embedded_doc;
};

enum krr_err {
	KRR_OK = 0,
	KRR_E_TOO_LARGE,	/* document above KRR_MAX_DOC */
	KRR_E_XML,		/* not well-formed XML */
	KRR_E_DTD,		/* a DOCTYPE: no DTDs, no entities */
	KRR_E_ROOT,		/* root element is not KmsRedirectResponse */
	KRR_E_NAMESPACE,	/* an element outside the KRR namespace */
	KRR_E_MISSING,		/* a required element or attribute is absent */
	KRR_E_DUPLICATE,	/* an element or Id given twice */
	KRR_E_UNEXPECTED,	/* an element, attribute or text that does not belong there */
	KRR_E_VALUE,		/* a bad value: time, Id, empty URI */
	KRR_E_LIMIT,		/* a list, URI, Id or nesting beyond its bound */
	KRR_E_NOMEM,
	KRR_E_CRYPTO,		/* key, certificate or library failure while signing */
	KRR_E_UNSIGNED,		/* verification: no signature */
	KRR_E_SIGNATURE,	/* verification: the signature does not verify */
	KRR_E_REFERENCE,	/* verification: the signature does not cover this KRR element */
	KRR_E_CERTIFICATE,	/* verification: no trusted, valid certificate for the signer */
	KRR_E__COUNT,
};

struct krr_error {
	enum krr_err code;
	int line;		/* line in the document, 0 when not known */
	char detail[160];	/* what and where, for people */
};

const char *krr_strerror(enum krr_err code);
const char *krr_err_name(enum krr_err code);

/* Library set-up (libxml2, xmlsec, its OpenSSL backend) once per process; 0 or -EIO. */
int krr_global_init(void);
void krr_global_cleanup(void);

struct krr *krr_new(void);
void krr_free(struct krr *k);
/* Replace *field with a copy of value (NULL clears); 0, -ENOMEM or -E2BIG (over KRR_MAX_URI). */
int krr_set(char **field, const char *value);
/* Append a copy; 0, -ENOMEM, -E2BIG (list full or URI too long) or -EINVAL (empty). */
int krr_list_add(struct krr_list *l, const char *uri);

/*
 * Decode a KRR document of len octets.  Checks the structure (root,
 * namespace, required elements in order, no duplicates, limits) and decodes
 * an embedded KRR the same way; does not verify signatures.  Returns 0 with
 * *out (free with krr_free), or a negative errno with *err filled.
 */
int krr_decode(const char *xml, size_t len, struct krr **out, struct krr_error *err);

/*
 * A KRR document parsed once, for what comes from the network: xmlsafe's
 * single parse (bounded, no DTD, no entity, no network) feeds the decoding
 * (krr_doc_parse), the signature check (krr_verify_doc) and, when a KRR
 * replaces it, its copy into EmbeddedKrr (struct krr's embedded_doc).
 * Nothing in it parses the text again.
 */
struct krr_doc;

/*
 * Parse and decode xml as krr_decode does.  0 with *out (free with
 * krr_doc_free), or a negative errno with *err filled (krr_decode's).
 */
int krr_doc_parse(const char *xml, size_t len, struct krr_doc **out, struct krr_error *err);
/* The decoded KRR, owned by d, or NULL once taken. */
const struct krr *krr_doc_krr(const struct krr_doc *d);
/* Hand the decoded KRR over (free with krr_free); d can still be verified and embedded. */
struct krr *krr_doc_take(struct krr_doc *d);
void krr_doc_free(struct krr_doc *d);

/*
 * Serialize k as a KRR document, unsigned; k->embedded_xml (when set) goes
 * in EmbeddedKrr as it is.  Returns 0 with a malloc'd, NUL-terminated *xml.
 */
int krr_encode(const struct krr *k, char **xml, size_t *len, struct krr_error *err);

/* A signing identity: an ECDSA P-256 key and its X.509 certificate, from PEM. */
struct krr_signer;
int krr_signer_new(const char *cert_pem, size_t cert_len, const char *key_pem, size_t key_len,
    struct krr_signer **out, struct krr_error *err);
void krr_signer_free(struct krr_signer *s);

/*
 * krr_signer_new in two steps, for a loader that reports on each file:
 * the certificate alone (-ENOENT when cert_pem holds no PEM certificate,
 * -EIO when it will not do, -ENOMEM), then its key (krr_signer_set_key,
 * which -EIO refuses when it does not match) or krr_signer_set_remote.
 * A signer with neither cannot sign.
 */
int krr_signer_new_cert(const char *cert_pem, size_t cert_len, struct krr_signer **out, struct krr_error *err);
int krr_signer_set_key(struct krr_signer *s, const char *key_pem, size_t key_len, struct krr_error *err);

/*
 * Signing without the key: another process holds it (mcx-sdproxyd's KRR
 * signer).  fn signs a SHA-256 digest into r||s (32 octets each); 0 or -1.
 */
typedef int krr_sign_fn(void *arg, const unsigned char digest[32], unsigned char rs[64]);
void krr_signer_set_remote(struct krr_signer *s, krr_sign_fn *fn, void *arg);

/* Sign a SHA-256 digest with s's key (or through its fn): r||s.  0, or -1. */
int krr_sign_digest(const struct krr_signer *s, const unsigned char digest[32], unsigned char rs[64]);
/* 0 when the signer's certificate is valid at now, else KRR_E_CERTIFICATE (-EPERM). */
int krr_signer_check_time(const struct krr_signer *s, int64_t now, struct krr_error *err);

/* krr_encode, then an enveloped XML Signature per TS 33.180 D.4.2. */
int krr_encode_signed(const struct krr *k, const struct krr_signer *s, char **xml, size_t *len,
    struct krr_error *err);

/*
 * Trust anchors (one or more PEM certificates) for verifying KRRs: these and
 * nothing else (no system certificate store).  The verifier also keeps the
 * last signer chains it verified, so it changes as it is used.
 */
struct krr_verifier;
int krr_verifier_new(const char *anchors_pem, size_t len, struct krr_verifier **out,
    struct krr_error *err);
void krr_verifier_free(struct krr_verifier *v);

/*
 * Certificate revocation lists (one or more PEM CRLs, krr.crl): from now on
 * every certificate of a signer's chain must be covered by a CRL of its
 * issuer that is current, and not be on it; a chain that cannot be checked
 * so does not verify (fail closed).
 */
int krr_verifier_add_crls(struct krr_verifier *v, const char *pem, size_t len, struct krr_error *err);

struct krr_verdict {
	bool valid;			/* signature, reference and chain all hold */
	struct krr_error why;		/* when not valid */
	char *signer;			/* subject of the signing certificate (owned), or NULL */
	char *signer_uris[KRR_MAX_SIGNER_URIS];	/* its URI subjectAltNames (owned) */
	size_t n_signer_uris;
	int embedded_valid;		/* -1: nothing embedded; 0: it fails; 1: it verifies */
	struct krr_error embedded_why;
};

/*
 * Verify the signature of a KRR document at time now (Unix seconds; for the
 * certificate validity period): the document must decode, carry exactly one
 * signature as a child of its root whose single Reference is the root's own
 * Id, and be signed with the key of the first X509Certificate of its KeyInfo,
 * a P-256 certificate that chains (through the other ones) to an anchor.  An embedded
 * KRR is verified on its own.  Returns 0 with *out filled (free with
 * krr_verdict_clear) whatever the verdict, or a negative errno when the
 * verification could not run.
 */
int krr_verify(struct krr_verifier *v, const char *xml, size_t len, int64_t now,
    struct krr_verdict *out);
/* krr_verify on a document already parsed and decoded (its tree gains ID attributes). */
int krr_verify_doc(struct krr_verifier *v, struct krr_doc *d, int64_t now, struct krr_verdict *out);
void krr_verdict_clear(struct krr_verdict *out);

#endif
