/* Finding MIKEY I_MESSAGEs in SIP bodies: SDP key-mgmt (RFC 4567), application/mikey, multipart. */
#ifndef MCX_EXTRACT_H
#define MCX_EXTRACT_H

#include <stddef.h>
#include <stdint.h>

#define EXTRACT_MAX_ITEMS	8	/* key-mgmt lines and mikey parts in one body */
#define EXTRACT_MAX_DEPTH	3	/* multipart nesting */
#define EXTRACT_MAX_BODY	(1u << 20)
/* Arena octets extract_mikey may use for a body of len octets. */
#define EXTRACT_ARENA_SIZE(len)	((len) + 3 * EXTRACT_MAX_ITEMS)

enum extract_source {
	EXTRACT_SDP_SESSION,	/* a=key-mgmt before the first m= line */
	EXTRACT_SDP_MEDIA,	/* a=key-mgmt of a media description */
	EXTRACT_MIKEY_BODY,	/* an application/mikey body or part */
};

struct extract_item {
	enum extract_source source;
	unsigned media;		/* 0-based m= line index, for EXTRACT_SDP_MEDIA */
	unsigned part;		/* 1-based multipart part (nested: innermost), 0 when not in a multipart */
	size_t offset;		/* where the encoded I_MESSAGE starts in the body */
	const uint8_t *data;	/* the I_MESSAGE octets: into the arena or the body */
	size_t len;
};

struct extract_result {
	struct extract_item item[EXTRACT_MAX_ITEMS];
	size_t n;
};

enum extract_err {
	EXTRACT_OK = 0,
	EXTRACT_E_TOO_LARGE,	/* body above EXTRACT_MAX_BODY */
	EXTRACT_E_BASE64,	/* bad base64 in a key-mgmt line or a base64 part */
	EXTRACT_E_KEYMGMT,	/* a=key-mgmt:mikey without data */
	EXTRACT_E_TOO_MANY,	/* more than EXTRACT_MAX_ITEMS I_MESSAGEs */
	EXTRACT_E_BOUNDARY,	/* multipart without a usable boundary parameter */
	EXTRACT_E_MULTIPART,	/* multipart body without its delimiters or close delimiter */
	EXTRACT_E_DEPTH,	/* multipart nested deeper than EXTRACT_MAX_DEPTH */
	EXTRACT_E_ENCODING,	/* a Content-Transfer-Encoding we cannot undo */
	EXTRACT_E_NOMEM,
};

struct extract_error {
	enum extract_err code;
	size_t offset;		/* in the body */
};

/*
 * Find every I_MESSAGE in a body of type ctype (the Content-Type value, with
 * parameters) and transfer encoding cte (may be NULL).  Decoded octets go to
 * arena, which holds at least EXTRACT_ARENA_SIZE(len) octets; items point
 * into the arena or the body, which must both outlive res.  A body of another
 * type holds none (res->n = 0).  Returns 0, or -EBADMSG / -ENOMEM with *err.
 */
int extract_mikey(const char *ctype, size_t ctype_len, const char *cte, size_t cte_len,
    const uint8_t *body, size_t len, uint8_t *arena, size_t arena_cap,
    struct extract_result *res, struct extract_error *err);

const char *extract_strerror(enum extract_err code);
const char *extract_source_name(enum extract_source src);

#endif
