/*
 * Unit tests of the configuration loader: good and bad files, every problem
 * reported, paths, the examples; and that conf_load reads the configuration
 * alone, the files it names being world_load's to read.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "testutil.h"
#include "world.h"

/* tests/conf (good/, bad/, keys/); the example configurations are in conf/ at the top. */
#ifndef TEST_CONF
#define TEST_CONF TEST_DATA "/../conf"
#endif
#define EXAMPLES TEST_CONF "/../../conf"

#define T_2026 1767225600	/* 2026-01-01T00:00:00Z */
#define T_2027 1798761600	/* 2027-01-01T00:00:00Z */
#define T_2036 2082758400	/* 2036-01-01T00:00:00Z */

/* ---- helpers ---- */

static char *real(const char *path)
{
	char *r = realpath(path, NULL);
	ck_assert_msg(r != NULL, "realpath %s: %s", path, strerror(errno));
	return r;
}

static char *join(const char *a, const char *b)
{
	char *s;
	ck_assert_int_ge(asprintf(&s, "%s%s", a, b), 0);
	return s;
}

/* All messages, one per line, for failure reports. */
static const char *all(const struct conf_diags *d)
{
	static char buf[8192];
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < d->n && n < sizeof(buf); i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\n  %s", d->msg[i]);
	return buf;
}

static struct conf *load_ok(const char *path)
{
	struct conf *c = NULL;
	struct conf_diags d = { 0 };
	int rc = conf_load(path, &c, &d);

	ck_assert_msg(rc == 0 && d.n == 0, "%s: rc %d:%s", path, rc, all(&d));
	ck_assert_ptr_nonnull(c);
	conf_diags_clear(&d);
	return c;
}

/* The names of the files of dir ending in .conf, without it, sorted. */
static size_t conf_names(const char *dir, char ***out)
{
	struct dirent **ents;
	int n = scandir(dir, &ents, NULL, alphasort);
	char **v;
	size_t k = 0;

	if (n < 0) {
		fprintf(stderr, "%s: %s\n", dir, strerror(errno));
		exit(EXIT_FAILURE);
	}
	v = calloc((size_t)n + 1, sizeof(*v));
	for (int i = 0; i < n; i++) {
		size_t len = strlen(ents[i]->d_name);
		if (len > 5 && strcmp(ents[i]->d_name + len - 5, ".conf") == 0)
			v[k++] = strndup(ents[i]->d_name, len - 5);
		free(ents[i]);
	}
	free(ents);
	*out = v;
	return k;
}

static char **good_names, **bad_names;
static size_t n_good, n_bad;

/*
 * A message as the .expect files write it: the file as its basename (the
 * loader prints the path as given), and the bad/ folder, resolved, as @DIR@
 * (the loader prints resolved paths of key files).
 */
static char *normalize(const char *msg, const char *path, const char *base, const char *dir)
{
	size_t plen = strlen(path), dlen = strlen(dir);
	char *out = calloc(1, strlen(msg) + strlen(base) + 64 * 8 + 1), *o = out;

	if (strncmp(msg, path, plen) == 0) {
		o = stpcpy(o, base);
		msg += plen;
	}
	while (*msg) {
		if (strncmp(msg, dir, dlen) == 0) {
			o = stpcpy(o, "@DIR@");
			msg += dlen;
		} else {
			*o++ = *msg++;
		}
	}
	*o = '\0';
	return out;
}

/* ---- every file of good/ loads without a message ---- */

START_TEST(test_good_loads)
{
	char *path;

	ck_assert_int_ge(asprintf(&path, "%s/good/%s.conf", TEST_CONF, good_names[_i]), 0);
	conf_free(load_ok(path));
	free(path);
}
END_TEST

START_TEST(test_good_files_found)
{
	/* The scan found the files this suite names. */
	const char *need[] = { "full", "minimal", "partner", "relative" };
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		bool found = false;
		for (size_t j = 0; j < n_good; j++)
			found |= strcmp(good_names[j], need[i]) == 0;
		ck_assert_msg(found, "good/%s.conf", need[i]);
	}
	ck_assert_uint_ge(n_bad, 40);
}
END_TEST

/* ---- defaults ---- */

