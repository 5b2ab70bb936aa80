"""End-to-end tests of exclusive groups' policies for inheritance conflicts (docs/taxonomy.md,
"Inheritance conflicts"): `union`, `child-wins`, `parent-wins` and `reject` through the native
API (groups, a resource's effective tags, effective queries, as_of), the writes `reject`
refuses, switching policies, and Immuta's and Oracle's inherited tags. The engine answers the
plain reads and the store the reads as of the current revision: every check compares both."""
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


def q(key):
    return requests.utils.quote(key, safe="")


def put_res(admin, kind, key, parent=None):
    body = {"parent": {"kind": parent[0], "key": parent[1]} if parent else None}
    r = admin.put("/v1/resources/%s/%s" % (kind, q(key)), json=body)
    assert r.status_code in (200, 201), r.text


def rev(admin):
    return admin.get("/v1/tags").headers["X-Tagd-Revision"]


def eff(admin, kind, key, **params):
    """The effective tags by name, from the engine, checked against the store (as_of now)."""
    params["effective"] = "true"
    path = "/v1/resources/%s/%s/tags" % (kind, q(key))
    now = sorted(t["name"] for t in ok(admin.get(path, params=params))["items"])
    if "as_of" not in params:
        params["as_of"] = rev(admin)
        then = sorted(t["name"] for t in ok(admin.get(path, params=params))["items"])
        assert now == then, (kind, key, now, then)
    return now


def eff_items(admin, kind, key):
    r = admin.get("/v1/resources/%s/%s/tags" % (kind, q(key)), params={"effective": "true"})
    return ok(r)["items"]


def query(admin, expr, **params):
    """An effective query's resources, from the engine, checked against the store."""
    params.update({"query": expr, "effective": "true", "limit": 1000})
    now = sorted("%s/%s" % (i["kind"], i["key"])
                 for i in ok(admin.get("/v1/resources", params=params))["items"])
    if "as_of" not in params:
        params["as_of"] = rev(admin)
        then = sorted("%s/%s" % (i["kind"], i["key"])
                      for i in ok(admin.get("/v1/resources", params=params))["items"])
        assert now == then, (expr, now, then)
    return now


def group(admin, name, tags, **fields):
    """An exclusive group of new tags `tags` (names), with `fields`."""
    for t in tags:
        ok(admin.post("/v1/tags", json={"name": t}), 201)
    body = {"name": name, "exclusive": True}
    body.update(fields)
    g = ok(admin.post("/v1/groups", json=body), 201)
    ok(admin.put("/v1/groups/%d/tags" % g["id"], json={"tags": tags}))
    return g


def add(admin, kind, key, *tags, status=200):
    r = admin.post("/v1/resources/%s/%s/tags" % (kind, q(key)), json={"tags": list(tags)})
    assert r.status_code == status, r.text
    return r


def tree(admin, prefix):
    """folder P > folder P/sub > file P/sub/f, and file P/g directly under P."""
    put_res(admin, "folder", prefix)
    put_res(admin, "folder", prefix + "/sub", parent=("folder", prefix))
    put_res(admin, "file", prefix + "/sub/f", parent=("folder", prefix + "/sub"))
    put_res(admin, "file", prefix + "/g", parent=("folder", prefix))


# ---- the field ----

