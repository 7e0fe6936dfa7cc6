/* mcx-sdtool krr: build, decode and verify KMS Redirect Responses. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "json.h"
#include "conf.h"
#include "krr.h"
#include "pemfiles.h"
#include "sdtool.h"
#include "sipread.h"
#include "timeutil.h"

static const char *name_of(const char *path)
{
	return path && strcmp(path, "-") != 0 ? path : "stdin";
}

static int report(const char *path, const struct krr_error *e)
{
	if (e->line > 0)
		sdtool_err("%s: line %d: %s [%s]", name_of(path), e->line, e->detail, krr_err_name(e->code));
	else
		sdtool_err("%s: %s [%s]", name_of(path), e->detail, krr_err_name(e->code));
	return SDTOOL_BAD_INPUT;
}

/*
 * Read a KRR from a file: the XML itself, or a whole SIP message (a 488)
 * whose body is the KRR, read as the daemon reads it.  *xml points into
 * *buf (free that).
 */
static int read_krr(const char *path, uint8_t **buf, const char **xml, size_t *len)
{
	struct sipread_msg *sip;
	char why[160];
	size_t n;
	int rc;

	if ((rc = sdtool_read(path, buf, &n)) != SDTOOL_OK)
		return rc;
	*xml = (const char *)*buf;
	*len = n;
	if (sipread_looks_like_sip(*xml, n)) {
		if ((rc = sipread_parse(*xml, n, false, &sip, why, sizeof(why))) < 0) {
			sdtool_err("%s: %s", name_of(path), rc == -ENOMEM ? "out of memory" : why);
			free(*buf);
			return SDTOOL_BAD_INPUT;
		}
		/* The body, whatever its type: the XML decoder judges it.  The parser kept its own copy. */
		struct sipread_body sb;
		uint8_t *body = NULL;
		if (sipread_body(sipread_sip(sip), &sb) == 0 && (body = malloc(sb.body.len + 1)) != NULL)
			memcpy(body, sb.body.data ? (const void *)sb.body.data : "", sb.body.len);
		sipread_free(sip);
		free(*buf);
		if (!body) {
			sdtool_err("out of memory");
			return SDTOOL_BAD_INPUT;
		}
		*buf = body;
		*xml = (const char *)body;
		*len = sb.body.len;
	}
	return SDTOOL_OK;
}

static int read_pem(const char *what, const char *path, uint8_t **buf, size_t *len)
{
	if (!path) {
		sdtool_err("%s needs a file", what);
		return SDTOOL_USAGE;
	}
	return sdtool_read(path, buf, len);
}

/* ---- build ---- */

enum {
	OPT_ORIGINATOR = 256, OPT_ORIGINATOR_KMS, OPT_INITIATOR, OPT_RECEIVER,
	OPT_INITIATOR_KMS, OPT_RECEIVER_KMS,	/* in enum krr_uri order */
	OPT_ACCEPT_I, OPT_ACCEPT_R, OPT_TIME, OPT_ID, OPT_EMBED, OPT_CERT, OPT_KEY,
};

static const char *const uri_opt[KRR_URI__COUNT] = {
	"originator", "originator-kms", "initiator", "receiver", "initiator-kms", "receiver-kms",
};

