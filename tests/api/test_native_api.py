"""End-to-end tests of the native /v1 API beyond test_native.py: resource pagination, tag
filters, groups, users, purge, tokens, assignments' rules and the error statuses."""
import re
import threading

import pytest
import requests

from conftest import ADMIN_TOKEN, Api


def walk(api, path, limit):
    """Follows next_cursor to the end; returns (items, pages)."""
    items, pages, cursor = [], 0, None
    while True:
        sep = "&" if "?" in path else "?"
        q = path + sep + "limit=%d" % limit + ("&cursor=" + cursor if cursor else "")
        r = api.get(q)
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["items"]) <= limit
        items += body["items"]
        pages += 1
        cursor = body["next_cursor"]
        if not cursor:
            return items, body, pages
        assert pages < 1000


# ---- resources ----

def test_resources_pagination_to_the_end(admin):
    n = 53
    for i in range(n):
        parent = {"kind": "pgdir", "key": "odd" if i % 2 else "even"}
        r = admin.put("/v1/resources/pgfile/f%03d" % i, json={"name": "File %d" % i, "parent": parent})
        assert r.status_code == 201, r.text
    items, last, pages = walk(admin, "/v1/resources?kind=pgfile", 7)
    keys = [x["key"] for x in items]
    assert len(keys) == n and len(set(keys)) == n
    assert set(keys) == {"f%03d" % i for i in range(n)}
    assert pages == (n + 6) // 7
    assert last["total"] == n
    # the cursor follows ids: the order is stable
    ids = [x["id"] for x in items]
    assert ids == sorted(ids)
    # filters combine with paging
    odd, _, _ = walk(admin, "/v1/resources?kind=pgfile&parent=pgdir/odd", 5)
    assert sorted(x["key"] for x in odd) == ["f%03d" % i for i in range(n) if i % 2]
    assert all(x["parent"] == {"kind": "pgdir", "key": "odd"} for x in odd)
    # exactly one page: no cursor
    one = admin.get("/v1/resources?kind=pgdir&limit=2").json()
    assert len(one["items"]) == 2 and one["next_cursor"] is None and one["total"] == 2


def test_resources_list_by_tag_and_errors(admin):
    admin.post("/v1/resources/lt/a/tags", json={"tags": ["LT.x"], "create_missing": True})
    admin.post("/v1/resources/lt/b/tags", json={"tags": ["LT.y"], "create_missing": True})
    r = admin.get("/v1/resources?tag=LT.x").json()
    assert [x["key"] for x in r["items"]] == ["a"]
    assert admin.get("/v1/resources?tag=No.such.tag").status_code == 400
    assert admin.get("/v1/resources?parent=nokey").status_code == 400
    assert admin.get("/v1/resources?parent=lt/missing").status_code == 400
    assert admin.get("/v1/resources?limit=0").status_code == 400
    assert admin.get("/v1/resources?limit=1001").status_code == 400
    assert admin.get("/v1/resources?cursor=bogus").status_code == 400
    r = admin.get("/v1/resources?archived=maybe")
    assert r.status_code == 400 and r.json()["error"]["details"]["field"] == "archived"


def test_resources_archived_filter(admin):
    admin.put("/v1/resources/arc/live", json={})
    admin.put("/v1/resources/arc/old", json={"archived": True})
    keys = lambda q: [x["key"] for x in admin.get("/v1/resources?kind=arc" + q).json()["items"]]
    assert keys("") == ["live"]
    assert keys("&archived=false") == ["live"]
    assert keys("&archived=true") == ["live", "old"]
    assert keys("&archived=only") == ["old"]


