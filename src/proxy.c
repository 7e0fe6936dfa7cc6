/*
 * The Sofia-SIP adapter: an RFC 3261 transaction-stateful proxy on nta.
 *
 * nta keeps the transactions (retransmissions, timers, CANCEL matching,
 * ACK of non-2xx); this file routes (Max-Forwards, Route, Record-Route,
 * next hop), puts the decision engine on every initial INVITE and on every
 * 488 that comes back for one, and turns its outcomes into SIP.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct proxy;
struct txn;

#define SU_ROOT_MAGIC_T		struct proxy
#define SU_WAKEUP_ARG_T		struct proxy
#define NTA_AGENT_MAGIC_T	struct proxy
#define NTA_LEG_MAGIC_T		struct proxy
#define NTA_INCOMING_MAGIC_T	struct txn
#define NTA_OUTGOING_MAGIC_T	struct txn

#include <sofia-sip/hostdomain.h>
#include <sofia-sip/msg_addr.h>
#include <sofia-sip/msg_header.h>
#include <sofia-sip/nta.h>
#include <sofia-sip/nta_stateless.h>
#include <sofia-sip/nta_tport.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/sip_util.h>
#include <sofia-sip/su_log.h>
#include <sofia-sip/su_md5.h>
#include <sofia-sip/su_uniqueid.h>
#include <sofia-sip/su_wait.h>
#include <sofia-sip/tport.h>
#include <sofia-sip/tport_tag.h>
#include <sofia-sip/url.h>

#include "conn_guard.h"
#include "krr.h"
#include "log.h"
#include "lookup_ldap.h"
#include "metrics.h"
#include "metrics_http.h"
#include "overload.h"
#include "policy.h"
#include "proxy.h"
#include "ratelimit.h"
#include "request.h"
#include "resolve.h"
#include "sipread.h"
#include "sofia_guard.h"
#include "sofia_tls.h"
#include "tls_creds.h"

#define MAX_LISTEN	16
/* Route entries a request may carry: far more than any real route set; more cost Sofia-SIP quadratic time. */
#define MAX_ROUTES	64
#define HOST_MAX	64	/* an IPv6 literal in brackets fits */
/* The highest Max-Forwards sent on (as Kamailio's maxfwd max_limit): a loop the loop check misses ends within 70 hops. */
#define MAX_FORWARDS_OUT	70
#define LOOP_KEY_LEN	16	/* characters of the loop-detection part of our branch */
#define BRANCH_MAX	(7 + LOOP_KEY_LEN + 1 + 16)	/* z9hG4bK KEY . RANDOM */
#define STOP_GRACE_MS	500	/* how long the loop runs after stop, for the last messages */
/* RFC 3261 Timer C (> 3 minutes; nta's 185 s) for an INVITE we answer for ourselves once detached. */
#define TIMER_C_MS	185000u
#define BRANCH_BUCKETS	16384	/* detached INVITEs by branch: a few per bucket at thousands of calls ringing */
#define MAX_MESSAGE	(256 * 1024)
/*
 * A request travels the way it came: nta would otherwise try TCP for every
 * UDP request over 1300 octets (RFC 3261 18.1.1), which an I_MESSAGE in SDP
 * always is, towards peers that often listen on UDP only.
 */
#define UDP_MAX		65000
/* nta's mark on a response it made itself (nta_internal.h NTA_INTERNAL_MSG): a transport error, a timeout. */
#define NTA_OWN_RESPONSE	(1 << 15)
/* How often the load is measured besides at each new request: for the "over" line when none come. */
#define LOAD_PERIOD_MS	50
/* Socket buffers that ride out a scheduling stall at thousands of calls per second (the kernel caps them at net.core.rmem_max/wmem_max). */
#define UDP_BUFFER	(4u << 20)

/* One address this proxy listens on: for Record-Route, and to recognise its own Route and Via. */
struct me {
	char proto[8];
	char host[HOST_MAX];	/* as in a URI: IPv6 in brackets */
	char port[8];
	char uri[HOST_MAX + 40];	/* sip:HOST:PORT;transport=PROTO */
	char rr[HOST_MAX + 48];		/* <sip:HOST:PORT;transport=PROTO;lr> */
	bool shared;			/* a server.listen address shared by the workers (else this worker's own) */
	size_t own;			/* the me[] whose rr goes in Record-Route for a request that came in here */
};

struct proxy {
	su_home_t home[1];
	su_root_t *root;
	nta_agent_t *agent;
	nta_leg_t *leg;
	struct world *world;
	url_t *next_hop;		/* from world->conf, in home */
	struct me me[MAX_LISTEN];
	size_t n_me;
	struct proxy_worker worker;	/* count 1: no workers, the listen addresses are all there is */
	struct resolver *resolver;	/* next hops named by DNS names (nta's own resolver is never asked) */
	struct txn *txns;		/* in flight, for stop */
	struct held_ack *acks;		/* ACKs waiting for DNS */
	unsigned in_flight;
	int udp_fds[MAX_LISTEN];	/* the SIP UDP sockets, whose receive queues say how far behind we are */
	size_t n_udp_fds;
	struct overload overload;
	unsigned queue_pct;		/* the last measurement */
	struct timespec overload_since;
	su_timer_t *load_timer;
	bool stopping;
	int sigfd;
	su_wait_t sigwait[1];
	int sigindex;
	proxy_signal_fn *on_signal;
	void *signal_arg;
	su_timer_t *stop_timer;
	unsigned load_ticks;		/* of load_timer: Timer C is looked at every second */
	struct txn *by_branch[BRANCH_BUCKETS];	/* detached INVITEs (see detach) */
	char tls_dir[256];		/* the credentials' folder while the transports are bound */
	struct ratelimit *rl;		/* limits.source_rate's buckets */
	struct metrics_http *metrics;	/* server.metrics_listen: worker 0's (or the one process's) */
};

/* One proxied request: the server transaction upstream, the client one downstream. */
struct txn {
	struct txn *next, **prev;
	struct proxy *p;
	struct world *world;		/* the generation it started under */
	nta_incoming_t *irq;
	nta_outgoing_t *orq;
	struct request_facts *facts;	/* a request forwarded with I_MESSAGEs: for the 488 that may come back */
	msg_t *prepared;		/* the request as it goes on, while DNS answers or its targets are tried */
	struct resolve_query *query;	/* DNS in progress */
	struct resolve_result targets;	/* where DNS said the next hop is, in order */
	size_t next_target;
	char call_id[128];		/* for logs */
	char route[128];		/* where the request was sent: a URI, or "" for its Route or Request-URI */
	/*
	 * Detached: an INVITE sent on over UDP whose client transaction we
	 * gave back to nta at the first provisional answer (detach), so that
	 * nta does not keep it for Timer D (32 s) after the call is set up;
	 * its later answers come through on_stray and are matched here by
	 * the branch of our Via.
	 */
	bool detached;
	bool cancelled;			/* a CANCEL went downstream */
	msg_t *sent;			/* detached: the INVITE as sent on, our Via on top (for CANCEL and ACK) */
	char branch[BRANCH_MAX + 1];	/* detached: that Via's branch */
	struct txn *hnext;		/* detached: in p->by_branch */
	uint32_t detached_at;		/* ms, su_now() */
	bool answered;			/* a final response went upstream */
	/*
	 * Waiting for the security-domain lookup (a directory's answer): the
	 * request itself (parked: nothing sent yet; irq is all there is), or
	 * a 488 whose KRR needs it (held).
	 */
	struct lookup_wait *wait;
	bool parked;
	bool parked_ack;		/* parked is an ACK: it gets no answer */
	msg_t *held;
};

/* An ACK for a 2xx waiting for DNS: it has no transaction to live in. */
struct held_ack {
	struct held_ack *next, **prev;
	struct proxy *p;
	msg_t *msg;
	struct resolve_query *query;
};

/* ---- small helpers ---- */

static void txn_link(struct proxy *p, struct txn *t)
{
	if ((t->next = p->txns) != NULL)
		t->next->prev = &t->next;
	t->prev = &p->txns;
	p->txns = t;
	p->in_flight++;
}

static size_t branch_bucket(const char *branch)
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	for (const unsigned char *c = (const unsigned char *)branch; *c; c++)
		h = (h ^ *c) * 16777619u;
	return h % BRANCH_BUCKETS;
}

static struct txn *branch_find(struct proxy *p, const char *branch)
{
	for (struct txn *t = p->by_branch[branch_bucket(branch)]; t; t = t->hnext)
		if (strcmp(t->branch, branch) == 0)
			return t;
	return NULL;
}

static void branch_remove(struct txn *t)
{
	for (struct txn **pp = &t->p->by_branch[branch_bucket(t->branch)]; *pp; pp = &(*pp)->hnext)
		if (*pp == t) {
			*pp = t->hnext;
			break;
		}
	t->hnext = NULL;
}

static void txn_free(struct txn *t)
{
	if (t->detached) {
		branch_remove(t);
		msg_destroy(t->sent);
	}
	if (t->prev) {
		if ((*t->prev = t->next) != NULL)
			t->next->prev = t->prev;
		t->p->in_flight--;
	}
	if (t->irq) {
		nta_incoming_bind(t->irq, NULL, NULL);
		nta_incoming_destroy(t->irq);
	}
	if (t->orq)
		nta_outgoing_destroy(t->orq);
	resolve_cancel(t->query);
	if (t->prepared)
		msg_destroy(t->prepared);
	request_facts_free(t->facts);
	lookup_wait_cancel(t->world->lookup, t->wait);
	if (t->held)
		msg_destroy(t->held);
	world_unref(t->world);
	free(t);
}

/* Whether host:port (as in a URI or Via: IPv6 with or without brackets, port NULL meaning 5060) is m. */
static bool is_me_one(const struct me *m, const char *host, const char *port)
{
	char h[HOST_MAX];

	if (!host)
		return false;
	if (host[0] != '[' && strchr(host, ':'))
		snprintf(h, sizeof(h), "[%s]", host);
	else
		snprintf(h, sizeof(h), "%s", host);
	return strcasecmp(m->host, h) == 0 &&
	    strcmp(m->port, port && *port ? port : strcasecmp(m->proto, "tls") == 0 ? "5061" : "5060") == 0;
}

static bool is_me(const struct proxy *p, const char *host, const char *port)
{
	for (size_t i = 0; i < p->n_me; i++)
		if (is_me_one(&p->me[i], host, port))
			return true;
	/* Another worker's own port (known when server.worker_port_base fixes them): a spiral or a loop through it. */
	if (p->worker.count > 1 && p->worker.port_base && port && *port) {
		char *end;
		unsigned long n = strtoul(port, &end, 10);
		if (*end == '\0' && n >= (unsigned long)p->worker.port_base &&
		    n < (unsigned long)p->worker.port_base + p->worker.count)
			for (size_t i = 0; i < p->n_me; i++)
				if (is_me_one(&p->me[i], host, p->me[i].port))
					return true;
	}
	return false;
}

/*
 * The address for the Record-Route of a request: the listen address it came
 * in on (a TCP connection's listening parent) or, with workers, this
 * worker's own address of the same transport and host, so that the dialog's
 * later requests come straight back to this worker.
 */
static const struct me *me_of(struct proxy *p, nta_incoming_t *irq, msg_t *msg)
{
	tport_t *tp = nta_incoming_transport(p->agent, irq, msg);
	const struct me *found = &p->me[0];

	if (tp) {
		const tport_t *primary = tport_is_primary(tp) ? tp : tport_parent(tp);
		const tp_name_t *n = primary ? tport_name(primary) : NULL;
		for (size_t i = 0; n && i < p->n_me; i++)
			if (strcasecmp(p->me[i].proto, n->tpn_proto) == 0 && is_me_one(&p->me[i], n->tpn_host, n->tpn_port)) {
				found = &p->me[i];
				break;
			}
		tport_unref(tp);
	}
	return &p->me[found->own];
}

