/* mcx-sdtool mikey: decode I_MESSAGEs from any SIP set-up, and build test I_MESSAGEs. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "b64.h"
#include "extract.h"
#include "json.h"
#include "mikey.h"
#include "sdtool.h"
#include "sipread.h"
#include "timeutil.h"
#include "uid.h"

enum input_kind { IN_AUTO, IN_RAW, IN_BASE64, IN_SDP, IN_SIP };

static const char *const input_names[] = { "auto", "raw", "base64", "sdp", "sip" };

/* One I_MESSAGE found in the input, with where it came from. */
struct found {
	const char *source;
	int media, part;	/* -1 when not applicable */
	size_t offset;		/* of its encoded form in the input's body */
	const uint8_t *data;
	size_t len;
};

/* ---- decode: printing ---- */

static bool printable(struct mikey_view v)
{
	for (size_t i = 0; i < v.len; i++)
		if (v.ptr[i] < 0x20 || v.ptr[i] >= 0x7f)
			return false;
	return true;
}

/*
 * Identities hidden behind UIDs (roles 8, 9) and byte strings are binary;
 * text is shown as clients read it, without trailing NUL octets (*text).
 */
static bool idr_is_text(const struct mikey_payload *p, struct mikey_view *text)
{
	return p->u.idr.role != MIKEY_ROLE_IDRUIDI && p->u.idr.role != MIKEY_ROLE_IDRUIDR &&
	    p->u.idr.id_type != MIKEY_ID_BYTES && mikey_idr_form(p, text) == MIKEY_IDR_TEXT;
}

static void json_idr(struct json *j, const char *key, const struct mikey_msg *m,
    enum mikey_role role)
{
	const struct mikey_payload *p = mikey_idr(m, role);
	struct mikey_view text;

	json_key(j, key);
	if (!p)
		json_null(j);
	else if (role == MIKEY_ROLE_IDRUIDI || role == MIKEY_ROLE_IDRUIDR)
		json_hex(j, p->u.idr.data.ptr, p->u.idr.data.len);
	else if (mikey_idr_form(p, &text) == MIKEY_IDR_TEXT)
		json_strn(j, (const char *)text.ptr, text.len);
	else	/* always a string; octets outside printable ASCII are \u00XX escaped */
		json_strn(j, (const char *)p->u.idr.data.ptr, p->u.idr.data.len);
}

static void ts_text(const struct mikey_payload *t, char out[TIME_ISO_LEN])
{
	if (t->u.t.ts_type == MIKEY_TS_COUNTER ||
	    time_format_iso(time_ntp_to_unix(mikey_ntp_seconds(t->u.t.value)), out) < 0)
		strcpy(out, "-");
}

/* The raw timestamp as hex: 64-bit NTP values do not survive JSON numbers. */
static void json_ts_value(struct json *j, const struct mikey_payload *t)
{
	uint8_t b[8];
	size_t n = t->u.t.ts_type == MIKEY_TS_COUNTER ? 4 : 8;

	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(t->u.t.value >> (8 * (n - 1 - i)));
	json_hex(j, b, n);
}

