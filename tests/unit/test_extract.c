/* Unit tests of I_MESSAGE extraction from SIP bodies, SIP message splitting and base64. */
#include "config.h"

#include <errno.h>

#include "b64.h"
#include "extract.h"
#include "sipmsg.h"
#include "testutil.h"

/* "QUJD" is base64 of "ABC", "REVGRw==" of "DEFG". */

struct extracted {
	struct extract_result res;
	struct extract_error err;
	uint8_t *arena;
	int rc;
};

static void extract(const char *ct, const char *cte, const char *body, struct extracted *x)
{
	size_t len = strlen(body);
	x->arena = malloc(EXTRACT_ARENA_SIZE(len));
	ck_assert_ptr_nonnull(x->arena);
	memset(&x->err, 0, sizeof(x->err));
	x->res.n = 99;
	x->rc = extract_mikey(ct, strlen(ct), cte, cte ? strlen(cte) : 0, (const uint8_t *)body,
	    len, x->arena, EXTRACT_ARENA_SIZE(len), &x->res, &x->err);
}

static void item_is(const struct extracted *x, size_t i, enum extract_source src, const char *data)
{
	ck_assert_uint_gt(x->res.n, i);
	ck_assert_int_eq(x->res.item[i].source, src);
	ck_assert_uint_eq(x->res.item[i].len, strlen(data));
	ck_assert_mem_eq(x->res.item[i].data, data, strlen(data));
}

static void expect_fail(const char *ct, const char *cte, const char *body, enum extract_err code,
    size_t offset)
{
	struct extracted x;
	extract(ct, cte, body, &x);
	ck_assert_int_eq(x.rc, code == EXTRACT_E_NOMEM ? -ENOMEM : -EBADMSG);
	ck_assert_msg(x.err.code == code, "error %s, expected %s", extract_strerror(x.err.code),
	    extract_strerror(code));
	ck_assert_uint_eq(x.err.offset, offset);
	ck_assert_uint_eq(x.res.n, 99);	/* untouched on failure */
	free(x.arena);
}

/* ---- SDP ---- */

START_TEST(test_sdp_session_and_media)
{
	static const char sdp[] =
	    "v=0\r\n"
	    "o=- 1 1 IN IP4 127.0.0.1\r\n"
	    "s=-\r\n"
	    "a=key-mgmt:mikey QUJD\r\n"
	    "m=audio 49170 RTP/SAVP 0\r\n"
	    "a=key-mgmt:MIKEY REVGRw==\r\n"
	    "a=key-mgmt:other-protocol QUJD\r\n"
	    "m=video 49172 RTP/SAVP 31\r\n"
	    "a=key-mgmt:mikey   REVGRw==   \r\n";
	struct extracted x;

	extract("application/sdp", NULL, sdp, &x);
	ck_assert_int_eq(x.rc, 0);
	ck_assert_uint_eq(x.res.n, 3);
	item_is(&x, 0, EXTRACT_SDP_SESSION, "ABC");
	item_is(&x, 1, EXTRACT_SDP_MEDIA, "DEFG");
	ck_assert_uint_eq(x.res.item[1].media, 0);
	item_is(&x, 2, EXTRACT_SDP_MEDIA, "DEFG");
	ck_assert_uint_eq(x.res.item[2].media, 1);
	ck_assert_uint_eq(x.res.item[0].part, 0);
	ck_assert_uint_eq(x.res.item[0].offset, strstr(sdp, "QUJD") - sdp);
	free(x.arena);
}
END_TEST

START_TEST(test_sdp_lf_only_and_case)
{
	struct extracted x;

	/* Bare LF line ends, a parameterised and upper-case media type. */
	extract("Application/SDP ; charset=utf-8", NULL, "v=0\na=key-mgmt:mikey QUJD", &x);
	ck_assert_int_eq(x.rc, 0);
	ck_assert_uint_eq(x.res.n, 1);
	item_is(&x, 0, EXTRACT_SDP_SESSION, "ABC");
	free(x.arena);

	/* No key-mgmt at all, or another body type: nothing found, no error. */
	extract("application/sdp", NULL, "v=0\r\ns=-\r\n", &x);
	ck_assert_int_eq(x.rc, 0);
	ck_assert_uint_eq(x.res.n, 0);
	free(x.arena);
	extract("text/plain", NULL, "a=key-mgmt:mikey QUJD\r\n", &x);
	ck_assert_int_eq(x.rc, 0);
	ck_assert_uint_eq(x.res.n, 0);
	free(x.arena);
	extract("", NULL, "", &x);
	ck_assert_int_eq(x.rc, 0);
	ck_assert_uint_eq(x.res.n, 0);
	free(x.arena);
}
END_TEST

