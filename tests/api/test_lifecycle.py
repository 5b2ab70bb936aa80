"""End-to-end tests of the taxonomy's lifecycle (docs/taxonomy.md, "Lifecycle"): tag states and
their rules through the native API, LaunchDarkly and Immuta; expiring assignments, gone from
every read, query and effective set the moment they expire, removed and logged by the system,
visible as of a time before, gone after a restart; and the engine and the store agreeing on the
effective sets around an expiry."""
import datetime
import json
import time

import pytest
import requests

from conftest import ADMIN_TOKEN, Api, Server


def ok(r, status=200):
    assert r.status_code == status, r.text
    return r.json() if r.content else None


def native_error(r, status, code):
    assert r.status_code == status, r.text
    body = r.json()["error"]
    assert body["code"] == code, body
    return body


def names(r):
    return [t["name"] for t in ok(r)["items"]]


def tag(admin, name, **fields):
    body = {"name": name}
    body.update(fields)
    return ok(admin.post("/v1/tags", json=body), 201)


def put_res(admin, kind, key, parent=None):
    body = {"parent": {"kind": parent[0], "key": parent[1]}} if parent else {}
    r = admin.put("/v1/resources/%s/%s" % (kind, requests.utils.quote(key, safe="")), json=body)
    assert r.status_code in (200, 201), r.text


def res_tags(admin, kind, key, effective=False, **params):
    params["effective"] = "true" if effective else "false"
    r = admin.get("/v1/resources/%s/%s/tags" % (kind, requests.utils.quote(key, safe="")),
                  params=params)
    return sorted(names(r))


def query(admin, expr, **params):
    params.update({"query": expr, "effective": "true", "limit": 1000})
    r = admin.get("/v1/resources", params=params)
    return sorted("%s/%s" % (i["kind"], i["key"]) for i in ok(r)["items"])


@pytest.fixture(scope="module")
def reader(server):
    return Api(server, server.token("tags:read", name="reader"))


# ---- states through the native API ----

def test_state_on_create_read_and_patch(admin):
    t = tag(admin, "Life.prep", state="draft")
    assert t["state"] == "draft" and t["replaced_by"] is None and t["archived"] is False
    assert ok(admin.get("/v1/tags/Life.prep"))["state"] == "draft"
    assert ok(admin.patch("/v1/tags/Life.prep", json={"state": "active"}))["state"] == "active"
    # Nothing goes back to draft; unknown states and types are bad input.
    native_error(admin.patch("/v1/tags/Life.prep", json={"state": "draft"}), 422,
                 "rule_violation")
    native_error(admin.patch("/v1/tags/Life.prep", json={"state": "retired"}), 400,
                 "invalid_input")
    native_error(admin.patch("/v1/tags/Life.prep", json={"state": 3}), 400, "invalid_input")
    native_error(admin.patch("/v1/tags/Life.prep", json={"state": "active", "archived": True}),
                 400, "invalid_input")
    # A plain tag is active; the older archived flag is the archived state.
    assert tag(admin, "Life.plain")["state"] == "active"
    t = ok(admin.patch("/v1/tags/Life.plain", json={"archived": True}))
    assert t["state"] == "archived" and t["archived"] is True
    t = ok(admin.patch("/v1/tags/Life.plain", json={"archived": False}))
    assert t["state"] == "active" and t["archived"] is False


def test_draft_is_for_stewards_and_not_assignable(admin, reader):
    tag(admin, "Draft.one", state="draft")
    put_res(admin, "file", "d1")
    body = native_error(admin.post("/v1/resources/file/d1/tags", json={"tags": ["Draft.one"]}),
                        422, "rule_violation")
    assert "draft" in body["message"]
    assert res_tags(admin, "file", "d1") == []
    assert "Draft.one" in names(admin.get("/v1/tags", params={"prefix": "Draft."}))
    # A reader (no tags:write) does not see drafts in lists, twice (the rendered-answer cache
    # must not hand a steward's list to a reader).
    for _ in range(2):
        assert "Draft.one" not in names(reader.get("/v1/tags", params={"prefix": "Draft."}))
        assert "Draft.one" in names(admin.get("/v1/tags", params={"prefix": "Draft."}))
    assert names(reader.get("/v1/tags", params={"state": "draft"})) == []
    native_error(reader.get("/v1/tags/Draft.one"), 404, "not_found")
    assert ok(admin.get("/v1/tags/Draft.one"))["state"] == "draft"


