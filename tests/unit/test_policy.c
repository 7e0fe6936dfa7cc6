/* Unit tests of the decision engine, one case per seed step (TR 33.880 7.2.1.3.2) and per policy rule. */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <time.h>

#include "b64.h"
#include "kms.h"
#include "krr.h"
#include "lookup.h"
#include "policy.h"
#include "timeutil.h"
#include "testutil.h"
#include "xmlsafe.h"

#define NOW_ISO "2026-11-29T10:00:00Z"

static int64_t at(const char *iso)
{
	int64_t t;
	ck_assert_int_eq(time_parse_iso(iso, &t), 0);
	return t;
}

/* ---- the world of the tests: one configuration, built by hand ---- */

static char *ext_home[] = { "kms.home.example" };
static char *ext_other[] = { "kms.other.example" };
static char *ext_home_denied[] = { "kms.home.example", "kms.denied.example" };

static struct conf_domain d_bob[] = { { .kms = "kms.partner.example", .external = { ext_home, 1 } } };
static struct conf_domain d_dave[] = { { .kms = "kms.partner.example", .external = { ext_other, 1 } } };
static struct conf_domain d_carol[] = {
	{ .kms = "kms.revoked.example", .external = { ext_home, 1 } },
	{ .kms = "kms.expired.example", .external = { ext_home, 1 } },
	{ .kms = "kms.future.example", .external = { ext_home, 1 } },
	{ .kms = "kms.partner2.example", .external = { ext_home, 1 } },
};
static struct conf_domain d_erin[] = { { .kms = "kms.revoked.example", .external = { ext_home, 1 } } };
static struct conf_domain d_frank[] = {
	{ .kms = "kms.denied.example", .external = { ext_home, 1 } },
	{ .kms = "kms.partner.example", .external = { ext_home_denied, 2 } },
};

static struct conf_lookup_entry entries[] = {
	{ .user = "sip:bob@partner.example", .domains = d_bob, .n_domains = 1, .line = 1 },
	{ .user = "sip:dave@partner.example", .domains = d_dave, .n_domains = 1, .line = 2 },
	{ .user = "sip:carol@partner.example", .domains = d_carol, .n_domains = 4, .line = 3 },
	{ .user = "sip:erin@partner.example", .domains = d_erin, .n_domains = 1, .line = 4 },
	{ .user = "sip:frank@partner.example", .domains = d_frank, .n_domains = 2, .line = 5 },
	{ .user = "sip:*@partner.example", .domains = d_bob, .n_domains = 1, .line = 6 },
};

static struct conf_kms kms[8];
static char *deny_r[] = { "kms.denied.example" };
static char *deny_i[] = { "kms.denied.example" };
static struct conf conf;
static struct kms_registry *registry;
static struct lookup *lookup;

static void world(void)
{
	static const struct { const char *uri; enum conf_kms_role role; const char *from, *to; bool revoked; } k[] = {
		{ "kms.home.example", CONF_KMS_EXTERNAL, NULL, NULL, false },
		{ "kms.partner.example", CONF_KMS_HOME, NULL, NULL, false },
		{ "kms.partner2.example", CONF_KMS_HOME, NULL, NULL, false },
		{ "kms.other.example", CONF_KMS_EXTERNAL, NULL, NULL, false },
		{ "kms.revoked.example", CONF_KMS_HOME, NULL, NULL, true },
		{ "kms.expired.example", CONF_KMS_HOME, NULL, "2026-01-01T00:00:00Z", false },
		{ "kms.future.example", CONF_KMS_HOME, "2027-01-01T00:00:00Z", NULL, false },
		{ "kms.denied.example", CONF_KMS_EXTERNAL, NULL, NULL, false },
	};
	for (size_t i = 0; i < 8; i++) {
		kms[i] = (struct conf_kms){ .uri = (char *)k[i].uri, .role = k[i].role,
			.valid_from = k[i].from ? at(k[i].from) : INT64_MIN,
			.valid_to = k[i].to ? at(k[i].to) : INT64_MAX, .revoked = k[i].revoked };
	}
	memset(&conf, 0, sizeof(conf));
	conf.server.role = CONF_PARTNER;
	conf.server.uri = "sip:sdproxy@partner.example";
	conf.server.kms_uri = "kms.partner.example";
	conf.kms = kms;
	conf.n_kms = 8;
	conf.lookup.backend = "table";
	conf.lookup.entries = entries;
	conf.lookup.n_entries = sizeof(entries) / sizeof(entries[0]);
	conf.policy.on_missing_mikey = CONF_FORWARD;
	conf.policy.on_malformed_mikey = CONF_REJECT;
	conf.policy.on_uninspectable = CONF_REJECT;
	conf.policy.on_unknown_target = CONF_FORWARD;
	conf.policy.deny_receiver_kms = (struct conf_strings){ deny_r, 1 };
	conf.policy.deny_initiator_kms = (struct conf_strings){ deny_i, 1 };

	struct conf_diags d = { 0 };
	char err[256];
	ck_assert_int_eq(krr_global_init(), 0);
	ck_assert_int_eq(kms_registry_build(&conf, &registry, &d), 0);
	ck_assert_int_eq(lookup_open(&conf, &lookup, err, sizeof(err)), 0);
}

