/* A string view: pointer and length into someone else's text. */
#ifndef MCX_STRV_H
#define MCX_STRV_H

#include <stddef.h>

/* Never owned; lives as long as the text it points into. */
struct strv {
	const char *ptr;
	size_t len;
};

#endif
