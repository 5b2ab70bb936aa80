/* tests/unit/test_core_webhooks.c: the rules of webhook delivery (core/webhooks.c): backoff,
 * signature, which records make a batch; the filters as JSON (core/events.c); the sealed
 * secrets and the key file (util/secret.c); and the webhooks' store side (create, cursor,
 * redeliver) on a fixture store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/webhooks.h"
#include "fixture.h"
#include "util/mem.h"
#include "util/secret.h"

static void test_backoff(void **state)
{
    (void)state;
    /* Without jitter's random half (rnd 0): half of min, doubled per failure, capped. */
    assert_int_equal(wh_backoff_ms(1, 1000, 300000, 0), 500);
    assert_int_equal(wh_backoff_ms(2, 1000, 300000, 0), 1000);
    assert_int_equal(wh_backoff_ms(3, 1000, 300000, 0), 2000);
    assert_int_equal(wh_backoff_ms(30, 1000, 300000, 0), 150000);
    assert_int_equal(wh_backoff_ms(1000000, 1000, 300000, 0), 150000);
    /* The random half stays below the whole delay. */
    assert_int_equal(wh_backoff_ms(1, 1000, 300000, 0xffffffffu), 999);
    assert_int_equal(wh_backoff_ms(40, 1000, 300000, 0xffffffffu), 299999);
    for (uint32_t r = 0; r < 4000000000u; r += 123456789u) {
        int64_t d = wh_backoff_ms(4, 1000, 300000, r);
        assert_true(d >= 4000 && d < 8000);
    }
    assert_string_equal(wh_state_after(0, 10), "ok");
    assert_string_equal(wh_state_after(9, 10), "retrying");
    assert_string_equal(wh_state_after(10, 10), "failing");
    assert_string_equal(wh_state_after(11, 10), "failing");
}

static void test_signature(void **state)
{
    char sig[128];

    (void)state;
    assert_int_equal(secret_init(), 0);
    /* What a receiver computes (docs/events.md), here with Python's hmac:
     * hmac.new(b"Jefe", b"1700000000.{}", hashlib.sha256).hexdigest() */
    wh_signature("Jefe", 1700000000, "{}", 2, sig, sizeof(sig));
    assert_string_equal(sig, "t=1700000000,v1="
                             "d3793e2b4103edfbd98cc19591832f5fad701d413db9fcae0ae7dab8184ed207");
    /* Any change of the body or the time changes it. */
    {
        char other[128];
        wh_signature("Jefe", 1700000001, "{}", 2, other, sizeof(other));
        assert_string_not_equal(sig + 16, other + 16);
        wh_signature("Jefe", 1700000000, "{ }", 3, other, sizeof(other));
        assert_string_not_equal(sig + 16, other + 16);
    }
}

static void cset(struct change *c, int64_t rev, int64_t seq)
{
    memset(c, 0, sizeof(*c));
    c->rev = rev;
    c->seq = seq;
}

static void test_plan(void **state)
{
    struct change c[6];
    bool all[6] = {1, 1, 1, 1, 1, 1}, some[6] = {0, 1, 0, 1, 0, 0};
    struct event_cursor cur = {4, EVENT_SEQ_ALL}, lim;
    size_t picked[6];
    struct wh_plan p;

    (void)state;
    cset(&c[0], 5, 1);
    cset(&c[1], 5, 2);
    cset(&c[2], 6, 1);
    cset(&c[3], 7, 1);
    cset(&c[4], 7, 2);
    cset(&c[5], 8, 1);
    /* 1: a full batch ends at its last record, inside revision 7. */
    wh_plan_batch(&cur, c, 6, all, 4, NULL, picked, &p);
    assert_int_equal(p.npicked, 4);
    assert_true(p.full);
    assert_int_equal(p.end.rev, 7);
    assert_int_equal(p.end.seq, 1);
    assert_int_equal(picked[3], 3);
    /* 2: the filters pass over records: the batch covers up to the page's end. */
    wh_plan_batch(&cur, c, 6, some, 4, NULL, picked, &p);
    assert_int_equal(p.npicked, 2);
    assert_false(p.full);
    assert_int_equal(picked[0], 1);
    assert_int_equal(picked[1], 3);
    assert_int_equal(p.end.rev, 8);
    assert_int_equal(p.end.seq, 1);
    /* 3: a batch in flight ends where it ended, even with room for more. */
    lim.rev = 6;
    lim.seq = 1;
    wh_plan_batch(&cur, c, 6, all, 100, &lim, picked, &p);
    assert_int_equal(p.npicked, 3);
    assert_true(p.reached_limit);
    assert_int_equal(p.end.rev, 6);
    assert_int_equal(p.end.seq, 1);
    /* 4: an empty page covers nothing: the cursor stays. */
    wh_plan_batch(&cur, c, 0, all, 4, NULL, picked, &p);
    assert_int_equal(p.npicked, 0);
    assert_int_equal(p.end.rev, 4);
    assert_true(p.end.seq == EVENT_SEQ_ALL);
    /* 5: the same page planned twice gives the same batch (a retry sends what was sent). */
    {
        struct wh_plan q;
        size_t again[6];
        wh_plan_batch(&cur, c, 6, some, 1, NULL, picked, &p);
        wh_plan_batch(&cur, c, 6, some, 1, NULL, again, &q);
        assert_int_equal(p.npicked, 1);
        assert_int_equal(p.npicked, q.npicked);
        assert_int_equal(p.end.rev, q.end.rev);
        assert_int_equal(p.end.seq, q.end.seq);
        assert_int_equal(p.full, q.full);
        assert_int_equal(picked[0], again[0]);
        assert_int_equal(p.end.rev, 5);
        assert_int_equal(p.end.seq, 2);
    }
}

