/*
 * RFC 3263 4 (locating a SIP server) on c-ares, in the Sofia-SIP loop:
 * c-ares's sockets are watched by the su_root, its timeouts by a su_timer,
 * and every resolution has a deadline.  Answers are cached for their TTL
 * (bounded), "no such name" briefly, server failures not at all; queries
 * for a name already being resolved wait for that resolution.
 */
#include "config.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <ares.h>

#include <sofia-sip/su_wait.h>

#include "resolve.h"

#define MAX_SOCKETS	16	/* c-ares uses one or two per DNS server */
#define MAX_SRV		4	/* SRV names tried per resolution */
#define MAX_RECORDS	32	/* NAPTR or SRV records of one answer that are sorted (the rest ignored) */
#define MAX_HOSTS	RESOLVE_MAX_TARGETS
#define CACHE_BUCKETS	1024
#define ARES_TIMEOUT_MS	1000	/* the first try of each server; c-ares doubles it on the next */
#define ARES_TRIES	3
#define NAME_MAX_LEN	256

struct lookup;

struct resolve_query {
	struct resolve_query *next, **prev;	/* among its lookup's waiters */
	struct lookup *l;
	resolve_fn *cb;
	void *arg;
};

struct cache_entry {
	struct cache_entry *next;
	time_t expires;
	bool negative;
	struct resolve_result res;
	char key[];
};

struct ares_socket {
	struct resolver *r;
	ares_socket_t fd;
	int index;		/* su_root registration, 0 when free */
	su_wait_t wait[1];
};

struct resolver {
	su_root_t *root;
	ares_channel channel;
	bool channel_ok;
	bool tls;			/* we can send over TLS: sips: and TLS targets may be used */
	unsigned deadline_ms;
	su_timer_t *timer;		/* c-ares's own timeouts */
	struct ares_socket sock[MAX_SOCKETS];
	struct lookup *lookups;		/* in flight */
	size_t pending;			/* queries waiting */
	struct cache_entry *cache[CACHE_BUCKETS];
	size_t cached;
};

/* A place still to resolve to addresses: an SRV target, or the URI's host. */
struct hostport {
	char transport[4];
	char host[NAME_MAX_LEN];
	unsigned port;
};

/* One resolution in flight; freed when done and c-ares holds no query for it. */
struct lookup {
	struct lookup *next, **prev;
	struct resolver *r;
	unsigned refs;			/* 1 while in flight, + one per c-ares query outstanding */
	bool done;
	struct resolve_query *waiters;
	su_timer_t *deadline;
	char host[NAME_MAX_LEN];
	unsigned port;
	char transport[4];		/* given by the URI, or "" */
	bool sips;
	struct { char transport[4]; char name[NAME_MAX_LEN + 16]; } srv[MAX_SRV];
	size_t n_srv, i_srv;
	struct hostport hosts[MAX_HOSTS];
	size_t n_hosts, i_host;
	struct resolve_result res;
	int ttl;
	const char *trouble;		/* the DNS failure seen, when answers are missing because of it */
	char key[];
};

/* ---- c-ares in the event loop ---- */

static void arm_timer(struct resolver *r);

/* w is the root's own copy of the slot's wait object: the slot comes as the argument. */
static int on_socket(su_root_magic_t *magic, su_wait_t *w, su_wakeup_arg_t *arg)
{
	struct ares_socket *s = arg;
	struct resolver *r = s->r;
	(void)magic;

	int ev = su_wait_events(w, s->fd);
	ares_socket_t fd = s->fd;
	ares_process_fd(r->channel, ev & (SU_WAIT_IN | SU_WAIT_ERR | SU_WAIT_HUP) ? fd : ARES_SOCKET_BAD,
	    ev & SU_WAIT_OUT ? fd : ARES_SOCKET_BAD);
	arm_timer(r);
	return 0;
}

