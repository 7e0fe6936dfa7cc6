/* Unit tests of the MIKEY decoder and encoder: every payload, every error, the vendor vector. */
#include "config.h"

#include <errno.h>

#include "b64.h"
#include "mikey.h"
#include "testutil.h"

static const char IDRI[] = "sip:alice@mcx.home.example";
static const char IDRR[] = "sip:bob@mcx.partner.example";
static const char KMSI[] = "kms.home.example";
static const char KMSR[] = "kms.partner.example";
static uint8_t RAND16[16] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 };
static uint8_t SAKKE[MIKEY_SAKKE_SET1_LEN] = { 0x04 };
static uint8_t SIG[0x1000];	/* room for any SIGN length field */

static struct mikey_view sv(const char *s)
{
	return (struct mikey_view){ (const uint8_t *)s, strlen(s) };
}

static struct mikey_hdr std_hdr(void)
{
	return (struct mikey_hdr){
		.version = 1, .data_type = MIKEY_DATA_SAKKE, .prf = 1, .csb_id = 0x16992638,
		.cs_count = 0, .map_type = MIKEY_MAP_EMPTY,
	};
}

static struct mikey_payload pl_t(void)
{
	struct mikey_payload p = { .type = MIKEY_PT_T };
	p.u.t.ts_type = MIKEY_TS_NTP_UTC;
	p.u.t.value = 0xe8fe6f8000000000ull;
	return p;
}

static struct mikey_payload pl_rand(void)
{
	struct mikey_payload p = { .type = MIKEY_PT_RAND };
	p.u.rand.rand = (struct mikey_view){ RAND16, 16 };
	return p;
}

static struct mikey_payload pl_idr(uint8_t role, const char *v)
{
	struct mikey_payload p = { .type = MIKEY_PT_IDR };
	p.u.idr.role = role;
	p.u.idr.id_type = MIKEY_ID_URI;
	p.u.idr.data = sv(v);
	return p;
}

static struct mikey_payload pl_sakke(size_t len)
{
	struct mikey_payload p = { .type = MIKEY_PT_SAKKE };
	p.u.sakke.params = 1;
	p.u.sakke.id_scheme = 2;
	p.u.sakke.data = (struct mikey_view){ SAKKE, len };
	return p;
}

static struct mikey_payload pl_sign(size_t len)
{
	struct mikey_payload p = { .type = MIKEY_PT_SIGN };
	p.u.sign.sign_type = MIKEY_SIGN_ECCSI;
	p.u.sign.sig = (struct mikey_view){ SIG, len };
	return p;
}

/* The synthetic PCK I_MESSAGE of spec-notes 1.7: HDR T RAND IDRi IDRr IDRkmsi IDRkmsr SAKKE SIGN. */
static size_t std_payloads(struct mikey_payload *pl)
{
	size_t n = 0;
	pl[n++] = pl_t();
	pl[n++] = pl_rand();
	pl[n++] = pl_idr(MIKEY_ROLE_IDRI, IDRI);
	pl[n++] = pl_idr(MIKEY_ROLE_IDRR, IDRR);
	pl[n++] = pl_idr(MIKEY_ROLE_IDRKMSI, KMSI);
	pl[n++] = pl_idr(MIKEY_ROLE_IDRKMSR, KMSR);
	pl[n++] = pl_sakke(MIKEY_SAKKE_SET1_LEN);
	pl[n++] = pl_sign(MIKEY_ECCSI_SIG_LEN);
	return n;
}

static size_t encode(const struct mikey_hdr *h, const struct mikey_payload *pl, size_t n,
    uint8_t *out, size_t cap)
{
	size_t len = 0;
	struct mikey_error err = { 0, 0 };
	int rc = mikey_encode(h, pl, n, out, cap, &len, &err);
	ck_assert_msg(rc == 0, "encode failed: %s at %zu", mikey_strerror(err.code), err.offset);
	return len;
}

static size_t std_message(uint8_t *out, size_t cap)
{
	struct mikey_payload pl[MIKEY_MAX_PAYLOADS];
	struct mikey_hdr h = std_hdr();
	return encode(&h, pl, std_payloads(pl), out, cap);
}

