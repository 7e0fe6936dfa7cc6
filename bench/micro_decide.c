/* Micro-benchmark: policy_decide_invite per second, and config load time, with a 100 000-entry lookup table. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "kms.h"
#include "krr.h"
#include "lookup.h"
#include "policy.h"

#define N_EXACT		99000	/* sip:userN@partner.example */
#define N_WILD		1000	/* sip:groupN-*@partner.example, one every WILD_EVERY entries */
#define WILD_EVERY	100
#define RING		16384	/* prepared INVITEs per loop, cycled (a power of two) */
#define WILD_PERCENT	10	/* of the targets in the mixed loops */
#define MIN_RUN_NS	1e9	/* each loop runs at least this long per repetition */
#define SLICE_NS	1e7	/* the loops take turns in slices of about this */
#define WARMUP_NS	2e8
#define REPS		5
#define LOAD_REPS	5
#define MAX_LOOPS	4
#define RATE_TARGET	200000.0	/* acceptable decisions per second, on one core */
#define NOW		1811000000	/* 2027-05-22: inside every KMS's validity */

#define HOME_KMS	"kms.home.example"
#define WRONG_KMS	"kms.gamma.example"	/* known, never a target's domain: 1a (wrong IDRkmsr) */

/* The KMSs of the generated configuration; domains are drawn from the first four. */
static const struct {
	const char *uri, *role, *from, *to;
} kms_list[] = {
	{ "kms.partner.example", "external", NULL, NULL },
	{ "kms.alpha.example", "external", "2026-01-01T00:00:00Z", "2031-01-01T00:00:00Z" },
	{ "kms.beta.example", "external", NULL, NULL },
	{ "kms.delta.example", "external", "2025-06-01T00:00:00Z", "2030-06-01T00:00:00Z" },
	{ HOME_KMS, "home", NULL, NULL },
	{ WRONG_KMS, "external", NULL, NULL },
};

/*
 * Results flow into this sink and the barrier makes memory opaque to the
 * optimiser, so no loop can be hoisted, merged or dropped.
 */
static volatile uint64_t sink;
#define BARRIER()	__asm__ __volatile__("" ::: "memory")

/* One prepared INVITE and the entry its target must match. */
struct item {
	struct policy_invite inv;
	char *target, *call_id, *expect;
};

/* A ring of INVITEs with the decision each must get. */
struct ring {
	struct item item[RING];
	enum policy_decision want;
	const char *want_rule;
};

/* Everything the loops need, prepared once before timing. */
struct bench {
	struct policy_ctx ctx;
	uint64_t failures;
};

/* One measured loop and what was measured. */
struct loop {
	const char *label;
	const struct ring *ring;
	size_t pos;			/* next item of the ring */
	uint64_t slice;			/* decisions per timed slice */
	uint64_t ops;			/* decisions in the last repetition */
	double per_op[REPS];		/* ns per decision, each repetition */
};

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* The timed body: decide, check the decision, keep a byte of the audit record, clear. */
static uint64_t loop_decide(struct bench *b, struct loop *l, uint64_t iters)
{
	struct policy_outcome o;
	uint64_t acc = 0;
	size_t pos = l->pos;

	for (uint64_t i = 0; i < iters; i++) {
		const struct item *it = &l->ring->item[pos];
		pos = (pos + 1) & (RING - 1);
		if (policy_decide_invite(&b->ctx, &it->inv, NOW, &o) < 0) {
			b->failures++;
			continue;
		}
		if (o.decision != l->ring->want || !o.audit)
			b->failures++;
		else
			acc += (uint64_t)o.status + (unsigned char)o.audit[o.krr_len % 64];
		policy_outcome_clear(&o);
		BARRIER();
	}
	l->pos = pos;
	return acc;
}

