/* api/oracle.c: the Oracle Content Management documents API 1.1 and 1.2, file and folder tags.
 *
 * Files and folders are tagd resources of kinds "file" and "folder", keyed by their GUID; a
 * file's parent is its folder and folders nest, so GET answers the inherited tags from
 * core_assign_list(effective). POST sets (replaces the direct tags), PUT adds and/or removes,
 * DELETE clears the direct tags. Values travel as one comma-joined string.
 *
 * A request is let in by a tagd bearer token, by an applink (appLinkID + accessToken headers)
 * or by a public link (linkID, plus the dAccessCode-<linkID> cookie when protected); the link
 * rules are in core/links.c. Answers are JSON, or XML written with libxml2's xmlTextWriter when
 * the Accept header prefers application/xml. Errors are {errorCode, errorKey, errorMessage}.
 * docs/dialects/oracle.md lists every choice the public documentation leaves open. */
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlwriter.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "api/ratelimit.h"
#include "core/links.h"
#include "util/json.h"
#include "util/name.h"

static void oracle_error(struct hreq *r, int code, const struct tg_err *err);
static const char *const oracle_paths[] = {"/documents/", NULL};
const struct dialect oracle_dialect = {
    .name = "oracle",
    .error = oracle_error,
    .paths = oracle_paths,
    .routes = oracle_routes,
};

/* Oracle's error codes (Error-Messages page of the documents API). */
enum {
    ORA_GENERAL = -1,
    ORA_NOT_FOUND = -16,
    ORA_FORBIDDEN = -20,
    ORA_LINK = -26,
};

/* The resource kind doubles as the answer's "type"; `root` prefixes the XML root names. */
struct kind_info {
    const char *kind;
    const char *root;
    const char *param; /* the path parameter's name, for messages */
};
static const struct kind_info kind_file = {"file", "File", "fileId"};
static const struct kind_info kind_folder = {"folder", "Folder", "folderId"};

enum op { OP_SET, OP_EDIT, OP_CLEAR };

struct field {
    const char *k, *v;
};

/* ---- rendering ---- */

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

/* libxml2 2.9 wants its global state set up once before threads use it. */
static void xml_init(void)
{
    xmlInitParser();
}

/* q value of one media-range's parameters ("q=0.5"); 1 when absent. */
static double accept_q(const char *params, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++) {
        if ((params[i] == 'q' || params[i] == 'Q') && params[i + 1] == '=' &&
            (i == 0 || params[i - 1] == ';' || params[i - 1] == ' ')) {
            char buf[16];
            size_t len = 0;
            for (size_t j = i + 2; j < n && len + 1 < sizeof(buf) && params[j] != ';'; j++)
                buf[len++] = params[j];
            buf[len] = '\0';
            return strtod(buf, NULL);
        }
    }
    return 1.0;
}

/* XML when the Accept header rates application/xml (or text/xml) above application/json, or
 * equally and earlier. Wildcards and anything else keep the JSON default. */
static bool wants_xml(struct hreq *r)
{
    const char *p = api_header(r, "accept");
    double qj = -1, qx = -1;
    int first = 0; /* 1: json named first, 2: xml named first */

    while (p && *p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p), tlen;
        const char *semi;
        while (len && (*p == ' ' || *p == '\t')) {
            p++;
            len--;
        }
        semi = memchr(p, ';', len);
        tlen = semi ? (size_t)(semi - p) : len;
        while (tlen && (p[tlen - 1] == ' ' || p[tlen - 1] == '\t'))
            tlen--;
        if ((tlen == 15 && strncasecmp(p, "application/xml", 15) == 0) ||
            (tlen == 8 && strncasecmp(p, "text/xml", 8) == 0)) {
            double q = semi ? accept_q(semi + 1, (size_t)(p + len - semi - 1)) : 1.0;
            if (q > qx)
                qx = q;
            if (!first)
                first = 2;
        } else if (tlen == 16 && strncasecmp(p, "application/json", 16) == 0) {
            double q = semi ? accept_q(semi + 1, (size_t)(p + len - semi - 1)) : 1.0;
            if (q > qj)
                qj = q;
            if (!first)
                first = 1;
        }
        if (!end)
            break;
        p = end + 1;
    }
    return qx > 0 && (qx > qj || (qx == qj && first == 2));
}

