/* What the KRR modules share among themselves: the document-level codec. */
#ifndef MCX_KRR_INT_H
#define MCX_KRR_INT_H

#include <libxml/tree.h>

#include "krr.h"

/* Record an error; returns the negative errno that goes with the code. */
int krr_fail(struct krr_error *err, enum krr_err code, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Parse a KRR document safely (xmlsafe) into *doc; 0 or a krr_fail() code. */
int krr_parse(const char *xml, size_t len, xmlDocPtr *doc, struct krr_error *err);

/* Decode the KRR rooted at the document's root element. */
int krr_decode_doc(xmlDocPtr doc, struct krr **out, struct krr_error *err);

/* A parsed KRR (krr.h): the tree and what verifying it needs, whoever has the decoded KRR. */
struct krr_doc {
	xmlDocPtr xml;		/* the document as parsed */
	struct krr *krr;	/* decoded; NULL once taken */
	char *id;		/* its root's Id: the one its signature must reference */
	xmlDocPtr embedded;	/* its EmbeddedKrr's KRR alone (the copy embedded_xml is the text of), or NULL */
	char *embedded_id;
};

/* krr_decode_doc, keeping the embedded KRR's standalone copy in *embedded (NULL: none). */
int krr_decode_doc_keep(xmlDocPtr doc, struct krr **out, xmlDocPtr *embedded, struct krr_error *err);

/* Build the unsigned document for k. */
int krr_build_doc(const struct krr *k, xmlDocPtr *out, struct krr_error *err);

/* Serialize a document as UTF-8 text with its XML declaration (malloc'd). */
int krr_dump(xmlDocPtr doc, char **xml, size_t *len, struct krr_error *err);

/* Whether node is the element name in namespace ns. */
bool krr_is(const xmlNode *node, const char *ns, const char *name);

#endif