static void world_end(void)
{
	lookup_close(lookup);
	kms_registry_free(registry);
}

static struct policy_ctx ctx(void)
{
	return (struct policy_ctx){ .conf = &conf, .kms = registry, .lookup = lookup };
}

/* A request and room for its I_MESSAGEs' identities. */
struct req {
	struct policy_request r;
	struct policy_imessage im[4];
};

/* An initial INVITE to target with one I_MESSAGE keyed i -> r. */
static void invite(struct req *q, const char *target, const char *i, const char *r)
{
	memset(q, 0, sizeof(*q));
	q->r = (struct policy_request){
		.method = "INVITE", .request_uri = target, .from = "sip:alice@home.example", .to = target,
		.call_id = "call-1@home.example", .mikey = POLICY_MIKEY, .im = q->im, .n_im = 1,
	};
	q->im[0] = (struct policy_imessage){ .idri = "sip:alice@home.example", .idrr = target, .idrkmsi = i,
		.idrkmsr = r };
}

/* "a,b" -> the list must be exactly a then b ("" for empty). */
static void list_is(const struct krr_list *l, const char *want)
{
	char got[512] = "";
	for (size_t i = 0; i < l->n; i++)
		snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s", i ? "," : "", l->uri[i]);
	ck_assert_str_eq(got, want);
}

/* ---- INVITEs: the table ---- */

struct invite_case {
	const char *name;		/* the seed step or rule it shows */
	enum conf_server_role role;
	const char *target, *i, *r;
	enum policy_decision decision;
	const char *rule;
	int status;
	const char *ai, *ar;		/* acceptable lists of the KRR, when one is sent */
};

static const struct invite_case invite_cases[] = {
	{ "4: acceptable pair, forwarded", CONF_PARTNER, "sip:bob@partner.example",
	  "kms.home.example", "kms.partner.example", POLICY_FORWARD, "4:acceptable", 0, NULL, NULL },
	{ "4: wildcard entry, acceptable", CONF_PARTNER, "sip:zoe@partner.example",
	  "kms.home.example", "kms.partner.example", POLICY_FORWARD, "4:acceptable", 0, NULL, NULL },
	{ "1a: wrong IDRkmsr, the primary redirects", CONF_PRIMARY, "sip:bob@partner.example",
	  "kms.home.example", "kms.wrong.example", POLICY_KRR, "1a:receiver-kms", 488,
	  "kms.home.example", "kms.partner.example" },
	{ "2a: the partner refuses the initiator's KMS", CONF_PARTNER, "sip:dave@partner.example",
	  "kms.home.example", "kms.partner.example", POLICY_KRR, "2a:initiator-kms", 488,
	  "kms.partner.example,kms.other.example", "kms.partner.example" },
	{ "revoked, expired and not-yet-valid KMSs are never proposed", CONF_PARTNER,
	  "sip:carol@partner.example", "kms.home.example", "kms.revoked.example", POLICY_KRR,
	  "2a:receiver-kms", 488, "kms.home.example", "kms.partner2.example" },
	{ "an expired IDRkmsr is redirected", CONF_PARTNER, "sip:carol@partner.example",
	  "kms.home.example", "kms.expired.example", POLICY_KRR, "2a:receiver-kms", 488,
	  "kms.home.example", "kms.partner2.example" },
	{ "a not-yet-valid IDRkmsr is redirected", CONF_PARTNER, "sip:carol@partner.example",
	  "kms.home.example", "kms.future.example", POLICY_KRR, "2a:receiver-kms", 488,
	  "kms.home.example", "kms.partner2.example" },
	{ "a revoked IDRkmsi is refused", CONF_PARTNER, "sip:bob@partner.example",
	  "kms.revoked.example", "kms.partner.example", POLICY_KRR, "2a:initiator-kms", 488,
	  "kms.partner.example,kms.home.example", "kms.partner.example" },
	{ "empty resulting lists: nothing acceptable", CONF_PARTNER, "sip:erin@partner.example",
	  "kms.home.example", "kms.revoked.example", POLICY_KRR, "2a:no-acceptable-pair", 488, "", "" },
	{ "deny lists: a denied receiver and initiator KMS", CONF_PARTNER, "sip:frank@partner.example",
	  "kms.denied.example", "kms.denied.example", POLICY_KRR, "2a:initiator-kms", 488,
	  "kms.partner.example,kms.home.example", "kms.partner.example" },
	{ "unknown target: forward by default", CONF_PARTNER, "sip:bob@elsewhere.example",
	  "kms.home.example", "kms.partner.example", POLICY_FORWARD, "unknown-target", 0, NULL, NULL },
};

