"""The native API's reads of the past (as_of) and its history endpoints.

A history is built (tags renamed, moved and deleted; assignments added and removed on a tree;
resources moved and deleted), then every as-of read is checked against the state expected at
several revisions and times: tags, groups, resources, direct and effective tags, tag queries,
rights, organizations and errors. The same file runs on PostgreSQL (TAGD_TEST_STORE)."""
import time

import pytest
import requests

from conftest import Api

STATE = {}


def rev_of(r):
    assert r.status_code < 300, r.text
    return int(r.headers["X-Tagd-Revision"])


def pause():
    """Keeps the phases' revisions at distinct milliseconds, so a time names one of them."""
    time.sleep(0.03)


@pytest.fixture(scope="module")
def hist(server, admin):
    if STATE:
        return STATE
    for name in ["dept", "dept.eng", "dept.ops", "pii"]:
        rev_of(admin.post("/v1/tags", json={"name": name}))
    g = admin.post("/v1/groups", json={"name": "Sensitivity"})
    assert g.status_code == 201, g.text
    gid = g.json()["id"]
    STATE["group"] = gid
    pii = admin.get("/v1/tags/pii").json()["id"]
    rev_of(admin.patch("/v1/tags/pii", json={"group_id": gid}))
    rev_of(admin.put("/v1/resources/folder/root", json={}))
    rev_of(admin.put("/v1/resources/folder/a", json={"parent": {"kind": "folder", "key": "root"}}))
    rev_of(admin.put("/v1/resources/file/x", json={"parent": {"kind": "folder", "key": "a"}}))
    rev_of(admin.put("/v1/resources/file/y", json={"parent": {"kind": "folder", "key": "root"}}))
    rev_of(admin.post("/v1/resources/folder/a/tags", json={"tags": ["pii"]}))
    r1 = rev_of(admin.post("/v1/resources/file/x/tags", json={"tags": ["dept.eng"]}))
    pause()
    # Phase 2: rename dept.eng, move file/x under root, tag root with dept.ops.
    rev_of(admin.patch("/v1/tags/dept.eng", json={"name": "dept.engineering"}))
    rev_of(admin.put("/v1/resources/file/x", json={"parent": {"kind": "folder", "key": "root"}}))
    r2 = rev_of(admin.post("/v1/resources/folder/root/tags", json={"tags": ["dept.ops"]}))
    pause()
    # Phase 3: delete pii, untag file/x, delete file/y, move dept.ops to the top (a tag moves
    # by a rename of its parent part).
    rev_of(admin.delete("/v1/tags/pii"))
    eng = admin.get("/v1/tags/dept.engineering").json()["id"]
    rev_of(admin.delete("/v1/resources/file/x/tags/%d" % eng))
    rev_of(admin.delete("/v1/resources/file/y"))
    r3 = rev_of(admin.patch("/v1/tags/dept.ops", json={"name": "ops"}))
    pause()
    STATE.update(r1=r1, r2=r2, r3=r3, pii=pii, eng=eng)
    for k in ("r1", "r2", "r3"):
        a = admin.get("/v1/tags", params={"as_of": STATE[k]})
        assert a.status_code == 200, a.text
        STATE[k + "_at"] = a.json()["as_of"]["at"]
    return STATE


def names(r):
    assert r.status_code == 200, r.text
    return [t["name"] for t in r.json()["items"]]


