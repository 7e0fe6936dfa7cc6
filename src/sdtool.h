/* mcx-sdtool: shared pieces of the subcommands (exit codes, input, messages). */
#ifndef MCX_SDTOOL_H
#define MCX_SDTOOL_H

#include <stddef.h>
#include <stdint.h>

/* Exit status: 0 done, 1 bad input (or a negative answer), 2 bad usage. */
enum { SDTOOL_OK = 0, SDTOOL_BAD_INPUT = 1, SDTOOL_USAGE = 2, SDTOOL_LOOKUP_FAILED = 3 };

#define SDTOOL_MAX_INPUT (1u << 20)

/* Print "mcx-sdtool: <message>" on stderr. */
void sdtool_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Read all of path ("-" or NULL: stdin) into a malloc'd buffer with a NUL
 * after the data.  Returns 0, or an exit status after printing why.
 */
int sdtool_read(const char *path, uint8_t **buf, size_t *len);

/* getopt met an unknown option or one without its argument: say which, for cmd ("mikey decode"). */
int sdtool_bad_option(const char *cmd, char **argv);

int sdtool_mikey(int argc, char **argv);
int sdtool_krr(int argc, char **argv);
int sdtool_lookup(int argc, char **argv);
int sdtool_decide(int argc, char **argv);

#endif
