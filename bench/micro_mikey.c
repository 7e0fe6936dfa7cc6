/* Micro-benchmark: I_MESSAGE extraction and decoding per INVITE against a memcpy + base64 floor. */
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "b64.h"
#include "extract.h"
#include "mikey.h"
#include "sipmsg.h"

#define DEFAULT_INPUT	"conf/invite-example.sip"
#define MIN_RUN_NS	1e9	/* each loop runs at least this long per repetition */
#define SLICE_NS	1e7	/* the loops alternate in slices of about this */
#define WARMUP_NS	2e8
#define REPS		5
#define RATIO_TARGET	2.0

/*
 * Results flow into this sink and the barrier makes memory opaque to the
 * optimiser, so neither loop can be hoisted, merged or dropped.
 */
static volatile uint64_t sink;
#define BARRIER()	__asm__ __volatile__("" ::: "memory")

/* Everything both loops need, prepared once before timing. */
struct bench {
	/* (a): what Sofia-SIP would hand the daemon */
	struct strv ct, cte;
	const uint8_t *body;
	size_t body_len;
	uint8_t *arena;
	size_t arena_cap;
	size_t n_items;
	/* (b): the base64 text of each I_MESSAGE, and where the floor copies it */
	const char *text[EXTRACT_MAX_ITEMS];
	size_t text_len[EXTRACT_MAX_ITEMS];
	char *owned[EXTRACT_MAX_ITEMS];	/* the re-encoded texts, freed at the end */
	bool reencoded;
	char *copy;
	uint8_t *out;
	uint64_t failures;
};

/* One measured loop and what was measured. */
struct loop {
	const char *label;
	uint64_t (*fn)(struct bench *, uint64_t);
	uint64_t slice;			/* messages per timed slice */
	uint64_t msgs;			/* messages in the last repetition */
	double per_msg[REPS];		/* ns per message, each repetition */
};

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* (a) the hot path: find every I_MESSAGE in the body and decode each. */
static uint64_t loop_decode(struct bench *b, uint64_t iters)
{
	struct extract_result res;
	struct extract_error xerr;
	struct mikey_msg m;
	struct mikey_error merr;
	uint64_t acc = 0;

	for (uint64_t i = 0; i < iters; i++) {
		if (extract_mikey(b->ct.ptr, b->ct.len, b->cte.ptr, b->cte.len, b->body,
		    b->body_len, b->arena, b->arena_cap, &res, &xerr) < 0) {
			b->failures++;
			continue;
		}
		for (size_t k = 0; k < res.n; k++) {
			if (mikey_decode(res.item[k].data, res.item[k].len, &m, &merr) < 0) {
				b->failures++;
				continue;
			}
			acc += m.n_pl + m.signed_span.len + (uint64_t)m.idr[MIKEY_ROLE_IDRKMSR];
		}
		BARRIER();
	}
	return acc;
}

/* (b) the floor: copy the same base64 text and decode it, nothing else. */
static uint64_t loop_floor(struct bench *b, uint64_t iters)
{
	uint64_t acc = 0;
	size_t out_len;

	for (uint64_t i = 0; i < iters; i++) {
		for (size_t k = 0; k < b->n_items; k++) {
			memcpy(b->copy, b->text[k], b->text_len[k]);
			BARRIER();
			if (b64_decode(b->copy, b->text_len[k], b->out, &out_len, NULL) < 0) {
				b->failures++;
				continue;
			}
			acc += out_len + b->out[0];
		}
		BARRIER();
	}
	return acc;
}

static double run_ns(struct loop *l, struct bench *b, uint64_t iters)
{
	double t0 = now_ns();
	uint64_t acc = l->fn(b, iters);
	double t1 = now_ns();

	sink += acc;
	return t1 - t0;
}

/* Warm up, then find the iterations that fill one slice of about SLICE_NS. */
static void calibrate(struct loop *l, struct bench *b)
{
	uint64_t iters = 1;
	double ns;

	for (double spent = 0; spent < WARMUP_NS;)
		spent += run_ns(l, b, 100);
	while ((ns = run_ns(l, b, iters)) < SLICE_NS / 4)
		iters *= 2;
	l->slice = (uint64_t)((double)iters * SLICE_NS / ns) + 1;
}

/*
 * One repetition: slices of the two loops alternate until each has run for
 * at least MIN_RUN_NS, so that a change in the machine's speed (a shared VM
 * drifts by tens of percent over seconds) hits both alike.
 */
