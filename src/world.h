/* One loaded configuration generation: the config and everything built from it, shared by the tool and the daemon. */
#ifndef MCX_WORLD_H
#define MCX_WORLD_H

#include <stdbool.h>

#include "access.h"
#include "conf.h"
#include "kms.h"
#include "krr.h"
#include "lookup.h"
#include "policy.h"

/*
 * Everything a decision needs, loaded together so that a reload swaps it as
 * one: a transaction keeps a reference to the generation it started under.
 */
struct world {
	struct conf *conf;
	struct kms_registry *kms;
	struct lookup *lookup;
	struct krr_signer *signer;	/* NULL: no krr.certificate */
	struct krr_verifier *verifier;	/* NULL: no krr.trust_anchors */
	struct access *access;		/* NULL: no server.peers (anyone may send) */
	unsigned refs;
	unsigned generation;		/* set by the owner; 0 for the tool */
};

/*
 * Load path: the configuration, the KMS registry (with the KmsCertificate
 * folder), the lookup backend and, when keys is set, the KRR signing
 * certificate and key (checked to match) and the trust anchors.  Every
 * problem goes to diags as "file:line: message" or "file: message" (the
 * caller clears it).  Returns 0 with *out holding one reference, -EINVAL
 * when there are problems, -ENOMEM.  krr_global_init must have run.
 */
int world_load(const char *path, bool keys, struct world **out, struct conf_diags *diags);

/*
 * From now on (for this process) world_load reads no KRR private key: the
 * signer it makes has krr.certificate and signs through fn, with arg (the
 * daemon: its signer process); conf_load checks no key either.
 */
void world_set_remote_signer(krr_sign_fn *fn, void *arg);

struct world *world_ref(struct world *w);
void world_unref(struct world *w);	/* frees at the last reference; NULL is a no-op */

/* The decision context over w. */
struct policy_ctx world_policy_ctx(struct world *w);

#endif