/* Quotes and backslashes cannot be in a Warning's quoted text; the text is ours, but be strict. */
static void warning_value(const struct proxy *p, const char *text, char *out, size_t cap)
{
	char clean[192];
	size_t n = 0;

	for (; *text && n + 1 < sizeof(clean); text++)
		clean[n++] = (*text == '"' || *text == '\\' || (unsigned char)*text < 0x20) ? '\'' : *text;
	clean[n] = '\0';
	snprintf(out, cap, "399 %s \"%s\"", p->me[0].host, clean);
}

static const char *phrase_of(int status)
{
	const char *s = sip_status_phrase(status);
	return s ? s : "Unknown";
}

/* ---- decisions: log line and audit record ---- */

static void record(const char *call_id, const struct policy_request *req, const struct policy_outcome *o)
{
	log_info("call %s: %s rule %s status %d target %s method %s%s%s%s%s%s", call_id,
	    policy_decision_name(o->decision), o->rule, o->status, o->target ? o->target : "-",
	    req->method ? req->method : "-", req->in_dialog ? " in-dialog" : "",
	    o->signature ? " downstream-krr " : "", o->signature ? o->signature : "",
	    o->warning[0] ? " warning: " : "", o->warning);
	audit_write(o->audit);
}

/* Answer upstream from the outcome: 488 + KRR, or a status with its Warning (and Accept-Encoding after a 415). */
static void answer(struct proxy *p, nta_incoming_t *irq, const struct policy_outcome *o)
{
	char warning[sizeof(o->warning) + HOST_MAX + 16], retry_after[16];
	int status = o->status ? o->status : 500;

	snprintf(retry_after, sizeof(retry_after), "%u", o->retry_after);
	if (o->warning[0])
		warning_value(p, o->warning, warning, sizeof(warning));
	nta_incoming_treply(irq, status, phrase_of(status),
	    TAG_IF(o->krr_xml, SIPTAG_CONTENT_TYPE_STR(KRR_CONTENT_TYPE)),
	    TAG_IF(o->krr_xml, SIPTAG_PAYLOAD_STR(o->krr_xml)),
	    TAG_IF(o->warning[0], SIPTAG_WARNING_STR(warning)),
	    TAG_IF(o->accept_identity, SIPTAG_ACCEPT_ENCODING_STR("identity")),
	    TAG_IF(o->retry_after, SIPTAG_RETRY_AFTER_STR(retry_after)),
	    TAG_END());
}

/* ---- responses coming back ---- */

enum krr_fate { KRR_RELAY, KRR_ANSWERED, KRR_WAITING };

static void on_krr_lookup_ready(void *arg);

/*
 * A 488 on a request forwarded with I_MESSAGEs: pass, replace or discard
 * its KRR.  KRR_ANSWERED when answered here, KRR_RELAY when it goes
 * upstream as it came, KRR_WAITING when the lookup is under way (t->wait).
 */
static enum krr_fate krr_coming_back(struct txn *t, const sip_t *sip)
{
	struct policy_ctx ctx = world_policy_ctx(t->world);
	struct policy_outcome o;
	size_t len = 0;
	const char *body = sipread_krr_body(sip, &len);

	if (policy_decide_krr(&ctx, &t->facts->req, body, len, (int64_t)time(NULL), &o) < 0) {
		log_error("call %s: no decision on the KRR that came back (out of memory or signing failed): 500",
		    t->call_id);
		nta_incoming_treply(t->irq, SIP_500_INTERNAL_SERVER_ERROR, TAG_END());
		t->answered = true;
		return KRR_ANSWERED;
	}
	if (o.decision == POLICY_WAIT) {
		t->wait = o.target ? lookup_wait(t->world->lookup, o.target, on_krr_lookup_ready, t) : NULL;
		policy_outcome_clear(&o);
		if (t->wait)
			return KRR_WAITING;
		log_error("call %s: cannot wait for the lookup (out of memory): 500", t->call_id);
		nta_incoming_treply(t->irq, SIP_500_INTERNAL_SERVER_ERROR, TAG_END());
		t->answered = true;
		return KRR_ANSWERED;
	}
	record(t->call_id, &t->facts->req, &o);
	bool here = o.decision != POLICY_PASS;
	if (here) {
		answer(t->p, t->irq, &o);
		t->answered = true;
	}
	policy_outcome_clear(&o);
	return here ? KRR_ANSWERED : KRR_RELAY;
}

/* ---- detached INVITEs: ours from the first provisional answer on ---- */

static const url_string_t *route_of(const struct txn *t)
{
	return t->route[0] ? URL_STRING_MAKE(t->route) : NULL;
}

/* Where a request was sent, as a string: route may be a url_t (server.next_hop) or a string. */
static void remember_route(struct txn *t, const url_string_t *route)
{
	t->route[0] = '\0';
	if (!route)
		return;
	if (url_string_p(route))
		snprintf(t->route, sizeof(t->route), "%s", route->us_str);
	else if (url_e(t->route, (isize_t)sizeof(t->route), route->us_url) >= (issize_t)sizeof(t->route))
		t->route[0] = '\0';	/* cannot be: configured next hops are short; its Route then decides */
}

/*
 * An ACK (for a non-2xx final answer, RFC 3261 17.1.1.3) or a CANCEL (9.1)
 * for the INVITE req as we sent it: its Request-URI, our Via on top, its
 * Route set, From, Call-ID and CSeq number; To from the answer for an ACK.
 * Without req (an answer repeated after we let the INVITE go), from the
 * answer alone: its To URI as Request-URI (the next hop matches the ACK to
 * its transaction by the branch), no Route.
 */
static msg_t *make_hop_request(struct proxy *p, sip_method_t method, const sip_t *req, const sip_t *answer)
{
	const sip_t *base = req ? req : answer;
	msg_t *m = nta_msg_create(p->agent, 0);
	sip_t *s = m ? sip_object(m) : NULL;
	char via[512];

	if (!s || !base->sip_via || !base->sip_from || !base->sip_call_id || !base->sip_cseq ||
	    !(req ? req->sip_to : answer->sip_to) ||
	    msg_header_field_e(via, sizeof(via), (const msg_header_t *)base->sip_via, 0) >= (issize_t)sizeof(via))
		goto fail;
	su_home_t *h = msg_home(m);
	const url_t *ruri = req ? req->sip_request->rq_url : answer->sip_to->a_url;
	const char *name = method == sip_method_ack ? "ACK" : "CANCEL";
	if (sip_add_tl(m, s,
	    SIPTAG_REQUEST(sip_request_create(h, method, name, (const url_string_t *)ruri, NULL)),
	    SIPTAG_VIA_STR(via),
	    SIPTAG_MAX_FORWARDS_STR("70"),
	    TAG_IF(req, SIPTAG_ROUTE(req ? req->sip_route : NULL)),
	    SIPTAG_FROM(base->sip_from),
	    SIPTAG_TO(method == sip_method_ack && answer ? answer->sip_to : base->sip_to),
	    SIPTAG_CALL_ID(base->sip_call_id),
	    SIPTAG_CSEQ(sip_cseq_create(h, base->sip_cseq->cs_seq, method, name)),
	    TAG_END()) < 0 || !s->sip_request || !s->sip_cseq)
		goto fail;
	return m;
fail:
	if (m)
		msg_destroy(m);
	return NULL;
}

/* ACK a non-2xx final answer to an INVITE of ours hop by hop: to route, or (NULL) where its Route or Request-URI say. */
static void ack_answer(struct proxy *p, const sip_t *req, const sip_t *answer, const url_string_t *route)
{
	msg_t *ack = make_hop_request(p, sip_method_ack, req, answer);

	/* Stateless, and not nta_msg_tsend, which keeps a request it cannot send (see forward_statelessly). */
	if (!ack || !nta_outgoing_mcreate(p->agent, NULL, NULL, route, ack, NTATAG_STATELESS(1), NTATAG_USER_VIA(1),
	    TAG_END())) {
		log_debug("call %s: ACK of %d not sent", answer->sip_call_id ? answer->sip_call_id->i_id : "-",
		    answer->sip_status->st_status);
		if (ack)
			msg_destroy(ack);
	}
}

static void cancel_detached(struct txn *t)
{
	if (t->cancelled)
		return;
	t->cancelled = true;
	msg_t *cancel = make_hop_request(t->p, sip_method_cancel, sip_object(t->sent), NULL);
	/* A client transaction of its own (retransmitted until answered); nta frees it when it ends. */
	if (!cancel || !nta_outgoing_mcreate(t->p->agent, NULL, NULL, route_of(t), cancel, NTATAG_USER_VIA(1),
	    TAG_END())) {
		log_warn("call %s: CANCEL not sent downstream", t->call_id);
		if (cancel)
			msg_destroy(cancel);
	}
}

/*
 * nta keeps an INVITE client transaction over UDP 32 s after its final
 * answer (Timer D, which no setting shortens), ~20 kB for every call
 * set up.  A provisional answer shows the next hop has the INVITE, so the
 * transaction has nothing left to retransmit: give it back to nta now
 * (not completed, it is freed at once) and take its answers ourselves.
 */
static void detach(struct txn *t, nta_outgoing_t *orq)
{
	msg_t *req = nta_outgoing_getrequest(orq);
	const sip_t *rs = req ? sip_object(req) : NULL;

	if (t->cancelled || !rs || !rs->sip_via || !rs->sip_via->v_branch || !rs->sip_via->v_protocol ||
	    strcasecmp(rs->sip_via->v_protocol, "SIP/2.0/UDP") != 0 ||
	    strlen(rs->sip_via->v_branch) > BRANCH_MAX) {
		if (req)
			msg_destroy(req);	/* reliable transports: nta lets the transaction go at its final answer */
		return;
	}
	t->sent = req;
	snprintf(t->branch, sizeof(t->branch), "%s", rs->sip_via->v_branch);
	t->detached = true;
	t->detached_at = su_time_ms(su_now());
	size_t b = branch_bucket(t->branch);
	t->hnext = t->p->by_branch[b];
	t->p->by_branch[b] = t;
	t->orq = NULL;
	nta_outgoing_destroy(orq);
	log_debug("call %s: INVITE answered provisionally: its answers are ours from here (branch %s)", t->call_id,
	    t->branch);
}

/* An answer to a detached INVITE (msg is ours to free or pass on). */
static void detached_answer(struct txn *t, msg_t *msg, sip_t *sip)
{
	int status = sip->sip_status->st_status;

	metrics_sip_response(status);
	if (status <= 100) {
		msg_destroy(msg);
		return;
	}
	if (status >= 300)
		ack_answer(t->p, sip_object(t->sent), sip, route_of(t));
	if (t->wait) {
		/* A retransmission of the 488 whose KRR waits for the lookup: acknowledged, nothing more. */
		msg_destroy(msg);
		return;
	}
	if (status == 488 && t->facts) {
		switch (krr_coming_back(t, sip)) {
		case KRR_ANSWERED:
			msg_destroy(msg);
			txn_free(t);
			return;
		case KRR_WAITING:
			t->held = msg;
			return;
		case KRR_RELAY:
			break;
		}
	}
	sip_via_remove(msg, sip);
	nta_incoming_mreply(t->irq, msg);
	if (status >= 200) {
		t->answered = true;
		txn_free(t);
	}
}

/* Timer C, once a second: a detached INVITE without a final answer for 3 minutes is cancelled, 408 upstream. */
static void expire_detached(struct proxy *p)
{
	uint32_t now = su_time_ms(su_now());

	for (struct txn *t = p->txns, *next; t; t = next) {
		next = t->next;
		if (!t->detached || t->answered || now - t->detached_at < TIMER_C_MS)
			continue;
		log_warn("call %s: no final answer within Timer C: cancelled downstream, 408 upstream", t->call_id);
		cancel_detached(t);
		nta_incoming_treply(t->irq, SIP_408_REQUEST_TIMEOUT, TAG_END());
		t->answered = true;
		txn_free(t);
	}
}

static bool try_next_target(struct txn *t);

