/* Content codings of SIP and MIME bodies (RFC 3261 20.12, RFC 2045 6): what the proxy can undo, bounded. */
#ifndef MCX_CODING_H
#define MCX_CODING_H

#include <stddef.h>
#include <stdint.h>

#include "strv.h"

enum coding {
	CODING_IDENTITY,	/* identity, 7bit, 8bit, binary: the octets as they are */
	CODING_GZIP,		/* gzip, x-gzip (RFC 1952) */
	CODING_DEFLATE,		/* deflate: zlib (RFC 1950), or raw deflate (RFC 1951) as some send it */
	CODING_BASE64,		/* Content-Transfer-Encoding: base64 (RFC 2045 6.8) */
	CODING_UNKNOWN,		/* anything else: the body cannot be inspected */
};

/* The coding a Content-Encoding or Content-Transfer-Encoding token names (any letter case). */
enum coding coding_of(struct strv token);

/*
 * Inflate len octets of gzip or deflate data into a new buffer of at most
 * max octets (the caller frees *out).  Returns 0, -EBADMSG when the data is
 * not that coding or is cut short, -EFBIG when it inflates past max (a
 * decompression bomb), -ENOMEM.
 */
int coding_inflate(enum coding c, const uint8_t *in, size_t len, size_t max, uint8_t **out,
    size_t *out_len);

#endif