START_TEST(test_defaults)
{
	struct conf *c = load_ok(TEST_CONF "/good/minimal.conf");

	ck_assert_str_eq(c->path, TEST_CONF "/good/minimal.conf");
	ck_assert_int_eq(c->server.role, CONF_PRIMARY);
	ck_assert_str_eq(c->server.uri, "sip:sdproxy@home.example");
	ck_assert_str_eq(c->server.kms_uri, "kms.home.example");
	ck_assert_uint_eq(c->server.listen.n, 1);
	ck_assert_str_eq(c->server.listen.v[0], "sip:127.0.0.1:5060;transport=udp");
	ck_assert_ptr_null(c->server.next_hop);
	ck_assert_int_eq(c->server.sip_t1, 500);
	ck_assert_int_eq(c->overload.queue_high, 50);
	ck_assert_int_eq(c->overload.queue_low, 10);
	ck_assert_int_eq(c->overload.max_in_flight, 20000);
	ck_assert_int_eq(c->overload.retry_after, 5);
	ck_assert_uint_eq(c->n_kms, 1);
	ck_assert_str_eq(c->kms[0].uri, "kms.home.example");
	ck_assert_int_eq(c->kms[0].role, CONF_KMS_HOME);
	ck_assert(c->kms[0].valid_from == INT64_MIN);
	ck_assert(c->kms[0].valid_to == INT64_MAX);
	ck_assert(!c->kms[0].revoked);
	ck_assert_int_eq(c->kms[0].line, 6);
	ck_assert_ptr_null(c->kms_certificates);
	ck_assert_str_eq(c->lookup.backend, "table");
	ck_assert_uint_eq(c->lookup.n_entries, 0);
	ck_assert_int_eq(c->policy.on_missing_mikey, CONF_FORWARD);
	ck_assert_int_eq(c->policy.on_malformed_mikey, CONF_REJECT);
	ck_assert_int_eq(c->policy.on_uninspectable, CONF_REJECT);
	ck_assert_int_eq(c->policy.on_unknown_target, CONF_FORWARD);
	ck_assert(!c->policy.verify_imessage);
	ck_assert_uint_eq(c->policy.deny_initiator_kms.n, 0);
	ck_assert_uint_eq(c->policy.deny_receiver_kms.n, 0);
	ck_assert_ptr_null(c->krr.certificate);
	ck_assert_ptr_null(c->krr.private_key);
	ck_assert_ptr_null(c->krr.trust_anchors);
	ck_assert(!c->krr.require_signed);
	ck_assert_int_eq(c->log.level, CONF_LOG_INFO);
	ck_assert_ptr_null(c->log.audit);
	conf_free(c);
}
END_TEST

START_TEST(test_kms_entry_defaults)
{
	struct conf *c = load_ok(TEST_CONF "/good/full.conf");

	/* kms.old.example gives no validity times: valid from and to forever, but revoked. */
	ck_assert_str_eq(c->kms[2].uri, "kms.old.example");
	ck_assert(c->kms[2].valid_from == INT64_MIN);
	ck_assert(c->kms[2].valid_to == INT64_MAX);
	ck_assert(c->kms[2].revoked);
	conf_free(c);
	c = load_ok(TEST_CONF "/good/partner.conf");
	/* Unset policy keys keep their defaults next to set ones. */
	ck_assert_int_eq(c->policy.on_missing_mikey, CONF_FORWARD);
	ck_assert_int_eq(c->policy.on_malformed_mikey, CONF_REJECT);
	ck_assert_int_eq(c->policy.on_unknown_target, CONF_REJECT);
	ck_assert_str_eq(c->lookup.backend, "table");
	ck_assert_uint_eq(c->lookup.entries[0].domains[0].external.n, 1);
	conf_free(c);
}
END_TEST

/* ---- every key ---- */

