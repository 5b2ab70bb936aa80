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

struct tag {
    int64_t id, ws_id, parent_id, group_id, position;
    int64_t created_at, updated_at, version;
    const char *name, *name_key, *display_name, *l10n, *color, *description, *source;
    const char *created_by, *extra;
    bool system_created, protected_, archived, deleted;
};

struct group {
    int64_t id, ws_id, position, created_at, updated_at, version;
    const char *name, *l10n, *extra;
    bool exclusive;
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

#endif /* TAGD_CORE_MODEL_H */
