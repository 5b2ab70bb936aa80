/* core/documents.c: the documents resources carry (resource.extra), and what a flag's and a
 * segment's may hold.
 *
 * A resource's document is a JSON object of the properties a product keeps for it beyond
 * tagd's own (kind, key, name, parent, archived, tags). Flags and segments are LaunchDarkly's
 * FeatureFlag and UserSegment: both the native API and LaunchDarkly's PATCH routes write them,
 * so the properties each may hold, and their types, are checked here for both. The document
 * never holds what tagd keeps itself (the key, name, archived flag, tags as assignments,
 * versions and dates); those are 400 here, so nothing is kept twice. Other kinds hold any
 * object. */
#include <string.h>

#include "core/core_int.h"
#include "util/json.h"

#define DOC_MAX_DEPTH 32

struct prop {
    const char *name;
    /* 0 or TG_EINVAL with err set; `v` is the property's value, never NULL. */
    int (*check)(const char *name, json_t *v, struct tg_err *err);
};

static int want(const char *name, const char *what, struct tg_err *err)
{
    return tg_err_set(err, TG_EINVAL, "document", "'%s' must be %s", name, what);
}

static int is_str(const char *n, json_t *v, struct tg_err *err)
{
    return json_is_string(v) ? 0 : want(n, "a string", err);
}

static int is_bool(const char *n, json_t *v, struct tg_err *err)
{
    return json_is_boolean(v) ? 0 : want(n, "true or false", err);
}

static int is_int(const char *n, json_t *v, struct tg_err *err)
{
    return json_is_integer(v) ? 0 : want(n, "an integer", err);
}

static int is_strs(const char *n, json_t *v, struct tg_err *err)
{
    size_t i;
    json_t *x;

    if (!json_is_array(v))
        return want(n, "an array of strings", err);
    json_array_foreach(v, i, x)
    {
        if (!json_is_string(x))
            return want(n, "an array of strings", err);
    }
    return 0;
}

/* An object whose members are checked by `props`; members not listed are refused, and those
 * marked required (a name starting with '!') must be there. */
static int check_obj(const char *n, json_t *v, const struct prop *props, struct tg_err *err)
{
    const char *k;
    json_t *x;

    if (!json_is_object(v))
        return want(n, "an object", err);
    json_object_foreach(v, k, x)
    {
        const struct prop *p = props;
        while (p->name && strcmp(p->name + (p->name[0] == '!'), k) != 0)
            p++;
        if (p->name == NULL) {
            /* Cut the echoed name at a character boundary: the message must stay UTF-8. */
            int len = (int)strlen(k);
            if (len > 64)
                for (len = 64; len > 0 && ((unsigned char)k[len] & 0xC0) == 0x80; len--)
                    ;
            return tg_err_set(err, TG_EINVAL, "document", "'%s' has no property '%.*s'", n, len,
                              k);
        }
        if (p->check && p->check(k, x, err))
            return TG_EINVAL;
    }
    for (const struct prop *p = props; p->name; p++)
        if (p->name[0] == '!' && json_object_get(v, p->name + 1) == NULL)
            return tg_err_set(err, TG_EINVAL, "document", "'%s' needs '%s'", n, p->name + 1);
    return 0;
}

static int check_each(const char *n, json_t *v, int (*one)(const char *, json_t *, struct tg_err *),
                      struct tg_err *err)
{
    size_t i;
    json_t *x;

    if (!json_is_array(v))
        return want(n, "an array", err);
    json_array_foreach(v, i, x)
    {
        if (one(n, x, err))
            return TG_EINVAL;
    }
    return 0;
}

/* ---- FeatureFlag ---- */

static int variation(const char *n, json_t *v, struct tg_err *err)
{
    static const struct prop p[] = {
        {"!value", NULL}, {"_id", is_str}, {"name", is_str}, {"description", is_str}, {NULL, NULL}};
    return check_obj(n, v, p, err);
}

static int variations(const char *n, json_t *v, struct tg_err *err)
{
    if (check_each(n, v, variation, err))
        return TG_EINVAL;
    if (json_array_size(v) < 2)
        return want(n, "at least two variations", err);
    return 0;
}

static int flag_kind(const char *n, json_t *v, struct tg_err *err)
{
    const char *s = json_string_value(v);
    if (s && (strcmp(s, "boolean") == 0 || strcmp(s, "multivariate") == 0))
        return 0;
    return want(n, "\"boolean\" or \"multivariate\"", err);
}

static int custom_property(const char *n, json_t *v, struct tg_err *err)
{
    static const struct prop p[] = {{"!name", is_str}, {"!value", is_strs}, {NULL, NULL}};
    return check_obj(n, v, p, err);
}

static int custom_properties(const char *n, json_t *v, struct tg_err *err)
{
    const char *k;
    json_t *x;

    if (!json_is_object(v))
        return want(n, "an object", err);
    json_object_foreach(v, k, x)
    {
        if (custom_property(k, x, err))
            return TG_EINVAL;
    }
    return 0;
}

static int client_side(const char *n, json_t *v, struct tg_err *err)
{
    static const struct prop p[] = {
        {"usingMobileKey", is_bool}, {"usingEnvironmentId", is_bool}, {NULL, NULL}};
    return check_obj(n, v, p, err);
}

static int defaults(const char *n, json_t *v, struct tg_err *err)
{
    static const struct prop p[] = {
        {"!onVariation", is_int}, {"!offVariation", is_int}, {NULL, NULL}};
    return check_obj(n, v, p, err);
}

static int is_obj(const char *n, json_t *v, struct tg_err *err)
{
    return json_is_object(v) ? 0 : want(n, "an object", err);
}

