/* Unit tests of ECCSI verification: the RFC 6507 Appendix A vector, the vendor I_MESSAGE, and forgeries. */
#include "config.h"

#include <errno.h>

#include "b64.h"
#include "eccsi.h"
#include "mikey.h"
#include "uid.h"
#include "testutil.h"

/* RFC 6507 Appendix A (vectors/crypto.md 2). */
static const char RFC_KPAK[] = "0450D4670BDE75244F28D2838A0D25558A7A72686D4522D4C8273FB6442AEBFA93"
    "DBDD37551AFD263B5DFD617F3960C65A8C298850FF99F20366DCE7D4367217F4";
static const char RFC_ID[] = "323031312D30320074656C3A2B34343737303039303031323300";
static const char RFC_SIG[] = "269D4C8FDEB66A74E4EF8C0D5DCC597DDFE6029C2AFFC4936008CD2CC1045D81"
    "E09B528D0EF8D6DF1AA3ECBF80110CFCEC9FC68252CEBB679F4134846940CCFD"
    "04758A142779BE89E829E71984CB40EF758CC4AD775FC5B9A3E1C8ED52F6FA36D9"
    "A79D247692F4EDA3A6BDAB77D6AA6474A464AE4934663C5265BA7018BA091F79";
static const char RFC_Q[] = "FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551";

START_TEST(test_rfc6507)
{
	size_t kl, il, sl, ql;
	uint8_t *kpak = hex_decode(RFC_KPAK, &kl), *id = hex_decode(RFC_ID, &il);
	uint8_t *sig = hex_decode(RFC_SIG, &sl), *q = hex_decode(RFC_Q, &ql);
	const uint8_t msg[] = "message";	/* 8 octets: the NUL is part of it */

	ck_assert_uint_eq(kl, 65);
	ck_assert_uint_eq(il, 26);
	ck_assert_uint_eq(sl, 129);
	ck_assert_int_eq(eccsi_verify(kpak, id, il, msg, 8, sig, sl), 0);

	/* crypto.md 2: what must fail. */
	ck_assert_int_eq(eccsi_verify(kpak, id, il, msg, 7, sig, sl), -EPERM);	/* no NUL */
	ck_assert_int_eq(eccsi_verify(kpak, id, il - 1, msg, 8, sig, sl), -EPERM);	/* ID without NUL */
	ck_assert_int_eq(eccsi_verify(kpak, id, il, msg, 8, sig, 128), -EINVAL);
	sig[5] ^= 1;	/* a flipped bit in r */
	ck_assert_int_ne(eccsi_verify(kpak, id, il, msg, 8, sig, sl), 0);
	sig[5] ^= 1;
	sig[40] ^= 1;	/* in s */
	ck_assert_int_eq(eccsi_verify(kpak, id, il, msg, 8, sig, sl), -EPERM);
	sig[40] ^= 1;
	uint8_t bad[129];
	memcpy(bad, sig, 129);
	memset(bad, 0, 32);	/* r = 0 */
	ck_assert_int_eq(eccsi_verify(kpak, id, il, msg, 8, bad, 129), -EINVAL);
	memcpy(bad, sig, 129);
	memset(bad + 32, 0, 32);	/* s = 0 */
	ck_assert_int_eq(eccsi_verify(kpak, id, il, msg, 8, bad, 129), -EINVAL);
	memcpy(bad, sig, 129);
	memcpy(bad + 32, q, 32);	/* s = q */
	ck_assert_int_eq(eccsi_verify(kpak, id, il, msg, 8, bad, 129), -EINVAL);
	memcpy(bad, sig, 129);
	bad[64] = 0x02;	/* a compressed PVT */
	ck_assert_int_eq(eccsi_verify(kpak, id, il, msg, 8, bad, 129), -EINVAL);
	memcpy(bad, sig, 129);
	bad[100] ^= 1;	/* PVT off the curve */
	ck_assert_int_eq(eccsi_verify(kpak, id, il, msg, 8, bad, 129), -EINVAL);
	kpak[10] ^= 1;	/* KPAK off the curve */
	ck_assert_int_eq(eccsi_verify(kpak, id, il, msg, 8, sig, sl), -EINVAL);
	free(q);
	free(sig);
	free(id);
	free(kpak);
}
END_TEST

/* The vendor PCK I_MESSAGE (crypto.md 9): signed by sip:alice@streamwide.com over octets 0..553. */
START_TEST(test_vendor_imessage)
{
	static const char kpak_hex[] = "0448F9C2C48B50735F6BC70EC6691073243F1E0BD83CC73BB936D61FFCB2D6049A"
	    "5B297E8205B29FBD8591CB582D6402ADD21451CE4BEEBEAAA7520E93B11CF28F";
	size_t tlen, blen, kl;
	char *text = data_file("vendor-pck.b64", &tlen);
	uint8_t *b = malloc(B64_DECODED_MAX(tlen)), *kpak = hex_decode(kpak_hex, &kl), uid[UID_LEN];
	struct mikey_msg m;
	uint64_t kpn;

	ck_assert_int_eq(b64_decode(text, tlen, b, &blen, NULL), 0);
	ck_assert_int_eq(mikey_decode(b, blen, &m, NULL), 0);
	/* The signer's UID from its URI, the KMS URI and the T payload's key period. */
	ck_assert_int_eq(uid_period_no(mikey_ntp_seconds(m.pl[m.t].u.t.value), 16777215, 0, &kpn), 0);
	ck_assert_int_eq(uid_derive("sip:alice@streamwide.com", 24, "kms.mydev.streamwide.com", 24,
	    16777215, 0, kpn, uid), 0);
	ck_assert_mem_eq(uid, mikey_idr(&m, MIKEY_ROLE_IDRUIDI)->u.idr.data.ptr, UID_LEN);
	const struct mikey_payload *sign = &m.pl[m.sign];
	ck_assert_int_eq(eccsi_verify(kpak, uid, UID_LEN, m.signed_span.ptr, m.signed_span.len,
	    sign->u.sign.sig.ptr, sign->u.sign.sig.len), 0);
	/* Without the SIGN header octets it does not verify (crypto.md 4.3). */
	ck_assert_int_eq(eccsi_verify(kpak, uid, UID_LEN, m.signed_span.ptr, m.signed_span.len - 2,
	    sign->u.sign.sig.ptr, sign->u.sign.sig.len), -EPERM);
	/* A forged IDRkmsr: one octet of the signed part changed. */
	b[150] ^= 1;
	ck_assert_int_eq(eccsi_verify(kpak, uid, UID_LEN, m.signed_span.ptr, m.signed_span.len,
	    sign->u.sign.sig.ptr, sign->u.sign.sig.len), -EPERM);
	free(kpak);
	free(b);
	free(text);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("eccsi");
	TCase *tc = tcase_create("eccsi");
	tcase_add_test(tc, test_rfc6507);
	tcase_add_test(tc, test_vendor_imessage);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
