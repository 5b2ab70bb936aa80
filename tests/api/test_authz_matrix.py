"""Authorization matrix (issue 10): every protected endpoint, called with every kind of bad
credential, answers the right status and changes nothing.

Rows are endpoints (method, path, body); columns are principals. A write that is refused must
leave the change log exactly as it was."""
import time

import pytest
import requests

from conftest import ADMIN_TOKEN, Api

NATIVE = [
    # (method, path, body, needs)  needs: read | write | assign | admin
    ("GET", "/v1/tags", None, "read"),
    ("GET", "/v1/me", None, "read"),
    ("POST", "/v1/tags", {"name": "Mx.new"}, "write"),
    ("GET", "/v1/tags/Mx.base", None, "read"),
    ("PATCH", "/v1/tags/Mx.base", {"description": "x"}, "write"),
    ("DELETE", "/v1/tags/Mx.base", None, "write"),
    ("POST", "/v1/tags/Mx.base:restore", None, "write"),
    ("POST", "/v1/tags/Mx.base:merge", {"into": "Mx.other"}, "write"),
    ("GET", "/v1/tags/Mx.base/aliases", None, "read"),
    ("DELETE", "/v1/tags/Mx.base/aliases/Mx.old", None, "write"),
    ("GET", "/v1/tags/Mx.base/resources", None, "read"),
    ("GET", "/v1/groups", None, "read"),
    ("POST", "/v1/groups", {"name": "MxGroup2"}, "write"),
    # Tag policies: read with tags:read (writers need to know them), changed by admins.
    ("GET", "/v1/policies", None, "read"),
    ("POST", "/v1/policies", {"kind": "required", "subtree": "Mx.*"}, "admin"),
    ("GET", "/v1/policies/violations", None, "read"),
    ("GET", "/v1/policies/1", None, "read"),
    ("PATCH", "/v1/policies/1", {"mode": "enforce"}, "admin"),
    ("DELETE", "/v1/policies/1", None, "admin"),
    ("GET", "/v1/resources", None, "read"),
    ("GET", "/v1/resources/folder/mx", None, "read"),
    ("PUT", "/v1/resources/folder/mx", {"name": "renamed"}, "assign"),
    ("DELETE", "/v1/resources/folder/mx", None, "assign"),
    ("GET", "/v1/resources/folder/mx/tags", None, "read"),
    ("POST", "/v1/resources/folder/mx/tags", ["Mx.base"], "assign"),
    ("PUT", "/v1/resources/folder/mx/tags", [], "assign"),
    ("DELETE", "/v1/resources/folder/mx/tags/Mx.base", None, "assign"),
    ("GET", "/v1/users", None, "admin"),
    ("POST", "/v1/users", {"login": "mx", "password": "long-enough-pw"}, "admin"),
    ("GET", "/v1/tokens", None, "admin"),
    ("PATCH", "/v1/users/1", {"assign": ["Mx.*"]}, "admin"),
    ("POST", "/v1/tokens", {"name": "mx"}, "admin"),
    ("PATCH", "/v1/tokens/1", {"assign": ["Mx.*"]}, "admin"),
    ("GET", "/v1/changes", None, "read"),
    ("GET", "/v1/events", None, "read"),
    # Signing out needs no right, only a credential (an API token is then 400: no session).
    ("DELETE", "/v1/sessions/current", None, "read"),
    ("GET", "/v1/tags/Mx.base/history", None, "read"),
    ("GET", "/v1/groups/1/history", None, "read"),
    ("GET", "/v1/resources/folder/mx/history", None, "read"),
    # A source names files and URLs the server reads: refreshing is for admins only.
    ("POST", "/v1/sources:refresh", None, "admin"),
    ("POST", "/v1/sources/mx:refresh", None, "admin"),
    # Rights per operation: this batch's one operation needs tags:write.
    ("POST", "/v1/batch", {"operations": [{"op": "create_tag", "tag": {"name": "Mx.batch"}}]},
     "write"),
    ("GET", "/v1/export", None, "read"),
    ("POST", "/v1/import", {"type": "tag", "name": "Mx.imported"}, "write"),  # and assign
    ("GET", "/v1/import/imp_none", None, "read"),
    ("GET", "/v1/webhooks", None, "admin"),
    ("POST", "/v1/webhooks", {"url": "https://hooks.example.com/in"}, "admin"),
    ("GET", "/v1/webhooks/1", None, "admin"),
    ("PATCH", "/v1/webhooks/1", {"active": False}, "admin"),
    ("DELETE", "/v1/webhooks/1", None, "admin"),
    ("GET", "/v1/webhooks/1/deliveries", None, "admin"),
    ("POST", "/v1/webhooks/1/redeliver", {"from_revision": 1}, "admin"),
]

