/* Security-domain lookup (TR 33.880 7.2.1.3.4): which domains support a user, behind one backend interface. */
#ifndef MCX_LOOKUP_H
#define MCX_LOOKUP_H

#include <stddef.h>

struct conf;

#define LOOKUP_MAX_DOMAINS	16
#define LOOKUP_MAX_EXTERNAL	32

/* One security domain of the answer: views into the backend's data, valid until it is freed. */
struct lookup_domain {
	const char *kms;			/* the KMS URI rooting the domain */
	const char *external[LOOKUP_MAX_EXTERNAL];	/* external KMSs it permits */
	size_t n_external;
};

/*
 * The answer for one user.  Only the first n domains (and in each the first
 * n_external externals) are set; every pointer is a view into the backend's
 * own copy, valid until lookup_close, whatever happens to the struct conf.
 */
struct lookup_result {
	struct lookup_domain domain[LOOKUP_MAX_DOMAINS];	/* in configured order */
	size_t n;
	const char *matched;	/* the entry that matched (its user pattern, or its DN), for logs and audit */
	int line;		/* and where it is configured (0 when not from a file) */
	const char *source;	/* "table", "directory" (asked now) or "cache" */
	const char *origin;	/* the directory's URI that gave it (NULL for the table) */
	unsigned age_s;		/* from the cache: seconds since the directory gave it */
};

/* Three distinct answers: the caller must not take a failure for "not found". */
enum lookup_status {
	LOOKUP_FOUND,
	LOOKUP_NOT_FOUND,
	LOOKUP_FAILED,		/* the backend could not answer (a central service down, say) */
	LOOKUP_PENDING,		/* asked: lookup_wait says when the answer is there */
};

/* Called once the answer for a user lookup_find said LOOKUP_PENDING for is there. */
typedef void lookup_ready_fn(void *arg);
struct lookup_wait;

/* What the loader read for a backend (world.c reads every file; backends read none). */
struct lookup_files {
	const char *bind_secret;	/* lookup.ldap.bind_secret_file's content, NULL without one */
	size_t bind_secret_len;
};

/*
 * A backend: the table of the configuration, or a directory (ldap).  find()
 * never blocks: the daemon calls it per request.  A backend that must ask
 * elsewhere says LOOKUP_PENDING and provides wait and cancel.
 *
 * open() copies what it needs from c (the caller may free c right after)
 * and returns 0 with *state, or a negative errno with a message in err.
 * find() gets a non-empty user and writes res only when it returns
 * LOOKUP_FOUND.  close(NULL) is a no-op.
 */
struct lookup_ops {
	const char *name;
	int (*open)(const struct conf *c, const struct lookup_files *files, void **state, char *err,
	    size_t errlen);
	enum lookup_status (*find)(void *state, const char *user, struct lookup_result *res);
	void (*close)(void *state);
	/* Only for backends whose find may say LOOKUP_PENDING; NULL otherwise. */
	struct lookup_wait *(*wait)(void *state, const char *user, lookup_ready_fn *fn, void *arg);
	void (*cancel)(struct lookup_wait *w);
	unsigned (*retry_after)(void *state);
};

/*
 * Make a backend known by its name (the daemon and the tool add the "ldap"
 * one, which needs their event loop; the core knows only the table).
 * Registering a name twice keeps the first.  0, or -ENOSPC.
 */
int lookup_register(const struct lookup_ops *ops);

struct lookup;

/*
 * Open the backend named by conf->lookup.backend ("table", or one registered).
 * Returns 0 with *out (free with lookup_close), or with a one-line message
 * in err (when err is not NULL): -ENOENT for an unknown backend name,
 * -EINVAL for a missing backend name or an entry the backend cannot hold
 * (the message names the entry's file:line, e.g. more than
 * LOOKUP_MAX_DOMAINS domains or LOOKUP_MAX_EXTERNAL externals in one
 * domain), -ENOMEM.  *out is left untouched on failure.  The lookup keeps
 * its own copy of what it needs: c may be freed or reloaded independently.
 */
int lookup_open(const struct conf *c, struct lookup **out, char *err, size_t errlen);
/* The same with what the loader read for the backend (files may be NULL). */
int lookup_open_files(const struct conf *c, const struct lookup_files *files, struct lookup **out, char *err,
    size_t errlen);

/*
 * Which security domains support user.  LOOKUP_FOUND fills *res (views
 * valid until lookup_close); LOOKUP_NOT_FOUND when no entry matches;
 * LOOKUP_FAILED for a NULL or empty user, a NULL l or res, or when the
 * backend cannot answer.  *res is written only on LOOKUP_FOUND.  It reads
 * l without changing it, so concurrent calls on one lookup are safe.
 *
 * The table backend: the most specific entry wins.
 *   1. An exact entry (no '*') equal to user wins over any wildcard entry.
 *   2. Among the wildcard entries that match, the one with the most literal
 *      (non-'*') characters wins: "sip:dispatch-*@home.example" (26) beats
 *      "sip:*@home.example" (16), which beats "*" (0).
 *   3. A tie (two exact entries for one user, or wildcard entries with as
 *      many literal characters) goes to the entry that comes first in the
 *      configuration.
 * Cost: one hash probe for an exact entry; otherwise only the wildcard
 * entries sharing a literal end (prefix or suffix) with user are tried,
 * most specific first, so a 100 000-entry table answers in about a
 * microsecond whether the user is found or not.
 */
enum lookup_status lookup_find(struct lookup *l, const char *user, struct lookup_result *res);

/*
 * After lookup_find said LOOKUP_PENDING for user: fn(arg) is called once,
 * from the event loop, when the answer is there (found, not found, or
 * failed); a lookup_find for that user made inside fn gives that answer
 * (even when it is not cached).  Returns the wait, to cancel before it is
 * called, or NULL (nothing pending for user: ask lookup_find again; or out
 * of memory).  Concurrent lookups of one user share one query.
 */
struct lookup_wait *lookup_wait(struct lookup *l, const char *user, lookup_ready_fn *fn, void *arg);

/* Forget a wait whose fn has not been called; NULL is a no-op. */
void lookup_wait_cancel(struct lookup *l, struct lookup_wait *w);

/* Seconds a client should wait before trying again after LOOKUP_FAILED (for Retry-After; at least 1). */
unsigned lookup_retry_after(struct lookup *l);

/*
 * A copy of in whose strings live in *arena (free it when done): for an
 * answer kept beyond the moment it was given.  0, or -ENOMEM.  source and
 * origin stay views (static, or valid while the lookup is open).
 */
int lookup_result_copy(const struct lookup_result *in, struct lookup_result *out, char **arena);

/* Free l and everything it owns; NULL is a no-op. */
void lookup_close(struct lookup *l);

/*
 * Whether user matches pattern: 1 or 0 (0 as well when either is NULL).
 * The pattern is exact, or has '*' wildcards each matching any run of
 * characters, the empty run included ("sip:*@partner.example",
 * "sip:dispatch-*@home.example", "*"); consecutive stars act as one.
 * There is no escape: a '*' in a pattern is always a wildcard.
 * Case-sensitive, as URIs are compared here (no normalisation).
 * Iterative: time O(strlen(pattern) * strlen(user)) at worst, no recursion
 * and no exponential backtracking: a hostile user string cannot blow it up.
 */
int lookup_match(const char *pattern, const char *user);

extern const struct lookup_ops lookup_table_ops;

#endif
