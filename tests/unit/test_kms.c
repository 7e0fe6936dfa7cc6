/* Unit tests of the KMS registry: KmsCertificate parsing, merging with the configuration, usability at time t. */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <unistd.h>

#include "kms.h"
#include "krr.h"
#include "timeutil.h"
#include "testutil.h"

static int64_t at(const char *iso)
{
	int64_t t;
	ck_assert_int_eq(time_parse_iso(iso, &t), 0);
	return t;
}

/* A configuration with the KMS list given, by hand (conf.c is not needed here). */
static struct conf *conf_with(struct conf_kms *kms, size_t n, const char *certs)
{
	struct conf *c = calloc(1, sizeof(*c));
	c->kms = kms;
	c->n_kms = n;
	c->kms_certificates = (char *)certs;
	return c;
}

static void setup(void)
{
	ck_assert_int_eq(krr_global_init(), 0);
}

START_TEST(test_cert_parse)
{
	size_t len;
	char *xml = data_file("kms/partner.xml", &len), err[160];
	struct kms_info k;
	int line;

	ck_assert_int_eq(kms_cert_parse(xml, len, &k, err, sizeof(err), &line), 0);
	ck_assert_str_eq(k.uri, "kms.partner.example");
	ck_assert_int_eq(k.role, CONF_KMS_EXTERNAL);
	ck_assert_int_eq(k.valid_from, at("2026-06-01T00:00:00Z"));
	ck_assert_int_eq(k.valid_to, at("2027-06-01T00:00:00Z"));
	ck_assert(!k.revoked);
	ck_assert_uint_eq(k.key_period, 2592000);
	ck_assert_uint_eq(k.key_offset, 0);
	ck_assert(k.has_kpak);
	ck_assert_uint_eq(k.kpak[0], 0x04);
	ck_assert_uint_eq(k.kpak[64], 0x8f);	/* the vendor KPAK of crypto.md 9 */
	kms_info_clear(&k);
	free(xml);

	xml = data_file("kms/revoked.xml", &len);
	ck_assert_int_eq(kms_cert_parse(xml, len, &k, err, sizeof(err), &line), 0);
	ck_assert_str_eq(k.uri, "kms.revoked.example");
	ck_assert(k.revoked);
	ck_assert_int_eq(k.valid_from, INT64_MIN);
	ck_assert_int_eq(k.valid_to, INT64_MAX);
	kms_info_clear(&k);
	free(xml);
}
END_TEST

struct bad_cert {
	const char *from, *to, *error;
};

static const struct bad_cert bad_certs[] = {
	{ "Role=\"External\"", "Role=\"Boss\"", "Role must be Root or External" },
	{ "<KmsUri>kms.partner.example</KmsUri>", "", "KmsUri missing" },
	{ "<KmsUri>kms.partner.example</KmsUri>", "<KmsUri> </KmsUri>", "KmsUri is empty" },
	/* Found by fuzzing: a second KmsUri leaked the first. */
	{ "<KmsUri>kms.partner.example</KmsUri>", "<KmsUri>a</KmsUri><KmsUri>b</KmsUri>", "KmsUri given twice" },
	{ "2026-06-01T00:00:00Z", "June", "not an xsd:dateTime: ValidFrom" },
	{ "2027-06-01T00:00:00Z", "2025-06-01T00:00:00Z", "ValidFrom is after ValidTo" },
	{ "<Revoked>false", "<Revoked>maybe", "Revoked is not an xsd:boolean" },
	{ "<UserKeyPeriod>2592000", "<UserKeyPeriod>0", "not a number of seconds: UserKeyPeriod" },
	{ "<UserKeyOffset>0", "<UserKeyOffset>-5", "not a number of seconds: UserKeyOffset" },
	{ "<PubAuthKey>04", "<PubAuthKey>02", "PubAuthKey is not 65 octets" },
	{ "<PubAuthKey>04", "<PubAuthKey>04ZZ", "PubAuthKey is not 65 octets" },
	{ "urn:3gpp:ns:mcsecKMSInterface:1.0", "urn:other", "not a KmsCertificate" },
	{ "</KmsCertificate>", "", "" },	/* not well-formed: libxml2's message */
	{ "<?xml version=\"1.0\" encoding=\"UTF-8\"?>", "<!DOCTYPE x [<!ENTITY a \"b\">]>", "DOCTYPE" },
};

START_TEST(test_cert_bad)
{
	const struct bad_cert *b = &bad_certs[_i];
	size_t len;
	char *xml = data_file("kms/partner.xml", &len), err[160];
	char *p = strstr(xml, b->from);
	ck_assert_ptr_nonnull(p);
	char *bad = malloc(len + strlen(b->to) + 1);
	memcpy(bad, xml, (size_t)(p - xml));
	strcpy(bad + (p - xml), b->to);
	strcat(bad, p + strlen(b->from));
	struct kms_info k;
	int line;

	ck_assert_int_eq(kms_cert_parse(bad, strlen(bad), &k, err, sizeof(err), &line), -EBADMSG);
	ck_assert_msg(strstr(err, b->error), "'%s' lacks '%s'", err, b->error);
	free(bad);
	free(xml);
}
END_TEST

