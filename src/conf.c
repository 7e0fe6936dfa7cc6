/* mcx-sdproxy.conf loader: libconfig syntax, typed extraction with defaults in one place, semantic checks. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <libconfig.h>

#include "access.h"
#include "conf.h"
#include "krr.h"
#include "lookup.h"
#include "timeutil.h"
#include "tls_creds.h"

#define CONF_MAX_KMS_URI	255
#define CONF_MAX_KEY		256	/* a key's full name in messages ("kms[1].uri"), truncated beyond */

/*
 * The two URI rules, as the messages state them.  A SIP URI: "sip:" or
 * "sips:", an optional "user@", a host (name, IPv4 or [IPv6]), an optional
 * ":port" (1-65535), then optional ";params" or "?headers"; no space,
 * control character, quote or angle bracket anywhere.  A KMS URI (a bare
 * host-style name such as kms.home.example, or an absolute URI): 1 to 255
 * visible ASCII characters other than quotes and angle brackets.
 */
#define SIP_URI_RULE	"expected sip: or sips:, a host and an optional port"
#define KMS_URI_RULE	"expected 1 to 255 visible characters, no space, quote or angle bracket"

_Static_assert(sizeof(enum conf_server_role) == sizeof(int) && sizeof(enum conf_kms_role) == sizeof(int) &&
    sizeof(enum conf_action) == sizeof(int) && sizeof(enum conf_log_level) == sizeof(int),
    "enum fields are written as int");

/* ---- every default, in one place ---- */

#define DEFAULT_LISTEN	"sip:127.0.0.1:5060;transport=udp"
#define DEFAULT_BACKEND	"table"

/* A kms = ( { ... } ) entry: external, valid forever, not revoked. */
static const struct conf_kms kms_default = {
	.role = CONF_KMS_EXTERNAL, .valid_from = INT64_MIN, .valid_to = INT64_MAX, .revoked = false,
};
static const struct conf_lookup_entry entry_default;	/* no user, no domains: both required */
static const struct conf_domain domain_default;		/* no KMS (required), no external domains */

static int conf_defaults(struct conf *c)
{
	c->server.role = CONF_PRIMARY;
	c->server.sip_t1 = CONF_SIP_T1_DEFAULT;
	c->policy.on_missing_mikey = CONF_FORWARD;
	c->policy.on_malformed_mikey = CONF_REJECT;
	c->policy.on_uninspectable = CONF_REJECT;
	c->policy.on_unknown_target = CONF_FORWARD;
	c->policy.on_lookup_failure = CONF_REJECT;
	c->lookup.ldap.timeout_ms = CONF_LDAP_TIMEOUT_MS_DEFAULT;
	c->lookup.ldap.cache_ttl = CONF_LDAP_CACHE_TTL_DEFAULT;
	c->lookup.ldap.negative_ttl = CONF_LDAP_NEGATIVE_TTL_DEFAULT;
	c->lookup.ldap.cache_size = CONF_LDAP_CACHE_SIZE_DEFAULT;
	c->policy.verify_imessage = false;
	c->krr.require_signed = false;
	c->tls.verify_peer = true;
	c->overload.queue_high = CONF_QUEUE_HIGH_DEFAULT;
	c->overload.queue_low = CONF_QUEUE_LOW_DEFAULT;
	c->overload.max_in_flight = CONF_MAX_IN_FLIGHT_DEFAULT;
	c->overload.retry_after = CONF_RETRY_AFTER_DEFAULT;
	c->limits.sources = CONF_SOURCES_DEFAULT;
	c->limits.connections = CONF_CONNECTIONS_DEFAULT;
	c->limits.idle_timeout = CONF_IDLE_TIMEOUT_DEFAULT;
	c->log.level = CONF_LOG_INFO;
	if ((c->lookup.backend = strdup(DEFAULT_BACKEND)) == NULL ||
	    (c->server.listen.v = calloc(1, sizeof(char *))) == NULL ||
	    (c->server.listen.v[0] = strdup(DEFAULT_LISTEN)) == NULL)
		return -ENOMEM;
	c->server.listen.n = 1;
	return 0;
}

/* ---- the file's shape: names, types and where each value goes ---- */

enum ftype {
	F_STRING,
	F_PATH,		/* a string, resolved against the configuration file's folder */
	F_BOOL,
	F_INT,		/* an integer in [min, max], stored as int */
	F_ENUM,		/* a string among values[], stored as its index */
	F_TIME,		/* xsd:dateTime text, stored as Unix seconds */
	F_STRINGS,	/* [ "a", "b" ] or ( "a", "b" ) */
	F_GROUP,	/* { ... }: members[] go into the same object */
	F_LIST,		/* ( { ... }, ... ): an array of objects of size octets */
};

struct field {
	const char *name;
	enum ftype type;
	size_t off;			/* in the object being filled */
	const char *const *values;	/* F_ENUM, NULL-terminated, indexed by the enum constant */
	const struct field *members;	/* F_GROUP, F_LIST (NULL-named sentinel) */
	size_t size, off_n, off_line;	/* F_LIST: element size, where the count and each line go;
					   F_PATH: off_line is where its struct conf_at goes */
	const void *init;		/* F_LIST: a new element's defaults */
	int min, max;			/* F_INT bounds */
};

#define FIELD(T, n, t, m)	{ .name = (n), .type = (t), .off = offsetof(T, m) }
#define ENUM(T, n, m, v)	{ .name = (n), .type = F_ENUM, .off = offsetof(T, m), .values = (v) }
#define GROUP(n, f)		{ .name = (n), .type = F_GROUP, .members = (f) }
#define LIST(T, n, m, cnt, E, f, d) { .name = (n), .type = F_LIST, .off = offsetof(T, m), \
	.off_n = offsetof(T, cnt), .size = sizeof(E), .off_line = offsetof(E, line), .members = (f), .init = (d) }
#define PATH(T, n, m)		{ .name = (n), .type = F_PATH, .off = offsetof(T, m), .off_line = offsetof(T, m##_at) }
#define INT(T, n, m, lo, hi)	{ .name = (n), .type = F_INT, .off = offsetof(T, m), .min = (lo), .max = (hi) }
#define END			{ .name = NULL }

