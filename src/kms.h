/* The KMS registry: known security domains from the configuration and KmsCertificate files (TS 33.180 D.3). */
#ifndef MCX_KMS_H
#define MCX_KMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"

#define KMS_KPAK_LEN	65	/* ECCSI public authentication key, 0x04 || x || y */
#define KMS_MAX_CERT_DOC (64 * 1024)

/* What is known of one KMS; every string owned by the registry. */
struct kms_info {
	char *uri;
	enum conf_kms_role role;
	int64_t valid_from;		/* INT64_MIN when unbounded */
	int64_t valid_to;		/* INT64_MAX when unbounded */
	bool revoked;
	/* From a KmsCertificate, when one was loaded. */
	bool has_cert;
	uint64_t key_period, key_offset;	/* UserKeyPeriod, UserKeyOffset (seconds) */
	uint8_t kpak[KMS_KPAK_LEN];		/* PubAuthKey */
	bool has_kpak;
	char *cert_file;			/* where it came from */
};

struct kms_registry {
	struct kms_info *kms;
	size_t n;
};

/*
 * Build the registry from c->kms and, when c->kms_certificates names a
 * folder, from every *.xml KmsCertificate in it.  A certificate adds its key
 * material to the KMS of the configuration it names and can only narrow it
 * (revoked if either says so, validity the intersection); a certificate for
 * a KMS the configuration does not declare is an error.  Problems are reported in diags
 * as "file:line: message"; returns 0, -EINVAL when there are any, -ENOMEM.
 */
int kms_registry_build(const struct conf *c, struct kms_registry **out, struct conf_diags *diags);
void kms_registry_free(struct kms_registry *r);

const struct kms_info *kms_find(const struct kms_registry *r, const char *uri);

/* Why a KMS is or is not usable at time t (DESIGN 2.3): known, not revoked, t within validity. */
enum kms_state { KMS_USABLE, KMS_UNKNOWN, KMS_REVOKED, KMS_NOT_YET_VALID, KMS_EXPIRED };
enum kms_state kms_state(const struct kms_registry *r, const char *uri, int64_t t);
const char *kms_state_name(enum kms_state s);

/*
 * Parse one KmsCertificate (or SignedKmsCertificate) document into *info
 * (strings owned by info; free with kms_info_clear).  Its XML Signature, if
 * any, is not verified: these files are loaded by the operator (TR 33.880
 * 7.2.1.3.2).  Returns 0, or -EBADMSG with a message and line in err/line.
 */
int kms_cert_parse(const char *xml, size_t len, struct kms_info *info, char *err, size_t errlen,
    int *line);
void kms_info_clear(struct kms_info *info);

#endif