START_TEST(test_registry)
{
	struct conf_kms kms[] = {
		{ .uri = "kms.home.example", .role = CONF_KMS_HOME, .valid_from = INT64_MIN, .valid_to = INT64_MAX },
		{ .uri = "kms.partner.example", .role = CONF_KMS_EXTERNAL,
		  .valid_from = at("2026-01-01T00:00:00Z"), .valid_to = at("2027-01-01T00:00:00Z") },
		{ .uri = "kms.old.example", .role = CONF_KMS_EXTERNAL, .revoked = true,
		  .valid_from = INT64_MIN, .valid_to = INT64_MAX },
		{ .uri = "kms.revoked.example", .role = CONF_KMS_EXTERNAL,
		  .valid_from = INT64_MIN, .valid_to = INT64_MAX },
	};
	char dir[512];
	snprintf(dir, sizeof(dir), "%s/kms", TEST_DATA);
	struct conf *c = conf_with(kms, 4, dir);
	struct conf_diags d = { 0 };
	struct kms_registry *r;

	ck_assert_int_eq(kms_registry_build(c, &r, &d), 0);
	ck_assert_uint_eq(d.n, 0);
	ck_assert_uint_eq(r->n, 4);	/* the configured ones: certificates add none */

	/* The certificate narrows the configured validity to [2026-06-01, 2027-01-01]. */
	const struct kms_info *p = kms_find(r, "kms.partner.example");
	ck_assert_ptr_nonnull(p);
	ck_assert(p->has_kpak);
	ck_assert_int_eq(p->valid_from, at("2026-06-01T00:00:00Z"));
	ck_assert_int_eq(p->valid_to, at("2027-01-01T00:00:00Z"));
	ck_assert_ptr_nonnull(strstr(p->cert_file, "partner.xml"));

	int64_t now = at("2026-11-29T10:00:00Z");
	ck_assert_int_eq(kms_state(r, "kms.home.example", now), KMS_USABLE);
	ck_assert_int_eq(kms_state(r, "kms.partner.example", now), KMS_USABLE);
	ck_assert_int_eq(kms_state(r, "kms.partner.example", at("2026-03-01T00:00:00Z")), KMS_NOT_YET_VALID);
	ck_assert_int_eq(kms_state(r, "kms.partner.example", at("2027-01-01T00:00:01Z")), KMS_EXPIRED);
	ck_assert_int_eq(kms_state(r, "kms.old.example", now), KMS_REVOKED);
	/* Configured as fine, revoked by its certificate. */
	ck_assert_int_eq(kms_state(r, "kms.revoked.example", now), KMS_REVOKED);
	ck_assert_int_eq(kms_state(r, "kms.nobody.example", now), KMS_UNKNOWN);
	ck_assert_int_eq(kms_state(r, NULL, now), KMS_UNKNOWN);
	ck_assert_str_eq(kms_state_name(KMS_NOT_YET_VALID), "not-yet-valid");
	kms_registry_free(r);
	free(c);
}
END_TEST

START_TEST(test_registry_errors)
{
	struct conf_diags d = { 0 };
	struct kms_registry *r = NULL;
	struct conf *c = conf_with(NULL, 0, "/nonexistent/kms.d");

	/* Reported at the setting, as the configuration's other problems are. */
	c->path = (char *)"mcx.conf";
	c->kms_certificates_at.line = 7;
	ck_assert_int_eq(kms_registry_build(c, &r, &d), -EINVAL);
	ck_assert_uint_eq(d.n, 1);
	ck_assert_str_eq(d.msg[0], "mcx.conf:7: kms_certificates: cannot read /nonexistent/kms.d: No such file or directory");
	for (size_t i = 0; i < d.n; i++)
		free(d.msg[i]);
	free(d.msg);
	free(c);

	/* A certificate for a KMS the configuration does not declare. */
	char d2[512];
	snprintf(d2, sizeof(d2), "%s/kms", TEST_DATA);
	c = conf_with(NULL, 0, d2);
	d = (struct conf_diags){ 0 };
	ck_assert_int_eq(kms_registry_build(c, &r, &d), -EINVAL);
	ck_assert_uint_eq(d.n, 2);
	ck_assert_ptr_nonnull(strstr(d.msg[0], "partner.xml: KmsCertificate for kms.partner.example, which kms does not declare"));
	for (size_t i = 0; i < d.n; i++)
		free(d.msg[i]);
	free(d.msg);
	free(c);

	/* A bad certificate among good ones: reported with its file and line. */
	char dir[] = "/tmp/mcx-kms-test.XXXXXX", cmd[1024];
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(cmd, sizeof(cmd), "cp %s/kms/partner.xml %s/a.xml && "
	    "sed 's/Role=\"External\"/Role=\"Boss\"/' %s/kms/partner.xml > %s/b.xml && "
	    "echo ignored > %s/notes.txt", TEST_DATA, dir, TEST_DATA, dir, dir);
	ck_assert_int_eq(system(cmd), 0);
	struct conf_kms pk = { .uri = "kms.partner.example", .valid_from = INT64_MIN, .valid_to = INT64_MAX };
	c = conf_with(&pk, 1, dir);
	d = (struct conf_diags){ 0 };
	ck_assert_int_eq(kms_registry_build(c, &r, &d), -EINVAL);
	ck_assert_uint_eq(d.n, 1);
	ck_assert_ptr_nonnull(strstr(d.msg[0], "/b.xml:3: Role must be Root or External"));
	for (size_t i = 0; i < d.n; i++)
		free(d.msg[i]);
	free(d.msg);
	free(c);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("kms");
	TCase *tc = tcase_create("kms");

	tcase_add_unchecked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_cert_parse);
	tcase_add_loop_test(tc, test_cert_bad, 0, sizeof(bad_certs) / sizeof(bad_certs[0]));
	tcase_add_test(tc, test_registry);
	tcase_add_test(tc, test_registry_errors);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
