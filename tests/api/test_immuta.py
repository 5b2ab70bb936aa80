"""End-to-end tests of the Immuta /tag dialect (seed 001) and the /v1/sources native routes.

Every example of the seed is replayed: the Address hierarchy, the rename with rootTag, the
search, the deletes and the three attach examples. Refresh is exercised with a file source, an
http source served by http.server on a free port, and sources that fail."""
import http.server
import json
import os
import re
import shutil
import socketserver
import tempfile
import threading
import time

import pytest
import requests

from conftest import ADMIN_TOKEN, Api, Server, free_port

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
# The env admin token is the first token (id 1) of a fresh server: core.h
# CORE_PRINCIPAL_TOKEN_BASE + 1.
TOKEN_BASE = 1000000000000
ENV_PROFILE = TOKEN_BASE + 1
TAG_FIELDS = {"id", "name", "displayName", "color", "description", "source", "deleted",
              "systemCreated", "protected", "createdBy", "createdAt", "updatedAt"}


def hapi(r, status):
    assert r.status_code == status, r.text
    body = r.json()
    assert body["statusCode"] == status
    assert isinstance(body["error"], str) and body["error"]
    assert isinstance(body["message"], str)
    return body


def by_name(tags):
    return {t["name"]: t for t in tags}


# ---- auth and errors ----

def test_auth_missing_and_bad(server):
    r = requests.get(server.url + "/tag")
    body = hapi(r, 401)
    assert body["error"] == "Unauthorized"
    r = requests.get(server.url + "/tag", headers={"Authorization": "Bearer nope"})
    hapi(r, 401)
    r = requests.post(server.url + "/tag", json={"tags": [{"name": "x"}]})
    hapi(r, 401)


def test_bare_token_accepted(server):
    r = requests.get(server.url + "/tag", headers={"Authorization": ADMIN_TOKEN})
    assert r.status_code == 200 and isinstance(r.json(), list)


def test_read_token_cannot_write(server, admin):
    tok = server.token("tags:read", name="reader")
    ro = Api(server, tok)
    assert ro.get("/tag").status_code == 200
    body = hapi(ro.post("/tag", json={"tags": [{"name": "Nope"}]}), 403)
    assert body["error"] == "Forbidden"
    hapi(ro.post("/tag/datasource/1", json=[{"name": "Nope"}]), 403)
    hapi(ro.post("/tag/refresh"), 403)
    assert admin.get("/tag", params={"searchText": "Nope"}).json() == []


def test_unknown_route_is_hapi_404(admin):
    body = hapi(admin.get("/tag/datasource/1/x/y"), 404)
    assert body["error"] == "Not Found"


IMMUTA_ROUTES = [
    # (method, path, body, needs)
    ("GET", "/tag", None, "read"),
    ("POST", "/tag", {"tags": [{"name": "Ax.new"}]}, "write"),
    ("POST", "/tag/refresh", None, "write"),
    ("DELETE", "/tag/Ax.base", None, "write"),
    ("GET", "/tag/datasource/900", None, "read"),
    ("POST", "/tag/datasource/900", [{"name": "Ax.base"}], "assign"),
    ("DELETE", "/tag/datasource/900/Ax.base", None, "assign"),
]


@pytest.fixture(scope="module")
def authz_world(server, admin):
    assert admin.post("/tag", json={"tags": [{"name": "Ax.base"}]}).status_code == 200
    assert admin.post("/tag/datasource/900", json=[{"name": "Ax.base"}]).status_code == 200
    toks = {need: server.token([right], name="ax-" + need) for need, right in
            (("read", "tags:read"), ("write", "tags:write"), ("assign", "tags:assign"))}
    org = requests.post(server.url + "/v1/organizations", json={"name": "ax-other"},
                        headers={"Authorization": "Bearer " + ADMIN_TOKEN})
    assert org.status_code == 201, org.text
    toks["other"] = server.token("admin", name="ax-other", organization_id=org.json()["id"])
    return toks


def _rev(admin):
    return admin.get("/v1/changes?since=0&limit=1").headers["X-Tagd-Revision"]


REFUSED = [(holder,) + row for row in IMMUTA_ROUTES for holder in ("read", "write", "assign",
                                                                    "garbage")
           if holder == "garbage" or (row[3] != "read" and holder != row[3])]


@pytest.mark.parametrize("holder,method,path,body,needs", REFUSED)
def test_rights_per_route(server, admin, authz_world, holder, method, path, body, needs):
    before = _rev(admin)
    tok = authz_world.get(holder, "tgd_not-a-token")
    r = requests.request(method, server.url + path, json=body, timeout=10,
                         headers={"Authorization": "Bearer " + tok})
    hapi(r, 401 if holder == "garbage" else 403)
    assert _rev(admin) == before


def test_other_organization_sees_nothing(server, admin, authz_world):
    other = Api(server, authz_world["other"])
    assert other.get("/tag", params={"searchText": "Ax"}).json() == []
    assert other.get("/tag/datasource/900").json() == []
    hapi(other.delete("/tag/Ax.base"), 404)
    hapi(other.delete("/tag/datasource/900/Ax.base"), 404)
    hapi(other.post("/tag/datasource/900", json=[{"name": "Ax.base"}]), 404)
    assert [t["name"] for t in admin.get("/tag/datasource/900").json()] == ["Ax.base"]


# ---- POST /tag ----

def test_create_parent_with_children(admin):
    r = admin.post("/tag", json={"tags": [{"name": "Address.email"}, {"name": "Address.work"},
                                          {"name": "Address.home"}]})
    assert r.status_code == 200, r.text
    tags = r.json()
    assert [t["name"] for t in tags] == ["Address.email", "Address.work", "Address.home"]
    for t in tags:
        assert set(t) == TAG_FIELDS
        assert t["color"] is None and t["description"] is None
        assert t["source"] == "curated"
        assert t["deleted"] is False and t["systemCreated"] is False and t["protected"] is False
        assert ISO.match(t["createdAt"]) and ISO.match(t["updatedAt"])
        assert isinstance(t["id"], int)
        # The env admin token is a principal too: a profile id of the tokens' range.
        assert isinstance(t["createdBy"], int) and t["createdBy"] > TOKEN_BASE
    assert [t["displayName"] for t in tags] == ["email", "work", "home"]
    assert len({t["id"] for t in tags}) == 3
    # The implicit parent exists.
    found = admin.get("/tag", params={"searchText": "address"}).json()
    assert [t["name"] for t in found] == ["Address", "Address.email", "Address.home",
                                          "Address.work"]