def test_resource_crud(admin):
    r = admin.put("/v1/resources/doc/crud1", json={"name": "One"})
    assert r.status_code == 201 and r.json()["name"] == "One" and r.json()["version"] == 1
    assert r.headers["ETag"] == '"1"'
    r = admin.put("/v1/resources/doc/crud1", json={"name": "Uno"})
    assert r.status_code == 200 and r.json()["name"] == "Uno" and r.json()["version"] == 2
    g = admin.get("/v1/resources/doc/crud1")
    assert g.status_code == 200 and g.json()["name"] == "Uno"
    assert admin.put("/v1/resources/doc/crud1", json={"bogus": 1}).status_code == 400
    assert admin.put("/v1/resources/doc/crud1", json={"parent": "x"}).status_code == 400
    assert admin.put("/v1/resources/Bad Kind/k", json={}).status_code == 400
    assert admin.put("/v1/resources/doc/crud1", json={"parent": {"kind": "doc", "key": "crud1"}}).status_code == 422
    admin.post("/v1/resources/doc/crud1/tags", json={"tags": ["Crud.t"], "create_missing": True})
    assert admin.delete("/v1/resources/doc/crud1").status_code == 204
    assert admin.get("/v1/resources/doc/crud1").status_code == 404
    assert admin.delete("/v1/resources/doc/crud1").status_code == 404
    # the removal of its assignment is in the change log
    ch = admin.get("/v1/changes?limit=1000").json()["items"]
    assert any(c["entity"] == "assignment" and c["op"] == "remove" and
               c["before"]["resource_id"] == r.json()["id"] for c in ch), \
        sorted({(c["entity"], c["op"]) for c in ch})
    assert admin.get("/v1/tags/Crud.t/resources").json()["items"] == []


def test_resource_delete_detaches_children(admin):
    admin.put("/v1/resources/dir/top", json={})
    admin.put("/v1/resources/dir/kid", json={"parent": {"kind": "dir", "key": "top"}})
    admin.post("/v1/resources/dir/top/tags", json={"tags": ["Det.t"], "create_missing": True})
    assert admin.delete("/v1/resources/dir/top").status_code == 204
    kid = admin.get("/v1/resources/dir/kid").json()
    assert kid["parent"] is None
    assert admin.get("/v1/resources/dir/kid/tags?effective=true").json()["items"] == []


# ---- tags: filters, purge, etags ----

def test_tag_filters(server, admin):
    admin.post("/v1/tags", json={"tags": [
        {"name": "Flt.alpha", "source": "scanner"}, {"name": "Flt.beta"},
        {"name": "Flt.gamma", "archived": True}, {"name": "Flt.Alphabet"}]})
    names = lambda q: [t["name"] for t in admin.get("/v1/tags?" + q).json()["items"]]
    # case-insensitive prefix, sorted by folded name; archived ones left out
    assert names("prefix=flt.") == ["Flt.alpha", "Flt.Alphabet", "Flt.beta"]
    assert names("prefix=Flt.&q=ALPH") == ["Flt.alpha", "Flt.Alphabet"]
    assert names("prefix=Flt.&source=scanner") == ["Flt.alpha"]
    assert names("prefix=Flt.&archived=only") == ["Flt.gamma"]
    assert "Flt.gamma" in names("prefix=Flt.&archived=true")
    assert admin.get("/v1/tags?archived=maybe").status_code == 400
    assert admin.get("/v1/tags?deleted=maybe").status_code == 400
    admin.post("/v1/resources/fltkind/r1/tags", json=["Flt.beta"])
    assert names("prefix=Flt.&kind=fltkind") == ["Flt.beta"]
    assert names("prefix=Flt.&kind=otherkind") == []
    g = admin.post("/v1/groups", json={"name": "FltGroup"}).json()
    admin.put("/v1/groups/%d/tags" % g["id"], json=["Flt.beta", "Flt.alpha"])
    assert sorted(names("group=%d" % g["id"])) == ["Flt.alpha", "Flt.beta"]
    total = admin.get("/v1/tags?prefix=Flt.&limit=1").json()
    assert total["total"] == 3 and len(total["items"]) == 1 and total["next_cursor"]