def test_tags_list_as_of(admin, hist):
    assert names(admin.get("/v1/tags", params={"as_of": hist["r1"]})) == [
        "dept", "dept.eng", "dept.ops", "pii"]
    assert names(admin.get("/v1/tags", params={"as_of": hist["r2"]})) == [
        "dept", "dept.engineering", "dept.ops", "pii"]
    assert names(admin.get("/v1/tags", params={"as_of": hist["r3"]})) == [
        "dept", "dept.engineering", "ops"]
    r = admin.get("/v1/tags", params={"as_of": hist["r3"], "deleted": "true"})
    assert names(r) == ["dept", "dept.engineering", "ops", "pii"]
    assert [t["deleted"] for t in r.json()["items"]] == [False, False, False, True]
    r = admin.get("/v1/tags", params={"as_of": hist["r2"], "prefix": "DEPT."})
    assert names(r) == ["dept.engineering", "dept.ops"]
    assert r.json()["as_of"]["revision"] == hist["r2"]
    assert r.json()["total"] == 2
    assert r.headers["X-Tagd-As-Of"] == str(hist["r2"])
    # Pages with a cursor, as now.
    p1 = admin.get("/v1/tags", params={"as_of": hist["r1"], "limit": 3})
    assert names(p1) == ["dept", "dept.eng", "dept.ops"] and p1.json()["total"] == 4
    p2 = admin.get("/v1/tags", params={"as_of": hist["r1"], "limit": 3,
                                       "cursor": p1.json()["next_cursor"]})
    assert names(p2) == ["pii"] and p2.json()["next_cursor"] is None
    # The present is unchanged by the parameter's existence.
    assert names(admin.get("/v1/tags")) == ["dept", "dept.engineering", "ops"]


def test_tag_get_as_of(admin, hist):
    r = admin.get("/v1/tags/dept.eng", params={"as_of": hist["r1"]})
    assert r.status_code == 200, r.text
    assert r.json()["id"] == hist["eng"] and r.json()["name"] == "dept.eng"
    assert r.headers["X-Tagd-As-Of"] == str(hist["r1"])
    # Renamed by then, the old name was an alias of the tag it had become (docs/taxonomy.md).
    r = admin.get("/v1/tags/dept.eng", params={"as_of": hist["r2"]})
    assert r.status_code == 200 and r.json()["name"] == "dept.engineering", r.text
    r = admin.get("/v1/tags/%d" % hist["eng"], params={"as_of": hist["r2"]})
    assert r.json()["name"] == "dept.engineering"
    assert r.json()["version"] == 2
    assert admin.get("/v1/tags/pii", params={"as_of": hist["r2"]}).status_code == 200
    r = admin.get("/v1/tags/pii", params={"as_of": hist["r3"]})
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert admin.get("/v1/tags/ops", params={"as_of": hist["r2"]}).status_code == 404


def test_groups_as_of(admin, hist):
    r = admin.get("/v1/groups", params={"as_of": hist["r1"]})
    assert r.status_code == 200, r.text
    [g] = r.json()["items"]
    assert g["name"] == "Sensitivity" and g["tags"] == [hist["pii"]]
    r = admin.get("/v1/groups/%s" % hist["group"], params={"as_of": hist["r3"]})
    assert r.status_code == 200 and r.json()["tags"] == []
    r = admin.get("/v1/groups/%s/history" % hist["group"])
    assert r.status_code == 200 and r.json()["items"][0]["op"] == "create"


def test_resources_as_of(admin, hist):
    r = admin.get("/v1/resources/file/x", params={"as_of": hist["r1"]})
    assert r.status_code == 200, r.text
    assert r.json()["parent"] == {"kind": "folder", "key": "a"}
    r = admin.get("/v1/resources/file/x", params={"as_of": hist["r2"]})
    assert r.json()["parent"] == {"kind": "folder", "key": "root"}
    assert admin.get("/v1/resources/file/y", params={"as_of": hist["r2"]}).status_code == 200
    r = admin.get("/v1/resources/file/y", params={"as_of": hist["r3"]})
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = admin.get("/v1/resources", params={"as_of": hist["r2"], "kind": "file"})
    assert r.status_code == 200, r.text
    assert [x["key"] for x in r.json()["items"]] == ["x", "y"]
    assert r.json()["as_of"]["revision"] == hist["r2"]
    r = admin.get("/v1/resources", params={"as_of": hist["r1"], "parent": "folder/a"})
    assert [x["key"] for x in r.json()["items"]] == ["x"]
    r = admin.get("/v1/resources", params={"as_of": hist["r3"], "parent": "folder/a"})
    assert r.json()["items"] == []
    p1 = admin.get("/v1/resources", params={"as_of": hist["r2"], "limit": 2})
    p2 = admin.get("/v1/resources", params={"as_of": hist["r2"], "limit": 2,
                                            "cursor": p1.json()["next_cursor"]})
    keys = [x["key"] for x in p1.json()["items"] + p2.json()["items"]]
    assert sorted(keys) == ["a", "root", "x", "y"]


