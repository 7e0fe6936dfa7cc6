/* Unit tests of the KRR codec, its limits and errors, and of signing and verification. */
#include "config.h"

#include <errno.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "krr.h"
#include "testutil.h"
#include "xmlsafe.h"

#define NS "urn:3gpp:ns:mcsecKMSKRR:1.0"
#define T_2026 1795946400	/* 2026-11-29T10:00:00Z */

/* A complete, unsigned KRR with the given Id, extra content before the close tag. */
static char *doc_with(const char *id, const char *lists, const char *tail)
{
	char *s;
	int n = asprintf(&s,
	    "<?xml version=\"1.0\"?>\n"
	    "<KmsRedirectResponse xmlns=\"" NS "\" Id=\"%s\" Version=\"1.0.0\">\n"
	    "  <Time>2026-11-29T10:00:00Z</Time>\n"
	    "  <OriginatorUri>sip:sdproxy@partner.example</OriginatorUri>\n"
	    "  <OriginatorKmsUri>kms.partner.example</OriginatorKmsUri>\n"
	    "  <InitiatorUri>sip:alice@home.example</InitiatorUri>\n"
	    "  <ReceiverUri>sip:bob@partner.example</ReceiverUri>\n"
	    "  <InitiatorKmsUri>kms.home.example</InitiatorKmsUri>\n"
	    "  <ReceiverKmsUri>kms.wrong.example</ReceiverKmsUri>\n"
	    "%s%s</KmsRedirectResponse>\n", id,
	    lists ? lists : "  <AcceptableInitiatorKmsUris><KmsUri>kms.home.example</KmsUri></AcceptableInitiatorKmsUris>\n"
			    "  <AcceptableReceiverKmsUris><KmsUri> kms.partner.example </KmsUri><KmsUri>kms.b</KmsUri></AcceptableReceiverKmsUris>\n",
	    tail ? tail : "");
	ck_assert_int_gt(n, 0);
	return s;
}

static struct krr *decode_ok(const char *xml)
{
	struct krr *k = NULL;
	struct krr_error err = { 0, 0, "" };
	int rc = krr_decode(xml, strlen(xml), &k, &err);
	ck_assert_msg(rc == 0, "decode failed: %s [%s]", err.detail, krr_err_name(err.code));
	return k;
}

static void decode_fails(const char *xml, size_t len, enum krr_err code, const char *detail_part)
{
	struct krr *k = (struct krr *)0x1;
	struct krr_error err = { 0, 0, "" };
	int rc = krr_decode(xml, len, &k, &err);
	ck_assert_msg(rc < 0, "decoded, expected %s", krr_err_name(code));
	ck_assert_msg(err.code == code, "got %s (%s), expected %s", krr_err_name(err.code), err.detail,
	    krr_err_name(code));
	if (detail_part)
		ck_assert_msg(strstr(err.detail, detail_part), "'%s' lacks '%s'", err.detail, detail_part);
	ck_assert_ptr_eq(k, (struct krr *)0x1);	/* untouched */
}

/* Replace the first occurrence of what in s (malloc'd result). */
static char *replace(const char *s, const char *what, const char *with)
{
	const char *p = strstr(s, what);
	ck_assert_msg(p != NULL, "'%s' not found", what);
	char *r = malloc(strlen(s) - strlen(what) + strlen(with) + 1);
	size_t pre = (size_t)(p - s);
	memcpy(r, s, pre);
	strcpy(r + pre, with);
	strcat(r, p + strlen(what));
	return r;
}

static void setup(void)
{
	ck_assert_int_eq(krr_global_init(), 0);
}

/* ---- codec ---- */

