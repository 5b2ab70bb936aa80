"""Who may assign what (docs/security.md, "Assign rights"; issue 25): a token's or a user's
`assign` list of tag subtree patterns, restricted tag subtrees that only an explicit pattern
reaches, and a scoped token's resource subtree, checked together on every assignment write:
native single, bulk (PUT), batch and import, and the product dialects with their own error
shapes (LaunchDarkly, Immuta, Oracle). Reads are unaffected."""
import json
import os
import sqlite3
import subprocess

import pytest
import requests

from conftest import ADMIN_TOKEN, Api, Server


def ok(r, status=200):
    assert r.status_code == status, r.text
    return r.json() if r.content else None


def forbidden(r, word=None):
    """A native refusal: 403 forbidden, naming why."""
    assert r.status_code == 403, r.text
    body = r.json()["error"]
    assert body["code"] == "forbidden", body
    if word:
        assert word in body["message"], body
    return body


def token(admin, name, rights, assign=None, **extra):
    body = {"name": name, "rights": rights}
    if assign is not None:
        body["assign"] = assign
    body.update(extra)
    return ok(admin.post("/v1/tokens", json=body), 201)


def tags_of(api, kind, key):
    return sorted(t["name"] for t in ok(api.get("/v1/resources/%s/%s/tags" % (kind, key)))["items"])


ASSIGNER = ["tags:read", "tags:assign"]


@pytest.fixture(scope="module")
def setup(server, admin):
    for name in ("Team.x", "Team.y", "Env.y", "PII.email", "PII.health.x", "Open.a"):
        ok(admin.post("/v1/tags", json={"name": name}), 201)
    for key in ("r1", "r2", "r3", "r4"):
        ok(admin.put("/v1/resources/file/" + key, json={}), 201)
    return admin


# ---- the lists on tokens and users ----

def test_assign_list_on_tokens_and_users(server, admin):
    t = token(admin, "lists", ASSIGNER, ["Team.*", "Env.prod", "*"])
    assert t["assign"] == ["Team.*", "Env.prod", "*"]
    listed = {k["name"]: k for k in ok(admin.get("/v1/tokens"))["items"]}
    assert listed["lists"]["assign"] == ["Team.*", "Env.prod", "*"]
    assert token(admin, "nolist", ASSIGNER)["assign"] is None
    me = ok(Api(server, t["token"]).get("/v1/me"))
    assert me["assign"] == ["Team.*", "Env.prod", "*"]
    assert ok(admin.get("/v1/me"))["assign"] is None
    u = ok(admin.post("/v1/users", json={"login": "lister", "password": "password-1",
                                        "rights": ASSIGNER, "assign": ["Team.*"]}), 201)
    assert u["assign"] == ["Team.*"]
    users = {x["login"]: x for x in ok(admin.get("/v1/users"))["items"]}
    assert users["lister"]["assign"] == ["Team.*"] and users["admin"]["assign"] is None


@pytest.mark.parametrize("bad", [["Team.*.x"], ["*.x"], [".*"], [""], ["a..b"], [1], "Team.*",
                                 ["x"] * 101])
def test_bad_assign_lists(admin, bad):
    r = admin.post("/v1/tokens", json={"name": "bad", "rights": ASSIGNER, "assign": bad})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["details"]["field"] == "assign"


# ---- native: single, bulk, batch, import ----

def test_native_add_remove_replace(server, setup):
    admin = setup
    t = Api(server, token(admin, "team", ASSIGNER, ["Team.*"])["token"])
    ok(t.post("/v1/resources/file/r1/tags", json={"tags": ["Team.x"]}))
    forbidden(t.post("/v1/resources/file/r1/tags", json={"tags": ["Env.y"]}), "Env.y")
    # All or nothing: one tag outside the list refuses the whole request.
    forbidden(t.post("/v1/resources/file/r1/tags", json={"tags": ["Team.y", "Env.y"]}))
    assert tags_of(admin, "file", "r1") == ["Team.x"]
    # Removing a tag outside the list is refused too, by DELETE and by a full replace.
    ok(admin.post("/v1/resources/file/r1/tags", json={"tags": ["Env.y"]}))
    forbidden(t.delete("/v1/resources/file/r1/tags/Env.y"), "remove")
    forbidden(t.put("/v1/resources/file/r1/tags", json={"tags": ["Team.x"]}), "Env.y")
    # A replace that keeps it is fine: only what changes is checked.
    ok(t.put("/v1/resources/file/r1/tags", json={"tags": ["Team.y", "Env.y"]}))
    assert tags_of(admin, "file", "r1") == ["Env.y", "Team.y"]
    assert t.delete("/v1/resources/file/r1/tags/Team.y").status_code == 204
    # Reads are unaffected.
    assert tags_of(t, "file", "r1") == ["Env.y"]
    # A tag already there is no change: no refusal.
    ok(t.post("/v1/resources/file/r1/tags", json={"tags": ["Env.y", "Team.x"]}))


