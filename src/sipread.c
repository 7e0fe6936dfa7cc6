/*
 * Reading SIP with Sofia-SIP's parser, for the daemon (what nta parsed) and
 * the tool (text parsed and checked the way nta checks what it receives):
 * the same octets give the same facts in both.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sofia-sip/msg.h>
#include <sofia-sip/msg_header.h>
#include <sofia-sip/msg_mclass.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_parser.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/sip_util.h>
#include <sofia-sip/url.h>

#include "krr.h"
#include "sipread.h"

/*
 * nta bounds the size of a message it receives (NTATAG_MAXSIZE), but on a
 * stream the message after the first one is made by msg_next(), which does
 * not carry the bound: a Content-Length of 2^31 there made the parser ask
 * su_alloc for the whole body, and su_alloc abort the daemon.  Here a
 * Content-Length is bounded when it is parsed, wherever the message comes
 * from: a larger one is a bad Content-Length header.
 */
static struct msg_hclass_s bounded_content_length_class[1];

static issize_t bounded_content_length_d(su_home_t *home, msg_header_t *h, char *s, isize_t slen)
{
	issize_t rc = sip_content_length_d(home, h, s, slen);

	if (rc >= 0 && ((sip_content_length_t *)h)->l_length > SIPREAD_MAX_CONTENT_LENGTH)
		return -1;
	return rc;
}

const msg_mclass_t *sipread_mclass(void)
{
	static msg_mclass_t *mc;

	if (mc)
		return mc;
	if ((mc = msg_mclass_clone(sip_default_mclass(), 0, 0)) == NULL)
		return NULL;
	*bounded_content_length_class = *sip_content_length_class;
	bounded_content_length_class->hc_parse = bounded_content_length_d;
	/*
	 * The parser finds a header class by name, the first on its hash chain:
	 * there the bounded class takes the place of Sofia's.  Headers made by
	 * the stack with Sofia's class are found by their class pointer further
	 * along the same chain: there Sofia's goes in again.  Both store the
	 * header in the same place.
	 */
	msg_href_t orig = { .hr_class = NULL };
	for (int i = 0; i < mc->mc_hash_size; i++)
		if (mc->mc_hash[i].hr_class == sip_content_length_class) {
			orig = mc->mc_hash[i];
			mc->mc_hash[i].hr_class = bounded_content_length_class;
		}
	if (!orig.hr_class || msg_mclass_insert(mc, &orig) < 0) {
		free(mc);
		mc = NULL;
		return NULL;
	}
	/* The compact form "l" is looked up in a table of its own. */
	if (mc->mc_short) {
		msg_href_t *shorts = (msg_href_t *)mc->mc_short;
		for (int i = 0; i < MC_SHORT_SIZE; i++)
			if (shorts[i].hr_class == sip_content_length_class)
				shorts[i].hr_class = bounded_content_length_class;
	}
	return mc;
}

unsigned sipread_bad_request_mask(void)
{
	/* nta's default (nta.c, sa_bad_req_mask) with the proxy headers added: a proxy reads them. */
	return ~(unsigned)(sip_mask_response | sip_mask_registrar | sip_mask_pref | sip_mask_privacy);
}

/* nta's default for responses: those failing it are dropped. */
static unsigned bad_response_mask(void)
{
	return ~(unsigned)(sip_mask_request | sip_mask_proxy | sip_mask_registrar | sip_mask_pref |
	    sip_mask_privacy);
}

/* A header's value as text (every entry of a list header), into buf; false when it does not fit. */
static bool header_value(const msg_header_t *h, char *buf, size_t cap, struct strv *out)
{
	size_t used = 0;

	for (; h; h = h->sh_next) {
		if (used && used + 2 < cap) {
			memcpy(buf + used, ", ", 2);
			used += 2;
		}
		issize_t n = msg_header_field_e(buf + used, cap - used, h, 0);
		if (n < 0 || (size_t)n >= cap - used)
			return false;
		used += (size_t)n;
	}
	*out = (struct strv){ buf, used };
	return true;
}

