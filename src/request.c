/* From a request's headers and body to a policy_request: the same facts for the tool and the daemon. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "request.h"

struct request_facts *request_facts_new(void)
{
	/* Only the request and the owned pointers need to start empty: buffers are written before use. */
	struct request_facts *f = malloc(sizeof(*f));

	if (f) {
		memset(&f->req, 0, sizeof(f->req));
		f->req.im = f->im;
		f->fault[0] = '\0';
		f->msg = NULL;
		memset(&f->ext, 0, sizeof(f->ext));
	}
	return f;
}

static void free_identities(struct request_facts *f)
{
	for (size_t i = 0; i < f->req.n_im; i++) {
		free((char *)f->im[i].idri);
		free((char *)f->im[i].idrr);
		free((char *)f->im[i].idrkmsi);
		free((char *)f->im[i].idrkmsr);
	}
	f->req.n_im = 0;
}

void request_facts_drop_messages(struct request_facts *f)
{
	for (size_t i = 0; i < f->req.n_im; i++)
		f->im[i].msg = NULL;
	free(f->msg);
	f->msg = NULL;
	extract_result_clear(&f->ext);
}

void request_facts_free(struct request_facts *f)
{
	if (!f)
		return;
	request_facts_drop_messages(f);
	free_identities(f);
	free(f);
}

/* Visible ASCII only: these strings go into logs, the audit record and KRRs. */
static bool printable(const char *p, size_t n, size_t cap)
{
	if (n == 0 || n >= cap)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] <= 0x20 || (unsigned char)p[i] >= 0x7f)
			return false;
	return true;
}

void request_facts_set(struct request_facts *f, char which, const char *s, size_t n)
{
	char *dst;
	const char **field;
	size_t cap = REQUEST_URI_MAX;

	switch (which) {
	case 'm': dst = f->method, field = &f->req.method, cap = sizeof(f->method); break;
	case 'r': dst = f->ruri, field = &f->req.request_uri; break;
	case 'f': dst = f->from, field = &f->req.from; break;
	case 't': dst = f->to, field = &f->req.to; break;
	case 'i': dst = f->call_id, field = &f->req.call_id, cap = sizeof(f->call_id); break;
	default: return;
	}
	if (!s || !printable(s, n, cap))
		return;
	memcpy(dst, s, n);
	dst[n] = '\0';
	*field = dst;
}

static void fault(struct request_facts *f, enum policy_mikey kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fault(struct request_facts *f, enum policy_mikey kind, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(f->fault, sizeof(f->fault), fmt, ap);
	va_end(ap);
	f->req.mikey = kind;
	f->req.fault = f->fault;
}

/*
 * The four identities of I_MESSAGE k, as clients read them: a trailing NUL
 * ends a C string and is not part of the URI; a NUL or control octet inside
 * is not something two readers would agree on.  A KMS must be named by text;
 * IDRi and IDRr may hold a UID instead (then they name no URI).  Returns
 * false after recording the fault.
 */
static bool identities(struct request_facts *f, size_t k, const char *which)
{
	static const enum mikey_role role[4] = { MIKEY_ROLE_IDRI, MIKEY_ROLE_IDRR, MIKEY_ROLE_IDRKMSI,
		MIKEY_ROLE_IDRKMSR };
	struct policy_imessage *im = &f->im[k];
	const char **dst[4] = { &im->idri, &im->idrr, &im->idrkmsi, &im->idrkmsr };

	for (size_t i = 0; i < 4; i++) {
		const struct mikey_payload *p = mikey_idr(&f->msg[k], role[i]);
		struct mikey_view text;
		if (!p)
			continue;
		enum mikey_idr_form form = mikey_idr_form(p, &text);
		const char *name = mikey_role_name(role[i]);
		if (form == MIKEY_IDR_UID && i < 2)
			continue;
		if (form != MIKEY_IDR_TEXT) {
			fault(f, POLICY_MALFORMED_MIKEY, "%s is %s%s", name,
			    form == MIKEY_IDR_UID ? "binary, not a KMS URI"
						  : "not text (empty, or a NUL, control or non-ASCII octet inside)", which);
			return false;
		}
		if (text.len >= REQUEST_URI_MAX) {
			fault(f, POLICY_MALFORMED_MIKEY, "%s longer than %d octets%s", name, REQUEST_URI_MAX - 1,
			    which);
			return false;
		}
		if ((*dst[i] = strndup((const char *)text.ptr, text.len)) == NULL) {
			fault(f, POLICY_MALFORMED_MIKEY, "out of memory");
			return false;
		}
	}
	return true;
}

void request_facts_body(struct request_facts *f, const struct extract_body *body)
{
	struct extract_error xe;
	struct mikey_error me;
	char which[64] = "";

	request_facts_drop_messages(f);
	free_identities(f);
	f->req.mikey = POLICY_NO_MIKEY;
	f->req.fault = NULL;
	f->req.fault_is_coding = false;
	if (!body || body->len == 0)
		return;
	int rc = extract_mikey(body, &f->ext, &xe);
	if (rc == -ENOMEM) {
		fault(f, POLICY_MALFORMED_MIKEY, "out of memory");
		return;
	}
	if (rc < 0) {
		fault(f, POLICY_UNINSPECTABLE, "%s at body offset %zu", extract_strerror(xe.code), xe.offset);
		f->req.fault_is_coding = extract_err_is_coding(xe.code);
		return;
	}
	if (f->ext.n == 0)
		return;
	if ((f->msg = calloc(f->ext.n, sizeof(*f->msg))) == NULL) {
		fault(f, POLICY_MALFORMED_MIKEY, "out of memory");
		return;
	}
	for (size_t k = 0; k < f->ext.n; k++) {
		const struct extract_item *it = &f->ext.item[k];
		if (f->ext.n > 1)
			snprintf(which, sizeof(which), " (I_MESSAGE %zu of %zu)", k + 1, f->ext.n);
		f->im[k] = (struct policy_imessage){ .msg = &f->msg[k] };
		f->req.n_im = k + 1;
		if (mikey_decode(it->data, it->len, &f->msg[k], &me) < 0) {
			fault(f, POLICY_MALFORMED_MIKEY, "%s at offset %zu%s", mikey_err_name(me.code), me.offset, which);
			return;
		}
		if (!identities(f, k, which))
			return;
	}
	f->req.mikey = POLICY_MIKEY;
}
