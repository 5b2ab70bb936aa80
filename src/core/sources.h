/* core/sources.h: external tag sources.
 *
 * A source is a named JSON document of tag names (a local file or an http(s) URL) that
 * POST /tag/refresh re-reads. Tags it brings in carry the source's name in tags.source, are
 * protected, and are kept in line with the document: new names are created, changed ones
 * updated, vanished ones soft-deleted; tags of other sources and curated tags are never
 * touched. Sources come from the config file (installation-wide, read-only at run time) and
 * from the native API (one list per workspace, in the store).
 *
 * Documents name Immuta models to attach tags to; how those map to resources is the rule of
 * core/immuta_rules.h.
 *
 * Threads: the config list is set once at start (before the server runs) and only read
 * afterwards. Fetching (util/fetch.h for http(s)) blocks the calling thread for at most
 * src_limits.timeout_ms per source. Every other function works in the caller's transaction
 * like the rest of core. */
#ifndef TAGD_CORE_SOURCES_H
#define TAGD_CORE_SOURCES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/* timeout_ms and allow_local are atomic: SIGHUP sets them while sources are fetched. */
struct src_limits {
    _Atomic int64_t timeout_ms; /* whole fetch of one source (5000) */
    size_t max_bytes;   /* largest document (8 MiB) */
    size_t max_tags;    /* names in one document, implied parents included (100000) */
    int max_sources;    /* per workspace, config ones included (64) */
    /* Sources registered through the API by an organization's admin may not read the host's
     * files or reach loopback, private or link-local addresses unless the operator allows it:
     * otherwise one tenant could make tagd read what only the operator should. */
    _Atomic bool allow_local;
};
extern struct src_limits src_limits;

/* The context of the assignments a refresh makes: it removes only those, never manual ones. */
#define CORE_SRC_CONTEXT "external"

/** Once at start, before any thread fetches: initializes the HTTP client. 0 or -1. */
int core_src_global_init(void);
/** At exit: frees the config list and the HTTP client's global state. */
void core_src_global_release(void);
/**
 * Sets the installation-wide sources from the config setting: whitespace-separated
 * "name=url" pairs. Replaces an earlier list, all at once, while requests read it (SIGHUP);
 * on TG_EINVAL, with `err` naming the bad pair, the earlier list stays. The strings are
 * copied (owned by this module, valid until core_src_global_release).
 */
int core_src_configure(const char *spec, struct tg_err *err);

struct source {
    int64_t id; /* 0 for a config source */
    const char *name, *url;
    const char *origin; /* "config" or "api" */
    const char *created_by, *last_error;
    int64_t created_at, updated_at, refreshed_at; /* 0: never */
};

/** Validates a source name ([A-Za-z0-9_.-], 1-64, not "curated") and URL (file://, an
 * absolute path, http:// or https://). */
int core_src_check(const char *name, const char *url, struct tg_err *err);
/** Adds a source to the workspace; TG_EEXISTS when the name is taken (config included). */
int core_src_create(struct core_ctx *ctx, const char *name, const char *url, struct source *out,
                    struct tg_err *err);
/** Config sources first, then the workspace's, each group by name. */
int core_src_list(struct core_ctx *ctx, struct source **out, size_t *n, struct tg_err *err);
/** Removes a workspace source (its tags stay as they are). A config source is TG_ERULE. */
int core_src_delete(struct core_ctx *ctx, const char *name, struct tg_err *err);

/* One entry of a source document. */
struct src_model {
    const char *type, *id; /* Immuta model type and id */
};
struct src_tag {
    const char *name, *key; /* NFC name and its key */
    const char *description;
    bool has_description;
    bool implied; /* not listed itself: a parent of a listed name */
    struct src_model *models;
    size_t nmodels;
};

/**
 * Reads a source document into the arena. `url` is file://PATH, /PATH or http(s)://...; a
 * failure (unreadable, HTTP status >= 400, timeout, larger than max_bytes) is TG_EINVAL with
 * the reason in `err`.
 */
int core_src_fetch(struct core_ctx *ctx, const char *url, bool restricted, const char **text, size_t *len,
                   struct tg_err *err);
/**
 * Parses a document: ["a.b", ...], [{"name", "description"?, "assignments"?: [{"modelType",
 * "modelId"}]}, ...], either of them wrapped as {"tags": [...]}, or the Immuta REST catalog map
 * {"a.b": {"id": 1, "description"?: ..., "assignments"?: [...]}, ...}. The result holds every
 * listed name and every implied parent, unique, sorted by key (parents before children).
 */
int core_src_parse(struct core_ctx *ctx, const char *text, size_t len, struct src_tag **out,
                   size_t *n, struct tg_err *err);

struct src_result {
    const char *name;
    bool ok;
    const char *error; /* when !ok */
    int created, updated, deleted, unchanged;
    const char **conflicts; /* names held by curated tags or other sources: left alone */
    size_t nconflicts;
};

/** Brings the workspace's tags of source `name` in line with `tags` (from core_src_parse). */
int core_src_apply(struct core_ctx *ctx, const char *name, const struct src_tag *tags, size_t n,
                   struct src_result *res, struct tg_err *err);
/* A source's document as fetched ahead of its refresh (core_src_prefetch). */
struct src_fetched {
    const char *name, *url;
    const char *text; /* when ok */
    size_t len;
    bool ok;
    struct tg_err why; /* when !ok */
};
struct src_prefetch {
    struct src_fetched *v;
    size_t n;
};

/**
 * Fetches every source of the workspace (`only`: just the one of that name, TG_ENOTFOUND when
 * there is none) into the context's arena, in a read transaction. The server runs it on its
 * fetch thread before a refresh reaches the writer, so that a slow or dead source (up to
 * source-timeout each) holds up no other write.
 */
int core_src_prefetch(struct core_ctx *ctx, const char *only, struct src_prefetch *out,
                      struct tg_err *err);
/**
 * Refreshes every source of the workspace, or with `only` just the one of that name
 * (TG_ENOTFOUND when there is none). Each source is parsed and applied inside its own
 * savepoint: a failing one changes nothing and is reported in its result. With `pre`, the
 * documents are those it fetched (a source added since, or whose URL changed since, fails
 * with "changed during the refresh"); without, each is fetched here. Returns 0 unless the
 * store fails.
 */
int core_src_refresh(struct core_ctx *ctx, const char *only, const struct src_prefetch *pre,
                     struct src_result **out, size_t *n, struct tg_err *err);

#endif /* TAGD_CORE_SOURCES_H */