START_TEST(test_full)
{
	struct conf *c = load_ok(TEST_CONF "/good/full.conf");
	char *dir = real(TEST_CONF "/good");
	char *p;

	ck_assert_int_eq(c->server.role, CONF_PARTNER);
	ck_assert_str_eq(c->server.uri, "sips:sdproxy@partner.example:5061;transport=tls");
	ck_assert_str_eq(c->server.kms_uri, "kms.partner.example");
	ck_assert_uint_eq(c->server.listen.n, 2);
	ck_assert_str_eq(c->server.listen.v[0], "sip:127.0.0.1:5070;transport=udp");
	ck_assert_str_eq(c->server.listen.v[1], "sip:[::1]:5070;transport=tcp");
	ck_assert_str_eq(c->server.next_hop, "sip:127.0.0.1:5080");
	ck_assert_int_eq(c->server.sip_t1, 250);
	ck_assert_int_eq(c->overload.queue_high, 70);
	ck_assert_int_eq(c->overload.queue_low, 40);
	ck_assert_int_eq(c->overload.max_in_flight, 0);
	ck_assert_int_eq(c->overload.retry_after, 30);

	ck_assert_uint_eq(c->n_kms, 3);
	ck_assert_int_eq(c->kms[0].role, CONF_KMS_HOME);
	ck_assert_int_eq(c->kms[0].line, 10);
	ck_assert_str_eq(c->kms[1].uri, "kms.home.example");
	ck_assert_int_eq(c->kms[1].role, CONF_KMS_EXTERNAL);
	ck_assert(c->kms[1].valid_from == T_2026);
	ck_assert(c->kms[1].valid_to == T_2027);
	ck_assert(!c->kms[1].revoked);
	ck_assert_int_eq(c->kms[1].line, 11);
	ck_assert_int_eq(c->kms[2].line, 13);

	p = join(dir, "/kms.d");
	ck_assert_str_eq(c->kms_certificates, p);
	free(p);

	ck_assert_str_eq(c->lookup.backend, "table");
	ck_assert_uint_eq(c->lookup.n_entries, 2);
	ck_assert_str_eq(c->lookup.entries[0].user, "sip:*@partner.example");
	ck_assert_int_eq(c->lookup.entries[0].line, 19);
	ck_assert_uint_eq(c->lookup.entries[0].n_domains, 1);
	ck_assert_str_eq(c->lookup.entries[0].domains[0].kms, "kms.partner.example");
	ck_assert_uint_eq(c->lookup.entries[0].domains[0].external.n, 1);
	ck_assert_str_eq(c->lookup.entries[0].domains[0].external.v[0], "kms.home.example");
	ck_assert_int_eq(c->lookup.entries[0].domains[0].line, 20);
	ck_assert_str_eq(c->lookup.entries[1].user, "sip:dispatch@partner.example");
	ck_assert_uint_eq(c->lookup.entries[1].n_domains, 2);
	ck_assert_uint_eq(c->lookup.entries[1].domains[0].external.n, 2);
	ck_assert_str_eq(c->lookup.entries[1].domains[0].external.v[1], "kms.old.example");
	ck_assert_str_eq(c->lookup.entries[1].domains[1].kms, "kms.home.example");
	ck_assert_uint_eq(c->lookup.entries[1].domains[1].external.n, 0);
	ck_assert_int_eq(c->lookup.entries[1].domains[1].line, 23);

	ck_assert_int_eq(c->policy.on_missing_mikey, CONF_REJECT);
	ck_assert_int_eq(c->policy.on_malformed_mikey, CONF_FORWARD);
	ck_assert_int_eq(c->policy.on_uninspectable, CONF_FORWARD);
	ck_assert_int_eq(c->policy.on_unknown_target, CONF_REJECT);
	ck_assert(c->policy.verify_imessage);
	ck_assert_uint_eq(c->policy.deny_initiator_kms.n, 1);
	ck_assert_str_eq(c->policy.deny_initiator_kms.v[0], "kms.old.example");
	ck_assert_uint_eq(c->policy.deny_receiver_kms.n, 2);
	ck_assert_str_eq(c->policy.deny_receiver_kms.v[1], "kms.home.example");

	p = join(dir, "/../keys/partner.example/krr-cert.pem");
	ck_assert_str_eq(c->krr.certificate, p);
	free(p);
	p = join(dir, "/../keys/partner.example/krr-key.pem");
	ck_assert_str_eq(c->krr.private_key, p);
	free(p);
	p = join(dir, "/../keys/krr-ca.pem");
	ck_assert_str_eq(c->krr.trust_anchors, p);
	free(p);
	ck_assert(c->krr.require_signed);

	ck_assert_int_eq(c->log.level, CONF_LOG_DEBUG);
	ck_assert_str_eq(c->log.audit, "/var/log/mcx-sdproxy/audit.jsonl");
	free(dir);
	conf_free(c);
}
END_TEST