/* c-ares opens, watches and closes its sockets through this. */
static void sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct resolver *r = data;
	struct ares_socket *s = NULL, *free_slot = NULL;

	for (size_t i = 0; i < MAX_SOCKETS; i++) {
		if (r->sock[i].index && r->sock[i].fd == fd)
			s = &r->sock[i];
		else if (!r->sock[i].index && !free_slot)
			free_slot = &r->sock[i];
	}
	if (s) {
		su_root_deregister(r->root, s->index);
		s->index = 0;
	}
	if (!readable && !writable)
		return;
	if (!s)
		s = free_slot;
	/* Without a slot the socket is not watched: its queries time out, nothing worse. */
	if (!s || su_wait_create(s->wait, fd, (readable ? SU_WAIT_IN : 0) | (writable ? SU_WAIT_OUT : 0)) < 0)
		return;
	s->fd = fd;
	s->r = r;
	if ((s->index = su_root_register(r->root, s->wait, on_socket, s, 0)) < 0)
		s->index = 0;
}

static void on_timer(su_root_magic_t *magic, su_timer_t *t, su_timer_arg_t *arg)
{
	struct resolver *r = arg;
	(void)magic;
	(void)t;
	ares_process_fd(r->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	arm_timer(r);
}

static void arm_timer(struct resolver *r)
{
	struct timeval tv, *next;

	su_timer_reset(r->timer);
	if (!r->channel_ok || (next = ares_timeout(r->channel, NULL, &tv)) == NULL)
		return;
	su_duration_t ms = (su_duration_t)(next->tv_sec * 1000 + next->tv_usec / 1000);
	su_timer_set_interval(r->timer, on_timer, r, ms > 0 ? ms : 1);
}

static int channel_new(struct resolver *r, char *err, size_t errlen)
{
	struct ares_options o;
	int rc;

	memset(&o, 0, sizeof(o));
	o.sock_state_cb = sock_state;
	o.sock_state_cb_data = r;
	o.timeout = ARES_TIMEOUT_MS;
	o.tries = ARES_TRIES;
	rc = ares_init_options(&r->channel, &o, ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
	if (rc != ARES_SUCCESS) {
		snprintf(err, errlen, "cannot start the DNS resolver: %s", ares_strerror(rc));
		return -EIO;
	}
	r->channel_ok = true;
	return 0;
}

/* ---- the cache ---- */

static unsigned bucket_of(const char *key)
{
	unsigned h = 5381;
	for (; *key; key++)
		h = h * 33 + (unsigned char)*key;
	return h % CACHE_BUCKETS;
}

static void cache_flush(struct resolver *r, bool expired_only)
{
	time_t now = time(NULL);

	for (size_t b = 0; b < CACHE_BUCKETS; b++) {
		for (struct cache_entry **e = &r->cache[b]; *e;) {
			if (expired_only && (*e)->expires > now) {
				e = &(*e)->next;
				continue;
			}
			struct cache_entry *dead = *e;
			*e = dead->next;
			free(dead);
			r->cached--;
		}
	}
}

static const struct cache_entry *cache_get(struct resolver *r, const char *key)
{
	for (struct cache_entry *e = r->cache[bucket_of(key)]; e; e = e->next)
		if (strcmp(e->key, key) == 0)
			return e->expires > time(NULL) ? e : NULL;
	return NULL;
}

static void cache_put(struct resolver *r, const char *key, const struct resolve_result *res, int ttl)
{
	struct cache_entry **slot = &r->cache[bucket_of(key)], *e;

	for (e = *slot; e; e = e->next)
		if (strcmp(e->key, key) == 0)
			break;
	if (!e) {
		/* Bounded: past the limit, drop what expired, and when that is not enough, everything. */
		if (r->cached >= RESOLVE_CACHE_MAX)
			cache_flush(r, true);
		if (r->cached >= RESOLVE_CACHE_MAX)
			cache_flush(r, false);
		if ((e = malloc(sizeof(*e) + strlen(key) + 1)) == NULL)
			return;
		strcpy(e->key, key);
		e->next = *slot;
		*slot = e;
		r->cached++;
	}
	e->negative = res == NULL;
	if (res)
		e->res = *res;
	else
		e->res.n = 0;
	e->expires = time(NULL) + ttl;
}

/* ---- lookups ---- */

static void lookup_unref(struct lookup *l)
{
	if (--l->refs)
		return;
	if (l->deadline)
		su_timer_destroy(l->deadline);
	free(l);
}

/* The end of a lookup: every waiter hears the answer, once. */
static void lookup_finish(struct lookup *l, const struct resolve_result *res, const char *error)
{
	struct resolver *r = l->r;

	if (l->done)
		return;
	l->done = true;
	su_timer_reset(l->deadline);
	if ((*l->prev = l->next) != NULL)
		l->next->prev = l->prev;
	while (l->waiters) {
		struct resolve_query *q = l->waiters;
		if ((l->waiters = q->next) != NULL)
			q->next->prev = &l->waiters;
		r->pending--;
		q->cb(q->arg, res, error);
		free(q);
	}
	lookup_unref(l);
}

static void on_deadline(su_root_magic_t *magic, su_timer_t *t, su_timer_arg_t *arg)
{
	struct lookup *l = arg;
	(void)magic;
	(void)t;
	lookup_finish(l, NULL, "DNS resolution timed out");
}

/* Why a c-ares status leaves no answer; NULL when the name simply has no such record. */
static const char *trouble_of(int status)
{
	switch (status) {
	case ARES_SUCCESS:
	case ARES_ENODATA:
	case ARES_ENOTFOUND:
		return NULL;
	case ARES_ETIMEOUT:
		return "DNS server did not answer";
	case ARES_ECONNREFUSED:
		return "DNS server unreachable or refusing";
	case ARES_ESERVFAIL:
		return "DNS server failure";
	case ARES_EREFUSED:
		return "DNS server refused the query";
	case ARES_ENOMEM:
		return "out of memory in the DNS resolver";
	default:
		return "DNS resolution failed";
	}
}

static void next_stage(struct lookup *l);

/* Every address of a host, in c-ares's order (RFC 6724), with its port and transport. */
static void on_addresses(void *arg, int status, int timeouts, struct ares_addrinfo *ai)
{
	struct lookup *l = arg;
	const struct hostport *hp = &l->hosts[l->i_host];
	(void)timeouts;

	if (!l->done) {
		if (!l->trouble)
			l->trouble = trouble_of(status);
		for (struct ares_addrinfo_node *n = ai ? ai->nodes : NULL; n && l->res.n < RESOLVE_MAX_TARGETS;
		    n = n->ai_next) {
			struct resolve_target *t = &l->res.t[l->res.n];
			char ip[INET6_ADDRSTRLEN];
			if (n->ai_family == AF_INET)
				inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)n->ai_addr)->sin_addr, ip, sizeof(ip));
			else if (n->ai_family == AF_INET6)
				inet_ntop(AF_INET6, &((struct sockaddr_in6 *)(void *)n->ai_addr)->sin6_addr, ip,
				    sizeof(ip));
			else
				continue;
			snprintf(t->host, sizeof(t->host), n->ai_family == AF_INET6 ? "[%s]" : "%s", ip);
			memcpy(t->transport, hp->transport, sizeof(t->transport));
			t->port = hp->port;
			if (n->ai_ttl >= 0 && n->ai_ttl < l->ttl)
				l->ttl = n->ai_ttl;
			l->res.n++;
		}
		l->i_host++;
	}
	if (ai)
		ares_freeaddrinfo(ai);
	if (!l->done)
		next_stage(l);
	lookup_unref(l);
}