def test_recreate_is_overlap(admin):
    admin.post("/tag", json={"tags": [{"name": "Overlap.a"}]})
    for name in ("Overlap.a", "overlap.A", "Overlap"):
        body = hapi(admin.post("/tag", json={"tags": [{"name": name}]}), 400)
        assert "overlap with existing hierarchies" in body["message"]
    # Nothing of a failing request stays.
    body = hapi(admin.post("/tag", json={"tags": [{"name": "Fresh.one"}, {"name": "Overlap.a"}]}),
                400)
    assert admin.get("/tag", params={"searchText": "Fresh"}).json() == []


def test_parent_and_child_in_one_request(admin):
    r = admin.post("/tag", json={"tags": [{"name": "Both.child"}, {"name": "Both"}]})
    assert r.status_code == 200, r.text
    assert [t["name"] for t in r.json()] == ["Both.child", "Both"]


def _names(admin, text):
    return [t["name"] for t in admin.get("/tag", params={"searchText": text}).json()]


def test_root_tag_that_does_not_exist_is_created(admin):
    """Immuta's tagging clients send rootTag and the children's full names to a fresh catalog
    (fh-immuta-utils' Tagger.create_message_body_for_tag_creation)."""
    r = admin.post("/tag", json={"rootTag": {"name": "Fresh", "deleteHierarchy": False},
                                 "tags": [{"name": "Fresh.a"}, {"name": "Fresh.b.c"}]})
    assert r.status_code == 200, r.text
    assert [t["name"] for t in r.json()] == ["Fresh.a", "Fresh.b.c"]
    root = admin.get("/tag", params={"searchText": "Fresh"}).json()[0]
    assert root["name"] == "Fresh" and root["source"] == "curated" and root["deleted"] is False
    assert _names(admin, "Fresh") == ["Fresh", "Fresh.a", "Fresh.b", "Fresh.b.c"]
    # The same request again: the tags overlap, which the clients take as done.
    body = hapi(admin.post("/tag", json={"rootTag": {"name": "Fresh", "deleteHierarchy": False},
                                         "tags": [{"name": "Fresh.a"}]}), 400)
    assert "overlap with existing hierarchies" in body["message"]


@pytest.mark.parametrize("root,tags", [
    ({"name": "NewDeep.er", "source": "curated"}, [{"name": "NewDeep.er.leaf"}]),
    ({"name": "NewHier", "deleteHierarchy": True}, [{"name": "NewHier.x"}]),
    ({"name": "NewEmpty"}, []),
    ({"name": "NewSelf"}, [{"name": "NewSelf"}, {"name": "NewSelf.kid"}]),
])
def test_root_tag_created_with_its_parents(admin, root, tags):
    r = admin.post("/tag", json={"rootTag": root, "tags": tags})
    assert r.status_code == 200, r.text
    top = root["name"].split(".")[0]
    want = sorted({root["name"], top} | {t["name"] for t in tags}
                  | {t["name"].rsplit(".", 1)[0] for t in tags})
    assert _names(admin, top) == want


def test_deleted_root_tag_is_revived(admin):
    old = admin.post("/tag", json={"tags": [{"name": "Revived"}]}).json()[0]
    assert admin.delete("/tag/Revived").status_code == 200
    r = admin.post("/tag", json={"rootTag": {"name": "Revived"},
                                 "tags": [{"name": "Revived.again"}]})
    assert r.status_code == 200, r.text
    root = [t for t in admin.get("/tag", params={"searchText": "Revived"}).json()
            if t["name"] == "Revived"][0]
    assert root["id"] == old["id"] and root["deleted"] is False


def test_root_tag_made_in_the_failing_request_is_undone(server, admin):
    """The root is created inside the request's transaction: an error after it (renaming a
    protected tag below it fails only when the rename runs) leaves nothing behind."""
    t = admin.post("/tag", json={"tags": [{"name": "Locked"}]}).json()[0]
    s = requests.patch(server.url + "/v1/tags/%d" % t["id"], json={"protected": True},
                       headers={"Authorization": "Bearer " + ADMIN_TOKEN})
    assert s.status_code == 200, s.text
    before = _rev(admin)
    body = hapi(admin.post("/tag", json={"rootTag": {"name": "Undone"},
                                         "tags": [{"name": "Undone.new"},
                                                  {"id": t["id"], "name": "Undone.locked"}]}),
                403)
    assert "protected" in body["message"]
    assert _names(admin, "Undone") == []
    assert _rev(admin) == before
    # Checks that come before any write still refuse the whole request.
    hapi(admin.post("/tag", json={"rootTag": {"name": "Undone"},
                                  "tags": [{"name": "Undone.x"}, {"name": "Elsewhere.y"}]}), 400)
    hapi(admin.post("/tag", json={"rootTag": {"name": "Undone", "source": "crm"},
                                  "tags": [{"name": "Undone.x"}]}), 400)
    assert _names(admin, "Undone") == []


