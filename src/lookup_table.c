/* The "table" lookup backend: the configuration's entries, exact ones hashed, wildcards by specificity. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "lookup.h"

/*
 * How find works.  Exact entries (no '*') sit in an open-addressing hash
 * table: one probe.  Wildcard entries are sorted most specific first (most
 * literal characters, then configured order); an entry's position in that
 * list is its rank, and the answer is the matching entry of lowest rank.
 * Trying them all in turn costs a pass over every wildcard for each user
 * that no exact entry holds, so each wildcard entry is also filed under one
 * of its literal ends (the characters before its first '*' or after its
 * last), whichever fewer entries share.  find hashes the user's own ends at
 * the lengths that occur, which names the few buckets whose entries can
 * match, and takes the lowest rank that does.  Entries with no literal end
 * ("*", "*foo*") are always tried.  The order is the rule; the buckets only
 * skip entries that cannot match.
 */

#define END_PREFIX	0
#define END_SUFFIX	1
#define NO_BUCKET	UINT32_MAX

/* One entry; strings point into the table's arena. */
struct ltab_entry {
	const char *user;
	uint32_t len;
	uint32_t literal;	/* non-'*' characters: the specificity */
	uint32_t prefix;	/* literal characters before the first '*' */
	uint32_t suffix;	/* and after the last */
	uint32_t first_domain;
	uint32_t n_domains;
	uint32_t order;		/* position in the configuration */
	int line;
	bool wild;		/* at least one '*' */
	bool multi;		/* more than one run of stars */
};

struct ltab_domain {
	const char *kms;
	uint32_t first_ext, n_ext;
};

/* An open-addressing slot: item + 1 (0 is empty) and 32 more bits of its hash. */
struct ltab_slot {
	uint32_t item;
	uint32_t tag;
};

/* Wildcard entries sharing one literal end: ranks member[first .. first + n), ascending. */
struct ltab_bucket {
	uint32_t rep;		/* an entry with that end (rank) */
	uint32_t len;
	uint32_t first, n;
	uint32_t count;		/* while building: entries that could be filed here */
	uint8_t end;		/* END_PREFIX or END_SUFFIX */
};

struct ltab {
	char *arena;			/* every string, copied once */
	struct ltab_entry *entries;	/* exact ones first, then wildcards by rank */
	uint32_t n_entries, n_exact;
	struct ltab_domain *domains;
	const char **ext;
	struct ltab_slot *slots;	/* exact entries */
	size_t mask;

	const struct ltab_entry *wild;	/* entries + n_exact: rank i is wild[i] */
	uint32_t n_wild;
	struct ltab_bucket *buckets;
	uint32_t n_buckets;
	struct ltab_slot *bslots;	/* buckets, by (end, length, characters) */
	size_t bmask;
	uint32_t *member;		/* ranks, bucket by bucket */
	uint32_t *always;		/* ranks of the entries without a literal end */
	uint32_t n_always;
	bool *has_len[2];		/* whether a bucket of that end and length exists */
	uint32_t max_len[2];
};

static int fail(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return code;
}