def test_batch_and_import(server, setup):
    admin = setup
    t = Api(server, token(admin, "team-batch", ASSIGNER + ["tags:write"], ["Team.*"])["token"])
    ops = [{"op": "add_tags", "kind": "file", "key": "r2", "tags": ["Team.x"]},
           {"op": "add_tags", "kind": "file", "key": "r2", "tags": ["Env.y"]}]
    body = forbidden(t.post("/v1/batch", json={"operations": ops}), "operations[1]")
    assert tags_of(admin, "file", "r2") == []
    res = ok(t.post("/v1/batch", params={"mode": "partial"}, json={"operations": ops}))
    assert [x["status"] for x in res["results"]] == ["changed", "failed"]
    assert res["results"][1]["error"]["code"] == "forbidden"
    assert tags_of(admin, "file", "r2") == ["Team.x"]
    ok(admin.post("/v1/resources/file/r2/tags", json={"tags": ["Env.y"]}))
    forbidden(t.post("/v1/batch", json={"operations": [
        {"op": "remove_tags", "kind": "file", "key": "r2", "tags": ["Env.y"]}]}))
    forbidden(t.post("/v1/batch", json={"operations": [
        {"op": "replace_tags", "kind": "file", "key": "r2", "tags": []}]}))
    # Import: the assignment lines go through the same check.
    line = '{"type":"assignment","kind":"file","key":"r3","tag":"%s","context":null}\n'
    r = t.post("/v1/import", data=(line % "Env.y").encode(),
               headers={"Content-Type": "application/x-ndjson"})
    forbidden(r)
    assert tags_of(admin, "file", "r3") == []
    r = t.post("/v1/import", data=(line % "Team.y").encode(),
               headers={"Content-Type": "application/x-ndjson"})
    assert r.status_code == 200, r.text
    assert tags_of(admin, "file", "r3") == ["Team.y"]


# ---- restricted subtrees ----

def test_restricted_subtree(server, setup):
    admin = setup
    writer = Api(server, token(admin, "steward", ["tags:read", "tags:write"])["token"])
    # Only an admin restricts (or frees) a subtree.
    forbidden(writer.patch("/v1/tags/PII", json={"assign_restricted": True}), "admin")
    tag = ok(admin.patch("/v1/tags/PII", json={"assign_restricted": True}))
    assert tag["assign_restricted"] is True
    assert ok(admin.get("/v1/tags/PII.email"))["assign_restricted"] is False
    free = Api(server, token(admin, "free", ASSIGNER)["token"])
    wide = Api(server, token(admin, "wide", ASSIGNER, ["*", "Team.*"])["token"])
    steward = Api(server, token(admin, "pii", ASSIGNER, ["PII.*"])["token"])
    health = Api(server, token(admin, "health", ASSIGNER, ["PII.health.*"])["token"])
    # No list, "*", and even the admin without a list do not reach into it.
    for api in (free, wide, admin):
        forbidden(api.post("/v1/resources/file/r4/tags", json={"tags": ["PII.email"]}),
                  "restricted subtree 'PII'")
    ok(free.post("/v1/resources/file/r4/tags", json={"tags": ["Open.a"]}))
    ok(steward.post("/v1/resources/file/r4/tags", json={"tags": ["PII.email"]}))
    ok(health.post("/v1/resources/file/r4/tags", json={"tags": ["PII.health.x"]}))
    forbidden(health.post("/v1/resources/file/r1/tags", json={"tags": ["PII.email"]}))
    # Removing takes the same right; so does a replace that drops it.
    forbidden(admin.delete("/v1/resources/file/r4/tags/PII.email"))
    forbidden(free.put("/v1/resources/file/r4/tags", json={"tags": ["Open.a"]}))
    # A new tag made inside the subtree is restricted too; create_missing does not escape.
    maker = Api(server, token(admin, "maker", ASSIGNER + ["tags:write"])["token"])
    forbidden(maker.post("/v1/resources/file/r4/tags",
                         json={"tags": ["PII.new"], "create_missing": True}))
    r = admin.get("/v1/tags/PII.new")
    assert r.status_code == 404, r.text
    # Moving a tag out of (or into) the subtree is the admin's.
    forbidden(writer.patch("/v1/tags/PII.email", json={"name": "Open.email"}), "boundary")
    forbidden(writer.patch("/v1/tags/Open.a", json={"name": "PII.a"}), "boundary")
    ok(writer.patch("/v1/tags/PII.health.x", json={"name": "PII.health.y"}))
    forbidden(writer.post("/v1/tags/Open.a:merge", json={"into": "PII.email"}), "boundary")
    # The steward with the right removes; the admin can always lift the restriction.
    assert steward.delete("/v1/resources/file/r4/tags/PII.email").status_code == 204
    ok(admin.patch("/v1/tags/PII", json={"assign_restricted": False}))
    ok(free.post("/v1/resources/file/r4/tags", json={"tags": ["PII.email"]}))
    ok(admin.patch("/v1/tags/PII", json={"assign_restricted": True}))
    # Reads are unaffected.
    assert "PII.email" in tags_of(free, "file", "r4")