static double run_ns(struct loop *l, struct bench *b, uint64_t iters)
{
	double t0 = now_ns();
	uint64_t acc = loop_decide(b, l, iters);
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
 * One repetition: slices of every loop take turns until each has run for at
 * least MIN_RUN_NS, so that a change in the machine's speed (a shared VM
 * drifts by tens of percent over seconds) hits them all alike.
 */
static void run_all(struct loop *const *ls, size_t n, struct bench *b, int rep)
{
	double ns[MAX_LOOPS] = { 0 };
	uint64_t ops[MAX_LOOPS] = { 0 };
	bool more = true;

	while (more) {
		more = false;
		for (size_t k = 0; k < n; k++) {
			if (ns[k] >= MIN_RUN_NS)
				continue;
			ns[k] += run_ns(ls[k], b, ls[k]->slice);
			ops[k] += ls[k]->slice;
			more = more || ns[k] < MIN_RUN_NS;
		}
	}
	for (size_t k = 0; k < n; k++) {
		ls[k]->per_op[rep] = ns[k] / (double)ops[k];
		ls[k]->ops = ops[k];
	}
}

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, c = *(const double *)y;
	return (a > c) - (a < c);
}

static double median(const double *v, size_t n)
{
	double s[LOAD_REPS > REPS ? LOAD_REPS : REPS];

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

/* Stay on the CPU we start on: "one core" is what the target is about. */
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

/* ---- the configuration ---- */

/* Entry x's domains: the first always, a second one for odd x (its KMS never the first's). */
static const char *first_kms(size_t x)
{
	return kms_list[x % 3].uri;
}

static void write_domains(FILE *f, size_t x)
{
	fprintf(f, "domains = ( { kms = \"%s\"; external = [ \"%s\" ]; }", first_kms(x), HOME_KMS);
	if (x & 1)
		fprintf(f, ", { kms = \"%s\"; external = [ \"%s\", \"%s\" ]; }", kms_list[3].uri,
		    HOME_KMS, kms_list[(x + 1) % 3].uri);
	fputs(" ); }", f);
}

/*
 * 100 000 entries: exact ones with a wildcard every WILD_EVERY; entry x (in
 * file order) of either kind takes its domains from x.  Exact user n is
 * entry n + n / (WILD_EVERY - 1), wildcard group m is entry
 * m * WILD_EVERY + WILD_EVERY - 1.
 */
static int write_conf(const char *path, long *size)
{
	FILE *f = fopen(path, "w");
	size_t user = 0, group = 0;

	if (!f)
		return -errno;
	fputs("# Generated by micro_decide: a primary server with a 100 000-entry lookup table.\n"
	      "server = {\n"
	      "  role = \"primary\";\n"
	      "  uri = \"sip:sdproxy@home.example\";\n"
	      "  kms_uri = \"" HOME_KMS "\";\n"
	      "  listen = [ \"sip:127.0.0.1:5060;transport=udp\" ];\n"
	      "};\n"
	      "kms = (\n", f);
	for (size_t i = 0; i < sizeof(kms_list) / sizeof(kms_list[0]); i++) {
		fprintf(f, "  %s{ uri = \"%s\"; role = \"%s\";", i ? "," : " ", kms_list[i].uri,
		    kms_list[i].role);
		if (kms_list[i].from)
			fprintf(f, " valid_from = \"%s\"; valid_to = \"%s\";", kms_list[i].from,
			    kms_list[i].to);
		fputs(" }\n", f);
	}
	fputs(");\n"
	      "lookup = {\n"
	      "  backend = \"table\";\n"
	      "  entries = (\n", f);
	for (size_t x = 0; x < N_EXACT + N_WILD; x++) {
		if (x % WILD_EVERY == WILD_EVERY - 1)
			fprintf(f, "    %s{ user = \"sip:group%zu-*@partner.example\"; ", x ? "," : " ",
			    group++);
		else
			fprintf(f, "    %s{ user = \"sip:user%zu@partner.example\"; ", x ? "," : " ", user++);
		write_domains(f, x);
		fputc('\n', f);
	}
	fputs("  );\n"
	      "};\n"
	      "policy = {\n"
	      "  on_missing_mikey = \"forward\";\n"
	      "  on_malformed_mikey = \"reject\";\n"
	      "  on_unknown_target = \"forward\";\n"
	      "};\n"
	      "log = { level = \"info\"; };\n", f);
	*size = ftell(f);
	if (ferror(f) | fclose(f))
		return -EIO;
	return 0;
}

/* What one load leaves: the daemon keeps all three. */
struct world {
	struct conf *conf;
	struct kms_registry *kms;
	struct lookup *lookup;
};

static void world_free(struct world *w)
{
	lookup_close(w->lookup);
	kms_registry_free(w->kms);
	conf_free(w->conf);
	memset(w, 0, sizeof(*w));
}

/* Heap in use (bytes), to tell what a load keeps from what malloc merely holds on to; -1 when unknown. */
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
#define HAVE_MALLINFO2	1
#else
#define HAVE_MALLINFO2	0
#endif

static double heap_in_use(void)
{
#if HAVE_MALLINFO2
	struct mallinfo2 mi = mallinfo2();
	return (double)(mi.uordblks + mi.hblkhd);
#else
	return -1;
#endif
}

/*
 * Load path as startup and SIGHUP do, timing each step (ms in ms[]) and,
 * when kept is not NULL, outside the timing, the heap each one keeps (bytes
 * in kept[]; mallinfo2 walks the whole heap: a slow call after conf_load).
 */
static int world_load(const char *path, struct world *w, double ms[3], double kept[3])
{
	struct conf_diags d = { 0 };
	char err[256];
	double t0, t1, h0 = kept ? heap_in_use() : 0;
	int rc;

	memset(w, 0, sizeof(*w));
	t0 = now_ns();
	rc = conf_load(path, &w->conf, &d);
	t1 = now_ns();
	ms[0] = (t1 - t0) / 1e6;
	if (kept)
		kept[0] = heap_in_use() - h0;
	if (rc == 0) {
		h0 = kept ? heap_in_use() : 0;
		t0 = now_ns();
		rc = kms_registry_build(w->conf, &w->kms, &d);
		t1 = now_ns();
		ms[1] = (t1 - t0) / 1e6;
		if (kept)
			kept[1] = heap_in_use() - h0;
	}
	for (size_t i = 0; i < d.n && i < 5; i++)
		fprintf(stderr, "micro_decide: %s\n", d.msg[i]);
	conf_diags_clear(&d);
	if (rc == 0) {
		h0 = kept ? heap_in_use() : 0;
		t0 = now_ns();
		rc = lookup_open(w->conf, &w->lookup, err, sizeof(err));
		t1 = now_ns();
		ms[2] = (t1 - t0) / 1e6;
		if (kept)
			kept[2] = heap_in_use() - h0;
		if (rc < 0)
			fprintf(stderr, "micro_decide: lookup: %s\n", err);
	}
	if (rc < 0)
		world_free(w);
	return rc;
}

static long max_rss_kib(void)
{
	struct rusage ru;

	return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : -1;
}

/* Resident set now (KiB), from /proc; -1 when it cannot be read. */
static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long size, res = -1;

	if (f) {
		if (fscanf(f, "%ld %ld", &size, &res) != 2)
			res = -1;
		fclose(f);
	}
	return res < 0 ? -1 : res * (sysconf(_SC_PAGESIZE) / 1024);
}

