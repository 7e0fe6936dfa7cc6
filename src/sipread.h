/* Reading SIP messages with Sofia-SIP's parser: the one SIP reader of the daemon and the tool. */
#ifndef MCX_SIPREAD_H
#define MCX_SIPREAD_H

#include <stdbool.h>
#include <stddef.h>

#include "extract.h"
#include "request.h"

struct sip_s;		/* Sofia-SIP's sip_t: the daemon passes what nta parsed */

/*
 * The request headers whose parse errors, or repetition where only one may
 * be, are answered 400 without going further (NTATAG_BAD_REQ_MASK): nta's
 * default set (the basic headers, Content-Type and the other UA headers,
 * 100rel, events, timer, publish) and the proxy's own (Route, Max-Forwards,
 * Proxy-Require, Proxy-Authorization).
 */
unsigned sipread_bad_request_mask(void);

/* The largest Content-Length read, and header field: larger ones are parse errors (400, or the connection closed). */
#define SIPREAD_MAX_CONTENT_LENGTH	(1u << 20)
#define SIPREAD_MAX_FIELD		(16u << 10)

struct msg_mclass_s;

/*
 * The parser (message class) of the daemon (NTATAG_MCLASS) and of the tool:
 * Sofia-SIP's SIP parser with bounds on a header field's length and on
 * Content-Length (SIPREAD_MAX_FIELD, SIPREAD_MAX_CONTENT_LENGTH).  Made on
 * the first call, kept for the life of the process; NULL when out of memory.
 */
const struct msg_mclass_s *sipread_mclass(void);

/* A body's headers as extraction reads them; the strings live in this struct. */
struct sipread_body {
	struct extract_body body;
	char content_type[2048], content_encoding[512];
};

/*
 * The body of a parsed message and its Content-Type, Content-Encoding and
 * Content-Transfer-Encoding values.  Returns 0, or -E2BIG when one of those
 * headers is too long to read (the body then cannot be inspected).  The
 * views live as long as sip and b.
 */
int sipread_body(const struct sip_s *sip, struct sipread_body *b);

/*
 * The facts of a parsed request (a response: no method or Request-URI):
 * the method, whether it is inside a dialog, the URIs, Call-ID, and every
 * I_MESSAGE of the body.  NULL when out of memory.  The body must outlive
 * the facts' decoded messages (request_facts_drop_messages).
 */
struct request_facts *sipread_facts(const struct sip_s *sip);

/* The KRR of a 488 (its body, when its Content-Type is the KRR's), or NULL. */
const char *sipread_krr_body(const struct sip_s *sip, size_t *len);

/* ---- whole messages from text, for the tool ---- */

#define SIPREAD_MAX_LEN	(1u << 20)	/* longer text is refused, not read */

struct sipread_msg;

/*
 * Parse text as the daemon receives one datagram; with like_daemon, check
 * it too as nta checks what it receives (without, only a message Sofia
 * cannot read is refused: for tools that look at bodies).  Returns 0 with
 * *out (free with sipread_free), -EBADMSG with why in err (with
 * like_daemon, what the daemon would answer: "400 Bad Max-Forwards
 * Header", say), or -ENOMEM.
 */
int sipread_parse(const char *text, size_t len, bool like_daemon, struct sipread_msg **out, char *err,
    size_t errlen);
void sipread_free(struct sipread_msg *m);	/* NULL is a no-op */

const struct sip_s *sipread_sip(const struct sipread_msg *m);
bool sipread_is_request(const struct sipread_msg *m);
int sipread_status(const struct sipread_msg *m);	/* a response's status, 0 for a request */

/* Whether text starts like a SIP message (a request or status line), to tell it from other input. */
bool sipread_looks_like_sip(const char *text, size_t len);

#endif
