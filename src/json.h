/* A small JSON writer into a growing buffer: commas and escaping handled, nothing parsed. */
#ifndef MCX_JSON_H
#define MCX_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSON_MAX_DEPTH 16

struct json {
	char *buf;		/* NUL-terminated text, owned; free with json_free */
	size_t len, cap;
	bool failed;		/* allocation failed or nesting too deep: the text is unusable */
	unsigned depth;
	bool first[JSON_MAX_DEPTH];	/* nothing written yet at this level */
	bool after_key;
};

void json_init(struct json *j);
void json_free(struct json *j);
/* Forget the text, keep the buffer, for the next document. */
void json_reset(struct json *j);

void json_obj_begin(struct json *j);
void json_obj_end(struct json *j);
void json_arr_begin(struct json *j);
void json_arr_end(struct json *j);
/* key is one of the program's identifiers (written unescaped). */
void json_key(struct json *j, const char *key);

/* Strings are escaped; octets outside printable ASCII become \u00XX. */
void json_str(struct json *j, const char *s);
void json_strn(struct json *j, const char *s, size_t len);
void json_hex(struct json *j, const uint8_t *p, size_t len);	/* lowercase hex string */
void json_int(struct json *j, int64_t v);
void json_uint(struct json *j, uint64_t v);
void json_bool(struct json *j, bool v);
void json_null(struct json *j);
/* A value that is already JSON text (from this writer); NULL writes null. */
void json_raw(struct json *j, const char *text);

/* key + value shorthands. */
void json_kstr(struct json *j, const char *key, const char *s);
void json_kstrn(struct json *j, const char *key, const char *s, size_t len);
void json_khex(struct json *j, const char *key, const uint8_t *p, size_t len);
void json_kint(struct json *j, const char *key, int64_t v);
void json_kuint(struct json *j, const char *key, uint64_t v);
void json_kbool(struct json *j, const char *key, bool v);
void json_knull(struct json *j, const char *key);

#endif
