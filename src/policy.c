/* Decision engine: pure functions of the configuration, the registry, the lookup, the message and the clock. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <strings.h>
#include <ctype.h>

#include <openssl/evp.h>

#include "eccsi.h"
#include "json.h"
#include "metrics.h"
#include "policy.h"
#include "timeutil.h"
#include "uid.h"

#define SET_MAX (LOOKUP_MAX_DOMAINS * (LOOKUP_MAX_EXTERNAL + 1))

/* An ordered set of KMS URIs (views into the lookup result or the registry). */
struct kms_set {
	const char *v[SET_MAX];
	size_t n;
};

static bool set_has(const struct kms_set *s, const char *uri)
{
	for (size_t i = 0; uri && i < s->n; i++)
		if (strcmp(s->v[i], uri) == 0)
			return true;
	return false;
}

static void set_add(struct kms_set *s, const char *uri)
{
	if (!set_has(s, uri) && s->n < SET_MAX)
		s->v[s->n++] = uri;
}

static bool denied(const struct conf_strings *deny, const char *uri)
{
	for (size_t i = 0; i < deny->n; i++)
		if (strcmp(deny->v[i], uri) == 0)
			return true;
	return false;
}

/* Acceptable as a receiver's / initiator's KMS here: usable at now and not denied by local policy. */
static bool ok_receiver(const struct policy_ctx *c, const char *uri, int64_t now)
{
	return kms_state(c->kms, uri, now) == KMS_USABLE &&
	    !denied(&c->conf->policy.deny_receiver_kms, uri);
}

static bool ok_initiator(const struct policy_ctx *c, const char *uri, int64_t now)
{
	return kms_state(c->kms, uri, now) == KMS_USABLE &&
	    !denied(&c->conf->policy.deny_initiator_kms, uri);
}

/* DESIGN 3 step 3: AR, and AI(r') for each r' in AR, from the lookup answer. */
struct acceptable {
	struct kms_set ar;
	struct kms_set ai[LOOKUP_MAX_DOMAINS];
};

static void acceptable(const struct policy_ctx *c, const struct lookup_result *res, int64_t now,
    struct acceptable *a)
{
	a->ar.n = 0;
	for (size_t k = 0; k < res->n; k++) {
		const struct lookup_domain *d = &res->domain[k];
		if (!ok_receiver(c, d->kms, now) || set_has(&a->ar, d->kms))
			continue;
		struct kms_set *ai = &a->ai[a->ar.n];
		ai->n = 0;
		if (ok_initiator(c, d->kms, now))
			set_add(ai, d->kms);
		for (size_t e = 0; e < d->n_external; e++)
			if (ok_initiator(c, d->external[e], now))
				set_add(ai, d->external[e]);
		set_add(&a->ar, d->kms);
	}
}

const char *policy_decision_name(enum policy_decision d)
{
	static const char *const names[] = {
		[POLICY_FORWARD] = "forward", [POLICY_KRR] = "krr", [POLICY_REJECT] = "reject",
		[POLICY_PASS] = "pass", [POLICY_REPLACE] = "replace", [POLICY_DISCARD] = "discard",
		[POLICY_WAIT] = "wait",
	};
	return (unsigned)d < sizeof(names) / sizeof(names[0]) ? names[d] : "unknown";
}

void policy_outcome_clear(struct policy_outcome *o)
{
	free(o->target);
	krr_free(o->krr);
	free(o->krr_xml);
	free(o->signer);
	free(o->audit);
	memset(o, 0, sizeof(*o));
}

/*
 * A KRR Id that is unique per call, moment, originator and embedded KRR, and
 * the same for the same inputs: two servers replacing KRRs of one call in
 * the same second must not make the Id of the KRR they embed.
 */
static void krr_id(const struct policy_request *req, int64_t now, const char *salt, const char *originator,
    const char *embed, char out[20])
{
	unsigned char h[32];
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	char t[24];

	snprintf(t, sizeof(t), "%lld", (long long)now);
	memset(h, 0, sizeof(h));
	if (md && EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
		const char *parts[] = { req->call_id, req->from, t, salt, originator, embed };
		for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
			EVP_DigestUpdate(md, parts[i] ? parts[i] : "", strlen(parts[i] ? parts[i] : "") + 1);
		EVP_DigestFinal_ex(md, h, NULL);
	}
	EVP_MD_CTX_free(md);
	snprintf(out, 20, "krr-%02x%02x%02x%02x%02x%02x", h[0], h[1], h[2], h[3], h[4], h[5]);
}

