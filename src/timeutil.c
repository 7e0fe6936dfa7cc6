/* Time conversions shared by the MIKEY tools, UID key periods and KRR timestamps. */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "mikey.h"
#include "timeutil.h"

static int digits(const char *s, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		*v = *v * 10 + (s[i] - '0');
	}
	return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

int time_parse_iso(const char *s, int64_t *out)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int Y, M, D, h, m, sec, oh = 0, om = 0, sign = 0;
	size_t n = strlen(s), p = 19;

	if (n < 20 || digits(s, 4, &Y) || s[4] != '-' || digits(s + 5, 2, &M) || s[7] != '-' ||
	    digits(s + 8, 2, &D) || (s[10] != 'T' && s[10] != 't') || digits(s + 11, 2, &h) ||
	    s[13] != ':' || digits(s + 14, 2, &m) || s[16] != ':' || digits(s + 17, 2, &sec))
		return -EINVAL;
	if (s[p] == '.') {		/* fractions of a second are dropped */
		p++;
		if (s[p] < '0' || s[p] > '9')
			return -EINVAL;
		while (s[p] >= '0' && s[p] <= '9')
			p++;
	}
	if ((s[p] == 'Z' || s[p] == 'z') && s[p + 1] == '\0') {
		sign = 0;
	} else if ((s[p] == '+' || s[p] == '-') && n - p == 6 && !digits(s + p + 1, 2, &oh) &&
	    s[p + 3] == ':' && !digits(s + p + 4, 2, &om) && oh < 24 && om < 60) {
		sign = s[p] == '+' ? 1 : -1;
	} else {
		return -EINVAL;
	}
	bool leap = (Y % 4 == 0 && Y % 100 != 0) || Y % 400 == 0;
	if (M < 1 || M > 12 || D < 1 || D > mdays[M - 1] || (M == 2 && D == 29 && !leap) ||
	    h > 23 || m > 59 || sec > 59)
		return -EINVAL;
	*out = days_from_civil(Y, (unsigned)M, (unsigned)D) * 86400 + h * 3600 + m * 60 + sec -
	    sign * (oh * 3600 + om * 60);
	return 0;
}

int time_format_iso(int64_t t, char out[TIME_ISO_LEN])
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (gmtime_r(&tt, &tm) == NULL || tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 0)
		return -EINVAL;
	char tmp[64];
	int n = snprintf(tmp, sizeof(tmp), "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
	    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	if (n != TIME_ISO_LEN - 1)
		return -EINVAL;
	memcpy(out, tmp, TIME_ISO_LEN);
	return 0;
}

int64_t time_ntp_to_unix(uint32_t ntp)
{
	int64_t t = (int64_t)ntp - MIKEY_NTP_UNIX_OFFSET;
	if (ntp < 0x80000000u)
		t += (int64_t)1 << 32;
	return t;
}

uint32_t time_unix_to_ntp(int64_t unix_seconds)
{
	return (uint32_t)(unix_seconds + MIKEY_NTP_UNIX_OFFSET);
}
