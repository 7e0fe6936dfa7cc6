/* Unit tests of the one SIP reader (Sofia-SIP's parser and nta's checks) and the request facts it gives. */
#include "config.h"

#include <errno.h>

#include <zlib.h>

#include "b64.h"
#include "request.h"
#include "sipread.h"
#include "testutil.h"

/* A request: start line, its CSeq, headers (CRLF each, given as one string with \n), body. */
static char *message(const char *start, const char *headers, const void *body, size_t blen)
{
	size_t cap = strlen(start) + 2 * strlen(headers) + blen + 256;
	char *m = malloc(cap), *p = m;
	ck_assert_ptr_nonnull(m);
	p += sprintf(p, "%s\r\nCSeq: 1 %.*s\r\n", start, (int)strcspn(start, " "), start);
	for (const char *h = headers; *h; h++) {
		if (*h == '\n')
			*p++ = '\r';
		*p++ = *h;
	}
	p += sprintf(p, "Content-Length: %zu\r\n\r\n", blen);
	memcpy(p, body, blen);
	p[blen] = '\0';
	return m;
}

static const char BASE[] =
    "Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-1\n"
    "Max-Forwards: 70\n"
    "From: \"Alice\" <sip:alice@home.example>;tag=a1\n"
    "Call-ID: read@test\n";

static struct sipread_msg *parse(const char *text, bool like_daemon, char *err)
{
	struct sipread_msg *m = NULL;
	int rc = sipread_parse(text, strlen(text), like_daemon, &m, err, 160);
	return rc == 0 ? m : NULL;
}

/* The vendor's real I_MESSAGE (tests/data/vendor-pck.b64), base64 on one line. */
static char *vendor_b64(void)
{
	size_t n;
	char *b64 = data_file("vendor-pck.b64", &n);
	while (n && (b64[n - 1] == '\n' || b64[n - 1] == '\r'))
		b64[--n] = '\0';
	return b64;
}

START_TEST(test_request_facts)
{
	char err[160], hdrs[1024], sdp[2048];
	char *b64 = vendor_b64();

	snprintf(sdp, sizeof(sdp), "v=0\r\ns=-\r\nm=audio 9 RTP/AVP 0\r\na=KEY-MGMT: mikey %s\r\n", b64);
	snprintf(hdrs, sizeof(hdrs), "%st: <sip:bob@streamwide.com>\nc: Application/SDP\n", BASE);
	char *text = message("INVITE sip:bob@streamwide.com SIP/2.0", hdrs, sdp, strlen(sdp));
	struct sipread_msg *m = parse(text, true, err);
	ck_assert_msg(m != NULL, "%s", err);
	ck_assert(sipread_is_request(m));
	ck_assert_int_eq(sipread_status(m), 0);

	struct request_facts *f = sipread_facts(sipread_sip(m));
	ck_assert_ptr_nonnull(f);
	ck_assert_str_eq(f->req.method, "INVITE");
	ck_assert(!f->req.in_dialog);
	ck_assert_str_eq(f->req.request_uri, "sip:bob@streamwide.com");
	ck_assert_str_eq(f->req.from, "sip:alice@home.example");
	ck_assert_str_eq(f->req.to, "sip:bob@streamwide.com");
	ck_assert_str_eq(f->req.call_id, "read@test");
	ck_assert_int_eq(f->req.mikey, POLICY_MIKEY);
	ck_assert_uint_eq(f->req.n_im, 1);
	ck_assert_str_eq(f->im[0].idrkmsi, "kms.mydev.streamwide.com");
	ck_assert_ptr_nonnull(f->im[0].msg);
	request_facts_drop_messages(f);
	ck_assert_ptr_null(f->im[0].msg);
	ck_assert_str_eq(f->im[0].idrkmsr, "kms.mydev.streamwide.com");	/* identities outlive the messages */
	request_facts_free(f);
	sipread_free(m);
	free(text);

	/* Inside a dialog (a To tag), any method; a body without Content-Type cannot be inspected. */
	snprintf(hdrs, sizeof(hdrs), "%sTo: <sip:bob@streamwide.com>;tag=b2\n", BASE);
	text = message("UPDATE sip:bob@127.0.0.1:5080 SIP/2.0", hdrs, sdp, strlen(sdp));
	ck_assert_ptr_nonnull(m = parse(text, true, err));
	ck_assert_ptr_nonnull(f = sipread_facts(sipread_sip(m)));
	ck_assert_str_eq(f->req.method, "UPDATE");
	ck_assert(f->req.in_dialog);
	ck_assert_int_eq(f->req.mikey, POLICY_UNINSPECTABLE);
	ck_assert_str_eq(f->req.fault, "body without Content-Type at body offset 0");
	ck_assert(policy_wants_decision(&f->req));
	request_facts_free(f);
	sipread_free(m);
	free(text);
	free(b64);
}
END_TEST