START_TEST(test_decode_fields)
{
	char *xml = doc_with("krr-5f0c3a", NULL, "  <!-- a comment is fine -->\n");
	struct krr *k = decode_ok(xml);

	ck_assert_str_eq(k->id, "krr-5f0c3a");
	ck_assert_str_eq(k->version, "1.0.0");
	ck_assert_int_eq(k->time, T_2026);
	ck_assert_str_eq(k->uri[KRR_ORIGINATOR], "sip:sdproxy@partner.example");
	ck_assert_str_eq(k->uri[KRR_ORIGINATOR_KMS], "kms.partner.example");
	ck_assert_str_eq(k->uri[KRR_INITIATOR], "sip:alice@home.example");
	ck_assert_str_eq(k->uri[KRR_RECEIVER], "sip:bob@partner.example");
	ck_assert_str_eq(k->uri[KRR_INITIATOR_KMS], "kms.home.example");
	ck_assert_str_eq(k->uri[KRR_RECEIVER_KMS], "kms.wrong.example");
	ck_assert_uint_eq(k->accept_initiator.n, 1);
	ck_assert_uint_eq(k->accept_receiver.n, 2);
	ck_assert_str_eq(k->accept_receiver.uri[0], "kms.partner.example");	/* trimmed */
	ck_assert_str_eq(k->accept_receiver.uri[1], "kms.b");
	ck_assert(!k->is_signed);
	ck_assert_ptr_null(k->embedded);
	krr_free(k);
	free(xml);

	/* Empty lists are allowed ("zero or more"), in either form. */
	xml = doc_with("k", "<AcceptableInitiatorKmsUris/><AcceptableReceiverKmsUris>\n</AcceptableReceiverKmsUris>", NULL);
	k = decode_ok(xml);
	ck_assert_uint_eq(k->accept_initiator.n, 0);
	ck_assert_uint_eq(k->accept_receiver.n, 0);
	krr_free(k);
	free(xml);
}
END_TEST

START_TEST(test_round_trip)
{
	struct krr *k = krr_new(), *back;
	char *xml;
	size_t len;
	struct krr_error err;

	ck_assert_int_eq(krr_set(&k->id, "krr-1"), 0);
	ck_assert_int_eq(krr_set(&k->version, "1.0.0"), 0);
	k->time = T_2026;
	for (int i = 0; i < KRR_URI__COUNT; i++)
		ck_assert_int_eq(krr_set(&k->uri[i], "sip:x@y.example?a=<&>\""), 0);
	ck_assert_int_eq(krr_list_add(&k->accept_receiver, "kms.a"), 0);
	ck_assert_int_eq(krr_encode(k, &xml, &len, &err), 0);
	ck_assert_uint_eq(strlen(xml), len);
	ck_assert_ptr_nonnull(strstr(xml, "sip:x@y.example?a=&lt;&amp;&gt;\"</OriginatorUri>"));
	back = decode_ok(xml);
	ck_assert_str_eq(back->uri[KRR_RECEIVER_KMS], "sip:x@y.example?a=<&>\"");
	ck_assert_uint_eq(back->accept_initiator.n, 0);
	ck_assert_str_eq(back->accept_receiver.uri[0], "kms.a");
	ck_assert_int_eq(back->time, T_2026);
	krr_free(back);
	free(xml);

	/* Missing fields are refused by the encoder. */
	ck_assert_int_eq(krr_set(&k->uri[KRR_RECEIVER], NULL), 0);
	ck_assert_int_eq(krr_encode(k, &xml, &len, &err), -EBADMSG);
	ck_assert_int_eq(err.code, KRR_E_MISSING);
	krr_free(k);
}
END_TEST

