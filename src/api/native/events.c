/* api/native/events.c: GET /v1/events, the change log as Server-Sent Events.
 *
 * Each change record is one event whose id is its (revision, seq): a client that reconnects
 * with Last-Event-ID (or ?since=) resumes right after the last record it got. The store's
 * change log is the only source: the stream reads it, a page at a time, on its loop whenever
 * this instance has seen a newer revision (http/stream.c wakes it), so that nothing is lost
 * or repeated across a reconnect or a restart, and a reader that does not read holds one page
 * at most and costs the writers nothing.
 *
 * A commit wakes every stream of every loop, and each would read the same page of the log and
 * render the same events: 100 streams made a write cost 3-4 times its instructions (docs/
 * events.md, "Costs"). So a loop thread keeps the last pages it read (struct ev_page): the
 * streams of an organization that stand at the same place (all of them that have caught up)
 * take the page, its events rendered once, from there; each only filters and copies. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "api/native/native.h"
#include "core/events.h"
#include "util/mem.h"

#define EVENTS_PAGE 200
#define PAGE_SLOTS 4

/* One page of an organization's change log after revision `since` (core_changes_list), as a
 * loop thread read it, with each record's event rendered. It serves a fill of a stream of the
 * same organization at the same place whose fill began with txn_seen_rev <= `seen` (the page
 * was read after that: it holds every record the fill's own read would have, or more). */
struct ev_page {
    bool used;
    int64_t org_id, since;
    int64_t seen;    /* the fill's cx->min_rev (txn_seen_rev) when it was read */
    int64_t cur_rev; /* the store's revision in the same read: the lag bound's */
    uint64_t used_at;
    bool auth;       /* holds a token or user record (a revocation, maybe) */
    struct arena a;  /* c and off */
    struct change *c;
    size_t n;
    size_t *off;     /* record i's event is text[off[i] .. off[i + 1]) */
    struct sbuf text;
};

/* A loop thread's pages. On a list from a static root, so that the pages of threads that
 * ended are still reachable (no leak reported) and freed by nobody: a few per thread. */
struct ev_pages {
    struct ev_page p[PAGE_SLOTS];
    uint64_t clock;
    struct ev_pages *next;
};
static pthread_mutex_t pages_mu = PTHREAD_MUTEX_INITIALIZER;
static struct ev_pages *all_pages;
static _Thread_local struct ev_pages *my_pages;

struct events {
    struct event_cursor at;  /* the last record sent (or skipped by the filters) */
    struct event_filter f;   /* f.effective: ?effective=true */
    int64_t org_id;          /* the subscriber's organization when it connected */
    char hash[SECRET_HASH_HEX]; /* its token's (core_token_hash), checked at every fill */
};

/* A record's change event, its id the record's. */
static void render_change(struct sbuf *out, const struct change *c)
{
    struct sbuf b;
    struct jw w;
    char id[48];

    sbuf_init(&b, 0);
    jw_init(&w, &b);
    event_change_json(&w, c);
    event_cursor_format(c->rev, c->seq, id, sizeof(id));
    /* JSON on one line: a data field may hold no newline. Not sbuf_printf: formatting a
     * record's text twice over (measuring, then writing) cost more than rendering it. */
    sbuf_adds(out, "id: ");
    sbuf_adds(out, id);
    sbuf_adds(out, "\nevent: change\ndata: ");
    sbuf_add(out, sbuf_str(&b), b.len);
    sbuf_adds(out, "\n\n");
    sbuf_release(&b);
}

static void render_end(struct sbuf *out, const struct events *e, const char *reason)
{
    char id[48];

    if (e->at.seq == EVENT_SEQ_ALL)
        snprintf(id, sizeof(id), "%lld", (long long)e->at.rev);
    else
        event_cursor_format(e->at.rev, e->at.seq, id, sizeof(id));
    sbuf_printf(out, "event: end\ndata: {\"reason\":\"%s\",\"resume\":\"%s\"}\n\n", reason, id);
}

