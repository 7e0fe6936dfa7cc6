/*
 * Who may talk to the proxy, and where it may send (server.peers): the
 * peers are addresses (CIDRs) and TLS identities; with them configured,
 * only a peer may send an initial request, and a request goes only where
 * the configuration allows (the next hop, a peer's address or domain).
 * I/O-free: the adapter gives the source address, the TLS identities the
 * connection proved, and the host a request would go to.
 */
#ifndef MCX_ACCESS_H
#define MCX_ACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct conf;

/* One server.peers entry. */
struct access_peer {
	bool is_address;	/* a CIDR (or one address) */
	int family;		/* AF_INET, AF_INET6 */
	uint8_t addr[16];
	unsigned prefix;	/* bits */
	char *identity;		/* a TLS identity: a URI with a scheme, or a DNS name (owned) */
	char *domain;		/* the identity's host: a destination it allows (owned) */
};

struct access {
	struct access_peer *peers;
	size_t n;
	char *next_hop_host;	/* server.next_hop's host, a destination always allowed (owned) */
};

/*
 * Parse one server.peers entry: "192.0.2.0/24", "::1", "[::1]/128",
 * "sip:sdproxy@partner.example", "sdproxy.partner.example".  0, or -EINVAL
 * with why, -ENOMEM.
 */
int access_parse_peer(const char *s, struct access_peer *out, const char **why);
void access_peer_clear(struct access_peer *p);

/* From c's server.peers and next_hop; *out NULL when no peers are set (everyone may send).  0 or -ENOMEM/-EINVAL. */
int access_new(const struct conf *c, struct access **out);
void access_free(struct access *a);

/*
 * Is the source a peer: its address in a CIDR, or one of ids (the TLS
 * identities its connection proved: subjectAltName URIs and DNS names)
 * among the identities?  *which: the entry that matched.
 */
bool access_from_peer(const struct access *a, const struct sockaddr *src, const char *const *ids, size_t n_ids,
    const char **which);

/*
 * May a request be sent to host (an IPv4 or IPv6 literal, with or without
 * brackets, or a DNS name)?  When it is the next hop's host, an address in
 * a peer's CIDR, or the host of a peer's identity.
 */
bool access_may_relay_to(const struct access *a, const char *host);

#endif
