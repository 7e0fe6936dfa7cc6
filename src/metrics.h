/* The daemon's counters, in memory shared by its processes, and their Prometheus text exposition (I/O-free). */
#ifndef MCX_METRICS_H
#define MCX_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Each process of the daemon (the master, each worker; or the one process)
 * counts in a slot of its own in one shared mapping made before the
 * workers are forked: a scrape, answered by any of them, adds every slot
 * up, so it sees the whole daemon, and a worker that died and was started
 * again counts on in its slot (counters never go back).  Every function is
 * a no-op until metrics_init (the tool, the unit tests): counting costs a
 * relaxed atomic add in the process's own slot.
 */

#define METRICS_PAIRS_MAX	64	/* (initiator KMS, receiver KMS) series; the rest under "other" */

enum metrics_krr {
	METRICS_KRR_BUILT,		/* ours, made */
	METRICS_KRR_SIGNED,
	METRICS_KRR_PASSED,		/* a downstream KRR passed upstream unchanged */
	METRICS_KRR_REPLACED,
	METRICS_KRR_DISCARDED,
	METRICS_KRR__COUNT,
};

enum metrics_lookup_outcome {
	METRICS_LOOKUP_FOUND,
	METRICS_LOOKUP_NOT_FOUND,
	METRICS_LOOKUP_FAILED,
	METRICS_LOOKUP__COUNT,
};

enum metrics_refusal {
	METRICS_REFUSED_OVERLOAD,	/* 503 from overload control */
	METRICS_REFUSED_FLOOD,		/* 503 from limits.source_rate */
	METRICS_REFUSED_ACCESS,		/* 403 from server.peers */
	METRICS_REFUSED_TLS,		/* a TLS handshake refused */
	METRICS_REFUSED__COUNT,
};

/* The shared mapping for slots processes (1 + workers); 0, or a negative errno. Call once, before forking. */
int metrics_init(unsigned slots);

/* This process counts in slot i (0: the master or the one process; worker n: n + 1). */
void metrics_use_slot(unsigned i);

bool metrics_enabled(void);

/* A decision (policy_decision_name, its rule) on the KMS pair of the I_MESSAGE decided on (NULL: none). */
void metrics_decision(const char *decision, const char *rule, const char *initiator_kms, const char *receiver_kms);
void metrics_krr(enum metrics_krr event);
/* A downstream KRR's signature: "valid", "invalid", "unsigned" or "malformed". */
void metrics_krr_verified(const char *signature);
/* An invalid downstream signature, by its reason (an enum krr_err: "signature", "certificate", ...). */
void metrics_krr_invalid(int krr_err_code);
void metrics_krr_sign_seconds(double s);
void metrics_krr_verify_seconds(double s);
/* A lookup answered (backend "table" or "ldap"), and how long the backend took for it. */
void metrics_lookup(const char *backend, enum metrics_lookup_outcome o);
void metrics_lookup_seconds(const char *backend, double s);
void metrics_lookup_cache(bool hit);
void metrics_sip_request(const char *method);
void metrics_sip_response(int status);	/* from a next hop */
void metrics_in_flight(unsigned n);	/* this process's transactions in flight (a gauge) */
void metrics_refused(enum metrics_refusal r);
void metrics_generation(unsigned g);	/* the configuration generation in use */
void metrics_reload(bool ok);
void metrics_started(int64_t unix_seconds, unsigned workers);

/*
 * The exposition (Prometheus text format 0.0.4) of every slot added up,
 * version as build_info; malloc'd, NUL-terminated, *len without the NUL;
 * NULL when out of memory or not initialised.
 */
char *metrics_render(const char *version, size_t *len);

/* The text exposition's label value for s: backslash, double quote and newline escaped, control characters '?'. */
size_t metrics_label(char *out, size_t cap, const char *s);

#endif
