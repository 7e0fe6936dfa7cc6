/* Unit tests of the counters and their exposition (src/metrics.c): slots added up, bounds, escaping. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "testutil.h"

/* The value of the series line that starts with series and a space, or -1. */
static double value(const char *text, const char *series)
{
	size_t n = strlen(series);

	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (strncmp(p, series, n) == 0 && p[n] == ' ')
			return strtod(p + n + 1, NULL);
	return -1;
}

static char *render(void)
{
	size_t len = 0;
	char *t = metrics_render("9.9", &len);

	ck_assert_ptr_nonnull(t);
	ck_assert_uint_eq(strlen(t), len);
	return t;
}

/* One test does it all: the mapping is made once per process. */
START_TEST(test_slots_bounds_escaping)
{
	char *t;

	/* Before metrics_init everything is a no-op, and there is nothing to render. */
	metrics_decision("forward", "4:acceptable", "kms.a", "kms.b");
	ck_assert(!metrics_enabled());
	size_t len;
	ck_assert_ptr_null(metrics_render("9.9", &len));

	ck_assert_int_eq(metrics_init(3), 0);
	ck_assert(metrics_enabled());
	/* Three processes' slots: the same series in two of them add up. */
	metrics_use_slot(1);
	metrics_decision("forward", "4:acceptable", "kms.a", "kms.b");
	metrics_decision("forward", "4:acceptable", "kms.a", "kms.b");
	metrics_krr(METRICS_KRR_BUILT);
	metrics_lookup("table", METRICS_LOOKUP_FOUND);
	metrics_sip_request("INVITE");
	metrics_sip_request("FOO");
	metrics_sip_response(200);
	metrics_sip_response(999);
	metrics_in_flight(7);
	metrics_krr_sign_seconds(0.0003);
	metrics_use_slot(2);
	metrics_decision("forward", "4:acceptable", "kms.a", "kms.b");
	metrics_decision("krr", "1a:receiver-kms", "kms.a", "kms.c");
	metrics_krr(METRICS_KRR_BUILT);
	metrics_in_flight(5);
	metrics_krr_sign_seconds(0.004);
	metrics_krr_sign_seconds(100);
	metrics_use_slot(0);
	metrics_reload(true);
	metrics_reload(false);
	metrics_generation(3);
	metrics_use_slot(1);
	metrics_generation(2);
	t = render();
	ck_assert_double_eq(value(t, "mcx_sdproxy_decisions_total{decision=\"forward\",rule=\"4:acceptable\"}"), 3);
	ck_assert_double_eq(value(t, "mcx_sdproxy_decisions_total{decision=\"krr\",rule=\"1a:receiver-kms\"}"), 1);
	ck_assert_double_eq(value(t, "mcx_sdproxy_kms_pair_decisions_total{initiator_kms=\"kms.a\",receiver_kms=\"kms.b\"}"), 3);
	ck_assert_double_eq(value(t, "mcx_sdproxy_krr_total{event=\"built\"}"), 2);
	ck_assert_double_eq(value(t, "mcx_sdproxy_lookups_total{backend=\"table\",outcome=\"found\"}"), 1);
	ck_assert_double_eq(value(t, "mcx_sdproxy_sip_requests_total{method=\"INVITE\"}"), 1);
	ck_assert_double_eq(value(t, "mcx_sdproxy_sip_requests_total{method=\"other\"}"), 1);
	ck_assert_double_eq(value(t, "mcx_sdproxy_sip_responses_total{class=\"2xx\"}"), 1);
	ck_assert_double_eq(value(t, "mcx_sdproxy_sip_responses_total{class=\"other\"}"), 1);
	ck_assert_double_eq(value(t, "mcx_sdproxy_transactions_in_flight"), 12);	/* a gauge per process, added */
	ck_assert_double_eq(value(t, "mcx_sdproxy_config_generation"), 3);		/* the newest */
	ck_assert_double_eq(value(t, "mcx_sdproxy_reloads_total{result=\"done\"}"), 1);
	ck_assert_double_eq(value(t, "mcx_sdproxy_reloads_total{result=\"refused\"}"), 1);
	/* A histogram's buckets are cumulative; +Inf is the count. */
	ck_assert_double_eq(value(t, "mcx_sdproxy_krr_sign_seconds_bucket{le=\"0.0001\"}"), 0);
	ck_assert_double_eq(value(t, "mcx_sdproxy_krr_sign_seconds_bucket{le=\"0.0005\"}"), 1);
	ck_assert_double_eq(value(t, "mcx_sdproxy_krr_sign_seconds_bucket{le=\"0.005\"}"), 2);
	ck_assert_double_eq(value(t, "mcx_sdproxy_krr_sign_seconds_bucket{le=\"2.5\"}"), 2);
	ck_assert_double_eq(value(t, "mcx_sdproxy_krr_sign_seconds_bucket{le=\"+Inf\"}"), 3);
	ck_assert_double_eq(value(t, "mcx_sdproxy_krr_sign_seconds_count"), 3);
	ck_assert_double_eq_tol(value(t, "mcx_sdproxy_krr_sign_seconds_sum"), 100.0043, 1e-6);
	ck_assert_double_eq(value(t, "mcx_sdproxy_build_info{version=\"9.9\",workers=\"0\"}"), 1);
	free(t);

	/* KMS labels come from the network: escaped, cut, and bounded in number. */
	metrics_decision("reject", "1a:initiator-kms", "kms.\"evil\"\\\nx\x01", "kms.b");
	char pair[64];
	for (int i = 0; i < METRICS_PAIRS_MAX + 10; i++) {
		snprintf(pair, sizeof(pair), "kms.%d", i);
		metrics_decision("reject", "1a:initiator-kms", pair, "kms.r");
	}
	t = render();
	ck_assert_ptr_nonnull(strstr(t, "initiator_kms=\"kms.\\\"evil\\\"\\\\\\nx?\""));
	size_t series = 0;
	for (const char *p = t; (p = strstr(p, "\nmcx_sdproxy_kms_pair_decisions_total{")) != NULL; p++)
		series++;
	ck_assert_uint_eq(series, METRICS_PAIRS_MAX + 1);	/* 64 pairs, and other */
	/*
	 * This slot holds 64 pairs, (kms.a, kms.b), the evil one and 62 numbered, and counts 12 more as
	 * other; they are shown, and slot 2's (kms.a, kms.c) no longer fits: other is 13.
	 */
	ck_assert_double_eq(value(t, "mcx_sdproxy_kms_pair_decisions_total{initiator_kms=\"other\",receiver_kms=\"other\"}"), 13);
	ck_assert_ptr_null(strstr(t, "\n\n"));
	free(t);
}
END_TEST

START_TEST(test_label)
{
	char out[16];

	ck_assert_uint_eq(metrics_label(out, sizeof(out), "a\"b\\c\nd"), 10);
	ck_assert_str_eq(out, "a\\\"b\\\\c\\nd");
	/* Never past the buffer, never half an escape. */
	metrics_label(out, 6, "\"\"\"\"\"\"");
	ck_assert_str_eq(out, "\\\"\\\"");
	metrics_label(out, sizeof(out), NULL);
	ck_assert_str_eq(out, "");
}
END_TEST

static Suite *metrics_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("metrics");

	tcase_add_test(tc, test_slots_bounds_escaping);
	tcase_add_test(tc, test_label);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(metrics_suite());
}
