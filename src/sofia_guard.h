/* Three functions of Sofia-SIP 1.12's, interposed for the daemon: what the SIP stack may do once it runs. */
#ifndef MCX_SOFIA_GUARD_H
#define MCX_SOFIA_GUARD_H

#include <stdbool.h>
#include <stddef.h>

/*
 * From now on getaddrinfo() in this process fails at once for a host name
 * (EAI_NONAME), and every message of a stream is bounded to max_message
 * octets like the first one.
 */
void sofia_guard_arm(size_t max_message);

/*
 * While on, every IPv4/IPv6 socket bound gets SO_REUSEPORT: the workers'
 * shared listening addresses.  exclusive: first check that no one (no
 * other daemon) holds the address, which fails the bind with EADDRINUSE.
 */
void sofia_guard_share_ports(bool on, bool exclusive);

#endif
