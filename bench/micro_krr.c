/* Micro-benchmark: KRR build + XML Signature and its verification against bare ECDSA P-256 sign and verify. */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "harness.h"
#include "krr.h"

#define REPS		BENCH_REPS
#define SIGN_TARGET	0.5	/* rate (a) / rate (b) at least this */
#define VERIFY_TARGET	(1.0 / 3)	/* rate (c) / rate (d) at least this */
#define MAX_SIG		128	/* a DER ECDSA P-256 signature is at most 72 octets */

#define SIGNER_URI	"sip:sdproxy@partner.example"

/* Everything the loops need, prepared once before timing. */
struct bench {
	struct krr *krr;		/* (a): the KRR built and signed each call */
	struct krr_signer *signer;
	struct krr_verifier *verifier;
	char *signed_xml;		/* (c): the document verified each call */
	size_t signed_len;
	int64_t now;
	EVP_PKEY *key;			/* (b), (d): the signer's key, the same one */
	const unsigned char *msg;	/* the floor's message: the unsigned KRR document */
	size_t msg_len;
	unsigned char sig[MAX_SIG];	/* (d): a floor signature of msg */
	size_t sig_len;
	uint64_t failures;
};

/* The generated PKI: a self-signed CA and a signer certificate it issued, in PEM. */
struct pki {
	EVP_PKEY *ca_key, *key;
	X509 *ca, *cert;
	char *ca_pem, *cert_pem, *key_pem;
	size_t ca_pem_len, cert_pem_len, key_pem_len;
};

/* (a) build and sign: krr_encode_signed of the typical KRR. */
static uint64_t loop_sign(void *ctx, uint64_t iters)
{
	struct bench *b = ctx;
	struct krr_error err;
	uint64_t acc = 0;
	char *xml;
	size_t len;

	for (uint64_t i = 0; i < iters; i++) {
		if (krr_encode_signed(b->krr, b->signer, &xml, &len, &err) < 0) {
			b->failures++;
			continue;
		}
		acc += len + (unsigned char)xml[len / 2];
		free(xml);
		BENCH_BARRIER();
	}
	return acc;
}

/* (b) the floor: one ECDSA P-256 / SHA-256 signature of a KRR-sized message. */
static uint64_t loop_floor_sign(void *arg, uint64_t iters)
{
	struct bench *b = arg;
	unsigned char sig[MAX_SIG];
	uint64_t acc = 0;
	size_t sig_len;

	for (uint64_t i = 0; i < iters; i++) {
		EVP_MD_CTX *ctx = EVP_MD_CTX_new();
		sig_len = sizeof(sig);
		if (!ctx || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, b->key) != 1 ||
		    EVP_DigestSign(ctx, sig, &sig_len, b->msg, b->msg_len) != 1)
			b->failures++;
		else
			acc += sig_len + sig[sig_len / 2];
		EVP_MD_CTX_free(ctx);
		BENCH_BARRIER();
	}
	return acc;
}

/* (c) verify: krr_verify of the signed KRR, the CA as the only trust anchor. */
static uint64_t loop_verify(void *ctx, uint64_t iters)
{
	struct bench *b = ctx;
	struct krr_verdict v;
	uint64_t acc = 0;

	for (uint64_t i = 0; i < iters; i++) {
		if (krr_verify(b->verifier, b->signed_xml, b->signed_len, b->now, &v) < 0) {
			b->failures++;
			continue;
		}
		if (!v.valid)
			b->failures++;
		acc += v.n_signer_uris + (uint64_t)v.valid;
		krr_verdict_clear(&v);
		BENCH_BARRIER();
	}
	return acc;
}