static int cmd_build(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "originator", required_argument, NULL, OPT_ORIGINATOR },
		{ "originator-kms", required_argument, NULL, OPT_ORIGINATOR_KMS },
		{ "initiator", required_argument, NULL, OPT_INITIATOR },
		{ "receiver", required_argument, NULL, OPT_RECEIVER },
		{ "initiator-kms", required_argument, NULL, OPT_INITIATOR_KMS },
		{ "receiver-kms", required_argument, NULL, OPT_RECEIVER_KMS },
		{ "accept-initiator-kms", required_argument, NULL, OPT_ACCEPT_I },
		{ "accept-receiver-kms", required_argument, NULL, OPT_ACCEPT_R },
		{ "time", required_argument, NULL, OPT_TIME },
		{ "id", required_argument, NULL, OPT_ID },
		{ "embed", required_argument, NULL, OPT_EMBED },
		{ "cert", required_argument, NULL, OPT_CERT },
		{ "key", required_argument, NULL, OPT_KEY },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *embed = NULL, *cert = NULL, *key = NULL;
	struct krr *k = krr_new();
	struct krr_error err;
	struct krr_signer *signer = NULL;
	uint8_t *ebuf = NULL, *cbuf = NULL, *kbuf = NULL;
	char *xml = NULL;
	size_t len;
	int c, rc = SDTOOL_USAGE;
	bool have_time = false;

	if (!k || krr_set(&k->version, "1.0.0") < 0) {
		krr_free(k);
		sdtool_err("out of memory");
		return SDTOOL_BAD_INPUT;
	}
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		int r = 0;
		switch (c) {
		case OPT_ORIGINATOR: case OPT_ORIGINATOR_KMS: case OPT_INITIATOR:
		case OPT_RECEIVER: case OPT_INITIATOR_KMS: case OPT_RECEIVER_KMS:
			r = *optarg ? krr_set(&k->uri[c - OPT_ORIGINATOR], optarg) : -EINVAL;
			break;
		case OPT_ACCEPT_I:
			r = krr_list_add(&k->accept_initiator, optarg);
			break;
		case OPT_ACCEPT_R:
			r = krr_list_add(&k->accept_receiver, optarg);
			break;
		case OPT_TIME:
			if (time_parse_iso(optarg, &k->time) < 0) {
				sdtool_err("--time: '%s' is not YYYY-MM-DDTHH:MM:SSZ", optarg);
				goto out;
			}
			have_time = true;
			break;
		case OPT_ID:
			r = krr_set(&k->id, optarg);
			break;
		case OPT_EMBED: embed = optarg; break;
		case OPT_CERT: cert = optarg; break;
		case OPT_KEY: key = optarg; break;
		case 'h':
			puts("usage: mcx-sdtool krr build --originator URI --originator-kms URI --initiator URI\n"
			     "       --receiver URI --initiator-kms URI --receiver-kms URI\n"
			     "       [--accept-initiator-kms URI]... [--accept-receiver-kms URI]...\n"
			     "       [--time TIME] [--id ID] [--embed FILE] [--cert FILE --key FILE]");
			rc = SDTOOL_OK;
			goto out;
		default:
			rc = sdtool_bad_option("krr build", argv);
			goto out;
		}
		if (r < 0) {
			sdtool_err("%s: '%s': %s", argv[optind - 1] ? argv[optind - 1] : "option", optarg,
			    r == -E2BIG ? "too long, or too many URIs in the list" : "must not be empty");
			goto out;
		}
	}
	if (optind != argc) {
		sdtool_err("krr build takes no operands");
		goto out;
	}
	for (int i = 0; i < KRR_URI__COUNT; i++) {
		if (!k->uri[i]) {
			sdtool_err("krr build needs --%s", uri_opt[i]);
			goto out;
		}
	}
	if (!cert != !key) {
		sdtool_err("--cert and --key go together");
		goto out;
	}
	if (!have_time)
		k->time = (int64_t)time(NULL);
	if (!k->id) {
		uint8_t r[6];
		char id[20];
		if (RAND_bytes(r, sizeof(r)) != 1) {
			sdtool_err("no randomness");
			rc = SDTOOL_BAD_INPUT;
			goto out;
		}
		snprintf(id, sizeof(id), "krr-%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3], r[4], r[5]);
		if (krr_set(&k->id, id) < 0)
			goto out;
	}

	rc = SDTOOL_BAD_INPUT;
	if (krr_global_init() < 0) {
		sdtool_err("cannot initialise libxml2/xmlsec");
		goto out;
	}
	if (embed) {
		const char *exml;
		size_t elen;
		if ((rc = read_krr(embed, &ebuf, &exml, &elen)) != SDTOOL_OK)
			goto out;
		rc = SDTOOL_BAD_INPUT;
		if ((k->embedded_xml = strndup(exml, elen)) == NULL)
			goto out;
	}
	if (cert) {
		size_t clen, klen;
		if ((rc = read_pem("--cert", cert, &cbuf, &clen)) != SDTOOL_OK ||
		    (rc = read_pem("--key", key, &kbuf, &klen)) != SDTOOL_OK)
			goto out;
		rc = SDTOOL_BAD_INPUT;
		if (krr_signer_new((char *)cbuf, clen, (char *)kbuf, klen, &signer, &err) < 0) {
			report(cert, &err);
			goto out;
		}
		/* Signed anyway (tests need such KRRs), but nobody will accept it. */
		if (krr_signer_check_time(signer, k->time, &err) < 0)
			sdtool_err("warning: %s: %s at the KRR's time", cert, err.detail);
	}
	if ((signer ? krr_encode_signed(k, signer, &xml, &len, &err) : krr_encode(k, &xml, &len, &err)) < 0) {
		report(embed ? embed : "krr build", &err);
		goto out;
	}
	fwrite(xml, 1, len, stdout);
	rc = fflush(stdout) == 0 ? SDTOOL_OK : SDTOOL_BAD_INPUT;
out:
	free(xml);
	krr_signer_free(signer);
	if (kbuf)
		OPENSSL_cleanse(kbuf, strlen((char *)kbuf));
	free(kbuf);
	free(cbuf);
	free(ebuf);
	krr_free(k);
	return rc;
}