def test_tag_get_errors_and_etag(admin):
    assert admin.get("/v1/tags/999999").status_code == 404
    t = admin.post("/v1/tags", json={"name": "Etag.one"}).json()
    r = admin.get("/v1/tags/%d" % t["id"])
    assert r.headers["ETag"] == '"1"'
    assert admin.get("/v1/tags/tag_%d" % t["id"]).json()["name"] == "Etag.one"
    r = admin.delete("/v1/tags/Etag.one", headers={"If-Match": '"7"'})
    assert r.status_code == 412 and r.json()["error"]["code"] == "precondition_failed"
    r = admin.patch("/v1/tags/Etag.one", json={"color": "#123"}, headers={"If-Match": 'W/"1"'})
    assert r.status_code == 200 and r.json()["color"] == "#123"  # kept as sent
    assert admin.delete("/v1/tags/Etag.one", headers={"If-Match": '"2"'}).status_code == 204
    assert admin.patch("/v1/tags/Etag.one", json={"name": "a..b"}).status_code == 400
    assert admin.patch("/v1/tags/Nope.nope", json={"color": "#123456"}).status_code == 404


def test_rename_conflict_and_l10n(admin):
    admin.post("/v1/tags", json={"tags": [{"name": "RnA.x"}, {"name": "RnB"}]})
    r = admin.patch("/v1/tags/RnA", json={"name": "rnb"})
    assert r.status_code == 409
    assert admin.get("/v1/tags/RnA.x").status_code == 200
    r = admin.patch("/v1/tags/RnB", json={"l10n": {"de-DE": "Rn B", "fr-FR": "Rn Bé"},
                                           "display_name": "Our B"})
    assert r.status_code == 200
    assert r.json()["l10n"] == {"de-DE": "Rn B", "fr-FR": "Rn Bé"}
    assert r.json()["display_name"] == "Our B"
    assert admin.patch("/v1/tags/RnB", json={"l10n": "de"}).status_code == 400


def test_purge_is_admin_only(server, admin):
    admin.post("/v1/tags", json={"name": "Purge.me.deep"})
    admin.post("/v1/resources/pf/one/tags", json=["Purge.me.deep"])
    writer = Api(server, server.token(["tags:read", "tags:write", "tags:assign"]))
    r = writer.delete("/v1/tags/Purge?recursive=true&purge=true")
    assert r.status_code == 403
    assert admin.get("/v1/tags/Purge.me.deep").status_code == 200
    # soft delete by a writer, then purge by the admin
    assert writer.delete("/v1/tags/Purge?recursive=true").status_code == 204
    assert admin.get("/v1/tags/Purge.me").json()["deleted"] is True
    assert admin.delete("/v1/tags/Purge?recursive=true&purge=true").status_code == 204
    for n in ("Purge", "Purge.me", "Purge.me.deep"):
        assert admin.get("/v1/tags/" + n).status_code == 404
    assert "Purge" not in [t["name"] for t in admin.get("/v1/tags?deleted=true&limit=1000").json()["items"]]
    assert admin.get("/v1/resources/pf/one/tags").json()["items"] == []
    # the name is free again
    assert admin.post("/v1/tags", json={"name": "Purge.me"}).status_code == 201
    assert admin.delete("/v1/tags/Purge?purge=maybe").status_code == 400


def test_ids_are_never_reused(admin):
    """A purged tag, a deleted resource or group keeps its id for good: a client holding it,
    the history and the change feed never find another object under it (SQLite hands the
    largest rowid out again once its row is gone, unless told otherwise)."""
    r = admin.post("/v1/tags", json={"name": "Reuse.gone"})
    assert r.status_code == 201, r.text
    gone = r.json()["id"]
    assert admin.delete("/v1/tags/%d?recursive=true&purge=true" % r.json()["parent_id"]
                        ).status_code == 204
    r = admin.post("/v1/tags", json={"name": "ReuseNew"})
    assert r.status_code == 201, r.text
    assert r.json()["id"] > gone
    changes = admin.get("/v1/changes?limit=1000").json()["items"]
    assert [c["op"] for c in changes if c["entity"] == "tag" and c["entity_id"] == r.json()["id"]
            ] == ["create"]

    r = admin.put("/v1/resources/reuse/gone", json={})
    assert r.status_code == 201, r.text
    gone = r.json()["id"]
    assert admin.delete("/v1/resources/reuse/gone").status_code == 204
    r = admin.put("/v1/resources/reuse/new", json={})
    assert r.status_code == 201, r.text
    assert r.json()["id"] > gone

    r = admin.post("/v1/groups", json={"name": "ReuseGone"})
    assert r.status_code == 201, r.text
    gone = r.json()["id"]
    assert admin.delete("/v1/groups/%d" % gone).status_code == 204
    r = admin.post("/v1/groups", json={"name": "ReuseNew"})
    assert r.status_code == 201, r.text
    assert r.json()["id"] > gone