static void run_pair(struct loop *a, struct loop *fl, struct bench *b, int rep)
{
	double ns_a = 0, ns_b = 0;
	uint64_t n_a = 0, n_b = 0;

	while (ns_a < MIN_RUN_NS || ns_b < MIN_RUN_NS) {
		if (ns_a < MIN_RUN_NS) {
			ns_a += run_ns(a, b, a->slice);
			n_a += a->slice;
		}
		if (ns_b < MIN_RUN_NS) {
			ns_b += run_ns(fl, b, fl->slice);
			n_b += fl->slice;
		}
	}
	a->per_msg[rep] = ns_a / (double)n_a;
	fl->per_msg[rep] = ns_b / (double)n_b;
	a->msgs = n_a;
	fl->msgs = n_b;
}

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, c = *(const double *)y;
	return (a > c) - (a < c);
}

static double median(const double *v, size_t n)
{
	double s[REPS];

	memcpy(s, v, n * sizeof(*s));
	qsort(s, n, sizeof(*s), cmp_double);
	return s[n / 2];
}

static double best(const double *v, size_t n)
{
	double m = v[0];

	for (size_t i = 1; i < n; i++)
		if (v[i] < m)
			m = v[i];
	return m;
}

static int read_file(const char *path, char **bufp, size_t *lenp)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t len = 0;

	if (!f)
		return errno ? -errno : -EIO;
	if ((buf = malloc(SIPMSG_MAX_LEN + 1)) == NULL) {
		fclose(f);
		return -ENOMEM;
	}
	len = fread(buf, 1, SIPMSG_MAX_LEN + 1, f);
	int rc = ferror(f) ? -EIO : len > SIPMSG_MAX_LEN ? -EFBIG : 0;
	fclose(f);
	if (rc < 0) {
		free(buf);
		return rc;
	}
	*bufp = buf;
	*lenp = len;
	return 0;
}

/*
 * The base64 text the extraction decodes for each item: the rest of the
 * key-mgmt line for SDP items; an application/mikey body has no line to end
 * it, so the floor uses the canonical encoding of its octets instead.
 */
static int floor_texts(struct bench *b, const struct extract_result *res)
{
	size_t max = 0;

	for (size_t k = 0; k < res->n; k++) {
		const struct extract_item *it = &res->item[k];
		if (it->source != EXTRACT_MIKEY_BODY) {
			const char *t = (const char *)b->body + it->offset;
			size_t n = 0;
			while (it->offset + n < b->body_len && t[n] != '\n')
				n++;
			while (n && (t[n - 1] == '\r' || t[n - 1] == ' ' || t[n - 1] == '\t'))
				n--;
			b->text[k] = t;
			b->text_len[k] = n;
		} else {
			char *t = malloc(B64_ENCODED_LEN(it->len) + 1);
			if (!t)
				return -ENOMEM;
			b->text_len[k] = b64_encode(it->data, it->len, t);
			b->text[k] = b->owned[k] = t;
			b->reencoded = true;
		}
		if (b->text_len[k] > max)
			max = b->text_len[k];
	}
	b->copy = malloc(max + 1);
	b->out = malloc(B64_DECODED_MAX(max) + 1);
	return b->copy && b->out ? 0 : -ENOMEM;
}

/* Stay on the CPU we start on, so that both loops see the same core and cache. */
static int pin_cpu(void)
{
	cpu_set_t set;
	int cpu = sched_getcpu();

	if (cpu < 0)
		return -1;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) == 0 ? cpu : -1;
}

static void report(const struct loop *l, int reps)
{
	double b = best(l->per_msg, (size_t)reps);

	printf("%-26s %8.1f ns/msg %10.0f msg/s", l->label, b, 1e9 / b);
	if (reps > 1)
		printf("   (median %.1f ns, %llu msgs per run)", median(l->per_msg, (size_t)reps),
		    (unsigned long long)l->msgs);
	putchar('\n');
}

static void usage(void)
{
	fprintf(stderr, "usage: micro_mikey [-n ITERATIONS] [SIPMSG]\n");
}