/* (d) the floor: one ECDSA P-256 / SHA-256 verification of the floor signature. */
static uint64_t loop_floor_verify(void *arg, uint64_t iters)
{
	struct bench *b = arg;
	uint64_t acc = 0;

	for (uint64_t i = 0; i < iters; i++) {
		EVP_MD_CTX *ctx = EVP_MD_CTX_new();
		if (!ctx || EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, b->key) != 1 ||
		    EVP_DigestVerify(ctx, b->sig, b->sig_len, b->msg, b->msg_len) != 1)
			b->failures++;
		else
			acc++;
		EVP_MD_CTX_free(ctx);
		BENCH_BARRIER();
	}
	return acc;
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	if ((ext = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value)) == NULL)
		return -1;
	ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

/*
 * A version 3 certificate for key, valid from an hour ago for a day, issued
 * by issuer (NULL: self-signed) and signed with ECDSA-SHA256 by issuer_key.
 */
static X509 *make_cert(EVP_PKEY *key, const char *cn, long serial, X509 *issuer,
    EVP_PKEY *issuer_key, bool ca)
{
	X509 *c = X509_new();
	X509_NAME *name;

	if (!c || !X509_set_version(c, 2) || !ASN1_INTEGER_set(X509_get_serialNumber(c), serial) ||
	    !X509_gmtime_adj(X509_getm_notBefore(c), -3600) ||
	    !X509_gmtime_adj(X509_getm_notAfter(c), 86400) || !X509_set_pubkey(c, key))
		goto fail;
	if ((name = X509_get_subject_name(c)) == NULL ||
	    !X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
	    (const unsigned char *)"mcx-sdproxy benchmark", -1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1,
	    -1, 0))
		goto fail;
	if (!X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer) : name))
		goto fail;
	if (ca) {
		if (add_ext(c, c, NID_basic_constraints, "critical,CA:TRUE") < 0 ||
		    add_ext(c, c, NID_key_usage, "critical,keyCertSign,cRLSign") < 0 ||
		    add_ext(c, c, NID_subject_key_identifier, "hash") < 0)
			goto fail;
	} else {
		if (add_ext(c, issuer, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
		    add_ext(c, issuer, NID_key_usage, "critical,digitalSignature") < 0 ||
		    add_ext(c, issuer, NID_subject_key_identifier, "hash") < 0 ||
		    add_ext(c, issuer, NID_authority_key_identifier, "keyid:always") < 0 ||
		    add_ext(c, issuer, NID_subject_alt_name, "URI:" SIGNER_URI) < 0)
			goto fail;
	}
	if (!X509_sign(c, issuer_key, EVP_sha256()))
		goto fail;
	return c;
fail:
	X509_free(c);
	return NULL;
}

/* Take what a memory BIO holds as a malloc'd, NUL-terminated string. */
static int bio_take(BIO *bio, char **out, size_t *len)
{
	char *data;
	long n = BIO_get_mem_data(bio, &data);

	if (n <= 0 || (*out = malloc((size_t)n + 1)) == NULL)
		return -1;
	memcpy(*out, data, (size_t)n);
	(*out)[n] = '\0';
	*len = (size_t)n;
	return 0;
}

static int cert_pem(X509 *c, char **out, size_t *len)
{
	BIO *bio = BIO_new(BIO_s_mem());
	int rc = bio && PEM_write_bio_X509(bio, c) ? bio_take(bio, out, len) : -1;

	BIO_free(bio);
	return rc;
}

/* Generate the CA and the signer, both EC P-256, in memory. */
static int pki_generate(struct pki *p)
{
	BIO *bio;
	int rc;

	if ((p->ca_key = EVP_EC_gen("P-256")) == NULL || (p->key = EVP_EC_gen("P-256")) == NULL)
		return -1;
	if ((p->ca = make_cert(p->ca_key, "KRR benchmark CA", 1, NULL, p->ca_key, true)) == NULL ||
	    (p->cert = make_cert(p->key, "KRR benchmark signer", 2, p->ca, p->ca_key,
	    false)) == NULL)
		return -1;
	if (cert_pem(p->ca, &p->ca_pem, &p->ca_pem_len) < 0 ||
	    cert_pem(p->cert, &p->cert_pem, &p->cert_pem_len) < 0)
		return -1;
	if ((bio = BIO_new(BIO_s_mem())) == NULL)
		return -1;
	rc = PEM_write_bio_PrivateKey(bio, p->key, NULL, NULL, 0, NULL, NULL) ?
	    bio_take(bio, &p->key_pem, &p->key_pem_len) : -1;
	BIO_free(bio);
	return rc;
}

