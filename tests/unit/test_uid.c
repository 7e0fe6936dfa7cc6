/* Unit tests of UID derivation (TS 33.180 F.2.1 vectors) and the time conversions. */
#include "config.h"

#include <errno.h>
#include <time.h>

#include "timeutil.h"
#include "uid.h"
#include "testutil.h"

struct uid_vector {
	const char *uri, *kms;
	uint64_t period, offset, kpn;
	const char *uid;
};

/* vectors/crypto.md 5.2: the F.2.1.2 example, vendor vectors, the vendor KMS users. */
static const struct uid_vector vectors[] = {
	{ "sip:user@example.org", "kms.example.org", 2592000, 0, 1388,
	  "3a81fb14c3b1d0fe43c9c577104d55a6d81788bfd2f09743c4557746a5a0353b" },
	{ "sip:user@example.org", "kms.example.org", 2592000, 0, 1,
	  "74e2af803ab5d72841bbced0ce319ffe64f6fe23c88a2d258aabcf6ac5658ef4" },
	{ "sip:user@example.org", "kms.example.org", 10, 0, 10,
	  "94fb1a697c15d7e9d6b7062066affebda2d9e346e0090d67525c0c3ce666eafa" },
	{ "sip:user@example.org", "kms.example.org", 25920000, 100, 1,
	  "3c0ad8828cfae1ad1d08b27cc7b61258c6cfcd405081b68cd778f1e1c7f562a7" },
	{ "sip:user@example.org", "kms.example.org", 25920000, 100, 2048,
	  "c88b3fa5e36a08985d10f7b31a631b0265e8249f0312435e4984dbc3765c7f0c" },
	{ "sip:user@example.org", "kms.example.org", 25920000, 45920000, 20393844,
	  "8dc05540167345538475101514f4eabd384abd6ba665782abb312ecaf05934e1" },
	{ "sip:alice@streamwide.com", "kms.mydev.streamwide.com", 16777215, 0, 236,
	  "b5c452309219da6a3d805615548d6c1b0f4de45a6b48fb13d9a24d857fc03dc4" },
	{ "sip:bob@streamwide.com", "kms.mydev.streamwide.com", 16777215, 0, 236,
	  "780851cda91a9c33f941cd3a2831697e2893264754e363f8a0cef827eb201a81" },
	{ "gms@streamwide.com", "kms.mydev.streamwide.com", 16777215, 0, 236,
	  "15a4d5b12856538d02d91fedbb766e6dd377b014c92e216666c8fb678608d20e" },
};

START_TEST(test_uid_vector)
{
	const struct uid_vector *v = &vectors[_i];
	uint8_t uid[UID_LEN];
	char hex[2 * UID_LEN + 1];

	ck_assert_int_eq(uid_derive(v->uri, strlen(v->uri), v->kms, strlen(v->kms), v->period,
	    v->offset, v->kpn, uid), 0);
	hex_encode(uid, UID_LEN, hex);
	ck_assert_str_eq(hex, v->uid);
}
END_TEST

START_TEST(test_period_number)
{
	uint64_t kpn;

	/* The vendor I_MESSAGE: T = 3968437672, period 16777215 -> 236. */
	ck_assert_int_eq(uid_period_no(3968437672u, 16777215, 0, &kpn), 0);
	ck_assert_uint_eq(kpn, 236);
	/* F.2.1.2: NTP 3599719634 (2014-01-26T10:07:14Z), 30-day periods -> 1388. */
	ck_assert_int_eq(uid_period_no(3599719634u, 2592000, 0, &kpn), 0);
	ck_assert_uint_eq(kpn, 1388);
	ck_assert_int_eq(uid_period_no(100, 10, 100, &kpn), 0);
	ck_assert_uint_eq(kpn, 0);
	ck_assert_int_eq(uid_period_no(99, 10, 100, &kpn), -EINVAL);
	ck_assert_int_eq(uid_period_no(100, 0, 0, &kpn), -EINVAL);
}
END_TEST

START_TEST(test_uid_limits)
{
	uint8_t uid[UID_LEN];
	char *big = calloc(65536, 1);

	ck_assert_int_eq(uid_derive(big, 65536, "k", 1, 1, 0, 0, uid), -EINVAL);
	ck_assert_int_eq(uid_derive("u", 1, big, 65536, 1, 0, 0, uid), -EINVAL);
	ck_assert_int_eq(uid_derive(big, 65535, "k", 1, UINT64_MAX, UINT64_MAX, UINT64_MAX, uid), 0);
	free(big);
}
END_TEST

