/* Per-source token buckets in a bounded table (see ratelimit.h). */
#include "config.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ratelimit.h"

#define WAYS 4
#define MILLI 1000u	/* tokens are counted in thousandths */

struct bucket {
	uint8_t key[16];
	uint8_t len;		/* 0: free */
	bool limited;		/* refused since its last admission */
	uint64_t tokens;	/* thousandths of a token */
	uint64_t last_ms;	/* last refill */
	unsigned long refused;	/* in this episode */
};

struct ratelimit {
	struct bucket *b;
	size_t sets;		/* a power of two */
};

struct ratelimit *ratelimit_new(unsigned sources)
{
	struct ratelimit *r = calloc(1, sizeof(*r));
	size_t sets = 1;

	while (sets * WAYS < sources && sets < ((size_t)1 << 24))
		sets <<= 1;
	if (!r || (r->b = calloc(sets * WAYS, sizeof(*r->b))) == NULL) {
		free(r);
		return NULL;
	}
	r->sets = sets;
	return r;
}

void ratelimit_free(struct ratelimit *r)
{
	if (!r)
		return;
	free(r->b);
	free(r);
}

/* FNV-1a: the set of a key. */
static size_t set_of(const struct ratelimit *r, const uint8_t *key, size_t len)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < len; i++)
		h = (h ^ key[i]) * 1099511628211ull;
	return (size_t)(h ^ (h >> 29)) & (r->sets - 1);
}

static struct bucket *find(struct ratelimit *r, const uint8_t *key, size_t len, unsigned burst, uint64_t now_ms)
{
	struct bucket *set = &r->b[set_of(r, key, len) * WAYS], *victim = &set[0];

	for (size_t i = 0; i < WAYS; i++) {
		if (set[i].len == len && memcmp(set[i].key, key, len) == 0)
			return &set[i];
		if (set[i].len == 0 || (victim->len != 0 && set[i].last_ms < victim->last_ms))
			victim = &set[i];
	}
	memset(victim, 0, sizeof(*victim));
	memcpy(victim->key, key, len);
	victim->len = (uint8_t)len;
	victim->tokens = (uint64_t)burst * MILLI;
	victim->last_ms = now_ms;
	return victim;
}

enum ratelimit_verdict ratelimit_take(struct ratelimit *r, const void *key, size_t len, unsigned rate,
    unsigned burst, uint64_t now_ms, unsigned *retry_after, unsigned long *refused)
{
	struct bucket *b;
	uint64_t cap = (uint64_t)(burst ? burst : 1) * MILLI;

	if (len == 0 || len > sizeof(b->key) || rate == 0)
		return RATELIMIT_ADMIT;
	b = find(r, key, len, burst ? burst : 1, now_ms);
	if (now_ms > b->last_ms) {
		/* rate tokens a second: rate thousandths a millisecond */
		uint64_t add = (now_ms - b->last_ms) * (uint64_t)rate;
		b->tokens = b->tokens + add > cap || add > cap ? cap : b->tokens + add;
		b->last_ms = now_ms;
	}
	if (b->tokens >= MILLI) {
		b->tokens -= MILLI;
		if (!b->limited)
			return RATELIMIT_ADMIT;
		b->limited = false;
		*refused = b->refused;
		b->refused = 0;
		return RATELIMIT_ADMIT_AGAIN;
	}
	uint64_t ms = ((MILLI - b->tokens) + rate - 1) / rate;	/* until one whole token */
	*retry_after = (unsigned)((ms + 999) / 1000);
	if (*retry_after == 0)
		*retry_after = 1;
	b->refused++;
	if (b->limited)
		return RATELIMIT_REFUSE;
	b->limited = true;
	return RATELIMIT_REFUSE_FIRST;
}