static void test_filter_json(void **state)
{
    struct arena a;
    struct event_filter f;
    struct tg_err err;
    const char *bad[] = {
        "[]", "{\"x\": 1}", "{\"entity\": 3}", "{\"entity\": [3]}", "{\"tag\": [\"a,b\"]}",
        "{\"resource\": \"x\"}", "{\"resource\": 0}", "{\"kind\": \"\"}",
        "{\"entity\": \"a,b,c,d,e,f,g,h,i\"}", "{\"workspace\": \"x\"}",
        "{\"workspace\": 0}", "{\"workspace\": \"ws_0\"}", "{\"workspace\": true}",
        "{\"workspace\": [1]}",
    };

    (void)state;
    arena_init(&a);
    assert_int_equal(event_filter_parse(&a, NULL, &f, &err), 0);
    assert_int_equal(f.nentity + f.ntag + f.nkind, 0);
    assert_int_equal(event_filter_parse(&a, "{\"entity\": \"tag,assignment\", \"tag\": [\"PII.*\"],"
                                            " \"resource\": 7, \"workspace\": \"ws_3\"}", &f, &err),
                     0);
    assert_int_equal(f.nentity, 2);
    assert_string_equal(f.entity[1], "assignment");
    assert_int_equal(f.ntag, 1);
    assert_int_equal(f.resource, 7);
    assert_int_equal(f.workspace, 3);
    assert_string_equal(event_filter_json(&a, &f),
                        "{\"entity\":[\"tag\",\"assignment\"],\"tag\":[\"PII.*\"],\"kind\":[],\"principal\":[],"
                        "\"resource\":7,\"workspace\":\"ws_3\"}");
    /* A workspace by number alone, as GET /v1/changes?workspace= takes it. */
    assert_int_equal(event_filter_parse(&a, "{\"workspace\": 4}", &f, &err), 0);
    assert_int_equal(f.workspace, 4);
    assert_int_equal(event_filter_parse(&a, "{\"workspace\": \"5\"}", &f, &err), 0);
    assert_int_equal(f.workspace, 5);
    assert_int_equal(event_filter_parse(&a, "{\"workspace\": null}", &f, &err), 0);
    assert_int_equal(f.workspace, 0);
    assert_int_equal(event_filter_parse(&a, "{\"entity\": \"tag,assignment\", \"tag\": [\"PII.*\"],"
                                            " \"resource\": 7, \"workspace\": \"ws_3\"}", &f, &err),
                     0);
    /* The canonical text reads back the same. */
    {
        struct event_filter g;
        assert_int_equal(event_filter_parse(&a, event_filter_json(&a, &f), &g, &err), 0);
        assert_string_equal(event_filter_json(&a, &g), event_filter_json(&a, &f));
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        tg_err_clear(&err);
        if (event_filter_parse(&a, bad[i], &f, &err) != TG_EINVAL)
            fail_msg("filter-%zu: %s accepted", i, bad[i]);
    }
    arena_release(&a);
}