/* Content-Encoding, compact (e) or not, and a Content-Transfer-Encoding (not a SIP header) are read. */
START_TEST(test_codings)
{
	char err[160], hdrs[1024], sdp[2048];
	char *b64 = vendor_b64();
	uint8_t z[2048];
	uLongf zlen = sizeof(z);

	snprintf(sdp, sizeof(sdp), "v=0\r\na=key-mgmt:mikey %s\r\n", b64);
	ck_assert_int_eq(compress2(z, &zlen, (const Bytef *)sdp, strlen(sdp), 9), Z_OK);	/* zlib: "deflate" */
	snprintf(hdrs, sizeof(hdrs), "%sTo: <sip:bob@streamwide.com>\nContent-Type: application/sdp\ne: deflate\n", BASE);
	char *text = message("MESSAGE sip:bob@streamwide.com SIP/2.0", hdrs, z, zlen);
	struct sipread_msg *m = NULL;
	/* The body holds NULs: give the message's real length. */
	size_t len = (size_t)(strstr(text, "\r\n\r\n") - text) + 4 + zlen;
	ck_assert_int_eq(sipread_parse(text, len, true, &m, err, sizeof(err)), 0);
	struct request_facts *f = sipread_facts(sipread_sip(m));
	ck_assert_int_eq(f->req.mikey, POLICY_MIKEY);
	ck_assert_str_eq(f->req.method, "MESSAGE");
	request_facts_free(f);
	sipread_free(m);
	free(text);

	snprintf(hdrs, sizeof(hdrs), "%sTo: <sip:bob@streamwide.com>\nContent-Type: application/sdp\nContent-Encoding: br\n", BASE);
	text = message("MESSAGE sip:bob@streamwide.com SIP/2.0", hdrs, sdp, strlen(sdp));
	ck_assert_ptr_nonnull(m = parse(text, true, err));
	f = sipread_facts(sipread_sip(m));
	ck_assert_int_eq(f->req.mikey, POLICY_UNINSPECTABLE);
	ck_assert(f->req.fault_is_coding);
	request_facts_free(f);
	sipread_free(m);
	free(text);

	size_t rawlen;
	uint8_t raw[1024];
	ck_assert_int_eq(b64_decode(b64, strlen(b64), raw, &rawlen, NULL), 0);
	snprintf(hdrs, sizeof(hdrs), "%sTo: <sip:bob@streamwide.com>\nContent-Type: application/mikey\n"
	    "Content-Transfer-Encoding: base64\n", BASE);
	text = message("MESSAGE sip:bob@streamwide.com SIP/2.0", hdrs, b64, strlen(b64));
	ck_assert_ptr_nonnull(m = parse(text, true, err));
	f = sipread_facts(sipread_sip(m));
	ck_assert_int_eq(f->req.mikey, POLICY_MIKEY);
	ck_assert_uint_eq(f->ext.item[0].len, rawlen);
	request_facts_free(f);
	sipread_free(m);
	free(text);
	free(b64);
}
END_TEST

/* What nta answers before the proxy sees a request, the tool says too. */
START_TEST(test_daemon_checks)
{
	static const struct { const char *extra, *want; } cases[] = {
		{ "Max-Forwards: 69\n", "400 Bad Max-Forwards Header" },
		{ "Content-Type: application/sdp\nContent-Type: text/plain\n", "400 Bad Content-Type Header" },
		{ "Max-Forwards: many\n", "400 Bad Max-Forwards Header" },
		{ "Route: <not a uri\n", "400 Bad Route Header" },
	};
	char err[160], hdrs[1024];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(hdrs, sizeof(hdrs), "%sTo: <sip:bob@partner.example>\n%s", BASE, cases[i].extra);
		char *text = message("INVITE sip:bob@partner.example SIP/2.0", hdrs, "", 0);
		ck_assert_msg(parse(text, true, err) == NULL, "case %zu parsed", i);
		ck_assert_str_eq(err, cases[i].want);
		/* The tools that only look at bodies read it all the same. */
		struct sipread_msg *m = parse(text, false, err);
		ck_assert_msg(m != NULL, "case %zu: %s", i, err);
		sipread_free(m);
		free(text);
	}
	/* No To: sanity check. */
	char *text = message("OPTIONS sip:x@partner.example SIP/2.0", BASE, "", 0);
	ck_assert_ptr_null(parse(text, true, err));
	ck_assert_str_eq(err, "400 Bad Request");
	free(text);
	ck_assert_ptr_null(parse("hello\r\n\r\n", false, err));
	ck_assert_str_eq(err, "not a SIP request or status line");
	ck_assert(sipread_looks_like_sip("SIP/2.0 488 Not Acceptable Here\r\n", 33));
	ck_assert(sipread_looks_like_sip("INVITE sip:x SIP/2.0\n", 21));
	ck_assert(!sipread_looks_like_sip("v=0\r\n", 5));
	ck_assert(!sipread_looks_like_sip(" SIP/2.0\r\n", 10));
}
END_TEST

