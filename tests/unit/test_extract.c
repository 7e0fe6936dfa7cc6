/* Unit tests of I_MESSAGE extraction from SIP bodies (every form a client could read), content codings and base64. */
#include "config.h"

#include <errno.h>

#include <zlib.h>

#include "b64.h"
#include "coding.h"
#include "extract.h"
#include "testutil.h"

/* "QUJD" is base64 of "ABC", "REVGRw==" of "DEFG". */

struct extracted {
	struct extract_result res;
	struct extract_error err;
	int rc;
};

static struct extract_body body_of(const char *ct, const char *ce, const char *cte, const void *data, size_t len)
{
	return (struct extract_body){
		.content_type = { ct, ct ? strlen(ct) : 0 },
		.content_encoding = { ce, ce ? strlen(ce) : 0 },
		.transfer_encoding = { cte, cte ? strlen(cte) : 0 },
		.data = data, .len = len,
	};
}

static void extract_full(const char *ct, const char *ce, const char *cte, const void *data, size_t len,
    struct extracted *x)
{
	struct extract_body b = body_of(ct, ce, cte, data, len);
	memset(&x->err, 0, sizeof(x->err));
	x->rc = extract_mikey(&b, &x->res, &x->err);
}

static void extract(const char *ct, const char *cte, const char *body, struct extracted *x)
{
	extract_full(ct, NULL, cte, body, strlen(body), x);
}

static void item_is(const struct extracted *x, size_t i, enum extract_source src, const char *data)
{
	ck_assert_uint_gt(x->res.n, i);
	ck_assert_int_eq(x->res.item[i].source, src);
	ck_assert_uint_eq(x->res.item[i].len, strlen(data));
	ck_assert_mem_eq(x->res.item[i].data, data, strlen(data));
}

static void expect_fail_full(const char *ct, const char *ce, const char *cte, const void *body, size_t len,
    enum extract_err code, size_t offset)
{
	struct extracted x;
	extract_full(ct, ce, cte, body, len, &x);
	ck_assert_int_eq(x.rc, code == EXTRACT_E_NOMEM ? -ENOMEM : -EBADMSG);
	ck_assert_msg(x.err.code == code, "error %s, expected %s", extract_strerror(x.err.code),
	    extract_strerror(code));
	ck_assert_uint_eq(x.err.offset, offset);
	ck_assert_uint_eq(x.res.n, 0);	/* left empty on failure */
	ck_assert_ptr_null(x.res.blocks);
}

static void expect_fail(const char *ct, const char *cte, const char *body, enum extract_err code, size_t offset)
{
	expect_fail_full(ct, NULL, cte, body, strlen(body), code, offset);
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
	extract_result_clear(&x.res);
}
END_TEST

/* Every spelling a liberal client accepts is an I_MESSAGE here too. */
START_TEST(test_sdp_liberal)
{
	static const char *const forms[] = {
		"a=KEY-MGMT:mikey QUJD",
		"a=Key-Mgmt:Mikey QUJD",
		"A=key-mgmt:mikey QUJD",
		"a=key-mgmt:  mikey   QUJD",
		"a=key-mgmt:\tmikey\tQUJD",
		"a = key-mgmt : mikey QUJD",
		"  a=key-mgmt:mikey QUJD  ",
		"a=key-mgmt\x0b:mikey\x0cQUJD",
		"a=key-mgmt:mikey QU JD",	/* base64 skips blanks inside */
	};
	static const char *const ends[] = { "\r\n", "\n", "\r" };
	struct extracted x;
	char sdp[256];

	for (size_t f = 0; f < sizeof(forms) / sizeof(forms[0]); f++) {
		for (size_t e = 0; e < 3; e++) {
			snprintf(sdp, sizeof(sdp), "v=0%ss=-%s%s%sm=audio 9 RTP/AVP 0%s", ends[e], ends[e], forms[f],
			    ends[e], ends[e]);
			extract("application/sdp", NULL, sdp, &x);
			ck_assert_msg(x.rc == 0 && x.res.n == 1, "form %zu, line end %zu: rc %d n %zu", f, e, x.rc,
			    x.res.n);
			item_is(&x, 0, EXTRACT_SDP_SESSION, "ABC");
			extract_result_clear(&x.res);
		}
	}
	/* Media types and their parameters in any case, with blanks. */
	extract("Application/SDP ; charset=utf-8", NULL, "v=0\na=key-mgmt:mikey QUJD", &x);
	ck_assert_int_eq(x.rc, 0);
	ck_assert_uint_eq(x.res.n, 1);
	extract_result_clear(&x.res);
	extract("application / sdp", NULL, "a=key-mgmt:mikey QUJD", &x);
	ck_assert_uint_eq(x.res.n, 1);
	extract_result_clear(&x.res);

	/* No key-mgmt, another protocol, another body type: nothing found, no error. */
	extract("application/sdp", NULL, "v=0\r\ns=-\r\na=key-mgmtx:mikey QUJD\r\n", &x);
	ck_assert_int_eq(x.rc, 0);
	ck_assert_uint_eq(x.res.n, 0);
	extract("application/sdp", NULL, "a=key-mgmt:mikeyx QUJD\r\nb=key-mgmt:mikey QUJD\r\n", &x);
	ck_assert_int_eq(x.rc, 0);
	ck_assert_uint_eq(x.res.n, 0);
	extract("text/plain", NULL, "a=key-mgmt:mikey QUJD\r\n", &x);
	ck_assert_int_eq(x.rc, 0);
	ck_assert_uint_eq(x.res.n, 0);
	/* An empty body, typed or not, holds nothing. */
	extract_full(NULL, NULL, NULL, "", 0, &x);
	ck_assert_int_eq(x.rc, 0);
	ck_assert_uint_eq(x.res.n, 0);
}
END_TEST