/* The query that reads again what a summary stands for: the resources with the tag now. */
static void render_query_name(struct jw *w, const char *name)
{
    struct sbuf q;

    sbuf_init(&q, 0);
    sbuf_addc(&q, '"');
    for (const char *p = name ? name : ""; *p; p++) {
        if (*p == '"' || *p == '\\')
            sbuf_addc(&q, '\\');
        sbuf_addc(&q, *p);
    }
    sbuf_addc(&q, '"');
    jw_str(w, sbuf_str(&q));
    sbuf_release(&q);
}

static void render_id_or_null(struct jw *w, const char *key, int64_t id)
{
    jw_keys(w, key);
    if (id)
        jw_int(w, id);
    else
        jw_null(w);
}

/* A move's (or delete's) tags of one direction: those resource i changes (i < 0: all). */
static void render_moved_tags(struct jw *w, const struct event_effect *x, bool add, ssize_t i)
{
    jw_arr(w);
    for (size_t k = 0; k < x->ntags; k++) {
        if (x->tags[k].add != add || (i >= 0 && !x->changed[(size_t)i * x->ntags + k]))
            continue;
        jw_obj(w);
        jw_kint(w, "tag_id", x->tags[k].tag_id);
        jw_kstr(w, "tag", x->tags[k].tag);
        jw_obj_end(w);
    }
    jw_arr_end(w);
}

/* The query that reads again which resources carry a move's tags now. */
static void render_query_names(struct jw *w, const struct event_effect *x)
{
    struct sbuf q;

    sbuf_init(&q, 0);
    for (size_t k = 0; k < x->ntags; k++) {
        if (k)
            sbuf_adds(&q, " or ");
        sbuf_addc(&q, '"');
        for (const char *p = x->tags[k].tag ? x->tags[k].tag : ""; *p; p++) {
            if (*p == '"' || *p == '\\')
                sbuf_addc(&q, '\\');
            sbuf_addc(&q, *p);
        }
        sbuf_addc(&q, '"');
    }
    jw_str(w, sbuf_str(&q));
    sbuf_release(&q);
}

/* The request that reads again what a summary stands for: the resources with its tags now. */
static void render_reread(struct jw *w, const struct event_effect *x)
{
    jw_kbool(w, "truncated", true);
    jw_key(w, "reread");
    jw_obj(w);
    jw_kstr(w, "method", "POST");
    jw_kstr(w, "path", "/v1/query");
    jw_key(w, "body");
    jw_obj(w);
    jw_key(w, "query");
    if (x->ntags)
        render_query_names(w, x);
    else
        render_query_name(w, x->tag);
    jw_kbool(w, "effective", true);
    jw_obj_end(w);
    jw_obj_end(w);
}

/* The effective events of record c: one per resource (x.ids), then, when the record lists
 * fewer resources than it changed, one summary. Only the last event carries an id (the
 * record's): a client cut off in the middle resumes before the record and gets it whole
 * again (EventSource keeps the last id it saw). `with_id` false when more follow. */
static void render_effects(struct sbuf *out, const struct change *c, const struct event_effect *x,
                           bool with_id)
{
    size_t n = x->nids + (x->truncated ? 1 : 0);
    char id[48];

    event_cursor_format(c->rev, c->seq, id, sizeof(id));
    for (size_t i = 0; i < n; i++) {
        struct sbuf b;
        struct jw w;
        sbuf_init(&b, 0);
        jw_init(&w, &b);
        jw_obj(&w);
        jw_kint(&w, "revision", c->rev);
        jw_kint(&w, "seq", c->seq);
        jw_kint(&w, "at_ms", c->at);
        jw_kstr(&w, "op", x->op);
        if (x->ntags) {
            /* A move or a delete: the tags gained and lost, per resource. */
            ssize_t which = i < x->nids ? (ssize_t)i : -1;
            jw_kint(&w, "root", x->root);
            render_id_or_null(&w, "from", x->from);
            render_id_or_null(&w, "to", x->to);
            if (which >= 0)
                jw_kint(&w, "resource_id", x->ids[i]);
            else
                jw_kint(&w, "descendants", x->descendants);
            jw_key(&w, "added");
            render_moved_tags(&w, x, true, which);
            jw_key(&w, "removed");
            render_moved_tags(&w, x, false, which);
        } else {
            jw_kint(&w, "tag_id", x->tag_id);
            jw_kstr(&w, "tag", x->tag);
            render_id_or_null(&w, "root", x->root); /* none for a tag's deletion */
            if (i < x->nids)
                jw_kint(&w, "resource_id", x->ids[i]);
            else
                jw_kint(&w, "descendants", x->descendants);
        }
        if (i >= x->nids)
            render_reread(&w, x);
        jw_obj_end(&w);
        if (with_id && i + 1 == n)
            sbuf_printf(out, "id: %s\n", id);
        sbuf_printf(out, "event: effective\ndata: %s\n\n", sbuf_str(&b));
        sbuf_release(&b);
    }
}