static void expect_error(const uint8_t *buf, size_t len, enum mikey_err code, size_t offset)
{
	struct mikey_msg m;
	struct mikey_error err = { MIKEY_OK, 0 };

	m.n_pl = 12345;		/* untouched on failure */
	int rc = mikey_decode(buf, len, &m, &err);
	ck_assert_msg(rc < 0, "decoded, expected %s", mikey_err_name(code));
	ck_assert_msg(err.code == code, "error %s at %zu, expected %s at %zu",
	    mikey_err_name(err.code), err.offset, mikey_err_name(code), offset);
	ck_assert_uint_eq(err.offset, offset);
	ck_assert_uint_eq(m.n_pl, 12345);
	ck_assert(rc == -EBADMSG || rc == -EPROTO);
}

static void decode_ok(const uint8_t *buf, size_t len, struct mikey_msg *m)
{
	struct mikey_error err = { MIKEY_OK, 0 };
	int rc = mikey_decode(buf, len, m, &err);
	ck_assert_msg(rc == 0, "decode failed: %s at %zu", mikey_err_name(err.code), err.offset);
}

static void assert_view(struct mikey_view v, const char *s)
{
	ck_assert_uint_eq(v.len, strlen(s));
	ck_assert_mem_eq(v.ptr, s, v.len);
}

/* ---- encoder against the worked example (spec-notes 1.7) ---- */

START_TEST(test_encode_worked_example)
{
	uint8_t b[1024];
	size_t len = std_message(b, sizeof(b));

	ck_assert_uint_eq(len, 555);
	/* HDR: v1, SAKKE, next T, PRF 1, CSB ID, #CS 0, empty map. */
	static const uint8_t hdr[] = { 0x01, 0x1a, 0x05, 0x01, 0x16, 0x99, 0x26, 0x38, 0x00, 0x01 };
	ck_assert_mem_eq(b, hdr, sizeof(hdr));
	/* T: next RAND, NTP-UTC, 2023-11-14 22:13:20Z. */
	static const uint8_t t[] = { 0x0b, 0x00, 0xe8, 0xfe, 0x6f, 0x80, 0, 0, 0, 0 };
	ck_assert_mem_eq(b + 10, t, sizeof(t));
	ck_assert_uint_eq(b[20], 0x0e);
	ck_assert_uint_eq(b[21], 0x10);
	static const uint8_t idri[] = { 0x0e, 0x01, 0x01, 0x00, 0x1a };
	ck_assert_mem_eq(b + 38, idri, 5);
	ck_assert_mem_eq(b + 43, IDRI, 26);
	static const uint8_t idrr[] = { 0x0e, 0x02, 0x01, 0x00, 0x1b };
	ck_assert_mem_eq(b + 69, idrr, 5);
	static const uint8_t kmsi[] = { 0x0e, 0x06, 0x01, 0x00, 0x10 };
	ck_assert_mem_eq(b + 101, kmsi, 5);
	ck_assert_mem_eq(b + 106, KMSI, 16);
	static const uint8_t kmsr[] = { 0x1a, 0x07, 0x01, 0x00, 0x13 };
	ck_assert_mem_eq(b + 122, kmsr, 5);
	static const uint8_t sakke[] = { 0x04, 0x01, 0x02, 0x01, 0x11 };
	ck_assert_mem_eq(b + 146, sakke, 5);
	static const uint8_t sign[] = { 0x20, 0x81 };
	ck_assert_mem_eq(b + 424, sign, 2);
}
END_TEST

START_TEST(test_encode_sizes_and_errors)
{
	struct mikey_payload pl[MIKEY_MAX_PAYLOADS];
	struct mikey_hdr h = std_hdr();
	struct mikey_error err;
	uint8_t b[1024];
	size_t n = std_payloads(pl), len = 0;

	/* Size query and a buffer one octet short. */
	ck_assert_int_eq(mikey_encode(&h, pl, n, NULL, 0, &len, NULL), -ENOSPC);
	ck_assert_uint_eq(len, 555);
	ck_assert_int_eq(mikey_encode(&h, pl, n, b, 554, &len, &err), -ENOSPC);
	ck_assert_int_eq(err.code, MIKEY_E_NOSPACE);
	ck_assert_int_eq(mikey_encode(&h, pl, n, b, 555, &len, NULL), 0);

	/* SIGN has no next-payload octet: nothing may follow it. */
	struct mikey_payload swapped[2] = { pl_sign(MIKEY_ECCSI_SIG_LEN), pl_t() };
	ck_assert_int_eq(mikey_encode(&h, swapped, 2, b, sizeof(b), &len, &err), -EINVAL);
	ck_assert_int_eq(err.code, MIKEY_E_SIGN_NOT_LAST);
	ck_assert_uint_eq(err.offset, 10);

	/* Fields wider than their wire format. */
	struct mikey_payload big = pl_rand();
	big.u.rand.rand.len = 256;
	ck_assert_int_eq(mikey_encode(&h, &big, 1, b, sizeof(b), &len, &err), -EINVAL);
	ck_assert_int_eq(err.code, MIKEY_E_BAD_ARG);
	struct mikey_payload sig = pl_sign(0x1000);
	ck_assert_int_eq(mikey_encode(&h, &sig, 1, b, sizeof(b), &len, &err), -EINVAL);
	struct mikey_payload ts = pl_t();
	ts.u.t.ts_type = 7;
	ck_assert_int_eq(mikey_encode(&h, &ts, 1, b, sizeof(b), &len, &err), -EINVAL);
	struct mikey_payload unknown = { .type = 99 };
	ck_assert_int_eq(mikey_encode(&h, &unknown, 1, b, sizeof(b), &len, &err), -EINVAL);
	ck_assert_int_eq(err.code, MIKEY_E_BAD_ARG);
	h.prf = 0x80;
	ck_assert_int_eq(mikey_encode(&h, pl, n, b, sizeof(b), &len, &err), -EINVAL);
}
END_TEST

