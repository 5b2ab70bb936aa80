"""End-to-end tests of reads answered from the in-memory engine: tag lists (and the rendered
answers cached per loop thread, keyed by route, workspace, query string and engine revision).
Each test would fail if an answer outlived the revision it was rendered from or crossed from
one workspace to another."""
import pytest
import requests

from conftest import Api


@pytest.fixture(scope="module")
def orgs(server, admin):
    out = {}
    for name in ("Cache-A", "Cache-B"):
        r = admin.post("/v1/organizations", json={"name": name})
        assert r.status_code == 201, r.text
        org = r.json()["id"]
        r = admin.post("/v1/tokens", json={"name": "t", "rights": "tags:read,tags:write,admin",
                                           "organization_id": org})
        assert r.status_code == 201, r.text
        out[name] = Api(server, r.json()["token"])
    return out["Cache-A"], out["Cache-B"]


def names(r):
    assert r.status_code == 200, r.text
    return [t["name"] for t in r.json()["items"]]


def test_same_query_other_workspace_sees_its_own_tags(orgs):
    a, b = orgs
    assert a.post("/v1/tags", json={"name": "OnlyInA"}).status_code == 201
    assert b.post("/v1/tags", json={"name": "OnlyInB"}).status_code == 201
    # The same route and query string, many times over both loops, from both workspaces.
    for _ in range(6):
        assert names(a.get("/v1/tags?limit=50")) == ["OnlyInA"]
        assert names(b.get("/v1/tags?limit=50")) == ["OnlyInB"]


def test_a_write_is_seen_by_the_next_identical_read(orgs):
    a, _ = orgs
    r = a.post("/v1/tags", json={"name": "Hue", "color": "#000000"})
    assert r.status_code == 201, r.text
    tid = r.json()["id"]
    before = "#000000"
    for color in ("#111111", "#222222", "#333333"):
        for _ in range(4):
            got = a.get("/v1/tags?prefix=hue")
            assert got.status_code == 200
            assert [t["color"] for t in got.json()["items"]] == [before]
        before = color
        w = a.patch("/v1/tags/%d" % tid, json={"color": color})
        assert w.status_code == 200, w.text
        rev = int(w.headers["X-Tagd-Revision"])
        for _ in range(4):
            got = a.get("/v1/tags?prefix=hue")
            assert [t["color"] for t in got.json()["items"]] == [color]
            assert int(got.headers["X-Tagd-Revision"]) >= rev


def test_revision_header_names_the_snapshot(orgs):
    a, _ = orgs
    w = a.post("/v1/tags", json={"name": "RevCheck"})
    assert w.status_code == 201
    rev = int(w.headers["X-Tagd-Revision"])
    first = a.get("/v1/tags?q=revcheck")
    again = a.get("/v1/tags?q=revcheck")
    assert names(first) == names(again) == ["RevCheck"]
    assert int(first.headers["X-Tagd-Revision"]) >= rev
    assert first.headers["X-Tagd-Revision"] == again.headers["X-Tagd-Revision"]
    assert first.content == again.content


def test_deleted_and_archived_filters_from_the_engine(orgs):
    a, _ = orgs
    for n in ("Life.Alive", "Life.Gone", "Life.Old"):
        assert a.post("/v1/tags", json={"name": n}).status_code == 201
    gone = a.get("/v1/tags?prefix=life.gone").json()["items"][0]["id"]
    old = a.get("/v1/tags?prefix=life.old").json()["items"][0]["id"]
    assert a.delete("/v1/tags/%d" % gone).status_code in (200, 204)
    assert a.patch("/v1/tags/%d" % old, json={"archived": True}).status_code == 200
    assert names(a.get("/v1/tags?prefix=life.")) == ["Life.Alive"]
    assert names(a.get("/v1/tags?prefix=life.&archived=only")) == ["Life.Old"]
    assert names(a.get("/v1/tags?prefix=life.&deleted=only")) == ["Life.Gone"]
    assert names(a.get("/v1/tags?prefix=life.&deleted=true&archived=true")) == [
        "Life.Alive", "Life.Gone", "Life.Old"]
    r = a.get("/v1/tags?prefix=life.&deleted=true&archived=true&limit=2")
    assert names(r) == ["Life.Alive", "Life.Gone"] and r.json()["total"] == 3
    r2 = a.get("/v1/tags?prefix=life.&deleted=true&archived=true&limit=2&cursor=" +
               r.json()["next_cursor"])
    assert names(r2) == ["Life.Old"] and r2.json()["next_cursor"] is None