def test_rename_children_with_root_tag(admin):
    created = admin.post("/tag", json={"tags": [{"name": "Addr.email"}, {"name": "Addr.work"},
                                                {"name": "Addr.home"}]}).json()
    ids = [t["id"] for t in created]
    time.sleep(0.01)
    r = admin.post("/tag", json={
        "rootTag": {"name": "Addr", "deleteHierarchy": False},
        "tags": [{"id": ids[0], "name": "Addr.state"}, {"id": ids[1], "name": "Addr.city"},
                 {"id": ids[2], "name": "Addr.zip"}]})
    assert r.status_code == 200, r.text
    out = r.json()
    assert [(t["id"], t["name"], t["displayName"]) for t in out] == [
        (ids[0], "Addr.state", "state"), (ids[1], "Addr.city", "city"),
        (ids[2], "Addr.zip", "zip")]
    for before, after in zip(created, out):
        assert after["createdAt"] == before["createdAt"]
        assert after["updatedAt"] > before["updatedAt"]
        assert after["protected"] is False and after["source"] == "curated"
    names = [t["name"] for t in admin.get("/tag", params={"searchText": "Addr."}).json()]
    assert names == ["Addr.city", "Addr.state", "Addr.zip"]


def test_root_tag_delete_hierarchy_replaces_children(admin):
    created = admin.post("/tag", json={"tags": [{"name": "Geo.a"}, {"name": "Geo.b"},
                                                {"name": "Geo.b.deep"}, {"name": "Geo.c"}]}).json()
    keep = created[0]["id"]
    r = admin.post("/tag", json={
        "rootTag": {"name": "Geo", "source": "curated", "deleteHierarchy": True},
        "tags": [{"id": keep, "name": "Geo.a"}, {"name": "Geo.x"}, {"name": "Geo.c"}]})
    assert r.status_code == 200, r.text
    out = r.json()
    assert [t["name"] for t in out] == ["Geo.a", "Geo.x", "Geo.c"]
    assert out[0]["id"] == keep
    assert all(t["deleted"] is False for t in out)
    live = [t["name"] for t in admin.get("/tag", params={"searchText": "Geo"}).json()]
    assert live == ["Geo", "Geo.a", "Geo.c", "Geo.x"]
    # Without deleteHierarchy the children stay.
    r = admin.post("/tag", json={"rootTag": {"name": "Geo"}, "tags": [{"name": "Geo.y"}]})
    assert r.status_code == 200
    live = [t["name"] for t in admin.get("/tag", params={"searchText": "Geo"}).json()]
    assert live == ["Geo", "Geo.a", "Geo.c", "Geo.x", "Geo.y"]


def test_delete_hierarchy_keeps_ids_listed_last(admin):
    created = admin.post("/tag", json={"tags": [{"name": "Lst.a.deep"}, {"name": "Lst.b"}]}).json()
    deep, b = created[0]["id"], created[1]["id"]
    r = admin.post("/tag", json={
        "rootTag": {"name": "Lst", "deleteHierarchy": True},
        "tags": [{"name": "Lst.b"}, {"name": "Lst.new"}, {"id": deep, "name": "Lst.a.deeper"}]})
    assert r.status_code == 200, r.text
    out = r.json()
    assert [t["name"] for t in out] == ["Lst.b", "Lst.new", "Lst.a.deeper"]
    assert out[0]["id"] == b  # deleted and named again: revived
    live = [t["name"] for t in admin.get("/tag", params={"searchText": "Lst"}).json()]
    assert live == ["Lst", "Lst.a", "Lst.a.deeper", "Lst.b", "Lst.new"]


def test_rename_frees_the_old_name(admin):
    a = admin.post("/tag", json={"tags": [{"name": "Swap.old"}]}).json()[0]
    r = admin.post("/tag", json={"tags": [{"name": "Swap.old"},
                                          {"id": a["id"], "name": "Swap.renamed"}]})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out[1]["id"] == a["id"] and out[1]["name"] == "Swap.renamed"
    assert out[0]["name"] == "Swap.old" and out[0]["id"] != a["id"]


@pytest.mark.parametrize("body,status,text", [
    ({}, 400, "\"tags\" is required"),
    ({"tags": "x"}, 400, "must be an array"),
    ({"tags": []}, 400, "at least 1"),
    ({"tags": [{"name": ""}]}, 400, "name"),
    ({"tags": [{"name": "a..b"}]}, 400, "name"),
    ({"tags": [{"name": 5}]}, 400, "name"),
    ({"tags": [{}]}, 400, "name"),
    ({"tags": [{"name": "ok", "bogus": 1}]}, 400, "\"tags.bogus\" is not allowed"),
    ({"tags": [{"name": "ok"}], "extra": 1}, 400, "\"extra\" is not allowed"),
    ({"tags": [{"name": "ok", "id": "7"}]}, 400, "id"),
    ({"tags": [{"name": "Dup"}, {"name": "dup"}]}, 400, "twice"),
    ({"tags": [{"name": "ok"}], "rootTag": {}}, 400, "rootTag.name"),
    ({"tags": [{"name": "ok"}], "rootTag": {"name": "ok", "deleteHierarchy": "yes"}}, 400,
     "deleteHierarchy"),
    ({"tags": [{"name": "Address.x"}], "rootTag": {"name": "Address", "source": "crm"}}, 400,
     "curated"),
    ({"tags": [{"name": "Elsewhere.x"}], "rootTag": {"name": "Address"}}, 400,
     "not below rootTag"),
    ({"tags": [{"name": "x.y"}], "rootTag": {"name": "x..y"}}, 400, "rootTag.name"),
    ({"tags": [{"name": "Nowhere2.x"}], "rootTag": {"name": "Nowhere"}}, 400, "not below rootTag"),
    ({"tags": [{"name": "Address.q", "id": 999999}]}, 404, "not found"),
])
def test_create_invalid(admin, body, status, text):
    admin.post("/tag", json={"tags": [{"name": "Address.seed"}]})
    body = hapi(admin.post("/tag", json=body), status)
    assert text in body["message"]


def test_malformed_json(admin):
    r = admin.post("/tag", data=b'{"tags": [', headers={"Content-Type": "application/json"})
    hapi(r, 400)
    r = admin.post("/tag", data=b"[]", headers={"Content-Type": "application/json"})
    hapi(r, 400)