/* RFC 2782: lower priority first; among equals, heavier first (not randomised: the same answer each time). */
static int srv_order(const void *a, const void *b)
{
	const struct ares_srv_reply *x = *(const struct ares_srv_reply *const *)a;
	const struct ares_srv_reply *y = *(const struct ares_srv_reply *const *)b;
	return x->priority != y->priority ? (int)x->priority - (int)y->priority : (int)y->weight - (int)x->weight;
}

static void on_srv(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct lookup *l = arg;
	struct ares_srv_reply *srv = NULL, *v[MAX_RECORDS];
	size_t n = 0;
	(void)timeouts;

	if (!l->done) {
		const char *trouble = trouble_of(status);
		if (trouble) {
			lookup_finish(l, NULL, trouble);
		} else {
			if (status == ARES_SUCCESS && ares_parse_srv_reply(abuf, alen, &srv) == ARES_SUCCESS)
				for (struct ares_srv_reply *s = srv; s && n < MAX_RECORDS; s = s->next)
					v[n++] = s;
			qsort(v, n, sizeof(v[0]), srv_order);
			/* "." as the target says the service is not offered there (RFC 2782). */
			for (size_t i = 0; i < n && l->n_hosts < MAX_HOSTS; i++) {
				if (!v[i]->host[0] || strcmp(v[i]->host, ".") == 0 || strlen(v[i]->host) >= NAME_MAX_LEN)
					continue;
				struct hostport *hp = &l->hosts[l->n_hosts++];
				memcpy(hp->transport, l->srv[l->i_srv].transport, sizeof(hp->transport));
				snprintf(hp->host, sizeof(hp->host), "%s", v[i]->host);
				hp->port = v[i]->port;
			}
			l->i_srv++;
		}
	}
	if (srv)
		ares_free_data(srv);
	if (!l->done)
		next_stage(l);
	lookup_unref(l);
}

