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
#include <sys/signalfd.h>
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
#include <sofia-sip/msg_header.h>
#include <sofia-sip/nta.h>
#include <sofia-sip/nta_stateless.h>
#include <sofia-sip/nta_tport.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/sip_util.h>
#include <sofia-sip/su_log.h>
#include <sofia-sip/su_wait.h>
#include <sofia-sip/tport.h>
#include <sofia-sip/tport_tag.h>
#include <sofia-sip/url.h>

#include "invite.h"
#include "krr.h"
#include "log.h"
#include "policy.h"
#include "proxy.h"

#define MAX_LISTEN	16
#define HOST_MAX	64	/* an IPv6 literal in brackets fits */
#define STOP_GRACE_MS	500	/* how long the loop runs after stop, for the last messages */
#define MAX_MESSAGE	(256 * 1024)
/*
 * A request travels the way it came: nta would otherwise try TCP for every
 * UDP request over 1300 octets (RFC 3261 18.1.1), which an I_MESSAGE in SDP
 * always is, towards peers that often listen on UDP only.
 */
#define UDP_MAX		65000
/* Socket buffers that ride out a scheduling stall at thousands of calls per second (the kernel caps them at net.core.rmem_max/wmem_max). */
#define UDP_BUFFER	(4u << 20)

/* One address this proxy listens on: for Record-Route, and to recognise its own Route and Via. */
struct me {
	char proto[8];
	char host[HOST_MAX];	/* as in a URI: IPv6 in brackets */
	char port[8];
	char uri[HOST_MAX + 40];	/* sip:HOST:PORT;transport=PROTO */
	char rr[HOST_MAX + 48];		/* <sip:HOST:PORT;transport=PROTO;lr> */
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
	struct txn *txns;		/* in flight, for stop */
	unsigned in_flight;
	bool stopping;
	int sigfd;
	su_wait_t sigwait[1];
	int sigindex;
	proxy_signal_fn *on_signal;
	void *signal_arg;
	su_timer_t *stop_timer;
};

/* One proxied request: the server transaction upstream, the client one downstream. */
struct txn {
	struct txn *next, **prev;
	struct proxy *p;
	struct world *world;		/* the generation it started under */
	nta_incoming_t *irq;
	nta_outgoing_t *orq;
	struct invite_facts *facts;	/* an initial INVITE with an I_MESSAGE: for the 488 that may come back */
	char call_id[128];		/* for logs */
	bool answered;			/* a final response went upstream */
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

static void txn_free(struct txn *t)
{
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
	invite_facts_free(t->facts);
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
	return strcasecmp(m->host, h) == 0 && strcmp(m->port, port && *port ? port : "5060") == 0;
}

static bool is_me(const struct proxy *p, const char *host, const char *port)
{
	for (size_t i = 0; i < p->n_me; i++)
		if (is_me_one(&p->me[i], host, port))
			return true;
	return false;
}

/* The listen address a request came in on (a TCP connection's listening parent), for its Record-Route. */
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
	return found;
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

static void record(const struct txn *t, const struct policy_outcome *o)
{
	log_info("call %s: %s rule %s status %d target %s%s%s%s%s", t->call_id, policy_decision_name(o->decision),
	    o->rule, o->status, o->target ? o->target : "-", o->signature ? " downstream-krr " : "",
	    o->signature ? o->signature : "", o->warning[0] ? " warning: " : "", o->warning);
	audit_write(o->audit);
}

/* Answer upstream from the outcome: 488 + KRR, or a status with its Warning. */
static void answer(struct txn *t, const struct policy_outcome *o)
{
	char warning[sizeof(o->warning) + HOST_MAX + 16];
	int status = o->status ? o->status : 500;

	if (o->warning[0])
		warning_value(t->p, o->warning, warning, sizeof(warning));
	nta_incoming_treply(t->irq, status, phrase_of(status),
	    TAG_IF(o->krr_xml, SIPTAG_CONTENT_TYPE_STR(KRR_CONTENT_TYPE)),
	    TAG_IF(o->krr_xml, SIPTAG_PAYLOAD_STR(o->krr_xml)),
	    TAG_IF(o->warning[0], SIPTAG_WARNING_STR(warning)),
	    TAG_END());
	t->answered = true;
}

/* The facts of an initial INVITE, from Sofia's parsed message. */
static struct invite_facts *facts_of(const sip_t *sip)
{
	struct invite_facts *f = invite_facts_new();
	char buf[INVITE_URI_MAX];
	issize_t n;