START_TEST(test_embedded)
{
	char *inner = doc_with("inner", NULL, NULL);
	/* The embedded element inherits the default namespace from the outer one. */
	const char *body = strstr(inner, "<KmsRedirectResponse");
	char *unqualified = replace(body, " xmlns=\"" NS "\"", "");
	char *tail;
	ck_assert_int_gt(asprintf(&tail, "  <EmbeddedKrr>%s</EmbeddedKrr>\n", unqualified), 0);
	char *outer = doc_with("outer", NULL, tail);
	struct krr *k = decode_ok(outer);

	ck_assert_ptr_nonnull(k->embedded);
	ck_assert_str_eq(k->embedded->id, "inner");
	ck_assert_ptr_nonnull(k->embedded_xml);
	/* Standalone, it declares the namespace it inherited, and decodes alone. */
	ck_assert_ptr_nonnull(strstr(k->embedded_xml, "xmlns=\"" NS "\""));
	struct krr *again = decode_ok(k->embedded_xml);
	ck_assert_str_eq(again->uri[KRR_RECEIVER_KMS], "kms.wrong.example");
	krr_free(again);

	/* Encoding with embedded_xml puts it back. */
	char *xml;
	size_t len;
	struct krr_error err;
	ck_assert_int_eq(krr_set(&k->id, "outer2"), 0);
	ck_assert_int_eq(krr_encode(k, &xml, &len, &err), 0);
	struct krr *re = decode_ok(xml);
	ck_assert_str_eq(re->embedded->id, "inner");
	krr_free(re);
	free(xml);

	/* The same Id inside and outside is refused, encoding and decoding. */
	ck_assert_int_eq(krr_set(&k->id, "inner"), 0);
	ck_assert_int_eq(krr_encode(k, &xml, &len, &err), -EBADMSG);
	ck_assert_int_eq(err.code, KRR_E_DUPLICATE);
	char *dup = doc_with("inner", NULL, tail);
	decode_fails(dup, strlen(dup), KRR_E_DUPLICATE, "inner");
	free(dup);
	krr_free(k);
	free(outer);
	free(tail);
	free(unqualified);
	free(inner);
}
END_TEST

/* KRRs nested KRR_MAX_DEPTH deep decode; one more does not. */
START_TEST(test_nesting_limit)
{
	char *xml = doc_with("k0", NULL, NULL);
	for (int depth = 2; depth <= KRR_MAX_DEPTH + 1; depth++) {
		char id[8], *tail, *outer;
		snprintf(id, sizeof(id), "k%d", depth);
		ck_assert_int_gt(asprintf(&tail, "<EmbeddedKrr>%s</EmbeddedKrr>", strstr(xml, "<KmsRedirectResponse")), 0);
		outer = doc_with(id, NULL, tail);
		free(tail);
		free(xml);
		xml = outer;
		if (depth <= KRR_MAX_DEPTH)
			krr_free(decode_ok(xml));
		else
			decode_fails(xml, strlen(xml), KRR_E_LIMIT, "nested");
	}
	free(xml);
}
END_TEST

struct bad_case {
	const char *what, *from, *to;
	enum krr_err code;
	const char *detail;
};

