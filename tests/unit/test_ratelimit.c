/* Unit tests of the per-source token buckets (src/ratelimit.c). */
#include "config.h"

#include <stdio.h>

#include "ratelimit.h"
#include "testutil.h"

static const unsigned char A[4] = { 192, 0, 2, 1 }, B[4] = { 192, 0, 2, 2 };

START_TEST(test_burst_then_rate)
{
	struct ratelimit *r = ratelimit_new(64);
	unsigned retry = 0;
	unsigned long refused = 0;

	ck_assert_ptr_nonnull(r);
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(ratelimit_take(r, A, 4, 2, 5, 1000, &retry, &refused), RATELIMIT_ADMIT);
	ck_assert_int_eq(ratelimit_take(r, A, 4, 2, 5, 1000, &retry, &refused), RATELIMIT_REFUSE_FIRST);
	ck_assert_uint_eq(retry, 1);
	ck_assert_int_eq(ratelimit_take(r, A, 4, 2, 5, 1100, &retry, &refused), RATELIMIT_REFUSE);
	/* another source is not touched */
	ck_assert_int_eq(ratelimit_take(r, B, 4, 2, 5, 1100, &retry, &refused), RATELIMIT_ADMIT);
	/* 2 a second: one token 500 ms after the last refill */
	ck_assert_int_eq(ratelimit_take(r, A, 4, 2, 5, 1499, &retry, &refused), RATELIMIT_REFUSE);
	ck_assert_int_eq(ratelimit_take(r, A, 4, 2, 5, 1500, &retry, &refused), RATELIMIT_ADMIT_AGAIN);
	ck_assert_uint_eq(refused, 3);
	ck_assert_int_eq(ratelimit_take(r, A, 4, 2, 5, 1500, &retry, &refused), RATELIMIT_REFUSE_FIRST);
	/* a long pause fills the bucket to its size, no more */
	for (int i = 0; i < 5; i++)
		ck_assert_int_ne(ratelimit_take(r, A, 4, 2, 5, 100000, &retry, &refused), RATELIMIT_REFUSE);
	ck_assert_int_eq(ratelimit_take(r, A, 4, 2, 5, 100000, &retry, &refused), RATELIMIT_REFUSE_FIRST);
	ratelimit_free(r);
}
END_TEST

START_TEST(test_retry_after)
{
	struct ratelimit *r = ratelimit_new(16);
	unsigned retry = 0;
	unsigned long refused = 0;

	ck_assert_int_eq(ratelimit_take(r, A, 4, 1, 1, 0, &retry, &refused), RATELIMIT_ADMIT);
	ck_assert_int_eq(ratelimit_take(r, A, 4, 1, 1, 0, &retry, &refused), RATELIMIT_REFUSE_FIRST);
	ck_assert_uint_eq(retry, 1);
	/* one a second is the slowest rate: retry is never above a second here, never 0 */
	ck_assert_int_eq(ratelimit_take(r, A, 4, 1, 1, 999, &retry, &refused), RATELIMIT_REFUSE);
	ck_assert_uint_eq(retry, 1);
	ck_assert_int_eq(ratelimit_take(r, A, 4, 1, 1, 1000, &retry, &refused), RATELIMIT_ADMIT_AGAIN);
	/* no rate, no key: no limit */
	ck_assert_int_eq(ratelimit_take(r, A, 4, 0, 0, 0, &retry, &refused), RATELIMIT_ADMIT);
	ck_assert_int_eq(ratelimit_take(r, A, 0, 1, 1, 0, &retry, &refused), RATELIMIT_ADMIT);
	ratelimit_free(r);
}
END_TEST

START_TEST(test_bounded_table)
{
	struct ratelimit *r = ratelimit_new(16);	/* 4 sets of 4 */
	unsigned retry = 0;
	unsigned long refused = 0;
	unsigned char k[4] = { 10, 0, 0, 0 };

	/* drain A, then 100 000 other sources: A's bucket may be forgotten (full again), never emptier */
	ck_assert_int_eq(ratelimit_take(r, A, 4, 1, 1, 0, &retry, &refused), RATELIMIT_ADMIT);
	for (unsigned i = 0; i < 100000; i++) {
		k[1] = (unsigned char)(i >> 16), k[2] = (unsigned char)(i >> 8), k[3] = (unsigned char)i;
		ck_assert_int_eq(ratelimit_take(r, k, 4, 1, 1, 1, &retry, &refused), RATELIMIT_ADMIT);
	}
	ck_assert_int_ne(ratelimit_take(r, A, 4, 1, 1, 2, &retry, &refused), RATELIMIT_REFUSE);
	ratelimit_free(r);
}
END_TEST

static Suite *ratelimit_suite(void)
{
	Suite *s = suite_create("ratelimit");
	TCase *tc = tcase_create("buckets");

	tcase_add_test(tc, test_burst_then_rate);
	tcase_add_test(tc, test_retry_after);
	tcase_add_test(tc, test_bounded_table);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(ratelimit_suite());
}