/* Build, encode (and sign) the KRR we send upstream. */
/* A monotonic clock in seconds, for the metrics' time histograms. */
static double seconds_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int make_krr(const struct policy_ctx *c, const struct policy_request *req, int64_t now,
    const char *salt, const char *const uris[KRR_URI__COUNT], const struct kms_set *ai,
    const struct kms_set *ar, const char *embed, const struct krr_doc *embed_doc, struct policy_outcome *out)
{
	struct krr *k = krr_new();
	struct krr_error err;
	char id[20];
	int rc = 0;

	if (!k)
		return -ENOMEM;
	krr_id(req, now, salt, c->conf->server.uri, embed, id);
	k->time = now;
	if (krr_set(&k->id, id) < 0 || krr_set(&k->version, "1.0.0") < 0)
		rc = -ENOMEM;
	for (int i = 0; i < KRR_URI__COUNT && rc == 0; i++)
		rc = krr_set(&k->uri[i], uris[i] && *uris[i] ? uris[i] : "unknown") == -ENOMEM ? -ENOMEM : 0;
	for (size_t i = 0; i < ai->n && rc == 0; i++)
		rc = krr_list_add(&k->accept_initiator, ai->v[i]) == -ENOMEM ? -ENOMEM : 0;
	for (size_t i = 0; i < ar->n && rc == 0; i++)
		rc = krr_list_add(&k->accept_receiver, ar->v[i]) == -ENOMEM ? -ENOMEM : 0;
	if (rc == 0 && embed && (k->embedded_xml = strdup(embed)) == NULL)
		rc = -ENOMEM;
	k->embedded_doc = embed_doc;	/* embed as parsed already: not parsed again */
	double t0 = c->signer ? seconds_now() : 0;
	if (rc == 0)
		rc = c->signer ? krr_encode_signed(k, c->signer, &out->krr_xml, &out->krr_len, &err)
			       : krr_encode(k, &out->krr_xml, &out->krr_len, &err);
	k->embedded_doc = NULL;		/* not ours to keep */
	if (rc < 0) {
		krr_free(k);
		return rc;
	}
	metrics_krr(METRICS_KRR_BUILT);
	if (c->signer) {
		metrics_krr(METRICS_KRR_SIGNED);
		metrics_krr_sign_seconds(seconds_now() - t0);
	}
	out->krr = k;
	return 0;
}

static void json_set(struct json *j, const char *key, const struct krr_list *l)
{
	json_key(j, key);
	if (!l) {
		json_null(j);
		return;
	}
	json_arr_begin(j);
	for (size_t i = 0; i < l->n; i++)
		json_str(j, l->uri[i]);
	json_arr_end(j);
}

static void json_opt(struct json *j, const char *key, const char *v)
{
	json_key(j, key);
	v ? json_str(j, v) : json_null(j);
}

