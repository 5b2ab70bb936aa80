/* core/events.h: which change records a subscriber of the change stream sees.
 *
 * The change log in the store is the stream's only source: a subscriber's position is a
 * (revision, seq) cursor into it, so that a reconnect or a restart resumes with no gap and no
 * duplicate. This file holds the pure parts: the cursor's text form (the SSE event id) and
 * the filters. */
#ifndef TAGD_CORE_EVENTS_H
#define TAGD_CORE_EVENTS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/core.h"
#include "util/err.h"

/* seq of a cursor that is past its whole revision (`since=N`). */
#define EVENT_SEQ_ALL INT64_MAX

/* The last record a subscriber has: every record after (rev, seq) is still to come.
 * Invariant: rev >= 0, seq >= 0. */
struct event_cursor {
    int64_t rev;
    int64_t seq;
};

#define EVENT_MAX_FILTER 8

/* What a subscriber asked for; every non-empty list must match (an OR within a list). */
struct event_filter {
    const char *entity[EVENT_MAX_FILTER]; /* "tag", "assignment", ... */
    int nentity;
    const char *tag[EVENT_MAX_FILTER];    /* "PII" (exact) or "PII.*" (the tag and below) */
    int ntag;
    const char *kind[EVENT_MAX_FILTER];   /* a resource's kind */
    int nkind;
    int64_t resource; /* 0, or the resource whose subtree the records must touch */
    const char *principal[EVENT_MAX_FILTER]; /* who made the change, exactly */
    int nprincipal;
    /* 0, or the workspace the records' writes acted in (change.ws_id): one workspace's
     * history. Only for readers that read change.ws_id (core_changes_list, the webhooks'
     * delivery). */
    int64_t workspace;
    bool effective;   /* also what assignments change in effective tags (event_effects) */
};

/* What one assignment record changed in effective (inherited) tags, as far as a subscriber may
 * see it. The writer counted it from the engine when it made the record (its "inherited"
 * member; core/resources.c): tag T put on or taken off resource `root` changes the effective
 * tags of root itself unless root's parent carries T effectively, and then of each descendant
 * not under a nearer direct holder of T. */
struct event_effect {
    int64_t root, tag_id;
    const char *tag;       /* T's name, NULL when unknown */
    bool add;              /* put on (else taken off) */
    int64_t descendants;   /* descendants of root whose effective tags changed, in all */
    bool truncated;        /* more of them than the record lists (--events-effective-max):
                            * the subscriber is told so instead, if root's subtree and its own
                            * overlap */
    int64_t *ids;          /* the changed resources the subscriber sees: root first (when it
                            * changed), then its descendants ascending */
    size_t nids;
    /* A resource record with "inherited" (a move to another parent, op "move", or a delete,
     * op "delete"): root moved from under `from` to under `to` (0: none), and its ancestors
     * gained (add) or lost the `ntags` tags that pass the tag filter; tag_id, tag and add
     * above are unused. changed[i * ntags + k]: tags[k] changes for ids[i]. */
    const char *op;        /* "add", "remove" (an assignment), "move", "delete" */
    int64_t from, to;
    struct event_tag {
        int64_t tag_id;
        const char *tag;
        bool add;
    } *tags;
    size_t ntags;
    bool *changed;
};

/** True when `f` asks for anything (some list or the resource is set). */
bool event_filter_any(const struct event_filter *f);

/** Parses an SSE event id ("rev-seq") or a bare revision ("rev", past it wholly). */
bool event_cursor_parse(const char *s, struct event_cursor *out);
/** The event id of record (rev, seq): "rev-seq" (buf of at least 48 bytes). */
void event_cursor_format(int64_t rev, int64_t seq, char *buf, size_t cap);
/** True when record (rev, seq) comes after cursor c. */
bool event_after(const struct event_cursor *c, int64_t rev, int64_t seq);
/** True when tag name `name` matches pattern `pat` ("A.B" exactly, "A.*" A and below). */
bool event_tag_match(const char *pat, const char *name);
/**
 * True when change record c passes filter f and the subscriber's scope (cx->who.resource_id:
 * a token scoped to a resource subtree sees only records that touch it, no organization-wide
 * record). cx is a read context of the subscriber's organization (resource ancestry).
 */
bool event_match(struct core_ctx *cx, const struct event_filter *f, const struct change *c);
/**
 * For a subscriber with f->effective: what assignment record c, or resource record c of a move
 * or a delete, changed in effective tags that the subscriber sees (inside f->resource's subtree
 * and its scope, or, for a move, inside them before it; passing the tag filter; an entity
 * filter must name the record's entity or "effective"). False when nothing: c carries no
 * such change, or none of it is for this subscriber. out's arrays in cx's arena.
 */
bool event_effects(struct core_ctx *cx, const struct event_filter *f, const struct change *c,
                   struct event_effect *out);

struct jw;
struct arena;

/** Adds the comma-separated values of `list` to one of f's lists (`which`: "entity", "tag"
 * or "kind"), each copied to arena `a`: TG_EINVAL (field `which`) past EVENT_MAX_FILTER values
 * or for an empty or over-long (128 bytes) value. */
int event_filter_add(struct arena *a, struct event_filter *f, const char *which,
                     const char *list, struct tg_err *err);
/**
 * A filter as a JSON object (a webhook's "filters", text `json`; NULL or "" is no filter):
 * {"entity", "tag", "kind", "principal"}: each a list of strings or one comma-separated
 * string, "resource": a resource id, and "workspace": ws_N or N (not checked to exist); any
 * other member is TG_EINVAL. Strings are copied to `a`.
 */
int event_filter_parse(struct arena *a, const char *json, struct event_filter *f,
                       struct tg_err *err);
/** The filter as canonical JSON text (arena): what event_filter_parse reads back. */
const char *event_filter_json(struct arena *a, const struct event_filter *f);
/** Writes change record c as the stream's event data and a webhook's event: {"revision",
 * "seq", "at_ms", "principal", "entity", "entity_id", "op", "before", "after"}. */
void event_change_json(struct jw *w, const struct change *c);

/* The most records core_changes_matching reads for one page: a filter that matches little
 * answers a page with fewer (or no) records and *next_since past what it read, rather than
 * read the whole log in one request. */
#define EVENT_SCAN_MAX 5000

/**
 * One page of the change log after revision `since`, of whole revisions as core_changes_list
 * reads them, keeping the records that pass `f` (event_match, so a token scoped to a subtree
 * sees only what touches it): reads on until `limit` records passed, EVENT_SCAN_MAX were read
 * or the log ends. *next_since is the last revision read (`since` when none), from where the
 * caller goes on; *more is true when the log has records past it already.
 */
int core_changes_matching(struct core_ctx *cx, int64_t since, int limit,
                          const struct event_filter *f, struct change **out, size_t *n,
                          int64_t *next_since, bool *more, struct tg_err *err);

#endif /* TAGD_CORE_EVENTS_H */