static void json_payload(struct json *j, const struct mikey_payload *p)
{
	struct mikey_view text;
	char iso[TIME_ISO_LEN];

	json_obj_begin(j);
	json_kstr(j, "type", mikey_pt_name(p->type));
	json_kuint(j, "type_id", p->type);
	json_kuint(j, "offset", p->offset);
	json_kuint(j, "length", p->length);
	switch (p->type) {
	case MIKEY_PT_T:
		json_kstr(j, "ts_type", mikey_ts_type_name(p->u.t.ts_type));
		json_key(j, "value");
		json_ts_value(j, p);
		if (p->u.t.ts_type != MIKEY_TS_COUNTER) {
			ts_text(p, iso);
			json_kstr(j, "time", iso);
		}
		break;
	case MIKEY_PT_RAND:
		json_khex(j, "rand", p->u.rand.rand.ptr, p->u.rand.rand.len);
		break;
	case MIKEY_PT_IDR:
		json_kstr(j, "role", mikey_role_name(p->u.idr.role));
		json_kuint(j, "role_id", p->u.idr.role);
		json_kstr(j, "id_type", mikey_id_type_name(p->u.idr.id_type));
		json_kuint(j, "id_len", p->u.idr.data.len);
		if (idr_is_text(p, &text))
			json_kstrn(j, "value", (const char *)text.ptr, text.len);
		else
			json_khex(j, "value_hex", p->u.idr.data.ptr, p->u.idr.data.len);
		break;
	case MIKEY_PT_ID:
		json_kstr(j, "id_type", mikey_id_type_name(p->u.id.id_type));
		json_kuint(j, "id_len", p->u.id.data.len);
		if (p->u.id.id_type != MIKEY_ID_BYTES && printable(p->u.id.data))
			json_kstrn(j, "value", (const char *)p->u.id.data.ptr, p->u.id.data.len);
		else
			json_khex(j, "value_hex", p->u.id.data.ptr, p->u.id.data.len);
		break;
	case MIKEY_PT_SAKKE:
		json_kuint(j, "params", p->u.sakke.params);
		json_kuint(j, "id_scheme", p->u.sakke.id_scheme);
		json_kuint(j, "data_len", p->u.sakke.data.len);
		break;
	case MIKEY_PT_SP:
		json_kuint(j, "policy_no", p->u.sp.policy_no);
		json_kuint(j, "prot_type", p->u.sp.prot_type);
		json_khex(j, "params", p->u.sp.params.ptr, p->u.sp.params.len);
		break;
	case MIKEY_PT_GENEXT:
		json_kuint(j, "ext_type", p->u.ext.ext_type);
		json_kstr(j, "ext_name", mikey_ext_type_name(p->u.ext.ext_type));
		json_kuint(j, "data_len", p->u.ext.data.len);
		break;
	case MIKEY_PT_CERT:
		json_kuint(j, "cert_type", p->u.cert.cert_type);
		json_kuint(j, "data_len", p->u.cert.data.len);
		break;
	case MIKEY_PT_SIGN:
		json_kstr(j, "sign_type", mikey_sign_type_name(p->u.sign.sign_type));
		json_kuint(j, "sign_len", p->u.sign.sig.len);
		break;
	}
	json_obj_end(j);
}

static void json_cs_map(struct json *j, const struct mikey_hdr *h)
{
	json_key(j, "cs");
	json_arr_begin(j);
	for (unsigned i = 0; i < h->cs_count; i++) {
		struct mikey_srtp_cs s;
		struct mikey_generic_cs g;
		if (mikey_srtp_cs_get(h, i, &s) == 0) {
			json_obj_begin(j);
			json_kuint(j, "policy_no", s.policy_no);
			json_kuint(j, "ssrc", s.ssrc);
			json_kuint(j, "roc", s.roc);
			json_obj_end(j);
		} else if (mikey_generic_cs_get(h, i, &g) == 0) {
			json_obj_begin(j);
			json_kuint(j, "cs_id", g.cs_id);
			json_kuint(j, "prot_type", g.prot_type);
			json_kbool(j, "s", g.s);
			json_khex(j, "ps", g.ps.ptr, g.ps.len);
			json_khex(j, "session_data", g.session_data.ptr, g.session_data.len);
			json_khex(j, "spi", g.spi.ptr, g.spi.len);
			json_obj_end(j);
		}
	}
	json_arr_end(j);
}