static const char *const server_roles[] = { "primary", "partner", NULL };
static const char *const kms_roles[] = { "home", "external", NULL };
static const char *const actions[] = { "forward", "reject", NULL };
static const char *const log_levels[] = { "error", "warning", "info", "debug", NULL };

static const struct field server_fields[] = {
	ENUM(struct conf, "role", server.role, server_roles),
	FIELD(struct conf, "uri", F_STRING, server.uri),
	FIELD(struct conf, "kms_uri", F_STRING, server.kms_uri),
	FIELD(struct conf, "listen", F_STRINGS, server.listen),
	FIELD(struct conf, "next_hop", F_STRING, server.next_hop),
	INT(struct conf, "sip_t1", server.sip_t1, CONF_SIP_T1_MIN, CONF_SIP_T1_MAX),
	INT(struct conf, "workers", server.workers, 1, CONF_WORKERS_MAX),
	INT(struct conf, "worker_port_base", server.worker_port_base, 1, 65535),
	FIELD(struct conf, "peers", F_STRINGS, server.peers),
	FIELD(struct conf, "metrics_listen", F_STRING, server.metrics_listen),
	END
};

static const struct field kms_fields[] = {
	FIELD(struct conf_kms, "uri", F_STRING, uri),
	ENUM(struct conf_kms, "role", role, kms_roles),
	FIELD(struct conf_kms, "valid_from", F_TIME, valid_from),
	FIELD(struct conf_kms, "valid_to", F_TIME, valid_to),
	FIELD(struct conf_kms, "revoked", F_BOOL, revoked),
	END
};

static const struct field domain_fields[] = {
	FIELD(struct conf_domain, "kms", F_STRING, kms),
	FIELD(struct conf_domain, "external", F_STRINGS, external),
	END
};

static const struct field entry_fields[] = {
	FIELD(struct conf_lookup_entry, "user", F_STRING, user),
	LIST(struct conf_lookup_entry, "domains", domains, n_domains, struct conf_domain, domain_fields,
	    &domain_default),
	END
};

static const struct field ldap_fields[] = {
	FIELD(struct conf, "uris", F_STRINGS, lookup.ldap.uris),
	FIELD(struct conf, "base", F_STRING, lookup.ldap.base),
	FIELD(struct conf, "bind_dn", F_STRING, lookup.ldap.bind_dn),
	PATH(struct conf, "bind_secret_file", lookup.ldap.bind_secret_file),
	FIELD(struct conf, "starttls", F_BOOL, lookup.ldap.starttls),
	PATH(struct conf, "ca", lookup.ldap.ca),
	INT(struct conf, "timeout_ms", lookup.ldap.timeout_ms, 10, 60000),
	INT(struct conf, "cache_ttl", lookup.ldap.cache_ttl, 0, 86400),
	INT(struct conf, "negative_ttl", lookup.ldap.negative_ttl, 0, 86400),
	INT(struct conf, "cache_size", lookup.ldap.cache_size, 16, 10000000),
	END
};

static const struct field lookup_fields[] = {
	FIELD(struct conf, "backend", F_STRING, lookup.backend),
	LIST(struct conf, "entries", lookup.entries, lookup.n_entries, struct conf_lookup_entry, entry_fields,
	    &entry_default),
	GROUP("ldap", ldap_fields),
	END
};

static const struct field policy_fields[] = {
	ENUM(struct conf, "on_missing_mikey", policy.on_missing_mikey, actions),
	ENUM(struct conf, "on_malformed_mikey", policy.on_malformed_mikey, actions),
	ENUM(struct conf, "on_uninspectable", policy.on_uninspectable, actions),
	ENUM(struct conf, "on_unknown_target", policy.on_unknown_target, actions),
	ENUM(struct conf, "on_lookup_failure", policy.on_lookup_failure, actions),
	FIELD(struct conf, "verify_imessage", F_BOOL, policy.verify_imessage),
	FIELD(struct conf, "deny_initiator_kms", F_STRINGS, policy.deny_initiator_kms),
	FIELD(struct conf, "deny_receiver_kms", F_STRINGS, policy.deny_receiver_kms),
	END
};

static const struct field krr_fields[] = {
	PATH(struct conf, "certificate", krr.certificate),
	PATH(struct conf, "private_key", krr.private_key),
	PATH(struct conf, "trust_anchors", krr.trust_anchors),
	PATH(struct conf, "crl", krr.crl),
	FIELD(struct conf, "require_signed", F_BOOL, krr.require_signed),
	END
};

static const struct field tls_fields[] = {
	PATH(struct conf, "certificate", tls.certificate),
	PATH(struct conf, "private_key", tls.private_key),
	PATH(struct conf, "ca", tls.ca),
	FIELD(struct conf, "verify_peer", F_BOOL, tls.verify_peer),
	FIELD(struct conf, "peer_identities", F_STRINGS, tls.peer_identities),
	END
};

static const struct field overload_fields[] = {
	INT(struct conf, "queue_high", overload.queue_high, 1, 100),
	INT(struct conf, "queue_low", overload.queue_low, 0, 99),
	INT(struct conf, "max_in_flight", overload.max_in_flight, 0, CONF_MAX_IN_FLIGHT_MAX),
	INT(struct conf, "retry_after", overload.retry_after, 1, CONF_RETRY_AFTER_MAX),
	END
};

static const struct field limits_fields[] = {
	INT(struct conf, "source_rate", limits.source_rate, 0, 1000000),
	INT(struct conf, "source_burst", limits.source_burst, 0, 1000000),
	INT(struct conf, "sources", limits.sources, 16, 1 << 24),
	INT(struct conf, "connections", limits.connections, 0, 1000000),
	INT(struct conf, "idle_timeout", limits.idle_timeout, 0, 86400),
	END
};

static const struct field log_fields[] = {
	ENUM(struct conf, "level", log.level, log_levels),
	PATH(struct conf, "audit", log.audit),
	END
};