def test_deprecated_stays_where_it_is_with_a_hint(admin):
    tag(admin, "Dep.old")
    new = tag(admin, "Dep.new")
    put_res(admin, "file", "dep1")
    put_res(admin, "file", "dep2")
    ok(admin.post("/v1/resources/file/dep1/tags", json={"tags": ["Dep.old"]}))
    t = ok(admin.patch("/v1/tags/Dep.old", json={"state": "deprecated", "replaced_by": "Dep.new"}))
    assert t["state"] == "deprecated" and t["replaced_by"] == new["id"]
    # Kept where it is, with the hint in reads; also through a replace that names it; refused
    # anywhere new.
    assert res_tags(admin, "file", "dep1") == ["Dep.old"]
    item = ok(admin.get("/v1/resources/file/dep1/tags"))["items"][0]
    assert item["state"] == "deprecated" and item["replaced_by"] == new["id"], item
    ok(admin.put("/v1/resources/file/dep1/tags", json={"tags": ["Dep.old", "Dep.new"]}))
    assert res_tags(admin, "file", "dep1") == ["Dep.new", "Dep.old"]
    body = native_error(admin.post("/v1/resources/file/dep2/tags", json={"tags": ["Dep.old"]}),
                        422, "rule_violation")
    assert "deprecated" in body["message"] and "Dep.new" in body["message"]
    # The hint must be an active tag; replaced_by is for deprecated tags only.
    native_error(admin.patch("/v1/tags/Dep.new", json={"replaced_by": "Dep.old"}), 400,
                 "invalid_input")
    native_error(admin.patch("/v1/tags/Dep.old", json={"replaced_by": "No.such"}), 400,
                 "invalid_input")
    assert ok(admin.patch("/v1/tags/Dep.old", json={"replaced_by": new["id"]}))["replaced_by"] \
        == new["id"]
    # Active again: the hint is gone and the tag assignable.
    t = ok(admin.patch("/v1/tags/Dep.old", json={"state": "active"}))
    assert t["replaced_by"] is None
    ok(admin.post("/v1/resources/file/dep2/tags", json={"tags": ["Dep.old"]}))


def test_archived_hidden_from_lists_readable_by_id(admin):
    t = tag(admin, "Arc.gone")
    put_res(admin, "file", "arc1")
    ok(admin.post("/v1/resources/file/arc1/tags", json={"tags": ["Arc.gone"]}))
    ok(admin.patch("/v1/tags/Arc.gone", json={"state": "archived"}))
    assert names(admin.get("/v1/tags", params={"prefix": "Arc."})) == []
    assert names(admin.get("/v1/tags", params={"prefix": "Arc.", "state": "archived"})) == \
        ["Arc.gone"]
    assert names(admin.get("/v1/tags", params={"prefix": "Arc.", "archived": "true"})) == \
        ["Arc.gone"]
    assert ok(admin.get("/v1/tags/%d" % t["id"]))["state"] == "archived"
    # Still on the resource it was on; not assignable anew.
    assert res_tags(admin, "file", "arc1") == ["Arc.gone"]
    put_res(admin, "file", "arc2")
    native_error(admin.post("/v1/resources/file/arc2/tags", json={"tags": ["Arc.gone"]}), 422,
                 "rule_violation")


def test_state_filter(admin):
    tag(admin, "Flt.a")
    tag(admin, "Flt.d", state="deprecated")
    tag(admin, "Flt.r", state="draft")
    assert names(admin.get("/v1/tags", params={"prefix": "Flt.", "state": "deprecated"})) == \
        ["Flt.d"]
    assert names(admin.get("/v1/tags", params={"prefix": "Flt.", "state": "active"})) == ["Flt.a"]
    assert ok(admin.get("/v1/tags", params={"prefix": "Flt.", "state": "draft"}))["total"] == 1
    native_error(admin.get("/v1/tags", params={"state": "old"}), 400, "invalid_input")