	if (!f)
		return NULL;
	if ((n = url_e(buf, sizeof(buf), sip->sip_request->rq_url)) > 0 && (size_t)n < sizeof(buf))
		invite_facts_set(f, 'r', buf, (size_t)n);
	if (sip->sip_from && (n = url_e(buf, sizeof(buf), sip->sip_from->a_url)) > 0 && (size_t)n < sizeof(buf))
		invite_facts_set(f, 'f', buf, (size_t)n);
	if (sip->sip_to && (n = url_e(buf, sizeof(buf), sip->sip_to->a_url)) > 0 && (size_t)n < sizeof(buf))
		invite_facts_set(f, 't', buf, (size_t)n);
	if (sip->sip_call_id)
		invite_facts_set(f, 'i', sip->sip_call_id->i_id, strlen(sip->sip_call_id->i_id));

	if (!sip->sip_content_type || !sip->sip_payload) {
		invite_facts_mikey(f, NULL, 0, NULL, 0, NULL, 0);
		return f;
	}
	char ct[2048];
	const char *cte = NULL;
	n = msg_header_field_e(ct, sizeof(ct), (const msg_header_t *)sip->sip_content_type, 0);
	if (n <= 0 || (size_t)n >= sizeof(ct)) {
		/* A Content-Type this long is not one we extract from: say so rather than guess. */
		f->inv.mikey = POLICY_MALFORMED_MIKEY;
		f->inv.malformed = f->malformed;
		snprintf(f->malformed, sizeof(f->malformed), "Content-Type too long");
		return f;
	}
	for (const sip_unknown_t *u = sip->sip_unknown; u; u = u->un_next)
		if (u->un_name && strcasecmp(u->un_name, "Content-Transfer-Encoding") == 0)
			cte = u->un_value;
	invite_facts_mikey(f, ct, (size_t)n, cte, cte ? strlen(cte) : 0,
	    (const uint8_t *)sip->sip_payload->pl_data, sip->sip_payload->pl_len);
	return f;
}

/* ---- responses coming back ---- */

/* A 488 on a forwarded INVITE with an I_MESSAGE: pass, replace or discard its KRR. Returns true when answered here. */
static bool krr_coming_back(struct txn *t, const sip_t *sip)
{
	struct policy_ctx ctx = world_policy_ctx(t->world);
	struct policy_outcome o;
	const char *body = NULL;
	size_t len = 0;

	if (sip->sip_content_type && sip->sip_content_type->c_type && sip->sip_payload &&
	    strcasecmp(sip->sip_content_type->c_type, KRR_CONTENT_TYPE) == 0) {
		body = sip->sip_payload->pl_data;
		len = sip->sip_payload->pl_len;
	}
	if (policy_decide_krr(&ctx, &t->facts->inv, body, len, (int64_t)time(NULL), &o) < 0) {
		log_error("call %s: no decision on the KRR that came back (out of memory or signing failed): 500",
		    t->call_id);
		nta_incoming_treply(t->irq, SIP_500_INTERNAL_SERVER_ERROR, TAG_END());
		t->answered = true;
		return true;
	}
	record(t, &o);
	bool here = o.decision != POLICY_PASS;
	if (here)
		answer(t, &o);
	policy_outcome_clear(&o);
	return here;
}

static int on_response(struct txn *t, nta_outgoing_t *orq, const sip_t *sip)
{
	int status = sip && sip->sip_status ? sip->sip_status->st_status : nta_outgoing_status(orq);

	if (status <= 100 || t->answered)
		return 0;		/* 100 Trying is hop by hop; nta sends ours (EXTRA_100) */
	if (status == 488 && sip && t->facts && t->facts->inv.mikey == POLICY_MIKEY && krr_coming_back(t, sip)) {
		txn_free(t);
		return 0;
	}
	msg_t *msg = nta_outgoing_getresponse(orq);
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
	if (status >= 200) {
		t->answered = true;
		txn_free(t);
	}
	return 0;
}

/* CANCEL for a request in flight (nta has answered it 200), or the server transaction ending. */
static int on_cancel(struct txn *t, nta_incoming_t *irq, const sip_t *sip)
{
	(void)irq;
	if (!sip) {
		t->irq = NULL;
		txn_free(t);
		return 0;
	}
	if (sip->sip_request && sip->sip_request->rq_method == sip_method_cancel && t->orq) {
		log_debug("call %s: CANCEL forwarded", t->call_id);
		nta_outgoing_tcancel(t->orq, NULL, NULL, TAG_END());
	}
	return 0;
}

/* A response no transaction owns: a 2xx to INVITE retransmitted downstream goes upstream statelessly. */
static int on_stray(struct proxy *p, nta_agent_t *agent, msg_t *msg, sip_t *sip)
{
	if (sip && sip->sip_status && sip->sip_via && sip->sip_via->v_next &&
	    is_me(p, sip->sip_via->v_host, sip->sip_via->v_port)) {
		/* nta_msg_tsend takes our Via off a response and sends it to the next one. */
		if (nta_msg_tsend(agent, msg, NULL, TAG_END()) < 0)
			log_debug("stray response %d not forwarded", sip->sip_status->st_status);
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

/* The decision on an initial INVITE; returns true when it was answered here (t is then done). */
static bool decide_invite(struct txn *t, const sip_t *sip)
{
	struct policy_ctx ctx = world_policy_ctx(t->world);
	struct policy_outcome o;

	if ((t->facts = facts_of(sip)) == NULL) {
		log_error("call %s: out of memory: 500", t->call_id);
		nta_incoming_treply(t->irq, SIP_500_INTERNAL_SERVER_ERROR, TAG_END());
		return true;
	}
	if (policy_decide_invite(&ctx, &t->facts->inv, (int64_t)time(NULL), &o) < 0) {
		log_error("call %s: no decision (out of memory or signing failed): 500", t->call_id);
		nta_incoming_treply(t->irq, SIP_500_INTERNAL_SERVER_ERROR, TAG_END());
		return true;
	}
	record(t, &o);
	bool here = o.decision != POLICY_FORWARD;
	if (here)
		answer(t, &o);		/* never the Warning of a forwarded malformed one: it goes on untouched */
	policy_outcome_clear(&o);
	return here;
}

/* Where a request goes: the route given, else its top Route, else its Request-URI. */
static const url_t *destination(const sip_t *sip, const url_string_t *route)
{
	if (route)
		return route->us_url;
	return sip->sip_route ? sip->sip_route->r_url : sip->sip_request->rq_url;
}

/*
 * ACK for a 2xx: end to end, no transaction.  To a numeric address it goes
 * out statelessly and nothing is kept; a name to resolve needs nta's
 * transaction, destroyed at once so nta frees it after Timer F.
 */
static void forward_ack(struct proxy *p, msg_t *msg, const sip_t *sip, const url_string_t *route)
{
	const url_t *to = destination(sip, route);
	bool numeric = to && to->url_host && host_is_ip_address(to->url_host);
	nta_outgoing_t *orq = nta_outgoing_mcreate(p->agent, NULL, NULL, route, msg,
	    TAG_IF(numeric, NTATAG_STATELESS(1)), TAG_END());

	if (!orq) {
		log_debug("ACK not forwarded");
		msg_destroy(msg);
	} else if (orq != (nta_outgoing_t *)-1) {
		nta_outgoing_destroy(orq);
	}
}

static int on_request(struct proxy *p, nta_leg_t *leg, nta_incoming_t *irq, const sip_t *in)
{
	(void)leg;
	sip_method_t method = in->sip_request->rq_method;
	bool ack = method == sip_method_ack;

	if (p->stopping)
		return ack ? (nta_incoming_destroy(irq), 0) : reply_now(irq, 503, NULL);
	if (in->sip_max_forwards && in->sip_max_forwards->mf_count == 0)
		return ack ? (nta_incoming_destroy(irq), 0) : reply_now(irq, 483, NULL);

	msg_t *orig = nta_incoming_getrequest(irq);
	msg_t *msg = orig ? msg_copy(orig) : NULL;
	if (orig)
		msg_destroy(orig);
	sip_t *sip = msg ? sip_object(msg) : NULL;
	if (!sip) {
		if (msg)
			msg_destroy(msg);
		return ack ? (nta_incoming_destroy(irq), 0) : reply_now(irq, 500, NULL);
	}

	/* Max-Forwards: one hop less, or the RFC 3261 default when absent. */
	if (sip->sip_max_forwards) {
		sip->sip_max_forwards->mf_count--;
		/* The copy still holds the original's wire text: drop it so the new count is encoded. */
		msg_fragment_clear(sip->sip_max_forwards->mf_common);
	} else
		sip_add_make(msg, sip, sip_max_forwards_class, "70");
	strip_own_routes(p, msg, sip);

	bool initial = !sip->sip_to || !sip->sip_to->a_tag;
	const url_string_t *route = NULL;
	if (!sip->sip_route && initial && p->next_hop)
		route = (const url_string_t *)p->next_hop;
	else if (!sip->sip_route && is_me(p, sip->sip_request->rq_url->url_host, sip->sip_request->rq_url->url_port)) {
		/* For this proxy itself: a keep-alive OPTIONS is answered, anything else has nowhere to go. */
		msg_destroy(msg);
		if (ack) {
			nta_incoming_destroy(irq);
			return 0;
		}
		return reply_now(irq, method == sip_method_options ? 200 : 404, NULL);
	}

	if (ack) {
		forward_ack(p, msg, sip, route);
		nta_incoming_destroy(irq);
		return 0;
	}

	struct txn *t = calloc(1, sizeof(*t));
	if (!t) {
		msg_destroy(msg);
		return reply_now(irq, 500, NULL);
	}
	t->p = p;
	t->irq = irq;
	t->world = world_ref(p->world);
	snprintf(t->call_id, sizeof(t->call_id), "%s", sip->sip_call_id ? sip->sip_call_id->i_id : "-");
	txn_link(p, t);
	nta_incoming_bind(irq, on_cancel, t);

	if (method == sip_method_invite) {
		if (initial && decide_invite(t, sip)) {
			msg_destroy(msg);
			txn_free(t);
			return 0;
		}
		if (t->facts && t->facts->inv.mikey != POLICY_MIKEY) {
			invite_facts_free(t->facts);	/* nothing to decide on a 488 for it */
			t->facts = NULL;
		}
	}
	if (initial && creates_dialog(method)) {
		const struct me *m = me_of(p, irq, msg);
		sip_record_route_t *rr = sip_record_route_make(msg_home(msg), m->rr);
		if (rr)
			msg_header_insert(msg, (msg_pub_t *)sip, (msg_header_t *)rr);
	}
	t->orq = nta_outgoing_mcreate(p->agent, on_response, t, route, msg, TAG_END());
	if (!t->orq) {
		msg_destroy(msg);
		log_warn("call %s: cannot forward %s: 503", t->call_id, in->sip_request->rq_method_name);
		nta_incoming_treply(irq, SIP_503_SERVICE_UNAVAILABLE, TAG_END());
		t->answered = true;
		txn_free(t);
	}
	return 0;
}

/* ---- set-up ---- */

/* Sofia-SIP's own messages (transport errors and the like) join our log, a line at a time. */
static char sofia_line[512];
static size_t sofia_len;

static void sofia_log(void *stream, const char *fmt, va_list ap)
{
	char piece[512];
	(void)stream;
	int n = vsnprintf(piece, sizeof(piece), fmt, ap);
	for (int i = 0; i < n && i < (int)sizeof(piece) - 1; i++) {
		if (piece[i] == '\n' || sofia_len + 1 >= sizeof(sofia_line)) {
			sofia_line[sofia_len] = '\0';
			if (sofia_len)
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

static int bind_all(struct proxy *p, const struct conf *c, char *err, size_t errlen)
{
	for (size_t i = 0; i < c->server.listen.n; i++) {
		const char *uri = c->server.listen.v[i];
		int rc = i == 0 ? 0 : nta_agent_add_tport(p->agent, URL_STRING_MAKE(uri),
		    TPTAG_UDP_RMEM(UDP_BUFFER), TPTAG_UDP_WMEM(UDP_BUFFER), TAG_END());
		if (i == 0) {
			/*
			 * EXTRA_100: nta sends 100 Trying only when no response
			 * has gone upstream within 200 ms (RFC 3261 16.2), which
			 * saves a message on calls answered quickly.
			 */
			p->agent = nta_agent_create(p->root, URL_STRING_MAKE(uri), on_stray, p,
			    NTATAG_UA(0), NTATAG_CANCEL_487(0), NTATAG_SERVER_RPORT(1), NTATAG_CLIENT_RPORT(1),
			    NTATAG_SIP_T1((unsigned)c->server.sip_t1),
			    NTATAG_SIP_T1X64(64u * (unsigned)c->server.sip_t1), NTATAG_TIMEOUT_408(1), NTATAG_MAXSIZE(MAX_MESSAGE),
			    NTATAG_UDP_MTU(UDP_MAX), TPTAG_UDP_RMEM(UDP_BUFFER), TPTAG_UDP_WMEM(UDP_BUFFER),
			    NTATAG_EXTRA_100(1), TAG_END());
			rc = p->agent ? 0 : -1;
		}
		if (rc < 0) {
			int e = errno;
			snprintf(err, errlen, "cannot listen on %s: %s", uri, e == EADDRINUSE || e == EACCES ||
			    e == EADDRNOTAVAIL ? strerror(e) : "address in use, not of this host, or not a SIP URI");
			return -EADDRNOTAVAIL;
		}
	}
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
		p->n_me++;
	}
	if (p->n_me == 0) {
		snprintf(err, errlen, "no transport could be opened");
		return -EADDRNOTAVAIL;
	}
	return 0;
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

int proxy_new(struct world *w, struct proxy **out, char *err, size_t errlen)
{
	struct proxy *p = su_home_new(sizeof(*p));
	int rc;

	if (!p) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	p->sigfd = -1;
	p->world = world_ref(w);
	if ((p->root = su_root_create(p)) == NULL) {
		snprintf(err, errlen, "cannot create the event loop");
		proxy_free(p);
		return -ENOMEM;
	}
	if ((rc = bind_all(p, w->conf, err, errlen)) < 0) {
		proxy_free(p);
		return rc;
	}
	if ((rc = set_next_hop(p, w->conf)) < 0) {
		snprintf(err, errlen, "out of memory");
		proxy_free(p);
		return rc;
	}
	if ((p->leg = nta_leg_tcreate(p->agent, on_request, p, NTATAG_NO_DIALOG(1), TAG_END())) == NULL) {
		snprintf(err, errlen, "cannot create the default leg");
		proxy_free(p);
		return -ENOMEM;
	}
	*out = p;
	return 0;
}

const char *proxy_listening(const struct proxy *p, size_t i)
{
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
	if (set_next_hop(p, c) < 0)
		log_error("reload: out of memory for server.next_hop: keeping the previous one");
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
		if (t->irq && !t->answered)
			nta_incoming_treply(t->irq, SIP_503_SERVICE_UNAVAILABLE, TAG_END());
		t->answered = true;
		txn_free(t);
	}
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
	if (p->stop_timer)
		su_timer_destroy(p->stop_timer);
	if (p->leg)
		nta_leg_destroy(p->leg);
	if (p->agent)
		nta_agent_destroy(p->agent);
	if (p->root && p->sigindex > 0)
		su_root_deregister(p->root, p->sigindex);
	if (p->sigfd >= 0)
		close(p->sigfd);
	if (p->root)
		su_root_destroy(p->root);
	world_unref(p->world);
	su_home_unref(p->home);
}