static void add_srv(struct lookup *l, const char *transport, const char *name)
{
	if (l->n_srv == MAX_SRV || strlen(name) >= sizeof(l->srv[0].name))
		return;
	snprintf(l->srv[l->n_srv].transport, sizeof(l->srv[0].transport), "%s", transport);
	snprintf(l->srv[l->n_srv].name, sizeof(l->srv[0].name), "%s", name);
	l->n_srv++;
}

/*
 * RFC 3263 4.1: the SRV names when NAPTR says nothing: each transport we
 * can use (TLS only when we listen on TLS); a sips: URI: TLS alone.
 */
static void default_srv(struct lookup *l)
{
	char name[NAME_MAX_LEN + 16];
	bool tls = l->r->tls && (l->sips || !l->transport[0] || strcmp(l->transport, "tls") == 0);

	if (l->sips) {
		if (tls) {
			snprintf(name, sizeof(name), "_sips._tcp.%s", l->host);
			add_srv(l, "tls", name);
		}
		return;
	}
	if (!l->transport[0] || strcmp(l->transport, "udp") == 0) {
		snprintf(name, sizeof(name), "_sip._udp.%s", l->host);
		add_srv(l, "udp", name);
	}
	if (!l->transport[0] || strcmp(l->transport, "tcp") == 0) {
		snprintf(name, sizeof(name), "_sip._tcp.%s", l->host);
		add_srv(l, "tcp", name);
	}
	if (tls) {
		snprintf(name, sizeof(name), "_sips._tcp.%s", l->host);
		add_srv(l, "tls", name);
	}
}

static int naptr_order(const void *a, const void *b)
{
	const struct ares_naptr_reply *x = *(const struct ares_naptr_reply *const *)a;
	const struct ares_naptr_reply *y = *(const struct ares_naptr_reply *const *)b;
	return x->order != y->order ? (int)x->order - (int)y->order : (int)x->preference - (int)y->preference;
}

/* RFC 3263 4.1: NAPTR records with flag "s" for the services we have, in order and preference. */
static void on_naptr(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct lookup *l = arg;
	struct ares_naptr_reply *naptr = NULL, *v[MAX_RECORDS];
	size_t n = 0;
	(void)timeouts;

	if (!l->done) {
		const char *trouble = trouble_of(status);
		if (trouble) {
			lookup_finish(l, NULL, trouble);
		} else {
			if (status == ARES_SUCCESS && ares_parse_naptr_reply(abuf, alen, &naptr) == ARES_SUCCESS)
				for (struct ares_naptr_reply *r = naptr; r && n < MAX_RECORDS; r = r->next)
					v[n++] = r;
			qsort(v, n, sizeof(v[0]), naptr_order);
			for (size_t i = 0; i < n; i++) {
				const char *svc = (const char *)v[i]->service, *fl = (const char *)v[i]->flags;
				const char *t = NULL;
				if (!fl || strcasecmp(fl, "s") != 0 || !svc || !v[i]->replacement)
					continue;
				if (!l->sips && strcasecmp(svc, "SIP+D2U") == 0)
					t = "udp";
				else if (!l->sips && strcasecmp(svc, "SIP+D2T") == 0)
					t = "tcp";
				else if (l->r->tls && strcasecmp(svc, "SIPS+D2T") == 0)
					t = "tls";
				if (t)
					add_srv(l, t, v[i]->replacement);
			}
			if (l->n_srv == 0)
				default_srv(l);
		}
	}
	if (naptr)
		ares_free_data(naptr);
	if (!l->done)
		next_stage(l);
	lookup_unref(l);
}

