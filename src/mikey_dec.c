/* MIKEY decoder: follows next-payload through every payload of a MIKEY-SAKKE I_MESSAGE. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "mikey.h"
#include "wire.h"

static int fail(struct mikey_error *err, enum mikey_err code, size_t offset)
{
	if (err) {
		err->code = code;
		err->offset = offset;
	}
	switch (code) {
	case MIKEY_E_UNSUPPORTED_PAYLOAD:
	case MIKEY_E_NO_SIGN:
		return -EPROTO;
	default:
		return -EBADMSG;
	}
}

/* Types RFC 3830 and RFC 6043 define but an I_MESSAGE never carries. */
static bool pt_unsupported(unsigned type)
{
	switch (type) {
	case MIKEY_PT_KEMAC: case MIKEY_PT_PKE: case MIKEY_PT_DH:
	case MIKEY_PT_CHASH: case MIKEY_PT_V: case MIKEY_PT_ERR:
	case 13: case 15: case 16: case 17:	/* TR, RANDR, TP, TICKET (RFC 6043) */
	case MIKEY_PT_KEYDATA:
		return true;
	default:
		return false;
	}
}

/* Walk a CS ID map to find its end; the entries are read later on demand. */
static enum mikey_err skip_map(struct wire_rd *r, uint8_t map_type, uint8_t count)
{
	switch (map_type) {
	case MIKEY_MAP_SRTP:
		wire_bytes(r, (size_t)count * 9);
		break;
	case MIKEY_MAP_EMPTY:
		break;
	case MIKEY_MAP_GENERIC:
		for (unsigned i = 0; i < count && !r->failed; i++) {
			wire_u8(r);			/* CS ID */
			wire_u8(r);			/* protocol type */
			wire_bytes(r, wire_u8(r) & 0x7f);	/* S | #P, then Ps */
			wire_bytes(r, wire_u16(r));	/* session data */
			wire_bytes(r, wire_u8(r));	/* SPI */
		}
		break;
	default:
		return MIKEY_E_MAP_TYPE;
	}
	return r->failed ? MIKEY_E_TRUNCATED : MIKEY_OK;
}

/* Type(1), 16-bit length and data: the tail most payloads share (mikey_enc.c's put_tlv). */
static struct mikey_view read_tlv(struct wire_rd *r, uint8_t *type)
{
	*type = wire_u8(r);
	uint16_t n = wire_u16(r);
	return (struct mikey_view){ wire_bytes(r, n), n };
}

/* Read one payload (not SIGN) of the given type; returns its next-payload value. */
static enum mikey_err read_payload(struct wire_rd *r, struct mikey_payload *p,
    uint8_t *next, size_t *bad_at)
{
	size_t start = r->pos;

	*next = wire_u8(r);
	switch (p->type) {
	case MIKEY_PT_T:
		p->u.t.ts_type = wire_u8(r);
		switch (p->u.t.ts_type) {
		case MIKEY_TS_NTP_UTC:
		case MIKEY_TS_NTP:
			p->u.t.value = wire_u64(r);
			break;
		case MIKEY_TS_COUNTER:
			p->u.t.value = wire_u32(r);
			break;
		default:
			if (r->failed)
				break;
			*bad_at = start + 1;
			return MIKEY_E_TS_TYPE;
		}
		break;
	case MIKEY_PT_RAND:
		p->u.rand.rand.len = wire_u8(r);
		p->u.rand.rand.ptr = wire_bytes(r, p->u.rand.rand.len);
		break;
	case MIKEY_PT_IDR:
		p->u.idr.role = wire_u8(r);
		p->u.idr.data = read_tlv(r, &p->u.idr.id_type);
		if (r->failed)
			break;
		if (p->u.idr.role == 0 || p->u.idr.role > MIKEY_ROLE_MAX) {
			*bad_at = start + 1;
			return MIKEY_E_ROLE;
		}
		if (p->u.idr.id_type > MIKEY_ID_BYTES) {
			*bad_at = start + 2;
			return MIKEY_E_ID_TYPE;
		}
		break;
	case MIKEY_PT_ID:
		p->u.id.data = read_tlv(r, &p->u.id.id_type);
		if (!r->failed && p->u.id.id_type > MIKEY_ID_BYTES) {
			*bad_at = start + 1;
			return MIKEY_E_ID_TYPE;
		}
		break;
	case MIKEY_PT_SAKKE:
		p->u.sakke.params = wire_u8(r);
		p->u.sakke.data = read_tlv(r, &p->u.sakke.id_scheme);
		/* Parameter set 1 fixes the encapsulated data at 273 octets (RFC 6509). */
		if (!r->failed && p->u.sakke.params == MIKEY_SAKKE_PARAMS_1 &&
		    p->u.sakke.data.len != MIKEY_SAKKE_SET1_LEN) {
			*bad_at = start + 3;
			return MIKEY_E_SAKKE_LEN;
		}
		break;
	case MIKEY_PT_SP:
		p->u.sp.policy_no = wire_u8(r);
		p->u.sp.params = read_tlv(r, &p->u.sp.prot_type);
		break;
	case MIKEY_PT_GENEXT:
		p->u.ext.data = read_tlv(r, &p->u.ext.ext_type);
		break;
	case MIKEY_PT_CERT:
		p->u.cert.data = read_tlv(r, &p->u.cert.cert_type);
		break;
	default:
		*bad_at = start;
		return pt_unsupported(p->type) ? MIKEY_E_UNSUPPORTED_PAYLOAD
					       : MIKEY_E_UNKNOWN_PAYLOAD;
	}
	if (r->failed) {
		*bad_at = r->fail_at;
		return MIKEY_E_TRUNCATED;
	}
	return MIKEY_OK;
}

