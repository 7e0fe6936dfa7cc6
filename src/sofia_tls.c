/*
 * SIP over TLS with Sofia-SIP 1.12 (see sofia_tls.h).
 *
 * Sofia-SIP's TLS transport takes a folder of files and a verification
 * policy, and keeps its OpenSSL context to itself.  Three OpenSSL functions
 * are interposed for the whole process (the SIP stack's shared library
 * calls them through its PLT; nothing else in the daemon makes TLS
 * contexts) so that, without patching it:
 *
 *  - SSL_CTX_new(): every context gets TLS 1.2 as its lowest version and an
 *    info callback that logs the fatal alerts of a handshake (a peer without
 *    a certificate, one that refused ours); those made while capturing are
 *    remembered, for a reload;
 *  - SSL_CTX_use_certificate_file(): Sofia-SIP loads only the first
 *    certificate of its file; a peer that does not have our intermediates
 *    needs the whole chain: the file is loaded as a chain;
 *  - SSL_CTX_set_verify(): Sofia-SIP's verify callback is wrapped by one
 *    that logs why a peer's certificate was refused and, with
 *    tls.peer_identities, refuses one that shows none of them (in both
 *    directions: a peer we connect to must be one too);
 *  - SSL_shutdown(): Sofia-SIP calls it only when it frees a connection
 *    (tls_free), then frees the connection's BIO itself and forgets the SSL
 *    object: some 50 kB lost per TLS connection, which a peer opening
 *    connections in a loop would turn into memory exhaustion.  The SSL is
 *    freed here, with one more reference on the BIO for Sofia-SIP's
 *    BIO_free, and one more on the context for its SSL_CTX_free (it frees
 *    the shared context once per connection too: the reference the
 *    forgotten SSL held made up for that).
 */
#include "config.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "log.h"
#include "metrics.h"
#include "sofia_tls.h"
#include "tls_creds.h"

#define AGENT_FILE	"agent.pem"
#define CA_FILE		"cafile.pem"

static bool capturing;
static SSL_CTX **contexts;
static size_t n_contexts, cap_contexts;
static char files_dir[256];		/* the folder being handed to Sofia-SIP, "" when none */
static char **identities;		/* tls.peer_identities */
static size_t n_identities;
static SSL_verify_cb sofia_verify;	/* Sofia-SIP's callback, wrapped */

/* Outgoing handshakes that failed, until the adapter takes them (sofia_tls_take_refused). */
#define REFUSED_MAX 32
static struct refused {
	char host[INET6_ADDRSTRLEN];
	unsigned port;
	char why[160];
} refused[REFUSED_MAX];
static size_t n_refused;

/* ---- what a log line says of a connection ---- */

/* The peer's address; false when the socket has none (already closed). */
static bool peer_address(const SSL *ssl, char host[INET6_ADDRSTRLEN], unsigned *port)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd = ssl ? SSL_get_fd(ssl) : -1;

	if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
		return false;
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)&ss;
		*port = ntohs(s->sin_port);
		return inet_ntop(AF_INET, &s->sin_addr, host, INET6_ADDRSTRLEN) != NULL;
	}
	if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)&ss;
		*port = ntohs(s->sin6_port);
		return inet_ntop(AF_INET6, &s->sin6_addr, host, INET6_ADDRSTRLEN) != NULL;
	}
	return false;
}

/* An outgoing handshake failed: queue it for the transactions waiting on it (once per peer). */
static void note_refused(const SSL *ssl, const char *why)
{
	char host[INET6_ADDRSTRLEN];
	unsigned port = 0;

	if (!ssl || SSL_is_server(ssl) || !peer_address(ssl, host, &port))
		return;
	for (size_t i = 0; i < n_refused; i++)
		if (refused[i].port == port && strcmp(refused[i].host, host) == 0)
			return;
	if (n_refused == REFUSED_MAX)
		return;		/* the rest wait for their timers */
	snprintf(refused[n_refused].host, sizeof(refused[0].host), "%s", host);
	refused[n_refused].port = port;
	snprintf(refused[n_refused].why, sizeof(refused[0].why), "%s", why);
	n_refused++;
}

