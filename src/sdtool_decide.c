/* mcx-sdtool lookup and decide: the configuration's answer for a user, and the whole decision for a SIP message, offline. */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>

#include <sofia-sip/su.h>
#include <sofia-sip/su_wait.h>

#include "conf.h"
#include "json.h"
#include "kms.h"
#include "krr.h"
#include "lookup.h"
#include "lookup_ldap.h"
#include "mikey.h"
#include "policy.h"
#include "request.h"
#include "sdtool.h"
#include "sipread.h"
#include "timeutil.h"
#include "world.h"


static su_root_t *tool_root;

/* The event loop a directory is asked on (made before the first lookup). */
static bool tool_loop(void)
{
	if (!tool_root) {
		if (su_init() < 0 || (tool_root = su_root_create(NULL)) == NULL) {
			sdtool_err("cannot create an event loop");
			return false;
		}
		lookup_ldap_attach(tool_root);
		/* A directory that closes its end must not end the tool in the middle of a write. */
		signal(SIGPIPE, SIG_IGN);
	}
	return true;
}

/* Load the configuration as the daemon would, with the files need names (world_load); NULL after printing why. */
static struct world *load(const char *path, unsigned need)
{
	struct conf_diags d = { 0 };
	struct world *w = NULL;

	if (krr_global_init() < 0) {
		sdtool_err("cannot initialise libxml2/xmlsec");
		return NULL;
	}
	if (!tool_loop())
		return NULL;
	int rc = world_load(path, need, &w, &d);
	for (size_t i = 0; i < d.n; i++)
		fprintf(stderr, "%s\n", d.msg[i]);
	conf_diags_clear(&d);
	if (rc == -ENOMEM)
		sdtool_err("out of memory");
	return w;
}

/* ---- waiting for a directory ---- */



/* What to do once the answer is there: inside the backend's callback, where a find for the user gives it. */
struct settle {
	void (*fn)(void *arg);
	void *arg;
	bool done;
};

static void settled(void *arg)
{
	struct settle *st = arg;

	st->done = true;
	st->fn(st->arg);
}

/*
 * After LOOKUP_PENDING for user: run the event loop until the backend has
 * the answer, then fn(arg) (the backend's timeouts bound the wait; the
 * deadline here is a safety net).  false when fn was not called.
 */
static bool wait_for_lookup(struct world *w, const char *user, void (*fn)(void *), void *arg)
{
	struct settle st = { fn, arg, false };
	int64_t deadline = (int64_t)time(NULL) + 2 + 2 * (w->conf->lookup.ldap.timeout_ms / 1000 + 1) *
	    (int64_t)(w->conf->lookup.ldap.uris.n + 1);

	if (!tool_root)
		return false;
	struct lookup_wait *lw = lookup_wait(w->lookup, user, settled, &st);
	while (lw && !st.done && (int64_t)time(NULL) < deadline)
		su_root_step(tool_root, 100);
	if (lw && !st.done)
		lookup_wait_cancel(w->lookup, lw);
	return st.done;
}

/* The answer for user, copied (its views are the copy's), waiting for a directory when needed. */
struct found {
	struct world *w;
	const char *user;
	enum lookup_status st;
	struct lookup_result res;
	char *arena;
};

static void find_now(void *arg)
{
	struct found *f = arg;
	struct lookup_result res;

	f->st = lookup_find(f->w->lookup, f->user, &res);
	if (f->st == LOOKUP_FOUND && lookup_result_copy(&res, &f->res, &f->arena) < 0)
		f->st = LOOKUP_FAILED;
}

static void settled_find(struct found *f)
{
	find_now(f);
	if (f->st == LOOKUP_PENDING && !wait_for_lookup(f->w, f->user, find_now, f))
		f->st = LOOKUP_FAILED;
	if (f->st == LOOKUP_PENDING)
		f->st = LOOKUP_FAILED;
}

/* A decision, waiting for a directory when the lookup is under way (decided again inside its callback). */
struct redo {
	const struct policy_ctx *ctx;
	const struct policy_request *req;
	const char *krr;	/* NULL: the request; else the KRR that came back */
	size_t klen;
	int64_t now;
	struct policy_outcome *o;
	int rc;
};