START_TEST(test_invite)
{
	const struct invite_case *tc = &invite_cases[_i];
	struct req inv;
	invite(&inv, tc->target, tc->i, tc->r);
	struct policy_ctx c = ctx();
	struct policy_outcome o;

	conf.server.role = tc->role;
	ck_assert_int_eq(policy_decide_request(&c, &inv.r, at(NOW_ISO), &o), 0);
	ck_assert_msg(o.decision == tc->decision, "%s: decision %s", tc->name, policy_decision_name(o.decision));
	ck_assert_str_eq(o.rule, tc->rule);
	ck_assert_int_eq(o.status, tc->status);
	ck_assert_str_eq(o.target, tc->target);
	if (tc->ai) {
		ck_assert_ptr_nonnull(o.krr);
		list_is(&o.krr->accept_initiator, tc->ai);
		list_is(&o.krr->accept_receiver, tc->ar);
		ck_assert_str_eq(o.krr->uri[KRR_ORIGINATOR], conf.server.uri);
		ck_assert_str_eq(o.krr->uri[KRR_RECEIVER_KMS], tc->r);
		ck_assert_str_eq(o.krr->uri[KRR_RECEIVER], tc->target);
		/* What goes on the wire decodes to the same lists. */
		struct krr *back;
		struct krr_error err;
		ck_assert_int_eq(krr_decode(o.krr_xml, o.krr_len, &back, &err), 0);
		list_is(&back->accept_receiver, tc->ar);
		krr_free(back);
	} else {
		ck_assert_ptr_null(o.krr);
	}
	/* Every decision leaves one audit record naming it. */
	ck_assert_ptr_nonnull(o.audit);
	ck_assert_ptr_nonnull(strstr(o.audit, tc->rule));
	ck_assert_ptr_null(strchr(o.audit, '\n'));
	policy_outcome_clear(&o);
}
END_TEST