START_TEST(test_sdp_errors)
{
	expect_fail("application/sdp", NULL, "v=0\r\na=key-mgmt:mikey QU*D\r\n", EXTRACT_E_BASE64, 24);
	expect_fail("application/sdp", NULL, "v=0\r\na=key-mgmt:mikey QUJ\r\n", EXTRACT_E_BASE64, 25);
	expect_fail("application/sdp", NULL, "v=0\r\na=key-mgmt:mikey QUJD-x\r\n", EXTRACT_E_BASE64, 26);
	expect_fail("application/sdp", NULL, "v=0\r\na=key-mgmt:mikey\r\n", EXTRACT_E_KEYMGMT, 5);
	expect_fail("application/sdp", NULL, "v=0\r\na=key-mgmt:mikey   \r\n", EXTRACT_E_KEYMGMT, 5);

	char many[1024] = "v=0\r\n";
	for (int i = 0; i <= EXTRACT_MAX_ITEMS; i++)
		strcat(many, "a=key-mgmt:mikey QUJD\r\n");
	/* Reported where the ninth I_MESSAGE's base64 starts. */
	expect_fail("application/sdp", NULL, many, EXTRACT_E_TOO_MANY, 5 + 23 * EXTRACT_MAX_ITEMS + 17);
}
END_TEST

/* ---- application/mikey and multipart ---- */

START_TEST(test_mikey_body)
{
	struct extracted x;

	extract("application/mikey", NULL, "\x01\x1a binary", &x);
	ck_assert_int_eq(x.rc, 0);
	item_is(&x, 0, EXTRACT_MIKEY_BODY, "\x01\x1a binary");
	ck_assert_uint_eq(x.res.item[0].part, 0);
	free(x.arena);

	extract("application/mikey", "BASE64", "QUJD\r\nREVG\r\n", &x);
	ck_assert_int_eq(x.rc, 0);
	item_is(&x, 0, EXTRACT_MIKEY_BODY, "ABCDEF");
	free(x.arena);

	extract("application/mikey", "binary", "xyz", &x);
	ck_assert_int_eq(x.rc, 0);
	item_is(&x, 0, EXTRACT_MIKEY_BODY, "xyz");
	free(x.arena);

	expect_fail("application/mikey", "quoted-printable", "xyz", EXTRACT_E_ENCODING, 0);
	expect_fail("application/mikey", "base64", "QUJD!", EXTRACT_E_BASE64, 4);
}
END_TEST

static const char MULTIPART[] =
    "preamble\r\n"
    "--b1\r\n"
    "Content-Type: application/vnd.3gpp.mcptt-info+xml\r\n"
    "\r\n"
    "<mcpttinfo/>\r\n"
    "--b1\r\n"
    "Content-Type: application/sdp\r\n"
    "\r\n"
    "v=0\r\n"
    "a=key-mgmt:mikey QUJD\r\n"
    "\r\n"
    "--b1\r\n"
    "content-type: application/mikey\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "REVGRw==\r\n"
    "--b1--\r\n"
    "epilogue --b1\r\n";

START_TEST(test_multipart)
{
	struct extracted x;

	extract("multipart/mixed;boundary=b1", NULL, MULTIPART, &x);
	ck_assert_int_eq(x.rc, 0);
	ck_assert_uint_eq(x.res.n, 2);
	item_is(&x, 0, EXTRACT_SDP_SESSION, "ABC");
	ck_assert_uint_eq(x.res.item[0].part, 2);
	item_is(&x, 1, EXTRACT_MIKEY_BODY, "DEFG");
	ck_assert_uint_eq(x.res.item[1].part, 3);
	ck_assert_uint_eq(x.res.item[1].offset, strstr(MULTIPART, "REVGRw") - MULTIPART);
	free(x.arena);

	/* A line that only starts with the boundary is content, not a delimiter. */
	static const char lookalike[] =
	    "--b1\r\nContent-Type: application/sdp\r\n\r\n"
	    "--b1x is not a delimiter\r\na=key-mgmt:mikey QUJD\r\n"
	    "--b1 \t\r\nContent-Type: application/mikey\r\n\r\nxyz\r\n--b1--";
	extract("multipart/mixed;boundary=b1", NULL, lookalike, &x);
	ck_assert_int_eq(x.rc, 0);
	ck_assert_uint_eq(x.res.n, 2);
	item_is(&x, 0, EXTRACT_SDP_SESSION, "ABC");
	item_is(&x, 1, EXTRACT_MIKEY_BODY, "xyz");
	free(x.arena);

	/* Quoted boundary among other parameters. */
	extract("multipart/mixed; foo=bar; boundary=\"b1\"", NULL, MULTIPART, &x);
	ck_assert_int_eq(x.rc, 0);
	ck_assert_uint_eq(x.res.n, 2);
	free(x.arena);
}
END_TEST

