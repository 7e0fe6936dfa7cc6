/*
 * The KRR signing key in a process of its own (OpenSMTPD keeps its keys in
 * its "ca" process the same way): a small child of each SIP process reads
 * krr.private_key, and signs the SHA-256 digests of KRR SignedInfo that it
 * is sent over a socketpair, nothing else.  The processes that parse what
 * the network sends never read or map the key: a memory disclosure there
 * (an over-read, a core dump) cannot reveal it, and taking one over gives
 * signatures for as long as it lasts, not the key.
 */
#ifndef MCX_KEYSIGNER_H
#define MCX_KEYSIGNER_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Start a signer for configuration generation gen: it loads key_path and
 * checks it against cert_path (ECDSA P-256, matching).  The previous
 * generation's signer stays (transactions of the old configuration still
 * sign with it) until the next start.  0, or -1 with err (why the key was
 * refused).
 */
int keysigner_start(unsigned gen, const char *key_path, const char *cert_path, char *err, size_t errlen);

/* Only check: a signer is started on the files, asked whether they hold, and stopped.  0 or -1 with err. */
int keysigner_check(const char *key_path, const char *cert_path, char *err, size_t errlen);

/* A krr_sign_fn: arg is the generation (uintptr_t) of the configuration whose signer signs. */
int keysigner_sign(void *arg, const unsigned char digest[32], unsigned char rs[64]);

/* Stop every signer (SIGTERM; they also die with this process). */
void keysigner_stop(void);

/* The current signer's process id (for logs and tests), or -1. */
pid_t keysigner_pid(void);

#endif
