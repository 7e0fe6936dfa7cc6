/* The SIP side of mcx-sdproxyd: a transaction-stateful proxy on Sofia-SIP nta; every Sofia-SIP type stays behind this header. */
#ifndef MCX_PROXY_H
#define MCX_PROXY_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "world.h"

struct proxy;

/* Send Sofia-SIP's own log lines (transport errors, ...) to log.h, as warnings; once, after su_init. */
void proxy_log_to_ours(void);

/*
 * Which worker process this proxy is: index from 0 of count.  A worker
 * shares the server.listen addresses with the others and has its own
 * address besides (port_base + index, or the kernel's choice when
 * port_base is 0) for its Via and Record-Route.
 */
struct proxy_worker {
	unsigned index, count;
	int port_base;
	uint64_t daemon_key;	/* random, the same in every worker: in the loop-detection digest of our branches */
	bool first;		/* the first worker at the daemon's start: the listen addresses must be free */
};

/*
 * Listen on every server.listen URI of w (it takes a reference to w) and
 * get ready to proxy; worker of count 1: the only process.
 * Returns 0 with *out, or a negative errno with a message in err (an
 * address that cannot be bound, say).  su_init and krr_global_init must
 * have run.
 */
int proxy_new(struct world *w, const struct proxy_worker *worker, struct proxy **out, char *err, size_t errlen);

/*
 * The addresses actually bound, one "sip:HOST:PORT;transport=T" at a time
 * (i from 0; NULL after the last); *own (if own is not NULL) says whether it
 * is a worker's own address rather than a shared server.listen one.
 */
const char *proxy_listening(const struct proxy *p, size_t i, bool *own);

/*
 * New transactions use w from now on (the proxy takes a reference); those
 * in flight keep the generation they started with.  server.listen and
 * server.sip_t1 take effect only at a restart: a change is logged.
 */
void proxy_set_world(struct proxy *p, struct world *w);

/* Called from the event loop for each signal of the set given to proxy_run. */
typedef void proxy_signal_fn(void *arg, int signo);

/*
 * Run the event loop until proxy_stop.  The signals of set (blocked by the
 * caller) are taken from a signalfd and handed to on_signal in the loop, so
 * the handler may do anything.  Returns 0, or a negative errno.
 */
int proxy_run(struct proxy *p, const sigset_t *set, proxy_signal_fn *on_signal, void *arg);

/*
 * Stop: requests in flight are cancelled downstream and answered 503
 * upstream, the loop runs briefly so those messages leave, then proxy_run
 * returns.
 */
void proxy_stop(struct proxy *p);
void proxy_free(struct proxy *p);

#endif