/* ---- decoding every payload ---- */

START_TEST(test_decode_standard)
{
	uint8_t b[1024];
	size_t len = std_message(b, sizeof(b));
	struct mikey_msg m;

	decode_ok(b, len, &m);
	ck_assert_uint_eq(m.hdr.version, 1);
	ck_assert_uint_eq(m.hdr.data_type, MIKEY_DATA_SAKKE);
	ck_assert(!m.hdr.v);
	ck_assert_uint_eq(m.hdr.prf, 1);
	ck_assert_uint_eq(m.hdr.csb_id, 0x16992638);
	ck_assert_uint_eq(m.hdr.map_type, MIKEY_MAP_EMPTY);
	ck_assert_uint_eq(m.hdr.map_info.len, 0);
	ck_assert_uint_eq(m.n_pl, 8);
	ck_assert_int_eq(m.t, 0);
	ck_assert_uint_eq(m.pl[m.t].u.t.value, 0xe8fe6f8000000000ull);
	ck_assert_uint_eq(mikey_ntp_seconds(m.pl[m.t].u.t.value), 0xe8fe6f80u);
	ck_assert_mem_eq(m.pl[m.rand].u.rand.rand.ptr, RAND16, 16);
	assert_view(mikey_idr(&m, MIKEY_ROLE_IDRI)->u.idr.data, IDRI);
	assert_view(mikey_idr(&m, MIKEY_ROLE_IDRR)->u.idr.data, IDRR);
	assert_view(mikey_idr(&m, MIKEY_ROLE_IDRKMSI)->u.idr.data, KMSI);
	assert_view(mikey_idr(&m, MIKEY_ROLE_IDRKMSR)->u.idr.data, KMSR);
	ck_assert_ptr_null(mikey_idr(&m, MIKEY_ROLE_IDRUIDI));
	ck_assert_ptr_null(mikey_idr(&m, 42));
	ck_assert_uint_eq(m.pl[m.sakke].u.sakke.data.len, 273);
	ck_assert_uint_eq(m.pl[m.sakke].offset, 146);
	ck_assert_uint_eq(m.pl[m.sign].offset, 424);
	ck_assert_uint_eq(m.pl[m.sign].length, 131);
	ck_assert_uint_eq(m.pl[m.sign].u.sign.sign_type, MIKEY_SIGN_ECCSI);
	/* The ECCSI signature covers everything up to and including the SIGN header. */
	ck_assert_ptr_eq(m.signed_span.ptr, b);
	ck_assert_uint_eq(m.signed_span.len, 426);
	ck_assert_uint_eq(m.whole.len, 555);
}
END_TEST

