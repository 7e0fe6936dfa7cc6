/* mcx-sdproxyd: options, configuration generations, signals, daemon life; the SIP work is in proxy.c. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sofia-sip/su.h>
#include <systemd/sd-daemon.h>

#include "keysigner.h"
#include "krr.h"
#include "log.h"
#include "lookup_ldap.h"
#include "metrics.h"
#include "proxy.h"
#include "workers.h"
#include "world.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#define DEFAULT_CONFIG SYSCONFDIR "/mcx-sdproxy/mcx-sdproxy.conf"

enum { EXIT_OK = 0, EXIT_CONFIG = 1, EXIT_USAGE = 2, EXIT_RUNTIME = 3 };

static const char usage[] =
	"usage: mcx-sdproxyd [-c FILE] [-f] [-t] [-d] [-h] [-V]\n"
	"  -c FILE  configuration (default " DEFAULT_CONFIG ")\n"
	"  -f       stay in the foreground and log to stderr\n"
	"  -t       check the configuration and exit\n"
	"  -d       debug logging\n"
	"  -h       this help;  -V  the version\n";

struct daemon {
	const char *config;
	bool debug;
	struct world *world;
	struct proxy *proxy;
	unsigned generation;
	unsigned workers;	/* at the start: 1, or how many worker processes the master runs */
	bool master;		/* this process is the master of workers */
	unsigned index;		/* a worker's, from 0 */
	bool first;		/* the first worker at the start (see struct worker_start) */
	int report_fd;		/* a worker's pipe to the master; -1 alone */
	uint64_t daemon_key;	/* random, drawn before the workers are forked (see proxy.h) */
};

/* One diagnostic per line: to stderr for -t, to the log otherwise. */
static void report(struct conf_diags *d, const char *prefix, bool to_stderr)
{
	for (size_t i = 0; i < d->n; i++) {
		if (to_stderr)
			fprintf(stderr, "%s%s\n", prefix, d->msg[i]);
		else
			log_error("%s%s", prefix, d->msg[i]);
	}
	conf_diags_clear(d);
}

static int load(const char *path, struct world **w, const char *prefix, bool to_stderr)
{
	struct conf_diags d = { 0 };
	int rc = world_load(path, WORLD_ALL, w, &d);

	if (rc == -ENOMEM && d.n == 0)
		conf_diags_add(&d, path, 0, "out of memory");
	report(&d, prefix, to_stderr);
	/* Loading a large lookup table leaves freed heap behind; give it back. */
	malloc_trim(0);
	return rc;
}

static void apply_log_level(const struct daemon *dm)
{
	log_set_level(dm->debug ? CONF_LOG_DEBUG : dm->world->conf->log.level);
}

static void open_audit(const struct conf *c)
{
	int rc = audit_open(c->log.audit);
	if (rc < 0)
		log_error("audit log %s: %s: decisions are logged here only", c->log.audit, strerror(-rc));
}

/*
 * SIGHUP.  Alone or in a worker: the proxy takes the new configuration.  In
 * the master: it checks the file (so that a refusal is logged once) and
 * keeps it for the workers it starts from now on; returns -1 when refused.
 */
static int reload(struct daemon *dm)
{
	struct world *w = NULL;

	if (!dm->master)
		sd_notify(0, "RELOADING=1");
	log_info("reload: reading %s", dm->config);
	world_set_remote_signer(keysigner_sign, (void *)(uintptr_t)(dm->generation + 1));
	int rc = load(dm->config, &w, "reload refused: ", false);
	if (rc == 0 && w->conf->krr.certificate) {
		/* The key is read by a signer process, never here: the master only has it checked. */
		const struct conf *c = w->conf;
		char err[256];
		int k = dm->master ? keysigner_check(c->krr.private_key, c->krr.certificate, err, sizeof(err))
				   : keysigner_start(dm->generation + 1, c->krr.private_key, c->krr.certificate, err,
				       sizeof(err));
		if (k < 0) {
			log_error("reload refused: %s: krr.private_key: %s", dm->config, err);
			world_unref(w);
			w = NULL;
			rc = -EINVAL;
		}
	}
	/* A reload counts once, in the master (or the one process); every process shows its generation. */
	if (dm->master || dm->workers <= 1)
		metrics_reload(rc == 0);
	if (rc < 0) {
		log_error("reload refused: keeping configuration generation %u", dm->generation);
	} else {
		w->generation = ++dm->generation;
		if (dm->master && w->conf->server.workers != dm->world->conf->server.workers)
			log_warn("reload: server.workers changed: it takes effect at the next start");
		if (dm->master && w->conf->server.worker_port_base != dm->world->conf->server.worker_port_base)
			log_warn("reload: server.worker_port_base changed: it takes effect at the next start");
		const char *was = dm->world->conf->server.metrics_listen, *now = w->conf->server.metrics_listen;
		if ((dm->master || dm->workers <= 1) && (!was != !now || (was && strcmp(was, now) != 0)))
			log_warn("reload: server.metrics_listen changed: it takes effect at the next start");
		if (dm->proxy)
			proxy_set_world(dm->proxy, w);
		world_unref(dm->world);
		dm->world = w;
		apply_log_level(dm);
		if (!dm->master)
			open_audit(w->conf);
		log_info("reload: configuration %s loaded (generation %u)", dm->config, dm->generation);
		metrics_generation(dm->generation);
	}
	if (!dm->master)
		sd_notify(0, "READY=1");
	if (dm->report_fd >= 0)
		worker_report(dm->report_fd, dm->index, WORKER_RELOADED);
	return rc < 0 ? -1 : 0;
}

