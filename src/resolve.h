/*
 * Where a SIP URI leads (RFC 3263 4: NAPTR, SRV, then A/AAAA), resolved on
 * c-ares in the Sofia-SIP event loop, bounded in time: nta's own resolver
 * is never asked (with an unreachable DNS server it spins forever in
 * sres_send_dns_query, and with a silent one it answers after minutes).
 */
#ifndef MCX_RESOLVE_H
#define MCX_RESOLVE_H

#include <stdbool.h>
#include <stddef.h>

#define RESOLVE_MAX_TARGETS	8
#define RESOLVE_CACHE_MAX	4096	/* names remembered */
#define RESOLVE_TTL_MAX		300	/* seconds an answer is kept at most */
#define RESOLVE_NEGATIVE_TTL	5	/* seconds "no such name" is kept */

struct su_root_s;
struct resolver;
struct resolve_query;

/* One place to send to: an IP literal (IPv6 in brackets), a port and a transport. */
struct resolve_target {
	char transport[4];	/* "udp", "tcp" or "tls" */
	char host[48];
	unsigned port;
};

struct resolve_result {
	struct resolve_target t[RESOLVE_MAX_TARGETS];	/* in the order to try them */
	size_t n;
};

/*
 * The answer to a query: res on success, else NULL and a reason ("DNS
 * server unreachable", "no such host", ...).  Called once, from the event
 * loop, never from within resolve_sip.
 */
typedef void resolve_fn(void *arg, const struct resolve_result *res, const char *error);

/*
 * A resolver on root's loop, reading /etc/resolv.conf (and /etc/hosts); a
 * resolution that takes longer than deadline_ms fails.  NULL with a message
 * in err when c-ares cannot start.
 */
struct resolver *resolver_new(struct su_root_s *root, unsigned deadline_ms, char *err, size_t errlen);

/* Whether TLS targets may be used (the daemon listens on TLS): without, sips: and ;transport=tls fail. */
void resolver_use_tls(struct resolver *r, bool tls);

/* Read /etc/resolv.conf again (SIGHUP) and forget cached answers; resolutions in flight finish on the old servers. */
int resolver_reload(struct resolver *r);

/* Callbacks of pending queries are not called: cancel them first. */
void resolver_free(struct resolver *r);

/*
 * Resolve a sip: (sips false) or sips: URI's host (a name, without
 * brackets), port (0 when the URI has none) and transport parameter (NULL
 * when none).  Returns 1 with *now filled when the answer is known (the
 * cache), 0 with *pending (cb will be called, or resolve_cancel), -ENOENT
 * when the name is known not to exist (for a few seconds), -EINVAL for a
 * host that is no DNS name, -EPROTONOSUPPORT for a transport we do not
 * have, -EIO when the
 * resolver is not running (c-ares failed to restart), -ENOMEM.
 */
int resolve_sip(struct resolver *r, const char *host, unsigned port, const char *transport, bool sips,
    resolve_fn *cb, void *arg, struct resolve_result *now, struct resolve_query **pending);

/* Forget a pending query: its callback will not be called. */
void resolve_cancel(struct resolve_query *q);

/* Pending queries (for logs and tests). */
size_t resolver_pending(const struct resolver *r);

#endif