/* ---- decode ---- */

static void json_krr(struct json *j, const struct krr *k)
{
	static const char *const keys[KRR_URI__COUNT] = {
		"originator", "originator_kms", "initiator", "receiver", "initiator_kms", "receiver_kms",
	};
	char iso[TIME_ISO_LEN];

	json_obj_begin(j);
	json_kstr(j, "id", k->id);
	json_kstr(j, "version", k->version);
	json_kstr(j, "time", time_format_iso(k->time, iso) == 0 ? iso : "-");
	for (int i = 0; i < KRR_URI__COUNT; i++)
		json_kstr(j, keys[i], k->uri[i]);
	json_key(j, "accept_initiator_kms");
	json_arr_begin(j);
	for (size_t i = 0; i < k->accept_initiator.n; i++)
		json_str(j, k->accept_initiator.uri[i]);
	json_arr_end(j);
	json_key(j, "accept_receiver_kms");
	json_arr_begin(j);
	for (size_t i = 0; i < k->accept_receiver.n; i++)
		json_str(j, k->accept_receiver.uri[i]);
	json_arr_end(j);
	json_kbool(j, "signed", k->is_signed);
	json_key(j, "embedded");
	if (k->embedded)
		json_krr(j, k->embedded);
	else
		json_null(j);
	json_obj_end(j);
}

static void text_krr(const struct krr *k, int depth)
{
	static const char *const labels[KRR_URI__COUNT] = {
		"originator", "originator KMS", "initiator", "receiver", "initiator KMS used",
		"receiver KMS used",
	};
	char iso[TIME_ISO_LEN];
	int in = 2 * depth;

	printf("%*sKRR %s (version %s), %s, %s\n", in, "", k->id, k->version,
	    time_format_iso(k->time, iso) == 0 ? iso : "-", k->is_signed ? "signed" : "unsigned");
	for (int i = 0; i < KRR_URI__COUNT; i++)
		printf("%*s  %-25s %s\n", in, "", labels[i], k->uri[i]);
	printf("%*s  %-25s", in, "", "acceptable initiator KMS");
	for (size_t i = 0; i < k->accept_initiator.n; i++)
		printf(" %s", k->accept_initiator.uri[i]);
	printf("%s\n%*s  %-25s", k->accept_initiator.n ? "" : " (none)", in, "", "acceptable receiver KMS");
	for (size_t i = 0; i < k->accept_receiver.n; i++)
		printf(" %s", k->accept_receiver.uri[i]);
	printf("%s\n", k->accept_receiver.n ? "" : " (none)");
	if (k->embedded) {
		printf("%*s  replaces:\n", in, "");
		text_krr(k->embedded, depth + 2);
	}
}

static int cmd_decode(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool json = false;
	int c, rc;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		if (c == 'j') {
			json = true;
		} else if (c == 'h') {
			puts("usage: mcx-sdtool krr decode [--json] [FILE]");
			return SDTOOL_OK;
		} else {
			return sdtool_bad_option("krr decode", argv);
		}
	}
	if (argc - optind > 1) {
		sdtool_err("krr decode takes one FILE");
		return SDTOOL_USAGE;
	}
	const char *path = optind < argc ? argv[optind] : NULL;
	uint8_t *buf;
	const char *xml;
	size_t len;
	struct krr *k;
	struct krr_error err;

	if ((rc = read_krr(path, &buf, &xml, &len)) != SDTOOL_OK)
		return rc;
	if (krr_global_init() < 0 || krr_decode(xml, len, &k, &err) < 0) {
		free(buf);
		return report(path, &err);
	}
	if (json) {
		struct json j;
		json_init(&j);
		json_krr(&j, k);
		puts(j.failed ? "{}" : j.buf);
		json_free(&j);
	} else {
		text_krr(k, 0);
	}
	krr_free(k);
	free(buf);
	return SDTOOL_OK;
}

/* ---- verify ---- */

