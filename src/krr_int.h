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

/* Build the unsigned document for k. */
int krr_build_doc(const struct krr *k, xmlDocPtr *out, struct krr_error *err);

/* Serialize a document as UTF-8 text with its XML declaration (malloc'd). */
int krr_dump(xmlDocPtr doc, char **xml, size_t *len, struct krr_error *err);

/* Whether node is the element name in namespace ns. */
bool krr_is(const xmlNode *node, const char *ns, const char *name);

#endif