/* Mutations of a good document, each with the error it must produce. */
static const struct bad_case bad_cases[] = {
	{ "wrong namespace", "xmlns=\"" NS "\"", "xmlns=\"urn:example:other\"", KRR_E_NAMESPACE, NULL },
	{ "no namespace", " xmlns=\"" NS "\"", "", KRR_E_NAMESPACE, NULL },
	{ "wrong root", "<KmsRedirectResponse xmlns", "<KmsRedirect xmlns", KRR_E_XML, NULL },
	{ "missing Id", " Id=\"k\"", "", KRR_E_MISSING, "Id" },
	{ "bad Id", "Id=\"k\"", "Id=\"9k\"", KRR_E_VALUE, "9k" },
	{ "missing Version", " Version=\"1.0.0\"", "", KRR_E_MISSING, "Version" },
	{ "unknown attribute", "Version=", "Extra=\"1\" Version=", KRR_E_UNEXPECTED, "Extra" },
	{ "missing Time", "<Time>2026-11-29T10:00:00Z</Time>", "", KRR_E_MISSING, "Time" },
	{ "bad Time", "2026-11-29T10:00:00Z", "yesterday", KRR_E_VALUE, "yesterday" },
	{ "empty URI", "<ReceiverUri>sip:bob@partner.example</ReceiverUri>", "<ReceiverUri> </ReceiverUri>", KRR_E_VALUE, "ReceiverUri" },
	{ "missing URI", "<InitiatorKmsUri>kms.home.example</InitiatorKmsUri>", "", KRR_E_MISSING, "InitiatorKmsUri" },
	{ "duplicate element", "<Time>", "<Time>2026-11-29T10:00:00Z</Time><Time>", KRR_E_DUPLICATE, "Time" },
	{ "out of order", "<OriginatorUri>sip:sdproxy@partner.example</OriginatorUri>\n  <OriginatorKmsUri>kms.partner.example</OriginatorKmsUri>",
	  "<OriginatorKmsUri>kms.partner.example</OriginatorKmsUri><OriginatorUri>sip:sdproxy@partner.example</OriginatorUri>",
	  KRR_E_MISSING, "OriginatorUri" },
	{ "unknown element", "<Time>", "<Extra/><Time>", KRR_E_UNEXPECTED, "Extra" },
	{ "foreign element", "<Time>", "<x:Extra xmlns:x=\"urn:x\"/><Time>", KRR_E_NAMESPACE, "urn:x" },
	{ "text in root", "<Time>", "words<Time>", KRR_E_UNEXPECTED, NULL },
	{ "markup in a leaf", "kms.home.example</InitiatorKmsUri>", "kms.home.example<b/></InitiatorKmsUri>", KRR_E_UNEXPECTED, "markup" },
	{ "other element in a list", "<KmsUri>kms.b</KmsUri>", "<Uri>kms.b</Uri>", KRR_E_UNEXPECTED, "KmsUri" },
	{ "empty KMS URI", "<KmsUri>kms.b</KmsUri>", "<KmsUri/>", KRR_E_VALUE, NULL },
	{ "empty EmbeddedKrr", "</AcceptableReceiverKmsUris>", "</AcceptableReceiverKmsUris><EmbeddedKrr/>", KRR_E_MISSING, "EmbeddedKrr" },
	{ "EmbeddedKrr holding something else", "</AcceptableReceiverKmsUris>", "</AcceptableReceiverKmsUris><EmbeddedKrr><Time/></EmbeddedKrr>", KRR_E_UNEXPECTED, NULL },
	{ "element after the signature", "</AcceptableReceiverKmsUris>",
	  "</AcceptableReceiverKmsUris><ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"/><EmbeddedKrr/>", KRR_E_DUPLICATE, NULL },
	{ "not well-formed", "</Time>", "</Tim>", KRR_E_XML, NULL },
	{ "DOCTYPE", "<?xml version=\"1.0\"?>", "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"b\">]>", KRR_E_DTD, NULL },
	{ "external entity", "<?xml version=\"1.0\"?>", "<?xml version=\"1.0\"?><!DOCTYPE x SYSTEM \"file:///etc/passwd\">", KRR_E_DTD, NULL },
	{ "UTF-16", "<?xml version=\"1.0\"?>", "\xff\xfe<", KRR_E_XML, NULL },
};

START_TEST(test_bad_documents)
{
	const struct bad_case *c = &bad_cases[_i];
	char *good = doc_with("k", NULL, NULL);
	char *bad = replace(good, c->from, c->to);

	decode_fails(bad, strlen(bad), c->code, c->detail);
	free(bad);
	free(good);
}
END_TEST

START_TEST(test_limits)
{
	/* A list one longer than allowed. */
	char lists[4096] = "<AcceptableInitiatorKmsUris>";
	for (int i = 0; i <= KRR_MAX_LIST; i++)
		strcat(lists, "<KmsUri>k</KmsUri>");
	strcat(lists, "</AcceptableInitiatorKmsUris><AcceptableReceiverKmsUris/>");
	char *xml = doc_with("k", lists, NULL);
	decode_fails(xml, strlen(xml), KRR_E_LIMIT, "more than");
	free(xml);

	/* A URI one octet too long. */
	char *longuri = malloc(KRR_MAX_URI + 2);
	memset(longuri, 'a', KRR_MAX_URI + 1);
	longuri[KRR_MAX_URI + 1] = '\0';
	char *good = doc_with("k", NULL, NULL);
	xml = replace(good, "kms.wrong.example", longuri);
	decode_fails(xml, strlen(xml), KRR_E_LIMIT, "ReceiverKmsUri");
	free(xml);

	/* A long Id, a document over the size bound, and nothing at all. */
	xml = replace(good, "Id=\"k\"", "Id=\"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk\"");
	decode_fails(xml, strlen(xml), KRR_E_LIMIT, "Id");
	free(xml);
	char *huge = malloc(KRR_MAX_DOC + 2);
	memset(huge, ' ', KRR_MAX_DOC + 1);
	memcpy(huge, good, strlen(good));
	decode_fails(huge, KRR_MAX_DOC + 1, KRR_E_TOO_LARGE, NULL);
	decode_fails("", 0, KRR_E_XML, NULL);
	decode_fails("<a>\0</a>", 8, KRR_E_XML, NULL);
	free(huge);
	free(good);
	free(longuri);

	/* The model's own bounds. */
	struct krr_list l = { .n = 0 };
	for (int i = 0; i < KRR_MAX_LIST; i++)
		ck_assert_int_eq(krr_list_add(&l, "k"), 0);
	ck_assert_int_eq(krr_list_add(&l, "k"), -E2BIG);
	ck_assert_int_eq(krr_list_add(&l, ""), -EINVAL);
	for (size_t i = 0; i < l.n; i++)
		free(l.uri[i]);
}
END_TEST

/* A billion-laughs document is refused at once, before libxml2 sees it. */
START_TEST(test_billion_laughs)
{
	static const char lol[] =
	    "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n <!ENTITY lol \"lol\">\n"
	    " <!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
	    " <!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">\n"
	    " <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n"
	    " <!ENTITY lol9 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">\n]>\n"
	    "<KmsRedirectResponse xmlns=\"" NS "\" Id=\"k\" Version=\"1\"><Time>&lol9;</Time></KmsRedirectResponse>";
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	decode_fails(lol, sizeof(lol) - 1, KRR_E_DTD, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	/* Not a timing assertion of the product: a guard against a test that hangs. */
	ck_assert_int_lt(t1.tv_sec - t0.tv_sec, 5);
	/* An undeclared entity reference is simply not well-formed. */
	char *good = doc_with("k", NULL, NULL);
	char *bad = replace(good, "kms.b", "&lol9;");
	decode_fails(bad, strlen(bad), KRR_E_XML, NULL);
	free(bad);
	free(good);
}
END_TEST

/* ---- signatures (keys made with the openssl command) ---- */

static char keydir[] = "/tmp/mcx-krr-test.XXXXXX";

static char *slurp(const char *name, size_t *len)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", keydir, name);
	FILE *f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "%s", path);
	char *buf = calloc(1, 65536);
	*len = fread(buf, 1, 65535, f);
	fclose(f);
	return buf;
}