# ---- states through LaunchDarkly and Immuta ----

def test_launchdarkly_refuses_and_hides(server, admin):
    ok(admin.put("/v1/resources/flag/lc%2Fchk", json={"name": "Checkout"}), 201)
    tag(admin, "ld-old", state="deprecated")
    r = requests.patch(server.url + "/api/v2/flags/lc/chk",
                       data=json.dumps({"instructions": [{"kind": "addTags", "values": ["ld-old"]}]}),
                       headers={"Authorization": ADMIN_TOKEN, "Content-Type":
                                "application/json; domain-model=launchdarkly.semanticpatch"})
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["code"] == "invalid_request" and "deprecated" in body["message"]
    assert body["id"] == r.headers["X-Request-Id"]
    # An archived tag is left out of the tag list as archived flags are, unless archived=true.
    tag(admin, "ld-arc")
    ok(admin.post("/v1/resources/flag/lc%2Fchk/tags", json={"tags": ["ld-arc"]}))
    ld = lambda **p: requests.get(server.url + "/api/v2/tags", params=p,
                                  headers={"Authorization": ADMIN_TOKEN}).json()["items"]
    assert "ld-arc" in ld(pre="ld-")
    ok(admin.patch("/v1/tags/ld-arc", json={"state": "archived"}))
    assert "ld-arc" not in ld(pre="ld-")
    assert "ld-arc" in ld(pre="ld-", archived="true")


def hapi(r, status):
    assert r.status_code == status, r.text
    body = r.json()
    assert body["statusCode"] == status and body["error"] and body["message"]
    return body


def test_immuta_deleted_and_refusals(server, admin, reader):
    ok(admin.post("/tag", json={"tags": [{"name": "Im.keep"}, {"name": "Im.arc"},
                                         {"name": "Im.dep"}]}))
    ok(admin.patch("/v1/tags/Im.arc", json={"state": "archived"}))
    ok(admin.patch("/v1/tags/Im.dep", json={"state": "deprecated", "replaced_by": "Im.keep"}))
    tag(admin, "Im.draft", state="draft")
    found = {t["name"]: t for t in ok(admin.get("/tag", params={"searchText": "Im."}))}
    # Archived is Immuta's deleted: not listed; a draft only for a steward.
    assert "Im.arc" not in found and "Im.keep" in found and "Im.draft" in found
    assert found["Im.keep"]["deleted"] is False
    seen = {t["name"] for t in ok(reader.get("/tag", params={"searchText": "Im."}))}
    assert "Im.draft" not in seen and "Im.keep" in seen
    for name, word in (("Im.arc", "archived"), ("Im.dep", "Im.keep"), ("Im.draft", "draft")):
        body = hapi(admin.post("/tag/datasource/31", json=[{"name": name}]), 422)
        assert word in body["message"], body
    assert ok(admin.get("/tag/datasource/31")) == []
    ok(admin.post("/tag/datasource/31", json=[{"name": "Im.keep"}]))


def test_oracle_refuses_and_keeps(admin):
    key = "D3D76EA99539F2BDF37FD80CB5D17B95F47087F4E518"
    put_res(admin, "file", key)
    tag(admin, "ora-old")
    tag(admin, "ora-new")
    path = "/documents/api/1.1/files/%s/tags" % key
    assert admin.put(path, json={"addTags": "ora-old"}).status_code == 200
    ok(admin.patch("/v1/tags/ora-old", json={"state": "deprecated", "replaced_by": "ora-new"}))
    # Kept through a POST that names it; refused where it is new.
    assert admin.post(path, json={"setTags": "ora-old,ora-new"}).status_code == 200
    assert admin.delete(path).status_code == 200
    r = admin.put(path, json={"addTags": "ora-old"})
    assert r.status_code == 400, r.text
    b = r.json()
    assert b["errorCode"] == "-1" and b["errorKey"] == "!csInvalidRequest"
    assert "ora-new" in b["errorMessage"]
    assert ok(admin.get(path, params={"directAssigned": 1}))["tags"] == ""


# ---- expiring assignments ----

def iso(ms):
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc) \
        .strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def changes_since(admin, rev):
    return ok(admin.get("/v1/changes", params={"since": rev, "limit": 1000}))["items"]