static const struct field conf_fields[] = {
	GROUP("server", server_fields),
	LIST(struct conf, "kms", kms, n_kms, struct conf_kms, kms_fields, &kms_default),
	PATH(struct conf, "kms_certificates", kms_certificates),
	GROUP("lookup", lookup_fields),
	GROUP("policy", policy_fields),
	GROUP("krr", krr_fields),
	GROUP("tls", tls_fields),
	GROUP("overload", overload_fields),
	GROUP("limits", limits_fields),
	GROUP("log", log_fields),
	END
};

/* ---- the loader and its messages ---- */

struct diag {
	unsigned int line;	/* 0: about the whole file, sorted last */
	size_t seq;		/* ties keep the order of discovery */
	char *msg;
};

struct loader {
	const char *path;	/* as given: the prefix of every message */
	char *dir;		/* the file's folder (resolved when possible): relative paths start here */
	config_t cfg;
	struct diag *d;
	size_t n, cap;
	bool nomem;
};

static void vdiag(struct loader *ld, const char *file, unsigned int line, const char *fmt, va_list ap)
{
	char *text = NULL, *msg = NULL;
	int rc;

	if (vasprintf(&text, fmt, ap) < 0) {
		ld->nomem = true;
		return;
	}
	/* An @include'd file is named as written, relative to the include folder. */
	if (file && file[0] != '/')
		rc = line ? asprintf(&msg, "%s/%s:%u: %s", ld->dir, file, line, text) :
		    asprintf(&msg, "%s/%s: %s", ld->dir, file, text);
	else if (line)
		rc = asprintf(&msg, "%s:%u: %s", file ? file : ld->path, line, text);
	else
		rc = asprintf(&msg, "%s: %s", file ? file : ld->path, text);
	free(text);
	if (rc < 0) {
		ld->nomem = true;
		return;
	}
	/* One problem, one line: no control character from the file gets through. */
	for (char *p = msg; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	if (ld->n == ld->cap) {
		size_t cap = ld->cap ? 2 * ld->cap : 16;
		struct diag *d = realloc(ld->d, cap * sizeof(*d));
		if (!d) {
			free(msg);
			ld->nomem = true;
			return;
		}
		ld->d = d;
		ld->cap = cap;
	}
	ld->d[ld->n] = (struct diag){ .line = line, .seq = ld->n, .msg = msg };
	ld->n++;
}

/* A problem at setting s (its file and line), or about the whole file when s is NULL. */
__attribute__((format(printf, 3, 4)))
static void diag(struct loader *ld, const config_setting_t *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdiag(ld, s ? config_setting_source_file(s) : NULL, s ? config_setting_source_line(s) : 0, fmt, ap);
	va_end(ap);
}

__attribute__((format(printf, 4, 5)))
static void diag_at(struct loader *ld, const char *file, unsigned int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdiag(ld, file, line, fmt, ap);
	va_end(ap);
}

static int diag_cmp(const void *a, const void *b)
{
	const struct diag *x = a, *y = b;
	unsigned int lx = x->line ? x->line : UINT_MAX, ly = y->line ? y->line : UINT_MAX;

	if (lx != ly)
		return lx < ly ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Hand the messages over in file order; 0 or -ENOMEM. */
static int diag_flush(struct loader *ld, struct conf_diags *out)
{
	char **m;

	if (ld->n == 0)
		return 0;
	qsort(ld->d, ld->n, sizeof(*ld->d), diag_cmp);
	if ((m = realloc(out->msg, (out->n + ld->n) * sizeof(*m))) == NULL) {
		for (size_t i = 0; i < ld->n; i++)
			free(ld->d[i].msg);
		ld->n = 0;
		return -ENOMEM;
	}
	out->msg = m;
	for (size_t i = 0; i < ld->n; i++)
		out->msg[out->n++] = ld->d[i].msg;
	ld->n = 0;
	return 0;
}

/* The configuration file's folder, resolved to an absolute path when it can be. */
static char *folder_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
	char *real;

	if (dir && (real = realpath(dir, NULL)) != NULL) {
		free(dir);
		return real;
	}
	return dir;
}

static char *resolve(const struct loader *ld, const char *p)
{
	char *out;
	size_t n = strlen(ld->dir);

	if (p[0] == '/')
		return strdup(p);
	if (asprintf(&out, "%s%s%s", ld->dir, n && ld->dir[n - 1] == '/' ? "" : "/", p) < 0)
		return NULL;
	return out;
}

/* ---- pass 2: typed extraction ---- */

/* Where s is, as messages name it (see vdiag), for the loader of the file it names. */
static void set_at(struct loader *ld, struct conf_at *at, const config_setting_t *s)
{
	const char *file = config_setting_source_file(s);
	char *f = NULL;

	if (file && (file[0] == '/' ? (f = strdup(file)) == NULL : asprintf(&f, "%s/%s", ld->dir, file) < 0)) {
		ld->nomem = true;
		return;
	}
	free(at->file);
	at->file = f;
	at->line = (int)config_setting_source_line(s);
}

static void set_string(struct loader *ld, char **dst, const char *v)
{
	char *s = strdup(v);

	if (!s) {
		ld->nomem = true;
		return;
	}
	free(*dst);
	*dst = s;
}

static void strings_clear(struct conf_strings *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

static bool is_sequence(const config_setting_t *s)
{
	return config_setting_is_list(s) || config_setting_is_array(s);
}

static void extract_group(struct loader *ld, const config_setting_t *g, const struct field *fields,
    char *base, const char *name);

static void extract_enum(struct loader *ld, const config_setting_t *s, const struct field *f, char *base,
    const char *key)
{
	const char *v = config_setting_get_string(s);
	char expected[128] = "";
	size_t n = 0;

	for (int i = 0; f->values[i]; i++) {
		if (strcmp(v, f->values[i]) == 0) {
			int e = i;
			memcpy(base + f->off, &e, sizeof(e));
			return;
		}
		n++;
	}
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(expected);
		snprintf(expected + len, sizeof(expected) - len, "%s\"%s\"",
		    i == 0 ? "" : i + 1 == n ? " or " : ", ", f->values[i]);
	}
	diag(ld, s, "%s: expected %s, not \"%s\"", key, expected, v);
}

static void extract_strings(struct loader *ld, const config_setting_t *s, struct conf_strings *dst,
    const char *key)
{
	struct conf_strings out = { 0 };
	unsigned int n;
	bool ok = true;

	if (!is_sequence(s)) {
		diag(ld, s, "%s: expected a list of strings", key);
		return;
	}
	n = (unsigned int)config_setting_length(s);
	if (n && (out.v = calloc(n, sizeof(char *))) == NULL) {
		ld->nomem = true;
		return;
	}
	for (unsigned int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, i);
		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			diag(ld, e, "%s[%u]: expected a string", key, i);
			ok = false;
		} else if (ok && (out.v[out.n++] = strdup(config_setting_get_string(e))) == NULL) {
			ld->nomem = true;
			ok = false;
		}
	}
	if (!ok) {
		strings_clear(&out);
		return;
	}
	strings_clear(dst);
	*dst = out;
}