/* One audit line (DESIGN 3): who, what was used, what was decided and why; im is the I_MESSAGE decided on (or NULL). */
static int audit(const struct policy_ctx *c, const struct policy_request *req, const struct policy_imessage *im,
    int64_t now, const struct krr *downstream, struct policy_outcome *out)
{
	char iso[TIME_ISO_LEN];
	struct json j;

	json_init(&j);
	json_obj_begin(&j);
	json_kstr(&j, "time", time_format_iso(now, iso) == 0 ? iso : "-");
	json_kstr(&j, "server", c->conf->server.uri ? c->conf->server.uri : "");
	json_opt(&j, "call_id", req->call_id);
	json_opt(&j, "method", req->method);
	json_kbool(&j, "in_dialog", req->in_dialog);
	json_opt(&j, "from", req->from);
	json_opt(&j, "to", req->to);
	json_opt(&j, "target", out->target);
	json_opt(&j, "idrkmsi", im ? im->idrkmsi : NULL);
	json_opt(&j, "idrkmsr", im ? im->idrkmsr : NULL);
	json_kint(&j, "imessages", req->mikey == POLICY_MIKEY ? (int64_t)req->n_im : 0);
	json_kstr(&j, "decision", policy_decision_name(out->decision));
	json_kstr(&j, "rule", out->rule);
	json_kint(&j, "status", out->status);
	json_set(&j, "accept_initiator_kms", out->krr ? &out->krr->accept_initiator : NULL);
	json_set(&j, "accept_receiver_kms", out->krr ? &out->krr->accept_receiver : NULL);
	json_opt(&j, "krr_id", out->krr ? out->krr->id : NULL);
	json_kbool(&j, "krr_signed", out->krr && c->signer && out->decision != POLICY_PASS);
	json_key(&j, "downstream_krr");
	if (out->signature) {
		json_obj_begin(&j);
		json_opt(&j, "id", downstream ? downstream->id : NULL);
		json_opt(&j, "originator", downstream ? downstream->uri[KRR_ORIGINATOR] : NULL);
		json_kstr(&j, "signature", out->signature);
		json_opt(&j, "signer", out->signer);
		json_set(&j, "accept_initiator_kms", downstream ? &downstream->accept_initiator : NULL);
		json_set(&j, "accept_receiver_kms", downstream ? &downstream->accept_receiver : NULL);
		json_obj_end(&j);
	} else {
		json_null(&j);
	}
	json_obj_end(&j);
	if (j.failed) {
		json_free(&j);
		return -ENOMEM;
	}
	out->audit = j.buf;	/* the writer's buffer becomes the record */
	/* Every decision is audited here, once: the metrics count it at the same place. */
	metrics_decision(policy_decision_name(out->decision), out->rule, im ? im->idrkmsi : NULL, im ? im->idrkmsr : NULL);
	if (out->signature)
		metrics_krr_verified(out->signature);
	if (out->decision == POLICY_PASS && out->signature)
		metrics_krr(METRICS_KRR_PASSED);
	else if (out->decision == POLICY_REPLACE)
		metrics_krr(METRICS_KRR_REPLACED);
	else if (out->decision == POLICY_DISCARD)
		metrics_krr(METRICS_KRR_DISCARDED);
	return 0;
}

/*
 * DESIGN 3 step 1: the target is IDRr when it is a URI, else the
 * Request-URI; compared as RFC 3261 19.1.4 says: scheme and host without
 * case, parameters and headers not part of the user's identity.
 */
static int target_of(const struct policy_request *req, const struct policy_imessage *im, char **out)
{
	const char *t = im && im->idrr ? im->idrr : req->request_uri;
	char *n;

	*out = NULL;
	if (!t)
		return 0;
	if ((n = strdup(t)) == NULL)
		return -ENOMEM;
	if (strncasecmp(n, "sip:", 4) == 0 || strncasecmp(n, "sips:", 5) == 0) {
		char *colon = strchr(n, ':'), *at = strchr(n, '@');
		char *host = at ? at + 1 : colon + 1;
		for (char *p = n; p < colon; p++)
			*p = (char)tolower((unsigned char)*p);
		host[strcspn(host, ";?")] = '\0';
		for (char *p = host; *p; p++)
			*p = (char)tolower((unsigned char)*p);
	}
	*out = n;
	return 0;
}

static const char *step(const struct policy_ctx *c, const char *primary, const char *partner)
{
	return c->conf->server.role == CONF_PRIMARY ? primary : partner;
}

/* Our own answer for the target: forward when acceptable, else a KRR (steps 1a/2a). */
static int own_decision(const struct policy_ctx *c, const struct policy_request *req,
    const struct policy_imessage *im, int64_t now, const struct lookup_result *res, const char *embed,
    struct policy_outcome *out)
{
	struct acceptable a;
	const char *i = im->idrkmsi, *r = im->idrkmsr;