/* ---- the INVITEs ---- */

/* A small deterministic generator (xorshift64*), so every run decides the same calls. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dULL;
}

/*
 * Fill r: targets spread over the whole table, WILD_PERCENT of them (or all,
 * or none) under a wildcard; acceptable ones name the target's first
 * domain, the others a receiver KMS no domain of the target has.
 */
static int make_ring(struct ring *r, int wild_percent, bool acceptable, uint64_t seed)
{
	static const char from[] = "sip:alice@home.example";

	r->want = acceptable ? POLICY_FORWARD : POLICY_KRR;
	r->want_rule = acceptable ? "4:acceptable" : "1a:receiver-kms";
	for (size_t i = 0; i < RING; i++) {
		struct item *it = &r->item[i];
		bool wild = (int)(rnd(&seed) % 100) < wild_percent;
		size_t x;
		int n1, n2, n3;

		if (wild) {
			size_t m = rnd(&seed) % N_WILD;
			x = m * WILD_EVERY + WILD_EVERY - 1;
			n1 = asprintf(&it->target, "sip:group%zu-%llx@partner.example", m,
			    (unsigned long long)(rnd(&seed) & 0xffffff));
			n2 = asprintf(&it->expect, "sip:group%zu-*@partner.example", m);
		} else {
			size_t n = rnd(&seed) % N_EXACT;
			x = n + n / (WILD_EVERY - 1);
			n1 = asprintf(&it->target, "sip:user%zu@partner.example", n);
			n2 = asprintf(&it->expect, "sip:user%zu@partner.example", n);
		}
		n3 = asprintf(&it->call_id, "%016llx@host-%zu.home.example",
		    (unsigned long long)rnd(&seed), i);
		if (n1 < 0 || n2 < 0 || n3 < 0)
			return -ENOMEM;
		it->inv = (struct policy_invite){
			.request_uri = it->target, .from = from, .to = it->target, .call_id = it->call_id,
			.mikey = POLICY_MIKEY, .idri = from, .idrr = it->target,
			.idrkmsi = HOME_KMS, .idrkmsr = acceptable ? first_kms(x) : WRONG_KMS,
		};
	}
	return 0;
}