def test_restricted_on_create_and_in_batch(server, setup):
    admin = setup
    tag = ok(admin.post("/v1/tags", json={"name": "Sec", "assign_restricted": True}), 201)
    assert tag["assign_restricted"] is True
    ok(admin.post("/v1/tags", json={"name": "Sec.key"}), 201)
    writer = Api(server, token(admin, "steward2", ["tags:read", "tags:write"])["token"])
    forbidden(writer.post("/v1/tags", json={"name": "Sec2", "assign_restricted": True}))
    forbidden(writer.post("/v1/batch", json={"operations": [
        {"op": "update_tag", "id": "Sec", "tag": {"assign_restricted": False}}]}))
    t = Api(server, token(admin, "sec", ASSIGNER, ["Sec.*"])["token"])
    ok(t.post("/v1/batch", json={"operations": [
        {"op": "add_tags", "kind": "file", "key": "r4", "tags": ["Sec.key"]}]}))
    forbidden(admin.post("/v1/batch", json={"operations": [
        {"op": "remove_tags", "kind": "file", "key": "r4", "tags": ["Sec.key"]}]}))


@pytest.mark.parametrize("fmt,ctype", [("jsonl", "application/x-ndjson"), ("csv", "text/csv"),
                                       ("skos", "text/turtle")])
def test_export_and_import_keep_restrictions(server, setup, fmt, ctype):
    admin = setup
    ok(admin.post("/v1/tags", json={"name": "Keep.%s" % fmt, "assign_restricted": True}), 201)
    # Explicit: "Keep.*" lies above the restricted root, so it would not do.
    keeper = Api(server, token(admin, "keeper-" + fmt, ASSIGNER, ["Keep.%s.*" % fmt])["token"])
    ok(keeper.post("/v1/resources/file/r2/tags", json={"tags": ["Keep." + fmt]}))
    body = ok_raw(admin.get("/v1/export", params={"format": fmt})).content
    dst = Server().start()
    try:
        a = Api(dst, ADMIN_TOKEN)
        # Only an admin brings a restriction in: a steward's import is refused.
        steward = Api(dst, token(a, "st", ["tags:read", "tags:write", "tags:assign"])["token"])
        forbidden(steward.post("/v1/import", data=body, headers={"Content-Type": ctype}))
        # The admin brings the flags in, but the restricted tags' assignments only with a list
        # that names their subtrees, as any other write of them.
        forbidden(a.post("/v1/import", data=body, headers={"Content-Type": ctype}),
                  "restricted subtree")
        a = Api(dst, token(a, "restorer", ["admin"], ["*", "PII.*", "Sec.*", "Keep.jsonl.*",
                                                      "Keep.csv.*", "Keep.skos.*"])["token"])
        r = a.post("/v1/import", data=body, headers={"Content-Type": ctype})
        assert r.status_code == 200, r.text
        assert ok(a.get("/v1/tags/Keep.%s" % fmt))["assign_restricted"] is True
        assert ok(a.get("/v1/tags/Team.x"))["assign_restricted"] is False
        assert "Keep." + fmt in tags_of(a, "file", "r2")
        # Again: the tags are the same, so they are not written again.
        version = ok(a.get("/v1/tags/Keep." + fmt))["version"]
        r = a.post("/v1/import", data=body, headers={"Content-Type": ctype})
        assert r.status_code == 200, r.text
        assert ok(a.get("/v1/tags/Keep." + fmt))["version"] == version
    finally:
        dst.cleanup()


