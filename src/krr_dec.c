/* KRR decoder: checks a KmsRedirectResponse element by element, as a schema sequence would. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "krr_int.h"
#include "timeutil.h"

/* Positions of the content sequence, in document order. */
enum slot {
	S_TIME,
	S_URI0,			/* the six URIs take S_URI0 .. S_URI0 + 5 */
	S_ACCEPT_I = S_URI0 + KRR_URI__COUNT,
	S_ACCEPT_R,
	S_EMBEDDED,		/* optional */
	S_SIGNATURE,		/* optional, last */
	S__COUNT,
};

static const char *slot_name(enum slot s)
{
	if (s == S_TIME)
		return krr_names.time;
	if (s >= S_URI0 && s < S_ACCEPT_I)
		return krr_names.uri[s - S_URI0];
	switch (s) {
	case S_ACCEPT_I:	return krr_names.accept_initiator;
	case S_ACCEPT_R:	return krr_names.accept_receiver;
	case S_EMBEDDED:	return krr_names.embedded;
	case S_SIGNATURE:	return krr_names.signature;
	default:		return "?";
	}
}

static int slot_of(const xmlNode *n)
{
	for (int s = 0; s < S__COUNT; s++)
		if (krr_is(n, s == S_SIGNATURE ? krr_names.dsig_ns : krr_names.ns, slot_name(s)))
			return s;
	return -1;
}

static bool is_blank(const xmlChar *s)
{
	for (; s && *s; s++)
		if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n')
			return false;
	return true;
}

/* Whether a child node may sit between elements: white space, comments. */
static bool ignorable(const xmlNode *n)
{
	return n->type == XML_COMMENT_NODE ||
	    (n->type == XML_TEXT_NODE && is_blank(n->content));
}

struct dec {
	struct krr_error *err;
	xmlDocPtr *keep;	/* non-NULL: the outer KRR's embedded copy goes here, not freed */
	const char *ids[KRR_MAX_DEPTH];	/* Ids of the enclosing KRRs: each must be unique */
	unsigned depth;
};

