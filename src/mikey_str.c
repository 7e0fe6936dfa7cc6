/* Names of MIKEY constants and decoder errors, for logs, Warning headers and JSON. */
#include "config.h"

#include "mikey.h"

#define NAME(table, v) ((v) < sizeof(table) / sizeof((table)[0]) && (table)[v] ? (table)[v] : "unknown")

static const struct {
	const char *name;	/* stable identifier for scripts and JSON */
	const char *text;	/* for people */
} errors[MIKEY_E__COUNT] = {
	[MIKEY_OK] = { "ok", "no error" },
	[MIKEY_E_TRUNCATED] = { "truncated", "truncated: a length runs past the end of the message" },
	[MIKEY_E_TOO_LONG] = { "too-long", "message longer than 65535 octets" },
	[MIKEY_E_VERSION] = { "bad-version", "unsupported MIKEY version (not 1)" },
	[MIKEY_E_MAP_TYPE] = { "unknown-map-type", "unknown CS ID map type" },
	[MIKEY_E_UNKNOWN_PAYLOAD] = { "unknown-payload", "unknown payload type" },
	[MIKEY_E_UNSUPPORTED_PAYLOAD] = { "unsupported-payload", "payload type not allowed in a MIKEY-SAKKE I_MESSAGE" },
	[MIKEY_E_TS_TYPE] = { "unknown-ts-type", "unknown timestamp type" },
	[MIKEY_E_ROLE] = { "unknown-id-role", "unknown IDR ID role" },
	[MIKEY_E_ID_TYPE] = { "unknown-id-type", "unknown ID type" },
	[MIKEY_E_DUP_ROLE] = { "duplicate-id-role", "IDR role repeated" },
	[MIKEY_E_DUP_PAYLOAD] = { "duplicate-payload", "T, RAND or SAKKE payload repeated" },
	[MIKEY_E_SAKKE_LEN] = { "bad-sakke-length", "SAKKE data length is not 273 for parameter set 1" },
	[MIKEY_E_SIGN_LEN] = { "bad-signature-length", "ECCSI signature length is not 129" },
	[MIKEY_E_SIGN_NOT_LAST] = { "sign-not-last", "SIGN must be the last payload" },
	[MIKEY_E_TRAILING] = { "trailing-octets", "octets after the end of the message" },
	[MIKEY_E_NO_SIGN] = { "missing-sign", "I_MESSAGE without SIGN payload" },
	[MIKEY_E_TOO_MANY] = { "too-many-payloads", "more than 32 payloads" },
	[MIKEY_E_NOSPACE] = { "no-space", "output buffer too small" },
	[MIKEY_E_BAD_ARG] = { "bad-field", "a field does not fit its wire format" },
};

const char *mikey_strerror(enum mikey_err code)
{
	return (unsigned)code < MIKEY_E__COUNT ? errors[code].text : "unknown error";
}

const char *mikey_err_name(enum mikey_err code)
{
	return (unsigned)code < MIKEY_E__COUNT ? errors[code].name : "unknown";
}

const char *mikey_pt_name(unsigned type)
{
	static const char *const names[] = {
		[MIKEY_PT_LAST] = "LAST", [MIKEY_PT_KEMAC] = "KEMAC",
		[MIKEY_PT_PKE] = "PKE", [MIKEY_PT_DH] = "DH",
		[MIKEY_PT_SIGN] = "SIGN", [MIKEY_PT_T] = "T", [MIKEY_PT_ID] = "ID",
		[MIKEY_PT_CERT] = "CERT", [MIKEY_PT_CHASH] = "CHASH",
		[MIKEY_PT_V] = "V", [MIKEY_PT_SP] = "SP", [MIKEY_PT_RAND] = "RAND",
		[MIKEY_PT_ERR] = "ERR", [13] = "TR", [MIKEY_PT_IDR] = "IDR",
		[15] = "RANDR", [16] = "TP", [17] = "TICKET",
		[MIKEY_PT_KEYDATA] = "KEYDATA", [MIKEY_PT_GENEXT] = "GENEXT",
		[MIKEY_PT_SAKKE] = "SAKKE",
	};
	if (type == MIKEY_PT_HDR)
		return "HDR";
	return NAME(names, type);
}

const char *mikey_role_name(unsigned role)
{
	static const char *const names[] = {
		[MIKEY_ROLE_IDRI] = "IDRi", [MIKEY_ROLE_IDRR] = "IDRr",
		[MIKEY_ROLE_IDRKMS] = "IDRkms", [MIKEY_ROLE_IDRPSK] = "IDRpsk",
		[MIKEY_ROLE_IDRAPP] = "IDRapp", [MIKEY_ROLE_IDRKMSI] = "IDRkmsi",
		[MIKEY_ROLE_IDRKMSR] = "IDRkmsr", [MIKEY_ROLE_IDRUIDI] = "IDRuidi",
		[MIKEY_ROLE_IDRUIDR] = "IDRuidr",
	};
	return NAME(names, role);
}

const char *mikey_id_type_name(unsigned id_type)
{
	static const char *const names[] = { "NAI", "URI", "bytes" };
	return NAME(names, id_type);
}

const char *mikey_ts_type_name(unsigned ts_type)
{
	static const char *const names[] = { "NTP-UTC", "NTP", "COUNTER" };
	return NAME(names, ts_type);
}

const char *mikey_map_type_name(unsigned map_type)
{
	static const char *const names[] = { "SRTP-ID", "empty", "GENERIC-ID" };
	return NAME(names, map_type);
}

const char *mikey_sign_type_name(unsigned sign_type)
{
	static const char *const names[] = { "RSA-PKCS1", "RSA-PSS", "ECCSI" };
	return NAME(names, sign_type);
}

const char *mikey_ext_type_name(unsigned ext_type)
{
	/* RFC 3830 0-1, TS 33.180 E.5 (6) and E.6 (7). */
	static const char *const names[] = {
		[0] = "vendor-id", [1] = "sdp-ids", [6] = "sakke-to-self",
		[7] = "3gpp-key-parameters",
	};
	return NAME(names, ext_type);
}