static void make_keys(void)
{
	char cmd[2048];

	setup();
	ck_assert_ptr_nonnull(mkdtemp(keydir));
	snprintf(cmd, sizeof(cmd),
	    "( cd %s && "
	    "openssl ecparam -name prime256v1 -genkey -noout -out ca.key && "
	    "openssl req -x509 -new -key ca.key -subj '/CN=Unit CA' -days 30 -out ca.pem "
	    "  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign && "
	    "openssl ecparam -name prime256v1 -genkey -noout -out s.key && "
	    "openssl req -new -key s.key -subj '/CN=unit signer' -out s.csr && "
	    "printf 'subjectAltName=URI:sip:sdproxy@partner.example,URI:sip:other@x\\n' > ext && "
	    "openssl x509 -req -in s.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 10 -extfile ext -out s.pem && "
	    "openssl ecparam -name prime256v1 -genkey -noout -out other.key && "
	    "openssl req -x509 -new -key other.key -subj '/CN=Other CA' -days 30 -out other.pem && "
	    "openssl genrsa -out rsa.key 2048 && "
	    "openssl req -x509 -new -key rsa.key -subj '/CN=rsa' -days 30 -out rsa.pem "
	    ") >/dev/null 2>&1", keydir);
	ck_assert_int_eq(system(cmd), 0);
}

static void remove_keys(void)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", keydir);
	ck_assert_int_eq(system(cmd), 0);
}

static struct krr_signer *signer(void)
{
	size_t cl, kl;
	char *c = slurp("s.pem", &cl), *k = slurp("s.key", &kl);
	struct krr_signer *s;
	struct krr_error err;
	ck_assert_int_eq(krr_signer_new(c, cl, k, kl, &s, &err), 0);
	free(c);
	free(k);
	return s;
}

static struct krr_verifier *verifier(const char *anchors)
{
	size_t len;
	char *pem = slurp(anchors, &len);
	struct krr_verifier *v;
	struct krr_error err;
	ck_assert_int_eq(krr_verifier_new(pem, len, &v, &err), 0);
	free(pem);
	return v;
}

