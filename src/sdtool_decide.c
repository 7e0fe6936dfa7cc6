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
#include "invite.h"
#include "json.h"
#include "kms.h"
#include "krr.h"
#include "lookup.h"
#include "mikey.h"
#include "policy.h"
#include "sdtool.h"
#include "sipmsg.h"
#include "timeutil.h"
#include "world.h"


/* Load the configuration as the daemon would; NULL after printing why. */
static struct world *load(const char *path, bool keys)
{
	struct conf_diags d = { 0 };
	struct world *w = NULL;

	if (krr_global_init() < 0) {
		sdtool_err("cannot initialise libxml2/xmlsec");
		return NULL;
	}
	int rc = world_load(path, keys, &w, &d);
	for (size_t i = 0; i < d.n; i++)
		fprintf(stderr, "%s\n", d.msg[i]);
	conf_diags_clear(&d);
	if (rc == -ENOMEM)
		sdtool_err("out of memory");
	return w;
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
	struct lookup_result res;
	struct world *w = load(path, false);
	if (!w)
		return SDTOOL_BAD_INPUT;
	const char *user = argv[optind];
	enum lookup_status st = lookup_find(w->lookup, user, &res);
	if (st == LOOKUP_FAILED) {
		sdtool_err("lookup of %s failed", user);
		world_unref(w);
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
			json_kstr(&j, "state", kms_state_name(kms_state(w->kms, res.domain[i].kms, now)));
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
			    kms_state_name(kms_state(w->kms, res.domain[i].kms, now)));
			for (size_t e = 0; e < res.domain[i].n_external; e++)
				printf(" %s", res.domain[i].external[e]);
			printf("%s\n", res.domain[i].n_external ? "" : " (no external domain)");
		}
	}
	world_unref(w);
	return st == LOOKUP_FOUND ? SDTOOL_OK : SDTOOL_BAD_INPUT;
}

/* ---- decide ---- */

/* A header's URI (display name and parameters dropped) into f. */
static void header_uri(const struct sipmsg *sip, const char *name, char compact, char which,
    struct invite_facts *f)
{
	char uri[INVITE_URI_MAX];
	struct strv v;

	if (sipmsg_header(sip->headers, name, compact, &v) && sipmsg_uri(v, uri, sizeof(uri)))
		invite_facts_set(f, which, uri, strlen(uri));
}

/* The I_MESSAGE of a SIP message read by sipmsg. */
static void mikey_facts(const struct sipmsg *sip, struct invite_facts *f)
{
	struct strv ct, cte = { NULL, 0 };

	if (!sipmsg_header(sip->headers, "Content-Type", 'c', &ct)) {
		invite_facts_mikey(f, NULL, 0, NULL, 0, NULL, 0);
		return;
	}
	sipmsg_header(sip->headers, "Content-Transfer-Encoding", 0, &cte);
	invite_facts_mikey(f, ct.ptr, ct.len, cte.ptr, cte.len, sip->body, sip->body_len);
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
	struct world *w = NULL;
	struct invite_facts *f = invite_facts_new();
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
	rc = SDTOOL_BAD_INPUT;
	if ((w = load(path, true)) == NULL)
		goto out;
	header_uri(&sip, "From", 'f', 'f', f);
	header_uri(&sip, "To", 't', 't', f);
	struct strv cid;
	if (sipmsg_header(sip.headers, "Call-ID", 'i', &cid))
		invite_facts_set(f, 'i', cid.ptr, cid.len);
	struct policy_ctx ctx = world_policy_ctx(w);

	if (sip.is_request) {
		if (sip.start_line.len < 7 || strncmp(sip.start_line.ptr, "INVITE ", 7) != 0) {
			sdtool_err("decide: only INVITE requests and 488 responses carry a decision");
			goto out;
		}
		char ruri[INVITE_URI_MAX];
		if (sipmsg_request_uri(&sip, ruri, sizeof(ruri)))
			invite_facts_set(f, 'r', ruri, strlen(ruri));
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
			snprintf(f->kmsi, INVITE_URI_MAX, "%s", k->uri[KRR_INITIATOR_KMS]);
			snprintf(f->kmsr, INVITE_URI_MAX, "%s", k->uri[KRR_RECEIVER_KMS]);
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
	world_unref(w);
	free(buf);
	invite_facts_free(f);
	return rc;
}