/* A response goes upstream: msg (ours to free) without our Via, or, without a message, its status alone. */
static void relay_final(struct txn *t, msg_t *msg, int status)
{
	sip_t *rs = msg ? sip_object(msg) : NULL;
	if (rs && rs->sip_via && is_me(t->p, rs->sip_via->v_host, rs->sip_via->v_port) && rs->sip_via->v_next) {
		sip_via_remove(msg, rs);
		nta_incoming_mreply(t->irq, msg);
	} else {
		/* No message to relay (or one without our Via on top): answer with its status. */
		if (msg)
			msg_destroy(msg);
		nta_incoming_treply(t->irq, status, phrase_of(status), TAG_END());
	}
	/* nta's own 408 (Timer B/F) and 503 (transport error) look like the next hop's: one line for both. */
	if (status == 408 || status == 503)
		log_warn("call %s: %d upstream: the next hop %s, or answered so itself", t->call_id, status,
		    status == 408 ? "did not answer" : "cannot be reached");
}

static int on_response(struct txn *t, nta_outgoing_t *orq, const sip_t *sip)
{
	int status = sip && sip->sip_status ? sip->sip_status->st_status : nta_outgoing_status(orq);

	if (sip && sip->sip_status)
		metrics_sip_response(status);	/* from the next hop (not nta's own 408 or 503) */
	if (status <= 100 || t->answered)
		return 0;		/* 100 Trying is hop by hop; nta sends ours (EXTRA_100) */
	if (status == 503 && (!sip || (sip->sip_flags & NTA_OWN_RESPONSE)) && t->next_target < t->targets.n) {
		/* RFC 3263 4.3: this target cannot be reached: the next one DNS gave. */
		t->orq = NULL;
		log_debug("call %s: next hop unreachable, trying the next DNS target", t->call_id);
		if (try_next_target(t)) {
			nta_outgoing_destroy(orq);
			return 0;
		}
		t->orq = orq;	/* none left that could be used: this 503 goes upstream */
	}
	if (status == 488 && sip && t->facts) {
		switch (krr_coming_back(t, sip)) {
		case KRR_ANSWERED:
			txn_free(t);
			return 0;
		case KRR_WAITING:
			/* Held until the lookup answers (on_krr_lookup_ready); nta keeps the transaction. */
			t->held = nta_outgoing_getresponse(orq);
			return 0;
		case KRR_RELAY:
			break;
		}
	}
	relay_final(t, nta_outgoing_getresponse(orq), status);
	if (status >= 200) {
		t->answered = true;
		txn_free(t);
	} else if (nta_outgoing_method(orq) == sip_method_invite)
		detach(t, orq);
	return 0;
}

/* The lookup a KRR coming back waited for has its answer: decide on it again. */
static void on_krr_lookup_ready(void *arg)
{
	struct txn *t = arg;
	msg_t *msg = t->held;
	sip_t *sip = msg ? sip_object(msg) : NULL;

	t->wait = NULL;
	t->held = NULL;
	if (!sip || t->answered) {
		if (msg)
			msg_destroy(msg);
		if (!t->answered)
			nta_incoming_treply(t->irq, SIP_500_INTERNAL_SERVER_ERROR, TAG_END());
		t->answered = true;
		txn_free(t);
		return;
	}
	switch (krr_coming_back(t, sip)) {
	case KRR_WAITING:
		t->held = msg;		/* a reload changed the directory: asked again */
		return;
	case KRR_RELAY:
		relay_final(t, msg, 488);
		break;
	case KRR_ANSWERED:
		msg_destroy(msg);
		break;
	}
	t->answered = true;
	txn_free(t);
}

/* CANCEL for a request in flight (nta has answered it 200), or the server transaction ending. */
static int on_cancel(struct txn *t, nta_incoming_t *irq, const sip_t *sip)
{
	(void)irq;
	if (t->parked && sip && sip->sip_request && sip->sip_request->rq_method == sip_method_cancel) {
		log_debug("call %s: CANCEL while the lookup was under way", t->call_id);
		nta_incoming_treply(t->irq, SIP_487_REQUEST_CANCELLED, TAG_END());
		t->answered = true;
		txn_free(t);
		return 0;
	}
	if (!sip) {
		/*
		 * The server transaction ends (a reliable provisional answer not
		 * PRACKed, Timer H): unbound and destroyed by txn_free (nta defers
		 * that while in its callback).  Left bound, nta called back into
		 * the freed txn at Timer H (ASan, SIP-level fuzzer, seed 4242).
		 */
		txn_free(t);
		return 0;
	}
	if (sip->sip_request && sip->sip_request->rq_method == sip_method_cancel && t->detached && !t->answered) {
		log_debug("call %s: CANCEL forwarded", t->call_id);
		cancel_detached(t);
		return 0;
	}
	if (sip->sip_request && sip->sip_request->rq_method == sip_method_cancel && !t->orq && !t->answered) {
		/* Cancelled while DNS was still answering: nothing went downstream. */
		log_debug("call %s: CANCEL before the next hop was resolved", t->call_id);
		nta_incoming_treply(t->irq, SIP_487_REQUEST_CANCELLED, TAG_END());
		t->answered = true;
		txn_free(t);
		return 0;
	}
	if (sip->sip_request && sip->sip_request->rq_method == sip_method_cancel && t->orq) {
		log_debug("call %s: CANCEL forwarded", t->call_id);
		t->cancelled = true;
		nta_outgoing_tcancel(t->orq, NULL, NULL, TAG_END());
	}
	return 0;
}