static int master_reload(void *arg)
{
	return reload(arg);
}

static void log_ready(const struct daemon *dm)
{
	const struct conf *cf = dm->world->conf;
	char workers[32] = "";

	if (dm->workers > 1)
		snprintf(workers, sizeof(workers), ", %u workers", dm->workers);
	log_info("ready (%s %s, configuration %s%s)", cf->server.role == CONF_PRIMARY ? "primary" : "partner",
	    cf->server.uri, dm->config, workers);
	if (cf->server.peers.n == 0)
		log_warn("no server.peers: any host may send requests, and they go where they say (open relay)");
	sd_notify(0, "READY=1");
}

static void master_ready(void *arg)
{
	log_ready(arg);
}

static void on_signal(void *arg, int signo)
{
	struct daemon *dm = arg;

	if (signo == SIGHUP) {
		(void)reload(dm);
	} else {
		log_info("stopping (signal %d)", signo);
		if (!dm->master)
			sd_notify(0, "STOPPING=1");
		proxy_stop(dm->proxy);
	}
}

/* The classic detach: fork, new session, stdin/stdout/stderr to /dev/null. */
static int detach(void)
{
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid > 0)
		_exit(EXIT_OK);
	if (setsid() < 0)
		return -errno;
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
	return chdir("/") < 0 ? -errno : 0;
}

/* How many workers server.workers asks for: by default one per core this process may run on. */
static unsigned workers_wanted(const struct conf *c)
{
	if (c->server.workers > 0)
		return (unsigned)c->server.workers;
	cpu_set_t cpus;
	int n = sched_getaffinity(0, sizeof(cpus), &cpus) == 0 ? CPU_COUNT(&cpus) : (int)sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > CONF_WORKERS_MAX ? CONF_WORKERS_MAX : (unsigned)n;
}

/* Proxy SIP until SIGTERM: the only process, or one worker.  Returns the exit status. */
static int serve(struct daemon *dm, const sigset_t *set)
{
	int rc, status = EXIT_RUNTIME;

	open_audit(dm->world->conf);
	if (su_init() < 0) {
		log_error("cannot initialise Sofia-SIP");
		return EXIT_RUNTIME;
	}
	proxy_log_to_ours();
	char err[256];
	const struct conf *c = dm->world->conf;
	if (c->krr.certificate && keysigner_start(dm->generation, c->krr.private_key, c->krr.certificate, err,
	    sizeof(err)) < 0) {
		log_error("krr.private_key: %s", err);
		su_deinit();
		return EXIT_CONFIG;
	}
	struct proxy_worker worker = { .index = dm->index, .count = dm->workers,
		.port_base = dm->world->conf->server.worker_port_base, .daemon_key = dm->daemon_key, .first = dm->first };
	if ((rc = proxy_new(dm->world, &worker, &dm->proxy, err, sizeof(err))) < 0) {
		log_error("%s", err);
		su_deinit();
		return EXIT_RUNTIME;
	}
	bool own;
	for (size_t i = 0; proxy_listening(dm->proxy, i, &own); i++)
		log_info("listening on %s%s", proxy_listening(dm->proxy, i, &own),
		    dm->workers == 1 ? "" : own ? " (this worker's own, for Via and Record-Route)" : " (shared)");
	if (dm->report_fd >= 0)
		worker_report(dm->report_fd, dm->index, WORKER_READY);
	else
		log_ready(dm);

	rc = proxy_run(dm->proxy, set, on_signal, dm);
	if (rc < 0)
		log_error("event loop: %s", strerror(-rc));
	else
		status = EXIT_OK;
	proxy_free(dm->proxy);
	dm->proxy = NULL;
	keysigner_stop();
	su_deinit();
	log_info("stopped");
	return status;
}

