/*
 * Fuzz target: I_MESSAGE extraction and decoding (request_facts_body: every
 * form, coding and multipart) on a body and the three headers that say how
 * to read it.  Input: like a SIP message (a start line is skipped), headers
 * up to the first empty line, then the body.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "extract.h"
#include "fuzz.h"
#include "request.h"

/* The value of a header line "NAME: value" when NAME is name or compact. */
static bool header(const char *line, size_t len, const char *name, const char *compact, struct strv *out)
{
	const char *colon = memchr(line, ':', len);
	if (!colon)
		return false;
	size_t n = (size_t)(colon - line);
	while (n && (line[n - 1] == ' ' || line[n - 1] == '\t'))
		n--;
	if (!((n == strlen(name) && strncasecmp(line, name, n) == 0) ||
	    (compact && n == strlen(compact) && strncasecmp(line, compact, n) == 0)))
		return false;
	const char *v = colon + 1, *end = line + len;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	*out = (struct strv){ v, (size_t)(end - v) };
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	struct extract_body b = { .data = NULL };
	bool first = true;

	while (p < end) {
		const char *lf = memchr(p, '\n', (size_t)(end - p));
		const char *le = lf ? lf : end;
		size_t len = (size_t)(le - p);
		if (len && p[len - 1] == '\r')
			len--;
		const char *next = lf ? lf + 1 : end;
		if (len == 0) {
			p = next;
			break;
		}
		if (!(first && memchr(p, ':', len) == NULL)) {
			header(p, len, "Content-Type", "c", &b.content_type);
			header(p, len, "Content-Encoding", "e", &b.content_encoding);
			header(p, len, "Content-Transfer-Encoding", NULL, &b.transfer_encoding);
		}
		first = false;
		p = next;
	}
	b.data = (const uint8_t *)p;
	b.len = (size_t)(end - p);

	struct request_facts *f = request_facts_new();
	if (!f)
		return 0;
	request_facts_body(f, &b);
	if (f->req.mikey == POLICY_MIKEY) {
		/* An identity read is text: no NUL (strlen sees it whole), no control octet. */
		for (size_t i = 0; i < f->req.n_im; i++) {
			const char *id[4] = { f->im[i].idri, f->im[i].idrr, f->im[i].idrkmsi, f->im[i].idrkmsr };
			for (size_t k = 0; k < 4; k++)
				for (const char *c = id[k]; c && *c; c++)
					if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f)
						abort();
		}
		for (size_t i = 0; i < f->ext.n; i++)
			if (f->ext.item[i].offset > b.len)
				abort();
	} else if (f->req.mikey != POLICY_NO_MIKEY && !f->req.fault) {
		abort();	/* every failure names its fault */
	}
	request_facts_free(f);
	return 0;
}
