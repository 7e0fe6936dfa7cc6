/* Bounds on accepted connections: see conn_guard.h. */
#include "config.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "conn_guard.h"
#include "log.h"

struct conn {
	int fd;
	struct sockaddr_storage peer;
	uint64_t last_ms;	/* accepted, or its last complete message */
};

static bool armed;
static unsigned max_conns;
static struct conn *conns;	/* the open ones, unordered */
static size_t n_conns, cap_conns;
static size_t *slot_of;		/* fd -> index in conns + 1; 0: not ours */
static size_t n_slots;
static uint64_t refused_log_ms;	/* when "connection refused" was last logged */
static unsigned long refused_since_log;

static uint64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

static void peer_text(const struct sockaddr_storage *ss, char *out, size_t cap)
{
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &s->sin_addr, host, sizeof(host));
		port = ntohs(s->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &s->sin6_addr, host, sizeof(host));
		port = ntohs(s->sin6_port);
	}
	snprintf(out, cap, ss->ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", host, port);
}

int conn_guard_limit(unsigned max)
{
	struct rlimit rl;

	max_conns = max;
	if (armed)
		return 0;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -errno;
	n_slots = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (1u << 20) ? (1u << 20) : (size_t)rl.rlim_cur;
	if ((slot_of = calloc(n_slots, sizeof(*slot_of))) == NULL)
		return -ENOMEM;
	armed = true;
	return 0;
}

static void untrack(size_t i)
{
	slot_of[conns[i].fd] = 0;
	if (i != n_conns - 1) {
		conns[i] = conns[n_conns - 1];
		slot_of[conns[i].fd] = i + 1;
	}
	n_conns--;
}

static int (*real_close)(int);

static int close_real(int fd)
{
	if (!real_close && (real_close = (int (*)(int))dlsym(RTLD_NEXT, "close")) == NULL) {
		errno = ENOSYS;
		return -1;
	}
	return real_close(fd);
}

int close(int fd)
{
	if (armed && fd >= 0 && (size_t)fd < n_slots && slot_of[fd])
		untrack(slot_of[fd] - 1);
	return close_real(fd);
}

int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	static int (*next)(int, struct sockaddr *, socklen_t *);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (!next && (next = (int (*)(int, struct sockaddr *, socklen_t *))dlsym(RTLD_NEXT, "accept")) == NULL) {
		errno = ENOSYS;
		return -1;
	}
	int s = next(fd, (struct sockaddr *)&ss, &sl);
	if (s < 0 || !armed)
		goto out;
	uint64_t now = now_ms();
	if ((max_conns && n_conns >= max_conns) || (size_t)s >= n_slots) {
		char peer[INET6_ADDRSTRLEN + 8];
		peer_text(&ss, peer, sizeof(peer));
		close_real(s);
		refused_since_log++;
		if (now - refused_log_ms >= 1000) {
			log_warn("flood: connection from %s closed at once: %zu connections are open (limits.connections "
			    "%u)%s", peer, n_conns, max_conns, refused_since_log > 1 ? ", and others since the last line" : "");
			refused_log_ms = now;
			refused_since_log = 0;
		}
		errno = 0;	/* Sofia-SIP reports nothing for errno 0: no line per refused connection */
		return -1;
	}
	if (n_conns == cap_conns) {
		size_t cap = cap_conns ? 2 * cap_conns : 64;
		struct conn *v = realloc(conns, cap * sizeof(*v));
		if (!v)
			goto out;	/* not counted: the stack still has it */
		conns = v;
		cap_conns = cap;
	}
	conns[n_conns] = (struct conn){ .fd = s, .peer = ss, .last_ms = now };
	slot_of[s] = ++n_conns;
out:
	if (s >= 0 && addr && len) {
		memcpy(addr, &ss, *len < sl ? *len : sl);
		*len = sl;
	}
	return s;
}

static bool same_peer(const struct sockaddr_storage *a, const struct sockaddr *b)
{
	if (a->ss_family != b->sa_family)
		return false;
	if (b->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const struct sockaddr_in *)a, *y = (const struct sockaddr_in *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (b->sa_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)a, *y = (const struct sockaddr_in6 *)b;
		return x->sin6_port == y->sin6_port && memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
	}
	return false;
}

void conn_guard_delivered(const struct sockaddr *peer, uint64_t now)
{
	for (size_t i = 0; peer && i < n_conns; i++)
		if (same_peer(&conns[i].peer, peer)) {
			conns[i].last_ms = now;
			return;
		}
}

size_t conn_guard_close_idle(uint64_t now, unsigned idle_ms)
{
	size_t closed = 0;

	for (size_t i = 0; idle_ms && i < n_conns;) {
		if (now - conns[i].last_ms < idle_ms) {
			i++;
			continue;
		}
		char peer[INET6_ADDRSTRLEN + 8];
		peer_text(&conns[i].peer, peer, sizeof(peer));
		log_warn("connection from %s closed: no complete message for %u s (limits.idle_timeout)", peer,
		    (unsigned)((now - conns[i].last_ms) / 1000));
		shutdown(conns[i].fd, SHUT_RDWR);
		untrack(i);	/* the stack closes it when it sees the end */
		closed++;
	}
	return closed;
}

size_t conn_guard_count(void)
{
	return n_conns;
}