START_TEST(test_policy_switches)
{
	struct policy_ctx c = ctx();
	struct policy_outcome o;
	struct req inv;
	invite(&inv, "sip:bob@partner.example", "kms.home.example", "kms.partner.example");

	/* No I_MESSAGE: forward, or 488 when configured to reject. */
	inv.r.mikey = POLICY_NO_MIKEY;
	ck_assert_int_eq(policy_decide_request(&c, &inv.r, at(NOW_ISO), &o), 0);
	ck_assert_int_eq(o.decision, POLICY_FORWARD);
	ck_assert_str_eq(o.rule, "missing-mikey");
	policy_outcome_clear(&o);
	conf.policy.on_missing_mikey = CONF_REJECT;
	ck_assert_int_eq(policy_decide_request(&c, &inv.r, at(NOW_ISO), &o), 0);
	ck_assert_int_eq(o.decision, POLICY_REJECT);
	ck_assert_int_eq(o.status, 488);
	policy_outcome_clear(&o);
	conf.policy.on_missing_mikey = CONF_FORWARD;

	/* Malformed: 400 with a Warning naming the fault, or forwarded. */
	inv.r.mikey = POLICY_MALFORMED_MIKEY;
	inv.r.fault = "truncated at offset 41";
	ck_assert_int_eq(policy_decide_request(&c, &inv.r, at(NOW_ISO), &o), 0);
	ck_assert_int_eq(o.decision, POLICY_REJECT);
	ck_assert_int_eq(o.status, 400);
	ck_assert_str_eq(o.warning, "malformed MIKEY I_MESSAGE: truncated at offset 41");
	policy_outcome_clear(&o);
	conf.policy.on_malformed_mikey = CONF_FORWARD;
	ck_assert_int_eq(policy_decide_request(&c, &inv.r, at(NOW_ISO), &o), 0);
	ck_assert_int_eq(o.decision, POLICY_FORWARD);
	policy_outcome_clear(&o);
	conf.policy.on_malformed_mikey = CONF_REJECT;

	/* Unknown target rejected with 404 when configured so. */
	invite(&inv, "sip:bob@elsewhere.example", "kms.home.example", "kms.partner.example");
	conf.policy.on_unknown_target = CONF_REJECT;
	ck_assert_int_eq(policy_decide_request(&c, &inv.r, at(NOW_ISO), &o), 0);
	ck_assert_int_eq(o.decision, POLICY_REJECT);
	ck_assert_int_eq(o.status, 404);
	policy_outcome_clear(&o);
	conf.policy.on_unknown_target = CONF_FORWARD;

	/* Identities hidden: the target comes from the Request-URI. */
	invite(&inv, "sip:dave@partner.example", "kms.home.example", "kms.partner.example");
	inv.im[0].idrr = NULL;
	ck_assert_int_eq(policy_decide_request(&c, &inv.r, at(NOW_ISO), &o), 0);
	ck_assert_str_eq(o.target, "sip:dave@partner.example");
	ck_assert_int_eq(o.decision, POLICY_KRR);
	policy_outcome_clear(&o);

	/* Carol's fourth domain takes the pair: the unusable ones before it do not get in the way. */
	invite(&inv, "sip:carol@partner.example", "kms.home.example", "kms.partner2.example");
	ck_assert_int_eq(policy_decide_request(&c, &inv.r, at(NOW_ISO), &o), 0);
	ck_assert_int_eq(o.decision, POLICY_FORWARD);
	policy_outcome_clear(&o);
}
END_TEST

/* Every I_MESSAGE of a request counts: one unacceptable among acceptable ones, or two that disagree, stop it. */
START_TEST(test_several_imessages)
{
	struct policy_ctx c = ctx();
	struct policy_outcome o;
	struct req inv;

	conf.server.role = CONF_PRIMARY;
	/* Three that agree (media-level copies of one): decided as one. */
	invite(&inv, "sip:bob@partner.example", "kms.home.example", "kms.partner.example");
	inv.im[1] = inv.im[2] = inv.im[0];
	inv.r.n_im = 3;
	ck_assert_int_eq(policy_decide_request(&c, &inv.r, at(NOW_ISO), &o), 0);
	ck_assert_int_eq(o.decision, POLICY_FORWARD);
	ck_assert_str_eq(o.rule, "4:acceptable");
	ck_assert_ptr_nonnull(strstr(o.audit, "\"imessages\":3"));
	policy_outcome_clear(&o);

	/* An acceptable one first, then one for a rogue receiver KMS: the KRR is about the second. */
	inv.im[1].idrkmsr = "kms.wrong.example";
	inv.r.n_im = 2;
	ck_assert_int_eq(policy_decide_request(&c, &inv.r, at(NOW_ISO), &o), 0);
	ck_assert_int_eq(o.decision, POLICY_KRR);
	ck_assert_str_eq(o.rule, "1a:receiver-kms");
	ck_assert_str_eq(o.krr->uri[KRR_RECEIVER_KMS], "kms.wrong.example");
	ck_assert_ptr_nonnull(strstr(o.audit, "\"idrkmsr\":\"kms.wrong.example\""));
	policy_outcome_clear(&o);

	/* Both acceptable but naming another initiator: refused all the same. */
	inv.im[1] = inv.im[0];
	inv.im[1].idri = "sip:eve@home.example";
	ck_assert_int_eq(policy_decide_request(&c, &inv.r, at(NOW_ISO), &o), 0);
	ck_assert_int_eq(o.decision, POLICY_REJECT);
	ck_assert_str_eq(o.rule, "mikey-disagree");
	ck_assert_int_eq(o.status, 488);
	ck_assert_str_eq(o.warning, "I_MESSAGE 2 names other identities or KMSs than I_MESSAGE 1");
	policy_outcome_clear(&o);

	/* One without its KMS URIs makes the request malformed. */
	inv.im[1].idrkmsi = NULL;
	ck_assert_int_eq(policy_decide_request(&c, &inv.r, at(NOW_ISO), &o), 0);
	ck_assert_str_eq(o.rule, "malformed-mikey");
	ck_assert_int_eq(o.status, 400);
	policy_outcome_clear(&o);
}
END_TEST

