/* tests/fuzz/fuzz_util.c: libFuzzer target for the parsers of outside input in util/: tag-name
 * validation and normalization, ISO-8601 parsing, bounded JSON decoding, and the JSON writer
 * (whatever is written must parse back to the same string). The first byte picks the parser. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/arena.h"
#include "util/json.h"
#include "util/jw.h"
#include "util/name.h"
#include "util/timeu.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct arena a;
    struct tg_err err;
    const char *s = (const char *)data + 1;
    size_t n = size ? size - 1 : 0;

    if (size == 0)
        return 0;
    arena_init(&a);
    switch (data[0] % 4) {
    case 0: {
        char *nfc, *key;
        if (name_normalize(&a, s, n, data[0] & 4, "name", &nfc, &key, &err) == 0) {
            char *nfc2, *key2;
            /* Normal forms are fixed points. */
            if (name_normalize(&a, nfc, strlen(nfc), data[0] & 4, "name", &nfc2, &key2, &err) != 0 ||
                strcmp(nfc, nfc2) != 0 || strcmp(key, key2) != 0)
                abort();
            (void)name_fold(&a, nfc);
        }
        break;
    }
    case 1: {
        char *z = arena_strndup(&a, s, n);
        int64_t ms;
        if (time_parse(z, &ms)) {
            char buf[32];
            time_iso(ms, buf);
        }
        break;
    }
    case 2: {
        json_t *v = json_parse(s, n, 32, &err);
        json_decref(v);
        break;
    }
    default: {
        struct sbuf b;
        struct jw w;
        json_t *v;
        if (!name_is_clean_utf8(s, n))
            break;
        sbuf_init(&b, 0);
        jw_init(&w, &b);
        jw_arr(&w);
        jw_strn(&w, s, n);
        jw_arr_end(&w);
        v = json_parse(sbuf_str(&b), b.len, 32, &err);
        if (v == NULL || json_string_length(json_array_get(v, 0)) != n ||
            memcmp(json_string_value(json_array_get(v, 0)), s, n) != 0)
            abort();
        json_decref(v);
        sbuf_release(&b);
        break;
    }
    }
    arena_release(&a);
    return 0;
}