/* The slot that makes a payload unique, or NULL when it may repeat. */
static int *unique_slot(struct mikey_msg *m, const struct mikey_payload *p)
{
	switch (p->type) {
	case MIKEY_PT_T:	return &m->t;
	case MIKEY_PT_RAND:	return &m->rand;
	case MIKEY_PT_SAKKE:	return &m->sakke;
	case MIKEY_PT_IDR:	return &m->idr[p->u.idr.role];
	default:		return NULL;
	}
}

int mikey_decode(const uint8_t *buf, size_t len, struct mikey_msg *out,
    struct mikey_error *err)
{
	struct mikey_msg m;
	struct wire_rd r;
	enum mikey_err e;
	size_t bad_at;
	uint8_t np, vprf;

	if (len > MIKEY_MAX_MESSAGE)
		return fail(err, MIKEY_E_TOO_LONG, MIKEY_MAX_MESSAGE);

	m.n_pl = 0;
	m.t = m.rand = m.sakke = m.sign = -1;
	for (size_t i = 0; i <= MIKEY_ROLE_MAX; i++)
		m.idr[i] = -1;
	m.signed_span = (struct mikey_view){ NULL, 0 };
	m.whole = (struct mikey_view){ buf, len };

	/* Common header (RFC 3830 6.1). */
	wire_rd_init(&r, buf, len);
	m.hdr.version = wire_u8(&r);
	if (!r.failed && m.hdr.version != MIKEY_VERSION)
		return fail(err, MIKEY_E_VERSION, 0);
	m.hdr.data_type = wire_u8(&r);
	np = wire_u8(&r);
	vprf = wire_u8(&r);
	m.hdr.v = vprf >> 7;
	m.hdr.prf = vprf & 0x7f;
	m.hdr.csb_id = wire_u32(&r);
	m.hdr.cs_count = wire_u8(&r);
	m.hdr.map_type = wire_u8(&r);
	if (r.failed)
		return fail(err, MIKEY_E_TRUNCATED, r.fail_at);
	size_t map_at = r.pos;
	e = skip_map(&r, m.hdr.map_type, m.hdr.cs_count);
	if (e != MIKEY_OK)
		return fail(err, e, e == MIKEY_E_MAP_TYPE ? map_at - 1 : r.fail_at);
	m.hdr.map_info = (struct mikey_view){ buf + map_at, r.pos - map_at };