/* RFC 3263 4.2: the transport of a URI's own host: its parameter, TLS for sips:, else UDP. */
static const char *hop_transport(const struct lookup *l)
{
	if (l->sips)
		return "tls";	/* a sips: URI goes over TLS whatever transport it names */
	return l->transport[0] ? l->transport : "udp";
}

/* Whichever stage is next: SRV names left, then hosts left, then the answer. */
static void next_stage(struct lookup *l)
{
	struct resolver *r = l->r;

	if (l->i_srv < l->n_srv) {
		l->refs++;
		ares_query(r->channel, l->srv[l->i_srv].name, ns_c_in, ns_t_srv, on_srv, l);
		return;
	}
	if (l->n_hosts == 0 && l->i_host == 0) {
		/* RFC 3263 4.2: no SRV: the host itself, at the URI's port or the default. */
		struct hostport *hp = &l->hosts[l->n_hosts++];
		snprintf(hp->transport, sizeof(hp->transport), "%s", hop_transport(l));
		snprintf(hp->host, sizeof(hp->host), "%s", l->host);
		hp->port = l->port ? l->port : strcmp(hp->transport, "tls") == 0 ? 5061 : 5060;
	}
	if (l->i_host < l->n_hosts) {
		struct ares_addrinfo_hints hints = { .ai_family = AF_UNSPEC };
		l->refs++;
		ares_getaddrinfo(r->channel, l->hosts[l->i_host].host, NULL, &hints, on_addresses, l);
		return;
	}
	if (l->res.n > 0) {
		cache_put(r, l->key, &l->res, l->ttl < RESOLVE_TTL_MAX ? l->ttl : RESOLVE_TTL_MAX);
		lookup_finish(l, &l->res, NULL);
	} else if (l->trouble) {
		lookup_finish(l, NULL, l->trouble);
	} else {
		cache_put(r, l->key, NULL, RESOLVE_NEGATIVE_TTL);
		lookup_finish(l, NULL, l->sips ? "no TLS transport for a sips: URI" : "no such host");
	}
}

/* A DNS name as RFC 1035 allows it in a query: letters, digits, '-', '_', '.', no empty label. */
static bool dns_name(const char *h)
{
	size_t n = strlen(h), label = 0;

	if (n == 0 || n >= NAME_MAX_LEN - 16)
		return false;
	for (const char *p = h; *p; p++) {
		char c = *p;
		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
		    c == '_') || ++label > 63)
			return false;
	}
	return true;
}

/* RFC 3263 4.1/4.2: a port says A/AAAA only; a transport says SRV for it; else NAPTR first. */
static void on_start(su_root_magic_t *magic, su_timer_t *t, su_timer_arg_t *arg)
{
	struct lookup *l = arg;
	struct resolver *r = l->r;
	(void)magic;

	su_timer_set_interval(t, on_deadline, l, r->deadline_ms);
	if (l->port) {
		struct hostport *hp = &l->hosts[l->n_hosts++];
		snprintf(hp->transport, sizeof(hp->transport), "%s", hop_transport(l));
		snprintf(hp->host, sizeof(hp->host), "%s", l->host);
		hp->port = l->port;
		next_stage(l);
	} else if (l->transport[0]) {
		default_srv(l);
		next_stage(l);
	} else {
		l->refs++;
		ares_query(r->channel, l->host, ns_c_in, ns_t_naptr, on_naptr, l);
	}
	arm_timer(r);
}