static struct ev_pages *pages_mine(void)
{
    if (my_pages == NULL) {
        my_pages = xcalloc(1, sizeof(*my_pages));
        for (int i = 0; i < PAGE_SLOTS; i++) {
            arena_init(&my_pages->p[i].a);
            sbuf_init(&my_pages->p[i].text, 0);
        }
        pthread_mutex_lock(&pages_mu);
        my_pages->next = all_pages;
        all_pages = my_pages;
        pthread_mutex_unlock(&pages_mu);
    }
    return my_pages;
}

/* The page after `since` for cx's organization: this thread's copy when it is good for this
 * fill, else read (in cx's read transaction) and rendered. NULL when the store fails. */
static struct ev_page *page_get(struct core_ctx *cx, int64_t since, struct tg_err *err)
{
    struct ev_pages *ps = pages_mine();
    struct ev_page *p = NULL;
    struct arena *mine = cx->a;
    int rc;

    for (int i = 0; i < PAGE_SLOTS; i++) {
        struct ev_page *x = &ps->p[i];
        if (x->used && x->org_id == cx->org_id && x->since == since && x->seen >= cx->min_rev) {
            x->used_at = ++ps->clock;
            return x;
        }
        if (p == NULL || !x->used || (p->used && x->used_at < p->used_at))
            p = x;
    }
    p->used = false;
    arena_release(&p->a);
    arena_init(&p->a);
    sbuf_reset(&p->text);
    /* The records live as long as the page: read into its arena. */
    cx->a = &p->a;
    p->cur_rev = core_current_rev(cx);
    rc = core_changes_list(cx, since, EVENTS_PAGE, &p->c, &p->n, err);
    cx->a = mine;
    if (rc)
        return NULL;
    p->off = arena_alloc(&p->a, (p->n + 1) * sizeof(*p->off));
    p->auth = false;
    for (size_t i = 0; i < p->n; i++) {
        p->off[i] = p->text.len;
        render_change(&p->text, &p->c[i]);
        if (strcmp(p->c[i].entity, "token") == 0 || strcmp(p->c[i].entity, "user") == 0)
            p->auth = true;
    }
    p->off[p->n] = p->text.len;
    p->org_id = cx->org_id;
    p->since = since;
    p->seen = cx->min_rev;
    p->used = true;
    p->used_at = ++ps->clock;
    return p;
}

/* The stream's fill (api/api.h, api_stream): one page of what is new, in cx's snapshot. */
static enum api_stream_state events_fill(struct hreq *r, struct core_ctx *cx, bool ending,
                                         struct sbuf *out)
{
    struct events *e = r->stream_arg;
    const struct change *c;
    struct ev_page *p;
    struct tg_err err;
    size_t n;
    int64_t since = e->at.seq == EVENT_SEQ_ALL ? e->at.rev : e->at.rev - 1;

