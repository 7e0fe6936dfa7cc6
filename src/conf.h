/* mcx-sdproxy.conf: the configuration model and its loader (libconfig stays inside conf.c). */
#ifndef MCX_CONF_H
#define MCX_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum conf_server_role { CONF_PRIMARY, CONF_PARTNER };
enum conf_kms_role { CONF_KMS_HOME, CONF_KMS_EXTERNAL };
enum conf_action { CONF_FORWARD, CONF_REJECT };
#define CONF_SIP_T1_DEFAULT	500
#define CONF_SIP_T1_MIN		10
#define CONF_SIP_T1_MAX		10000
#define CONF_WORKERS_MAX	64
/* overload = { ... }: see mcx-sdproxy.conf(5) */
#define CONF_QUEUE_HIGH_DEFAULT		50	/* % of a SIP socket's receive buffer */
#define CONF_QUEUE_LOW_DEFAULT		10
#define CONF_MAX_IN_FLIGHT_DEFAULT	20000
#define CONF_MAX_IN_FLIGHT_MAX		1000000
#define CONF_RETRY_AFTER_DEFAULT	5	/* seconds */
#define CONF_RETRY_AFTER_MAX		3600
#define CONF_CRL_MAX		(16u << 20)	/* octets of krr.crl, all files together */
/* limits = { ... }: see mcx-sdproxy.conf(5) */
#define CONF_SOURCES_DEFAULT		65536
#define CONF_CONNECTIONS_DEFAULT	1024
#define CONF_IDLE_TIMEOUT_DEFAULT	120	/* seconds */
/* lookup.ldap = { ... }: see mcx-sdproxy.conf(5) */
#define CONF_LDAP_TIMEOUT_MS_DEFAULT	500
#define CONF_LDAP_CACHE_TTL_DEFAULT	300	/* seconds */
#define CONF_LDAP_NEGATIVE_TTL_DEFAULT	30	/* seconds */
#define CONF_LDAP_CACHE_SIZE_DEFAULT	100000	/* users */
#define CONF_LDAP_URIS_MAX		8

enum conf_log_level { CONF_LOG_ERROR, CONF_LOG_WARNING, CONF_LOG_INFO, CONF_LOG_DEBUG };

/*
 * Where a setting is written, for the loader of what it names (world.c) to
 * report "file:line: key: message" as the semantic checks do: file is NULL
 * for the configuration file itself (conf.path), else an @include'd file
 * as messages name it (owned); line 0 when the setting is absent.
 */
struct conf_at {
	char *file;
	int line;
};

/* A list of owned strings. */
struct conf_strings {
	char **v;
	size_t n;
};

/* One known security domain (kms = ( ... )). */
struct conf_kms {
	char *uri;
	enum conf_kms_role role;
	int64_t valid_from;	/* Unix seconds; INT64_MIN when not given */
	int64_t valid_to;	/* INT64_MAX when not given */
	bool revoked;
	int line;		/* where it is in the file */
};

/* One security domain of a lookup entry: its KMS and the external KMSs it permits. */
struct conf_domain {
	char *kms;
	struct conf_strings external;
	int line;
};

/* One lookup table row: a user URI, exact or with '*' wildcards. */
struct conf_lookup_entry {
	char *user;
	struct conf_domain *domains;
	size_t n_domains;
	int line;
};

/* lookup.ldap = { ... }: the ldap backend (see lookup.h) */
struct conf_ldap {
	struct conf_strings uris;	/* ldap://, ldaps:// or ldapi://, tried in order */
	char *base;			/* where the entries are (subtree) */
	char *bind_dn;			/* optional: anonymous without it */
	char *bind_secret_file;		/* with bind_dn: a file holding the password */
	struct conf_at bind_secret_file_at;
	bool starttls;			/* StartTLS on ldap:// (default false) */
	char *ca;			/* optional: the CAs the directory's certificate must chain to */
	struct conf_at ca_at;
	int timeout_ms;			/* per lookup and per connection step (default 500) */
	int cache_ttl;			/* seconds a found answer is kept (default 300; 0: timeout_ms) */
	int negative_ttl;		/* seconds a "no such user" is kept (default 30; 0: timeout_ms) */
	int cache_size;			/* answers kept at most (default 100000) */
};

/*
 * The whole configuration; every string owned (conf_free).  Paths are
 * already resolved against the configuration file's folder.
 */