def test_rename_onto_existing_is_overlap(admin):
    a, b = admin.post("/tag", json={"tags": [{"name": "Ren.a"}, {"name": "Ren.b"}]}).json()
    body = hapi(admin.post("/tag", json={"tags": [{"id": a["id"], "name": "Ren.b"}]}), 400)
    assert "overlap with existing hierarchies" in body["message"]


def test_protected_tag_cannot_change(server, admin):
    t = admin.post("/tag", json={"tags": [{"name": "Guarded"}]}).json()[0]
    s = requests.patch(server.url + "/v1/tags/%d" % t["id"], json={"protected": True},
                       headers={"Authorization": "Bearer " + ADMIN_TOKEN})
    assert s.status_code == 200, s.text
    body = hapi(admin.post("/tag", json={"tags": [{"id": t["id"], "name": "Guarded2"}]}), 403)
    assert "protected" in body["message"]
    hapi(admin.delete("/tag/Guarded"), 403)
    assert admin.get("/tag", params={"searchText": "Guarded"}).json()[0]["protected"] is True


# ---- GET /tag ----

@pytest.fixture(scope="module")
def search_set(admin):
    admin.post("/tag", json={"tags": [{"name": "DataProperties.Cross-Sectional"},
                                      {"name": "Discovered.Country.Argentina"},
                                      {"name": "Discovered.Country.Australia"},
                                      {"name": "discovered.zeta"}]})


def test_search_sorted_by_name(admin, search_set):
    tags = admin.get("/tag", params={"searchText": "o"}).json()
    names = [t["name"] for t in tags]
    assert names == sorted(names)  # bytewise: upper case before lower case
    assert names.index("Discovered.Country") < names.index("discovered.zeta")
    for t in tags:
        assert set(t) == TAG_FIELDS


def test_search_text_is_case_insensitive_substring(admin, search_set):
    names = [t["name"] for t in admin.get("/tag", params={"searchText": "COUNTRY.A"}).json()]
    assert names == ["Discovered.Country.Argentina", "Discovered.Country.Australia"]
    assert admin.get("/tag", params={"searchText": "no-such-thing"}).json() == []


def test_search_limit(admin, search_set):
    tags = admin.get("/tag", params={"searchText": "Discovered", "limit": 2}).json()
    assert [t["name"] for t in tags] == ["Discovered", "Discovered.Country"]
    hapi(admin.get("/tag", params={"limit": 0}), 400)
    hapi(admin.get("/tag", params={"limit": "x"}), 400)


def test_search_excluded_hierarchies(admin, search_set):
    q = [("searchText", "o"), ("excludedHierarchies", "Discovered.Country"),
         ("excludedHierarchies", "dataproperties")]
    names = [t["name"] for t in admin.get("/tag", params=q).json()]
    assert "Discovered" in names and "discovered.zeta" in names
    assert not any(n.startswith("Discovered.Country") or n.startswith("DataProperties")
                   for n in names)
    q = [("searchText", "Discovered"), ("excludedHierarchies", '["Discovered.Country"]')]
    names = [t["name"] for t in admin.get("/tag", params=q).json()]
    assert names == ["Discovered", "discovered.zeta"]
    hapi(admin.get("/tag", params={"excludedHierarchies": "[1]"}), 400)


def test_search_source_filters(admin, search_set):
    tags = admin.get("/tag", params={"source": "curated", "searchText": "Discovered"}).json()
    assert len(tags) == 5
    assert admin.get("/tag", params={"source": "crm-none"}).json() == []
    assert admin.get("/tag", params={"excludedSource": "curated",
                                     "searchText": "Discovered"}).json() == []


def test_search_deleted_and_system_tags(admin, search_set):
    admin.post("/tag", json={"tags": [{"name": "Gone.soon"}]})
    assert admin.delete("/tag/Gone.soon").status_code == 200
    names = [t["name"] for t in admin.get("/tag", params={"searchText": "Gone"}).json()]
    assert names == ["Gone"]
    # No system tags exist here, so both settings of includeAllSystemTags give the live tags.
    for v in ("true", "false"):
        names = [t["name"] for t in admin.get("/tag", params={"searchText": "Gone",
                                                              "includeAllSystemTags": v}).json()]
        assert names == ["Gone"]
    hapi(admin.get("/tag", params={"includeAllSystemTags": "maybe"}), 400)


# ---- DELETE /tag/{tag} ----

def test_delete_tag(admin):
    t = admin.post("/tag", json={"tags": [{"name": "DataProps.Cross-Sectional"}]}).json()[0]
    time.sleep(0.01)
    r = admin.delete("/tag/DataProps.Cross-Sectional")
    assert r.status_code == 200, r.text
    out = r.json()
    assert len(out) == 1
    d = out[0]
    assert set(d) == TAG_FIELDS
    assert d["id"] == t["id"] and d["deleted"] is True and d["name"] == t["name"]
    assert d["createdAt"] == t["createdAt"] and d["updatedAt"] > t["updatedAt"]
    hapi(admin.delete("/tag/DataProps.Cross-Sectional"), 404)
    hapi(admin.delete("/tag/Never.there"), 404)
    # Re-creating a deleted name brings it back.
    r = admin.post("/tag", json={"tags": [{"name": "DataProps.Cross-Sectional"}]})
    assert r.status_code == 200 and r.json()[0]["id"] == t["id"]
    assert r.json()[0]["deleted"] is False


def test_delete_hierarchy(admin):
    admin.post("/tag", json={"tags": [{"name": "Tree.a.x"}, {"name": "Tree.b"}]})
    body = hapi(admin.delete("/tag/Tree"), 400)
    assert "deleteHierarchy" in body["message"]
    r = admin.delete("/tag/Tree", params={"deleteHierarchy": "true"})
    assert r.status_code == 200, r.text
    out = r.json()
    assert sorted(t["name"] for t in out) == ["Tree", "Tree.a", "Tree.a.x", "Tree.b"]
    assert all(t["deleted"] for t in out)
    assert admin.get("/tag", params={"searchText": "Tree"}).json() == []


