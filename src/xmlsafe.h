/* Parsing untrusted XML with libxml2: bounded, no DTD, no entities, no network. */
#ifndef MCX_XMLSAFE_H
#define MCX_XMLSAFE_H

#include <stddef.h>

#include <libxml/tree.h>

enum xmlsafe_err {
	XMLSAFE_OK = 0,
	XMLSAFE_E_TOO_LARGE,	/* above the caller's bound */
	XMLSAFE_E_ENCODING,	/* not UTF-8 (or ASCII-compatible) text */
	XMLSAFE_E_DTD,		/* a DOCTYPE or entity declaration */
	XMLSAFE_E_SYNTAX,	/* not well-formed */
	XMLSAFE_E_NOMEM,
};

struct xmlsafe_error {
	enum xmlsafe_err code;
	int line;
	char detail[128];
};

/*
 * Parse len octets (at most max) into a document (free with xmlFreeDoc).
 * Refused before parsing: oversize input, NUL octets or a first character
 * that is not '<', white space or a UTF-8 byte order mark, and any
 * "<!DOCTYPE" or "<!ENTITY": no DTD is ever read, so no entity can expand.
 * libxml2 then parses without network access or entity substitution.
 * Returns 0, or -EBADMSG / -ENOMEM / -E2BIG with *err filled.
 */
int xmlsafe_parse(const char *buf, size_t len, size_t max, xmlDocPtr *doc,
    struct xmlsafe_error *err);

/* How many times this process has run libxml2's parser through xmlsafe_parse (tests count parses). */
unsigned long xmlsafe_parse_count(void);

/* Keep libxml2 quiet (errors come back through xmlsafe_parse) and offline; once per process. */
void xmlsafe_global_init(void);

#endif
