/* MIKEY encoder: writes a header and payloads, deriving every next-payload field from their order. */
#include "config.h"

#include <errno.h>

#include "mikey.h"
#include "wire.h"

static int bad(struct mikey_error *err, enum mikey_err code, size_t offset)
{
	if (err) {
		err->code = code;
		err->offset = offset;
	}
	return -EINVAL;
}

/* Header type(1), 16-bit length and data, the shape most payloads share. */
static bool put_tlv(struct wire_wr *w, uint8_t type, struct mikey_view v)
{
	if (v.len > UINT16_MAX)
		return false;
	wire_put_u8(w, type);
	wire_put_u16(w, (uint16_t)v.len);
	wire_put(w, v.ptr, v.len);
	return true;
}

static bool put_payload(struct wire_wr *w, const struct mikey_payload *p, uint8_t next)
{
	if (p->type == MIKEY_PT_SIGN) {
		if (p->u.sign.sign_type > 0x0f || p->u.sign.sig.len > 0x0fff)
			return false;
		wire_put_u16(w, (uint16_t)(p->u.sign.sign_type << 12 | p->u.sign.sig.len));
		wire_put(w, p->u.sign.sig.ptr, p->u.sign.sig.len);
		return true;
	}

	wire_put_u8(w, next);
	switch (p->type) {
	case MIKEY_PT_T:
		wire_put_u8(w, p->u.t.ts_type);
		switch (p->u.t.ts_type) {
		case MIKEY_TS_NTP_UTC:
		case MIKEY_TS_NTP:
			wire_put_u64(w, p->u.t.value);
			return true;
		case MIKEY_TS_COUNTER:
			if (p->u.t.value > UINT32_MAX)
				return false;
			wire_put_u32(w, (uint32_t)p->u.t.value);
			return true;
		default:
			return false;
		}
	case MIKEY_PT_RAND:
		if (p->u.rand.rand.len > UINT8_MAX)
			return false;
		wire_put_u8(w, (uint8_t)p->u.rand.rand.len);
		wire_put(w, p->u.rand.rand.ptr, p->u.rand.rand.len);
		return true;
	case MIKEY_PT_IDR:
		wire_put_u8(w, p->u.idr.role);
		return put_tlv(w, p->u.idr.id_type, p->u.idr.data);
	case MIKEY_PT_ID:
		return put_tlv(w, p->u.id.id_type, p->u.id.data);
	case MIKEY_PT_SAKKE:
		wire_put_u8(w, p->u.sakke.params);
		return put_tlv(w, p->u.sakke.id_scheme, p->u.sakke.data);
	case MIKEY_PT_SP:
		wire_put_u8(w, p->u.sp.policy_no);
		return put_tlv(w, p->u.sp.prot_type, p->u.sp.params);
	case MIKEY_PT_GENEXT:
		return put_tlv(w, p->u.ext.ext_type, p->u.ext.data);
	case MIKEY_PT_CERT:
		return put_tlv(w, p->u.cert.cert_type, p->u.cert.data);
	default:
		return false;
	}
}

int mikey_encode(const struct mikey_hdr *hdr, const struct mikey_payload *pl,
    size_t n, uint8_t *out, size_t cap, size_t *len, struct mikey_error *err)
{
	struct wire_wr w;

	if (hdr->prf > 0x7f)
		return bad(err, MIKEY_E_BAD_ARG, 3);
	wire_wr_init(&w, out, cap);
	wire_put_u8(&w, hdr->version);
	wire_put_u8(&w, hdr->data_type);
	wire_put_u8(&w, n ? pl[0].type : MIKEY_PT_LAST);
	wire_put_u8(&w, (uint8_t)((hdr->v ? 0x80 : 0) | hdr->prf));
	wire_put_u32(&w, hdr->csb_id);
	wire_put_u8(&w, hdr->cs_count);
	wire_put_u8(&w, hdr->map_type);
	wire_put(&w, hdr->map_info.ptr, hdr->map_info.len);

	for (size_t i = 0; i < n; i++) {
		/* SIGN has no next-payload octet, so nothing can follow it. */
		if (pl[i].type == MIKEY_PT_SIGN && i + 1 != n)
			return bad(err, MIKEY_E_SIGN_NOT_LAST, w.pos);
		uint8_t next = i + 1 < n ? pl[i + 1].type : MIKEY_PT_LAST;
		size_t at = w.pos;
		if (!put_payload(&w, &pl[i], next))
			return bad(err, MIKEY_E_BAD_ARG, at);
	}

	*len = w.pos;
	if (wire_wr_overflow(&w)) {
		if (err) {
			err->code = MIKEY_E_NOSPACE;
			err->offset = w.cap;
		}
		return -ENOSPC;
	}
	return 0;
}