    if (ending) {
        render_end(out, e, r->stream_why ? r->stream_why : "shutdown");
        return API_STREAM_END;
    }
    /* The token again at every fill (the loop's auth cache makes that cheap): a stream of a
     * token revoked or expired since it connected ends at the next change. */
    tg_err_clear(&err);
    if (core_auth_native_hashed(cx, e->hash, &err) || core_require(cx, RIGHT_READ, &err) ||
        cx->org_id != e->org_id) {
        render_end(out, e, "unauthorized");
        return API_STREAM_END;
    }
    tg_err_clear(&err);
    p = page_get(cx, since, &err);
    if (p == NULL) {
        render_end(out, e, "store unavailable");
        return API_STREAM_END;
    }
    if (api_config.events_max_lag > 0 && p->cur_rev - e->at.rev > api_config.events_max_lag) {
        /* Behind by more than the bound: the client catches up with /v1/changes pages, or
         * reconnects from where this says, rather than hold this stream open for ever. */
        render_end(out, e, "lagging");
        return API_STREAM_CUT;
    }
    if (p->auth) {
        /* The page may revoke the subscriber itself, in a snapshot newer than the check
         * above (a cached one, or one before the page's transaction began): checked again
         * in a snapshot at least as new as the page's, past the cache, before anything of it
         * is sent. */
        cx->auth_min_rev = INT64_MAX;
        tg_err_clear(&err);
        if (core_auth_native_hashed(cx, e->hash, &err) || core_require(cx, RIGHT_READ, &err)) {
            render_end(out, e, "unauthorized");
            return API_STREAM_END;
        }
    }
    c = p->c;
    n = p->n;
    for (size_t i = 0; i < n; i++) {
        struct event_effect x;
        bool match, eff;
        if (!event_after(&e->at, c[i].rev, c[i].seq))
            continue;
        match = event_match(cx, &e->f, &c[i]);
        eff = e->f.effective && event_effects(cx, &e->f, &c[i], &x);
        if (match && !eff) {
            sbuf_add(out, sbuf_str(&p->text) + p->off[i], p->off[i + 1] - p->off[i]);
            r->stream_events++;
        } else if (match) {
            /* The change without its id: the record's id goes on its last event. */
            const char *ev = sbuf_str(&p->text) + p->off[i];
            const char *nl = memchr(ev, '\n', p->off[i + 1] - p->off[i]);
            size_t skip = nl ? (size_t)(nl + 1 - ev) : 0;
            sbuf_add(out, ev + skip, p->off[i + 1] - p->off[i] - skip);
            r->stream_events++;
        }
        if (eff) {
            render_effects(out, &c[i], &x, true);
            r->stream_events += x.nids + (x.truncated ? 1 : 0);
        }
    }
    if (n > 0) {
        /* A page ends with a whole revision (core_changes_list). */
        e->at.rev = c[n - 1].rev;
        e->at.seq = EVENT_SEQ_ALL;
    }
    return n >= EVENTS_PAGE ? API_STREAM_MORE : API_STREAM_IDLE;
}

enum api_result native_events(struct hreq *r, struct core_ctx *cx)
{
    struct events *e;
    const char *last = api_header(r, "last-event-id");
    const char *since = api_query(r, "since");

    if (api_native_auth(r, cx, RIGHT_READ))
        return API_ROLLBACK;
    e = arena_zalloc(&r->a, sizeof(*e));
    if (native_event_filter(r, cx, &e->f) ||
        api_query_bool(r, "effective", false, &e->f.effective))
        return API_ROLLBACK;
    if (e->f.effective && e->f.resource == 0 && cx->who.resource_id == 0)
        /* One event per resource of the whole organization is not what anyone wants from one
         * assignment to a root: the events are for a subtree. */
        return api_failf(r, TG_EINVAL, "effective", "effective=true needs resource=ID");
    /* Last-Event-ID wins: it is what the browser's EventSource resends on its own. */
    if (last && *last) {
        if (!event_cursor_parse(last, &e->at))
            return api_failf(r, TG_EINVAL, "Last-Event-ID", "Last-Event-ID must be REVISION-SEQ");
    } else if (since) {
        if (!event_cursor_parse(since, &e->at))
            return api_failf(r, TG_EINVAL, "since", "since must be a revision or REVISION-SEQ");
    } else {
        /* From now on. */
        e->at.rev = core_current_rev(cx);
        e->at.seq = EVENT_SEQ_ALL;
    }
    e->org_id = cx->org_id;
    /* The credential as native_auth took it: a bearer token or the console's session cookie. */
    if (!core_token_hash(native_credential(r, NULL), e->hash))
        return api_failf(r, TG_EAUTH, "Authorization", "invalid token"); /* authed above */
    return api_stream(r, events_fill, e);
}
