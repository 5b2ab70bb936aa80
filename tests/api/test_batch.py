"""POST /v1/batch: many native writes in one request, atomic by default, each on its own
with mode=partial, only foretold with dry_run=true (docs/batch.md)."""
import json

import requests

from conftest import ADMIN_TOKEN, Api, Server, raw_request


def changes_since(admin, since):
    return admin.get("/v1/changes?since=%d&limit=1000" % since).json()["items"]


def now_rev(admin):
    """The newest revision (a page of the log would stop at 1000 changes)."""
    return int(admin.get("/v1/changes?since=0&limit=1").headers["X-Tagd-Revision"])


def batch(api, ops, query="", **kw):
    return api.post("/v1/batch" + query, json={"operations": ops}, **kw)


def test_atomic_failure_leaves_nothing(admin):
    since = now_rev(admin)
    ops = [
        {"op": "create_tag", "tag": {"name": "Atom.one", "color": "#102030"}},
        {"op": "put_resource", "kind": "file", "key": "atom1", "resource": {"name": "A"}},
        {"op": "add_tags", "kind": "file", "key": "atom1", "tags": ["Atom.one"]},
        {"op": "create_tag", "tag": {"name": "Atom.one"}},  # already made by op 0
        {"op": "create_tag", "tag": {"name": "Atom.never"}},
    ]
    r = batch(admin, ops)
    assert r.status_code == 409, r.text
    err = r.json()["error"]
    assert err["code"] == "already_exists"
    assert err["details"]["field"].startswith("operations[3]")
    assert err["message"].startswith("operations[3] (create_tag): ")
    assert admin.get("/v1/tags/Atom.one").status_code == 404
    assert admin.get("/v1/tags/Atom").status_code == 404
    assert admin.get("/v1/resources/file/atom1").status_code == 404
    assert changes_since(admin, since) == []


def test_atomic_success_is_one_revision(admin):
    since = now_rev(admin)
    ops = [{"op": "create_tag", "tag": {"name": "Rev.a"}},
           {"op": "create_tag", "tag": {"name": "Rev.b"}},
           {"op": "put_resource", "kind": "folder", "key": "rev"},
           {"op": "put_resource", "kind": "file", "key": "rev1",
            "resource": {"parent": {"kind": "folder", "key": "rev"}}},
           {"op": "add_tags", "kind": "file", "key": "rev1", "tags": ["Rev.a", "Rev.b"]}]
    r = batch(admin, ops)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["mode"] == "atomic" and body["dry_run"] is False
    assert [x["status"] for x in body["results"]] == ["created"] * 4 + ["changed"]
    assert sorted(body["results"][4]["added"]) == ["Rev.a", "Rev.b"]
    assert body["results"][4]["removed"] == []
    assert body["results"][0]["tag"]["name"] == "Rev.a"
    assert body["results"][3]["resource"]["parent"] == {"kind": "folder", "key": "rev"}
    assert body["summary"] == {"created": 4, "changed": 1, "unchanged": 0, "failed": 0}
    ch = changes_since(admin, since)
    revs = {c["revision"] for c in ch}
    assert revs == {body["revision"]} and body["revision"] == since + 1
    assert r.headers["X-Tagd-Revision"] == str(body["revision"])
    # Tags (with the implied parent "Rev"), resources and assignments, all in that revision.
    assert {c["entity"] for c in ch} == {"tag", "resource", "assignment"}
    names = [t["name"] for t in admin.get("/v1/resources/file/rev1/tags").json()["items"]]
    assert sorted(names) == ["Rev.a", "Rev.b"]


def test_the_same_batch_again_changes_nothing(admin):
    ops = [{"op": "create_tag", "tag": {"name": "Again"}},
           {"op": "put_resource", "kind": "file", "key": "again", "resource": {"name": "n"}},
           {"op": "add_tags", "kind": "file", "key": "again", "tags": ["Again"]}]
    assert batch(admin, ops).status_code == 200
    since = now_rev(admin)
    ops[0] = {"op": "update_tag", "id": "Again", "tag": {}}
    r = batch(admin, ops)
    assert r.status_code == 200, r.text
    assert [x["status"] for x in r.json()["results"]] == ["unchanged"] * 3
    assert r.json()["revision"] is None
    assert changes_since(admin, since) == []


