/* tagctl/main.c: tagctl's entry: the command line, the settings, dispatch.
 *
 * Order of work: parse the whole command line (usage errors before any request), find the
 * command, check its flags and word count, load the profile and apply precedence, then run it.
 * Every path returns one of the exit codes of tagctl.h. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <unistr.h>

#include "tagctl/tagctl.h"
#include "util/mem.h"

static void on_signal(int sig)
{
    (void)sig;
    tc_stop = 1;
}

static const char *real_getenv(const char *name)
{
    return getenv(name);
}

static int run(int argc, char **argv)
{
    struct tc_args a;
    struct tc_profile prof;
    struct tc_config cfg;
    struct tc_ctx x;
    const struct tc_cmd *c;
    char err[512];
    char *path = NULL;
    const char *profile;
    int used = 0, rc;
    long timeout = 60;

    /* JSON carries only UTF-8: a word that is not would become no request at all. */
    for (int i = 1; i < argc; i++) {
        if (u8_check((const uint8_t *)argv[i], strlen(argv[i])) != NULL)
            return tc_fail(TC_USAGE, "argument %d is not valid UTF-8", i);
    }
    rc = args_parse(argc, argv, &a);
    if (rc)
        return tc_fail(rc, "%s (tagctl help lists the commands and flags)", a.err);
    tc_color_err = isatty(STDERR_FILENO) && !a.no_color && !getenv("NO_COLOR");
    if (a.version && a.npos == 0) {
        printf("tagctl %s\n", TAGD_VERSION);
        return TC_OK;
    }
    if (a.npos == 0) {
        cmd_help(a.help ? stdout : stderr, NULL);
        return a.help ? TC_OK : TC_USAGE;
    }
    c = cmd_find(a.pos, a.npos, &used);
    if (c == NULL)
        return tc_fail(TC_USAGE, "unknown command '%s' (tagctl help lists them)", a.pos[0]);
    if (a.help) {
        cmd_help(stdout, c);
        return TC_OK;
    }
    if (c->fn == NULL) {
        if (used < a.npos)
            return tc_fail(TC_USAGE, "unknown command '%s %s' (tagctl help %s lists them)",
                           c->name, a.pos[used], c->name);
        cmd_help(stderr, c);
        return TC_USAGE;
    }
    memset(&x, 0, sizeof(x));
    x.a = &a;
    x.nargs = a.npos - used;
    if (x.nargs < c->min_args || (c->max_args >= 0 && x.nargs > c->max_args))
        return tc_fail(TC_USAGE, "usage: tagctl %s %s", c->name, c->usage);
    rc = args_check(&a, c->flags);
    if (rc)
        return tc_fail(rc, "%s (tagctl help %s)", a.err, c->name);
    if (a.as_of && !c->reads)
        return tc_fail(TC_USAGE, "'%s' does not take --as-of (reads of tags, groups, resources "
                                 "and effective do)", c->name);
    if (a.output && !out_parse_fmt(a.output, &x.out.fmt))
        return tc_fail(TC_USAGE, "-o is table, json, jsonl, yaml, csv or tsv, not '%s'", a.output);
    if (a.limit) {
        char *end;
        x.cap = strtol(a.limit, &end, 10);
        if (*end || x.cap < 1 || x.cap > 1000000000L)
            return tc_fail(TC_USAGE, "--limit wants a positive whole number, not '%s'", a.limit);
    }
    if (a.timeout) {
        char *end;
        timeout = strtol(a.timeout, &end, 10);
        if (*end || timeout < 1 || timeout > 86400)
            return tc_fail(TC_USAGE, "--timeout wants seconds from 1 to 86400, not '%s'", a.timeout);
    }

    profile = a.profile ? a.profile : getenv("TAGCTL_PROFILE");
    if (profile == NULL || *profile == '\0')
        profile = "default";
    path = config_path();
    rc = config_load(path, profile, &prof, err, sizeof(err));
    if (rc) {
        xfree(path);
        return tc_fail(rc, "%s", err);
    }
    config_resolve(&a, &prof, real_getenv, &cfg);
    cfg.profile = profile;
    if (a.profile && path && !prof.url && !prof.token && strcmp(c->name, "login") != 0 &&
        !c->offline) {
        rc = tc_fail(TC_USAGE, "no profile '%s' in %s (tagctl login --profile %s makes it)",
                     profile, path, profile);
        goto out;
    }
    if (cfg.workspace && strpbrk(cfg.workspace, "\r\n")) {
        rc = tc_fail(TC_USAGE, "--workspace wants a workspace id (ws_N), not '%s'", cfg.workspace);
        goto out;
    }

    x.cfg = &cfg;
    x.profile_path = path;
    x.out.f = stdout;
    x.out.quiet = a.quiet;
    x.out.color = isatty(STDOUT_FILENO) && !a.no_color && !getenv("NO_COLOR");
    x.out.width = isatty(STDOUT_FILENO) ? out_term_width(STDOUT_FILENO) : 0;
    if (!c->offline || strcmp(c->name, "config") == 0)
        x.cl = client_new(&cfg, a.debug, timeout);
    rc = c->fn(&x);
    if (tc_stop && rc != TC_OK)
        tc_fail(0, "interrupted");
    client_free(x.cl);
out:
    config_profile_release(&prof);
    xfree(path);
    return rc;
}

int main(int argc, char **argv)
{
    struct sigaction sa;
    int rc;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
        fprintf(stderr, "tagctl: cannot initialize libcurl\n");
        return TC_ERROR;
    }
    rc = run(argc, argv);
    curl_global_cleanup();
    return rc;
}