static void extract_list(struct loader *ld, const config_setting_t *s, const struct field *f, char *base,
    const char *key)
{
	unsigned int n;
	char *arr = NULL;
	char name[CONF_MAX_KEY + 16];

	if (!is_sequence(s)) {
		diag(ld, s, "%s: expected a list ( ... )", key);
		return;
	}
	n = (unsigned int)config_setting_length(s);
	if (n && (arr = calloc(n, f->size)) == NULL) {
		ld->nomem = true;
		return;
	}
	/* Owned by the conf from here on, so that conf_free releases a partial list. */
	memcpy(base + f->off, &arr, sizeof(arr));
	memcpy(base + f->off_n, &(size_t){ n }, sizeof(size_t));
	for (unsigned int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, i);
		char *elem = arr + (size_t)i * f->size;
		int line = (int)config_setting_source_line(e);

		memcpy(elem, f->init, f->size);
		memcpy(elem + f->off_line, &line, sizeof(line));
		snprintf(name, sizeof(name), "%s[%u]", key, i);
		extract_group(ld, e, f->members, elem, name);
	}
}

static void extract_field(struct loader *ld, const config_setting_t *s, const struct field *f, char *base,
    const char *key)
{
	int type = config_setting_type(s);
	char **str = (char **)(void *)(base + f->off);

	switch (f->type) {
	case F_STRING:
	case F_PATH:
	case F_ENUM:
	case F_TIME:
		if (type != CONFIG_TYPE_STRING) {
			diag(ld, s, "%s: expected a string", key);
			return;
		}
		break;
	default:
		break;
	}
	switch (f->type) {
	case F_STRING:
		set_string(ld, str, config_setting_get_string(s));
		break;
	case F_PATH: {
		const char *v = config_setting_get_string(s);
		char *p;
		if (!*v) {
			diag(ld, s, "%s: expected a file name, not an empty string", key);
			break;
		}
		if ((p = resolve(ld, v)) == NULL) {
			ld->nomem = true;
			break;
		}
		free(*str);
		*str = p;
		set_at(ld, (struct conf_at *)(void *)(base + f->off_line), s);
		break;
	}
	case F_ENUM:
		extract_enum(ld, s, f, base, key);
		break;
	case F_TIME: {
		int64_t t;
		const char *v = config_setting_get_string(s);
		if (time_parse_iso(v, &t) < 0)
			diag(ld, s, "%s: expected a time such as \"2027-01-01T00:00:00Z\", not \"%s\"", key, v);
		else
			memcpy(base + f->off, &t, sizeof(t));
		break;
	}
	case F_BOOL:
		if (type != CONFIG_TYPE_BOOL)
			diag(ld, s, "%s: expected a boolean (true or false)", key);
		else
			*(bool *)(void *)(base + f->off) = config_setting_get_bool(s) != 0;
		break;
	case F_INT:
		if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64)
			diag(ld, s, "%s: expected an integer", key);
		else if (config_setting_get_int64(s) < f->min || config_setting_get_int64(s) > f->max)
			diag(ld, s, "%s: %lld is out of range (%d to %d)", key, (long long)config_setting_get_int64(s),
			    f->min, f->max);
		else
			*(int *)(void *)(base + f->off) = (int)config_setting_get_int64(s);
		break;
	case F_STRINGS:
		extract_strings(ld, s, (struct conf_strings *)(void *)(base + f->off), key);
		break;
	case F_GROUP:
		extract_group(ld, s, f->members, base, key);
		break;
	case F_LIST:
		extract_list(ld, s, f, base, key);
		break;
	}
}

/* Every member of group g must be one of fields; name is the group's (empty for the root). */
static void extract_group(struct loader *ld, const config_setting_t *g, const struct field *fields,
    char *base, const char *name)
{
	char key[CONF_MAX_KEY];

	if (!config_setting_is_group(g)) {
		diag(ld, g, "%s: expected a group { ... }", name);
		return;
	}
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *m = config_setting_get_elem(g, (unsigned int)i);
		const struct field *f = fields;

		snprintf(key, sizeof(key), "%s%s%s", name, *name ? "." : "", config_setting_name(m));
		while (f->name && strcmp(f->name, config_setting_name(m)) != 0)
			f++;
		if (!f->name)
			diag(ld, m, "unknown key '%s'", key);
		else
			extract_field(ld, m, f, base, key);
	}
}

/* ---- pass 3: semantic checks, every one an error (the loader has no warnings) ---- */

static const config_setting_t *member(const config_setting_t *s, const char *name)
{
	return s && config_setting_is_group(s) ? config_setting_get_member(s, name) : NULL;
}

static const config_setting_t *elem(const config_setting_t *s, size_t i)
{
	return s && is_sequence(s) && i < (size_t)config_setting_length(s) ?
	    config_setting_get_elem(s, (unsigned int)i) : NULL;
}

/* The setting itself when it exists, else the nearest enclosing one given. */
static const config_setting_t *either(const config_setting_t *s, const config_setting_t *outer)
{
	return s ? s : outer;
}