/* Every optional payload, in an order unlike the usual one, with every ID role. */
START_TEST(test_decode_every_payload)
{
	static const uint8_t sp_params[] = { 0, 1, 2, 1, 1, 1 };
	static const uint8_t ext[] = { 0xaa, 0xbb };
	static const uint8_t cert[] = { 0x30, 0x00 };
	struct mikey_payload pl[MIKEY_MAX_PAYLOADS];
	struct mikey_hdr h = std_hdr();
	uint8_t b[2048];
	size_t n = 0;

	pl[n++] = pl_rand();
	for (uint8_t role = 1; role <= MIKEY_ROLE_MAX; role++)
		pl[n++] = pl_idr(role, role == 4 ? "psk" : "x@example");
	pl[n] = (struct mikey_payload){ .type = MIKEY_PT_SP };
	pl[n].u.sp.policy_no = 3;
	pl[n].u.sp.prot_type = 0;
	pl[n++].u.sp.params = (struct mikey_view){ sp_params, sizeof(sp_params) };
	pl[n] = (struct mikey_payload){ .type = MIKEY_PT_GENEXT };
	pl[n].u.ext.ext_type = 7;
	pl[n++].u.ext.data = (struct mikey_view){ ext, sizeof(ext) };
	pl[n] = (struct mikey_payload){ .type = MIKEY_PT_CERT };
	pl[n].u.cert.cert_type = 0;
	pl[n++].u.cert.data = (struct mikey_view){ cert, sizeof(cert) };
	pl[n] = (struct mikey_payload){ .type = MIKEY_PT_ID };
	pl[n].u.id.id_type = MIKEY_ID_NAI;
	pl[n++].u.id.data = sv("alice@example");
	pl[n] = pl_t();
	pl[n].u.t.ts_type = MIKEY_TS_COUNTER;
	pl[n++].u.t.value = 0xdeadbeef;
	pl[n++] = pl_sakke(MIKEY_SAKKE_SET1_LEN);
	pl[n++] = pl_sign(MIKEY_ECCSI_SIG_LEN);

	size_t len = encode(&h, pl, n, b, sizeof(b));
	struct mikey_msg m;
	decode_ok(b, len, &m);
	ck_assert_uint_eq(m.n_pl, n);
	for (size_t i = 0; i < n; i++)
		ck_assert_uint_eq(m.pl[i].type, pl[i].type);
	for (uint8_t role = 1; role <= MIKEY_ROLE_MAX; role++)
		ck_assert_int_eq(m.idr[role], role);
	const struct mikey_payload *sp = &m.pl[10], *ge = &m.pl[11], *ce = &m.pl[12], *id = &m.pl[13];
	ck_assert_uint_eq(sp->u.sp.policy_no, 3);
	ck_assert_mem_eq(sp->u.sp.params.ptr, sp_params, sizeof(sp_params));
	ck_assert_uint_eq(ge->u.ext.ext_type, 7);
	ck_assert_mem_eq(ge->u.ext.data.ptr, ext, 2);
	ck_assert_uint_eq(ce->u.cert.data.len, 2);
	assert_view(id->u.id.data, "alice@example");
	ck_assert_uint_eq(m.pl[m.t].u.t.ts_type, MIKEY_TS_COUNTER);
	ck_assert_uint_eq(m.pl[m.t].u.t.value, 0xdeadbeef);
	ck_assert_uint_eq(m.pl[m.t].length, 6);

	/* Re-encoding what was decoded gives the same octets. */
	uint8_t again[2048];
	ck_assert_uint_eq(encode(&m.hdr, m.pl, m.n_pl, again, sizeof(again)), len);
	ck_assert_mem_eq(again, b, len);
}
END_TEST

START_TEST(test_decode_ntp_timestamp_types)
{
	struct mikey_payload pl[2] = { pl_t(), pl_sign(MIKEY_ECCSI_SIG_LEN) };
	struct mikey_hdr h = std_hdr();
	uint8_t b[256];
	struct mikey_msg m;

	pl[0].u.t.ts_type = MIKEY_TS_NTP;
	pl[0].u.t.value = 0x0123456789abcdefull;
	decode_ok(b, encode(&h, pl, 2, b, sizeof(b)), &m);
	ck_assert_uint_eq(m.pl[0].u.t.ts_type, MIKEY_TS_NTP);
	ck_assert_uint_eq(m.pl[0].u.t.value, 0x0123456789abcdefull);
	ck_assert_uint_eq(m.pl[0].length, 10);
}
END_TEST

