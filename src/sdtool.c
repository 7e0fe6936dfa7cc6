/* mcx-sdtool: the operator's offline tool; dispatches to one subcommand per concern. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "lookup_ldap.h"
#include "sdtool.h"

void sdtool_err(const char *fmt, ...)
{
	va_list ap;

	fputs("mcx-sdtool: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int sdtool_read(const char *path, uint8_t **bufp, size_t *lenp)
{
	FILE *f = stdin;
	uint8_t *buf;
	size_t len = 0;

	if (path && strcmp(path, "-") == 0)
		path = NULL;
	if (path && (f = fopen(path, "rb")) == NULL) {
		sdtool_err("%s: %s", path, strerror(errno));
		return SDTOOL_BAD_INPUT;
	}
	/* One octet more than allowed tells an oversized input from a full one. */
	if ((buf = malloc(SDTOOL_MAX_INPUT + 2)) == NULL) {
		sdtool_err("out of memory");
		if (f != stdin)
			fclose(f);
		return SDTOOL_BAD_INPUT;
	}
	len = fread(buf, 1, SDTOOL_MAX_INPUT + 1, f);
	int rd_err = ferror(f);
	if (f != stdin)
		fclose(f);
	if (rd_err) {
		sdtool_err("%s: read error", path ? path : "stdin");
		free(buf);
		return SDTOOL_BAD_INPUT;
	}
	if (len > SDTOOL_MAX_INPUT) {
		sdtool_err("%s: input longer than %u octets", path ? path : "stdin", SDTOOL_MAX_INPUT);
		free(buf);
		return SDTOOL_BAD_INPUT;
	}
	buf[len] = '\0';
	*bufp = buf;
	*lenp = len;
	return SDTOOL_OK;
}

int sdtool_bad_option(const char *cmd, char **argv)
{
	sdtool_err("%s: unknown option or missing argument: %s", cmd, argv[optind - 1]);
	return SDTOOL_USAGE;
}

static void usage(FILE *out)
{
	fputs("usage: mcx-sdtool mikey decode [--input raw|base64|sdp|sip] [--json] [FILE]\n"
	      "       mcx-sdtool mikey build --idri URI --idrr URI --idrkmsi URI --idrkmsr URI\n"
	      "                              [--time TIME] [--csb-id ID] [--rand HEX] [--hide]\n"
	      "                              [--key-period S] [--key-offset S]\n"
	      "                              [--output raw|base64|sdp|sip]\n"
	      "       mcx-sdtool krr build --originator URI --originator-kms URI --initiator URI\n"
	      "                            --receiver URI --initiator-kms URI --receiver-kms URI\n"
	      "                            [--accept-initiator-kms URI]... [--accept-receiver-kms URI]...\n"
	      "                            [--time TIME] [--id ID] [--embed FILE]\n"
	      "                            [--cert FILE --key FILE]\n"
	      "       mcx-sdtool krr decode [--json] [FILE]\n"
	      "       mcx-sdtool krr verify --trust CA.pem [--time TIME] [--json] [FILE]\n"
	      "       mcx-sdtool lookup -c FILE [--time TIME] [--json] USER\n"
	      "       mcx-sdtool decide -c FILE [--time TIME] [--json] [SIPMSG]\n"
	      "       mcx-sdtool --version\n", out);
}

int main(int argc, char **argv)
{
	/* The directory's troubles (lookup.backend = "ldap") are told on stderr, as the daemon logs them. */
	log_open(true, CONF_LOG_WARNING);
	lookup_register(&lookup_ldap_ops);
	if (argc < 2) {
		usage(stderr);
		return SDTOOL_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return SDTOOL_OK;
	}
	if (strcmp(argv[1], "--version") == 0) {
		puts(PACKAGE_STRING);
		return SDTOOL_OK;
	}
	if (strcmp(argv[1], "mikey") == 0)
		return sdtool_mikey(argc - 1, argv + 1);
	if (strcmp(argv[1], "krr") == 0)
		return sdtool_krr(argc - 1, argv + 1);
	if (strcmp(argv[1], "lookup") == 0)
		return sdtool_lookup(argc - 1, argv + 1);
	if (strcmp(argv[1], "decide") == 0)
		return sdtool_decide(argc - 1, argv + 1);
	sdtool_err("unknown command '%s'", argv[1]);
	usage(stderr);
	return SDTOOL_USAGE;
}
