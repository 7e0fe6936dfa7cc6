/* Fuzz target: the KmsCertificate parser of the KMS registry. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "kms.h"
#include "krr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool init;
	struct kms_info k;
	char err[160];
	int line;

	if (!init) {
		krr_global_init();	/* libxml2 quiet and offline */
		init = true;
	}
	if (kms_cert_parse((const char *)data, size, &k, err, sizeof(err), &line) == 0) {
		/* What parses is coherent. */
		if (!k.uri || !*k.uri || k.valid_from > k.valid_to || (k.has_kpak && k.kpak[0] != 0x04))
			abort();
		kms_info_clear(&k);
	} else if (memchr(err, '\0', sizeof(err)) == NULL) {
		abort();
	}
	return 0;
}
