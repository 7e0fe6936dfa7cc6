/* Fuzz target: the MIKEY decoder, and the encoder on whatever decodes (a decode-encode round trip). */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "mikey.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mikey_msg m;
	struct mikey_error err;
	size_t len;

	if (mikey_decode(data, size, &m, &err) < 0) {
		if (err.code <= MIKEY_OK || err.code >= MIKEY_E__COUNT || err.offset > (size > MIKEY_MAX_MESSAGE ? MIKEY_MAX_MESSAGE : size))
			abort();
		return 0;
	}
	/* Every view lies inside the input. */
	for (size_t i = 0; i < m.n_pl; i++)
		if (m.pl[i].offset + m.pl[i].length > size)
			abort();
	/* What decodes re-encodes to the same octets. */
	uint8_t *out = malloc(size ? size : 1);
	if (!out)
		return 0;
	if (mikey_encode(&m.hdr, m.pl, m.n_pl, out, size, &len, NULL) != 0 || len != size ||
	    memcmp(out, data, size) != 0)
		abort();
	free(out);
	return 0;
}