static void print_json(const struct found *f, const struct mikey_msg *m)
{
	const struct mikey_payload *t = m->t >= 0 ? &m->pl[m->t] : NULL;
	const struct mikey_payload *sk = m->sakke >= 0 ? &m->pl[m->sakke] : NULL;
	const struct mikey_payload *sg = m->sign >= 0 ? &m->pl[m->sign] : NULL;
	char iso[TIME_ISO_LEN];
	struct json j;

	json_init(&j);
	json_obj_begin(&j);
	json_kstr(&j, "source", f->source);
	if (f->media >= 0)
		json_kint(&j, "media", f->media);
	if (f->part >= 0)
		json_kint(&j, "part", f->part);
	json_kuint(&j, "length", m->whole.len);
	json_kuint(&j, "version", m->hdr.version);
	json_kuint(&j, "data_type", m->hdr.data_type);
	json_kbool(&j, "v", m->hdr.v);
	json_kuint(&j, "prf", m->hdr.prf);
	json_kuint(&j, "csb_id", m->hdr.csb_id);
	json_kuint(&j, "cs_count", m->hdr.cs_count);
	json_kstr(&j, "cs_id_map_type", mikey_map_type_name(m->hdr.map_type));
	json_cs_map(&j, &m->hdr);
	json_key(&j, "timestamp");
	if (t && t->u.t.ts_type != MIKEY_TS_COUNTER) {
		ts_text(t, iso);
		json_str(&j, iso);
	} else {
		json_null(&j);
	}
	json_key(&j, "ts_type");
	t ? json_str(&j, mikey_ts_type_name(t->u.t.ts_type)) : json_null(&j);
	json_key(&j, "ts_value");
	t ? json_ts_value(&j, t) : json_null(&j);
	json_key(&j, "rand");
	m->rand >= 0 ? json_hex(&j, m->pl[m->rand].u.rand.rand.ptr, m->pl[m->rand].u.rand.rand.len)
		     : json_null(&j);
	json_idr(&j, "idri", m, MIKEY_ROLE_IDRI);
	json_idr(&j, "idrr", m, MIKEY_ROLE_IDRR);
	json_idr(&j, "idrkmsi", m, MIKEY_ROLE_IDRKMSI);
	json_idr(&j, "idrkmsr", m, MIKEY_ROLE_IDRKMSR);
	json_idr(&j, "uidi", m, MIKEY_ROLE_IDRUIDI);
	json_idr(&j, "uidr", m, MIKEY_ROLE_IDRUIDR);
	json_key(&j, "sakke_params");
	sk ? json_uint(&j, sk->u.sakke.params) : json_null(&j);
	json_key(&j, "sakke_id_scheme");
	sk ? json_uint(&j, sk->u.sakke.id_scheme) : json_null(&j);
	json_key(&j, "sign_type");
	sg ? json_uint(&j, sg->u.sign.sign_type) : json_null(&j);
	json_key(&j, "sign_type_name");
	sg ? json_str(&j, mikey_sign_type_name(sg->u.sign.sign_type)) : json_null(&j);
	json_key(&j, "sign_len");
	sg ? json_uint(&j, sg->u.sign.sig.len) : json_null(&j);
	json_kuint(&j, "signed_len", m->signed_span.len);
	json_key(&j, "payloads");
	json_arr_begin(&j);
	for (size_t i = 0; i < m->n_pl; i++)
		json_payload(&j, &m->pl[i]);
	json_arr_end(&j);
	json_obj_end(&j);
	if (j.failed)
		sdtool_err("out of memory");
	else
		puts(j.buf);
	json_free(&j);
}

static void print_value(const uint8_t *p, size_t n, bool text)
{
	if (text) {
		printf("%.*s", (int)n, (const char *)p);
		return;
	}
	for (size_t i = 0; i < n; i++)
		printf("%02x", p[i]);
}

/* A KMS URI as clients read it, else its octets in hex. */
static void print_kms(const struct mikey_payload *p)
{
	struct mikey_view text;

	if (!p)
		fputs("(none)", stdout);
	else if (mikey_idr_form(p, &text) == MIKEY_IDR_TEXT)
		print_value(text.ptr, text.len, true);
	else
		print_value(p->u.idr.data.ptr, p->u.idr.data.len, false);
}

