/* Micro-benchmark: I_MESSAGE extraction and decoding per INVITE against a memcpy + base64 floor. */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "harness.h"
#include "extract.h"
#include "mikey.h"
#include "sipread.h"

#define DEFAULT_INPUT	"conf/invite-example.sip"
#define REPS		BENCH_REPS
#define RATIO_TARGET	2.0

/* Everything both loops need, prepared once before timing. */
struct bench {
	/* (a): what Sofia-SIP hands the daemon */
	struct sipread_body sb;
	const uint8_t *body;
	size_t body_len;
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

/* (a) the hot path: find every I_MESSAGE in the body and decode each. */
static uint64_t loop_decode(void *ctx, uint64_t iters)
{
	struct bench *b = ctx;
	struct extract_result res;
	struct extract_error xerr;
	struct mikey_msg m;
	struct mikey_error merr;
	uint64_t acc = 0;

	for (uint64_t i = 0; i < iters; i++) {
		if (extract_mikey(&b->sb.body, &res, &xerr) < 0) {
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
		extract_result_clear(&res);
		BENCH_BARRIER();
	}
	return acc;
}

/* (b) the floor: copy the same base64 text and decode it, nothing else. */
static uint64_t loop_floor(void *ctx, uint64_t iters)
{
	struct bench *b = ctx;
	uint64_t acc = 0;
	size_t out_len;

	for (uint64_t i = 0; i < iters; i++) {
		for (size_t k = 0; k < b->n_items; k++) {
			memcpy(b->copy, b->text[k], b->text_len[k]);
			BENCH_BARRIER();
			if (b64_decode(b->copy, b->text_len[k], b->out, &out_len, NULL) < 0) {
				b->failures++;
				continue;
			}
			acc += out_len + b->out[0];
		}
		BENCH_BARRIER();
	}
	return acc;
}

static int read_file(const char *path, char **bufp, size_t *lenp)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t len = 0;

	if (!f)
		return errno ? -errno : -EIO;
	if ((buf = malloc(SIPREAD_MAX_LEN + 1)) == NULL) {
		fclose(f);
		return -ENOMEM;
	}
	len = fread(buf, 1, SIPREAD_MAX_LEN + 1, f);
	int rc = ferror(f) ? -EIO : len > SIPREAD_MAX_LEN ? -EFBIG : 0;
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

static void report(const struct bench_loop *l, int reps)
{
	double b = bench_least(l->per_op, (size_t)reps);

	printf("%-26s %8.1f ns/msg %10.0f msg/s", l->label, b, 1e9 / b);
	if (reps > 1)
		printf("   (median %.1f ns, %llu msgs per run)", bench_median(l->per_op, (size_t)reps),
		    (unsigned long long)l->ops);
	putchar('\n');
}

static void usage(void)
{
	fprintf(stderr, "usage: micro_mikey [-n ITERATIONS] [SIPMSG]\n");
}

int main(int argc, char **argv)
{
	struct bench b = { .n_items = 0 };
	struct bench_loop la = { .label = "(a) extract + decode", .fn = loop_decode, .ctx = &b };
	struct bench_loop lb = { .label = "(b) memcpy + b64 (floor)", .fn = loop_floor, .ctx = &b };
	struct bench_loop *const loops[] = { &la, &lb };
	struct extract_result res;
	struct extract_error xerr;
	struct sipread_msg *sip;
	char why[160];
	const char *path = DEFAULT_INPUT;
	size_t imsg_len = 0, b64_len = 0;
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
	if (sipread_parse(text, len, false, &sip, why, sizeof(why)) < 0) {
		fprintf(stderr, "micro_mikey: %s: %s\n", path, why);
		return 1;
	}
	if (sipread_body(sipread_sip(sip), &b.sb) < 0 || !b.sb.body.content_type.ptr) {
		fprintf(stderr, "micro_mikey: %s: no Content-Type\n", path);
		return 1;
	}
	b.body = b.sb.body.data;
	b.body_len = b.sb.body.len;

	/* One untimed pass checks that there is something to measure. */
	if (extract_mikey(&b.sb.body, &res, &xerr) < 0) {
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

	int cpu = bench_pin_cpu();
	printf("micro_mikey: %s\n", path);
	printf("  SIP message   %zu octets (body %zu octets, %.*s)\n", len, b.body_len,
	    (int)b.sb.body.content_type.len, b.sb.body.content_type.ptr);
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
		    reps, BENCH_MIN_RUN_NS / 1e9, BENCH_SLICE_NS / 1e6);
	fflush(stdout);

	if (fixed) {
		bench_fixed(loops, 2, fixed);
	} else {
		bench_calibrate(&la, 100);
		bench_calibrate(&lb, 100);
		for (int i = 0; i < reps; i++)
			bench_round(loops, 2, i);
	}
	if (b.failures) {
		fprintf(stderr, "micro_mikey: %llu failures inside the timed loops\n",
		    (unsigned long long)b.failures);
		return 1;
	}

	double ratio = bench_least(la.per_op, (size_t)reps) / bench_least(lb.per_op, (size_t)reps);
	double paired[REPS];
	for (int i = 0; i < reps; i++)
		paired[i] = la.per_op[i] / lb.per_op[i];
	report(&la, reps);
	report(&lb, reps);
	printf("ratio (a)/(b)  %.2f", ratio);
	if (reps > 1)
		printf(" (per run: median %.2f, min %.2f)", bench_median(paired, (size_t)reps),
		    bench_least(paired, (size_t)reps));
	printf(", target <= %.1f: %s\n", RATIO_TARGET,
	    ratio <= RATIO_TARGET ? "within" : "NOT within");
	for (size_t k = 0; k < b.n_items; k++)
		free(b.owned[k]);
	free(b.copy);
	free(b.out);
	extract_result_clear(&res);
	sipread_free(sip);
	free(text);
	return 0;
}