def test_delete_url_encoded_name(admin):
    admin.post("/tag", json={"tags": [{"name": "Spaced name.with dash-x"}]})
    r = admin.delete("/tag/Spaced%20name.with%20dash-x")
    assert r.status_code == 200, r.text
    assert r.json()[0]["name"] == "Spaced name.with dash-x"


# ---- attach, list, detach ----

@pytest.fixture(scope="module")
def attach_tags(admin):
    admin.post("/tag", json={"tags": [{"name": "Discovered.Passport"}, {"name": "Confidential"},
                                      {"name": "PII.email"}]})


def test_attach_to_datasource(admin, attach_tags):
    r = admin.post("/tag/datasource/22", json=[{"name": "Discovered.Passport",
                                                "source": "curated"}])
    assert r.status_code == 200, r.text
    assert r.json() == [{"name": "Discovered.Passport", "source": "curated", "context": "manual",
                         "addedBy": ENV_PROFILE, "deleted": False}]
    tags = admin.get("/tag/datasource/22").json()
    assert [t["name"] for t in tags] == ["Discovered.Passport"]


def test_attach_to_project(admin, attach_tags):
    r = admin.post("/tag/project/2", json=[{"name": "Confidential", "source": "curated"}])
    assert r.status_code == 200, r.text
    out = r.json()
    assert out[0]["name"] == "Confidential" and out[0]["context"] == "manual"
    assert out[0]["deleted"] is False and "addedBy" in out[0] and out[0]["source"] == "curated"


def test_attach_to_column_inherits_from_datasource(server, admin, attach_tags):
    r = admin.post("/tag/datasource/6", json=[{"name": "Confidential"}])
    assert r.status_code == 200, r.text
    r = admin.post("/tag/column/6_countrycode", json=[{"name": "Discovered.Passport",
                                                       "source": "curated"}])
    assert r.status_code == 200, r.text
    assert r.json() == [{"name": "Discovered.Passport", "source": "curated",
                         "context": "manual", "addedBy": ENV_PROFILE, "deleted": False}]
    direct = admin.get("/tag/column/6_countrycode").json()
    assert [t["name"] for t in direct] == ["Discovered.Passport"]
    eff = admin.get("/tag/column/6_countrycode", params={"includeInherited": "true"}).json()
    assert [t["name"] for t in eff] == ["Discovered.Passport", "Confidential"]
    assert eff[1]["context"] == "inherited"
    assert eff[1]["inheritedFrom"] == {"modelType": "datasource", "modelId": "6"}
    # The native view agrees: the column is a child of its data source.
    n = requests.get(server.url + "/v1/resources/column/6_countrycode",
                     headers={"Authorization": "Bearer " + ADMIN_TOKEN}).json()
    assert n["parent"] == {"kind": "datasource", "key": "6"}, n
    eff = requests.get(server.url + "/v1/resources/column/6_countrycode/tags",
                       params={"effective": "true"},
                       headers={"Authorization": "Bearer " + ADMIN_TOKEN})
    assert eff.status_code == 200, eff.text
    assert "Confidential" in eff.text


def test_column_id_splits_at_first_underscore(admin, attach_tags):
    r = admin.post("/tag/column/49_OBJECT_ID", json=[{"name": "PII.email"}])
    assert r.status_code == 200, r.text
    admin.post("/tag/datasource/49", json=[{"name": "Confidential"}])
    eff = admin.get("/tag/column/49_OBJECT_ID", params={"includeInherited": "true"}).json()
    assert eff[-1]["inheritedFrom"] == {"modelType": "datasource", "modelId": "49"}


def test_attach_all_or_nothing(admin, attach_tags):
    r = admin.post("/tag/datasource/77", json=[{"name": "Confidential"},
                                               {"name": "No.such.tag"}])
    body = hapi(r, 404)
    assert "No.such.tag" in body["message"]
    assert admin.get("/tag/datasource/77").json() == []
    r = admin.post("/tag/datasource/77", json=[{"name": "Confidential"},
                                               {"name": "PII.email", "source": "crm"}])
    hapi(r, 400)
    r = admin.post("/tag/datasource/77", json=[{"name": "Confidential"}, {"nom": "x"}])
    hapi(r, 400)
    assert admin.get("/tag/datasource/77").json() == []


@pytest.mark.parametrize("path", ["/tag/table/1", "/tag/datasource/abc", "/tag/column/6",
                                  "/tag/column/_x", "/tag/column/6_", "/tag/project/-1"])
def test_attach_bad_models(admin, attach_tags, path):
    hapi(admin.post(path, json=[{"name": "Confidential"}]), 400)
    hapi(admin.get(path), 400)


def test_attach_body_must_be_array(admin, attach_tags):
    hapi(admin.post("/tag/datasource/5", json={"name": "Confidential"}), 400)


def test_attach_deleted_tag_refused(admin):
    admin.post("/tag", json={"tags": [{"name": "Temp.t"}]})
    admin.delete("/tag/Temp.t")
    hapi(admin.post("/tag/datasource/8", json=[{"name": "Temp.t"}]), 404)


def test_model_never_seen_has_no_tags(admin):
    assert admin.get("/tag/project/424242").json() == []


def test_detach(admin, attach_tags):
    admin.post("/tag/datasource/523", json=[{"name": "Confidential"}, {"name": "PII.email"}])
    r = admin.delete("/tag/datasource/523/PII.email")
    assert r.status_code == 200, r.text
    assert r.json()[0]["name"] == "PII.email" and r.json()[0]["context"] == "manual"
    assert [t["name"] for t in admin.get("/tag/datasource/523").json()] == ["Confidential"]
    hapi(admin.delete("/tag/datasource/523/PII.email"), 404)
    hapi(admin.delete("/tag/datasource/9999/PII.email"), 404)
    hapi(admin.delete("/tag/datasource/523/Never.there"), 404)
    hapi(admin.delete("/tag/widget/523/Confidential"), 400)