static void print_text(unsigned index, const struct found *f, const struct mikey_msg *m)
{
	struct mikey_view text;
	char iso[TIME_ISO_LEN];

	printf("I_MESSAGE %u: %zu octets from %s", index, m->whole.len, f->source);
	if (f->media >= 0)
		printf(" (m= line %d)", f->media);
	if (f->part >= 0)
		printf(" (part %d)", f->part);
	printf("\n  %-7s @%-4d version %u, data type %u, PRF %u, CSB ID 0x%08x, #CS %u, map %s\n",
	    "HDR", 0, m->hdr.version, m->hdr.data_type, m->hdr.prf, m->hdr.csb_id,
	    m->hdr.cs_count, mikey_map_type_name(m->hdr.map_type));
	for (size_t i = 0; i < m->n_pl; i++) {
		const struct mikey_payload *p = &m->pl[i];
		printf("  %-7s @%-4zu ", mikey_pt_name(p->type), p->offset);
		switch (p->type) {
		case MIKEY_PT_T:
			ts_text(p, iso);
			printf("%s %s\n", mikey_ts_type_name(p->u.t.ts_type), iso);
			break;
		case MIKEY_PT_RAND:
			printf("%zu octets\n", p->u.rand.rand.len);
			break;
		case MIKEY_PT_IDR:
			printf("%-8s ", mikey_role_name(p->u.idr.role));
			if (idr_is_text(p, &text))
				print_value(text.ptr, text.len, true);
			else
				print_value(p->u.idr.data.ptr, p->u.idr.data.len, false);
			putchar('\n');
			break;
		case MIKEY_PT_ID:
			print_value(p->u.id.data.ptr, p->u.id.data.len,
			    p->u.id.id_type != MIKEY_ID_BYTES && printable(p->u.id.data));
			putchar('\n');
			break;
		case MIKEY_PT_SAKKE:
			printf("parameter set %u, ID scheme %u, %zu octets\n", p->u.sakke.params,
			    p->u.sakke.id_scheme, p->u.sakke.data.len);
			break;
		case MIKEY_PT_SP:
			printf("policy %u, protocol %u, %zu octets of parameters\n",
			    p->u.sp.policy_no, p->u.sp.prot_type, p->u.sp.params.len);
			break;
		case MIKEY_PT_GENEXT:
			printf("type %u (%s), %zu octets\n", p->u.ext.ext_type,
			    mikey_ext_type_name(p->u.ext.ext_type), p->u.ext.data.len);
			break;
		case MIKEY_PT_CERT:
			printf("type %u, %zu octets\n", p->u.cert.cert_type, p->u.cert.data.len);
			break;
		case MIKEY_PT_SIGN:
			printf("%s, %zu octets (signed: octets 0..%zu)\n",
			    mikey_sign_type_name(p->u.sign.sign_type), p->u.sign.sig.len,
			    m->signed_span.len - 1);
			break;
		}
	}
	const struct mikey_payload *ki = mikey_idr(m, MIKEY_ROLE_IDRKMSI);
	const struct mikey_payload *kr = mikey_idr(m, MIKEY_ROLE_IDRKMSR);
	printf("  initiator KMS (IDRkmsi): ");
	print_kms(ki);
	printf("\n  receiver KMS (IDRkmsr):  ");
	print_kms(kr);
	putchar('\n');
}

/* ---- decode: finding the messages ---- */

static bool all_base64(const uint8_t *p, size_t n)
{
	size_t letters = 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '+' || c == '/' || c == '=')
			letters++;
		else if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
			return false;
	}
	return letters > 0;
}

static enum input_kind detect(const uint8_t *p, size_t n)
{
	if (sipread_looks_like_sip((const char *)p, n))
		return IN_SIP;
	if (n >= 2 && p[0] == 'v' && p[1] == '=')
		return IN_SDP;
	if (all_base64(p, n))
		return IN_BASE64;
	return IN_RAW;
}

/* The I_MESSAGEs of a body; their data live in res (clear it after use). */
static int from_body(const struct extract_body *body, struct extract_result *res, struct found *out, size_t *n)
{
	struct extract_error err;
	int rc = extract_mikey(body, res, &err);

	if (rc == -ENOMEM) {
		sdtool_err("out of memory");
		return SDTOOL_BAD_INPUT;
	}
	if (rc < 0) {
		sdtool_err("cannot inspect the body: %s at body offset %zu", extract_strerror(err.code), err.offset);
		return SDTOOL_BAD_INPUT;
	}
	for (size_t i = 0; i < res->n; i++) {
		const struct extract_item *it = &res->item[i];
		out[i] = (struct found){
			.source = extract_source_name(it->source),
			.media = it->source == EXTRACT_SDP_MEDIA ? (int)it->media : -1,
			.part = it->part ? (int)it->part : -1,
			.offset = it->offset, .data = it->data, .len = it->len,
		};
	}
	*n = res->n;
	return SDTOOL_OK;
}

/*
 * The I_MESSAGEs of the input as kind says to read it; SIP messages with
 * the daemon's own reader.  Their data live in in, arena, *sip or res.
 */
static int find_messages(enum input_kind kind, const uint8_t *in, size_t len, uint8_t *arena,
    struct sipread_msg **sip, struct extract_result *res, struct found *out, size_t *n)
{
	struct sipread_body sb;
	char why[160];
	size_t bad_at, dlen;
	int rc;

