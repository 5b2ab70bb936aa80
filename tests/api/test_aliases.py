"""Aliases after renames and moves, and merges of tags (issue 25; docs/taxonomy.md).

A rename keeps the old names as aliases; every way a client names a tag (native lookups and
assignments, the query language, LaunchDarkly, Immuta, Oracle, as_of reads) resolves them to
the tag they are now, and the native API tells which names were aliases (X-Tagd-Alias header,
"requested_alias"). A merge moves every assignment in one transaction, leaves the merged
names as aliases, keeps the merged tag's history, and refuses to break an exclusive group
before it changes anything; its dry run shows exactly what the merge then does."""
import json
import time
from urllib.parse import unquote

import pytest
import requests

from conftest import ADMIN_TOKEN, Api


def put_res(admin, kind, key, tags=(), parent=None):
    body = {"parent": {"kind": parent[0], "key": parent[1]}} if parent else {}
    r = admin.put("/v1/resources/%s/%s" % (kind, key), json=body)
    assert r.status_code in (200, 201), r.text
    if tags:
        r = admin.post("/v1/resources/%s/%s/tags" % (kind, key),
                       json={"tags": list(tags), "create_missing": True})
        assert r.status_code == 200, r.text
    return admin.get("/v1/resources/%s/%s" % (kind, key)).json()["id"]


def tags_of(admin, kind, key, **params):
    r = admin.get("/v1/resources/%s/%s/tags" % (kind, key), params=params)
    assert r.status_code == 200, r.text
    return sorted(a["name"] for a in r.json()["items"])


def query(admin, expr, **params):
    params["query"] = expr
    r = admin.get("/v1/resources", params=params)
    assert r.status_code == 200, r.text
    return sorted(i["key"] for i in r.json()["items"])


def alias_header(r):
    """The X-Tagd-Alias header as {old: current}."""
    v = r.headers.get("X-Tagd-Alias")
    if not v:
        return {}
    out = {}
    for pair in v.split(", "):
        old, new = pair.split("=")
        out[unquote(old)] = unquote(new)
    return out


def rev(r):
    return int(r.headers["X-Tagd-Revision"])


def rename(admin, ref, name):
    r = admin.patch("/v1/tags/%s" % ref, json={"name": name})
    assert r.status_code == 200, r.text
    return r


# ---- renames ----

def test_rename_keeps_old_names(admin):
    put_res(admin, "file", "r1", ["Dept.Eng", "Dept.Eng.Web"])
    eng = admin.get("/v1/tags/Dept.Eng").json()
    web = admin.get("/v1/tags/Dept.Eng.Web").json()
    assert eng["aliases"] == [] and "requested_alias" not in eng
    r = rename(admin, "Dept.Eng", "Org.Engineering")
    assert r.json()["aliases"] == ["Dept.Eng"]
    # By the old name: the tag it is now, and the answer says the name was an alias.
    r = admin.get("/v1/tags/Dept.Eng")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] == eng["id"] and body["name"] == "Org.Engineering"
    assert body["requested_alias"] == "Dept.Eng"
    assert body["aliases"] == ["Dept.Eng"]
    assert alias_header(r) == {"Dept.Eng": "Org.Engineering"}
    # Each descendant's old name too; case does not matter, as for names.
    r = admin.get("/v1/tags/dept.eng.web")
    assert r.json()["id"] == web["id"] and r.json()["name"] == "Org.Engineering.Web"
    assert alias_header(r) == {"Dept.Eng.Web": "Org.Engineering.Web"}
    # A name that is no alias answers without the header.
    r = admin.get("/v1/tags/Org.Engineering")
    assert "X-Tagd-Alias" not in r.headers and "requested_alias" not in r.json()
    # Listed with what made them.
    r = admin.get("/v1/tags/%d/aliases" % eng["id"])
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [(a["name"], a["reason"], a["tag_id"]) for a in items] == \
        [("Dept.Eng", "rename", eng["id"])]
    assert items[0]["created_by"] and items[0]["created_at"].endswith("Z")
    # Lists name the current tags only.
    names = [t["name"] for t in admin.get("/v1/tags", params={"prefix": "dept"}).json()["items"]]
    assert names == ["Dept"]  # the parent stays where it was


