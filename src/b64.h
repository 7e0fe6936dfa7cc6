/* Base64 (RFC 4648 standard alphabet) through OpenSSL's EVP codec, strict about what it accepts. */
#ifndef MCX_B64_H
#define MCX_B64_H

#include <stddef.h>
#include <stdint.h>

/* Octets b64_decode may write for len characters of input. */
#define B64_DECODED_MAX(len)	(((len) + 3) / 4 * 3)
/* Characters (without the NUL) b64_encode writes for len octets. */
#define B64_ENCODED_LEN(len)	(((len) + 2) / 3 * 4)

/*
 * Decode len characters of base64; whitespace (SP, HTAB, CR, LF) between
 * groups is skipped, padding must be right and nothing may follow it.  out
 * must hold B64_DECODED_MAX(len) octets.  Returns 0 with *outlen set, or
 * -EBADMSG with *bad_at (when non-NULL) at the first offending character (len
 * when the input ends mid-group), or -ENOMEM.
 */
int b64_decode(const char *in, size_t len, uint8_t *out, size_t *outlen, size_t *bad_at);

/* Encode len octets into out, which holds B64_ENCODED_LEN(len) + 1; returns the length written. */
size_t b64_encode(const uint8_t *in, size_t len, char *out);

#endif