START_TEST(test_multipart_nested)
{
	static const char body[] =
	    "--outer\r\n"
	    "Content-Type: multipart/mixed; boundary=inner\r\n"
	    "\r\n"
	    "--inner\r\n"
	    "Content-Type: application/sdp\r\n"
	    "\r\n"
	    "a=key-mgmt:mikey QUJD\r\n"
	    "--inner--\r\n"
	    "--outer--\r\n";
	struct extracted x;

	extract("multipart/mixed; boundary=outer", NULL, body, &x);
	ck_assert_int_eq(x.rc, 0);
	ck_assert_uint_eq(x.res.n, 1);
	item_is(&x, 0, EXTRACT_SDP_SESSION, "ABC");
	ck_assert_uint_eq(x.res.item[0].offset, strstr(body, "QUJD") - body);
	free(x.arena);
}
END_TEST

START_TEST(test_multipart_errors)
{
	expect_fail("multipart/mixed", NULL, MULTIPART, EXTRACT_E_BOUNDARY, 0);
	expect_fail("multipart/mixed; boundary=\"b1", NULL, MULTIPART, EXTRACT_E_BOUNDARY, 0);
	expect_fail("multipart/mixed; boundary=", NULL, MULTIPART, EXTRACT_E_BOUNDARY, 0);
	/* No delimiter at all, and no close delimiter. */
	expect_fail("multipart/mixed; boundary=zz", NULL, MULTIPART, EXTRACT_E_MULTIPART, 0);
	static const char open_ended[] = "--b1\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n";
	expect_fail("multipart/mixed; boundary=b1", NULL, open_ended, EXTRACT_E_MULTIPART,
	    sizeof(open_ended) - 1);
	/* A bad part is reported at its offset in the outer body. */
	static const char bad_part[] =
	    "--b1\r\nContent-Type: application/sdp\r\n\r\na=key-mgmt:mikey QU%D\r\n--b1--\r\n";
	expect_fail("multipart/mixed; boundary=b1", NULL, bad_part, EXTRACT_E_BASE64,
	    strchr(bad_part, '%') - bad_part);

	/* Nesting beyond EXTRACT_MAX_DEPTH. */
	char deep[2048] = "", tail[512] = "";
	for (int i = 0; i <= EXTRACT_MAX_DEPTH; i++) {
		sprintf(deep + strlen(deep), "--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n",
		    i, i + 1);
		char t[512];
		snprintf(t, sizeof(t), "\r\n--b%d--\r\n%s", i, tail);
		strcpy(tail, t);
	}
	sprintf(deep + strlen(deep), "--b%d\r\n\r\nx\r\n--b%d--%s", EXTRACT_MAX_DEPTH + 1,
	    EXTRACT_MAX_DEPTH + 1, tail);
	expect_fail("multipart/mixed; boundary=b0", NULL, deep, EXTRACT_E_DEPTH,
	    strstr(deep, "--b3") - deep);
}
END_TEST

START_TEST(test_limits)
{
	size_t len = EXTRACT_MAX_BODY + 1;
	uint8_t *body = calloc(len, 1), arena[16];
	struct extract_result res;
	struct extract_error err;

	ck_assert_int_eq(extract_mikey("application/sdp", 15, NULL, 0, body, len, arena,
	    sizeof(arena), &res, &err), -EBADMSG);
	ck_assert_int_eq(err.code, EXTRACT_E_TOO_LARGE);
	free(body);
	/* An arena smaller than promised is refused, not overrun. */
	ck_assert_int_eq(extract_mikey("application/sdp", 15, NULL, 0,
	    (const uint8_t *)"a=key-mgmt:mikey QUJDQUJDQUJDQUJDQUJDQUJD", 41, arena, 4, &res, &err),
	    -ENOMEM);
	ck_assert_int_eq(err.code, EXTRACT_E_NOMEM);
	for (int e = EXTRACT_OK; e <= EXTRACT_E_NOMEM; e++)
		ck_assert_str_ne(extract_strerror(e), "unknown error");
	ck_assert_str_eq(extract_source_name(EXTRACT_SDP_MEDIA), "sdp-media");
}
END_TEST

