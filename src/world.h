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

/* What a load reads besides the configuration, its KmsCertificate folder and its lookup (flags). */
enum world_need {
	WORLD_VERIFY = 1 << 0,	/* krr.trust_anchors and krr.crl: a verifier */
	WORLD_SIGN = 1 << 1,	/* krr.certificate and krr.private_key (or the remote signer): a signer */
	WORLD_TLS = 1 << 2,	/* tls.certificate, tls.private_key, tls.ca: checked as the SIP stack will use them */
	WORLD_ALL = WORLD_VERIFY | WORLD_SIGN | WORLD_TLS,
};

/*
 * Load path: the configuration (conf_load), then, once it is valid, every
 * file it names that need asks for, each read once: the KmsCertificate
 * folder (the KMS registry), the lookup backend, and per need the KRR
 * signing certificate and key (checked to match), the trust anchors and
 * CRLs, the TLS files.  Every problem goes to diags as "file:line: key:
 * message" at the setting that names the file, or "file: message" (the
 * caller clears it).  Returns 0 with *out holding one reference, -EINVAL
 * when there are problems, -ENOMEM.
 */
int world_load(const char *path, unsigned need, struct world **out, struct conf_diags *diags);

/*
 * From now on (for this process) world_load reads no KRR private key: the
 * signer it makes has krr.certificate and signs through fn, with arg (the
 * daemon: its signer process, which reads and checks the key).  NULL: read
 * it again.
 */
void world_set_remote_signer(krr_sign_fn *fn, void *arg);

struct world *world_ref(struct world *w);
void world_unref(struct world *w);	/* frees at the last reference; NULL is a no-op */

/* The decision context over w. */
struct policy_ctx world_policy_ctx(struct world *w);

#endif