def test_conflict_field_default_set_and_bad_input(admin):
    g = ok(admin.post("/v1/groups", json={"name": "CfPlain"}), 201)
    assert g["conflict"] == "union"
    assert ok(admin.get("/v1/groups/%d" % g["id"]))["conflict"] == "union"
    g2 = ok(admin.post("/v1/groups", json={"name": "CfSet", "exclusive": True,
                                           "conflict": "child-wins"}), 201)
    assert g2["conflict"] == "child-wins"
    p = ok(admin.patch("/v1/groups/%d" % g2["id"], json={"conflict": "parent-wins"}))
    assert p["conflict"] == "parent-wins" and p["version"] == g2["version"] + 1
    assert any(x["conflict"] == "parent-wins" for x in ok(admin.get("/v1/groups"))["items"])
    for bad in ("both", "", 3, None, True, "Child-Wins"):
        native_error(admin.post("/v1/groups", json={"name": "CfBad", "conflict": bad}), 400,
                     "invalid_input")
        native_error(admin.patch("/v1/groups/%d" % g2["id"], json={"conflict": bad}), 400,
                     "invalid_input")
    assert ok(admin.get("/v1/groups/%d" % g2["id"]))["conflict"] == "parent-wins"
    # The policy is part of the group's history: as_of a revision before shows the old one.
    r0 = rev(admin)
    ok(admin.patch("/v1/groups/%d" % g2["id"], json={"conflict": "union"}))
    assert ok(admin.get("/v1/groups/%d" % g2["id"], params={"as_of": r0}))["conflict"] == \
        "parent-wins"


# ---- what each policy holds ----

def test_union_keeps_every_tag(admin):
    group(admin, "UnG", ["Un.a", "Un.b"])
    tree(admin, "un")
    add(admin, "folder", "un", "Un.a")
    add(admin, "file", "un/sub/f", "Un.b")
    assert eff(admin, "file", "un/sub/f") == ["Un.a", "Un.b"]
    assert query(admin, "Un.a") == ["file/un/g", "file/un/sub/f", "folder/un", "folder/un/sub"]
    assert query(admin, "Un.a and Un.b") == ["file/un/sub/f"]


def test_child_wins(admin):
    g = group(admin, "CwG", ["Cw.a", "Cw.b", "Cw.c"], conflict="child-wins")
    ok(admin.post("/v1/tags", json={"name": "Cw.free"}), 201)  # in no group
    tree(admin, "cw")
    add(admin, "folder", "cw", "Cw.a", "Cw.free")
    add(admin, "folder", "cw/sub", "Cw.b")
    assert eff(admin, "folder", "cw") == ["Cw.a", "Cw.free"]
    assert eff(admin, "folder", "cw/sub") == ["Cw.b", "Cw.free"]
    assert eff(admin, "file", "cw/sub/f") == ["Cw.b", "Cw.free"]
    assert eff(admin, "file", "cw/g") == ["Cw.a", "Cw.free"]
    items = eff_items(admin, "file", "cw/sub/f")
    b = [i for i in items if i["tag"]["name"] == "Cw.b"][0] if "tag" in items[0] else \
        [i for i in items if i["name"] == "Cw.b"][0]
    assert b["inherited_from"]["key"] == "cw/sub", b
    # The file's own tag wins over both ancestors'.
    add(admin, "file", "cw/sub/f", "Cw.c")
    assert eff(admin, "file", "cw/sub/f") == ["Cw.c", "Cw.free"]
    assert query(admin, "Cw.a") == ["file/cw/g", "folder/cw"]
    assert query(admin, "Cw.b") == ["folder/cw/sub"]
    assert query(admin, "Cw.c") == ["file/cw/sub/f"]
    assert query(admin, "Cw.*") == ["file/cw/g", "file/cw/sub/f", "folder/cw", "folder/cw/sub"]
    assert query(admin, "Cw.free and not Cw.a") == ["file/cw/sub/f", "folder/cw/sub"]
    assert query(admin, "Cw.a or Cw.c") == ["file/cw/g", "file/cw/sub/f", "folder/cw"]
    # A direct (not effective) query is untouched by the policy.
    r = ok(admin.get("/v1/resources", params={"query": "Cw.a", "limit": 10}))
    assert [i["key"] for i in r["items"]] == ["cw"]
    # Union again: every tag along the chain.
    ok(admin.patch("/v1/groups/%d" % g["id"], json={"conflict": "union"}))
    assert eff(admin, "file", "cw/sub/f") == ["Cw.a", "Cw.b", "Cw.c", "Cw.free"]
    assert query(admin, "Cw.a") == ["file/cw/g", "file/cw/sub/f", "folder/cw", "folder/cw/sub"]
    # A group that is not exclusive applies no policy, whatever it says.
    ok(admin.patch("/v1/groups/%d" % g["id"], json={"conflict": "child-wins",
                                                    "exclusive": False}))
    assert eff(admin, "file", "cw/sub/f") == ["Cw.a", "Cw.b", "Cw.c", "Cw.free"]
    ok(admin.patch("/v1/groups/%d" % g["id"], json={"exclusive": True}))
    assert eff(admin, "file", "cw/sub/f") == ["Cw.c", "Cw.free"]


