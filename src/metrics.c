/* The daemon's counters: one slot per process in a shared mapping, added up into the Prometheus text format. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "krr.h"
#include "metrics.h"

#define RULES_MAX	96		/* (decision, rule) series per slot: the rules are a fixed set */
#define RULE_LEN	48
#define DECISION_LEN	16
#define KMS_LEN		128		/* a KMS label longer than this is cut (and counted as such) */
#define N_METHODS	(sizeof(methods) / sizeof(methods[0]))
#define N_BUCKETS	(sizeof(bounds) / sizeof(bounds[0]))

static const char *const methods[] = {
	"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "UPDATE", "PRACK", "MESSAGE", "INFO",
	"REGISTER", "SUBSCRIBE", "NOTIFY", "REFER", "PUBLISH", "other",
};
static const double bounds[] = {	/* seconds; +Inf is the count */
	0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
	0.25, 0.5, 1, 2.5,
};
static const char *const krr_events[METRICS_KRR__COUNT] = { "built", "signed", "passed", "replaced", "discarded" };
static const char *const signatures[] = { "valid", "invalid", "unsigned", "malformed" };
static const char *const outcomes[METRICS_LOOKUP__COUNT] = { "found", "not_found", "failed" };
static const char *const backends[] = { "table", "ldap" };
static const char *const refusals[METRICS_REFUSED__COUNT] = { "overload", "flood", "access", "tls" };

struct hist {
	uint64_t bucket[N_BUCKETS];	/* not cumulative here: added up when rendered */
	uint64_t count;
	uint64_t sum_ns;
};

struct rule_series {
	char decision[DECISION_LEN];
	char rule[RULE_LEN];
	uint64_t n;
};

struct pair_series {
	char initiator[KMS_LEN];
	char receiver[KMS_LEN];
	uint64_t n;
};

/* One process's counts: written by that process alone, read by whichever answers a scrape. */
struct slot {
	uint32_t n_rules, n_pairs;	/* published (release) once the series' labels are written */
	struct rule_series rules[RULES_MAX];
	uint64_t rules_other;
	struct pair_series pairs[METRICS_PAIRS_MAX];
	uint64_t pairs_other;
	uint64_t krr[METRICS_KRR__COUNT];
	uint64_t krr_verified[4];
	uint64_t krr_invalid[KRR_E__COUNT];
	struct hist sign, verify;
	uint64_t lookups[2][METRICS_LOOKUP__COUNT];
	uint64_t cache[2];		/* miss, hit */
	struct hist lookup_time[2];
	uint64_t requests[N_METHODS];
	uint64_t responses[7];		/* 1xx .. 6xx, other */
	uint64_t in_flight;
	uint64_t refused[METRICS_REFUSED__COUNT];
	uint64_t generation;
	uint64_t reloads[2];		/* refused, done */
	uint64_t start_time, workers;
};

static struct slot *slots;
static unsigned n_slots;
static struct slot *mine;

