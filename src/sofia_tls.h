/*
 * SIP over TLS through Sofia-SIP 1.12's TLS transport, with what that
 * transport lacks for a server between security domains: TLS 1.2 at least,
 * the whole certificate chain sent, every refused handshake logged with its
 * reason, tls.peer_identities, and new credentials on SIGHUP.
 */
#ifndef MCX_SOFIA_TLS_H
#define MCX_SOFIA_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "conf.h"

/* The certificate chain's depth a peer may present (peer, intermediates, root). */
#define SOFIA_TLS_VERIFY_DEPTH 8

/*
 * Sofia-SIP reads its credentials from a folder (agent.pem: key and
 * certificates; cafile.pem: the CAs): make one, private to this process
 * (mode 0700 in $RUNTIME_DIRECTORY or /tmp), from c's tls files, and
 * remember the settings.  dir gets its path.  0, or -1 with err.
 */
int sofia_tls_prepare(const struct conf *c, char *dir, size_t cap, char *err, size_t errlen);

/*
 * While on, the TLS contexts Sofia-SIP creates are this daemon's (the
 * transports being bound): they get TLS 1.2 at least, the logging and
 * identity checks, and are the ones a reload renews.
 */
void sofia_tls_capture(bool on);

/* Delete the folder once the transports are bound: the key stays in memory only. */
void sofia_tls_forget_files(const char *dir);

/* How many TLS contexts were captured (0: no TLS transport). */
size_t sofia_tls_contexts(void);

/*
 * SIGHUP: load c's certificate, key and CAs into every captured context
 * (new connections use them; open ones keep theirs) and take its
 * peer_identities.  Everything is loaded and checked first: on a failure
 * the contexts keep what they had.  0, or -1 with err.
 */
int sofia_tls_reload(const struct conf *c, char *err, size_t errlen);

/*
 * An outgoing handshake that failed (the next hop's certificate refused,
 * or ours by it): Sofia-SIP closes the connection but never tells the
 * transaction waiting to send on it, which would wait for its timer (32 s
 * for an INVITE).  The failures are queued here (the callbacks run inside
 * the TLS code); the adapter takes them from its timer: fn gets each
 * peer's address (IPv6 without brackets), its port and why.
 */
typedef void sofia_tls_refused_fn(void *arg, const char *host, unsigned port, const char *why);
void sofia_tls_take_refused(sofia_tls_refused_fn *fn, void *arg);

#endif