int sipread_body(const sip_t *sip, struct sipread_body *b)
{
	memset(&b->body, 0, sizeof(b->body));
	if (sip->sip_payload) {
		b->body.data = (const uint8_t *)sip->sip_payload->pl_data;
		b->body.len = sip->sip_payload->pl_len;
	}
	if (sip->sip_content_type &&
	    !header_value((const msg_header_t *)sip->sip_content_type, b->content_type, sizeof(b->content_type),
	    &b->body.content_type))
		return -E2BIG;
	if (sip->sip_content_encoding &&
	    !header_value((const msg_header_t *)sip->sip_content_encoding, b->content_encoding,
	    sizeof(b->content_encoding), &b->body.content_encoding))
		return -E2BIG;
	/* Not a SIP header (RFC 3261 7.4.2), so Sofia keeps it as an unknown one; some send it anyway. */
	for (const sip_unknown_t *u = sip->sip_unknown; u; u = u->un_next)
		if (u->un_name && u->un_value && strcasecmp(u->un_name, "Content-Transfer-Encoding") == 0) {
			b->body.transfer_encoding = (struct strv){ u->un_value, strlen(u->un_value) };
			break;
		}
	return 0;
}

static void set_uri(struct request_facts *f, char which, const url_t *url)
{
	char buf[REQUEST_URI_MAX];
	issize_t n;

	if (url && (n = url_e(buf, sizeof(buf), url)) > 0 && (size_t)n < sizeof(buf))
		request_facts_set(f, which, buf, (size_t)n);
}

struct request_facts *sipread_facts(const sip_t *sip)
{
	struct request_facts *f = request_facts_new();
	struct sipread_body b;

	if (!f)
		return NULL;
	if (sip->sip_request) {
		const char *m = sip->sip_request->rq_method_name;
		if (m)
			request_facts_set(f, 'm', m, strlen(m));
		set_uri(f, 'r', sip->sip_request->rq_url);
	}
	if (sip->sip_from)
		set_uri(f, 'f', sip->sip_from->a_url);
	if (sip->sip_to) {
		set_uri(f, 't', sip->sip_to->a_url);
		f->req.in_dialog = sip->sip_to->a_tag != NULL;
	}
	if (sip->sip_call_id && sip->sip_call_id->i_id)
		request_facts_set(f, 'i', sip->sip_call_id->i_id, strlen(sip->sip_call_id->i_id));
	if (sipread_body(sip, &b) < 0) {
		/* Headers this long are not something to guess about: the body stays unread. */
		snprintf(f->fault, sizeof(f->fault), "Content-Type or Content-Encoding header too long");
		f->req.mikey = POLICY_UNINSPECTABLE;
		f->req.fault = f->fault;
		return f;
	}
	request_facts_body(f, &b.body);
	return f;
}

const char *sipread_krr_body(const sip_t *sip, size_t *len)
{
	if (!sip->sip_content_type || !sip->sip_content_type->c_type || !sip->sip_payload ||
	    strcasecmp(sip->sip_content_type->c_type, KRR_CONTENT_TYPE) != 0)
		return NULL;
	*len = sip->sip_payload->pl_len;
	return sip->sip_payload->pl_data;
}

/* ---- whole messages from text ---- */

struct sipread_msg {
	msg_t *msg;
	sip_t *sip;
};

/* nta's receive checks (nta.c agent_recv_request/agent_recv_response), with its words. */
static int check_like_nta(msg_t *msg, const sip_t *sip, char *err, size_t errlen)
{
	const char *bad = NULL;

	if (!sip->sip_request && !sip->sip_status) {
		snprintf(err, errlen, "not a SIP request or response (the daemon drops it)");
		return -EBADMSG;
	}
	if (sip->sip_flags & MSG_FLG_TOOLARGE) {
		snprintf(err, errlen, "413 Request Entity Too Large");
		return -EBADMSG;
	}
	unsigned mask = sip->sip_request ? sipread_bad_request_mask() : bad_response_mask();
	if (!(msg_extract_errors(msg) & mask) && !(sip->sip_flags & MSG_FLG_ERROR) && sip_sanity_check(sip) == 0)
		return 0;
	for (const sip_header_t *h = (const sip_header_t *)sip->sip_error; h && !bad; h = h->sh_next)
		bad = h->sh_class == sip_error_class ? h->sh_error->er_name : h->sh_class->hc_name;
	if (!sip->sip_request)
		snprintf(err, errlen, "a response nta refuses%s%s%s (the daemon drops it)", bad ? " (bad " : "",
		    bad ? bad : "", bad ? " header)" : "");
	else if (bad)
		snprintf(err, errlen, "400 Bad %s Header", bad);
	else
		snprintf(err, errlen, "400 Bad Request");
	return -EBADMSG;
}

