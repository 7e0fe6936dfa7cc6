/* Security-domain lookup: picks the backend named by the configuration and delegates to it. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf.h"
#include "lookup.h"
#include "metrics.h"

/* The known backends, by name: the table, and those the programs register. */
#define MAX_BACKENDS 4
static const struct lookup_ops *backends[MAX_BACKENDS] = {
	&lookup_table_ops,
};
static size_t n_backends = 1;

int lookup_register(const struct lookup_ops *ops)
{
	for (size_t i = 0; i < n_backends; i++)
		if (strcmp(backends[i]->name, ops->name) == 0)
			return 0;
	if (n_backends == MAX_BACKENDS)
		return -ENOSPC;
	backends[n_backends++] = ops;
	return 0;
}

struct lookup {
	const struct lookup_ops *ops;
	void *state;
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int lookup_open(const struct conf *c, struct lookup **out, char *err, size_t errlen)
{
	return lookup_open_files(c, NULL, out, err, errlen);
}

int lookup_open_files(const struct conf *c, const struct lookup_files *files, struct lookup **out, char *err,
    size_t errlen)
{
	static const struct lookup_files none;
	const struct lookup_ops *ops = NULL;
	struct lookup *l;
	int r;

	if (err && errlen)
		err[0] = '\0';
	if (!c || !out) {
		set_err(err, errlen, "lookup: no configuration");
		return -EINVAL;
	}
	if (!c->lookup.backend || !c->lookup.backend[0]) {
		set_err(err, errlen, "lookup: no backend configured");
		return -EINVAL;
	}
	for (size_t i = 0; i < n_backends; i++) {
		if (strcmp(backends[i]->name, c->lookup.backend) == 0) {
			ops = backends[i];
			break;
		}
	}
	if (!ops) {
		char known[128] = "";
		size_t n = 0;

		for (size_t i = 0; i < n_backends && n < sizeof(known); i++)
			n += (size_t)snprintf(known + n, sizeof(known) - n, "%s%s", i ? ", " : "",
			    backends[i]->name);
		set_err(err, errlen, "lookup: unknown backend \"%.64s\" (known: %s)",
		    c->lookup.backend, known);
		return -ENOENT;
	}
	if ((l = calloc(1, sizeof(*l))) == NULL) {
		set_err(err, errlen, "lookup: out of memory");
		return -ENOMEM;
	}
	l->ops = ops;
	if ((r = ops->open(c, files ? files : &none, &l->state, err, errlen)) < 0) {
		if (err && errlen && !err[0])
			set_err(err, errlen, "lookup: backend %s cannot open", ops->name);
		free(l);
		return r;
	}
	*out = l;
	return 0;
}

enum lookup_status lookup_find(struct lookup *l, const char *user, struct lookup_result *res)
{
	/* The same contract for every backend: they never see an empty user. */
	if (!l || !res || !user || !user[0])
		return LOOKUP_FAILED;
	if (!metrics_enabled())
		return l->ops->find(l->state, user, res);
	/* Counted once per answer a decision gets: a "pending" is not one (its answer comes later). */
	struct timespec t0, t1;
	bool table = l->ops == &lookup_table_ops;
	if (table)
		clock_gettime(CLOCK_MONOTONIC, &t0);
	enum lookup_status st = l->ops->find(l->state, user, res);
	if (table) {
		clock_gettime(CLOCK_MONOTONIC, &t1);
		metrics_lookup_seconds("table", (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	}
	if (st != LOOKUP_PENDING)
		metrics_lookup(l->ops->name, st == LOOKUP_FOUND ? METRICS_LOOKUP_FOUND :
		    st == LOOKUP_NOT_FOUND ? METRICS_LOOKUP_NOT_FOUND : METRICS_LOOKUP_FAILED);
	return st;
}

struct lookup_wait *lookup_wait(struct lookup *l, const char *user, lookup_ready_fn *fn, void *arg)
{
	if (!l || !user || !fn || !l->ops->wait)
		return NULL;
	return l->ops->wait(l->state, user, fn, arg);
}

void lookup_wait_cancel(struct lookup *l, struct lookup_wait *w)
{
	if (l && w && l->ops->cancel)
		l->ops->cancel(w);
}

unsigned lookup_retry_after(struct lookup *l)
{
	unsigned s = l && l->ops->retry_after ? l->ops->retry_after(l->state) : 0;
	return s ? s : 1;
}

int lookup_result_copy(const struct lookup_result *in, struct lookup_result *out, char **arena)
{
	size_t total = 0;
	const char *strs[1 + LOOKUP_MAX_DOMAINS * (1 + LOOKUP_MAX_EXTERNAL)];
	size_t n = 0;

	*out = *in;
	strs[n++] = in->matched;
	for (size_t i = 0; i < in->n && i < LOOKUP_MAX_DOMAINS; i++) {
		strs[n++] = in->domain[i].kms;
		for (size_t e = 0; e < in->domain[i].n_external && e < LOOKUP_MAX_EXTERNAL; e++)
			strs[n++] = in->domain[i].external[e];
	}
	for (size_t i = 0; i < n; i++)
		total += strs[i] ? strlen(strs[i]) + 1 : 0;
	if ((*arena = malloc(total + 1)) == NULL)
		return -ENOMEM;
	char *cur = *arena;
	const char **dst[1 + LOOKUP_MAX_DOMAINS * (1 + LOOKUP_MAX_EXTERNAL)];
	size_t k = 0;
	dst[k++] = &out->matched;
	for (size_t i = 0; i < in->n && i < LOOKUP_MAX_DOMAINS; i++) {
		dst[k++] = &out->domain[i].kms;
		for (size_t e = 0; e < in->domain[i].n_external && e < LOOKUP_MAX_EXTERNAL; e++)
			dst[k++] = &out->domain[i].external[e];
	}
	for (size_t i = 0; i < n; i++) {
		if (!strs[i])
			continue;
		size_t len = strlen(strs[i]) + 1;
		memcpy(cur, strs[i], len);
		*dst[i] = cur;
		cur += len;
	}
	return 0;
}

void lookup_close(struct lookup *l)
{
	if (!l)
		return;
	l->ops->close(l->state);
	free(l);
}

/*
 * Greedy matching that only ever returns to the last star seen: a later
 * star can absorb whatever an earlier one would have, so earlier choices
 * never need revisiting, and the work is bounded by |pattern| * |user|.
 */
int lookup_match(const char *pattern, const char *user)
{
	const char *p = pattern, *s = user;
	const char *star_p = NULL, *star_s = NULL;

	if (!pattern || !user)
		return 0;
	while (*s) {
		if (*p == '*') {
			/* Try the empty run first; remember where to widen it. */
			star_p = ++p;
			star_s = s;
		} else if (*p == *s) {
			p++;
			s++;
		} else if (star_p) {
			/* Widen the last star's run by one character and retry. */
			p = star_p;
			s = ++star_s;
		} else {
			return 0;
		}
	}
	while (*p == '*')
		p++;
	return *p == '\0';
}