def test_restore_errors(admin):
    assert admin.post("/v1/tags/No.such:restore").status_code == 404
    admin.post("/v1/tags", json={"name": "Rst"})
    r = admin.post("/v1/tags/Rst:restore")
    assert r.status_code == 200 and r.json()["version"] == 1  # a live tag: nothing changes
    assert admin.delete("/v1/tags/Rst").status_code == 204
    r = admin.post("/v1/tags", json={"name": "rst"})
    assert r.status_code == 409 and "restore" in r.json()["error"]["message"]
    r = admin.post("/v1/tags/Rst:restore")
    assert r.status_code == 200 and r.json()["deleted"] is False and r.json()["version"] == 3


# ---- groups ----

def test_groups_crud_order_l10n(server, admin):
    admin.post("/v1/tags", json={"tags": [{"name": "Col.red"}, {"name": "Col.green"}, {"name": "Col.blue"}]})
    r = admin.post("/v1/groups", json={"name": "Colors", "l10n": {"de-DE": "Farben"}, "position": 3})
    assert r.status_code == 201, r.text
    g = r.json()
    assert g["name"] == "Colors" and g["l10n"] == {"de-DE": "Farben"} and g["position"] == 3
    assert g["exclusive"] is False and g["tags"] == [] and g["version"] == 1
    assert r.headers["Location"] == "/v1/groups/%d" % g["id"]
    assert admin.post("/v1/groups", json={"name": "COLORS"}).status_code == 409
    assert admin.post("/v1/groups", json={"name": ""}).status_code == 400
    assert admin.post("/v1/groups", json={"name": "X", "exclusive": "yes"}).status_code == 400
    assert admin.post("/v1/groups", json={"name": "X", "l10n": []}).status_code == 400
    assert admin.post("/v1/groups", json={"name": "X", "other": 1}).status_code == 400
    gid = g["id"]
    ids = {n: admin.get("/v1/tags/Col." + n).json()["id"] for n in ("red", "green", "blue")}
    r = admin.put("/v1/groups/%d/tags" % gid, json={"tags": ["Col.blue", ids["red"], "Col.green"]})
    assert r.status_code == 200
    assert r.json()["tags"] == [ids["blue"], ids["red"], ids["green"]]
    assert admin.get("/v1/tags/Col.red").json()["group_id"] == gid
    # re-order, dropping one
    r = admin.put("/v1/groups/%d/tags" % gid, json=["Col.green", "Col.blue"])
    assert r.json()["tags"] == [ids["green"], ids["blue"]]
    assert admin.get("/v1/tags/Col.red").json()["group_id"] is None
    assert admin.put("/v1/groups/%d/tags" % gid, json=["No.such"]).status_code == 422
    assert admin.put("/v1/groups/%d/tags" % gid, json={"tags": "Col.red"}).status_code == 400
    assert admin.get("/v1/groups/%d" % gid).json()["tags"] == [ids["green"], ids["blue"]]
    # patch with If-Match
    r = admin.patch("/v1/groups/%d" % gid, json={"exclusive": True}, headers={"If-Match": '"99"'})
    assert r.status_code == 412
    r = admin.patch("/v1/groups/grp_%d" % gid, json={"exclusive": True, "l10n": {"fr-FR": "Couleurs"}})
    assert r.status_code == 200
    assert r.json()["exclusive"] is True and r.json()["l10n"] == {"fr-FR": "Couleurs"}
    assert r.json()["version"] == g["version"] + 1
    assert r.headers["ETag"] == '"%d"' % (g["version"] + 1)
    listed = admin.get("/v1/groups").json()
    assert any(x["id"] == gid and x["tags"] == [ids["green"], ids["blue"]] for x in listed["items"])
    assert listed["total"] == len(listed["items"])
    # rights
    ro = Api(server, server.token(["tags:read"]))
    assert ro.get("/v1/groups/%d" % gid).status_code == 200
    assert ro.post("/v1/groups", json={"name": "Nope"}).status_code == 403
    assert ro.delete("/v1/groups/%d" % gid).status_code == 403
    # delete: tags stay, without a group
    assert admin.delete("/v1/groups/%d" % gid).status_code == 204
    assert admin.get("/v1/groups/%d" % gid).status_code == 404
    assert admin.delete("/v1/groups/%d" % gid).status_code == 404
    assert admin.get("/v1/groups/abc").status_code == 404
    t = admin.get("/v1/tags/Col.green").json()
    assert t["group_id"] is None and t["deleted"] is False


