/* Unit tests of the JSON writer: separators, nesting, escaping, failure on misuse. */
#include "config.h"

#include <check.h>
#include <stdlib.h>

#include "json.h"

START_TEST(test_nesting)
{
	static const uint8_t bytes[] = { 0x00, 0xab, 0xff };
	struct json j;

	json_init(&j);
	json_obj_begin(&j);
	json_kstr(&j, "a", "x");
	json_kint(&j, "b", -5);
	json_kuint(&j, "c", UINT64_MAX);
	json_key(&j, "d");
	json_arr_begin(&j);
	json_bool(&j, true);
	json_null(&j);
	json_obj_begin(&j);
	json_obj_end(&j);
	json_arr_begin(&j);
	json_arr_end(&j);
	json_arr_end(&j);
	json_khex(&j, "e", bytes, sizeof(bytes));
	json_kbool(&j, "f", false);
	json_knull(&j, "g");
	json_obj_end(&j);
	ck_assert(!j.failed);
	ck_assert_str_eq(j.buf, "{\"a\":\"x\",\"b\":-5,\"c\":18446744073709551615,"
	    "\"d\":[true,null,{},[]],\"e\":\"00abff\",\"f\":false,\"g\":null}");
	json_reset(&j);
	json_arr_begin(&j);
	json_int(&j, 1);
	json_arr_end(&j);
	ck_assert_str_eq(j.buf, "[1]");
	json_free(&j);
}
END_TEST

START_TEST(test_escaping)
{
	struct json j;

	json_init(&j);
	json_strn(&j, "a\"b\\c\n\x01\x7f\xc3\xa9\0z", 12);
	ck_assert_str_eq(j.buf, "\"a\\\"b\\\\c\\u000a\\u0001\\u007f\\u00c3\\u00a9\\u0000z\"");
	json_free(&j);
}
END_TEST

START_TEST(test_long_and_misuse)
{
	struct json j;
	char *big = malloc(100000);

	memset(big, 'x', 99999);
	big[99999] = '\0';
	json_init(&j);
	json_str(&j, big);
	ck_assert_uint_eq(j.len, 100001);
	json_free(&j);
	free(big);

	json_init(&j);
	json_obj_end(&j);
	ck_assert(j.failed);
	json_free(&j);
	json_init(&j);
	for (int i = 0; i < JSON_MAX_DEPTH; i++)
		json_arr_begin(&j);
	ck_assert(j.failed);
	json_free(&j);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("json");
	TCase *tc = tcase_create("json");
	tcase_add_test(tc, test_nesting);
	tcase_add_test(tc, test_escaping);
	tcase_add_test(tc, test_long_and_misuse);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