/* A message came whole from ai (its source): on a connection, that one is in use (limits.idle_timeout). */
static void note_delivered(const su_addrinfo_t *ai)
{
	if (ai && ai->ai_addr && ai->ai_protocol != IPPROTO_UDP) {
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		conn_guard_delivered(ai->ai_addr, (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u);
	}
}

/*
 * What no transaction of nta owns.  Every request that is not a
 * retransmission (there is no default leg: see on_request_message).  A
 * response: an answer to a detached INVITE (detach), a non-2xx repeated
 * after it (ACKed again), or a 2xx to INVITE retransmitted downstream or
 * an answer to a request sent on statelessly, which go upstream
 * statelessly.
 */
static void on_request_message(struct proxy *p, nta_agent_t *agent, msg_t *msg, sip_t *sip);

static int on_stray(struct proxy *p, nta_agent_t *agent, msg_t *msg, sip_t *sip)
{
	if (sip && sip->sip_status)
		note_delivered(msg_addrinfo(msg));	/* a request is noted in on_request */
	if (sip && sip->sip_request) {
		on_request_message(p, agent, msg, sip);
		return 0;
	}
	bool ours = sip && sip->sip_status && sip->sip_via && sip->sip_cseq &&
	    is_me(p, sip->sip_via->v_host, sip->sip_via->v_port);
	if (ours && sip->sip_cseq->cs_method == sip_method_invite && sip->sip_via->v_branch) {
		struct txn *t = branch_find(p, sip->sip_via->v_branch);
		if (t) {
			detached_answer(t, msg, sip);
			return 0;
		}
		if (sip->sip_status->st_status >= 300) {
			/* A non-2xx repeated after its INVITE was let go: our ACK was lost; ACK it where it came from. */
			char from[96], host[64];
			const su_sockaddr_t *su = msg_addr(msg);
			if (su && su_inet_ntop(su->su_family, SU_ADDR(su), host, sizeof(host))) {
				snprintf(from, sizeof(from), su->su_family == AF_INET6 ? "sip:[%s]:%u;transport=udp" :
				    "sip:%s:%u;transport=udp", host, ntohs(su->su_port));
				ack_answer(p, NULL, sip, (const url_string_t *)from);
			}
			nta_msg_discard(agent, msg);
			return 0;
		}
	}
	if (ours && sip->sip_via->v_next) {
		int status = sip->sip_status->st_status;
		metrics_sip_response(status);	/* to a request sent on statelessly */
		/* nta_msg_tsend takes our Via off a response and sends it to the next one; it frees msg either way. */
		if (nta_msg_tsend(agent, msg, NULL, TAG_END()) < 0)
			log_debug("stray response %d not forwarded", status);
		return 0;
	}
	nta_msg_discard(agent, msg);
	return 0;
}

/* ---- requests ---- */

/* Remove the Route entries that name this proxy (loose routing: it is their target). */
static void strip_own_routes(struct proxy *p, msg_t *msg, sip_t *sip)
{
	while (sip->sip_route && is_me(p, sip->sip_route->r_url->url_host, sip->sip_route->r_url->url_port))
		sip_route_remove(msg, sip);
}

/*
 * RFC 3261 16.3 step 4 and 16.6 step 8: the branch of every request this
 * proxy sends starts with a digest of what routes it (Request-URI, Route
 * entries other than ours, Call-ID, From and To tags, CSeq number), so that
 * a request arriving with one of our own Vias whose branch holds the digest
 * of the request as it arrives now has looped (not spiralled: a spiral has
 * another Request-URI or route set).  Our own Route entries are left out:
 * they are gone from the copy sent on.  Without this, a Request-URI naming
 * this proxy in another spelling (a port with a leading zero, a host name)
 * with a Max-Forwards of 2^32-1 kept it busy for seconds per datagram.  The
 * digest starts with a random key of this daemon, the same in all its
 * workers, so that a Via is known to be ours by its branch alone, whichever
 * worker's address (or spelling of it) it names.
 */
static void loop_key(const struct proxy *p, const sip_t *sip, char key[LOOP_KEY_LEN + 1])
{
	su_md5_t md5[1];
	uint8_t digest[SU_MD5_DIGEST_SIZE];

	su_md5_init(md5);
	su_md5_update(md5, &p->worker.daemon_key, sizeof(p->worker.daemon_key));
	url_update(md5, sip->sip_request->rq_url);
	for (const sip_route_t *r = sip->sip_route; r; r = r->r_next)
		if (!is_me(p, r->r_url->url_host, r->r_url->url_port))
			url_update(md5, r->r_url);
	su_md5_str0update(md5, sip->sip_call_id ? sip->sip_call_id->i_id : NULL);
	su_md5_str0update(md5, sip->sip_from ? sip->sip_from->a_tag : NULL);
	su_md5_str0update(md5, sip->sip_to ? sip->sip_to->a_tag : NULL);
	uint8_t cseq[4] = { 0 };
	if (sip->sip_cseq) {
		uint32_t n = sip->sip_cseq->cs_seq;
		cseq[0] = (uint8_t)(n >> 24), cseq[1] = (uint8_t)(n >> 16), cseq[2] = (uint8_t)(n >> 8), cseq[3] = (uint8_t)n;
	}
	su_md5_update(md5, cseq, sizeof(cseq));
	su_md5_digest(md5, digest);
	msg_random_token(key, LOOP_KEY_LEN, digest, sizeof(digest));
	key[LOOP_KEY_LEN] = '\0';
}

/* A fresh branch for the request sip about to be sent: magic cookie, loop key, '.', 64 random bits. */
static const char *new_branch(const struct proxy *p, const sip_t *sip, char branch[BRANCH_MAX + 1])
{
	char key[LOOP_KEY_LEN + 1], rnd[17];
	uint64_t r = su_random64();

	loop_key(p, sip, key);
	issize_t n = msg_random_token(rnd, 13, &r, sizeof(r));
	rnd[n > 0 ? n : 0] = '\0';
	snprintf(branch, BRANCH_MAX + 1, "z9hG4bK%s.%s", key, rnd);
	return branch;
}

/* Whether the request carries a Via of ours with the loop key it has now: it has come back unchanged. */
static bool looped(const struct proxy *p, const sip_t *in)
{
	char key[LOOP_KEY_LEN + 1];
	bool keyed = false;

	for (const sip_via_t *v = in->sip_via; v; v = v->v_next) {
		/* Only a branch shaped like ours (cookie, key, '.') is worth the digest: most requests have none. */
		if (!v->v_branch || strncasecmp(v->v_branch, "z9hG4bK", 7) != 0 ||
		    strnlen(v->v_branch + 7, LOOP_KEY_LEN + 1) <= LOOP_KEY_LEN || v->v_branch[7 + LOOP_KEY_LEN] != '.')
			continue;
		if (!keyed)
			loop_key(p, in, key), keyed = true;
		if (strncmp(v->v_branch + 7, key, LOOP_KEY_LEN) == 0)
			return true;
	}
	return false;
}

static bool creates_dialog(sip_method_t m)
{
	return m == sip_method_invite || m == sip_method_subscribe || m == sip_method_refer ||
	    m == sip_method_notify;
}

/* Reply and let nta finish the server transaction. */
static int reply_now(nta_incoming_t *irq, int status, const char *warning)
{
	nta_incoming_treply(irq, status, phrase_of(status), TAG_IF(warning, SIPTAG_WARNING_STR(warning)), TAG_END());
	nta_incoming_destroy(irq);
	return 0;
}

/*
 * msg_copy keeps the original's header chain and hangs a single-valued
 * header that came twice (the parser filed the second among the errors)
 * after the first, where nothing expects it: encoding that header again
 * then aborts (msg_parser.c serialize_one).  File such repeats among the
 * errors again, as the parser had them; they still go out as they came.
 */
static void refile_repeats(msg_t *msg)
{
	struct msg_pub_s *pub = (struct msg_pub_s *)sip_object(msg);
	msg_header_t **slot = &pub->msg_request, **end = (msg_header_t **)((char *)pub + pub->msg_size);

	for (; slot < end; slot++) {
		msg_header_t *h = *slot;
		if (!h || !h->sh_next || h->sh_class->hc_kind != msg_kind_single)
			continue;
		msg_error_t **e = &pub->msg_error;
		while (*e)
			e = &(*e)->er_next;
		*e = (msg_error_t *)h->sh_next;
		h->sh_next = NULL;
	}
}

/*
 * What every request sent on gets: Max-Forwards one less but at most
 * MAX_FORWARDS_OUT (the RFC 3261 default when absent), and our own Route
 * entries gone.  The header's wire text is dropped so the new count is
 * encoded.
 */
static void one_hop_on(struct proxy *p, msg_t *msg, sip_t *sip)
{
	if (sip->sip_max_forwards) {
		sip->sip_max_forwards->mf_count--;
		if (sip->sip_max_forwards->mf_count > MAX_FORWARDS_OUT)
			sip->sip_max_forwards->mf_count = MAX_FORWARDS_OUT;
		msg_fragment_clear(sip->sip_max_forwards->mf_common);
	} else
		sip_add_make(msg, sip, sip_max_forwards_class, "70");
	strip_own_routes(p, msg, sip);
}

/* A copy of the request to change and send on; NULL when out of memory. */
static msg_t *copy_request(nta_incoming_t *irq)
{
	msg_t *orig = nta_incoming_getrequest(irq);
	msg_t *msg = orig ? msg_copy(orig) : NULL;

	if (orig)
		msg_destroy(orig);
	if (msg && sip_object(msg))
		refile_repeats(msg);
	return msg;
}

/*
 * The decision on a request that needs one (policy_wants_decision): every
 * method, inside dialogs too.  Returns 1 to forward (with *facts kept for
 * a 488 that may come back when there were I_MESSAGEs), 0 when the request
 * was answered (or, an ACK, dropped) here, 2 when it waits for the lookup
 * (parked: decided again when the answer is there).
 */
static void on_lookup_ready(void *arg);
static int decide(struct proxy *p, nta_incoming_t *irq, const sip_t *sip, const char *call_id,
    struct request_facts **facts);
static int go_on(struct proxy *p, nta_incoming_t *irq, const sip_t *in, const char *call_id,
    struct request_facts *facts);

/* Wait for the lookup of target (a txn holding only irq until then); 2, or 0 when it could not (answered 500). */
static int park(struct proxy *p, nta_incoming_t *irq, bool ack, const char *target, const char *call_id)
{
	struct txn *t = calloc(1, sizeof(*t));

	if (t && target && (t->wait = lookup_wait(p->world->lookup, target, on_lookup_ready, t)) != NULL) {
		t->p = p;
		t->irq = irq;
		t->world = world_ref(p->world);
		t->parked = true;
		t->parked_ack = ack;
		snprintf(t->call_id, sizeof(t->call_id), "%s", call_id);
		txn_link(p, t);		/* waiting counts as in flight: max_in_flight bounds it */
		if (!ack)
			nta_incoming_bind(irq, on_cancel, t);
		return 2;
	}
	free(t);
	log_error("call %s: cannot wait for the lookup of %s (out of memory): 500", call_id, target ? target : "-");
	if (ack)
		nta_incoming_destroy(irq);
	else
		reply_now(irq, 500, NULL);
	return 0;
}

/* The lookup a request waited for has its answer: decide again, and go on as on_request would have. */
static void on_lookup_ready(void *arg)
{
	struct txn *t = arg;
	struct proxy *p = t->p;
	nta_incoming_t *irq = t->irq;
	bool ack = t->parked_ack;
	char call_id[sizeof(t->call_id)];
	struct request_facts *facts;

	memcpy(call_id, t->call_id, sizeof(call_id));
	t->wait = NULL;		/* the backend is done with it */
	nta_incoming_bind(irq, NULL, NULL);
	t->irq = NULL;		/* the request goes on below, in a txn of its own if it is forwarded */
	txn_free(t);
	msg_t *m = nta_incoming_getrequest(irq);
	const sip_t *in = m ? sip_object(m) : NULL;
	if (!in || p->stopping) {
		if (m)
			msg_destroy(m);
		if (ack)
			nta_incoming_destroy(irq);
		else
			reply_now(irq, p->stopping ? 503 : 500, NULL);
		return;
	}
	int d = decide(p, irq, in, call_id, &facts);
	if (d == 1)
		go_on(p, irq, in, call_id, facts);
	else if (d == 0 && ack)
		nta_incoming_destroy(irq);
	msg_destroy(m);
}

static int decide(struct proxy *p, nta_incoming_t *irq, const sip_t *sip, const char *call_id,
    struct request_facts **facts)
{
	bool ack = sip->sip_request->rq_method == sip_method_ack;
	bool initial_invite = sip->sip_request->rq_method == sip_method_invite && (!sip->sip_to || !sip->sip_to->a_tag);
	struct policy_ctx ctx = world_policy_ctx(p->world);
	struct request_facts *f;
	struct policy_outcome o;

	*facts = NULL;
	/* Most requests have no body: only an initial INVITE needs a decision without one. */
	if ((!sip->sip_payload || sip->sip_payload->pl_len == 0) && !initial_invite)
		return 1;
	if ((f = sipread_facts(sip)) == NULL) {
		log_error("call %s: out of memory: 500", call_id);
		if (!ack)
			reply_now(irq, 500, NULL);
		return 0;
	}
	if (!policy_wants_decision(&f->req)) {
		request_facts_free(f);
		return 1;
	}
	if (policy_decide_request(&ctx, &f->req, (int64_t)time(NULL), &o) < 0) {
		log_error("call %s: no decision (out of memory or signing failed): 500", call_id);
		request_facts_free(f);
		if (!ack)
			reply_now(irq, 500, NULL);
		return 0;
	}
	if (o.decision == POLICY_WAIT) {
		int parked = park(p, irq, ack, o.target, call_id);
		policy_outcome_clear(&o);
		request_facts_free(f);
		return parked;
	}
	record(call_id, &f->req, &o);
	int go = o.decision == POLICY_FORWARD;
	if (!go && ack) {
		/* An ACK has no answer: the refused one goes no further. */
		log_warn("call %s: ACK not forwarded (%s)", call_id, o.rule);
	} else if (!go) {
		/* Never the Warning of a forwarded one: it goes on untouched. */
		answer(p, irq, &o);
		nta_incoming_destroy(irq);
	}
	policy_outcome_clear(&o);
	if (go && f->req.mikey == POLICY_MIKEY) {
		request_facts_drop_messages(f);	/* the identities are all a 488 needs */
		*facts = f;
	} else {
		request_facts_free(f);
	}
	return go;
}

/* Where nta would send a request: the route given, a loose Route, else the Request-URI. */
static const url_t *next_hop_of(const sip_t *sip, const url_string_t *route)
{
	if (route)
		return route->us_url;
	if (sip->sip_route && url_has_param(sip->sip_route->r_url, "lr"))
		return sip->sip_route->r_url;
	return sip->sip_request->rq_url;
}

/* The host DNS must name, or NULL when the next hop is an IP address (nta needs no DNS then). */
static const char *dns_host(const url_t *u, char *maddr, size_t cap)
{
	const char *h = u->url_host;

	if (u->url_params && url_param(u->url_params, "maddr", maddr, cap) > 0)
		h = maddr;
	return h && !host_is_ip_address(h) ? h : NULL;
}

/* A numeric route to a DNS target, for nta; out holds 96 characters. */
static const url_string_t *target_uri(const struct resolve_target *x, char *out, size_t cap)
{
	snprintf(out, cap, "sip:%s:%u;transport=%s", x->host, x->port, x->transport);
	return (const url_string_t *)out;
}

static void on_resolved(void *arg, const struct resolve_result *res, const char *error);

/*
 * Look the next hop up: 1 with the targets in t (from the cache), 0 when
 * DNS is asked (on_resolved follows), -1 after answering upstream.
 */
static int resolve_next_hop(struct txn *t, const url_t *u, const char *host)
{
	char tp[16];
	bool sips = u->url_type == url_sips;
	unsigned port = u->url_port ? (unsigned)strtoul(u->url_port, NULL, 10) : 0;
	bool has_tp = u->url_params && url_param(u->url_params, "transport", tp, sizeof(tp)) > 0;
	int rc = resolve_sip(t->p->resolver, host, port, has_tp ? tp : NULL, sips, on_resolved, t, &t->targets,
	    &t->query);

	if (rc >= 0)
		return rc;
	int status = rc == -ENOMEM ? 500 : rc == -EINVAL ? 400 : 503;
	const char *why = rc == -ENOMEM ? "out of memory" : rc == -EINVAL ? "not a DNS name"
			: rc == -EPROTONOSUPPORT ? "no such transport here (TLS needs a TLS address in server.listen)"
			: rc == -EIO ? "the DNS resolver is not running" : "no such host";
	char warning[256];
	log_warn("call %s: next hop %s: %s: %d", t->call_id, host, why, status);
	snprintf(warning, sizeof(warning), "399 %s \"next hop %s: %s\"", t->p->me[0].host,
	    strlen(host) < 96 ? host : "(long name)", why);
	nta_incoming_treply(t->irq, status, phrase_of(status), SIPTAG_WARNING_STR(warning), TAG_END());
	t->answered = true;
	return -1;
}

/* Send the prepared request to the next DNS target; false when none is left (nothing answered yet). */
static bool try_next_target(struct txn *t)
{
	while (t->next_target < t->targets.n) {
		char uri[96];
		const url_string_t *route = target_uri(&t->targets.t[t->next_target++], uri, sizeof(uri));
		msg_t *msg = t->next_target < t->targets.n ? msg_copy(t->prepared) : t->prepared;
		if (!msg)
			return false;
		if (msg == t->prepared)
			t->prepared = NULL;	/* the last target gets the original */
		char branch[BRANCH_MAX + 1];
		remember_route(t, route);
		t->orq = nta_outgoing_mcreate(t->p->agent, on_response, t, route, msg,
		    NTATAG_BRANCH_KEY(new_branch(t->p, sip_object(msg), branch)), TAG_END());
		if (t->orq)
			return true;
		msg_destroy(msg);
	}
	return false;
}

static void cannot_forward(struct txn *t, const char *why)
{
	log_warn("call %s: cannot forward: %s: 503", t->call_id, why);
	nta_incoming_treply(t->irq, SIP_503_SERVICE_UNAVAILABLE, TAG_END());
	t->answered = true;
	txn_free(t);
}

static void on_resolved(void *arg, const struct resolve_result *res, const char *error)
{
	struct txn *t = arg;
	char warning[256];

	t->query = NULL;
	if (!res) {
		log_warn("call %s: next hop not resolved: %s: 503", t->call_id, error);
		snprintf(warning, sizeof(warning), "399 %s \"next hop not resolved: %s\"", t->p->me[0].host, error);
		nta_incoming_treply(t->irq, SIP_503_SERVICE_UNAVAILABLE, SIPTAG_WARNING_STR(warning), TAG_END());
		t->answered = true;
		txn_free(t);
		return;
	}
	t->targets = *res;
	t->next_target = 0;
	if (!try_next_target(t))
		cannot_forward(t, "no DNS target could be used");
}

/* ---- ACK for a 2xx: end to end, no transaction ---- */

static void send_ack(struct proxy *p, msg_t *msg, const url_string_t *route)
{
	char branch[BRANCH_MAX + 1];
	nta_outgoing_t *orq = nta_outgoing_mcreate(p->agent, NULL, NULL, route, msg, NTATAG_STATELESS(1),
	    NTATAG_BRANCH_KEY(new_branch(p, sip_object(msg), branch)), TAG_END());

	if (!orq) {
		log_debug("ACK not forwarded");
		msg_destroy(msg);
	}
}

static void held_ack_free(struct held_ack *a)
{
	if ((*a->prev = a->next) != NULL)
		a->next->prev = a->prev;
	resolve_cancel(a->query);
	if (a->msg)
		msg_destroy(a->msg);
	free(a);
}

static void on_ack_resolved(void *arg, const struct resolve_result *res, const char *error)
{
	struct held_ack *a = arg;
	char uri[96];

	a->query = NULL;
	if (res && res->n) {
		send_ack(a->p, a->msg, target_uri(&res->t[0], uri, sizeof(uri)));
		a->msg = NULL;
	} else {
		log_debug("ACK not forwarded: %s", error ? error : "no DNS target");
	}
	held_ack_free(a);
}

/* Statelessly to its next hop; a name is resolved first (the ACK waits, held). */
static void forward_ack(struct proxy *p, msg_t *msg, const sip_t *sip, const url_string_t *route)
{
	const url_t *u = next_hop_of(sip, route);
	char maddr[256], tp[16], uri[96];
	const char *host = dns_host(u, maddr, sizeof(maddr));
	struct resolve_result now;
	struct held_ack *a;

	if (!host) {
		send_ack(p, msg, route);
		return;
	}
	if ((a = calloc(1, sizeof(*a))) == NULL) {
		msg_destroy(msg);
		return;
	}
	a->p = p;
	a->msg = msg;
	if ((a->next = p->acks) != NULL)
		a->next->prev = &a->next;
	a->prev = &p->acks;
	p->acks = a;
	int rc = resolve_sip(p->resolver, host, u->url_port ? (unsigned)strtoul(u->url_port, NULL, 10) : 0,
	    u->url_params && url_param(u->url_params, "transport", tp, sizeof(tp)) > 0 ? tp : NULL,
	    u->url_type == url_sips, on_ack_resolved, a, &now, &a->query);
	if (rc == 1) {
		send_ack(p, msg, target_uri(&now.t[0], uri, sizeof(uri)));
		a->msg = NULL;
	}
	if (rc != 0)
		held_ack_free(a);
}

/* ---- overload control ---- */

/* How full the fullest SIP UDP receive queue is, in % of its buffer (SO_MEMINFO counts what the kernel holds). */
static unsigned queue_percent(const struct proxy *p)
{
	unsigned pct = 0;

	for (size_t i = 0; i < p->n_udp_fds; i++) {
		uint32_t mem[SK_MEMINFO_VARS] = { 0 };
		socklen_t len = sizeof(mem);
		if (getsockopt(p->udp_fds[i], SOL_SOCKET, SO_MEMINFO, mem, &len) < 0 || !mem[SK_MEMINFO_RCVBUF])
			continue;
		uint64_t q = (uint64_t)mem[SK_MEMINFO_RMEM_ALLOC] * 100 / mem[SK_MEMINFO_RCVBUF];
		if (q > pct)
			pct = q > 100 ? 100 : (unsigned)q;
	}
	return pct;
}

static void load_changed(struct proxy *p, enum overload_change c)
{
	const struct conf *cf = p->world->conf;
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (c == OVERLOAD_STARTED) {
		p->overload_since = now;
		if (p->overload.cause == OVERLOAD_QUEUE)
			log_warn("overload: receive queue %u %% full (queue_high %d %%), %u request(s) in flight: "
			    "refusing new requests with 503 Retry-After %d", p->queue_pct, cf->overload.queue_high,
			    p->in_flight, cf->overload.retry_after);
		else
			log_warn("overload: %u request(s) in flight (max_in_flight %d), receive queue %u %% full: "
			    "refusing new requests with 503 Retry-After %d", p->in_flight, cf->overload.max_in_flight,
			    p->queue_pct, cf->overload.retry_after);
	} else if (c == OVERLOAD_ENDED) {
		long ms = (now.tv_sec - p->overload_since.tv_sec) * 1000L +
		    (now.tv_nsec - p->overload_since.tv_nsec) / 1000000L;
		log_warn("overload: over after %ld ms, %lu new request(s) refused, receive queue at most %u %% full: "
		    "admitting again", ms, p->overload.refused, p->overload.peak_queue);
	}
}

static void measure_load(struct proxy *p)
{
	const struct conf *cf = p->world->conf;
	const struct overload_limits l = {
		.queue_high = (unsigned)cf->overload.queue_high, .queue_low = (unsigned)cf->overload.queue_low,
		.max_in_flight = (unsigned)cf->overload.max_in_flight, .retry_after = (unsigned)cf->overload.retry_after,
	};
	load_changed(p, overload_update(&p->overload, &l, p->queue_pct, p->in_flight));
	metrics_in_flight(p->in_flight);
}

/* Is u (a next hop nta sent to) host:port over TLS?  host as the socket names it (IPv6 without brackets). */
static bool tls_hop_is(const url_t *u, const char *host, unsigned port)
{
	char tp[8], h[HOST_MAX];
	bool tls = u->url_type == url_sips ||
	    (u->url_params && url_param(u->url_params, "transport", tp, sizeof(tp)) > 0 && strcasecmp(tp, "tls") == 0);
	const char *uh = u->url_host;
	size_t n;

	if (!tls || !uh || (u->url_port ? strtoul(u->url_port, NULL, 10) : 5061) != port)
		return false;
	if (uh[0] == '[' && (n = strlen(uh)) > 2 && n - 2 < sizeof(h)) {
		memcpy(h, uh + 1, n - 2);
		h[n - 2] = '\0';
		uh = h;
	}
	return host_cmp(uh, host) == 0;
}

/*
 * An outgoing TLS handshake failed (sofia_tls.c): the requests waiting to
 * go to that peer are not told by the SIP stack, so they are answered here,
 * as for any transport error: the next DNS target, or 503 upstream.
 */
static void on_tls_refused(void *arg, const char *host, unsigned port, const char *why)
{
	struct proxy *p = arg;

	for (struct txn *t = p->txns, *next; t; t = next) {
		next = t->next;
		const url_t *u = t->orq ? nta_outgoing_route_uri(t->orq) : NULL;
		if (!u && t->orq)
			u = nta_outgoing_request_uri(t->orq);
		if (t->answered || !u || !tls_hop_is(u, host, port))
			continue;
		nta_outgoing_t *orq = t->orq;
		t->orq = NULL;
		if (t->next_target < t->targets.n && try_next_target(t)) {
			nta_outgoing_destroy(orq);
			continue;
		}
		nta_outgoing_destroy(orq);
		char text[256], warning[320];
		snprintf(text, sizeof(text), "TLS with the next hop %s:%u failed: %s", host, port, why);
		warning_value(p, text, warning, sizeof(warning));
		log_warn("call %s: 503 upstream: %s", t->call_id, text);
		nta_incoming_treply(t->irq, SIP_503_SERVICE_UNAVAILABLE, SIPTAG_WARNING_STR(warning), TAG_END());
		t->answered = true;
		txn_free(t);
		next = p->txns;	/* txn_free may have changed the list around t: start again (answered ones are skipped) */
	}
}

static void on_load_timer(struct proxy *p, su_timer_t *timer, su_timer_arg_t *arg)
{
	(void)timer;
	(void)arg;
	sofia_tls_take_refused(on_tls_refused, p);
	p->queue_pct = queue_percent(p);
	measure_load(p);
	if (++p->load_ticks % (1000 / LOAD_PERIOD_MS) == 0) {
		struct timespec now;
		expire_detached(p);
		clock_gettime(CLOCK_MONOTONIC, &now);
		conn_guard_close_idle((uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u,
		    (unsigned)p->world->conf->limits.idle_timeout * 1000u);
	}
}

/* ---- server.peers: who may send, and where requests may go ---- */

/* Where a URI sends a request: its maddr, else its host. */
static const char *destination_of(const url_t *u, char *maddr, size_t cap)
{
	if (u->url_params && url_param(u->url_params, "maddr", maddr, cap) > 0)
		return maddr;
	return u->url_host;
}

/* The TLS identities the request's connection proved (verified certificate), as Sofia-SIP collected them. */
static size_t tls_identities(struct proxy *p, nta_incoming_t *irq, msg_t *msg, const char **ids, size_t cap)
{
	tport_t *tp = nta_incoming_transport(p->agent, irq, msg);
	size_t n = 0;

	if (tp && tport_is_verified(tp)) {
		su_strlst_t const *l = tport_delivered_from_subjects(tp, msg);
		for (usize_t i = 0; l && i < su_strlst_len(l) && n < cap; i++)
			ids[n++] = su_strlst_item(l, i);
	}
	if (tp)
		tport_unref(tp);
	return n;
}

/*
 * With server.peers (no open relay): a request outside a dialog must come
 * from a peer (its address, or a TLS identity its connection proved) and
 * go where the configuration allows (the next hop, a peer's address or
 * domain); one inside a dialog must come along this proxy's Record-Route
 * (its top Route names us).  Others get 403, logged and audited.  True
 * when refused (answered).
 */
static bool refused_access(struct proxy *p, nta_incoming_t *irq, const sip_t *in, const char *call_id)
{
	const struct access *a = p->world->access;
	bool ack = in->sip_request->rq_method == sip_method_ack;
	const char *rule = NULL;
	char why[192], from[64] = "?", maddr[256];

	if (!a)
		return false;
	msg_t *msg = nta_incoming_getrequest(irq);
	su_addrinfo_t *ai = msg ? msg_addrinfo(msg) : NULL;
	if (ai && ai->ai_addr)
		su_inet_ntop(ai->ai_family, SU_ADDR((su_sockaddr_t *)ai->ai_addr), from, sizeof(from));
	if (in->sip_to && in->sip_to->a_tag) {
		/* our Route on top; or, from a strict router (RFC 2543), our Record-Route as the Request-URI */
		const url_t *top = in->sip_route ? in->sip_route->r_url : in->sip_request->rq_url;
		if (!is_me(p, top->url_host, top->url_port)) {
			rule = "access:not-our-dialog";
			snprintf(why, sizeof(why), "a request inside a dialog from %s without this proxy's Route", from);
		}
	} else {
		const char *ids[16];
		size_t n_ids = tls_identities(p, irq, msg, ids, 16);
		const sip_route_t *r = in->sip_route;
		while (r && is_me(p, r->r_url->url_host, r->r_url->url_port))
			r = r->r_next;
		const url_t *du = r ? r->r_url : p->next_hop ? NULL : in->sip_request->rq_url;
		const char *dest = du ? destination_of(du, maddr, sizeof(maddr)) : NULL;
		if (!access_from_peer(a, ai ? ai->ai_addr : NULL, ids, n_ids, NULL)) {
			rule = "access:not-a-peer";
			if (n_ids)
				snprintf(why, sizeof(why), "%s (TLS %.96s) is not a peer of this server", from, ids[0]);
			else
				snprintf(why, sizeof(why), "%s is not a peer of this server", from);
		} else if (dest && !is_me(p, dest, du->url_port) && !access_may_relay_to(a, dest)) {
			rule = "access:relay";
			snprintf(why, sizeof(why), "no relaying to %.96s", dest);
		}
	}
	if (msg)
		msg_destroy(msg);
	if (!rule)
		return false;
	if (ack) {
		log_warn("call %s: ACK not forwarded (%s): %s", call_id, rule, why);
		nta_incoming_destroy(irq);
		return true;
	}
	struct request_facts *f = sipread_facts(in);
	struct policy_ctx ctx = world_policy_ctx(p->world);
	struct policy_outcome o;
	if (!f || policy_refuse_access(&ctx, &f->req, (int64_t)time(NULL), rule, 403, why, &o) < 0) {
		log_warn("call %s: 403 (%s): %s", call_id, rule, why);
		reply_now(irq, 403, NULL);
	} else {
		record(call_id, &f->req, &o);
		answer(p, irq, &o);
		nta_incoming_destroy(irq);
		policy_outcome_clear(&o);
	}
	request_facts_free(f);
	return true;
}

/*
 * New work only: a request outside any dialog that is neither ACK nor
 * CANCEL.  What belongs to a call already admitted (responses, ACK,
 * CANCEL, in-dialog requests) is always served.  True when refused.
 */
static bool refused_for_load(struct proxy *p, nta_incoming_t *irq, const sip_t *in)
{
	sip_method_t m = in->sip_request->rq_method;

	if (m == sip_method_ack || m == sip_method_cancel || (in->sip_to && in->sip_to->a_tag))
		return false;
	/* Measured at each new request (one getsockopt per UDP socket): a timer would lag behind a queue that drains fast. */
	p->queue_pct = queue_percent(p);
	measure_load(p);
	if (overload_admit(&p->overload))
		return false;
	char secs[16];
	snprintf(secs, sizeof(secs), "%d", p->world->conf->overload.retry_after);
	nta_incoming_treply(irq, SIP_503_SERVICE_UNAVAILABLE, SIPTAG_RETRY_AFTER_STR(secs), TAG_END());
	nta_incoming_destroy(irq);
	return true;
}

/*
 * limits.source_rate: new work from one address beyond its rate is refused
 * early, 503 with the seconds until it may send again; a line when a source
 * starts being refused, another when it is admitted again.
 */
static bool refused_for_flood(struct proxy *p, nta_incoming_t *irq, const sip_t *in, const su_sockaddr_t *su)
{
	const struct conf *c = p->world->conf;
	sip_method_t m = in->sip_request->rq_method;
	unsigned retry = 1;
	unsigned long refused = 0;
	char host[64] = "?";

	if (!c->limits.source_rate || !p->rl || m == sip_method_ack || m == sip_method_cancel ||
	    (in->sip_to && in->sip_to->a_tag))
		return false;
	const void *key = NULL;
	size_t len = 0;
	if (su && su->su_family == AF_INET)
		key = &su->su_sin.sin_addr, len = sizeof(su->su_sin.sin_addr);
	else if (su && su->su_family == AF_INET6)
		key = &su->su_sin6.sin6_addr, len = sizeof(su->su_sin6.sin6_addr);
	if (su)
		su_inet_ntop(su->su_family, SU_ADDR(su), host, sizeof(host));
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	unsigned burst = c->limits.source_burst ? (unsigned)c->limits.source_burst : 2u * (unsigned)c->limits.source_rate;
	enum ratelimit_verdict v = ratelimit_take(p->rl, key, len, (unsigned)c->limits.source_rate, burst,
	    (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u, &retry, &refused);
	if (v == RATELIMIT_ADMIT)
		return false;
	if (v == RATELIMIT_ADMIT_AGAIN) {
		log_warn("flood: %s admitted again (%lu new request(s) refused)", host, refused);
		return false;
	}
	if (v == RATELIMIT_REFUSE_FIRST)
		log_warn("flood: %s sends more than %d new requests a second (limits.source_rate): refusing them "
		    "with 503", host, c->limits.source_rate);
	char secs[16];
	snprintf(secs, sizeof(secs), "%u", retry);
	nta_incoming_treply(irq, SIP_503_SERVICE_UNAVAILABLE, SIPTAG_RETRY_AFTER_STR(secs), TAG_END());
	nta_incoming_destroy(irq);
	return true;
}

/* The UDP sockets nta listens on: open descriptors bound to one of our UDP ports. */
static void find_udp_sockets(struct proxy *p)
{
	for (int fd = 0; fd < 1024 && p->n_udp_fds < MAX_LISTEN; fd++) {
		int type = 0;
		socklen_t tl = sizeof(type);
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 || type != SOCK_DGRAM ||
		    getsockname(fd, (struct sockaddr *)&ss, &sl) < 0 ||
		    (ss.ss_family != AF_INET && ss.ss_family != AF_INET6))
			continue;
		unsigned port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port :
		    ((struct sockaddr_in6 *)&ss)->sin6_port);
		for (size_t i = 0; i < p->n_me; i++)
			if (strcasecmp(p->me[i].proto, "udp") == 0 && (unsigned)atoi(p->me[i].port) == port) {
				p->udp_fds[p->n_udp_fds++] = fd;
				break;
			}
	}
}

static int on_request(struct proxy *p, nta_leg_t *leg, nta_incoming_t *irq, const sip_t *in)
{
	(void)leg;
	sip_method_t method = in->sip_request->rq_method;
	metrics_sip_request(in->sip_request->rq_method_name);
	bool ack = method == sip_method_ack;
	/* Where it came from, read once: the request may be answered (and freed) before it is needed. */
	su_sockaddr_t src = { .su_family = AF_UNSPEC };
	msg_t *req = nta_incoming_getrequest(irq);
	su_addrinfo_t *ai = req ? msg_addrinfo(req) : NULL;
	note_delivered(ai);
	if (ai && ai->ai_addr && ai->ai_addrlen <= sizeof(src))
		memcpy(&src, ai->ai_addr, ai->ai_addrlen);
	if (req)
		msg_destroy(req);

	if (p->stopping)
		return ack ? (nta_incoming_destroy(irq), 0) : reply_now(irq, 503, NULL);
	if (refused_for_load(p, irq, in)) {
		metrics_refused(METRICS_REFUSED_OVERLOAD);
		return 0;
	}
	if (refused_for_flood(p, irq, in, src.su_family == AF_UNSPEC ? NULL : &src)) {
		metrics_refused(METRICS_REFUSED_FLOOD);
		return 0;
	}
	if (in->sip_max_forwards && in->sip_max_forwards->mf_count == 0)
		return ack ? (nta_incoming_destroy(irq), 0) : reply_now(irq, 483, NULL);
	if (looped(p, in)) {
		log_warn("call %s: %s came back unchanged (loop): 482",
		    in->sip_call_id && in->sip_call_id->i_id ? in->sip_call_id->i_id : "-", in->sip_request->rq_method_name);
		return ack ? (nta_incoming_destroy(irq), 0) : reply_now(irq, 482, NULL);
	}
	const url_t *ruri = in->sip_request->rq_url;
	if (ruri->url_type == url_unknown || ruri->url_type == url_invalid) {
		/* RFC 3261 16.3 step 2: a Request-URI scheme this proxy does not understand (RFC 4475 3.3.2). */
		return ack ? (nta_incoming_destroy(irq), 0) : reply_now(irq, 416, NULL);
	}
	if (ruri->url_headers) {
		/* Escaped headers in the Request-URI must not be forwarded (RFC 4475 3.1.2.11): refused. */
		if (ack)
			return nta_incoming_destroy(irq), 0;
		nta_incoming_treply(irq, 400, "Bad Request-URI (headers in it)", TAG_END());
		nta_incoming_destroy(irq);
		return 0;
	}
	size_t n_routes = 0;
	for (const sip_route_t *r = in->sip_route; r && n_routes <= MAX_ROUTES; r = r->r_next)
		n_routes++;
	if (n_routes > MAX_ROUTES) {
		if (ack)
			return nta_incoming_destroy(irq), 0;
		nta_incoming_treply(irq, 400, "Too Many Route Entries", TAG_END());
		nta_incoming_destroy(irq);
		return 0;
	}
	if (in->sip_proxy_require && !ack && method != sip_method_cancel) {
		/* RFC 3261 16.3 step 4: this proxy supports no extension; say which it was asked for. */
		char tags[256];
		issize_t n = msg_header_field_e(tags, sizeof(tags), (const msg_header_t *)in->sip_proxy_require, 0);
		nta_incoming_treply(irq, SIP_420_BAD_EXTENSION,
		    TAG_IF(n > 0 && (size_t)n < sizeof(tags), SIPTAG_UNSUPPORTED_STR(tags)), TAG_END());
		nta_incoming_destroy(irq);
		return 0;
	}

	struct request_facts *facts;
	const char *call_id = in->sip_call_id && in->sip_call_id->i_id ? in->sip_call_id->i_id : "-";
	if (refused_access(p, irq, in, call_id)) {
		metrics_refused(METRICS_REFUSED_ACCESS);
		return 0;
	}
	switch (decide(p, irq, in, call_id, &facts)) {
	case 0:
		if (ack)
			nta_incoming_destroy(irq);
		return 0;
	case 2:
		return 0;	/* on_lookup_ready goes on */
	}
	return go_on(p, irq, in, call_id, facts);
}

/* A request decided to go on: copy it, add our Route and Record-Route, resolve its next hop, send it. */
static int go_on(struct proxy *p, nta_incoming_t *irq, const sip_t *in, const char *call_id,
    struct request_facts *facts)
{
	sip_method_t method = in->sip_request->rq_method;
	bool ack = method == sip_method_ack;
	msg_t *msg = copy_request(irq);
	sip_t *sip = msg ? sip_object(msg) : NULL;
	if (!sip) {
		if (msg)
			msg_destroy(msg);
		request_facts_free(facts);
		return ack ? (nta_incoming_destroy(irq), 0) : reply_now(irq, 500, NULL);
	}

	one_hop_on(p, msg, sip);

	bool initial = !sip->sip_to || !sip->sip_to->a_tag;
	const url_t *ru = sip->sip_request->rq_url;
	/* An OPTIONS whose Request-URI is this proxy's own address, without a user part, is for this
	 * proxy even when server.next_hop takes every other initial request: the keep-alive probe of
	 * a load balancer in front of it (Kamailio's dispatcher) must learn whether this proxy is up,
	 * not whether the next hop is. */
	bool probe = method == sip_method_options && !(ru->url_user && *ru->url_user);
	const url_string_t *route = NULL;
	if (!sip->sip_route && initial && p->next_hop && !(probe && is_me(p, ru->url_host, ru->url_port)))
		route = (const url_string_t *)p->next_hop;
	else if (!sip->sip_route && is_me(p, ru->url_host, ru->url_port)) {
		/* For this proxy itself: a keep-alive OPTIONS is answered, anything else has nowhere to go. */
		msg_destroy(msg);
		request_facts_free(facts);
		if (ack) {
			nta_incoming_destroy(irq);
			return 0;
		}
		return reply_now(irq, method == sip_method_options ? 200 : 404, NULL);
	}

	if (ack) {
		request_facts_free(facts);
		forward_ack(p, msg, sip, route);
		nta_incoming_destroy(irq);
		return 0;
	}

	struct txn *t = calloc(1, sizeof(*t));
	if (!t) {
		msg_destroy(msg);
		request_facts_free(facts);
		return reply_now(irq, 500, NULL);
	}
	t->p = p;
	t->irq = irq;
	t->world = world_ref(p->world);
	t->facts = facts;
	snprintf(t->call_id, sizeof(t->call_id), "%s", call_id);
	txn_link(p, t);
	nta_incoming_bind(irq, on_cancel, t);

	if (initial && creates_dialog(method)) {
		const struct me *m = me_of(p, irq, msg);
		sip_record_route_t *rr = sip_record_route_make(msg_home(msg), m->rr);
		if (rr)
			msg_header_insert(msg, (msg_pub_t *)sip, (msg_header_t *)rr);
	}

	/* A next hop named by DNS is resolved here, not by nta. */
	char maddr[256];
	const url_t *u = next_hop_of(sip, route);
	const char *host = dns_host(u, maddr, sizeof(maddr));
	if (host) {
		t->prepared = msg;
		int rc = resolve_next_hop(t, u, host);
		if (rc < 0)
			txn_free(t);
		else if (rc == 1 && !try_next_target(t))
			cannot_forward(t, "no DNS target could be used");
		return 0;
	}
	char branch[BRANCH_MAX + 1];
	remember_route(t, route);
	t->orq = nta_outgoing_mcreate(p->agent, on_response, t, route, msg,
	    NTATAG_BRANCH_KEY(new_branch(p, sip, branch)), TAG_END());
	if (!t->orq) {
		msg_destroy(msg);
		cannot_forward(t, in->sip_request->rq_method_name);
	}
	return 0;
}

/* ---- requests inside dialogs without a body: sent on statelessly ---- */

/*
 * Whether a request can go on statelessly (RFC 3261 16.11): inside a
 * dialog, no body (so nothing to decide on), nothing for this proxy to
 * answer (no Proxy-Require, no loop, Max-Forwards left, no parse error or
 * repeated header, a SIP Request-URI without headers, loose routing), and
 * a next hop that is an IP address: a DNS name may fail, and that failure
 * must be answered.  A BYE, typically: its server transaction would be
 * kept 32 s after its answer (Timer J) for nothing.
 */
static bool goes_statelessly(const struct proxy *p, const sip_t *sip)
{
	sip_method_t m = sip->sip_request->rq_method;
	const url_t *ruri = sip->sip_request->rq_url;

	if (p->stopping || m == sip_method_invite || m == sip_method_ack || m == sip_method_cancel ||
	    m == sip_method_unknown || !sip->sip_to || !sip->sip_to->a_tag || !sip->sip_from ||
	    !sip->sip_call_id || !sip->sip_cseq || !sip->sip_via || !sip->sip_via->v_branch || sip->sip_error ||
	    (sip->sip_payload && sip->sip_payload->pl_len) ||
	    (sip->sip_content_length && sip->sip_content_length->l_length) || sip->sip_proxy_require ||
	    (sip->sip_max_forwards && sip->sip_max_forwards->mf_count == 0) ||
	    ruri->url_type != url_sip || ruri->url_headers)
		return false;
	size_t n_routes = 0;
	for (const sip_route_t *r = sip->sip_route; r; r = r->r_next)
		if (++n_routes > MAX_ROUTES)
			return false;
	/* with server.peers, only along our Record-Route (refused_access answers the others) */
	if (p->world->access && (!sip->sip_route || !is_me(p, sip->sip_route->r_url->url_host,
	    sip->sip_route->r_url->url_port)))
		return false;
	const sip_route_t *r = sip->sip_route;
	while (r && is_me(p, r->r_url->url_host, r->r_url->url_port))
		r = r->r_next;
	if (r && !url_has_param(r->r_url, "lr"))
		return false;
	if (!r && is_me(p, ruri->url_host, ruri->url_port))
		return false;
	char maddr[256];
	return !dns_host(r ? r->r_url : ruri, maddr, sizeof(maddr)) && !looped(p, sip);
}

/* The branch of a request sent on statelessly: the same for each retransmission (RFC 3261 16.11). */
static const char *stateless_branch(const struct proxy *p, const sip_t *sip, char branch[BRANCH_MAX + 1])
{
	char key[LOOP_KEY_LEN + 1], tok[17];
	su_md5_t md5[1];
	uint8_t digest[SU_MD5_DIGEST_SIZE];

	loop_key(p, sip, key);
	su_md5_init(md5);
	su_md5_str0update(md5, sip->sip_via->v_branch);
	su_md5_str0update(md5, sip->sip_via->v_host);
	su_md5_str0update(md5, sip->sip_via->v_port);
	su_md5_str0update(md5, sip->sip_request->rq_method_name);
	su_md5_digest(md5, digest);
	issize_t n = msg_random_token(tok, 16, digest, sizeof(digest));
	tok[n > 0 ? n : 0] = '\0';
	snprintf(branch, BRANCH_MAX + 1, "z9hG4bK%s.%s", key, tok);
	return branch;
}

static void forward_statelessly(struct proxy *p, msg_t *msg, sip_t *sip)
{
	char branch[BRANCH_MAX + 1];

	stateless_branch(p, sip, branch);
	one_hop_on(p, msg, sip);
	const char *call_id = sip->sip_call_id->i_id, *method = sip->sip_request->rq_method_name;
	char what[160];
	snprintf(what, sizeof(what), "call %s: %s", call_id, method);
	/*
	 * nta adds our Via with that branch.  Not nta_msg_tsend: when it cannot
	 * send a request it keeps a reference to it for ever (the fuzzer saw
	 * it leak every request refused by a closed TCP port); a stateless
	 * client transaction that fails leaves msg to us.
	 */
	if (!nta_outgoing_mcreate(p->agent, NULL, NULL, NULL, msg, NTATAG_STATELESS(1), NTATAG_BRANCH_KEY(branch),
	    TAG_END())) {
		log_warn("%s in a dialog not sent on statelessly: the next hop cannot be reached", what);
		msg_destroy(msg);
	}
}

/*
 * Every request that is not a retransmission comes here (the agent's
 * callback: there is no default leg): in a dialog and without a body it
 * may go on statelessly, anything else gets a server transaction and
 * on_request.
 */
static void on_request_message(struct proxy *p, nta_agent_t *agent, msg_t *msg, sip_t *sip)
{
	if (goes_statelessly(p, sip)) {
		metrics_sip_request(sip->sip_request->rq_method_name);
		forward_statelessly(p, msg, sip);
		return;
	}
	nta_incoming_t *irq = nta_incoming_create(agent, NULL, msg, sip, TAG_END());
	if (!irq) {
		log_warn("no server transaction for a %s request (out of memory?): dropped",
		    sip->sip_request->rq_method_name);
		return;
	}
	on_request(p, NULL, irq, sip);
}

/* ---- set-up ---- */

/* Sofia-SIP's own messages (transport errors and the like) join our log, a line at a time. */
static char sofia_line[512];
static size_t sofia_len;

/* The stack's words on a refused TLS handshake: sofia_tls.c logs the same with the peer's address. */
static bool said_by_sofia_tls(const char *line)
{
	static const char *const prefixes[] = { "-Error with certificate", "  issuer   =", "  subject  =", "  err ",
		"tls_connect(", NULL };

	for (size_t i = 0; prefixes[i]; i++)
		if (strncmp(line, prefixes[i], strlen(prefixes[i])) == 0)
			return true;
	return false;
}

static void sofia_log(void *stream, const char *fmt, va_list ap)
{
	char piece[512];
	(void)stream;
	int n = vsnprintf(piece, sizeof(piece), fmt, ap);
	for (int i = 0; i < n && i < (int)sizeof(piece) - 1; i++) {
		if (piece[i] == '\n' || sofia_len + 1 >= sizeof(sofia_line)) {
			sofia_line[sofia_len] = '\0';
			if (sofia_len && !said_by_sofia_tls(sofia_line))
				log_warn("sip stack: %s", sofia_line);
			sofia_len = 0;
			if (piece[i] == '\n')
				continue;
		}
		sofia_line[sofia_len++] = piece[i] == '\t' ? ' ' : piece[i];
	}
}

/* The stack's per-module logs: exported by libsofia-sip-ua, not declared in its public headers. */
extern su_log_t tport_log[], nta_log[], sresolv_log[];

void proxy_log_to_ours(void)
{
	su_log_redirect(su_log_default, sofia_log, NULL);
	su_log_redirect(tport_log, sofia_log, NULL);
	su_log_redirect(nta_log, sofia_log, NULL);
	su_log_redirect(sresolv_log, sofia_log, NULL);
}

/* This worker's own address for a listen URI: the same URI on the worker's port (0: the kernel picks one). */
static char *own_uri(su_home_t *home, const char *listen, const struct proxy_worker *w)
{
	url_t *u = url_hdup(home, URL_STRING_MAKE(listen)->us_url);
	char port[8];

	if (!u)
		return NULL;
	snprintf(port, sizeof(port), "%d", w->port_base ? w->port_base + (int)w->index : 0);
	u->url_port = port;
	return url_as_string(home, u);
}

/*
 * Bind one listen URI: the first one creates the agent.  A TLS one gets the
 * credentials' folder and the policy: with tls.verify_peer, the peer's
 * certificate must chain to tls.ca in both directions (mutual
 * authentication), and be valid now.
 */
static int bind_one(struct proxy *p, const struct conf *c, const char *uri, const char *ident)
{
	bool tls = tls_uri(uri);
	unsigned policy = c->tls.verify_peer ? TPTLS_VERIFY_ALL : TPTLS_VERIFY_NONE;
	char sips[HOST_MAX + 24];

	/* nta binds TLS for a sips: URI only (a sip: one's transports are udp, tcp and sctp) */
	if (tls) {
		url_t *u = url_hdup(p->home, URL_STRING_MAKE(uri)->us_url);
		if (!u || !u->url_host)
			return -1;
		snprintf(sips, sizeof(sips), "sips:%s:%s", u->url_host, u->url_port && *u->url_port ? u->url_port : "5061");
		su_free(p->home, u);
		uri = sips;
	}

	if (p->agent)
		return nta_agent_add_tport(p->agent, URL_STRING_MAKE(uri), TAG_IF(ident, TPTAG_IDENT(ident)),
		    TPTAG_UDP_RMEM(UDP_BUFFER), TPTAG_UDP_WMEM(UDP_BUFFER), TAG_IF(tls, TPTAG_CERTIFICATE(p->tls_dir)),
		    TAG_IF(tls, TPTAG_TLS_VERIFY_POLICY(policy)), TAG_IF(tls, TPTAG_TLS_VERIFY_DEPTH(SOFIA_TLS_VERIFY_DEPTH)),
		    TAG_IF(tls, TPTAG_TLS_VERIFY_DATE(1)), TAG_END());
	/*
	 * EXTRA_100: nta sends 100 Trying only when no response has gone
	 * upstream within 200 ms (RFC 3261 16.2), which saves a message on
	 * calls answered quickly.
	 */
	p->agent = nta_agent_create(p->root, URL_STRING_MAKE(uri), on_stray, p, TAG_IF(ident, TPTAG_IDENT(ident)),
	    NTATAG_UA(0), NTATAG_CANCEL_487(0), NTATAG_SERVER_RPORT(1), NTATAG_CLIENT_RPORT(1),
	    NTATAG_SIP_T1((unsigned)c->server.sip_t1),
	    NTATAG_SIP_T1X64(64u * (unsigned)c->server.sip_t1), NTATAG_TIMEOUT_408(1), NTATAG_MAXSIZE(MAX_MESSAGE),
	    NTATAG_UDP_MTU(UDP_MAX), TPTAG_UDP_RMEM(UDP_BUFFER), TPTAG_UDP_WMEM(UDP_BUFFER),
	    NTATAG_EXTRA_100(1), NTATAG_BAD_REQ_MASK(sipread_bad_request_mask()),
	    TAG_IF(sipread_mclass(), NTATAG_MCLASS(sipread_mclass())), TAG_IF(tls, TPTAG_CERTIFICATE(p->tls_dir)),
	    TAG_IF(tls, TPTAG_TLS_VERIFY_POLICY(policy)), TAG_IF(tls, TPTAG_TLS_VERIFY_DEPTH(SOFIA_TLS_VERIFY_DEPTH)),
	    TAG_IF(tls, TPTAG_TLS_VERIFY_DATE(1)), TAG_END());
	return p->agent ? 0 : -1;
}

#define IDENT_OWN	"own"
#define IDENT_SHARED	"shared"

/* Each listen URI bound: this worker's own addresses first (see bind_all). */
static int bind_listen(struct proxy *p, const struct conf *c, bool workers, char *err, size_t errlen)
{
	for (int pass = workers ? 0 : 1; pass < 2; pass++) {
		for (size_t i = 0; i < c->server.listen.n; i++) {
			const char *uri = c->server.listen.v[i];
			if (pass == 0 && (uri = own_uri(p->home, uri, &p->worker)) == NULL) {
				snprintf(err, errlen, "out of memory");
				return -ENOMEM;
			}
			sofia_guard_share_ports(workers && pass == 1, p->worker.first);
			int rc = bind_one(p, c, uri, !workers ? NULL : pass == 0 ? IDENT_OWN : IDENT_SHARED);
			int e = errno;
			sofia_guard_share_ports(false, false);
			if (rc < 0) {
				snprintf(err, errlen, "cannot listen on %s: %s", uri, e == EADDRINUSE || e == EACCES ||
				    e == EADDRNOTAVAIL ? strerror(e) : "address in use, not of this host, or not a SIP URI");
				return -EADDRNOTAVAIL;
			}
		}
	}
	return 0;
}

/* What we listen on, as me[]. */
static int me_all(struct proxy *p, bool workers, char *err, size_t errlen)
{
	for (tport_t *tp = tport_primaries(nta_agent_tports(p->agent)); tp && p->n_me < MAX_LISTEN;
	    tp = tport_next(tp)) {
		const tp_name_t *n = tport_name(tp);
		struct me *m = &p->me[p->n_me];
		if (!n || !n->tpn_host || !n->tpn_port || !n->tpn_proto)
			continue;
		snprintf(m->proto, sizeof(m->proto), "%s", n->tpn_proto);
		if (n->tpn_host[0] != '[' && strchr(n->tpn_host, ':'))
			snprintf(m->host, sizeof(m->host), "[%s]", n->tpn_host);
		else
			snprintf(m->host, sizeof(m->host), "%s", n->tpn_host);
		snprintf(m->port, sizeof(m->port), "%s", n->tpn_port);
		struct me copy = *m;	/* the strings are formatted from a copy: no overlap */
		snprintf(m->uri, sizeof(m->uri), "sip:%s:%s;transport=%s", copy.host, copy.port, copy.proto);
		snprintf(m->rr, sizeof(m->rr), "<sip:%s:%s;transport=%s;lr>", copy.host, copy.port, copy.proto);
		m->shared = workers && n->tpn_ident && strcmp(n->tpn_ident, IDENT_SHARED) == 0;
		m->own = p->n_me;
		p->n_me++;
	}
	/* A shared address's Record-Route is this worker's own address of the same transport and host. */
	for (size_t i = 0; i < p->n_me; i++)
		for (size_t j = 0; p->me[i].shared && j < p->n_me; j++)
			if (!p->me[j].shared && strcasecmp(p->me[i].proto, p->me[j].proto) == 0 &&
			    strcasecmp(p->me[i].host, p->me[j].host) == 0) {
				p->me[i].own = j;
				break;
			}
	if (p->n_me == 0) {
		snprintf(err, errlen, "no transport could be opened");
		return -EADDRNOTAVAIL;
	}
	return 0;
}

/*
 * Listen.  Alone: on the server.listen URIs.  A worker: first on its own
 * address for each of them (nta sends its requests from the first primary
 * transport of a protocol, so its Via names this worker), then on the
 * server.listen URIs themselves, shared with the other workers
 * (SO_REUSEPORT: the kernel spreads sources over the workers, and the
 * retransmissions, CANCEL and ACK of a request from one source come to the
 * worker that has its transaction).  The first worker, alone at the start,
 * checks that no one else holds them.  TLS: the credentials are handed to
 * the SIP stack through a private folder, deleted once the transports are
 * bound (sofia_tls.c).
 */
static int bind_all(struct proxy *p, const struct conf *c, char *err, size_t errlen)
{
	bool workers = p->worker.count > 1;
	int rc;

	for (size_t i = 0; i < c->server.listen.n; i++)
		if (tls_uri(c->server.listen.v[i])) {
			if (sofia_tls_prepare(c, p->tls_dir, sizeof(p->tls_dir), err, errlen) < 0)
				return -EIO;
			break;
		}
	sofia_tls_capture(true);
	rc = bind_listen(p, c, workers, err, errlen);
	sofia_tls_capture(false);
	sofia_tls_forget_files(p->tls_dir);
	p->tls_dir[0] = '\0';
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < c->server.listen.n; i++)
		if (tls_uri(c->server.listen.v[i]) && sofia_tls_contexts() == 0) {
			snprintf(err, errlen, "cannot listen on %s: the TLS transport did not start", c->server.listen.v[i]);
			return -EIO;
		}
	return me_all(p, workers, err, errlen);
}