	*n = 0;
	switch (kind) {
	case IN_RAW:
		out[0] = (struct found){ "raw", -1, -1, 0, in, len };
		*n = 1;
		return SDTOOL_OK;
	case IN_BASE64:
		if (b64_decode((const char *)in, len, arena, &dlen, &bad_at) < 0) {
			sdtool_err("bad base64 at offset %zu", bad_at);
			return SDTOOL_BAD_INPUT;
		}
		out[0] = (struct found){ "base64", -1, -1, 0, arena, dlen };
		*n = 1;
		return SDTOOL_OK;
	case IN_SDP:
		return from_body(&(struct extract_body){ .content_type = { "application/sdp", 15 }, .data = in, .len = len },
		    res, out, n);
	case IN_SIP:
		if ((rc = sipread_parse((const char *)in, len, false, sip, why, sizeof(why))) < 0) {
			sdtool_err("%s", rc == -ENOMEM ? "out of memory" : why);
			return SDTOOL_BAD_INPUT;
		}
		if (sipread_body(sipread_sip(*sip), &sb) < 0) {
			sdtool_err("Content-Type or Content-Encoding header too long");
			return SDTOOL_BAD_INPUT;
		}
		if (!sb.body.content_type.ptr && sb.body.len == 0) {
			sdtool_err("SIP message without Content-Type: no body to search");
			return SDTOOL_BAD_INPUT;
		}
		return from_body(&sb.body, res, out, n);
	case IN_AUTO:
		break;
	}
	return SDTOOL_USAGE;
}

static int cmd_decode(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "input", required_argument, NULL, 'i' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	enum input_kind kind = IN_AUTO;
	bool json = false;
	int c, rc;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "i:jh", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			for (kind = IN_RAW; kind <= IN_SIP; kind++)
				if (strcmp(optarg, input_names[kind]) == 0)
					break;
			if (kind > IN_SIP) {
				sdtool_err("--input: '%s' is not raw, base64, sdp or sip", optarg);
				return SDTOOL_USAGE;
			}
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			puts("usage: mcx-sdtool mikey decode [--input raw|base64|sdp|sip] [--json] [FILE]");
			return SDTOOL_OK;
		default:
			return sdtool_bad_option("mikey decode", argv);
		}
	}
	if (argc - optind > 1) {
		sdtool_err("mikey decode takes one FILE");
		return SDTOOL_USAGE;
	}

	uint8_t *in, *arena;
	size_t len, n = 0;
	struct found found[EXTRACT_MAX_ITEMS];
	struct sipread_msg *sip = NULL;
	struct extract_result res = { .n = 0 };
	if ((rc = sdtool_read(optind < argc ? argv[optind] : NULL, &in, &len)) != SDTOOL_OK)
		return rc;
	if ((arena = malloc(B64_DECODED_MAX(len) + 1)) == NULL) {
		free(in);
		sdtool_err("out of memory");
		return SDTOOL_BAD_INPUT;
	}
	if (len == 0) {
		sdtool_err("empty input");
		free(arena);
		free(in);
		return SDTOOL_BAD_INPUT;
	}
	if (kind == IN_AUTO)
		kind = detect(in, len);
	rc = find_messages(kind, in, len, arena, &sip, &res, found, &n);
	if (rc == SDTOOL_OK && n == 0) {
		sdtool_err("no MIKEY I_MESSAGE found in the %s input", input_names[kind]);
		rc = SDTOOL_BAD_INPUT;
	}
	for (size_t i = 0; i < n; i++) {
		struct mikey_msg m;
		struct mikey_error err;
		if (mikey_decode(found[i].data, found[i].len, &m, &err) < 0) {
			sdtool_err("I_MESSAGE %zu (%s, body offset %zu): %s [%s] at offset %zu",
			    i + 1, found[i].source, found[i].offset, mikey_strerror(err.code),
			    mikey_err_name(err.code), err.offset);
			rc = SDTOOL_BAD_INPUT;
			continue;
		}
		json ? print_json(&found[i], &m) : print_text((unsigned)i + 1, &found[i], &m);
	}
	extract_result_clear(&res);
	sipread_free(sip);
	free(arena);
	free(in);
	return rc;
}

/* ---- build ---- */

struct build_opts {
	const char *idr[MIKEY_ROLE_IDRKMSR + 1];
	int64_t time;
	uint32_t csb_id;
	bool csb_given, hide;
	uint8_t rand[16];
	bool rand_given;
	uint64_t key_period, key_offset;
	enum input_kind output;
};

