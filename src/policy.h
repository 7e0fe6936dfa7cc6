/* The decision engine (DESIGN 3): forward, redirect with a KRR, or reject; and what to do with a KRR from downstream. */
#ifndef MCX_POLICY_H
#define MCX_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "kms.h"
#include "krr.h"
#include "lookup.h"
#include "mikey.h"

/* Everything a decision depends on besides the message; the clock is an argument. */
struct policy_ctx {
	const struct conf *conf;
	const struct kms_registry *kms;
	struct lookup *lookup;
	const struct krr_signer *signer;	/* NULL: KRRs go out unsigned */
	struct krr_verifier *verifier;		/* NULL: downstream KRRs count as unverified */
};

/* What the SIP layer found in a request's body. */
enum policy_mikey {
	POLICY_NO_MIKEY,		/* no I_MESSAGE (or no body) */
	POLICY_UNINSPECTABLE,		/* a body that cannot be read: fault says why */
	POLICY_MALFORMED_MIKEY,		/* an I_MESSAGE that does not decode: fault says why */
	POLICY_MIKEY,			/* im[0 .. n_im - 1] */
};

/* One I_MESSAGE's identities as clients read them (trailing NUL octets dropped). */
struct policy_imessage {
	const char *idri;		/* IDRi when it is a URI, else NULL (absent, or a UID) */
	const char *idrr;		/* IDRr when it is a URI, else NULL */
	const char *idrkmsi, *idrkmsr;
	const struct mikey_msg *msg;	/* decoded, for policy.verify_imessage */
};

/* What the SIP layer read from a request: any method, initial or inside a dialog. */
struct policy_request {
	const char *method;		/* "INVITE", "MESSAGE", ... */
	bool in_dialog;			/* its To has a tag */
	const char *request_uri, *from, *to, *call_id;	/* URIs without display names */
	enum policy_mikey mikey;
	const char *fault;		/* uninspectable or malformed: what, for the Warning header */
	bool fault_is_coding;		/* uninspectable because of a content coding: 415 */
	const struct policy_imessage *im;	/* every I_MESSAGE in the body, in order */
	size_t n_im;
};

/*
 * Whether a request needs a decision: it carries an I_MESSAGE, or a body
 * that cannot be read or decoded, or it is an initial INVITE (where
 * policy.on_missing_mikey applies).  Other requests are forwarded without one.
 */
bool policy_wants_decision(const struct policy_request *req);

enum policy_decision {
	POLICY_FORWARD,		/* the request goes on untouched */
	POLICY_KRR,		/* answer 488 with our KRR */
	POLICY_REJECT,		/* answer status (4xx/5xx), maybe with a Warning */
	POLICY_PASS,		/* a downstream KRR goes upstream unchanged */
	POLICY_REPLACE,		/* ... replaced by ours, embedding it */
	POLICY_DISCARD,		/* ... dropped: ours (or a plain 488) instead */
	POLICY_WAIT,		/* the lookup of target is under way (LOOKUP_PENDING): decide again
				   once lookup_wait says its answer is there; nothing is audited */
};

struct policy_outcome {
	enum policy_decision decision;
	const char *rule;		/* the rule that decided, e.g. "1a:receiver-kms" (static) */
	int status;			/* SIP status upstream; 0 when forwarding */
	char warning[192];		/* Warning text, empty when none */
	bool accept_identity;		/* a 415 for a content coding: say Accept-Encoding: identity */
	unsigned retry_after;		/* seconds for a Retry-After header; 0: none */
	char *target;			/* the lookup target, normalised (owned) */
	struct krr *krr;		/* the KRR sent upstream: ours, or the received one passed (owned) */
	char *krr_xml;			/* its document: ours signed when a signer is set (owned) */
	size_t krr_len;
	const char *signature;		/* downstream KRR: "valid", "invalid", "unsigned", "malformed" or NULL */
	char *signer;			/* downstream KRR's signer subject, when valid (owned) */
	char *audit;			/* the audit record: one JSON object, no newline (owned) */
};

void policy_outcome_clear(struct policy_outcome *o);
const char *policy_decision_name(enum policy_decision d);

/*
 * Steps 1/1a (primary) and 2/2a (partner) for a request at time now: every
 * I_MESSAGE in it must be acceptable, and all must agree (the same four
 * identities); a request whose body cannot be read follows
 * policy.on_uninspectable.  Returns 0 with *out filled (clear it with
 * policy_outcome_clear), or a negative errno when no decision could be made
 * (out of memory, a KRR that cannot be signed): the caller then answers 500.
 */
/*
 * A request refused before any decision on its keys, for who sent it or
 * where it would go (server.peers): rule ("access:not-a-peer", ...),
 * status and warning as given; the outcome is audited like a decision.
 * 0, or -ENOMEM.
 */
int policy_refuse_access(const struct policy_ctx *c, const struct policy_request *req, int64_t now,
    const char *rule, int status, const char *warning, struct policy_outcome *out);

int policy_decide_request(const struct policy_ctx *ctx, const struct policy_request *req, int64_t now,
    struct policy_outcome *out);

/*
 * Steps 2b, 3b and 3c: a 488 whose body (len octets) is a KRR came back for
 * the forwarded request req, which carried agreeing I_MESSAGEs (body NULL: a
 * 488 without a KRR, passed on).  Pass it, replace it with ours (filtered, the
 * received one embedded) or discard it (unsigned or invalid while
 * krr.require_signed is set, or malformed: then our own KRR from our own
 * lookup, or a plain 488).
 */
int policy_decide_krr(const struct policy_ctx *ctx, const struct policy_request *req,
    const char *body, size_t len, int64_t now, struct policy_outcome *out);

#endif