/* The text of a leaf element, trimmed (xsd whiteSpace collapse at the edges); malloc'd. */
static int leaf_text(struct dec *d, const xmlNode *e, size_t max, char **out)
{
	size_t len = 0;
	char *buf;

	for (const xmlNode *c = e->children; c; c = c->next) {
		if (c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE)
			len += strlen((const char *)c->content);
		else if (c->type != XML_COMMENT_NODE)
			return krr_fail(d->err, KRR_E_UNEXPECTED, e->line, "%s holds markup", e->name);
	}
	if ((buf = malloc(len + 1)) == NULL)
		return krr_fail(d->err, KRR_E_NOMEM, 0, "out of memory");
	len = 0;
	for (const xmlNode *c = e->children; c; c = c->next) {
		if (c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) {
			size_t n = strlen((const char *)c->content);
			memcpy(buf + len, c->content, n);
			len += n;
		}
	}
	buf[len] = '\0';
	char *p = buf;
	while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		p++;
	size_t n = strlen(p);
	while (n && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r' || p[n - 1] == '\n'))
		n--;
	memmove(buf, p, n);
	buf[n] = '\0';
	if (n == 0) {
		free(buf);
		return krr_fail(d->err, KRR_E_VALUE, e->line, "%s is empty", e->name);
	}
	if (n > max) {
		free(buf);
		return krr_fail(d->err, KRR_E_LIMIT, e->line, "%s longer than %zu octets", e->name, max);
	}
	*out = buf;
	return 0;
}

/* xsd:ID is an NCName; ours are also short. */
static bool id_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > KRR_MAX_ID || !((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
		return false;
	for (; *s; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		    *s == '_' || *s == '-' || *s == '.'))
			return false;
	return true;
}

static int decode_attrs(struct dec *d, const xmlNode *e, struct krr *k)
{
	for (const xmlAttr *a = e->properties; a; a = a->next) {
		char **field = NULL;
		if (!a->ns && strcmp((const char *)a->name, krr_names.id) == 0)
			field = &k->id;
		else if (!a->ns && strcmp((const char *)a->name, krr_names.version) == 0)
			field = &k->version;
		else
			return krr_fail(d->err, KRR_E_UNEXPECTED, e->line, "unexpected attribute %s", a->name);
		xmlChar *v = xmlNodeListGetString(e->doc, a->children, 1);
		if (!v)
			v = xmlStrdup((const xmlChar *)"");
		if (!v)
			return krr_fail(d->err, KRR_E_NOMEM, 0, "out of memory");
		int rc = strlen((const char *)v) > KRR_MAX_ID ? -E2BIG : krr_set(field, (const char *)v);
		xmlFree(v);
		if (rc == -E2BIG)
			return krr_fail(d->err, KRR_E_LIMIT, e->line, "attribute %s longer than %d", a->name, KRR_MAX_ID);
		if (rc < 0)
			return krr_fail(d->err, KRR_E_NOMEM, 0, "out of memory");
	}
	if (!k->id)
		return krr_fail(d->err, KRR_E_MISSING, e->line, "attribute %s missing", krr_names.id);
	if (!id_ok(k->id))
		return krr_fail(d->err, KRR_E_VALUE, e->line, "Id '%s' is not an XML ID", k->id);
	if (!k->version)
		return krr_fail(d->err, KRR_E_MISSING, e->line, "attribute %s missing", krr_names.version);
	for (unsigned i = 0; i < d->depth; i++)
		if (strcmp(d->ids[i], k->id) == 0)
			return krr_fail(d->err, KRR_E_DUPLICATE, e->line, "Id '%s' used twice", k->id);
	return 0;
}

static int decode_list(struct dec *d, const xmlNode *e, struct krr_list *l)
{
	for (const xmlNode *c = e->children; c; c = c->next) {
		if (ignorable(c))
			continue;
		if (!krr_is(c, krr_names.ns, krr_names.kms_uri))
			return krr_fail(d->err, KRR_E_UNEXPECTED, c->line, "%s may hold only %s",
			    e->name, krr_names.kms_uri);
		if (l->n == KRR_MAX_LIST)
			return krr_fail(d->err, KRR_E_LIMIT, c->line, "more than %d KMS URIs in %s",
			    KRR_MAX_LIST, e->name);
		char *v;
		int rc = leaf_text(d, c, KRR_MAX_URI, &v);
		if (rc < 0)
			return rc;
		l->uri[l->n++] = v;
	}
	return 0;
}

static int decode_element(struct dec *d, const xmlNode *e, struct krr **out);

/*
 * A standalone copy of an embedded KRR element.  Namespaces it uses but
 * inherits get declared on the copy's root, and nothing else moves: its
 * C14N form, and so its own signature, stay as they were (xmlReconciliateNs
 * would hoist every declaration to the root and break that).
 */
static int embedded_text(struct dec *d, const xmlNode *e, char **xml)
{
	xmlDocPtr doc = xmlNewDoc((const xmlChar *)"1.0");
	xmlNodePtr copy = NULL;
	size_t len;
	int rc;

	if (!doc || xmlDOMWrapCloneNode(NULL, e->doc, (xmlNodePtr)e, &copy, doc, NULL, 1, 0) != 0 ||
	    !copy) {
		xmlFreeDoc(doc);
		return krr_fail(d->err, KRR_E_NOMEM, 0, "cannot copy the embedded KRR");
	}
	xmlDocSetRootElement(doc, copy);
	/* The clone still points at inherited declarations of the source: declare those here. */
	if (xmlDOMWrapReconcileNamespaces(NULL, copy, 0) != 0) {
		xmlFreeDoc(doc);
		return krr_fail(d->err, KRR_E_NOMEM, 0, "cannot copy the embedded KRR");
	}
	rc = krr_dump(doc, xml, &len, d->err);
	/* The outer KRR's embedded one (depth 1 here) is verified on this very copy: no parse of the text. */
	if (rc == 0 && d->keep && d->depth == 1 && !*d->keep)
		*d->keep = doc;
	else
		xmlFreeDoc(doc);
	return rc;
}

static int decode_embedded(struct dec *d, const xmlNode *e, struct krr *k)
{
	const xmlNode *inner = NULL;

	for (const xmlNode *c = e->children; c; c = c->next) {
		if (ignorable(c))
			continue;
		if (inner || !krr_is(c, krr_names.ns, krr_names.root))
			return krr_fail(d->err, KRR_E_UNEXPECTED, c->line, "%s holds one %s and nothing else",
			    krr_names.embedded, krr_names.root);
		inner = c;
	}
	if (!inner)
		return krr_fail(d->err, KRR_E_MISSING, e->line, "%s is empty", krr_names.embedded);
	if (d->depth >= KRR_MAX_DEPTH)
		return krr_fail(d->err, KRR_E_LIMIT, inner->line, "KRRs nested more than %d deep",
		    KRR_MAX_DEPTH);
	int rc = decode_element(d, inner, &k->embedded);
	if (rc == 0)
		rc = embedded_text(d, inner, &k->embedded_xml);
	return rc;
}

static int decode_content(struct dec *d, const xmlNode *e, struct krr *k)
{
	int next = S_TIME;	/* the first slot not yet passed */
	int rc;

	for (const xmlNode *c = e->children; c; c = c->next) {
		if (ignorable(c))
			continue;
		if (c->type != XML_ELEMENT_NODE)
			return krr_fail(d->err, KRR_E_UNEXPECTED, c->line, "text or markup in %s", e->name);
		int s = slot_of(c);
		if (s < 0) {
			bool other_ns = !c->ns || !c->ns->href ||
			    (strcmp((const char *)c->ns->href, krr_names.ns) != 0 &&
			     strcmp((const char *)c->ns->href, krr_names.dsig_ns) != 0);
			return krr_fail(d->err, other_ns ? KRR_E_NAMESPACE : KRR_E_UNEXPECTED, c->line,
			    "unexpected element %s%s%s", c->ns && c->ns->href ? (const char *)c->ns->href : "",
			    c->ns ? ":" : "", c->name);
		}
		if (s < next)
			return krr_fail(d->err, KRR_E_DUPLICATE, c->line, "%s given twice or out of order",
			    c->name);
		/* Everything before S_EMBEDDED is required, in order. */
		if (next < S_EMBEDDED && s != next)
			return krr_fail(d->err, KRR_E_MISSING, c->line, "%s missing before %s",
			    slot_name(next), c->name);
		next = s + 1;

		if (s == S_TIME) {
			char *v;
			if ((rc = leaf_text(d, c, 64, &v)) < 0)
				return rc;
			rc = time_parse_iso(v, &k->time);
			if (rc < 0) {
				krr_fail(d->err, KRR_E_VALUE, c->line, "%s '%s' is not an xsd:dateTime",
				    krr_names.time, v);
				free(v);
				return -EBADMSG;
			}
			free(v);
		} else if (s < S_ACCEPT_I) {
			if ((rc = leaf_text(d, c, KRR_MAX_URI, &k->uri[s - S_URI0])) < 0)
				return rc;
		} else if (s == S_ACCEPT_I || s == S_ACCEPT_R) {
			if ((rc = decode_list(d, c, s == S_ACCEPT_I ? &k->accept_initiator
							       : &k->accept_receiver)) < 0)
				return rc;
		} else if (s == S_EMBEDDED) {
			if ((rc = decode_embedded(d, c, k)) < 0)
				return rc;
		} else {
			k->is_signed = true;	/* its content is xmlsec's to judge */
		}
	}
	if (next < S_EMBEDDED)
		return krr_fail(d->err, KRR_E_MISSING, e->line, "%s missing", slot_name(next));
	return 0;
}

static int decode_element(struct dec *d, const xmlNode *e, struct krr **out)
{
	struct krr *k = krr_new();
	int rc;

	if (!k)
		return krr_fail(d->err, KRR_E_NOMEM, 0, "out of memory");
	if ((rc = decode_attrs(d, e, k)) < 0)
		goto fail;
	d->ids[d->depth++] = k->id;
	rc = decode_content(d, e, k);
	d->depth--;
	if (rc < 0)
		goto fail;
	*out = k;
	return 0;
fail:
	krr_free(k);
	return rc;
}

static int decode_doc(struct dec *d, xmlDocPtr doc, struct krr **out)
{
	struct krr_error *err = d->err;
	xmlNodePtr root = xmlDocGetRootElement(doc);

	if (!root || root->type != XML_ELEMENT_NODE ||
	    strcmp((const char *)root->name, krr_names.root) != 0)
		return krr_fail(err, KRR_E_ROOT, root ? root->line : 0, "root element is %s, not %s",
		    root ? (const char *)root->name : "missing", krr_names.root);
	if (!krr_is(root, krr_names.ns, krr_names.root))
		return krr_fail(err, KRR_E_NAMESPACE, root->line, "%s not in namespace %s",
		    krr_names.root, krr_names.ns);
	return decode_element(d, root, out);
}

int krr_decode_doc(xmlDocPtr doc, struct krr **out, struct krr_error *err)
{
	struct dec d = { .err = err, .depth = 0 };

	return decode_doc(&d, doc, out);
}

int krr_decode_doc_keep(xmlDocPtr doc, struct krr **out, xmlDocPtr *embedded, struct krr_error *err)
{
	struct dec d = { .err = err, .depth = 0, .keep = embedded };
	int rc;

	*embedded = NULL;
	if ((rc = decode_doc(&d, doc, out)) < 0) {
		xmlFreeDoc(*embedded);
		*embedded = NULL;
	}
	return rc;
}

int krr_doc_parse(const char *xml, size_t len, struct krr_doc **out, struct krr_error *err)
{
	struct krr_doc *d = calloc(1, sizeof(*d));
	int rc;

	if (!d)
		return krr_fail(err, KRR_E_NOMEM, 0, "out of memory");
	if ((rc = krr_parse(xml, len, &d->xml, err)) < 0 ||
	    (rc = krr_decode_doc_keep(d->xml, &d->krr, &d->embedded, err)) < 0)
		goto fail;
	if ((d->id = strdup(d->krr->id)) == NULL ||
	    (d->krr->embedded && (d->embedded_id = strdup(d->krr->embedded->id)) == NULL)) {
		rc = krr_fail(err, KRR_E_NOMEM, 0, "out of memory");
		goto fail;
	}
	*out = d;
	return 0;
fail:
	krr_doc_free(d);
	return rc;
}

const struct krr *krr_doc_krr(const struct krr_doc *d)
{
	return d->krr;
}

struct krr *krr_doc_take(struct krr_doc *d)
{
	struct krr *k = d->krr;

	d->krr = NULL;
	return k;
}

void krr_doc_free(struct krr_doc *d)
{
	if (!d)
		return;
	krr_free(d->krr);
	xmlFreeDoc(d->embedded);
	xmlFreeDoc(d->xml);
	free(d->id);
	free(d->embedded_id);
	free(d);
}

int krr_decode(const char *xml, size_t len, struct krr **out, struct krr_error *err)
{
	xmlDocPtr doc;
	int rc;

	if ((rc = krr_parse(xml, len, &doc, err)) < 0)
		return rc;
	rc = krr_decode_doc(doc, out, err);
	xmlFreeDoc(doc);
	return rc;
}
