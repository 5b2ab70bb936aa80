/* tests/unit/test_turtle.c: the strict Turtle reader (util/turtle.c) that SKOS imports go
 * through: what it takes, as a SKOS vocabulary writes it, and what it refuses, with the line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "util/sbuf.h"
#include "util/turtle.h"

/* The triples seen, one per line: "S P O" with literals as "text"@lang or "text"^^type. */
static int collect(void *arg, const struct ttl_term *s, const struct ttl_term *p,
                   const struct ttl_term *o, int line, struct tg_err *err)
{
    struct sbuf *b = arg;
    (void)err;
    sbuf_printf(b, "%d %s %s ", line, s->value, p->value);
    if (o->kind == TTL_IRI)
        sbuf_printf(b, "<%s>", o->value);
    else
        sbuf_printf(b, "\"%s\"%s%s%s%s", o->value, o->lang ? "@" : "", o->lang ? o->lang : "",
                    o->datatype ? "^^" : "", o->datatype ? o->datatype : "");
    sbuf_addc(b, '\n');
    return 0;
}

static int err_line;

static int parse(const char *doc, struct sbuf *out, struct tg_err *err)
{
    struct arena a;
    int rc;

    arena_init(&a);
    sbuf_init(out, 0);
    tg_err_clear(err);
    err_line = 0;
    rc = ttl_parse(&a, doc, strlen(doc), collect, out, &err_line, err);
    arena_release(&a);
    return rc;
}

static void test_skos_subset(void **state)
{
    struct sbuf b;
    struct tg_err err;
    (void)state;

    assert_int_equal(
        parse("# a slice\n"
              "@prefix skos: <http://www.w3.org/2004/02/skos/core#> .\n"
              "PREFIX ex: <http://example.org/t/>\n"
              "ex:c1 a skos:Concept ;\n"
              "  skos:prefLabel \"Education\"@en, \"\\u00C9ducation\"@fr ;\n"
              "  skos:broader <http://example.org/t/c0> ;\n"
              "  skos:definition \"\"\"two\nlines\"\"\" ;\n"
              "  ex:n 42 ; ex:b true ;\n"
              "  ex:d \"2020-01-01\"^^<http://www.w3.org/2001/XMLSchema#date> ; .\n",
              &b, &err),
        0);
    assert_string_equal(
        sbuf_str(&b),
        "4 http://example.org/t/c1 http://www.w3.org/1999/02/22-rdf-syntax-ns#type "
        "<http://www.w3.org/2004/02/skos/core#Concept>\n"
        "5 http://example.org/t/c1 http://www.w3.org/2004/02/skos/core#prefLabel "
        "\"Education\"@en\n"
        "5 http://example.org/t/c1 http://www.w3.org/2004/02/skos/core#prefLabel "
        "\"\xC3\x89" "ducation\"@fr\n"
        "6 http://example.org/t/c1 http://www.w3.org/2004/02/skos/core#broader "
        "<http://example.org/t/c0>\n"
        "8 http://example.org/t/c1 http://www.w3.org/2004/02/skos/core#definition "
        "\"two\nlines\"\n"
        "9 http://example.org/t/c1 http://example.org/t/n "
        "\"42\"^^http://www.w3.org/2001/XMLSchema#integer\n"
        "9 http://example.org/t/c1 http://example.org/t/b "
        "\"true\"^^http://www.w3.org/2001/XMLSchema#boolean\n"
        "10 http://example.org/t/c1 http://example.org/t/d "
        "\"2020-01-01\"^^http://www.w3.org/2001/XMLSchema#date\n");
    sbuf_release(&b);
}

static void test_base_and_local_names(void **state)
{
    struct sbuf b;
    struct tg_err err;
    (void)state;

    /* A relative IRI joins the base; a local name may hold dots, percent escapes and
     * backslash escapes, but a final dot ends the statement. */
    assert_int_equal(parse("@base <http://x.org/> .\n@prefix : <http://x.org/v#> .\n"
                           "<a> :p :a.b%20c\\,d.\n",
                           &b, &err),
                     0);
    assert_string_equal(sbuf_str(&b), "3 http://x.org/a http://x.org/v#p <http://x.org/v#a.b%20c,d>\n");
    sbuf_release(&b);
}

/* Malformed or unsupported input: TG_EINVAL naming the line. */
static void test_refusals_name_the_line(void **state)
{
    static const struct {
        const char *doc;
        int line;
        const char *msg_part;
    } cases[] = {
        /* 1 */ {"<a:b> <a:c> <a:d>", 1, "expected ',', ';' or '.'"},
        /* 2 */ {"\n\nex:a <a:c> <a:d> .", 3, "undeclared prefix: ex:"},
        /* 3 */ {"<a:b> <a:c> _:x .", 1, "blank nodes"},
        /* 4 */ {"<a:b> <a:c> [ <a:d> <a:e> ] .", 1, "blank nodes"},
        /* 5 */ {"<a:b> <a:c> \"open .\n", 1, "newline in a string"},
        /* 6 */ {"<a:b> <a:c> \"x\"@ .", 1, "bad language tag"},
        /* 7 */ {"<rel> <a:c> <a:d> .", 1, "relative IRI without a base"},
        /* 8 */ {"<a:b> <a:c> \"\\q\" .", 1, "unknown escape"},
        /* 9 */ {"<a:b> <a:c> \"\\u0000\" .", 1, "escape names no allowed character"},
        /* 10 */ {"<a:b> <a:c> \"\xC3\x28\" .", 1, "not valid UTF-8"},
        /* 11 */ {"<a:b> <a:c> ( <a:d> ) .", 1, "collections"},
        /* 12 */ {"@prefix ex <a:b> .", 1, "expected 'name:'"},
        /* 13 */ {"<a:b> <a:c> .", 1, "expected a prefixed name"},
        /* 14 */ {"<a b> <a:c> <a:d> .", 1, "not allowed in an IRI"},
    };
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sbuf b;
        struct tg_err err;
        char tn[32];
        int rc = parse(cases[i].doc, &b, &err);
        snprintf(tn, sizeof(tn), "turtle-refuse-%zu", i + 1);
        if (rc != TG_EINVAL || err_line != cases[i].line || strcmp(err.field, "body") != 0 ||
            strstr(err.msg, cases[i].msg_part) == NULL)
            fail_msg("%s: rc %d line %d field '%s' msg '%s'", tn, rc, err_line, err.field,
                     err.msg);
        sbuf_release(&b);
    }
}

/* The callback's error stops the parse and comes back as it was. */
static int refuse(void *arg, const struct ttl_term *s, const struct ttl_term *p,
                  const struct ttl_term *o, int line, struct tg_err *err)
{
    (void)arg, (void)s, (void)p, (void)o;
    return tg_err_set(err, TG_ERULE, "x", "stop at %d", line);
}

static void test_callback_error_stops(void **state)
{
    struct arena a;
    struct tg_err err;
    const char *doc = "<a:b> <a:c> <a:d> .\n<a:b> <a:c> <a:e> .";
    int line = 0;
    (void)state;

    arena_init(&a);
    tg_err_clear(&err);
    assert_int_equal(ttl_parse(&a, doc, strlen(doc), refuse, NULL, &line, &err), TG_ERULE);
    assert_string_equal(err.msg, "stop at 1");
    assert_int_equal(line, 1);
    arena_release(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_skos_subset),
        cmocka_unit_test(test_base_and_local_names),
        cmocka_unit_test(test_refusals_name_the_line),
        cmocka_unit_test(test_callback_error_stops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
