/* I_MESSAGE extraction from SDP, application/mikey and multipart bodies, without allocation. */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

#include "b64.h"
#include "extract.h"
#include "sipmsg.h"

struct ctx {
	const uint8_t *body0;		/* the outermost body, for offsets */
	uint8_t *arena;
	size_t arena_cap, arena_used;
	struct extract_result *res;
	struct extract_error *err;
};

static int fail(struct ctx *c, enum extract_err code, const void *at)
{
	c->err->code = code;
	c->err->offset = (size_t)((const uint8_t *)at - c->body0);
	return code == EXTRACT_E_NOMEM ? -ENOMEM : -EBADMSG;
}

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_token(struct strv v, const char *word)
{
	size_t n = strlen(word);
	return v.len == n && strncasecmp(v.ptr, word, n) == 0;
}

/* "type/subtype" of a Content-Type value, and its parameter list after the ';'. */
static struct strv media_type(struct strv ct, struct strv *params)
{
	const char *semi = memchr(ct.ptr, ';', ct.len);
	size_t n = semi ? (size_t)(semi - ct.ptr) : ct.len;
	*params = semi ? (struct strv){ semi + 1, ct.len - n - 1 } : (struct strv){ "", 0 };
	while (n && is_ws(ct.ptr[n - 1]))
		n--;
	return (struct strv){ ct.ptr, n };
}

/* The boundary parameter (RFC 2046 5.1.1), quoted or not; false when absent or invalid. */
static bool boundary_param(struct strv params, struct strv *b)
{
	const char *p = params.ptr, *end = params.ptr + params.len;

	while (p < end) {
		while (p < end && (is_ws(*p) || *p == ';'))
			p++;
		const char *name = p;
		while (p < end && *p != '=' && *p != ';' && !is_ws(*p))
			p++;
		struct strv pn = { name, (size_t)(p - name) };
		while (p < end && is_ws(*p))
			p++;
		if (p >= end || *p != '=')
			continue;
		p++;
		while (p < end && is_ws(*p))
			p++;
		const char *v = p;
		size_t vlen;
		if (p < end && *p == '"') {
			v = ++p;
			while (p < end && *p != '"')
				p++;
			if (p >= end)
				return false;
			vlen = (size_t)(p - v);
			p++;
		} else {
			while (p < end && *p != ';' && !is_ws(*p))
				p++;
			vlen = (size_t)(p - v);
		}
		if (is_token(pn, "boundary")) {
			if (vlen == 0 || vlen > 70)	/* RFC 2046 bchars, 1 to 70 */
				return false;
			*b = (struct strv){ v, vlen };
			return true;
		}
	}
	return false;
}

static int add_item(struct ctx *c, enum extract_source src, unsigned media, unsigned part,
    const uint8_t *text, const uint8_t *data, size_t len)
{
	if (c->res->n == EXTRACT_MAX_ITEMS)
		return fail(c, EXTRACT_E_TOO_MANY, text);
	c->res->item[c->res->n++] = (struct extract_item){
		.source = src, .media = media, .part = part,
		.offset = (size_t)(text - c->body0), .data = data, .len = len,
	};
	return 0;
}

static int add_base64(struct ctx *c, enum extract_source src, unsigned media, unsigned part,
    const char *text, size_t len)
{
	size_t out_len, bad_at;
	uint8_t *out = c->arena + c->arena_used;

	if (B64_DECODED_MAX(len) > c->arena_cap - c->arena_used)
		return fail(c, EXTRACT_E_NOMEM, text);
	int rc = b64_decode(text, len, out, &out_len, &bad_at);
	if (rc == -ENOMEM)
		return fail(c, EXTRACT_E_NOMEM, text);
	if (rc < 0)
		return fail(c, EXTRACT_E_BASE64, text + bad_at);
	c->arena_used += out_len;
	return add_item(c, src, media, part, (const uint8_t *)text, out, out_len);
}