/* Decimal, or hexadecimal after 0x; nothing else (no sign, space or octal). */
static int parse_u64(const char *s, uint64_t max, uint64_t *v)
{
	int base = 10;
	char *end;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	if (!isxdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	unsigned long long x = strtoull(s, &end, base);
	if (errno || end == s || *end || x > max)
		return -EINVAL;
	*v = x;
	return 0;
}

static int parse_hex(const char *s, uint8_t *out, size_t n)
{
	if (strlen(s) != 2 * n)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1 || !strchr("0123456789abcdefABCDEF", s[2 * i]) ||
		    !strchr("0123456789abcdefABCDEF", s[2 * i + 1]))
			return -EINVAL;
		out[i] = (uint8_t)v;
	}
	return 0;
}

static void put_sdp(FILE *out, const char *b64)
{
	fprintf(out,
	    "v=0\r\n"
	    "o=- 1 1 IN IP4 127.0.0.1\r\n"
	    "s=-\r\n"
	    "c=IN IP4 127.0.0.1\r\n"
	    "t=0 0\r\n"
	    "a=key-mgmt:mikey %s\r\n"
	    "m=audio 49170 RTP/SAVP 0\r\n"
	    "a=rtpmap:0 PCMU/8000\r\n", b64);
}

static int emit(const struct build_opts *o, const uint8_t *msg, size_t len)
{
	char *b64 = malloc(B64_ENCODED_LEN(len) + 1);
	char *sdp = NULL;
	size_t sdp_len = 0;
	FILE *mem;

	if (!b64)
		return SDTOOL_BAD_INPUT;
	b64_encode(msg, len, b64);
	switch (o->output) {
	case IN_RAW:
		fwrite(msg, 1, len, stdout);
		break;
	case IN_BASE64:
		puts(b64);
		break;
	case IN_SDP:
		put_sdp(stdout, b64);
		break;
	default:
		if ((mem = open_memstream(&sdp, &sdp_len)) == NULL) {
			free(b64);
			return SDTOOL_BAD_INPUT;
		}
		put_sdp(mem, b64);
		fclose(mem);
		/* A plain INVITE: From the initiator, to the receiver, the SDP offer. */
		printf("INVITE %s SIP/2.0\r\n"
		    "Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-%08x\r\n"
		    "Max-Forwards: 70\r\n"
		    "From: <%s>;tag=%08x\r\n"
		    "To: <%s>\r\n"
		    "Call-ID: %08x@mcx-sdtool\r\n"
		    "CSeq: 1 INVITE\r\n"
		    "Contact: <sip:mcx-sdtool@127.0.0.1:5062>\r\n"
		    "Content-Type: application/sdp\r\n"
		    "Content-Length: %zu\r\n\r\n%s",
		    o->idr[MIKEY_ROLE_IDRR], o->csb_id, o->idr[MIKEY_ROLE_IDRI], o->csb_id,
		    o->idr[MIKEY_ROLE_IDRR], o->csb_id, sdp_len, sdp);
		free(sdp);
		break;
	}
	free(b64);
	return fflush(stdout) == 0 ? SDTOOL_OK : SDTOOL_BAD_INPUT;
}