/* XML 1.0 takes no control characters; every stored string is clean already, but error
 * messages may have been cut inside a character. */
static const char *xml_safe(struct hreq *r, const char *s)
{
    char *out;
    size_t n = 0;

    if (s == NULL)
        return "";
    if (name_is_clean_utf8(s, strlen(s)))
        return s;
    out = arena_alloc(&r->a, strlen(s) + 1);
    for (; *s; s++)
        if ((unsigned char)*s >= 0x20 && (unsigned char)*s < 0x7f)
            out[n++] = *s;
    out[n] = '\0';
    return out;
}

static int render_xml(struct hreq *r, const char *root, const struct field *f, size_t n)
{
    xmlBufferPtr buf;
    xmlTextWriterPtr w;
    int rc = 0;

    pthread_once(&xml_once, xml_init);
    buf = xmlBufferCreate();
    if (buf == NULL)
        return -1;
    w = xmlNewTextWriterMemory(buf, 0);
    if (w == NULL) {
        xmlBufferFree(buf);
        return -1;
    }
    if (xmlTextWriterStartDocument(w, NULL, "UTF-8", NULL) < 0 ||
        xmlTextWriterStartElement(w, BAD_CAST root) < 0)
        rc = -1;
    for (size_t i = 0; i < n && rc == 0; i++)
        if (xmlTextWriterWriteElement(w, BAD_CAST f[i].k, BAD_CAST xml_safe(r, f[i].v)) < 0)
            rc = -1;
    if (rc == 0 && (xmlTextWriterEndElement(w) < 0 || xmlTextWriterEndDocument(w) < 0))
        rc = -1;
    xmlFreeTextWriter(w); /* flushes into buf */
    if (rc == 0) {
        sbuf_reset(&r->out);
        sbuf_add(&r->out, xmlBufferContent(buf), (size_t)xmlBufferLength(buf));
    }
    xmlBufferFree(buf);
    return rc;
}

/* Renders the flat object `f` as JSON, or as XML under `root` when the client asked for it.
 * Returns API_ANSWER, or API_ROLLBACK when it had to answer a 500 instead. */
static enum api_result render(struct hreq *r, int status, const char *root,
                              const struct field *f, size_t n)
{
    static const struct field oom[3] = {
        {"errorCode", "-1"}, {"errorKey", "!csUnexpectedError"}, {"errorMessage", "internal error"}};
    enum api_result result = API_ANSWER;
    struct jw w;

    api_set_header(r, "Vary", "Accept");
    if (wants_xml(r)) {
        if (render_xml(r, root, f, n) == 0) {
            r->status = status;
            r->content_type = "application/xml; charset=utf-8";
            return result;
        }
        /* The writer failed (out of memory): say so in JSON rather than half an XML body. */
        status = 500;
        f = oom;
        n = 3;
        result = API_ROLLBACK;
    }
    api_json_begin(r, status, &w);
    jw_obj(&w);
    for (size_t i = 0; i < n; i++) {
        jw_keys(&w, f[i].k);
        jw_str(&w, f[i].v);
    }
    jw_obj_end(&w);
    return result;
}

/* Renders Oracle's error body with `status` (>= 400); returns API_ROLLBACK, as api_fail does. */
static enum api_result ora_fail(struct hreq *r, int status, int code, const char *key,
                                const char *msg)
{
    struct field f[3] = {
        {"errorCode", arena_printf(&r->a, "%d", code)},
        {"errorKey", key},
        {"errorMessage", msg},
    };
    if (status == 401)
        api_set_header(r, "WWW-Authenticate", "Bearer realm=\"tagd\"");
    render(r, status, "ErrorResponse", f, 3);
    return API_ROLLBACK;
}