/* A body that cannot be read: 415 (a coding) or 400, or forwarded when the operator says so. */
START_TEST(test_uninspectable)
{
	struct policy_ctx c = ctx();
	struct policy_outcome o;
	struct req inv;

	conf.policy.on_uninspectable = CONF_REJECT;
	invite(&inv, "sip:bob@partner.example", "kms.home.example", "kms.partner.example");
	inv.r.mikey = POLICY_UNINSPECTABLE;
	inv.r.n_im = 0;
	inv.r.fault = "Content-Encoding that cannot be decoded at body offset 0";
	inv.r.fault_is_coding = true;
	ck_assert_int_eq(policy_decide_request(&c, &inv.r, at(NOW_ISO), &o), 0);
	ck_assert_int_eq(o.decision, POLICY_REJECT);
	ck_assert_str_eq(o.rule, "uninspectable");
	ck_assert_int_eq(o.status, 415);
	ck_assert(o.accept_identity);
	ck_assert_str_eq(o.warning, "cannot inspect the body: Content-Encoding that cannot be decoded at body offset 0");
	policy_outcome_clear(&o);
	inv.r.fault_is_coding = false;
	inv.r.fault = "multipart body without a valid boundary parameter at body offset 0";
	ck_assert_int_eq(policy_decide_request(&c, &inv.r, at(NOW_ISO), &o), 0);
	ck_assert_int_eq(o.status, 400);
	ck_assert(!o.accept_identity);
	policy_outcome_clear(&o);
	conf.policy.on_uninspectable = CONF_FORWARD;
	ck_assert_int_eq(policy_decide_request(&c, &inv.r, at(NOW_ISO), &o), 0);
	ck_assert_int_eq(o.decision, POLICY_FORWARD);
	ck_assert_str_eq(o.rule, "uninspectable");
	policy_outcome_clear(&o);
	conf.policy.on_uninspectable = CONF_REJECT;
}
END_TEST

/* Any method, inside a dialog too: decided the same way, and the audit says which. */
START_TEST(test_methods_and_dialogs)
{
	struct policy_ctx c = ctx();
	struct policy_outcome o;
	struct req inv;

	conf.server.role = CONF_PRIMARY;
	invite(&inv, "sip:bob@127.0.0.1:5080", "kms.home.example", "kms.wrong.example");
	inv.im[0].idrr = "sip:bob@partner.example";	/* the target is IDRr, not the Contact in the R-URI */
	inv.r.method = "UPDATE";
	inv.r.in_dialog = true;
	ck_assert(policy_wants_decision(&inv.r));
	ck_assert_int_eq(policy_decide_request(&c, &inv.r, at(NOW_ISO), &o), 0);
	ck_assert_int_eq(o.decision, POLICY_KRR);
	ck_assert_str_eq(o.target, "sip:bob@partner.example");
	ck_assert_ptr_nonnull(strstr(o.audit, "\"method\":\"UPDATE\",\"in_dialog\":true"));
	policy_outcome_clear(&o);

	/* Without an I_MESSAGE only an initial INVITE needs a decision. */
	inv.r.mikey = POLICY_NO_MIKEY;
	ck_assert(!policy_wants_decision(&inv.r));
	inv.r.method = "INVITE";
	ck_assert(!policy_wants_decision(&inv.r));
	inv.r.in_dialog = false;
	ck_assert(policy_wants_decision(&inv.r));
	inv.r.method = "MESSAGE";
	ck_assert(!policy_wants_decision(&inv.r));
	inv.r.mikey = POLICY_UNINSPECTABLE;
	ck_assert(policy_wants_decision(&inv.r));
}
END_TEST

