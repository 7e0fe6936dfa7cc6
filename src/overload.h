/*
 * Overload control (RFC 3261 21.5.4, RFC 7339's spirit without its
 * headers): when the daemon cannot keep up it refuses NEW work early with
 * 503 and Retry-After, and goes on serving the calls it already admitted.
 *
 * I/O-free: the adapter measures (how full the SIP sockets' receive queues
 * are, how many requests are in flight) and asks; this file keeps the
 * hysteresis and the counts, so it starts and stops refusing once per
 * episode, not on every measurement.
 */
#ifndef MCX_OVERLOAD_H
#define MCX_OVERLOAD_H

#include <stdbool.h>

struct overload_limits {
	unsigned queue_high;	/* % of a receive buffer queued: start refusing at or above */
	unsigned queue_low;	/* ... and stop below it (queue_low < queue_high) */
	unsigned max_in_flight;	/* forwarded requests waiting for their final answer: start at or above */
	unsigned retry_after;	/* seconds, in the 503's Retry-After */
};

/* Below max_in_flight by this fraction (in %) before refusing stops. */
#define OVERLOAD_IN_FLIGHT_LOW	90

enum overload_cause { OVERLOAD_NONE, OVERLOAD_QUEUE, OVERLOAD_IN_FLIGHT };

struct overload {
	enum overload_cause cause;	/* NONE: admitting */
	unsigned long refused;		/* in this episode */
	unsigned long refused_total;
	unsigned long episodes;
	unsigned peak_queue;		/* highest queue % seen in this episode */
};

/* What a measurement changed. */
enum overload_change { OVERLOAD_SAME, OVERLOAD_STARTED, OVERLOAD_ENDED };

/*
 * Feed one measurement: queue_pct, the fullest receive queue in % of its
 * buffer; in_flight, requests forwarded and not answered.  Says whether
 * refusing started or ended with it (the caller logs that).
 */
enum overload_change overload_update(struct overload *o, const struct overload_limits *l,
    unsigned queue_pct, unsigned in_flight);

/* May a new initial request come in now?  Counts a refusal when not. */
bool overload_admit(struct overload *o);

#endif