struct conf {
	char *path;			/* the file it was loaded from */
	struct {
		enum conf_server_role role;		/* default: primary */
		char *uri;				/* required: KRR OriginatorUri */
		char *kms_uri;				/* required: KRR OriginatorKmsUri */
		struct conf_strings listen;		/* default: sip:127.0.0.1:5060;transport=udp */
		char *next_hop;				/* optional */
		int sip_t1;				/* RFC 3261 T1, ms (default 500) */
		int workers;				/* worker processes; 0 (default): one per core */
		int worker_port_base;			/* worker i's own port is base + i; 0 (default): the kernel's choice */
		struct conf_strings peers;		/* who may send initial requests: CIDRs, TLS identities; empty: anyone */
		char *metrics_listen;			/* http://HOST:PORT/PATH of the Prometheus endpoint; NULL: none */
	} server;
	struct conf_kms *kms;
	size_t n_kms;
	char *kms_certificates;		/* optional folder of KmsCertificate XML files */
	struct conf_at kms_certificates_at;
	struct {
		char *backend;			/* "table" (default) or "ldap" */
		struct conf_lookup_entry *entries;	/* the table backend's */
		size_t n_entries;
		struct conf_ldap ldap;		/* the ldap backend's */
	} lookup;
	struct {
		enum conf_action on_missing_mikey;	/* default: forward */
		enum conf_action on_malformed_mikey;	/* default: reject */
		enum conf_action on_uninspectable;	/* a body that cannot be read; default: reject */
		enum conf_action on_unknown_target;	/* default: forward */
		enum conf_action on_lookup_failure;	/* the backend cannot answer; default: reject (503) */
		bool verify_imessage;			/* default: false */
		struct conf_strings deny_initiator_kms;
		struct conf_strings deny_receiver_kms;
	} policy;
	struct {
		char *certificate;		/* optional: no signing without it */
		char *private_key;		/* required with certificate */
		char *trust_anchors;		/* optional */
		char *crl;			/* optional: PEM CRLs, a file or a folder (needs trust_anchors) */
		bool require_signed;		/* default: false */
		struct conf_at certificate_at, private_key_at, trust_anchors_at, crl_at;
	} krr;
	struct {
		char *certificate;		/* PEM: this server's certificate, then its intermediates */
		char *private_key;		/* PEM, unencrypted */
		char *ca;			/* PEM: the CAs a peer's certificate must chain to */
		bool verify_peer;		/* default: true (mutual authentication) */
		struct conf_strings peer_identities;	/* optional: SAN URIs / DNS names a peer must show one of */
		struct conf_at certificate_at, private_key_at, ca_at;
	} tls;
	struct {
		int queue_high;			/* % of a UDP receive buffer queued: refuse new requests (default 50) */
		int queue_low;			/* % below which refusing stops (default 10) */
		int max_in_flight;		/* forwarded requests unanswered: refuse at this many; 0: no limit */
		int retry_after;		/* seconds, in the 503 (default 5) */
	} overload;
	struct {
		int source_rate;		/* new requests a second from one address; 0 (default): no limit */
		int source_burst;		/* the bucket's size; 0 (default): twice source_rate */
		int sources;			/* addresses remembered (default 65536) */
		int connections;		/* TCP/TLS connections accepted at once, per worker; 0: no limit */
		int idle_timeout;		/* seconds a connection may go without a complete message; 0: none */
	} limits;
	struct {
		enum conf_log_level level;	/* default: info */
		char *audit;			/* optional audit log path */
		struct conf_at audit_at;
	} log;
};

/* Problems found while loading, each "file:line: message", in file order. */
struct conf_diags {
	char **msg;
	size_t n;
};

/*
 * Load and check path in three passes: syntax (libconfig), typed extraction
 * with defaults, semantic checks.  It reads this file (and what it
 * @includes) and nothing else: the files its settings name are world.c's
 * to read (each path setting's place is in its conf_at).  Every problem
 * found goes to *diags (the caller frees it with conf_diags_clear,
 * whatever the result).  Returns 0 with *out (free with conf_free) when
 * there is none, -EINVAL when there are, -ENOMEM.
 */
int conf_load(const char *path, struct conf **out, struct conf_diags *diags);
void conf_free(struct conf *c);

void conf_diags_clear(struct conf_diags *d);

/* The file to name in a message about the setting at `at` (c->path unless @include'd). */
static inline const char *conf_at_file(const struct conf *c, const struct conf_at *at)
{
	return at->file ? at->file : c->path;
}

/*
 * Append "file:line: message" (line 0: "file: message") to d, control
 * characters printed as '?' (one problem, one line); 0 or -ENOMEM.
 */
int conf_diags_add(struct conf_diags *d, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