/* ---- SIP message splitting ---- */

START_TEST(test_sipmsg_request)
{
	static const char msg[] =
	    "INVITE sip:bob@partner.example SIP/2.0\r\n"
	    "Via: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK1\r\n"
	    "c: application/sdp\r\n"
	    "Subject: folded\r\n"
	    " over two lines\r\n"
	    "CONTENT-LENGTH:  4 \r\n"
	    "\r\n"
	    "bodyEXTRA";
	struct sipmsg m;
	struct strv v;

	ck_assert_int_eq(sipmsg_parse(msg, strlen(msg), &m, NULL, NULL), 0);
	ck_assert(m.is_request);
	ck_assert_uint_eq(m.start_line.len, strlen("INVITE sip:bob@partner.example SIP/2.0"));
	ck_assert_uint_eq(m.body_len, 4);
	ck_assert_mem_eq(m.body, "body", 4);
	ck_assert(sipmsg_header(m.headers, "Content-Type", 'c', &v));
	ck_assert_uint_eq(v.len, strlen("application/sdp"));
	ck_assert(sipmsg_header(m.headers, "subject", 's', &v));
	ck_assert_mem_eq(v.ptr, "folded\r\n over two lines", v.len);
	ck_assert(!sipmsg_header(m.headers, "Content-Type", 0, &v));
	ck_assert(!sipmsg_header(m.headers, "To", 't', &v));
}
END_TEST

START_TEST(test_sipmsg_response_and_errors)
{
	struct sipmsg m;
	enum sipmsg_err e;
	size_t at;

	ck_assert_int_eq(sipmsg_parse("SIP/2.0 488 Not Acceptable Here\nl: 0\n\n", 38, &m, &e, &at), 0);
	ck_assert(!m.is_request);
	ck_assert_uint_eq(m.body_len, 0);
	/* Without Content-Length the body is the rest. */
	ck_assert_int_eq(sipmsg_parse("SIP/2.0 200 OK\r\n\r\nabc", 21, &m, &e, &at), 0);
	ck_assert_uint_eq(m.body_len, 3);

	ck_assert_int_eq(sipmsg_parse("hello world\r\n\r\n", 15, &m, &e, &at), -EBADMSG);
	ck_assert_int_eq(e, SIPMSG_E_START_LINE);
	ck_assert_int_eq(sipmsg_parse("SIP/2.0 200 OK\r\nTo: x\r\n", 23, &m, &e, &at), -EBADMSG);
	ck_assert_int_eq(e, SIPMSG_E_NO_BODY_SEPARATOR);
	ck_assert_int_eq(sipmsg_parse("SIP/2.0 200 OK\r\nl: 5\r\n\r\nabc", 27, &m, &e, &at), -EBADMSG);
	ck_assert_int_eq(e, SIPMSG_E_CONTENT_LENGTH);
	ck_assert_int_eq(sipmsg_parse("SIP/2.0 200 OK\r\nl: 1x\r\n\r\nabc", 28, &m, &e, &at), -EBADMSG);
	ck_assert_int_eq(e, SIPMSG_E_CONTENT_LENGTH);
	ck_assert_uint_eq(at, 20);
	ck_assert_int_eq(sipmsg_parse("SIP/2.0 200 OK\r\nl: 99999999999\r\n\r\n", 34, &m, &e, &at), -EBADMSG);
	ck_assert_int_eq(sipmsg_parse("", 0, &m, &e, &at), -EBADMSG);
	ck_assert_int_eq(sipmsg_parse("x", SIPMSG_MAX_LEN + 1, &m, &e, &at), -EBADMSG);
	ck_assert_int_eq(e, SIPMSG_E_TOO_LONG);
	ck_assert(!sipmsg_looks_like_sip("v=0\r\n", 5));
	ck_assert(!sipmsg_looks_like_sip(" SIP/2.0\r\n", 10));
}
END_TEST

