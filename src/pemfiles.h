/* Reading PEM material that a setting names: one file, or every file of a folder (CRLs). */
#ifndef MCX_PEMFILES_H
#define MCX_PEMFILES_H

#include <stddef.h>

/*
 * The file at path, or every regular file of the folder at path (names not
 * starting with '.', in name order, each followed by a newline), into one
 * NUL-terminated buffer of at most max octets.  0 with *buf (free it), or
 * a negative errno with why ("cannot read X: ...", "larger than N octets").
 */
int pem_read_path(const char *path, size_t max, char **buf, size_t *len, char *why, size_t cap);

#endif
