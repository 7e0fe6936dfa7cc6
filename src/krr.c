/* KRR model: the name table, ownership, error names and library set-up. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <xmlsec/xmlsec.h>
#include <xmlsec/crypto.h>

#include "krr_int.h"
#include "xmlsafe.h"

/* The one place that names KRR elements (align with TS 33.180 D.4.4 here). */
const struct krr_names krr_names = {
	.ns = "urn:3gpp:ns:mcsecKMSKRR:1.0",
	.root = "KmsRedirectResponse",
	.id = "Id",
	.version = "Version",
	.time = "Time",
	.uri = {
		[KRR_ORIGINATOR] = "OriginatorUri",
		[KRR_ORIGINATOR_KMS] = "OriginatorKmsUri",
		[KRR_INITIATOR] = "InitiatorUri",
		[KRR_RECEIVER] = "ReceiverUri",
		[KRR_INITIATOR_KMS] = "InitiatorKmsUri",
		[KRR_RECEIVER_KMS] = "ReceiverKmsUri",
	},
	.accept_initiator = "AcceptableInitiatorKmsUris",
	.accept_receiver = "AcceptableReceiverKmsUris",
	.kms_uri = "KmsUri",
	.embedded = "EmbeddedKrr",
	.dsig_ns = "http://www.w3.org/2000/09/xmldsig#",
	.signature = "Signature",
};

static const struct {
	const char *name, *text;
} errors[KRR_E__COUNT] = {
	[KRR_OK] = { "ok", "no error" },
	[KRR_E_TOO_LARGE] = { "too-large", "document too large" },
	[KRR_E_XML] = { "bad-xml", "not well-formed XML" },
	[KRR_E_DTD] = { "dtd", "DTDs and entities are not accepted" },
	[KRR_E_ROOT] = { "bad-root", "not a KmsRedirectResponse" },
	[KRR_E_NAMESPACE] = { "bad-namespace", "element outside the KRR namespace" },
	[KRR_E_MISSING] = { "missing", "required element or attribute missing" },
	[KRR_E_DUPLICATE] = { "duplicate", "element or Id given twice" },
	[KRR_E_UNEXPECTED] = { "unexpected", "unexpected content" },
	[KRR_E_VALUE] = { "bad-value", "bad value" },
	[KRR_E_LIMIT] = { "limit", "beyond a limit" },
	[KRR_E_NOMEM] = { "no-memory", "out of memory" },
	[KRR_E_CRYPTO] = { "crypto", "key, certificate or crypto library failure" },
	[KRR_E_UNSIGNED] = { "unsigned", "no signature" },
	[KRR_E_SIGNATURE] = { "bad-signature", "signature does not verify" },
	[KRR_E_REFERENCE] = { "bad-reference", "signature does not cover this KRR" },
	[KRR_E_CERTIFICATE] = { "untrusted-certificate", "no trusted, valid certificate for the signer" },
};

const char *krr_strerror(enum krr_err code)
{
	return (unsigned)code < KRR_E__COUNT ? errors[code].text : "unknown error";
}

const char *krr_err_name(enum krr_err code)
{
	return (unsigned)code < KRR_E__COUNT ? errors[code].name : "unknown";
}

int krr_fail(struct krr_error *err, enum krr_err code, int line, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		err->code = code;
		err->line = line;
		va_start(ap, fmt);
		vsnprintf(err->detail, sizeof(err->detail), fmt, ap);
		va_end(ap);
	}
	switch (code) {
	case KRR_E_NOMEM:	return -ENOMEM;
	case KRR_E_TOO_LARGE:	return -E2BIG;
	case KRR_E_CRYPTO:	return -EIO;
	case KRR_E_UNSIGNED:
	case KRR_E_SIGNATURE:
	case KRR_E_REFERENCE:
	case KRR_E_CERTIFICATE:	return -EPERM;
	default:		return -EBADMSG;
	}
}