def test_expiry_bad_input(admin):
    put_res(admin, "file", "xbad")
    tag(admin, "Exp.bad")
    path = "/v1/resources/file/xbad/tags"
    now = int(time.time() * 1000)
    for body in ({"ttl": 0}, {"ttl": -1}, {"ttl": "5"}, {"ttl": 1.5},
                 {"expires_at": "tomorrow"}, {"expires_at": now - 1000},
                 {"expires_at": iso(now - 1000)}, {"expires_at": True},
                 {"expires_at": now + 60000, "ttl": 5}, {"ttl": 10 ** 10}):
        body["tags"] = ["Exp.bad"]
        native_error(admin.post(path, json=body), 400, "invalid_input")
    assert res_tags(admin, "file", "xbad") == []
    # Both forms work.
    ok(admin.post(path, json={"tags": ["Exp.bad"], "expires_at": iso(now + 3600000)}))
    assert admin.delete(path + "/Exp.bad").status_code == 204
    ok(admin.post(path, json={"tags": ["Exp.bad"], "expires_at": now + 3600000}))


def test_expiry_gone_from_every_read_at_once(admin):
    """Reads that begin at or after the expiry never see it: polled across the moment."""
    put_res(admin, "folder", "xf")
    put_res(admin, "file", "xf/a", parent=("folder", "xf"))
    tag(admin, "Exp.tmp")
    tag(admin, "Exp.keep")
    ok(admin.post("/v1/resources/folder/xf/tags", json={"tags": ["Exp.keep"]}))
    before = int(admin.get("/v1/tags").headers["X-Tagd-Revision"])
    r = admin.post("/v1/resources/folder/xf/tags", json={"tags": ["Exp.tmp"], "ttl": 2})
    ok(r)
    added_ms = int(time.time() * 1000)
    expires_ms = added_ms + 2000  # no later than the server's: it added first
    assert res_tags(admin, "folder", "xf") == ["Exp.keep", "Exp.tmp"]
    assert res_tags(admin, "file", "xf/a", effective=True) == ["Exp.keep", "Exp.tmp"]
    assert query(admin, "Exp.tmp") == ["file/xf/a", "folder/xf"]
    mid = iso(int(time.time() * 1000))
    seen_after = []
    while time.time() * 1000 < expires_ms + 1500:
        start = time.time() * 1000
        direct = res_tags(admin, "folder", "xf")
        eff = res_tags(admin, "file", "xf/a", effective=True)
        found = query(admin, "Exp.tmp")
        if start >= expires_ms + 5:  # 5 ms for the two clocks' reading order
            seen_after.append(("Exp.tmp" in direct, "Exp.tmp" in eff, found != []))
    assert seen_after, "no read after the expiry"
    assert all(s == (False, False, False) for s in seen_after), seen_after
    assert res_tags(admin, "file", "xf/a", effective=True) == ["Exp.keep"]
    assert query(admin, "Exp.tmp") == []
    # Removed by the system, and the past still shows it.
    rec = [c for c in changes_since(admin, before)
           if c["entity"] == "assignment" and c["op"] == "remove"]
    assert len(rec) == 1 and rec[0]["principal"] == "system", rec
    assert res_tags(admin, "folder", "xf", as_of=mid) == ["Exp.keep", "Exp.tmp"]
    assert res_tags(admin, "file", "xf/a", effective=True, as_of=mid) == ["Exp.keep", "Exp.tmp"]
    assert query(admin, "Exp.tmp", as_of=mid) == ["file/xf/a", "folder/xf"]
    assert res_tags(admin, "folder", "xf", as_of=rec[0]["revision"]) == ["Exp.keep"]