START_TEST(test_time_iso)
{
	int64_t t;
	char out[TIME_ISO_LEN];

	ck_assert_int_eq(time_parse_iso("1970-01-01T00:00:00Z", &t), 0);
	ck_assert_int_eq(t, 0);
	ck_assert_int_eq(time_parse_iso("2026-11-29T10:00:00Z", &t), 0);
	ck_assert_int_eq(t, 1795946400);
	ck_assert_int_eq(time_parse_iso("2026-11-29T11:30:00+01:30", &t), 0);
	ck_assert_int_eq(t, 1795946400);
	ck_assert_int_eq(time_parse_iso("2026-11-29T10:00:00.123456Z", &t), 0);
	ck_assert_int_eq(t, 1795946400);
	ck_assert_int_eq(time_parse_iso("2024-02-29T00:00:00Z", &t), 0);
	ck_assert_int_eq(time_parse_iso("2023-02-29T00:00:00Z", &t), -EINVAL);
	ck_assert_int_eq(time_parse_iso("2026-13-01T00:00:00Z", &t), -EINVAL);
	ck_assert_int_eq(time_parse_iso("2026-11-29 10:00:00Z", &t), -EINVAL);
	ck_assert_int_eq(time_parse_iso("2026-11-29T10:00:00", &t), -EINVAL);
	ck_assert_int_eq(time_parse_iso("2026-11-29T10:00:00Zjunk", &t), -EINVAL);
	ck_assert_int_eq(time_parse_iso("2026-11-29T24:00:00Z", &t), -EINVAL);
	ck_assert_int_eq(time_parse_iso("", &t), -EINVAL);
	ck_assert_int_eq(time_format_iso(1795946400, out), 0);
	ck_assert_str_eq(out, "2026-11-29T10:00:00Z");
	ck_assert_int_eq(time_format_iso((int64_t)1 << 50, out), -EINVAL);
}
END_TEST

/* The hand-written formatter against libc's gmtime_r, over the whole range. */
START_TEST(test_time_format_vs_libc)
{
	char ours[TIME_ISO_LEN], libc[64];
	uint64_t x = 88172645463325252ull;	/* xorshift: the same values every run */

	for (int i = 0; i < 200000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		int64_t t = -62135596800LL + (int64_t)(x % (253402300799ull + 62135596800ull + 1));
		if (i < 4)
			t = (int64_t[]){ -62135596800LL, 253402300799LL, -1, 0 }[i];
		time_t tt = (time_t)t;
		struct tm tm;
		ck_assert_ptr_nonnull(gmtime_r(&tt, &tm));
		snprintf(libc, sizeof(libc), "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
		    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
		ck_assert_int_eq(time_format_iso(t, ours), 0);
		ck_assert_str_eq(ours, libc);
	}
	ck_assert_int_eq(time_format_iso(-62135596801LL, ours), -EINVAL);
	ck_assert_int_eq(time_format_iso(253402300800LL, ours), -EINVAL);
}
END_TEST

START_TEST(test_time_ntp)
{
	/* spec-notes 1.7: 0xe8fe6f80 is 2023-11-14T22:13:20Z. */
	ck_assert_int_eq(time_ntp_to_unix(0xe8fe6f80u), 1700000000);
	ck_assert_uint_eq(time_unix_to_ntp(1700000000), 0xe8fe6f80u);
	/* After 2036-02-07 the 32-bit field wraps into era 1. */
	ck_assert_int_eq(time_ntp_to_unix(time_unix_to_ntp(2200000000)), 2200000000);
	ck_assert_int_eq(time_ntp_to_unix(0x80000000u), 2147483648 - 2208988800LL);
}
END_TEST

static Suite *uid_suite(void)
{
	Suite *s = suite_create("uid");
	TCase *tc = tcase_create("uid");

	tcase_add_loop_test(tc, test_uid_vector, 0, sizeof(vectors) / sizeof(vectors[0]));
	tcase_add_test(tc, test_period_number);
	tcase_add_test(tc, test_uid_limits);
	suite_add_tcase(s, tc);
	tc = tcase_create("time");
	tcase_add_test(tc, test_time_iso);
	tcase_add_test(tc, test_time_ntp);
	tcase_add_test(tc, test_time_format_vs_libc);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(uid_suite());
}
