"""End-to-end tests of the native /v1 API and the system endpoints."""
import json
import re
import time

import pytest
import requests

from conftest import ADMIN_TOKEN, Api, Server, raw_request


def test_healthz_and_request_id(server):
    r = requests.get(server.url + "/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}
    assert re.fullmatch(r"[0-9a-f]{16}", r.headers["X-Request-Id"])
    r = requests.get(server.url + "/healthz", headers={"X-Request-Id": "abc-123"})
    assert r.headers["X-Request-Id"] == "abc-123"


def test_readyz_metrics_openapi(server, admin):
    r = requests.get(server.url + "/readyz")
    assert r.status_code == 200 and r.json()["status"] == "ready"
    admin.get("/v1/tags")
    m = requests.get(server.url + "/metrics")
    assert m.status_code == 200
    assert m.headers["Content-Type"].startswith("text/plain")
    assert 'tagd_requests_total{method="GET",route="/v1/tags",code="200"}' in m.text
    assert "tagd_request_duration_seconds_bucket" in m.text
    assert re.search(r"^tagd_tags \d+$", m.text, re.M)
    o = requests.get(server.url + "/openapi.json")
    assert o.status_code == 200 and o.json()["openapi"].startswith("3.")


def test_auth_required(server):
    r = requests.get(server.url + "/v1/tags")
    assert r.status_code == 401
    body = r.json()
    assert body["error"]["code"] == "unauthorized"
    assert body["error"]["request_id"] == r.headers["X-Request-Id"]
    r = requests.get(server.url + "/v1/tags", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401


def test_create_get_tag_with_parents(admin):
    r = admin.post("/v1/tags", json={"name": "Address.email", "color": "#AABBCC",
                                     "description": "an e-mail address"})
    assert r.status_code == 201, r.text
    t = r.json()
    assert t["name"] == "Address.email" and t["display_name"] == "email"
    assert t["color"] == "#AABBCC" and t["version"] == 1
    assert r.headers["ETag"] == '"1"'
    assert r.headers["Location"] == "/v1/tags/%d" % t["id"]
    parent = admin.get("/v1/tags/Address").json()
    assert parent["id"] == t["parent_id"]
    assert admin.get("/v1/tags/%d" % t["id"]).json()["name"] == "Address.email"
    assert admin.get("/v1/tags/address.EMAIL").status_code == 200
    r = admin.post("/v1/tags", json={"name": "ADDRESS.Email"})
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "already_exists"


@pytest.mark.parametrize("body,field", [
    ({"name": ""}, "name"),
    ({"name": "a..b"}, "name"),
    ({"name": "a,b"}, "name"),
    ({"name": "x" * 65}, "name"),
    ({"name": "ok", "color": "blue"}, "color"),
    ({"name": 5}, "name"),
    ({"name": "ok", "bogus": 1}, "bogus"),
    ({}, "name"),
])
def test_create_invalid(admin, body, field):
    r = admin.post("/v1/tags", json=body)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["details"]["field"] == field


def test_malformed_json_and_media_type(admin):
    r = admin.post("/v1/tags", data=b'{"name": ', headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert "malformed json" in r.json()["error"]["message"]
    r = admin.post("/v1/tags", data=b'name=x', headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
    deep = "[" * 100 + "]" * 100
    r = admin.post("/v1/tags", data=deep, headers={"Content-Type": "application/json"})
    assert r.status_code == 400


def test_batch_is_atomic(admin):
    r = admin.post("/v1/tags", json={"tags": [{"name": "Batch.one"}, {"name": "Batch..bad"}]})
    assert r.status_code == 400
    assert r.json()["error"]["details"]["field"].startswith("tags[1]")
    assert admin.get("/v1/tags/Batch.one").status_code == 404
    assert admin.get("/v1/tags/Batch").status_code == 404
    r = admin.post("/v1/tags", json={"tags": [{"name": "Batch.one"}, {"name": "Batch.two"}]})
    assert r.status_code == 201
    assert [t["name"] for t in r.json()["items"]] == ["Batch.one", "Batch.two"]


def test_patch_etag_and_rename_subtree(admin):
    admin.post("/v1/tags", json={"name": "Ren.a.b"})
    t = admin.get("/v1/tags/Ren").json()
    r = admin.patch("/v1/tags/Ren", json={"name": "Moved"}, headers={"If-Match": '"99"'})
    assert r.status_code == 412
    r = admin.patch("/v1/tags/Ren", json={"name": "Moved"},
                    headers={"If-Match": '"%d"' % t["version"]})
    assert r.status_code == 200, r.text
    assert r.headers["ETag"] == '"%d"' % (t["version"] + 1)
    assert admin.get("/v1/tags/Moved.a.b").status_code == 200
    # The old names stay aliases of the moved tags (docs/taxonomy.md).
    r = admin.get("/v1/tags/Ren.a")
    assert r.status_code == 200 and r.json()["name"] == "Moved.a", r.text
    assert r.json()["requested_alias"] == "Ren.a"


def test_soft_delete_and_restore(admin):
    admin.post("/v1/tags", json={"name": "Del.child"})
    assert admin.delete("/v1/tags/Del").status_code == 409
    r = admin.delete("/v1/tags/Del?recursive=true")
    assert r.status_code == 204 and r.content == b""
    assert admin.get("/v1/tags/Del.child").json()["deleted"] is True
    names = [t["name"] for t in admin.get("/v1/tags?prefix=Del").json()["items"]]
    assert names == []
    names = [t["name"] for t in admin.get("/v1/tags?prefix=Del&deleted=true").json()["items"]]
    assert names == ["Del", "Del.child"]
    r = admin.post("/v1/tags/Del.child:restore")
    assert r.status_code == 200 and r.json()["deleted"] is False
    assert admin.get("/v1/tags/Del").json()["deleted"] is False


def test_pagination_walks_everything_once(admin):
    admin.post("/v1/tags", json={"tags": [{"name": "Page.t%03d" % i} for i in range(57)]})
    seen, cursor = [], None
    while True:
        q = "/v1/tags?prefix=Page.&limit=10" + ("&cursor=" + cursor if cursor else "")
        body = admin.get(q).json()
        assert body["total"] == 57
        seen += [t["name"] for t in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert seen == ["Page.t%03d" % i for i in range(57)]
    assert admin.get("/v1/tags?limit=0").status_code == 400
    assert admin.get("/v1/tags?limit=1001").status_code == 400
    assert admin.get("/v1/tags?cursor=%%%").status_code == 400


def test_resources_inheritance_and_assignments(admin):
    assert admin.put("/v1/resources/folder/root", json={"name": "Root"}).status_code == 201
    r = admin.put("/v1/resources/file/doc.txt", json={"parent": {"kind": "folder", "key": "root"}})
    assert r.status_code == 201
    assert r.json()["parent"] == {"kind": "folder", "key": "root"}
    r = admin.post("/v1/resources/folder/root/tags", json={"tags": ["Inh.secret"], "create_missing": True})
    assert r.status_code == 200, r.text
    r = admin.post("/v1/resources/file/doc.txt/tags", json=["Inh.own"])
    assert r.status_code == 422  # unknown tag without create_missing
    assert admin.get("/v1/resources/file/doc.txt/tags").json()["items"] == []
    admin.post("/v1/tags", json={"name": "Inh.own"})
    assert admin.post("/v1/resources/file/doc.txt/tags", json=["Inh.own"]).status_code == 200
    direct = admin.get("/v1/resources/file/doc.txt/tags").json()["items"]
    assert [a["name"] for a in direct] == ["Inh.own"]
    eff = admin.get("/v1/resources/file/doc.txt/tags?effective=true").json()["items"]
    assert {a["name"]: a["inherited_from"] for a in eff} == {
        "Inh.own": None, "Inh.secret": {"kind": "folder", "key": "root"}}
    r = admin.put("/v1/resources/folder/root", json={"parent": {"kind": "file", "key": "doc.txt"}})
    assert r.status_code == 422
    used = admin.get("/v1/tags/Inh/resources?descendants=true").json()["items"]
    assert sorted(x["key"] for x in used) == ["doc.txt", "root"]
    assert admin.delete("/v1/resources/file/doc.txt/tags/Inh.own").status_code == 204
    assert admin.delete("/v1/resources/file/doc.txt/tags/Inh.own").status_code == 404


def test_exclusive_group(admin):
    admin.post("/v1/tags", json={"tags": [{"name": "Stage.dev"}, {"name": "Stage.prod"}]})
    g = admin.post("/v1/groups", json={"name": "Stage", "exclusive": True})
    assert g.status_code == 201
    gid = g.json()["id"]
    r = admin.put("/v1/groups/%d/tags" % gid, json={"tags": ["Stage.prod", "Stage.dev"]})
    assert r.status_code == 200
    dev = admin.get("/v1/tags/Stage.dev").json()["id"]
    prod = admin.get("/v1/tags/Stage.prod").json()["id"]
    assert r.json()["tags"] == [prod, dev]
    assert admin.post("/v1/resources/flag/f1/tags", json=["Stage.dev"]).status_code == 200
    r = admin.post("/v1/resources/flag/f1/tags", json=["Stage.prod"])
    assert r.status_code == 409
    assert admin.put("/v1/resources/flag/f1/tags", json=["Stage.prod"]).status_code == 200


def test_rights(server, admin):
    ro = Api(server, server.token(["tags:read"]))
    assert ro.get("/v1/tags").status_code == 200
    r = ro.post("/v1/tags", json={"name": "Nope"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    assert admin.get("/v1/tags/Nope").status_code == 404
    assert ro.get("/v1/users").status_code == 403


def test_tokens_lifecycle(server, admin):
    r = admin.post("/v1/tokens", json={"name": "ci", "rights": "tags:read"})
    assert r.status_code == 201
    tok = r.json()
    assert tok["token"].startswith("tgd_")
    listed = admin.get("/v1/tokens").json()["items"]
    assert any(t["id"] == tok["id"] and "token" not in t for t in listed)
    api = Api(server, tok["token"])
    assert api.get("/v1/tags").status_code == 200
    assert admin.delete("/v1/tokens/%d" % tok["id"]).status_code == 204
    assert api.get("/v1/tags").status_code == 401
    past = admin.post("/v1/tokens", json={"name": "old", "expires_at": "2001-01-01T00:00:00Z"})
    assert past.status_code == 400


def test_changes_log(admin):
    before = admin.get("/v1/changes?limit=1000").json()
    since = before["next_since"]
    r = admin.post("/v1/tags", json={"name": "Logged"})
    assert r.headers["X-Tagd-Revision"] == str(since + 1)
    ch = admin.get("/v1/changes?since=%d" % since).json()["items"]
    assert [(c["entity"], c["op"], c["after"]["name"]) for c in ch] == [("tag", "create", "Logged")]


def test_changes_log_of_assignments(admin):
    """An add carries the assignment in `after`, a removal (one tag, or all of a deleted
    resource's) in `before`, as every other removal in the log does."""
    since = admin.get("/v1/changes?limit=1000").json()["next_since"]
    assert admin.post("/v1/resources/logged/one/tags", json={"tags": ["LogA", "LogB"],
                                                            "create_missing": True}
                      ).status_code in (200, 201)
    assert admin.delete("/v1/resources/logged/one/tags/LogA").status_code == 204
    assert admin.delete("/v1/resources/logged/one").status_code == 204
    ch = [c for c in admin.get("/v1/changes?since=%d&limit=1000" % since).json()["items"]
          if c["entity"] == "assignment"]
    tag = {t["name"]: t["id"] for t in admin.get("/v1/tags?prefix=Log&limit=100").json()["items"]}
    assert [(c["op"], (c["before"] or c["after"])["tag_id"]) for c in ch] == [
        ("add", tag["LogA"]), ("add", tag["LogB"]), ("remove", tag["LogA"]),
        ("remove", tag["LogB"])]
    for c in ch:
        if c["op"] == "add":
            assert c["before"] is None and c["after"]["resource_id"] == c["entity_id"]
        else:
            assert c["after"] is None and c["before"]["resource_id"] == c["entity_id"]


def test_unknown_route_and_method(server, admin):
    r = admin.get("/v1/nothing")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = admin.request("PATCH", "/v1/tags")
    assert r.status_code == 405


def test_raw_malformed_requests(server):
    out = raw_request(server.port, b"GARBAGE\r\n\r\n")
    assert out == b"" or out.startswith(b"HTTP/1.1 400")
    out = raw_request(server.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 431")
    # The server still answers afterwards.
    assert requests.get(server.url + "/healthz").status_code == 200


def test_body_limit(server, admin):
    big = json.dumps({"name": "x", "description": "y" * (2 << 20)})
    r = admin.post("/v1/tags", data=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413


def test_data_survives_restart():
    s = Server().start()
    try:
        a = Api(s, ADMIN_TOKEN)
        assert a.post("/v1/tags", json={"name": "Durable.one"}).status_code == 201
        assert s.stop() == 0
        s.start()
        a = Api(s, ADMIN_TOKEN)
        assert a.get("/v1/tags/Durable.one").status_code == 200
        assert "admin token" not in s.read_log().split("listening")[-1]
    finally:
        s.cleanup()


def test_first_start_prints_token_once(tmp_path):
    s = Server(env={"TAGD_ADMIN_TOKEN": ""}, data_dir=str(tmp_path))
    s.start()
    log = s.read_log()
    m = re.search(r"admin token.*\n\s+(tgd_\S+)", log)
    assert m, log
    tok = m.group(1)
    assert requests.get(s.url + "/v1/tags", headers={"Authorization": "Bearer " + tok}).status_code == 200
    s.restart()
    assert s.read_log().count("admin token") == 1
    s.cleanup()


def test_tag_list_with_usage_counts(admin):
    for name in ("Use", "Use.a", "Use.b"):
        assert admin.post("/v1/tags", json={"name": name}).status_code == 201
    for key, tags in (("u1", ["Use"]), ("u2", ["Use.a"]), ("u3", ["Use.a", "Use.b"])):
        r = admin.post("/v1/resources/file/%s/tags" % key, json={"tags": tags})
        assert r.status_code in (200, 201), r.text

    def usage():
        r = admin.get("/v1/tags", params={"prefix": "Use", "counts": "true"})
        assert r.status_code == 200, r.text
        return {t["name"]: t["usage"] for t in r.json()["items"]}

    assert usage() == {"Use": {"resources": 1, "subtree": 3},
                       "Use.a": {"resources": 2, "subtree": 2},
                       "Use.b": {"resources": 1, "subtree": 1}}
    # Without counts the list has no usage member.
    assert "usage" not in admin.get("/v1/tags", params={"prefix": "Use"}).json()["items"][0]
    # Counts move with assignments (a cached list would not).
    assert admin.delete("/v1/resources/file/u3/tags/Use.a").status_code in (200, 204)
    assert usage()["Use.a"] == {"resources": 1, "subtree": 1}
    assert usage()["Use"]["subtree"] == 3
    r = admin.get("/v1/tags", params={"counts": "yes"})
    assert r.status_code == 400 and r.json()["error"]["details"]["field"] == "counts"
    r = admin.get("/v1/tags", params={"counts": "true", "as_of": "1"})
    assert r.status_code == 400 and r.json()["error"]["details"]["field"] == "counts"