/* The dialect's one mapping from tagd's codes to Oracle's statuses and error codes. */
static void oracle_error(struct hreq *r, int code, const struct tg_err *err)
{
    const char *msg;

    code = api_code(code, err);
    msg = err && err->msg[0] ? err->msg : tg_code_slug(code);
    switch (code) {
    case TG_EINVAL:
    case TG_ERULE:
        ora_fail(r, 400, ORA_GENERAL, "!csInvalidRequest", msg);
        break;
    case TG_ENOTFOUND:
        ora_fail(r, 404, ORA_NOT_FOUND, "!csItemDoesNotExist", msg);
        break;
    case TG_EFORBIDDEN:
        ora_fail(r, 403, ORA_FORBIDDEN, "!csInsufficientPrivilege", msg);
        break;
    case TG_EAUTH:
        ora_fail(r, 401, ORA_FORBIDDEN, "!csNotAuthenticated", msg);
        break;
    case TG_EINTERNAL:
        ora_fail(r, 500, ORA_GENERAL, "!csUnexpectedError", "internal error");
        break;
    case TG_EBUSY:
        ora_fail(r, 503, ORA_GENERAL, "!csServiceUnavailable", msg);
        break;
    default:
        ora_fail(r, tg_code_status(code), ORA_GENERAL, "!csInvalidRequest", msg);
        break;
    }
}

/* ---- access ---- */

/* Lets the request in by applink, public link or bearer token, in that order of precedence.
 * A bearer principal must hold `need` outright; a link principal is checked per item later.
 * Returns 0, or -1 after rendering the error. */
static int authenticate(struct hreq *r, struct core_ctx *cx, unsigned need)
{
    const char *app = api_header(r, "applinkid"), *pub = api_header(r, "linkid");
    struct tg_err err;
    int rc;

    tg_err_clear(&err);
    if (app) {
        const char *tok = api_header(r, "accesstoken");
        if (tok == NULL) {
            ora_fail(r, 400, ORA_GENERAL, "!csInvalidRequest",
                     "accessToken is required with appLinkID");
            return -1;
        }
        rc = core_link_auth_app(cx, app, tok, &err);
    } else if (pub) {
        const char *code = api_cookie(r, arena_printf(&r->a, "dAccessCode-%s", pub));
        rc = core_link_auth_public(cx, pub, code, &err);
    } else {
        const char *tok = api_bearer(r);
        if (tok == NULL) {
            ora_fail(r, 401, ORA_FORBIDDEN, "!csNotAuthenticated",
                     "authentication required: a bearer token, an applink or a public link");
            return -1;
        }
        rc = core_auth_token(cx, tok, &err);
        if (rc == 0)
            rc = core_require(cx, need, &err);
    }
    if (rc == TG_EAUTH && (app || pub)) {
        ora_fail(r, 400, ORA_LINK, "!csLinkInvalidOrExpired", err.msg);
        return -1;
    }
    if (rc) {
        oracle_error(r, rc, &err);
        return -1;
    }
    return ratelimit_take(r, cx);
}

/* Finds the file or folder of the path and checks the principal may do `need` on it. */
static int load(struct hreq *r, struct core_ctx *cx, const struct kind_info *ki, unsigned need,
                struct resource *res)
{
    const char *id = r->params[0];
    struct tg_err err;
    int rc;

    tg_err_clear(&err);
    if (core_resource_ref_check(ki->kind, id, &err) != 0) {
        ora_fail(r, 400, ORA_GENERAL, "!csInvalidRequest",
                 arena_printf(&r->a, "%s is not a valid id", ki->param));
        return -1;
    }
    rc = core_resource_get(cx, ki->kind, id, res, &err);
    if (rc == TG_ENOTFOUND) {
        /* A link only ever reaches items that exist; it learns nothing about the others. */
        if (core_link_principal(cx))
            ora_fail(r, 403, ORA_FORBIDDEN, "!csInsufficientPrivilege",
                     "the link does not reach this item");
        else
            ora_fail(r, 404, ORA_NOT_FOUND, "!csItemDoesNotExist",
                     arena_printf(&r->a, "'%s' does not exist.", id));
        return -1;
    }
    if (rc == 0)
        rc = core_link_require(cx, res->id, need, &err);
    if (rc) {
        oracle_error(r, rc, &err);
        return -1;
    }
    return 0;
}

/* ---- get ---- */

/* core_assign_list gives the direct tags and then each ancestor's, nearest first, each run
 * sorted by name; Oracle's examples keep the order tags were assigned in, so each run is
 * re-sorted by `seq` (assignment ids grow with every assignment; the engine keeps their rank). */
static void order_runs(struct assignment *as, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        struct assignment x = as[i];
        size_t j = i;
        while (j > 0 && as[j - 1].inherited_from == x.inherited_from && as[j - 1].seq > x.seq) {
            as[j] = as[j - 1];
            j--;
        }
        as[j] = x;
    }
}

