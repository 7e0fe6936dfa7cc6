/* The KRR signer process: see keysigner.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "keysigner.h"
#include "krr.h"
#include "log.h"

#define REQ_SIGN	'S'	/* 'S' + 32 octets of digest -> 'S' + 64 octets r||s */
#define REP_READY	'K'	/* the key loaded and matching */
#define REP_ERROR	'E'	/* 'E' + text */
#define TIMEOUT_MS	2000
#define KEY_MAX		(64 * 1024)

struct signer {
	int chan;		/* our end of the socketpair; -1: none */
	pid_t pid;
	unsigned gen;
	char key[PATH_MAX], cert[PATH_MAX];
};

static struct signer slot[2] = { { .chan = -1, .pid = -1 }, { .chan = -1, .pid = -1 } };	/* current, previous */

/* ---- the child ---- */

static char *read_small(const char *path, size_t *len, char *why, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char *b = fd >= 0 ? malloc(KEY_MAX + 1) : NULL;
	size_t n = 0;
	ssize_t r;

	if (fd < 0 || !b) {
		snprintf(why, cap, "cannot read %s: %s", path, fd < 0 ? strerror(errno) : "out of memory");
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	while (n <= KEY_MAX && (r = read(fd, b + n, KEY_MAX + 1 - n)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (n > KEY_MAX) {
		OPENSSL_cleanse(b, KEY_MAX + 1);
		free(b);
		snprintf(why, cap, "%s: larger than %d octets", path, KEY_MAX);
		return NULL;
	}
	b[n] = '\0';
	*len = n;
	return b;
}

static void reply_error(int fd, const char *why)
{
	char m[256];
	int n = snprintf(m, sizeof(m), "%c%s", REP_ERROR, why);
	(void)!send(fd, m, (size_t)(n < (int)sizeof(m) ? n : (int)sizeof(m) - 1), MSG_NOSIGNAL);
}

static void serve(int fd, const char *key_path, const char *cert_path)
{
	char why[200], req[64];
	size_t kl = 0, cl = 0;
	char *key = read_small(key_path, &kl, why, sizeof(why));
	char *cert = key ? read_small(cert_path, &cl, why, sizeof(why)) : NULL;
	struct krr_signer *s = NULL;
	struct krr_error err;

	if (!key || !cert) {
		reply_error(fd, why);
		_exit(1);
	}
	int rc = krr_signer_new(cert, cl, key, kl, &s, &err);
	OPENSSL_cleanse(key, kl);
	free(key);
	free(cert);
	if (rc < 0) {
		reply_error(fd, err.detail);
		_exit(1);
	}
	char ready = REP_READY;
	if (send(fd, &ready, 1, MSG_NOSIGNAL) != 1)
		_exit(1);
	for (;;) {
		ssize_t n = recv(fd, req, sizeof(req), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(0);	/* the SIP process is gone, or let us go */
		unsigned char out[65];
		if (n != 33 || req[0] != REQ_SIGN) {
			reply_error(fd, "not a signing request");
			continue;
		}
		out[0] = REQ_SIGN;
		if (krr_sign_digest(s, (const unsigned char *)req + 1, out + 1) < 0)
			reply_error(fd, "ECDSA signing failed");
		else
			(void)!send(fd, out, sizeof(out), MSG_NOSIGNAL);
	}
}

/* In the child: nothing of the parent's but the channel and stderr. */
static void become_signer(int fd, pid_t parent, const char *key_path, const char *cert_path)
{
	sigset_t none;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);	/* the parent died before the line above: nobody to sign for */
	prctl(PR_SET_DUMPABLE, 0);		/* no core file, no ptrace by the same user */
	prctl(PR_SET_NAME, "krr-signer");
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	if (fd != 3) {
		if (dup2(fd, 3) < 0)
			_exit(1);
		fd = 3;
	}
	if (close_range(4, ~0U, 0) < 0)
		for (int i = 4; i < 65536; i++)
			close(i);
	close(STDIN_FILENO);
	serve(fd, key_path, cert_path);
	_exit(0);
}

/* ---- the parent ---- */

static void drop(struct signer *s)
{
	if (s->chan >= 0)
		close(s->chan);	/* the child sees the end and exits */
	if (s->pid > 0) {
		kill(s->pid, SIGTERM);
		waitpid(s->pid, NULL, 0);
	}
	s->chan = -1;
	s->pid = -1;
}

/* Wait for one reply (len octets at most) within the timeout; its length, or -1. */
static ssize_t reply(int fd, char *buf, size_t len)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	for (;;) {
		int r = poll(&p, 1, TIMEOUT_MS);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		ssize_t n = recv(fd, buf, len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		return n > 0 ? n : -1;
	}
}

static int spawn(struct signer *s, unsigned gen, const char *key_path, const char *cert_path, char *err,
    size_t errlen)
{
	int sv[2];
	char buf[256];

	if (strlen(key_path) >= sizeof(s->key) || strlen(cert_path) >= sizeof(s->cert)) {
		snprintf(err, errlen, "path too long");
		return -1;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		snprintf(err, errlen, "socketpair: %s", strerror(errno));
		return -1;
	}
	pid_t parent = getpid(), pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		close(sv[0]);
		become_signer(sv[1], parent, key_path, cert_path);
	}
	close(sv[1]);
	*s = (struct signer){ .chan = sv[0], .pid = pid, .gen = gen };
	snprintf(s->key, sizeof(s->key), "%s", key_path);
	snprintf(s->cert, sizeof(s->cert), "%s", cert_path);
	ssize_t n = reply(s->chan, buf, sizeof(buf) - 1);
	if (n == 1 && buf[0] == REP_READY)
		return 0;
	if (n > 1 && buf[0] == REP_ERROR) {
		buf[n] = '\0';
		snprintf(err, errlen, "%s", buf + 1);
	} else {
		snprintf(err, errlen, "the KRR signer process did not start");
	}
	drop(s);
	return -1;
}

int keysigner_start(unsigned gen, const char *key_path, const char *cert_path, char *err, size_t errlen)
{
	struct signer fresh = { .chan = -1, .pid = -1 };

	if (spawn(&fresh, gen, key_path, cert_path, err, errlen) < 0)
		return -1;
	if (slot[0].gen == gen)
		drop(&slot[0]);		/* the same generation again: replaced */
	drop(&slot[1]);
	slot[1] = slot[0];
	slot[0] = fresh;
	log_info("KRR signer started (pid %d): krr.private_key is held by it alone", (int)fresh.pid);
	return 0;
}

int keysigner_check(const char *key_path, const char *cert_path, char *err, size_t errlen)
{
	struct signer probe = { .chan = -1, .pid = -1 };

	if (spawn(&probe, 0, key_path, cert_path, err, errlen) < 0)
		return -1;
	drop(&probe);
	return 0;
}

static int ask(struct signer *s, const unsigned char digest[32], unsigned char rs[64])
{
	unsigned char req[33], rep[256];

	req[0] = REQ_SIGN;
	memcpy(req + 1, digest, 32);
	if (send(s->chan, req, sizeof(req), MSG_NOSIGNAL) != (ssize_t)sizeof(req))
		return -2;
	ssize_t n = reply(s->chan, (char *)rep, sizeof(rep) - 1);
	if (n == 65 && rep[0] == REQ_SIGN) {
		memcpy(rs, rep + 1, 64);
		return 0;
	}
	if (n > 1 && rep[0] == REP_ERROR) {
		rep[n] = '\0';
		log_error("KRR signer (pid %d): %s", (int)s->pid, (char *)rep + 1);
		return -1;
	}
	return -2;	/* gone, or silent */
}

int keysigner_sign(void *arg, const unsigned char digest[32], unsigned char rs[64])
{
	unsigned gen = (unsigned)(uintptr_t)arg;
	struct signer *s = slot[0].chan >= 0 && slot[0].gen == gen ? &slot[0]
			 : slot[1].chan >= 0 && slot[1].gen == gen ? &slot[1] : NULL;
	char err[256];

	if (!s) {
		log_error("no KRR signer for configuration generation %u", gen);
		return -1;
	}
	int rc = ask(s, digest, rs);
	if (rc != -2)
		return rc;
	/* It died or hangs: a new one on the same files, and the request once more. */
	log_error("KRR signer (pid %d) did not answer: starting another", (int)s->pid);
	char key[PATH_MAX], cert[PATH_MAX];
	snprintf(key, sizeof(key), "%s", s->key);
	snprintf(cert, sizeof(cert), "%s", s->cert);
	drop(s);
	if (spawn(s, gen, key, cert, err, sizeof(err)) < 0) {
		log_error("KRR signer: %s: KRRs cannot be signed", err);
		return -1;
	}
	log_info("KRR signer started again (pid %d)", (int)s->pid);
	return ask(s, digest, rs) == 0 ? 0 : -1;
}

void keysigner_stop(void)
{
	drop(&slot[0]);
	drop(&slot[1]);
}

pid_t keysigner_pid(void)
{
	return slot[0].pid;
}