def tagview(r):
    assert r.status_code == 200, r.text
    return [(t["name"], t["inherited_from"] and "%s/%s" % (t["inherited_from"]["kind"],
                                                           t["inherited_from"]["key"]))
            for t in r.json()["items"]]


def test_resource_tags_as_of(admin, hist):
    get = lambda rev, eff: admin.get("/v1/resources/file/x/tags",
                                     params={"as_of": rev, "effective": eff})
    assert tagview(get(hist["r1"], "false")) == [("dept.eng", None)]
    assert tagview(get(hist["r1"], "true")) == [("dept.eng", None), ("pii", "folder/a")]
    assert tagview(get(hist["r2"], "true")) == [("dept.engineering", None),
                                                ("dept.ops", "folder/root")]
    assert tagview(get(hist["r3"], "true")) == [("ops", "folder/root")]
    assert get(hist["r3"], "true").json()["as_of"]["revision"] == hist["r3"]
    # The folder's own tag, deleted since, counted then and not after.
    a = admin.get("/v1/resources/folder/a/tags", params={"as_of": hist["r2"]})
    assert tagview(a) == [("pii", None)]
    a = admin.get("/v1/resources/folder/a/tags", params={"as_of": hist["r3"]})
    assert tagview(a) == []
    # Now: the same answers the present gives.
    assert tagview(admin.get("/v1/resources/file/x/tags", params={"effective": "true"})) == [
        ("ops", "folder/root")]


def q(admin, rev, query, **kw):
    p = {"query": query, "as_of": rev}
    p.update(kw)
    return admin.get("/v1/resources", params=p)


def keys(r):
    assert r.status_code == 200, r.text
    return sorted("%s/%s" % (x["kind"], x["key"]) for x in r.json()["items"])


def test_queries_as_of(admin, hist):
    assert keys(q(admin, hist["r1"], "pii")) == ["folder/a"]
    assert keys(q(admin, hist["r1"], "pii", effective="true")) == ["file/x", "folder/a"]
    assert keys(q(admin, hist["r2"], "pii", effective="true")) == ["folder/a"]
    assert keys(q(admin, hist["r1"], "dept.*")) == ["file/x"]
    assert keys(q(admin, hist["r2"], "dept.*", effective="true")) == [
        "file/x", "file/y", "folder/a", "folder/root"]
    assert keys(q(admin, hist["r2"], "dept.* and not pii", effective="true")) == [
        "file/x", "file/y", "folder/root"]
    assert keys(q(admin, hist["r2"], "kind:file and not dept.engineering")) == ["file/y"]
    r = q(admin, hist["r2"], "dept.*", effective="true", kind="file", limit=1)
    assert keys(r) == ["file/x"] and r.json()["total"] == 2
    r2 = q(admin, hist["r2"], "dept.*", effective="true", kind="file", limit=1,
           cursor=r.json()["next_cursor"])
    assert keys(r2) == ["file/y"] and r2.json()["next_cursor"] is None
    r = q(admin, hist["r2"], "dept.*", count_only="true")
    assert r.json()["total"] == 2 and r.json()["as_of"]["revision"] == hist["r2"]
    # A tag deleted since is unknown then, as it is now; its column is given.
    r = q(admin, hist["r3"], "ops or pii")
    assert r.status_code == 400, r.text
    assert r.json()["error"]["details"] == {"field": "query", "column": 8}
    r = q(admin, hist["r1"], "ops")
    assert r.status_code == 400 and "unknown tag 'ops'" in r.json()["error"]["message"]
    r = q(admin, hist["r1"], "pii and (")
    assert r.status_code == 400 and r.json()["error"]["details"]["field"] == "query"
    # The present answer (engine) and the as-of one at the newest revision agree.
    cur = admin.get("/v1/resources", params={"query": "ops", "effective": "true"})
    assert keys(cur) == keys(q(admin, hist["r3"], "ops", effective="true"))