def test_parent_wins(admin):
    group(admin, "PwG", ["Pw.a", "Pw.b", "Pw.c"], conflict="parent-wins")
    tree(admin, "pw")
    add(admin, "folder", "pw/sub", "Pw.b")
    add(admin, "file", "pw/sub/f", "Pw.c")
    assert eff(admin, "file", "pw/sub/f") == ["Pw.b"]
    assert query(admin, "Pw.c") == []
    # The farthest ancestor's tag wins over everything below it.
    add(admin, "folder", "pw", "Pw.a")
    assert eff(admin, "file", "pw/sub/f") == ["Pw.a"]
    assert eff(admin, "folder", "pw/sub") == ["Pw.a"]
    items = eff_items(admin, "folder", "pw/sub")
    assert len(items) == 1 and items[0]["inherited_from"]["key"] == "pw", items
    assert query(admin, "Pw.a") == ["file/pw/g", "file/pw/sub/f", "folder/pw", "folder/pw/sub"]
    assert query(admin, "Pw.b or Pw.c") == []
    # The same tag far and near: it wins, shown from the farthest holder.
    ok(admin.delete("/v1/resources/folder/pw%2Fsub/tags/Pw.b"), 204)
    add(admin, "folder", "pw/sub", "Pw.a")
    assert eff(admin, "file", "pw/sub/f") == ["Pw.a"]
    items = eff_items(admin, "file", "pw/sub/f")
    assert items[0]["inherited_from"]["key"] == "pw", items
    # Taking the ancestor's off gives the nearer ones back.
    ok(admin.delete("/v1/resources/folder/pw/tags/Pw.a"), 204)
    ok(admin.delete("/v1/resources/folder/pw%2Fsub/tags/Pw.a"), 204)
    assert eff(admin, "file", "pw/sub/f") == ["Pw.c"]
    assert query(admin, "Pw.*") == ["file/pw/sub/f"]


def test_policies_across_a_move(admin):
    group(admin, "MvG", ["Mv.a", "Mv.b"], conflict="child-wins")
    put_res(admin, "folder", "mv1")
    put_res(admin, "folder", "mv2")
    put_res(admin, "file", "mvf", parent=("folder", "mv1"))
    add(admin, "folder", "mv1", "Mv.a")
    add(admin, "folder", "mv2", "Mv.b")
    assert eff(admin, "file", "mvf") == ["Mv.a"]
    put_res(admin, "file", "mvf", parent=("folder", "mv2"))
    assert eff(admin, "file", "mvf") == ["Mv.b"]
    assert query(admin, "Mv.b") == ["file/mvf", "folder/mv2"]


def test_as_of_applies_the_policy_of_then(admin):
    g = group(admin, "AoG", ["Ao.a", "Ao.b"], conflict="child-wins")
    tree(admin, "ao")
    add(admin, "folder", "ao", "Ao.a")
    add(admin, "folder", "ao/sub", "Ao.b")
    then = rev(admin)
    ok(admin.patch("/v1/groups/%d" % g["id"], json={"conflict": "parent-wins"}))
    assert eff(admin, "file", "ao/sub/f") == ["Ao.a"]
    assert eff(admin, "file", "ao/sub/f", as_of=then) == ["Ao.b"]
    assert query(admin, "Ao.b", as_of=then) == ["file/ao/sub/f", "folder/ao/sub"]
    assert query(admin, "Ao.b") == []