/* Every a=key-mgmt:mikey line of an SDP body (RFC 4566, RFC 4567), session and media level. */
static int scan_sdp(struct ctx *c, const char *sdp, size_t len, unsigned part)
{
	static const char attr[] = "a=key-mgmt:";
	enum extract_source level = EXTRACT_SDP_SESSION;
	unsigned media = 0;
	size_t p = 0;

	while (p < len) {
		const char *l = sdp + p;
		const char *lf = memchr(l, '\n', len - p);
		size_t n = lf ? (size_t)(lf - l) : len - p;
		p += n + (lf != NULL);
		while (n && is_ws(l[n - 1]))
			n--;

		if (n >= 2 && l[0] == 'm' && l[1] == '=') {
			if (level == EXTRACT_SDP_MEDIA)
				media++;
			level = EXTRACT_SDP_MEDIA;
			continue;
		}
		if (n < sizeof(attr) - 1 || strncmp(l, attr, sizeof(attr) - 1) != 0)
			continue;
		/* key-mgmt:<prtcl-id> <keymgmt-data> */
		const char *v = l + sizeof(attr) - 1, *end = l + n;
		const char *sp = v;
		while (sp < end && *sp != ' ' && *sp != '\t')
			sp++;
		if (!is_token((struct strv){ v, (size_t)(sp - v) }, "mikey"))
			continue;
		while (sp < end && is_ws(*sp))
			sp++;
		if (sp == end)
			return fail(c, EXTRACT_E_KEYMGMT, l);
		int rc = add_base64(c, level, media, part, sp, (size_t)(end - sp));
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int scan(struct ctx *c, struct strv ctype, struct strv cte, const uint8_t *body,
    size_t len, unsigned part, unsigned depth);

/*
 * Whether what follows "--" boundary ends a delimiter line: "--" (the close
 * delimiter), or optional white space then the line end (RFC 2046 5.1.1);
 * a line that merely starts with the boundary is content.
 */
static bool delimiter_end(const char *p, const char *end)
{
	if (end - p >= 2 && p[0] == '-' && p[1] == '-')
		return true;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	return p == end || *p == '\n' || (*p == '\r' && (p + 1 == end || p[1] == '\n'));
}

/* The parts of a multipart body (RFC 2046 5.1), each scanned by its own headers. */
static int scan_multipart(struct ctx *c, struct strv boundary, const uint8_t *body,
    size_t len, unsigned depth)
{
	const char *b = (const char *)body, *end = b + len;
	const char *p = b, *part_start = NULL;
	unsigned part = 0;

	if (depth >= EXTRACT_MAX_DEPTH)
		return fail(c, EXTRACT_E_DEPTH, body);

	/* A delimiter line is "--" boundary at the start of a line. */
	for (;;) {
		const char *d = NULL;
		for (const char *q = p; (size_t)(end - q) >= 2 + boundary.len; q++) {
			if ((q == b || q[-1] == '\n') && q[0] == '-' && q[1] == '-' &&
			    memcmp(q + 2, boundary.ptr, boundary.len) == 0 &&
			    delimiter_end(q + 2 + boundary.len, end)) {
				d = q;
				break;
			}
			/* Skip to the next line start. */
			const char *lf = memchr(q, '\n', (size_t)(end - q));
			if (!lf)
				break;
			q = lf;
		}
		if (!d)
			return fail(c, EXTRACT_E_MULTIPART, part_start ? (const void *)end : (const void *)body);

		if (part_start) {
			/* The CRLF before the delimiter belongs to the delimiter. */
			const char *pe = d;
			if (pe > part_start && pe[-1] == '\n')
				pe--;
			if (pe > part_start && pe[-1] == '\r')
				pe--;
			struct strv ph = { part_start, 0 }, pct, pcte = { NULL, 0 };
			/* Part headers end at the first empty line; a part may have none. */
			const char *body_start = NULL;
			for (const char *q = part_start; q < pe;) {
				const char *lf = memchr(q, '\n', (size_t)(pe - q));
				const char *le = lf ? lf : pe;
				if (le == q || (le == q + 1 && *q == '\r')) {
					body_start = lf ? lf + 1 : pe;
					break;
				}
				q = lf ? lf + 1 : pe;
				ph.len = (size_t)(q - part_start);
			}
			part++;
			if (body_start) {
				if (!sipmsg_header(ph, "Content-Type", 0, &pct))
					pct = (struct strv){ "text/plain", 10 };	/* RFC 2045 5.2 */
				sipmsg_header(ph, "Content-Transfer-Encoding", 0, &pcte);
				int rc = scan(c, pct, pcte, (const uint8_t *)body_start,
				    (size_t)(pe - body_start), part, depth + 1);
				if (rc < 0)
					return rc;
			}
		}

		const char *after = d + 2 + boundary.len;
		if (end - after >= 2 && after[0] == '-' && after[1] == '-')
			return 0;	/* close delimiter; the epilogue is ignored */
		const char *lf = memchr(after, '\n', (size_t)(end - after));
		if (!lf)
			return fail(c, EXTRACT_E_MULTIPART, end);
		part_start = p = lf + 1;
	}
}

static int scan(struct ctx *c, struct strv ctype, struct strv cte, const uint8_t *body,
    size_t len, unsigned part, unsigned depth)
{
	struct strv params, boundary;
	struct strv mt = media_type(ctype, &params);

	if (mt.len > 10 && strncasecmp(mt.ptr, "multipart/", 10) == 0) {
		if (!boundary_param(params, &boundary))
			return fail(c, EXTRACT_E_BOUNDARY, body);
		return scan_multipart(c, boundary, body, len, depth);
	}
	if (is_token(mt, "application/sdp"))
		return scan_sdp(c, (const char *)body, len, part);
	if (!is_token(mt, "application/mikey"))
		return 0;
	if (cte.len == 0 || is_token(cte, "binary") || is_token(cte, "8bit") || is_token(cte, "7bit"))
		return add_item(c, EXTRACT_MIKEY_BODY, 0, part, body, body, len);
	if (is_token(cte, "base64"))
		return add_base64(c, EXTRACT_MIKEY_BODY, 0, part, (const char *)body, len);
	return fail(c, EXTRACT_E_ENCODING, body);
}

int extract_mikey(const char *ctype, size_t ctype_len, const char *cte, size_t cte_len,
    const uint8_t *body, size_t len, uint8_t *arena, size_t arena_cap,
    struct extract_result *res, struct extract_error *err)
{
	struct extract_result r = { .n = 0 };
	struct extract_error e = { EXTRACT_OK, 0 };
	struct ctx c = {
		.body0 = body, .arena = arena, .arena_cap = arena_cap,
		.res = &r, .err = &e,
	};
	int rc;

	if (len > EXTRACT_MAX_BODY)
		rc = fail(&c, EXTRACT_E_TOO_LARGE, body + EXTRACT_MAX_BODY);
	else
		rc = scan(&c, (struct strv){ ctype ? ctype : "", ctype ? ctype_len : 0 },
		    (struct strv){ cte, cte ? cte_len : 0 }, body, len, 0, 0);
	if (rc < 0) {
		if (err)
			*err = e;
		return rc;
	}
	*res = r;
	return 0;
}

const char *extract_strerror(enum extract_err code)
{
	switch (code) {
	case EXTRACT_OK:		return "no error";
	case EXTRACT_E_TOO_LARGE:	return "body longer than 1 MiB";
	case EXTRACT_E_BASE64:		return "bad base64";
	case EXTRACT_E_KEYMGMT:		return "a=key-mgmt:mikey without data";
	case EXTRACT_E_TOO_MANY:	return "more than 8 MIKEY messages in one body";
	case EXTRACT_E_BOUNDARY:	return "multipart body without a valid boundary parameter";
	case EXTRACT_E_MULTIPART:	return "multipart body without its delimiters";
	case EXTRACT_E_DEPTH:		return "multipart nested too deep";
	case EXTRACT_E_ENCODING:	return "unsupported Content-Transfer-Encoding for application/mikey";
	case EXTRACT_E_NOMEM:		return "out of memory";
	}
	return "unknown error";
}

const char *extract_source_name(enum extract_source src)
{
	switch (src) {
	case EXTRACT_SDP_SESSION:	return "sdp-session";
	case EXTRACT_SDP_MEDIA:		return "sdp-media";
	case EXTRACT_MIKEY_BODY:	return "application/mikey";
	}
	return "unknown";
}