static int build(const struct build_opts *o)
{
	static uint8_t sakke_data[MIKEY_SAKKE_SET1_LEN], sig[MIKEY_ECCSI_SIG_LEN];
	uint8_t uid[2][UID_LEN], *msg;
	struct mikey_payload pl[10];
	struct mikey_error err;
	size_t n = 0, len;
	uint32_t ntp = time_unix_to_ntp(o->time);

	/* Placeholders shaped like the real thing: R and PVT are uncompressed points. */
	sakke_data[0] = 0x04;
	sig[64] = 0x04;

	struct mikey_hdr hdr = {
		.version = MIKEY_VERSION, .data_type = MIKEY_DATA_SAKKE, .prf = 1,
		.csb_id = o->csb_id, .cs_count = 0, .map_type = MIKEY_MAP_EMPTY,
	};
	memset(pl, 0, sizeof(pl));
	pl[n].type = MIKEY_PT_T;
	pl[n].u.t.ts_type = MIKEY_TS_NTP_UTC;
	pl[n++].u.t.value = (uint64_t)ntp << 32;
	pl[n].type = MIKEY_PT_RAND;
	pl[n++].u.rand.rand = (struct mikey_view){ o->rand, sizeof(o->rand) };

	/* TS 33.180 E.7: with hiding, the UIDs replace the user URIs. */
	for (int r = MIKEY_ROLE_IDRI; r <= MIKEY_ROLE_IDRR; r++) {
		pl[n].type = MIKEY_PT_IDR;
		pl[n].u.idr.id_type = MIKEY_ID_URI;
		if (o->hide) {
			uint64_t kpn;
			if (uid_period_no(ntp, o->key_period, o->key_offset, &kpn) < 0 ||
			    uid_derive(o->idr[r], strlen(o->idr[r]), o->idr[MIKEY_ROLE_IDRKMSI + r - 1],
			    strlen(o->idr[MIKEY_ROLE_IDRKMSI + r - 1]), o->key_period, o->key_offset,
			    kpn, uid[r - 1]) < 0) {
				sdtool_err("cannot derive the UID of %s (key period and offset?)", o->idr[r]);
				return SDTOOL_BAD_INPUT;
			}
			pl[n].u.idr.role = r == MIKEY_ROLE_IDRI ? MIKEY_ROLE_IDRUIDI : MIKEY_ROLE_IDRUIDR;
			pl[n++].u.idr.data = (struct mikey_view){ uid[r - 1], UID_LEN };
		} else {
			pl[n].u.idr.role = (uint8_t)r;
			pl[n++].u.idr.data = (struct mikey_view){
				(const uint8_t *)o->idr[r], strlen(o->idr[r]) };
		}
	}
	for (int r = MIKEY_ROLE_IDRKMSI; r <= MIKEY_ROLE_IDRKMSR; r++) {
		pl[n].type = MIKEY_PT_IDR;
		pl[n].u.idr.role = (uint8_t)r;
		pl[n].u.idr.id_type = MIKEY_ID_URI;
		pl[n++].u.idr.data = (struct mikey_view){ (const uint8_t *)o->idr[r], strlen(o->idr[r]) };
	}
	pl[n].type = MIKEY_PT_SAKKE;
	pl[n].u.sakke.params = MIKEY_SAKKE_PARAMS_1;
	pl[n].u.sakke.id_scheme = 2;	/* 3GPP hashed UID (TS 33.180 E.3.1) */
	pl[n++].u.sakke.data = (struct mikey_view){ sakke_data, sizeof(sakke_data) };
	pl[n].type = MIKEY_PT_SIGN;
	pl[n].u.sign.sign_type = MIKEY_SIGN_ECCSI;
	pl[n++].u.sign.sig = (struct mikey_view){ sig, sizeof(sig) };

	/* First pass sizes the message, second writes it. */
	mikey_encode(&hdr, pl, n, NULL, 0, &len, NULL);
	if ((msg = malloc(len)) == NULL) {
		sdtool_err("out of memory");
		return SDTOOL_BAD_INPUT;
	}
	if (mikey_encode(&hdr, pl, n, msg, len, &len, &err) < 0) {
		sdtool_err("cannot encode: %s at offset %zu", mikey_strerror(err.code), err.offset);
		free(msg);
		return SDTOOL_BAD_INPUT;
	}
	int rc = emit(o, msg, len);
	free(msg);
	return rc;
}

/* Identities also land in SIP headers (--output sip): keep them to one token. */
static bool identity_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 1024)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f || s[i] == '<' || s[i] == '>')
			return false;
	return true;
}