static bool bad_char(unsigned char ch)
{
	return ch <= ' ' || ch >= 0x7f || ch == '"' || ch == '<' || ch == '>';
}

static bool sip_uri_ok(const char *s)
{
	const char *p, *end, *at;

	for (p = s; *p; p++)
		if (bad_char((unsigned char)*p))
			return false;
	if (strncasecmp(s, "sip:", 4) == 0)
		p = s + 4;
	else if (strncasecmp(s, "sips:", 5) == 0)
		p = s + 5;
	else
		return false;
	end = p + strcspn(p, ";?");
	if ((at = memchr(p, '@', (size_t)(end - p))) != NULL) {
		if (at == p)
			return false;
		p = at + 1;
	}
	if (*p == '[') {
		const char *q = p + 1;
		while (*q && strchr("0123456789abcdefABCDEF:.", *q))
			q++;
		if (*q != ']' || q == p + 1)
			return false;
		p = q + 1;
	} else {
		const char *q = p;
		while (*q && strchr("-.0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", *q))
			q++;
		if (q == p)
			return false;
		p = q;
	}
	if (*p == ':') {
		long port = 0;
		const char *q = ++p;
		while (*q >= '0' && *q <= '9' && q - p < 6)
			port = port * 10 + (*q++ - '0');
		if (q == p || port < 1 || port > 65535)
			return false;
		p = q;
	}
	return *p == '\0' || *p == ';' || *p == '?';
}

static bool kms_uri_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > CONF_MAX_KMS_URI)
		return false;
	for (; *s; s++)
		if (bad_char((unsigned char)*s))
			return false;
	return true;
}

/* A lookup user: an exact URI or a pattern with '*'; no space or control character. */
static bool user_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > KRR_MAX_URI)
		return false;
	for (; *s; s++)
		if (bad_char((unsigned char)*s))
			return false;
	return true;
}

static const struct conf_kms *conf_kms_find(const struct conf *c, const char *uri)
{
	for (size_t i = 0; i < c->n_kms; i++)
		if (c->kms[i].uri && strcmp(c->kms[i].uri, uri) == 0)
			return &c->kms[i];
	return NULL;
}

/* "http://HOST:PORT/PATH": a host (name, IPv4, or [IPv6]), a port, a path; no query, no user, no TLS. */
static bool metrics_url_ok(const char *u)
{
	const char *h, *p;

	if (strncmp(u, "http://", 7) != 0)
		return false;
	h = u + 7;
	if (*h == '[') {
		if ((p = strchr(h, ']')) == NULL || p == h + 1)
			return false;
		for (const char *x = h + 1; x < p; x++)
			if (!isxdigit((unsigned char)*x) && *x != ':' && *x != '.')
				return false;
		p++;
	} else {
		for (p = h; *p && *p != ':' && *p != '/'; p++)
			if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-')
				return false;
		if (p == h)
			return false;
	}
	if (*p++ != ':')
		return false;
	long port = 0;
	const char *digits = p;
	for (; isdigit((unsigned char)*p) && port <= 65535; p++)
		port = port * 10 + (*p - '0');
	if (p == digits || port < 1 || port > 65535 || *p != '/')
		return false;
	for (; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == '?' || *p == '#' || *p == '%')
			return false;
	return true;
}

static void check_server(struct loader *ld, const struct conf *c, const config_setting_t *s)
{
	const config_setting_t *ls = member(s, "listen");

	if (c->server.metrics_listen && !metrics_url_ok(c->server.metrics_listen))
		diag(ld, member(s, "metrics_listen"),
		    "server.metrics_listen: not an HTTP URL \"%s\" (http://HOST:PORT/PATH, e.g. http://127.0.0.1:9099/metrics)",
		    c->server.metrics_listen);

	if (!c->server.uri)
		diag(ld, s, "missing required key 'server.uri'");
	else if (!sip_uri_ok(c->server.uri))
		diag(ld, member(s, "uri"), "server.uri: not a SIP URI \"%s\" (" SIP_URI_RULE ")", c->server.uri);
	if (!c->server.kms_uri) {
		diag(ld, s, "missing required key 'server.kms_uri'");
	} else if (!kms_uri_ok(c->server.kms_uri)) {
		diag(ld, member(s, "kms_uri"), "server.kms_uri: not a KMS URI \"%s\" (" KMS_URI_RULE ")",
		    c->server.kms_uri);
	} else {
		const struct conf_kms *k = conf_kms_find(c, c->server.kms_uri);
		if (!k || k->role != CONF_KMS_HOME)
			diag(ld, member(s, "kms_uri"), "server.kms_uri: no KMS \"%s\" with role \"home\" in kms",
			    c->server.kms_uri);
	}
	if (c->server.listen.n == 0)
		diag(ld, ls, "server.listen: empty (at least one address is needed)");
	for (size_t i = 0; i < c->server.listen.n; i++)
		if (!sip_uri_ok(c->server.listen.v[i]))
			diag(ld, either(elem(ls, i), ls), "server.listen[%zu]: not a SIP URI \"%s\" (" SIP_URI_RULE ")",
			    i, c->server.listen.v[i]);
	if (c->server.next_hop && !sip_uri_ok(c->server.next_hop))
		diag(ld, member(s, "next_hop"), "server.next_hop: not a SIP URI \"%s\" (" SIP_URI_RULE ")",
		    c->server.next_hop);
	for (size_t i = 0; i < c->server.peers.n; i++) {
		struct access_peer peer;
		const char *why;
		int rc = access_parse_peer(c->server.peers.v[i], &peer, &why);
		if (rc == -ENOMEM)
			ld->nomem = true;
		else if (rc < 0)
			diag(ld, either(elem(member(s, "peers"), i), either(member(s, "peers"), s)),
			    "server.peers[%zu]: \"%s\" is not a peer (expected %s)", i, c->server.peers.v[i], why);
		access_peer_clear(&peer);
	}
}

