/* The timing harness the micro-benchmarks share: slices of several loops take turns, best of BENCH_REPS. */
#ifndef MCX_BENCH_HARNESS_H
#define MCX_BENCH_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#define BENCH_REPS	5
#define BENCH_MIN_RUN_NS 1e9	/* each loop runs at least this long per repetition */
#define BENCH_SLICE_NS	1e7	/* the loops take turns in slices of about this */
#define BENCH_WARMUP_NS	2e8

/* The barrier makes memory opaque to the optimiser: no loop is hoisted, merged or dropped. */
#define BENCH_BARRIER()	__asm__ __volatile__("" ::: "memory")

/* One measured loop: fn runs iters operations on ctx and returns a value for the sink. */
struct bench_loop {
	const char *label;
	uint64_t (*fn)(void *ctx, uint64_t iters);
	void *ctx;
	uint64_t slice;			/* operations per timed slice */
	uint64_t ops;			/* operations in the last repetition */
	double per_op[BENCH_REPS];	/* ns per operation, each repetition */
};

double bench_now_ns(void);
/* Run iters operations; their ns.  Results go to a volatile sink. */
double bench_run_ns(struct bench_loop *l, uint64_t iters);
/* Warm up in chunks of warm operations, then size a slice of about BENCH_SLICE_NS. */
void bench_calibrate(struct bench_loop *l, uint64_t warm);
/*
 * Repetition rep: slices of the n loops take turns until each has run for
 * BENCH_MIN_RUN_NS, so that the machine's drift (a shared VM varies by tens
 * of percent over seconds) hits them all alike.
 */
void bench_round(struct bench_loop *const *loops, size_t n, int rep);
/* One fixed run of iters operations per loop (for profilers). */
void bench_fixed(struct bench_loop *const *loops, size_t n, uint64_t iters);

double bench_median(const double *v, size_t n);
double bench_least(const double *v, size_t n);
double bench_most(const double *v, size_t n);
/* Stay on the CPU we start on; returns it, or -1. */
int bench_pin_cpu(void);

#endif