START_TEST(test_partner)
{
	struct conf *c = load_ok(TEST_CONF "/good/partner.conf");

	ck_assert_int_eq(c->server.role, CONF_PARTNER);
	/* listen as a list ( ... ) works as well as an array [ ... ]. */
	ck_assert_uint_eq(c->server.listen.n, 2);
	ck_assert_str_eq(c->server.listen.v[1], "sip:127.0.0.1:5070;transport=tcp");
	ck_assert_ptr_null(c->server.next_hop);
	ck_assert_uint_eq(c->n_kms, 2);
	/* A time with an offset. */
	ck_assert(c->kms[1].valid_from == T_2026 - 3600);
	ck_assert(c->kms[1].valid_to == T_2036);
	ck_assert_uint_eq(c->lookup.n_entries, 2);
	ck_assert_str_eq(c->lookup.entries[1].domains[0].kms, "kms.home.example");
	ck_assert_ptr_null(c->krr.certificate);
	ck_assert_ptr_nonnull(c->krr.trust_anchors);
	ck_assert(c->krr.require_signed);
	ck_assert_int_eq(c->log.level, CONF_LOG_WARNING);
	conf_free(c);
}
END_TEST

/* ---- every file of bad/ gives the messages of its .expect (the first one first) ---- */

/*
 * Through world_load, the one loader: conf_load's messages, or (for a
 * configuration that holds) those about the files it names.
 */
START_TEST(test_bad)
{
	const char *name = bad_names[_i];
	char *path, *expect_path, *base, *dir = real(TEST_CONF "/bad");
	char *text, *save = NULL;
	struct world *w = (struct world *)&w;
	struct conf_diags d = { 0 };
	size_t n = 0;
	FILE *f;

	ck_assert_int_ge(asprintf(&path, "%s/bad/%s.conf", TEST_CONF, name), 0);
	ck_assert_int_ge(asprintf(&expect_path, "%s/bad/%s.expect", TEST_CONF, name), 0);
	ck_assert_int_ge(asprintf(&base, "%s.conf", name), 0);
	ck_assert_msg((f = fopen(expect_path, "r")) != NULL, "%s: %s", expect_path, strerror(errno));
	text = calloc(1, 65536);
	ck_assert_uint_gt(fread(text, 1, 65535, f), 0);
	fclose(f);

	ck_assert_int_eq(world_load(path, WORLD_ALL, &w, &d), -EINVAL);
	ck_assert_ptr_eq(w, (struct world *)&w);		/* untouched */
	ck_assert_msg(d.n > 0, "%s: no message", name);
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save), n++) {
		ck_assert_msg(n < d.n, "%s: message %zu missing: %s\ngot:%s", name, n + 1, line, all(&d));
		char *got = normalize(d.msg[n], path, base, dir);
		ck_assert_msg(strcmp(got, line) == 0, "%s: message %zu\n  want %s\n  got  %s\nall:%s", name, n + 1,
		    line, got, all(&d));
		free(got);
	}
	ck_assert_msg(n == d.n, "%s: %zu messages, %zu expected:%s", name, d.n, n, all(&d));
	conf_diags_clear(&d);
	free(text);
	free(base);
	free(expect_path);
	free(path);
	free(dir);
}
END_TEST

static char *write_tmp(char *dir, const char *name, const char *text);

/*
 * conf_load alone reads no file the configuration names: on every bad file
 * it gives world_load's messages, or none at all when those are about the
 * files (an unreadable key, a folder that is not there).
 */
START_TEST(test_bad_conf_only)
{
	const char *name = bad_names[_i];
	char *path;
	struct conf *c = NULL;
	struct world *w = NULL;
	struct conf_diags dc = { 0 }, dw = { 0 };

	ck_assert_int_ge(asprintf(&path, "%s/bad/%s.conf", TEST_CONF, name), 0);
	int rc = conf_load(path, &c, &dc);
	ck_assert_int_eq(world_load(path, WORLD_ALL, &w, &dw), -EINVAL);
	if (rc == 0) {
		ck_assert_msg(dc.n == 0, "%s:%s", name, all(&dc));
		/* What world_load found is in the files: each message is about a path setting. */
		for (size_t i = 0; i < dw.n; i++)
			ck_assert_msg(strstr(dw.msg[i], ": krr.") || strstr(dw.msg[i], ": tls.") ||
			    strstr(dw.msg[i], ": kms_certificates: "), "%s: %s", name, dw.msg[i]);
		conf_free(c);
	} else {
		ck_assert_int_eq(rc, -EINVAL);
		ck_assert_msg(dc.n == dw.n, "%s: conf_load:%s\nworld_load:%s", name, all(&dc), all(&dw));
		for (size_t i = 0; i < dc.n; i++)
			ck_assert_str_eq(dc.msg[i], dw.msg[i]);
	}
	conf_diags_clear(&dc);
	conf_diags_clear(&dw);
	free(path);
}
END_TEST