def test_exclusive_group_in_one_request(admin):
    admin.post("/v1/tags", json={"tags": [{"name": "Env.a"}, {"name": "Env.b"}]})
    g = admin.post("/v1/groups", json={"name": "Env", "exclusive": True}).json()
    admin.put("/v1/groups/%d/tags" % g["id"], json=["Env.a", "Env.b"])
    r = admin.post("/v1/resources/svc/x/tags", json=["Env.a", "Env.b"])
    assert r.status_code == 409
    # rolled back whole: not even the resource the request would have created
    assert admin.get("/v1/resources/svc/x").status_code == 404


# ---- assignments ----

def test_assignment_atomicity_and_limit(server, admin):
    admin.post("/v1/tags", json={"name": "Asg.ok"})
    r = admin.post("/v1/resources/at/one/tags", json={"tags": ["Asg.ok", "Asg..bad"], "create_missing": True})
    assert r.status_code == 400
    assert r.json()["error"]["details"]["field"] == "tags[1]"
    assert admin.get("/v1/resources/at/one").status_code == 404  # nothing written, not even it
    r = admin.post("/v1/resources/at/one/tags", json={"tags": ["Asg.ok", "Asg.missing"]})
    assert r.status_code == 422
    assert r.json()["error"]["details"]["field"] == "tags[1]"
    assert admin.get("/v1/resources/at/one").status_code == 404
    assert admin.post("/v1/resources/at/one/tags", json={"tags": "Asg.ok"}).status_code == 400
    assert admin.post("/v1/resources/at/one/tags", json={"tags": [1.5]}).status_code == 400
    assert admin.post("/v1/resources/at/one/tags", json={"nope": []}).status_code == 400
    assert admin.post("/v1/resources/at/one/tags", json={"tags": [], "context": ""}).status_code == 400
    # create_missing needs tags:write
    assigner = Api(server, server.token(["tags:read", "tags:assign"]))
    r = assigner.post("/v1/resources/at/one/tags", json={"tags": ["Asg.new"], "create_missing": True})
    assert r.status_code == 403
    r = assigner.post("/v1/resources/at/one/tags", json={"tags": ["Asg.ok"], "context": "scan"})
    assert r.status_code == 200
    assert r.json()["items"][0]["context"] == "scan"
    # adding twice keeps one
    assert len(admin.post("/v1/resources/at/one/tags", json=["Asg.ok"]).json()["items"]) == 1
    # PUT replaces
    r = admin.put("/v1/resources/at/one/tags", json={"tags": ["Asg.a", "Asg.b"], "create_missing": True})
    assert sorted(a["name"] for a in r.json()["items"]) == ["Asg.a", "Asg.b"]
    r = admin.put("/v1/resources/at/one/tags", json=[])
    assert r.status_code == 200 and r.json()["items"] == []
    assert admin.delete("/v1/resources/at/none/tags/Asg.a").status_code == 404
    assert admin.delete("/v1/resources/at/one/tags/No.such").status_code == 404


def test_per_resource_limit():
    from conftest import Server
    s = Server(extra_args=["--max-tags-per-resource", "3"]).start()
    try:
        a = Api(s, ADMIN_TOKEN)
        r = a.post("/v1/resources/lim/r/tags", json={"tags": ["L.a", "L.b", "L.c"], "create_missing": True})
        assert r.status_code == 200
        r = a.post("/v1/resources/lim/r/tags", json={"tags": ["L.d"], "create_missing": True})
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "rule_violation"
        assert len(a.get("/v1/resources/lim/r/tags").json()["items"]) == 3
        assert a.get("/v1/tags/L.d").status_code == 404  # rolled back with the request
    finally:
        s.cleanup()