def test_times_resolve_to_the_last_revision_at_or_before(admin, hist):
    r = admin.get("/v1/tags", params={"as_of": hist["r1_at"]})
    assert r.status_code == 200 and r.json()["as_of"]["revision"] == hist["r1"]
    assert names(r) == ["dept", "dept.eng", "dept.ops", "pii"]
    # Epoch milliseconds: the same moment.
    import datetime
    ms = int(datetime.datetime.fromisoformat(hist["r2_at"].replace("Z", "+00:00"))
             .timestamp() * 1000)
    r = admin.get("/v1/resources/file/x/tags", params={"as_of": ms + 5, "effective": "true"})
    assert r.json()["as_of"]["revision"] == hist["r2"], r.text
    assert tagview(r) == [("dept.engineering", None), ("dept.ops", "folder/root")]
    # A time with an offset names the same instant.
    r = admin.get("/v1/tags", params={"as_of": hist["r1_at"].replace("Z", "+00:00")})
    assert r.json()["as_of"]["revision"] == hist["r1"]


def test_errors(server, admin, hist):
    newest = admin.get("/v1/changes", params={"since": 0, "limit": 1000}).json()["next_since"]
    for bad in ["", "yesterday", "-1", "12abc", "1e5", "x" * 100]:
        r = admin.get("/v1/tags", params={"as_of": bad})
        assert r.status_code == 400, (bad, r.text)
        assert r.json()["error"]["code"] == "invalid_input"
        assert r.json()["error"]["details"]["field"] == "as_of"
    r = admin.get("/v1/resources/file/x", params={"as_of": newest + 100})
    assert r.status_code == 400 and "in the future" in r.json()["error"]["message"]
    r = admin.get("/v1/tags", params={"as_of": 0})
    assert r.status_code == 404 and r.json()["error"]["details"]["field"] == "as_of"
    r = admin.get("/v1/tags", params={"as_of": "1990-01-01T00:00:00Z"})
    assert r.status_code == 404
    r = admin.get("/v1/resources/file/x/tags", params={"as_of": "2999-01-01T00:00:00Z"})
    assert r.status_code == 400
    r = admin.get("/v1/resources", params={"as_of": hist["r1"], "tag": "pii"})
    assert r.status_code == 400 and r.json()["error"]["details"]["field"] == "as_of"
    r = admin.get("/v1/resources/NOPE/x", params={"as_of": hist["r1"]})
    assert r.status_code == 400


