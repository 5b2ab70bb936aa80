/* tests/fuzz/fuzz_turtle.c: libFuzzer target for util/turtle.c, the reader of the SKOS
 * documents POST /v1/import takes from anyone with tags:write: any bytes end in triples or a
 * refusal naming a line of the input, never a crash, a hang or a term that is not UTF-8. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/arena.h"
#include "util/turtle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seen {
    int last_line;
};

static int on_triple(void *arg, const struct ttl_term *s, const struct ttl_term *p,
                     const struct ttl_term *o, int line, struct tg_err *err)
{
    struct seen *k = arg;

    (void)err;
    /* Subjects and predicates are IRIs; lines only go forward. */
    if (s->kind != TTL_IRI || p->kind != TTL_IRI || !s->value || !p->value || !o->value ||
        line < k->last_line)
        abort();
    k->last_line = line;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct arena a;
    struct tg_err err;
    struct seen k = {1};
    int line = 0, rc, lines = 1;

    arena_init(&a);
    tg_err_clear(&err);
    rc = ttl_parse(&a, (const char *)data, size, on_triple, &k, &line, &err);
    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n';
    if (rc != 0 && (rc != TG_EINVAL || line < 1 || line > lines || err.msg[0] == '\0'))
        abort();
    arena_release(&a);
    return 0;
}
