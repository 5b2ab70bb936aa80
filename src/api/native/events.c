/* api/native/events.c: GET /v1/events, the change log as Server-Sent Events.
 *
 * Each change record is one event whose id is its (revision, seq): a client that reconnects
 * with Last-Event-ID (or ?since=) resumes right after the last record it got. The store's
 * change log is the only source: the stream reads it, a page at a time, on its loop whenever
 * this instance has seen a newer revision (http/stream.c wakes it), so that nothing is lost
 * or repeated across a reconnect or a restart, and a reader that does not read holds one page
 * at most and costs the writers nothing. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "api/native/native.h"
#include "core/events.h"

#define EVENTS_PAGE 200

struct events {
    struct event_cursor at;  /* the last record sent (or skipped by the filters) */
    struct event_filter f;
    int64_t org_id;          /* the subscriber's organization when it connected */
};

static void render_change(struct sbuf *out, const struct change *c)
{
    struct sbuf b;
    struct jw w;
    char id[48];

    sbuf_init(&b, 0);
    jw_init(&w, &b);
    jw_obj(&w);
    jw_kint(&w, "revision", c->rev);
    jw_kint(&w, "seq", c->seq);
    jw_kint(&w, "at_ms", c->at);
    jw_kstr(&w, "principal", c->principal);
    jw_kstr(&w, "entity", c->entity);
    jw_kint(&w, "entity_id", c->entity_id);
    jw_kstr(&w, "op", c->op);
    jw_key(&w, "before");
    jw_raw(&w, c->before);
    jw_key(&w, "after");
    jw_raw(&w, c->after);
    jw_obj_end(&w);
    event_cursor_format(c->rev, c->seq, id, sizeof(id));
    /* JSON on one line: a data field may hold no newline. */
    sbuf_printf(out, "id: %s\nevent: change\ndata: %s\n\n", id, sbuf_str(&b));
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

/* The stream's fill (api/api.h, api_stream): one page of what is new, in cx's snapshot. */
static enum api_stream_state events_fill(struct hreq *r, struct core_ctx *cx, bool ending,
                                         struct sbuf *out)
{
    struct events *e = r->stream_arg;
    struct change *c;
    struct tg_err err;
    size_t n;
    int64_t since = e->at.seq == EVENT_SEQ_ALL ? e->at.rev : e->at.rev - 1;
    int rc;

    if (ending) {
        render_end(out, e, r->stream_why ? r->stream_why : "shutdown");
        return API_STREAM_END;
    }
    /* The token again at every fill (the loop's auth cache makes that cheap): a stream of a
     * token revoked or expired since it connected ends at the next change. */
    tg_err_clear(&err);
    if (core_auth_native(cx, native_credential(r, NULL), &err) || core_require(cx, RIGHT_READ, &err) ||
        cx->org_id != e->org_id) {
        render_end(out, e, "unauthorized");
        return API_STREAM_END;
    }
    if (api_config.events_max_lag > 0 && core_current_rev(cx) - e->at.rev > api_config.events_max_lag) {
        /* Behind by more than the bound: the client catches up with /v1/changes pages, or
         * reconnects from where this says, rather than hold this stream open for ever. */
        render_end(out, e, "lagging");
        return API_STREAM_CUT;
    }
    tg_err_clear(&err);
    rc = core_changes_list(cx, since, EVENTS_PAGE, &c, &n, &err);
    if (rc) {
        render_end(out, e, "store unavailable");
        return API_STREAM_END;
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(c[i].entity, "token") == 0 || strcmp(c[i].entity, "user") == 0) {
            /* The page may revoke the subscriber itself, in a snapshot newer than the check
             * above (a cached one, or one before the page's transaction began): checked again
             * in the page's own snapshot, past the cache, before anything of it is sent. */
            cx->auth_min_rev = INT64_MAX;
            tg_err_clear(&err);
            if (core_auth_native(cx, native_credential(r, NULL), &err) || core_require(cx, RIGHT_READ, &err)) {
                render_end(out, e, "unauthorized");
                return API_STREAM_END;
            }
            break;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (!event_after(&e->at, c[i].rev, c[i].seq))
            continue;
        if (event_match(cx, &e->f, &c[i])) {
            render_change(out, &c[i]);
            r->stream_events++;
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
    if (native_event_filter(r, &e->f))
        return API_ROLLBACK;
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
    return api_stream(r, events_fill, e);
}