void sofia_tls_take_refused(sofia_tls_refused_fn *fn, void *arg)
{
	size_t n = n_refused;
	struct refused copy[REFUSED_MAX];

	memcpy(copy, refused, n * sizeof(copy[0]));
	n_refused = 0;
	for (size_t i = 0; i < n; i++)
		fn(arg, copy[i].host, copy[i].port, copy[i].why);
}

static void peer_text(const SSL *ssl, char *out, size_t cap)
{
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	peer_address(ssl, host, &port);
	snprintf(out, cap, "%s %s%s%s:%u", ssl && SSL_is_server(ssl) ? "from" : "to",
	    strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "", port);
}

/* OpenSSL 3.0 has no words for TLS 1.3's alert 116. */
static const char *alert_text(int ret)
{
	return (ret & 0xff) == 116 ? "certificate required (the peer sent no certificate)" :
	    SSL_alert_desc_string_long(ret);
}

static void on_info(const SSL *ssl, int where, int ret)
{
	char peer[80], why[160], host[INET6_ADDRSTRLEN];
	unsigned port;

	if (!(where & SSL_CB_ALERT) || strcmp(SSL_alert_type_string(ret), "F") != 0)
		return;
	if (!peer_address(ssl, host, &port)) {
		/* a connection already gone (an alert on its way out): nothing a peer can be told of */
		log_debug("TLS: fatal alert \"%s\" on a closed connection", alert_text(ret));
		return;
	}
	peer_text(ssl, peer, sizeof(peer));
	snprintf(why, sizeof(why), "%s the alert \"%s\"", where & SSL_CB_WRITE ? "we sent" : "it sent", alert_text(ret));
	if (!SSL_is_init_finished(ssl)) {
		note_refused(ssl, why);
		metrics_refused(METRICS_REFUSED_TLS);
	}
	if (where & SSL_CB_WRITE)
		log_warn("TLS %s: %s: %s", peer, SSL_is_init_finished(ssl) ? "connection closed" : "handshake refused", why);
	else
		log_warn("TLS %s: %s by the peer: %s", peer, SSL_is_init_finished(ssl) ? "connection closed" :
		    "handshake refused", why);
}

static int verify(int ok, X509_STORE_CTX *st)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(st, SSL_get_ex_data_X509_STORE_CTX_idx());
	X509 *cert = X509_STORE_CTX_get_current_cert(st);
	int depth = X509_STORE_CTX_get_error_depth(st);
	char peer[80], subject[256] = "?", shown[512];

	if (sofia_verify)
		ok = sofia_verify(ok, st);
	if (!ssl || !(SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER))
		return ok;
	if (cert)
		X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof(subject));
	if (!ok) {
		peer_text(ssl, peer, sizeof(peer));
		log_warn("TLS %s: certificate refused: %s (depth %d, %s)", peer,
		    X509_verify_cert_error_string(X509_STORE_CTX_get_error(st)), depth, subject);
		note_refused(ssl, X509_verify_cert_error_string(X509_STORE_CTX_get_error(st)));
		return 0;
	}
	if (depth == 0 && n_identities && cert &&
	    !tls_identity_match(cert, (const char *const *)identities, n_identities, shown, sizeof(shown))) {
		peer_text(ssl, peer, sizeof(peer));
		log_warn("TLS %s: certificate refused: it shows none of tls.peer_identities (it shows %s)", peer, shown);
		note_refused(ssl, "its certificate shows none of tls.peer_identities");
		X509_STORE_CTX_set_error(st, X509_V_ERR_APPLICATION_VERIFICATION);
		return 0;
	}
	return ok;
}

/* ---- the interposed functions ---- */

SSL_CTX *SSL_CTX_new(const SSL_METHOD *method)
{
	static SSL_CTX *(*next)(const SSL_METHOD *);
	SSL_CTX *ctx;

	if (!next && (next = (SSL_CTX *(*)(const SSL_METHOD *))dlsym(RTLD_NEXT, "SSL_CTX_new")) == NULL)
		return NULL;
	if ((ctx = next(method)) == NULL)
		return NULL;
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION)) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_info_callback(ctx, on_info);
	if (capturing) {
		if (n_contexts == cap_contexts) {
			size_t cap = cap_contexts ? 2 * cap_contexts : 8;
			SSL_CTX **v = realloc(contexts, cap * sizeof(*v));
			if (!v) {
				SSL_CTX_free(ctx);
				return NULL;
			}
			contexts = v;
			cap_contexts = cap;
		}
		contexts[n_contexts++] = ctx;	/* Sofia-SIP frees it when the agent goes; so does the daemon's end */
	}
	return ctx;
}