/* Each path setting's place, for the loader's messages; @include'd ones name their file. */
START_TEST(test_path_places)
{
	char tmp[] = "/tmp/mcx-conf-test.XXXXXX", *dir, *main_path, *part, *want;
	struct conf *c = load_ok(TEST_CONF "/good/relative.conf");
	struct world *w = (struct world *)&w;
	struct conf_diags d = { 0 };

	ck_assert_ptr_null(c->krr.certificate_at.file);
	ck_assert_int_gt(c->krr.certificate_at.line, 0);
	ck_assert_int_gt(c->krr.private_key_at.line, c->krr.certificate_at.line);
	ck_assert_int_gt(c->kms_certificates_at.line, 0);
	ck_assert_int_eq(c->krr.crl_at.line, 0);	/* not set */
	conf_free(c);

	ck_assert_ptr_nonnull(mkdtemp(tmp));
	dir = real(tmp);
	part = write_tmp(dir, "part.conf", "krr = {\n  trust_anchors = \"nowhere.pem\";\n};\n");
	main_path = write_tmp(dir, "main.conf",
	    "server = { uri = \"sip:s@h\"; kms_uri = \"k\"; };\nkms = ( { uri = \"k\"; role = \"home\"; } );\n"
	    "@include \"part.conf\"\n");
	c = load_ok(main_path);
	ck_assert_str_eq(c->krr.trust_anchors_at.file, part);
	ck_assert_int_eq(c->krr.trust_anchors_at.line, 2);
	conf_free(c);
	ck_assert_int_eq(world_load(main_path, WORLD_VERIFY, &w, &d), -EINVAL);
	ck_assert_uint_eq(d.n, 1);
	ck_assert_int_ge(asprintf(&want, "%s:2: krr.trust_anchors: cannot read %s/nowhere.pem: No such file or directory",
	    part, dir), 0);
	ck_assert_str_eq(d.msg[0], want);
	conf_diags_clear(&d);
	/* Not asked for: not read. */
	ck_assert_int_eq(world_load(main_path, WORLD_SIGN | WORLD_TLS, &w, &d), 0);
	ck_assert_uint_eq(d.n, 0);
	ck_assert_ptr_null(w->verifier);
	world_unref(w);
	unlink(part);
	unlink(main_path);
	rmdir(dir);
	free(want);
	free(part);
	free(main_path);
	free(dir);
}
END_TEST

/* ---- every problem, not only the first, in file order ---- */

START_TEST(test_every_problem)
{
	struct conf *c = NULL;
	struct conf_diags d = { 0 };
	const char *path = TEST_CONF "/bad/three-problems.conf";

	ck_assert_int_eq(conf_load(path, &c, &d), -EINVAL);
	ck_assert_ptr_null(c);
	ck_assert_msg(d.n == 3, "%zu messages:%s", d.n, all(&d));
	ck_assert_ptr_nonnull(strstr(d.msg[0], "three-problems.conf:8: kms[1].uri: duplicate KMS"));
	ck_assert_ptr_nonnull(strstr(d.msg[1], "three-problems.conf:12: lookup.entries[0].domains[0].kms: unknown KMS"));
	ck_assert_ptr_nonnull(strstr(d.msg[2], "three-problems.conf:15: krr.certificate: given without"));
	conf_diags_clear(&d);
	ck_assert_uint_eq(d.n, 0);
	ck_assert_ptr_null(d.msg);
}
END_TEST