def test_partial_results(admin):
    ops = [
        {"op": "create_tag", "tag": {"name": "Part.ok"}},
        {"op": "create_tag", "tag": {"name": "Part.ok"}},
        {"op": "frobnicate"},
        {"op": "add_tags", "kind": "file", "key": "part", "tags": ["Part.ok", "Part.missing"]},
        {"op": "add_tags", "kind": "file", "key": "part", "tags": ["Part.ok"]},
        {"op": "remove_tags", "kind": "file", "key": "nowhere", "tags": ["Part.ok"]},
        {"op": "update_tag", "id": "Part.ok", "tag": {"description": "d"}, "if_version": 99},
    ]
    r = batch(admin, ops, "?mode=partial")
    assert r.status_code == 200, r.text
    res = r.json()["results"]
    assert [x["index"] for x in res] == list(range(len(ops)))
    assert [x["status"] for x in res] == ["created", "failed", "failed", "failed", "changed",
                                          "failed", "failed"]
    assert res[1]["error"]["code"] == "already_exists" and res[1]["error"]["status"] == 409
    assert res[2]["op"] == "frobnicate"
    assert res[2]["error"]["code"] == "invalid_input"
    assert res[2]["error"]["details"]["field"] == "op"
    assert res[3]["error"]["code"] == "rule_violation"
    assert res[3]["error"]["details"]["field"] == "tags[1]"
    assert res[4]["added"] == ["Part.ok"] and res[4]["tags"] == ["Part.ok"]
    assert res[5]["error"]["status"] == 404
    assert res[6]["error"]["code"] == "precondition_failed"
    assert r.json()["summary"] == {"created": 1, "changed": 1, "unchanged": 0, "failed": 5}
    # What failed left nothing: the failed add made no resource tags, the tag is unchanged.
    assert admin.get("/v1/tags/Part.ok").json()["description"] is None
    assert admin.get("/v1/tags/Part.missing").status_code == 404
    names = [t["name"] for t in admin.get("/v1/resources/file/part/tags").json()["items"]]
    assert names == ["Part.ok"]


def comparable(results):
    """What a dry run foretells: each operation's status, what it adds and removes, and the
    entity's fields that do not depend on ids or times."""
    out = []
    for x in results:
        row = [x["index"], x["op"], x["status"], x.get("added"), x.get("removed"), x.get("tags")]
        if "tag" in x:
            row.append({k: x["tag"][k] for k in ("name", "color", "description", "version")})
        if "resource" in x:
            row.append({k: x["resource"].get(k) for k in ("kind", "key", "name", "parent",
                                                          "version")})
        if "error" in x:
            row.append(x["error"])
        out.append(row)
    return out


