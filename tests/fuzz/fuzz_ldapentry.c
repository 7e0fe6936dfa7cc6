/*
 * Fuzz target: a directory entry read as a lookup answer (lookup_entry_answer)
 * and a target's domain-wide pattern (lookup_domain_pattern).  Input: lines;
 * the first is the entry's DN and the user looked up, the others its
 * mcxSecurityDomain values, as octets (NULs and all).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "lookup_entry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lookup_value v[LOOKUP_MAX_DOMAINS + 4];
	const char *p = (const char *)data, *end = p + size;
	char dn[512];
	size_t n = 0;

	const char *nl = memchr(p, '\n', size);
	size_t first = nl ? (size_t)(nl - p) : size;
	snprintf(dn, sizeof(dn), "%.*s", (int)(first < sizeof(dn) - 1 ? first : sizeof(dn) - 1), p);
	char pattern[600];
	if (lookup_domain_pattern(dn, pattern, sizeof(pattern)) &&
	    (strncmp(pattern, dn, (size_t)(strchr(dn, ':') - dn)) != 0 || !strstr(pattern, ":*@")))
		abort();
	for (p = nl ? nl + 1 : end; p < end && n < sizeof(v) / sizeof(v[0]);) {
		nl = memchr(p, '\n', (size_t)(end - p));
		const char *stop = nl ? nl : end;
		v[n++] = (struct lookup_value){ p, (size_t)(stop - p) };
		p = nl ? nl + 1 : end;
	}
	struct lookup_result res;
	const char *why;
	char *arena = lookup_entry_answer(dn, v, n, &res, &why);
	if (arena) {
		/* What an answer promises: 1..16 domains, each a KMS, at most 32 externals, printable words. */
		if (res.n == 0 || res.n > LOOKUP_MAX_DOMAINS || strcmp(res.matched, dn) != 0)
			abort();
		for (size_t i = 0; i < res.n; i++) {
			if (!res.domain[i].kms || !res.domain[i].kms[0] || strchr(res.domain[i].kms, ' ') ||
			    res.domain[i].n_external > LOOKUP_MAX_EXTERNAL)
				abort();
			for (size_t e = 0; e < res.domain[i].n_external; e++)
				if (!res.domain[i].external[e][0] || strchr(res.domain[i].external[e], ' '))
					abort();
		}
		free(arena);
	} else if (!why) {
		abort();	/* out of memory only */
	}
	return 0;
}
