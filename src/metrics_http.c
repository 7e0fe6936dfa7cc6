/* server.metrics_listen: Prometheus scrapes the daemon's counters over HTTP, served by Sofia-SIP's nth on the SIP event loop. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NTH_SITE_MAGIC_T struct metrics_http
#include <sofia-sip/http_header.h>
#include <sofia-sip/http_status.h>
#include <sofia-sip/http_tag.h>
#include <sofia-sip/nth.h>
#include <sofia-sip/nth_tag.h>

#include "log.h"
#include "metrics.h"
#include "metrics_http.h"

struct metrics_http {
	nth_site_t *site;
	char path[256];
};

/* One request: the exposition for GET (and HEAD) of the path, a short refusal otherwise. */
static int on_http(struct metrics_http *h, nth_site_t *site, nth_request_t *req, const http_t *http, const char *path)
{
	(void)site;
	const char *want = h->path[0] == '/' ? h->path + 1 : h->path;
	http_method_t m = nth_request_method(req);

	/* nth gives the path below the site's, without its leading '/'. */
	if (!path || strcmp(path, want) != 0 || !http || !http->http_request)
		return 404;
	if (m != http_method_get && m != http_method_head) {
		nth_request_treply(req, HTTP_405_NOT_ALLOWED, HTTPTAG_ALLOW_STR("GET, HEAD"), TAG_END());
		nth_request_destroy(req);
		return 405;
	}
	size_t len = 0;
	char *text = metrics_render(PACKAGE_VERSION, &len);
	if (!text) {
		nth_request_treply(req, HTTP_500_INTERNAL_SERVER, TAG_END());
		nth_request_destroy(req);
		return 500;
	}
	nth_request_treply(req, HTTP_200_OK, HTTPTAG_CONTENT_TYPE_STR("text/plain; version=0.0.4; charset=utf-8"),
	    TAG_IF(m == http_method_get, HTTPTAG_PAYLOAD_STR(text)), TAG_END());
	nth_request_destroy(req);
	free(text);
	return 200;
}

struct metrics_http *metrics_http_start(su_root_t *root, const char *url, char *err, size_t errlen)
{
	struct metrics_http *h = calloc(1, sizeof(*h));
	char base[512];
	const char *slash;

	if (!h) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	/* The server is the scheme and authority; the site answers for every path, on_http picks ours. */
	slash = strchr(url + strlen("http://"), '/');
	snprintf(h->path, sizeof(h->path), "%s", slash ? slash : "/");
	snprintf(base, sizeof(base), "%.*s", (int)(slash ? slash - url : (ptrdiff_t)strlen(url)), url);
	h->site = nth_site_create(NULL, on_http, h, (url_string_t const *)base, NTHTAG_ROOT(root), TAG_END());
	if (!h->site) {
		snprintf(err, errlen, "server.metrics_listen: cannot listen on %s: %s", url, strerror(errno));
		free(h);
		return NULL;
	}
	log_info("metrics: serving %s", url);
	return h;
}

void metrics_http_stop(struct metrics_http *h)
{
	if (!h)
		return;
	nth_site_destroy(h->site);
	free(h);
}