RIGHTS = {"read": "tags:read", "write": "tags:write", "assign": "tags:assign", "admin": "admin"}


@pytest.fixture(scope="module")
def world(server):
    admin = Api(server, ADMIN_TOKEN)
    assert admin.post("/v1/tags", json={"name": "Mx.base"}).status_code == 201
    assert admin.post("/v1/resources/folder/mx/tags", json=["Mx.base"]).status_code == 200
    toks = {}
    for need, right in RIGHTS.items():
        toks[need] = server.token([right], name="mx-" + need)
    r = admin.post("/v1/tokens", json={"name": "soon", "rights": "admin",
                                       "expires_at": int(time.time() * 1000) + 1000})
    assert r.status_code == 201
    toks["expired"] = r.json()["token"]
    r = admin.post("/v1/tokens", json={"name": "revoked", "rights": "admin"})
    toks["revoked"] = r.json()["token"]
    assert admin.delete("/v1/tokens/%d" % r.json()["id"]).status_code == 204
    org = admin.post("/v1/organizations", json={"name": "other"})
    assert org.status_code == 201, org.text
    r = admin.post("/v1/tokens", json={"name": "other", "rights": "admin",
                                       "organization_id": org.json()["id"]})
    assert r.status_code == 201, r.text
    toks["other_org"] = r.json()["token"]
    time.sleep(1.1)  # let "expired" expire
    return toks


def _rev(admin):
    return admin.get("/v1/changes?since=0&limit=1").headers["X-Tagd-Revision"]


def _call(server, token, method, path, body, scheme="Bearer"):
    h = {}
    if token is not None:
        h["Authorization"] = "%s %s" % (scheme, token)
    return requests.request(method, server.url + path, json=body, headers=h, timeout=10)


@pytest.mark.parametrize("method,path,body,needs", NATIVE)
@pytest.mark.parametrize("who", ["none", "garbage", "expired", "revoked"])
def test_unauthenticated_is_401_and_changes_nothing(server, admin, world, who, method, path, body, needs):
    before = _rev(admin)
    tok = {"none": None, "garbage": "tgd_not-a-token"}.get(who, world.get(who))
    r = _call(server, tok, method, path, body)
    assert r.status_code == 401, (who, r.text)
    assert r.json()["error"]["code"] == "unauthorized"
    assert _rev(admin) == before


UNDERPRIVILEGED = [(holder,) + row for row in NATIVE for holder in ("read", "write", "assign")
                   if row[3] != "read" and holder != row[3]]


@pytest.mark.parametrize("holder,method,path,body,needs", UNDERPRIVILEGED)
def test_missing_right_is_403_and_changes_nothing(server, admin, world, holder, method, path, body, needs):
    before = _rev(admin)
    r = _call(server, world[holder], method, path, body)
    assert r.status_code == 403, (holder, r.text)
    assert r.json()["error"]["code"] == "forbidden"
    assert _rev(admin) == before


@pytest.mark.parametrize("method,path,body,needs", [row for row in NATIVE if "Mx.base" in row[1] or "/mx" in row[1]])
def test_other_organization_never_reaches_our_data(server, admin, world, method, path, body, needs):
    before = _rev(admin)
    r = _call(server, world["other_org"], method, path, body)
    if "/resources/" in path and method != "GET":
        # The same kind and key in another organization is that organization's own resource.
        assert r.status_code in (200, 201, 204, 404, 422), r.text
    elif "/resources/" in path and "Mx" not in path:
        assert r.status_code in (200, 404), r.text
        if r.status_code == 200:
            assert "Mx.base" not in r.text
    else:
        assert r.status_code == 404, (method, path, r.text)
    # Our organization's data is untouched.
    assert admin.get("/v1/tags/Mx.base").json()["description"] is None
    assert [a["name"] for a in admin.get("/v1/resources/folder/mx/tags").json()["items"]] == ["Mx.base"]
    assert admin.get("/v1/resources/folder/mx").json()["name"] is None
