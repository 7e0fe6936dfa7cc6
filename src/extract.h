/* Finding MIKEY I_MESSAGEs in SIP bodies as liberally as any client would: SDP key-mgmt (RFC 4567), application/mikey, multipart, content codings. */
#ifndef MCX_EXTRACT_H
#define MCX_EXTRACT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strv.h"

#define EXTRACT_MAX_ITEMS	16		/* key-mgmt attributes and mikey parts in one body */
#define EXTRACT_MAX_DEPTH	4		/* multipart levels, the outermost counted */
#define EXTRACT_MAX_CODINGS	4		/* content codings on one body or part */
#define EXTRACT_MAX_BODY	(1u << 20)	/* octets of body looked at */
#define EXTRACT_MAX_DECODED	(1u << 20)	/* octets all decodings of one body may produce */

enum extract_source {
	EXTRACT_SDP_SESSION,	/* a=key-mgmt before the first m= line */
	EXTRACT_SDP_MEDIA,	/* a=key-mgmt of a media description */
	EXTRACT_MIKEY_BODY,	/* an application/mikey body or part */
};

struct extract_item {
	enum extract_source source;
	unsigned media;		/* 0-based m= line index, for EXTRACT_SDP_MEDIA */
	unsigned part;		/* 1-based multipart part (nested: innermost), 0 when not in a multipart */
	size_t offset;		/* where it starts in the body as received (in a decoded layer: where that layer starts) */
	const uint8_t *data;	/* the I_MESSAGE octets: into the body or the result's decoded blocks */
	size_t len;
};

struct extract_block;

/* Clear with extract_result_clear: decoded octets live in blocks the result owns. */
struct extract_result {
	struct extract_item item[EXTRACT_MAX_ITEMS];
	size_t n;
	struct extract_block *blocks;
	size_t decoded;		/* octets decoded, against EXTRACT_MAX_DECODED */
};

/*
 * Every error but EXTRACT_E_NOMEM means the body cannot be inspected: what a
 * client might read in it is unknown, so it must not pass unread
 * (policy.on_uninspectable).
 */
enum extract_err {
	EXTRACT_OK = 0,
	EXTRACT_E_TOO_LARGE,	/* body above EXTRACT_MAX_BODY */
	EXTRACT_E_NO_TYPE,	/* a body (or part) without Content-Type */
	EXTRACT_E_CODING,	/* a Content-Encoding we cannot undo */
	EXTRACT_E_COMPRESSED,	/* gzip/deflate data that does not inflate */
	EXTRACT_E_BOMB,		/* decoded data past EXTRACT_MAX_DECODED */
	EXTRACT_E_TRANSFER,	/* a Content-Transfer-Encoding we cannot undo */
	EXTRACT_E_BASE64,	/* bad base64 in a key-mgmt attribute or a base64 part */
	EXTRACT_E_KEYMGMT,	/* a=key-mgmt:mikey without data */
	EXTRACT_E_TOO_MANY,	/* more than EXTRACT_MAX_ITEMS I_MESSAGEs */
	EXTRACT_E_BOUNDARY,	/* multipart without a usable boundary parameter */
	EXTRACT_E_MULTIPART,	/* multipart body without its delimiters, or a part without its header end */
	EXTRACT_E_DEPTH,	/* multipart nested deeper than EXTRACT_MAX_DEPTH */
	EXTRACT_E_PART_HEADERS,	/* a part with two Content-Type, Content-Encoding or Content-Transfer-Encoding headers */
	EXTRACT_E_NOMEM,
};

struct extract_error {
	enum extract_err code;
	size_t offset;		/* in the body as received */
};

/* A body as the message carries it; a header that is absent has ptr NULL. */
struct extract_body {
	struct strv content_type;	/* with its parameters */
	struct strv content_encoding;	/* a comma-separated list of codings, applied in order */
	struct strv transfer_encoding;	/* Content-Transfer-Encoding */
	const uint8_t *data;
	size_t len;
};

/*
 * Find every I_MESSAGE in body.  An empty body holds none; a body of a type
 * that no client reads MIKEY from holds none.  Items point into body->data
 * or into blocks res owns: body->data must outlive res.  Returns 0 with
 * *res (clear it with extract_result_clear), or -EBADMSG / -ENOMEM with *err
 * and *res left empty.
 */
int extract_mikey(const struct extract_body *body, struct extract_result *res,
    struct extract_error *err);

void extract_result_clear(struct extract_result *res);

/* Whether the error is about a content coding (SIP answers 415 with Accept-Encoding). */
bool extract_err_is_coding(enum extract_err code);

const char *extract_strerror(enum extract_err code);
const char *extract_source_name(enum extract_source src);

#endif
