/* tests/fuzz/fuzz_query.c: libFuzzer target for the tag query parser (engine/query.c).
 *
 * Any byte string must end in a tree or an error with a column inside the input; the tree is
 * rendered once so that every node is visited, and its names normalized as core's parse cache
 * does (query_normalize: a name either normalizes or stays for evaluation to refuse). Built by tests/fuzz/run with
 * clang -fsanitize=fuzzer,address,undefined, and replayed over the committed corpus by the
 * fuzz-smoke suite (replay.c) in every build. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "engine/query.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct arena a;
    struct qnode *q;
    struct qerr e;

    arena_init(&a);
    if (query_parse(&a, (const char *)data, size, &q, &e) == 0) {
        if (q == NULL)
            abort();
        (void)query_sexpr(&a, q);
        query_normalize(&a, q);
    } else if (e.col < 1 || (size_t)e.col > size + 1 || e.msg[0] == '\0') {
        abort();
    }
    arena_release(&a);
    return 0;
}
