/*
 * Two functions interposed for the whole process (the SIP stack's shared
 * library calls them through its PLT), so that Sofia-SIP 1.12 cannot hold
 * or exhaust the daemon once it runs:
 *
 *  - getaddrinfo(): next hops are resolved with c-ares (resolve.c), but
 *    Sofia-SIP's transports still call getaddrinfo() for a response to a
 *    Via that names a host where nta has not added a received address (its
 *    505 path answers before it checks the Via; a TCP Via on a UDP request),
 *    and that waits for the system resolver: seconds per datagram when the
 *    DNS server is silent.  Once armed it takes numeric hosts only: such a
 *    response is not sent, the loop goes on.
 *
 *  - msg_next(): nta bounds each message it receives (NTATAG_MAXSIZE), but
 *    the message after the first one on a stream is made by msg_next(),
 *    which does not carry the bound: a pipelined request could be as large
 *    as the peer liked (one Route of 100 000 entries overflowed the stack of
 *    the recursive list parser).  Once armed it gives that message the bound.
 */
#include "config.h"

#include <dlfcn.h>
#include <netdb.h>
#include <stdbool.h>
#include <stddef.h>

#include <sofia-sip/msg.h>
#include <sofia-sip/msg_addr.h>

#include "sofia_guard.h"

static size_t armed_max;	/* 0 until armed */

void sofia_guard_arm(size_t max_message)
{
	armed_max = max_message;
}

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints, struct addrinfo **res)
{
	static int (*next)(const char *, const char *, const struct addrinfo *, struct addrinfo **);

	if (!next && (next = (int (*)(const char *, const char *, const struct addrinfo *,
	    struct addrinfo **))dlsym(RTLD_NEXT, "getaddrinfo")) == NULL)
		return EAI_SYSTEM;
	if (armed_max && node) {
		struct addrinfo h = { .ai_family = AF_UNSPEC };
		if (hints)
			h = *hints;
		h.ai_flags |= AI_NUMERICHOST;
		return next(node, service, &h, res);
	}
	return next(node, service, hints, res);
}

msg_t *msg_next(msg_t *msg)
{
	static msg_t *(*next)(msg_t *);

	if (!next && (next = (msg_t *(*)(msg_t *))dlsym(RTLD_NEXT, "msg_next")) == NULL)
		return NULL;
	msg_t *m = next(msg);
	if (m && armed_max && msg_maxsize(m, 0) == 0)
		msg_maxsize(m, armed_max);
	return m;
}