/* policy.verify_imessage: the vendor I_MESSAGE verifies under its KMS's KPAK; a forged one does not. */
START_TEST(test_verify_imessage)
{
	static char *none[] = { NULL };
	static struct conf_domain d_sw[] = { { .kms = "kms.mydev.streamwide.com", .external = { none, 0 } } };
	static struct conf_lookup_entry e_sw[] = {
		{ .user = "sip:bob@streamwide.com", .domains = d_sw, .n_domains = 1, .line = 1 },
	};
	char dir[512], err[256];
	snprintf(dir, sizeof(dir), "%s/kms-vendor", TEST_DATA);
	struct conf_kms sw = { .uri = "kms.mydev.streamwide.com", .role = CONF_KMS_EXTERNAL,
		.valid_from = INT64_MIN, .valid_to = INT64_MAX };
	struct conf c = conf;
	c.kms = &sw;
	c.n_kms = 1;
	c.kms_certificates = dir;
	c.lookup.entries = e_sw;
	c.lookup.n_entries = 1;
	c.policy.verify_imessage = true;
	struct conf_diags d = { 0 };
	struct kms_registry *reg;
	struct lookup *lk;
	ck_assert_int_eq(kms_registry_build(&c, &reg, &d), 0);
	ck_assert_int_eq(lookup_open(&c, &lk, err, sizeof(err)), 0);
	struct policy_ctx pc = { .conf = &c, .kms = reg, .lookup = lk };

	size_t tlen, blen;
	char *text = data_file("vendor-pck.b64", &tlen);
	uint8_t *b = malloc(tlen);
	struct mikey_msg m;
	ck_assert_int_eq(b64_decode(text, tlen, b, &blen, NULL), 0);
	ck_assert_int_eq(mikey_decode(b, blen, &m, NULL), 0);
	struct req inv;
	invite(&inv, "sip:bob@streamwide.com", "kms.mydev.streamwide.com", "kms.mydev.streamwide.com");
	inv.r.from = "sip:alice@streamwide.com";
	inv.r.call_id = "vendor";
	inv.im[0] = (struct policy_imessage){ .idri = "sip:alice@streamwide.com", .idrkmsi = "kms.mydev.streamwide.com",
		.idrkmsr = "kms.mydev.streamwide.com", .msg = &m };
	struct policy_outcome o;
	ck_assert_int_eq(policy_decide_request(&pc, &inv.r, at(NOW_ISO), &o), 0);
	ck_assert_str_eq(o.rule, "4:acceptable");
	policy_outcome_clear(&o);

	/* One octet of RAND changed: the signature no longer holds, 403. */
	b[25] ^= 1;
	ck_assert_int_eq(policy_decide_request(&pc, &inv.r, at(NOW_ISO), &o), 0);
	ck_assert_int_eq(o.decision, POLICY_REJECT);
	ck_assert_int_eq(o.status, 403);
	ck_assert_str_eq(o.rule, "imessage-signature");
	ck_assert_str_eq(o.warning, "I_MESSAGE signature refused: the ECCSI signature does not verify");
	policy_outcome_clear(&o);

	/* An IDRkmsi whose KPAK is unknown cannot be vouched for. */
	inv.im[0].idrkmsi = "kms.elsewhere.example";
	ck_assert_int_eq(policy_decide_request(&pc, &inv.r, at(NOW_ISO), &o), 0);
	ck_assert_int_eq(o.status, 403);
	ck_assert_ptr_nonnull(strstr(o.warning, "no KmsCertificate"));
	policy_outcome_clear(&o);

	free(b);
	free(text);
	lookup_close(lk);
	kms_registry_free(reg);
}
END_TEST

/* ---- KRRs from downstream (2b, 3b, 3c) ---- */

/* The certificates are made now: signatures are checked at the real time. */
#define NOW_REAL ((int64_t)time(NULL))

static char keydir[] = "/tmp/mcx-policy-test.XXXXXX";
static struct krr_signer *signer;
static struct krr_verifier *verifier;

static char *slurp(const char *name, size_t *len)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", keydir, name);
	FILE *f = fopen(path, "rb");
	ck_assert_ptr_nonnull(f);
	char *b = calloc(1, 65536);
	*len = fread(b, 1, 65535, f);
	fclose(f);
	return b;
}

static void keys(void)
{
	char cmd[1024];
	size_t cl, kl, al;
	struct krr_error err;

	world();
	ck_assert_ptr_nonnull(mkdtemp(keydir));
	snprintf(cmd, sizeof(cmd), "( cd %s && "
	    "openssl ecparam -name prime256v1 -genkey -noout -out ca.key && "
	    "openssl req -x509 -new -key ca.key -subj '/CN=Policy CA' -days 3650 -out ca.pem -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign && "
	    "openssl ecparam -name prime256v1 -genkey -noout -out s.key && "
	    "openssl req -new -key s.key -subj '/CN=policy signer' -out s.csr && "
	    "openssl x509 -req -in s.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 -out s.pem "
	    ") >/dev/null 2>&1", keydir);
	ck_assert_int_eq(system(cmd), 0);
	char *c = slurp("s.pem", &cl), *k = slurp("s.key", &kl), *a = slurp("ca.pem", &al);
	ck_assert_int_eq(krr_signer_new(c, cl, k, kl, &signer, &err), 0);
	ck_assert_int_eq(krr_verifier_new(a, al, &verifier, &err), 0);
	free(a);
	free(k);
	free(c);
}

