/* Bounded big-endian reader and writer whose first error sticks (after Knot's wire context). */
#ifndef MCX_WIRE_H
#define MCX_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/*
 * A reader over [buf, buf+len).  Every read checks what remains; after the
 * first short read the reader is failed, later reads return zeros and do not
 * move, and fail_at keeps the offset of the first failure.
 */
struct wire_rd {
	const uint8_t *buf;
	size_t len, pos;
	bool failed;
	size_t fail_at;
};

static inline void wire_rd_init(struct wire_rd *r, const uint8_t *buf, size_t len)
{
	r->buf = buf;
	r->len = len;
	r->pos = 0;
	r->failed = false;
	r->fail_at = 0;
}

static inline size_t wire_rd_left(const struct wire_rd *r)
{
	return r->failed ? 0 : r->len - r->pos;
}

static inline bool wire_rd_need(struct wire_rd *r, size_t n)
{
	if (r->failed)
		return false;
	if (n > r->len - r->pos) {
		r->failed = true;
		r->fail_at = r->pos;
		return false;
	}
	return true;
}

static inline uint8_t wire_u8(struct wire_rd *r)
{
	if (!wire_rd_need(r, 1))
		return 0;
	return r->buf[r->pos++];
}

static inline uint16_t wire_u16(struct wire_rd *r)
{
	if (!wire_rd_need(r, 2))
		return 0;
	uint16_t v = (uint16_t)(r->buf[r->pos] << 8 | r->buf[r->pos + 1]);
	r->pos += 2;
	return v;
}

static inline uint32_t wire_u32(struct wire_rd *r)
{
	if (!wire_rd_need(r, 4))
		return 0;
	const uint8_t *p = r->buf + r->pos;
	r->pos += 4;
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t wire_u64(struct wire_rd *r)
{
	uint64_t hi = wire_u32(r);
	return hi << 32 | wire_u32(r);
}

/* A view of the next n octets; NULL (and failed) when fewer remain. */
static inline const uint8_t *wire_bytes(struct wire_rd *r, size_t n)
{
	if (!wire_rd_need(r, n))
		return NULL;
	const uint8_t *p = r->buf + r->pos;
	r->pos += n;
	return p;
}

/*
 * A writer into [buf, buf+cap).  It keeps counting past the end so that a
 * first pass with cap 0 (buf may be NULL) yields the size needed.
 */
struct wire_wr {
	uint8_t *buf;
	size_t cap, pos;
};

static inline void wire_wr_init(struct wire_wr *w, uint8_t *buf, size_t cap)
{
	w->buf = buf;
	w->cap = buf ? cap : 0;
	w->pos = 0;
}

static inline bool wire_wr_overflow(const struct wire_wr *w)
{
	return w->pos > w->cap;
}

static inline void wire_put(struct wire_wr *w, const void *p, size_t n)
{
	if (n && w->pos <= w->cap && n <= w->cap - w->pos)
		memcpy(w->buf + w->pos, p, n);
	w->pos += n;
}

static inline void wire_put_u8(struct wire_wr *w, uint8_t v)
{
	wire_put(w, &v, 1);
}

static inline void wire_put_u16(struct wire_wr *w, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };
	wire_put(w, b, 2);
}

static inline void wire_put_u32(struct wire_wr *w, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
	wire_put(w, b, 4);
}

static inline void wire_put_u64(struct wire_wr *w, uint64_t v)
{
	wire_put_u32(w, (uint32_t)(v >> 32));
	wire_put_u32(w, (uint32_t)v);
}

#endif