	/* Payloads, in whatever order next-payload gives (RFC 3830 6). */
	while (np != MIKEY_PT_LAST) {
		size_t start = r.pos;
		if (m.n_pl == MIKEY_MAX_PAYLOADS)
			return fail(err, MIKEY_E_TOO_MANY, start);
		struct mikey_payload *p = &m.pl[m.n_pl];
		memset(p, 0, sizeof(*p));
		p->type = np;
		p->offset = start;

		if (np == MIKEY_PT_SIGN) {
			/* No next-payload octet: SIGN is always last (RFC 3830 6.5). */
			uint16_t tl = wire_u16(&r);
			p->u.sign.sign_type = tl >> 12;
			p->u.sign.sig.len = tl & 0x0fff;
			p->u.sign.sig.ptr = wire_bytes(&r, p->u.sign.sig.len);
			if (r.failed)
				return fail(err, MIKEY_E_TRUNCATED, r.fail_at);
			if (p->u.sign.sign_type == MIKEY_SIGN_ECCSI &&
			    p->u.sign.sig.len != MIKEY_ECCSI_SIG_LEN)
				return fail(err, MIKEY_E_SIGN_LEN, start);
			p->length = r.pos - start;
			m.sign = (int)m.n_pl++;
			m.signed_span = (struct mikey_view){ buf, start + 2 };
			break;
		}

		e = read_payload(&r, p, &np, &bad_at);
		if (e != MIKEY_OK)
			return fail(err, e, bad_at);
		int *slot = unique_slot(&m, p);
		if (slot) {
			if (*slot >= 0)
				return fail(err, p->type == MIKEY_PT_IDR ? MIKEY_E_DUP_ROLE
							: MIKEY_E_DUP_PAYLOAD, start);
			*slot = (int)m.n_pl;
		}
		p->length = r.pos - start;
		m.n_pl++;
	}

	if (r.pos != len)
		return fail(err, MIKEY_E_TRAILING, r.pos);
	if (m.sign < 0 && m.hdr.data_type == MIKEY_DATA_SAKKE)
		return fail(err, MIKEY_E_NO_SIGN, r.pos);

	*out = m;
	return 0;
}

const struct mikey_payload *mikey_idr(const struct mikey_msg *msg, enum mikey_role role)
{
	if ((unsigned)role > MIKEY_ROLE_MAX || msg->idr[role] < 0)
		return NULL;
	return &msg->pl[msg->idr[role]];
}

enum mikey_idr_form mikey_idr_form(const struct mikey_payload *idr, struct mikey_view *text)
{
	struct mikey_view v = idr->u.idr.data;
	bool visible = true;

	while (v.len && v.ptr[v.len - 1] == 0)
		v.len--;
	for (size_t i = 0; i < v.len && visible; i++)
		visible = v.ptr[i] > 0x20 && v.ptr[i] < 0x7f;
	*text = v;
	if (v.len && visible)
		return MIKEY_IDR_TEXT;
	/* A UID is a SHA-256 output; only its length tells it from broken text. */
	return idr->u.idr.data.len == 32 ? MIKEY_IDR_UID : MIKEY_IDR_BAD;
}

int mikey_srtp_cs_get(const struct mikey_hdr *hdr, unsigned i, struct mikey_srtp_cs *cs)
{
	struct wire_rd r;

	if (hdr->map_type != MIKEY_MAP_SRTP || i >= hdr->cs_count)
		return -ENOENT;
	wire_rd_init(&r, hdr->map_info.ptr, hdr->map_info.len);
	wire_bytes(&r, (size_t)i * 9);
	cs->policy_no = wire_u8(&r);
	cs->ssrc = wire_u32(&r);
	cs->roc = wire_u32(&r);
	return r.failed ? -EBADMSG : 0;
}

int mikey_generic_cs_get(const struct mikey_hdr *hdr, unsigned i, struct mikey_generic_cs *cs)
{
	struct mikey_generic_cs c;
	struct wire_rd r;

	if (hdr->map_type != MIKEY_MAP_GENERIC || i >= hdr->cs_count)
		return -ENOENT;
	wire_rd_init(&r, hdr->map_info.ptr, hdr->map_info.len);
	for (unsigned k = 0; k <= i; k++) {
		c.cs_id = wire_u8(&r);
		c.prot_type = wire_u8(&r);
		uint8_t sp = wire_u8(&r);
		c.s = sp >> 7;
		c.ps.len = sp & 0x7f;
		c.ps.ptr = wire_bytes(&r, c.ps.len);
		c.session_data.len = wire_u16(&r);
		c.session_data.ptr = wire_bytes(&r, c.session_data.len);
		c.spi.len = wire_u8(&r);
		c.spi.ptr = wire_bytes(&r, c.spi.len);
	}
	if (r.failed)
		return -EBADMSG;
	*cs = c;
	return 0;
}
