/* The shared timing harness of the micro-benchmarks (see harness.h). */
#include "config.h"

#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"

static volatile uint64_t sink;

double bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

double bench_run_ns(struct bench_loop *l, uint64_t iters)
{
	double t0 = bench_now_ns();
	uint64_t acc = l->fn(l->ctx, iters);
	double t1 = bench_now_ns();

	sink += acc;
	return t1 - t0;
}

void bench_calibrate(struct bench_loop *l, uint64_t warm)
{
	uint64_t iters = 1;
	double ns;

	for (double spent = 0; spent < BENCH_WARMUP_NS;)
		spent += bench_run_ns(l, warm);
	while ((ns = bench_run_ns(l, iters)) < BENCH_SLICE_NS / 4)
		iters *= 2;
	l->slice = (uint64_t)((double)iters * BENCH_SLICE_NS / ns) + 1;
}

void bench_round(struct bench_loop *const *loops, size_t n, int rep)
{
	double *ns = calloc(n, sizeof(*ns));
	uint64_t *ops = calloc(n, sizeof(*ops));
	bool more = ns && ops;

	while (more) {
		more = false;
		for (size_t k = 0; k < n; k++) {
			if (ns[k] >= BENCH_MIN_RUN_NS)
				continue;
			ns[k] += bench_run_ns(loops[k], loops[k]->slice);
			ops[k] += loops[k]->slice;
			more = more || ns[k] < BENCH_MIN_RUN_NS;
		}
	}
	for (size_t k = 0; ns && ops && k < n; k++) {
		loops[k]->per_op[rep] = ns[k] / (double)ops[k];
		loops[k]->ops = ops[k];
	}
	free(ops);
	free(ns);
}

void bench_fixed(struct bench_loop *const *loops, size_t n, uint64_t iters)
{
	for (size_t k = 0; k < n; k++) {
		loops[k]->per_op[0] = bench_run_ns(loops[k], iters) / (double)iters;
		loops[k]->ops = iters;
	}
}

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, c = *(const double *)y;
	return (a > c) - (a < c);
}

double bench_median(const double *v, size_t n)
{
	double s[64];

	if (n > 64)
		n = 64;
	memcpy(s, v, n * sizeof(*s));
	qsort(s, n, sizeof(*s), cmp_double);
	return s[n / 2];
}

double bench_least(const double *v, size_t n)
{
	double m = v[0];
	for (size_t i = 1; i < n; i++)
		if (v[i] < m)
			m = v[i];
	return m;
}

double bench_most(const double *v, size_t n)
{
	double m = v[0];
	for (size_t i = 1; i < n; i++)
		if (v[i] > m)
			m = v[i];
	return m;
}

int bench_pin_cpu(void)
{
	cpu_set_t set;
	int cpu = sched_getcpu();

	if (cpu < 0)
		return -1;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) == 0 ? cpu : -1;
}
