/* mcx-sdtool lookup and decide: the configuration's answer for a user, and the whole decision for a SIP message, offline. */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>

#include "conf.h"
#include "extract.h"
#include "json.h"
#include "kms.h"
#include "krr.h"
#include "lookup.h"
#include "mikey.h"
#include "policy.h"
#include "sdtool.h"
#include "sipmsg.h"
#include "timeutil.h"

#define URI_MAX 1024

/* Everything a decision needs from the configuration, loaded as the daemon would. */
struct world {
	struct conf *conf;
	struct kms_registry *kms;
	struct lookup *lookup;
	struct krr_signer *signer;
	struct krr_verifier *verifier;
};

static void world_free(struct world *w)
{
	krr_verifier_free(w->verifier);
	krr_signer_free(w->signer);
	lookup_close(w->lookup);
	kms_registry_free(w->kms);
	conf_free(w->conf);
}

static int print_diags(struct conf_diags *d)
{
	for (size_t i = 0; i < d->n; i++)
		fprintf(stderr, "%s\n", d->msg[i]);
	conf_diags_clear(d);
	return SDTOOL_BAD_INPUT;
}

static int world_load(const char *path, bool keys, struct world *w)
{
	struct conf_diags d = { 0 };
	char err[256];

	memset(w, 0, sizeof(*w));
	if (krr_global_init() < 0) {
		sdtool_err("cannot initialise libxml2/xmlsec");
		return SDTOOL_BAD_INPUT;
	}
	if (conf_load(path, &w->conf, &d) < 0 || kms_registry_build(w->conf, &w->kms, &d) < 0)
		return print_diags(&d);
	conf_diags_clear(&d);
	if (lookup_open(w->conf, &w->lookup, err, sizeof(err)) < 0) {
		sdtool_err("%s: lookup: %s", path, err);
		return SDTOOL_BAD_INPUT;
	}
	if (!keys)
		return SDTOOL_OK;
	/* conf_load checked these files; read them for use. */
	uint8_t *c = NULL, *k = NULL, *a = NULL;
	size_t cl, kl, al;
	struct krr_error e;
	int rc = SDTOOL_OK;
	if (w->conf->krr.certificate &&
	    (sdtool_read(w->conf->krr.certificate, &c, &cl) != SDTOOL_OK ||
	     sdtool_read(w->conf->krr.private_key, &k, &kl) != SDTOOL_OK ||
	     krr_signer_new((char *)c, cl, (char *)k, kl, &w->signer, &e) < 0))
		rc = SDTOOL_BAD_INPUT;
	if (rc == SDTOOL_OK && w->conf->krr.trust_anchors &&
	    (sdtool_read(w->conf->krr.trust_anchors, &a, &al) != SDTOOL_OK ||
	     krr_verifier_new((char *)a, al, &w->verifier, &e) < 0))
		rc = SDTOOL_BAD_INPUT;
	if (rc != SDTOOL_OK)
		sdtool_err("%s: cannot load the KRR keys", path);
	free(a);
	if (k)
		OPENSSL_cleanse(k, kl);
	free(k);
	free(c);
	return rc;
}

/* ---- lookup ---- */

/* The options lookup and decide share: -c FILE, --time TIME, --json. */
struct common_opts {
	const char *config;
	int64_t now;
	bool json;
};

/* Parse them; returns -1 to go on, else the exit status (help or bad usage). */
static int parse_common(int argc, char **argv, const char *cmd, const char *usage,
    struct common_opts *o)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "time", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*o = (struct common_opts){ .now = (int64_t)time(NULL) };
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "c:jh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': o->config = optarg; break;
		case 'j': o->json = true; break;
		case 'T':
			if (time_parse_iso(optarg, &o->now) < 0) {
				sdtool_err("--time: '%s' is not a time like 2026-11-29T10:00:00Z", optarg);
				return SDTOOL_USAGE;
			}
			break;
		case 'h':
			puts(usage);
			return SDTOOL_OK;
		default:
			return sdtool_bad_option(cmd, argv);
		}
	}
	return -1;
}