	acceptable(c, res, now, &a);
	/* 4: the pair is acceptable. */
	for (size_t k = 0; k < a.ar.n; k++) {
		if (strcmp(a.ar.v[k], r) == 0 && set_has(&a.ai[k], i)) {
			out->decision = POLICY_FORWARD;
			out->rule = "4:acceptable";
			out->status = 0;
			return 0;
		}
	}
	/* 1a / 2a: as helpful as possible (DESIGN 3 step 5). */
	struct kms_set ai = { .n = 0 }, ar = { .n = 0 };
	for (size_t k = 0; k < a.ar.n; k++)
		if (set_has(&a.ai[k], i))
			set_add(&ar, a.ar.v[k]);
	if (ar.n) {
		set_add(&ai, i);
		out->rule = set_has(&a.ar, r) ? step(c, "1a:initiator-kms", "2a:initiator-kms")
					      : step(c, "1a:receiver-kms", "2a:receiver-kms");
	} else {
		for (size_t k = 0; k < a.ar.n; k++) {
			if (!a.ai[k].n)
				continue;
			set_add(&ar, a.ar.v[k]);
			for (size_t x = 0; x < a.ai[k].n; x++)
				set_add(&ai, a.ai[k].v[x]);
		}
		out->rule = ar.n ? step(c, "1a:initiator-kms", "2a:initiator-kms")
				 : step(c, "1a:no-acceptable-pair", "2a:no-acceptable-pair");
	}
	const char *uris[KRR_URI__COUNT] = {
		[KRR_ORIGINATOR] = c->conf->server.uri, [KRR_ORIGINATOR_KMS] = c->conf->server.kms_uri,
		[KRR_INITIATOR] = im->idri ? im->idri : req->from, [KRR_RECEIVER] = out->target,
		[KRR_INITIATOR_KMS] = i, [KRR_RECEIVER_KMS] = r,
	};
	out->decision = POLICY_KRR;
	out->status = 488;
	return make_krr(c, req, now, embed ? "replace" : "own", uris, &ai, &ar, embed, NULL, out);
}

/*
 * policy.verify_imessage (DESIGN 3): the SIGN payload must verify (RFC 6507)
 * under the KPAK of the KMS in IDRkmsi, as the initiator's UID (TS 33.180
 * F.2.1: IDRuidi when identities are hidden, or a UID in IDRi as some
 * clients send it, else derived from IDRi, that KMS and the key period of
 * the T payload).  The signed octets include the SIGN header; without it is
 * tried too (implementations differ, crypto.md 4.3).  Returns NULL when it
 * verifies, else why not.
 */
static const char *imessage_fault(const struct policy_ctx *c, const struct policy_imessage *im)
{
	const struct mikey_msg *m = im->msg;
	const struct kms_info *k = kms_find(c->kms, im->idrkmsi);
	const struct mikey_payload *uidi, *idri;
	struct mikey_view text;
	uint8_t uid[UID_LEN];
	const uint8_t *id;
	uint64_t kpn;

	if (!m || m->sign < 0 || m->t < 0)
		return "no SIGN or T payload";
	if (!k || !k->has_kpak || !k->key_period)
		return "no KmsCertificate (KPAK, key period) for the IDRkmsi KMS";
	idri = mikey_idr(m, MIKEY_ROLE_IDRI);
	if ((uidi = mikey_idr(m, MIKEY_ROLE_IDRUIDI)) != NULL && uidi->u.idr.data.len == UID_LEN) {
		id = uidi->u.idr.data.ptr;
	} else if (idri && mikey_idr_form(idri, &text) == MIKEY_IDR_UID) {
		id = idri->u.idr.data.ptr;
	} else if (im->idri &&
	    uid_period_no(mikey_ntp_seconds(m->pl[m->t].u.t.value), k->key_period, k->key_offset,
	    &kpn) == 0 &&
	    uid_derive(im->idri, strlen(im->idri), k->uri, strlen(k->uri), k->key_period, k->key_offset,
	    kpn, uid) == 0) {
		id = uid;
	} else {
		return "no initiator identity to verify against";
	}
	const struct mikey_view sig = m->pl[m->sign].u.sign.sig;
	for (size_t cut = 0; cut <= 2; cut += 2)
		if (eccsi_verify(k->kpak, id, UID_LEN, m->signed_span.ptr, m->signed_span.len - cut,
		    sig.ptr, sig.len) == 0)
			return NULL;
	return "the ECCSI signature does not verify";
}

bool policy_wants_decision(const struct policy_request *req)
{
	return req->mikey != POLICY_NO_MIKEY ||
	    (req->method && strcmp(req->method, "INVITE") == 0 && !req->in_dialog);
}