static void decide_now(void *arg)
{
	struct redo *r = arg;

	r->rc = r->krr ? policy_decide_krr(r->ctx, r->req, r->krr, r->klen, r->now, r->o) :
	    policy_decide_request(r->ctx, r->req, r->now, r->o);
}

static int settled_decide(struct world *w, struct redo *r)
{
	decide_now(r);
	/* Each round waits for one target: a request with several I_MESSAGEs may need a few. */
	for (int round = 0; r->rc == 0 && r->o->decision == POLICY_WAIT && round < 16; round++) {
		char *target = r->o->target ? strdup(r->o->target) : NULL;
		policy_outcome_clear(r->o);
		memset(r->o, 0, sizeof(*r->o));
		bool ok = target && wait_for_lookup(w, target, decide_now, r);
		free(target);
		if (!ok)
			return -EIO;
	}
	return r->rc == 0 && r->o->decision == POLICY_WAIT ? -EIO : r->rc;
}

/* Say why settled_decide made no decision (rc < 0): the exit status; SDTOOL_OK when it did. */
static int no_decision(int rc)
{
	if (rc == -EIO) {
		sdtool_err("decide: no decision: the directory did not answer (see above)");
		return SDTOOL_LOOKUP_FAILED;
	}
	if (rc < 0) {
		sdtool_err("decide: no decision (out of memory or signing failed): 500");
		return SDTOOL_BAD_INPUT;
	}
	return SDTOOL_OK;
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
	/* A lookup neither signs nor verifies: no KRR or TLS file is read. */
	struct world *w = load(path, 0);
	if (!w)
		return SDTOOL_BAD_INPUT;
	const char *user = argv[optind];
	struct found f = { .w = w, .user = user };
	settled_find(&f);
	enum lookup_status st = f.st;
	const struct lookup_result res = f.res;
	if (st == LOOKUP_FAILED) {
		if (strcmp(w->conf->lookup.backend, "ldap") == 0)
			sdtool_err("lookup of %s failed: the directory did not answer within lookup.ldap.timeout_ms "
			    "(%d ms), or could not be reached (see above)", user, w->conf->lookup.ldap.timeout_ms);
		else
			sdtool_err("lookup of %s failed", user);
		world_unref(w);
		return SDTOOL_LOOKUP_FAILED;
	}
	if (json) {
		struct json j;
		json_init(&j);
		json_obj_begin(&j);
		json_kstr(&j, "user", user);
		json_kbool(&j, "found", st == LOOKUP_FOUND);
		json_key(&j, "matched");
		st == LOOKUP_FOUND ? json_str(&j, res.matched) : json_null(&j);
		json_kstr(&j, "backend", w->conf->lookup.backend);
		json_key(&j, "source");
		st == LOOKUP_FOUND ? json_str(&j, res.source) : json_null(&j);
		json_key(&j, "origin");
		st == LOOKUP_FOUND && res.origin ? json_str(&j, res.origin) : json_null(&j);
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
		printf("%s: not found%s\n", user,
		    strcmp(w->conf->lookup.backend, "ldap") == 0 ? " (the directory has no entry for it)" : "");
	} else {
		if (res.origin && strcmp(res.source, "cache") == 0)
			printf("%s: matched %s (from the directory %s, cached %u s ago)\n", user, res.matched, res.origin,
			    res.age_s);
		else if (res.origin)
			printf("%s: matched %s (from the directory %s)\n", user, res.matched, res.origin);
		else
			printf("%s: matched %s (line %d)\n", user, res.matched, res.line);
		for (size_t i = 0; i < res.n; i++) {
			printf("  domain %s (%s), permits:", res.domain[i].kms,
			    kms_state_name(kms_state(w->kms, res.domain[i].kms, now)));
			for (size_t e = 0; e < res.domain[i].n_external; e++)
				printf(" %s", res.domain[i].external[e]);
			printf("%s\n", res.domain[i].n_external ? "" : " (no external domain)");
		}
	}
	free(f.arena);
	world_unref(w);
	return st == LOOKUP_FOUND ? SDTOOL_OK : SDTOOL_BAD_INPUT;
}