static void keys_end(void)
{
	char cmd[256];
	krr_signer_free(signer);
	krr_verifier_free(verifier);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", keydir);
	ck_assert_int_eq(system(cmd), 0);
	world_end();
}

/* A KRR as the terminating client (3a) would send it, signed or not. */
static char *downstream_krr(const char *ai, const char *ar, bool sign, size_t *len)
{
	struct krr *k = krr_new();
	struct krr_error err;
	char *xml, list[256], *save, *p;

	krr_set(&k->id, "krr-client");
	krr_set(&k->version, "1.0.0");
	k->time = NOW_REAL;
	const char *u[KRR_URI__COUNT] = { "sip:bob@partner.example", "kms.partner.example",
		"sip:alice@home.example", "sip:bob@partner.example", "kms.home.example", "kms.partner.example" };
	for (int i = 0; i < KRR_URI__COUNT; i++)
		krr_set(&k->uri[i], u[i]);
	snprintf(list, sizeof(list), "%s", ai);
	for (p = strtok_r(list, ",", &save); p; p = strtok_r(NULL, ",", &save))
		krr_list_add(&k->accept_initiator, p);
	snprintf(list, sizeof(list), "%s", ar);
	for (p = strtok_r(list, ",", &save); p; p = strtok_r(NULL, ",", &save))
		krr_list_add(&k->accept_receiver, p);
	ck_assert_int_eq(sign ? krr_encode_signed(k, signer, &xml, len, &err) : krr_encode(k, &xml, len, &err), 0);
	krr_free(k);
	return xml;
}

START_TEST(test_krr_pass)
{
	struct policy_ctx c = ctx();
	struct req inv;
	invite(&inv, "sip:bob@partner.example", "kms.home.example", "kms.partner.example");
	struct policy_outcome o;
	size_t len;
	char *xml = downstream_krr("kms.home.example", "kms.partner.example", true, &len);

	c.verifier = verifier;
	conf.server.role = CONF_PARTNER;
	unsigned long parses = xmlsafe_parse_count();
	ck_assert_int_eq(policy_decide_krr(&c, &inv.r, xml, len, NOW_REAL, &o), 0);
	/* Decoded and verified from one parse. */
	ck_assert_uint_eq(xmlsafe_parse_count(), parses + 1);
	ck_assert_int_eq(o.decision, POLICY_PASS);
	ck_assert_str_eq(o.rule, "3b:pass");
	ck_assert_int_eq(o.status, 488);
	/* What goes upstream is the received KRR, octet for octet. */
	ck_assert_ptr_nonnull(o.krr);
	ck_assert_str_eq(o.krr->id, "krr-client");
	ck_assert_uint_eq(o.krr_len, len);
	ck_assert_mem_eq(o.krr_xml, xml, len);
	ck_assert_str_eq(o.signature, "valid");
	ck_assert_str_eq(o.signer, "CN=policy signer");
	ck_assert_ptr_nonnull(strstr(o.audit, "\"signature\":\"valid\""));
	policy_outcome_clear(&o);
	free(xml);
}
END_TEST

START_TEST(test_krr_replace)
{
	struct policy_ctx c = ctx();
	struct req inv;
	invite(&inv, "sip:bob@partner.example", "kms.home.example", "kms.partner.example");
	struct policy_outcome o;
	size_t len;
	/* The client offers a rogue KMS and a revoked one: both go, the rest stays. */
	char *xml = downstream_krr("kms.home.example,kms.rogue.example",
	    "kms.partner.example,kms.revoked.example,kms.partner2.example", true, &len);

	c.verifier = verifier;
	c.signer = signer;
	conf.server.role = CONF_PRIMARY;
	unsigned long parses = xmlsafe_parse_count();
	ck_assert_int_eq(policy_decide_krr(&c, &inv.r, xml, len, NOW_REAL, &o), 0);
	/* Decoded, verified and embedded in ours from one parse. */
	ck_assert_uint_eq(xmlsafe_parse_count(), parses + 1);
	ck_assert_int_eq(o.decision, POLICY_REPLACE);
	ck_assert_str_eq(o.rule, "2b/3c:replace");
	ck_assert_ptr_nonnull(o.krr);
	list_is(&o.krr->accept_initiator, "kms.home.example");
	/* partner2 is usable but not a domain of bob here: narrowed by our lookup. */
	list_is(&o.krr->accept_receiver, "kms.partner.example");
	ck_assert_str_eq(o.krr->uri[KRR_ORIGINATOR], conf.server.uri);

	/* Ours is signed, and embeds the client's, whose own signature still holds. */
	struct krr_verdict v;
	ck_assert_int_eq(krr_verify(verifier, o.krr_xml, o.krr_len, NOW_REAL, &v), 0);
	ck_assert(v.valid);
	ck_assert_int_eq(v.embedded_valid, 1);
	krr_verdict_clear(&v);
	struct krr *back;
	struct krr_error err;
	ck_assert_int_eq(krr_decode(o.krr_xml, o.krr_len, &back, &err), 0);
	ck_assert_str_eq(back->embedded->id, "krr-client");
	krr_free(back);
	policy_outcome_clear(&o);
	free(xml);
}
END_TEST

