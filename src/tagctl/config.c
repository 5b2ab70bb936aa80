/* tagctl/config.c: profiles and the precedence of settings.
 *
 * The file is INI-style, one section per profile:
 *
 *     [default]
 *     url = http://127.0.0.1:8080
 *     token = tgd_...
 *
 * Keys are url, token, org and workspace; `#` and `;` start comment lines. It holds tokens, so
 * `tagctl login` writes it with mode 0600 (its directory 0700), and reading one that others may
 * read earns a warning, as ssh does for its keys. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tagctl/tagctl.h"
#include "util/mem.h"

#define CONFIG_MAX_BYTES (1 << 20)

char *config_path(void)
{
    const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    struct sbuf b;
    sbuf_init(&b, 0);
    if (xdg && *xdg)
        sbuf_printf(&b, "%s/tagctl/config", xdg);
    else if (home && *home)
        sbuf_printf(&b, "%s/.config/tagctl/config", home);
    else
        return NULL;
    return sbuf_detach(&b, NULL);
}

static char *trim(char *s)
{
    char *e;
    while (*s == ' ' || *s == '\t')
        s++;
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
        *--e = '\0';
    return s;
}

/* Reads the whole file into `out` (capped); ENOENT leaves it empty and answers 1. */
static int slurp(const char *path, struct sbuf *out, char *err, size_t errlen)
{
    char buf[4096];
    size_t n;
    FILE *f = fopen(path, "r");
    struct stat st;

    if (f == NULL) {
        if (errno == ENOENT)
            return 1;
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return TC_ERROR;
    }
    if (fstat(fileno(f), &st) == 0 && (st.st_mode & 077))
        fprintf(stderr, "tagctl: warning: %s holds tokens but others may read it (chmod 600)\n",
                path);
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
        if (sbuf_add(out, buf, n)) {
            snprintf(err, errlen, "%s is larger than %d bytes", path, CONFIG_MAX_BYTES);
            fclose(f);
            return TC_USAGE;
        }
    }
    fclose(f);
    return 0;
}

int config_load(const char *path, const char *name, struct tc_profile *out, char *err, size_t errlen)
{
    struct sbuf b;
    char *line, *next;
    bool in = false;
    int rc, lineno = 0;

    memset(out, 0, sizeof(*out));
    if (path == NULL)
        return TC_OK;
    sbuf_init(&b, CONFIG_MAX_BYTES);
    rc = slurp(path, &b, err, errlen);
    if (rc == 1) {
        sbuf_release(&b);
        return TC_OK;
    }
    if (rc)
        goto out;
    for (line = b.buf; line && *line; line = next) {
        char *s, *eq, *k, *v, **slot;
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        lineno++;
        s = trim(line);
        if (*s == '\0' || *s == '#' || *s == ';')
            continue;
        if (*s == '[') {
            char *e = strchr(s, ']');
            if (e == NULL || e[1] != '\0') {
                snprintf(err, errlen, "%s:%d: malformed section line", path, lineno);
                rc = TC_USAGE;
                goto out;
            }
            *e = '\0';
            in = strcmp(trim(s + 1), name) == 0;
            continue;
        }
        eq = strchr(s, '=');
        if (eq == NULL) {
            snprintf(err, errlen, "%s:%d: expected 'name = value'", path, lineno);
            rc = TC_USAGE;
            goto out;
        }
        *eq = '\0';
        k = trim(s);
        v = trim(eq + 1);
        if (strcmp(k, "url") == 0)
            slot = &out->url;
        else if (strcmp(k, "token") == 0)
            slot = &out->token;
        else if (strcmp(k, "org") == 0)
            slot = &out->org;
        else if (strcmp(k, "workspace") == 0)
            slot = &out->workspace;
        else {
            snprintf(err, errlen, "%s:%d: unknown setting '%s'", path, lineno, k);
            rc = TC_USAGE;
            goto out;
        }
        if (in) {
            xfree(*slot);
            *slot = xstrdup(v);
        }
    }
    rc = TC_OK;
out:
    if (rc)
        config_profile_release(out);
    sbuf_release(&b);
    return rc;
}

void config_profile_release(struct tc_profile *p)
{
    xfree(p->url);
    xfree(p->token);
    xfree(p->org);
    xfree(p->workspace);
    memset(p, 0, sizeof(*p));
}