static void check_kms(struct loader *ld, const struct conf *c, const config_setting_t *ks)
{
	for (size_t i = 0; i < c->n_kms; i++) {
		const struct conf_kms *k = &c->kms[i];
		const config_setting_t *es = elem(ks, i);

		if (!k->uri) {
			diag(ld, es, "missing required key 'kms[%zu].uri'", i);
		} else if (!kms_uri_ok(k->uri)) {
			diag(ld, member(es, "uri"), "kms[%zu].uri: not a KMS URI \"%s\" (" KMS_URI_RULE ")", i, k->uri);
		} else {
			const struct conf_kms *first = conf_kms_find(c, k->uri);
			if (first != k)
				diag(ld, member(es, "uri"), "kms[%zu].uri: duplicate KMS \"%s\" (first at line %d)",
				    i, k->uri, first->line);
		}
		if (k->valid_from >= k->valid_to)
			diag(ld, either(member(es, "valid_to"), es), "kms[%zu].valid_to: not after valid_from", i);
	}
}

static int entry_cmp(const void *a, const void *b)
{
	const struct conf_lookup_entry *x = *(const struct conf_lookup_entry *const *)a;
	const struct conf_lookup_entry *y = *(const struct conf_lookup_entry *const *)b;
	int r = strcmp(x->user, y->user);

	return r ? r : (x > y) - (x < y);
}

/* Two entries for one user: the second could never match.  Sorted, so a 100 000-row table stays fast. */
static void check_duplicate_users(struct loader *ld, const struct conf *c, const config_setting_t *es)
{
	const struct conf_lookup_entry **v;
	size_t n = 0;

	if (c->lookup.n_entries < 2)
		return;
	if ((v = malloc(c->lookup.n_entries * sizeof(*v))) == NULL) {
		ld->nomem = true;
		return;
	}
	for (size_t i = 0; i < c->lookup.n_entries; i++)
		if (c->lookup.entries[i].user)
			v[n++] = &c->lookup.entries[i];
	qsort(v, n, sizeof(*v), entry_cmp);
	for (size_t i = 1, first = 0; i < n; i++) {
		if (strcmp(v[i]->user, v[first]->user) != 0) {
			first = i;
			continue;
		}
		size_t idx = (size_t)(v[i] - c->lookup.entries);
		diag(ld, either(member(elem(es, idx), "user"), elem(es, idx)),
		    "lookup.entries[%zu].user: duplicate entry \"%s\" (first at line %d)", idx, v[i]->user,
		    v[first]->line);
	}
	free(v);
}

static void check_domain(struct loader *ld, const struct conf *c, const struct conf_domain *d,
    const config_setting_t *ds, size_t i, size_t j)
{
	const config_setting_t *xs = member(ds, "external");

	if (!d->kms)
		diag(ld, ds, "missing required key 'lookup.entries[%zu].domains[%zu].kms'", i, j);
	else if (!conf_kms_find(c, d->kms))
		diag(ld, member(ds, "kms"), "lookup.entries[%zu].domains[%zu].kms: unknown KMS \"%s\" (not in kms)",
		    i, j, d->kms);
	if (d->external.n > LOOKUP_MAX_EXTERNAL)
		diag(ld, xs, "lookup.entries[%zu].domains[%zu].external: %zu KMSs, at most %d", i, j,
		    d->external.n, LOOKUP_MAX_EXTERNAL);
	for (size_t k = 0; k < d->external.n; k++)
		if (!conf_kms_find(c, d->external.v[k]))
			diag(ld, either(elem(xs, k), xs),
			    "lookup.entries[%zu].domains[%zu].external[%zu]: unknown KMS \"%s\" (not in kms)",
			    i, j, k, d->external.v[k]);
}

/* An LDAP URI as libldap takes it: scheme, then an optional host:port, nothing after the path. */
static bool ldap_uri_ok(const char *u)
{
	const char *rest = NULL;

	if (strncmp(u, "ldap://", 7) == 0)
		rest = u + 7;
	else if (strncmp(u, "ldaps://", 8) == 0)
		rest = u + 8;
	else if (strncmp(u, "ldapi://", 8) == 0)
		rest = u + 8;
	if (!rest)
		return false;
	for (const char *p = rest; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == '?' || *p == 0x7f)
			return false;
	size_t n = strlen(rest);
	return n == 0 || rest[n - 1] == '/' || strchr(rest, '/') == NULL;
}

static void check_ldap(struct loader *ld, const struct conf *c, const config_setting_t *ls)
{
	const config_setting_t *s = member(ls, "ldap"), *us = member(s, "uris");
	const struct conf_ldap *l = &c->lookup.ldap;

	if (!s) {
		diag(ld, member(ls, "backend"), "missing required group 'lookup.ldap' (lookup.backend is \"ldap\")");
		return;
	}
	if (l->uris.n == 0)
		diag(ld, either(us, s), "lookup.ldap.uris: at least one LDAP URI is needed");
	else if (l->uris.n > CONF_LDAP_URIS_MAX)
		diag(ld, us, "lookup.ldap.uris: %zu URIs, at most %d", l->uris.n, CONF_LDAP_URIS_MAX);
	for (size_t i = 0; i < l->uris.n; i++) {
		const char *u = l->uris.v[i];
		if (!ldap_uri_ok(u))
			diag(ld, either(elem(us, i), us),
			    "lookup.ldap.uris[%zu]: not an LDAP URI \"%s\" (ldap://host:port, ldaps://... or ldapi://...)",
			    i, u);
		else if (l->starttls && strncmp(u, "ldap://", 7) != 0)
			diag(ld, either(elem(us, i), us),
			    "lookup.ldap.uris[%zu]: starttls is for ldap:// URIs (\"%s\" is TLS already, or local)", i, u);
	}
	if (!l->base || !l->base[0])
		diag(ld, either(member(s, "base"), s), "missing required key 'lookup.ldap.base'");
	if (l->bind_dn && !l->bind_secret_file)
		diag(ld, member(s, "bind_dn"), "lookup.ldap.bind_dn: needs bind_secret_file (the password)");
	if (!l->bind_dn && l->bind_secret_file)
		diag(ld, member(s, "bind_secret_file"), "lookup.ldap.bind_secret_file: needs bind_dn");
}

