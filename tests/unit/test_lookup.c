/* Unit tests of the security-domain lookup: wildcard matching, the table backend's precedence, bounds and speed. */
#include "config.h"

#include <errno.h>
#include <time.h>

#include "conf.h"
#include "lookup.h"
#include "lookup_entry.h"
#include "testutil.h"

/* ---- a struct conf built by hand, every string owned as conf_free expects ---- */

static char *xstrdup(const char *s)
{
	char *d = strdup(s);

	ck_assert_ptr_nonnull(d);
	return d;
}

static struct conf *tconf_new(const char *backend, const char *path)
{
	struct conf *c = calloc(1, sizeof(*c));

	ck_assert_ptr_nonnull(c);
	if (backend)
		c->lookup.backend = xstrdup(backend);
	if (path)
		c->path = xstrdup(path);
	return c;
}

static struct conf_domain *tconf_domain(struct conf_lookup_entry *e, const char *kms)
{
	struct conf_domain *d;

	e->domains = realloc(e->domains, (e->n_domains + 1) * sizeof(*e->domains));
	ck_assert_ptr_nonnull(e->domains);
	d = &e->domains[e->n_domains++];
	memset(d, 0, sizeof(*d));
	d->kms = kms ? xstrdup(kms) : NULL;
	d->line = e->line;
	return d;
}

static void tconf_external(struct conf_domain *d, const char *ext)
{
	d->external.v = realloc(d->external.v, (d->external.n + 1) * sizeof(*d->external.v));
	ck_assert_ptr_nonnull(d->external.v);
	d->external.v[d->external.n++] = ext ? xstrdup(ext) : NULL;
}

/* Add an entry; spec is "kms>ext,ext|kms|...": domains split by '|', externals after '>'. */
static struct conf_lookup_entry *tconf_add(struct conf *c, int line, const char *user,
    const char *spec)
{
	size_t n = c->lookup.n_entries;
	struct conf_lookup_entry *e;

	if ((n & (n - 1)) == 0) {
		c->lookup.entries = realloc(c->lookup.entries, (n ? 2 * n : 1) * sizeof(*e));
		ck_assert_ptr_nonnull(c->lookup.entries);
	}
	e = &c->lookup.entries[c->lookup.n_entries++];
	memset(e, 0, sizeof(*e));
	e->user = user ? xstrdup(user) : NULL;
	e->line = line;
	if (spec && spec[0]) {
		char *copy = xstrdup(spec), *s1, *s2;

		for (char *dom = strtok_r(copy, "|", &s1); dom; dom = strtok_r(NULL, "|", &s1)) {
			char *ext = strchr(dom, '>');
			struct conf_domain *d;

			if (ext)
				*ext++ = '\0';
			d = tconf_domain(e, dom);
			for (char *x = ext ? strtok_r(ext, ",", &s2) : NULL; x; x = strtok_r(NULL, ",", &s2))
				tconf_external(d, x);
		}
		free(copy);
	}
	return e;
}