START_TEST(test_every_type_problem)
{
	char dir[] = "/tmp/mcx-conf-test.XXXXXX", *path;
	struct conf *c = NULL;
	struct conf_diags d = { 0 };
	FILE *f;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_ge(asprintf(&path, "%s/types.conf", dir), 0);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	/* Wrong types and unknown keys are all reported too, in file order, whatever the section order. */
	fputs("log = { level = 3; };\n"
	    "server = { uri = \"sip:a@b\"; kms_uri = \"k\"; listen = [ 1, 2 ]; typo = 1; };\n"
	    "kms = ( { uri = \"k\"; role = \"home\"; revoked = \"no\"; } );\n", f);
	fclose(f);
	ck_assert_int_eq(conf_load(path, &c, &d), -EINVAL);
	ck_assert_msg(d.n == 5, "%zu messages:%s", d.n, all(&d));
	ck_assert_ptr_nonnull(strstr(d.msg[0], ":1: log.level: expected a string"));
	ck_assert_ptr_nonnull(strstr(d.msg[1], ":2: server.listen[0]: expected a string"));
	ck_assert_ptr_nonnull(strstr(d.msg[2], ":2: server.listen[1]: expected a string"));
	ck_assert_ptr_nonnull(strstr(d.msg[3], ":2: unknown key 'server.typo'"));
	ck_assert_ptr_nonnull(strstr(d.msg[4], ":3: kms[0].revoked: expected a boolean"));
	conf_diags_clear(&d);
	unlink(path);
	rmdir(dir);
	free(path);
}
END_TEST

/* ---- relative paths start at the configuration file's folder ---- */

static void check_relative(const struct conf *c, const char *dir)
{
	char *p = join(dir, "/kms.d");
	ck_assert_str_eq(c->kms_certificates, p);
	free(p);
	p = join(dir, "/../keys/home.example/krr-cert.pem");
	ck_assert_str_eq(c->krr.certificate, p);
	ck_assert_int_eq(access(p, R_OK), 0);
	free(p);
	p = join(dir, "/../keys/home.example/krr-key.pem");
	ck_assert_str_eq(c->krr.private_key, p);
	free(p);
	p = join(dir, "/../keys/krr-ca.pem");
	ck_assert_str_eq(c->krr.trust_anchors, p);
	free(p);
	p = join(dir, "/audit.jsonl");
	ck_assert_str_eq(c->log.audit, p);
	free(p);
}

START_TEST(test_relative_paths)
{
	char *dir = real(TEST_CONF "/good"), cwd[PATH_MAX];
	struct conf *c;

	ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
	c = load_ok(TEST_CONF "/good/relative.conf");
	check_relative(c, dir);
	conf_free(c);
	/* From another folder, with a relative configuration path: resolved all the same. */
	ck_assert_int_eq(chdir(TEST_CONF "/good/kms.d"), 0);
	c = load_ok("../relative.conf");
	ck_assert_str_eq(c->path, "../relative.conf");
	check_relative(c, dir);
	conf_free(c);
	/* A bare file name: the current folder. */
	ck_assert_int_eq(chdir(TEST_CONF "/good"), 0);
	c = load_ok("relative.conf");
	ck_assert_str_eq(c->path, "relative.conf");
	check_relative(c, dir);
	conf_free(c);
	ck_assert_int_eq(chdir(cwd), 0);
	free(dir);
}
END_TEST

/* ---- the example configurations, before and after conf/make-keys.sh ---- */

