/* The "ldap" lookup backend: a directory asked asynchronously on Sofia's event loop, with a cache. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ldap.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sofia-sip/su_wait.h>

#include "conf.h"
#include "log.h"
#include "lookup.h"
#include "lookup_entry.h"
#include "lookup_ldap.h"
#include "metrics.h"

/*
 * How it works.  One client per process and per set of settings: the
 * lookups of every configuration generation with the same lookup.ldap (and
 * secret) share it, so its connection and cache survive a reload that does
 * not change them.  The connection is made (connect, StartTLS, bind) by a
 * short-lived thread, the only blocking part, which hands the connected
 * handle back over a pipe; from then on the event loop alone uses it:
 * searches go out with libldap's asynchronous calls and their results are
 * read when the socket is readable.  A lookup missing from the cache
 * becomes a query (one per user, however many requests wait for it) with
 * a deadline; the answer goes into the cache and wakes every waiter.
 *
 * A directory that cannot be reached fails the queries at once and is
 * tried again after a backoff (1 s doubling to 30 s) while lookups fail
 * fast; a connection that errs is replaced at once (the URIs in order,
 * the first that works); one on which a query times out with nothing
 * received for as long is taken for silent and replaced too.
 */

#define URIS_MAX		CONF_LDAP_URIS_MAX
#define USER_MAX		1024		/* the schema's bound on mcxUserUri */
#define QUERY_BUCKETS		1024
#define TICK_MS			50
/* Searches sent and not yet answered on one connection: slapd drops a connection with more than
   olcConnMaxPending (100 by default) waiting; the others wait here, in no hurry. */
#define OUTSTANDING_MAX		64
#define BACKOFF_FIRST_MS	1000
#define BACKOFF_MAX_MS		30000
#define ATTR_USER		"mcxUserUri"
#define ATTR_DOMAIN		"mcxSecurityDomain"

struct settings {
	char *uris[URIS_MAX];
	size_t n_uris;
	char *base, *bind_dn, *ca;
	char *secret;
	size_t secret_len;
	bool starttls;
	int timeout_ms, cache_ttl, negative_ttl, cache_size;
};

/* One answer of the directory, shared by the cache and the waiters being woken. */
/*
 * One answer of the directory, shared by the cache and the waiters being
 * woken.  Compact (a cache holds 100 000 of them per process): the strings
 * in arena, and the views a struct lookup_result needs in str[], in order:
 * the DN, then each domain's KMS followed by its externals.
 */
struct answer {
	unsigned refs;
	enum lookup_status status;	/* FOUND, NOT_FOUND or FAILED */
	int64_t fetched_ms;
	const char *origin;
	char *arena;
	uint8_t n;			/* domains */
	uint8_t n_external[LOOKUP_MAX_DOMAINS];
	const char *str[];
};

struct centry {
	struct centry *hnext;
	struct centry *older, *newer;	/* the LRU list */
	uint64_t hash;
	int64_t expires_ms;
	struct answer *a;
	char user[];
};

struct lookup_wait {
	struct lookup_wait *next, **prev;
	struct query *q;
	lookup_ready_fn *fn;
	void *arg;
};

struct query {
	struct query *next, **prev;	/* client->queries (prev NULL once unlinked) */
	struct query *hnext;		/* by user */
	struct query *mnext;		/* by msgid, while sent */
	uint64_t hash;
	int msgid;			/* -1: not sent yet */
	int64_t started_ms;
	int64_t deadline_ms;
	struct lookup_wait *waiters;
	char user[];
};

struct attempt;

enum state { IDLE, CONNECTING, UP, LOST };

struct client {
	struct client *next;		/* the process's clients */
	unsigned refs;
	unsigned char key[32];	/* of the settings: equal keys share a client */
	struct settings s;

	enum state state;
	LDAP *ld;
	size_t uri;			/* the URI connected to */
	su_wait_t wait[1];
	int wait_index;			/* > 0 while registered */
	int wait_fd;			/* a dup of the connection's socket: libldap closes its own when it errs */
	struct attempt *attempt;	/* CONNECTING */
	int64_t retry_at_ms;		/* LOST: when to try again */
	unsigned backoff_ms;
	int64_t trouble_since_ms;	/* 0: none; else since when lookups could fail */
	unsigned long failed;		/* lookups failed since then */
	int64_t last_rx_ms;		/* anything received on the connection */
	char last_error[512];

	struct query *queries;
	size_t n_queries;
	unsigned outstanding;		/* of them, sent and not answered (OUTSTANDING_MAX at most) */
	int64_t connected_ms;		/* when the connection was made */
	struct query *by_user[QUERY_BUCKETS];
	struct query *by_msgid[QUERY_BUCKETS];

	struct centry **cache;
	size_t cache_mask, cached;
	struct centry *oldest, *newest;

	const char *delivering;		/* the user whose waiters are being woken */
	struct answer *delivered;
	su_timer_t *timer;
};

/* A connection being made in its own thread: everything it needs is its own. */
struct attempt {
	pthread_t thread;		/* joined when its result is read: gone before anything goes on */
	struct client *client;		/* NULL once the client is gone: the result is dropped */
	struct settings s;
	LDAP *ld;			/* the result; NULL on failure */
	size_t uri;
	char why[512];
};

static su_root_t *loop;
static int notify[2] = { -1, -1 };	/* the threads' results: one pointer per write */
static su_wait_t notify_wait[1];
static bool notify_registered;
static struct client *clients;

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* FNV-1a, 64 bits: the tables' keys are user URIs, bounded in length. */
static uint64_t hash_of(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 0x100000001b3ull;
	return h;
}

