/* A minimal reader of SIP message text (RFC 3261 7) and MIME header blocks, for tools and tests. */
#ifndef MCX_SIPMSG_H
#define MCX_SIPMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIPMSG_MAX_LEN	(1u << 20)	/* larger input is refused, not read */

/* A view into the caller's text: never owned, lives as long as that text. */
struct strv {
	const char *ptr;
	size_t len;
};

struct sipmsg {
	struct strv start_line;		/* without CRLF */
	bool is_request;
	struct strv headers;		/* header block: every line after the start line, up to the empty line */
	const uint8_t *body;
	size_t body_len;
};

enum sipmsg_err {
	SIPMSG_OK = 0,
	SIPMSG_E_TOO_LONG,		/* above SIPMSG_MAX_LEN */
	SIPMSG_E_START_LINE,		/* neither a request line nor a status line */
	SIPMSG_E_NO_BODY_SEPARATOR,	/* no empty line after the headers */
	SIPMSG_E_CONTENT_LENGTH,	/* Content-Length not a number, or larger than the body */
};

/*
 * Split SIP message text into start line, header block and body.  The body
 * is Content-Length octets when that header is present, else the rest.
 * Returns 0, or -EBADMSG with *err and *bad_at (either may be NULL) set.
 */
int sipmsg_parse(const char *buf, size_t len, struct sipmsg *msg, enum sipmsg_err *err,
    size_t *bad_at);

/*
 * The value of the first header called name (case-insensitive) or, when
 * compact is not 0, by its compact form, in a header block; folded lines stay
 * in the view (callers treat CR and LF as white space).  Leading and trailing
 * white space are trimmed.  Returns false when absent.
 */
bool sipmsg_header(struct strv block, const char *name, char compact, struct strv *value);

/* Whether text looks like the start of a SIP message (request or status line). */
bool sipmsg_looks_like_sip(const char *buf, size_t len);

/*
 * The URI of a From/To/Contact-style value (name-addr or addr-spec, RFC 3261
 * 20.10): what is inside <...>, else the value up to its first ';'.  Copies
 * it NUL-terminated into out; false when empty or longer than cap - 1.
 */
bool sipmsg_uri(struct strv value, char *out, size_t cap);

/* The Request-URI of a request's start line, as sipmsg_uri. */
bool sipmsg_request_uri(const struct sipmsg *m, char *out, size_t cap);

/* The status code of a response's start line, or 0. */
int sipmsg_status(const struct sipmsg *m);

const char *sipmsg_strerror(enum sipmsg_err err);

#endif