int main(int argc, char **argv)
{
	struct bench b = { .cte = { NULL, 0 } };
	struct loop la = { .label = "(a) extract + decode", .fn = loop_decode };
	struct loop lb = { .label = "(b) memcpy + b64 (floor)", .fn = loop_floor };
	struct extract_result res;
	struct extract_error xerr;
	struct sipmsg sip;
	enum sipmsg_err serr;
	const char *path = DEFAULT_INPUT;
	size_t bad_at, imsg_len = 0, b64_len = 0;
	uint64_t fixed = 0;
	char *text = NULL, *end;
	size_t len = 0;
	int rc, reps = REPS;

	/* -n N: run each loop N times, once, without warm-up (for perf or callgrind). */
	if (argc > 2 && strcmp(argv[1], "-n") == 0) {
		errno = 0;
		fixed = strtoull(argv[2], &end, 10);
		if (errno || *end || end == argv[2] || fixed == 0) {
			usage();
			return 2;
		}
		argc -= 2;
		argv += 2;
		reps = 1;
	}
	if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
		usage();
		return 2;
	}
	if (argc == 2)
		path = argv[1];
	if ((rc = read_file(path, &text, &len)) < 0) {
		fprintf(stderr, "micro_mikey: %s: %s\n", path, strerror(-rc));
		return 1;
	}

	/* Outside the timing: the daemon gets body and Content-Type from Sofia-SIP. */
	if (sipmsg_parse(text, len, &sip, &serr, &bad_at) < 0) {
		fprintf(stderr, "micro_mikey: %s: %s at offset %zu\n", path, sipmsg_strerror(serr),
		    bad_at);
		return 1;
	}
	if (!sipmsg_header(sip.headers, "Content-Type", 'c', &b.ct)) {
		fprintf(stderr, "micro_mikey: %s: no Content-Type\n", path);
		return 1;
	}
	sipmsg_header(sip.headers, "Content-Transfer-Encoding", 0, &b.cte);
	b.body = sip.body;
	b.body_len = sip.body_len;
	b.arena_cap = EXTRACT_ARENA_SIZE(b.body_len);
	if ((b.arena = malloc(b.arena_cap)) == NULL) {
		fprintf(stderr, "micro_mikey: out of memory\n");
		return 1;
	}

	/* One untimed pass checks that there is something to measure. */
	if (extract_mikey(b.ct.ptr, b.ct.len, b.cte.ptr, b.cte.len, b.body, b.body_len, b.arena,
	    b.arena_cap, &res, &xerr) < 0) {
		fprintf(stderr, "micro_mikey: %s: %s at body offset %zu\n", path,
		    extract_strerror(xerr.code), xerr.offset);
		return 1;
	}
	if (res.n == 0) {
		fprintf(stderr, "micro_mikey: %s: no I_MESSAGE in the body\n", path);
		return 1;
	}
	for (size_t k = 0; k < res.n; k++) {
		struct mikey_msg m;
		struct mikey_error merr;
		if (mikey_decode(res.item[k].data, res.item[k].len, &m, &merr) < 0) {
			fprintf(stderr, "micro_mikey: %s: I_MESSAGE %zu: %s at offset %zu\n", path,
			    k + 1, mikey_strerror(merr.code), merr.offset);
			return 1;
		}
		imsg_len += res.item[k].len;
	}
	b.n_items = res.n;
	if (floor_texts(&b, &res) < 0) {
		fprintf(stderr, "micro_mikey: out of memory\n");
		return 1;
	}
	for (size_t k = 0; k < b.n_items; k++)
		b64_len += b.text_len[k];

	int cpu = pin_cpu();
	printf("micro_mikey: %s\n", path);
	printf("  SIP message   %zu octets (body %zu octets, %.*s)\n", len, b.body_len,
	    (int)b.ct.len, b.ct.ptr);
	printf("  I_MESSAGE     %zu found, %zu octets (%zu base64 characters%s)\n", b.n_items,
	    imsg_len, b64_len, b.reencoded ? ", partly re-encoded" : "");
	if (cpu >= 0)
		printf("  timing        CLOCK_MONOTONIC, pinned to CPU %d, ", cpu);
	else
		printf("  timing        CLOCK_MONOTONIC, not pinned, ");
	if (fixed)
		printf("one run of %llu messages each (for profilers: the ratio needs the "
		    "default, interleaved runs)\n", (unsigned long long)fixed);
	else
		printf("best of %d runs of >= %.0f s each, in alternating %.0f ms slices\n",
		    reps, MIN_RUN_NS / 1e9, SLICE_NS / 1e6);
	fflush(stdout);

	if (fixed) {
		la.per_msg[0] = run_ns(&la, &b, fixed) / (double)fixed;
		lb.per_msg[0] = run_ns(&lb, &b, fixed) / (double)fixed;
		la.msgs = lb.msgs = fixed;
	} else {
		calibrate(&la, &b);
		calibrate(&lb, &b);
		for (int i = 0; i < reps; i++)
			run_pair(&la, &lb, &b, i);
	}
	if (b.failures) {
		fprintf(stderr, "micro_mikey: %llu failures inside the timed loops\n",
		    (unsigned long long)b.failures);
		return 1;
	}

	double ratio = best(la.per_msg, (size_t)reps) / best(lb.per_msg, (size_t)reps);
	double paired[REPS];
	for (int i = 0; i < reps; i++)
		paired[i] = la.per_msg[i] / lb.per_msg[i];
	report(&la, reps);
	report(&lb, reps);
	printf("ratio (a)/(b)  %.2f", ratio);
	if (reps > 1)
		printf(" (per run: median %.2f, min %.2f)", median(paired, (size_t)reps),
		    best(paired, (size_t)reps));
	printf(", target <= %.1f: %s\n", RATIO_TARGET,
	    ratio <= RATIO_TARGET ? "within" : "NOT within");
	for (size_t k = 0; k < b.n_items; k++)
		free(b.owned[k]);
	free(b.copy);
	free(b.out);
	free(b.arena);
	free(text);
	return 0;
}
