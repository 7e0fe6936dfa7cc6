/*
 * I_MESSAGE extraction from SIP bodies, read as liberally as the most
 * liberal client: whatever one could take for an I_MESSAGE is found here,
 * and what cannot be read is an error rather than "nothing there".
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "b64.h"
#include "coding.h"
#include "extract.h"

/* Decoded octets (base64, inflated) that items may point into: in the block itself, or apart. */
struct extract_block {
	struct extract_block *next;
	uint8_t *data;		/* inline, or a buffer of its own (freed with the block) */
	uint8_t inline_data[];
};

/* The data being scanned, and where its offsets are in the body as received. */
struct layer {
	const uint8_t *start;
	size_t outer;		/* offset of start (or, when decoded, of its encoded form) in the received body */
	bool decoded;		/* offsets inside decoded data all map to outer */
};

struct ctx {
	struct extract_result *res;
	struct extract_error *err;
};

static size_t outer_offset(const struct layer *l, const void *at)
{
	return l->decoded ? l->outer : l->outer + (size_t)((const uint8_t *)at - l->start);
}

static int fail(struct ctx *c, const struct layer *l, enum extract_err code, const void *at)
{
	c->err->code = code;
	c->err->offset = outer_offset(l, at);
	return code == EXTRACT_E_NOMEM ? -ENOMEM : -EBADMSG;
}

/* Blanks as the most liberal reader trims them: every control octet and SP, but the line ends. */
static bool is_blank(char c)
{
	return (unsigned char)c <= 0x20 && c != '\r' && c != '\n';
}

static bool is_eol(char c)
{
	return c == '\r' || c == '\n';
}

static struct strv trim(struct strv v)
{
	while (v.len && (is_blank(*v.ptr) || is_eol(*v.ptr)))
		v.ptr++, v.len--;
	while (v.len && (is_blank(v.ptr[v.len - 1]) || is_eol(v.ptr[v.len - 1])))
		v.len--;
	return v;
}

static bool is_word(struct strv v, const char *word)
{
	size_t n = strlen(word);
	return v.len == n && strncasecmp(v.ptr, word, n) == 0;
}

/* Where the line that starts at p ends: its first CR or LF, or end (memchr: key-mgmt lines are long). */
static const char *line_end(const char *p, const char *end)
{
	const char *lf = memchr(p, '\n', (size_t)(end - p));
	const char *e = lf ? lf : end;
	const char *cr = memchr(p, '\r', (size_t)(e - p));
	return cr ? cr : e;
}

/* Past the line end at e: CRLF, LF or a lone CR. */
static const char *past_eol(const char *e, const char *end)
{
	if (e < end && *e == '\r') {
		if (++e < end && *e == '\n')
			e++;
	} else if (e < end) {
		e++;
	}
	return e;
}

/* After the line that starts at p: past its CRLF, LF or lone CR; end when it has none. */
static const char *next_line(const char *p, const char *end)
{
	return past_eol(line_end(p, end), end);
}

/* ---- decoded blocks ---- */

/* Keep data (a malloc'd buffer) with the result; NULL (data freed) when out of memory. */
static uint8_t *keep(struct ctx *c, uint8_t *data)
{
	struct extract_block *b = malloc(sizeof(*b));

	if (!b) {
		free(data);
		return NULL;
	}
	b->data = data;
	b->next = c->res->blocks;
	c->res->blocks = b;
	return data;
}

/* A block of cap octets in the block itself (one allocation: the common case of a key-mgmt line). */
static uint8_t *inline_block(struct ctx *c, size_t cap)
{
	struct extract_block *b = malloc(sizeof(*b) + (cap ? cap : 1));

	if (!b)
		return NULL;
	b->data = b->inline_data;
	b->next = c->res->blocks;
	c->res->blocks = b;
	return b->data;
}

static int add_item(struct ctx *c, const struct layer *l, enum extract_source src, unsigned media,
    unsigned part, const void *text, const uint8_t *data, size_t len)
{
	if (c->res->n == EXTRACT_MAX_ITEMS)
		return fail(c, l, EXTRACT_E_TOO_MANY, text);
	c->res->item[c->res->n++] = (struct extract_item){
		.source = src, .media = media, .part = part,
		.offset = outer_offset(l, text), .data = data, .len = len,
	};
	return 0;
}