static char *signed_doc(const char *id, const char *embedded_xml)
{
	char *xml = doc_with(id, NULL, NULL);
	struct krr *k = decode_ok(xml);
	struct krr_signer *s = signer();
	struct krr_error err;
	char *out;
	size_t len;

	if (embedded_xml)
		ck_assert_ptr_nonnull(k->embedded_xml = strdup(embedded_xml));
	ck_assert_int_eq(krr_encode_signed(k, s, &out, &len, &err), 0);
	krr_signer_free(s);
	krr_free(k);
	free(xml);
	return out;
}

static void verdict_is(struct krr_verifier *v, const char *xml, int64_t now, bool valid,
    enum krr_err why)
{
	struct krr_verdict vd;
	ck_assert_int_eq(krr_verify(v, xml, strlen(xml), now, &vd), 0);
	ck_assert_msg(vd.valid == valid, "valid=%d: %s [%s]", vd.valid, vd.why.detail,
	    krr_err_name(vd.why.code));
	if (!valid)
		ck_assert_msg(vd.why.code == why, "got %s (%s), expected %s", krr_err_name(vd.why.code),
		    vd.why.detail, krr_err_name(why));
	krr_verdict_clear(&vd);
}

START_TEST(test_sign_verify)
{
	struct krr_verifier *v = verifier("ca.pem");
	char *xml = signed_doc("krr-a", NULL);
	struct krr_verdict vd;
	int64_t now = (int64_t)time(NULL);

	ck_assert_int_eq(krr_verify(v, xml, strlen(xml), now, &vd), 0);
	ck_assert(vd.valid);
	ck_assert_str_eq(vd.signer, "CN=unit signer");
	ck_assert_uint_eq(vd.n_signer_uris, 2);
	ck_assert_str_eq(vd.signer_uris[0], "sip:sdproxy@partner.example");
	ck_assert_int_eq(vd.embedded_valid, -1);
	krr_verdict_clear(&vd);
	struct krr *k = decode_ok(xml);
	ck_assert(k->is_signed);
	krr_free(k);

	/* The certificate is valid for 10 days: not in 20 days, not last year. */
	verdict_is(v, xml, now + 20 * 86400, false, KRR_E_CERTIFICATE);
	verdict_is(v, xml, now - 365 * 86400, false, KRR_E_CERTIFICATE);

	/* Another CA does not vouch for it, whatever OpenSSL's default store would say. */
	char path[300];
	snprintf(path, sizeof(path), "%s/ca.pem", keydir);
	setenv("SSL_CERT_FILE", path, 1);
	struct krr_verifier *other = verifier("other.pem");
	verdict_is(other, xml, now, false, KRR_E_CERTIFICATE);
	krr_verifier_free(other);
	unsetenv("SSL_CERT_FILE");

	/* Verified twice: the second time from the signer cache, same verdict. */
	ck_assert_int_eq(krr_verify(v, xml, strlen(xml), now, &vd), 0);
	ck_assert(vd.valid);
	ck_assert_str_eq(vd.signer, "CN=unit signer");
	krr_verdict_clear(&vd);

	/* One changed character anywhere in the content. */
	char *tampered = replace(xml, "kms.wrong.example", "kms.wrong.exampla");
	verdict_is(v, tampered, now, false, KRR_E_SIGNATURE);
	free(tampered);
	/* Unsigned. */
	char *plain = doc_with("krr-a", NULL, NULL);
	verdict_is(v, plain, now, false, KRR_E_UNSIGNED);
	free(plain);
	/* Not even a KRR. */
	verdict_is(v, "<x/>", now, false, KRR_E_ROOT);
	free(xml);
	krr_verifier_free(v);
}
END_TEST

