/* Base64 decoding and encoding on OpenSSL's EVP codec. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <string.h>

#include <openssl/evp.h>

#include "b64.h"

static bool b64_char_ok(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	    c == '+' || c == '/' || c == '=' || c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Where the input went wrong, for the error message: a bad character, else the end. */
static size_t first_fault(const char *in, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!b64_char_ok((unsigned char)in[i]))
			return i;
	return len;
}

int b64_decode(const char *in, size_t len, uint8_t *out, size_t *outlen, size_t *bad_at)
{
	EVP_ENCODE_CTX *ctx;
	int n = 0, m = 0, rc;

	/*
	 * EVP stops quietly at '-' (the PEM trailer) and takes other control
	 * characters as line ends; neither belongs in a key-mgmt value or a body.
	 */
	if (len > INT_MAX || first_fault(in, len) != len) {
		if (bad_at)
			*bad_at = len > INT_MAX ? 0 : first_fault(in, len);
		return -EBADMSG;
	}
	if ((ctx = EVP_ENCODE_CTX_new()) == NULL)
		return -ENOMEM;
	EVP_DecodeInit(ctx);
	rc = EVP_DecodeUpdate(ctx, out, &n, (const unsigned char *)in, (int)len);
	if (rc >= 0)
		rc = EVP_DecodeFinal(ctx, out + n, &m);
	EVP_ENCODE_CTX_free(ctx);
	if (rc < 0) {
		if (bad_at)
			*bad_at = len;
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