/* CS ID map types 0 (SRTP-ID) and 2 (GENERIC-ID), with their entries. */
START_TEST(test_decode_cs_maps)
{
	static const uint8_t srtp[] = {
		1, 0x11, 0x22, 0x33, 0x44, 0, 0, 0, 5,
		2, 0xaa, 0xbb, 0xcc, 0xdd, 0, 0, 0, 6,
	};
	/* CS 1: prot 0, S=1 #P=2 (P 7, 8), session data 2 octets, SPI 8 octets; CS 2: empty. */
	static const uint8_t generic[] = {
		1, 0, 0x82, 7, 8, 0, 2, 0xde, 0xad, 8, 1, 2, 3, 4, 5, 6, 7, 8,
		2, 0, 0x00, 0, 0, 0,
	};
	struct mikey_payload pl[1] = { pl_sign(MIKEY_ECCSI_SIG_LEN) };
	struct mikey_hdr h = std_hdr();
	struct mikey_srtp_cs s;
	struct mikey_generic_cs g;
	struct mikey_msg m;
	uint8_t b[256];

	h.map_type = MIKEY_MAP_SRTP;
	h.cs_count = 2;
	h.map_info = (struct mikey_view){ srtp, sizeof(srtp) };
	decode_ok(b, encode(&h, pl, 1, b, sizeof(b)), &m);
	ck_assert_uint_eq(m.hdr.map_info.len, 18);
	ck_assert_int_eq(mikey_srtp_cs_get(&m.hdr, 1, &s), 0);
	ck_assert_uint_eq(s.policy_no, 2);
	ck_assert_uint_eq(s.ssrc, 0xaabbccdd);
	ck_assert_uint_eq(s.roc, 6);
	ck_assert_int_eq(mikey_srtp_cs_get(&m.hdr, 2, &s), -ENOENT);
	ck_assert_int_eq(mikey_generic_cs_get(&m.hdr, 0, &g), -ENOENT);
	ck_assert_uint_eq(m.pl[0].offset, 10 + 18);

	h.map_type = MIKEY_MAP_GENERIC;
	h.map_info = (struct mikey_view){ generic, sizeof(generic) };
	decode_ok(b, encode(&h, pl, 1, b, sizeof(b)), &m);
	ck_assert_int_eq(mikey_generic_cs_get(&m.hdr, 0, &g), 0);
	ck_assert_uint_eq(g.cs_id, 1);
	ck_assert(g.s);
	ck_assert_uint_eq(g.ps.len, 2);
	ck_assert_uint_eq(g.ps.ptr[1], 8);
	ck_assert_uint_eq(g.session_data.len, 2);
	ck_assert_uint_eq(g.spi.len, 8);
	ck_assert_int_eq(mikey_generic_cs_get(&m.hdr, 1, &g), 0);
	ck_assert_uint_eq(g.cs_id, 2);
	ck_assert_uint_eq(g.spi.len, 0);
	ck_assert_uint_eq(m.pl[0].offset, 10 + sizeof(generic));

	/* A GENERIC-ID map cut short: its entry's lengths run past the end. */
	h.map_info.len = 12;
	expect_error(b, encode(&h, NULL, 0, b, sizeof(b)), MIKEY_E_TRUNCATED, 20);
}
END_TEST

/* A message of another data type need not be signed; an I_MESSAGE must be. */
START_TEST(test_decode_unsigned)
{
	struct mikey_payload pl[1] = { pl_t() };
	struct mikey_hdr h = std_hdr();
	struct mikey_msg m;
	uint8_t b[64];

	size_t len = encode(&h, pl, 1, b, sizeof(b));
	expect_error(b, len, MIKEY_E_NO_SIGN, 20);
	b[1] = 27;
	decode_ok(b, len, &m);
	ck_assert_int_eq(m.sign, -1);
	ck_assert_uint_eq(m.signed_span.len, 0);
}
END_TEST

/* ---- errors: each named, at its offset ---- */

struct mutation {
	const char *what;
	size_t at;		/* octet to change in the standard message */
	uint8_t value;
	enum mikey_err code;
	size_t offset;
};

