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

/*
 * The regular file at path, whole, into one NUL-terminated buffer (free
 * it; it may hold a private key: clear it first).  0, or a negative errno:
 * -EISDIR for a folder, -EFBIG above max octets, -ENOMEM, or open's and
 * read's.  Nothing is left in memory on failure.
 */
int pem_read_file(const char *path, size_t max, char **buf, size_t *len);

#endif