START_TEST(test_sipmsg_uris)
{
	static const char msg[] =
	    "INVITE sip:bob@partner.example;user=phone SIP/2.0\r\n"
	    "From: \"Alice\" <sip:alice@home.example>;tag=1\r\n"
	    "To: sip:bob@partner.example;tag=2\r\n"
	    "Contact: <sip:a@127.0.0.1:5062;transport=udp>\r\n"
	    "Call-ID: x\r\n\r\n";
	struct sipmsg m;
	struct strv v;
	char uri[64];

	ck_assert_int_eq(sipmsg_parse(msg, strlen(msg), &m, NULL, NULL), 0);
	ck_assert(sipmsg_request_uri(&m, uri, sizeof(uri)));
	ck_assert_str_eq(uri, "sip:bob@partner.example;user=phone");
	ck_assert_int_eq(sipmsg_status(&m), 0);
	ck_assert(sipmsg_header(m.headers, "From", 'f', &v) && sipmsg_uri(v, uri, sizeof(uri)));
	ck_assert_str_eq(uri, "sip:alice@home.example");
	ck_assert(sipmsg_header(m.headers, "To", 't', &v) && sipmsg_uri(v, uri, sizeof(uri)));
	ck_assert_str_eq(uri, "sip:bob@partner.example");
	ck_assert(sipmsg_header(m.headers, "Contact", 'm', &v) && sipmsg_uri(v, uri, sizeof(uri)));
	ck_assert_str_eq(uri, "sip:a@127.0.0.1:5062;transport=udp");
	ck_assert(!sipmsg_uri((struct strv){ "<sip:unterminated", 17 }, uri, sizeof(uri)));
	ck_assert(!sipmsg_uri((struct strv){ "<>", 2 }, uri, sizeof(uri)));
	ck_assert(!sipmsg_uri((struct strv){ "sip:toolongforthebuffer@example", 31 }, uri, 8));

	ck_assert_int_eq(sipmsg_parse("SIP/2.0 488 Not Acceptable Here\r\n\r\n", 36, &m, NULL, NULL), 0);
	ck_assert_int_eq(sipmsg_status(&m), 488);
	ck_assert(!sipmsg_request_uri(&m, uri, sizeof(uri)));
}
END_TEST

/* ---- base64 ---- */

START_TEST(test_b64)
{
	uint8_t out[64];
	size_t n, at;
	char enc[64];

	ck_assert_int_eq(b64_decode("QUJD", 4, out, &n, NULL), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_int_eq(b64_decode("QQ==", 4, out, &n, NULL), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(b64_decode(" QU\r\nJD ", 8, out, &n, NULL), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_int_eq(b64_decode("", 0, out, &n, NULL), 0);
	ck_assert_uint_eq(n, 0);
	/* Missing padding, data after padding, bad characters, the PEM '-'. */
	ck_assert_int_eq(b64_decode("QUJ", 3, out, &n, &at), -EBADMSG);
	ck_assert_uint_eq(at, 3);
	ck_assert_int_eq(b64_decode("QQ==QUJD", 8, out, &n, &at), -EBADMSG);
	ck_assert_int_eq(b64_decode("Q===", 4, out, &n, &at), -EBADMSG);
	ck_assert_int_eq(b64_decode("QU*D", 4, out, &n, &at), -EBADMSG);
	ck_assert_uint_eq(at, 2);
	ck_assert_int_eq(b64_decode("QUJD-", 5, out, &n, &at), -EBADMSG);
	ck_assert_uint_eq(at, 4);
	ck_assert_int_eq(b64_decode("QU\0D", 4, out, &n, &at), -EBADMSG);
	ck_assert_uint_eq(at, 2);
	ck_assert_uint_eq(b64_encode((const uint8_t *)"ABCD", 4, enc), 8);
	ck_assert_str_eq(enc, "QUJDRA==");
	ck_assert_uint_eq(b64_encode(NULL, 0, enc), 0);
	ck_assert_str_eq(enc, "");
}
END_TEST

static Suite *extract_suite(void)
{
	Suite *s = suite_create("extract");
	TCase *tc;

	tc = tcase_create("sdp");
	tcase_add_test(tc, test_sdp_session_and_media);
	tcase_add_test(tc, test_sdp_lf_only_and_case);
	tcase_add_test(tc, test_sdp_errors);
	suite_add_tcase(s, tc);
	tc = tcase_create("bodies");
	tcase_add_test(tc, test_mikey_body);
	tcase_add_test(tc, test_multipart);
	tcase_add_test(tc, test_multipart_nested);
	tcase_add_test(tc, test_multipart_errors);
	tcase_add_test(tc, test_limits);
	suite_add_tcase(s, tc);
	tc = tcase_create("sipmsg");
	tcase_add_test(tc, test_sipmsg_request);
	tcase_add_test(tc, test_sipmsg_response_and_errors);
	tcase_add_test(tc, test_sipmsg_uris);
	suite_add_tcase(s, tc);
	tc = tcase_create("base64");
	tcase_add_test(tc, test_b64);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(extract_suite());
}