static enum api_result tags_get(struct hreq *r, struct core_ctx *cx, const struct kind_info *ki)
{
    const char *da;
    struct assignment *as;
    struct resource res;
    struct tg_err err;
    struct sbuf tags;
    bool direct = false;
    size_t n;
    int rc;

    if (authenticate(r, cx, RIGHT_READ))
        return API_ROLLBACK;
    da = api_query(r, "directAssigned");
    if (da && *da) {
        if (strcmp(da, "1") != 0 && strcmp(da, "0") != 0)
            return ora_fail(r, 400, ORA_GENERAL, "!csInvalidRequest",
                            "directAssigned must be 0 or 1");
        direct = da[0] == '1';
    }
    if (load(r, cx, ki, RIGHT_READ, &res))
        return API_ROLLBACK;
    tg_err_clear(&err);
    rc = core_assign_list(cx, res.id, !direct, &as, &n, &err);
    if (rc) {
        oracle_error(r, rc, &err);
        return API_ROLLBACK;
    }
    order_runs(as, n);
    sbuf_init(&tags, 0);
    for (size_t i = 0; i < n; i++) {
        if (i)
            sbuf_addc(&tags, ',');
        sbuf_adds(&tags, as[i].tag.name);
    }
    {
        struct field f[4] = {
            {"errorCode", "0"},
            {"idList", res.key},
            {"tags", arena_strdup(&r->a, sbuf_str(&tags))},
            {"type", ki->kind},
        };
        sbuf_release(&tags);
        return render(r, 200, arena_printf(&r->a, "%sGetTagsResponse", ki->root), f, 4);
    }
}

/* ---- set, edit, delete ---- */

struct tag_body {
    const char *set, *add, *remove; /* NULL when absent */
};

/* Reads one field of the body; 0, or -1 after a 400 for an unexpected one. */
static int body_field(struct hreq *r, enum op op, const char *k, const char *v,
                      struct tag_body *b)
{
    if (op == OP_SET && strcmp(k, "setTags") == 0) {
        b->set = v;
    } else if (op == OP_EDIT && strcmp(k, "addTags") == 0) {
        b->add = v;
    } else if (op == OP_EDIT && strcmp(k, "removeTags") == 0) {
        b->remove = v;
    } else {
        ora_fail(r, 400, ORA_GENERAL, "!csInvalidRequest",
                 arena_printf(&r->a, "unknown field '%.64s'", xml_safe(r, k)));
        return -1;
    }
    return 0;
}

static bool blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return false;
    return true;
}

/* <FileSetTagsBody><setTags>a,b</setTags></FileSetTagsBody>: any root, one level of text
 * elements. Documents with a DTD are refused, so no entity is ever expanded. */
