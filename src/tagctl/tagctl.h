/* tagctl/tagctl.h: what the parts of tagctl, the command-line client, share.
 *
 * tagctl is a program of its own beside tagd: it speaks only the documented native API over
 * HTTP (docs/cli.md) and links nothing of tagd but util/. Its parts: args.c (the command line),
 * config.c (profiles and precedence), out.c (tables and the machine formats), client.c (libcurl,
 * errors, paging), asof.c (the form of --as-of), cmd.c and
 * transfer.c (the commands), main.c (dispatch). */
#ifndef TAGD_TAGCTL_TAGCTL_H
#define TAGD_TAGCTL_TAGCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "util/sbuf.h"

/* Exit codes, documented in docs/cli.md and tagctl(1); scripts depend on them. */
enum tc_exit {
    TC_OK = 0,
    TC_ERROR = 1,       /* anything else: a server failure, a local I/O error */
    TC_USAGE = 2,       /* the command line (or the input it named) is malformed; server 400 */
    TC_NOTFOUND = 3,    /* 404 */
    TC_CONFLICT = 4,    /* 409, 412, 422: a conflict or a rule violation */
    TC_AUTH = 5,        /* 401, 403 */
    TC_UNREACHABLE = 6, /* no answer: connection refused, DNS, timeout */
};

/* ---- args.c: the command line ---- */

#define ARGS_MAX 256

/* One flag as given. `val` is borrowed from argv, or "true" for a bare boolean flag. */
struct tc_flag {
    const char *name;
    const char *val;
};

/* The command line split into global options, command flags and words. Global options may
 * stand anywhere, before or after the command words, as with kubectl and gcloud. Every pointer
 * is borrowed from argv. Invariant: npos <= ARGS_MAX, nflags <= ARGS_MAX. */
struct tc_args {
    const char *url, *token, *org, *workspace, *profile, *output, *as_of, *limit, *timeout;
    bool quiet, debug, help, no_color, version;
    const char *pos[ARGS_MAX];
    int npos;
    struct tc_flag flags[ARGS_MAX];
    int nflags;
    char err[256]; /* the reason when args_parse answers TC_USAGE */
};

/** Parses argv[1..argc-1]. Returns TC_OK, or TC_USAGE with `a->err` set (an unknown flag, a
 * missing value, a value given to a flag that takes none). Borrows argv for `a`'s lifetime. */
int args_parse(int argc, char **argv, struct tc_args *a);
/** The last value of command flag `name` ("since" for --since), or NULL. Borrowed. */
const char *args_get(const struct tc_args *a, const char *name);
/** True when boolean flag `name` was given and not as `--name=false`. */
bool args_bool(const struct tc_args *a, const char *name);
/** True when flag `name` was given at all (a boolean given as false counts). */
bool args_has(const struct tc_args *a, const char *name);
/** Checks that every command flag given is one of `allowed` (space-separated names); returns
 * TC_OK or TC_USAGE with `a->err` naming the first that is not. */
int args_check(struct tc_args *a, const char *allowed);
/** Parses a boolean word (true/false/yes/no/1/0/on/off); false when `s` is none of them. */
bool args_parse_bool(const char *s, bool *out);

/* ---- config.c: profiles and precedence ---- */

/* One profile's settings; every field owned (xfree) or NULL. */
struct tc_profile {
    char *url, *token, *org, *workspace;
};

/* Where each setting came from, for `tagctl config` and tests. */
enum tc_source { SRC_DEFAULT, SRC_PROFILE, SRC_ENV, SRC_FLAG };

/* The settings in force after precedence: flags beat the environment, which beats the profile,
 * which beats the defaults. Strings borrowed from the inputs of config_resolve. */
struct tc_config {
    const char *url, *token, *org, *workspace;
    enum tc_source url_src, token_src, org_src, workspace_src;
    const char *profile;
};

/** The configuration file: $XDG_CONFIG_HOME/tagctl/config, else $HOME/.config/tagctl/config.
 * Returns owned memory, or NULL when neither variable is set. */
char *config_path(void);
/** Reads profile `name` of the INI-style file at `path` into `out` (zeroed first). A missing
 * file is an empty profile. Returns TC_OK, TC_USAGE for a malformed file (`err` says where;
 * at least 256 bytes), TC_ERROR when it cannot be read. Warns on stderr when the file is
 * readable by others, since it holds tokens. */
int config_load(const char *path, const char *name, struct tc_profile *out, char *err, size_t errlen);
/** Frees what `p` holds; `p` itself is the caller's. */
void config_profile_release(struct tc_profile *p);
/** Applies precedence. `getenv_fn` is getenv in the program and a fake in tests. */
void config_resolve(const struct tc_args *a, const struct tc_profile *file,
                    const char *(*getenv_fn)(const char *), struct tc_config *out);
