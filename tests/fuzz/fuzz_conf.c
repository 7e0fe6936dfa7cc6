/* Fuzz target: the configuration loader (libconfig syntax, typed extraction, semantic checks). */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* In memory when /dev/shm is there: the target is I/O-bound otherwise. */
	static char path[] = "/dev/shm/mcx-fuzz-conf.XXXXXX";
	static bool made;
	struct conf_diags d = { 0 };
	struct conf *c = NULL;

	/* conf_load reads a file: one per process, rewritten for every input. */
	if (!made) {
		int fd = mkstemp(path);
		if (fd < 0) {
			strcpy(path, "/tmp/mcx-fuzz-conf.XXXXXX");
			fd = mkstemp(path);
		}
		if (fd < 0)
			abort();
		close(fd);
		made = true;
	}
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
		abort();
	int rc = conf_load(path, &c, &d);
	/* Loaded means no diagnostics; refused means at least one. */
	if ((rc == 0) != (d.n == 0) || (rc == 0) != (c != NULL))
		abort();
	conf_free(c);
	conf_diags_clear(&d);
	return 0;
}