def test_expiring_assignment_hands_over(admin):
    group(admin, "ExG", ["Ex.a", "Ex.b"], conflict="child-wins")
    tree(admin, "ex")
    add(admin, "folder", "ex", "Ex.a")
    t0 = time.time()
    ok(admin.post("/v1/resources/folder/ex%2Fsub/tags", json={"tags": ["Ex.b"], "ttl": 2}))
    first = eff(admin, "file", "ex/sub/f")
    if time.time() < t0 + 2:  # a slow (sanitized) build may have crossed the expiry already
        assert first == ["Ex.b"]
        assert query(admin, "Ex.a") == ["file/ex/g", "folder/ex"]
    time.sleep(max(0, t0 + 2.3 - time.time()))
    assert eff(admin, "file", "ex/sub/f") == ["Ex.a"]
    assert query(admin, "Ex.a") == ["file/ex/g", "file/ex/sub/f", "folder/ex", "folder/ex/sub"]


# ---- reject ----

def test_reject_refuses_conflicting_writes(admin):
    g = group(admin, "RjG", ["Rj.a", "Rj.b"], conflict="reject")
    tree(admin, "rj")
    add(admin, "folder", "rj/sub", "Rj.a")
    # Below a holder of another tag of the group, and above one.
    e = native_error(add(admin, "file", "rj/sub/f", "Rj.b", status=409), 409, "conflict")
    assert "RjG" in e["message"] and "Rj.a" in e["message"] and "Rj.b" in e["message"], e
    e = native_error(add(admin, "folder", "rj", "Rj.b", status=409), 409, "conflict")
    assert "rj/sub" in e["message"], e
    # The same tag again below is no conflict; a sibling subtree is free.
    add(admin, "file", "rj/sub/f", "Rj.a")
    add(admin, "file", "rj/g", "Rj.b")
    assert eff(admin, "file", "rj/sub/f") == ["Rj.a"]
    # A move that would bring the two together is refused, and nothing of it stays.
    put_res(admin, "folder", "rj2")
    add(admin, "folder", "rj2", "Rj.b")
    r = admin.put("/v1/resources/folder/rj%2Fsub", json={"parent": {"kind": "folder",
                                                                    "key": "rj2"}})
    e = native_error(r, 409, "conflict")
    assert "parent" in e.get("field", "parent") and "Rj.b" in e["message"], e
    assert ok(admin.get("/v1/resources/folder/rj%2Fsub"))["parent"]["key"] == "rj"
    # Replacing the tags (PUT) is checked the same way.
    r = admin.put("/v1/resources/file/rj%2Fsub%2Ff/tags", json=["Rj.b"])
    native_error(r, 409, "conflict")
    assert eff(admin, "file", "rj/sub/f") == ["Rj.a"]
    # Not exclusive: the policy does not apply.
    ok(admin.patch("/v1/groups/%d" % g["id"], json={"exclusive": False}))
    add(admin, "file", "rj/sub/f", "Rj.b")
    assert eff(admin, "file", "rj/sub/f") == ["Rj.a", "Rj.b"]


def test_switching_to_reject_with_conflicts_is_refused(admin):
    g = group(admin, "SwG", ["Sw.a", "Sw.b"])
    tree(admin, "sw")
    add(admin, "folder", "sw", "Sw.a")
    add(admin, "folder", "sw/sub", "Sw.b")
    add(admin, "file", "sw/g", "Sw.b")
    e = native_error(admin.patch("/v1/groups/%d" % g["id"], json={"conflict": "reject"}), 409,
                     "conflict")
    assert "2 resources" in e["message"], e
    assert ok(admin.get("/v1/groups/%d" % g["id"]))["conflict"] == "union"
    # Turning exclusive on is the same switch for a group that says reject.
    ok(admin.patch("/v1/groups/%d" % g["id"], json={"exclusive": False}))
    ok(admin.patch("/v1/groups/%d" % g["id"], json={"conflict": "reject"}))
    native_error(admin.patch("/v1/groups/%d" % g["id"], json={"exclusive": True}), 409,
                 "conflict")
    ok(admin.patch("/v1/groups/%d" % g["id"], json={"conflict": "union", "exclusive": True}))
    # Resolved, the switch goes through.
    ok(admin.delete("/v1/resources/folder/sw%2Fsub/tags/Sw.b"), 204)
    ok(admin.delete("/v1/resources/file/sw%2Fg/tags/Sw.b"), 204)
    assert ok(admin.patch("/v1/groups/%d" % g["id"], json={"conflict": "reject"}))[
        "conflict"] == "reject"


