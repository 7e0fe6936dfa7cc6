/* Reading a PEM file or folder: see pemfiles.h. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pemfiles.h"

/* Append the file at path to b (n so far, max at most). */
static int append_file(const char *path, size_t max, char *b, size_t *n, char *why, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t r;

	if (fd < 0) {
		int e = errno;
		snprintf(why, cap, "cannot read %s: %s", path, strerror(e));
		return -e;
	}
	for (;;) {
		if (*n >= max) {
			char c;
			r = read(fd, &c, 1);
			if (r == 0)
				break;
			close(fd);
			snprintf(why, cap, "%s: larger than %zu octets", path, max);
			return -EFBIG;
		}
		r = read(fd, b + *n, max - *n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			close(fd);
			snprintf(why, cap, "cannot read %s: %s", path, strerror(e));
			return -e;
		}
		if (r == 0)
			break;
		*n += (size_t)r;
	}
	close(fd);
	if (*n < max)
		b[(*n)++] = '\n';
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int pem_read_path(const char *path, size_t max, char **buf, size_t *len, char *why, size_t cap)
{
	struct stat st;
	char *b;
	size_t n = 0;
	int rc = 0;

	if (stat(path, &st) < 0) {
		int e = errno;
		snprintf(why, cap, "cannot read %s: %s", path, strerror(e));
		return -e;
	}
	if ((b = malloc(max + 1)) == NULL) {
		snprintf(why, cap, "out of memory");
		return -ENOMEM;
	}
	if (!S_ISDIR(st.st_mode)) {
		rc = append_file(path, max, b, &n, why, cap);
	} else {
		DIR *d = opendir(path);
		struct dirent *de;
		char **names = NULL;
		size_t nn = 0, cn = 0;
		if (!d) {
			rc = -errno;
			snprintf(why, cap, "cannot read %s: %s", path, strerror(-rc));
		}
		while (rc == 0 && d && (de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			if (nn == cn) {
				size_t c2 = cn ? 2 * cn : 16;
				char **v = realloc(names, c2 * sizeof(*v));
				if (!v) {
					rc = -ENOMEM;
					break;
				}
				names = v;
				cn = c2;
			}
			if ((names[nn] = strdup(de->d_name)) == NULL)
				rc = -ENOMEM;
			else
				nn++;
		}
		if (d)
			closedir(d);
		if (rc == -ENOMEM)
			snprintf(why, cap, "out of memory");
		if (nn)
			qsort(names, nn, sizeof(*names), by_name);
		for (size_t i = 0; i < nn; i++) {
			char p[4096];
			struct stat fs;
			snprintf(p, sizeof(p), "%s/%s", path, names[i]);
			if (rc == 0 && stat(p, &fs) == 0 && S_ISREG(fs.st_mode))
				rc = append_file(p, max, b, &n, why, cap);
			free(names[i]);
		}
		free(names);
	}
	if (rc < 0) {
		free(b);
		return rc;
	}
	b[n] = '\0';
	*buf = b;
	*len = n;
	return 0;
}

int pem_read_file(const char *path, size_t max, char **out, size_t *len)
{
	struct stat st;
	char *buf = NULL;
	size_t n = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		rc = -errno;
	else if (S_ISDIR(st.st_mode))
		rc = -EISDIR;
	else if (st.st_size < 0 || (uintmax_t)st.st_size > max)
		rc = -EFBIG;
	else if ((buf = malloc((size_t)st.st_size + 1)) == NULL)
		rc = -ENOMEM;
	while (rc == 0 && n < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + n, (size_t)st.st_size - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			rc = -errno;
		else if (r == 0)
			break;
		else
			n += (size_t)r;
	}
	close(fd);
	if (rc < 0) {
		if (buf)
			explicit_bzero(buf, n);
		free(buf);
		return rc;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}
