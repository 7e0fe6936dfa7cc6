/* getaddrinfo() for numeric hosts only, once the daemon runs: the SIP stack must not block the event loop on DNS. */
#ifndef MCX_DNS_GUARD_H
#define MCX_DNS_GUARD_H

/* From now on getaddrinfo() in this process fails at once for a host name (EAI_NONAME). */
void dns_guard_arm(void);

#endif