/* ---- decide ---- */

/*
 * A 488 alone: the request it answers is not at hand, so its target and
 * KMSs are taken as the KRR states them (To, and its initiator and receiver
 * KMS).  Returns false when out of memory.
 */
static bool facts_from_krr(struct request_facts *f, const char *body, size_t len)
{
	struct krr *k = NULL;
	struct krr_error e;

	f->req.request_uri = f->req.to;
	f->req.mikey = POLICY_MIKEY;
	f->req.n_im = 1;
	f->im[0] = (struct policy_imessage){ NULL, NULL, NULL, NULL, NULL };
	if (!body || krr_decode(body, len, &k, &e) < 0)
		return true;
	f->im[0].idrkmsi = strdup(k->uri[KRR_INITIATOR_KMS]);
	f->im[0].idrkmsr = strdup(k->uri[KRR_RECEIVER_KMS]);
	krr_free(k);
	return f->im[0].idrkmsi && f->im[0].idrkmsr;
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

/* A request that needs no decision: what the daemon does with it, in the same shape. */
static void print_no_decision(const struct policy_request *req, bool json)
{
	if (!json) {
		printf("decision: forward (no I_MESSAGE in this %s: nothing to decide), SIP status 0\n",
		    req->method ? req->method : "request");
		return;
	}
	puts("{\"decision\":\"forward\",\"rule\":null,\"status\":0,\"target\":null,\"warning\":null,"
	    "\"krr\":null,\"signature\":null,\"audit\":null}");
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
	size_t len;
	char why[160];
	struct sipread_msg *m = NULL;
	struct world *w = NULL;
	struct request_facts *f = NULL;
	struct policy_outcome o;

	if ((rc = sdtool_read(file, &buf, &len)) != SDTOOL_OK)
		return rc;
	/* The daemon's own reader: what it would refuse before deciding is refused here too. */
	if ((rc = sipread_parse((const char *)buf, len, true, &m, why, sizeof(why))) < 0) {
		if (rc == -ENOMEM)
			sdtool_err("out of memory");
		else
			sdtool_err("%s: no decision, the daemon answers before deciding: %s", file ? file : "stdin", why);
		free(buf);
		return SDTOOL_BAD_INPUT;
	}
	rc = SDTOOL_BAD_INPUT;
	/* A decision may sign our own KRR and verify one from downstream; it never speaks TLS. */
	if ((w = load(path, WORLD_SIGN | WORLD_VERIFY)) == NULL)
		goto out;
	if ((f = sipread_facts(sipread_sip(m))) == NULL) {
		sdtool_err("out of memory");
		goto out;
	}
	struct policy_ctx ctx = world_policy_ctx(w);

	if (sipread_is_request(m)) {
		if (!policy_wants_decision(&f->req)) {
			print_no_decision(&f->req, json);
			rc = SDTOOL_OK;
			goto out;
		}
		struct redo r = { .ctx = &ctx, .req = &f->req, .now = now, .o = &o };
		if ((rc = no_decision(settled_decide(w, &r))) != SDTOOL_OK)
			goto out;
	} else {
		if (sipread_status(m) != 488) {
			sdtool_err("decide: only requests and 488 responses carry a decision");
			goto out;
		}
		size_t klen = 0;
		const char *krr = sipread_krr_body(sipread_sip(m), &klen);
		request_facts_body(f, NULL);	/* the 488's own body holds no I_MESSAGE to go by */
		if (!facts_from_krr(f, krr, klen)) {
			sdtool_err("out of memory");
			goto out;
		}
		/* A 488 without a KRR body is an ordinary one. */
		struct redo r = { .ctx = &ctx, .req = &f->req, .krr = krr, .klen = klen, .now = now, .o = &o };
		if ((rc = no_decision(settled_decide(w, &r))) != SDTOOL_OK)
			goto out;
	}
	print_outcome(&o, json);
	policy_outcome_clear(&o);
	rc = SDTOOL_OK;
out:
	request_facts_free(f);
	world_unref(w);
	sipread_free(m);
	free(buf);
	return rc;
}
