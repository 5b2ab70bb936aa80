/* util/name.h: tag and group name rules.
 *
 * A name is UTF-8, NFC-normalized, made of segments joined by '.'. Uniqueness is decided on a
 * key: the NFC case fold of the whole name, so "Address.Email" and "address.email" collide while
 * the stored spelling is kept. The limits are configuration; these are the defaults. */
#ifndef TAGD_UTIL_NAME_H
#define TAGD_UTIL_NAME_H

#include <stdbool.h>
#include <stddef.h>

#include "util/arena.h"
#include "util/err.h"

struct name_rules {
    int max_segment_chars; /* 64 */
    int max_levels;        /* 10 */
    int max_bytes;         /* 255 */
};

extern struct name_rules name_rules_default;

/**
 * Validates and normalizes a hierarchical name.
 * @param in, n   the name as received (borrowed; need not be NUL-terminated)
 * @param hier    true for tag names ('.' separates levels), false for flat names (groups)
 * @param field   the input field named in errors
 * @param nfc     OUT: arena copy of the NFC form
 * @param key     OUT: arena copy of the case-folded key (may be NULL when not wanted)
 * @return 0 or TG_EINVAL with `err` saying which rule was broken.
 */
int name_normalize(struct arena *a, const char *in, size_t n, bool hier, const char *field,
                   char **nfc, char **key, struct tg_err *err);

/** Case-folds any valid UTF-8 string (already validated) into the arena; used for search. */
char *name_fold(struct arena *a, const char *s);

/** Number of levels of a normalized hierarchical name ("a.b.c" is 3). */
int name_levels(const char *nfc);

/**
 * Refuses invisible format characters (general category Cf, which holds every bidirectional
 * control: U+200E/F, U+061C, U+202A-202E, U+2066-2069) in a new name, so that no name can
 * imitate another ("Confidential" with U+202E or U+200B), after Unicode's identifier security
 * profile (UTS #39, with the joiner contexts of UAX #31 and UTS #51). Two joiners are kept
 * where they are part of the writing:
 * - U+200D ZERO WIDTH JOINER between two emoji (Extended_Pictographic; the first may carry an
 *   emoji modifier or a variation selector), as in emoji ZWJ sequences, or after a virama;
 * - U+200C ZERO WIDTH NON-JOINER after a virama, or between a left- or dual-joining and a
 *   right- or dual-joining letter (skipping transparent marks), as in Persian.
 * `s` (n bytes) is valid NFC UTF-8 (name_normalize's output). Returns 0, or TG_EINVAL for
 * `field` naming the code point.
 */
int name_check_visible(const char *s, size_t n, const char *field, struct tg_err *err);

/** True when `s` (n bytes) is valid UTF-8 without NUL or control characters. */
bool name_is_clean_utf8(const char *s, size_t n);

#endif /* TAGD_UTIL_NAME_H */
