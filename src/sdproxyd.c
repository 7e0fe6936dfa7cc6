/* mcx-sdproxyd: options, configuration generations, signals, daemon life; the SIP work is in proxy.c. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sofia-sip/su.h>
#include <systemd/sd-daemon.h>

#include "krr.h"
#include "log.h"
#include "proxy.h"
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
	int rc = world_load(path, true, w, &d);

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

static void reload(struct daemon *dm)
{
	struct world *w = NULL;

	sd_notify(0, "RELOADING=1");
	log_info("reload: reading %s", dm->config);
	if (load(dm->config, &w, "reload refused: ", false) < 0) {
		log_error("reload refused: keeping configuration generation %u", dm->generation);
	} else {
		w->generation = ++dm->generation;
		proxy_set_world(dm->proxy, w);
		world_unref(dm->world);
		dm->world = w;
		apply_log_level(dm);
		open_audit(w->conf);
		log_info("reload: configuration %s loaded (generation %u)", dm->config, dm->generation);
	}
	sd_notify(0, "READY=1");
}

static void on_signal(void *arg, int signo)
{
	struct daemon *dm = arg;

	if (signo == SIGHUP) {
		reload(dm);
	} else {
		log_info("stopping (signal %d)", signo);
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

/* Load, check or serve; returns the exit status.  Everything it sets up, it tears down. */
static int run(struct daemon *dm, bool foreground, bool check)
{
	if (load(dm->config, &dm->world, "", true) < 0)
		return EXIT_CONFIG;
	if (check) {
		printf("%s: configuration ok\n", dm->config);
		world_unref(dm->world);
		return EXIT_OK;
	}
	dm->world->generation = dm->generation = 1;

	/* Signals are read in the event loop (signalfd), never in a handler. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	int rc, status = EXIT_RUNTIME;
	if (!foreground && (rc = detach()) < 0) {
		fprintf(stderr, "mcx-sdproxyd: cannot run in the background: %s\n", strerror(-rc));
		world_unref(dm->world);
		return EXIT_RUNTIME;
	}
	log_open(foreground, CONF_LOG_INFO);
	apply_log_level(dm);
	open_audit(dm->world->conf);
	if (su_init() < 0) {
		log_error("cannot initialise Sofia-SIP");
		goto out;
	}
	proxy_log_to_ours();
	char err[256];
	if ((rc = proxy_new(dm->world, &dm->proxy, err, sizeof(err))) < 0) {
		log_error("%s", err);
		su_deinit();
		goto out;
	}
	for (size_t i = 0; proxy_listening(dm->proxy, i); i++)
		log_info("listening on %s", proxy_listening(dm->proxy, i));
	const struct conf *cf = dm->world->conf;
	log_info("ready (%s %s, configuration %s)", cf->server.role == CONF_PRIMARY ? "primary" : "partner",
	    cf->server.uri, dm->config);
	sd_notify(0, "READY=1");

	rc = proxy_run(dm->proxy, &set, on_signal, dm);
	if (rc < 0)
		log_error("event loop: %s", strerror(-rc));
	else
		status = EXIT_OK;
	proxy_free(dm->proxy);
	su_deinit();
	log_info("stopped");
out:
	world_unref(dm->world);
	audit_close();
	log_close();
	return status;
}

int main(int argc, char **argv)
{
	struct daemon dm = { .config = DEFAULT_CONFIG };
	bool foreground = false, check = false;
	int c;

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
