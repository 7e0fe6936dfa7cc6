/* UID derivation (TS 33.180 F.2.1): one SHA-256 over length-tagged parameters. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include <openssl/evp.h>

#include "uid.h"

/* Minimal big-endian form of v; 0 is one zero octet (F.2.1). */
static size_t int_octets(uint64_t v, uint8_t out[8])
{
	size_t n = 0;
	uint8_t tmp[8];

	do {
		tmp[n++] = (uint8_t)v;
		v >>= 8;
	} while (v);
	for (size_t i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	return n;
}

static int add_param(EVP_MD_CTX *md, const void *p, size_t len)
{
	uint8_t l[2] = { (uint8_t)(len >> 8), (uint8_t)len };
	return EVP_DigestUpdate(md, p, len) && EVP_DigestUpdate(md, l, 2);
}

int uid_derive(const char *user_uri, size_t user_len, const char *kms_uri, size_t kms_len,
    uint64_t key_period, uint64_t key_offset, uint64_t period_no, uint8_t uid[UID_LEN])
{
	static const uint8_t fc = 0x00;
	static const char p0[] = "MIKEY-SAKKE-UID";
	uint8_t p3[8], p4[8], p5[8];
	size_t l3, l4, l5;
	unsigned int outlen = 0;
	EVP_MD_CTX *md;
	int ok;

	if (user_len > UINT16_MAX || kms_len > UINT16_MAX)
		return -EINVAL;
	l3 = int_octets(key_period, p3);
	l4 = int_octets(key_offset, p4);
	l5 = int_octets(period_no, p5);
	if ((md = EVP_MD_CTX_new()) == NULL)
		return -EIO;
	ok = EVP_DigestInit_ex(md, EVP_sha256(), NULL) &&
	    EVP_DigestUpdate(md, &fc, 1) &&
	    add_param(md, p0, sizeof(p0) - 1) &&
	    add_param(md, user_uri, user_len) &&
	    add_param(md, kms_uri, kms_len) &&
	    add_param(md, p3, l3) &&
	    add_param(md, p4, l4) &&
	    add_param(md, p5, l5) &&
	    EVP_DigestFinal_ex(md, uid, &outlen) && outlen == UID_LEN;
	EVP_MD_CTX_free(md);
	return ok ? 0 : -EIO;
}

int uid_period_no(uint64_t ntp_seconds, uint64_t key_period, uint64_t key_offset,
    uint64_t *period_no)
{
	if (key_period == 0 || ntp_seconds < key_offset)
		return -EINVAL;
	*period_no = (ntp_seconds - key_offset) / key_period;
	return 0;
}