int SSL_CTX_use_certificate_file(SSL_CTX *ctx, const char *file, int type)
{
	static int (*next)(SSL_CTX *, const char *, int);
	size_t dl = strlen(files_dir);

	if (dl && type == SSL_FILETYPE_PEM && file && strncmp(file, files_dir, dl) == 0 && file[dl] == '/')
		return SSL_CTX_use_certificate_chain_file(ctx, file);
	if (!next && (next = (int (*)(SSL_CTX *, const char *, int))dlsym(RTLD_NEXT,
	    "SSL_CTX_use_certificate_file")) == NULL)
		return 0;
	return next(ctx, file, type);
}

void SSL_CTX_set_verify(SSL_CTX *ctx, int mode, SSL_verify_cb cb)
{
	static void (*next)(SSL_CTX *, int, SSL_verify_cb);

	if (!next && (next = (void (*)(SSL_CTX *, int, SSL_verify_cb))dlsym(RTLD_NEXT, "SSL_CTX_set_verify")) == NULL)
		return;
	if (cb && cb != verify)
		sofia_verify = cb;
	next(ctx, mode, cb ? verify : NULL);
}

int SSL_shutdown(SSL *ssl)
{
	static int (*next)(SSL *);

	if (!next && (next = (int (*)(SSL *))dlsym(RTLD_NEXT, "SSL_shutdown")) == NULL)
		return -1;
	int rc = next(ssl);
	BIO *r = ssl ? SSL_get_rbio(ssl) : NULL;
	/* Sofia-SIP's pattern: one socket BIO for both directions (SSL_set_bio(ssl, b, b)); anything else is left alone. */
	SSL_CTX *ctx = ssl ? SSL_get_SSL_CTX(ssl) : NULL;
	if (r && r == SSL_get_wbio(ssl) && ctx && BIO_up_ref(r)) {
		if (SSL_CTX_up_ref(ctx))
			SSL_free(ssl);
		else
			BIO_free(r);
	}
	ERR_clear_error();
	return rc;
}

/* ---- the files ---- */