START_TEST(test_krr_response)
{
	char err[160];
	static const char text[] =
	    "SIP/2.0 488 Not Acceptable Here\r\n"
	    "Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-1\r\n"
	    "From: <sip:alice@home.example>;tag=a1\r\nTo: <sip:bob@partner.example>;tag=b2\r\n"
	    "Call-ID: krr@test\r\nCSeq: 1 INVITE\r\n"
	    "Content-Type: application/vnd.3gpp.kmsredirectresponse+xml\r\nContent-Length: 4\r\n\r\n<x/>";
	struct sipread_msg *m = parse(text, true, err);
	size_t len = 0;

	ck_assert_msg(m != NULL, "%s", err);
	ck_assert(!sipread_is_request(m));
	ck_assert_int_eq(sipread_status(m), 488);
	const char *body = sipread_krr_body(sipread_sip(m), &len);
	ck_assert_ptr_nonnull(body);
	ck_assert_uint_eq(len, 4);
	sipread_free(m);
}
END_TEST

/*
 * A real client's I_MESSAGE (Streamwide SmartMS, published in sw_mikey_sakke's
 * unit tests): IDRkmsi and IDRkmsr are "streamwide.com" and a NUL, IDRi and
 * IDRr 32-octet UIDs.  The KMS URIs are read without the NUL, the UIDs are no URI.
 */
START_TEST(test_nul_terminated_identities)
{
	struct request_facts *f = request_facts_new();
	size_t n;
	char *b64 = data_file("smartms-pck.b64", &n);
	char *sdp = malloc(n + 64);

	ck_assert_ptr_nonnull(f);
	sprintf(sdp, "v=0\r\na=key-mgmt:mikey %s\r\n", b64);
	struct extract_body body = { .content_type = { "application/sdp", 15 }, .data = (const uint8_t *)sdp,
		.len = strlen(sdp) };
	request_facts_body(f, &body);
	ck_assert_msg(f->req.mikey == POLICY_MIKEY, "%s", f->fault);
	ck_assert_str_eq(f->im[0].idrkmsi, "streamwide.com");
	ck_assert_str_eq(f->im[0].idrkmsr, "streamwide.com");
	ck_assert_ptr_null(f->im[0].idri);
	ck_assert_ptr_null(f->im[0].idrr);

	/* A NUL inside the KMS URI ("stream\0ide.com\0") is not something two readers agree on. */
	uint8_t raw[1024];
	size_t rawlen;
	char enc[2048];
	ck_assert_int_eq(b64_decode(b64, strlen(b64), raw, &rawlen, NULL), 0);
	ck_assert_mem_eq(raw + 135, "streamwide.com", 14);	/* IDRkmsi's data (crypto.md-style offsets) */
	raw[135 + 6] = 0;
	b64_encode(raw, rawlen, enc);
	sprintf(sdp, "v=0\r\na=key-mgmt:mikey %s\r\n", enc);
	body.len = strlen(sdp);
	request_facts_body(f, &body);
	ck_assert_int_eq(f->req.mikey, POLICY_MALFORMED_MIKEY);
	ck_assert_str_eq(f->fault, "IDRkmsi is not text (empty, or a NUL, control or non-ASCII octet inside)");
	request_facts_free(f);
	free(sdp);
	free(b64);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sipread");
	TCase *tc = tcase_create("reader");

	tcase_add_test(tc, test_request_facts);
	tcase_add_test(tc, test_codings);
	tcase_add_test(tc, test_daemon_checks);
	tcase_add_test(tc, test_krr_response);
	tcase_add_test(tc, test_nul_terminated_identities);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
