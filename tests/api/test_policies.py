"""End-to-end tests of tag policies (docs/taxonomy.md, "Policies"; issue 25): their CRUD and
validation, enforce mode refusing writes through the native API (single, batch, import) and
the LaunchDarkly, Immuta and Oracle dialects, each in its own error shape, audit mode only
listing, the violations list and its pages, and organizations kept apart."""
import json

import pytest
import requests

from conftest import ADMIN_TOKEN, Api


def ok(r, status=200):
    assert r.status_code == status, r.text
    return r.json() if r.content else None


def native_error(r, status, code, field=None):
    assert r.status_code == status, r.text
    body = r.json()["error"]
    assert body["code"] == code, body
    if field is not None:
        assert body["details"].get("field") == field, body
    return body


def tag(admin, name):
    r = admin.post("/v1/tags", json={"name": name})
    assert r.status_code in (201, 409), r.text


def put_res(admin, kind, key, **body):
    r = admin.put("/v1/resources/%s/%s" % (kind, requests.utils.quote(key, safe="")), json=body)
    assert r.status_code in (200, 201), r.text


def tags_of(admin, kind, key):
    r = admin.get("/v1/resources/%s/%s/tags" % (kind, requests.utils.quote(key, safe="")))
    return sorted(t["name"] for t in ok(r)["items"])


def policy(admin, **body):
    return ok(admin.post("/v1/policies", json=body), 201)


def violations(api, **params):
    return ok(api.get("/v1/policies/violations", params=params))