/* Base64 text into a new block; *out and *out_len on success. */
static int base64_block(struct ctx *c, const struct layer *l, const char *text, size_t len,
    const uint8_t **out, size_t *out_len)
{
	size_t max = B64_DECODED_MAX(len), n, bad_at;

	if (max > EXTRACT_MAX_DECODED - c->res->decoded)
		return fail(c, l, EXTRACT_E_BOMB, text);
	uint8_t *buf = inline_block(c, max);
	if (!buf)
		return fail(c, l, EXTRACT_E_NOMEM, text);
	int rc = b64_decode(text, len, buf, &n, &bad_at);
	if (rc < 0)
		return fail(c, l, rc == -ENOMEM ? EXTRACT_E_NOMEM : EXTRACT_E_BASE64,
		    rc == -ENOMEM ? text : text + (bad_at < len ? bad_at : len));
	c->res->decoded += n;
	*out = buf;
	*out_len = n;
	return 0;
}

/* ---- SDP ---- */

/*
 * One SDP line as a liberal reader takes it: "a" or "A", '=', the attribute
 * name in any case, ':', with any blanks around each.  Sets *value to what
 * follows the ':' when the attribute is key-mgmt.
 */
static bool key_mgmt_line(struct strv line, struct strv *value)
{
	const char *p = line.ptr, *end = line.ptr + line.len;

	while (p < end && is_blank(*p))
		p++;
	if (p == end || (*p != 'a' && *p != 'A'))
		return false;
	for (p++; p < end && is_blank(*p); p++)
		;
	if (p == end || *p != '=')
		return false;
	const char *colon = memchr(p, ':', (size_t)(end - p));
	if (!colon)
		return false;
	if (!is_word(trim((struct strv){ p + 1, (size_t)(colon - p - 1) }), "key-mgmt"))
		return false;
	*value = (struct strv){ colon + 1, (size_t)(end - colon - 1) };
	return true;
}

static bool media_line(struct strv line)
{
	const char *p = line.ptr, *end = line.ptr + line.len;

	while (p < end && is_blank(*p))
		p++;
	if (p == end || (*p != 'm' && *p != 'M'))
		return false;
	for (p++; p < end && is_blank(*p); p++)
		;
	return p < end && *p == '=';
}

