/* Peers and destinations: see access.h. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "access.h"
#include "conf.h"

/* An address literal (IPv6 with or without brackets) into family/addr; false when it is none. */
static bool address_of(const char *s, size_t len, int *family, uint8_t addr[16])
{
	char buf[INET6_ADDRSTRLEN + 2];

	if (len >= 2 && s[0] == '[' && s[len - 1] == ']')
		s++, len -= 2;
	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (inet_pton(AF_INET, buf, addr) == 1) {
		*family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, buf, addr) == 1) {
		*family = AF_INET6;
		return true;
	}
	return false;
}

/* A DNS name: letters, digits, '-', '.', labels of 1 to 63, 253 at most. */
static bool dns_name(const char *s)
{
	size_t n = strlen(s), label = 0;

	if (n == 0 || n > 253)
		return false;
	for (; *s; s++) {
		if (*s == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		    *s == '-') {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
	}
	return label > 0;
}

/* The host of "sip:user@host:port;params" (no brackets kept for IPv6), or NULL. */
static char *uri_host(const char *uri)
{
	const char *h = strchr(uri, ':') + 1, *at = strchr(h, '@'), *end;

	if (at)
		h = at + 1;
	if (*h == '[') {
		end = strchr(h, ']');
		return end ? strndup(h + 1, (size_t)(end - h - 1)) : NULL;
	}
	end = h + strcspn(h, ":;?>");
	return end > h ? strndup(h, (size_t)(end - h)) : NULL;
}

int access_parse_peer(const char *s, struct access_peer *out, const char **why)
{
	const char *slash = strchr(s, '/');
	size_t len = slash ? (size_t)(slash - s) : strlen(s);

	memset(out, 0, sizeof(*out));
	*why = NULL;
	if (address_of(s, len, &out->family, out->addr)) {
		unsigned max = out->family == AF_INET ? 32 : 128;
		char *end;
		out->is_address = true;
		out->prefix = max;
		if (slash) {
			unsigned long p = strtoul(slash + 1, &end, 10);
			if (slash[1] < '0' || slash[1] > '9' || *end || p > max) {
				*why = "a prefix length after '/' of 0 to 32 (IPv4) or 128 (IPv6)";
				return -EINVAL;
			}
			out->prefix = (unsigned)p;
		}
		return 0;
	}
	if (slash) {
		*why = "an address before '/'";
		return -EINVAL;
	}
	if (strncasecmp(s, "sip:", 4) == 0 || strncasecmp(s, "sips:", 5) == 0) {
		if ((out->domain = uri_host(s)) == NULL || !out->domain[0] ||
		    (!dns_name(out->domain) && !address_of(out->domain, strlen(out->domain), &(int){ 0 },
		    (uint8_t[16]){ 0 }))) {
			free(out->domain);
			out->domain = NULL;
			*why = "a SIP URI with a host";
			return -EINVAL;
		}
	} else if (dns_name(s)) {
		if ((out->domain = strdup(s)) == NULL)
			return -ENOMEM;
	} else {
		*why = "an address (CIDR), a SIP URI or a DNS name";
		return -EINVAL;
	}
	if ((out->identity = strdup(s)) == NULL) {
		access_peer_clear(out);
		return -ENOMEM;
	}
	return 0;
}

void access_peer_clear(struct access_peer *p)
{
	free(p->identity);
	free(p->domain);
	memset(p, 0, sizeof(*p));
}

int access_new(const struct conf *c, struct access **out)
{
	struct access *a;
	const char *why;
	int rc;

	*out = NULL;
	if (c->server.peers.n == 0)
		return 0;
	if ((a = calloc(1, sizeof(*a))) == NULL || (a->peers = calloc(c->server.peers.n, sizeof(*a->peers))) == NULL) {
		free(a);
		return -ENOMEM;
	}
	for (size_t i = 0; i < c->server.peers.n; i++) {
		if ((rc = access_parse_peer(c->server.peers.v[i], &a->peers[i], &why)) < 0) {
			access_free(a);
			return rc;
		}
		a->n++;
	}
	if (c->server.next_hop && (a->next_hop_host = uri_host(c->server.next_hop)) == NULL) {
		access_free(a);
		return -EINVAL;
	}
	*out = a;
	return 0;
}

void access_free(struct access *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->n; i++)
		access_peer_clear(&a->peers[i]);
	free(a->peers);
	free(a->next_hop_host);
	free(a);
}

static bool in_prefix(const struct access_peer *p, int family, const uint8_t *addr)
{
	unsigned bits = p->prefix, bytes = bits / 8;

	if (p->family != family)
		return false;
	if (memcmp(p->addr, addr, bytes) != 0)
		return false;
	if (bits % 8 == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - bits % 8));
	return (p->addr[bytes] & mask) == (addr[bytes] & mask);
}

/* An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is its IPv4 address. */
static void unmap(int *family, const uint8_t **addr)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (*family == AF_INET6 && memcmp(*addr, mapped, 12) == 0) {
		*family = AF_INET;
		*addr += 12;
	}
}

static bool address_is_peer(const struct access *a, int family, const uint8_t *addr, const char **which)
{
	unmap(&family, &addr);
	for (size_t i = 0; i < a->n; i++)
		if (a->peers[i].is_address && in_prefix(&a->peers[i], family, addr)) {
			if (which)
				*which = NULL;
			return true;
		}
	return false;
}

bool access_from_peer(const struct access *a, const struct sockaddr *src, const char *const *ids, size_t n_ids,
    const char **which)
{
	if (which)
		*which = NULL;
	if (!a)
		return true;
	if (src && src->sa_family == AF_INET &&
	    address_is_peer(a, AF_INET, (const uint8_t *)&((const struct sockaddr_in *)src)->sin_addr, which))
		return true;
	if (src && src->sa_family == AF_INET6 &&
	    address_is_peer(a, AF_INET6, (const uint8_t *)&((const struct sockaddr_in6 *)src)->sin6_addr, which))
		return true;
	for (size_t i = 0; i < a->n; i++)
		for (size_t k = 0; a->peers[i].identity && k < n_ids; k++)
			if (ids[k] && strcasecmp(ids[k], a->peers[i].identity) == 0) {
				if (which)
					*which = a->peers[i].identity;
				return true;
			}
	return false;
}

bool access_may_relay_to(const struct access *a, const char *host)
{
	int family;
	uint8_t addr[16];

	if (!a)
		return true;
	if (!host || !*host)
		return false;
	size_t len = strlen(host);
	const char *bare = host;
	if (len >= 2 && host[0] == '[' && host[len - 1] == ']')
		bare = host + 1, len -= 2;
	if (a->next_hop_host && strlen(a->next_hop_host) == len && strncasecmp(a->next_hop_host, bare, len) == 0)
		return true;
	for (size_t i = 0; i < a->n; i++)
		if (a->peers[i].domain && strlen(a->peers[i].domain) == len &&
		    strncasecmp(a->peers[i].domain, bare, len) == 0)
			return true;
	return address_of(host, strlen(host), &family, addr) && address_is_peer(a, family, addr, NULL);
}
