/*
 * Reading SIP with Sofia-SIP's parser, for the daemon (what nta parsed) and
 * the tool (text parsed and checked the way nta checks what it receives):
 * the same octets give the same facts in both.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
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
 * Sofia-SIP's parser with two bounds, one class of each header wrapped (and
 * a request line it reads as RFC 3261 says, below).
 * nta bounds the size of a message it receives (NTATAG_MAXSIZE), but on a
 * stream the message after the first one is made by msg_next(), which does
 * not carry the bound (sofia_guard.c gives it back in the daemon): there a
 * Content-Length of 2^31 made the parser ask su_alloc for the whole body
 * (su_alloc aborted the daemon), and a Route of 100 000 comma-separated
 * entries overflowed the stack (a list header is parsed by recursion, one
 * frame per entry).  So wherever a message comes from, a header field longer
 * than SIPREAD_MAX_FIELD, or a Content-Length above
 * SIPREAD_MAX_CONTENT_LENGTH, is a bad header.
 */
#define MAX_CLASSES	256

static struct msg_hclass_s bounded[MAX_CLASSES];	/* the wrappers, in the order of mc_hash */
static msg_hclass_t *original[MAX_CLASSES];		/* the class each one wraps */
static size_t n_bounded;

static issize_t bounded_d(su_home_t *home, msg_header_t *h, char *s, isize_t slen)
{
	size_t i = (size_t)((struct msg_hclass_s const *)h->sh_class - bounded);

	/* (A comma list hands the rest of the field to the next entry's parse: each sees what is left.) */
	if (i >= n_bounded || slen < 0 || (size_t)slen > SIPREAD_MAX_FIELD)
		return -1;
	issize_t rc = original[i]->hc_parse(home, h, s, slen);
	if (rc >= 0 && original[i] == sip_content_length_class &&
	    ((sip_content_length_t *)h)->l_length > SIPREAD_MAX_CONTENT_LENGTH)
		return -1;
	return rc;
}

/*
 * RFC 3261 25.1: a method is a token (alphanumerics and -.!%*_+`'~), but
 * Sofia-SIP reads an unknown method as URI unreserved characters, without
 * % + ` (RFC 4475 3.1.1.2 uses them): its request line failed, and nta
 * dropped the whole request unanswered as garbage.  Such a request line is
 * read here; every other goes to Sofia-SIP's own parser.
 */
static struct msg_hclass_s request_line_class[1];

static bool sip_token_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    (c != '\0' && strchr("-.!%*_+`'~", c) != NULL);
}

static issize_t request_line_d(su_home_t *home, msg_header_t *h, char *s, isize_t slen)
{
	sip_request_t *rq = (sip_request_t *)h;
	size_t m = strcspn(s, " ");

	if (m == 0 || s[m] != ' ' || strcspn(s, "%+`") >= m)
		return sip_request_d(home, h, s, slen);
	for (size_t i = 0; i < m; i++)
		if (!sip_token_char(s[i]))
			return -1;
	/* Method SP Request-URI SP SIP-Version, nothing else. */
	char *uri = s + m + 1, *sp = strchr(uri, ' ');
	if (!sp || sp == uri || strchr(sp + 1, ' ') || strcasecmp(sp + 1, sip_version_2_0) != 0)
		return -1;
	s[m] = '\0';
	*sp = '\0';
	if (url_d(rq->rq_url, uri) < 0)
		return -1;
	rq->rq_method = sip_method_unknown;
	rq->rq_method_name = s;
	rq->rq_version = sip_version_2_0;
	return 0;
}

const msg_mclass_t *sipread_mclass(void)
{
	static msg_mclass_t *mc;
	msg_mclass_t const *sip = sip_default_mclass();

	if (mc)
		return mc;
	/* Room for every header twice: its wrapper and Sofia's own class (below). */
	if ((mc = msg_mclass_clone(sip, 2 * sip->mc_hash_size + 1, 0)) == NULL)
		return NULL;
	/*
	 * The parser finds a header class by name, the first on its hash chain:
	 * there the wrapper takes the place of Sofia's class.  Headers the stack
	 * makes with Sofia's class are found by their class pointer further along
	 * the same chain: there Sofia's class goes in again.  Both store the
	 * header in the same place.
	 */
	msg_href_t orig[MAX_CLASSES];
	/*
	 * msg_mclass_clone allocates mc_hash_size entries, more than the
	 * mc_hash[MC_HASH_SIZE] the type declares: index them through a plain
	 * pointer (indexing the declared array past 127 is undefined).
	 */
	msg_href_t *hash = (msg_href_t *)((char *)mc + offsetof(msg_mclass_t, mc_hash));
	n_bounded = 0;
	for (int i = 0; i < mc->mc_hash_size; i++) {
		msg_href_t *hr = &hash[i];
		if (!hr->hr_class || n_bounded == MAX_CLASSES)
			continue;
		orig[n_bounded] = *hr;
		original[n_bounded] = hr->hr_class;
		bounded[n_bounded] = *hr->hr_class;
		bounded[n_bounded].hc_parse = bounded_d;
		hr->hr_class = &bounded[n_bounded++];
	}
	for (size_t k = 0; k < n_bounded; k++)
		if (msg_mclass_insert(mc, &orig[k]) < 0) {
			free(mc);
			mc = NULL;
			return NULL;
		}
	/* The request line has no name: it is found by its hash, which the wrapper keeps. */
	*request_line_class = *mc->mc_request[0].hr_class;
	request_line_class->hc_parse = request_line_d;
	mc->mc_request[0].hr_class = request_line_class;
	/* The compact forms ("l", "v", ...) are looked up in a table of their own. */
	if (mc->mc_short) {
		msg_href_t *shorts = (msg_href_t *)mc->mc_short;
		for (int i = 0; i < MC_SHORT_SIZE; i++)
			for (size_t k = 0; k < n_bounded; k++)
				if (shorts[i].hr_class == original[k])
					shorts[i].hr_class = &bounded[k];
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
