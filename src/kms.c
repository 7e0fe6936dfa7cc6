/* KMS registry: the configured KMSs merged with KmsCertificate files, and "usable at time t". */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/tree.h>

#include "kms.h"
#include "timeutil.h"
#include "xmlsafe.h"

#define KMS_NS "urn:3gpp:ns:mcsecKMSInterface:1.0"

void kms_info_clear(struct kms_info *info)
{
	free(info->uri);
	free(info->cert_file);
	memset(info, 0, sizeof(*info));
}

void kms_registry_free(struct kms_registry *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++)
		kms_info_clear(&r->kms[i]);
	free(r->kms);
	free(r);
}

const struct kms_info *kms_find(const struct kms_registry *r, const char *uri)
{
	for (size_t i = 0; r && uri && i < r->n; i++)
		if (strcmp(r->kms[i].uri, uri) == 0)
			return &r->kms[i];
	return NULL;
}

enum kms_state kms_state(const struct kms_registry *r, const char *uri, int64_t t)
{
	const struct kms_info *k = kms_find(r, uri);

	if (!k)
		return KMS_UNKNOWN;
	if (k->revoked)
		return KMS_REVOKED;
	if (t < k->valid_from)
		return KMS_NOT_YET_VALID;
	if (t > k->valid_to)
		return KMS_EXPIRED;
	return KMS_USABLE;
}

const char *kms_state_name(enum kms_state s)
{
	switch (s) {
	case KMS_USABLE:	return "usable";
	case KMS_UNKNOWN:	return "unknown";
	case KMS_REVOKED:	return "revoked";
	case KMS_NOT_YET_VALID:	return "not-yet-valid";
	case KMS_EXPIRED:	return "expired";
	}
	return "unknown";
}

/* ---- KmsCertificate (TS 33.180 D.3, namespace urn:3gpp:ns:mcsecKMSInterface:1.0) ---- */

static bool is_el(const xmlNode *n, const char *name)
{
	return n && n->type == XML_ELEMENT_NODE && n->ns && n->ns->href &&
	    strcmp((const char *)n->ns->href, KMS_NS) == 0 && strcmp((const char *)n->name, name) == 0;
}