static int cmd_build(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "idri", required_argument, NULL, MIKEY_ROLE_IDRI },
		{ "idrr", required_argument, NULL, MIKEY_ROLE_IDRR },
		{ "idrkmsi", required_argument, NULL, MIKEY_ROLE_IDRKMSI },
		{ "idrkmsr", required_argument, NULL, MIKEY_ROLE_IDRKMSR },
		{ "time", required_argument, NULL, 't' },
		{ "csb-id", required_argument, NULL, 'c' },
		{ "rand", required_argument, NULL, 'r' },
		{ "hide", no_argument, NULL, 'H' },
		{ "key-period", required_argument, NULL, 'p' },
		{ "key-offset", required_argument, NULL, 'f' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const idr_opt[] = {
		[MIKEY_ROLE_IDRI] = "idri", [MIKEY_ROLE_IDRR] = "idrr",
		[MIKEY_ROLE_IDRKMSI] = "idrkmsi", [MIKEY_ROLE_IDRKMSR] = "idrkmsr",
	};
	struct build_opts o = {
		.time = (int64_t)time(NULL), .key_period = 2592000, .output = IN_BASE64,
	};
	uint64_t v;
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case MIKEY_ROLE_IDRI: case MIKEY_ROLE_IDRR:
		case MIKEY_ROLE_IDRKMSI: case MIKEY_ROLE_IDRKMSR:
			if (!identity_ok(optarg)) {
				sdtool_err("--%s: 1 to 1024 printable characters, no spaces, '<' or '>'",
				    idr_opt[c]);
				return SDTOOL_USAGE;
			}
			o.idr[c] = optarg;
			break;
		case 't':
			if (time_parse_iso(optarg, &o.time) < 0) {
				sdtool_err("--time: '%s' is not YYYY-MM-DDTHH:MM:SSZ", optarg);
				return SDTOOL_USAGE;
			}
			/* What the 32-bit NTP-UTC field can say (RFC 5905 eras 0 and 1). */
			if (o.time < time_ntp_to_unix(0x80000000u) || o.time > time_ntp_to_unix(0x7fffffffu)) {
				sdtool_err("--time: '%s' is outside 1968-01-20 to 2104-02-26", optarg);
				return SDTOOL_USAGE;
			}
			break;
		case 'c':
			if (parse_u64(optarg, UINT32_MAX, &v) < 0) {
				sdtool_err("--csb-id: '%s' is not a 32-bit number", optarg);
				return SDTOOL_USAGE;
			}
			o.csb_id = (uint32_t)v;
			o.csb_given = true;
			break;
		case 'r':
			if (parse_hex(optarg, o.rand, sizeof(o.rand)) < 0) {
				sdtool_err("--rand: '%s' is not 32 hex digits", optarg);
				return SDTOOL_USAGE;
			}
			o.rand_given = true;
			break;
		case 'H':
			o.hide = true;
			break;
		case 'p':
		case 'f':
			if (parse_u64(optarg, UINT32_MAX, &v) < 0 || (c == 'p' && v == 0)) {
				sdtool_err("--%s: '%s' is not a number of seconds",
				    c == 'p' ? "key-period" : "key-offset", optarg);
				return SDTOOL_USAGE;
			}
			*(c == 'p' ? &o.key_period : &o.key_offset) = v;
			break;
		case 'o':
			for (o.output = IN_RAW; o.output <= IN_SIP; o.output++)
				if (strcmp(optarg, input_names[o.output]) == 0)
					break;
			if (o.output > IN_SIP) {
				sdtool_err("--output: '%s' is not raw, base64, sdp or sip", optarg);
				return SDTOOL_USAGE;
			}
			break;
		case 'h':
			puts("usage: mcx-sdtool mikey build --idri URI --idrr URI --idrkmsi URI --idrkmsr URI\n"
			     "       [--time TIME] [--csb-id ID] [--rand HEX] [--hide] [--key-period S]\n"
			     "       [--key-offset S] [--output raw|base64|sdp|sip]");
			return SDTOOL_OK;
		default:
			return sdtool_bad_option("mikey build", argv);
		}
	}
	if (optind != argc) {
		sdtool_err("mikey build takes no operands");
		return SDTOOL_USAGE;
	}
	static const char *const need[] = { NULL, "--idri", "--idrr", NULL, NULL, NULL,
		"--idrkmsi", "--idrkmsr" };
	for (int r = 1; r <= MIKEY_ROLE_IDRKMSR; r++) {
		if (need[r] && !o.idr[r]) {
			sdtool_err("mikey build needs %s", need[r]);
			return SDTOOL_USAGE;
		}
	}
	/* A PCK-ID carries purpose tag 1 in its top nibble (TS 33.180 E.3.1). */
	if ((!o.rand_given && RAND_bytes(o.rand, sizeof(o.rand)) != 1) ||
	    (!o.csb_given && RAND_bytes((uint8_t *)&o.csb_id, sizeof(o.csb_id)) != 1)) {
		sdtool_err("no randomness");
		return SDTOOL_BAD_INPUT;
	}
	if (!o.csb_given)
		o.csb_id = (o.csb_id & 0x0fffffffu) | 0x10000000u;
	return build(&o);
}

int sdtool_mikey(int argc, char **argv)
{
	if (argc < 2) {
		sdtool_err("mikey needs a subcommand: decode or build");
		return SDTOOL_USAGE;
	}
	if (strcmp(argv[1], "decode") == 0)
		return cmd_decode(argc - 1, argv + 1);
	if (strcmp(argv[1], "build") == 0)
		return cmd_build(argc - 1, argv + 1);
	sdtool_err("unknown mikey subcommand '%s'", argv[1]);
	return SDTOOL_USAGE;
}