/* open's message: the caller may want none (err NULL); every one here is a fixed text. */
static void say(char *err, size_t errlen, const char *msg)
{
	if (err && errlen)
		snprintf(err, errlen, "%s", msg);
}

/* ---- settings ---- */

static void settings_clear(struct settings *s)
{
	for (size_t i = 0; i < s->n_uris; i++)
		free(s->uris[i]);
	free(s->base);
	free(s->bind_dn);
	free(s->ca);
	if (s->secret)
		OPENSSL_cleanse(s->secret, s->secret_len);
	free(s->secret);
	memset(s, 0, sizeof(*s));
}

static char *dup_or_null(const char *s, bool *bad)
{
	char *d = s ? strdup(s) : NULL;

	if (s && !d)
		*bad = true;
	return d;
}

static int settings_copy(struct settings *d, const struct settings *s)
{
	bool bad = false;

	*d = *s;
	for (size_t i = 0; i < s->n_uris; i++)
		d->uris[i] = dup_or_null(s->uris[i], &bad);
	d->base = dup_or_null(s->base, &bad);
	d->bind_dn = dup_or_null(s->bind_dn, &bad);
	d->ca = dup_or_null(s->ca, &bad);
	d->secret = NULL;
	if (s->secret && (d->secret = malloc(s->secret_len + 1)) != NULL) {
		memcpy(d->secret, s->secret, s->secret_len + 1);
	} else if (s->secret) {
		bad = true;
	}
	if (bad) {
		settings_clear(d);
		return -ENOMEM;
	}
	return 0;
}

static int settings_from(struct settings *s, const struct conf_ldap *c, const struct lookup_files *f)
{
	struct settings view = {
		.n_uris = c->uris.n < URIS_MAX ? c->uris.n : URIS_MAX,
		.base = c->base, .bind_dn = c->bind_dn, .ca = c->ca, .starttls = c->starttls,
		.timeout_ms = c->timeout_ms, .cache_ttl = c->cache_ttl, .negative_ttl = c->negative_ttl,
		.cache_size = c->cache_size,
	};
	char *secret = NULL;
	size_t len = 0;

	for (size_t i = 0; i < view.n_uris; i++)
		view.uris[i] = c->uris.v[i];
	if (f->bind_secret) {
		/* The file's first line: a trailing newline is not part of the password. */
		len = strcspn(f->bind_secret, "\r\n");
		if (len > f->bind_secret_len)
			len = f->bind_secret_len;
		if ((secret = malloc(len + 1)) == NULL)
			return -ENOMEM;
		memcpy(secret, f->bind_secret, len);
		secret[len] = '\0';
		view.secret = secret;
		view.secret_len = len;
	}
	int rc = settings_copy(s, &view);
	if (secret) {
		OPENSSL_cleanse(secret, len);
		free(secret);
	}
	return rc;
}