static const struct mutation mutations[] = {
	{ "version 2", 0, 2, MIKEY_E_VERSION, 0 },
	{ "version 0", 0, 0, MIKEY_E_VERSION, 0 },
	{ "CS ID map type 3", 9, 3, MIKEY_E_MAP_TYPE, 9 },
	{ "first payload unknown (99)", 2, 99, MIKEY_E_UNKNOWN_PAYLOAD, 10 },
	{ "first payload 18 unknown", 2, 18, MIKEY_E_UNKNOWN_PAYLOAD, 10 },
	{ "first payload KEMAC", 2, MIKEY_PT_KEMAC, MIKEY_E_UNSUPPORTED_PAYLOAD, 10 },
	{ "first payload DH", 2, MIKEY_PT_DH, MIKEY_E_UNSUPPORTED_PAYLOAD, 10 },
	{ "first payload ERR", 2, MIKEY_PT_ERR, MIKEY_E_UNSUPPORTED_PAYLOAD, 10 },
	{ "RAND's next is unknown (200)", 20, 200, MIKEY_E_UNKNOWN_PAYLOAD, 38 },
	{ "timestamp type 3", 11, 3, MIKEY_E_TS_TYPE, 11 },
	{ "IDR role 0", 39, 0, MIKEY_E_ROLE, 39 },
	{ "IDR role 10", 39, 10, MIKEY_E_ROLE, 39 },
	{ "IDR ID type 3", 40, 3, MIKEY_E_ID_TYPE, 40 },
	{ "IDRr repeats IDRi's role", 70, 1, MIKEY_E_DUP_ROLE, 69 },
	{ "IDRkmsr repeats IDRkmsi's role", 123, 6, MIKEY_E_DUP_ROLE, 122 },
	{ "IDRi length past the end", 41, 0xff, MIKEY_E_TRUNCATED, 43 },
	{ "RAND length eats into SAKKE data", 21, 0xff, MIKEY_E_ROLE, 278 },
	{ "SAKKE length 272", 150, 0x10, MIKEY_E_SAKKE_LEN, 149 },
	{ "ECCSI signature length 128", 425, 0x80, MIKEY_E_SIGN_LEN, 424 },
	{ "ECCSI signature length 130", 425, 0x82, MIKEY_E_TRUNCATED, 426 },
	{ "S type 1 with 129 octets passes to trailing check", 424, 0x10, MIKEY_OK, 0 },
	{ "SAKKE's next is LAST: SIGN bytes trail", 146, 0, MIKEY_E_TRAILING, 424 },
	{ "T's next is SIGN: garbage signature header", 10, MIKEY_PT_SIGN, MIKEY_E_TRUNCATED, 22 },
};

START_TEST(test_mutation)
{
	const struct mutation *mu = &mutations[_i];
	uint8_t b[1024];
	size_t len = std_message(b, sizeof(b));
	struct mikey_msg m;

	b[mu->at] = mu->value;
	if (mu->code == MIKEY_OK) {
		decode_ok(b, len, &m);
		return;
	}
	expect_error(b, len, mu->code, mu->offset);
	ck_assert_str_ne(mikey_err_name(mu->code), "unknown");
}
END_TEST

START_TEST(test_signature_length)
{
	struct mikey_payload pl[MIKEY_MAX_PAYLOADS];
	struct mikey_hdr h = std_hdr();
	uint8_t b[1024];
	size_t n = std_payloads(pl);

	pl[n - 1] = pl_sign(128);
	expect_error(b, encode(&h, pl, n, b, sizeof(b)), MIKEY_E_SIGN_LEN, 424);
	pl[n - 1] = pl_sign(0);
	expect_error(b, encode(&h, pl, n, b, sizeof(b)), MIKEY_E_SIGN_LEN, 424);
	/* Other signature types carry their own length. */
	pl[n - 1] = pl_sign(256);
	pl[n - 1].u.sign.sign_type = MIKEY_SIGN_RSA_PKCS1;
	struct mikey_msg m;
	decode_ok(b, encode(&h, pl, n, b, sizeof(b)), &m);
	ck_assert_uint_eq(m.pl[m.sign].u.sign.sig.len, 256);
}
END_TEST

START_TEST(test_sakke_length)
{
	struct mikey_payload pl[MIKEY_MAX_PAYLOADS];
	struct mikey_hdr h = std_hdr();
	uint8_t b[1024];
	size_t n = std_payloads(pl);
	struct mikey_msg m;

	pl[6] = pl_sakke(100);
	expect_error(b, encode(&h, pl, n, b, sizeof(b)), MIKEY_E_SAKKE_LEN, 149);
	/* An unknown parameter set is not ours to size. */
	pl[6].u.sakke.params = 2;
	decode_ok(b, encode(&h, pl, n, b, sizeof(b)), &m);
	ck_assert_uint_eq(m.pl[m.sakke].u.sakke.data.len, 100);
}
END_TEST