static void pki_free(struct pki *p)
{
	if (p->key_pem)
		OPENSSL_cleanse(p->key_pem, p->key_pem_len);
	free(p->key_pem);
	free(p->cert_pem);
	free(p->ca_pem);
	X509_free(p->cert);
	X509_free(p->ca);
	EVP_PKEY_free(p->key);
	EVP_PKEY_free(p->ca_key);
}

/* The typical KRR: six URIs, two acceptable KMS URIs on each side, nothing embedded. */
static struct krr *typical_krr(int64_t t)
{
	static const char *const uri[KRR_URI__COUNT] = {
		[KRR_ORIGINATOR] = SIGNER_URI,
		[KRR_ORIGINATOR_KMS] = "kms.partner.example",
		[KRR_INITIATOR] = "sip:alice@home.example",
		[KRR_RECEIVER] = "sip:bob@partner.example",
		[KRR_INITIATOR_KMS] = "kms.home.example",
		[KRR_RECEIVER_KMS] = "kms.wrong.example",
	};
	struct krr *k = krr_new();
	int rc = 0;

	if (!k)
		return NULL;
	rc |= krr_set(&k->id, "krr-5f0c3a9e71d24b08");
	rc |= krr_set(&k->version, "1.0.0");
	for (int i = 0; i < KRR_URI__COUNT; i++)
		rc |= krr_set(&k->uri[i], uri[i]);
	rc |= krr_list_add(&k->accept_initiator, "kms.home.example");
	rc |= krr_list_add(&k->accept_initiator, "kms.home-backup.example");
	rc |= krr_list_add(&k->accept_receiver, "kms.partner.example");
	rc |= krr_list_add(&k->accept_receiver, "kms.partner-backup.example");
	k->time = t;
	if (rc) {
		krr_free(k);
		return NULL;
	}
	return k;
}

static int write_file(const char *dir, const char *name, const char *data, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "wb")) == NULL) {
		fprintf(stderr, "micro_krr: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fwrite(data, 1, len, f) != len || fclose(f) != 0) {
		fprintf(stderr, "micro_krr: %s: write error\n", path);
		return -1;
	}
	return 0;
}

static void report(const struct bench_loop *l, int reps)
{
	double b = bench_least(l->per_op, (size_t)reps);

	printf("%-30s %9.1f us/op %9.0f op/s", l->label, b / 1e3, 1e9 / b);
	if (reps > 1)
		printf("   (median %.1f us, %llu ops per run)", bench_median(l->per_op, (size_t)reps) / 1e3,
		    (unsigned long long)l->ops);
	putchar('\n');
}

/* Rate of x over rate of floor: the floor's time per operation over x's. */
static void report_ratio(const char *label, const struct bench_loop *x, const struct bench_loop *base,
    double target, const char *target_text, int reps)
{
	double ratio = bench_least(base->per_op, (size_t)reps) / bench_least(x->per_op, (size_t)reps);
	double paired[REPS];

	for (int i = 0; i < reps; i++)
		paired[i] = base->per_op[i] / x->per_op[i];
	printf("%s  %.3f", label, ratio);
	if (reps > 1)
		printf(" (per run: median %.3f, range %.3f-%.3f)", bench_median(paired, (size_t)reps),
		    bench_least(paired, (size_t)reps), bench_most(paired, (size_t)reps));
	printf(", target >= %s: %s\n", target_text, ratio >= target ? "met" : "NOT met");
}