static int body_xml(struct hreq *r, enum op op, struct tag_body *b)
{
    xmlDocPtr doc;
    xmlNodePtr root, c;
    int rc = 0;

    pthread_once(&xml_once, xml_init);
    if (r->body_len > (size_t)api_config.max_body) {
        ora_fail(r, 413, ORA_GENERAL, "!csInvalidRequest", "body is too large");
        return -1;
    }
    doc = xmlReadMemory(r->body, (int)r->body_len, NULL, "UTF-8",
                        XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    root = doc ? xmlDocGetRootElement(doc) : NULL;
    if (root == NULL || doc->intSubset != NULL) {
        if (doc)
            xmlFreeDoc(doc);
        ora_fail(r, 400, ORA_GENERAL, "!csInvalidRequest", "body is not a valid XML document");
        return -1;
    }
    for (c = root->children; c && rc == 0; c = c->next) {
        xmlChar *text;
        const char *v;
        if (c->type == XML_TEXT_NODE && xmlIsBlankNode(c))
            continue;
        if (c->type == XML_COMMENT_NODE)
            continue;
        if (c->type != XML_ELEMENT_NODE) {
            ora_fail(r, 400, ORA_GENERAL, "!csInvalidRequest",
                     "the XML body holds only setTags, addTags or removeTags elements");
            rc = -1;
            break;
        }
        text = xmlNodeGetContent(c);
        v = arena_strdup(&r->a, text ? (const char *)text : "");
        xmlFree(text);
        rc = body_field(r, op, (const char *)c->name, v, b);
    }
    xmlFreeDoc(doc);
    return rc;
}

static int body_json(struct hreq *r, enum op op, struct tag_body *b)
{
    const char *k;
    json_t *body, *v;
    int rc = 0;

    body = api_body_json(r);
    if (body == NULL)
        return -1;
    if (!json_is_object(body)) {
        ora_fail(r, 400, ORA_GENERAL, "!csInvalidRequest", "body must be a JSON object");
        rc = -1;
    }
    json_object_foreach(body, k, v)
    {
        if (rc)
            break;
        if (json_is_null(v))
            continue;
        if (!json_is_string(v)) {
            ora_fail(r, 400, ORA_GENERAL, "!csInvalidRequest",
                     arena_printf(&r->a, "'%.64s' must be a string of comma-separated tags", k));
            rc = -1;
            break;
        }
        rc = body_field(r, op, k, arena_strdup(&r->a, json_string_value(v)), b);
    }
    json_decref(body);
    return rc;
}

/* An empty body is allowed: the documented bodies have no required attribute. */
static int read_body(struct hreq *r, enum op op, struct tag_body *b)
{
    const char *ct = api_header(r, "content-type");

    memset(b, 0, sizeof(*b));
    if (op == OP_CLEAR || r->body == NULL || blank(r->body, r->body_len))
        return 0;
    if (ct && (strncasecmp(ct, "application/xml", 15) == 0 || strncasecmp(ct, "text/xml", 8) == 0))
        return body_xml(r, op, b);
    return body_json(r, op, b);
}

/* Splits "a, b,,c" into tag ids, creating missing tags when `create`; unknown names are
 * skipped when not. Returns 0, or -1 after rendering the error. */
static int tag_ids(struct hreq *r, struct core_ctx *cx, const char *list, bool create,
                   int64_t **ids, size_t *n)
{
    size_t cap = 1;
    const char *p;

    for (p = list; *p; p++)
        cap += *p == ',';
    if (cap > (size_t)core_limits.max_batch) {
        ora_fail(r, 400, ORA_GENERAL, "!csInvalidRequest",
                 arena_printf(&r->a, "more than %d tags in one request", core_limits.max_batch));
        return -1;
    }
    *ids = arena_alloc(&r->a, cap * sizeof(int64_t));
    *n = 0;
    for (p = list;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len && (*p == ' ' || *p == '\t')) {
            p++;
            len--;
        }
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len) {
            const char *name = arena_strndup(&r->a, p, len);
            struct tg_err err;
            struct tag t;
            int rc;
            tg_err_clear(&err);
            rc = create ? core_tag_ensure(cx, name, &t, &err) : core_tag_find(cx, name, &t, &err);
            if (rc == 0 && !t.deleted)
                (*ids)[(*n)++] = t.id;
            else if (rc && !(rc == TG_ENOTFOUND && !create)) {
                oracle_error(r, rc, &err);
                return -1;
            }
        }
        if (!end)
            break;
        p = end + 1;
    }
    return 0;
}

static enum api_result tags_write(struct hreq *r, struct core_ctx *cx,
                                  const struct kind_info *ki, enum op op)
{
    static const char *const roots[] = {"SetTagsResponse", "EditTagsResponse",
                                        "DeleteTagsResponse"};
    static const char context[] = "oracle";
    struct resource res;
    struct tag_body b;
    struct tg_err err;
    int64_t *ids;
    size_t n;
    int rc = 0;

    if (authenticate(r, cx, RIGHT_ASSIGN) || read_body(r, op, &b) ||
        load(r, cx, ki, RIGHT_ASSIGN, &res))
        return API_ROLLBACK;
    tg_err_clear(&err);
    switch (op) {
    case OP_SET:
        if (tag_ids(r, cx, b.set ? b.set : "", true, &ids, &n))
            return API_ROLLBACK;
        rc = core_assign_replace(cx, res.id, ids, n, context, NULL, NULL, &err);
        break;
    case OP_EDIT:
        /* Removals first, so that one request can move a tag within an exclusive group. */
        if (b.remove) {
            if (tag_ids(r, cx, b.remove, false, &ids, &n))
                return API_ROLLBACK;
            for (size_t i = 0; i < n && rc == 0; i++) {
                rc = core_assign_remove(cx, res.id, ids[i], &err);
                if (rc == TG_ENOTFOUND) /* removing a tag that is not there changes nothing */
                    rc = 0;
            }
        }
        if (rc == 0 && b.add) {
            if (tag_ids(r, cx, b.add, true, &ids, &n))
                return API_ROLLBACK;
            rc = core_assign_add(cx, res.id, ids, n, context, NULL, NULL, &err);
        }
        break;
    case OP_CLEAR:
        rc = core_assign_replace(cx, res.id, NULL, 0, context, NULL, NULL, &err);
        break;
    }
    if (rc) {
        oracle_error(r, rc, &err);
        return API_ROLLBACK;
    }
    {
        struct field f[3] = {{"errorCode", "0"}, {"idList", res.key}, {"type", ki->kind}};
        return render(r, 200, arena_printf(&r->a, "%s%s", ki->root, roots[op]), f, 3);
    }
}

