/* util/progress.c: see progress.h. */
#include "util/progress.h"

#include <string.h>
#include <unistd.h>

#include "util/log.h"
#include "util/timeu.h"

#define BAR_WIDTH 30

void progress_init(struct progress *p, const char *what, const char *units, int64_t total,
                   enum progress_mode mode, FILE *out)
{
    memset(p, 0, sizeof(*p));
    p->what = what;
    p->units = units;
    p->total = total > 0 ? total : 0;
    p->mode = mode;
    p->out = out;
    p->t0_us = p->last_us = time_mono_us();
}

enum progress_mode progress_mode_for(FILE *f)
{
    return isatty(fileno(f)) ? PROGRESS_BAR : PROGRESS_LINES;
}

void progress_format(const struct progress *p, int64_t done, int64_t elapsed_us,
                     const char *detail, char *buf, size_t n)
{
    double s = (double)elapsed_us / 1e6, rate = s > 0 ? (double)done / s : 0;
    size_t len;

    if (p->total > 0)
        snprintf(buf, n, "%s: %lld of %lld %s (%d%%)", p->what, (long long)done,
                 (long long)p->total, p->units,
                 (int)(done >= p->total ? 100 : done * 100 / p->total));
    else
        snprintf(buf, n, "%s: %lld %s", p->what, (long long)done, p->units);
    len = strlen(buf);
    if (detail && len < n)
        len += (size_t)snprintf(buf + len, n - len, ", %s", detail);
    if (len < n)
        len += (size_t)snprintf(buf + len, n - len, ", %.0f/s", rate);
    if (p->total > 0 && done < p->total && rate > 0 && len < n) {
        double left = (double)(p->total - done) / rate;
        snprintf(buf + len, n - len, left < 10 ? ", %.1f s left" : ", %.0f s left", left);
    }
}

static void show(struct progress *p, const char *line, double share, bool last)
{
    if (p->mode == PROGRESS_LOG) {
        log_info("%s", line);
    } else if (p->mode == PROGRESS_LINES) {
        fprintf(p->out, "%s\n", line);
        fflush(p->out);
    } else {
        int fill = (int)(share * BAR_WIDTH);
        char bar[BAR_WIDTH + 1];
        memset(bar, '#', (size_t)fill);
        memset(bar + fill, '.', (size_t)(BAR_WIDTH - fill));
        bar[BAR_WIDTH] = '\0';
        /* \033[K clears what a longer line left behind. */
        fprintf(p->out, "\r[%s] %s\033[K%s", bar, line, last ? "\n" : "");
        fflush(p->out);
    }
    if (p->on_line)
        p->on_line(line);
    p->shown = true;
}

void progress_update(struct progress *p, int64_t done, const char *detail)
{
    int64_t now = time_mono_us();
    int tenth = p->total > 0 ? (int)((done >= p->total ? p->total : done) * 10 / p->total) : 0;
    char line[256];

    if (now - p->last_us < 1000000 && tenth == p->last_tenth)
        return;
    p->last_us = now;
    p->last_tenth = tenth;
    progress_format(p, done, now - p->t0_us, detail, line, sizeof(line));
    show(p, line, p->total > 0 ? (double)tenth / 10 : 0, false);
}

void progress_end(struct progress *p, int64_t done, const char *detail)
{
    int64_t el = time_mono_us() - p->t0_us;
    char line[256];
    size_t len;

    if (p->total > 0)
        snprintf(line, sizeof(line), "%s: %lld %s done", p->what, (long long)done, p->units);
    else
        snprintf(line, sizeof(line), "%s: %lld %s", p->what, (long long)done, p->units);
    len = strlen(line);
    if (detail)
        len += (size_t)snprintf(line + len, sizeof(line) - len, ", %s", detail);
    if (len < sizeof(line))
        snprintf(line + len, sizeof(line) - len, " in %.3f s", (double)el / 1e6);
    show(p, line, 1.0, true);
}