START_TEST(test_duplicate_payloads)
{
	struct mikey_payload pl[MIKEY_MAX_PAYLOADS];
	struct mikey_hdr h = std_hdr();
	uint8_t b[1024];
	size_t n = std_payloads(pl);

	/* A second T, RAND or SAKKE before SIGN. */
	static const struct { uint8_t type; size_t at; } dup[] = {
		{ MIKEY_PT_T, 0 }, { MIKEY_PT_RAND, 1 }, { MIKEY_PT_SAKKE, 6 },
	};
	for (size_t k = 0; k < 3; k++) {
		struct mikey_payload more[MIKEY_MAX_PAYLOADS];
		memcpy(more, pl, n * sizeof(pl[0]));
		more[n - 1] = pl[dup[k].at];
		more[n] = pl[n - 1];
		size_t len = encode(&h, more, n + 1, b, sizeof(b));
		expect_error(b, len, MIKEY_E_DUP_PAYLOAD, 424);
	}
	/* SP, GEN EXT, CERT and ID may repeat. */
	struct mikey_payload rep[6];
	for (size_t k = 0; k < 5; k++) {
		rep[k] = (struct mikey_payload){ .type = MIKEY_PT_GENEXT };
		rep[k].u.ext.ext_type = (uint8_t)k;
	}
	rep[5] = pl_sign(MIKEY_ECCSI_SIG_LEN);
	struct mikey_msg m;
	decode_ok(b, encode(&h, rep, 6, b, sizeof(b)), &m);
	ck_assert_uint_eq(m.n_pl, 6);
}
END_TEST

START_TEST(test_too_many_and_too_long)
{
	struct mikey_payload pl[MIKEY_MAX_PAYLOADS + 1];
	struct mikey_hdr h = std_hdr();
	uint8_t b[1024];

	for (size_t k = 0; k <= MIKEY_MAX_PAYLOADS; k++)
		pl[k] = (struct mikey_payload){ .type = MIKEY_PT_GENEXT };
	size_t len = encode(&h, pl, MIKEY_MAX_PAYLOADS + 1, b, sizeof(b));
	expect_error(b, len, MIKEY_E_TOO_MANY, 10 + 4 * MIKEY_MAX_PAYLOADS);

	uint8_t *huge = calloc(MIKEY_MAX_MESSAGE + 1, 1);
	ck_assert_ptr_nonnull(huge);
	memcpy(huge, b, len);
	expect_error(huge, MIKEY_MAX_MESSAGE + 1, MIKEY_E_TOO_LONG, MIKEY_MAX_MESSAGE);
	free(huge);
}
END_TEST

/* Every prefix of a good message is truncated; every extension trails. */
START_TEST(test_truncation_sweep)
{
	uint8_t b[1024];
	size_t len = std_message(b, sizeof(b));
	struct mikey_msg m;
	struct mikey_error err;

	for (size_t k = 0; k < len; k++) {
		uint8_t *cut = malloc(k ? k : 1);	/* exact size: ASan sees overreads */
		ck_assert_ptr_nonnull(cut);
		memcpy(cut, b, k);
		ck_assert_int_eq(mikey_decode(cut, k, &m, &err), -EBADMSG);
		ck_assert_msg(err.code == MIKEY_E_TRUNCATED, "prefix %zu: %s", k, mikey_err_name(err.code));
		ck_assert_uint_le(err.offset, k);
		free(cut);
	}
	b[len] = 0;
	expect_error(b, len + 1, MIKEY_E_TRAILING, len);
	expect_error(b, 0, MIKEY_E_TRUNCATED, 0);
	expect_error(NULL, 0, MIKEY_E_TRUNCATED, 0);
}
END_TEST

/* ---- the real vendor I_MESSAGE (vectors/crypto.md 4.5 and 9) ---- */