START_TEST(test_sdp_errors)
{
	expect_fail("application/sdp", NULL, "v=0\r\na=key-mgmt:mikey QU*D\r\n", EXTRACT_E_BASE64, 24);
	expect_fail("application/sdp", NULL, "v=0\r\na=key-mgmt:mikey QUJ\r\n", EXTRACT_E_BASE64, 25);
	expect_fail("application/sdp", NULL, "v=0\r\na=key-mgmt:mikey QUJD-x\r\n", EXTRACT_E_BASE64, 26);
	expect_fail("application/sdp", NULL, "v=0\r\na=key-mgmt:mikey\r\n", EXTRACT_E_KEYMGMT, 5);
	expect_fail("application/sdp", NULL, "v=0\r\na=key-mgmt:MIKEY   \r\n", EXTRACT_E_KEYMGMT, 5);

	char many[2048] = "v=0\r\n";
	for (int i = 0; i <= EXTRACT_MAX_ITEMS; i++)
		strcat(many, "a=key-mgmt:mikey QUJD\r\n");
	/* Reported where the seventeenth I_MESSAGE's base64 starts. */
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
	extract_result_clear(&x.res);

	extract("Application/MIKEY", "BASE64", "QUJD\r\nREVG\r\n", &x);
	ck_assert_int_eq(x.rc, 0);
	item_is(&x, 0, EXTRACT_MIKEY_BODY, "ABCDEF");
	extract_result_clear(&x.res);

	extract("application/mikey", "binary", "xyz", &x);
	ck_assert_int_eq(x.rc, 0);
	item_is(&x, 0, EXTRACT_MIKEY_BODY, "xyz");
	extract_result_clear(&x.res);

	expect_fail("application/mikey", "quoted-printable", "xyz", EXTRACT_E_TRANSFER, 0);
	expect_fail("application/mikey", "base64", "QUJD!", EXTRACT_E_BASE64, 4);
	/* Without Content-Type nothing says what a body is: it cannot be inspected. */
	expect_fail(NULL, NULL, "a=key-mgmt:mikey QUJD", EXTRACT_E_NO_TYPE, 0);
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
	/* Decoded data is reported where its encoded form starts. */
	ck_assert_uint_eq(x.res.item[1].offset, strstr(MULTIPART, "REVGRw") - MULTIPART);
	extract_result_clear(&x.res);

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
	extract_result_clear(&x.res);

	/* Quoted boundary among other parameters, in any case; LF line ends; compact part header names. */
	extract("Multipart/Mixed; foo=bar; BOUNDARY = \"b1\"", NULL, MULTIPART, &x);
	ck_assert_int_eq(x.rc, 0);
	ck_assert_uint_eq(x.res.n, 2);
	extract_result_clear(&x.res);
	extract("multipart/related;boundary=q", NULL,
	    "--q\nc: application/sdp\n\na=key-mgmt:mikey QUJD\n--q\nContent-Type: application/sdp\n"
	    "Content-Transfer-Encoding: base64\n\nYT1rZXktbWdtdDptaWtleSBSRVZHUnc9PQ==\n--q--\n", &x);
	ck_assert_int_eq(x.rc, 0);
	ck_assert_uint_eq(x.res.n, 2);
	item_is(&x, 0, EXTRACT_SDP_SESSION, "ABC");
	item_is(&x, 1, EXTRACT_SDP_SESSION, "DEFG");	/* an SDP part in base64 */
	extract_result_clear(&x.res);
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
	extract_result_clear(&x.res);
}
END_TEST