int metrics_init(unsigned count)
{
	void *m;

	if (slots || count == 0)
		return slots ? 0 : -EINVAL;
	m = mmap(NULL, count * sizeof(struct slot), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return -errno;
	slots = m;
	n_slots = count;
	mine = &slots[0];
	return 0;
}

void metrics_use_slot(unsigned i)
{
	if (slots && i < n_slots)
		mine = &slots[i];
}

bool metrics_enabled(void)
{
	return mine != NULL;
}

static void add(uint64_t *c, uint64_t n)
{
	__atomic_fetch_add(c, n, __ATOMIC_RELAXED);
}

static uint64_t get(const uint64_t *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

static void set(uint64_t *c, uint64_t v)
{
	__atomic_store_n(c, v, __ATOMIC_RELAXED);
}

static void observe(struct hist *h, double s)
{
	size_t b = 0;

	while (b < N_BUCKETS && s > bounds[b])
		b++;
	if (b < N_BUCKETS)
		add(&h->bucket[b], 1);
	add(&h->count, 1);
	add(&h->sum_ns, s > 0 ? (uint64_t)(s * 1e9) : 0);
}

static int index_of(const char *const *names, size_t n, const char *s)
{
	for (size_t i = 0; s && i < n; i++)
		if (strcmp(names[i], s) == 0)
			return (int)i;
	return -1;
}

/* A label as it goes in a slot: cut to cap - 1 octets. */
static void copy_label(char *dst, size_t cap, const char *s)
{
	size_t n = strnlen(s ? s : "", cap - 1);
	memcpy(dst, s ? s : "", n);
	dst[n] = '\0';
}

void metrics_decision(const char *decision, const char *rule, const char *ikms, const char *rkms)
{
	struct slot *m = mine;
	uint32_t n;
	size_t i;

	if (!m)
		return;
	n = __atomic_load_n(&m->n_rules, __ATOMIC_RELAXED);
	for (i = 0; i < n; i++)
		if (strcmp(m->rules[i].decision, decision) == 0 && strcmp(m->rules[i].rule, rule) == 0)
			break;
	if (i == n && n < RULES_MAX) {
		copy_label(m->rules[n].decision, DECISION_LEN, decision);
		copy_label(m->rules[n].rule, RULE_LEN, rule);
		__atomic_store_n(&m->n_rules, n + 1, __ATOMIC_RELEASE);
	}
	add(i < RULES_MAX ? &m->rules[i].n : &m->rules_other, 1);
	if (!ikms || !rkms)
		return;
	n = __atomic_load_n(&m->n_pairs, __ATOMIC_RELAXED);
	for (i = 0; i < n; i++)
		if (strncmp(m->pairs[i].initiator, ikms, KMS_LEN - 1) == 0 && strncmp(m->pairs[i].receiver, rkms, KMS_LEN - 1) == 0)
			break;
	if (i == n && n < METRICS_PAIRS_MAX) {
		copy_label(m->pairs[n].initiator, KMS_LEN, ikms);
		copy_label(m->pairs[n].receiver, KMS_LEN, rkms);
		__atomic_store_n(&m->n_pairs, n + 1, __ATOMIC_RELEASE);
	}
	add(i < METRICS_PAIRS_MAX ? &m->pairs[i].n : &m->pairs_other, 1);
}

void metrics_krr(enum metrics_krr e)
{
	if (mine && (unsigned)e < METRICS_KRR__COUNT)
		add(&mine->krr[e], 1);
}

void metrics_krr_verified(const char *signature)
{
	int i = index_of(signatures, 4, signature);

	if (mine && i >= 0)
		add(&mine->krr_verified[i], 1);
}

void metrics_krr_invalid(int code)
{
	if (mine && code >= 0 && code < KRR_E__COUNT)
		add(&mine->krr_invalid[code], 1);
}

void metrics_krr_sign_seconds(double s)
{
	if (mine)
		observe(&mine->sign, s);
}

void metrics_krr_verify_seconds(double s)
{
	if (mine)
		observe(&mine->verify, s);
}

void metrics_lookup(const char *backend, enum metrics_lookup_outcome o)
{
	int b = index_of(backends, 2, backend);

	if (mine && b >= 0 && (unsigned)o < METRICS_LOOKUP__COUNT)
		add(&mine->lookups[b][o], 1);
}

void metrics_lookup_seconds(const char *backend, double s)
{
	int b = index_of(backends, 2, backend);

	if (mine && b >= 0)
		observe(&mine->lookup_time[b], s);
}

void metrics_lookup_cache(bool hit)
{
	if (mine)
		add(&mine->cache[hit], 1);
}

void metrics_sip_request(const char *method)
{
	int i = index_of(methods, N_METHODS - 1, method);

	if (mine)
		add(&mine->requests[i >= 0 ? (size_t)i : N_METHODS - 1], 1);
}

void metrics_sip_response(int status)
{
	if (mine)
		add(&mine->responses[status >= 100 && status < 700 ? status / 100 - 1 : 6], 1);
}

void metrics_in_flight(unsigned n)
{
	if (mine)
		set(&mine->in_flight, n);
}

void metrics_refused(enum metrics_refusal r)
{
	if (mine && (unsigned)r < METRICS_REFUSED__COUNT)
		add(&mine->refused[r], 1);
}

void metrics_generation(unsigned g)
{
	if (mine)
		set(&mine->generation, g);
}

void metrics_reload(bool ok)
{
	if (mine)
		add(&mine->reloads[ok], 1);
}

void metrics_started(int64_t unix_seconds, unsigned workers)
{
	if (mine) {
		set(&mine->start_time, (uint64_t)unix_seconds);
		set(&mine->workers, workers);
	}
}

/* ---- the exposition ---- */

size_t metrics_label(char *out, size_t cap, const char *s)
{
	size_t n = 0;

	for (; s && *s && n + 3 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '\\' || c == '"') {
			out[n++] = '\\';
			out[n++] = (char)c;
		} else if (c == '\n') {
			out[n++] = '\\';
			out[n++] = 'n';
		} else {
			out[n++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
		}
	}
	if (cap)
		out[n < cap ? n : cap - 1] = '\0';
	return n;
}

struct out {
	char *buf;
	size_t len, cap;
	bool failed;
};

__attribute__((format(printf, 2, 3)))
static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->failed = true;
			return;
		}
		if ((size_t)n < o->cap - o->len) {
			o->len += (size_t)n;
			return;
		}
		size_t cap = o->cap * 2 + (size_t)n;
		char *b = realloc(o->buf, cap);
		if (!b) {
			o->failed = true;
			return;
		}
		o->buf = b;
		o->cap = cap;
	}
}