def test_deleted_tag_leaves_model(admin, attach_tags):
    admin.post("/tag", json={"tags": [{"name": "Short.lived"}]})
    admin.post("/tag/project/31", json=[{"name": "Short.lived"}, {"name": "Confidential"}])
    admin.delete("/tag/Short.lived")
    assert [t["name"] for t in admin.get("/tag/project/31").json()] == ["Confidential"]


def test_added_by_is_the_tokens_profile(admin, attach_tags):
    """Every principal has a profile id, tokens too (more in test_immuta_login.py)."""
    out = admin.post("/tag/project/3", json=[{"name": "Confidential"}]).json()
    assert out[0]["addedBy"] == ENV_PROFILE
    assert admin.get("/tag/project/3").json()[0]["addedBy"] == ENV_PROFILE


# ---- sources and refresh ----

class _Handler(http.server.BaseHTTPRequestHandler):
    routes = {}

    def do_GET(self):
        status, body, delay = self.routes.get(self.path, (404, b"missing", 0))
        if delay:
            time.sleep(delay)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:
            pass

    def log_message(self, *a):
        pass


@pytest.fixture(scope="module")
def http_source():
    port = free_port()
    socketserver.ThreadingTCPServer.allow_reuse_address = True
    srv = socketserver.ThreadingTCPServer(("127.0.0.1", port), _Handler)
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield "http://127.0.0.1:%d" % port, _Handler.routes
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope="module")
def src_server():
    """A separate tagd with a config-file source and a short fetch timeout."""
    d = tempfile.mkdtemp(prefix="tagd-src-")
    cfgfile = os.path.join(d, "tagd.conf")
    cfg_src = os.path.join(d, "cfg.json")
    with open(cfg_src, "w") as f:
        json.dump(["FromConfig.one"], f)
    with open(cfgfile, "w") as f:
        # The tests register local files and 127.0.0.1 sources through the API: allow it.
        f.write("sources = cfgsrc=file://%s\nsource-timeout = 1000\nsources-allow-local = 1\n" % cfg_src)
    s = Server(extra_args=["--config", cfgfile]).start()
    s.dir = d
    s.cfg_src = cfg_src
    yield s
    s.cleanup()
    shutil.rmtree(d, ignore_errors=True)


def write(path, doc):
    with open(path, "w") as f:
        json.dump(doc, f)


def native(server):
    return Api(server, ADMIN_TOKEN)


def test_sources_api(src_server):
    a = native(src_server)
    r = a.get("/v1/sources")
    assert r.status_code == 200
    assert r.json()["items"][0]["name"] == "cfgsrc" and r.json()["items"][0]["origin"] == "config"
    p = os.path.join(src_server.dir, "s.json")
    r = a.post("/v1/sources", json={"name": "tmp", "url": p})
    assert r.status_code == 201, r.text
    s = r.json()
    assert s["name"] == "tmp" and s["url"] == p and s["origin"] == "api"
    assert s["refreshed_at"] is None and s["last_error"] is None
    assert r.headers["Location"] == "/v1/sources/tmp"
    assert a.post("/v1/sources", json={"name": "tmp", "url": p}).status_code == 409
    assert a.post("/v1/sources", json={"name": "cfgsrc", "url": p}).status_code == 409
    for bad in ({"name": "x"}, {"url": p}, {"name": "a b", "url": p},
                {"name": "curated", "url": p}, {"name": "ok", "url": "ftp://x/y"},
                {"name": "ok", "url": "relative/path.json"}, {"name": "ok", "url": p, "z": 1}):
        r = a.post("/v1/sources", json=bad)
        assert r.status_code == 400, (bad, r.text)
        assert r.json()["error"]["code"] == "invalid_input"
    assert a.delete("/v1/sources/tmp").status_code == 204
    assert a.delete("/v1/sources/tmp").status_code == 404
    assert a.delete("/v1/sources/cfgsrc").status_code == 422
    ro = Api(src_server, src_server.token("tags:read,tags:write", name="nonadmin"))
    assert ro.get("/v1/sources").status_code == 403
    assert ro.post("/v1/sources", json={"name": "n", "url": p}).status_code == 403
    assert requests.get(src_server.url + "/v1/sources").status_code == 401


def test_native_refresh_all_and_one(src_server):
    a = native(src_server)
    p = os.path.join(src_server.dir, "nat.json")
    bad = os.path.join(src_server.dir, "natbad.json")
    write(p, ["Nat.a", "Nat.b"])
    with open(bad, "w") as f:
        f.write("{not json")
    assert a.post("/v1/sources", json={"name": "nat", "url": p}).status_code == 201
    assert a.post("/v1/sources", json={"name": "natbad", "url": bad}).status_code == 201
    try:
        r = a.post("/v1/sources:refresh")
        assert r.status_code == 200, r.text
        res = {s["name"]: s for s in r.json()["items"]}
        assert res["nat"] == {"name": "nat", "ok": True, "created": 3, "updated": 0,
                              "deleted": 0, "unchanged": 0, "conflicts": []}
        # A failing source is reported, not an HTTP error, and stops no other.
        assert res["natbad"]["ok"] is False and res["natbad"]["error"]
        assert res["cfgsrc"]["ok"] is True
        write(p, ["Nat.a"])
        r = a.post("/v1/sources/nat:refresh")
        assert r.status_code == 200, r.text
        assert r.json() == {"name": "nat", "ok": True, "created": 0, "updated": 0,
                            "deleted": 1, "unchanged": 2, "conflicts": []}
        assert a.get("/v1/tags/Nat.b").json()["deleted"] is True
        r = a.post("/v1/sources/nope:refresh")
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
        r = a.post("/v1/sources/natbad:refresh")
        assert r.status_code == 200 and r.json()["ok"] is False
        ro = Api(src_server, src_server.token("tags:read,tags:write", name="nonadmin-refresh"))
        assert ro.post("/v1/sources:refresh").status_code == 403
    finally:
        a.delete("/v1/sources/nat")
        a.delete("/v1/sources/natbad")


