/* A directory entry read as a lookup answer (the ldap backend's data, I/O-free so that it is tested and fuzzed alone). */
#ifndef MCX_LOOKUP_ENTRY_H
#define MCX_LOOKUP_ENTRY_H

#include <stdbool.h>
#include <stddef.h>

#include "lookup.h"

#define LOOKUP_ENTRY_VALUE_MAX	4096	/* octets of one mcxSecurityDomain value (the schema's bound) */

/* One attribute value as the directory gave it: octets, not a C string. */
struct lookup_value {
	const char *v;
	size_t len;
};

/*
 * The answer of the entry dn whose mcxSecurityDomain values are vals[0 .. n):
 * each value is one security domain, "KMS [EXTERNAL ...]" separated by
 * spaces, with an optional "{N}" prefix (OpenLDAP's X-ORDERED); the domains
 * are ordered by N when every value has one, else kept in the given order.
 * On success returns an arena (free it when done) that res's strings point
 * into, res->matched being dn; NULL with *why (static text) when the entry
 * cannot be an answer: no value, more than LOOKUP_MAX_DOMAINS values or
 * LOOKUP_MAX_EXTERNAL externals, an empty value, a value longer than
 * LOOKUP_ENTRY_VALUE_MAX, an unterminated or empty {N}, a character outside
 * printable ASCII; NULL with *why NULL when out of memory.
 */
char *lookup_entry_answer(const char *dn, const struct lookup_value *vals, size_t n, struct lookup_result *res,
    const char **why);

/*
 * The domain-wide entry that stands for user's domain: "scheme:*@host" from
 * "scheme:user@host" (everything after the last '@').  false when user has
 * no scheme or no '@' before its end (then only its own entry can answer),
 * or when out does not hold it (cap octets with the NUL).
 */
bool lookup_domain_pattern(const char *user, char *out, size_t cap);

#endif