def test_assignments_by_old_name(admin):
    put_res(admin, "file", "r2")
    r = admin.post("/v1/resources/file/r2/tags", json={"tags": ["Dept.Eng"]})
    assert r.status_code == 200, r.text
    assert [a["name"] for a in r.json()["items"]] == ["Org.Engineering"]
    assert alias_header(r) == {"Dept.Eng": "Org.Engineering"}
    # The same tag by its alias and by its name is one assignment.
    r = admin.post("/v1/resources/file/r2/tags",
                   json={"tags": ["dept.eng", "Org.Engineering"], "create_missing": True})
    assert r.status_code == 200, r.text
    assert tags_of(admin, "file", "r2") == ["Org.Engineering"]
    # The resource filter and the removal by the old name.
    r = admin.get("/v1/resources", params={"tag": "Dept.Eng"})
    assert [i["key"] for i in r.json()["items"]] == ["r1", "r2"]
    assert alias_header(r) == {"Dept.Eng": "Org.Engineering"}
    r = admin.delete("/v1/resources/file/r2/tags/Dept.Eng")
    assert r.status_code == 204, r.text
    assert tags_of(admin, "file", "r2") == []


def test_query_language_resolves_old_names(admin):
    assert query(admin, "Dept.Eng") == ["r1"]
    assert query(admin, "Dept.Eng.*") == ["r1"]
    assert query(admin, "dept.eng.web and Org.Engineering") == ["r1"]
    r = admin.post("/v1/query", json={"query": "has:Dept.Eng"})
    assert r.status_code == 200, r.text
    assert [i["key"] for i in r.json()["items"]] == ["r1"]
    # The answer says which names were aliases, as lookups do.
    assert alias_header(r) == {"Dept.Eng": "Org.Engineering"}
    r = admin.get("/v1/resources", params={"query": "Org.Engineering or dept.eng.web"})
    assert alias_header(r) == {"dept.eng.web": "Org.Engineering.Web"}
    r = admin.get("/v1/resources", params={"query": "Org.Engineering"})
    assert "X-Tagd-Alias" not in r.headers
    # Unknown names stay errors.
    r = admin.get("/v1/resources", params={"query": "Dept.Nothing"})
    assert r.status_code == 400


def test_alias_cannot_shadow_a_tag(admin):
    eng = admin.get("/v1/tags/Org.Engineering").json()
    r = admin.post("/v1/tags", json={"name": "dept.eng"})
    assert r.status_code == 409, r.text
    err = r.json()["error"]
    assert err["code"] == "already_exists" and "alias" in err["message"]
    assert "Org.Engineering" in err["message"]
    assert err["details"]["field"] == "name"
    # Nor below it: a tag named "a.b" has the tag named "a" as its parent.
    r = admin.post("/v1/tags", json={"name": "Dept.Eng.Api"})
    assert r.status_code == 409 and "alias" in r.json()["error"]["message"], r.text
    # Nor by renaming another tag to it.
    assert admin.post("/v1/tags", json={"name": "Spare"}).status_code == 201
    r = admin.patch("/v1/tags/Spare", json={"name": "Dept.Eng"})
    assert r.status_code == 409 and "alias" in r.json()["error"]["message"]
    # An alias is removed through its tag only.
    spare = admin.get("/v1/tags/Spare").json()["id"]
    r = admin.delete("/v1/tags/%d/aliases/Dept.Eng" % spare)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = admin.delete("/v1/tags/%d/aliases/DEPT.ENG" % eng["id"])
    assert r.status_code == 204, r.text
    assert admin.get("/v1/tags/%d/aliases" % eng["id"]).json()["items"] == []
    # Then the name is free, and names the new tag.
    r = admin.post("/v1/tags", json={"name": "Dept.Eng"})
    assert r.status_code == 201, r.text
    r = admin.get("/v1/tags/Dept.Eng")
    assert r.json()["id"] != eng["id"] and "X-Tagd-Alias" not in r.headers
    # The other old name still resolves.
    assert admin.get("/v1/tags/Dept.Eng.Web").json()["name"] == "Org.Engineering.Web"