/* Trimmed text of a leaf element (malloc'd), or NULL. */
static char *text_of(const xmlNode *e)
{
	xmlChar *v = xmlNodeGetContent(e);
	if (!v)
		return NULL;
	const char *p = (const char *)v;
	while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		p++;
	size_t n = strlen(p);
	while (n && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r' || p[n - 1] == '\n'))
		n--;
	char *out = strndup(p, n);
	xmlFree(v);
	return out;
}

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;
	if (!s || !*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	unsigned long long x = strtoull(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*v = x;
	return 0;
}

static int parse_hex(const char *s, uint8_t *out, size_t n)
{
	if (strlen(s) != 2 * n)
		return -EINVAL;
	for (size_t i = 0; i < 2 * n; i++) {
		char c = s[i];
		int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
		    : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (v < 0)
			return -EINVAL;
		out[i / 2] = (uint8_t)(i % 2 ? out[i / 2] | v : v << 4);
	}
	return 0;
}

static int cert_fail(char *err, size_t errlen, int *line, int at, const char *msg, const char *what)
{
	snprintf(err, errlen, "%s%s%s", msg, what ? " " : "", what ? what : "");
	*line = at;
	return -EBADMSG;
}

/* One field of the certificate; returns 0, or fails naming the element. */
static int cert_field(const xmlNode *c, struct kms_info *k, bool *seen_uri, char *err,
    size_t errlen, int *line)
{
	char *v = text_of(c);
	int rc = 0;

	if (!v)
		return cert_fail(err, errlen, line, 0, "out of memory", NULL);
	if (is_el(c, "KmsUri")) {
		if (*seen_uri)
			rc = cert_fail(err, errlen, line, c->line, "KmsUri given twice", NULL);
		else if (!*v || strchr(v, ' '))
			rc = cert_fail(err, errlen, line, c->line, "KmsUri is empty or has spaces", NULL);
		else {
			k->uri = v;
			v = NULL;
			*seen_uri = true;
		}
	} else if (is_el(c, "ValidFrom") || is_el(c, "ValidTo")) {
		int64_t t;
		if (time_parse_iso(v, &t) < 0)
			rc = cert_fail(err, errlen, line, c->line, "not an xsd:dateTime:", (const char *)c->name);
		else
			*(is_el(c, "ValidFrom") ? &k->valid_from : &k->valid_to) = t;
	} else if (is_el(c, "Revoked")) {
		if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
			k->revoked = true;
		else if (strcmp(v, "false") != 0 && strcmp(v, "0") != 0)
			rc = cert_fail(err, errlen, line, c->line, "Revoked is not an xsd:boolean", NULL);
	} else if (is_el(c, "UserKeyPeriod") || is_el(c, "UserKeyOffset")) {
		uint64_t x;
		if (parse_u64(v, &x) < 0 || (is_el(c, "UserKeyPeriod") && x == 0))
			rc = cert_fail(err, errlen, line, c->line, "not a number of seconds:", (const char *)c->name);
		else
			*(is_el(c, "UserKeyPeriod") ? &k->key_period : &k->key_offset) = x;
	} else if (is_el(c, "PubAuthKey")) {
		if (parse_hex(v, k->kpak, KMS_KPAK_LEN) < 0 || k->kpak[0] != 0x04)
			rc = cert_fail(err, errlen, line, c->line,
			    "PubAuthKey is not 65 octets of hex starting 04", NULL);
		else
			k->has_kpak = true;
	}
	/* Other elements (CertUri, Issuer, PubEncKey, KmsDomainList, ##other) are not ours to judge. */
	free(v);
	return rc;
}

int kms_cert_parse(const char *xml, size_t len, struct kms_info *info, char *err, size_t errlen,
    int *line)
{
	struct kms_info k = { .valid_from = INT64_MIN, .valid_to = INT64_MAX, .has_cert = true };
	struct xmlsafe_error xe;
	xmlDocPtr doc;
	int rc = 0;
	bool seen_uri = false;

	*line = 0;
	if (xmlsafe_parse(xml, len, KMS_MAX_CERT_DOC, &doc, &xe) < 0)
		return cert_fail(err, errlen, line, xe.line, xe.detail, NULL);
	xmlNodePtr root = xmlDocGetRootElement(doc), cert = root;
	/* SignedKmsCertificate wraps one KmsCertificate (and a signature we do not check). */
	if (is_el(root, "SignedKmsCertificate"))
		for (cert = root->children; cert && !is_el(cert, "KmsCertificate"); cert = cert->next)
			;
	if (!is_el(cert, "KmsCertificate")) {
		rc = cert_fail(err, errlen, line, root ? root->line : 0,
		    "not a KmsCertificate in namespace " KMS_NS, NULL);
		goto out;
	}
	xmlChar *role = xmlGetNoNsProp(cert, (const xmlChar *)"Role");
	if (role && strcmp((const char *)role, "Root") == 0)
		k.role = CONF_KMS_HOME;
	else if (role && strcmp((const char *)role, "External") == 0)
		k.role = CONF_KMS_EXTERNAL;
	else
		rc = cert_fail(err, errlen, line, cert->line, "Role must be Root or External", NULL);
	xmlFree(role);
	for (xmlNodePtr c = cert->children; c && rc == 0; c = c->next)
		if (c->type == XML_ELEMENT_NODE)
			rc = cert_field(c, &k, &seen_uri, err, errlen, line);
	if (rc == 0 && !seen_uri)
		rc = cert_fail(err, errlen, line, cert->line, "KmsUri missing", NULL);
	if (rc == 0 && k.valid_from > k.valid_to)
		rc = cert_fail(err, errlen, line, cert->line, "ValidFrom is after ValidTo", NULL);
out:
	xmlFreeDoc(doc);
	if (rc < 0) {
		kms_info_clear(&k);
		return rc;
	}
	*info = k;
	return 0;
}

/* ---- registry ---- */

static int add(struct kms_registry *r, struct kms_info *k)
{
	struct kms_info *v = realloc(r->kms, (r->n + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	r->kms = v;
	r->kms[r->n++] = *k;
	memset(k, 0, sizeof(*k));
	return 0;
}

/*
 * A certificate narrows the configured KMS it names.  The configuration's
 * kms list stays the one list of known domains: a file dropped in the
 * folder must not widen what is accepted.
 */
static int merge(struct kms_registry *r, struct kms_info *cert, struct conf_diags *d)
{
	struct kms_info *k = (struct kms_info *)kms_find(r, cert->uri);

	if (!k) {
		int rc = conf_diags_add(d, cert->cert_file, 0, "KmsCertificate for %s, which kms does not declare",
		    cert->uri);
		kms_info_clear(cert);
		return rc < 0 ? -ENOMEM : -EINVAL;
	}
	k->revoked |= cert->revoked;
	if (cert->valid_from > k->valid_from)
		k->valid_from = cert->valid_from;
	if (cert->valid_to < k->valid_to)
		k->valid_to = cert->valid_to;
	k->has_cert = true;
	k->key_period = cert->key_period;
	k->key_offset = cert->key_offset;
	memcpy(k->kpak, cert->kpak, KMS_KPAK_LEN);
	k->has_kpak = cert->has_kpak;
	free(k->cert_file);
	k->cert_file = cert->cert_file;
	cert->cert_file = NULL;
	kms_info_clear(cert);
	return 0;
}

static int xml_file(const struct dirent *e)
{
	size_t n = strlen(e->d_name);
	return e->d_name[0] != '.' && n > 4 && strcmp(e->d_name + n - 4, ".xml") == 0;
}

static int load_certs(const struct conf *c, struct kms_registry *r, struct conf_diags *d)
{
	const char *dir = c->kms_certificates;
	struct dirent **names;
	int n = scandir(dir, &names, xml_file, alphasort), rc = 0;

	if (n < 0) {
		const char *why = strerror(errno);
		return conf_diags_add(d, conf_at_file(c, &c->kms_certificates_at), c->kms_certificates_at.line,
		    "kms_certificates: cannot read %s: %s", dir, why) < 0 ? -ENOMEM : -EINVAL;
	}
	for (int i = 0; i < n; i++) {
		char *path = NULL, *buf = NULL, err[160];
		struct kms_info k;
		int line;
		FILE *f = NULL;
		long size;

		if (asprintf(&path, "%s/%s", dir, names[i]->d_name) < 0) {
			rc = -ENOMEM;
		} else if ((f = fopen(path, "rb")) == NULL || fseek(f, 0, SEEK_END) < 0 ||
		    (size = ftell(f)) < 0 || size > KMS_MAX_CERT_DOC || fseek(f, 0, SEEK_SET) < 0 ||
		    (buf = malloc((size_t)size + 1)) == NULL ||
		    fread(buf, 1, (size_t)size, f) != (size_t)size) {
			if (conf_diags_add(d, path, 0, "cannot read (or larger than %d octets)", KMS_MAX_CERT_DOC) < 0)
				rc = -ENOMEM;
			else if (rc == 0)
				rc = -EINVAL;
		} else if (kms_cert_parse(buf, (size_t)size, &k, err, sizeof(err), &line) < 0) {
			if (conf_diags_add(d, path, line, "%s", err) < 0)
				rc = -ENOMEM;
			else if (rc == 0)
				rc = -EINVAL;
		} else {
			k.cert_file = path;
			path = NULL;
			int mrc = merge(r, &k, d);
			if (mrc == -ENOMEM || (mrc < 0 && rc == 0))
				rc = mrc;
		}
		if (f)
			fclose(f);
		free(buf);
		free(path);
		free(names[i]);
	}
	free(names);
	return rc;
}

int kms_registry_build(const struct conf *c, struct kms_registry **out, struct conf_diags *d)
{
	struct kms_registry *r = calloc(1, sizeof(*r));
	int rc = 0;

	if (!r)
		return -ENOMEM;
	for (size_t i = 0; i < c->n_kms && rc == 0; i++) {
		struct kms_info k = {
			.uri = strdup(c->kms[i].uri), .role = c->kms[i].role,
			.valid_from = c->kms[i].valid_from, .valid_to = c->kms[i].valid_to,
			.revoked = c->kms[i].revoked,
		};
		if (!k.uri || add(r, &k) < 0) {
			kms_info_clear(&k);
			rc = -ENOMEM;
		}
	}
	if (rc == 0 && c->kms_certificates)
		rc = load_certs(c, r, d);
	if (rc < 0) {
		kms_registry_free(r);
		return rc;
	}
	*out = r;
	return 0;
}