START_TEST(test_vendor_vector)
{
	static const size_t offsets[] = { 10, 20, 38, 75, 112, 141, 170, 202, 480, 552 };
	static const uint8_t types[] = {
		MIKEY_PT_T, MIKEY_PT_RAND, MIKEY_PT_IDR, MIKEY_PT_IDR, MIKEY_PT_IDR,
		MIKEY_PT_IDR, MIKEY_PT_SP, MIKEY_PT_SAKKE, MIKEY_PT_GENEXT, MIKEY_PT_SIGN,
	};
	size_t tlen, blen, uid_len;
	char *text = data_file("vendor-pck.b64", &tlen);
	uint8_t *b = malloc(B64_DECODED_MAX(tlen));
	struct mikey_msg m;

	ck_assert_int_eq(b64_decode(text, tlen, b, &blen, NULL), 0);
	ck_assert_uint_eq(blen, 683);
	decode_ok(b, blen, &m);
	ck_assert_uint_eq(m.hdr.csb_id, 0x16992638);
	ck_assert_uint_eq(m.hdr.prf, 1);
	ck_assert_uint_eq(m.n_pl, 10);
	for (size_t i = 0; i < 10; i++) {
		ck_assert_uint_eq(m.pl[i].type, types[i]);
		ck_assert_uint_eq(m.pl[i].offset, offsets[i]);
	}
	ck_assert_uint_eq(mikey_ntp_seconds(m.pl[m.t].u.t.value), 0xEC898DA8u);
	uint8_t *uidi = hex_decode("B5C452309219DA6A3D805615548D6C1B0F4DE45A6B48FB13D9A24D857FC03DC4", &uid_len);
	ck_assert_mem_eq(mikey_idr(&m, MIKEY_ROLE_IDRUIDI)->u.idr.data.ptr, uidi, 32);
	uint8_t *uidr = hex_decode("780851CDA91A9C33F941CD3A2831697E2893264754E363F8A0CEF827EB201A81", &uid_len);
	ck_assert_mem_eq(mikey_idr(&m, MIKEY_ROLE_IDRUIDR)->u.idr.data.ptr, uidr, 32);
	assert_view(mikey_idr(&m, MIKEY_ROLE_IDRKMSI)->u.idr.data, "kms.mydev.streamwide.com");
	assert_view(mikey_idr(&m, MIKEY_ROLE_IDRKMSR)->u.idr.data, "kms.mydev.streamwide.com");
	ck_assert_ptr_null(mikey_idr(&m, MIKEY_ROLE_IDRI));
	ck_assert_uint_eq(m.pl[m.sakke].u.sakke.id_scheme, 2);
	ck_assert_uint_eq(m.pl[8].u.ext.ext_type, 7);
	ck_assert_uint_eq(m.pl[8].u.ext.data.len, 68);
	ck_assert_uint_eq(m.pl[6].u.sp.params.len, 27);
	/* Signed part = octets 0..553; the signature is the last 129 octets. */
	ck_assert_uint_eq(m.signed_span.len, 554);
	uint8_t *sig = hex_decode("403D6F6813D958339A12E67412F5B59B2731AFFAF58D021DAE5169B21BF39318", &uid_len);
	ck_assert_mem_eq(m.pl[m.sign].u.sign.sig.ptr, sig, 32);
	ck_assert_ptr_eq(m.pl[m.sign].u.sign.sig.ptr, b + 554);
	free(sig);
	free(uidi);
	free(uidr);
	free(b);
	free(text);
}
END_TEST

START_TEST(test_names)
{
	for (int e = 0; e < MIKEY_E__COUNT; e++) {
		ck_assert_str_ne(mikey_strerror(e), "unknown error");
		ck_assert_str_ne(mikey_err_name(e), "unknown");
	}
	ck_assert_str_eq(mikey_strerror(MIKEY_E__COUNT), "unknown error");
	ck_assert_str_eq(mikey_pt_name(MIKEY_PT_IDR), "IDR");
	ck_assert_str_eq(mikey_pt_name(200), "unknown");
	ck_assert_str_eq(mikey_role_name(MIKEY_ROLE_IDRKMSI), "IDRkmsi");
	ck_assert_str_eq(mikey_role_name(MIKEY_ROLE_IDRKMSR), "IDRkmsr");
	ck_assert_str_eq(mikey_role_name(0), "unknown");
	ck_assert_str_eq(mikey_ext_type_name(7), "3gpp-key-parameters");
	ck_assert_str_eq(mikey_ext_type_name(5), "unknown");
	ck_assert_str_eq(mikey_sign_type_name(MIKEY_SIGN_ECCSI), "ECCSI");
}
END_TEST

static Suite *mikey_suite(void)
{
	Suite *s = suite_create("mikey");
	TCase *tc;

	tc = tcase_create("encode");
	tcase_add_test(tc, test_encode_worked_example);
	tcase_add_test(tc, test_encode_sizes_and_errors);
	suite_add_tcase(s, tc);

	tc = tcase_create("decode");
	tcase_add_test(tc, test_decode_standard);
	tcase_add_test(tc, test_decode_every_payload);
	tcase_add_test(tc, test_decode_ntp_timestamp_types);
	tcase_add_test(tc, test_decode_cs_maps);
	tcase_add_test(tc, test_decode_unsigned);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_add_loop_test(tc, test_mutation, 0, sizeof(mutations) / sizeof(mutations[0]));
	tcase_add_test(tc, test_signature_length);
	tcase_add_test(tc, test_sakke_length);
	tcase_add_test(tc, test_duplicate_payloads);
	tcase_add_test(tc, test_too_many_and_too_long);
	tcase_add_test(tc, test_truncation_sweep);
	suite_add_tcase(s, tc);

	tc = tcase_create("vectors");
	tcase_add_test(tc, test_vendor_vector);
	tcase_add_test(tc, test_names);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(mikey_suite());
}
