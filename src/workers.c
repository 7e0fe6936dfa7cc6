/*
 * The master process: forks the workers, restarts one that dies, relays
 * SIGHUP (after checking the configuration itself) and SIGTERM, and speaks
 * for the daemon to systemd (only the main process may).  It holds no
 * socket and does no SIP: a fault in the SIP code takes one worker down,
 * not the daemon.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "log.h"
#include "workers.h"

#define START_TIMEOUT_MS	30000	/* for every worker to listen at the start */
#define STOP_TIMEOUT_MS		10000	/* for every worker to stop before SIGKILL */
#define RELOAD_TIMEOUT_MS	10000	/* for every worker to report its reload */
#define QUICK_DEATH_MS		1000	/* a worker that dies younger than this ... */
#define RESTART_DELAY_MS	1000	/* ... is restarted after this, not at once */

struct worker {
	pid_t pid;		/* 0: not running */
	bool ready;
	bool reload_pending;
	int64_t started_ms;
	int64_t restart_at_ms;	/* 0: none planned */
};

struct master {
	unsigned count;
	struct worker *w;
	const struct workers_ops *ops;
	pid_t self;
	int sigfd, report_r, report_w;
	bool starting, stopping, reloading;
	int64_t start_deadline, stop_deadline, reload_deadline;
	bool failed;
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void worker_report(int fd, unsigned index, enum worker_report what)
{
	unsigned char b[2] = { (unsigned char)index, (unsigned char)what };
	ssize_t n;

	do
		n = write(fd, b, sizeof(b));
	while (n < 0 && errno == EINTR);
}

/* How a worker ended, for the log. */
static void describe_exit(int status, char *out, size_t cap)
{
	if (WIFEXITED(status))
		snprintf(out, cap, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(out, cap, "was killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		snprintf(out, cap, "ended (wait status %d)", status);
}

/* Fork worker i: 1 in the child, 0 in the master, -1 when fork failed (logged). */
static int spawn(struct master *m, unsigned i)
{
	pid_t pid = fork();

	if (pid < 0) {
		log_error("worker %u: cannot fork: %s", i + 1, strerror(errno));
		return -1;
	}
	if (pid == 0) {
		/* The worker ends with the master, whatever ends the master. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != m->self)
			_exit(3);
		sigset_t chld;
		sigemptyset(&chld);
		sigaddset(&chld, SIGCHLD);
		sigprocmask(SIG_UNBLOCK, &chld, NULL);
		/* Only the master speaks to systemd (NotifyAccess=main). */
		unsetenv("NOTIFY_SOCKET");
		char prefix[32];
		snprintf(prefix, sizeof(prefix), "worker %u: ", i + 1);
		log_set_prefix(prefix);
		return 1;
	}
	m->w[i] = (struct worker){ .pid = pid, .started_ms = now_ms() };
	log_info("worker %u started (pid %ld)", i + 1, (long)pid);
	return 0;
}

static unsigned running(const struct master *m)
{
	unsigned n = 0;
	for (unsigned i = 0; i < m->count; i++)
		n += m->w[i].pid != 0;
	return n;
}

static void signal_all(const struct master *m, int signo)
{
	for (unsigned i = 0; i < m->count; i++)
		if (m->w[i].pid)
			kill(m->w[i].pid, signo);
}

static void begin_stop(struct master *m, const char *why)
{
	if (m->stopping)
		return;
	m->stopping = true;
	log_info("stopping (%s): stopping %u worker(s)", why, running(m));
	sd_notify(0, "STOPPING=1");
	signal_all(m, SIGTERM);
	m->stop_deadline = now_ms() + STOP_TIMEOUT_MS;
}

static void reload_done(struct master *m, const char *how)
{
	m->reloading = false;
	for (unsigned i = 0; i < m->count; i++)
		m->w[i].reload_pending = false;
	log_info("reload: %s", how);
	sd_notify(0, "READY=1");
}

/* A reload is done when no running worker still has it pending. */
static void reload_done_if_all(struct master *m, const char *how)
{
	if (!m->reloading)
		return;
	for (unsigned i = 0; i < m->count; i++)
		if (m->w[i].pid && m->w[i].reload_pending)
			return;
	reload_done(m, how);
}

static void on_report(struct master *m)
{
	unsigned char b[2];

	while (read(m->report_r, b, sizeof(b)) == (ssize_t)sizeof(b)) {
		unsigned i = b[0];
		if (i >= m->count || !m->w[i].pid)
			continue;
		if (b[1] == WORKER_READY && !m->w[i].ready) {
			m->w[i].ready = true;
			if (!m->starting)
				log_info("worker %u ready again (pid %ld)", i + 1, (long)m->w[i].pid);
		} else if (b[1] == WORKER_RELOADED) {
			m->w[i].reload_pending = false;
		}
	}
	if (m->starting && !m->stopping) {
		unsigned ready = 0;
		for (unsigned i = 0; i < m->count; i++)
			ready += m->w[i].ready;
		if (ready == m->count) {
			m->starting = false;
			m->ops->ready(m->ops->arg);
		}
	}
	reload_done_if_all(m, "every worker has read the configuration");
}

static void on_child_exits(struct master *m)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		unsigned i;
		for (i = 0; i < m->count && m->w[i].pid != pid; i++)
			;
		if (i == m->count)
			continue;
		char how[96];
		describe_exit(status, how, sizeof(how));
		bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
		int64_t lived = now_ms() - m->w[i].started_ms;
		m->w[i].pid = 0;
		m->w[i].ready = false;
		m->w[i].reload_pending = false;
		if (m->stopping) {
			if (!clean) {
				log_error("worker %u (pid %ld) %s while stopping", i + 1, (long)pid, how);
				m->failed = true;
			}
			continue;
		}
		if (m->starting) {
			log_error("worker %u (pid %ld) %s before it was ready: the daemon cannot start", i + 1, (long)pid, how);
			m->failed = true;
			begin_stop(m, "a worker could not start");
			continue;
		}
		bool quick = lived < QUICK_DEATH_MS;
		log_error("worker %u (pid %ld) %s after %lld ms: restarting it%s", i + 1, (long)pid, how,
		    (long long)lived, quick ? " in 1 s" : "");
		m->w[i].restart_at_ms = now_ms() + (quick ? RESTART_DELAY_MS : 0);
	}
	reload_done_if_all(m, "every running worker has read the configuration");
}

static void on_hup(struct master *m)
{
	if (m->stopping || m->starting)
		return;
	sd_notify(0, "RELOADING=1");
	if (m->ops->reload(m->ops->arg) < 0) {
		sd_notify(0, "READY=1");
		return;
	}
	/* A worker (re)started from now on already has the new configuration; the others read it. */
	for (unsigned i = 0; i < m->count; i++) {
		m->w[i].reload_pending = m->w[i].pid && m->w[i].ready;
		if (m->w[i].reload_pending)
			kill(m->w[i].pid, SIGHUP);
		m->reloading |= m->w[i].reload_pending;
	}
	if (m->reloading)
		m->reload_deadline = now_ms() + RELOAD_TIMEOUT_MS;
	else
		sd_notify(0, "READY=1");
}

/* The next deadline, as a poll timeout (-1: none). */
static int next_timeout(const struct master *m)
{
	int64_t next = INT64_MAX, now = now_ms();

	if (m->starting)
		next = m->start_deadline;
	if (m->stopping && m->stop_deadline < next)
		next = m->stop_deadline;
	if (m->reloading && m->reload_deadline < next)
		next = m->reload_deadline;
	for (unsigned i = 0; !m->stopping && i < m->count; i++)
		if (m->w[i].restart_at_ms && m->w[i].restart_at_ms < next)
			next = m->w[i].restart_at_ms;
	if (next == INT64_MAX)
		return -1;
	return next <= now ? 0 : (int)(next - now > 60000 ? 60000 : next - now);
}

/* Deadlines and planned restarts: 1 when this process is now a new worker (*index). */
static int on_time(struct master *m, unsigned *index)
{
	int64_t now = now_ms();

	if (m->starting && !m->stopping && now >= m->start_deadline) {
		log_error("the workers did not all listen within %d s: the daemon cannot start", START_TIMEOUT_MS / 1000);
		m->failed = true;
		begin_stop(m, "start timed out");
	}
	if (m->stopping && now >= m->stop_deadline && running(m)) {
		log_error("%u worker(s) still running %d s after SIGTERM: killed", running(m), STOP_TIMEOUT_MS / 1000);
		signal_all(m, SIGKILL);
		m->failed = true;
		m->stop_deadline = INT64_MAX;
	}
	if (m->reloading && now >= m->reload_deadline)
		reload_done(m, "some workers did not report within 10 s");
	for (unsigned i = 0; !m->stopping && i < m->count; i++) {
		if (!m->w[i].restart_at_ms || now < m->w[i].restart_at_ms)
			continue;
		m->w[i].restart_at_ms = 0;
		int rc = spawn(m, i);
		if (rc == 1) {
			*index = i;
			return 1;
		}
		if (rc < 0)
			m->w[i].restart_at_ms = now + RESTART_DELAY_MS;
	}
	return 0;
}

/* In a new worker: drop what only the master uses. */
static int become_worker(struct master *m, unsigned i, struct worker_start *out)
{
	close(m->sigfd);
	close(m->report_r);
	out->index = i;
	out->report_fd = m->report_w;
	out->first = m->starting && i == 0;
	free(m->w);
	return 1;
}

int workers_run(unsigned count, const struct workers_ops *ops, const sigset_t *set, struct worker_start *out)
{
	struct master m = { .count = count, .ops = ops, .self = getpid(), .sigfd = -1, .report_r = -1, .report_w = -1 };
	int pipefd[2];

	if ((m.w = calloc(count, sizeof(*m.w))) == NULL) {
		log_error("out of memory");
		return -1;
	}
	if ((m.sigfd = signalfd(-1, set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0 || pipe2(pipefd, O_CLOEXEC) < 0) {
		log_error("cannot set up the master process: %s", strerror(errno));
		if (m.sigfd >= 0)
			close(m.sigfd);
		free(m.w);
		return -1;
	}
	m.report_r = pipefd[0];
	m.report_w = pipefd[1];
	/* The master drains it without blocking; a worker's two-byte write is atomic and may block. */
	fcntl(m.report_r, F_SETFL, fcntl(m.report_r, F_GETFL) | O_NONBLOCK);
	m.starting = true;
	m.start_deadline = now_ms() + START_TIMEOUT_MS;
	/* The first worker alone, which checks that no one else holds the listen addresses; the others once it listens. */
	int rc = spawn(&m, 0);
	if (rc == 1)
		return become_worker(&m, 0, out);
	if (rc < 0) {
		m.failed = true;
		begin_stop(&m, "a worker could not be forked");
	}
	bool all_spawned = count == 1;
	while (!m.stopping || running(&m)) {
		struct pollfd pfd[2] = { { .fd = m.sigfd, .events = POLLIN }, { .fd = m.report_r, .events = POLLIN } };
		if (poll(pfd, 2, next_timeout(&m)) < 0 && errno != EINTR) {
			log_error("master: poll: %s", strerror(errno));
			m.failed = true;
			begin_stop(&m, "internal error");
		}
		if (pfd[1].revents)
			on_report(&m);
		if (!all_spawned && !m.stopping && m.w[0].ready) {
			all_spawned = true;
			for (unsigned i = 1; i < count; i++) {
				rc = spawn(&m, i);
				if (rc == 1)
					return become_worker(&m, i, out);
				if (rc < 0) {
					m.failed = true;
					begin_stop(&m, "a worker could not be forked");
					break;
				}
			}
		}
		struct signalfd_siginfo si;
		while (read(m.sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
			if (si.ssi_signo == SIGCHLD)
				on_child_exits(&m);
			else if (si.ssi_signo == SIGHUP)
				on_hup(&m);
			else
				begin_stop(&m, si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
		}
		unsigned i;
		if (on_time(&m, &i) == 1)
			return become_worker(&m, i, out);
	}
	close(m.sigfd);
	close(m.report_r);
	close(m.report_w);
	free(m.w);
	return m.failed ? -1 : 0;
}
