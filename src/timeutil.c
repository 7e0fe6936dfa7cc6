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

/* Civil date of a day count since 1970-01-01 (H. Hinnant's algorithm, the inverse of days_from_civil). */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static void two(char *p, unsigned v)
{
	p[0] = (char)('0' + v / 10);
	p[1] = (char)('0' + v % 10);
}

/* Written digit by digit: it is in every audit record. */
int time_format_iso(int64_t t, char out[TIME_ISO_LEN])
{
	int64_t days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400), y;
	int64_t secs = t - days * 86400;
	unsigned m, d;

	if (t < -62135596800LL || t > 253402300799LL)	/* years 1 to 9999 */
		return -EINVAL;
	civil_from_days(days, &y, &m, &d);
	two(out, (unsigned)(y / 100));
	two(out + 2, (unsigned)(y % 100));
	out[4] = '-';
	two(out + 5, m);
	out[7] = '-';
	two(out + 8, d);
	out[10] = 'T';
	two(out + 11, (unsigned)(secs / 3600));
	out[13] = ':';
	two(out + 14, (unsigned)(secs / 60 % 60));
	out[16] = ':';
	two(out + 17, (unsigned)(secs % 60));
	out[19] = 'Z';
	out[20] = '\0';
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