int sdtool_lookup(int argc, char **argv)
{
	static const char usage[] = "usage: mcx-sdtool lookup -c FILE [--time TIME] [--json] USER";
	struct common_opts co;
	int rc = parse_common(argc, argv, "lookup", usage, &co);

	if (rc >= 0)
		return rc;
	const char *path = co.config;
	int64_t now = co.now;
	bool json = co.json;
	if (!path || argc - optind != 1) {
		sdtool_err("%s", usage);
		return SDTOOL_USAGE;
	}
	struct world w;
	struct lookup_result res;
	rc = world_load(path, false, &w);
	if (rc != SDTOOL_OK) {
		world_free(&w);
		return rc;
	}
	const char *user = argv[optind];
	enum lookup_status st = lookup_find(w.lookup, user, &res);
	if (st == LOOKUP_FAILED) {
		sdtool_err("lookup of %s failed", user);
		world_free(&w);
		return SDTOOL_BAD_INPUT;
	}
	if (json) {
		struct json j;
		json_init(&j);
		json_obj_begin(&j);
		json_kstr(&j, "user", user);
		json_kbool(&j, "found", st == LOOKUP_FOUND);
		json_key(&j, "matched");
		st == LOOKUP_FOUND ? json_str(&j, res.matched) : json_null(&j);
		json_key(&j, "domains");
		json_arr_begin(&j);
		for (size_t i = 0; st == LOOKUP_FOUND && i < res.n; i++) {
			json_obj_begin(&j);
			json_kstr(&j, "kms", res.domain[i].kms);
			json_kstr(&j, "state", kms_state_name(kms_state(w.kms, res.domain[i].kms, now)));
			json_key(&j, "external");
			json_arr_begin(&j);
			for (size_t e = 0; e < res.domain[i].n_external; e++)
				json_str(&j, res.domain[i].external[e]);
			json_arr_end(&j);
			json_obj_end(&j);
		}
		json_arr_end(&j);
		json_obj_end(&j);
		puts(j.failed ? "{}" : j.buf);
		json_free(&j);
	} else if (st == LOOKUP_NOT_FOUND) {
		printf("%s: not found\n", user);
	} else {
		printf("%s: matched %s (line %d)\n", user, res.matched, res.line);
		for (size_t i = 0; i < res.n; i++) {
			printf("  domain %s (%s), permits:", res.domain[i].kms,
			    kms_state_name(kms_state(w.kms, res.domain[i].kms, now)));
			for (size_t e = 0; e < res.domain[i].n_external; e++)
				printf(" %s", res.domain[i].external[e]);
			printf("%s\n", res.domain[i].n_external ? "" : " (no external domain)");
		}
	}
	world_free(&w);
	return st == LOOKUP_FOUND ? SDTOOL_OK : SDTOOL_BAD_INPUT;
}

/* ---- decide ---- */

/* The fields of an INVITE the engine needs; the strings live in this struct. */
struct facts {
	struct policy_invite inv;
	char ruri[URI_MAX], from[URI_MAX], to[URI_MAX], call_id[256];
	char idri[URI_MAX], idrr[URI_MAX], kmsi[URI_MAX], kmsr[URI_MAX];
	char malformed[160];
	struct mikey_msg msg;	/* views into arena */
	uint8_t *arena;
};

static void copy_view(char *out, size_t cap, const uint8_t *p, size_t n)
{
	snprintf(out, cap, "%.*s", (int)n, (const char *)p);
}

static bool printable_uri(struct mikey_view v)
{
	if (v.len == 0 || v.len >= URI_MAX)
		return false;
	for (size_t i = 0; i < v.len; i++)
		if (v.ptr[i] <= 0x20 || v.ptr[i] >= 0x7f)
			return false;
	return true;
}