def test_engine_and_store_agree_around_expiry(admin):
    """The engine answers the plain reads, the store answers as_of the current revision."""
    put_res(admin, "folder", "dr")
    for i in range(4):
        put_res(admin, "folder", "dr/%d" % i, parent=("folder", "dr"))
        put_res(admin, "file", "dr/%d/f" % i, parent=("folder", "dr/%d" % i))
    for t in ("Dx.a", "Dx.b", "Dx.c"):
        tag(admin, t)
    t0 = time.time()  # no expiry below comes before t0 + 3 s
    ok(admin.post("/v1/resources/folder/dr/tags", json={"tags": ["Dx.a"], "ttl": 3}))
    ok(admin.post("/v1/resources/folder/dr%2F1/tags", json={"tags": ["Dx.a"]}))
    ok(admin.post("/v1/resources/folder/dr%2F2/tags", json={"tags": ["Dx.b"], "ttl": 3}))
    ok(admin.post("/v1/resources/file/dr%2F3%2Ff/tags", json={"tags": ["Dx.c", "Dx.b"], "ttl": 3}))
    ok(admin.post("/v1/resources/file/dr%2F0%2Ff/tags", json={"tags": ["Dx.c"]}))
    keys = [("folder", "dr")] + [("folder", "dr/%d" % i) for i in range(4)] + \
        [("file", "dr/%d/f" % i) for i in range(4)]

    def compare():
        rev = admin.get("/v1/tags").headers["X-Tagd-Revision"]
        out = {}
        for kind, key in keys:
            now = res_tags(admin, kind, key, effective=True)
            assert now == res_tags(admin, kind, key, effective=True, as_of=rev), (kind, key)
            out[(kind, key)] = now
        for expr in ("Dx.a", "Dx.b", "Dx.c", "Dx.*"):
            assert query(admin, expr) == query(admin, expr, as_of=rev), expr
        return out

    first = compare()
    if time.time() < t0 + 3:  # a slow (sanitized) build may have crossed the expiry already
        assert first[("file", "dr/2/f")] == ["Dx.a", "Dx.b"]
    time.sleep(max(0, t0 + 3.3 - time.time()))
    after = compare()
    assert after[("file", "dr/2/f")] == []
    assert after[("file", "dr/1/f")] == ["Dx.a"]
    assert after[("file", "dr/3/f")] == []
    assert after[("file", "dr/0/f")] == ["Dx.c"]


def test_restart_with_past_due_expiry():
    s = Server().start()
    try:
        admin = Api(s, ADMIN_TOKEN)
        put_res(admin, "file", "rs")
        tag(admin, "Rs.tmp")
        tag(admin, "Rs.keep")
        ok(admin.post("/v1/resources/file/rs/tags", json={"tags": ["Rs.keep"]}))
        before = int(admin.get("/v1/tags").headers["X-Tagd-Revision"])
        ok(admin.post("/v1/resources/file/rs/tags", json={"tags": ["Rs.tmp"], "ttl": 1}))
        assert s.stop() == 0
        time.sleep(1.3)
        s.start()
        assert res_tags(admin, "file", "rs") == ["Rs.keep"]
        assert query(admin, "Rs.tmp") == []
        rec = [c for c in changes_since(admin, before) if c["op"] == "remove"]
        assert [c["principal"] for c in rec] == ["system"]
    finally:
        s.cleanup()


def test_reads_wait_for_a_late_sweep():
    """With the sweep held back a second (a test knob of the write pipeline), reads made after
    the expiry wait for it instead of answering the expired assignment; the system endpoints,
    which read no assignment, do not wait."""
    s = Server(env={"TAGD_TEST_SWEEP_DELAY_MS": "1000"}).start()
    try:
        admin = Api(s, ADMIN_TOKEN)
        put_res(admin, "folder", "late")
        put_res(admin, "file", "late/f", parent=("folder", "late"))
        tag(admin, "Late.tmp")
        ok(admin.post("/v1/resources/folder/late/tags", json={"tags": ["Late.tmp"], "ttl": 1}))
        expires = time.time() + 1.0  # no earlier than the server's expiry
        assert res_tags(admin, "file", "late/f", effective=True) == ["Late.tmp"]
        time.sleep(max(0, expires + 0.05 - time.time()))
        t = time.time()
        assert requests.get(s.url + "/healthz", timeout=10).status_code == 200
        assert time.time() - t < 0.5
        t = time.time()
        assert res_tags(admin, "file", "late/f", effective=True) == []
        waited = time.time() - t
        assert waited > 0.5, waited
        assert res_tags(admin, "folder", "late") == []
        assert query(admin, "Late.tmp") == []
    finally:
        s.cleanup()