def test_deleted_tags_vanish_from_assignments(admin):
    admin.post("/v1/resources/dv/r/tags", json={"tags": ["Dv.a", "Dv.b"], "create_missing": True})
    admin.delete("/v1/tags/Dv.a")
    assert [a["name"] for a in admin.get("/v1/resources/dv/r/tags").json()["items"]] == ["Dv.b"]
    assert admin.post("/v1/resources/dv/r/tags", json=["Dv.a"]).status_code == 422
    admin.post("/v1/tags/Dv.a:restore")
    assert sorted(a["name"] for a in admin.get("/v1/resources/dv/r/tags").json()["items"]) == ["Dv.a", "Dv.b"]


def test_tag_usage_pagination(admin):
    for i in range(12):
        admin.post("/v1/resources/use/r%02d/tags" % i, json={"tags": ["Use.t%d" % (i % 2)], "create_missing": True})
    items, _, pages = walk(admin, "/v1/tags/Use/resources?descendants=true", 5)
    assert sorted(x["key"] for x in items) == ["r%02d" % i for i in range(12)]
    assert pages == 3
    assert admin.get("/v1/tags/Use/resources").json()["items"] == []
    items, _, _ = walk(admin, "/v1/tags/Use.t1/resources", 4)
    assert sorted(x["key"] for x in items) == ["r%02d" % i for i in range(12) if i % 2]



def test_tag_usage_has_total(admin):
    """docs/api.md promises "total" on every list: /v1/tags/{id}/resources lacked it
    (issue 18). It counts every resource of the list, on every page, whatever the limit."""
    for i in range(7):
        admin.post("/v1/resources/tot/r%d/tags" % i, json={"tags": ["Tot.t%d" % (i % 3)], "create_missing": True})
    for path, want in (("/v1/tags/Tot/resources?descendants=true", 7), ("/v1/tags/Tot.t0/resources", 3),
                       ("/v1/tags/Tot/resources", 0)):
        cursor, seen = None, 0
        while True:
            r = admin.get(path, params={"limit": 2, **({"cursor": cursor} if cursor else {})})
            assert r.status_code == 200, r.text
            assert r.json()["total"] == want, (path, r.json())
            seen += len(r.json()["items"])
            cursor = r.json()["next_cursor"]
            if not cursor:
                break
        assert seen == want
    admin.delete("/v1/resources/tot/r0/tags/Tot.t0")
    assert admin.get("/v1/tags/Tot.t0/resources").json()["total"] == 2
    admin.delete("/v1/tags/Tot.t1")
    assert admin.get("/v1/tags/Tot.t1/resources").json() == {"items": [], "next_cursor": None, "total": 0}


# ---- users and tokens ----

def test_users(server, admin):
    r = admin.post("/v1/users", json={"login": "alice", "password": "correct horse battery", "rights": ["tags:read", "tags:write"]})
    assert r.status_code == 201, r.text
    u = r.json()
    assert u["login"] == "alice" and sorted(u["rights"]) == ["tags:read", "tags:write"]
    assert "password" not in u and "password_hash" not in u
    r = admin.post("/v1/users", json={"login": "ALICE", "password": "another good one"})
    assert r.status_code == 409, r.text
    r = admin.post("/v1/users", json={"login": "bob", "password": "123"})
    assert r.status_code == 400 and r.json()["error"]["details"]["field"] == "password"
    assert admin.post("/v1/users", json={"login": "", "password": "long enough pw"}).status_code == 400
    assert admin.post("/v1/users", json={"login": "carol"}).status_code == 400
    assert admin.post("/v1/users", json={"login": "carol", "password": "long enough pw", "rights": ["root"]}).status_code == 400
    assert admin.post("/v1/users", json={"login": "carol", "password": "long enough pw", "x": 1}).status_code == 400
    listed = admin.get("/v1/users").json()["items"]
    logins = [x["login"] for x in listed]
    assert "alice" in logins and "bob" not in logins and "carol" not in logins
    assert all("password" not in x and "password_hash" not in x for x in listed)
    writer = Api(server, server.token(["tags:read", "tags:write"]))
    assert writer.get("/v1/users").status_code == 403
    assert writer.post("/v1/users", json={"login": "dave", "password": "long enough pw"}).status_code == 403