/* Everything that makes two clients different, digested (the secret included, never kept in clear). */
static int settings_key(const struct settings *s, unsigned char key[32])
{
	EVP_MD_CTX *h = EVP_MD_CTX_new();
	char num[64];

	if (!h || !EVP_DigestInit_ex(h, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(h);
		return -ENOMEM;
	}
	for (size_t i = 0; i < s->n_uris; i++)
		EVP_DigestUpdate(h, s->uris[i], strlen(s->uris[i]) + 1);
	EVP_DigestUpdate(h, "|", 1);
	const char *parts[] = { s->base, s->bind_dn, s->ca };
	for (size_t i = 0; i < 3; i++)
		EVP_DigestUpdate(h, parts[i] ? parts[i] : "\x01", (parts[i] ? strlen(parts[i]) : 1) + 1);
	if (s->secret)
		EVP_DigestUpdate(h, s->secret, s->secret_len);
	snprintf(num, sizeof(num), "|%d|%d|%d|%d|%d|%d", s->secret != NULL, s->starttls, s->timeout_ms,
	    s->cache_ttl, s->negative_ttl, s->cache_size);
	EVP_DigestUpdate(h, num, strlen(num));
	int ok = EVP_DigestFinal_ex(h, key, NULL);
	EVP_MD_CTX_free(h);
	return ok ? 0 : -ENOMEM;
}

/* ---- answers ---- */

static struct answer *answer_status(enum lookup_status st)
{
	struct answer *a = calloc(1, sizeof(*a));

	if (a) {
		a->refs = 1;
		a->status = st;
		a->fetched_ms = now_ms();
	}
	return a;
}

static void answer_unref(struct answer *a)
{
	if (a && --a->refs == 0) {
		free(a->arena);
		free(a);
	}
}

/*
 * The answer of an entry: its mcxSecurityDomain values read by
 * lookup_entry_answer.  NULL with *why when the entry cannot be an answer,
 * NULL with *why NULL when out of memory.
 */
static struct answer *answer_from_entry(const char *dn, struct berval **vals, const char *origin,
    const char **why)
{
	struct lookup_value v[LOOKUP_MAX_DOMAINS + 1];
	struct lookup_result res;
	size_t n = 0, n_str = 1;
	struct answer *a;
	char *arena;

	*why = NULL;
	for (; vals && vals[n] && n <= LOOKUP_MAX_DOMAINS; n++)
		v[n] = (struct lookup_value){ vals[n]->bv_val, vals[n]->bv_len };
	if ((arena = lookup_entry_answer(dn, v, n, &res, why)) == NULL)
		return NULL;
	for (size_t i = 0; i < res.n; i++)
		n_str += 1 + res.domain[i].n_external;
	if ((a = calloc(1, sizeof(*a) + n_str * sizeof(a->str[0]))) == NULL) {
		free(arena);
		return NULL;
	}
	a->refs = 1;
	a->status = LOOKUP_FOUND;
	a->fetched_ms = now_ms();
	a->origin = origin;
	a->arena = arena;
	a->n = (uint8_t)res.n;
	size_t k = 0;
	a->str[k++] = res.matched;
	for (size_t i = 0; i < res.n; i++) {
		a->n_external[i] = (uint8_t)res.domain[i].n_external;
		a->str[k++] = res.domain[i].kms;
		for (size_t e = 0; e < res.domain[i].n_external; e++)
			a->str[k++] = res.domain[i].external[e];
	}
	return a;
}

/* ---- the cache ---- */

static void cache_unlink(struct client *c, struct centry *e)
{
	struct centry **pp = &c->cache[e->hash & c->cache_mask];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	if (e->older)
		e->older->newer = e->newer;
	else
		c->oldest = e->newer;
	if (e->newer)
		e->newer->older = e->older;
	else
		c->newest = e->older;
	c->cached--;
	answer_unref(e->a);
	free(e);
}

static struct centry *cache_get(struct client *c, const char *user, uint64_t h)
{
	if (!c->cache)
		return NULL;
	for (struct centry *e = c->cache[h & c->cache_mask]; e; e = e->hnext) {
		if (e->hash != h || strcmp(e->user, user) != 0)
			continue;
		if (e->expires_ms <= now_ms()) {
			cache_unlink(c, e);
			return NULL;
		}
		if (e != c->newest) {
			/* Most recently used last: the oldest goes first when the cache is full. */
			if (e->older)
				e->older->newer = e->newer;
			else
				c->oldest = e->newer;
			e->newer->older = e->older;
			e->older = c->newest;
			e->newer = NULL;
			c->newest->newer = e;
			c->newest = e;
		}
		return e;
	}
	return NULL;
}

static void cache_put(struct client *c, const char *user, uint64_t h, struct answer *a)
{
	int ttl = a->status == LOOKUP_FOUND ? c->s.cache_ttl : c->s.negative_ttl;
	struct centry *e;

	if (!c->cache || a->status == LOOKUP_FAILED)
		return;
	/*
	 * A TTL of 0 still keeps the answer for timeout_ms: a request with
	 * several targets is decided again after each answer, and must find
	 * the earlier ones, or it would ask for them again, and again.
	 */
	int64_t keep_ms = ttl > 0 ? (int64_t)ttl * 1000 : c->s.timeout_ms;
	for (e = c->cache[h & c->cache_mask]; e; e = e->hnext)
		if (e->hash == h && strcmp(e->user, user) == 0)
			break;
	if (e)
		cache_unlink(c, e);
	if (c->cached >= (size_t)c->s.cache_size)
		cache_unlink(c, c->oldest);
	size_t len = strlen(user);
	if ((e = malloc(sizeof(*e) + len + 1)) == NULL)
		return;		/* not cached: the next lookup asks again */
	memcpy(e->user, user, len + 1);
	e->hash = h;
	e->expires_ms = now_ms() + keep_ms;
	e->a = a;
	a->refs++;
	e->hnext = c->cache[h & c->cache_mask];
	c->cache[h & c->cache_mask] = e;
	e->older = c->newest;
	e->newer = NULL;
	if (c->newest)
		c->newest->newer = e;
	else
		c->oldest = e;
	c->newest = e;
	c->cached++;
}

/* ---- queries ---- */

static struct query *query_find(struct client *c, const char *user, uint64_t h)
{
	for (struct query *q = c->by_user[h % QUERY_BUCKETS]; q; q = q->hnext)
		if (q->hash == h && strcmp(q->user, user) == 0)
			return q;
	return NULL;
}

static struct query *query_by_msgid(struct client *c, int msgid)
{
	for (struct query *q = c->by_msgid[(unsigned)msgid % QUERY_BUCKETS]; q; q = q->mnext)
		if (q->msgid == msgid)
			return q;
	return NULL;
}

/* q no longer waits for msgid (answered, abandoned, or its connection gone). */
static void query_unsent(struct client *c, struct query *q)
{
	if (q->msgid < 0)
		return;
	struct query **pp = &c->by_msgid[(unsigned)q->msgid % QUERY_BUCKETS];
	while (*pp && *pp != q)
		pp = &(*pp)->mnext;
	if (*pp)
		*pp = q->mnext;
	q->msgid = -1;
	c->outstanding--;
}

static void query_unlink(struct client *c, struct query *q)
{
	struct query **pp = &c->by_user[q->hash % QUERY_BUCKETS];

	if (!q->prev)
		return;
	query_unsent(c, q);
	while (*pp != q)
		pp = &(*pp)->hnext;
	*pp = q->hnext;
	if ((*q->prev = q->next) != NULL)
		q->next->prev = q->prev;
	q->prev = NULL;
	c->n_queries--;
}

/* The answer for q is there: cache it, wake its waiters (a find for its user inside gives a), free q. */
static void complete(struct client *c, struct query *q, struct answer *a)
{
	query_unlink(c, q);
	metrics_lookup_seconds("ldap", (double)(now_ms() - q->started_ms) / 1000.0);
	if (a->status == LOOKUP_FAILED)
		c->failed++;
	else
		cache_put(c, q->user, q->hash, a);
	c->delivering = q->user;
	c->delivered = a;
	while (q->waiters) {
		struct lookup_wait *w = q->waiters;
		if ((q->waiters = w->next) != NULL)
			w->next->prev = &q->waiters;
		lookup_ready_fn *fn = w->fn;
		void *arg = w->arg;
		free(w);
		fn(arg);
	}
	c->delivering = NULL;
	c->delivered = NULL;
	free(q);
}

static void complete_status(struct client *c, struct query *q, enum lookup_status st)
{
	struct answer *a = answer_status(st);
	static struct answer failed_static = { .refs = 1, .status = LOOKUP_FAILED };

	if (!a) {
		/* Out of memory: the waiters still get their (failed) answer (never cached, never freed). */
		complete(c, q, &failed_static);
		return;
	}
	complete(c, q, a);
	answer_unref(a);
}

static void fail_all(struct client *c)
{
	while (c->queries)
		complete_status(c, c->queries, LOOKUP_FAILED);
}

/* The filter for user: its own entry, or its domain's "scheme:*@host" entry. */
static char *filter_for(const char *user)
{
	struct berval in, exact = { 0, NULL }, wide = { 0, NULL };
	char domain[USER_MAX + 4], *f = NULL;

	in.bv_val = (char *)user;
	in.bv_len = strlen(user);
	if (ldap_bv2escaped_filter_value(&in, &exact) != 0)
		return NULL;
	if (lookup_domain_pattern(user, domain, sizeof(domain))) {
		in.bv_val = domain;
		in.bv_len = strlen(domain);
		if (ldap_bv2escaped_filter_value(&in, &wide) != 0)
			wide.bv_val = NULL;
	}
	int r = wide.bv_val ?
	    asprintf(&f, "(&(objectClass=mcxUser)(|(" ATTR_USER "=%s)(" ATTR_USER "=%s)))", exact.bv_val, wide.bv_val) :
	    asprintf(&f, "(&(objectClass=mcxUser)(" ATTR_USER "=%s))", exact.bv_val);
	if (r < 0)
		f = NULL;
	ber_memfree(exact.bv_val);
	ber_memfree(wide.bv_val);
	return f;
}

static void drop_connection(struct client *c, const char *why);

static void send_query(struct client *c, struct query *q)
{
	static char *attrs[] = { ATTR_USER, ATTR_DOMAIN, NULL };
	struct timeval limit = { .tv_sec = c->s.timeout_ms / 1000 + 1 };
	char *filter;
	int rc;

	if (c->outstanding >= OUTSTANDING_MAX)
		return;		/* sent by send_waiting when an answer makes room */
	if ((filter = filter_for(q->user)) == NULL) {
		complete_status(c, q, LOOKUP_FAILED);
		return;
	}
	/* Two entries at most can answer (the user's own and its domain's); a few more say something is off. */
	rc = ldap_search_ext(c->ld, c->s.base, LDAP_SCOPE_SUBTREE, filter, attrs, 0, NULL, NULL, &limit, 4,
	    &q->msgid);
	free(filter);
	if (rc == LDAP_SUCCESS) {
		q->mnext = c->by_msgid[(unsigned)q->msgid % QUERY_BUCKETS];
		c->by_msgid[(unsigned)q->msgid % QUERY_BUCKETS] = q;
		c->outstanding++;
	} else {
		q->msgid = -1;
		char why[256];
		snprintf(why, sizeof(why), "search refused: %s", ldap_err2string(rc));
		drop_connection(c, why);
	}
}

/* The queries not sent yet, while there is room on the connection (once per event, not per answer). */
static void send_waiting(struct client *c)
{
	for (struct query *q = c->queries, *next; q && c->state == UP && c->outstanding < OUTSTANDING_MAX; q = next) {
		next = q->next;
		if (q->msgid < 0)
			send_query(c, q);	/* may fail q, or drop the connection */
	}
}

/* ---- the connection ---- */

static void tick(su_root_magic_t *m, su_timer_t *t, su_timer_arg_t *arg);

static const char *state_uri(const struct client *c)
{
	return c->s.uris[c->uri < c->s.n_uris ? c->uri : 0];
}

static int bind_in_thread(struct attempt *a, LDAP *ld)
{
	struct berval cred = { .bv_len = a->s.secret ? a->s.secret_len : 0, .bv_val = a->s.secret ? a->s.secret : "" };

	return ldap_sasl_bind_s(ld, a->s.bind_dn ? a->s.bind_dn : "", LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
}

/* One URI: connect, StartTLS when asked, bind (anonymously without bind_dn: it proves the connection). */
static LDAP *connect_one(struct attempt *a, const char *uri, char *why, size_t cap)
{
	struct timeval tv = { .tv_sec = a->s.timeout_ms / 1000, .tv_usec = (a->s.timeout_ms % 1000) * 1000 };
	int v3 = LDAP_VERSION3, demand = LDAP_OPT_X_TLS_DEMAND, zero = 0, rc;
	LDAP *ld = NULL;

	if ((rc = ldap_initialize(&ld, uri)) != LDAP_SUCCESS) {
		snprintf(why, cap, "%s: %s", uri, ldap_err2string(rc));
		return NULL;
	}
	ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &v3);
	ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
	ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &tv);
	ldap_set_option(ld, LDAP_OPT_TIMEOUT, &tv);
	ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand);
	if (a->s.ca)
		ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, a->s.ca);
	ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &zero);
	if (a->s.starttls && (rc = ldap_start_tls_s(ld, NULL, NULL)) != LDAP_SUCCESS) {
		char *diag = NULL;
		ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
		snprintf(why, cap, "%s: StartTLS: %s%s%s", uri, ldap_err2string(rc), diag && *diag ? ": " : "",
		    diag ? diag : "");
		ldap_memfree(diag);
		ldap_unbind_ext_s(ld, NULL, NULL);
		return NULL;
	}
	if ((rc = bind_in_thread(a, ld)) != LDAP_SUCCESS) {
		char *diag = NULL;
		ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
		snprintf(why, cap, "%s: bind%s%s: %s%s%s", uri, a->s.bind_dn ? " as " : " (anonymous)",
		    a->s.bind_dn ? a->s.bind_dn : "", ldap_err2string(rc), diag && *diag ? ": " : "", diag ? diag : "");
		ldap_memfree(diag);
		ldap_unbind_ext_s(ld, NULL, NULL);
		return NULL;
	}
	/*
	 * An anonymous bind may be settled without the server saying a word:
	 * read the base entry, which proves both the server and lookup.ldap.base.
	 */
	char *none[] = { LDAP_NO_ATTRS, NULL };
	LDAPMessage *res = NULL;
	rc = ldap_search_ext_s(ld, a->s.base, LDAP_SCOPE_BASE, "(objectClass=*)", none, 0, NULL, NULL, &tv, 1, &res);
	ldap_msgfree(res);
	if (rc != LDAP_SUCCESS) {
		snprintf(why, cap, "%s: the base \"%s\": %s", uri, a->s.base,
		    rc == LDAP_NO_SUCH_OBJECT ? "no such entry (lookup.ldap.base)" : ldap_err2string(rc));
		ldap_unbind_ext_s(ld, NULL, NULL);
		return NULL;
	}
	return ld;
}

