/* The facts of an initial INVITE that the decision engine needs, from any SIP layer's header values and body. */
#ifndef MCX_INVITE_H
#define MCX_INVITE_H

#include <stddef.h>
#include <stdint.h>

#include "mikey.h"
#include "policy.h"

#define INVITE_URI_MAX 1024

/* inv's strings point into this struct; set the fields, then read inv. */
struct invite_facts {
	struct policy_invite inv;
	char ruri[INVITE_URI_MAX], from[INVITE_URI_MAX], to[INVITE_URI_MAX], call_id[256];
	char idri[INVITE_URI_MAX], idrr[INVITE_URI_MAX], kmsi[INVITE_URI_MAX], kmsr[INVITE_URI_MAX];
	char malformed[160];
	struct mikey_msg msg;	/* views into arena */
	uint8_t *arena;
};

/* An empty invite_facts on the heap (about 9 kB; only inv and arena are cleared); NULL when out of memory. */
struct invite_facts *invite_facts_new(void);
void invite_facts_free(struct invite_facts *f);

/*
 * Copy one of the URIs or the Call-ID (n octets of s) into f and point the
 * matching inv field at it; too long, empty or with a control character:
 * left unset.  which: 'r' Request-URI, 'f' From, 't' To, 'i' Call-ID.
 */
void invite_facts_set(struct invite_facts *f, char which, const char *s, size_t n);

/*
 * The I_MESSAGE: content_type (with its parameters) and the optional
 * Content-Transfer-Encoding as they are in the message, and the body.  Sets
 * inv.mikey (none, malformed with the reason in inv.malformed, or decoded:
 * the four identities that are URIs, the first I_MESSAGE decides).
 */
void invite_facts_mikey(struct invite_facts *f, const char *content_type, size_t ct_len,
    const char *cte, size_t cte_len, const uint8_t *body, size_t body_len);

#endif