def test_rename_back_takes_the_name_again(admin):
    r = admin.post("/v1/tags", json={"name": "Flip"})
    tid = r.json()["id"]
    rename(admin, tid, "Flop")
    r = rename(admin, tid, "Flip")
    assert r.json()["aliases"] == ["Flop"]
    r = admin.get("/v1/tags/Flip")
    assert r.json()["id"] == tid and "X-Tagd-Alias" not in r.headers


def test_move_keeps_old_names_and_history(admin):
    put_res(admin, "file", "mv", ["Loc.Berlin"])
    before = rev(admin.get("/v1/tags"))
    time.sleep(0.02)
    rename(admin, "Loc.Berlin", "Country.DE.Berlin")
    assert tags_of(admin, "file", "mv") == ["Country.DE.Berlin"]
    # As of before the move, the old name; after it, the old name as an alias.
    r = admin.get("/v1/tags/Loc.Berlin", params={"as_of": before})
    assert r.status_code == 200 and r.json()["name"] == "Loc.Berlin"
    assert tags_of(admin, "file", "mv", as_of=before) == ["Loc.Berlin"]
    after = rev(admin.get("/v1/tags"))
    r = admin.get("/v1/tags/Loc.Berlin", params={"as_of": after})
    assert r.status_code == 200 and r.json()["name"] == "Country.DE.Berlin"
    r = admin.get("/v1/resources", params={"query": "Loc.Berlin", "as_of": before})
    assert [i["key"] for i in r.json()["items"]] == ["mv"], r.text
    r = admin.get("/v1/resources", params={"query": "Loc.Berlin", "as_of": after})
    assert [i["key"] for i in r.json()["items"]] == ["mv"], r.text
    # The history of the tag shows the move.
    h = admin.get("/v1/tags/Loc.Berlin/history").json()["items"]
    assert [c["op"] for c in h] == ["create", "update"]


# ---- merges ----

@pytest.fixture(scope="module")
def colours(admin):
    put_res(admin, "file", "c1", ["Colour"])
    put_res(admin, "file", "c2", ["Colour", "Color"])
    put_res(admin, "file", "c3", ["Color"])
    return {n: admin.get("/v1/tags/%s" % n).json()["id"] for n in ("Colour", "Color")}


