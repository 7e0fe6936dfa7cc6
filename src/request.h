/* The facts of a SIP request that the decision engine needs, from any SIP layer's header values and body. */
#ifndef MCX_REQUEST_H
#define MCX_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#include "extract.h"
#include "mikey.h"
#include "policy.h"

#define REQUEST_URI_MAX 1024

/* req's strings point into this struct; set the fields, then read req. */
struct request_facts {
	struct policy_request req;
	char method[32], ruri[REQUEST_URI_MAX], from[REQUEST_URI_MAX], to[REQUEST_URI_MAX], call_id[256];
	char fault[192];
	struct policy_imessage im[EXTRACT_MAX_ITEMS];
	struct mikey_msg *msg;		/* req.n_im decoded messages (owned); views into the body or ext */
	struct extract_result ext;	/* decoded octets the messages may point into */
};

/* An empty request_facts on the heap; NULL when out of memory. */
struct request_facts *request_facts_new(void);
void request_facts_free(struct request_facts *f);	/* NULL is a no-op */

/*
 * Copy the method, one of the URIs or the Call-ID (n octets of s) into f
 * and point the matching req field at it; too long, empty or with a control
 * character: left unset.  which: 'm' method, 'r' Request-URI, 'f' From,
 * 't' To, 'i' Call-ID.
 */
void request_facts_set(struct request_facts *f, char which, const char *s, size_t n);

/*
 * Every I_MESSAGE of the body (extract_mikey), each decoded and its
 * identities read as clients read them.  Sets req.mikey: none, uninspectable
 * or malformed (req.fault says why), or decoded (req.im, req.n_im).  The
 * body must outlive f's messages (request_facts_drop_messages).
 */
void request_facts_body(struct request_facts *f, const struct extract_body *body);

/* Free the decoded messages once only the identities are needed (im[].msg becomes NULL). */
void request_facts_drop_messages(struct request_facts *f);

#endif
