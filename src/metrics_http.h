/* The Prometheus endpoint (server.metrics_listen): an HTTP server on the daemon's own event loop (Sofia-SIP's nth). */
#ifndef MCX_METRICS_HTTP_H
#define MCX_METRICS_HTTP_H

#include <stddef.h>

#include <sofia-sip/su_wait.h>

struct metrics_http;

/*
 * Serve GET url's path (http://HOST:PORT/PATH) on root with metrics_render:
 * any other path is 404, any other method 405.  NULL with a message in err
 * when the address cannot be bound.
 */
struct metrics_http *metrics_http_start(su_root_t *root, const char *url, char *err, size_t errlen);
void metrics_http_stop(struct metrics_http *h);	/* NULL is a no-op */

#endif