/* From the I_MESSAGE: its four identities when they are URIs (the first I_MESSAGE decides). */
static void mikey_facts(const struct sipmsg *sip, struct facts *f)
{
	struct strv ct, cte = { NULL, 0 };
	struct extract_result res;
	struct extract_error xe;
	struct mikey_msg *mp = &f->msg, m;
	struct mikey_error me;

	f->inv.mikey = POLICY_NO_MIKEY;
	if (!sipmsg_header(sip->headers, "Content-Type", 'c', &ct))
		return;
	sipmsg_header(sip->headers, "Content-Transfer-Encoding", 0, &cte);
	uint8_t *arena = f->arena = malloc(EXTRACT_ARENA_SIZE(sip->body_len));
	if (!arena)
		return;
	if (extract_mikey(ct.ptr, ct.len, cte.ptr, cte.len, sip->body, sip->body_len, arena,
	    EXTRACT_ARENA_SIZE(sip->body_len), &res, &xe) < 0) {
		f->inv.mikey = POLICY_MALFORMED_MIKEY;
		snprintf(f->malformed, sizeof(f->malformed), "%s at body offset %zu",
		    extract_strerror(xe.code), xe.offset);
	} else if (res.n > 0 && mikey_decode(res.item[0].data, res.item[0].len, mp, &me) < 0) {
		f->inv.mikey = POLICY_MALFORMED_MIKEY;
		snprintf(f->malformed, sizeof(f->malformed), "%s at offset %zu", mikey_err_name(me.code),
		    me.offset);
	} else if (res.n > 0) {
		m = *mp;
		f->inv.mikey = POLICY_MIKEY;
		f->inv.msg = mp;
		static const struct { enum mikey_role role; size_t off; } want[] = {
			{ MIKEY_ROLE_IDRI, offsetof(struct facts, idri) },
			{ MIKEY_ROLE_IDRR, offsetof(struct facts, idrr) },
			{ MIKEY_ROLE_IDRKMSI, offsetof(struct facts, kmsi) },
			{ MIKEY_ROLE_IDRKMSR, offsetof(struct facts, kmsr) },
		};
		const char **dst[] = { &f->inv.idri, &f->inv.idrr, &f->inv.idrkmsi, &f->inv.idrkmsr };
		for (size_t i = 0; i < 4; i++) {
			const struct mikey_payload *p = mikey_idr(&m, want[i].role);
			if (!p || !printable_uri(p->u.idr.data))
				continue;
			char *out = (char *)f + want[i].off;
			copy_view(out, URI_MAX, p->u.idr.data.ptr, p->u.idr.data.len);
			*dst[i] = out;
		}
	}
	f->inv.malformed = f->malformed;
}

static void header_uri(const struct sipmsg *sip, const char *name, char compact, char *out,
    const char **field)
{
	struct strv v;
	if (sipmsg_header(sip->headers, name, compact, &v) && sipmsg_uri(v, out, URI_MAX))
		*field = out;
}

static void print_outcome(const struct policy_outcome *o, bool json)
{
	if (!json) {
		printf("decision: %s (rule %s), SIP status %d\n", policy_decision_name(o->decision), o->rule,
		    o->status);
		if (o->target)
			printf("target: %s\n", o->target);
		if (o->warning[0])
			printf("warning: %s\n", o->warning);
		if (o->signature)
			printf("downstream KRR signature: %s%s%s\n", o->signature, o->signer ? ", signed by " : "",
			    o->signer ? o->signer : "");
		if (o->krr_xml)
			fwrite(o->krr_xml, 1, o->krr_len, stdout);
		return;
	}
	struct json j;
	json_init(&j);
	json_obj_begin(&j);
	json_kstr(&j, "decision", policy_decision_name(o->decision));
	json_kstr(&j, "rule", o->rule);
	json_kint(&j, "status", o->status);
	json_key(&j, "target");
	o->target ? json_str(&j, o->target) : json_null(&j);
	json_key(&j, "warning");
	o->warning[0] ? json_str(&j, o->warning) : json_null(&j);
	if (o->krr) {
		json_key(&j, "accept_initiator_kms");
		json_arr_begin(&j);
		for (size_t i = 0; i < o->krr->accept_initiator.n; i++)
			json_str(&j, o->krr->accept_initiator.uri[i]);
		json_arr_end(&j);
		json_key(&j, "accept_receiver_kms");
		json_arr_begin(&j);
		for (size_t i = 0; i < o->krr->accept_receiver.n; i++)
			json_str(&j, o->krr->accept_receiver.uri[i]);
		json_arr_end(&j);
		json_kstrn(&j, "krr", o->krr_xml, o->krr_len);
	} else {
		json_knull(&j, "krr");
	}
	json_key(&j, "signature");
	o->signature ? json_str(&j, o->signature) : json_null(&j);
	json_key(&j, "audit");
	json_raw(&j, o->audit);
	json_obj_end(&j);
	puts(j.failed ? "{}" : j.buf);
	json_free(&j);
}