/* Load, check or serve; returns the exit status.  Everything it sets up, it tears down. */
static int run(struct daemon *dm, bool foreground, bool check)
{
	int rc, status;

	/* Serving, the KRR private key is read by signer processes alone (keysigner.c); -t checks it here. */
	if (!check)
		world_set_remote_signer(keysigner_sign, (void *)(uintptr_t)1);
	if (load(dm->config, &dm->world, "", true) < 0)
		return EXIT_CONFIG;
	if (check) {
		printf("%s: configuration ok\n", dm->config);
		world_unref(dm->world);
		return EXIT_OK;
	}
	const struct conf *cf = dm->world->conf;
	char kerr[256];
	if (cf->krr.certificate && keysigner_check(cf->krr.private_key, cf->krr.certificate, kerr, sizeof(kerr)) < 0) {
		fprintf(stderr, "%s: krr.private_key: %s\n", dm->config, kerr);
		world_unref(dm->world);
		return EXIT_CONFIG;
	}
	dm->world->generation = dm->generation = 1;
	dm->workers = workers_wanted(dm->world->conf);
	/* The counters' shared mapping, before any fork: a slot for the master (or the one process) and each worker. */
	if (dm->world->conf->server.metrics_listen) {
		if ((rc = metrics_init(1 + (dm->workers > 1 ? dm->workers : 0))) < 0) {
			fprintf(stderr, "mcx-sdproxyd: no memory for the metrics: %s\n", strerror(-rc));
			world_unref(dm->world);
			return EXIT_RUNTIME;
		}
		metrics_started((int64_t)time(NULL), dm->workers);
		metrics_generation(1);
	}
	if (getrandom(&dm->daemon_key, sizeof(dm->daemon_key), 0) != (ssize_t)sizeof(dm->daemon_key)) {
		fprintf(stderr, "mcx-sdproxyd: no random numbers: %s\n", strerror(errno));
		world_unref(dm->world);
		return EXIT_RUNTIME;
	}

	/* Signals are read in the event loop (signalfd), never in a handler; the master also waits for its workers. */
	sigset_t set, master_set;
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	master_set = set;
	sigaddset(&master_set, SIGCHLD);
	sigprocmask(SIG_BLOCK, dm->workers > 1 ? &master_set : &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	status = EXIT_RUNTIME;
	if (!foreground && (rc = detach()) < 0) {
		fprintf(stderr, "mcx-sdproxyd: cannot run in the background: %s\n", strerror(-rc));
		world_unref(dm->world);
		return EXIT_RUNTIME;
	}
	log_open(foreground, CONF_LOG_INFO);
	apply_log_level(dm);
	if (dm->workers == 1) {
		status = serve(dm, &set);
	} else {
		struct workers_ops ops = { .reload = master_reload, .ready = master_ready, .arg = dm };
		dm->master = true;
		struct worker_start ws;
		rc = workers_run(dm->workers, &ops, &master_set, &ws);
		if (rc == 1) {
			dm->master = false;
			dm->index = ws.index;
			metrics_use_slot(ws.index + 1);
			metrics_generation(dm->generation);
			dm->first = ws.first;
			dm->report_fd = ws.report_fd;
			status = serve(dm, &set);
		} else {
			status = rc == 0 ? EXIT_OK : EXIT_RUNTIME;
			log_info("stopped");
		}
	}
	world_unref(dm->world);
	audit_close();
	log_close();
	return status;
}

int main(int argc, char **argv)
{
	struct daemon dm = { .config = DEFAULT_CONFIG, .report_fd = -1 };
	bool foreground = false, check = false;
	int c;

	lookup_register(&lookup_ldap_ops);
	opterr = 0;
	while ((c = getopt(argc, argv, ":c:ftdhV")) != -1) {
		switch (c) {
		case 'c': dm.config = optarg; break;
		case 'f': foreground = true; break;
		case 't': check = true; break;
		case 'd': dm.debug = true; break;
		case 'h': fputs(usage, stdout); return EXIT_OK;
		case 'V': puts("mcx-sdproxyd " PACKAGE_VERSION); return EXIT_OK;
		case ':':
			fprintf(stderr, "mcx-sdproxyd: option -%c needs an argument\n%s", optopt, usage);
			return EXIT_USAGE;
		default:
			fprintf(stderr, "mcx-sdproxyd: unknown option -%c\n%s", optopt, usage);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "mcx-sdproxyd: unexpected argument '%s'\n%s", argv[optind], usage);
		return EXIT_USAGE;
	}
	/* The daemon leaves its folder (chdir /): a reload must still find the file. */
	char *abs_config = realpath(dm.config, NULL);
	if (abs_config)
		dm.config = abs_config;
	int status = EXIT_RUNTIME;
	if (krr_global_init() < 0)
		fprintf(stderr, "mcx-sdproxyd: cannot initialise libxml2/xmlsec\n");
	else
		status = run(&dm, foreground, check);
	krr_global_cleanup();
	free(abs_config);
	return status;
}
