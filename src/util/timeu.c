/* util/timeu.c: time helpers; gmtime is banned (not thread safe), so civil dates are computed. */
#include "util/timeu.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t time_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t time_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Howard Hinnant's days-from-civil and civil-from-days. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

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

void time_iso(int64_t ms, char out[32])
{
    int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
    int msec = (int)(ms - secs * 1000);
    int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
    int64_t rem = secs - days * 86400, y;
    unsigned mo, d;

    civil_from_days(days, &y, &mo, &d);
    if (y >= 0 && y <= 9999) {
        /* The common case without printf: every rendered row carries a few of these. */
        int hh = (int)(rem / 3600), mi = (int)(rem / 60 % 60), ss = (int)(rem % 60);
        char *o = out;
        *o++ = (char)('0' + y / 1000);
        *o++ = (char)('0' + y / 100 % 10);
        *o++ = (char)('0' + y / 10 % 10);
        *o++ = (char)('0' + y % 10);
        *o++ = '-';
        *o++ = (char)('0' + mo / 10);
        *o++ = (char)('0' + mo % 10);
        *o++ = '-';
        *o++ = (char)('0' + d / 10);
        *o++ = (char)('0' + d % 10);
        *o++ = 'T';
        *o++ = (char)('0' + hh / 10);
        *o++ = (char)('0' + hh % 10);
        *o++ = ':';
        *o++ = (char)('0' + mi / 10);
        *o++ = (char)('0' + mi % 10);
        *o++ = ':';
        *o++ = (char)('0' + ss / 10);
        *o++ = (char)('0' + ss % 10);
        *o++ = '.';
        *o++ = (char)('0' + msec / 100);
        *o++ = (char)('0' + msec / 10 % 10);
        *o++ = (char)('0' + msec % 10);
        *o++ = 'Z';
        *o = '\0';
        return;
    }
    char buf[64];
    snprintf(buf, sizeof(buf), "%04lld-%02u-%02uT%02d:%02d:%02d.%03dZ", (long long)y, mo % 100,
             d % 100, (int)(rem / 3600) % 100, (int)(rem / 60 % 60), (int)(rem % 60), msec % 1000);
    memcpy(out, buf, 31);
    out[31] = '\0';
}

static bool digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return false;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return true;
}

static int days_in_month(int y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 && leap ? 29 : days[m - 1];
}

bool time_parse(const char *s, int64_t *ms)
{
    const char *p = s;
    int y, mo, d, h = 0, mi = 0, sec = 0, frac = 0, off = 0;
    size_t n = strlen(s);
    bool all_digits = n > 0 && n <= 16;

    for (size_t i = 0; i < n && all_digits; i++)
        if (!isdigit((unsigned char)s[i]))
            all_digits = false;
    if (all_digits && n != 8) {
        long long v = 0;
        for (size_t i = 0; i < n; i++)
            v = v * 10 + (s[i] - '0');
        *ms = v;
        return true;
    }
    if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' ||
        !digits(&p, 2, &d))
        return false;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
        return false; /* 2030-02-31 is no date, not a way to write March 3rd */
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi))
            return false;
        if (*p == ':') {
            p++;
            if (!digits(&p, 2, &sec))
                return false;
        }
        if (*p == '.' || *p == ',') {
            int scale = 100;
            p++;
            if (!isdigit((unsigned char)*p))
                return false;
            while (isdigit((unsigned char)*p)) {
                frac += (*p - '0') * scale;
                scale /= 10;
                p++;
            }
        }
        if (*p == 'Z' || *p == 'z')
            p++;
        else if (*p == '+' || *p == '-') {
            int sign = *p == '-' ? -1 : 1, oh, om = 0;
            p++;
            if (!digits(&p, 2, &oh))
                return false;
            if (*p == ':')
                p++;
            if (isdigit((unsigned char)*p) && !digits(&p, 2, &om))
                return false;
            if (oh > 23 || om > 59)
                return false;
            off = sign * (oh * 60 + om);
        }
        if (h > 23 || mi > 59 || sec > 60)
            return false;
    }
    if (*p != '\0')
        return false;
    *ms = (days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + sec -
           (int64_t)off * 60) * 1000 + frac;
    return true;
}