START_TEST(test_embedded_signatures)
{
	struct krr_verifier *v = verifier("ca.pem");
	int64_t now = (int64_t)time(NULL);
	char *inner = signed_doc("inner", NULL);
	char *outer = signed_doc("outer", inner);
	struct krr_verdict vd;

	ck_assert_int_eq(krr_verify(v, outer, strlen(outer), now, &vd), 0);
	ck_assert(vd.valid);
	ck_assert_int_eq(vd.embedded_valid, 1);
	krr_verdict_clear(&vd);

	/* The embedded KRR is kept byte for byte (after its XML declaration). */
	struct krr *k = decode_ok(outer);
	ck_assert_str_eq(k->embedded_xml, inner);
	krr_free(k);

	/* A broken embedded signature: the outer one still holds. */
	char *broken = replace(inner, "kms.partner.example", "kms.partner.examplf");
	char *outer2 = signed_doc("outer", broken);
	ck_assert_int_eq(krr_verify(v, outer2, strlen(outer2), now, &vd), 0);
	ck_assert(vd.valid);
	ck_assert_int_eq(vd.embedded_valid, 0);
	ck_assert_int_eq(vd.embedded_why.code, KRR_E_SIGNATURE);
	krr_verdict_clear(&vd);

	free(outer2);
	free(broken);
	free(outer);
	free(inner);
	krr_verifier_free(v);
}
END_TEST

/* One parse feeds the decoding, the signature check and the embedded KRR's check: none parses again. */
START_TEST(test_parsed_once)
{
	struct krr_verifier *v = verifier("ca.pem");
	int64_t now = (int64_t)time(NULL);
	char *inner = signed_doc("inner", NULL);
	char *outer = signed_doc("outer", inner);
	char *broken = replace(inner, "kms.partner.example", "kms.partner.examplf");
	char *outer2 = signed_doc("outer", broken);
	struct krr_verdict vd;
	struct krr_doc *d;
	struct krr_error err;
	unsigned long before = xmlsafe_parse_count();

	ck_assert_int_eq(krr_doc_parse(outer, strlen(outer), &d, &err), 0);
	ck_assert_uint_eq(xmlsafe_parse_count(), before + 1);
	ck_assert_str_eq(krr_doc_krr(d)->id, "outer");
	ck_assert_str_eq(krr_doc_krr(d)->embedded_xml, inner);
	/* Handed over, the KRR is the caller's; the document still verifies, embedded KRR and all. */
	struct krr *k = krr_doc_take(d);
	ck_assert_ptr_null(krr_doc_krr(d));
	ck_assert_int_eq(krr_verify_doc(v, d, now, &vd), 0);
	ck_assert(vd.valid);
	ck_assert_int_eq(vd.embedded_valid, 1);
	krr_verdict_clear(&vd);
	krr_free(k);
	krr_doc_free(d);
	ck_assert_uint_eq(xmlsafe_parse_count(), before + 1);

	/* krr_verify: one parse too, and a broken embedded signature still found. */
	ck_assert_int_eq(krr_verify(v, outer2, strlen(outer2), now, &vd), 0);
	ck_assert_uint_eq(xmlsafe_parse_count(), before + 2);
	ck_assert(vd.valid);
	ck_assert_int_eq(vd.embedded_valid, 0);
	ck_assert_int_eq(vd.embedded_why.code, KRR_E_SIGNATURE);
	krr_verdict_clear(&vd);

	/* Not a KRR: the error of krr_decode, nothing to free. */
	d = (struct krr_doc *)&d;
	ck_assert_int_eq(krr_doc_parse("<x/>", 4, &d, &err), -EBADMSG);
	ck_assert_int_eq(err.code, KRR_E_ROOT);
	ck_assert_ptr_eq(d, (struct krr_doc *)&d);
	krr_doc_free(NULL);

	free(outer2);
	free(broken);
	free(outer);
	free(inner);
	krr_verifier_free(v);
}
END_TEST