static int set_next_hop(struct proxy *p, const struct conf *c)
{
	url_t *u = NULL;

	if (c->server.next_hop && (u = url_hdup(p->home, URL_STRING_MAKE(c->server.next_hop)->us_url)) == NULL)
		return -ENOMEM;
	if (p->next_hop)
		su_free(p->home, p->next_hop);
	p->next_hop = u;
	return 0;
}

int proxy_new(struct world *w, const struct proxy_worker *worker, struct proxy **out, char *err, size_t errlen)
{
	struct proxy *p = su_home_new(sizeof(*p));
	int rc;

	if (!p) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	p->worker = worker ? *worker : (struct proxy_worker){ .index = 0, .count = 1 };
	p->sigfd = -1;
	p->world = world_ref(w);
	if ((p->root = su_root_create(p)) == NULL) {
		snprintf(err, errlen, "cannot create the event loop");
		proxy_free(p);
		return -ENOMEM;
	}
	lookup_ldap_attach(p->root);
	if ((rc = bind_all(p, w->conf, err, errlen)) < 0) {
		proxy_free(p);
		return rc;
	}
	/* One process serves the metrics (they are the whole daemon's: metrics.c adds every process's up). */
	if (w->conf->server.metrics_listen && p->worker.index == 0 &&
	    (p->metrics = metrics_http_start(p->root, w->conf->server.metrics_listen, err, errlen)) == NULL) {
		proxy_free(p);
		return -EADDRINUSE;
	}
	/* DNS gets half a non-INVITE transaction's time (16 T1, 8 s by default), 2 s at least. */
	unsigned deadline = 16u * (unsigned)w->conf->server.sip_t1;
	if ((p->resolver = resolver_new(p->root, deadline > 2000 ? deadline : 2000, err, errlen)) == NULL) {
		proxy_free(p);
		return -EIO;
	}
	resolver_use_tls(p->resolver, sofia_tls_contexts() > 0);
	if ((rc = set_next_hop(p, w->conf)) < 0) {
		snprintf(err, errlen, "out of memory");
		proxy_free(p);
		return rc;
	}
	if ((rc = conn_guard_limit((unsigned)w->conf->limits.connections)) < 0) {
		snprintf(err, errlen, "cannot count connections: %s", strerror(-rc));
		proxy_free(p);
		return rc;
	}
	if ((p->rl = ratelimit_new((unsigned)w->conf->limits.sources)) == NULL) {
		snprintf(err, errlen, "out of memory");
		proxy_free(p);
		return -ENOMEM;
	}
	find_udp_sockets(p);
	for (size_t i = 0; i < p->n_me; i++)
		if (strcasecmp(p->me[i].proto, "udp") == 0 && p->n_udp_fds == 0) {
			log_warn("overload: the UDP sockets were not found: only overload.max_in_flight limits the load");
			break;
		}
	if ((p->load_timer = su_timer_create(su_root_task(p->root), LOAD_PERIOD_MS)) == NULL ||
	    su_timer_run(p->load_timer, on_load_timer, NULL) < 0) {
		snprintf(err, errlen, "cannot start the load timer");
		proxy_free(p);
		return -ENOMEM;
	}
	/* Bound and listening (listen URIs may name hosts): from here on no blocking DNS, no unbounded message. */
	sofia_guard_arm(MAX_MESSAGE);
	*out = p;
	return 0;
}