def test_min_revision_ahead_of_everything_is_503(orgs):
    a, _ = orgs
    r = a.get("/v1/tags", headers={"X-Tagd-Min-Revision": "999999999"})
    assert r.status_code == 503
    assert r.headers["Retry-After"] == "1"


# ---- token checks cached per loop thread (core_auth_token) ----

@pytest.fixture(scope="module")
def two_loops():
    from conftest import Server
    s = Server(extra_args=["--threads", "2"]).start()
    yield s
    s.cleanup()


def test_revoked_token_is_refused_at_once_on_every_loop(two_loops):
    from conftest import ADMIN_TOKEN
    admin = Api(two_loops, ADMIN_TOKEN)
    for _ in range(3):
        r = admin.post("/v1/tokens", json={"name": "warm", "rights": "tags:read"})
        assert r.status_code == 201
        h = {"Authorization": "Bearer " + r.json()["token"]}
        # A new connection per request: they land on both loops and fill both caches.
        for _ in range(12):
            assert requests.get(two_loops.url + "/v1/tags", headers=h).status_code == 200
        assert admin.delete("/v1/tokens/%d" % r.json()["id"]).status_code == 204
        for _ in range(12):
            assert requests.get(two_loops.url + "/v1/tags", headers=h).status_code == 401


def test_cache_can_be_turned_off(tmp_path):
    from conftest import ADMIN_TOKEN, Server
    s = Server(extra_args=["--auth-cache", "0"]).start()
    try:
        admin = Api(s, ADMIN_TOKEN)
        r = admin.post("/v1/tokens", json={"name": "nc", "rights": "tags:read"})
        tok = Api(s, r.json()["token"])
        assert tok.get("/v1/tags").status_code == 200
        assert admin.delete("/v1/tokens/%d" % r.json()["id"]).status_code == 204
        assert tok.get("/v1/tags").status_code == 401
    finally:
        s.cleanup()


def test_effective_tags_give_each_entry_its_own_who_when_and_where(server, admin):
    """The effective list repeats a piece (who added it, when, where from) it already wrote
    for a neighbour with the same inputs: every entry must still equal the one on the
    resource that carries it."""
    r = admin.post("/v1/tokens", json={"name": "second-writer", "rights": "tags:read,tags:assign"})
    assert r.status_code == 201, r.text
    other = Api(server, r.json()["token"])
    assert admin.put("/v1/resources/folder/pa", json={}).status_code == 201
    assert admin.put("/v1/resources/folder/pb",
                     json={"parent": {"kind": "folder", "key": "pa"}}).status_code == 201
    assert admin.put("/v1/resources/file/pf",
                     json={"parent": {"kind": "folder", "key": "pb"}}).status_code == 201
    adds = [("folder/pa", admin, ["Piece.a1", "Piece.a2"], "ctx-a"),
            ("folder/pa", other, ["Piece.a3"], "ctx-a"),
            ("folder/pb", admin, ["Piece.b1", "Piece.b2"], "manual"),
            ("folder/pb", admin, ["Piece.b3"], "ctx-b"),
            ("file/pf", admin, ["Piece.f1"], "manual"),
            ("file/pf", other, ["Piece.f2", "Piece.f3"], "manual"),
            ("file/pf", admin, ["Piece.f4"], "ctx-f")]
    r = admin.post("/v1/tags", json={"tags": [{"name": t} for a in adds for t in a[2]]})
    assert r.status_code == 201, r.text
    for path, who, tags, ctx in adds:
        r = who.post("/v1/resources/%s/tags" % path, json={"tags": tags, "context": ctx})
        assert r.status_code == 200, r.text
    own = {}
    for path in ("folder/pa", "folder/pb", "file/pf"):
        r = admin.get("/v1/resources/%s/tags" % path)
        assert r.status_code == 200, r.text
        for item in r.json()["items"]:
            own[item["name"]] = (path, item)
    r = admin.get("/v1/resources/file/pf/tags?effective=true")
    assert r.status_code == 200, r.text
    eff = r.json()["items"]
    assert sorted(a["name"] for a in eff) == sorted(own)
    assert len({(a["context"], a["added_by"]) for a in eff}) >= 4
    for item in eff:
        path, mine = own[item["name"]]
        kind, key = path.split("/")
        want = dict(mine, inherited_from=None if path == "file/pf" else {"kind": kind, "key": key})
        assert item == want