def ok_raw(r, status=200):
    assert r.status_code == status, r.text
    return r


# ---- changing a list: PATCH /v1/tokens/{id} and /v1/users/{id} ----

def _update_records(admin, entity, entity_id):
    items = ok(admin.get("/v1/changes?since=0&limit=1000&entity=" + entity))["items"]
    return [c for c in items if c["entity_id"] == entity_id and c["op"] == "update"]


def test_patch_token_list_applies_to_its_next_request(server, setup):
    admin = setup
    t = token(admin, "patched", ASSIGNER, ["Team.*"])
    api = Api(server, t["token"])
    # The token's check is cached from here on (--auth-cache, 1 s by default).
    ok(api.post("/v1/resources/file/r4/tags", json={"tags": ["Team.x"]}))
    forbidden(api.post("/v1/resources/file/r4/tags", json={"tags": ["Env.y"]}), "Env.y")
    p = ok(admin.patch("/v1/tokens/%d" % t["id"], json={"assign": ["Env.*"]}))
    assert p["assign"] == ["Env.*"] and p["name"] == "patched" and "token" not in p
    # The very next request has the new list.
    ok(api.post("/v1/resources/file/r4/tags", json={"tags": ["Env.y"]}))
    forbidden(api.post("/v1/resources/file/r4/tags", json={"tags": ["Team.y"]}), "Team.y")
    assert ok(api.get("/v1/me"))["assign"] == ["Env.*"]
    # [] allows nothing, null lifts the limit.
    assert ok(admin.patch("/v1/tokens/%d" % t["id"], json={"assign": []}))["assign"] == []
    forbidden(api.delete("/v1/resources/file/r4/tags/Env.y"), "Env.y")
    assert ok(admin.patch("/v1/tokens/%d" % t["id"], json={"assign": None}))["assign"] is None
    ok(api.post("/v1/resources/file/r4/tags", json={"tags": ["Team.y"]}))
    listed = {k["id"]: k for k in ok(admin.get("/v1/tokens"))["items"]}
    assert listed[t["id"]]["assign"] is None
    # Each change is one record of the change log, with the list before and after.
    recs = _update_records(admin, "token", t["id"])
    assert [(c["before"], c["after"]) for c in recs] == [
        ({"assign": ["Team.*"]}, {"assign": ["Env.*"]}),
        ({"assign": ["Env.*"]}, {"assign": []}),
        ({"assign": []}, {"assign": None})]