/* Every a=key-mgmt:mikey of an SDP body (RFC 4566, RFC 4567), session and media level. */
static int scan_sdp(struct ctx *c, const struct layer *l, const char *sdp, size_t len, unsigned part)
{
	enum extract_source level = EXTRACT_SDP_SESSION;
	unsigned media = 0;
	const char *end = sdp + len;

	for (const char *p = sdp; p < end;) {
		const char *q = line_end(p, end);
		struct strv line = { p, (size_t)(q - p) }, value;
		p = past_eol(q, end);

		if (media_line(line)) {
			if (level == EXTRACT_SDP_MEDIA)
				media++;
			level = EXTRACT_SDP_MEDIA;
			continue;
		}
		if (!key_mgmt_line(line, &value))
			continue;
		/* key-mgmt:<prtcl-id> <keymgmt-data> (RFC 4567 3.1) */
		value = trim(value);
		const char *v = value.ptr, *vend = value.ptr + value.len, *sp = v;
		while (sp < vend && !is_blank(*sp))
			sp++;
		if (!is_word((struct strv){ v, (size_t)(sp - v) }, "mikey"))
			continue;
		struct strv data = trim((struct strv){ sp, (size_t)(vend - sp) });
		if (data.len == 0)
			return fail(c, l, EXTRACT_E_KEYMGMT, line.ptr);
		const uint8_t *out;
		size_t out_len;
		int rc = base64_block(c, l, data.ptr, data.len, &out, &out_len);
		if (rc == 0)
			rc = add_item(c, l, level, media, part, data.ptr, out, out_len);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* ---- media types and their parameters ---- */

enum kind { KIND_OTHER, KIND_SDP, KIND_MIKEY, KIND_MULTIPART };

/* "type/subtype" with any blanks and case, and what follows its ';'. */
static enum kind kind_of(struct strv ct, struct strv *params)
{
	const char *semi = memchr(ct.ptr, ';', ct.len);
	struct strv mt = { ct.ptr, semi ? (size_t)(semi - ct.ptr) : ct.len };
	const char *slash = memchr(mt.ptr, '/', mt.len);

	*params = semi ? (struct strv){ semi + 1, ct.len - mt.len - 1 } : (struct strv){ "", 0 };
	if (!slash)
		return KIND_OTHER;
	struct strv type = trim((struct strv){ mt.ptr, (size_t)(slash - mt.ptr) });
	struct strv sub = trim((struct strv){ slash + 1, mt.len - (size_t)(slash - mt.ptr) - 1 });
	if (is_word(type, "multipart"))
		return sub.len ? KIND_MULTIPART : KIND_OTHER;
	if (!is_word(type, "application"))
		return KIND_OTHER;
	return is_word(sub, "sdp") ? KIND_SDP : is_word(sub, "mikey") ? KIND_MIKEY : KIND_OTHER;
}

/*
 * The boundary parameter (RFC 2046 5.1.1), name in any case, quoted or not.
 * False when absent, empty, longer than 70, escaped (a reader that undoes
 * the escape and one that does not would split differently), or given twice
 * with another value.
 */
static bool boundary_param(struct strv params, struct strv *b)
{
	const char *p = params.ptr, *end = params.ptr + params.len;
	bool found = false;

	while (p < end) {
		while (p < end && (is_blank(*p) || is_eol(*p) || *p == ';'))
			p++;
		const char *name = p;
		while (p < end && *p != '=' && *p != ';')
			p++;
		struct strv pn = trim((struct strv){ name, (size_t)(p - name) });
		if (p >= end || *p != '=')
			continue;
		for (p++; p < end && (is_blank(*p) || is_eol(*p)); p++)
			;
		struct strv v;
		if (p < end && *p == '"') {
			const char *q = ++p;
			while (p < end && *p != '"' && *p != '\\')
				p++;
			if (p >= end || *p == '\\')
				return false;
			v = (struct strv){ q, (size_t)(p - q) };
			p++;
		} else {
			const char *q = p;
			while (p < end && *p != ';')
				p++;
			v = trim((struct strv){ q, (size_t)(p - q) });
		}
		if (!is_word(pn, "boundary"))
			continue;
		if (v.len == 0 || v.len > 70 || (found && (v.len != b->len || memcmp(v.ptr, b->ptr, v.len))))
			return false;
		*b = v;
		found = true;
	}
	return found;
}

/* ---- entities: codings, then what the type says ---- */

static int scan_entity(struct ctx *c, const struct layer *l, const struct extract_body *e,
    unsigned part, unsigned depth);

/* The headers of a multipart part that say how to read it; others are not ours. */
struct part_headers {
	struct strv content_type, content_encoding, transfer_encoding;
};

/* A part's header block (lines up to the empty one), folded lines joined in the view. */
static int part_headers(struct ctx *c, const struct layer *l, const char *p, const char *end,
    struct part_headers *h)
{
	*h = (struct part_headers){ { NULL, 0 }, { NULL, 0 }, { NULL, 0 } };
	while (p < end) {
		const char *line = p;
		p = next_line(p, end);
		/* Folded continuation lines belong to this header. */
		while (p < end && (*p == ' ' || *p == '\t'))
			p = next_line(p, end);
		const char *colon = memchr(line, ':', (size_t)(p - line));
		if (!colon)
			continue;
		struct strv name = trim((struct strv){ line, (size_t)(colon - line) });
		struct strv value = trim((struct strv){ colon + 1, (size_t)(p - colon - 1) });
		struct strv *slot = NULL;
		if (is_word(name, "Content-Type") || is_word(name, "c"))
			slot = &h->content_type;
		else if (is_word(name, "Content-Encoding") || is_word(name, "e"))
			slot = &h->content_encoding;
		else if (is_word(name, "Content-Transfer-Encoding"))
			slot = &h->transfer_encoding;
		if (!slot)
			continue;
		if (slot->ptr)
			return fail(c, l, EXTRACT_E_PART_HEADERS, line);
		*slot = value;
	}
	return 0;
}

/* Whether a "--boundary" delimiter line starts at q: a close delimiter, or blanks to the line end (RFC 2046 5.1.1). */
static bool delimiter_at(const char *q, const char *b, const char *end, struct strv boundary)
{
	if ((q != b && !is_eol(q[-1])) || (size_t)(end - q) < 2 + boundary.len || q[0] != '-' || q[1] != '-' ||
	    memcmp(q + 2, boundary.ptr, boundary.len) != 0)
		return false;
	const char *p = q + 2 + boundary.len;
	if (end - p >= 2 && p[0] == '-' && p[1] == '-')
		return true;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	return p == end || is_eol(*p);
}

/* The parts of a multipart body (RFC 2046 5.1), each read by its own headers. */
static int scan_multipart(struct ctx *c, const struct layer *l, struct strv boundary, const char *b,
    size_t len, unsigned depth)
{
	const char *end = b + len, *p = b, *part_start = NULL;
	unsigned part = 0;

	if (depth >= EXTRACT_MAX_DEPTH)
		return fail(c, l, EXTRACT_E_DEPTH, b);
	for (;;) {
		const char *d = NULL;
		for (const char *q = p; q < end; q = next_line(q, end)) {
			if (delimiter_at(q, b, end, boundary)) {
				d = q;
				break;
			}
		}
		if (!d)
			return fail(c, l, EXTRACT_E_MULTIPART, part_start ? end : b);
		if (part_start) {
			/* The line end before the delimiter belongs to the delimiter. */
			const char *pe = d;
			if (pe > part_start && pe[-1] == '\n')
				pe--;
			if (pe > part_start && pe[-1] == '\r')
				pe--;
			part++;
			if (pe > part_start) {
				/* Headers end at the first empty line; a part may have none, but not lack the line. */
				const char *body = NULL;
				for (const char *q = part_start; q < pe; q = next_line(q, pe)) {
					if (is_eol(*q)) {
						body = next_line(q, pe);
						break;
					}
				}
				if (!body)
					return fail(c, l, EXTRACT_E_MULTIPART, part_start);
				struct part_headers h;
				int rc = part_headers(c, l, part_start, body, &h);
				struct extract_body e = {
					.content_type = h.content_type, .content_encoding = h.content_encoding,
					.transfer_encoding = h.transfer_encoding,
					.data = (const uint8_t *)body, .len = (size_t)(pe - body),
				};
				if (rc == 0)
					rc = scan_entity(c, l, &e, part, depth + 1);
				if (rc < 0)
					return rc;
			}
		}
		const char *after = d + 2 + boundary.len;
		if (end - after >= 2 && after[0] == '-' && after[1] == '-')
			return 0;	/* close delimiter; the epilogue is not read */
		part_start = p = next_line(after, end);
		if (p == end)
			return fail(c, l, EXTRACT_E_MULTIPART, end);
	}
}

/* Undo one coding into a new block: the data and the layer it lives in. */
static int undo(struct ctx *c, const struct layer *l, enum coding cd, const uint8_t **data, size_t *len,
    struct layer *nl)
{
	const uint8_t *at = *data;
	const uint8_t *out;
	size_t out_len;

	if (cd == CODING_BASE64) {
		int rc = base64_block(c, l, (const char *)*data, *len, &out, &out_len);
		if (rc < 0)
			return rc;
	} else {
		uint8_t *buf;
		int rc = coding_inflate(cd, *data, *len, EXTRACT_MAX_DECODED - c->res->decoded, &buf, &out_len);
		if (rc == -ENOMEM)
			return fail(c, l, EXTRACT_E_NOMEM, at);
		if (rc < 0)
			return fail(c, l, rc == -EFBIG ? EXTRACT_E_BOMB : EXTRACT_E_COMPRESSED, at);
		if (!keep(c, buf))
			return fail(c, l, EXTRACT_E_NOMEM, at);
		c->res->decoded += out_len;
		out = buf;
	}
	*nl = (struct layer){ .start = out, .outer = outer_offset(l, at), .decoded = true };
	*data = out;
	*len = out_len;
	return 0;
}

/*
 * One body or part: nothing when empty; its type (none: it cannot be
 * inspected); for the types that can hold an I_MESSAGE, the transfer
 * encoding and then the content codings undone (last applied first), and
 * the result read by type.
 */
static int scan_entity(struct ctx *c, const struct layer *l, const struct extract_body *e,
    unsigned part, unsigned depth)
{
	struct strv params, boundary = { NULL, 0 };
	const uint8_t *data = e->data;
	size_t len = e->len;
	struct layer cur = *l, next;
	int rc;

	if (len == 0)
		return 0;
	if (!e->content_type.ptr)
		return fail(c, l, EXTRACT_E_NO_TYPE, data);
	enum kind k = kind_of(e->content_type, &params);
	if (k == KIND_OTHER)
		return 0;
	if (k == KIND_MULTIPART && !boundary_param(params, &boundary))
		return fail(c, l, EXTRACT_E_BOUNDARY, data);

	enum coding te = coding_of(trim(e->transfer_encoding));
	if (te == CODING_BASE64) {
		if ((rc = undo(c, &cur, te, &data, &len, &next)) < 0)
			return rc;
		cur = next;
	} else if (te != CODING_IDENTITY) {
		return fail(c, l, EXTRACT_E_TRANSFER, data);
	}

	/* Content-Encoding lists codings in the order applied: undo from the last. */
	struct strv list = e->content_encoding, token[EXTRACT_MAX_CODINGS];
	size_t n = 0;
	while (list.ptr && list.len) {
		const char *comma = memchr(list.ptr, ',', list.len);
		size_t tl = comma ? (size_t)(comma - list.ptr) : list.len;
		struct strv t = trim((struct strv){ list.ptr, tl });
		if (t.len) {
			if (n == EXTRACT_MAX_CODINGS)
				return fail(c, l, EXTRACT_E_CODING, data);
			token[n++] = t;
		}
		list = comma ? (struct strv){ comma + 1, list.len - tl - 1 } : (struct strv){ NULL, 0 };
	}
	while (n--) {
		enum coding cd = coding_of(token[n]);
		if (cd == CODING_IDENTITY)
			continue;
		if (cd != CODING_GZIP && cd != CODING_DEFLATE)
			return fail(c, l, EXTRACT_E_CODING, data);
		if ((rc = undo(c, &cur, cd, &data, &len, &next)) < 0)
			return rc;
		cur = next;
	}

	switch (k) {
	case KIND_MULTIPART:
		return scan_multipart(c, &cur, boundary, (const char *)data, len, depth);
	case KIND_SDP:
		return scan_sdp(c, &cur, (const char *)data, len, part);
	case KIND_MIKEY:
		return add_item(c, &cur, EXTRACT_MIKEY_BODY, 0, part, data, data, len);
	case KIND_OTHER:
		break;
	}
	return 0;
}

void extract_result_clear(struct extract_result *res)
{
	while (res->blocks) {
		struct extract_block *b = res->blocks;
		res->blocks = b->next;
		if (b->data != b->inline_data)
			free(b->data);
		free(b);
	}
	res->n = 0;
	res->decoded = 0;
}

int extract_mikey(const struct extract_body *body, struct extract_result *res, struct extract_error *err)
{
	struct extract_error e = { EXTRACT_OK, 0 };
	struct ctx c = { .res = res, .err = &e };
	struct layer top = { .start = body->data, .outer = 0, .decoded = false };
	int rc;

	res->n = 0;
	res->blocks = NULL;
	res->decoded = 0;
	if (body->len > EXTRACT_MAX_BODY)
		rc = fail(&c, &top, EXTRACT_E_TOO_LARGE, body->data + EXTRACT_MAX_BODY);
	else
		rc = scan_entity(&c, &top, body, 0, 0);
	if (rc < 0) {
		extract_result_clear(res);
		if (err)
			*err = e;
	}
	return rc;
}

bool extract_err_is_coding(enum extract_err code)
{
	return code == EXTRACT_E_CODING || code == EXTRACT_E_COMPRESSED || code == EXTRACT_E_BOMB;
}

const char *extract_strerror(enum extract_err code)
{
	switch (code) {
	case EXTRACT_OK:		return "no error";
	case EXTRACT_E_TOO_LARGE:	return "body longer than 1 MiB";
	case EXTRACT_E_NO_TYPE:		return "body without Content-Type";
	case EXTRACT_E_CODING:		return "Content-Encoding that cannot be decoded";
	case EXTRACT_E_COMPRESSED:	return "compressed body that does not inflate";
	case EXTRACT_E_BOMB:		return "body decodes to more than 1 MiB";
	case EXTRACT_E_TRANSFER:	return "Content-Transfer-Encoding that cannot be decoded";
	case EXTRACT_E_BASE64:		return "bad base64";
	case EXTRACT_E_KEYMGMT:		return "a=key-mgmt:mikey without data";
	case EXTRACT_E_TOO_MANY:	return "more than 16 MIKEY messages in one body";
	case EXTRACT_E_BOUNDARY:	return "multipart body without a valid boundary parameter";
	case EXTRACT_E_MULTIPART:	return "multipart body that cannot be split into parts";
	case EXTRACT_E_DEPTH:		return "multipart nested deeper than 4 levels";
	case EXTRACT_E_PART_HEADERS:	return "body part with a repeated Content-Type or encoding header";
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