static void usage(void)
{
	fprintf(stderr,
	    "usage: micro_krr [-n ITERATIONS] [-w DIR]\n"
	    "\n"
	    "Times, on one pinned CPU and in the same run, (a) krr_encode_signed of a\n"
	    "typical KRR (six URIs, 2 + 2 acceptable KMS URIs), (b) a bare OpenSSL\n"
	    "ECDSA P-256 / SHA-256 EVP_DigestSign of the unsigned KRR document with the\n"
	    "same key, (c) krr_verify of the signed KRR with the CA as trust anchor and\n"
	    "(d) EVP_DigestVerify of the floor signature, and reports the rate ratios\n"
	    "(a)/(b) (target >= 1/2) and (c)/(d) (target >= 1/3).\n"
	    "\n"
	    "It needs no files: an EC P-256 CA (self-signed) and a signer certificate\n"
	    "it issues (subjectAltName URI:" SIGNER_URI ") are generated in\n"
	    "memory at start, valid from an hour ago for a day.\n"
	    "\n"
	    "  -n N    run each loop N times, once, without warm-up (for perf or\n"
	    "          callgrind; the ratios need the default, interleaved runs)\n"
	    "  -w DIR  also write ca.pem, signer.pem, signer.key and krr.xml (the signed\n"
	    "          KRR) to DIR, for a check such as: xmlsec1 --verify --trusted-pem\n"
	    "          DIR/ca.pem --id-attr:Id KmsRedirectResponse DIR/krr.xml\n");
}