def test_merge_dry_run_is_the_real_effect(admin, colours):
    state = {k: tags_of(admin, "file", k) for k in ("c1", "c2", "c3")}
    before = rev(admin.get("/v1/tags"))
    r = admin.post("/v1/tags/Colour:merge", params={"dry_run": "true"}, json={"into": "Color"})
    assert r.status_code == 200, r.text
    dry = r.json()
    assert dry["dry_run"] is True
    assert dry["from"] == {"id": colours["Colour"], "name": "Colour"}
    assert dry["into"] == {"id": colours["Color"], "name": "Color"}
    assert (dry["resources"], dry["moved"], dry["collapsed"]) == (2, 1, 1)
    assert dry["aliases_created"] == [{"name": "Colour", "tag": "Color"}]
    assert dry["conflicts"] == []
    # Nothing changed.
    assert {k: tags_of(admin, "file", k) for k in ("c1", "c2", "c3")} == state
    assert admin.get("/v1/tags/Colour").json()["deleted"] is False
    assert rev(admin.get("/v1/tags")) == before
    # The real merge does what the dry run said.
    r = admin.post("/v1/tags/Colour:merge", json={"into": "Color"})
    assert r.status_code == 200, r.text
    real = r.json()
    assert real["dry_run"] is False
    for k in ("pairs", "resources", "moved", "collapsed", "aliases_created", "conflicts"):
        assert real[k] == dry[k], k
    assert {k: tags_of(admin, "file", k) for k in ("c1", "c2", "c3")} == \
        {"c1": ["Color"], "c2": ["Color"], "c3": ["Color"]}
    # The merged name is an alias of the target now, everywhere.
    r = admin.get("/v1/tags/Colour")
    assert r.json()["id"] == colours["Color"] and r.json()["requested_alias"] == "Colour"
    assert query(admin, "Colour") == ["c1", "c2", "c3"]
    assert query(admin, "Color and not Colour") == []
    r = admin.get("/v1/tags/%d/aliases" % colours["Color"]).json()["items"]
    assert [(a["name"], a["reason"]) for a in r] == [("Colour", "merge")]
    # A's row and history stay readable by its id, and as of before the merge.
    old = admin.get("/v1/tags/%d" % colours["Colour"]).json()
    assert old["name"] == "Colour" and old["deleted"] is True
    h = admin.get("/v1/tags/%d/history" % colours["Colour"]).json()["items"]
    assert [c["op"] for c in h] == ["create", "merge"]
    assert tags_of(admin, "file", "c1", as_of=before) == ["Colour"]
    assert tags_of(admin, "file", "c2", as_of=before) == ["Color", "Colour"]
    r = admin.get("/v1/resources", params={"query": "Colour and not Color", "as_of": before})
    assert [i["key"] for i in r.json()["items"]] == ["c1"]
    # The resources' histories show the moves.
    h = admin.get("/v1/resources/file/c1/history").json()["items"]
    assert [c["op"] for c in h][-2:] == ["remove", "add"]
    # The merged tag cannot be restored while its name is an alias of another.
    r = admin.post("/v1/tags/%d:restore" % colours["Colour"])
    assert r.status_code == 409 and "alias" in r.json()["error"]["message"]


def test_merge_subtree_by_relative_names(admin):
    put_res(admin, "file", "s1", ["Src.x", "Src.y", "Dst.x"])
    put_res(admin, "file", "s2", ["Src"])
    r = admin.post("/v1/tags/Src:merge", json={"into": "Dst"})
    assert r.status_code == 409 and r.json()["error"]["details"]["field"] == "subtree"
    r = admin.post("/v1/tags/Src:merge", json={"into": "Dst", "subtree": True, "dry_run": True})
    assert r.status_code == 200, r.text
    dry = r.json()
    pairs = [(p["from"]["name"], p["into"]["name"], p["created"], p["moved"], p["collapsed"])
             for p in dry["pairs"]]
    assert pairs == [("Src", "Dst", False, 1, 0), ("Src.x", "Dst.x", False, 0, 1),
                     ("Src.y", "Dst.y", True, 1, 0)]
    assert dry["pairs"][2]["into"]["id"] is None
    assert admin.get("/v1/tags/Dst.y").status_code == 404
    r = admin.post("/v1/tags/Src:merge", json={"into": "Dst", "subtree": True})
    assert r.status_code == 200, r.text
    assert [(p["from"]["name"], p["into"]["name"], p["moved"], p["collapsed"])
            for p in r.json()["pairs"]] == [(a, b, m, c) for a, b, _, m, c in pairs]
    assert tags_of(admin, "file", "s1") == ["Dst.x", "Dst.y"]
    assert tags_of(admin, "file", "s2") == ["Dst"]
    assert admin.get("/v1/tags/Src.y").json()["name"] == "Dst.y"
    assert query(admin, "Src.*") == ["s1", "s2"]


