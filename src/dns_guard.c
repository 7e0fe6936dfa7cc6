/*
 * Nothing in the daemon may hold its event loop on DNS once it runs.  Next
 * hops are resolved with c-ares (resolve.c), but Sofia-SIP's transports
 * still call getaddrinfo() for a response to a Via that names a host where
 * nta has not added a received address (its 505 path answers before it
 * checks the Via; a TCP Via on a UDP request), and that waits for the
 * system resolver: seconds per datagram when the DNS server is silent.
 * After dns_guard_arm(), getaddrinfo() in this process takes numeric hosts
 * only: such a response is not sent, the loop goes on.
 */
#include "config.h"

#include <dlfcn.h>
#include <netdb.h>
#include <stdbool.h>
#include <stddef.h>

#include "dns_guard.h"

static bool armed;

void dns_guard_arm(void)
{
	armed = true;
}

/* Interposes the C library's getaddrinfo() for the whole process (the SIP stack's shared library included). */
int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints, struct addrinfo **res)
{
	static int (*next)(const char *, const char *, const struct addrinfo *, struct addrinfo **);

	if (!next && (next = (int (*)(const char *, const char *, const struct addrinfo *,
	    struct addrinfo **))dlsym(RTLD_NEXT, "getaddrinfo")) == NULL)
		return EAI_SYSTEM;
	if (armed && node) {
		struct addrinfo h = { .ai_family = AF_UNSPEC };
		if (hints)
			h = *hints;
		h.ai_flags |= AI_NUMERICHOST;
		return next(node, service, &h, res);
	}
	return next(node, service, hints, res);
}
