/* Logging for the daemon: stderr or syslog, levels, and the append-only audit file. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static bool use_stderr = true;
/* stderr is the journal (systemd sets JOURNAL_STREAM): it stamps lines itself and reads <N> priorities. */
static bool to_journal;
static enum conf_log_level max_level = CONF_LOG_INFO;
static char prefix[32];	/* "worker N: " in a worker process */
static int audit_fd = -1;
static bool audit_failing;

static const int syslog_prio[] = {
	[CONF_LOG_ERROR] = LOG_ERR, [CONF_LOG_WARNING] = LOG_WARNING,
	[CONF_LOG_INFO] = LOG_INFO, [CONF_LOG_DEBUG] = LOG_DEBUG,
};
static const char *const level_name[] = {
	[CONF_LOG_ERROR] = "error", [CONF_LOG_WARNING] = "warning",
	[CONF_LOG_INFO] = "info", [CONF_LOG_DEBUG] = "debug",
};

void log_open(bool to_stderr, enum conf_log_level level)
{
	use_stderr = to_stderr;
	to_journal = to_stderr && getenv("JOURNAL_STREAM") != NULL;
	max_level = level;
	if (!to_stderr)
		openlog("mcx-sdproxyd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void log_set_level(enum conf_log_level level)
{
	max_level = level;
}

void log_set_prefix(const char *p)
{
	snprintf(prefix, sizeof(prefix), "%s", p ? p : "");
}

static bool log_enabled(enum conf_log_level level)
{
	return level <= max_level;
}

void log_msg(enum conf_log_level level, const char *fmt, ...)
{
	char text[1024];
	va_list ap;

	if (!log_enabled(level))
		return;
	size_t n = strlen(prefix);
	memcpy(text, prefix, n);
	va_start(ap, fmt);
	vsnprintf(text + n, sizeof(text) - n, fmt, ap);
	va_end(ap);
	/* A log line is one line: control characters from the network are shown, not obeyed. */
	for (char *p = text; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	if (!use_stderr) {
		syslog(syslog_prio[level], "%s", text);
		return;
	}
	if (to_journal) {
		fprintf(stderr, "<%d>%s: %s\n", syslog_prio[level], level_name[level], text);
		return;
	}
	struct timespec ts;
	struct tm tm;
	char stamp[32];
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	/* The program's own name: the tool logs through here too (a directory's troubles). */
	fprintf(stderr, "%s.%03ldZ %s[%ld]: %s: %s\n", stamp, ts.tv_nsec / 1000000L, program_invocation_short_name,
	    (long)getpid(), level_name[level], text);
}

void log_close(void)
{
	if (!use_stderr)
		closelog();
	use_stderr = true;
}

int audit_open(const char *path)
{
	if (!path) {
		audit_close();
		return 0;
	}
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
	if (fd < 0)
		return -errno;
	audit_close();
	audit_fd = fd;
	audit_failing = false;
	return 0;
}

void audit_write(const char *record)
{
	if (audit_fd < 0 || !record)
		return;
	struct iovec iov[2] = { { (void *)record, strlen(record) }, { "\n", 1 } };
	ssize_t want = (ssize_t)(iov[0].iov_len + 1), n;
	do
		n = writev(audit_fd, iov, 2);
	while (n < 0 && errno == EINTR);
	if (n == want) {
		if (audit_failing)
			log_warn("audit log: writing again");
		audit_failing = false;
	} else if (!audit_failing) {
		audit_failing = true;
		log_error("audit log: cannot write (%s): decisions are in this log only until it recovers",
		    n < 0 ? strerror(errno) : "short write");
	}
}

void audit_close(void)
{
	if (audit_fd >= 0)
		close(audit_fd);
	audit_fd = -1;
}