def test_patch_user_list_and_rights_apply_to_its_sessions(server, setup):
    admin = setup
    u = ok(admin.post("/v1/users", json={"login": "patchee", "password": "password-1",
                                        "rights": ASSIGNER, "assign": ["Team.*"]}), 201)
    s = ok(requests.post(server.url + "/v1/sessions",
                         json={"login": "patchee", "password": "password-1"}), 201)
    api = Api(server, s["token"])
    ok(admin.put("/v1/resources/file/pu", json={}), 201)
    ok(api.post("/v1/resources/file/pu/tags", json={"tags": ["Team.x"]}))
    forbidden(api.post("/v1/resources/file/pu/tags", json={"tags": ["Env.y"]}), "Env.y")
    p = ok(admin.patch("/v1/users/%d" % u["id"], json={"assign": ["Env.*"]}))
    assert p["assign"] == ["Env.*"] and p["rights"] == ASSIGNER and p["login"] == "patchee"
    ok(api.post("/v1/resources/file/pu/tags", json={"tags": ["Env.y"]}))
    forbidden(api.post("/v1/resources/file/pu/tags", json={"tags": ["Team.y"]}), "Team.y")
    # Rights too: the session loses tags:assign at once; the list stays as it was.
    p = ok(admin.patch("/v1/users/%d" % u["id"], json={"rights": ["tags:read"]}))
    assert p["rights"] == ["tags:read"] and p["assign"] == ["Env.*"]
    me = ok(api.get("/v1/me"))
    assert me["rights"] == ["tags:read"] and me["assign"] == ["Env.*"]
    forbidden(api.post("/v1/resources/file/pu/tags", json={"tags": ["Env.y"]}))
    # Both at once, and an empty patch changes nothing and logs nothing.
    p = ok(admin.patch("/v1/users/%d" % u["id"], json={"rights": ASSIGNER, "assign": None}))
    assert p["rights"] == ASSIGNER and p["assign"] is None
    assert ok(admin.patch("/v1/users/%d" % u["id"], json={})) == p
    ok(api.post("/v1/resources/file/pu/tags", json={"tags": ["Team.y"]}))
    users = {x["login"]: x for x in ok(admin.get("/v1/users"))["items"]}
    assert users["patchee"]["assign"] is None
    assert users["patchee"]["rights"] == ASSIGNER
    recs = _update_records(admin, "user", u["id"])
    assert [(c["before"], c["after"]) for c in recs] == [
        ({"rights": ASSIGNER, "assign": ["Team.*"]}, {"rights": ASSIGNER, "assign": ["Env.*"]}),
        ({"rights": ASSIGNER, "assign": ["Env.*"]}, {"rights": ["tags:read"], "assign": ["Env.*"]}),
        ({"rights": ["tags:read"], "assign": ["Env.*"]}, {"rights": ASSIGNER, "assign": None})]


def _err(r, status, field=None):
    assert r.status_code == status, r.text
    body = r.json()["error"]
    if field:
        assert body["details"]["field"] == field, body
    return body


@pytest.mark.parametrize("body,field", [
    ({"assign": "Team.*"}, "assign"), ({"assign": ["Team.*.x"]}, "assign"),
    ({"assign": [1]}, "assign"), ({"assign": ["x"] * 101}, "assign"),
    ({"rights": ["tags:nope"]}, "rights"), ({"rights": None}, "rights"),
    ({"password": "password-2"}, None), ({"login": "other"}, None)])
def test_patch_user_bad_input(server, setup, body, field):
    admin = setup
    uid = {x["login"]: x for x in ok(admin.get("/v1/users"))["items"]}["admin"]["id"]
    before = admin.get("/v1/changes?since=0&limit=1").headers["X-Tagd-Revision"]
    _err(admin.patch("/v1/users/%d" % uid, json=body), 400, field)
    assert admin.get("/v1/changes?since=0&limit=1").headers["X-Tagd-Revision"] == before


def test_patch_token_bad_input(server, setup):
    admin = setup
    t = token(admin, "badpatch", ASSIGNER, ["Team.*"])
    path = "/v1/tokens/%d" % t["id"]
    for body, field in [({"assign": "Team.*"}, "assign"), ({"assign": [".*"]}, "assign"),
                        ({}, "assign"), ({"name": "x", "assign": None}, None),
                        ({"rights": ["admin"]}, None)]:
        _err(admin.patch(path, json=body), 400, field)
    _err(admin.patch(path, data="[]", headers={"Content-Type": "application/json"}), 400)
    _err(admin.patch(path, data="{", headers={"Content-Type": "application/json"}), 400)
    assert {k["id"]: k for k in ok(admin.get("/v1/tokens"))["items"]}[t["id"]]["assign"] == \
        ["Team.*"]
    # Only API tokens: the operator's TAGD_ADMIN_TOKEN is set at every start.
    env = [k for k in ok(admin.get("/v1/tokens"))["items"] if k["kind"] == "env"][0]
    _err(admin.patch("/v1/tokens/%d" % env["id"], json={"assign": ["Team.*"]}), 400, "id")
    # Unknown and revoked tokens, unknown users.
    _err(admin.patch("/v1/tokens/999999", json={"assign": None}), 404)
    _err(admin.patch("/v1/tokens/abc", json={"assign": None}), 404)
    _err(admin.patch("/v1/users/999999", json={"assign": None}), 404)
    _err(admin.patch("/v1/users/abc", json={"assign": None}), 404)
    ok(admin.delete(path), 204)
    _err(admin.patch(path, json={"assign": None}), 404)