START_TEST(test_multipart_errors)
{
	expect_fail("multipart/mixed", NULL, MULTIPART, EXTRACT_E_BOUNDARY, 0);
	expect_fail("multipart/mixed; boundary=\"b1", NULL, MULTIPART, EXTRACT_E_BOUNDARY, 0);
	expect_fail("multipart/mixed; boundary=", NULL, MULTIPART, EXTRACT_E_BOUNDARY, 0);
	expect_fail("multipart/mixed; boundary=\"b\\1\"", NULL, MULTIPART, EXTRACT_E_BOUNDARY, 0);
	expect_fail("multipart/mixed; boundary=b1; boundary=b2", NULL, MULTIPART, EXTRACT_E_BOUNDARY, 0);
	/* No delimiter at all, and no close delimiter. */
	expect_fail("multipart/mixed; boundary=zz", NULL, MULTIPART, EXTRACT_E_MULTIPART, 0);
	static const char open_ended[] = "--b1\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n";
	expect_fail("multipart/mixed; boundary=b1", NULL, open_ended, EXTRACT_E_MULTIPART, sizeof(open_ended) - 1);
	/* A part without the empty line after its headers. */
	static const char no_blank[] = "--b1\r\nContent-Type: application/sdp\r\n--b1--\r\n";
	expect_fail("multipart/mixed; boundary=b1", NULL, no_blank, EXTRACT_E_MULTIPART, 6);
	/* A part without Content-Type, or with two. */
	static const char untyped[] = "--b1\r\n\r\na=key-mgmt:mikey QUJD\r\n--b1--\r\n";
	expect_fail("multipart/mixed; boundary=b1", NULL, untyped, EXTRACT_E_NO_TYPE, 8);
	static const char twice[] = "--b1\r\nContent-Type: text/plain\r\nc: application/sdp\r\n\r\nx\r\n--b1--\r\n";
	expect_fail("multipart/mixed; boundary=b1", NULL, twice, EXTRACT_E_PART_HEADERS, strstr(twice, "c:") - twice);
	/* A bad part is reported at its offset in the outer body. */
	static const char bad_part[] =
	    "--b1\r\nContent-Type: application/sdp\r\n\r\na=key-mgmt:mikey QU%D\r\n--b1--\r\n";
	expect_fail("multipart/mixed; boundary=b1", NULL, bad_part, EXTRACT_E_BASE64, strchr(bad_part, '%') - bad_part);

	/* Nesting beyond EXTRACT_MAX_DEPTH. */
	char deep[4096] = "", tail[2048] = "";
	for (int i = 0; i <= EXTRACT_MAX_DEPTH; i++) {
		sprintf(deep + strlen(deep), "--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n", i, i + 1);
		char t[2048];
		snprintf(t, sizeof(t), "\r\n--b%d--\r\n%s", i, tail);
		strcpy(tail, t);
	}
	sprintf(deep + strlen(deep), "--b%d\r\nContent-Type: text/plain\r\n\r\nx\r\n--b%d--%s", EXTRACT_MAX_DEPTH + 1,
	    EXTRACT_MAX_DEPTH + 1, tail);
	char at[8];
	snprintf(at, sizeof(at), "--b%d", EXTRACT_MAX_DEPTH);
	expect_fail("multipart/mixed; boundary=b0", NULL, deep, EXTRACT_E_DEPTH, strstr(deep, at) - deep);
}
END_TEST

/* ---- content codings ---- */

/* data compressed as gzip (wbits 31), zlib (15) or raw deflate (-15) into out; its length. */
static size_t squeeze(const char *data, size_t len, int wbits, uint8_t *out, size_t cap)
{
	z_stream z;

	memset(&z, 0, sizeof(z));
	ck_assert_int_eq(deflateInit2(&z, 9, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY), Z_OK);
	z.next_in = (Bytef *)(uintptr_t)data;
	z.avail_in = (uInt)len;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	ck_assert_int_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
	size_t n = cap - z.avail_out;
	deflateEnd(&z);
	return n;
}