/** Stores `url` and `token` as profile `name` in the file at `path`, keeping every other
 * profile and line; creates the directories (0700) and writes the file with mode 0600 through
 * a temporary file and rename, so a crash leaves the old file or the new one. Returns TC_OK or
 * TC_ERROR with `err` set. */
int config_store(const char *path, const char *name, const char *url, const char *token,
                 char *err, size_t errlen);

/* ---- out.c: rendering ---- */

enum out_fmt { OUT_TABLE, OUT_JSON, OUT_JSONL, OUT_YAML, OUT_CSV, OUT_TSV };

/* A column of the table, csv and tsv renderings: its header and the dotted path of the value in
 * an item ("parent", "inherited_from"). A {kind, key} object renders as KIND/KEY, an array as
 * its elements joined with commas, null as empty ("-" in tables). */
struct out_col {
    const char *head;
    const char *path;
};

/* One rendering to one stream. Items arrive one at a time so that long listings stream; only
 * the table waits for its last row, to size its columns. Set the fields before out_begin. */
struct out {
    FILE *f;
    enum out_fmt fmt;
    bool quiet;                 /* -q: the id path of each item, one per line */
    bool color;                 /* bold headers; only on a terminal and never with NO_COLOR */
    int width;                  /* fit tables to this many columns; 0: no limit */
    const struct out_col *cols; /* terminated by { NULL } */
    const char *id_path;        /* what -q prints */
    /* state */
    json_t *rows; /* table: the buffered items */
    size_t n;     /* items so far */
};

/** Parses -o's value; false for an unknown format. */
bool out_parse_fmt(const char *s, enum out_fmt *out);
/** Starts a listing (csv and tsv print their header line here). */
void out_begin(struct out *o);
/** Renders or buffers one item (borrows `item`). */
void out_item(struct out *o, json_t *item);
/** Ends the listing: prints the table, closes the JSON array. */
void out_end(struct out *o);
/** Renders one object: as a listing of one item for -o json|jsonl|yaml|csv|tsv and -q, as
 * FIELD VALUE lines in a table. */
void out_object(struct out *o, json_t *obj);
/** The text of a value as cells show it, appended to `b`. */
void out_cell_text(json_t *v, struct sbuf *b);
/** The value at dotted path `path` in `item`, or NULL. Borrowed. */
json_t *out_path(json_t *item, const char *path);
/** Appends one CSV field (RFC 4180 quoting when needed). */
void out_csv_field(struct sbuf *b, const char *s);
/** Appends one TSV field (tab, newline, carriage return and backslash escaped as \t \n \r \\). */
void out_tsv_field(struct sbuf *b, const char *s);
/** Appends `v` as YAML at indentation `indent` (a block collection starts on a new line). */
void out_yaml(struct sbuf *b, json_t *v, int indent);
/** The columns a terminal on `fd` has, COLUMNS when set, else 0 (not a terminal). */
int out_term_width(int fd);
/** Fits column widths `w[0..n-1]` (2 spaces apart) into `width`, narrowing the widest first
 * but none below `floor` display cells (or its header's width when smaller). */
void out_fit(size_t *w, const size_t *floor, size_t n, size_t width);

/* ---- client.c: HTTP ---- */

struct tc_client;

/* One answer. `body` is the parsed JSON (owned; NULL when empty or not JSON). */
struct tc_resp {
    long status;
    json_t *body;
    struct sbuf raw;
    char request_id[80];
    long long revision; /* X-Tagd-Revision, or -1 */
};

/** A client for `cfg` (borrowed for the client's life). `debug` prints every exchange on
 * stderr with the token hidden. Returns owned; free with client_free. */
struct tc_client *client_new(const struct tc_config *cfg, bool debug, long timeout_s);
/** The --timeout of each request, in seconds. */
long client_timeout(const struct tc_client *c);
void client_free(struct tc_client *c);
/** Sends `method` to `path` (already escaped, with its query string) with `body` (borrowed,
 * may be NULL). Fills `r` (release with resp_release). Returns TC_OK for a 2xx answer;
 * otherwise prints the error (the server's code, message and request id) on stderr and
 * returns its exit code. */
int client_call(struct tc_client *c, const char *method, const char *path, json_t *body,
                struct tc_resp *r);
/** Like client_call but prints nothing on a non-2xx answer. */
int client_call_quiet(struct tc_client *c, const char *method, const char *path, json_t *body,
                      struct tc_resp *r);
/** Sends `len` bytes of `data` (borrowed) as the body, of content type `ctype`; prints nothing
 * on a non-2xx answer (the caller does, knowing what was sent). Otherwise as client_call. */
int client_send(struct tc_client *c, const char *method, const char *path, const char *ctype,
                const char *data, size_t len, struct tc_resp *r);