def test_patch_never_reaches_another_organization(server, setup):
    admin = setup
    org = ok(admin.post("/v1/organizations", json={"name": "PatchOther"}), 201)["id"]
    other = Api(server, token(admin, "p-admin", ["admin"], organization_id=org)["token"])
    mine = token(admin, "p-mine", ASSIGNER, ["Team.*"])
    uid = ok(admin.post("/v1/users", json={"login": "p-mine", "password": "password-1",
                                          "rights": ASSIGNER, "assign": ["Team.*"]}), 201)["id"]
    _err(other.patch("/v1/tokens/%d" % mine["id"], json={"assign": None}), 404)
    _err(other.patch("/v1/users/%d" % uid, json={"assign": None, "rights": ["admin"]}), 404)
    assert {k["id"]: k for k in ok(admin.get("/v1/tokens"))["items"]}[mine["id"]]["assign"] == \
        ["Team.*"]
    users = {x["id"]: x for x in ok(admin.get("/v1/users"))["items"]}
    assert users[uid]["assign"] == ["Team.*"] and users[uid]["rights"] == ASSIGNER
    # Users of another organization are not the installation's admin's to change either.
    theirs = ok(other.post("/v1/users", json={"login": "p-theirs", "password": "password-1"}),
                201)["id"]
    _err(admin.patch("/v1/users/%d" % theirs, json={"assign": []}), 404)


# ---- sessions take their user's list ----

def test_session_inherits_the_users_list(server, setup):
    admin = setup
    ok(admin.post("/v1/users", json={"login": "teamer", "password": "password-1",
                                    "rights": ASSIGNER, "assign": ["Team.*"]}), 201)
    s = ok(requests.post(server.url + "/v1/sessions",
                         json={"login": "teamer", "password": "password-1"}), 201)
    api = Api(server, s["token"])
    assert ok(api.get("/v1/me"))["assign"] == ["Team.*"]
    ok(api.post("/v1/resources/file/r3/tags", json={"tags": ["Team.x"]}))
    forbidden(api.post("/v1/resources/file/r3/tags", json={"tags": ["Env.y"]}))


# ---- product dialects, each in its own error shape ----

def test_launchdarkly(server, setup):
    admin = setup
    ok(admin.put("/v1/resources/flag/ar%2Fchk", json={"name": "Checkout"}), 201)
    t = token(admin, "ld", ASSIGNER + ["tags:write"], ["Team.*"])["token"]

    def patch(values):
        return requests.patch(server.url + "/api/v2/flags/ar/chk",
                              data=json.dumps({"instructions": [{"kind": "addTags",
                                                                 "values": values}]}),
                              headers={"Authorization": t, "Content-Type":
                                       "application/json; domain-model=launchdarkly.semanticpatch"})
    r = patch(["Env.y"])
    assert r.status_code == 403, r.text
    body = r.json()
    assert body["code"] == "forbidden" and body["id"] == r.headers["X-Request-Id"]
    assert patch(["Team.x"]).status_code == 200
    assert tags_of(admin, "flag", "ar%2Fchk") == ["Team.x"]


def test_immuta(server, setup):
    admin = setup
    t = Api(server, token(admin, "im", ASSIGNER, ["Team.*"])["token"])
    r = t.post("/tag/datasource/77", json=[{"name": "Env.y"}])
    assert r.status_code == 403, r.text
    body = r.json()
    assert body["statusCode"] == 403 and body["error"] and "Env.y" in body["message"]
    assert r.json() and t.post("/tag/datasource/77", json=[{"name": "Team.x"}]).status_code == 200
    ok(admin.post("/tag/datasource/77", json=[{"name": "Env.y"}]))
    r = t.delete("/tag/datasource/77/Env.y")
    assert r.status_code == 403, r.text
    # An API-key login stands for its key: the key's list.
    key = token(admin, "im-key", ASSIGNER, ["Team.*"])["token"]
    r = requests.post(server.url + "/bim/apikey/authenticate", json={"apikey": key}, timeout=30)
    login = Api(server, ok(r)["token"])
    assert login.post("/tag/datasource/78", json=[{"name": "Env.y"}]).status_code == 403
    assert login.post("/tag/datasource/78", json=[{"name": "Team.y"}]).status_code == 200