static void test_secret_box(void **state)
{
    unsigned char k1[SECRET_BOX_KEY_BYTES], k2[SECRET_BOX_KEY_BYTES];
    char dir[] = "/tmp/tagd-whkey-XXXXXX", path[300], out[SECRET_BOX_MAX + 1], why[600];
    char id1[24], id2[24], *sealed, *again;
    struct stat sb;
    FILE *f;

    (void)state;
    assert_int_equal(secret_init(), 0);
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/webhook.key", dir);
    /* Made on first use, 0600, and the same key read back. */
    assert_int_equal(secret_keyfile_load(path, k1, why, sizeof(why)), 0);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(secret_keyfile_load(path, k2, why, sizeof(why)), 0);
    assert_memory_equal(k1, k2, sizeof(k1));
    secret_key_id(k1, id1, sizeof(id1));
    assert_int_equal(strlen(id1), 16);
    /* Sealed: opens with the key, not in the clear, different each time. */
    sealed = secret_box_seal(k1, "whsec_abcdefghijklmnop");
    again = secret_box_seal(k1, "whsec_abcdefghijklmnop");
    assert_null(strstr(sealed, "abcdefghijklmnop"));
    assert_string_not_equal(sealed, again);
    assert_true(secret_box_open(k1, sealed, out, sizeof(out)));
    assert_string_equal(out, "whsec_abcdefghijklmnop");
    /* Another key, a flipped byte, garbage: refused. */
    k2[0] ^= 1;
    secret_key_id(k2, id2, sizeof(id2));
    assert_string_not_equal(id1, id2);
    assert_false(secret_box_open(k2, sealed, out, sizeof(out)));
    sealed[10] = sealed[10] == '0' ? '1' : '0';
    assert_false(secret_box_open(k1, sealed, out, sizeof(out)));
    assert_false(secret_box_open(k1, "v1.00", out, sizeof(out)));
    assert_false(secret_box_open(k1, "nonsense", out, sizeof(out)));
    assert_false(secret_box_open(k1, NULL, out, sizeof(out)));
    xfree(sealed);
    xfree(again);
    /* A key file others may read is refused, and so is one that holds no key. */
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(secret_keyfile_load(path, k2, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "chmod 600"));
    assert_int_equal(chmod(path, 0600), 0);
    f = fopen(path, "w");
    fputs("short\n", f);
    fclose(f);
    assert_int_equal(secret_keyfile_load(path, k2, why, sizeof(why)), -1);
    unlink(path);
    rmdir(dir);
}

/* The store side: a new webhook starts after its own revision; redeliver moves the cursor. */
static void test_store_side(void **state)
{
    struct fixture *f = *state;
    char dir[] = "/tmp/tagd-whkey2-XXXXXX", path[300], why[600];
    struct webhook_input in;
    struct webhook w, w2;
    struct webhook *all;
    struct tg_err err;
    const char *secret = NULL;
    size_t n;

    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/webhook.key", dir);
    assert_int_equal(core_webhook_key_init(path, why, sizeof(why)), 0);
    memset(&in, 0, sizeof(in));
    in.url = "https://hooks.example.com/tagd";
    in.has_url = true;
    tg_err_clear(&err);
    assert_int_equal(core_webhook_create(&f->cx, &in, &w, &secret, &err), 0);
    assert_non_null(secret);
    assert_int_equal(strncmp(secret, "whsec_", 6), 0);
    assert_int_equal(w.cursor_rev, f->cx.rev);
    assert_true(w.cursor_seq == EVENT_SEQ_ALL);
    assert_true(w.active);
    assert_string_equal(w.state, "ok");
    assert_null(strstr(w.secret_box, secret + 6));
    fixture_next_txn(f);
    /* Loopback and private addresses are refused unless allowed. */
    in.url = "http://127.0.0.1:9/x";
    assert_int_equal(core_webhook_create(&f->cx, &in, &w2, &secret, &err), TG_ERULE);
    in.url = "ftp://example.com/x";
    assert_int_equal(core_webhook_create(&f->cx, &in, &w2, &secret, &err), TG_EINVAL);
    in.url = "https://hooks.example.com/tagd";
    in.secret = "short";
    in.has_secret = true;
    assert_int_equal(core_webhook_create(&f->cx, &in, &w2, &secret, &err), TG_EINVAL);
    fixture_next_txn(f);
    assert_int_equal(core_webhook_redeliver(&f->cx, w.id, 1, &w2, &err), 0);
    assert_int_equal(w2.cursor_rev, 0);
    assert_true(w2.gen > w.gen);
    assert_int_equal(core_webhook_redeliver(&f->cx, w.id, 0, &w2, &err), TG_ERULE);
    assert_int_equal(core_webhook_redeliver(&f->cx, w.id + 100, 1, &w2, &err), TG_ENOTFOUND);
    fixture_next_txn(f);
    assert_int_equal(core_webhook_delete(&f->cx, w.id, &err), 0);
    assert_int_equal(core_webhook_get(&f->cx, w.id, &w2, &err), TG_ENOTFOUND);
    assert_int_equal(core_webhook_list(&f->cx, &all, &n, &err), 0);
    assert_int_equal(n, 0);
    core_webhook_key_release();
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_signature),
        cmocka_unit_test(test_plan),
        cmocka_unit_test(test_filter_json),
        cmocka_unit_test(test_secret_box),
        cmocka_unit_test_setup_teardown(test_store_side, fixture_setup, fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