def test_merge_refuses_to_break_an_exclusive_group(admin):
    g = admin.post("/v1/groups", json={"name": "Stage", "exclusive": True}).json()["id"]
    for n in ("Stage.prod", "Stage.dev"):
        assert admin.post("/v1/tags", json={"name": n, "group_id": g}).status_code == 201
    put_res(admin, "file", "x1", ["Tmp", "Stage.dev"])
    put_res(admin, "file", "x2", ["Tmp"])
    before = rev(admin.get("/v1/tags"))
    r = admin.post("/v1/tags/Tmp:merge", json={"into": "Stage.prod"})
    assert r.status_code == 409, r.text
    err = r.json()["error"]
    assert err["code"] == "conflict" and "exclusive" in err["message"]
    assert err["details"]["field"] == "into"
    assert err["details"]["conflicts"] == [{
        "resource": {"id": err["details"]["conflicts"][0]["resource"]["id"], "kind": "file",
                     "key": "x1"},
        "group": "Stage", "tags": ["Stage.dev", "Stage.prod"]}]
    # Nothing changed, and no revision was made.
    assert rev(admin.get("/v1/tags")) == before
    assert tags_of(admin, "file", "x1") == ["Stage.dev", "Tmp"]
    assert tags_of(admin, "file", "x2") == ["Tmp"]
    assert admin.get("/v1/tags/Tmp").json()["deleted"] is False
    # The dry run shows the same conflict, with the rest of the effect.
    r = admin.post("/v1/tags/Tmp:merge?dry_run=true", json={"into": "Stage.prod"})
    assert r.status_code == 200, r.text
    assert r.json()["conflicts"] == err["details"]["conflicts"]
    assert r.json()["moved"] == 2