def test_oracle(server, setup):
    admin = setup
    key = "D3D76EA99539F2BDF37FD80CB5D17B95F47087F4E599"
    ok(admin.put("/v1/resources/file/" + key, json={}), 201)
    t = Api(server, token(admin, "ora", ASSIGNER, ["Team.*"])["token"])
    path = "/documents/api/1.1/files/%s/tags" % key
    r = t.put(path, json={"addTags": "Env.y"})
    assert r.status_code == 403, r.text
    b = r.json()
    assert b["errorCode"] == "-20" and b["errorKey"] == "!csInsufficientPrivilege"
    assert t.put(path, json={"addTags": "Team.x"}).status_code == 200
    ok(admin.put(path, json={"addTags": "Env.y"}))
    # A set (POST) that drops Env.y removes it: refused.
    r = t.post(path, json={"setTags": "Team.x"})
    assert r.status_code == 403, r.text
    assert t.delete(path).status_code == 403


# ---- a scoped token: both sides apply ----

def _scope(srv, token_id, resource_id):
    # No API makes a bearer token scoped to a subtree (applinks work only through their own
    # headers): the row is scoped as a login from a scoped key would be.
    sql = "UPDATE tokens SET resource_id = %d WHERE id = %d" % (resource_id, token_id)
    if srv.store:
        subprocess.run(["psql", "-Xq", srv.store, "-c", sql], check=True)
    else:
        db = sqlite3.connect(os.path.join(srv.data, "tagd.db"))
        db.execute(sql)
        db.commit()
        db.close()


def test_scoped_token_and_assign_list_both_apply():
    srv = Server().start()
    try:
        a = Api(srv, ADMIN_TOKEN)
        for name in ("Team.x", "Env.y"):
            ok(a.post("/v1/tags", json={"name": name}), 201)
        inside = ok(a.put("/v1/resources/folder/in", json={}), 201)["id"]
        ok(a.put("/v1/resources/file/in1", json={"parent": {"kind": "folder", "key": "in"}}), 201)
        ok(a.put("/v1/resources/file/out1", json={}), 201)
        tok = token(a, "scoped", ASSIGNER, ["Team.*"])
        _scope(srv, tok["id"], inside)
        # A fresh server: no cached authentication of the token before the scope.
        srv.restart()
        t = Api(srv, tok["token"])
        ok(t.post("/v1/resources/file/in1/tags", json={"tags": ["Team.x"]}))
        forbidden(t.post("/v1/resources/file/in1/tags", json={"tags": ["Env.y"]}), "Env.y")
        forbidden(t.post("/v1/resources/file/out1/tags", json={"tags": ["Team.x"]}), "scoped")
        ok(a.post("/v1/resources/file/out1/tags", json={"tags": ["Team.x"]}))
        forbidden(t.delete("/v1/resources/file/out1/tags/Team.x"), "scoped")
        forbidden(t.put("/v1/resources/file/out1/tags", json={"tags": []}), "scoped")
        assert tags_of(a, "file", "out1") == ["Team.x"] and tags_of(a, "file", "in1") == ["Team.x"]
    finally:
        srv.cleanup()


# ---- organizations ----

def test_organizations_are_isolated(server, setup):
    admin = setup
    org = ok(admin.post("/v1/organizations", json={"name": "AssignOther"}), 201)["id"]
    other = Api(server, token(admin, "o-admin", ["admin"], organization_id=org)["token"])
    # The other organization's PII is not restricted by ours, and ours by none of theirs.
    ok(other.post("/v1/tags", json={"name": "PII.email"}), 201)
    ok(other.put("/v1/resources/file/o1", json={}), 201)
    ok(other.post("/v1/resources/file/o1/tags", json={"tags": ["PII.email"]}))
    ok(other.post("/v1/tags", json={"name": "Open.a", "assign_restricted": True}), 201)
    free = Api(server, token(admin, "free2", ASSIGNER)["token"])
    ok(free.post("/v1/resources/file/r2/tags", json={"tags": ["Open.a"]}))
    # A list made in one organization means nothing in the other: its token lists no tags of
    # ours, and its admin sees only its own tokens.
    names = {k["name"] for k in ok(other.get("/v1/tokens"))["items"]}
    assert "team" not in names and "o-admin" in names
