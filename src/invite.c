/* From an INVITE's headers and body to a policy_invite: the same facts for the tool and the daemon. */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extract.h"
#include "invite.h"

struct invite_facts *invite_facts_new(void)
{
	/* Only inv and arena need to start empty: the buffers are written before inv points at them. */
	struct invite_facts *f = malloc(sizeof(*f));

	if (f) {
		memset(&f->inv, 0, sizeof(f->inv));
		f->malformed[0] = '\0';
		f->arena = NULL;
	}
	return f;
}

void invite_facts_free(struct invite_facts *f)
{
	if (!f)
		return;
	free(f->arena);
	free(f);
}

/* Visible ASCII only: these strings go into logs, the audit record and KRRs. */
static bool printable(const uint8_t *p, size_t n, size_t cap)
{
	if (n == 0 || n >= cap)
		return false;
	for (size_t i = 0; i < n; i++)
		if (p[i] <= 0x20 || p[i] >= 0x7f)
			return false;
	return true;
}

void invite_facts_set(struct invite_facts *f, char which, const char *s, size_t n)
{
	char *dst;
	const char **field;
	size_t cap = INVITE_URI_MAX;

	switch (which) {
	case 'r': dst = f->ruri, field = &f->inv.request_uri; break;
	case 'f': dst = f->from, field = &f->inv.from; break;
	case 't': dst = f->to, field = &f->inv.to; break;
	case 'i': dst = f->call_id, field = &f->inv.call_id, cap = sizeof(f->call_id); break;
	default: return;
	}
	if (!s || !printable((const uint8_t *)s, n, cap))
		return;
	memcpy(dst, s, n);
	dst[n] = '\0';
	*field = dst;
}

void invite_facts_mikey(struct invite_facts *f, const char *ct, size_t ct_len, const char *cte,
    size_t cte_len, const uint8_t *body, size_t body_len)
{
	struct extract_result res;
	struct extract_error xe;
	struct mikey_error me;

	f->inv.mikey = POLICY_NO_MIKEY;
	f->inv.malformed = f->malformed;
	if (!ct || !body)
		return;
	free(f->arena);
	if ((f->arena = malloc(EXTRACT_ARENA_SIZE(body_len))) == NULL) {
		f->inv.mikey = POLICY_MALFORMED_MIKEY;
		snprintf(f->malformed, sizeof(f->malformed), "out of memory");
		return;
	}
	if (extract_mikey(ct, ct_len, cte, cte_len, body, body_len, f->arena, EXTRACT_ARENA_SIZE(body_len),
	    &res, &xe) < 0) {
		f->inv.mikey = POLICY_MALFORMED_MIKEY;
		snprintf(f->malformed, sizeof(f->malformed), "%s at body offset %zu", extract_strerror(xe.code),
		    xe.offset);
		return;
	}
	if (res.n == 0)
		return;
	if (mikey_decode(res.item[0].data, res.item[0].len, &f->msg, &me) < 0) {
		f->inv.mikey = POLICY_MALFORMED_MIKEY;
		snprintf(f->malformed, sizeof(f->malformed), "%s at offset %zu", mikey_err_name(me.code), me.offset);
		return;
	}
	f->inv.mikey = POLICY_MIKEY;
	f->inv.msg = &f->msg;
	static const enum mikey_role role[4] = { MIKEY_ROLE_IDRI, MIKEY_ROLE_IDRR, MIKEY_ROLE_IDRKMSI,
		MIKEY_ROLE_IDRKMSR };
	char *out[4] = { f->idri, f->idrr, f->kmsi, f->kmsr };
	const char **dst[4] = { &f->inv.idri, &f->inv.idrr, &f->inv.idrkmsi, &f->inv.idrkmsr };
	for (size_t i = 0; i < 4; i++) {
		const struct mikey_payload *p = mikey_idr(&f->msg, role[i]);
		if (!p || !printable(p->u.idr.data.ptr, p->u.idr.data.len, INVITE_URI_MAX))
			continue;
		memcpy(out[i], p->u.idr.data.ptr, p->u.idr.data.len);
		out[i][p->u.idr.data.len] = '\0';
		*dst[i] = out[i];
	}
}
