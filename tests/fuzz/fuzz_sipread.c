/*
 * Fuzz target: the one SIP reader (src/sipread.c): Sofia-SIP's parser, nta's
 * receive checks, and the facts of the request (headers, every I_MESSAGE of
 * the body), both as the daemon reads a datagram and as the tools read a file.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "request.h"
#include "sipread.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[160];

	for (int daemon = 0; daemon < 2; daemon++) {
		struct sipread_msg *m = NULL;
		if (sipread_parse((const char *)data, size, daemon, &m, err, sizeof(err)) < 0) {
			if (!memchr(err, '\0', sizeof(err)) || !err[0])
				abort();	/* every refusal says why */
			continue;
		}
		struct request_facts *f = sipread_facts(sipread_sip(m));
		if (f) {
			if (f->req.mikey != POLICY_NO_MIKEY && f->req.mikey != POLICY_MIKEY && !f->req.fault)
				abort();
			(void)policy_wants_decision(&f->req);
			request_facts_free(f);
		}
		size_t len = 0;
		const char *krr = sipread_krr_body(sipread_sip(m), &len);
		if (krr && len > size)
			abort();
		sipread_free(m);
	}
	return 0;
}