/* Signature wrapping: a forged root reuses a signature whose Reference names a hidden copy. */
START_TEST(test_wrapping)
{
	struct krr_verifier *v = verifier("ca.pem");
	int64_t now = (int64_t)time(NULL);
	char *genuine = signed_doc("krr-g", NULL);
	const char *sig = strstr(genuine, "<ds:Signature");
	const char *sig_end = strstr(genuine, "</ds:Signature>") + strlen("</ds:Signature>");
	char *signature = strndup(sig, (size_t)(sig_end - sig));
	/* The genuine element without its signature, hidden inside EmbeddedKrr of a forgery. */
	char *unsigned_genuine = replace(strstr(genuine, "<KmsRedirectResponse"), signature, "");
	char *tail;
	ck_assert_int_gt(asprintf(&tail, "<EmbeddedKrr>%s</EmbeddedKrr>%s", unsigned_genuine, signature), 0);
	char *forged = doc_with("krr-forged", "<AcceptableInitiatorKmsUris/><AcceptableReceiverKmsUris><KmsUri>kms.rogue.example</KmsUri></AcceptableReceiverKmsUris>", tail);

	/* xmlsec alone accepts it (the digest of the hidden copy matches); the Reference check does not. */
	verdict_is(v, forged, now, false, KRR_E_REFERENCE);
	/* Even with the forged root taking the genuine Id, the Ids now clash. */
	char *forged2 = replace(forged, "Id=\"krr-forged\"", "Id=\"krr-g\"");
	verdict_is(v, forged2, now, false, KRR_E_DUPLICATE);
	/* A signature moved into a list, or before Time, is not where it belongs. */
	char *moved = replace(genuine, signature, "");
	char *moved2 = replace(moved, "<AcceptableInitiatorKmsUris>", "<AcceptableInitiatorKmsUris>SIG");
	char *moved3 = replace(moved2, "SIG", signature);
	verdict_is(v, moved3, now, false, KRR_E_UNEXPECTED);
	char *before = replace(moved, "<Time>", "SIG<Time>");
	char *before2 = replace(before, "SIG", signature);
	verdict_is(v, before2, now, false, KRR_E_MISSING);

	free(before2);
	free(before);
	free(moved3);
	free(moved2);
	free(moved);
	free(forged2);
	free(forged);
	free(tail);
	free(unsigned_genuine);
	free(signature);
	free(genuine);
	krr_verifier_free(v);
}
END_TEST

START_TEST(test_signer_checks)
{
	size_t cl, kl, ol, rl, rkl;
	char *c = slurp("s.pem", &cl), *k = slurp("s.key", &kl), *o = slurp("other.key", &ol);
	char *rc = slurp("rsa.pem", &rl), *rk = slurp("rsa.key", &rkl);
	struct krr_signer *s;
	struct krr_verifier *v;
	struct krr_error err;

	ck_assert_int_eq(krr_signer_new(c, cl, o, ol, &s, &err), -EIO);
	ck_assert_ptr_nonnull(strstr(err.detail, "does not match"));
	ck_assert_int_eq(krr_signer_new(rc, rl, rk, rkl, &s, &err), -EIO);
	ck_assert_ptr_nonnull(strstr(err.detail, "P-256"));
	ck_assert_int_eq(krr_signer_new("junk", 4, k, kl, &s, &err), -EIO);
	ck_assert_int_eq(krr_verifier_new("junk", 4, &v, &err), -EIO);
	ck_assert_ptr_nonnull(strstr(err.detail, "no PEM certificate"));
	free(rk);
	free(rc);
	free(o);
	free(k);
	free(c);
}
END_TEST

START_TEST(test_names)
{
	for (int e = 0; e < KRR_E__COUNT; e++)
		ck_assert_str_ne(krr_err_name(e), "unknown");
	ck_assert_str_eq(krr_names.root, "KmsRedirectResponse");
	ck_assert_str_eq(krr_names.ns, NS);
}
END_TEST

static Suite *krr_suite(void)
{
	Suite *s = suite_create("krr");
	TCase *tc;

	tc = tcase_create("codec");
	tcase_add_unchecked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_decode_fields);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_embedded);
	tcase_add_test(tc, test_nesting_limit);
	tcase_add_loop_test(tc, test_bad_documents, 0, sizeof(bad_cases) / sizeof(bad_cases[0]));
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_billion_laughs);
	tcase_add_test(tc, test_names);
	suite_add_tcase(s, tc);

	tc = tcase_create("signature");
	tcase_add_unchecked_fixture(tc, make_keys, remove_keys);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_sign_verify);
	tcase_add_test(tc, test_embedded_signatures);
	tcase_add_test(tc, test_parsed_once);
	tcase_add_test(tc, test_wrapping);
	tcase_add_test(tc, test_signer_checks);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(krr_suite());
}
