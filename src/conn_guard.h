/*
 * Bounds on the TCP and TLS connections peers open to the daemon
 * (limits.connections, limits.idle_timeout).  Sofia-SIP accepts every
 * connection and keeps one that sends half a message for ever: accept()
 * and close() are interposed for the process (the SIP stack calls them
 * through its PLT) to count and remember the connections it accepts.
 */
#ifndef MCX_CONN_GUARD_H
#define MCX_CONN_GUARD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/*
 * From now on accept at most max connections at once (0: no bound): the
 * one over is closed at once, and a line logged (once a second at most).
 * Call it after the listening sockets are bound; again on a reload.
 */
int conn_guard_limit(unsigned max);

/* A complete message came on the connection from peer (IPv4/IPv6 address and port): it is in use. */
void conn_guard_delivered(const struct sockaddr *peer, uint64_t now_ms);

/*
 * Shut down (both ways: the SIP stack then closes it) every connection
 * that has not delivered a complete message for idle_ms since it was
 * accepted or since its last one: silent, or sending half a message.
 * Each is logged.  Returns how many.
 */
size_t conn_guard_close_idle(uint64_t now_ms, unsigned idle_ms);

/* Connections accepted and still open. */
size_t conn_guard_count(void);

#endif
