/* tagctl/args.c: the command line.
 *
 * Flags may stand anywhere among the command's words, as with kubectl and gcloud: global ones
 * (--url, -o, -q ...) fill fields of struct tc_args, every other known flag is kept in order for
 * the command, which checks them against its own list (args_check). Whether a flag takes a
 * value is known before the command is, from the one table below, so `--follow FILE` never
 * swallows a word. `--` ends the flags: a key may start with a dash. */
#include <stdarg.h>
#include <string.h>
#include <strings.h>

#include "tagctl/tagctl.h"

struct flagdef {
    const char *name;
    char short_name;
    bool value;
};

/* Every flag tagctl knows. Global ones are handled in set_global. */
static const struct flagdef flagdefs[] = {
    /* global */
    {"url", 0, true}, {"token", 0, true}, {"org", 0, true}, {"workspace", 0, true},
    {"profile", 0, true}, {"output", 'o', true}, {"as-of", 0, true}, {"limit", 0, true},
    {"timeout", 0, true}, {"quiet", 'q', false}, {"debug", 0, false}, {"help", 'h', false},
    {"no-color", 0, false}, {"version", 0, false},
    /* command flags that take a value */
    {"prefix", 0, true}, {"search", 0, true}, {"source", 0, true}, {"group", 0, true},
    {"archived", 0, true}, {"deleted", 0, true}, {"kind", 0, true}, {"parent", 0, true},
    {"tag", 0, true}, {"color", 0, true}, {"description", 0, true}, {"display-name", 0, true},
    {"position", 0, true}, {"l10n", 0, true}, {"name", 0, true}, {"if-match", 0, true},
    {"document", 0, true}, {"context", 0, true}, {"since", 0, true}, {"interval", 0, true},
    {"rights", 0, true}, {"expires", 0, true}, {"format", 0, true}, {"chunk", 0, true},
    {"file", 'f', true}, {"entity", 0, true}, {"principal", 0, true}, {"from", 0, true},
    {"to", 0, true}, {"resume", 0, true}, {"assign", 0, true}, {"conflict", 0, true},
    /* command flags that take none (or =true/=false) */
    {"recursive", 0, false}, {"purge", 0, false}, {"descendants", 0, false},
    {"exclusive", 0, false}, {"protected", 0, false}, {"effective", 0, false},
    {"count", 0, false}, {"follow", 0, false}, {"create-missing", 0, false},
    {"no-parent", 0, false}, {"direct", 0, false}, {"no-progress", 0, false},
    {"root", 0, false}, {"add", 0, false}, {"token-stdin", 0, false}, {"taxonomy", 0, false},
    {"no-assign", 0, false},
    {NULL, 0, false},
};

static int usage(struct tc_args *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int usage(struct tc_args *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->err, sizeof(a->err), fmt, ap);
    va_end(ap);
    return TC_USAGE;
}