static int cmd_verify(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "trust", required_argument, NULL, 't' },
		{ "crl", required_argument, NULL, 'C' },
		{ "time", required_argument, NULL, 'T' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *trust = NULL, *crl = NULL;
	int64_t now = (int64_t)time(NULL);
	bool json = false;
	int c, rc;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			trust = optarg;
			break;
		case 'C':
			crl = optarg;
			break;
		case 'T':
			if (time_parse_iso(optarg, &now) < 0) {
				sdtool_err("--time: '%s' is not YYYY-MM-DDTHH:MM:SSZ", optarg);
				return SDTOOL_USAGE;
			}
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			puts("usage: mcx-sdtool krr verify --trust CA.pem [--crl CRL.pem|DIR] [--time TIME] [--json] [FILE]");
			return SDTOOL_OK;
		default:
			return sdtool_bad_option("krr verify", argv);
		}
	}
	if (!trust) {
		sdtool_err("krr verify needs --trust CA.pem");
		return SDTOOL_USAGE;
	}
	if (argc - optind > 1) {
		sdtool_err("krr verify takes one FILE");
		return SDTOOL_USAGE;
	}
	const char *path = optind < argc ? argv[optind] : NULL;
	uint8_t *buf = NULL, *anchors = NULL;
	const char *xml;
	size_t len, alen;
	struct krr_verifier *v = NULL;
	struct krr_verdict verdict;
	struct krr_error err;

	if ((rc = sdtool_read(trust, &anchors, &alen)) != SDTOOL_OK)
		return rc;
	if ((rc = read_krr(path, &buf, &xml, &len)) != SDTOOL_OK) {
		free(anchors);
		return rc;
	}
	rc = SDTOOL_BAD_INPUT;
	if (krr_global_init() < 0 || krr_verifier_new((char *)anchors, alen, &v, &err) < 0) {
		report(trust, &err);
		goto out;
	}
	if (crl) {
		char *crls = NULL, why[320];
		size_t crl_len = 0;
		if (pem_read_path(crl, CONF_CRL_MAX, &crls, &crl_len, why, sizeof(why)) < 0) {
			sdtool_err("--crl: %s", why);
			goto out;
		}
		int bad = krr_verifier_add_crls(v, crls, crl_len, &err);
		free(crls);
		if (bad < 0) {
			report(crl, &err);
			goto out;
		}
	}
	if (krr_verify(v, xml, len, now, &verdict) < 0) {
		sdtool_err("%s: verification could not run (out of memory)", name_of(path));
		goto out;
	}
	if (json) {
		struct json j;
		json_init(&j);
		json_obj_begin(&j);
		json_kbool(&j, "valid", verdict.valid);
		json_key(&j, "signer");
		verdict.signer ? json_str(&j, verdict.signer) : json_null(&j);
		json_key(&j, "signer_uris");
		json_arr_begin(&j);
		for (size_t i = 0; i < verdict.n_signer_uris; i++)
			json_str(&j, verdict.signer_uris[i]);
		json_arr_end(&j);
		json_key(&j, "embedded_valid");
		verdict.embedded_valid < 0 ? json_null(&j) : json_bool(&j, verdict.embedded_valid);
		if (!verdict.valid) {
			json_kstr(&j, "error", verdict.why.detail);
			json_kstr(&j, "error_name", krr_err_name(verdict.why.code));
		}
		if (verdict.embedded_valid == 0) {
			json_kstr(&j, "embedded_error", verdict.embedded_why.detail);
			json_kstr(&j, "embedded_error_name", krr_err_name(verdict.embedded_why.code));
		}
		json_obj_end(&j);
		puts(j.failed ? "{}" : j.buf);
		json_free(&j);
	} else if (verdict.valid) {
		printf("valid: signed by %s", verdict.signer ? verdict.signer : "(unknown)");
		for (size_t i = 0; i < verdict.n_signer_uris; i++)
			printf("%s%s", i ? ", " : " (", verdict.signer_uris[i]);
		printf("%s\n", verdict.n_signer_uris ? ")" : "");
		if (verdict.embedded_valid >= 0)
			printf("embedded KRR: %s%s\n", verdict.embedded_valid ? "valid" : "INVALID: ",
			    verdict.embedded_valid ? "" : verdict.embedded_why.detail);
	}
	if (!verdict.valid && !json)
		report(path, &verdict.why);
	rc = verdict.valid ? SDTOOL_OK : SDTOOL_BAD_INPUT;
	krr_verdict_clear(&verdict);
out:
	krr_verifier_free(v);
	free(buf);
	free(anchors);
	return rc;
}

int sdtool_krr(int argc, char **argv)
{
	if (argc < 2) {
		sdtool_err("krr needs a subcommand: build, decode or verify");
		return SDTOOL_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		puts("usage: mcx-sdtool krr build|decode|verify [OPTIONS] (see mcx-sdtool krr SUBCOMMAND --help)");
		return SDTOOL_OK;
	}
	if (strcmp(argv[1], "build") == 0)
		return cmd_build(argc - 1, argv + 1);
	if (strcmp(argv[1], "decode") == 0)
		return cmd_decode(argc - 1, argv + 1);
	if (strcmp(argv[1], "verify") == 0)
		return cmd_verify(argc - 1, argv + 1);
	sdtool_err("unknown krr subcommand '%s'", argv[1]);
	return SDTOOL_USAGE;
}