static void check_lookup(struct loader *ld, const struct conf *c, const config_setting_t *ls)
{
	const config_setting_t *es = member(ls, "entries");
	bool ldap = strcmp(c->lookup.backend, "ldap") == 0;

	if (!ldap && strcmp(c->lookup.backend, "table") != 0)
		diag(ld, member(ls, "backend"), "lookup.backend: unknown backend \"%s\" (\"table\" or \"ldap\")",
		    c->lookup.backend);
	if (ldap)
		check_ldap(ld, c, ls);
	else if (member(ls, "ldap"))
		diag(ld, member(ls, "ldap"), "lookup.ldap: read only with lookup.backend = \"ldap\"");
	if (ldap && es)
		diag(ld, es, "lookup.entries: the ldap backend reads its entries from the directory, not from here");
	for (size_t i = 0; i < c->lookup.n_entries; i++) {
		const struct conf_lookup_entry *e = &c->lookup.entries[i];
		const config_setting_t *s = elem(es, i), *ds = member(s, "domains");

		if (!e->user)
			diag(ld, s, "missing required key 'lookup.entries[%zu].user'", i);
		else if (!user_ok(e->user))
			diag(ld, member(s, "user"), "lookup.entries[%zu].user: not a user URI or pattern \"%s\"",
			    i, e->user);
		if (!ds)
			diag(ld, s, "missing required key 'lookup.entries[%zu].domains'", i);
		else if (e->n_domains == 0)
			diag(ld, ds, "lookup.entries[%zu].domains: empty (at least one domain is needed)", i);
		else if (e->n_domains > LOOKUP_MAX_DOMAINS)
			diag(ld, ds, "lookup.entries[%zu].domains: %zu domains, at most %d", i, e->n_domains,
			    LOOKUP_MAX_DOMAINS);
		for (size_t j = 0; j < e->n_domains; j++)
			check_domain(ld, c, &e->domains[j], either(elem(ds, j), ds), i, j);
	}
	check_duplicate_users(ld, c, es);
}

static void check_deny(struct loader *ld, const struct conf *c, const struct conf_strings *l,
    const config_setting_t *ps, const char *name)
{
	const config_setting_t *s = member(ps, name);

	for (size_t i = 0; i < l->n; i++)
		if (!conf_kms_find(c, l->v[i]))
			diag(ld, either(elem(s, i), s), "policy.%s[%zu]: unknown KMS \"%s\" (not in kms)", name, i,
			    l->v[i]);
}

static void check_policy(struct loader *ld, const struct conf *c, const config_setting_t *ps)
{
	check_deny(ld, c, &c->policy.deny_initiator_kms, ps, "deny_initiator_kms");
	check_deny(ld, c, &c->policy.deny_receiver_kms, ps, "deny_receiver_kms");
	if (c->policy.verify_imessage && !c->kms_certificates)
		diag(ld, member(ps, "verify_imessage"),
		    "policy.verify_imessage: needs kms_certificates (the KPAKs are in KmsCertificate files)");
}

static void check_overload(struct loader *ld, const struct conf *c, const config_setting_t *os)
{
	if (c->overload.queue_low >= c->overload.queue_high)
		diag(ld, either(member(os, "queue_low"), os),
		    "overload.queue_low: must be below overload.queue_high (%d), or refusing never stops",
		    c->overload.queue_high);
}

static void check_workers(struct loader *ld, const struct conf *c, const config_setting_t *ss)
{
	int n = c->server.workers ? c->server.workers : 1;

	if (c->server.worker_port_base && c->server.worker_port_base + n - 1 > 65535)
		diag(ld, either(member(ss, "worker_port_base"), ss),
		    "server.worker_port_base: %d workers need ports up to %d", n, c->server.worker_port_base + n - 1);
}

/* The pairs of keys that go together; the files themselves are world.c's to read. */
static void check_krr(struct loader *ld, const struct conf *c, const config_setting_t *ks)
{
	if (c->krr.certificate && !c->krr.private_key)
		diag(ld, member(ks, "certificate"), "krr.certificate: given without krr.private_key");
	if (c->krr.private_key && !c->krr.certificate)
		diag(ld, member(ks, "private_key"), "krr.private_key: given without krr.certificate");
	if (c->krr.require_signed && !c->krr.trust_anchors)
		diag(ld, member(ks, "require_signed"), "krr.require_signed: needs krr.trust_anchors to verify with");
	if (c->krr.crl && !c->krr.trust_anchors)
		diag(ld, member(ks, "crl"), "krr.crl: needs krr.trust_anchors (the CAs whose revocations it lists)");
}

/* The listen address that needs TLS credentials, or NULL. */
static const config_setting_t *tls_listen(const struct conf *c, const config_setting_t *ss, size_t *which)
{
	for (size_t i = 0; i < c->server.listen.n; i++)
		if (tls_uri(c->server.listen.v[i])) {
			*which = i;
			return either(elem(member(ss, "listen"), i), either(member(ss, "listen"), ss));
		}
	return NULL;
}

static void check_tls(struct loader *ld, const struct conf *c, const config_setting_t *ts,
    const config_setting_t *ss)
{
	size_t i = 0;
	const config_setting_t *ls = tls_listen(c, ss, &i);

	if (ls && !c->tls.certificate)
		diag(ld, ls, "server.listen[%zu]: a TLS address needs tls.certificate and tls.private_key", i);
	if (c->tls.certificate && !c->tls.private_key)
		diag(ld, member(ts, "certificate"), "tls.certificate: given without tls.private_key");
	if (c->tls.private_key && !c->tls.certificate)
		diag(ld, member(ts, "private_key"), "tls.private_key: given without tls.certificate");
	if (c->tls.certificate && c->tls.verify_peer && !c->tls.ca)
		diag(ld, member(ts, "certificate"),
		    "tls.ca: required with verify_peer (the CAs that peers' certificates must chain to)");
	if (c->tls.peer_identities.n && !c->tls.verify_peer)
		diag(ld, member(ts, "peer_identities"), "tls.peer_identities: needs tls.verify_peer = true");
	for (size_t k = 0; k < c->tls.peer_identities.n; k++)
		if (!c->tls.peer_identities.v[k][0] || strpbrk(c->tls.peer_identities.v[k], " \t\r\n,<>\""))
			diag(ld, either(elem(member(ts, "peer_identities"), k), ts),
			    "tls.peer_identities[%zu]: not a URI or DNS name \"%s\"", k, c->tls.peer_identities.v[k]);
}