bool args_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "yes", "1", "on", NULL};
    static const char *const no[] = {"false", "no", "0", "off", NULL};
    for (int i = 0; yes[i]; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

/* Global options land in their fields (`*global` true); a command flag leaves `*global` false.
 * Returns TC_OK, or TC_USAGE for a boolean given a value that is not one. */
static int set_global(struct tc_args *a, const struct flagdef *d, const char *val, bool *global)
{
    bool b = true;
    *global = true;
    if (!d->value && val && !args_parse_bool(val, &b))
        return usage(a, "--%s takes no value other than true or false, not '%s'", d->name, val);
    if (strcmp(d->name, "url") == 0)
        a->url = val;
    else if (strcmp(d->name, "token") == 0)
        a->token = val;
    else if (strcmp(d->name, "org") == 0)
        a->org = val;
    else if (strcmp(d->name, "workspace") == 0)
        a->workspace = val;
    else if (strcmp(d->name, "profile") == 0)
        a->profile = val;
    else if (strcmp(d->name, "output") == 0)
        a->output = val;
    else if (strcmp(d->name, "as-of") == 0)
        a->as_of = val;
    else if (strcmp(d->name, "limit") == 0)
        a->limit = val;
    else if (strcmp(d->name, "timeout") == 0)
        a->timeout = val;
    else if (strcmp(d->name, "quiet") == 0)
        a->quiet = b;
    else if (strcmp(d->name, "debug") == 0)
        a->debug = b;
    else if (strcmp(d->name, "help") == 0)
        a->help = b;
    else if (strcmp(d->name, "no-color") == 0)
        a->no_color = b;
    else if (strcmp(d->name, "version") == 0)
        a->version = b;
    else
        *global = false;
    return TC_OK;
}

static const struct flagdef *find_long(const char *name, size_t len)
{
    for (const struct flagdef *d = flagdefs; d->name; d++)
        if (strlen(d->name) == len && strncmp(d->name, name, len) == 0)
            return d;
    return NULL;
}

static const struct flagdef *find_short(char c)
{
    for (const struct flagdef *d = flagdefs; d->name; d++)
        if (d->short_name && d->short_name == c)
            return d;
    return NULL;
}

static int add_flag(struct tc_args *a, const struct flagdef *d, const char *val)
{
    bool global, b;
    int rc = set_global(a, d, val, &global);
    if (rc || global)
        return rc;
    if (!d->value && val && !args_parse_bool(val, &b))
        return usage(a, "--%s takes no value other than true or false, not '%s'", d->name, val);
    if (a->nflags == ARGS_MAX)
        return usage(a, "too many flags (at most %d)", ARGS_MAX);
    a->flags[a->nflags].name = d->name;
    a->flags[a->nflags].val = val ? val : "true";
    a->nflags++;
    return TC_OK;
}

int args_parse(int argc, char **argv, struct tc_args *a)
{
    bool words_only = false;
    int rc;

    memset(a, 0, sizeof(*a));
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        const struct flagdef *d;
        const char *val = NULL;

        if (words_only || s[0] != '-' || s[1] == '\0') {
            if (a->npos == ARGS_MAX)
                return usage(a, "too many arguments (at most %d)", ARGS_MAX);
            a->pos[a->npos++] = s;
            continue;
        }
        if (strcmp(s, "--") == 0) {
            words_only = true;
            continue;
        }
        if (s[1] == '-') {
            const char *eq = strchr(s + 2, '=');
            size_t len = eq ? (size_t)(eq - (s + 2)) : strlen(s + 2);
            d = find_long(s + 2, len);
            if (d == NULL)
                return usage(a, "unknown flag '%.*s'", (int)(len + 2), s);
            if (eq)
                val = eq + 1;
        } else {
            d = find_short(s[1]);
            if (d == NULL)
                return usage(a, "unknown flag '-%c'", s[1]);
            if (s[2] != '\0') {
                if (!d->value)
                    return usage(a, "-%c takes no value", s[1]);
                val = s + 2; /* -ojson */
            }
        }
        if (d->value && val == NULL) {
            if (i + 1 >= argc)
                return usage(a, "--%s needs a value", d->name);
            val = argv[++i];
        }
        rc = add_flag(a, d, val);
        if (rc)
            return rc;
    }
    return TC_OK;
}

const char *args_get(const struct tc_args *a, const char *name)
{
    const char *v = NULL;
    for (int i = 0; i < a->nflags; i++)
        if (strcmp(a->flags[i].name, name) == 0)
            v = a->flags[i].val;
    return v;
}

bool args_has(const struct tc_args *a, const char *name)
{
    return args_get(a, name) != NULL;
}

bool args_bool(const struct tc_args *a, const char *name)
{
    const char *v = args_get(a, name);
    bool b = false;
    return v && args_parse_bool(v, &b) && b;
}

int args_check(struct tc_args *a, const char *allowed)
{
    for (int i = 0; i < a->nflags; i++) {
        const char *n = a->flags[i].name, *p = allowed ? allowed : "";
        size_t len = strlen(n);
        bool ok = false;
        while (*p) {
            size_t w = strcspn(p, " ");
            if (w == len && strncmp(p, n, len) == 0)
                ok = true;
            p += w;
            p += strspn(p, " ");
        }
        if (!ok)
            return usage(a, "unknown flag '--%s' for this command", n);
    }
    return TC_OK;
}