def test_dry_run_changes_nothing_and_foretells_exactly(admin):
    seed = [{"op": "create_tag", "tag": {"name": "Dry.keep"}},
            {"op": "create_tag", "tag": {"name": "Dry.drop"}},
            {"op": "add_tags", "kind": "file", "key": "dry", "tags": ["Dry.keep", "Dry.drop"]}]
    assert batch(admin, seed).status_code == 200
    ops = [{"op": "create_tag", "tag": {"name": "Dry.new", "color": "#AABBCC"}},
           {"op": "update_tag", "id": "Dry.keep", "tag": {"description": "kept"}},
           {"op": "update_tag", "id": "Dry.drop", "tag": {}},
           {"op": "put_resource", "kind": "file", "key": "dry", "resource": {"name": "Dry"}},
           {"op": "put_resource", "kind": "file", "key": "dry2"},
           {"op": "replace_tags", "kind": "file", "key": "dry", "tags": ["Dry.keep", "Dry.new"]},
           {"op": "add_tags", "kind": "file", "key": "dry2", "tags": ["Dry.more"],
            "create_missing": True},
           {"op": "remove_tags", "kind": "file", "key": "dry", "tags": ["Dry.keep"]},
           {"op": "create_tag", "tag": {"name": "Dry.keep"}}]
    since = now_rev(admin)
    before_tags = admin.get("/v1/tags?prefix=Dry&limit=100").json()
    r = batch(admin, ops, "?dry_run=true&mode=partial")
    assert r.status_code == 200, r.text
    dry = r.json()
    assert dry["dry_run"] is True and dry["revision"] is None
    assert changes_since(admin, since) == []
    assert admin.get("/v1/tags?prefix=Dry&limit=100").json() == before_tags
    assert admin.get("/v1/resources/file/dry2").status_code == 404
    assert [x["status"] for x in dry["results"]] == [
        "created", "changed", "unchanged", "changed", "created", "changed", "changed",
        "changed", "failed"]
    assert dry["results"][5]["added"] == ["Dry.new"]
    assert dry["results"][5]["removed"] == ["Dry.drop"]
    assert dry["results"][7]["removed"] == ["Dry.keep"]
    # An atomic dry run that would fail answers the failure, and changes nothing either.
    r = batch(admin, ops, "?dry_run=true")
    assert r.status_code == 409 and "operations[8]" in r.json()["error"]["details"]["field"]
    assert changes_since(admin, since) == []
    real = batch(admin, ops, "?mode=partial").json()
    assert real["dry_run"] is False and real["revision"] == since + 1
    assert comparable(real["results"]) == comparable(dry["results"])
    assert real["summary"] == dry["summary"]


def test_limits(server, admin):
    ops = [{"op": "put_resource", "kind": "file", "key": "lim%d" % i} for i in range(10001)]
    r = batch(admin, ops)
    assert r.status_code == 413, r.text
    assert r.json()["error"]["code"] == "too_large"
    assert r.json()["error"]["details"]["field"] == "operations"
    assert admin.get("/v1/resources/file/lim0").status_code == 404
    r = batch(admin, ops[:10000], timeout=120)
    assert r.status_code == 200, r.text
    assert r.json()["summary"]["created"] == 10000
    assert admin.get("/v1/resources/file/lim9999").status_code == 200


def test_limit_is_configurable():
    s = Server(["--batch-max-ops", "2"]).start()
    try:
        api = Api(s, ADMIN_TOKEN)
        ops = [{"op": "create_tag", "tag": {"name": "L%d" % i}} for i in range(3)]
        assert batch(api, ops).status_code == 413
        assert batch(api, ops[:2]).status_code == 200
    finally:
        s.cleanup()


def test_rights_per_operation(server, admin):
    assigner = Api(server, server.token(["tags:read", "tags:assign"], name="assigner"))
    ops = [{"op": "put_resource", "kind": "file", "key": "rights"},
           {"op": "create_tag", "tag": {"name": "Rights.no"}},
           {"op": "add_tags", "kind": "file", "key": "rights", "tags": ["Rights.new"],
            "create_missing": True}]
    r = batch(assigner, ops)
    assert r.status_code == 403
    assert r.json()["error"]["details"]["field"].startswith("operations[1]")
    assert admin.get("/v1/resources/file/rights").status_code == 404
    r = batch(assigner, ops, "?mode=partial")
    assert [x["status"] for x in r.json()["results"]] == ["created", "failed", "failed"]
    assert {x["error"]["code"] for x in r.json()["results"][1:]} == {"forbidden"}
    assert admin.get("/v1/tags/Rights.no").status_code == 404
    assert admin.get("/v1/tags/Rights.new").status_code == 404
    reader = Api(server, server.token(["tags:read"], name="reader"))
    r = batch(reader, ops[:1])
    assert r.status_code == 403
    assert requests.post(server.url + "/v1/batch", json={"operations": ops}).status_code == 401