static bool same_string(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

/* Two I_MESSAGEs agree when they name the same identities and KMSs. */
static bool agree(const struct policy_imessage *a, const struct policy_imessage *b)
{
	return same_string(a->idri, b->idri) && same_string(a->idrr, b->idrr) &&
	    same_string(a->idrkmsi, b->idrkmsi) && same_string(a->idrkmsr, b->idrkmsr);
}

/* Steps 2 to 5 for one I_MESSAGE: its target, the lookup, then forward, a KRR or a reject. */
static int decide_one(const struct policy_ctx *c, const struct policy_request *req,
    const struct policy_imessage *im, int64_t now, struct policy_outcome *out)
{
	struct lookup_result res;
	int rc;

	free(out->target);
	if ((rc = target_of(req, im, &out->target)) < 0)
		return rc;
	switch (out->target ? lookup_find(c->lookup, out->target, &res) : LOOKUP_FAILED) {
	case LOOKUP_NOT_FOUND: {
		bool fwd = c->conf->policy.on_unknown_target == CONF_FORWARD;
		out->decision = fwd ? POLICY_FORWARD : POLICY_REJECT;
		out->rule = "unknown-target";
		out->status = fwd ? 0 : 404;
		return 0;
	}
	case LOOKUP_FAILED:
		if (out->target && c->conf->policy.on_lookup_failure == CONF_FORWARD) {
			/* Availability first (the operator's choice): the call goes on unchecked. */
			out->decision = POLICY_FORWARD;
			out->rule = "lookup-failed:forward";
			return 0;
		}
		/* Fail closed: without the lookup nothing says the pair is acceptable. */
		out->decision = POLICY_REJECT;
		out->rule = "lookup-failed";
		out->status = 503;
		out->retry_after = lookup_retry_after(c->lookup);
		snprintf(out->warning, sizeof(out->warning), "security domain lookup failed");
		return 0;
	case LOOKUP_PENDING:
		out->decision = POLICY_WAIT;
		out->rule = "lookup-pending";
		return 0;
	case LOOKUP_FOUND:
		break;
	}
	return own_decision(c, req, im, now, &res, NULL, out);
}

/*
 * Every I_MESSAGE of the request: each signature when asked, then each
 * distinct one through the lookup; the first that is not acceptable
 * answers for the request.  Several that are each acceptable but disagree
 * are refused too: a receiver could take any of them.  *decided is the one
 * the outcome is about.
 */
static int decide_all(const struct policy_ctx *c, const struct policy_request *req, int64_t now,
    struct policy_outcome *out, const struct policy_imessage **decided)
{
	size_t distinct = 0;
	const char *fault;
	int rc;

	for (size_t k = 0; k < req->n_im; k++) {
		const struct policy_imessage *im = &req->im[k];
		bool seen = false;
		*decided = im;
		if (c->conf->policy.verify_imessage && (fault = imessage_fault(c, im)) != NULL) {
			/* A forged IDRkmsi must not steer key material (TR 33.880 7.2.1.4.2). */
			out->decision = POLICY_REJECT;
			out->rule = "imessage-signature";
			out->status = 403;
			if (req->n_im == 1)
				snprintf(out->warning, sizeof(out->warning), "I_MESSAGE signature refused: %s", fault);
			else
				snprintf(out->warning, sizeof(out->warning),
				    "I_MESSAGE signature refused: %s (I_MESSAGE %zu of %zu)", fault, k + 1, req->n_im);
			return 0;
		}
		for (size_t j = 0; j < k && !seen; j++)
			seen = agree(im, &req->im[j]);
		if (seen)
			continue;
		if ((rc = decide_one(c, req, im, now, out)) < 0 || out->decision != POLICY_FORWARD)
			return rc;
		if (++distinct > 1) {
			out->decision = POLICY_REJECT;
			out->rule = "mikey-disagree";
			out->status = 488;
			snprintf(out->warning, sizeof(out->warning),
			    "I_MESSAGE %zu names other identities or KMSs than I_MESSAGE 1", k + 1);
			return 0;
		}
	}
	*decided = &req->im[0];
	return 0;
}

int policy_refuse_access(const struct policy_ctx *c, const struct policy_request *req, int64_t now,
    const char *rule, int status, const char *warning, struct policy_outcome *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	out->decision = POLICY_REJECT;
	out->rule = rule;
	out->status = status;
	snprintf(out->warning, sizeof(out->warning), "%s", warning);
	if ((rc = audit(c, req, NULL, now, NULL, out)) < 0)
		policy_outcome_clear(out);
	return rc;
}

int policy_decide_request(const struct policy_ctx *c, const struct policy_request *req, int64_t now,
    struct policy_outcome *out)
{
	const struct policy_imessage *im = NULL;
	bool complete = req->mikey == POLICY_MIKEY && req->n_im > 0;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	for (size_t k = 0; complete && k < req->n_im; k++)
		complete = req->im[k].idrkmsi && req->im[k].idrkmsr;

	if (req->mikey == POLICY_NO_MIKEY) {
		bool fwd = c->conf->policy.on_missing_mikey == CONF_FORWARD;
		out->decision = fwd ? POLICY_FORWARD : POLICY_REJECT;
		out->rule = "missing-mikey";
		out->status = fwd ? 0 : 488;
		if (!fwd)
			snprintf(out->warning, sizeof(out->warning), "no MIKEY I_MESSAGE in the offer");
	} else if (req->mikey == POLICY_UNINSPECTABLE) {
		/* What the proxy cannot read it must not pass on blindly. */
		bool fwd = c->conf->policy.on_uninspectable == CONF_FORWARD;
		out->decision = fwd ? POLICY_FORWARD : POLICY_REJECT;
		out->rule = "uninspectable";
		out->status = fwd ? 0 : req->fault_is_coding ? 415 : 400;
		out->accept_identity = !fwd && req->fault_is_coding;
		snprintf(out->warning, sizeof(out->warning), "cannot inspect the body: %s",
		    req->fault ? req->fault : "unknown fault");
	} else if (!complete) {
		bool fwd = c->conf->policy.on_malformed_mikey == CONF_FORWARD;
		out->decision = fwd ? POLICY_FORWARD : POLICY_REJECT;
		out->rule = "malformed-mikey";
		out->status = fwd ? 0 : 400;
		snprintf(out->warning, sizeof(out->warning), "malformed MIKEY I_MESSAGE: %s",
		    req->mikey == POLICY_MALFORMED_MIKEY && req->fault ? req->fault
									 : "IDRkmsi or IDRkmsr missing");
	} else {
		rc = decide_all(c, req, now, out, &im);
	}
	if (rc == 0 && !out->target)
		rc = target_of(req, im, &out->target);
	if (rc == 0 && out->decision != POLICY_WAIT)
		rc = audit(c, req, im, now, NULL, out);
	if (rc < 0)
		policy_outcome_clear(out);
	return rc;
}

/* DESIGN 3 downstream step 2: what local policy accepts of a received list. */
static void filter(const struct policy_ctx *c, const struct krr_list *in, bool receivers,
    const struct lookup_result *res, int64_t now, struct kms_set *keep)
{
	keep->n = 0;
	for (size_t i = 0; i < in->n; i++) {
		const char *u = in->uri[i];
		if (!(receivers ? ok_receiver(c, u, now) : ok_initiator(c, u, now)))
			continue;
		if (receivers && res) {
			bool permitted = false;
			for (size_t k = 0; k < res->n && !permitted; k++)
				permitted = strcmp(res->domain[k].kms, u) == 0;
			if (!permitted)
				continue;
		}
		set_add(keep, u);
	}
}

int policy_decide_krr(const struct policy_ctx *c, const struct policy_request *req,
    const char *body, size_t len, int64_t now, struct policy_outcome *out)
{
	/* The request went on, so its I_MESSAGEs agree: the first speaks for all. */
	const struct policy_imessage *im = req->mikey == POLICY_MIKEY && req->n_im ? &req->im[0] : NULL;
	struct lookup_result res;
	struct krr *got = NULL;
	struct krr_doc *parsed = NULL;
	struct krr_error err;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if ((rc = target_of(req, im, &out->target)) < 0)
		return rc;
	if (!body) {
		/* An ordinary 488 (its body is not a KRR): not ours to judge. */
		out->decision = POLICY_PASS;
		out->rule = "plain-488";
		out->status = 488;
		rc = audit(c, req, im, now, NULL, out);
		if (rc < 0)
			policy_outcome_clear(out);
		return rc;
	}
	enum lookup_status ls = out->target ? lookup_find(c->lookup, out->target, &res) : LOOKUP_FAILED;
	if (ls == LOOKUP_PENDING) {
		out->decision = POLICY_WAIT;
		out->rule = "lookup-pending";
		return 0;
	}
	/* Availability first: a directory that cannot answer filters nothing, as for an unknown target. */
	if (ls == LOOKUP_FAILED && out->target && c->conf->policy.on_lookup_failure == CONF_FORWARD)
		ls = LOOKUP_NOT_FOUND;

	/* 1: its signature; one parse feeds the decoding, the verification and any embedding. */
	if (krr_doc_parse(body, len, &parsed, &err) < 0) {
		out->signature = "malformed";
	} else if (!(got = krr_doc_take(parsed))->is_signed) {
		out->signature = "unsigned";
	} else if (c->verifier) {
		struct krr_verdict v;
		double t0 = seconds_now();
		if ((rc = krr_verify_doc(c->verifier, parsed, now, &v)) < 0)
			goto out;
		metrics_krr_verify_seconds(seconds_now() - t0);
		if (!v.valid)
			metrics_krr_invalid(v.why.code);
		out->signature = v.valid ? "valid" : "invalid";
		if (v.valid && v.signer && (out->signer = strdup(v.signer)) == NULL)
			rc = -ENOMEM;
		krr_verdict_clear(&v);
		if (rc < 0)
			goto out;
	} else {
		out->signature = "invalid";	/* signed, but nothing here can check it */
	}
	bool trusted = strcmp(out->signature, "valid") == 0;
	bool unusable = !got || (c->conf->krr.require_signed && !trusted);

	if (unusable) {
		/* Discard: our own KRR when our lookup gives one, else a plain 488. */
		if (ls == LOOKUP_FOUND && im && im->idrkmsi && im->idrkmsr) {
			rc = own_decision(c, req, im, now, &res, NULL, out);
			if (rc == 0 && out->decision == POLICY_FORWARD) {
				/* We would have forwarded: downstream refused, we have nothing better. */
				krr_free(out->krr);
				out->krr = NULL;
			}
		}
		out->decision = POLICY_DISCARD;
		out->status = 488;
		out->rule = got ? (out->krr ? "discard:unverified-own-krr" : "discard:unverified-plain-488")
				: (out->krr ? "discard:malformed-own-krr" : "discard:malformed-plain-488");
		goto out;
	}

	/* 2: filter both lists by local policy. */
	struct kms_set ai, ar;
	filter(c, &got->accept_initiator, false, NULL, now, &ai);
	/* A lookup that failed permits no receiver (fail closed, as for INVITEs). */
	if (ls == LOOKUP_FAILED)
		res.n = 0;
	filter(c, &got->accept_receiver, true, ls == LOOKUP_NOT_FOUND ? NULL : &res, now, &ar);
	if (ai.n == got->accept_initiator.n && ar.n == got->accept_receiver.n) {
		/* 3: nothing removed: pass it on as it came (what goes upstream is the received KRR). */
		out->decision = POLICY_PASS;
		out->rule = step(c, "2b/3c:pass", "3b:pass");
		out->status = 488;
		if ((out->krr_xml = strndup(body, len)) == NULL) {
			rc = -ENOMEM;
			goto out;
		}
		out->krr_len = len;
		out->krr = got;
		got = NULL;
		goto out;
	}
	/* 3: something removed: ours, with the received one embedded (2b/3b/3c). */
	const char *uris[KRR_URI__COUNT] = {
		[KRR_ORIGINATOR] = c->conf->server.uri, [KRR_ORIGINATOR_KMS] = c->conf->server.kms_uri,
		[KRR_INITIATOR] = got->uri[KRR_INITIATOR], [KRR_RECEIVER] = got->uri[KRR_RECEIVER],
		[KRR_INITIATOR_KMS] = got->uri[KRR_INITIATOR_KMS],
		[KRR_RECEIVER_KMS] = got->uri[KRR_RECEIVER_KMS],
	};
	char *doc = strndup(body, len);
	if (!doc) {
		rc = -ENOMEM;
		goto out;
	}
	rc = make_krr(c, req, now, "replace", uris, &ai, &ar, doc, parsed, out);
	free(doc);
	out->decision = POLICY_REPLACE;
	out->rule = step(c, "2b/3c:replace", "3b:replace");
	out->status = 488;
out:
	if (rc == 0)
		rc = audit(c, req, im, now, got ? got : out->krr, out);
	krr_free(got);
	krr_doc_free(parsed);
	if (rc < 0)
		policy_outcome_clear(out);
	return rc;
}