static void check(struct loader *ld, const struct conf *c)
{
	const config_setting_t *root = config_root_setting(&ld->cfg);

	check_server(ld, c, member(root, "server"));
	check_kms(ld, c, member(root, "kms"));
	check_lookup(ld, c, member(root, "lookup"));
	check_policy(ld, c, member(root, "policy"));
	check_krr(ld, c, member(root, "krr"));
	check_tls(ld, c, member(root, "tls"), member(root, "server"));
	check_overload(ld, c, member(root, "overload"));
	check_workers(ld, c, member(root, "server"));
}

/* ---- the three passes ---- */

int conf_load(const char *path, struct conf **out, struct conf_diags *diags)
{
	struct loader ld = { .path = path };
	struct conf *c;
	struct stat st = { 0 };
	FILE *f = NULL;
	int rc = 0;

	config_init(&ld.cfg);
	if ((c = calloc(1, sizeof(*c))) == NULL || (c->path = strdup(path)) == NULL || conf_defaults(c) < 0 ||
	    (ld.dir = folder_of(path)) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	config_set_include_dir(&ld.cfg, ld.dir);

	/* 1: syntax (libconfig's scanner exits the process on a read error: no folders) */
	if ((f = fopen(path, "r")) == NULL || fstat(fileno(f), &st) < 0 || S_ISDIR(st.st_mode)) {
		int e = f && S_ISDIR(st.st_mode) ? EISDIR : errno;
		if (e == ENOMEM)
			ld.nomem = true;
		else
			diag(&ld, NULL, "cannot read: %s", strerror(e));
	} else if (config_read(&ld.cfg, f) != CONFIG_TRUE) {
		if (config_error_type(&ld.cfg) == CONFIG_ERR_FILE_IO)
			diag(&ld, NULL, "cannot read: %s", strerror(errno));
		else
			diag_at(&ld, config_error_file(&ld.cfg), (unsigned int)config_error_line(&ld.cfg), "%s",
			    config_error_text(&ld.cfg));
	} else {
		/* 2: typed extraction, every wrong type and unknown key */
		extract_group(&ld, config_root_setting(&ld.cfg), conf_fields, (char *)c, "");
		/* 3: semantic checks, on a well-typed configuration only (no knock-on messages) */
		if (ld.n == 0 && !ld.nomem)
			check(&ld, c);
	}
	if (ld.n)
		rc = -EINVAL;
	if (diag_flush(&ld, diags) < 0 || ld.nomem)
		rc = -ENOMEM;
out:
	if (f)
		fclose(f);
	for (size_t i = 0; i < ld.n; i++)
		free(ld.d[i].msg);
	free(ld.d);
	free(ld.dir);
	config_destroy(&ld.cfg);
	if (rc < 0) {
		conf_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

void conf_free(struct conf *c)
{
	if (!c)
		return;
	free(c->path);
	free(c->server.uri);
	free(c->server.kms_uri);
	strings_clear(&c->server.listen);
	strings_clear(&c->server.peers);
	free(c->server.next_hop);
	free(c->server.metrics_listen);
	for (size_t i = 0; i < c->n_kms; i++)
		free(c->kms[i].uri);
	free(c->kms);
	free(c->kms_certificates);
	free(c->kms_certificates_at.file);
	free(c->lookup.backend);
	for (size_t i = 0; i < c->lookup.n_entries; i++) {
		struct conf_lookup_entry *e = &c->lookup.entries[i];
		free(e->user);
		for (size_t j = 0; j < e->n_domains; j++) {
			free(e->domains[j].kms);
			strings_clear(&e->domains[j].external);
		}
		free(e->domains);
	}
	free(c->lookup.entries);
	strings_clear(&c->lookup.ldap.uris);
	free(c->lookup.ldap.base);
	free(c->lookup.ldap.bind_dn);
	free(c->lookup.ldap.bind_secret_file);
	free(c->lookup.ldap.ca);
	strings_clear(&c->policy.deny_initiator_kms);
	strings_clear(&c->policy.deny_receiver_kms);
	free(c->krr.certificate);
	free(c->krr.private_key);
	free(c->krr.trust_anchors);
	free(c->krr.crl);
	free(c->krr.certificate_at.file);
	free(c->krr.private_key_at.file);
	free(c->krr.trust_anchors_at.file);
	free(c->krr.crl_at.file);
	free(c->tls.certificate);
	free(c->tls.private_key);
	free(c->tls.ca);
	free(c->tls.certificate_at.file);
	free(c->tls.private_key_at.file);
	free(c->tls.ca_at.file);
	strings_clear(&c->tls.peer_identities);
	free(c->log.audit);
	free(c->log.audit_at.file);
	free(c);
}

void conf_diags_clear(struct conf_diags *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++)
		free(d->msg[i]);
	free(d->msg);
	d->msg = NULL;
	d->n = 0;
}

int conf_diags_add(struct conf_diags *d, const char *file, int line, const char *fmt, ...)
{
	char *text, *msg;
	va_list ap;

	va_start(ap, fmt);
	int n = vasprintf(&text, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	n = line > 0 ? asprintf(&msg, "%s:%d: %s", file, line, text) : asprintf(&msg, "%s: %s", file, text);
	free(text);
	char **v = n < 0 ? NULL : realloc(d->msg, (d->n + 1) * sizeof(*v));
	if (!v) {
		if (n >= 0)
			free(msg);
		return -ENOMEM;
	}
	for (char *p = msg; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	d->msg = v;
	d->msg[d->n++] = msg;
	return 0;
}