/** GETs `path`, writing a 2xx body to `out` as it arrives (counted in *bytes), so that an
 * answer of any size passes; an error answer is read and printed as client_call does. No
 * --timeout for the whole transfer: it ends when nothing arrived for that long. */
int client_download(struct tc_client *c, const char *path, FILE *out, long long *bytes,
                    struct tc_resp *r);
/** client_download that prints nothing on a non-2xx answer (the caller decides: an event
 * stream's 404 means a server without one). */
int client_download_quiet(struct tc_client *c, const char *path, FILE *out, long long *bytes,
                          struct tc_resp *r);
/** Prints the error of answer `r` on stderr as client_call does. */
void client_print_error(struct tc_client *c, const struct tc_resp *r);
void resp_release(struct tc_resp *r);
/** When set, the next calls send it as If-Match (quoted when bare: 3 becomes "3"). Borrowed. */
extern const char *client_if_match;
/** The exit code of HTTP status `status` (200-299: TC_OK). */
int client_exit_code(long status);
/** Appends `s` percent-encoded for a path segment or a query value. */
void url_escape(struct sbuf *b, const char *s);
/** Appends "?name=value" or "&name=value" to path `b` (value escaped). NULL values are left out. */
void url_query(struct sbuf *b, const char *name, const char *value);

/* Calls `fn` on every item of a paged list at `path` (which has its query string, or none),
 * following next_cursor until it is null or `cap` items (0: no cap) were seen. `*total` gets
 * the first page's total (or -1). Returns TC_OK or the failing call's exit code (printed). */
typedef int tc_item_fn(void *ctx, json_t *item);
int client_list(struct tc_client *c, const char *path, long cap, tc_item_fn *fn, void *ctx,
                long long *total);

/* ---- errors and messages ---- */

/** Prints "tagctl: MESSAGE" on stderr and returns `code`. */
int tc_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Whether stderr gets colors (a terminal, no NO_COLOR, no --no-color). */
extern bool tc_color_err;

/* ---- asof.c: --as-of ---- */

/** Whether `spec` is an --as-of value: a revision number (digits below 10^12; sets `*rev`), or
 * epoch milliseconds (more digits) or an ISO-8601 time (sets `*ms`), the other -1. The server
 * resolves it (its as_of parameter). */
bool asof_parse(const char *spec, long long *rev, int64_t *ms);

/* ---- cmd.c, transfer.c: the commands ---- */

/* Everything a command needs. */
struct tc_ctx {
    struct tc_args *a;
    struct tc_config *cfg;
    struct tc_client *cl;
    struct out out; /* fmt, quiet, color, width set; cols and id_path set by the command */
    long cap;       /* --limit: the most items a listing prints (0: all) */
    int nargs;      /* the words after the command's own: the last nargs of a->pos */
    const char *profile_path;
};

typedef int tc_cmd_fn(struct tc_ctx *x);

/* One command: its words ("tags list"), the flags it takes, the arguments it wants, and its
 * help text. `fn` is NULL for a noun alone (help lists its verbs). */
struct tc_cmd {
    const char *name;
    tc_cmd_fn *fn;
    int min_args, max_args; /* positional words after the command's; -1: no limit */
    const char *flags;      /* command flags it takes, space-separated */
    const char *usage;      /* "TAG [--recursive] [--purge]" */
    const char *help;       /* a paragraph for `tagctl help` */
    bool reads;             /* takes --as-of */
    bool offline;           /* needs no server (help, completion, version) */
};

/** The command table, terminated by { NULL }. */
extern const struct tc_cmd tc_cmds[];
/** The longest command whose words start `pos`; sets `*used` to how many words it took. */
const struct tc_cmd *cmd_find(const char *const *pos, int npos, int *used);
/** Prints the help of `c` (NULL: the overview) on `f`. */
void cmd_help(FILE *f, const struct tc_cmd *c);

/* Splits "KIND/KEY" at the first slash; false when either side is empty. `kind` gets an owned
 * copy, `key` points into `s`. */
bool cmd_split_ref(const char *s, char **kind, const char **key);

int cmd_export(struct tc_ctx *x);
int cmd_import(struct tc_ctx *x);

/* The progress of a long transfer on stderr: a bar on a terminal, a line per 10% otherwise. */
struct tc_progress {
    const char *what;
    long long total; /* 0: unknown (no bar, no lines) */
    long long done;
    int last;        /* the last tenth or percent printed */
    bool tty, on;
};
void progress_init(struct tc_progress *p, const char *what, long long total, bool on);
void progress_step(struct tc_progress *p, long long done);
void progress_end(struct tc_progress *p);

/** Set by SIGINT/SIGTERM: long loops (changes --follow) end cleanly. */
extern volatile int tc_stop;

#endif /* TAGD_TAGCTL_TAGCTL_H */