const char *proxy_listening(const struct proxy *p, size_t i, bool *own)
{
	if (own)
		*own = i < p->n_me && p->worker.count > 1 && !p->me[i].shared;
	return i < p->n_me ? p->me[i].uri : NULL;
}

static bool same_strings(const struct conf_strings *a, const struct conf_strings *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->v[i], b->v[i]) != 0)
			return false;
	return true;
}

void proxy_set_world(struct proxy *p, struct world *w)
{
	const struct conf *old = p->world->conf, *c = w->conf;

	if (!same_strings(&old->server.listen, &c->server.listen))
		log_warn("reload: server.listen changed: it takes effect at the next start");
	if (old->server.sip_t1 != c->server.sip_t1)
		log_warn("reload: server.sip_t1 changed: it takes effect at the next start");
	conn_guard_limit((unsigned)c->limits.connections);
	if (old->limits.sources != c->limits.sources)
		log_warn("reload: limits.sources changed: it takes effect at the next start");
	if (old->tls.verify_peer != c->tls.verify_peer)
		log_warn("reload: tls.verify_peer changed: it takes effect at the next start");
	char err[320] = "";
	if (sofia_tls_reload(c, err, sizeof(err)) < 0)
		log_error("reload: TLS: %s: new connections keep the previous certificate, key and CAs", err);
	else if (sofia_tls_contexts())
		log_info("reload: TLS: certificate, key and CAs read again: new connections use them");
	if (set_next_hop(p, c) < 0)
		log_error("reload: out of memory for server.next_hop: keeping the previous one");
	/* /etc/resolv.conf is read again too: c-ares reads it only when it starts. */
	if (resolver_reload(p->resolver) < 0)
		log_error("reload: the DNS resolver did not restart: next hops named by DNS get 503");
	world_unref(p->world);
	p->world = world_ref(w);
}