static int fail_at(const struct conf *c, int line, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* -EINVAL with "file:line: message" as the config diagnostics say it ("line N: " for a conf built in memory). */
static int fail_at(const struct conf *c, int line, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!err || !errlen)
		return -EINVAL;
	if (c->path)
		n = snprintf(err, errlen, "%s:%d: ", c->path, line);
	else
		n = snprintf(err, errlen, "line %d: ", line);
	if (n >= 0 && (size_t)n < errlen) {
		va_start(ap, fmt);
		vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* ---- hashing: FNV-1a a character at a time (ends are hashed as they grow), then a finaliser ---- */

#define FNV_SEED	0xcbf29ce484222325ULL

static inline uint64_t fnv_step(uint64_t h, char c)
{
	return (h ^ (unsigned char)c) * 0x100000001b3ULL;
}

/* Mix every bit into the low ones used as the slot (MurmurHash3's fmix64), with a key kind. */
static inline uint64_t finish(uint64_t h, uint64_t kind)
{
	h ^= kind * 0x9e3779b97f4a7c15ULL;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

/* The key of a literal end: its characters, read away from the star, its length and which end. */
static uint64_t end_hash(const char *s, size_t len, int end)
{
	uint64_t h = FNV_SEED;

	for (size_t k = 0; k < len; k++)
		h = fnv_step(h, end == END_PREFIX ? s[k] : s[len - 1 - k]);
	return finish(h, ((uint64_t)len << 1 | (uint64_t)end) + 1);
}

/* ---- open: check, copy, sort, index ---- */

static bool add_size(size_t *total, size_t n)
{
	if (n >= SIZE_MAX - *total)
		return false;
	*total += n + 1;
	return true;
}

/* Check one entry against the bounds and add its strings to *total. */
static int check_entry(const struct conf *c, const struct conf_lookup_entry *e, size_t *total,
    char *err, size_t errlen)
{
	if (!e->user || !e->user[0])
		return fail_at(c, e->line, err, errlen, "lookup entry without a user");
	if (strlen(e->user) >= UINT32_MAX)
		return fail_at(c, e->line, err, errlen, "lookup entry too long");
	if (e->n_domains > LOOKUP_MAX_DOMAINS)
		return fail_at(c, e->line, err, errlen,
		    "lookup entry \"%.100s\": %zu domains, at most %d", e->user, e->n_domains,
		    LOOKUP_MAX_DOMAINS);
	if (e->n_domains && !e->domains)
		return fail_at(c, e->line, err, errlen, "lookup entry \"%.100s\": no domain list",
		    e->user);
	if (!add_size(total, strlen(e->user)))
		return fail(err, errlen, -ENOMEM, "lookup: table too large");
	for (size_t d = 0; d < e->n_domains; d++) {
		const struct conf_domain *dom = &e->domains[d];

		if (!dom->kms || !dom->kms[0])
			return fail_at(c, e->line, err, errlen,
			    "lookup entry \"%.100s\": domain %zu without a kms", e->user, d + 1);
		if (dom->external.n > LOOKUP_MAX_EXTERNAL)
			return fail_at(c, e->line, err, errlen,
			    "lookup entry \"%.100s\": domain %.100s: %zu external KMSs, at most %d",
			    e->user, dom->kms, dom->external.n, LOOKUP_MAX_EXTERNAL);
		if (!add_size(total, strlen(dom->kms)))
			return fail(err, errlen, -ENOMEM, "lookup: table too large");
		for (size_t x = 0; x < dom->external.n; x++) {
			const char *ext = dom->external.v ? dom->external.v[x] : NULL;

			if (!ext || !ext[0])
				return fail_at(c, e->line, err, errlen,
				    "lookup entry \"%.100s\": domain %.100s: empty external KMS",
				    e->user, dom->kms);
			if (!add_size(total, strlen(ext)))
				return fail(err, errlen, -ENOMEM, "lookup: table too large");
		}
	}
	return 0;
}

static char *copy_str(char **cursor, const char *s)
{
	size_t n = strlen(s) + 1;
	char *out = *cursor;

	memcpy(out, s, n);
	*cursor += n;
	return out;
}

/* The pattern's shape: its specificity and its literal ends. */
static void classify(struct ltab_entry *e)
{
	const char *first = memchr(e->user, '*', e->len);
	uint32_t stars = 0, runs = 0;

	for (uint32_t i = 0; i < e->len; i++) {
		if (e->user[i] == '*') {
			stars++;
			if (i == 0 || e->user[i - 1] != '*')
				runs++;
		}
	}
	e->literal = e->len - stars;
	e->wild = first != NULL;
	e->multi = runs > 1;
	if (first) {
		const char *last = e->user + e->len - 1;

		while (*last != '*')
			last--;
		e->prefix = (uint32_t)(first - e->user);
		e->suffix = (uint32_t)(e->user + e->len - 1 - last);
	} else {
		e->prefix = e->suffix = e->len;
	}
}

/* Exact entries first in configured order, then wildcards: most literal characters, then config order. */
static int entry_cmp(const void *a, const void *b)
{
	const struct ltab_entry *x = a, *y = b;

	if (x->wild != y->wild)
		return x->wild ? 1 : -1;
	if (x->wild && x->literal != y->literal)
		return x->literal > y->literal ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

static size_t table_size(size_t n)
{
	size_t slots = 8;

	while (slots < 2 * n)
		slots *= 2;
	return slots;
}

/* The characters of end `end` (length len) of user (length ulen). */
static const char *end_of(const char *user, size_t ulen, int end, size_t len)
{
	return end == END_PREFIX ? user : user + ulen - len;
}

/* The bucket of (end, len, characters of s), or NO_BUCKET. */
static uint32_t bucket_find(const struct ltab *t, uint64_t h, const char *s, size_t slen, int end,
    size_t len)
{
	const char *key = end_of(s, slen, end, len);

	for (size_t i = (size_t)h & t->bmask; t->bslots[i].item; i = (i + 1) & t->bmask) {
		const struct ltab_bucket *b = &t->buckets[t->bslots[i].item - 1];
		const struct ltab_entry *rep = &t->wild[b->rep];

		if (t->bslots[i].tag == (uint32_t)(h >> 32) && b->end == end && b->len == len &&
		    memcmp(end_of(rep->user, rep->len, end, len), key, len) == 0)
			return t->bslots[i].item - 1;
	}
	return NO_BUCKET;
}

/* Count entry rank in the bucket of its end (created when new); its id. */
static uint32_t bucket_count(struct ltab *t, uint32_t rank, int end)
{
	const struct ltab_entry *e = &t->wild[rank];
	size_t len = end == END_PREFIX ? e->prefix : e->suffix;
	uint64_t h = end_hash(end_of(e->user, e->len, end, len), len, end);
	uint32_t id = bucket_find(t, h, e->user, e->len, end, len);
	size_t i;

	if (id == NO_BUCKET) {
		id = t->n_buckets++;
		t->buckets[id] = (struct ltab_bucket){ .rep = rank, .len = (uint32_t)len,
		    .end = (uint8_t)end };
		for (i = (size_t)h & t->bmask; t->bslots[i].item; i = (i + 1) & t->bmask)
			;
		t->bslots[i].item = id + 1;
		t->bslots[i].tag = (uint32_t)(h >> 32);
	}
	t->buckets[id].count++;
	return id;
}

/*
 * File each wildcard entry under the literal end fewer entries share (a
 * longer one on a tie), so that "sip:" prefixes common to every entry do
 * not make one bucket of everything.
 */
static int index_wild(struct ltab *t)
{
	uint32_t (*ids)[2] = NULL, *home = NULL;
	int r = -ENOMEM;

	t->buckets = calloc(2 * (size_t)t->n_wild + 1, sizeof(*t->buckets));
	t->bslots = calloc(table_size(2 * (size_t)t->n_wild), sizeof(*t->bslots));
	t->member = calloc((size_t)t->n_wild + 1, sizeof(*t->member));
	t->always = calloc((size_t)t->n_wild + 1, sizeof(*t->always));
	ids = calloc((size_t)t->n_wild + 1, sizeof(*ids));
	home = calloc((size_t)t->n_wild + 1, sizeof(*home));
	if (!t->buckets || !t->bslots || !t->member || !t->always || !ids || !home)
		goto out;
	t->bmask = table_size(2 * (size_t)t->n_wild) - 1;

	/* 1: every literal end of every entry, counted. */
	for (uint32_t r1 = 0; r1 < t->n_wild; r1++) {
		const struct ltab_entry *e = &t->wild[r1];

		ids[r1][END_PREFIX] = e->prefix ? bucket_count(t, r1, END_PREFIX) : NO_BUCKET;
		ids[r1][END_SUFFIX] = e->suffix ? bucket_count(t, r1, END_SUFFIX) : NO_BUCKET;
		if (e->prefix > t->max_len[END_PREFIX])
			t->max_len[END_PREFIX] = e->prefix;
		if (e->suffix > t->max_len[END_SUFFIX])
			t->max_len[END_SUFFIX] = e->suffix;
	}

	/* 2: each entry's home, and how many entries each bucket gets. */
	for (uint32_t r1 = 0; r1 < t->n_wild; r1++) {
		uint32_t p = ids[r1][END_PREFIX], s = ids[r1][END_SUFFIX];

		if (p == NO_BUCKET)
			home[r1] = s;
		else if (s == NO_BUCKET)
			home[r1] = p;
		else if (t->buckets[p].count != t->buckets[s].count)
			home[r1] = t->buckets[p].count < t->buckets[s].count ? p : s;
		else
			home[r1] = t->buckets[p].len >= t->buckets[s].len ? p : s;
		if (home[r1] == NO_BUCKET)
			t->always[t->n_always++] = r1;
		else
			t->buckets[home[r1]].n++;
	}

	/* 3: members laid out bucket by bucket, each in rank order. */
	for (uint32_t b = 0, first = 0; b < t->n_buckets; b++) {
		t->buckets[b].first = first;
		first += t->buckets[b].n;
		t->buckets[b].n = 0;
	}
	for (uint32_t r1 = 0; r1 < t->n_wild; r1++) {
		struct ltab_bucket *b;

		if (home[r1] == NO_BUCKET)
			continue;
		b = &t->buckets[home[r1]];
		t->member[b->first + b->n++] = r1;
	}

	/* 4: the lengths find must try, at each end. */
	for (int end = 0; end < 2; end++) {
		if ((t->has_len[end] = calloc((size_t)t->max_len[end] + 1, sizeof(bool))) == NULL)
			goto out;
	}
	for (uint32_t b = 0; b < t->n_buckets; b++)
		if (t->buckets[b].n)
			t->has_len[t->buckets[b].end][t->buckets[b].len] = true;
	r = 0;
out:
	free(home);
	free(ids);
	return r;
}

static void table_close(void *state)
{
	struct ltab *t = state;

	if (!t)
		return;
	free(t->has_len[END_PREFIX]);
	free(t->has_len[END_SUFFIX]);
	free(t->always);
	free(t->member);
	free(t->bslots);
	free(t->buckets);
	free(t->slots);
	free(t->ext);
	free(t->domains);
	free(t->entries);
	free(t->arena);
	free(t);
}

static int table_open(const struct conf *c, const struct lookup_files *files, void **state, char *err,
    size_t errlen)
{
	const struct conf_lookup_entry *ce = c->lookup.entries;
	size_t n = c->lookup.n_entries, total = 0, n_dom = 0, n_ext = 0;
	struct ltab *t;
	char *cursor;
	int r;
	(void)files;

	if (n && !ce)
		return fail(err, errlen, -EINVAL, "lookup: no entry list");
	if (n > UINT32_MAX / 4)
		return fail(err, errlen, -EINVAL, "lookup: %zu entries, at most %u", n,
		    UINT32_MAX / 4);
	for (size_t i = 0; i < n; i++) {
		if ((r = check_entry(c, &ce[i], &total, err, errlen)) < 0)
			return r;
		n_dom += ce[i].n_domains;
		for (size_t d = 0; d < ce[i].n_domains; d++)
			n_ext += ce[i].domains[d].external.n;
	}

	if ((t = calloc(1, sizeof(*t))) == NULL)
		goto nomem;
	t->arena = malloc(total ? total : 1);
	t->entries = calloc(n ? n : 1, sizeof(*t->entries));
	t->domains = calloc(n_dom ? n_dom : 1, sizeof(*t->domains));
	t->ext = calloc(n_ext ? n_ext : 1, sizeof(*t->ext));
	t->slots = calloc(table_size(n), sizeof(*t->slots));
	if (!t->arena || !t->entries || !t->domains || !t->ext || !t->slots)
		goto nomem;
	t->n_entries = (uint32_t)n;
	t->mask = table_size(n) - 1;

	/* 1: copy every string once; the conf may go away after this. */
	cursor = t->arena;
	n_dom = n_ext = 0;
	for (size_t i = 0; i < n; i++) {
		struct ltab_entry *e = &t->entries[i];

		e->user = copy_str(&cursor, ce[i].user);
		e->len = (uint32_t)strlen(e->user);
		e->order = (uint32_t)i;
		e->line = ce[i].line;
		e->first_domain = (uint32_t)n_dom;
		e->n_domains = (uint32_t)ce[i].n_domains;
		classify(e);
		if (!e->wild)
			t->n_exact++;
		for (size_t d = 0; d < ce[i].n_domains; d++) {
			const struct conf_domain *cd = &ce[i].domains[d];
			struct ltab_domain *td = &t->domains[n_dom++];

			td->kms = copy_str(&cursor, cd->kms);
			td->first_ext = (uint32_t)n_ext;
			td->n_ext = (uint32_t)cd->external.n;
			for (size_t x = 0; x < cd->external.n; x++)
				t->ext[n_ext++] = copy_str(&cursor, cd->external.v[x]);
		}
	}

	/* 2: exact entries first, then wildcards in rank order. */
	qsort(t->entries, n, sizeof(*t->entries), entry_cmp);
	t->wild = t->entries + t->n_exact;
	t->n_wild = t->n_entries - t->n_exact;

	/* 3: hash the exact entries; a repeated user keeps its first entry. */
	for (uint32_t i = 0; i < t->n_exact; i++) {
		const struct ltab_entry *e = &t->entries[i];
		uint64_t h = end_hash(e->user, e->len, END_PREFIX);
		size_t s = (size_t)h & t->mask;

		for (; t->slots[s].item; s = (s + 1) & t->mask) {
			const struct ltab_entry *o = &t->entries[t->slots[s].item - 1];

			if (t->slots[s].tag == (uint32_t)(h >> 32) && o->len == e->len &&
			    memcmp(o->user, e->user, e->len) == 0)
				break;
		}
		if (!t->slots[s].item) {
			t->slots[s].item = i + 1;
			t->slots[s].tag = (uint32_t)(h >> 32);
		}
	}

	/* 4: file the wildcards under their literal ends. */
	if (index_wild(t) < 0)
		goto nomem;
	*state = t;
	return 0;

nomem:
	table_close(t);
	return fail(err, errlen, -ENOMEM, "lookup: out of memory");
}

/* ---- find ---- */

static void fill(const struct ltab *t, const struct ltab_entry *e, struct lookup_result *res)
{
	for (uint32_t d = 0; d < e->n_domains; d++) {
		const struct ltab_domain *td = &t->domains[e->first_domain + d];
		struct lookup_domain *rd = &res->domain[d];

		rd->kms = td->kms;
		rd->n_external = td->n_ext;
		memcpy(rd->external, &t->ext[td->first_ext], td->n_ext * sizeof(rd->external[0]));
	}
	res->n = e->n_domains;
	res->matched = e->user;
	res->line = e->line;
	res->source = "table";
	res->origin = NULL;
	res->age_s = 0;
}

/* Whether wildcard entry e matches user (of length len): literal ends first, the middle if needed. */
static bool wild_match(const struct ltab_entry *e, const char *user, size_t len)
{
	if (len < e->literal)
		return false;
	if (memcmp(user, e->user, e->prefix) != 0 ||
	    memcmp(user + len - e->suffix, e->user + e->len - e->suffix, e->suffix) != 0)
		return false;
	/* One run of stars: prefix, anything, suffix, and the length leaves room for both. */
	if (!e->multi)
		return true;
	return lookup_match(e->user + e->prefix, user + e->prefix);
}

/* The lowest rank below best among ranks[0..n) (ascending) that matches user, or best. */
static uint32_t first_match(const struct ltab *t, const uint32_t *ranks, uint32_t n, uint32_t best,
    const char *user, size_t len)
{
	for (uint32_t i = 0; i < n && ranks[i] < best; i++)
		if (wild_match(&t->wild[ranks[i]], user, len))
			return ranks[i];
	return best;
}

/* Try the buckets of user's literal ends at one end, growing them a character at a time. */
static uint32_t try_end(const struct ltab *t, int end, uint32_t best, const char *user, size_t len)
{
	size_t max = t->max_len[end] < len ? t->max_len[end] : len;
	uint64_t h = FNV_SEED;

	for (size_t k = 1; k <= max; k++) {
		const struct ltab_bucket *b;
		uint32_t id;
		uint64_t key;

		h = fnv_step(h, end == END_PREFIX ? user[k - 1] : user[len - k]);
		if (!t->has_len[end][k])
			continue;
		key = finish(h, ((uint64_t)k << 1 | (uint64_t)end) + 1);
		if ((id = bucket_find(t, key, user, len, end, k)) == NO_BUCKET)
			continue;
		b = &t->buckets[id];
		best = first_match(t, &t->member[b->first], b->n, best, user, len);
	}
	return best;
}

static enum lookup_status table_find(void *state, const char *user, struct lookup_result *res)
{
	const struct ltab *t = state;
	uint32_t best;
	uint64_t h = FNV_SEED;
	size_t len;

	if (!t || !user || !user[0] || !res)
		return LOOKUP_FAILED;
	for (len = 0; user[len]; len++)
		h = fnv_step(h, user[len]);

	/* 1: an exact entry wins over any wildcard. */
	h = finish(h, ((uint64_t)len << 1 | END_PREFIX) + 1);
	for (size_t s = (size_t)h & t->mask; t->slots[s].item; s = (s + 1) & t->mask) {
		const struct ltab_entry *e = &t->entries[t->slots[s].item - 1];

		if (t->slots[s].tag == (uint32_t)(h >> 32) && e->len == len &&
		    memcmp(e->user, user, len) == 0) {
			fill(t, e, res);
			return LOOKUP_FOUND;
		}
	}

	/* 2, 3: the matching wildcard of lowest rank, among those that can match. */
	best = first_match(t, t->always, t->n_always, t->n_wild, user, len);
	best = try_end(t, END_PREFIX, best, user, len);
	best = try_end(t, END_SUFFIX, best, user, len);
	if (best == t->n_wild)
		return LOOKUP_NOT_FOUND;
	fill(t, &t->wild[best], res);
	return LOOKUP_FOUND;
}

const struct lookup_ops lookup_table_ops = {
	.name = "table",
	.open = table_open,
	.find = table_find,
	.close = table_close,
};