def test_install_admin_manages_every_organizations_tokens(server, admin):
    """The installation's admin issues tokens for any organization, and so lists and revokes
    them there too (an organization's own admin stays within its organization)."""
    org = admin.post("/v1/organizations", json={"name": "TokOrg"})
    assert org.status_code == 201, org.text
    org = org.json()["id"]
    r = admin.post("/v1/tokens", json={"name": "theirs", "rights": ["tags:read"],
                                       "organization_id": org})
    assert r.status_code == 201, r.text
    theirs = r.json()
    r = admin.post("/v1/tokens", json={"name": "their-admin", "rights": ["admin", "tags:read"],
                                       "organization_id": org})
    assert r.status_code == 201, r.text
    their_admin = Api(server, r.json()["token"])
    user = Api(server, theirs["token"])
    assert user.get("/v1/tags").status_code == 200

    listed = admin.get("/v1/tokens", params={"organization_id": org})
    assert listed.status_code == 200, listed.text
    assert sorted(k["name"] for k in listed.json()["items"]) == ["their-admin", "theirs"]
    assert all(k["organization_id"] == org for k in listed.json()["items"])
    assert "theirs" not in [k["name"] for k in admin.get("/v1/tokens").json()["items"]]
    assert admin.get("/v1/tokens", params={"organization_id": "org_999999"}).status_code == 404
    assert admin.get("/v1/tokens", params={"organization_id": "acme"}).status_code == 400
    # Their admin sees its own organization, not the installation's.
    own = admin.get("/v1/tokens").json()["items"][0]
    assert their_admin.get("/v1/tokens", params={"organization_id": own["organization_id"]}
                           ).status_code == 403
    assert their_admin.delete("/v1/tokens/%d" % own["id"]).status_code == 404

    assert admin.delete("/v1/tokens/%d" % theirs["id"]).status_code == 204
    assert user.get("/v1/tags").status_code == 401
    assert admin.delete("/v1/tokens/%d" % theirs["id"]).status_code == 404


def test_tokens_rights_and_errors(server, admin):
    r = admin.post("/v1/tokens", json={"name": "multi", "rights": ["tags:read", "tags:assign"]})
    assert r.status_code == 201
    t = r.json()
    assert sorted(t["rights"]) == ["tags:assign", "tags:read"]
    api = Api(server, t["token"])
    assert api.put("/v1/resources/tk/one", json={}).status_code == 201
    assert api.post("/v1/tags", json={"name": "Tk"}).status_code == 403
    assert api.get("/v1/tokens").status_code == 403
    assert admin.post("/v1/tokens", json={"name": "x", "rights": ["fly"]}).status_code == 400
    assert admin.post("/v1/tokens", json={"rights": ["tags:read"]}).status_code == 201  # name optional
    assert admin.post("/v1/tokens", json={"name": "x", "expires_at": "tomorrow"}).status_code == 400
    r = admin.post("/v1/tokens", json={"name": "later", "expires_at": "2999-01-01T00:00:00Z"})
    assert r.status_code == 201 and r.json()["expires_at"].startswith("2999-01-01")
    assert admin.delete("/v1/tokens/999999").status_code == 404
    assert admin.delete("/v1/tokens/abc").status_code == 404
    r = requests.get(server.url + "/v1/tags", headers={"Authorization": "Basic abc"})
    assert r.status_code == 401
    assert r.headers.get("WWW-Authenticate", "").startswith("Bearer")


# ---- changes ----

def test_changes_paging_and_errors(admin):
    for i in range(5):
        admin.post("/v1/tags", json={"name": "Chg.t%d" % i})
    all_items, since = [], 0
    while True:
        body = admin.get("/v1/changes?since=%d&limit=3" % since).json()
        if not body["items"]:
            break
        all_items += body["items"]
        assert body["next_since"] == body["items"][-1]["revision"]
        since = body["next_since"]
    keys = [(c["revision"], c["seq"]) for c in all_items]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert admin.get("/v1/changes?since=-1").status_code == 400
    assert admin.get("/v1/changes?limit=0").status_code == 400
    assert admin.get("/v1/changes?since=abc").status_code == 400


