/* KRR encoder: builds the KmsRedirectResponse document, one element per line. */
#include "config.h"

#include <string.h>

#include "krr_int.h"
#include "timeutil.h"

/* Indentation is text the signature covers: add it while building, never reformat after. */
static bool indent(xmlNodePtr parent, int level)
{
	static const char spaces[] = "\n        ";
	size_t n = 1 + 2 * (size_t)level;
	return xmlAddChild(parent, xmlNewTextLen((const xmlChar *)spaces,
	    (int)(n < sizeof(spaces) ? n : sizeof(spaces) - 1))) != NULL;
}

static xmlNodePtr add_leaf(xmlNodePtr parent, xmlNsPtr ns, const char *name, const char *text,
    int level)
{
	if (!indent(parent, level))
		return NULL;
	/* xmlNewTextChild escapes the text. */
	return xmlNewTextChild(parent, ns, (const xmlChar *)name, (const xmlChar *)text);
}

static bool add_list(xmlNodePtr root, xmlNsPtr ns, const char *name, const struct krr_list *l)
{
	xmlNodePtr list;

	if (!indent(root, 1) || (list = xmlNewChild(root, ns, (const xmlChar *)name, NULL)) == NULL)
		return false;
	for (size_t i = 0; i < l->n; i++)
		if (!add_leaf(list, ns, krr_names.kms_uri, l->uri[i], 2))
			return false;
	return l->n == 0 || indent(list, 1);
}

/*
 * The embedded KRR's element, copied from its own document as it is: the
 * one parsed already (from), or else parsed from its text.
 */
static int add_embedded(xmlNodePtr root, xmlNsPtr ns, const char *xml, const struct krr_doc *from,
    struct krr_error *err)
{
	xmlDocPtr src = from ? from->xml : NULL;
	xmlNodePtr holder, copy;
	int rc;

	if (!src && (rc = krr_parse(xml, strlen(xml), &src, err)) < 0)
		return rc;
	if (!krr_is(xmlDocGetRootElement(src), krr_names.ns, krr_names.root)) {
		if (!from)
			xmlFreeDoc(src);
		return krr_fail(err, KRR_E_ROOT, 0, "the KRR to embed is not a %s", krr_names.root);
	}
	if (!indent(root, 1) ||
	    (holder = xmlNewChild(root, ns, (const xmlChar *)krr_names.embedded, NULL)) == NULL ||
	    (copy = xmlDocCopyNode(xmlDocGetRootElement(src), root->doc, 1)) == NULL) {
		if (!from)
			xmlFreeDoc(src);
		return krr_fail(err, KRR_E_NOMEM, 0, "out of memory");
	}
	xmlAddChild(holder, copy);
	if (!from)
		xmlFreeDoc(src);
	return 0;
}

int krr_build_doc(const struct krr *k, xmlDocPtr *out, struct krr_error *err)
{
	char iso[TIME_ISO_LEN];
	xmlDocPtr doc;
	xmlNodePtr root;
	xmlNsPtr ns;
	int rc;

	if (!k->id || !k->version)
		return krr_fail(err, KRR_E_MISSING, 0, "Id and Version are required");
	for (int i = 0; i < KRR_URI__COUNT; i++)
		if (!k->uri[i] || !*k->uri[i])
			return krr_fail(err, KRR_E_MISSING, 0, "%s is required", krr_names.uri[i]);
	if (time_format_iso(k->time, iso) < 0)
		return krr_fail(err, KRR_E_VALUE, 0, "time out of range");

	doc = xmlNewDoc((const xmlChar *)"1.0");
	root = doc ? xmlNewDocNode(doc, NULL, (const xmlChar *)krr_names.root, NULL) : NULL;
	ns = root ? xmlNewNs(root, (const xmlChar *)krr_names.ns, NULL) : NULL;
	if (!ns)
		goto nomem;
	xmlSetNs(root, ns);
	xmlDocSetRootElement(doc, root);
	if (!xmlNewProp(root, (const xmlChar *)krr_names.id, (const xmlChar *)k->id) ||
	    !xmlNewProp(root, (const xmlChar *)krr_names.version, (const xmlChar *)k->version) ||
	    !add_leaf(root, ns, krr_names.time, iso, 1))
		goto nomem;
	for (int i = 0; i < KRR_URI__COUNT; i++)
		if (!add_leaf(root, ns, krr_names.uri[i], k->uri[i], 1))
			goto nomem;
	if (!add_list(root, ns, krr_names.accept_initiator, &k->accept_initiator) ||
	    !add_list(root, ns, krr_names.accept_receiver, &k->accept_receiver))
		goto nomem;
	if (k->embedded_xml && (rc = add_embedded(root, ns, k->embedded_xml, k->embedded_doc, err)) < 0) {
		xmlFreeDoc(doc);
		return rc;
	}
	if (!indent(root, 0))
		goto nomem;
	/* With foreign content inside, check the whole (nesting, limits, unique Ids). */
	if (k->embedded_xml) {
		struct krr *check = NULL;
		if ((rc = krr_decode_doc(doc, &check, err)) < 0) {
			xmlFreeDoc(doc);
			return rc;
		}
		krr_free(check);
	}
	*out = doc;
	return 0;
nomem:
	xmlFreeDoc(doc);
	return krr_fail(err, KRR_E_NOMEM, 0, "out of memory");
}

int krr_encode(const struct krr *k, char **xml, size_t *len, struct krr_error *err)
{
	xmlDocPtr doc;
	int rc;

	if ((rc = krr_build_doc(k, &doc, err)) < 0)
		return rc;
	rc = krr_dump(doc, xml, len, err);
	xmlFreeDoc(doc);
	return rc;
}
