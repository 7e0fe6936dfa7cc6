/* Content codings: names, and gzip/deflate undone with zlib under an output bound. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <zlib.h>

#include "coding.h"

static bool token_is(struct strv t, const char *word)
{
	size_t n = strlen(word);
	return t.len == n && strncasecmp(t.ptr, word, n) == 0;
}

enum coding coding_of(struct strv t)
{
	if (t.len == 0 || token_is(t, "identity") || token_is(t, "7bit") || token_is(t, "8bit") ||
	    token_is(t, "binary"))
		return CODING_IDENTITY;
	if (token_is(t, "gzip") || token_is(t, "x-gzip"))
		return CODING_GZIP;
	if (token_is(t, "deflate"))
		return CODING_DEFLATE;
	if (token_is(t, "base64"))
		return CODING_BASE64;
	return CODING_UNKNOWN;
}

/*
 * One zlib pass over the input with window bits wbits.  gzip data may be
 * several members one after the other (RFC 1952 2.2; gunzip reads them
 * all), so a member's end with input left starts the next member; anything
 * else left over is an error, not something to ignore.
 */
static int inflate_all(int wbits, bool members, const uint8_t *in, size_t len, size_t max,
    uint8_t **out, size_t *out_len)
{
	z_stream z;
	size_t cap = len * 4 < 4096 ? 4096 : len * 4, used = 0;
	uint8_t *buf;
	int rc, zrc;

	if (len > UINT_MAX)
		return -EFBIG;
	if (cap > max)
		cap = max;
	if ((buf = malloc(cap ? cap : 1)) == NULL)
		return -ENOMEM;
	memset(&z, 0, sizeof(z));
	if (inflateInit2(&z, wbits) != Z_OK) {
		free(buf);
		return -ENOMEM;
	}
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)len;
	for (;;) {
		if (used == cap) {
			if (cap == max) {
				rc = -EFBIG;
				break;
			}
			size_t ncap = cap * 2 > max ? max : cap * 2;
			uint8_t *nb = realloc(buf, ncap);
			if (!nb) {
				rc = -ENOMEM;
				break;
			}
			buf = nb;
			cap = ncap;
		}
		z.next_out = buf + used;
		z.avail_out = (uInt)(cap - used > UINT_MAX ? UINT_MAX : cap - used);
		uInt before = z.avail_out;
		zrc = inflate(&z, Z_NO_FLUSH);
		used += before - z.avail_out;
		if (zrc == Z_STREAM_END) {
			if (z.avail_in == 0) {
				rc = 0;
				break;
			}
			if (!members || inflateReset(&z) != Z_OK) {
				rc = -EBADMSG;
				break;
			}
			continue;
		}
		if (zrc == Z_MEM_ERROR) {
			rc = -ENOMEM;
			break;
		}
		/* Z_BUF_ERROR with output room left: the input ended mid-stream. */
		if (zrc != Z_OK && !(zrc == Z_BUF_ERROR && z.avail_out == 0)) {
			rc = -EBADMSG;
			break;
		}
	}
	inflateEnd(&z);
	if (rc < 0) {
		free(buf);
		return rc;
	}
	*out = buf;
	*out_len = used;
	return 0;
}

int coding_inflate(enum coding c, const uint8_t *in, size_t len, size_t max, uint8_t **out,
    size_t *out_len)
{
	int rc;

	if (c == CODING_GZIP)
		return inflate_all(16 + MAX_WBITS, true, in, len, max, out, out_len);
	if (c != CODING_DEFLATE)
		return -EINVAL;
	/* "deflate" is the zlib format (RFC 2616 3.5), but raw deflate is common: read both. */
	rc = inflate_all(MAX_WBITS, false, in, len, max, out, out_len);
	if (rc == -EBADMSG)
		rc = inflate_all(-MAX_WBITS, false, in, len, max, out, out_len);
	return rc;
}