static int on_signalfd(struct proxy *p, su_wait_t *w, su_wakeup_arg_t *arg)
{
	struct signalfd_siginfo si;
	(void)w;
	(void)arg;
	while (read(p->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		p->on_signal(p->signal_arg, (int)si.ssi_signo);
	return 0;
}

int proxy_run(struct proxy *p, const sigset_t *set, proxy_signal_fn *on_signal, void *arg)
{
	p->on_signal = on_signal;
	p->signal_arg = arg;
	if ((p->sigfd = signalfd(-1, set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0)
		return -errno;
	if (su_wait_create(p->sigwait, p->sigfd, SU_WAIT_IN) < 0 ||
	    (p->sigindex = su_root_register(p->root, p->sigwait, on_signalfd, NULL, 0)) < 0)
		return -EIO;
	su_root_run(p->root);
	return 0;
}

static void stop_now(struct proxy *p, su_timer_t *timer, su_timer_arg_t *arg)
{
	(void)timer;
	(void)arg;
	su_root_break(p->root);
}

void proxy_stop(struct proxy *p)
{
	if (p->stopping)
		return;
	p->stopping = true;
	if (p->in_flight)
		log_info("stopping: %u request(s) in flight cancelled downstream and answered 503", p->in_flight);
	while (p->txns) {
		struct txn *t = p->txns;
		if (t->orq && !t->answered)
			nta_outgoing_tcancel(t->orq, NULL, NULL, TAG_END());
		else if (t->detached && !t->answered)
			cancel_detached(t);
		if (t->irq && !t->answered && !t->parked_ack)
			nta_incoming_treply(t->irq, SIP_503_SERVICE_UNAVAILABLE, TAG_END());
		t->answered = true;
		txn_free(t);
	}
	while (p->acks)
		held_ack_free(p->acks);
	p->stop_timer = su_timer_create(su_root_task(p->root), STOP_GRACE_MS);
	if (!p->stop_timer || su_timer_set(p->stop_timer, stop_now, NULL) < 0)
		su_root_break(p->root);
}

void proxy_free(struct proxy *p)
{
	if (!p)
		return;
	while (p->txns)
		txn_free(p->txns);
	while (p->acks)
		held_ack_free(p->acks);
	resolver_free(p->resolver);
	ratelimit_free(p->rl);
	if (p->stop_timer)
		su_timer_destroy(p->stop_timer);
	if (p->load_timer)
		su_timer_destroy(p->load_timer);
	if (p->leg)
		nta_leg_destroy(p->leg);
	if (p->agent)
		nta_agent_destroy(p->agent);
	if (p->root && p->sigindex > 0)
		su_root_deregister(p->root, p->sigindex);
	if (p->sigfd >= 0)
		close(p->sigfd);
	metrics_http_stop(p->metrics);
	if (p->root) {
		lookup_ldap_detach();
		su_root_destroy(p->root);
	}
	world_unref(p->world);
	su_home_unref(p->home);
}