def all_violations(api, limit=2, **params):
    """Every violation, page by page; checks that each page says the same total."""
    out, cursor, totals = [], None, set()
    while True:
        p = dict(params, limit=limit)
        if cursor:
            p["cursor"] = cursor
        page = violations(api, **p)
        assert len(page["items"]) <= limit
        out += page["items"]
        totals.add(page["total"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert totals == {len(out)}, (totals, len(out))
    return out


def changes_since(admin, rev):
    return ok(admin.get("/v1/changes", params={"since": rev, "limit": 1000}))["items"]


def revision(admin):
    return int(admin.get("/v1/changes", params={"since": 0, "limit": 1}).headers["X-Tagd-Revision"])


@pytest.fixture(scope="module")
def reader(server):
    return Api(server, server.token("tags:read", name="pol-reader"))


@pytest.fixture(scope="module")
def assigner(server):
    return Api(server, server.token("tags:assign", name="pol-assigner"))


@pytest.fixture(scope="module")
def other(server, admin):
    """An admin of another organization."""
    org = ok(admin.post("/v1/organizations", json={"name": "pol-other"}), 201)
    tok = ok(admin.post("/v1/tokens", json={"name": "pol-other", "rights": "admin",
                                            "organization_id": org["id"]}), 201)["token"]
    return Api(server, tok)


@pytest.fixture(autouse=True)
def no_policies(admin):
    """Each test starts without policies (they apply to the whole workspace)."""
    for p in ok(admin.get("/v1/policies"))["items"]:
        assert admin.delete("/v1/policies/%d" % p["id"]).status_code == 204
    yield


# ---- CRUD ----

def test_create_read_list_patch_delete(admin, reader):
    tag(admin, "Conf.low")
    tag(admin, "Conf.high")
    tag(admin, "Envt.prod")
    p = policy(admin, kind="required", subtree="Conf.*", resource_kind="file", min=1, max=1,
               name="one confidentiality")
    assert {k: p[k] for k in ("kind", "subtree", "resource_kind", "min", "max", "mode", "name",
                              "version")} == {
        "kind": "required", "subtree": "Conf.*", "resource_kind": "file", "min": 1, "max": 1,
        "mode": "audit", "name": "one confidentiality", "version": 1}
    assert p["created_by"] == "TAGD_ADMIN_TOKEN" and p["created_at"]
    a = policy(admin, kind="allowed", subtrees=["Envt.*", "Conf.low", "Envt.*"])
    # Defaults: audit, every kind; a repeated subtree is listed once.
    assert a["subtrees"] == ["Envt.*", "Conf.low"] and a["resource_kind"] is None
    assert a["mode"] == "audit" and "min" not in a and "subtree" not in a
    # Readers read; the list is by id.
    assert [x["id"] for x in ok(reader.get("/v1/policies"))["items"]] == [p["id"], a["id"]]
    r = reader.get("/v1/policies/%d" % p["id"])
    assert ok(r) == p and r.headers["ETag"] == '"1"'
    assert ok(reader.get("/v1/policies/pol_%d" % a["id"]))["id"] == a["id"]
    # Switching to enforce is a PATCH; If-Match guards it.
    native_error(admin.patch("/v1/policies/%d" % p["id"], json={"mode": "enforce"},
                             headers={"If-Match": '"7"'}), 412, "precondition_failed")
    q = ok(admin.patch("/v1/policies/%d" % p["id"], json={"mode": "enforce"},
                       headers={"If-Match": '"1"'}))
    assert q["mode"] == "enforce" and q["version"] == 2 and q["max"] == 1
    q = ok(admin.patch("/v1/policies/%d" % p["id"], json={"max": None, "name": None}))
    assert q["max"] is None and q["name"] is None and q["min"] == 1
    native_error(admin.patch("/v1/policies/%d" % p["id"], json={"kind": "allowed"}), 422,
                 "rule_violation", "kind")
    assert admin.delete("/v1/policies/%d" % p["id"]).status_code == 204
    native_error(admin.get("/v1/policies/%d" % p["id"]), 404, "not_found")
    native_error(admin.delete("/v1/policies/%d" % p["id"]), 404, "not_found")
    native_error(admin.get("/v1/policies/nope"), 404, "not_found")


def test_changes_are_logged_as_entity_policy(admin):
    tag(admin, "Log.a")
    rev = revision(admin)
    p = policy(admin, kind="required", subtree="Log.*")
    ok(admin.patch("/v1/policies/%d" % p["id"], json={"mode": "enforce"}))
    assert admin.delete("/v1/policies/%d" % p["id"]).status_code == 204
    log = [c for c in changes_since(admin, rev) if c["entity"] == "policy"]
    assert [c["op"] for c in log] == ["create", "update", "delete"]
    assert all(c["entity_id"] == p["id"] for c in log)
    after = log[1]["after"]
    after = json.loads(after) if isinstance(after, str) else after
    assert after["mode"] == "enforce" and after["subtrees"][0]["name"] == "Log.*"


@pytest.mark.parametrize("n,body,status,field", [
    (1, {}, 400, "kind"),
    (2, {"kind": "forbidden", "subtree": "Val.*"}, 400, "kind"),
    (3, {"kind": "required"}, 400, "subtree"),
    (4, {"kind": "required", "subtree": "Val.*", "mode": "strict"}, 400, "mode"),
    (5, {"kind": "required", "subtree": "Val.*", "min": -1}, 400, "min"),
    (6, {"kind": "required", "subtree": "Val.*", "min": 101}, 400, "min"),
    (7, {"kind": "required", "subtree": "Val.*", "max": 0}, 400, "max"),
    (8, {"kind": "required", "subtree": "Val.*", "max": "1"}, 400, "max"),
    (9, {"kind": "required", "subtree": "Val.*", "min": 2, "max": 1}, 422, "min"),
    (10, {"kind": "required", "subtree": "Val.*", "min": 0}, 422, "min"),
    (11, {"kind": "required", "subtree": "Nowhere.*"}, 422, "subtree"),
    (12, {"kind": "required", "subtree": "Val*"}, 400, "subtree"),
    (13, {"kind": "required", "subtree": ""}, 400, "subtree"),
    (14, {"kind": "required", "subtree": 5}, 400, "subtree"),
    (15, {"kind": "required", "subtrees": ["Val.*"]}, 400, "subtrees"),
    (16, {"kind": "required", "subtree": "Val.*", "resource_kind": "File!"}, 400,
     "resource_kind"),
    (17, {"kind": "required", "subtree": "Val.*", "colour": "red"}, 400, "colour"),
    (18, {"kind": "allowed", "subtrees": []}, 400, "subtrees"),
    (19, {"kind": "allowed", "subtrees": "Val.*"}, 400, "subtrees"),
    (20, {"kind": "allowed", "subtrees": [3]}, 400, "subtrees[0]"),
    (21, {"kind": "allowed", "subtrees": ["Val.*", "Gone.*"]}, 422, "subtrees[1]"),
    (22, {"kind": "allowed", "subtree": "Val.*"}, 400, "subtree"),
    (23, {"kind": "allowed", "subtrees": ["Val.*"], "min": 1}, 400, "min"),
    (24, {"kind": "allowed"}, 400, "subtrees"),
    (25, {"kind": "required", "subtree": "Val.*", "name": ""}, 400, "name"),
])
def test_bad_input(admin, n, body, status, field):
    tag(admin, "Val.x")
    rev = revision(admin)
    native_error(admin.post("/v1/policies", json=body), status,
                 "invalid_input" if status == 400 else "rule_violation", field)
    assert revision(admin) == rev


def test_bad_bodies_and_rights(admin, reader, assigner):
    native_error(admin.post("/v1/policies", data="{", headers={"Content-Type":
                                                               "application/json"}), 400,
                 "invalid_input")
    native_error(admin.post("/v1/policies", json=[]), 400, "invalid_input")
    tag(admin, "Rights.a")
    body = {"kind": "required", "subtree": "Rights.*"}
    native_error(reader.post("/v1/policies", json=body), 403, "forbidden")
    native_error(assigner.post("/v1/policies", json=body), 403, "forbidden")
    p = policy(admin, **body)
    native_error(assigner.patch("/v1/policies/%d" % p["id"], json={"mode": "enforce"}), 403,
                 "forbidden")
    native_error(reader.delete("/v1/policies/%d" % p["id"]), 403, "forbidden")
    assert violations(reader)["total"] >= 0


def test_names_follow_renames_and_aliases(admin):
    tag(admin, "Sens.a")
    p = policy(admin, kind="required", subtree="Sens.*", mode="enforce", resource_kind="doc")
    ok(admin.patch("/v1/tags/Sens", json={"name": "Sensitivity"}))
    assert ok(admin.get("/v1/policies/%d" % p["id"]))["subtree"] == "Sensitivity.*"
    # The old name is an alias: a policy may name it, and gets the tag it is now.
    q = policy(admin, kind="allowed", subtrees=["Sens.*"], resource_kind="doc2")
    assert q["subtrees"] == ["Sensitivity.*"]
    # Enforced under the new name.
    put_res(admin, "doc", "d1")
    ok(admin.post("/v1/resources/doc/d1/tags", json={"tags": ["Sensitivity.a"]}))
    body = native_error(admin.delete("/v1/resources/doc/d1/tags/Sensitivity.a"), 422,
                        "rule_violation")
    assert "Sensitivity.*" in body["message"]


def test_policy_follows_a_merge(admin):
    tag(admin, "Mrg.old")
    tag(admin, "Mrg.new")
    p = policy(admin, kind="required", subtree="Mrg.old", resource_kind="mfile", mode="enforce")
    put_res(admin, "mfile", "m1")
    ok(admin.post("/v1/resources/mfile/m1/tags", json={"tags": ["Mrg.old"]}))
    ok(admin.post("/v1/tags/Mrg.old:merge", json={"into": "Mrg.new"}))
    # The merged tag's name is an alias of the tag it went into: the policy is about that one.
    assert ok(admin.get("/v1/policies/%d" % p["id"]))["subtree"] == "Mrg.new"
    assert violations(admin, policy=p["id"])["total"] == 0
    native_error(admin.delete("/v1/resources/mfile/m1/tags/Mrg.new"), 422, "rule_violation")


# ---- enforce and audit through the native API ----

def test_required_max_and_min_enforced_natively(admin):
    for n in ("Cls.public", "Cls.secret", "Cls.secret.top", "Other.x"):
        tag(admin, n)
    p = policy(admin, kind="required", subtree="Cls.*", resource_kind="file", min=1, max=1,
               mode="enforce", name="one class")
    # Made without tags: accepted (and listed as a violation until it gets one).
    put_res(admin, "file", "f1")
    ok(admin.post("/v1/resources/file/f1/tags", json={"tags": ["Other.x"]}))
    ok(admin.post("/v1/resources/file/f1/tags", json={"tags": ["Cls.public"]}))
    # A second tag of the subtree (a descendant counts) is over max.
    for t in ("Cls.secret", "Cls.secret.top"):
        body = native_error(admin.post("/v1/resources/file/f1/tags", json={"tags": [t]}), 422,
                            "rule_violation", "tags")
        assert body["message"].startswith("policy %d 'one class': file/f1 would carry 2 tags of"
                                          " Cls.*" % p["id"]), body
        assert "at most 1" in body["message"]
    native_error(admin.put("/v1/resources/file/f1/tags",
                           json={"tags": ["Cls.public", "Cls.secret"]}), 422, "rule_violation")
    # Taking the last one off, alone or by a replace, is under min.
    body = native_error(admin.delete("/v1/resources/file/f1/tags/Cls.public"), 422,
                        "rule_violation")
    assert "would carry 0 tags of Cls.*, at least 1 required" in body["message"], body
    native_error(admin.put("/v1/resources/file/f1/tags", json={"tags": ["Other.x"]}), 422,
                 "rule_violation")
    assert tags_of(admin, "file", "f1") == ["Cls.public", "Other.x"]
    # A swap in one replace keeps it in policy; other tags come and go freely.
    ok(admin.put("/v1/resources/file/f1/tags", json={"tags": ["Cls.secret", "Other.x"]}))
    assert admin.delete("/v1/resources/file/f1/tags/Other.x").status_code in (200, 204)
    assert tags_of(admin, "file", "f1") == ["Cls.secret"]
    # Other kinds are not concerned.
    put_res(admin, "folder", "f1")
    ok(admin.post("/v1/resources/folder/f1/tags", json={"tags": ["Cls.public", "Cls.secret"]}))


def test_allowed_enforced_natively(admin):
    for n in ("Env.prod", "Env.dev", "Team.web"):
        tag(admin, n)
    p = policy(admin, kind="allowed", resource_kind="environment", subtrees=["Env.*"],
               mode="enforce")
    put_res(admin, "environment", "e1")
    ok(admin.post("/v1/resources/environment/e1/tags", json={"tags": ["Env.prod", "Env.dev"]}))
    body = native_error(admin.post("/v1/resources/environment/e1/tags",
                                   json={"tags": ["Env.prod", "Team.web"]}), 422,
                        "rule_violation", "tags")
    assert body["message"] == ("policy %d: tag 'Team.web' is not allowed on environment/e1: only"
                               " Env.* may be put on 'environment' resources" % p["id"]), body
    # create_missing makes the tag, then the policy refuses it: nothing stays.
    native_error(admin.post("/v1/resources/environment/e1/tags",
                            json={"tags": ["Brand.new"], "create_missing": True}), 422,
                 "rule_violation")
    assert admin.get("/v1/tags/Brand.new").status_code == 404
    assert tags_of(admin, "environment", "e1") == ["Env.dev", "Env.prod"]
    put_res(admin, "service", "s1")
    ok(admin.post("/v1/resources/service/s1/tags", json={"tags": ["Team.web"]}))


def test_audit_never_refuses_but_lists_then_enforce_refuses(admin):
    for n in ("Aud.a", "Aud.b", "Zone.x"):
        tag(admin, n)
    req = policy(admin, kind="required", subtree="Aud.*", resource_kind="report", max=1)
    alw = policy(admin, kind="allowed", subtrees=["Aud.*"], resource_kind="report")
    for k in ("r1", "r2", "r3"):
        put_res(admin, "report", k)
    ok(admin.post("/v1/resources/report/r1/tags", json={"tags": ["Aud.a", "Aud.b"]}))
    ok(admin.post("/v1/resources/report/r2/tags", json={"tags": ["Aud.a", "Zone.x"]}))
    got = {(v["policy"]["id"], v["resource"]["key"]): v for v in all_violations(admin)}
    assert set(got) == {(req["id"], "r1"), (req["id"], "r3"), (alw["id"], "r2")}
    v = got[(req["id"], "r1")]
    assert v["reason"] == "too_many" and v["tags"] == ["Aud.a", "Aud.b"]
    assert v["resource"]["kind"] == "report" and v["policy"]["mode"] == "audit"
    assert v["message"] == "carries 2 tags of Aud.*, at most 1 allowed"
    v = got[(req["id"], "r3")]
    assert v["reason"] == "too_few" and v["tags"] == []
    v = got[(alw["id"], "r2")]
    assert v["reason"] == "not_allowed" and v["tags"] == ["Zone.x"]
    assert v["message"] == "carries 1 tag outside Aud.*"
    # Switched to enforce: what is there stays listed, new breaches are refused.
    ok(admin.patch("/v1/policies/%d" % req["id"], json={"mode": "enforce"}))
    ok(admin.patch("/v1/policies/%d" % alw["id"], json={"mode": "enforce"}))
    native_error(admin.post("/v1/resources/report/r2/tags", json={"tags": ["Aud.b"]}), 422,
                 "rule_violation")
    put_res(admin, "report", "r4")
    native_error(admin.post("/v1/resources/report/r4/tags", json={"tags": ["Zone.x"]}), 422,
                 "rule_violation")
    assert len(all_violations(admin)) == 4
    # Fixing one takes it off the list (a removal that lowers an over-max count is fine).
    assert admin.delete("/v1/resources/report/r1/tags/Aud.b").status_code in (200, 204)
    keys = {v["resource"]["key"] for v in all_violations(admin, policy=req["id"])}
    assert keys == {"r3", "r4"}


def test_batch_and_import_are_checked(admin):
    for n in ("Bat.a", "Bat.b"):
        tag(admin, n)
    policy(admin, kind="required", subtree="Bat.*", resource_kind="bfile", max=1, min=0,
           mode="enforce")
    ops = [{"op": "add_tags", "kind": "bfile", "key": "b1", "tags": ["Bat.a"]},
           {"op": "add_tags", "kind": "bfile", "key": "b1", "tags": ["Bat.b"]},
           {"op": "replace_tags", "kind": "bfile", "key": "b1", "tags": ["Bat.b"]}]
    r = admin.post("/v1/batch?mode=partial", json={"operations": ops})
    res = ok(r)["results"]
    assert [x["status"] for x in res] == ["changed", "failed", "changed"], res
    assert res[1]["error"]["code"] == "rule_violation" and "at most 1" in \
        res[1]["error"]["message"]
    assert tags_of(admin, "bfile", "b1") == ["Bat.b"]
    # Atomic: the whole batch goes.
    r = admin.post("/v1/batch", json={"operations": [ops[0]]})
    native_error(r, 422, "rule_violation")
    assert tags_of(admin, "bfile", "b1") == ["Bat.b"]
    # An import chunk is one transaction: refused whole.
    lines = [{"type": "resource", "kind": "bfile", "key": "b2", "name": None, "parent": None,
              "archived": False},
             {"type": "assignment", "kind": "bfile", "key": "b2", "tag": "Bat.a", "context": None},
             {"type": "assignment", "kind": "bfile", "key": "b2", "tag": "Bat.b", "context": None}]
    r = admin.post("/v1/import", data="\n".join(json.dumps(x) for x in lines) + "\n",
                   headers={"Content-Type": "application/x-ndjson"})
    body = native_error(r, 422, "rule_violation")
    assert "at most 1" in body["message"], body
    assert admin.get("/v1/resources/bfile/b2").status_code == 404


# ---- the dialects, each in its own error shape ----

def test_launchdarkly_refusal(server, admin):
    for n in ("ldenv-prod", "ldteam"):
        tag(admin, n)
    ok(admin.put("/v1/resources/flag/pol%2Fchk", json={"name": "Checkout"}), 201)
    p = policy(admin, kind="allowed", resource_kind="flag", subtrees=["ldenv-prod"],
               mode="enforce", name="flags")

    def patch(values):
        return requests.patch(
            server.url + "/api/v2/flags/pol/chk",
            data=json.dumps({"instructions": [{"kind": "addTags", "values": values}]}),
            headers={"Authorization": ADMIN_TOKEN, "Content-Type":
                     "application/json; domain-model=launchdarkly.semanticpatch"})
    r = patch(["ldteam"])
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["code"] == "invalid_request" and body["id"] == r.headers["X-Request-Id"]
    assert ("policy %d 'flags'" % p["id"]) in body["message"] and "ldteam" in body["message"]
    assert patch(["ldenv-prod"]).status_code == 200
    assert tags_of(admin, "flag", "pol/chk") == ["ldenv-prod"]


def hapi(r, status):
    assert r.status_code == status, r.text
    body = r.json()
    assert body["statusCode"] == status and body["error"] and body["message"]
    return body


def test_immuta_refusals(admin):
    ok(admin.post("/tag", json={"tags": [{"name": "ImPol.a"}, {"name": "ImPol.b"}]}))
    p = policy(admin, kind="required", resource_kind="datasource", subtree="ImPol.*", max=1,
               mode="enforce")
    ok(admin.post("/tag/datasource/77", json=[{"name": "ImPol.a"}]))
    body = hapi(admin.post("/tag/datasource/77", json=[{"name": "ImPol.b"}]), 422)
    assert ("policy %d" % p["id"]) in body["message"], body
    body = hapi(admin.delete("/tag/datasource/77/ImPol.a"), 422)
    assert "at least 1 required" in body["message"], body
    assert [t["name"] for t in ok(admin.get("/tag/datasource/77"))] == ["ImPol.a"]


def test_oracle_refusal(admin):
    key = "F0E1D2C3B4A5968778695A4B3C2D1E0F"
    put_res(admin, "file", key)
    tag(admin, "orapol-a")
    tag(admin, "orapol-b")
    p = policy(admin, kind="allowed", resource_kind="file", subtrees=["orapol-a"],
               mode="enforce")
    path = "/documents/api/1.1/files/%s/tags" % key
    r = admin.put(path, json={"addTags": "orapol-b"})
    assert r.status_code == 400, r.text
    b = r.json()
    assert b["errorCode"] == "-1" and ("policy %d" % p["id"]) in b["errorMessage"], b
    assert admin.put(path, json={"addTags": "orapol-a"}).status_code == 200


# ---- violations ----

def test_violations_pages_and_filters(admin, reader):
    tag(admin, "Pg.a")
    tag(admin, "Pg.b")
    p1 = policy(admin, kind="required", subtree="Pg.*", resource_kind="pgres")
    p2 = policy(admin, kind="required", subtree="Pg.a", resource_kind="pgres", min=0, max=1)
    p3 = policy(admin, kind="allowed", subtrees=["Pg.b"], resource_kind="pgres", mode="enforce")
    for i in range(7):
        put_res(admin, "pgres", "k%d" % i)
    ok(admin.post("/v1/resources/pgres/k0/tags", json={"tags": ["Pg.b"]}))
    # An archived resource is not listed.
    put_res(admin, "pgres", "k6", archived=True)
    items = all_violations(reader, limit=2)
    # Ordered by policy, then resource; k0 is fine for p1, everyone for p2, p3 empty.
    got = [(v["policy"]["id"], v["resource"]["key"]) for v in items]
    assert got == [(p1["id"], "k%d" % i) for i in range(1, 6)], got
    assert all_violations(reader, limit=1000) == items
    assert all_violations(reader, limit=3, policy=p1["id"]) == items
    assert violations(reader, policy="pol_%d" % p2["id"]) == {"items": [], "next_cursor": None,
                                                                "total": 0}
    assert violations(reader, policy=p3["id"])["total"] == 0
    native_error(reader.get("/v1/policies/violations", params={"policy": "x"}), 400,
                 "invalid_input", "policy")
    native_error(reader.get("/v1/policies/violations", params={"policy": 9999}), 404,
                 "not_found")
    native_error(reader.get("/v1/policies/violations", params={"cursor": "@@"}), 400,
                 "invalid_input", "cursor")
    native_error(reader.get("/v1/policies/violations", params={"limit": 0}), 400,
                 "invalid_input", "limit")
    # A cursor past a deleted policy goes on with the next one.
    page = violations(reader, limit=1)
    assert admin.delete("/v1/policies/%d" % p1["id"]).status_code == 204
    assert violations(reader, cursor=page["next_cursor"])["items"] == []


def test_organizations_are_kept_apart(admin, other):
    tag(admin, "Iso.a")
    p = policy(admin, kind="required", subtree="Iso.*", resource_kind="isofile",
               mode="enforce")
    put_res(admin, "isofile", "mine")
    assert ok(other.get("/v1/policies"))["items"] == []
    native_error(other.get("/v1/policies/%d" % p["id"]), 404, "not_found")
    native_error(other.patch("/v1/policies/%d" % p["id"], json={"mode": "audit"}), 404,
                 "not_found")
    native_error(other.delete("/v1/policies/%d" % p["id"]), 404, "not_found")
    native_error(other.get("/v1/policies/violations", params={"policy": p["id"]}), 404,
                 "not_found")
    assert violations(other)["total"] == 0
    # Our policy names our tag: the other organization cannot name it, and its own resources
    # of the same kind are not ours to police.
    native_error(other.post("/v1/policies", json={"kind": "required", "subtree": "Iso.*"}),
                 422, "rule_violation")
    ok(other.post("/v1/tags", json={"name": "Iso.a"}), 201)
    ok(other.post("/v1/resources/isofile/theirs/tags", json={"tags": ["Iso.a"]}))
    assert other.delete("/v1/resources/isofile/theirs/tags/Iso.a").status_code in (200, 204)
    keys = [v["resource"]["key"] for v in violations(admin, policy=p["id"])["items"]]
    assert keys == ["mine"]
