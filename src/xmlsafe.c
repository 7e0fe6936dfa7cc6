/* Bounded, DTD-free XML parsing for documents that arrive from the network. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/xmlerror.h>

#include "xmlsafe.h"

static int fail(struct xmlsafe_error *err, enum xmlsafe_err code, int line, const char *detail)
{
	err->code = code;
	err->line = line;
	snprintf(err->detail, sizeof(err->detail), "%s", detail);
	return code == XMLSAFE_E_NOMEM ? -ENOMEM : code == XMLSAFE_E_TOO_LARGE ? -E2BIG : -EBADMSG;
}

static void quiet(void *ctx, const char *msg, ...)
{
	(void)ctx;
	(void)msg;
}

static void quiet_structured(void *ctx, xmlErrorPtr e)
{
	(void)ctx;
	(void)e;
}

/* Nothing outside the document is ever loaded: no DTD, no external entity. */
static xmlParserInputPtr no_loading(const char *url, const char *id, xmlParserCtxtPtr ctxt)
{
	(void)url;
	(void)id;
	(void)ctxt;
	return NULL;
}

void xmlsafe_global_init(void)
{
	xmlInitParser();
	xmlSetGenericErrorFunc(NULL, quiet);
	xmlSetStructuredErrorFunc(NULL, quiet_structured);
	xmlSetExternalEntityLoader(no_loading);
}

static unsigned long parses;

unsigned long xmlsafe_parse_count(void)
{
	return parses;
}

static const void *find(const char *buf, size_t len, const char *what)
{
	return memmem(buf, len, what, strlen(what));
}

int xmlsafe_parse(const char *buf, size_t len, size_t max, xmlDocPtr *out,
    struct xmlsafe_error *err)
{
	size_t p = 0;

	if (len > max)
		return fail(err, XMLSAFE_E_TOO_LARGE, 0, "document larger than allowed");
	if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
		p = 3;
	while (p < len && (buf[p] == ' ' || buf[p] == '\t' || buf[p] == '\r' || buf[p] == '\n'))
		p++;
	/* Rules out UTF-16/32 (NULs) and EBCDIC, where the scans below would be blind. */
	if (p == len || buf[p] != '<' || memchr(buf, '\0', len))
		return fail(err, XMLSAFE_E_ENCODING, 0, "not an XML document in UTF-8");
	if (find(buf, len, "<!DOCTYPE") || find(buf, len, "<!ENTITY"))
		return fail(err, XMLSAFE_E_DTD, 0, "DOCTYPE or ENTITY declarations are not accepted");

	xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
	if (!ctxt)
		return fail(err, XMLSAFE_E_NOMEM, 0, "out of memory");
	parses++;
	xmlDocPtr doc = xmlCtxtReadMemory(ctxt, buf, (int)len, NULL, NULL,
	    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!doc || !ctxt->wellFormed) {
		const xmlError *e = xmlCtxtGetLastError(ctxt);
		char detail[128];
		snprintf(detail, sizeof(detail), "%s", e && e->message ? e->message : "not well-formed");
		detail[strcspn(detail, "\n")] = '\0';
		int line = e ? e->line : 0;
		xmlFreeDoc(doc);
		xmlFreeParserCtxt(ctxt);
		return fail(err, XMLSAFE_E_SYNTAX, line, detail);
	}
	xmlFreeParserCtxt(ctxt);
	/* Belt and braces: the scan above should make this impossible. */
	if (doc->intSubset || doc->extSubset) {
		xmlFreeDoc(doc);
		return fail(err, XMLSAFE_E_DTD, 0, "DTD present");
	}
	*out = doc;
	return 0;
}