static void free_ring(struct ring *r)
{
	for (size_t i = 0; r && i < RING; i++) {
		free(r->item[i].target);
		free(r->item[i].call_id);
		free(r->item[i].expect);
	}
	free(r);
}

/* One untimed pass: the right entry matches and the right decision comes out, for every item. */
static int check_ring(const struct bench *b, const struct ring *r, const char *label)
{
	struct lookup_result res;
	struct policy_outcome o;

	for (size_t i = 0; i < RING; i++) {
		const struct item *it = &r->item[i];
		const char *why = NULL;

		if (lookup_find(b->ctx.lookup, it->target, &res) != LOOKUP_FOUND ||
		    strcmp(res.matched, it->expect) != 0) {
			fprintf(stderr, "micro_decide: %s: %s does not match %s\n", label, it->target,
			    it->expect);
			return -1;
		}
		if (policy_decide_invite(&b->ctx, &it->inv, NOW, &o) < 0) {
			fprintf(stderr, "micro_decide: %s: %s: no decision\n", label, it->target);
			return -1;
		}
		if (o.decision != r->want || strcmp(o.rule, r->want_rule) != 0)
			why = "wrong decision";
		else if (!o.audit || !strstr(o.audit, r->want_rule))
			why = "no audit record";
		else if (r->want == POLICY_KRR && (!o.krr_xml || strstr(o.krr_xml, "Signature")))
			why = "no unsigned KRR";
		if (why)
			fprintf(stderr, "micro_decide: %s: %s: %s (%s, %s)\n", label, it->target, why,
			    policy_decision_name(o.decision), o.rule);
		policy_outcome_clear(&o);
		if (why)
			return -1;
	}
	return 0;
}

static void report(const struct loop *l, int reps)
{
	double b = best(l->per_op, (size_t)reps);

	printf("%-42s %8.0f ns %9.0f /s", l->label, b, 1e9 / b);
	if (reps > 1)
		printf("   (median %.0f ns, %llu per run)", median(l->per_op, (size_t)reps),
		    (unsigned long long)l->ops);
	putchar('\n');
}

static void usage(void)
{
	fprintf(stderr, "usage: micro_decide [-n ITERATIONS] [-o load|accept|krr]\n");
}

