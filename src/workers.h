/* The master process of mcx-sdproxyd with server.workers above 1: it forks, watches and restarts the workers, and relays the signals. */
#ifndef MCX_WORKERS_H
#define MCX_WORKERS_H

#include <signal.h>
#include <stdbool.h>

/* What a worker tells the master over the report pipe: one byte after its index. */
enum worker_report { WORKER_READY = 'R', WORKER_RELOADED = 'H' };

struct workers_ops {
	/* In the master on SIGHUP: load and check the configuration; 0 lets the workers reload, < 0 refuses. */
	int (*reload)(void *arg);
	/* In the master once every worker listens: the "ready" line and READY=1. */
	void (*ready)(void *arg);
	void *arg;
};

/* What a new worker is. */
struct worker_start {
	unsigned index;		/* from 0 */
	int report_fd;		/* for worker_report */
	bool first;		/* the first worker at the daemon's start, alone until it reports ready */
};

/* A worker's report (async-signal-safe: one write of two bytes, atomic on a pipe). */
void worker_report(int fd, unsigned index, enum worker_report what);

/*
 * Run count workers until SIGTERM or SIGINT.  set holds SIGHUP, SIGTERM,
 * SIGINT and SIGCHLD, blocked by the caller.
 *
 * Like fork(), it returns twice: 1 in a new worker, which is to serve as
 * described in *out and tell the master with worker_report() when it
 * listens and when each reload is done (SIGCHLD unblocked, the other
 * signals of set still blocked for its own signalfd); in the master,
 * once every worker has stopped, 0 when they all stopped cleanly, -1 when
 * they could not all start or one did not stop cleanly (logged).
 */
int workers_run(unsigned count, const struct workers_ops *ops, const sigset_t *set, struct worker_start *out);

#endif
