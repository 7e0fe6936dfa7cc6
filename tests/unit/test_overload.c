/* Unit tests of overload control's hysteresis (src/overload.c). */
#include "config.h"

#include "overload.h"
#include "testutil.h"

static const struct overload_limits limits = {
	.queue_high = 50, .queue_low = 10, .max_in_flight = 100, .retry_after = 5,
};

START_TEST(test_admits_below_limits)
{
	struct overload o = { 0 };

	ck_assert_int_eq(overload_update(&o, &limits, 49, 99), OVERLOAD_SAME);
	ck_assert(overload_admit(&o));
	ck_assert_uint_eq(o.refused_total, 0);
}
END_TEST

START_TEST(test_queue_hysteresis)
{
	struct overload o = { 0 };

	ck_assert_int_eq(overload_update(&o, &limits, 50, 0), OVERLOAD_STARTED);
	ck_assert_int_eq(o.cause, OVERLOAD_QUEUE);
	ck_assert(!overload_admit(&o));
	/* Between low and high: still refusing, once started. */
	ck_assert_int_eq(overload_update(&o, &limits, 30, 0), OVERLOAD_SAME);
	ck_assert(!overload_admit(&o));
	ck_assert_int_eq(overload_update(&o, &limits, 80, 0), OVERLOAD_SAME);
	ck_assert_int_eq(overload_update(&o, &limits, 10, 0), OVERLOAD_SAME);	/* low is exclusive */
	ck_assert_uint_eq(o.peak_queue, 80);
	ck_assert_int_eq(overload_update(&o, &limits, 9, 0), OVERLOAD_ENDED);
	ck_assert(overload_admit(&o));
	ck_assert_uint_eq(o.refused, 2);
	/* Between low and high again: admitting, once ended. */
	ck_assert_int_eq(overload_update(&o, &limits, 30, 0), OVERLOAD_SAME);
	ck_assert(overload_admit(&o));
	/* A second episode counts afresh. */
	ck_assert_int_eq(overload_update(&o, &limits, 100, 0), OVERLOAD_STARTED);
	ck_assert_uint_eq(o.refused, 0);
	ck_assert(!overload_admit(&o));
	ck_assert_uint_eq(o.refused_total, 3);
	ck_assert_uint_eq(o.episodes, 2);
}
END_TEST

START_TEST(test_in_flight_hysteresis)
{
	struct overload o = { 0 };

	ck_assert_int_eq(overload_update(&o, &limits, 0, 100), OVERLOAD_STARTED);
	ck_assert_int_eq(o.cause, OVERLOAD_IN_FLIGHT);
	/* Stops only below 90 % of the limit. */
	ck_assert_int_eq(overload_update(&o, &limits, 0, 95), OVERLOAD_SAME);
	ck_assert_int_eq(overload_update(&o, &limits, 0, 90), OVERLOAD_SAME);
	/* Both measures must be low to admit again. */
	ck_assert_int_eq(overload_update(&o, &limits, 20, 89), OVERLOAD_SAME);
	ck_assert_int_eq(overload_update(&o, &limits, 0, 89), OVERLOAD_ENDED);
}
END_TEST

START_TEST(test_no_in_flight_limit)
{
	const struct overload_limits unlimited = { .queue_high = 50, .queue_low = 10, .max_in_flight = 0 };
	struct overload o = { 0 };

	ck_assert_int_eq(overload_update(&o, &unlimited, 0, 4000000000u), OVERLOAD_SAME);
	ck_assert(overload_admit(&o));
	ck_assert_int_eq(overload_update(&o, &unlimited, 60, 4000000000u), OVERLOAD_STARTED);
	ck_assert_int_eq(overload_update(&o, &unlimited, 0, 4000000000u), OVERLOAD_ENDED);
}
END_TEST

static Suite *overload_suite(void)
{
	Suite *s = suite_create("overload");
	TCase *tc = tcase_create("hysteresis");

	tcase_add_test(tc, test_admits_below_limits);
	tcase_add_test(tc, test_queue_hysteresis);
	tcase_add_test(tc, test_in_flight_hysteresis);
	tcase_add_test(tc, test_no_in_flight_limit);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(overload_suite());
}