int main(int argc, char **argv)
{
	static struct loop la = { .label = "(a) acceptable, mixed targets" };	/* the target's */
	static struct loop lx = { .label = "    exact targets only" };
	static struct loop lw = { .label = "    wildcard targets only" };
	static struct loop lk = { .label = "(b) not acceptable: 488 + unsigned KRR" };
	struct loop *loops[MAX_LOOPS];
	struct ring *ring[4] = { NULL };
	struct bench b = { .failures = 0 };
	struct world w = { NULL, NULL, NULL };
	const char *only = NULL;
	char dir[PATH_MAX], path[PATH_MAX + 32];
	double load[3][LOAD_REPS], total[LOAD_REPS], kept[3] = { 0 };
	uint64_t fixed = 0;
	size_t n_loops = 0;
	long size = 0, rss0, rss_held;
	int c, rc, status = 1, reps = REPS, load_reps = LOAD_REPS;

	while ((c = getopt(argc, argv, "n:o:")) != -1) {
		char *end;
		switch (c) {
		case 'n':
			errno = 0;
			fixed = strtoull(optarg, &end, 10);
			if (errno || *end || end == optarg || fixed == 0) {
				usage();
				return 2;
			}
			reps = load_reps = 1;
			break;
		case 'o':
			only = optarg;
			if (strcmp(only, "load") && strcmp(only, "accept") && strcmp(only, "krr")) {
				usage();
				return 2;
			}
			break;
		default:
			usage();
			return 2;
		}
	}
	if (optind != argc) {
		usage();
		return 2;
	}
	if (krr_global_init() < 0) {
		fprintf(stderr, "micro_decide: cannot initialise libxml2/xmlsec\n");
		return 1;
	}

	const char *tmp = getenv("TMPDIR");
	snprintf(dir, sizeof(dir), "%s/micro_decide.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		fprintf(stderr, "micro_decide: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	snprintf(path, sizeof(path), "%s/mcx-sdproxy.conf", dir);
	if ((rc = write_conf(path, &size)) < 0) {
		fprintf(stderr, "micro_decide: %s: %s\n", path, strerror(-rc));
		goto out;
	}

	int cpu = pin_cpu();
	printf("micro_decide: %d lookup entries (%d exact, %d wildcard), %zu KMSs, no KRR keys\n",
	    N_EXACT + N_WILD, N_EXACT, N_WILD, sizeof(kms_list) / sizeof(kms_list[0]));
	printf("  config        %s, %.1f MB\n", path, (double)size / 1e6);
	if (cpu >= 0)
		printf("  timing        CLOCK_MONOTONIC, pinned to CPU %d\n", cpu);
	else
		printf("  timing        CLOCK_MONOTONIC, not pinned\n");
	fflush(stdout);

	/* 1: load as startup (the first run) and SIGHUP do; the last load stays for the decisions. */
	rss0 = max_rss_kib();
	for (int i = 0; i < load_reps; i++) {
		double ms[3] = { 0 };
		world_free(&w);
		if (world_load(path, &w, ms, i == load_reps - 1 ? kept : NULL) < 0)
			goto out;
		for (int k = 0; k < 3; k++)
			load[k][i] = ms[k];
		total[i] = ms[0] + ms[1] + ms[2];
	}
	rss_held = rss_kib();
	printf("config load (conf_load, kms_registry_build, lookup_open), %d run%s:\n", load_reps,
	    load_reps > 1 ? "s" : "");
	printf("  %-20s %11s %12s %12s %14s\n", "", "first", "best", "median",
	    HAVE_MALLINFO2 ? "heap kept" : "");
	static const char *const step_name[] = { "conf_load", "kms_registry_build", "lookup_open" };
	for (int k = 0; k < 4; k++) {
		const double *v = k < 3 ? load[k] : total;
		double h = k < 3 ? kept[k] : kept[0] + kept[1] + kept[2];
		printf("  %-20s %9.1f ms %9.1f ms %9.1f ms", k < 3 ? step_name[k] : "total", v[0],
		    best(v, (size_t)load_reps), median(v, (size_t)load_reps));
		if (HAVE_MALLINFO2)
			printf(" %11.1f MB", h / 1e6);
		putchar('\n');
	}
	printf("  peak RSS (getrusage) %.1f MB, %.1f MB before loading; resident after: %.1f MB\n",
	    (double)max_rss_kib() / 1024, (double)rss0 / 1024, (double)rss_held / 1024);
	fflush(stdout);
	if (only && strcmp(only, "load") == 0) {
		status = 0;
		goto out;
	}

	/* 2: the INVITEs, each checked once outside the timing. */
	b.ctx = (struct policy_ctx){ .conf = w.conf, .kms = w.kms, .lookup = w.lookup };
	for (int k = 0; k < 4; k++)
		if ((ring[k] = calloc(1, sizeof(*ring[k]))) == NULL) {
			fprintf(stderr, "micro_decide: out of memory\n");
			goto out;
		}
	if (make_ring(ring[0], WILD_PERCENT, true, 1) < 0 || make_ring(ring[1], 0, true, 2) < 0 ||
	    make_ring(ring[2], 100, true, 3) < 0 || make_ring(ring[3], WILD_PERCENT, false, 4) < 0) {
		fprintf(stderr, "micro_decide: out of memory\n");
		goto out;
	}
	la.ring = ring[0];
	lx.ring = ring[1];
	lw.ring = ring[2];
	lk.ring = ring[3];
	if (!only || strcmp(only, "accept") == 0) {
		loops[n_loops++] = &la;
		loops[n_loops++] = &lx;
		loops[n_loops++] = &lw;
	}
	if (!only || strcmp(only, "krr") == 0)
		loops[n_loops++] = &lk;
	for (size_t k = 0; k < n_loops; k++)
		if (check_ring(&b, loops[k]->ring, loops[k]->label) < 0)
			goto out;

	printf("decisions: policy_decide_invite + policy_outcome_clear, rings of %d INVITEs "
	    "(%d%% wildcard targets when mixed), ", RING, WILD_PERCENT);
	if (fixed)
		printf("one run of %llu each (for profilers)\n", (unsigned long long)fixed);
	else
		printf("best of %d runs of >= %.0f s each, in alternating %.0f ms slices\n", reps,
		    MIN_RUN_NS / 1e9, SLICE_NS / 1e6);
	fflush(stdout);
	if (fixed) {
		for (size_t k = 0; k < n_loops; k++) {
			loops[k]->per_op[0] = run_ns(loops[k], &b, fixed) / (double)fixed;
			loops[k]->ops = fixed;
		}
	} else {
		for (size_t k = 0; k < n_loops; k++)
			calibrate(loops[k], &b);
		for (int i = 0; i < reps; i++)
			run_all(loops, n_loops, &b, i);
	}
	if (b.failures) {
		fprintf(stderr, "micro_decide: %llu failures inside the timed loops\n",
		    (unsigned long long)b.failures);
		goto out;
	}
	for (size_t k = 0; k < n_loops; k++)
		report(loops[k], reps);
	if (!only || strcmp(only, "accept") == 0) {
		double rate = 1e9 / best(la.per_op, (size_t)reps);
		printf("target (a) >= %.0f decisions/s on one core: %s (best %.2fx", RATE_TARGET,
		    rate >= RATE_TARGET ? "met" : "NOT met", rate / RATE_TARGET);
		if (reps > 1)
			printf(", median %.2fx", 1e9 / median(la.per_op, (size_t)reps) / RATE_TARGET);
		printf(")\n");
	}
	status = 0;
out:
	for (int k = 0; k < 4; k++)
		free_ring(ring[k]);
	world_free(&w);
	unlink(path);
	rmdir(dir);
	krr_global_cleanup();
	return status;
}
