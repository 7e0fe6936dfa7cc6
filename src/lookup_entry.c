/* A directory entry's mcxSecurityDomain values read as a lookup answer: the ldap backend's parser, without I/O. */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "lookup_entry.h"

/* The N of a value's "{N}" prefix and where the rest starts; -1 without a (well-formed) prefix. */
static long order_of(const struct lookup_value *v, size_t *rest)
{
	long n = 0;
	size_t i = 1;

	*rest = 0;
	if (v->len < 3 || v->v[0] != '{')
		return -1;
	for (; i < v->len && v->v[i] != '}'; i++) {
		if (!isdigit((unsigned char)v->v[i]) || n > 100000000)
			return -1;
		n = n * 10 + (v->v[i] - '0');
	}
	if (i == 1 || i == v->len)
		return -1;
	*rest = i + 1;
	return n;
}

/* Split v (from offset start) into d, copying each word to *cursor. */
static const char *split(const struct lookup_value *v, size_t start, struct lookup_domain *d, char **cursor)
{
	size_t i = start;

	d->kms = NULL;
	d->n_external = 0;
	while (i < v->len) {
		if (v->v[i] == ' ') {
			i++;
			continue;
		}
		size_t from = i;
		for (; i < v->len && v->v[i] != ' '; i++) {
			unsigned char ch = (unsigned char)v->v[i];
			if (ch < 0x21 || ch > 0x7e)
				return "a character that no KMS URI has (control, non-ASCII or NUL)";
		}
		char *word = *cursor;
		memcpy(word, v->v + from, i - from);
		word[i - from] = '\0';
		*cursor += i - from + 1;
		if (!d->kms)
			d->kms = word;
		else if (d->n_external == LOOKUP_MAX_EXTERNAL)
			return "more than 32 external KMSs in one domain";
		else
			d->external[d->n_external++] = word;
	}
	return d->kms ? NULL : "an empty value (no KMS URI)";
}

char *lookup_entry_answer(const char *dn, const struct lookup_value *vals, size_t n, struct lookup_result *res,
    const char **why)
{
	size_t total = strlen(dn) + 1, order[LOOKUP_MAX_DOMAINS], start[LOOKUP_MAX_DOMAINS];
	long key[LOOKUP_MAX_DOMAINS];
	bool ordered = true;
	char *arena, *cursor;

	*why = NULL;
	if (n == 0) {
		*why = "no mcxSecurityDomain value";
		return NULL;
	}
	if (n > LOOKUP_MAX_DOMAINS) {
		*why = "more than 16 mcxSecurityDomain values";
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		if (vals[i].len > LOOKUP_ENTRY_VALUE_MAX) {
			*why = "a value longer than 4096 octets";
			return NULL;
		}
		if (vals[i].len && vals[i].v[0] == '{' && order_of(&vals[i], &start[i]) < 0) {
			*why = "a malformed {N} prefix";
			return NULL;
		}
		key[i] = order_of(&vals[i], &start[i]);
		ordered = ordered && key[i] >= 0;
		order[i] = i;
		total += vals[i].len + 1;
	}
	/* Insertion sort, stable: at most 16 values, ties keep the directory's order. */
	for (size_t i = 1; ordered && i < n; i++)
		for (size_t j = i; j > 0 && key[order[j - 1]] > key[order[j]]; j--) {
			size_t t = order[j];
			order[j] = order[j - 1];
			order[j - 1] = t;
		}
	if ((arena = malloc(total)) == NULL)
		return NULL;
	memset(res, 0, sizeof(*res));
	cursor = arena;
	strcpy(cursor, dn);
	res->matched = cursor;
	cursor += strlen(dn) + 1;
	for (size_t i = 0; i < n; i++) {
		const struct lookup_value *v = &vals[order[i]];
		if ((*why = split(v, start[order[i]], &res->domain[i], &cursor)) != NULL) {
			free(arena);
			return NULL;
		}
	}
	res->n = n;
	return arena;
}

bool lookup_domain_pattern(const char *user, char *out, size_t cap)
{
	const char *colon = strchr(user, ':'), *at = strrchr(user, '@');

	if (!colon || colon == user || !at || at < colon || !at[1])
		return false;
	size_t scheme = (size_t)(colon - user), host = strlen(at);
	if (scheme + 2 + host + 1 > cap)
		return false;
	memcpy(out, user, scheme);
	memcpy(out + scheme, ":*", 2);
	memcpy(out + scheme + 2, at, host + 1);
	return true;
}