def test_rights_and_organizations(server, admin, hist):
    r = requests.get(server.url + "/v1/tags", params={"as_of": hist["r1"]})
    assert r.status_code == 401
    assign_only = Api(server, server.token(["tags:assign"], name="assigner"))
    r = assign_only.get("/v1/tags", params={"as_of": hist["r1"]})
    present = assign_only.get("/v1/tags")
    assert r.status_code == present.status_code
    reader = Api(server, server.token(["tags:read"], name="reader"))
    assert names(reader.get("/v1/tags", params={"as_of": hist["r1"]})) == [
        "dept", "dept.eng", "dept.ops", "pii"]
    org = admin.post("/v1/organizations", json={"name": "Other"})
    assert org.status_code == 201, org.text
    tok = admin.post("/v1/tokens", json={"name": "o", "rights": ["tags:read", "tags:write"],
                                          "organization_id": org.json()["id"]})
    other = Api(server, tok.json()["token"])
    # Before the organization existed: 404; after: its own empty workspace.
    r = other.get("/v1/tags", params={"as_of": hist["r1"]})
    assert r.status_code == 404, r.text
    assert "organization" in r.json()["error"]["message"]
    mine = rev_of(other.post("/v1/tags", json={"name": "theirs"}))
    r = other.get("/v1/tags", params={"as_of": mine})
    assert names(r) == ["theirs"]
    assert other.get("/v1/resources/file/x", params={"as_of": mine}).status_code == 404
    assert other.get("/v1/tags/%d" % hist["eng"], params={"as_of": mine}).status_code == 404
    r = other.get("/v1/resources", params={"query": "theirs", "as_of": mine})
    assert keys(r) == []
    assert other.get("/v1/tags/%d/history" % hist["eng"]).status_code == 404
    # The first organization's reads at that revision do not see the other's tag.
    assert "theirs" not in names(admin.get("/v1/tags", params={"as_of": mine}))


def test_tag_history(server, admin, hist):
    r = admin.get("/v1/tags/dept.engineering/history")
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [c["op"] for c in items] == ["create", "update"]
    assert items[0]["after"]["name"] == "dept.eng"
    assert items[1]["before"]["name"] == "dept.eng"
    assert items[1]["after"]["name"] == "dept.engineering"
    assert all(c["principal"] == items[0]["principal"] for c in items)
    assert all(c["entity"] == "tag" and c["entity_id"] == hist["eng"] for c in items)
    assert items[0]["revision"] < items[1]["revision"] <= hist["r2"]
    # Pages with a cursor.
    p1 = admin.get("/v1/tags/%d/history" % hist["eng"], params={"limit": 1})
    assert [c["op"] for c in p1.json()["items"]] == ["create"]
    p2 = admin.get("/v1/tags/%d/history" % hist["eng"],
                   params={"limit": 1, "cursor": p1.json()["next_cursor"]})
    assert [c["op"] for c in p2.json()["items"]] == ["update"]
    assert p2.json()["next_cursor"] is None
    # Filters: principal, time range.
    who = items[0]["principal"]
    r = admin.get("/v1/tags/dept.engineering/history", params={"principal": who + "-x"})
    assert r.json()["items"] == []
    r = admin.get("/v1/tags/dept.engineering/history", params={"principal": who})
    assert len(r.json()["items"]) == 2
    r = admin.get("/v1/tags/dept.engineering/history", params={"from": hist["r1_at"]})
    assert [c["op"] for c in r.json()["items"]] == ["update"]
    r = admin.get("/v1/tags/dept.engineering/history", params={"to": hist["r1_at"]})
    assert [c["op"] for c in r.json()["items"]] == ["create"]
    assert admin.get("/v1/tags/x.y.z/history").status_code == 404
    r = admin.get("/v1/tags/dept/history", params={"cursor": "nope"})
    assert r.status_code == 400
    r = admin.get("/v1/tags/dept/history", params={"from": "soon"})
    assert r.status_code == 400 and r.json()["error"]["details"]["field"] == "from"
    # A deleted tag keeps its history.
    r = admin.get("/v1/tags/%d/history" % hist["pii"])
    assert [c["op"] for c in r.json()["items"]][-1] == "delete"


def test_resource_history(admin, hist):
    r = admin.get("/v1/resources/file/x/history")
    assert r.status_code == 200, r.text
    ops = [(c["entity"], c["op"]) for c in r.json()["items"]]
    assert ops == [("resource", "create"), ("assignment", "add"), ("resource", "update"),
                   ("assignment", "remove")]
    assert r.json()["items"][2]["after"]["parent_id"] == \
        admin.get("/v1/resources/folder/root").json()["id"]
    assert admin.get("/v1/resources/file/nope/history").status_code == 404
