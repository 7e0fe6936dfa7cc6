/* Fuzz target: the KRR decoder, and a decode-encode-decode round trip on whatever decodes. */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "krr.h"

static bool str_eq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

static bool list_eq(const struct krr_list *a, const struct krr_list *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (!str_eq(a->uri[i], b->uri[i]))
			return false;
	return true;
}

/*
 * The fields a round trip keeps: Id, Time, the six URIs, both lists and
 * whether a KRR is embedded; an embedded KRR is compared the same way, since
 * it is carried over verbatim.
 */
static bool krr_eq(const struct krr *a, const struct krr *b)
{
	if (!str_eq(a->id, b->id) || a->time != b->time)
		return false;
	for (int i = 0; i < KRR_URI__COUNT; i++)
		if (!str_eq(a->uri[i], b->uri[i]))
			return false;
	if (!list_eq(&a->accept_initiator, &b->accept_initiator) ||
	    !list_eq(&a->accept_receiver, &b->accept_receiver))
		return false;
	if ((a->embedded == NULL) != (b->embedded == NULL))
		return false;
	return a->embedded == NULL || krr_eq(a->embedded, b->embedded);
}

/* What the decoder promises about a KRR it returns: the bounds of krr.h hold. */
static void check_bounds(const struct krr *k, int depth)
{
	if (depth > KRR_MAX_DEPTH || !k->id || strlen(k->id) > KRR_MAX_ID)
		abort();
	for (int i = 0; i < KRR_URI__COUNT; i++)
		if (!k->uri[i] || strlen(k->uri[i]) > KRR_MAX_URI)
			abort();
	if (k->accept_initiator.n > KRR_MAX_LIST || k->accept_receiver.n > KRR_MAX_LIST)
		abort();
	for (size_t i = 0; i < k->accept_initiator.n; i++)
		if (!k->accept_initiator.uri[i] || strlen(k->accept_initiator.uri[i]) > KRR_MAX_URI)
			abort();
	for (size_t i = 0; i < k->accept_receiver.n; i++)
		if (!k->accept_receiver.uri[i] || strlen(k->accept_receiver.uri[i]) > KRR_MAX_URI)
			abort();
	if ((k->embedded == NULL) != (k->embedded_xml == NULL))
		abort();
	if (k->embedded)
		check_bounds(k->embedded, depth + 1);
}

static void check_error(const struct krr_error *err)
{
	if (err->code <= KRR_OK || err->code >= KRR_E__COUNT || err->line < 0 ||
	    memchr(err->detail, '\0', sizeof(err->detail)) == NULL ||
	    krr_strerror(err->code) == NULL || krr_err_name(err->code) == NULL)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Once per process, here rather than in LLVMFuzzerInitialize so that replay.c's main gets it too. */
	static bool initialised;
	struct krr *k = NULL, *k2 = NULL;
	struct krr_error err;
	char *xml = NULL;
	size_t len;

	if (!initialised) {
		if (krr_global_init() < 0)
			abort();
		initialised = true;
	}
	memset(&err, 0, sizeof(err));
	if (krr_decode((const char *)data, size, &k, &err) < 0) {
		check_error(&err);
		return 0;
	}
	if (!k)
		abort();
	check_bounds(k, 1);
	/* What decodes encodes, and decodes again to the same KRR. */
	int rc = krr_encode(k, &xml, &len, &err);
	if (rc == -ENOMEM || (rc < 0 && err.code == KRR_E_NOMEM)) {
		krr_free(k);
		return 0;
	}
	if (rc < 0 || !xml || strlen(xml) != len)
		abort();
	rc = krr_decode(xml, len, &k2, &err);
	if (rc == -ENOMEM || (rc < 0 && err.code == KRR_E_NOMEM))
		goto out;
	if (rc < 0 || !krr_eq(k, k2) || k2->is_signed)
		abort();
out:
	krr_free(k2);
	free(xml);
	krr_free(k);
	return 0;
}