def test_refresh_file_source_adds_changes_drops(src_server):
    a = native(src_server)
    p = os.path.join(src_server.dir, "crm.json")
    write(p, [{"name": "Crm.Customer.Name", "description": "a name"},
              {"name": "Crm.Customer.Phone"},
              "Crm.Order"])
    assert a.post("/v1/sources", json={"name": "crm", "url": "file://" + p}).status_code == 201
    # A curated tag that the source also lists is left alone.
    a.post("/tag", json={"tags": [{"name": "Shared.curated"}]})
    r = a.post("/tag/refresh")
    assert r.status_code == 200, r.text
    res = {s["name"]: s for s in r.json()["sources"]}
    assert res["crm"] == {"name": "crm", "ok": True, "created": 5, "updated": 0, "deleted": 0,
                          "unchanged": 0, "conflicts": []}
    assert res["cfgsrc"]["ok"] is True
    tags = by_name(a.get("/tag", params={"source": "crm"}).json())
    assert sorted(tags) == ["Crm", "Crm.Customer", "Crm.Customer.Name", "Crm.Customer.Phone",
                            "Crm.Order"]
    t = tags["Crm.Customer.Name"]
    assert t["description"] == "a name" and t["protected"] is True
    assert t["systemCreated"] is False and t["source"] == "crm"
    assert by_name(a.get("/tag", params={"searchText": "FromConfig"}).json())[
        "FromConfig.one"]["source"] == "cfgsrc"

    # Same document again: nothing changes.
    r = a.post("/tag/refresh")
    res = {s["name"]: s for s in r.json()["sources"]}
    assert res["crm"]["unchanged"] == 5 and res["crm"]["created"] == 0

    # Changed description, a vanished name, a new one, and a name held by a curated tag.
    write(p, [{"name": "Crm.Customer.Name", "description": "the full name"},
              "Crm.Order", "Crm.Invoice", "Shared.curated"])
    r = a.post("/tag/refresh")
    assert "sources" in r.json(), r.text
    res = {s["name"]: s for s in r.json()["sources"]}["crm"]
    assert res["created"] == 1  # Crm.Invoice
    assert res["updated"] == 1 and res["deleted"] == 1
    # Shared and Shared.curated are curated (the parent was made implicitly): left alone.
    assert res["conflicts"] == ["Shared", "Shared.curated"]
    live = by_name(a.get("/tag", params={"source": "crm"}).json())
    assert "Crm.Customer.Phone" not in live and "Crm.Invoice" in live
    assert live["Crm.Customer.Name"]["description"] == "the full name"
    cur = by_name(a.get("/tag", params={"searchText": "Shared"}).json())
    assert cur["Shared.curated"]["source"] == "curated"
    assert cur["Shared.curated"]["protected"] is False
    # The vanished tag is soft-deleted, not gone.
    gone = a.get("/v1/tags/Crm.Customer.Phone").json()
    assert gone["deleted"] is True

    # External tags are protected against Immuta edits.
    hapi(a.post("/tag", json={"tags": [{"id": live["Crm.Order"]["id"], "name": "Crm.Ord"}]}),
         403)
    # A name that comes back is revived with its old id.
    phone_id = gone["id"]
    write(p, [{"name": "Crm.Customer.Name", "description": "the full name"},
              "Crm.Order", "Crm.Invoice", "Crm.Customer.Phone"])
    r = a.post("/tag/refresh")
    assert {s["name"]: s for s in r.json()["sources"]}["crm"]["created"] == 1
    assert by_name(a.get("/tag", params={"source": "crm"}).json())[
        "Crm.Customer.Phone"]["id"] == phone_id

    # A vanished source tag that a user creates again becomes curated and editable.
    write(p, ["Crm.Invoice"])
    r = a.post("/tag/refresh")
    assert {s["name"]: s for s in r.json()["sources"]}["crm"]["ok"] is True
    r = a.post("/tag", json={"tags": [{"name": "Crm.Order"}]})
    assert r.status_code == 200, r.text
    t = r.json()[0]
    assert t["id"] == live["Crm.Order"]["id"]
    assert (t["source"], t["protected"], t["deleted"]) == ("curated", False, False)
    r = a.post("/tag/refresh")
    assert {s["name"]: s for s in r.json()["sources"]}["crm"]["deleted"] == 0
    assert a.get("/v1/tags/Crm.Order").json()["deleted"] is False


def test_refresh_failing_source_leaves_tags(src_server):
    a = native(src_server)
    p = os.path.join(src_server.dir, "hr.json")
    write(p, ["Hr.Salary", "Hr.Grade"])
    assert a.post("/v1/sources", json={"name": "hr", "url": p}).status_code == 201
    r = a.post("/tag/refresh")
    assert {s["name"]: s for s in r.json()["sources"]}["hr"]["created"] == 3
    before = a.get("/tag", params={"source": "hr"}).json()

    for content, why in ((b"{not json", "not a JSON document"),
                         (b'["ok", "bad..name"]', "bad..name"),
                         (b"42", "not a JSON document"),
                         (b'{"tags": 5}', "list of tags"),
                         (None, "cannot read")):
        if content is None:
            os.remove(p)
        else:
            with open(p, "wb") as f:
                f.write(content)
        r = a.post("/tag/refresh")
        assert r.status_code == 200, r.text
        res = {s["name"]: s for s in r.json()["sources"]}
        assert res["hr"]["ok"] is False, res["hr"]
        assert why in res["hr"]["error"], res["hr"]["error"]
        assert res["cfgsrc"]["ok"] is True
        assert a.get("/tag", params={"source": "hr"}).json() == before
    src = {s["name"]: s for s in a.get("/v1/sources").json()["items"]}["hr"]
    assert "cannot read" in src["last_error"] and ISO.match(src["refreshed_at"])
    a.delete("/v1/sources/hr")
    # Deleting a source keeps its tags.
    assert a.get("/tag", params={"source": "hr"}).json() == before


