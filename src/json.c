/* JSON text generation for tool output and audit records. */
#include "config.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

void json_init(struct json *j)
{
	memset(j, 0, sizeof(*j));
	j->first[0] = true;
}

void json_free(struct json *j)
{
	free(j->buf);
	json_init(j);
}

void json_reset(struct json *j)
{
	char *buf = j->buf;
	size_t cap = j->cap;

	json_init(j);
	j->buf = buf;
	j->cap = cap;
	if (buf)
		buf[0] = '\0';
}

/* Grow the buffer for n more octets and the NUL; false once allocation failed. */
static bool grow(struct json *j, size_t n)
{
	size_t cap = j->cap ? j->cap : 1024;	/* an audit record fits without a second realloc */
	while (cap < j->len + n + 1)
		cap *= 2;
	char *nb = realloc(j->buf, cap);
	if (!nb) {
		j->failed = true;
		return false;
	}
	j->buf = nb;
	j->cap = cap;
	return true;
}

static inline void put(struct json *j, const char *s, size_t n)
{
	if (j->failed || (j->len + n + 1 > j->cap && !grow(j, n)))
		return;
	memcpy(j->buf + j->len, s, n);
	j->len += n;
	j->buf[j->len] = '\0';
}

/* Separator before a value or a key at the current level. */
static void sep(struct json *j)
{
	if (j->after_key) {
		j->after_key = false;
		return;
	}
	if (!j->first[j->depth])
		put(j, ",", 1);
	j->first[j->depth] = false;
}

static void nest(struct json *j, char c)
{
	sep(j);
	put(j, &c, 1);
	if (j->depth + 1 >= JSON_MAX_DEPTH) {
		j->failed = true;
		return;
	}
	j->first[++j->depth] = true;
}

static void unnest(struct json *j, char c)
{
	if (j->depth == 0) {
		j->failed = true;
		return;
	}
	j->depth--;
	put(j, &c, 1);
}

void json_obj_begin(struct json *j) { nest(j, '{'); }
void json_obj_end(struct json *j) { unnest(j, '}'); }
void json_arr_begin(struct json *j) { nest(j, '['); }
void json_arr_end(struct json *j) { unnest(j, ']'); }

/* Octets a JSON string cannot hold as they are: controls, '"', '\\', and (to stay ASCII) DEL and above. */
static bool needs_escape(unsigned char c)
{
	return c < 0x20 || c >= 0x7f || c == '"' || c == '\\';
}

static void quoted(struct json *j, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t run = 0;

	put(j, "\"", 1);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!needs_escape(c))
			continue;
		put(j, s + run, i - run);
		run = i + 1;
		if (c == '"' || c == '\\') {
			char e[2] = { '\\', (char)c };
			put(j, e, 2);
		} else {
			char e[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
			put(j, e, 6);
		}
	}
	put(j, s + run, len - run);
	put(j, "\"", 1);
}

/* Keys are the program's own identifiers: written as they are, not escaped. */
void json_key(struct json *j, const char *key)
{
	sep(j);
	put(j, "\"", 1);
	put(j, key, strlen(key));
	put(j, "\":", 2);
	j->after_key = true;
}

void json_strn(struct json *j, const char *s, size_t len)
{
	sep(j);
	quoted(j, s, len);
}

void json_str(struct json *j, const char *s)
{
	json_strn(j, s, strlen(s));
}

void json_hex(struct json *j, const uint8_t *p, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	char chunk[128];
	size_t n = 0;

	sep(j);
	put(j, "\"", 1);
	for (size_t i = 0; i < len; i++) {
		chunk[n++] = hex[p[i] >> 4];
		chunk[n++] = hex[p[i] & 15];
		if (n == sizeof(chunk)) {
			put(j, chunk, n);
			n = 0;
		}
	}
	put(j, chunk, n);
	put(j, "\"", 1);
}

/* Decimal digits of v, written backwards from the end of b[24]; returns where they start. */
static char *digits(uint64_t v, char b[24])
{
	char *p = b + 24;
	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return p;
}

void json_uint(struct json *j, uint64_t v)
{
	char b[24], *p = digits(v, b);
	sep(j);
	put(j, p, (size_t)(b + 24 - p));
}

void json_int(struct json *j, int64_t v)
{
	char b[24], *p = digits(v < 0 ? 0 - (uint64_t)v : (uint64_t)v, b);
	if (v < 0)
		*--p = '-';
	sep(j);
	put(j, p, (size_t)(b + 24 - p));
}

void json_bool(struct json *j, bool v)
{
	sep(j);
	put(j, v ? "true" : "false", v ? 4 : 5);
}

void json_null(struct json *j)
{
	sep(j);
	put(j, "null", 4);
}

void json_raw(struct json *j, const char *text)
{
	sep(j);
	if (text)
		put(j, text, strlen(text));
	else
		put(j, "null", 4);
}

void json_kstr(struct json *j, const char *k, const char *s) { json_key(j, k); json_str(j, s); }
void json_kstrn(struct json *j, const char *k, const char *s, size_t n) { json_key(j, k); json_strn(j, s, n); }
void json_khex(struct json *j, const char *k, const uint8_t *p, size_t n) { json_key(j, k); json_hex(j, p, n); }
void json_kint(struct json *j, const char *k, int64_t v) { json_key(j, k); json_int(j, v); }
void json_kuint(struct json *j, const char *k, uint64_t v) { json_key(j, k); json_uint(j, v); }
void json_kbool(struct json *j, const char *k, bool v) { json_key(j, k); json_bool(j, v); }
void json_knull(struct json *j, const char *k) { json_key(j, k); json_null(j); }