def test_error_shape_everywhere(server, admin):
    cases = [admin.get("/v1/tags/none.such"), admin.post("/v1/tags", json={"name": ""}),
             admin.get("/v1/nothing"), admin.request("PUT", "/v1/tags"),
             requests.get(server.url + "/v1/users")]
    for r in cases:
        e = r.json()["error"]
        assert set(e) == {"code", "message", "details", "request_id"}, e
        assert e["request_id"] == r.headers["X-Request-Id"]
        assert r.headers["Content-Type"].startswith("application/json")


def test_change_log_stays_json_for_odd_names(admin):
    # A tag name with a quote and a backslash went into the assignment's change record
    # unescaped, which broke /v1/changes for everyone.
    since = admin.get("/v1/changes?limit=1000").json()["next_since"]
    name = 'Odd.q"uo\\te'
    r = admin.post("/v1/resources/odd/r/tags", json={"tags": [name], "create_missing": True})
    assert r.status_code == 200, r.text
    r = admin.get("/v1/changes?since=%d" % since)
    assert r.status_code == 200
    items = r.json()["items"]
    add = [c for c in items if c["entity"] == "assignment" and c["op"] == "add"]
    assert add and add[0]["after"]["tag"] == name.lower()


def test_changes_page_never_splits_a_revision(admin):
    # A batch writes several records under one revision. Paging by since=next_since used to
    # cut such a revision at `limit` and lose its remaining records.
    since = admin.get("/v1/changes?limit=1000").json()["next_since"]
    r = admin.post("/v1/tags", json={"tags": [{"name": "Split.t%d" % i} for i in range(5)]})
    assert r.status_code == 201
    rev = int(r.headers["X-Tagd-Revision"])
    admin.post("/v1/tags", json={"name": "Split.after"})
    body = admin.get("/v1/changes?since=%d&limit=2" % since).json()
    # the whole revision (Split itself and its five children) comes in one page
    assert [c["revision"] for c in body["items"]] == [rev] * 6
    assert [c["seq"] for c in body["items"]] == list(range(1, 7))
    assert body["next_since"] == rev
    nxt = admin.get("/v1/changes?since=%d&limit=2" % rev).json()
    assert [c["after"]["name"] for c in nxt["items"]] == ["Split.after"]


def test_names_unique_after_nfc_and_case_fold(admin):
    composed, decomposed = "Caf\u00e9.menu", "Cafe\u0301.menu"
    r = admin.post("/v1/tags", json={"name": composed})
    assert r.status_code == 201
    assert r.json()["name"] == composed
    r = admin.post("/v1/tags", json={"name": decomposed})
    assert r.status_code == 409, r.text
    assert admin.get("/v1/tags/CAF\u00c9.MENU").json()["name"] == composed
    assert admin.post("/v1/tags", json={"name": "Stra\u00dfe"}).status_code == 201
    assert admin.post("/v1/tags", json={"name": "STRASSE"}).status_code == 409
    # the spelling given first is kept; lookups fold
    assert admin.get("/v1/tags/strasse").json()["name"] == "Stra\u00dfe"


def test_exclusive_group_on_replace(admin):
    admin.post("/v1/tags", json={"tags": [{"name": "Tier.gold"}, {"name": "Tier.silver"}, {"name": "Other"}]})
    g = admin.post("/v1/groups", json={"name": "Tier", "exclusive": True}).json()
    admin.put("/v1/groups/%d/tags" % g["id"], json=["Tier.gold", "Tier.silver"])
    assert admin.put("/v1/resources/acct/a1/tags", json=["Tier.gold", "Tier.silver"]).status_code == 409
    assert admin.put("/v1/resources/acct/a1/tags", json=["Tier.gold", "Other"]).status_code == 200
    # swapping the group's tag in one PUT is fine
    r = admin.put("/v1/resources/acct/a1/tags", json=["Tier.silver", "Other"])
    assert r.status_code == 200
    assert sorted(a["name"] for a in r.json()["items"]) == ["Other", "Tier.silver"]
