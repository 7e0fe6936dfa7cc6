/* SIP message splitting and header lookup over plain text, without allocation. */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

#include "sipmsg.h"

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static struct strv trim(const char *p, size_t n)
{
	while (n && is_ws(*p)) {
		p++;
		n--;
	}
	while (n && is_ws(p[n - 1]))
		n--;
	return (struct strv){ p, n };
}

/* End of the line starting at p (the LF, or end), and where the next one starts. */
static size_t line_end(const char *buf, size_t len, size_t p, size_t *next)
{
	const char *lf = memchr(buf + p, '\n', len - p);
	size_t e = lf ? (size_t)(lf - buf) : len;
	*next = lf ? e + 1 : len;
	if (e > p && buf[e - 1] == '\r')
		e--;
	return e;
}

bool sipmsg_looks_like_sip(const char *buf, size_t len)
{
	size_t next, e = line_end(buf, len, 0, &next);

	if (e >= 8 && strncmp(buf, "SIP/2.0 ", 8) == 0)
		return true;
	/* Method SP Request-URI SP SIP/2.0 */
	return e >= 8 && strncmp(buf + e - 8, " SIP/2.0", 8) == 0 && memchr(buf, ' ', e - 8);
}

static int fail(enum sipmsg_err *err, size_t *bad_at, enum sipmsg_err code, size_t at)
{
	if (err)
		*err = code;
	if (bad_at)
		*bad_at = at;
	return -EBADMSG;
}

int sipmsg_parse(const char *buf, size_t len, struct sipmsg *msg, enum sipmsg_err *err,
    size_t *bad_at)
{
	struct sipmsg m;
	size_t next, e, p, hdr_start;
	struct strv cl;

	if (len > SIPMSG_MAX_LEN)
		return fail(err, bad_at, SIPMSG_E_TOO_LONG, SIPMSG_MAX_LEN);
	if (!sipmsg_looks_like_sip(buf, len))
		return fail(err, bad_at, SIPMSG_E_START_LINE, 0);
	e = line_end(buf, len, 0, &next);
	m.start_line = (struct strv){ buf, e };
	m.is_request = strncmp(buf, "SIP/2.0 ", 8) != 0;

	/* Header lines up to the first empty line. */
	hdr_start = p = next;
	for (;;) {
		if (p >= len)
			return fail(err, bad_at, SIPMSG_E_NO_BODY_SEPARATOR, len);
		e = line_end(buf, len, p, &next);
		if (e == p)
			break;
		p = next;
	}
	m.headers = (struct strv){ buf + hdr_start, p - hdr_start };
	m.body = (const uint8_t *)buf + next;
	m.body_len = len - next;

	if (sipmsg_header(m.headers, "Content-Length", 'l', &cl)) {
		size_t v = 0;
		if (cl.len == 0 || cl.len > 9)
			return fail(err, bad_at, SIPMSG_E_CONTENT_LENGTH, (size_t)(cl.ptr - buf));
		for (size_t i = 0; i < cl.len; i++) {
			if (cl.ptr[i] < '0' || cl.ptr[i] > '9')
				return fail(err, bad_at, SIPMSG_E_CONTENT_LENGTH, (size_t)(cl.ptr - buf) + i);
			v = v * 10 + (size_t)(cl.ptr[i] - '0');
		}
		if (v > m.body_len)
			return fail(err, bad_at, SIPMSG_E_CONTENT_LENGTH, (size_t)(cl.ptr - buf));
		m.body_len = v;
	}
	*msg = m;
	return 0;
}

bool sipmsg_header(struct strv block, const char *name, char compact, struct strv *value)
{
	size_t nlen = strlen(name), p = 0, next;

	while (p < block.len) {
		size_t e = line_end(block.ptr, block.len, p, &next);
		/* Continuation lines (RFC 3261 7.3.1) belong to the header above. */
		while (next < block.len && (block.ptr[next] == ' ' || block.ptr[next] == '\t'))
			e = line_end(block.ptr, block.len, next, &next);
		const char *l = block.ptr + p;
		const char *colon = memchr(l, ':', e - p);
		if (colon) {
			struct strv hn = trim(l, (size_t)(colon - l));
			bool match = (hn.len == nlen && strncasecmp(hn.ptr, name, nlen) == 0) ||
			    (compact && hn.len == 1 && (hn.ptr[0] | 0x20) == (compact | 0x20));
			if (match) {
				*value = trim(colon + 1, (size_t)(block.ptr + e - colon - 1));
				return true;
			}
		}
		p = next;
	}
	return false;
}

static bool copy_out(const char *p, size_t n, char *out, size_t cap)
{
	struct strv v = trim(p, n);
	if (v.len == 0 || v.len >= cap)
		return false;
	memcpy(out, v.ptr, v.len);
	out[v.len] = '\0';
	return true;
}

bool sipmsg_uri(struct strv value, char *out, size_t cap)
{
	const char *lt = memchr(value.ptr, '<', value.len);
	if (lt) {
		const char *gt = memchr(lt, '>', value.len - (size_t)(lt - value.ptr));
		return gt && copy_out(lt + 1, (size_t)(gt - lt - 1), out, cap);
	}
	/* addr-spec: header parameters (;tag=...) follow the URI. */
	const char *semi = memchr(value.ptr, ';', value.len);
	return copy_out(value.ptr, semi ? (size_t)(semi - value.ptr) : value.len, out, cap);
}

bool sipmsg_request_uri(const struct sipmsg *m, char *out, size_t cap)
{
	const char *sp1 = memchr(m->start_line.ptr, ' ', m->start_line.len);
	if (!m->is_request || !sp1)
		return false;
	size_t rest = m->start_line.len - (size_t)(sp1 + 1 - m->start_line.ptr);
	const char *sp2 = memchr(sp1 + 1, ' ', rest);
	return sp2 && copy_out(sp1 + 1, (size_t)(sp2 - sp1 - 1), out, cap);
}

int sipmsg_status(const struct sipmsg *m)
{
	if (m->is_request || m->start_line.len < 11)
		return 0;
	const char *p = m->start_line.ptr + 8;
	if (p[0] < '1' || p[0] > '6' || p[1] < '0' || p[1] > '9' || p[2] < '0' || p[2] > '9')
		return 0;
	return (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
}

const char *sipmsg_strerror(enum sipmsg_err err)
{
	switch (err) {
	case SIPMSG_OK:			return "no error";
	case SIPMSG_E_TOO_LONG:		return "SIP message longer than 1 MiB";
	case SIPMSG_E_START_LINE:	return "not a SIP request or status line";
	case SIPMSG_E_NO_BODY_SEPARATOR: return "no empty line after the SIP headers";
	case SIPMSG_E_CONTENT_LENGTH:	return "bad Content-Length";
	}
	return "unknown error";
}
