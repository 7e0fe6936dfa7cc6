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

/* What the SIP layer extracted from an initial INVITE. */
enum policy_mikey { POLICY_NO_MIKEY, POLICY_MALFORMED_MIKEY, POLICY_MIKEY };

struct policy_invite {
	const char *request_uri, *from, *to, *call_id;	/* URIs without display names */
	enum policy_mikey mikey;
	const char *malformed;		/* what was wrong, for the Warning header */
	const char *idri;		/* IDRi when it is a URI, else NULL */
	const char *idrr;		/* IDRr when it is a URI, else NULL */
	const char *idrkmsi, *idrkmsr;
	const struct mikey_msg *msg;	/* the decoded I_MESSAGE, for policy.verify_imessage */
};

enum policy_decision {
	POLICY_FORWARD,		/* the INVITE goes on untouched */
	POLICY_KRR,		/* answer 488 with our KRR */
	POLICY_REJECT,		/* answer status (4xx/5xx), maybe with a Warning */
	POLICY_PASS,		/* a downstream KRR goes upstream unchanged */
	POLICY_REPLACE,		/* ... replaced by ours, embedding it */
	POLICY_DISCARD,		/* ... dropped: ours (or a plain 488) instead */
};

struct policy_outcome {
	enum policy_decision decision;
	const char *rule;		/* the rule that decided, e.g. "1a:receiver-kms" (static) */
	int status;			/* SIP status upstream; 0 when forwarding */
	char warning[192];		/* Warning text, empty when none */
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
 * Steps 1/1a (primary) and 2/2a (partner) for an initial INVITE at time now.
 * Returns 0 with *out filled (clear it with policy_outcome_clear), or a
 * negative errno when no decision could be made (out of memory, a KRR that
 * cannot be signed): the caller then answers 500.
 */
int policy_decide_invite(const struct policy_ctx *ctx, const struct policy_invite *inv, int64_t now,
    struct policy_outcome *out);

/*
 * Steps 2b, 3b and 3c: a 488 whose body (len octets) is a KRR came back for
 * the forwarded INVITE inv (body NULL: a 488 without a KRR, passed on).  Pass it, replace it with ours (filtered, the
 * received one embedded) or discard it (unsigned or invalid while
 * krr.require_signed is set, or malformed: then our own KRR from our own
 * lookup, or a plain 488).
 */
int policy_decide_krr(const struct policy_ctx *ctx, const struct policy_invite *inv,
    const char *body, size_t len, int64_t now, struct policy_outcome *out);

#endif
