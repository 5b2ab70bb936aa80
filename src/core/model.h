/* core/model.h: the model's plain values: tags, groups, resources and assignments as core
 * returns them. No functions and no includes of other layers, so that the engine (which holds
 * tags in memory and answers with them) can use them without depending on core's rules.
 *
 * Strings are borrowed: from the request arena when core returns them, from the engine's
 * snapshot when it answers (valid until the snapshot is released). */
#ifndef TAGD_CORE_MODEL_H
#define TAGD_CORE_MODEL_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* A tag's place in its life (docs/taxonomy.md, "Lifecycle"); 0 is the default. Only an
 * active tag may be put on a resource anew; archived is also the `archived` flag. */
enum tag_state {
    TAG_ACTIVE = 0,
    TAG_DRAFT,      /* being prepared: seen by stewards only, not assignable */
    TAG_DEPRECATED, /* stays where it is; not assignable; replaced_by names the successor */
    TAG_ARCHIVED,   /* out of default listings, not assignable, still readable by id */
};

struct tag {
    int64_t id, ws_id, parent_id, group_id, position;
    int64_t replaced_by; /* 0: none; set only while deprecated */
    enum tag_state state;
    int64_t created_at, updated_at, version;
    const char *name, *name_key, *display_name, *l10n, *color, *description, *source;
    const char *created_by, *extra;
    bool system_created, protected_, archived, deleted;
    /* Roots a subtree that only principals whose `assign` list names it may put on or take
     * off resources (core_assign_allowed; docs/security.md, "Assign rights"). */
    bool assign_restricted;
};

/* What an exclusive group's effective tags hold when a resource inherits one of its tags and
 * holds or inherits another (docs/taxonomy.md, "Inheritance conflicts"); 0 is the default.
 * Applies only while the group is exclusive: a group that is not behaves as union. */
enum group_conflict {
    CONFLICT_UNION = 0, /* every tag of the group along the chain: what tagd did before */
    CONFLICT_CHILD_WINS, /* only the nearest holder's tags of the group (the resource first) */
    CONFLICT_PARENT_WINS, /* only the farthest ancestor's tags of the group */
    CONFLICT_REJECT, /* union, and no write may create a conflict (core/groups.c) */
};

struct group {
    int64_t id, ws_id, position, created_at, updated_at, version;
    const char *name, *l10n, *extra;
    bool exclusive;
    enum group_conflict conflict;
};

struct resource {
    int64_t id, ws_id, parent_id, created_at, updated_at, version;
    const char *kind, *key, *name, *extra;
    const char *parent_kind, *parent_key;
    bool archived;
};

struct assignment {
    int64_t id;  /* 0 when the engine answered (no dialect shows it) */
    int64_t seq; /* orders one resource's assignments as they were made (the id, or a rank) */
    int64_t resource_id, added_at;
    struct tag tag;
    const char *context, *added_by;
    int64_t inherited_from; /* 0 for direct */
    const char *from_kind, *from_key;
};

/* The states' names, as stored (tags.state) and shown. Inline beside the enum because the
 * engine, which may include only this header, reads them from the rows it loads. */
static inline const char *tag_state_name(enum tag_state s)
{
    static const char *const names[] = {"active", "draft", "deprecated", "archived"};
    return (unsigned)s < 4 ? names[s] : "active";
}

/** The state named `s` (NULL or unknown: active); tag_state_valid tells the two apart. */
static inline enum tag_state tag_state_parse(const char *s)
{
    for (int i = 0; s && i < 4; i++)
        if (strcmp(s, tag_state_name((enum tag_state)i)) == 0)
            return (enum tag_state)i;
    return TAG_ACTIVE;
}

static inline bool tag_state_valid(const char *s)
{
    return s && (strcmp(s, "active") == 0 || tag_state_parse(s) != TAG_ACTIVE);
}

/* The conflict policies' names, as stored (groups.conflict) and shown; inline for the engine
 * as the states above. */
static inline const char *group_conflict_name(enum group_conflict c)
{
    static const char *const names[] = {"union", "child-wins", "parent-wins", "reject"};
    return (unsigned)c < 4 ? names[c] : "union";
}

/** The policy named `s`; false (and *out union) when `s` is NULL or names none. */
static inline bool group_conflict_parse(const char *s, enum group_conflict *out)
{
    *out = CONFLICT_UNION;
    for (int i = 0; s && i < 4; i++) {
        if (strcmp(s, group_conflict_name((enum group_conflict)i)) == 0) {
            *out = (enum group_conflict)i;
            return true;
        }
    }
    return false;
}

#endif /* TAGD_CORE_MODEL_H */
