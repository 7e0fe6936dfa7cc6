/* UTC time conversions: xsd:dateTime text, Unix seconds and NTP seconds (RFC 5905 eras). */
#ifndef MCX_TIMEUTIL_H
#define MCX_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

#define TIME_ISO_LEN 21		/* "2026-11-29T10:00:00Z" and its NUL */

/* Parse "YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm)"; 0 or -EINVAL. */
int time_parse_iso(const char *s, int64_t *unix_seconds);
/* Format as "YYYY-MM-DDTHH:MM:SSZ"; out holds TIME_ISO_LEN; 0 or -EINVAL (out of range). */
int time_format_iso(int64_t unix_seconds, char out[TIME_ISO_LEN]);

/* 32-bit NTP seconds to Unix: values below 2^31 are taken as era 1 (after 2036). */
int64_t time_ntp_to_unix(uint32_t ntp_seconds);
/* Unix seconds to the 32-bit NTP seconds field (wrapping into era 1 after 2036). */
uint32_t time_unix_to_ntp(int64_t unix_seconds);

#endif