int resolve_sip(struct resolver *r, const char *host, unsigned port, const char *transport, bool sips,
    resolve_fn *cb, void *arg, struct resolve_result *now, struct resolve_query **pending)
{
	char key[NAME_MAX_LEN + 32];
	struct lookup *l;
	struct resolve_query *q;

	if (!dns_name(host) || port > 65535)
		return -EINVAL;
	if (!r->channel_ok)
		return -EIO;	/* c-ares did not restart after a reload */
	if (transport && strcasecmp(transport, "udp") != 0 && strcasecmp(transport, "tcp") != 0 &&
	    strcasecmp(transport, "tls") != 0)
		return -EPROTONOSUPPORT;
	if (!r->tls && (sips || (transport && strcasecmp(transport, "tls") == 0)))
		return -EPROTONOSUPPORT;	/* no TLS address to send from */
	snprintf(key, sizeof(key), "%s|%s|%u|%s", sips ? "sips" : "sip", host, port, transport ? transport : "");
	for (char *p = key; *p; p++)
		*p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);

	const struct cache_entry *e = cache_get(r, key);
	if (e) {
		if (e->negative)
			return -ENOENT;
		*now = e->res;
		return 1;
	}
	if ((q = calloc(1, sizeof(*q))) == NULL)
		return -ENOMEM;
	q->cb = cb;
	q->arg = arg;
	/* A name already being resolved: wait for that answer. */
	for (l = r->lookups; l; l = l->next)
		if (strcmp(l->key, key) == 0)
			break;
	if (!l) {
		if ((l = calloc(1, sizeof(*l) + strlen(key) + 1)) == NULL ||
		    (l->deadline = su_timer_create(su_root_task(r->root), r->deadline_ms)) == NULL) {
			free(l);
			free(q);
			return -ENOMEM;
		}
		strcpy(l->key, key);
		l->r = r;
		l->refs = 1;
		l->ttl = RESOLVE_TTL_MAX;
		snprintf(l->host, sizeof(l->host), "%s", host);
		l->port = port;
		snprintf(l->transport, sizeof(l->transport), "%s", transport ? transport : "");
		for (char *p = l->transport; *p; p++)
			*p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
		l->sips = sips;
		if ((l->next = r->lookups) != NULL)
			l->next->prev = &l->next;
		l->prev = &r->lookups;
		r->lookups = l;
		/* Started from the loop: c-ares may answer at once (/etc/hosts), and callers hear it later. */
		su_timer_set_interval(l->deadline, on_start, l, 0);
	}
	q->l = l;
	if ((q->next = l->waiters) != NULL)
		q->next->prev = &q->next;
	q->prev = &l->waiters;
	l->waiters = q;
	r->pending++;
	*pending = q;
	return 0;
}

void resolve_cancel(struct resolve_query *q)
{
	if (!q)
		return;
	if ((*q->prev = q->next) != NULL)
		q->next->prev = q->prev;
	q->l->r->pending--;
	free(q);
}

size_t resolver_pending(const struct resolver *r)
{
	return r->pending;
}

void resolver_use_tls(struct resolver *r, bool tls)
{
	r->tls = tls;
}

struct resolver *resolver_new(su_root_t *root, unsigned deadline_ms, char *err, size_t errlen)
{
	static bool library;
	struct resolver *r;

	if (!library) {
		int rc = ares_library_init(ARES_LIB_INIT_ALL);
		if (rc != ARES_SUCCESS) {
			snprintf(err, errlen, "cannot start the DNS resolver: %s", ares_strerror(rc));
			return NULL;
		}
		library = true;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	r->root = root;
	r->deadline_ms = deadline_ms;
	if ((r->timer = su_timer_create(su_root_task(root), 1000)) == NULL) {
		snprintf(err, errlen, "out of memory");
		free(r);
		return NULL;
	}
	if (channel_new(r, err, errlen) < 0) {
		su_timer_destroy(r->timer);
		free(r);
		return NULL;
	}
	return r;
}

/* End every lookup in flight with error, then the channel (whose callbacks then find them done). */
static void channel_end(struct resolver *r, const char *error)
{
	while (r->lookups)
		lookup_finish(r->lookups, NULL, error);
	if (r->channel_ok) {
		r->channel_ok = false;
		ares_destroy(r->channel);
	}
	su_timer_reset(r->timer);
}

int resolver_reload(struct resolver *r)
{
	char err[128];

	channel_end(r, "DNS resolver reloaded");
	cache_flush(r, false);
	return channel_new(r, err, sizeof(err));
}

void resolver_free(struct resolver *r)
{
	if (!r)
		return;
	/* Waiters were cancelled by their owners; any left are dropped without a call. */
	for (struct lookup *l = r->lookups; l; l = l->next)
		while (l->waiters)
			resolve_cancel(l->waiters);
	channel_end(r, "stopping");
	cache_flush(r, false);
	for (size_t i = 0; i < MAX_SOCKETS; i++)
		if (r->sock[i].index)
			su_root_deregister(r->root, r->sock[i].index);
	su_timer_destroy(r->timer);
	free(r);
}