int sdtool_decide(int argc, char **argv)
{
	static const char usage[] = "usage: mcx-sdtool decide -c FILE [--time TIME] [--json] [SIPMSG]";
	struct common_opts co;
	int rc = parse_common(argc, argv, "decide", usage, &co);

	if (rc >= 0)
		return rc;
	const char *path = co.config;
	int64_t now = co.now;
	bool json = co.json;
	if (!path || argc - optind > 1) {
		sdtool_err("%s", usage);
		return SDTOOL_USAGE;
	}
	const char *file = optind < argc ? argv[optind] : NULL;
	uint8_t *buf;
	size_t len, at;
	struct sipmsg sip;
	enum sipmsg_err serr;
	struct world w;
	struct facts *f = calloc(1, sizeof(*f));
	struct policy_outcome o;

	if (!f)
		return SDTOOL_BAD_INPUT;
	if ((rc = sdtool_read(file, &buf, &len)) != SDTOOL_OK) {
		free(f);
		return rc;
	}
	if (sipmsg_parse((const char *)buf, len, &sip, &serr, &at) < 0) {
		sdtool_err("%s: %s at offset %zu", file ? file : "stdin", sipmsg_strerror(serr), at);
		free(buf);
		free(f);
		return SDTOOL_BAD_INPUT;
	}
	if ((rc = world_load(path, true, &w)) != SDTOOL_OK)
		goto out;
	rc = SDTOOL_BAD_INPUT;
	header_uri(&sip, "From", 'f', f->from, &f->inv.from);
	header_uri(&sip, "To", 't', f->to, &f->inv.to);
	struct strv cid;
	if (sipmsg_header(sip.headers, "Call-ID", 'i', &cid)) {
		snprintf(f->call_id, sizeof(f->call_id), "%.*s", (int)cid.len, cid.ptr);
		f->inv.call_id = f->call_id;
	}
	struct policy_ctx ctx = { .conf = w.conf, .kms = w.kms, .lookup = w.lookup,
		.signer = w.signer, .verifier = w.verifier };

	if (sip.is_request) {
		if (sip.start_line.len < 7 || strncmp(sip.start_line.ptr, "INVITE ", 7) != 0) {
			sdtool_err("decide: only INVITE requests and 488 responses carry a decision");
			goto out;
		}
		if (sipmsg_request_uri(&sip, f->ruri, sizeof(f->ruri)))
			f->inv.request_uri = f->ruri;
		mikey_facts(&sip, f);
		if (policy_decide_invite(&ctx, &f->inv, now, &o) < 0) {
			sdtool_err("decide: no decision (out of memory or signing failed): 500");
			goto out;
		}
	} else {
		if (sipmsg_status(&sip) != 488) {
			sdtool_err("decide: only INVITE requests and 488 responses carry a decision");
			goto out;
		}
		/* The INVITE is not at hand: its target and KMSs as the KRR states them. */
		struct krr *k = NULL;
		struct krr_error e;
		f->inv.request_uri = f->inv.to;
		f->inv.mikey = POLICY_MIKEY;
		if (krr_decode((const char *)sip.body, sip.body_len, &k, &e) == 0) {
			snprintf(f->kmsi, URI_MAX, "%s", k->uri[KRR_INITIATOR_KMS]);
			snprintf(f->kmsr, URI_MAX, "%s", k->uri[KRR_RECEIVER_KMS]);
			f->inv.idrkmsi = f->kmsi;
			f->inv.idrkmsr = f->kmsr;
			krr_free(k);
		}
		/* A 488 without a KRR body is an ordinary one. */
		struct strv rct;
		bool is_krr = sipmsg_header(sip.headers, "Content-Type", 'c', &rct) &&
		    rct.len >= strlen(KRR_CONTENT_TYPE) &&
		    strncasecmp(rct.ptr, KRR_CONTENT_TYPE, strlen(KRR_CONTENT_TYPE)) == 0;
		if (policy_decide_krr(&ctx, &f->inv, is_krr ? (const char *)sip.body : NULL, sip.body_len,
		    now, &o) < 0) {
			sdtool_err("decide: no decision (out of memory or signing failed): 500");
			goto out;
		}
	}
	print_outcome(&o, json);
	policy_outcome_clear(&o);
	rc = SDTOOL_OK;
out:
	world_free(&w);
	free(buf);
	free(f->arena);
	free(f);
	return rc;
}