static void *attempt_run(void *arg)
{
	struct attempt *a = arg;
	size_t used = 0;

	a->why[0] = '\0';
	for (size_t i = 0; i < a->s.n_uris && !a->ld; i++) {
		char why[256];
		if ((a->ld = connect_one(a, a->s.uris[i], why, sizeof(why))) != NULL) {
			a->uri = i;
			break;
		}
		used += (size_t)snprintf(a->why + used, used < sizeof(a->why) ? sizeof(a->why) - used : 0, "%s%s",
		    used ? "; " : "", why);
		if (used >= sizeof(a->why))
			used = sizeof(a->why) - 1;
	}
	/* A pointer is shorter than PIPE_BUF: the write is whole or not at all. */
	while (write(notify[1], &a, sizeof(a)) < 0 && errno == EINTR)
		;
	return NULL;
}

static void attempt_free(struct attempt *a)
{
	if (a->ld)
		ldap_unbind_ext_s(a->ld, NULL, NULL);
	settings_clear(&a->s);
	free(a);
}

static int on_notify(su_root_magic_t *m, su_wait_t *w, su_wakeup_arg_t *arg);

/* The process's pipe for the threads' results, registered once with the loop. */
static int notify_ready(void)
{
	if (notify_registered)
		return 0;
	if (notify[0] < 0) {
		if (pipe2(notify, O_CLOEXEC) < 0)
			return -errno;
		fcntl(notify[0], F_SETFL, O_NONBLOCK);
		if (su_wait_create(notify_wait, notify[0], SU_WAIT_IN) < 0)
			return -EIO;
	}
	if (su_root_register(loop, notify_wait, on_notify, NULL, 0) < 0)
		return -EIO;
	notify_registered = true;
	return 0;
}