def test_merge_errors(admin):
    assert admin.post("/v1/tags", json={"name": "Solo"}).status_code == 201
    r = admin.post("/v1/tags/Solo:merge", json={"into": "Solo"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "rule_violation", r.text
    r = admin.post("/v1/tags/Solo:merge", json={"into": "Nowhere"})
    assert r.status_code == 404 and r.json()["error"]["details"]["field"] == "into"
    r = admin.post("/v1/tags/Solo:merge", json={})
    assert r.status_code == 400 and r.json()["error"]["details"]["field"] == "into"
    r = admin.post("/v1/tags/Solo:merge", json={"into": "Color", "bogus": 1})
    assert r.status_code == 400
    r = admin.post("/v1/tags/Solo:merge", json={"into": 5})
    assert r.status_code == 400
    r = admin.post("/v1/tags/Solo:merge", data="{", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    r = admin.post("/v1/tags/Nothing:merge", json={"into": "Color"})
    assert r.status_code == 404
    reader = Api(admin.server, admin.server.token(["tags:read"]))
    r = reader.post("/v1/tags/Solo:merge", json={"into": "Color"})
    assert r.status_code == 403
    assert admin.get("/v1/tags/Solo").json()["deleted"] is False


# ---- the other dialects ----

LD_SEMANTIC = "application/json; domain-model=launchdarkly.semanticpatch"


def test_launchdarkly_tags_by_old_name(server, admin):
    put_res(admin, "flag", "web%2Fld1")
    path = server.url + "/api/v2/flags/web/ld1"
    hdr = {"Authorization": ADMIN_TOKEN, "Content-Type": LD_SEMANTIC}

    def patch(kind, values):
        body = {"instructions": [{"kind": kind, "values": values}]}
        return requests.patch(path, data=json.dumps(body), headers=hdr, timeout=30)

    r = patch("addTags", ["ld-old"])
    assert r.status_code == 200 and r.json()["tags"] == ["ld-old"], r.text
    rename(admin, "ld-old", "ld-new")
    r = requests.get(path, headers={"Authorization": ADMIN_TOKEN}, timeout=30)
    assert r.json()["tags"] == ["ld-new"]
    # Removing by the old name removes the tag it names now.
    r = patch("removeTags", ["ld-old"])
    assert r.status_code == 200 and r.json()["tags"] == [], r.text
    # Adding by the old name adds that tag, not a new one.
    r = patch("addTags", ["ld-old"])
    assert r.status_code == 200 and r.json()["tags"] == ["ld-new"], r.text
    assert tags_of(admin, "flag", "web%2Fld1") == ["ld-new"]
    # Both names in one patch: one tag.
    r = patch("addTags", ["ld-new", "ld-old"])
    assert r.status_code == 200 and r.json()["tags"] == ["ld-new"], r.text
    r = requests.get(server.url + "/api/v2/tags", params={"kind": "flag", "pre": "ld-"},
                     headers={"Authorization": ADMIN_TOKEN}, timeout=30)
    assert r.json()["items"] == ["ld-new"]


def test_immuta_tags_by_old_name(server, admin):
    h = {"Authorization": "Bearer " + ADMIN_TOKEN}
    assert admin.post("/v1/tags", json={"name": "Im.Old"}).status_code == 201
    rename(admin, "Im.Old", "Im.New")
    new_id = admin.get("/v1/tags/Im.New").json()["id"]
    r = requests.post(server.url + "/tag/datasource/77", json=[{"name": "Im.Old"}], headers=h,
                      timeout=30)
    assert r.status_code == 200, r.text
    assert [t["name"] for t in r.json()] == ["Im.New"]
    r = requests.get(server.url + "/tag/datasource/77", headers=h, timeout=30)
    assert [t["name"] for t in r.json()] == ["Im.New"]
    r = requests.delete(server.url + "/tag/datasource/77/Im.Old", headers=h, timeout=30)
    assert r.status_code == 200, r.text
    assert requests.get(server.url + "/tag/datasource/77", headers=h, timeout=30).json() == []
    # The old name is taken: creating it is Immuta's overlap error, and makes no second tag.
    r = requests.post(server.url + "/tag", json={"tags": [{"name": "Im.Old"}]}, headers=h,
                      timeout=30)
    assert r.status_code == 400 and "overlap" in r.json()["message"], r.text
    assert admin.get("/v1/tags/Im.Old").json()["id"] == new_id
    assert [t["name"] for t in admin.get("/v1/tags", params={"prefix": "Im."}).json()["items"]] \
        == ["Im.New"]


def test_oracle_tags_by_old_name(server, admin):
    put_res(admin, "file", "ora1")
    p = "/documents/api/1.1/files/ora1/tags"
    r = admin.post(p, json={"setTags": "oraOld,keep"})
    assert r.status_code == 200, r.text
    rename(admin, "oraOld", "oraNew")
    assert admin.get(p + "?directAssigned=1").json()["tags"] == "oraNew,keep"
    r = admin.put(p, json={"removeTags": "oraOld"})
    assert r.status_code == 200, r.text
    assert admin.get(p + "?directAssigned=1").json()["tags"] == "keep"
    assert admin.put(p, json={"addTags": "oraOld"}).status_code == 200
    assert tags_of(admin, "file", "ora1") == ["keep", "oraNew"]


def test_easydb_lists_the_merge_target_only(server, admin):
    g = admin.post("/v1/groups", json={"name": "EasyG"}).json()["id"]
    for n in ("Ez.a", "Ez.b"):
        assert admin.post("/v1/tags", json={"name": n, "group_id": g}).status_code == 201
    login = {"login": "ez-editor", "password": "password-123", "rights": ["tags:read"]}
    assert admin.post("/v1/users", json=login).status_code == 201
    tok = requests.get(server.url + "/api/v1/session", timeout=10).json()["token"]
    r = requests.post(server.url + "/api/v1/session/authenticate",
                      params={"token": tok, "login": login["login"],
                              "password": login["password"]}, timeout=10)
    assert r.status_code == 200, r.text

    def group_tag_ids():
        r = requests.get(server.url + "/api/v1/tags", params={"token": tok}, timeout=10)
        assert r.status_code == 200, r.text
        return [[t["tag"]["_id"] for t in x["_tags"]] for x in r.json()
                if x["taggroup"]["_id"] == g][0]

    a = admin.get("/v1/tags/Ez.a").json()["id"]
    b = admin.get("/v1/tags/Ez.b").json()["id"]
    assert group_tag_ids() == [a, b]
    assert admin.post("/v1/tags/Ez.a:merge", json={"into": "Ez.b"}).status_code == 200
    assert group_tag_ids() == [b]