static enum api_result h_file_get(struct hreq *r, struct core_ctx *cx)
{
    return tags_get(r, cx, &kind_file);
}

static enum api_result h_file_set(struct hreq *r, struct core_ctx *cx)
{
    return tags_write(r, cx, &kind_file, OP_SET);
}

static enum api_result h_file_edit(struct hreq *r, struct core_ctx *cx)
{
    return tags_write(r, cx, &kind_file, OP_EDIT);
}

static enum api_result h_file_clear(struct hreq *r, struct core_ctx *cx)
{
    return tags_write(r, cx, &kind_file, OP_CLEAR);
}

static enum api_result h_folder_get(struct hreq *r, struct core_ctx *cx)
{
    return tags_get(r, cx, &kind_folder);
}

static enum api_result h_folder_set(struct hreq *r, struct core_ctx *cx)
{
    return tags_write(r, cx, &kind_folder, OP_SET);
}

static enum api_result h_folder_edit(struct hreq *r, struct core_ctx *cx)
{
    return tags_write(r, cx, &kind_folder, OP_EDIT);
}

static enum api_result h_folder_clear(struct hreq *r, struct core_ctx *cx)
{
    return tags_write(r, cx, &kind_folder, OP_CLEAR);
}

#define R(m, p, f, fl) {m, p, f, fl, &oracle_dialect, NULL, NULL}
/* 1.2, the version Oracle's current reference documents, has the tag endpoints of 1.1 with the
 * same bodies and answers, so both versions share the handlers. (Written out: the tests read
 * this table.) */
const struct route oracle_routes[] = {
    R("GET", "/documents/api/1.1/files/{fileId}/tags", h_file_get, 0),
    R("POST", "/documents/api/1.1/files/{fileId}/tags", h_file_set, ROUTE_WRITE),
    R("PUT", "/documents/api/1.1/files/{fileId}/tags", h_file_edit, ROUTE_WRITE),
    R("DELETE", "/documents/api/1.1/files/{fileId}/tags", h_file_clear, ROUTE_WRITE),
    R("GET", "/documents/api/1.1/folders/{folderId}/tags", h_folder_get, 0),
    R("POST", "/documents/api/1.1/folders/{folderId}/tags", h_folder_set, ROUTE_WRITE),
    R("PUT", "/documents/api/1.1/folders/{folderId}/tags", h_folder_edit, ROUTE_WRITE),
    R("DELETE", "/documents/api/1.1/folders/{folderId}/tags", h_folder_clear, ROUTE_WRITE),
    R("GET", "/documents/api/1.2/files/{fileId}/tags", h_file_get, 0),
    R("POST", "/documents/api/1.2/files/{fileId}/tags", h_file_set, ROUTE_WRITE),
    R("PUT", "/documents/api/1.2/files/{fileId}/tags", h_file_edit, ROUTE_WRITE),
    R("DELETE", "/documents/api/1.2/files/{fileId}/tags", h_file_clear, ROUTE_WRITE),
    R("GET", "/documents/api/1.2/folders/{folderId}/tags", h_folder_get, 0),
    R("POST", "/documents/api/1.2/folders/{folderId}/tags", h_folder_set, ROUTE_WRITE),
    R("PUT", "/documents/api/1.2/folders/{folderId}/tags", h_folder_edit, ROUTE_WRITE),
    R("DELETE", "/documents/api/1.2/folders/{folderId}/tags", h_folder_clear, ROUTE_WRITE),
    {NULL, NULL, NULL, 0, NULL, NULL, NULL},
};
#undef R