START_TEST(test_examples)
{
	char tmp[] = "/tmp/mcx-conf-test.XXXXXX", *dir, *cmd, *p;
	struct conf *c = NULL;
	struct conf_diags d = { 0 };
	const char *what[] = { "krr.certificate", "krr.private_key", "krr.trust_anchors" };
	const char *file[] = { "home.example/krr-cert.pem", "home.example/krr-key.pem", "krr-ca.pem" };

	ck_assert_ptr_nonnull(mkdtemp(tmp));
	dir = real(tmp);
	/* Just the examples and the script: keys someone made in conf/ must not come along. */
	ck_assert_int_ge(asprintf(&cmd, "cd '%s' && cp primary.conf partner.conf make-keys.sh '%s/'", EXAMPLES, dir), 0);
	ck_assert_int_eq(system(cmd), 0);
	free(cmd);

	/* No keys yet: the configuration holds, and each key file is reported unreadable, at its line, and nothing else. */
	p = join(dir, "/primary.conf");
	c = load_ok(p);
	conf_free(c);
	c = NULL;
	struct world *w = NULL;
	ck_assert_int_eq(world_load(p, WORLD_ALL, &w, &d), -EINVAL);
	ck_assert_ptr_null(w);
	ck_assert_msg(d.n == 3, "%zu messages:%s", d.n, all(&d));
	for (size_t i = 0; i < 3; i++) {
		char *want;
		ck_assert_int_ge(asprintf(&want, ": %s: cannot read %s/%s: No such file or directory", what[i], dir,
		    file[i]), 0);
		ck_assert_msg(strstr(d.msg[i], want) != NULL, "want %s\ngot %s", want, d.msg[i]);
		ck_assert_msg(strncmp(d.msg[i], p, strlen(p)) == 0 && d.msg[i][strlen(p)] == ':', "%s", d.msg[i]);
		free(want);
	}
	conf_diags_clear(&d);
	free(p);

	ck_assert_int_ge(asprintf(&cmd, "sh '%s/make-keys.sh' '%s' >/dev/null 2>&1", dir, dir), 0);
	ck_assert_int_eq(system(cmd), 0);
	free(cmd);

	p = join(dir, "/primary.conf");
	c = load_ok(p);
	free(p);
	ck_assert_int_eq(c->server.role, CONF_PRIMARY);
	ck_assert_str_eq(c->server.kms_uri, "kms.home.example");
	ck_assert_str_eq(c->server.next_hop, "sip:127.0.0.1:5070");
	ck_assert_uint_eq(c->n_kms, 2);
	ck_assert_uint_eq(c->lookup.n_entries, 3);
	ck_assert_uint_eq(c->lookup.entries[2].n_domains, 2);
	conf_free(c);

	p = join(dir, "/partner.conf");
	c = load_ok(p);
	free(p);
	ck_assert_int_eq(c->server.role, CONF_PARTNER);
	ck_assert_str_eq(c->server.kms_uri, "kms.partner.example");
	ck_assert_int_eq(c->policy.on_unknown_target, CONF_REJECT);
	p = join(dir, "/partner.example/krr-cert.pem");
	ck_assert_str_eq(c->krr.certificate, p);
	free(p);
	conf_free(c);

	ck_assert_int_ge(asprintf(&cmd, "rm -rf '%s'", dir), 0);
	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
	free(dir);
}
END_TEST

/* ---- edges ---- */

START_TEST(test_missing_file)
{
	struct conf *c = NULL;
	struct conf_diags d = { 0 };

	ck_assert_int_eq(conf_load("/nonexistent/mcx.conf", &c, &d), -EINVAL);
	ck_assert_ptr_null(c);
	ck_assert_uint_eq(d.n, 1);
	ck_assert_str_eq(d.msg[0], "/nonexistent/mcx.conf: cannot read: No such file or directory");
	/* A folder is not a configuration (libconfig would exit on it). */
	ck_assert_int_eq(conf_load(TEST_CONF "/good", &c, &d), -EINVAL);
	ck_assert_ptr_null(c);
	ck_assert_uint_eq(d.n, 2);
	ck_assert_str_eq(d.msg[1], TEST_CONF "/good: cannot read: Is a directory");
	/* Messages accumulate until cleared. */
	ck_assert_int_eq(conf_load(TEST_CONF "/bad/syntax.conf", &c, &d), -EINVAL);
	ck_assert_uint_eq(d.n, 3);
	conf_diags_clear(&d);
	conf_diags_clear(&d);
	conf_diags_clear(NULL);
	conf_free(NULL);
}
END_TEST

static char *write_tmp(char *dir, const char *name, const char *text)
{
	char *path;
	FILE *f;

	ck_assert_int_ge(asprintf(&path, "%s/%s", dir, name), 0);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
	return path;
}

START_TEST(test_one_line_each)
{
	char dir[] = "/tmp/mcx-conf-test.XXXXXX";
	struct conf *c = NULL;
	struct conf_diags d = { 0 };
	char *path;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	/* A control character from the file does not split a message. */
	path = write_tmp(dir, "ctl.conf", "server = { role = \"x\\ny\\r\"; };\n");
	ck_assert_int_eq(conf_load(path, &c, &d), -EINVAL);
	ck_assert_uint_eq(d.n, 1);
	ck_assert_ptr_null(strchr(d.msg[0], '\n'));
	ck_assert_ptr_null(strchr(d.msg[0], '\r'));
	ck_assert_ptr_nonnull(strstr(d.msg[0], "not \"x?y?\""));
	conf_diags_clear(&d);
	unlink(path);
	free(path);
	rmdir(dir);
}
END_TEST

