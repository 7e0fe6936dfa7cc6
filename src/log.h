/* The daemon's logs: one line per event to stderr (foreground) or syslog, and the audit log of decisions. */
#ifndef MCX_LOG_H
#define MCX_LOG_H

#include <stdbool.h>

#include "conf.h"

/* to_stderr: the foreground; else syslog (facility daemon, ident "mcx-sdproxyd"). */
void log_open(bool to_stderr, enum conf_log_level level);
void log_set_level(enum conf_log_level level);
/* Put p (a worker's "worker 2: ") before every line from now on; NULL: nothing. */
void log_set_prefix(const char *p);
void log_msg(enum conf_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_close(void);

#define log_error(...)	log_msg(CONF_LOG_ERROR, __VA_ARGS__)
#define log_warn(...)	log_msg(CONF_LOG_WARNING, __VA_ARGS__)
#define log_info(...)	log_msg(CONF_LOG_INFO, __VA_ARGS__)
#define log_debug(...)	log_msg(CONF_LOG_DEBUG, __VA_ARGS__)

/*
 * The audit log (log.audit): JSON lines appended with one write each, so
 * lines from one process never interleave.  audit_open(NULL) closes it;
 * reopening (after logrotate moved the file) is audit_open again.  Returns
 * 0 or a negative errno (the previous file stays open on failure).
 */
int audit_open(const char *path);
/* Append record and a newline; a failure is logged (once per burst), never fatal. */
void audit_write(const char *record);
void audit_close(void);

#endif
