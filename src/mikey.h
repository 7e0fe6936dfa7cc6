/* MIKEY-SAKKE I_MESSAGE model, decoder and encoder (RFC 3830, RFC 6043, RFC 6509, TS 33.180 Annex E). */
#ifndef MCX_MIKEY_H
#define MCX_MIKEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bounds that keep hostile input cheap; a real I_MESSAGE is under 1 kB. */
#define MIKEY_MAX_MESSAGE	65535
#define MIKEY_MAX_PAYLOADS	32

#define MIKEY_VERSION		1
#define MIKEY_DATA_SAKKE	26	/* I_MESSAGE of MIKEY-SAKKE (RFC 6509) */
#define MIKEY_SAKKE_PARAMS_1	1
#define MIKEY_SAKKE_SET1_LEN	273	/* R (257) || H (16) */
#define MIKEY_ECCSI_SIG_LEN	129	/* r (32) || s (32) || PVT (65) */
#define MIKEY_HDR_LEN		10	/* up to and including the CS ID map type */

/* Payload types (next-payload values, RFC 3830 6.1, RFC 6043, RFC 6509). */
enum mikey_pt {
	MIKEY_PT_LAST = 0,
	MIKEY_PT_KEMAC = 1,
	MIKEY_PT_PKE = 2,
	MIKEY_PT_DH = 3,
	MIKEY_PT_SIGN = 4,
	MIKEY_PT_T = 5,
	MIKEY_PT_ID = 6,
	MIKEY_PT_CERT = 7,
	MIKEY_PT_CHASH = 8,
	MIKEY_PT_V = 9,
	MIKEY_PT_SP = 10,
	MIKEY_PT_RAND = 11,
	MIKEY_PT_ERR = 12,
	MIKEY_PT_IDR = 14,
	MIKEY_PT_KEYDATA = 20,
	MIKEY_PT_GENEXT = 21,
	MIKEY_PT_SAKKE = 26,
	MIKEY_PT_HDR = 255,	/* pseudo type for the common header in payload lists */
};

/* ID roles of the IDR payload (RFC 6043, RFC 6509, TS 33.180 E.7). */
enum mikey_role {
	MIKEY_ROLE_IDRI = 1,
	MIKEY_ROLE_IDRR = 2,
	MIKEY_ROLE_IDRKMS = 3,
	MIKEY_ROLE_IDRPSK = 4,
	MIKEY_ROLE_IDRAPP = 5,
	MIKEY_ROLE_IDRKMSI = 6,
	MIKEY_ROLE_IDRKMSR = 7,
	MIKEY_ROLE_IDRUIDI = 8,
	MIKEY_ROLE_IDRUIDR = 9,
	MIKEY_ROLE_MAX = 9,
};

enum mikey_id_type { MIKEY_ID_NAI = 0, MIKEY_ID_URI = 1, MIKEY_ID_BYTES = 2 };
enum mikey_ts_type { MIKEY_TS_NTP_UTC = 0, MIKEY_TS_NTP = 1, MIKEY_TS_COUNTER = 2 };
enum mikey_map_type { MIKEY_MAP_SRTP = 0, MIKEY_MAP_EMPTY = 1, MIKEY_MAP_GENERIC = 2 };
enum mikey_sign_type { MIKEY_SIGN_RSA_PKCS1 = 0, MIKEY_SIGN_RSA_PSS = 1, MIKEY_SIGN_ECCSI = 2 };

/* Every way a message can be refused; each has a name (mikey_strerror). */
enum mikey_err {
	MIKEY_OK = 0,
	MIKEY_E_TRUNCATED,	/* a field or length runs past the end */
	MIKEY_E_TOO_LONG,	/* message above MIKEY_MAX_MESSAGE */
	MIKEY_E_VERSION,	/* version is not 1 */
	MIKEY_E_MAP_TYPE,	/* unknown CS ID map type */
	MIKEY_E_UNKNOWN_PAYLOAD,	/* next-payload value nobody defines */
	MIKEY_E_UNSUPPORTED_PAYLOAD,	/* defined by RFC 3830 but not in an I_MESSAGE */
	MIKEY_E_TS_TYPE,	/* unknown timestamp type */
	MIKEY_E_ROLE,		/* unknown IDR role */
	MIKEY_E_ID_TYPE,	/* unknown ID type */
	MIKEY_E_DUP_ROLE,	/* an IDR role seen twice */
	MIKEY_E_DUP_PAYLOAD,	/* a second T, RAND or SAKKE payload */
	MIKEY_E_SAKKE_LEN,	/* SAKKE data length wrong for its parameter set */
	MIKEY_E_SIGN_LEN,	/* ECCSI signature not 129 octets */
	MIKEY_E_SIGN_NOT_LAST,	/* a payload placed after SIGN */
	MIKEY_E_TRAILING,	/* octets after the signature (or the last payload) */
	MIKEY_E_NO_SIGN,	/* an I_MESSAGE (data type 26) without SIGN */
	MIKEY_E_TOO_MANY,	/* more than MIKEY_MAX_PAYLOADS payloads */
	MIKEY_E_NOSPACE,	/* encoder: output buffer too small */
	MIKEY_E_BAD_ARG,	/* encoder: a field does not fit its wire width */
	MIKEY_E__COUNT,
};

struct mikey_error {
	enum mikey_err code;
	size_t offset;		/* octet offset of the offending field */
};