static int copy_into(int out, const char *path, char *err, size_t errlen)
{
	char buf[4096];
	int in = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (in < 0) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	while ((n = read(in, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || write(out, buf, (size_t)n) != n) {
			snprintf(err, errlen, "cannot copy %s: %s", path, strerror(errno ? errno : EIO));
			close(in);
			explicit_bzero(buf, sizeof(buf));
			return -1;
		}
	}
	explicit_bzero(buf, sizeof(buf));
	close(in);
	/* a newline after each file: PEM blocks of two files never share a line */
	if (write(out, "\n", 1) != 1) {
		snprintf(err, errlen, "cannot copy %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* dir/name made of the given files, in order (mode 0600). */
static int write_file(const char *dir, const char *name, const char *const *paths, size_t n, char *err,
    size_t errlen)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
		snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (paths[i] && copy_into(fd, paths[i], err, errlen) < 0) {
			close(fd);
			return -1;
		}
	if (close(fd) < 0) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int take_identities(const struct conf *c)
{
	char **v = NULL;

	if (c->tls.peer_identities.n && (v = calloc(c->tls.peer_identities.n, sizeof(*v))) == NULL)
		return -1;
	for (size_t i = 0; i < c->tls.peer_identities.n; i++)
		if ((v[i] = strdup(c->tls.peer_identities.v[i])) == NULL) {
			while (i--)
				free(v[i]);
			free(v);
			return -1;
		}
	for (size_t i = 0; i < n_identities; i++)
		free(identities[i]);
	free(identities);
	identities = v;
	n_identities = c->tls.peer_identities.n;
	return 0;
}

int sofia_tls_prepare(const struct conf *c, char *dir, size_t cap, char *err, size_t errlen)
{
	const char *base = getenv("RUNTIME_DIRECTORY");
	const char *agent[] = { c->tls.private_key, c->tls.certificate };
	const char *ca[] = { c->tls.ca };

	if (!c->tls.certificate || !c->tls.private_key) {
		snprintf(err, errlen, "a TLS address needs tls.certificate and tls.private_key");
		return -1;
	}
	if (!base || base[0] != '/' || strchr(base, ':'))
		base = "/tmp";	/* RuntimeDirectory= may list several, colon-separated */
	snprintf(files_dir, sizeof(files_dir), "%s/mcx-sdproxyd-tls.XXXXXX", base);
	if (!mkdtemp(files_dir)) {
		snprintf(err, errlen, "cannot make a private folder in %s: %s", base, strerror(errno));
		files_dir[0] = '\0';
		return -1;
	}
	if (write_file(files_dir, AGENT_FILE, agent, 2, err, errlen) < 0 ||
	    (c->tls.ca && write_file(files_dir, CA_FILE, ca, 1, err, errlen) < 0) || take_identities(c) < 0) {
		if (!err[0])
			snprintf(err, errlen, "out of memory");
		sofia_tls_forget_files(files_dir);
		return -1;
	}
	snprintf(dir, cap, "%s", files_dir);
	return 0;
}

void sofia_tls_capture(bool on)
{
	capturing = on;
}

void sofia_tls_forget_files(const char *dir)
{
	char path[512];

	if (!dir || !dir[0])
		return;
	snprintf(path, sizeof(path), "%s/%s", dir, AGENT_FILE);
	unlink(path);
	snprintf(path, sizeof(path), "%s/%s", dir, CA_FILE);
	unlink(path);
	rmdir(dir);
	if (strcmp(dir, files_dir) == 0)
		files_dir[0] = '\0';
}

size_t sofia_tls_contexts(void)
{
	return n_contexts;
}

/* ---- SIGHUP ---- */

static void openssl_error(char *err, size_t errlen, const char *what, const char *path)
{
	unsigned long e = ERR_peek_last_error();

	snprintf(err, errlen, "%s %s: %s", what, path, e ? ERR_reason_error_string(e) : "failed");
	ERR_clear_error();
}

/* Certificate chain and key into ctx; 0 or -1 with err. */
static int load_credentials(SSL_CTX *ctx, const struct conf *c, char *err, size_t errlen)
{
	if (SSL_CTX_use_certificate_chain_file(ctx, c->tls.certificate) != 1) {
		openssl_error(err, errlen, "cannot load the certificate chain", c->tls.certificate);
		return -1;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, c->tls.private_key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		openssl_error(err, errlen, "cannot load the private key, or it does not match the certificate,",
		    c->tls.private_key);
		return -1;
	}
	return 0;
}

int sofia_tls_reload(const struct conf *c, char *err, size_t errlen)
{
	SSL_CTX *scratch;
	X509_STORE *store = NULL;
	STACK_OF(X509_NAME) *names = NULL;
	int rc = -1;

	if (n_contexts == 0)
		return take_identities(c) < 0 ? (snprintf(err, errlen, "out of memory"), -1) : 0;
	if (!c->tls.certificate || !c->tls.private_key) {
		snprintf(err, errlen, "tls.certificate and tls.private_key are gone: keeping the previous ones");
		return -1;
	}
	/* everything loaded and checked before any context changes */
	if ((scratch = SSL_CTX_new(TLS_method())) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (load_credentials(scratch, c, err, errlen) < 0)
		goto out;
	if (c->tls.ca) {
		if ((store = X509_STORE_new()) == NULL || X509_STORE_load_file(store, c->tls.ca) != 1) {
			openssl_error(err, errlen, "cannot load the CAs of", c->tls.ca);
			goto out;
		}
		names = SSL_load_client_CA_file(c->tls.ca);
	}
	for (size_t i = 0; i < n_contexts; i++) {
		if (load_credentials(contexts[i], c, err, errlen) < 0)
			goto out;	/* cannot happen: the same files loaded into scratch */
		if (store) {
			SSL_CTX_set1_cert_store(contexts[i], store);
			if (names)
				SSL_CTX_set_client_CA_list(contexts[i], SSL_dup_CA_list(names));
		}
	}
	if (take_identities(c) < 0) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	rc = 0;
out:
	sk_X509_NAME_pop_free(names, X509_NAME_free);
	X509_STORE_free(store);
	SSL_CTX_free(scratch);
	return rc;
}