int krr_global_init(void)
{
	static bool done;

	if (done)
		return 0;
	xmlsafe_global_init();
	LIBXML_TEST_VERSION
	if (xmlSecInit() < 0 || xmlSecCheckVersion() != 1 || xmlSecCryptoAppInit(NULL) < 0 ||
	    xmlSecCryptoInit() < 0)
		return -EIO;
	done = true;
	return 0;
}

void krr_global_cleanup(void)
{
	xmlSecCryptoShutdown();
	xmlSecCryptoAppShutdown();
	xmlSecShutdown();
	xmlCleanupParser();
}

struct krr *krr_new(void)
{
	return calloc(1, sizeof(struct krr));
}

static void list_clear(struct krr_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->uri[i]);
	l->n = 0;
}

void krr_free(struct krr *k)
{
	if (!k)
		return;
	free(k->id);
	free(k->version);
	for (size_t i = 0; i < KRR_URI__COUNT; i++)
		free(k->uri[i]);
	list_clear(&k->accept_initiator);
	list_clear(&k->accept_receiver);
	krr_free(k->embedded);
	free(k->embedded_xml);
	free(k);
}

int krr_set(char **field, const char *value)
{
	char *copy = NULL;

	if (value) {
		if (strlen(value) > KRR_MAX_URI)
			return -E2BIG;
		if ((copy = strdup(value)) == NULL)
			return -ENOMEM;
	}
	free(*field);
	*field = copy;
	return 0;
}

int krr_list_add(struct krr_list *l, const char *uri)
{
	if (!uri || !*uri)
		return -EINVAL;
	if (l->n == KRR_MAX_LIST || strlen(uri) > KRR_MAX_URI)
		return -E2BIG;
	if ((l->uri[l->n] = strdup(uri)) == NULL)
		return -ENOMEM;
	l->n++;
	return 0;
}

bool krr_is(const xmlNode *node, const char *ns, const char *name)
{
	return node && node->type == XML_ELEMENT_NODE && node->ns && node->ns->href &&
	    strcmp((const char *)node->ns->href, ns) == 0 &&
	    strcmp((const char *)node->name, name) == 0;
}

int krr_parse(const char *xml, size_t len, xmlDocPtr *doc, struct krr_error *err)
{
	struct xmlsafe_error xe;

	if (xmlsafe_parse(xml, len, KRR_MAX_DOC, doc, &xe) == 0)
		return 0;
	switch (xe.code) {
	case XMLSAFE_E_TOO_LARGE:
		return krr_fail(err, KRR_E_TOO_LARGE, 0, "%zu octets, at most %d", len, KRR_MAX_DOC);
	case XMLSAFE_E_DTD:
		return krr_fail(err, KRR_E_DTD, xe.line, "%s", xe.detail);
	case XMLSAFE_E_NOMEM:
		return krr_fail(err, KRR_E_NOMEM, 0, "out of memory");
	default:
		return krr_fail(err, KRR_E_XML, xe.line, "%s", xe.detail);
	}
}

int krr_dump(xmlDocPtr doc, char **xml, size_t *len, struct krr_error *err)
{
	xmlChar *buf = NULL;
	int n = 0;

	xmlDocDumpFormatMemoryEnc(doc, &buf, &n, NULL, 0);	/* UTF-8, no conversion pass */
	if (!buf || n <= 0)
		return krr_fail(err, KRR_E_NOMEM, 0, "cannot serialize");
	/* Hand out malloc memory, whatever allocator libxml2 was built with. */
	char *out = malloc((size_t)n + 1);
	if (!out) {
		xmlFree(buf);
		return krr_fail(err, KRR_E_NOMEM, 0, "out of memory");
	}
	memcpy(out, buf, (size_t)n);
	out[n] = '\0';
	xmlFree(buf);
	*xml = out;
	*len = (size_t)n;
	return 0;
}
