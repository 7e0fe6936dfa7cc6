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
 *
 * And bind(), so that the listening sockets of several worker processes
 * can share their addresses: Sofia-SIP has no option for SO_REUSEPORT, so
 * while sofia_guard_share_ports() is on every socket bound gets it first
 * (the kernel then gives each datagram and each new connection to one of
 * the sockets, by a hash of the source and destination addresses).  Any
 * process of the same user could join such a group, another mcx-sdproxyd
 * started by mistake on the same file among them, and take a share of the
 * traffic: so the first worker at the daemon's start first binds each
 * address without SO_REUSEPORT, which fails when anyone holds it.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sofia-sip/msg.h>
#include <sofia-sip/msg_addr.h>

#include "sofia_guard.h"

static size_t armed_max;	/* 0 until armed */
static bool share_ports, share_exclusive;

void sofia_guard_arm(size_t max_message)
{
	armed_max = max_message;
}

void sofia_guard_share_ports(bool on, bool exclusive)
{
	share_ports = on;
	share_exclusive = on && exclusive;
}

/* Whether addr can be bound by a socket of fd's family and type that shares nothing: no one holds it. */
static int probe_free(int (*real_bind)(int, const struct sockaddr *, socklen_t), int fd,
    const struct sockaddr *addr, socklen_t len)
{
	int type = 0;
	socklen_t tl = sizeof(type);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0)
		return -1;
	int probe = socket(addr->sa_family, type | SOCK_CLOEXEC, 0);
	if (probe < 0)
		return -1;
	/* An IPv6 socket that takes IPv6 only must not be taken to clash with our own IPv4 one on the port. */
	int v6only = 0;
	socklen_t vl = sizeof(v6only);
	if (addr->sa_family == AF_INET6 && getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &vl) == 0)
		(void)setsockopt(probe, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
	int rc = real_bind(probe, addr, len);
	int e = errno;
	close(probe);
	errno = e;
	return rc;
}

int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	static int (*next)(int, const struct sockaddr *, socklen_t);

	if (!next && (next = (int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT, "bind")) == NULL)
		return -1;
	if (share_ports && addr && (addr->sa_family == AF_INET || addr->sa_family == AF_INET6)) {
		int on = 1;
		if (share_exclusive && probe_free(next, fd, addr, len) < 0)
			return -1;
		if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) < 0)
			return -1;
	}
	return next(fd, addr, len);
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