def test_tag_joining_a_reject_group_is_checked(admin):
    g = group(admin, "JnG", ["Jn.a"], conflict="reject")
    ok(admin.post("/v1/tags", json={"name": "Jn.b"}), 201)
    tree(admin, "jn")
    add(admin, "folder", "jn", "Jn.a")
    add(admin, "file", "jn/sub/f", "Jn.b")
    e = native_error(admin.patch("/v1/tags/Jn.b", json={"group_id": g["id"]}), 409, "conflict")
    assert "Jn.b" in e["message"], e
    assert ok(admin.get("/v1/tags/Jn.b")).get("group_id") is None
    r = admin.put("/v1/groups/%d/tags" % g["id"], json={"tags": ["Jn.a", "Jn.b"]})
    native_error(r, 409, "conflict")


# ---- export and import ----

@pytest.mark.parametrize("fmt,ctype,said", [
    ("jsonl", "application/x-ndjson", '"conflict":"parent-wins"'),
    ("skos", "text/turtle", 'tagd:conflict "parent-wins"')])
def test_export_and_import_keep_the_policy(admin, fmt, ctype, said):
    if fmt == "jsonl":
        group(admin, "XpG", ["Xp.a"], conflict="parent-wins")
    r = admin.get("/v1/export", params={"format": fmt, "include": "taxonomy"})
    assert r.status_code == 200, r.text
    assert said in r.text
    s = Server().start()
    try:
        empty = Api(s, ADMIN_TOKEN)
        imp = empty.post("/v1/import", data=r.content, headers={"Content-Type": ctype})
        assert imp.status_code in (200, 201), imp.text
        gs = {g["name"]: g["conflict"] for g in ok(empty.get("/v1/groups"))["items"]}
        assert gs["XpG"] == "parent-wins", gs
    finally:
        s.cleanup()


# ---- product dialects that show inherited tags ----

def test_immuta_inherited_tags_follow_the_policy(admin):
    group(admin, "ImG", ["Im.a", "Im.b"], conflict="child-wins")
    assert admin.post("/tag/datasource/801", json=[{"name": "Im.a"}]).status_code == 200
    assert admin.post("/tag/column/801_c", json=[{"name": "Im.b"}]).status_code == 200
    r = admin.get("/tag/column/801_c", params={"includeInherited": "true"})
    assert r.status_code == 200, r.text
    assert [t["name"] for t in r.json()] == ["Im.b"]
    assert eff(admin, "column", "801_c") == ["Im.b"]


def test_oracle_inherited_tags_follow_the_policy(admin):
    group(admin, "OrG", ["Or.a", "Or.b"], conflict="parent-wins")
    put_res(admin, "folder", "orf")
    put_res(admin, "file", "orf.txt", parent=("folder", "orf"))
    base = "/documents/api/1.1"
    r = admin.post(base + "/folders/orf/tags", json={"setTags": "Or.a"})
    assert r.status_code == 200, r.text
    r = admin.post(base + "/files/orf.txt/tags", json={"setTags": "Or.b"})
    assert r.status_code == 200, r.text
    r = admin.get(base + "/files/orf.txt/tags")
    assert r.status_code == 200, r.text
    assert r.json()["tags"] == "Or.a"
    assert admin.get(base + "/files/orf.txt/tags?directAssigned=1").json()["tags"] == "Or.b"