START_TEST(test_krr_discard)
{
	struct policy_ctx c = ctx();
	struct req inv;
	invite(&inv, "sip:bob@partner.example", "kms.home.example", "kms.wrong.example");
	struct policy_outcome o;
	size_t len;
	char *xml = downstream_krr("kms.home.example", "kms.partner.example", false, &len);

	c.verifier = verifier;
	conf.server.role = CONF_PARTNER;
	/* Unsigned but signatures not required: judged on its content. */
	conf.krr.require_signed = false;
	ck_assert_int_eq(policy_decide_krr(&c, &inv.r, xml, len, NOW_REAL, &o), 0);
	ck_assert_int_eq(o.decision, POLICY_PASS);
	ck_assert_str_eq(o.signature, "unsigned");
	policy_outcome_clear(&o);

	/* Required: discarded, and our own KRR from our own lookup goes instead. */
	conf.krr.require_signed = true;
	ck_assert_int_eq(policy_decide_krr(&c, &inv.r, xml, len, NOW_REAL, &o), 0);
	ck_assert_int_eq(o.decision, POLICY_DISCARD);
	ck_assert_str_eq(o.rule, "discard:unverified-own-krr");
	ck_assert_int_eq(o.status, 488);
	ck_assert_ptr_nonnull(o.krr);
	list_is(&o.krr->accept_receiver, "kms.partner.example");
	policy_outcome_clear(&o);

	/* A 488 without a KRR body is not ours to judge. */
	ck_assert_int_eq(policy_decide_krr(&c, &inv.r, NULL, 0, NOW_REAL, &o), 0);
	ck_assert_int_eq(o.decision, POLICY_PASS);
	ck_assert_str_eq(o.rule, "plain-488");
	policy_outcome_clear(&o);

	/* Without a lookup entry of our own: a plain 488. */
	invite(&inv, "sip:bob@elsewhere.example", "kms.home.example", "kms.wrong.example");
	ck_assert_int_eq(policy_decide_krr(&c, &inv.r, xml, len, NOW_REAL, &o), 0);
	ck_assert_int_eq(o.decision, POLICY_DISCARD);
	ck_assert_str_eq(o.rule, "discard:unverified-plain-488");
	ck_assert_ptr_null(o.krr);
	policy_outcome_clear(&o);

	/* Not even a KRR. */
	ck_assert_int_eq(policy_decide_krr(&c, &inv.r, "<x/>", 4, NOW_REAL, &o), 0);
	ck_assert_int_eq(o.decision, POLICY_DISCARD);
	ck_assert_str_eq(o.signature, "malformed");
	policy_outcome_clear(&o);
	conf.krr.require_signed = false;
	free(xml);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("policy");
	TCase *tc = tcase_create("invite");

	tcase_add_unchecked_fixture(tc, world, world_end);
	tcase_add_loop_test(tc, test_invite, 0, sizeof(invite_cases) / sizeof(invite_cases[0]));
	tcase_add_test(tc, test_policy_switches);
	tcase_add_test(tc, test_several_imessages);
	tcase_add_test(tc, test_uninspectable);
	tcase_add_test(tc, test_methods_and_dialogs);
	tcase_add_test(tc, test_verify_imessage);
	suite_add_tcase(s, tc);

	tc = tcase_create("downstream krr");
	tcase_add_unchecked_fixture(tc, keys, keys_end);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_krr_pass);
	tcase_add_test(tc, test_krr_replace);
	tcase_add_test(tc, test_krr_discard);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