START_TEST(test_content_encoding)
{
	static const char sdp[] = "v=0\r\na=key-mgmt:mikey QUJD\r\n";
	uint8_t z[512], zz[1024];
	struct extracted x;

	for (int k = 0; k < 3; k++) {
		int wbits = k == 0 ? 31 : k == 1 ? 15 : -15;
		size_t n = squeeze(sdp, strlen(sdp), wbits, z, sizeof(z));
		extract_full("application/sdp", k == 0 ? "GZIP" : "deflate", NULL, z, n, &x);
		ck_assert_msg(x.rc == 0, "wbits %d: %s", wbits, extract_strerror(x.err.code));
		ck_assert_uint_eq(x.res.n, 1);
		item_is(&x, 0, EXTRACT_SDP_SESSION, "ABC");
		ck_assert_uint_eq(x.res.item[0].offset, 0);	/* decoded: where the body starts */
		extract_result_clear(&x.res);
	}
	/* Two codings, applied in order: undone from the last. */
	size_t n = squeeze(sdp, strlen(sdp), 31, z, sizeof(z));
	size_t n2 = squeeze((const char *)z, n, 15, zz, sizeof(zz));
	extract_full("application/sdp", "gzip, deflate", NULL, zz, n2, &x);
	ck_assert_int_eq(x.rc, 0);
	ck_assert_uint_eq(x.res.n, 1);
	extract_result_clear(&x.res);
	extract_full("application/sdp", "identity", NULL, sdp, strlen(sdp), &x);
	ck_assert_uint_eq(x.res.n, 1);
	extract_result_clear(&x.res);
	/* Two gzip members one after the other read as one (gunzip does). */
	size_t m = squeeze("v=0\r\n", 5, 31, z, sizeof(z));
	m += squeeze("a=key-mgmt:mikey QUJD\r\n", 23, 31, z + m, sizeof(z) - m);
	extract_full("application/sdp", "gzip", NULL, z, m, &x);
	ck_assert_int_eq(x.rc, 0);
	ck_assert_uint_eq(x.res.n, 1);
	extract_result_clear(&x.res);

	/* What cannot be undone cannot be inspected. */
	expect_fail_full("application/sdp", "br", NULL, sdp, strlen(sdp), EXTRACT_E_CODING, 0);
	expect_fail_full("application/sdp", "gzip", NULL, sdp, strlen(sdp), EXTRACT_E_COMPRESSED, 0);
	expect_fail_full("application/sdp", "gzip", NULL, z, m - 3, EXTRACT_E_COMPRESSED, 0);
	expect_fail_full("application/sdp", "gzip,gzip,gzip,gzip,gzip", NULL, z, m, EXTRACT_E_CODING, 0);
	ck_assert(extract_err_is_coding(EXTRACT_E_CODING) && extract_err_is_coding(EXTRACT_E_BOMB) &&
	    !extract_err_is_coding(EXTRACT_E_BASE64));
	/* Trailing octets after the deflate stream. */
	n = squeeze(sdp, strlen(sdp), 15, z, sizeof(z));
	memcpy(z + n, "junk", 4);
	expect_fail_full("application/sdp", "deflate", NULL, z, n + 4, EXTRACT_E_COMPRESSED, 0);
	/* A body of no interest is not decoded at all. */
	extract_full("text/plain", "br", NULL, "x", 1, &x);
	ck_assert_int_eq(x.rc, 0);
	ck_assert_uint_eq(x.res.n, 0);
}
END_TEST

START_TEST(test_bomb)
{
	/* 4 MiB of blanks inflate past the bound: refused, not allocated. */
	size_t big = 4u << 20;
	char *blank = malloc(big);
	uint8_t *z = malloc(64 * 1024);
	ck_assert_ptr_nonnull(blank);
	ck_assert_ptr_nonnull(z);
	memset(blank, ' ', big);
	size_t n = squeeze(blank, big, 31, z, 64 * 1024);
	expect_fail_full("application/sdp", "gzip", NULL, z, n, EXTRACT_E_BOMB, 0);
	free(z);
	free(blank);

	uint8_t *out;
	size_t out_len;
	ck_assert_int_eq(coding_inflate(CODING_GZIP, (const uint8_t *)"", 0, 100, &out, &out_len), -EBADMSG);
	ck_assert_int_eq(coding_inflate(CODING_BASE64, (const uint8_t *)"x", 1, 100, &out, &out_len), -EINVAL);
	ck_assert_int_eq(coding_of((struct strv){ "X-GZIP", 6 }), CODING_GZIP);
	ck_assert_int_eq(coding_of((struct strv){ "compress", 8 }), CODING_UNKNOWN);
}
END_TEST

START_TEST(test_limits)
{
	size_t len = EXTRACT_MAX_BODY + 1;
	uint8_t *body = calloc(len, 1);

	expect_fail_full("application/sdp", NULL, NULL, body, len, EXTRACT_E_TOO_LARGE, EXTRACT_MAX_BODY);
	free(body);
	for (int e = EXTRACT_OK; e <= EXTRACT_E_NOMEM; e++)
		ck_assert_str_ne(extract_strerror(e), "unknown error");
	ck_assert_str_eq(extract_source_name(EXTRACT_SDP_MEDIA), "sdp-media");
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
	tcase_add_test(tc, test_sdp_liberal);
	tcase_add_test(tc, test_sdp_errors);
	suite_add_tcase(s, tc);
	tc = tcase_create("bodies");
	tcase_add_test(tc, test_mikey_body);
	tcase_add_test(tc, test_multipart);
	tcase_add_test(tc, test_multipart_nested);
	tcase_add_test(tc, test_multipart_errors);
	tcase_add_test(tc, test_limits);
	suite_add_tcase(s, tc);
	tc = tcase_create("codings");
	tcase_add_test(tc, test_content_encoding);
	tcase_add_test(tc, test_bomb);
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