START_TEST(test_include)
{
	char tmp[] = "/tmp/mcx-conf-test.XXXXXX", *dir, *main_path, *part, *want;
	struct conf *c = NULL;
	struct conf_diags d = { 0 };

	ck_assert_ptr_nonnull(mkdtemp(tmp));
	dir = real(tmp);
	/* @include names a file of the configuration's folder; its messages name it. */
	part = write_tmp(dir, "part.conf", "log = {\n  level = \"loud\";\n};\n");
	main_path = write_tmp(dir, "main.conf",
	    "server = { uri = \"sip:s@h\"; kms_uri = \"k\"; };\nkms = ( { uri = \"k\"; role = \"home\"; } );\n"
	    "@include \"part.conf\"\n");
	ck_assert_int_eq(conf_load(main_path, &c, &d), -EINVAL);
	ck_assert_uint_eq(d.n, 1);
	ck_assert_int_ge(asprintf(&want, "%s:2: log.level: expected", part), 0);
	ck_assert_msg(strncmp(d.msg[0], want, strlen(want)) == 0, "%s", d.msg[0]);
	conf_diags_clear(&d);
	unlink(part);
	unlink(main_path);
	rmdir(dir);
	free(want);
	free(part);
	free(main_path);
	free(dir);
}
END_TEST

START_TEST(test_big_table)
{
	char dir[] = "/tmp/mcx-conf-test.XXXXXX", *path;
	struct conf *c = NULL;
	struct conf_diags d = { 0 };
	const size_t n = 70000;	/* past 65535 lines */
	FILE *f;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_ge(asprintf(&path, "%s/big.conf", dir), 0);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs("server = { uri = \"sip:s@home.example\"; kms_uri = \"kms.home.example\"; };\n"
	    "kms = ( { uri = \"kms.home.example\"; role = \"home\"; } );\n"
	    "lookup = { entries = (\n", f);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "{ user = \"sip:u%zu@home.example\"; domains = ( { kms = \"kms.home.example\"; } ); },\n", i);
	fputs("{ user = \"sip:u7@home.example\"; domains = ( { kms = \"kms.home.example\"; } ); }\n); };\n", f);
	fclose(f);
	ck_assert_int_eq(conf_load(path, &c, &d), -EINVAL);
	ck_assert_msg(d.n == 1, "%zu messages", d.n);
	ck_assert_ptr_nonnull(strstr(d.msg[0], ":70004: lookup.entries[70000].user: duplicate entry "
	    "\"sip:u7@home.example\" (first at line 11)"));
	conf_diags_clear(&d);
	unlink(path);
	rmdir(dir);
	free(path);
}
END_TEST

static Suite *conf_suite(void)
{
	Suite *s = suite_create("conf");
	TCase *tc;

	tc = tcase_create("good files load");
	tcase_add_loop_test(tc, test_good_loads, 0, (int)n_good);
	tcase_add_test(tc, test_good_files_found);
	suite_add_tcase(s, tc);
	tc = tcase_create("defaults");
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_kms_entry_defaults);
	suite_add_tcase(s, tc);
	tc = tcase_create("values");
	tcase_add_test(tc, test_full);
	tcase_add_test(tc, test_partner);
	suite_add_tcase(s, tc);
	tc = tcase_create("bad files");
	tcase_add_loop_test(tc, test_bad, 0, (int)n_bad);
	tcase_add_loop_test(tc, test_bad_conf_only, 0, (int)n_bad);
	tcase_add_test(tc, test_path_places);
	suite_add_tcase(s, tc);
	tc = tcase_create("every problem");
	tcase_add_test(tc, test_every_problem);
	tcase_add_test(tc, test_every_type_problem);
	suite_add_tcase(s, tc);
	tc = tcase_create("relative paths");
	tcase_add_test(tc, test_relative_paths);
	suite_add_tcase(s, tc);
	tc = tcase_create("examples");
	tcase_add_test(tc, test_examples);
	suite_add_tcase(s, tc);
	tc = tcase_create("edges");
	tcase_add_test(tc, test_missing_file);
	tcase_add_test(tc, test_one_line_each);
	tcase_add_test(tc, test_include);
	tcase_add_test(tc, test_big_table);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	int rc;

	n_good = conf_names(TEST_CONF "/good", &good_names);
	n_bad = conf_names(TEST_CONF "/bad", &bad_names);
	rc = run_suite(conf_suite());
	for (size_t i = 0; i < n_good; i++)
		free(good_names[i]);
	for (size_t i = 0; i < n_bad; i++)
		free(bad_names[i]);
	free(good_names);
	free(bad_names);
	return rc;
}