static void tconf_free(struct conf *c)
{
	for (size_t i = 0; i < c->lookup.n_entries; i++) {
		struct conf_lookup_entry *e = &c->lookup.entries[i];

		for (size_t d = 0; d < e->n_domains; d++) {
			for (size_t x = 0; x < e->domains[d].external.n; x++)
				free(e->domains[d].external.v[x]);
			free(e->domains[d].external.v);
			free(e->domains[d].kms);
		}
		free(e->domains);
		free(e->user);
	}
	free(c->lookup.entries);
	free(c->lookup.backend);
	free(c->path);
	free(c);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- lookup_match ---- */

struct match_case {
	const char *pattern, *user;
	int match;
};

static const struct match_case match_cases[] = {
	/* exact */
	{ "sip:alice@home.example", "sip:alice@home.example", 1 },
	{ "sip:alice@home.example", "sip:alice@home.example.", 0 },
	{ "sip:alice@home.example", "sip:alice@home.exampl", 0 },
	{ "sip:alice@home.example", "sip:Alice@home.example", 0 },	/* case-sensitive */
	{ "", "", 1 },
	{ "", "a", 0 },
	{ "a", "", 0 },
	/* '*' alone, repeated */
	{ "*", "", 1 },
	{ "*", "sip:anyone@anywhere.example", 1 },
	{ "**", "", 1 },
	{ "***", "abc", 1 },
	/* one star: prefix, suffix, empty run */
	{ "sip:*@partner.example", "sip:alice@partner.example", 1 },
	{ "sip:*@partner.example", "sip:@partner.example", 1 },
	{ "sip:*@partner.example", "sip:alice@partner.example.evil", 0 },
	{ "sip:*@partner.example", "sips:alice@partner.example", 0 },
	{ "sip:*@partner.example", "sip:alice@PARTNER.example", 0 },
	{ "sip:*@partner.example", "sip:a@b@partner.example", 1 },
	{ "sip:dispatch-*@home.example", "sip:dispatch-7@home.example", 1 },
	{ "sip:dispatch-*@home.example", "sip:dispatch-@home.example", 1 },
	{ "sip:dispatch-*@home.example", "sip:dispatch@home.example", 0 },
	{ "abc*", "abc", 1 },
	{ "*abc", "abc", 1 },
	{ "a*a", "a", 0 },		/* the literal characters cannot overlap */
	{ "a*a", "aa", 1 },
	{ "a**b", "ab", 1 },
	/* several stars, backtracking */
	{ "*@*.example", "sip:x@north.example", 1 },
	{ "*@*.example", "sip:x@example", 0 },
	{ "sip:*@*.*.region.example", "sip:x@a.b.region.example", 1 },
	{ "sip:*@*.*.region.example", "sip:x@a.region.example", 0 },
	{ "*ab*ab", "xabyabab", 1 },
	{ "*ab*ab", "abab", 1 },
	{ "*ab*ab", "aba", 0 },
	{ "*a*b*c*", "xaybzc", 1 },
	{ "*a*b*c*", "cba", 0 },
	{ "a*b*a", "abba", 1 },
	{ "a*b*a", "aba", 1 },
	{ "a*b*a", "aab", 0 },
	{ "*aab", "aaab", 1 },
	{ "*aab", "aabab", 0 },
	{ "tel:+1555*", "tel:+1555", 1 },
	{ "tel:+1555*", "tel:+1556", 0 },
	/* '*' in the user is an ordinary character */
	{ "*", "*", 1 },
	{ "a*", "*", 0 },
	{ "*", "**", 1 },
};

START_TEST(test_match_case)
{
	const struct match_case *m = &match_cases[_i];

	ck_assert_msg(lookup_match(m->pattern, m->user) == m->match, "\"%s\" vs \"%s\": expected %d",
	    m->pattern, m->user, m->match);
}
END_TEST

START_TEST(test_match_null)
{
	ck_assert_int_eq(lookup_match(NULL, "a"), 0);
	ck_assert_int_eq(lookup_match("*", NULL), 0);
	ck_assert_int_eq(lookup_match(NULL, NULL), 0);
}
END_TEST

/* The obvious recursive definition: exponential, so only for short strings; the oracle. */
static int ref_match(const char *p, const char *s)
{
	if (*p == '\0')
		return *s == '\0';
	if (*p == '*')
		return ref_match(p + 1, s) || (*s && ref_match(p, s + 1));
	return *s == *p && ref_match(p + 1, s + 1);
}

/* The k-th string of length len over alphabet (k in base strlen(alphabet)). */
static void nth_string(char *out, size_t len, unsigned k, const char *alphabet)
{
	size_t base = strlen(alphabet);

	for (size_t i = 0; i < len; i++) {
		out[i] = alphabet[k % base];
		k /= (unsigned)base;
	}
	out[len] = '\0';
}

#define EXH_PATTERN 6
#define EXH_USER 7

START_TEST(test_match_exhaustive)
{
	char p[EXH_PATTERN + 1], s[EXH_USER + 1];
	size_t checked = 0;

	/* Every pattern over {a, b, *} up to 6 against every string over {a, b} up to 7. */
	for (size_t pl = 0; pl <= EXH_PATTERN; pl++) {
		unsigned np = 1;
		for (size_t i = 0; i < pl; i++)
			np *= 3;
		for (unsigned pk = 0; pk < np; pk++) {
			nth_string(p, pl, pk, "ab*");
			for (size_t sl = 0; sl <= EXH_USER; sl++) {
				for (unsigned sk = 0; sk < (1u << sl); sk++) {
					nth_string(s, sl, sk, "ab");
					/* ck_assert only on failure: each one writes to a pipe. */
					if (lookup_match(p, s) != ref_match(p, s))
						ck_abort_msg("\"%s\" vs \"%s\"", p, s);
					checked++;
				}
			}
		}
	}
	ck_assert_uint_eq(checked, 1093 * 255);
}
END_TEST

/* The table's own fast path (literal prefix and suffix, then the middle) agrees with the oracle. */
START_TEST(test_table_exhaustive)
{
	char p[EXH_PATTERN + 1], s[EXH_USER + 1];
	struct lookup_result res;
	char err[256];

	for (size_t pl = 1; pl <= EXH_PATTERN; pl++) {
		unsigned np = 1;
		for (size_t i = 0; i < pl; i++)
			np *= 3;
		for (unsigned pk = 0; pk < np; pk++) {
			struct conf *c = tconf_new("table", NULL);
			struct lookup *l = NULL;

			nth_string(p, pl, pk, "ab*");
			tconf_add(c, 1, p, "kms.example");
			ck_assert_int_eq(lookup_open(c, &l, err, sizeof(err)), 0);
			tconf_free(c);
			for (size_t sl = 1; sl <= EXH_USER; sl++) {
				for (unsigned sk = 0; sk < (1u << sl); sk++) {
					enum lookup_status st;

					nth_string(s, sl, sk, "ab");
					st = lookup_find(l, s, &res);
					if (st != (ref_match(p, s) ? LOOKUP_FOUND : LOOKUP_NOT_FOUND))
						ck_abort_msg("\"%s\" vs \"%s\"", p, s);
				}
			}
			lookup_close(l);
		}
	}
}
END_TEST

/* The documented rule, naively: exact first, then most literal characters, then configured order. */
static int ref_best(char pats[][16], size_t n, const char *user)
{
	int best = -1;
	size_t best_lit = 0;

	for (size_t i = 0; i < n; i++)
		if (!strchr(pats[i], '*') && strcmp(pats[i], user) == 0)
			return (int)i;
	for (size_t i = 0; i < n; i++) {
		size_t lit = strlen(pats[i]);

		for (const char *q = pats[i]; *q; q++)
			lit -= *q == '*';
		if (ref_match(pats[i], user) && (best < 0 || lit > best_lit)) {
			best = (int)i;
			best_lit = lit;
		}
	}
	return best;
}

#define RAND_TABLES 300
#define RAND_ENTRIES 40
#define RAND_USERS 400

/* Random small tables over {a, b, c, *}: the index must give what the rule says. */
START_TEST(test_table_random)
{
	char pats[RAND_ENTRIES][16], user[16], err[256];
	struct lookup_result res;
	size_t found = 0;

	srand(42);
	for (int round = 0; round < RAND_TABLES; round++) {
		struct conf *c = tconf_new("table", NULL);
		struct lookup *l = NULL;
		size_t n = 1 + (size_t)rand() % RAND_ENTRIES;

		for (size_t i = 0; i < n; i++) {
			size_t len = 1 + (size_t)rand() % 8;

			for (size_t k = 0; k < len; k++)
				pats[i][k] = "abc**"[rand() % (k && k + 1 < len ? 5 : 4)];
			pats[i][len] = '\0';
			tconf_add(c, (int)i + 1, pats[i], "kms.example");
		}
		ck_assert_int_eq(lookup_open(c, &l, err, sizeof(err)), 0);
		tconf_free(c);
		for (int u = 0; u < RAND_USERS; u++) {
			size_t len = 1 + (size_t)rand() % 10;
			enum lookup_status st;
			int want;

			for (size_t k = 0; k < len; k++)
				user[k] = "abc"[rand() % 3];
			user[len] = '\0';
			want = ref_best(pats, n, user);
			st = lookup_find(l, user, &res);
			if (want < 0 ? st != LOOKUP_NOT_FOUND : st != LOOKUP_FOUND || res.line != want + 1)
				ck_abort_msg("table %d, user \"%s\": status %d line %d, want line %d",
				    round, user, st, st == LOOKUP_FOUND ? res.line : 0, want + 1);
			found += want >= 0;
		}
		lookup_close(l);
	}
	/* The draw must exercise both answers. */
	ck_assert_uint_gt(found, RAND_TABLES * RAND_USERS / 10);
	ck_assert_uint_lt(found, RAND_TABLES * RAND_USERS * 9 / 10);
}
END_TEST

/* ---- the table backend: precedence ---- */

struct fixture_entry {
	int line;
	const char *user, *spec;
};

/* Deliberately not sorted: precedence must not depend on the configured order except for ties. */
static const struct fixture_entry fixture[] = {
	{ 10, "sip:*@partner.example", "kms.partner.example>kms.home.example" },
	{ 11, "sip:dispatch-*@home.example", "kms.dispatch.example" },
	{ 12, "sip:dispatch-1@home.example", "kms.ops.example" },
	{ 13, "sip:*@home.example",
	  "kms.home.example|kms.backup.example>kms.partner.example,kms.other.example" },
	{ 14, "sip:*-1@home.example", "kms.team.example" },
	{ 15, "sip:a*@tie.example", "kms.t1.example" },
	{ 16, "sip:*b@tie.example", "kms.t2.example" },
	{ 17, "sip:*d@tie.example", "kms.t3.example" },
	{ 18, "sip:c*@tie.example", "kms.t4.example" },
	{ 19, "sip:dup@home.example", "kms.one.example" },
	{ 20, "sip:dup@home.example", "kms.two.example" },
	{ 21, "sip:*@*.region.example", "kms.region.example" },
	{ 22, "sip:*@*.*.region.example", "kms.deep.example" },
	{ 23, "tel:+1555*", "kms.tel.example" },
	{ 24, "sip:Alice@home.example", "kms.alice.example" },
	{ 25, "sip:nobody@home.example", "" },
};

#define DEFAULT_LINE 5		/* "*", placed first when the fixture has a catch-all */

static struct lookup *open_fixture(int with_default)
{
	struct conf *c = tconf_new("table", "tests.conf");
	struct lookup *l = NULL;
	char err[256];

	if (with_default)
		tconf_add(c, DEFAULT_LINE, "*", "kms.default.example");
	for (size_t i = 0; i < sizeof(fixture) / sizeof(fixture[0]); i++)
		tconf_add(c, fixture[i].line, fixture[i].user, fixture[i].spec);
	ck_assert_msg(lookup_open(c, &l, err, sizeof(err)) == 0, "%s", err);
	tconf_free(c);		/* the lookup keeps its own copy */
	return l;
}

static const char *fixture_pattern(int line)
{
	if (line == DEFAULT_LINE)
		return "*";
	for (size_t i = 0; i < sizeof(fixture) / sizeof(fixture[0]); i++)
		if (fixture[i].line == line)
			return fixture[i].user;
	return NULL;
}

struct find_case {
	const char *user;
	int line;		/* the entry that must win; 0: not found without a catch-all */
	const char *why;
};

static const struct find_case find_cases[] = {
	{ "sip:alice@partner.example", 10, "one star" },
	{ "sip:@partner.example", 10, "empty run" },
	{ "sip:alice@partner.example.evil", 0, "suffix must end the user" },
	{ "sips:alice@partner.example", 0, "prefix must start the user" },
	{ "sip:dispatch-1@home.example", 12, "exact beats a wildcard configured before it" },
	{ "sip:dispatch-7@home.example", 11, "26 literals beat 16" },
	{ "sip:dispatch-@home.example", 11, "empty run, most specific" },
	{ "sip:dispatch-2-1@home.example", 11, "26 literals beat 19 and 16" },
	{ "sip:team-1@home.example", 14, "19 literals beat 16 configured before" },
	{ "sip:bob@home.example", 13, "the least specific of home.example" },
	{ "sip:ab@tie.example", 15, "tie: first configured" },
	{ "sip:axb@tie.example", 15, "tie: first configured" },
	{ "sip:cd@tie.example", 17, "tie: first configured, whatever the pattern" },
	{ "sip:dup@home.example", 19, "two exact entries: first configured" },
	{ "sip:x@a.region.example", 21, "two stars" },
	{ "sip:x@a.b.region.example", 22, "three stars, 21 literals beat 20" },
	{ "tel:+15551234", 23, "trailing star" },
	{ "tel:+1555", 23, "trailing star, empty run" },
	{ "tel:+1556", 0, "no match" },
	{ "sip:Alice@home.example", 24, "exact, case-sensitive" },
	{ "sip:alice@home.example", 13, "case-sensitive: not the Alice entry" },
	{ "SIP:alice@home.example", 0, "case-sensitive scheme" },
	{ "sip:nobody@home.example", 25, "an entry with no domain is found" },
	{ "x", 0, "no match" },
	{ "*", 0, "a star in the user is literal" },
};

static void check_find(struct lookup *l, const struct find_case *fc, int line)
{
	struct lookup_result res;
	enum lookup_status st;

	memset(&res, 0, sizeof(res));
	st = lookup_find(l, fc->user, &res);
	if (!line) {
		ck_assert_msg(st == LOOKUP_NOT_FOUND, "%s (%s): status %d", fc->user, fc->why, st);
		return;
	}
	ck_assert_msg(st == LOOKUP_FOUND, "%s (%s): status %d", fc->user, fc->why, st);
	ck_assert_msg(res.line == line, "%s (%s): line %d, expected %d", fc->user, fc->why,
	    res.line, line);
	ck_assert_str_eq(res.matched, fixture_pattern(line));
}

START_TEST(test_find_case)
{
	struct lookup *l = open_fixture(0);

	check_find(l, &find_cases[_i], find_cases[_i].line);
	lookup_close(l);
}
END_TEST

/* The same with a catch-all "*" configured first: it only takes what nothing else matches. */
START_TEST(test_find_case_default)
{
	struct lookup *l = open_fixture(1);
	int line = find_cases[_i].line;

	check_find(l, &find_cases[_i], line ? line : DEFAULT_LINE);
	lookup_close(l);
}
END_TEST

START_TEST(test_find_domains)
{
	struct lookup *l = open_fixture(0);
	struct lookup_result res;

	/* Domains and externals in configured order, views into the lookup's copy. */
	ck_assert_int_eq(lookup_find(l, "sip:bob@home.example", &res), LOOKUP_FOUND);
	ck_assert_uint_eq(res.n, 2);
	ck_assert_str_eq(res.domain[0].kms, "kms.home.example");
	ck_assert_uint_eq(res.domain[0].n_external, 0);
	ck_assert_str_eq(res.domain[1].kms, "kms.backup.example");
	ck_assert_uint_eq(res.domain[1].n_external, 2);
	ck_assert_str_eq(res.domain[1].external[0], "kms.partner.example");
	ck_assert_str_eq(res.domain[1].external[1], "kms.other.example");

	ck_assert_int_eq(lookup_find(l, "sip:eve@partner.example", &res), LOOKUP_FOUND);
	ck_assert_uint_eq(res.n, 1);
	ck_assert_str_eq(res.domain[0].kms, "kms.partner.example");
	ck_assert_uint_eq(res.domain[0].n_external, 1);
	ck_assert_str_eq(res.domain[0].external[0], "kms.home.example");

	ck_assert_int_eq(lookup_find(l, "sip:nobody@home.example", &res), LOOKUP_FOUND);
	ck_assert_uint_eq(res.n, 0);
	ck_assert_int_eq(res.line, 25);
	lookup_close(l);
}
END_TEST

START_TEST(test_find_untouched)
{
	struct lookup *l = open_fixture(0);
	struct lookup_result res, before;

	/* res is written only on LOOKUP_FOUND. */
	memset(&res, 0x5a, sizeof(res));
	before = res;
	ck_assert_int_eq(lookup_find(l, "sip:nobody@nowhere.example", &res), LOOKUP_NOT_FOUND);
	ck_assert_int_eq(memcmp(&res, &before, sizeof(res)), 0);
	ck_assert_int_eq(lookup_find(l, "", &res), LOOKUP_FAILED);
	ck_assert_int_eq(memcmp(&res, &before, sizeof(res)), 0);
	lookup_close(l);
}
END_TEST

START_TEST(test_find_failed)
{
	struct lookup *l = open_fixture(1);
	struct lookup_result res;

	/* A bad question is a failure, never "not found", even with a catch-all. */
	ck_assert_int_eq(lookup_find(l, NULL, &res), LOOKUP_FAILED);
	ck_assert_int_eq(lookup_find(l, "", &res), LOOKUP_FAILED);
	ck_assert_int_eq(lookup_find(l, "sip:a@b", NULL), LOOKUP_FAILED);
	ck_assert_int_eq(lookup_find(NULL, "sip:a@b", &res), LOOKUP_FAILED);
	lookup_close(l);
	lookup_close(NULL);
}
END_TEST

START_TEST(test_empty_table)
{
	struct conf *c = tconf_new("table", NULL);
	struct lookup *l = NULL;
	struct lookup_result res;
	char err[256];

	ck_assert_int_eq(lookup_open(c, &l, err, sizeof(err)), 0);
	tconf_free(c);
	ck_assert_int_eq(lookup_find(l, "sip:a@b", &res), LOOKUP_NOT_FOUND);
	lookup_close(l);
}
END_TEST

/* ---- lookup_open failures ---- */

START_TEST(test_open_backend)
{
	struct conf *c = tconf_new("ldap", "tests.conf");
	struct lookup *l = (struct lookup *)&c;	/* a sentinel: must stay untouched */
	char err[256];

	ck_assert_int_eq(lookup_open(c, &l, err, sizeof(err)), -ENOENT);
	ck_assert_ptr_eq(l, (struct lookup *)&c);
	ck_assert_msg(strstr(err, "unknown backend \"ldap\"") && strstr(err, "table"), "%s", err);
	ck_assert_int_eq(lookup_open(c, &l, NULL, 0), -ENOENT);	/* no message wanted */

	free(c->lookup.backend);
	c->lookup.backend = xstrdup("Table");		/* names are case-sensitive too */
	ck_assert_int_eq(lookup_open(c, &l, err, sizeof(err)), -ENOENT);

	free(c->lookup.backend);
	c->lookup.backend = NULL;
	ck_assert_int_eq(lookup_open(c, &l, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "no backend") != NULL, "%s", err);
	c->lookup.backend = xstrdup("");
	ck_assert_int_eq(lookup_open(c, &l, err, sizeof(err)), -EINVAL);

	ck_assert_int_eq(lookup_open(NULL, &l, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(lookup_open(c, NULL, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_eq(l, (struct lookup *)&c);
	tconf_free(c);
}
END_TEST

struct bound_case {
	size_t n_domains, n_external;	/* externals in the last domain */
	int rc;
	const char *msg;		/* expected in err */
};

static const struct bound_case bound_cases[] = {
	{ LOOKUP_MAX_DOMAINS, LOOKUP_MAX_EXTERNAL, 0, NULL },
	{ LOOKUP_MAX_DOMAINS + 1, 0, -EINVAL,
	  "tests.conf:42: lookup entry \"sip:*@big.example\": 17 domains, at most 16" },
	{ 1, LOOKUP_MAX_EXTERNAL + 1, -EINVAL,
	  "tests.conf:42: lookup entry \"sip:*@big.example\": domain kms0.example: 33 external KMSs, at most 32" },
	{ LOOKUP_MAX_DOMAINS, LOOKUP_MAX_EXTERNAL + 1, -EINVAL, "domain kms15.example: 33 external KMSs" },
	{ 1000, 0, -EINVAL, "1000 domains, at most 16" },
};

START_TEST(test_open_bounds)
{
	const struct bound_case *b = &bound_cases[_i];
	struct conf *c = tconf_new("table", "tests.conf");
	struct conf_lookup_entry *e;
	struct lookup *l = NULL;
	struct lookup_result res;
	char err[256] = "", name[64];

	tconf_add(c, 41, "sip:ok@big.example", "kms.ok.example");
	e = tconf_add(c, 42, "sip:*@big.example", NULL);
	for (size_t d = 0; d < b->n_domains; d++) {
		struct conf_domain *dom;

		snprintf(name, sizeof(name), "kms%zu.example", d);
		dom = tconf_domain(e, name);
		for (size_t x = 0; d + 1 == b->n_domains && x < b->n_external; x++) {
			snprintf(name, sizeof(name), "ext%zu.example", x);
			tconf_external(dom, name);
		}
	}
	ck_assert_int_eq(lookup_open(c, &l, err, sizeof(err)), b->rc);
	tconf_free(c);
	if (b->rc) {
		ck_assert_ptr_null(l);
		ck_assert_msg(strstr(err, b->msg) != NULL, "\"%s\" lacks \"%s\"", err, b->msg);
		return;
	}
	/* At the bounds: everything is there, in order. */
	ck_assert_int_eq(lookup_find(l, "sip:x@big.example", &res), LOOKUP_FOUND);
	ck_assert_uint_eq(res.n, b->n_domains);
	ck_assert_str_eq(res.domain[b->n_domains - 1].kms, "kms15.example");
	ck_assert_uint_eq(res.domain[b->n_domains - 1].n_external, b->n_external);
	ck_assert_str_eq(res.domain[b->n_domains - 1].external[b->n_external - 1], "ext31.example");
	lookup_close(l);
}
END_TEST

START_TEST(test_open_invalid)
{
	struct conf *c;
	struct conf_lookup_entry *e;
	struct lookup *l = NULL;
	char err[256];

	/* No user, an empty user: rejected with their line (a conf built in memory has no path). */
	c = tconf_new("table", NULL);
	tconf_add(c, 7, NULL, "kms.example");
	ck_assert_int_eq(lookup_open(c, &l, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "line 7: lookup entry without a user");
	tconf_free(c);

	c = tconf_new("table", "a.conf");
	tconf_add(c, 8, "", "kms.example");
	ck_assert_int_eq(lookup_open(c, &l, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "a.conf:8: lookup entry without a user");
	tconf_free(c);

	/* A domain without a KMS, an empty external KMS. */
	c = tconf_new("table", "a.conf");
	e = tconf_add(c, 9, "sip:u@h", NULL);
	tconf_domain(e, NULL);
	ck_assert_int_eq(lookup_open(c, &l, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "a.conf:9: lookup entry \"sip:u@h\": domain 1 without a kms");
	tconf_free(c);

	c = tconf_new("table", "a.conf");
	e = tconf_add(c, 10, "sip:u@h", "kms.example>kms.other.example");
	tconf_external(&e->domains[0], "");
	ck_assert_int_eq(lookup_open(c, &l, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err,
	    "a.conf:10: lookup entry \"sip:u@h\": domain kms.example: empty external KMS");
	tconf_free(c);

	/* A tiny buffer still gets a terminated message. */
	c = tconf_new("table", "a.conf");
	tconf_add(c, 11, "", "kms.example");
	ck_assert_int_eq(lookup_open(c, &l, err, 5), -EINVAL);
	ck_assert_str_eq(err, "a.co");
	tconf_free(c);
	ck_assert_ptr_null(l);
}
END_TEST

/* ---- pathological patterns: guards against a hang, not performance measurements ---- */

#define LONG_USER 10240
#define HANG_GUARD 1.0		/* seconds; the right answer takes milliseconds */

START_TEST(test_pathological)
{
	char *user = malloc(LONG_USER + 2), *many = malloc(2 * 500 + 3), *seg = malloc(1000 + 3);
	struct conf *c = tconf_new("table", NULL);
	struct lookup *l = NULL;
	struct lookup_result res;
	char err[256];
	double t0;

	ck_assert_ptr_nonnull(user);
	ck_assert_ptr_nonnull(many);
	ck_assert_ptr_nonnull(seg);
	memset(user, 'a', LONG_USER);
	user[LONG_USER] = '\0';
	/*
	 * "*a*a*...*a*b": 500 stars, each a choice an exponential matcher would
	 * revisit; and "*aaa...ab": one star before a 1001-character segment,
	 * the O(pattern * user) worst case of the iterative one.
	 */
	for (size_t i = 0; i < 500; i++)
		memcpy(many + 2 * i, "*a", 2);
	memcpy(many + 1000, "*b", 3);
	seg[0] = '*';
	memset(seg + 1, 'a', 1000);
	memcpy(seg + 1001, "b", 2);

	t0 = now();
	ck_assert_int_eq(lookup_match("*a*a*a*a*a*b", user), 0);
	ck_assert_int_eq(lookup_match("*a*a*a*a*a*a", user), 1);
	ck_assert_int_eq(lookup_match(many, user), 0);
	ck_assert_int_eq(lookup_match(seg, user), 0);
	ck_assert_int_eq(lookup_match("**********************************b", user), 0);

	/* Through the table too: wildcards that pass the literal ends and fail in the middle. */
	tconf_add(c, 1, "*a*a*a*a*a*b", "kms.b.example");
	tconf_add(c, 2, many, "kms.many.example");
	tconf_add(c, 3, "a*a*a*a*a*a*ab*a", "kms.ab.example");
	tconf_add(c, 4, "a*", "kms.a.example");
	ck_assert_int_eq(lookup_open(c, &l, err, sizeof(err)), 0);
	ck_assert_int_eq(lookup_find(l, user, &res), LOOKUP_FOUND);
	ck_assert_int_eq(res.line, 4);
	user[LONG_USER] = 'b';
	user[LONG_USER + 1] = '\0';
	ck_assert_int_eq(lookup_match(many, user), 1);
	ck_assert_int_eq(lookup_match(seg, user), 1);
	ck_assert_int_eq(lookup_find(l, user, &res), LOOKUP_FOUND);
	ck_assert_int_eq(res.line, 2);		/* 501 literals */
	ck_assert_msg(now() - t0 < HANG_GUARD, "pathological patterns took %.3f s", now() - t0);

	lookup_close(l);
	tconf_free(c);
	free(seg);
	free(many);
	free(user);
}
END_TEST

/* ---- 100 000 entries: 99 000 exact, 1 000 wildcards among them ---- */

#define BIG_ENTRIES 100000

/* Entry i of the big table: every 100th (at 50) a wildcard, the others exact. */
static void big_entry(size_t i, char *user, size_t n, char *kms, size_t kn)
{
	size_t j = i / 100;

	if (i % 100 != 50)
		snprintf(user, n, "sip:user%zu@home%zu.example", i, i % 97);
	else if (j % 2 == 0)
		snprintf(user, n, "sip:*@w%zu.example", j);
	else
		snprintf(user, n, "sip:team%zu-*@home%zu.example", j, j % 97);
	snprintf(kms, kn, "kms%zu.example", i % 50);
}

/* A user that entry i (a wildcard) matches and nothing more specific does. */
static void big_wild_user(size_t i, char *user, size_t n)
{
	size_t j = i / 100;

	if (j % 2 == 0)
		snprintf(user, n, "sip:caller%zu@w%zu.example", i, j);
	else
		snprintf(user, n, "sip:team%zu-x%zu@home%zu.example", j, i, j % 97);
}

/* Built once in the parent (an unchecked fixture): the forked tests share it. */
static struct lookup *big;
static double big_open_seconds;

static void big_setup(void)
{
	struct conf *c = tconf_new("table", "big.conf");
	char user[64], kms[32], err[256];
	double t0;

	c->lookup.entries = calloc(BIG_ENTRIES, sizeof(*c->lookup.entries));
	ck_assert_ptr_nonnull(c->lookup.entries);
	for (size_t i = 0; i < BIG_ENTRIES; i++) {
		struct conf_lookup_entry *e = &c->lookup.entries[c->lookup.n_entries++];

		big_entry(i, user, sizeof(user), kms, sizeof(kms));
		e->user = xstrdup(user);
		e->line = (int)i + 1;
		tconf_external(tconf_domain(e, kms), "kms.home.example");
	}
	t0 = now();
	ck_assert_msg(lookup_open(c, &big, err, sizeof(err)) == 0, "%s", err);
	big_open_seconds = now() - t0;
	tconf_free(c);
}

static void big_teardown(void)
{
	lookup_close(big);
	big = NULL;
}

/* user must find big entry i, its KMS and its external. */
static void check_big(struct lookup *l, const char *user, size_t i)
{
	struct lookup_result res;
	char pattern[64], kms[32];

	big_entry(i, pattern, sizeof(pattern), kms, sizeof(kms));
	ck_assert_msg(lookup_find(l, user, &res) == LOOKUP_FOUND, "%s", user);
	ck_assert_msg(res.line == (int)i + 1, "%s: line %d, expected %zu", user, res.line, i + 1);
	ck_assert_str_eq(res.matched, pattern);
	ck_assert_uint_eq(res.n, 1);
	ck_assert_str_eq(res.domain[0].kms, kms);
	ck_assert_uint_eq(res.domain[0].n_external, 1);
	ck_assert_str_eq(res.domain[0].external[0], "kms.home.example");
}

START_TEST(test_large_table)
{
	struct lookup *l = big;
	struct lookup_result res;
	char user[64], kms[32];
	size_t checked = 0;

	/* Every 37th exact entry, then every wildcard entry. */
	for (size_t i = 0; i < BIG_ENTRIES; i += 37) {
		if (i % 100 == 50)
			continue;
		big_entry(i, user, sizeof(user), kms, sizeof(kms));
		check_big(l, user, i);
		checked++;
	}
	for (size_t i = 50; i < BIG_ENTRIES; i += 100) {
		big_wild_user(i, user, sizeof(user));
		check_big(l, user, i);
		checked++;
	}
	ck_assert_uint_gt(checked, 3500);
	ck_assert_int_eq(lookup_find(l, "sip:nobody@nowhere.example", &res), LOOKUP_NOT_FOUND);
	ck_assert_int_eq(lookup_find(l, "sip:user50@home50.example", &res), LOOKUP_NOT_FOUND);
	ck_assert_int_eq(lookup_find(l, "sip:user1@home2.example", &res), LOOKUP_NOT_FOUND);
}
END_TEST

#define BENCH_USERS 4096
#define BENCH_SECONDS 0.25

/* Lookups per second over users[] (a measurement, printed, never asserted). */
static double bench(struct lookup *l, char (*users)[64], enum lookup_status want)
{
	struct lookup_result res;
	size_t n = 0, wrong = 0;
	double t0 = now(), t;

	/* No ck_assert inside the loop: each one records a mark point through a pipe. */
	do {
		for (size_t k = 0; k < 1024; k++, n++)
			wrong += lookup_find(l, users[n % BENCH_USERS], &res) != want;
	} while ((t = now() - t0) < BENCH_SECONDS);
	ck_assert_uint_eq(wrong, 0);
	return (double)n / t;
}

START_TEST(test_large_bench)
{
	double exact, wild, miss, mixed;
	struct lookup *l = big;
	char (*users)[64] = malloc(BENCH_USERS * sizeof(*users));
	char kms[32];

	ck_assert_ptr_nonnull(users);
	srand(1);
	for (size_t k = 0; k < BENCH_USERS; k++) {
		size_t i = (size_t)rand() % BIG_ENTRIES;

		if (i % 100 == 50)
			i++;
		big_entry(i, users[k], sizeof(users[k]), kms, sizeof(kms));
	}
	exact = bench(l, users, LOOKUP_FOUND);
	for (size_t k = 0; k < BENCH_USERS; k++)
		big_wild_user((size_t)rand() % 1000 * 100 + 50, users[k], sizeof(users[k]));
	wild = bench(l, users, LOOKUP_FOUND);
	for (size_t k = 0; k < BENCH_USERS; k++)
		snprintf(users[k], sizeof(users[k]), "sip:user%d@elsewhere.example", rand());
	miss = bench(l, users, LOOKUP_NOT_FOUND);
	/* 90 % exact, 10 % wildcard. */
	for (size_t k = 0; k < BENCH_USERS; k++) {
		size_t i = (size_t)rand() % BIG_ENTRIES;

		if (k % 10 == 0)
			big_wild_user(i / 100 * 100 + 50, users[k], sizeof(users[k]));
		else
			big_entry(i % 100 == 50 ? i + 1 : i, users[k], sizeof(users[k]), kms, sizeof(kms));
	}
	mixed = bench(l, users, LOOKUP_FOUND);
	printf("lookup: %d entries (99000 exact, 1000 wildcard) opened in %.1f ms; lookups/s: "
	    "exact %.0f, wildcard %.0f, miss %.0f, 90/10 mix %.0f\n", BIG_ENTRIES, big_open_seconds * 1e3,
	    exact, wild, miss, mixed);
	fflush(stdout);
	free(users);
}
END_TEST

/* ---- the ldap backend's entries (lookup_entry.c) ---- */

static char *entry(const char *const *vals, size_t n, struct lookup_result *res, const char **why)
{
	struct lookup_value v[24];

	for (size_t i = 0; i < n; i++)
		v[i] = (struct lookup_value){ vals[i], strlen(vals[i]) };
	return lookup_entry_answer("uid=x,ou=mcx", v, n, res, why);
}

START_TEST(test_entry_answers)
{
	struct lookup_result res;
	const char *why;
	char *a;

	/* Without {N}: the directory's order; spaces anywhere are separators. */
	const char *plain[] = { "kms.partner.example kms.home.example", "  kms.home.example   kms.a  kms.b " };
	ck_assert_ptr_nonnull(a = entry(plain, 2, &res, &why));
	ck_assert_str_eq(res.matched, "uid=x,ou=mcx");
	ck_assert_uint_eq(res.n, 2);
	ck_assert_str_eq(res.domain[0].kms, "kms.partner.example");
	ck_assert_uint_eq(res.domain[0].n_external, 1);
	ck_assert_str_eq(res.domain[0].external[0], "kms.home.example");
	ck_assert_str_eq(res.domain[1].kms, "kms.home.example");
	ck_assert_uint_eq(res.domain[1].n_external, 2);
	ck_assert_str_eq(res.domain[1].external[1], "kms.b");
	free(a);

	/* Every value with {N}: ordered by N (numerically), whatever order they came in. */
	const char *ordered[] = { "{10}kms.c", "{2}kms.b x", "{0}kms.a" };
	ck_assert_ptr_nonnull(a = entry(ordered, 3, &res, &why));
	ck_assert_str_eq(res.domain[0].kms, "kms.a");
	ck_assert_str_eq(res.domain[1].kms, "kms.b");
	ck_assert_str_eq(res.domain[1].external[0], "x");
	ck_assert_str_eq(res.domain[2].kms, "kms.c");
	free(a);

	/* One without {N}: the given order, the prefixes dropped all the same. */
	const char *mixed[] = { "{1}kms.b", "kms.a" };
	ck_assert_ptr_nonnull(a = entry(mixed, 2, &res, &why));
	ck_assert_str_eq(res.domain[0].kms, "kms.b");
	ck_assert_str_eq(res.domain[1].kms, "kms.a");
	free(a);

	/* The bounds themselves: 16 domains, 32 externals. */
	const char *many[LOOKUP_MAX_DOMAINS];
	for (size_t i = 0; i < LOOKUP_MAX_DOMAINS; i++)
		many[i] = "kms.a e1 e2 e3 e4 e5 e6 e7 e8 e9 e10 e11 e12 e13 e14 e15 e16 e17 e18 e19 e20 e21 e22 "
		    "e23 e24 e25 e26 e27 e28 e29 e30 e31 e32";
	ck_assert_ptr_nonnull(a = entry(many, LOOKUP_MAX_DOMAINS, &res, &why));
	ck_assert_uint_eq(res.n, LOOKUP_MAX_DOMAINS);
	ck_assert_uint_eq(res.domain[15].n_external, LOOKUP_MAX_EXTERNAL);
	free(a);
}
END_TEST

struct entry_fault {
	const char *vals[3];
	size_t n;
	const char *why;
};

static const struct entry_fault entry_faults[] = {
	{ { NULL }, 0, "no mcxSecurityDomain value" },
	{ { "" }, 1, "an empty value" },
	{ { "   " }, 1, "an empty value" },
	{ { "{3}" }, 1, "an empty value" },
	{ { "{1kms.a" }, 1, "a malformed {N} prefix" },
	{ { "{}kms.a" }, 1, "a malformed {N} prefix" },
	{ { "{x}kms.a" }, 1, "a malformed {N} prefix" },
	{ { "kms.a\tkms.b" }, 1, "a character that no KMS URI has" },
	{ { "kms.\xc3\xa9" }, 1, "a character that no KMS URI has" },
	{ { "kms.a", "kms.b\x7f" }, 2, "a character that no KMS URI has" },
	{ { "kms.a e1 e2 e3 e4 e5 e6 e7 e8 e9 e10 e11 e12 e13 e14 e15 e16 e17 e18 e19 e20 e21 e22 e23 e24 e25 e26 "
	    "e27 e28 e29 e30 e31 e32 e33" }, 1, "more than 32 external KMSs" },
};

START_TEST(test_entry_faults)
{
	const struct entry_fault *f = &entry_faults[_i];
	struct lookup_result res;
	const char *why = NULL;

	ck_assert_ptr_null(entry(f->vals, f->n, &res, &why));
	ck_assert_msg(why && strncmp(why, f->why, strlen(f->why)) == 0, "case %d: %s", _i, why ? why : "(none)");
}
END_TEST

START_TEST(test_entry_limits)
{
	struct lookup_value v[LOOKUP_MAX_DOMAINS + 1];
	struct lookup_result res;
	const char *why = NULL;
	char nul[] = "kms.a\0b", *huge = malloc(LOOKUP_ENTRY_VALUE_MAX + 2);

	for (size_t i = 0; i <= LOOKUP_MAX_DOMAINS; i++)
		v[i] = (struct lookup_value){ "kms.a", 5 };
	ck_assert_ptr_null(lookup_entry_answer("cn=x", v, LOOKUP_MAX_DOMAINS + 1, &res, &why));
	ck_assert_str_eq(why, "more than 16 mcxSecurityDomain values");
	/* Octets, not C strings: a NUL inside a value is refused, not a place to stop. */
	v[0] = (struct lookup_value){ nul, sizeof(nul) - 1 };
	ck_assert_ptr_null(lookup_entry_answer("cn=x", v, 1, &res, &why));
	ck_assert_ptr_nonnull(why);
	memset(huge, 'k', LOOKUP_ENTRY_VALUE_MAX + 1);
	v[0] = (struct lookup_value){ huge, LOOKUP_ENTRY_VALUE_MAX + 1 };
	ck_assert_ptr_null(lookup_entry_answer("cn=x", v, 1, &res, &why));
	ck_assert_str_eq(why, "a value longer than 4096 octets");
	v[0].len = LOOKUP_ENTRY_VALUE_MAX;
	char *a = lookup_entry_answer("cn=x", v, 1, &res, &why);
	ck_assert_ptr_nonnull(a);
	ck_assert_uint_eq(strlen(res.domain[0].kms), LOOKUP_ENTRY_VALUE_MAX);
	free(a);
	free(huge);
}
END_TEST

START_TEST(test_domain_pattern)
{
	char out[64];

	ck_assert(lookup_domain_pattern("sip:alice@home.example", out, sizeof(out)));
	ck_assert_str_eq(out, "sip:*@home.example");
	ck_assert(lookup_domain_pattern("sips:a@b@c.example", out, sizeof(out)));	/* the last '@' */
	ck_assert_str_eq(out, "sips:*@c.example");
	ck_assert(!lookup_domain_pattern("tel:+4912345", out, sizeof(out)));
	ck_assert(!lookup_domain_pattern("alice@home.example", out, sizeof(out)));	/* no scheme */
	ck_assert(!lookup_domain_pattern(":a@b", out, sizeof(out)));
	ck_assert(!lookup_domain_pattern("sip:alice@", out, sizeof(out)));
	ck_assert(!lookup_domain_pattern("sip:alice@home.example", out, 18));	/* 19 octets needed */
	ck_assert(lookup_domain_pattern("sip:alice@home.example", out, 19));
}
END_TEST

static Suite *lookup_suite(void)
{
	Suite *s = suite_create("lookup");
	TCase *tc = tcase_create("match");

	tcase_add_loop_test(tc, test_match_case, 0, sizeof(match_cases) / sizeof(match_cases[0]));
	tcase_add_test(tc, test_match_null);
	tcase_add_test(tc, test_match_exhaustive);
	tcase_add_test(tc, test_table_exhaustive);
	tcase_add_test(tc, test_table_random);
	suite_add_tcase(s, tc);

	tc = tcase_create("precedence");
	tcase_add_loop_test(tc, test_find_case, 0, sizeof(find_cases) / sizeof(find_cases[0]));
	tcase_add_loop_test(tc, test_find_case_default, 0, sizeof(find_cases) / sizeof(find_cases[0]));
	tcase_add_test(tc, test_find_domains);
	tcase_add_test(tc, test_find_untouched);
	tcase_add_test(tc, test_find_failed);
	tcase_add_test(tc, test_empty_table);
	suite_add_tcase(s, tc);

	tc = tcase_create("open");
	tcase_add_test(tc, test_open_backend);
	tcase_add_loop_test(tc, test_open_bounds, 0, sizeof(bound_cases) / sizeof(bound_cases[0]));
	tcase_add_test(tc, test_open_invalid);
	suite_add_tcase(s, tc);

	tc = tcase_create("pathological");
	tcase_add_test(tc, test_pathological);
	suite_add_tcase(s, tc);

	tc = tcase_create("directory entries");
	tcase_add_test(tc, test_entry_answers);
	tcase_add_loop_test(tc, test_entry_faults, 0, sizeof(entry_faults) / sizeof(entry_faults[0]));
	tcase_add_test(tc, test_entry_limits);
	tcase_add_test(tc, test_domain_pattern);
	suite_add_tcase(s, tc);

	tc = tcase_create("large");
	tcase_add_unchecked_fixture(tc, big_setup, big_teardown);
	tcase_add_test(tc, test_large_table);
	tcase_add_test(tc, test_large_bench);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(lookup_suite());
}