int main(int argc, char **argv)
{
	struct bench b = { .sig_len = 0 };
	struct bench_loop l[4] = {
		{ .label = "(a) KRR build + sign", .fn = loop_sign, .ctx = &b },
		{ .label = "(b) ECDSA P-256 sign (floor)", .fn = loop_floor_sign, .ctx = &b },
		{ .label = "(c) KRR verify", .fn = loop_verify, .ctx = &b },
		{ .label = "(d) ECDSA P-256 verify (floor)", .fn = loop_floor_verify, .ctx = &b },
	};
	struct pki pki = { .ca_key = NULL };
	struct krr_error err;
	struct krr_verdict verdict;
	const char *outdir = NULL;
	char *unsigned_xml = NULL, *end;
	size_t unsigned_len;
	uint64_t fixed = 0;
	int opt, reps = REPS, status = 1;

	while ((opt = getopt(argc, argv, "n:w:")) != -1) {
		switch (opt) {
		case 'n':
			errno = 0;
			fixed = strtoull(optarg, &end, 10);
			if (errno || *end || end == optarg || fixed == 0) {
				usage();
				return 2;
			}
			reps = 1;
			break;
		case 'w':
			outdir = optarg;
			break;
		default:
			usage();
			return 2;
		}
	}
	if (optind != argc) {
		usage();
		return 2;
	}

	/* Set-up, untimed: the PKI, the KRR, the signer and the verifier. */
	if (krr_global_init() < 0) {
		fprintf(stderr, "micro_krr: krr_global_init failed\n");
		return 1;
	}
	if (pki_generate(&pki) < 0) {
		fprintf(stderr, "micro_krr: generating the certificates failed\n");
		ERR_print_errors_fp(stderr);
		goto out;
	}
	b.now = (int64_t)time(NULL);
	b.key = pki.key;
	if ((b.krr = typical_krr(b.now - 5)) == NULL) {
		fprintf(stderr, "micro_krr: building the KRR failed\n");
		goto out;
	}
	if (krr_signer_new(pki.cert_pem, pki.cert_pem_len, pki.key_pem, pki.key_pem_len, &b.signer,
	    &err) < 0 ||
	    krr_verifier_new(pki.ca_pem, pki.ca_pem_len, &b.verifier, &err) < 0 ||
	    krr_encode(b.krr, &unsigned_xml, &unsigned_len, &err) < 0 ||
	    krr_encode_signed(b.krr, b.signer, &b.signed_xml, &b.signed_len, &err) < 0) {
		fprintf(stderr, "micro_krr: %s: %s\n", krr_err_name(err.code), err.detail);
		goto out;
	}
	b.msg = (const unsigned char *)unsigned_xml;
	b.msg_len = unsigned_len;

	/* One untimed pass of each: what is timed must succeed. */
	if (krr_verify(b.verifier, b.signed_xml, b.signed_len, b.now, &verdict) < 0) {
		fprintf(stderr, "micro_krr: krr_verify could not run\n");
		goto out;
	}
	if (!verdict.valid || verdict.embedded_valid != -1 || verdict.n_signer_uris != 1 ||
	    strcmp(verdict.signer_uris[0], SIGNER_URI) != 0) {
		fprintf(stderr, "micro_krr: the signed KRR does not verify as expected: %s: %s\n",
		    krr_err_name(verdict.why.code), verdict.why.detail);
		krr_verdict_clear(&verdict);
		goto out;
	}
	krr_verdict_clear(&verdict);
	{
		EVP_MD_CTX *ctx = EVP_MD_CTX_new();
		b.sig_len = sizeof(b.sig);
		int ok = ctx && EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, b.key) == 1 &&
		    EVP_DigestSign(ctx, b.sig, &b.sig_len, b.msg, b.msg_len) == 1;
		EVP_MD_CTX_free(ctx);
		if (!ok) {
			fprintf(stderr, "micro_krr: the floor signature failed\n");
			ERR_print_errors_fp(stderr);
			goto out;
		}
	}
	for (size_t i = 0; i < 4; i++)
		l[i].fn(l[i].ctx, 1);
	if (b.failures) {
		fprintf(stderr, "micro_krr: a loop fails before timing\n");
		goto out;
	}
	if (outdir && (write_file(outdir, "ca.pem", pki.ca_pem, pki.ca_pem_len) < 0 ||
	    write_file(outdir, "signer.pem", pki.cert_pem, pki.cert_pem_len) < 0 ||
	    write_file(outdir, "signer.key", pki.key_pem, pki.key_pem_len) < 0 ||
	    write_file(outdir, "krr.xml", b.signed_xml, b.signed_len) < 0))
		goto out;

	int cpu = bench_pin_cpu();
	printf("micro_krr: %s\n", OpenSSL_version(OPENSSL_VERSION));
	printf("  KRR           %zu octets unsigned (the floor's message), %zu signed\n",
	    unsigned_len, b.signed_len);
	printf("  keys          EC P-256 CA and signer, generated; signer URI %s\n", SIGNER_URI);
	if (cpu >= 0)
		printf("  timing        CLOCK_MONOTONIC, pinned to CPU %d, ", cpu);
	else
		printf("  timing        CLOCK_MONOTONIC, not pinned, ");
	if (fixed)
		printf("one run of %llu operations each (for profilers: the ratios need the "
		    "default, interleaved runs)\n", (unsigned long long)fixed);
	else
		printf("best of %d runs of >= %.0f s per loop, the 4 loops taking turns in "
		    "%.0f ms slices\n", reps, BENCH_MIN_RUN_NS / 1e9, BENCH_SLICE_NS / 1e6);
	fflush(stdout);

	struct bench_loop *const loops[] = { &l[0], &l[1], &l[2], &l[3] };
	if (fixed) {
		bench_fixed(loops, 4, fixed);
	} else {
		for (size_t i = 0; i < 4; i++)
			bench_calibrate(&l[i], 10);
		for (int i = 0; i < reps; i++)
			bench_round(loops, 4, i);
	}
	if (b.failures) {
		fprintf(stderr, "micro_krr: %llu failures inside the timed loops\n",
		    (unsigned long long)b.failures);
		goto out;
	}
	for (size_t i = 0; i < 4; i++)
		report(&l[i], reps);
	report_ratio("rate (a)/(b)", &l[0], &l[1], SIGN_TARGET, "0.5", reps);
	report_ratio("rate (c)/(d)", &l[2], &l[3], VERIFY_TARGET, "1/3", reps);
	status = 0;
out:
	free(b.signed_xml);
	free(unsigned_xml);
	krr_verifier_free(b.verifier);
	krr_signer_free(b.signer);
	krr_free(b.krr);
	pki_free(&pki);
	krr_global_cleanup();
	return status;
}