static void head(struct out *o, const char *name, const char *type, const char *help)
{
	put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A counter's total over every slot: the field at offset off of each. */
static uint64_t total(size_t off)
{
	uint64_t t = 0;

	for (unsigned i = 0; i < n_slots; i++)
		t += get((const uint64_t *)(const void *)((const char *)&slots[i] + off));
	return t;
}

#define TOTAL(field) total(offsetof(struct slot, field))

static void histogram(struct out *o, const char *name, const char *labels, size_t off)
{
	uint64_t cum = 0, count = 0, sum = 0;
	const char *sep = labels[0] ? "," : "";

	for (size_t b = 0; b < N_BUCKETS; b++) {
		cum += total(off + offsetof(struct hist, bucket) + b * sizeof(uint64_t));
		put(o, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep, bounds[b], (unsigned long long)cum);
	}
	count = total(off + offsetof(struct hist, count));
	sum = total(off + offsetof(struct hist, sum_ns));
	put(o, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep, (unsigned long long)count);
	put(o, "%s_sum%s%s%s %.9f\n", name, labels[0] ? "{" : "", labels, labels[0] ? "}" : "", (double)sum / 1e9);
	put(o, "%s_count%s%s%s %llu\n", name, labels[0] ? "{" : "", labels, labels[0] ? "}" : "",
	    (unsigned long long)count);
}

static void decisions(struct out *o)
{
	char d[2 * DECISION_LEN], r[2 * RULE_LEN];
	uint64_t other = TOTAL(rules_other);

	head(o, "mcx_sdproxy_decisions_total", "counter", "Decisions made, by decision and by the rule that made it.");
	/* Each slot's series, added to those of the slots before it with the same labels. */
	for (unsigned s = 0; s < n_slots; s++) {
		uint32_t n = __atomic_load_n(&slots[s].n_rules, __ATOMIC_ACQUIRE);
		for (uint32_t i = 0; i < n; i++) {
			const struct rule_series *x = &slots[s].rules[i];
			bool seen = false;
			for (unsigned t = 0; t < s && !seen; t++) {
				uint32_t m = __atomic_load_n(&slots[t].n_rules, __ATOMIC_ACQUIRE);
				for (uint32_t j = 0; j < m && !seen; j++)
					seen = strcmp(slots[t].rules[j].decision, x->decision) == 0 &&
					    strcmp(slots[t].rules[j].rule, x->rule) == 0;
			}
			if (seen)
				continue;
			uint64_t sum = 0;
			for (unsigned t = s; t < n_slots; t++) {
				uint32_t m = __atomic_load_n(&slots[t].n_rules, __ATOMIC_ACQUIRE);
				for (uint32_t j = 0; j < m; j++)
					if (strcmp(slots[t].rules[j].decision, x->decision) == 0 &&
					    strcmp(slots[t].rules[j].rule, x->rule) == 0)
						sum += get(&slots[t].rules[j].n);
			}
			metrics_label(d, sizeof(d), x->decision);
			metrics_label(r, sizeof(r), x->rule);
			put(o, "mcx_sdproxy_decisions_total{decision=\"%s\",rule=\"%s\"} %llu\n", d, r,
			    (unsigned long long)sum);
		}
	}
	if (other)
		put(o, "mcx_sdproxy_decisions_total{decision=\"other\",rule=\"other\"} %llu\n", (unsigned long long)other);
}

/* The KMS pairs, at most METRICS_PAIRS_MAX series in all; what does not fit is "other". */
static void pairs(struct out *o)
{
	char a[2 * KMS_LEN], b[2 * KMS_LEN];
	uint64_t other = TOTAL(pairs_other);
	unsigned shown = 0;

	head(o, "mcx_sdproxy_kms_pair_decisions_total", "counter",
	    "Decisions by the initiator and receiver KMS of the I_MESSAGE decided on (at most 64 pairs, the rest as other).");
	for (unsigned s = 0; s < n_slots; s++) {
		uint32_t n = __atomic_load_n(&slots[s].n_pairs, __ATOMIC_ACQUIRE);
		for (uint32_t i = 0; i < n; i++) {
			const struct pair_series *x = &slots[s].pairs[i];
			bool seen = false;
			for (unsigned t = 0; t < s && !seen; t++) {
				uint32_t m = __atomic_load_n(&slots[t].n_pairs, __ATOMIC_ACQUIRE);
				for (uint32_t j = 0; j < m && !seen; j++)
					seen = strcmp(slots[t].pairs[j].initiator, x->initiator) == 0 &&
					    strcmp(slots[t].pairs[j].receiver, x->receiver) == 0;
			}
			if (seen)
				continue;
			uint64_t sum = 0;
			for (unsigned t = s; t < n_slots; t++) {
				uint32_t m = __atomic_load_n(&slots[t].n_pairs, __ATOMIC_ACQUIRE);
				for (uint32_t j = 0; j < m; j++)
					if (strcmp(slots[t].pairs[j].initiator, x->initiator) == 0 &&
					    strcmp(slots[t].pairs[j].receiver, x->receiver) == 0)
						sum += get(&slots[t].pairs[j].n);
			}
			if (shown == METRICS_PAIRS_MAX) {
				other += sum;
				continue;
			}
			shown++;
			metrics_label(a, sizeof(a), x->initiator);
			metrics_label(b, sizeof(b), x->receiver);
			put(o, "mcx_sdproxy_kms_pair_decisions_total{initiator_kms=\"%s\",receiver_kms=\"%s\"} %llu\n", a, b,
			    (unsigned long long)sum);
		}
	}
	if (other)
		put(o, "mcx_sdproxy_kms_pair_decisions_total{initiator_kms=\"other\",receiver_kms=\"other\"} %llu\n",
		    (unsigned long long)other);
}

char *metrics_render(const char *version, size_t *len)
{
	struct out o = { .cap = 16384 };
	char v[128];

	if (!slots || (o.buf = malloc(o.cap)) == NULL)
		return NULL;
	o.buf[0] = '\0';
	decisions(&o);
	pairs(&o);

	head(&o, "mcx_sdproxy_krr_total", "counter",
	    "KRRs: ours built and signed; downstream ones passed, replaced or discarded.");
	for (size_t i = 0; i < METRICS_KRR__COUNT; i++)
		put(&o, "mcx_sdproxy_krr_total{event=\"%s\"} %llu\n", krr_events[i],
		    (unsigned long long)TOTAL(krr[i]));
	head(&o, "mcx_sdproxy_krr_verifications_total", "counter", "Downstream KRRs by the state of their signature.");
	for (size_t i = 0; i < 4; i++)
		put(&o, "mcx_sdproxy_krr_verifications_total{signature=\"%s\"} %llu\n", signatures[i],
		    (unsigned long long)TOTAL(krr_verified[i]));
	head(&o, "mcx_sdproxy_krr_invalid_total", "counter", "Downstream KRRs whose signature did not verify, by reason.");
	for (int i = 0; i < KRR_E__COUNT; i++)
		if (TOTAL(krr_invalid[i]))
			put(&o, "mcx_sdproxy_krr_invalid_total{reason=\"%s\"} %llu\n", krr_err_name((enum krr_err)i),
			    (unsigned long long)TOTAL(krr_invalid[i]));
	head(&o, "mcx_sdproxy_krr_sign_seconds", "histogram", "Time to sign a KRR (the signer process's part included).");
	histogram(&o, "mcx_sdproxy_krr_sign_seconds", "", offsetof(struct slot, sign));
	head(&o, "mcx_sdproxy_krr_verify_seconds", "histogram", "Time to verify a downstream KRR's signature.");
	histogram(&o, "mcx_sdproxy_krr_verify_seconds", "", offsetof(struct slot, verify));

	head(&o, "mcx_sdproxy_lookups_total", "counter",
	    "Security-domain lookups answered for a decision, by backend and outcome.");
	for (size_t b = 0; b < 2; b++)
		for (size_t i = 0; i < METRICS_LOOKUP__COUNT; i++)
			put(&o, "mcx_sdproxy_lookups_total{backend=\"%s\",outcome=\"%s\"} %llu\n", backends[b], outcomes[i],
			    (unsigned long long)TOTAL(lookups[b][i]));
	head(&o, "mcx_sdproxy_lookup_cache_total", "counter",
	    "The ldap backend's cache: answers found there, and lookups that had to ask the directory.");
	put(&o, "mcx_sdproxy_lookup_cache_total{result=\"hit\"} %llu\n", (unsigned long long)TOTAL(cache[1]));
	put(&o, "mcx_sdproxy_lookup_cache_total{result=\"miss\"} %llu\n", (unsigned long long)TOTAL(cache[0]));
	head(&o, "mcx_sdproxy_lookup_seconds", "histogram",
	    "Time the backend took: a table lookup, or a directory search (from the first request asking to the answer).");
	for (size_t b = 0; b < 2; b++) {
		char l[32];
		snprintf(l, sizeof(l), "backend=\"%s\"", backends[b]);
		histogram(&o, "mcx_sdproxy_lookup_seconds", l, offsetof(struct slot, lookup_time) + b * sizeof(struct hist));
	}

	head(&o, "mcx_sdproxy_sip_requests_total", "counter", "SIP requests received, by method.");
	for (size_t i = 0; i < N_METHODS; i++)
		put(&o, "mcx_sdproxy_sip_requests_total{method=\"%s\"} %llu\n", methods[i],
		    (unsigned long long)TOTAL(requests[i]));
	head(&o, "mcx_sdproxy_sip_responses_total", "counter", "SIP responses received from next hops, by class.");
	for (size_t i = 0; i < 7; i++)
		put(&o, "mcx_sdproxy_sip_responses_total{class=\"%s\"} %llu\n",
		    (const char *const[]){ "1xx", "2xx", "3xx", "4xx", "5xx", "6xx", "other" }[i],
		    (unsigned long long)TOTAL(responses[i]));
	head(&o, "mcx_sdproxy_transactions_in_flight", "gauge",
	    "Requests forwarded and not yet answered, or waiting for the lookup.");
	put(&o, "mcx_sdproxy_transactions_in_flight %llu\n", (unsigned long long)TOTAL(in_flight));
	head(&o, "mcx_sdproxy_refused_total", "counter",
	    "Requests refused before any decision (overload 503, flood 503, access 403) and TLS handshakes refused.");
	for (size_t i = 0; i < METRICS_REFUSED__COUNT; i++)
		put(&o, "mcx_sdproxy_refused_total{reason=\"%s\"} %llu\n", refusals[i],
		    (unsigned long long)TOTAL(refused[i]));

	uint64_t gen = 0, start = 0;
	for (unsigned i = 0; i < n_slots; i++) {
		gen = get(&slots[i].generation) > gen ? get(&slots[i].generation) : gen;
		start = get(&slots[i].start_time) > start ? get(&slots[i].start_time) : start;
	}
	head(&o, "mcx_sdproxy_config_generation", "gauge", "The configuration generation in use (1 at start, one more per reload).");
	put(&o, "mcx_sdproxy_config_generation %llu\n", (unsigned long long)gen);
	head(&o, "mcx_sdproxy_reloads_total", "counter", "Reloads (SIGHUP), done or refused.");
	put(&o, "mcx_sdproxy_reloads_total{result=\"done\"} %llu\n", (unsigned long long)TOTAL(reloads[1]));
	put(&o, "mcx_sdproxy_reloads_total{result=\"refused\"} %llu\n", (unsigned long long)TOTAL(reloads[0]));
	head(&o, "mcx_sdproxy_start_time_seconds", "gauge", "When the daemon started, in Unix seconds.");
	put(&o, "mcx_sdproxy_start_time_seconds %llu\n", (unsigned long long)start);
	head(&o, "mcx_sdproxy_build_info", "gauge", "The daemon's version and its processes (the value is always 1).");
	metrics_label(v, sizeof(v), version);
	put(&o, "mcx_sdproxy_build_info{version=\"%s\",workers=\"%llu\"} 1\n", v, (unsigned long long)TOTAL(workers));
	if (o.failed) {
		free(o.buf);
		return NULL;
	}
	*len = o.len;
	return o.buf;
}