static void start_attempt(struct client *c)
{
	struct attempt *a = calloc(1, sizeof(*a));
	sigset_t all, old;
	int rc = -ENOMEM;

	if (a && (rc = notify_ready()) == 0 && (rc = settings_copy(&a->s, &c->s)) == 0) {
		a->client = c;
		/* The thread takes no signal: the daemon's are read from a signalfd. */
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		rc = -pthread_create(&a->thread, NULL, attempt_run, a);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	if (rc < 0) {
		if (a)
			attempt_free(a);
		log_error("lookup: cannot start connecting to the directory: %s", strerror(-rc));
		c->state = LOST;
		c->retry_at_ms = now_ms() + BACKOFF_FIRST_MS;
		fail_all(c);
		return;
	}
	c->attempt = a;
	c->state = CONNECTING;
}

static int on_readable(su_root_magic_t *m, su_wait_t *w, su_wakeup_arg_t *arg);

static void connected(struct client *c, LDAP *ld, size_t uri)
{
	int fd = -1;

	ldap_get_option(ld, LDAP_OPT_DESC, &fd);
	c->wait_fd = fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
	if (c->wait_fd < 0 || su_wait_create(c->wait, c->wait_fd, SU_WAIT_IN) < 0 ||
	    (c->wait_index = su_root_register(loop, c->wait, on_readable, (su_wakeup_arg_t *)c, 0)) <= 0) {
		ldap_unbind_ext_s(ld, NULL, NULL);
		if (c->wait_fd >= 0)
			close(c->wait_fd);
		c->wait_fd = -1;
		c->wait_index = 0;
		c->state = LOST;
		c->retry_at_ms = now_ms() + BACKOFF_FIRST_MS;
		log_error("lookup: cannot watch the directory's connection");
		fail_all(c);
		return;
	}
	c->ld = ld;
	c->uri = uri;
	c->state = UP;
	c->backoff_ms = 0;
	c->last_rx_ms = now_ms();
	if (c->trouble_since_ms) {
		log_info("lookup: the directory is back: %s (%.1f s after it was lost; %lu lookups failed meanwhile)",
		    state_uri(c), (double)(now_ms() - c->trouble_since_ms) / 1000.0, c->failed);
		c->trouble_since_ms = 0;
	} else {
		log_info("lookup: connected to the directory %s%s%s%s", state_uri(c), c->s.starttls ? " (StartTLS)" : "",
		    c->s.bind_dn ? ", bound as " : ", anonymous", c->s.bind_dn ? c->s.bind_dn : "");
	}
	c->failed = 0;
	c->connected_ms = now_ms();
	send_waiting(c);
}

static void cannot_connect(struct client *c, const char *why)
{
	bool first = c->trouble_since_ms == 0;

	c->state = LOST;
	c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : BACKOFF_FIRST_MS;
	if (c->backoff_ms > BACKOFF_MAX_MS)
		c->backoff_ms = BACKOFF_MAX_MS;
	c->retry_at_ms = now_ms() + c->backoff_ms;
	if (first) {
		c->trouble_since_ms = now_ms();
		c->failed = 0;
	}
	if (first || strcmp(why, c->last_error) != 0)
		log_error("lookup: the directory cannot be reached (%s): lookups fail until it is back "
		    "(policy.on_lookup_failure); trying again in %u s", why, c->backoff_ms / 1000);
	else
		log_debug("lookup: the directory still cannot be reached (%s); trying again in %u s", why,
		    c->backoff_ms / 1000);
	snprintf(c->last_error, sizeof(c->last_error), "%s", why);
	fail_all(c);
}

static int on_notify(su_root_magic_t *m, su_wait_t *w, su_wakeup_arg_t *arg)
{
	struct attempt *a;

	(void)m;
	(void)w;
	(void)arg;
	while (read(notify[0], &a, sizeof(a)) == (ssize_t)sizeof(a)) {
		/*
		 * The thread wrote its last word: wait the moment it takes to end, so
		 * that none outlives its result (a thread still ending when the
		 * process exits keeps libc's per-thread buffers, which LeakSanitizer
		 * then reports).
		 */
		pthread_join(a->thread, NULL);
		struct client *c = a->client;
		if (c) {
			c->attempt = NULL;
			if (a->ld) {
				LDAP *ld = a->ld;
				a->ld = NULL;
				if (a->why[0])
					log_warn("lookup: skipped directory URIs that could not be used: %s", a->why);
				connected(c, ld, a->uri);
			} else {
				cannot_connect(c, a->why[0] ? a->why : "no URI");
			}
		}
		attempt_free(a);
	}
	return 0;
}

/* The connection is unusable: close it, and connect again at once (queries not yet answered go on the new one). */
/* Stop watching the connection (before or after libldap closed its socket: ours is a dup). */
static void unwatch(struct client *c)
{
	if (c->wait_index > 0 && loop)
		su_root_deregister(loop, c->wait_index);
	c->wait_index = 0;
	if (c->wait_fd >= 0)
		close(c->wait_fd);
	c->wait_fd = -1;
}

static void drop_connection(struct client *c, const char *why)
{
	unwatch(c);
	if (c->ld) {
		ldap_unbind_ext_s(c->ld, NULL, NULL);
		c->ld = NULL;
	}
	for (struct query *q = c->queries; q; q = q->next)
		query_unsent(c, q);
	if (now_ms() - c->connected_ms < BACKOFF_FIRST_MS) {
		/* Lost as soon as made: connecting again at once would only go round; wait as for a failure. */
		char more[600];
		snprintf(more, sizeof(more), "%s: %s, within a second of connecting", state_uri(c), why);
		cannot_connect(c, more);
		return;
	}
	if (!c->trouble_since_ms) {
		log_warn("lookup: lost the directory %s: %s; connecting again", state_uri(c), why);
		c->trouble_since_ms = now_ms();
		c->failed = 0;
	} else {
		log_debug("lookup: lost the directory %s again: %s; connecting again", state_uri(c), why);
	}
	c->state = IDLE;
	start_attempt(c);
}

/* One complete result (a search's entries and its end): the answer for its query. */
static void take_result(struct client *c, LDAPMessage *msg)
{
	struct query *q = query_by_msgid(c, ldap_msgid(msg));
	struct answer *best = NULL;
	bool best_exact = false;
	char *best_dn = NULL;
	int err = LDAP_OTHER;
	char *text = NULL;

	if (!q)
		return;		/* abandoned: it timed out */
	for (LDAPMessage *e = ldap_first_entry(c->ld, msg); e; e = ldap_next_entry(c->ld, e)) {
		struct berval **users = ldap_get_values_len(c->ld, e, ATTR_USER);
		bool exact = false;
		for (size_t i = 0; users && users[i]; i++)
			exact = exact || (users[i]->bv_len == strlen(q->user) &&
			    memcmp(users[i]->bv_val, q->user, users[i]->bv_len) == 0);
		ldap_value_free_len(users);
		char *dn = ldap_get_dn(c->ld, e);
		/* The user's own entry beats its domain's; between equals, the smaller DN (stable). */
		if (dn && (!best_dn || exact > best_exact || (exact == best_exact && strcmp(dn, best_dn) < 0))) {
			struct berval **vals = ldap_get_values_len(c->ld, e, ATTR_DOMAIN);
			const char *why = NULL;
			struct answer *a = answer_from_entry(dn, vals, state_uri(c), &why);
			ldap_value_free_len(vals);
			if (!a && why)
				log_error("lookup: directory entry %s: %s: %s (the lookup of %s fails)", dn, ATTR_DOMAIN, why,
				    q->user);
			else if (!a)
				log_error("lookup: out of memory reading directory entry %s", dn);
			answer_unref(best);
			best = a;
			best_exact = exact;
			/* A bad entry that wins stays the winner: the lookup fails rather than fall back to a lesser one. */
			ldap_memfree(best_dn);
			best_dn = dn;
		} else {
			ldap_memfree(dn);
		}
	}
	ldap_parse_result(c->ld, msg, &err, NULL, &text, NULL, NULL, 0);
	if (err == LDAP_SUCCESS || err == LDAP_SIZELIMIT_EXCEEDED) {
		if (best_dn && !best)
			complete_status(c, q, LOOKUP_FAILED);
		else if (best)
			complete(c, q, best);
		else
			complete_status(c, q, LOOKUP_NOT_FOUND);
	} else {
		log_error("lookup: the directory %s refused the search for %s under \"%s\": %s%s%s", state_uri(c),
		    q->user, c->s.base, ldap_err2string(err), text && *text ? ": " : "", text ? text : "");
		complete_status(c, q, LOOKUP_FAILED);
	}
	answer_unref(best);
	ldap_memfree(best_dn);
	ldap_memfree(text);
}

static int on_readable(su_root_magic_t *m, su_wait_t *w, su_wakeup_arg_t *arg)
{
	struct client *c = (struct client *)arg;
	struct timeval zero = { 0, 0 };
	LDAPMessage *msg;
	int rc;

	(void)m;
	(void)w;
	c->last_rx_ms = now_ms();
	while (c->ld && (rc = ldap_result(c->ld, LDAP_RES_ANY, LDAP_MSG_ALL, &zero, &msg)) != 0) {
		if (rc < 0) {
			int e = LDAP_SERVER_DOWN;
			ldap_get_option(c->ld, LDAP_OPT_RESULT_CODE, &e);
			drop_connection(c, ldap_err2string(e));
			break;
		}
		/* A whole search (LDAP_MSG_ALL): its type is that of the chain's first message. */
		if (rc == LDAP_RES_SEARCH_RESULT || rc == LDAP_RES_SEARCH_ENTRY || rc == LDAP_RES_SEARCH_REFERENCE)
			take_result(c, msg);
		ldap_msgfree(msg);
	}
	send_waiting(c);
	return 0;
}

/* Every 50 ms: queries past their deadline fail; a directory lost is tried again when it is time. */
static void tick(su_root_magic_t *m, su_timer_t *t, su_timer_arg_t *arg)
{
	struct client *c = (struct client *)arg;
	int64_t now = now_ms();
	bool silent = false;

	(void)m;
	(void)t;
	struct query *late = NULL;

	/* Take the late ones out first: waking their waiters may add queries. */
	for (struct query *q = c->queries, *next; q; q = next) {
		next = q->next;
		if (q->deadline_ms > now)
			continue;
		if (q->msgid >= 0 && c->ld) {
			ldap_abandon_ext(c->ld, q->msgid, NULL, NULL);
			silent = silent || now - c->last_rx_ms >= c->s.timeout_ms;
		}
		query_unlink(c, q);
		q->next = late;
		late = q;
	}
	while (late) {
		struct query *q = late;
		late = q->next;
		log_debug("lookup: no answer for %s within %d ms", q->user, c->s.timeout_ms);
		complete_status(c, q, LOOKUP_FAILED);
	}
	if (silent && c->state == UP) {
		char why[96];
		snprintf(why, sizeof(why), "no answer for %d ms", c->s.timeout_ms);
		drop_connection(c, why);
	}
	if (c->state == LOST && now >= c->retry_at_ms)
		start_attempt(c);
	else if (c->state == UP)
		send_waiting(c);
}

/* The client's first use in this process: the cache and the timer (never in a process that does not look up). */
static int client_start(struct client *c)
{
	if (c->timer)
		return 0;
	if (!loop)
		return -ENOTCONN;
	if (c->s.cache_size > 0) {
		size_t b = 16;
		while (b < (size_t)c->s.cache_size && b < ((size_t)1 << 24))
			b <<= 1;
		if ((c->cache = calloc(b, sizeof(*c->cache))) == NULL)
			return -ENOMEM;
		c->cache_mask = b - 1;
	}
	if ((c->timer = su_timer_create(su_root_task(loop), TICK_MS)) == NULL ||
	    su_timer_set_for_ever(c->timer, tick, (su_timer_arg_t *)c) < 0)
		return -ENOMEM;
	return 0;
}

static void client_free(struct client *c)
{
	for (struct client **pp = &clients; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	fail_all(c);
	if (c->attempt)
		c->attempt->client = NULL;	/* its thread's result is dropped when it comes */
	unwatch(c);
	if (c->ld)
		ldap_unbind_ext_s(c->ld, NULL, NULL);
	if (c->timer)
		su_timer_destroy(c->timer);
	while (c->oldest)
		cache_unlink(c, c->oldest);
	free(c->cache);
	settings_clear(&c->s);
	free(c);
}

/* ---- the backend ---- */

static int dir_open(const struct conf *cf, const struct lookup_files *files, void **state, char *err, size_t errlen)
{
	struct settings s;
	unsigned char key[32];
	struct client *c;
	int rc;

	if (cf->lookup.ldap.uris.n == 0 || !cf->lookup.ldap.base) {
		say(err, errlen, "lookup.ldap: uris and base are required");
		return -EINVAL;
	}
	if ((rc = settings_from(&s, &cf->lookup.ldap, files)) < 0) {
		say(err, errlen, "lookup: out of memory");
		return rc;
	}
	if (settings_key(&s, key) < 0) {
		settings_clear(&s);
		say(err, errlen, "lookup: out of memory");
		return -ENOMEM;
	}
	for (c = clients; c; c = c->next)
		if (memcmp(c->key, key, sizeof(key)) == 0) {
			/* The same settings as a generation still loaded: its connection and cache go on. */
			settings_clear(&s);
			c->refs++;
			*state = c;
			return 0;
		}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		settings_clear(&s);
		say(err, errlen, "lookup: out of memory");
		return -ENOMEM;
	}
	c->refs = 1;
	c->wait_fd = -1;
	c->s = s;
	memcpy(c->key, key, sizeof(key));
	c->state = IDLE;
	c->next = clients;
	clients = c;
	*state = c;
	return 0;
}

static void dir_close(void *state)
{
	struct client *c = state;

	if (c && --c->refs == 0)
		client_free(c);
}

/* The views of a found answer into res: only what it has (a struct lookup_result is 4 kB, mostly unused). */
static void fill(const struct answer *a, struct lookup_result *res, const char *source)
{
	size_t k = 0;

	res->matched = a->str[k++];
	res->n = a->n;
	for (size_t i = 0; i < a->n; i++) {
		struct lookup_domain *d = &res->domain[i];
		d->kms = a->str[k++];
		d->n_external = a->n_external[i];
		memcpy(d->external, &a->str[k], d->n_external * sizeof(d->external[0]));
		k += d->n_external;
	}
	res->line = 0;
	res->source = source;
	res->origin = a->origin;
	int64_t age = (now_ms() - a->fetched_ms) / 1000;
	res->age_s = age > 0 ? (unsigned)age : 0;
}

static enum lookup_status dir_find(void *state, const char *user, struct lookup_result *res)
{
	struct client *c = state;
	struct centry *e;
	struct query *q;

	if (c->delivering && strcmp(c->delivering, user) == 0) {
		if (c->delivered->status == LOOKUP_FOUND)
			fill(c->delivered, res, "directory");
		return c->delivered->status;
	}
	if (strlen(user) > USER_MAX)
		return LOOKUP_NOT_FOUND;	/* no entry can hold it */
	if (client_start(c) < 0)
		return LOOKUP_FAILED;
	uint64_t h = hash_of(user);
	if ((e = cache_get(c, user, h)) != NULL) {
		metrics_lookup_cache(true);
		if (e->a->status == LOOKUP_FOUND)
			fill(e->a, res, "cache");
		return e->a->status;
	}
	metrics_lookup_cache(false);
	if (query_find(c, user, h))
		return LOOKUP_PENDING;
	if (c->state == LOST) {
		/* Fail fast while the directory is away; the timer tries it again. */
		c->failed++;
		return LOOKUP_FAILED;
	}
	size_t len = strlen(user);
	if ((q = calloc(1, sizeof(*q) + len + 1)) == NULL)
		return LOOKUP_FAILED;
	memcpy(q->user, user, len + 1);
	q->hash = h;
	q->msgid = -1;
	q->started_ms = now_ms();
	q->deadline_ms = q->started_ms + c->s.timeout_ms;
	q->hnext = c->by_user[h % QUERY_BUCKETS];
	c->by_user[h % QUERY_BUCKETS] = q;
	if ((q->next = c->queries) != NULL)
		q->next->prev = &q->next;
	q->prev = &c->queries;
	c->queries = q;
	c->n_queries++;
	if (c->state == UP)
		send_query(c, q);
	else if (c->state == IDLE)
		start_attempt(c);
	/* start_attempt may have failed every query, this one included. */
	return query_find(c, user, h) ? LOOKUP_PENDING : LOOKUP_FAILED;
}

static struct lookup_wait *dir_wait(void *state, const char *user, lookup_ready_fn *fn, void *arg)
{
	struct client *c = state;
	struct query *q = query_find(c, user, hash_of(user));
	struct lookup_wait *w;

	if (!q || (w = calloc(1, sizeof(*w))) == NULL)
		return NULL;
	w->q = q;
	w->fn = fn;
	w->arg = arg;
	if ((w->next = q->waiters) != NULL)
		w->next->prev = &w->next;
	w->prev = &q->waiters;
	q->waiters = w;
	return w;
}

static void dir_cancel(struct lookup_wait *w)
{
	if ((*w->prev = w->next) != NULL)
		w->next->prev = w->prev;
	free(w);
}

static unsigned dir_retry_after(void *state)
{
	struct client *c = state;
	int64_t left = c->state == LOST ? c->retry_at_ms - now_ms() : 0;

	return left > 0 ? (unsigned)((left + 999) / 1000) : 1;
}

const struct lookup_ops lookup_ldap_ops = {
	.name = "ldap",
	.open = dir_open,
	.find = dir_find,
	.close = dir_close,
	.wait = dir_wait,
	.cancel = dir_cancel,
	.retry_after = dir_retry_after,
};

void lookup_ldap_attach(su_root_t *root)
{
	loop = root;
}

void lookup_ldap_detach(void)
{
	for (struct client *c = clients; c; c = c->next) {
		fail_all(c);
		if (c->attempt)
			c->attempt->client = NULL;
		c->attempt = NULL;
		unwatch(c);
		if (c->ld)
			ldap_unbind_ext_s(c->ld, NULL, NULL);
		c->ld = NULL;
		if (c->timer)
			su_timer_destroy(c->timer);
		c->timer = NULL;
		c->state = IDLE;
	}
	if (notify_registered && loop)
		su_root_unregister(loop, notify_wait, on_notify, NULL);
	notify_registered = false;
	/* The pipe stays: a thread still connecting writes its result there (and it is never read). */
	loop = NULL;
}
