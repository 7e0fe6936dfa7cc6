/*
 * Per-source rate limit of new requests (limits.source_rate): a token
 * bucket per source address in a table of bounded size, so that one
 * flooding host is refused early (503 + Retry-After) while the others are
 * served.  I/O-free: the adapter gives the address and the time.
 *
 * The table is 4-way set-associative: a source not in it takes the least
 * recently seen entry of its set, which a host flooding from many
 * addresses can only reset to a full bucket, never empty.
 */
#ifndef MCX_RATELIMIT_H
#define MCX_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

struct ratelimit;

/* A table for about `sources` addresses (rounded up to a power of two, 4 at least); NULL when out of memory. */
struct ratelimit *ratelimit_new(unsigned sources);
void ratelimit_free(struct ratelimit *r);

enum ratelimit_verdict {
	RATELIMIT_ADMIT,		/* a token was taken */
	RATELIMIT_ADMIT_AGAIN,		/* ... and the source had been refused before: *refused says how often */
	RATELIMIT_REFUSE_FIRST,		/* refused, the first of an episode (log it) */
	RATELIMIT_REFUSE,		/* refused again */
};

/*
 * One new request from the source key (an address, up to 16 octets) at
 * now_ms: rate tokens per second, burst at most.  When refused,
 * *retry_after is the seconds until a token (1 at least).
 */
enum ratelimit_verdict ratelimit_take(struct ratelimit *r, const void *key, size_t len, unsigned rate,
    unsigned burst, uint64_t now_ms, unsigned *retry_after, unsigned long *refused);

#endif
