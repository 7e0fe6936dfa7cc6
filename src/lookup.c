/* Security-domain lookup: picks the backend named by the configuration and delegates to it. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "lookup.h"

/* The known backends, by name; a centralised service joins this table later. */
static const struct lookup_ops *const backends[] = {
	&lookup_table_ops,
};

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
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
		if (strcmp(backends[i]->name, c->lookup.backend) == 0) {
			ops = backends[i];
			break;
		}
	}
	if (!ops) {
		char known[128] = "";
		size_t n = 0;

		for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]) && n < sizeof(known); i++)
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
	if ((r = ops->open(c, &l->state, err, errlen)) < 0) {
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
	return l->ops->find(l->state, user, res);
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
