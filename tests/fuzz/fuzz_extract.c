/* Fuzz target: SIP message splitting, body extraction and decoding of what it finds. */
#include <stdlib.h>

#include "extract.h"
#include "fuzz.h"
#include "mikey.h"
#include "sipmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sipmsg sip;
	struct strv ct, cte = { NULL, 0 };
	struct extract_result res;
	struct extract_error err;

	if (sipmsg_parse((const char *)data, size, &sip, NULL, NULL) < 0 ||
	    !sipmsg_header(sip.headers, "Content-Type", 'c', &ct))
		return 0;
	sipmsg_header(sip.headers, "Content-Transfer-Encoding", 0, &cte);

	size_t cap = EXTRACT_ARENA_SIZE(sip.body_len);
	uint8_t *arena = malloc(cap);
	if (!arena)
		return 0;
	if (extract_mikey(ct.ptr, ct.len, cte.ptr, cte.len, sip.body, sip.body_len, arena, cap,
	    &res, &err) == 0) {
		for (size_t i = 0; i < res.n; i++) {
			struct mikey_msg m;
			if (res.item[i].offset > sip.body_len)
				abort();
			mikey_decode(res.item[i].data, res.item[i].len, &m, NULL);
		}
	} else if (err.offset > sip.body_len) {
		abort();
	}
	free(arena);
	return 0;
}