def test_refresh_http_source_and_assignments(src_server, http_source):
    base, routes = http_source
    a = native(src_server)
    routes["/tags"] = (200, json.dumps({
        "web.one": {"id": 1, "assignments": [{"modelType": "datasource", "modelId": 40},
                                             {"modelType": "column", "modelId": "40_email"}]},
        "web.two": {"id": "2", "description": "second"}}).encode(), 0)
    routes["/broken"] = (500, b"oops", 0)
    routes["/slow"] = (200, b'["Slow.tag"]', 3)
    for name, path in (("web", "/tags"), ("broken", "/broken"), ("slow", "/slow"),
                       ("refused", None)):
        url = base + path if path else "http://127.0.0.1:%d/x" % free_port()
        assert a.post("/v1/sources", json={"name": name, "url": url}).status_code == 201
    a.post("/tag", json={"tags": [{"name": "Manual.tag"}]})
    a.post("/tag/datasource/40", json=[{"name": "Manual.tag"}])
    t0 = time.time()
    r = a.post("/tag/refresh")
    assert r.status_code == 200, r.text
    assert time.time() - t0 < 8
    res = {s["name"]: s for s in r.json()["sources"]}
    assert res["web"]["ok"] is True and res["web"]["created"] == 3
    assert res["broken"]["ok"] is False and "500" in res["broken"]["error"]
    assert res["slow"]["ok"] is False and "1000 ms" in res["slow"]["error"]
    assert res["refused"]["ok"] is False and res["refused"]["error"]
    assert a.get("/tag", params={"source": "slow"}).json() == []
    web = by_name(a.get("/tag", params={"source": "web"}).json())
    assert web["web.two"]["description"] == "second"
    ds = a.get("/tag/datasource/40").json()
    assert sorted((t["name"], t["context"]) for t in ds) == [("Manual.tag", "manual"),
                                                            ("web.one", "external")]
    col = a.get("/tag/column/40_email").json()
    assert [(t["name"], t["source"]) for t in col] == [("web.one", "web")]

    # The source drops the column assignment and web.two; manual assignments stay.
    routes["/tags"] = (200, json.dumps({
        "web.one": {"assignments": [{"modelType": "datasource", "modelId": "40"}]}}).encode(), 0)
    r = a.post("/tag/refresh")
    res = {s["name"]: s for s in r.json()["sources"]}["web"]
    assert res["deleted"] == 1
    assert a.get("/tag/column/40_email").json() == []
    assert sorted(t["name"] for t in a.get("/tag/datasource/40").json()) == ["Manual.tag",
                                                                             "web.one"]
    # A bad assignment fails the whole source; nothing of it changes.
    routes["/tags"] = (200, json.dumps(["web.three", {"name": "web.one", "assignments": [
        {"modelType": "table", "modelId": "1"}]}]).encode(), 0)
    r = a.post("/tag/refresh")
    res = {s["name"]: s for s in r.json()["sources"]}["web"]
    assert res["ok"] is False and "modelType" in res["error"]
    assert "web.three" not in by_name(a.get("/tag", params={"source": "web"}).json())
    for name in ("web", "broken", "slow", "refused"):
        a.delete("/v1/sources/" + name)


def test_refresh_fetches_without_holding_up_writes(src_server, http_source):
    """The sources are fetched before the refresh reaches the writer: while a slow source
    keeps a refresh waiting (up to source-timeout, 1 s here), other writes go through."""
    base, routes = http_source
    a = native(src_server)
    routes["/slow-hold"] = (200, b'["Hold.tag"]', 0.9)
    assert a.post("/v1/sources", json={"name": "hold", "url": base + "/slow-hold"}
                  ).status_code == 201
    try:
        # What a write costs with nothing in the way (much more under valgrind).
        t0 = time.time()
        assert a.post("/v1/tags", json={"name": "Meanwhile.zero"}).status_code == 201
        alone = time.time() - t0
        box = {}
        th = threading.Thread(target=lambda: box.setdefault("r", a.post("/tag/refresh")))
        th.start()
        time.sleep(0.3)
        t0 = time.time()
        w = a.post("/v1/tags", json={"name": "Meanwhile.one"})
        took = time.time() - t0
        th.join(10)
        assert w.status_code == 201, w.text
        # Held up by the fetch, it would wait the rest of the source's 0.9 s.
        assert took < alone + 0.3, (took, alone)
        r = box["r"]
        assert r.status_code == 200, r.text
        res = {s["name"]: s for s in r.json()["sources"]}
        assert res["hold"]["ok"] is True and res["hold"]["created"] == 2
        # The refresh committed after the write it let through.
        assert int(r.headers["X-Tagd-Revision"]) > int(w.headers["X-Tagd-Revision"])
    finally:
        a.delete("/v1/sources/hold")


def test_refresh_by_a_stranger_fetches_nothing(src_server, http_source):
    """Without the right to write, a refresh is refused before anything is fetched."""
    base, routes = http_source
    a = native(src_server)
    hits = []
    routes["/counted"] = (200, b'["Counted.tag"]', 0)
    orig = _Handler.do_GET

    def counting(self):
        hits.append(self.path)
        return orig(self)
    _Handler.do_GET = counting
    assert a.post("/v1/sources", json={"name": "counted", "url": base + "/counted"}
                  ).status_code == 201
    try:
        r = requests.post(src_server.url + "/tag/refresh", timeout=10)
        assert r.status_code == 401, r.text
        ro = Api(src_server, src_server.token(["tags:read"]))
        assert ro.post("/tag/refresh").status_code == 403
        assert hits == []
        assert a.post("/tag/refresh").status_code == 200
        assert hits == ["/counted"]
    finally:
        _Handler.do_GET = orig
        a.delete("/v1/sources/counted")


def test_refresh_without_sources(server, admin):
    r = admin.post("/tag/refresh")
    assert r.status_code == 200 and r.json() == {"sources": []}


def test_bad_config_source_refuses_start(tmp_path):
    s = Server(env={"TAGD_SOURCES": "nourl"})
    with pytest.raises(RuntimeError):
        s.start()
    s.stop()
    log = s.read_log()
    shutil.rmtree(s.data, ignore_errors=True)
    assert "sources" in log
