/* Base64 decoding and encoding on OpenSSL's EVP codec. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdbool.h>
#include <string.h>

#include <openssl/evp.h>

#include "b64.h"

static bool b64_alpha(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	    c == '+' || c == '/';
}

static bool b64_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * Where the input goes wrong, for the error message: a character outside
 * the alphabet, padding too early in a group, anything but padding after
 * padding, or (at len) a group left unfinished; SIZE_MAX when it does not.
 * Only called once OpenSSL has refused the input.
 */
static size_t first_fault(const char *in, size_t len)
{
	unsigned q = 0;		/* position in the current group of four */
	bool padding = false;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		if (b64_space(c))
			continue;
		if (c == '=') {
			if (q < 2)
				return i;
			padding = true;
		} else if (!b64_alpha(c) || padding) {
			return i;
		}
		q = (q + 1) % 4;
		if (q == 0 && padding && i + 1 < len) {
			/* Only white space may follow the final group. */
			for (size_t k = i + 1; k < len; k++)
				if (!b64_space((unsigned char)in[k]))
					return k;
		}
	}
	return q ? len : SIZE_MAX;
}

int b64_decode(const char *in, size_t len, uint8_t *out, size_t *outlen, size_t *bad_at)
{
	EVP_ENCODE_CTX *ctx;
	int n = 0, m = 0, rc;

	if (len > INT_MAX) {
		if (bad_at)
			*bad_at = 0;
		return -EBADMSG;
	}
	if ((ctx = EVP_ENCODE_CTX_new()) == NULL)
		return -ENOMEM;
	EVP_DecodeInit(ctx);
	rc = EVP_DecodeUpdate(ctx, out, &n, (const unsigned char *)in, (int)len);
	if (rc >= 0)
		rc = EVP_DecodeFinal(ctx, out + n, &m);
	EVP_ENCODE_CTX_free(ctx);
	/*
	 * EVP stops quietly at '-' (the PEM trailer), which has no place in a
	 * key-mgmt value or a body; and it cannot say where input went wrong,
	 * so first_fault (which agrees with EVP on everything else) does.
	 */
	if (rc < 0 || memchr(in, '-', len) != NULL) {
		if (bad_at)
			*bad_at = first_fault(in, len);
		return -EBADMSG;
	}
	*outlen = (size_t)n + (size_t)m;
	return 0;
}

size_t b64_encode(const uint8_t *in, size_t len, char *out)
{
	size_t done = 0, w = 0;

	/* EVP_EncodeBlock takes an int; feed it whole groups of three. */
	while (len - done > 0) {
		size_t chunk = len - done;
		if (chunk > 3u * (INT_MAX / 4 / 3))
			chunk = 3u * (INT_MAX / 4 / 3);
		w += (size_t)EVP_EncodeBlock((unsigned char *)out + w, in + done, (int)chunk);
		done += chunk;
	}
	out[w] = '\0';
	return w;
}