static int experiments(const char *n, json_t *v, struct tg_err *err)
{
    static const struct prop p[] = {{"!baselineIdx", is_int}, {"!items", NULL}, {NULL, NULL}};
    if (check_obj(n, v, p, err))
        return TG_EINVAL;
    return check_each("items", json_object_get(v, "items"), is_obj, err);
}

static const struct prop flag_props[] = {
    {"description", is_str},
    {"kind", flag_kind},
    {"variations", variations},
    {"temporary", is_bool},
    {"customProperties", custom_properties},
    {"clientSideAvailability", client_side},
    {"includeInSnippet", is_bool},
    {"maintainerId", is_str},
    {"maintainerTeamKey", is_str},
    {"goalIds", is_strs},
    {"defaults", defaults},
    {"deprecated", is_bool},
    {"deprecatedDate", is_int},
    {"archivedDate", is_int},
    {"experiments", experiments},
    {NULL, NULL},
};

/* The rules that span properties: a boolean flag has exactly the variations true and false,
 * and the default variations are indexes into the variations (two when none are set, since a
 * flag without variations is read as a boolean one). */
static int flag_rules(json_t *doc, struct tg_err *err)
{
    json_t *vars = json_object_get(doc, "variations"), *d = json_object_get(doc, "defaults");
    const char *kind = json_string_value(json_object_get(doc, "kind"));
    int64_t nvars = vars ? (int64_t)json_array_size(vars) : 2;

    if (vars && (kind == NULL || strcmp(kind, "boolean") == 0)) {
        json_t *a = json_object_get(json_array_get(vars, 0), "value");
        json_t *b = json_object_get(json_array_get(vars, 1), "value");
        if (nvars != 2 || !json_is_boolean(a) || !json_is_boolean(b) ||
            json_is_true(a) == json_is_true(b))
            return tg_err_set(err, TG_EINVAL, "document",
                              "a boolean flag has exactly the variations true and false");
    }
    if (d) {
        int64_t on = json_integer_value(json_object_get(d, "onVariation"));
        int64_t off = json_integer_value(json_object_get(d, "offVariation"));
        if (on < 0 || on >= nvars || off < 0 || off >= nvars)
            return tg_err_set(err, TG_EINVAL, "document",
                              "'defaults' must name variations 0 to %lld", (long long)nvars - 1);
    }
    return 0;
}

/* ---- UserSegment ---- */

static int segment_target(const char *n, json_t *v, struct tg_err *err)
{
    static const struct prop p[] = {{"values", is_strs}, {"contextKind", is_str}, {NULL, NULL}};
    return check_obj(n, v, p, err);
}

static int targets(const char *n, json_t *v, struct tg_err *err)
{
    return check_each(n, v, segment_target, err);
}

static int is_arr(const char *n, json_t *v, struct tg_err *err)
{
    return json_is_array(v) ? 0 : want(n, "an array", err);
}

static int clause(const char *n, json_t *v, struct tg_err *err)
{
    static const struct prop p[] = {
        {"!attribute", is_str}, {"!op", is_str},   {"!values", is_arr}, {"!negate", is_bool},
        {"contextKind", is_str}, {"_id", is_str}, {NULL, NULL}};
    return check_obj(n, v, p, err);
}

static int clauses(const char *n, json_t *v, struct tg_err *err)
{
    return check_each(n, v, clause, err);
}

static int segment_rule(const char *n, json_t *v, struct tg_err *err)
{
    static const struct prop p[] = {
        {"!clauses", clauses},  {"weight", is_int},      {"rolloutContextKind", is_str},
        {"bucketBy", is_str},   {"description", is_str}, {"_id", is_str},
        {NULL, NULL}};
    return check_obj(n, v, p, err);
}

static int segment_rules(const char *n, json_t *v, struct tg_err *err)
{
    return check_each(n, v, segment_rule, err);
}

static const struct prop segment_props[] = {
    {"description", is_str},
    {"included", is_strs},
    {"excluded", is_strs},
    {"includedContexts", targets},
    {"excludedContexts", targets},
    {"rules", segment_rules},
    {"unbounded", is_bool},
    {"unboundedContextKind", is_str},
    {NULL, NULL},
};

/* What tagd keeps itself, named so that the error says where it goes instead. */
static const char *const owned[] = {"key", "name", "archived", "tags", "_version", "version",
                                    "creationDate", "lastModifiedDate", "generation", "deleted",
                                    "_links", NULL};

int core_document_check(const char *kind, const char *doc, struct tg_err *err)
{
    const struct prop *props = NULL;
    json_t *v;
    int rc = 0;

    if (doc == NULL)
        return 0;
    v = json_parse(doc, strlen(doc), DOC_MAX_DEPTH, err);
    if (v == NULL)
        return TG_EINVAL;
    if (!json_is_object(v)) {
        json_decref(v);
        return tg_err_set(err, TG_EINVAL, "document", "a document is a JSON object");
    }
    if (strcmp(kind, "flag") == 0)
        props = flag_props;
    else if (strcmp(kind, "segment") == 0)
        props = segment_props;
    if (props) {
        for (size_t i = 0; owned[i] && rc == 0; i++)
            if (json_object_get(v, owned[i]))
                rc = tg_err_set(err, TG_EINVAL, "document",
                                "'%s' is the resource's own, not the document's", owned[i]);
        if (rc == 0)
            rc = check_obj(kind, v, props, err);
        if (rc == 0 && props == flag_props)
            rc = flag_rules(v, err);
    }
    json_decref(v);
    return rc;
}