static void pick(const char *flag, const char *env, const char *file, const char *def,
                 const char **out, enum tc_source *src)
{
    if (flag) {
        *out = flag;
        *src = SRC_FLAG;
    } else if (env && *env) {
        *out = env;
        *src = SRC_ENV;
    } else if (file) {
        *out = file;
        *src = SRC_PROFILE;
    } else {
        *out = def;
        *src = SRC_DEFAULT;
    }
}

void config_resolve(const struct tc_args *a, const struct tc_profile *file,
                    const char *(*getenv_fn)(const char *), struct tc_config *out)
{
    memset(out, 0, sizeof(*out));
    pick(a->url, getenv_fn("TAGD_URL"), file->url, "http://127.0.0.1:8080", &out->url,
         &out->url_src);
    pick(a->token, getenv_fn("TAGD_TOKEN"), file->token, NULL, &out->token, &out->token_src);
    pick(a->org, NULL, file->org, NULL, &out->org, &out->org_src);
    pick(a->workspace, NULL, file->workspace, NULL, &out->workspace, &out->workspace_src);
}

/* mkdir -p for the directories of `path`, each new one 0700. */
static int make_dirs(const char *path, char *err, size_t errlen)
{
    char *p = xstrdup(path);
    int rc = TC_OK;
    for (char *s = strchr(p + 1, '/'); s; s = strchr(s + 1, '/')) {
        *s = '\0';
        if (mkdir(p, 0700) != 0 && errno != EEXIST) {
            snprintf(err, errlen, "cannot create %s: %s", p, strerror(errno));
            rc = TC_ERROR;
            break;
        }
        *s = '/';
    }
    xfree(p);
    return rc;
}

int config_store(const char *path, const char *name, const char *url, const char *token,
                 char *err, size_t errlen)
{
    struct sbuf old, nw, tmp;
    char *line, *next;
    bool in = false, done = false;
    int rc, fd = -1;

    if (strpbrk(url, "\n\r") || strpbrk(token, "\n\r") || strpbrk(name, "[]\n\r")) {
        snprintf(err, errlen, "the URL, token and profile name must be one line each");
        return TC_USAGE;
    }
    sbuf_init(&old, CONFIG_MAX_BYTES);
    sbuf_init(&nw, 0);
    sbuf_init(&tmp, 0);
    rc = slurp(path, &old, err, errlen);
    if (rc == 1)
        rc = TC_OK;
    if (rc)
        goto out;
    rc = make_dirs(path, err, errlen);
    if (rc)
        goto out;
    /* Copy every line, dropping the profile's url and token and writing the new ones at the
     * head of its section; a new profile is appended. */
    for (line = old.len ? old.buf : NULL; line && *line; line = next) {
        char *s;
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        if (*s == '[') {
            char *e = strchr(s, ']');
            size_t n = e ? (size_t)(e - s - 1) : 0;
            in = e && n == strlen(name) && strncmp(s + 1, name, n) == 0;
            sbuf_printf(&nw, "%s\n", line);
            if (in && !done) {
                sbuf_printf(&nw, "url = %s\ntoken = %s\n", url, token);
                done = true;
            }
            continue;
        }
        if (in && strchr(s, '=')) {
            size_t kl = (size_t)(strchr(s, '=') - s);
            while (kl && (s[kl - 1] == ' ' || s[kl - 1] == '\t'))
                kl--;
            if ((kl == 3 && strncmp(s, "url", 3) == 0) || (kl == 5 && strncmp(s, "token", 5) == 0))
                continue;
        }
        sbuf_printf(&nw, "%s\n", line);
    }
    if (!done)
        sbuf_printf(&nw, "%s[%s]\nurl = %s\ntoken = %s\n", nw.len ? "\n" : "", name, url, token);
    sbuf_printf(&tmp, "%s.tmp.%ld", path, (long)getpid());
    fd = open(sbuf_str(&tmp), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || fchmod(fd, 0600) != 0 || write(fd, nw.buf, nw.len) != (ssize_t)nw.len ||
        fsync(fd) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", sbuf_str(&tmp), strerror(errno));
        rc = TC_ERROR;
        if (fd >= 0)
            unlink(sbuf_str(&tmp));
        goto out;
    }
    if (rename(sbuf_str(&tmp), path) != 0) {
        snprintf(err, errlen, "cannot replace %s: %s", path, strerror(errno));
        unlink(sbuf_str(&tmp));
        rc = TC_ERROR;
    }
out:
    if (fd >= 0)
        close(fd);
    sbuf_release(&old);
    sbuf_release(&nw);
    sbuf_release(&tmp);
    return rc;
}