/* A view into the caller's buffer: never owned, lives as long as that buffer. */
struct mikey_view {
	const uint8_t *ptr;
	size_t len;
};

struct mikey_hdr {
	uint8_t version;
	uint8_t data_type;
	bool v;			/* verification message flag (must be 0 in MCX) */
	uint8_t prf;
	uint32_t csb_id;
	uint8_t cs_count;
	uint8_t map_type;
	struct mikey_view map_info;	/* raw CS ID map info (empty for type 1) */
};

/* One payload as decoded, or as given to the encoder. */
struct mikey_payload {
	uint8_t type;		/* enum mikey_pt */
	size_t offset;		/* decoder: where it starts in the message */
	size_t length;		/* decoder: octets, headers included */
	union {
		struct { uint8_t ts_type; uint64_t value; } t;	/* NTP: 64 bits; COUNTER: low 32 */
		struct { struct mikey_view rand; } rand;
		struct { uint8_t role, id_type; struct mikey_view data; } idr;
		struct { uint8_t id_type; struct mikey_view data; } id;
		struct { uint8_t params, id_scheme; struct mikey_view data; } sakke;
		struct { uint8_t policy_no, prot_type; struct mikey_view params; } sp;
		struct { uint8_t ext_type; struct mikey_view data; } ext;
		struct { uint8_t cert_type; struct mikey_view data; } cert;
		struct { uint8_t sign_type; struct mikey_view sig; } sign;
	} u;
};

struct mikey_msg {
	struct mikey_hdr hdr;
	struct mikey_payload pl[MIKEY_MAX_PAYLOADS];	/* wire order */
	size_t n_pl;
	/* Indexes into pl[] for quick access; -1 when absent. */
	int t, rand, sakke, sign;
	int idr[MIKEY_ROLE_MAX + 1];		/* by role */
	/* What the ECCSI signature covers: HDR through the SIGN header (TS 33.180 E.1). */
	struct mikey_view signed_span;
	struct mikey_view whole;
};

/*
 * Decode one MIKEY message.  On success fills *msg with views into buf (buf
 * must outlive msg) and returns 0.  On failure returns -EBADMSG (malformed)
 * or -EPROTO (well formed but against the profile), fills *err when non-NULL,
 * and leaves *msg untouched.
 */
int mikey_decode(const uint8_t *buf, size_t len, struct mikey_msg *msg,
    struct mikey_error *err);

/* The IDR payload for a role, or NULL. */
const struct mikey_payload *mikey_idr(const struct mikey_msg *msg, enum mikey_role role);

/* What an IDR's data is, read as clients read it. */
enum mikey_idr_form {
	MIKEY_IDR_TEXT,		/* visible ASCII, once trailing NUL octets (C string ends) are dropped */
	MIKEY_IDR_UID,		/* 32 octets that are not text: a UID (TS 33.180 F.2.1) in place of a URI */
	MIKEY_IDR_BAD,		/* empty, or a NUL, control, space or non-ASCII octet inside the text */
};

/* The form of an IDR payload's data; *text is the identity without its trailing NULs. */
enum mikey_idr_form mikey_idr_form(const struct mikey_payload *idr, struct mikey_view *text);

/*
 * Encode hdr followed by the n payloads in the given order; next-payload
 * fields are derived from that order and SIGN must come last.  Writes at most
 * cap octets to out (which may be NULL with cap 0 to learn the size), stores
 * the encoded size in *len and returns 0, or -ENOSPC (size still stored),
 * -EINVAL with *err set when a field does not fit or SIGN is not last.
 */
int mikey_encode(const struct mikey_hdr *hdr, const struct mikey_payload *pl,
    size_t n, uint8_t *out, size_t cap, size_t *len, struct mikey_error *err);

/* One CS of a GENERIC-ID map (RFC 6043 6.1.1), as views into the map info. */
struct mikey_generic_cs {
	uint8_t cs_id, prot_type;
	bool s;
	struct mikey_view ps;		/* #P policy numbers */
	struct mikey_view session_data;
	struct mikey_view spi;
};

/* One CS of an SRTP-ID map (RFC 3830 6.1.1). */
struct mikey_srtp_cs {
	uint8_t policy_no;
	uint32_t ssrc, roc;
};

/* Read the i-th CS of a decoded header's map; 0, or -ENOENT / -EBADMSG. */
int mikey_generic_cs_get(const struct mikey_hdr *hdr, unsigned i, struct mikey_generic_cs *cs);
int mikey_srtp_cs_get(const struct mikey_hdr *hdr, unsigned i, struct mikey_srtp_cs *cs);

/* Names for people and JSON; never NULL ("unknown" for values nobody defines). */
const char *mikey_strerror(enum mikey_err code);
const char *mikey_err_name(enum mikey_err code);
const char *mikey_pt_name(unsigned type);
const char *mikey_role_name(unsigned role);
const char *mikey_id_type_name(unsigned id_type);
const char *mikey_ts_type_name(unsigned ts_type);
const char *mikey_map_type_name(unsigned map_type);
const char *mikey_sign_type_name(unsigned sign_type);
const char *mikey_ext_type_name(unsigned ext_type);

/* NTP seconds (since 1900) of a T payload value, for NTP and NTP-UTC types. */
static inline uint32_t mikey_ntp_seconds(uint64_t ts) { return (uint32_t)(ts >> 32); }
#define MIKEY_NTP_UNIX_OFFSET	2208988800u	/* 1900-01-01 to 1970-01-01 */

#endif