/* Only what stops Sofia from reading the message at all, with its words. */
static int check_readable(const sip_t *sip, char *err, size_t errlen)
{
	const char *bad = NULL;

	if (!sip->sip_request && !sip->sip_status) {
		snprintf(err, errlen, "not a SIP request or status line");
		return -EBADMSG;
	}
	if (!(sip->sip_flags & MSG_FLG_ERROR))
		return 0;
	for (const sip_header_t *h = (const sip_header_t *)sip->sip_error; h && !bad; h = h->sh_next)
		bad = h->sh_class == sip_error_class ? h->sh_error->er_name : h->sh_class->hc_name;
	if (sip->sip_content_length && sip->sip_content_length->l_length >
	    (sip->sip_payload ? sip->sip_payload->pl_len : 0))
		snprintf(err, errlen, "Content-Length %lu runs past the end of the message",
		    (unsigned long)sip->sip_content_length->l_length);
	else
		snprintf(err, errlen, "not a SIP message Sofia-SIP can read%s%s%s", bad ? " (bad " : "", bad ? bad : "",
		    bad ? " header)" : "");
	return -EBADMSG;
}

int sipread_parse(const char *text, size_t len, bool like_daemon, struct sipread_msg **out, char *err,
    size_t errlen)
{
	struct sipread_msg *m;
	int rc;

	if (len == 0 || len > SIPREAD_MAX_LEN) {
		snprintf(err, errlen, len ? "longer than %u octets" : "empty", SIPREAD_MAX_LEN);
		return -EBADMSG;
	}
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return -ENOMEM;
	/* The daemon's parser, and the flags nta gives what it receives (nta.c: MSG_DO_CANONIC). */
	const msg_mclass_t *mc = sipread_mclass();
	if (!mc || (m->msg = msg_make(mc, MSG_DO_CANONIC, text, (ssize_t)len)) == NULL) {
		free(m);
		return -ENOMEM;
	}
	m->sip = sip_object(m->msg);
	if (!m->sip) {
		snprintf(err, errlen, "not a SIP message");
		rc = -EBADMSG;
	} else {
		rc = like_daemon ? check_like_nta(m->msg, m->sip, err, errlen) : check_readable(m->sip, err, errlen);
	}
	if (rc < 0) {
		sipread_free(m);
		return rc;
	}
	*out = m;
	return 0;
}

void sipread_free(struct sipread_msg *m)
{
	if (!m)
		return;
	msg_destroy(m->msg);
	free(m);
}

const sip_t *sipread_sip(const struct sipread_msg *m)
{
	return m->sip;
}

bool sipread_is_request(const struct sipread_msg *m)
{
	return m->sip->sip_request != NULL;
}

int sipread_status(const struct sipread_msg *m)
{
	return m->sip->sip_status ? m->sip->sip_status->st_status : 0;
}

bool sipread_looks_like_sip(const char *text, size_t len)
{
	const char *eol = memchr(text, '\n', len);
	size_t e = eol ? (size_t)(eol - text) : len;

	if (e && text[e - 1] == '\r')
		e--;
	if (e >= 8 && strncmp(text, "SIP/2.0 ", 8) == 0)
		return true;
	/* Method SP Request-URI SP SIP/2.0 */
	return e >= 8 && strncmp(text + e - 8, " SIP/2.0", 8) == 0 && memchr(text, ' ', e - 8);
}