def test_bad_input(server, admin):
    cases = [
        ("not json", None, 400, ""),
        ({"operations": {}}, None, 400, "operations"),
        ({"operations": []}, None, 400, "operations"),
        ({"operations": [], "extra": 1}, None, 400, "operations"),
        ([{"op": "create_tag"}], None, 400, "operations"),
        ({"operations": [7]}, None, 400, "operations[0]"),
        ({"operations": [{"tag": {"name": "x"}}]}, None, 400, "operations[0].op"),
        ({"operations": [{"op": "create_tag"}]}, None, 400, "operations[0].tag"),
        ({"operations": [{"op": "create_tag", "tag": {"name": "x", "colour": "#fff"}}]}, None,
         400, "operations[0].tag.colour"),
        ({"operations": [{"op": "create_tag", "tag": {"name": "x"}, "x": 1}]}, None, 400,
         "operations[0].x"),
        ({"operations": [{"op": "put_resource", "kind": "file"}]}, None, 400,
         "operations[0].key"),
        ({"operations": [{"op": "put_resource", "kind": "Bad Kind", "key": "k"}]}, None, 400,
         "operations[0]"),
        ({"operations": [{"op": "put_resource", "kind": "f", "key": "k",
                          "resource": {"parent": 3}}]}, None, 400, "operations[0].resource.parent"),
        ({"operations": [{"op": "add_tags", "kind": "f", "key": "k", "tags": "A"}]}, None, 400,
         "operations[0].tags"),
        ({"operations": [{"op": "add_tags", "kind": "f", "key": "k", "tags": [], "context": ""}]},
         None, 400, "operations[0].context"),
        ({"operations": [{"op": "update_tag", "tag": {}}]}, None, 400, "operations[0].id"),
        ({"operations": [{"op": "create_tag", "tag": {"name": "x"}}]}, "?mode=all", 400, "mode"),
        ({"operations": [{"op": "create_tag", "tag": {"name": "x"}}]}, "?dry_run=maybe", 400,
         "dry_run"),
    ]
    for i, (body, query, status, field) in enumerate(cases):
        data = body if isinstance(body, str) else json.dumps(body)
        r = admin.post("/v1/batch" + (query or ""), data=data,
                       headers={"Content-Type": "application/json"})
        assert r.status_code == status, (i, r.text)
        err = r.json()["error"]
        assert err["details"].get("field", "").startswith(field), (i, err)
    assert admin.get("/v1/tags/x").status_code == 404
    r = admin.post("/v1/batch", data="{}", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
    out = raw_request(server.port, b"POST /v1/batch HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                      b"Authorization: Bearer x\r\nContent-Type: application/json\r\n\r\n{\"op")
    assert out.startswith(b"HTTP/1.1 401")
    assert requests.get(server.url + "/healthz").status_code == 200


def test_change_records_are_those_of_the_single_routes(admin):
    """A batch writes the change log as the single routes do (entity, op, what changed)."""
    def records(since):
        return [(c["entity"], c["op"], sorted((c["after"] or c["before"] or {}).keys()))
                for c in changes_since(admin, since)]

    since = now_rev(admin)
    assert admin.post("/v1/tags", json={"name": "One.a", "color": "#112233"}).status_code == 201
    assert admin.patch("/v1/tags/One.a", json={"description": "d"}).status_code == 200
    assert admin.put("/v1/resources/file/one", json={"name": "n"}).status_code == 201
    assert admin.post("/v1/resources/file/one/tags", json={"tags": ["One.a"]}).status_code == 200
    assert admin.put("/v1/resources/file/one/tags", json={"tags": ["One.b"], "create_missing": True}
                     ).status_code == 200
    assert admin.delete("/v1/resources/file/one/tags/One.b").status_code == 204
    single = records(since)
    since = now_rev(admin)
    r = batch(admin, [
        {"op": "create_tag", "tag": {"name": "Two.a", "color": "#112233"}},
        {"op": "update_tag", "id": "Two.a", "tag": {"description": "d"}},
        {"op": "put_resource", "kind": "file", "key": "two", "resource": {"name": "n"}},
        {"op": "add_tags", "kind": "file", "key": "two", "tags": ["Two.a"]},
        {"op": "replace_tags", "kind": "file", "key": "two", "tags": ["Two.b"],
         "create_missing": True},
        {"op": "remove_tags", "kind": "file", "key": "two", "tags": ["Two.b"]}])
    assert r.status_code == 200, r.text
    assert records(since) == single
