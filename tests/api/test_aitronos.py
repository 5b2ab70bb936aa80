"""End-to-end tests of the Aitronos connector-tags dialect (issue 6) and of the native admin
endpoints that set up a multi-organization installation.

One tagd per module. The fixture creates two organizations (A, B) through the native API, a
second workspace in A, and tokens of each organization; every test then speaks the Aitronos
paths /v1/organizations/{org}/knowledge/connectors/tags with those tokens. Every answer of those
paths that any test here receives is checked against Aitronos' documented types
(tests/api/aitronos_types.py)."""
import json
import re
import time
import uuid

import pytest
import requests

from aitronos_types import check_answer
from conftest import ADMIN_TOKEN, Api
from doc_types import check_every_answer

ERROR_KEYS = {"code", "message", "system_message", "type", "status", "details", "trace_id",
              "timestamp"}
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@pytest.fixture(autouse=True)
def aitronos_types(monkeypatch):
    """A wrong type in any Aitronos answer fails the test that got it."""
    def check(r):
        path = requests.utils.urlparse(r.request.url).path
        if r.request.method != "HEAD":
            check_answer(r.request.method, path, r.status_code, r.headers, r.content,
                         r.request.headers)

    check_every_answer(monkeypatch, check)


def tags_path(org, tag_id=None):
    p = "/v1/organizations/%s/knowledge/connectors/tags" % org
    return p + "/" + tag_id if tag_id else p


def assert_error(r, status, code, field=None):
    """The documented envelope, exactly, with trace_id equal to the response's request id."""
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"success", "error"}, body
    assert body["success"] is False
    e = body["error"]
    assert set(e) == ERROR_KEYS, e
    assert e["code"] == code, e
    assert e["status"] == status
    assert e["type"] == ("server_error" if status >= 500 else "client_error")
    assert isinstance(e["message"], str) and e["message"]
    assert isinstance(e["system_message"], str) and e["system_message"]
    assert isinstance(e["details"], dict)
    if field is not None:
        assert e["details"].get("field") == field, e
    assert e["trace_id"] == r.headers["X-Request-Id"]
    assert TIMESTAMP.match(e["timestamp"]), e["timestamp"]
    return e


class Env:
    pass


@pytest.fixture(scope="module")
def env(server, admin):
    e = Env()
    e.server = server
    e.admin = admin
    r = admin.post("/v1/organizations", json={"name": "Acme"})
    assert r.status_code == 201, r.text
    e.org_a = r.json()["id"]
    e.ws_a = r.json()["default_workspace_id"]
    r = admin.post("/v1/organizations", json={"name": "Beta"})
    assert r.status_code == 201, r.text
    e.org_b = r.json()["id"]
    e.ws_b = r.json()["default_workspace_id"]
    r = admin.post("/v1/organizations/%s/workspaces" % e.org_a, json={"name": "second"})
    assert r.status_code == 201, r.text
    e.ws_a2 = r.json()["id"]

    def token(org, rights, **extra):
        body = {"name": "t-" + org, "rights": rights, "organization_id": org}
        body.update(extra)
        r = admin.post("/v1/tokens", json=body)
        assert r.status_code == 201, r.text
        assert r.json()["organization_id"] == org
        return r.json()["token"]

    e.token = token
    e.tok_a = token(e.org_a, "tags:read,tags:write")
    e.tok_b = token(e.org_b, "tags:read,tags:write")
    e.tok_a_ro = token(e.org_a, "tags:read")
    e.a = Api(server, e.tok_a)
    e.b = Api(server, e.tok_b)
    e.a_ro = Api(server, e.tok_a_ro)
    return e


def create(api, org, ws, name, color=None, status=201):
    body = {"name": name, "workspace_id": ws}
    if color is not None:
        body["color"] = color
    r = api.post(tags_path(org), json=body)
    assert r.status_code == status, r.text
    return r.json()


def names(api, org, **params):
    r = api.get(tags_path(org), params=params)
    assert r.status_code == 200, r.text
    return [t["name"] for t in r.json()["data"]]


# ---- the CRUD cycle ----

def test_crud_cycle(env):
    a, org, ws = env.a, env.org_a, env.ws_a
    r = a.post(tags_path(org), json={"name": "Production", "workspace_id": ws, "color": "#FF5733"})
    assert r.status_code == 201, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    t = r.json()
    assert set(t) == {"tag_id", "name", "color", "workspace_id"}
    assert re.match(r"^tag_[1-9][0-9]*$", t["tag_id"])
    assert t == {"tag_id": t["tag_id"], "name": "Production", "color": "#FF5733",
                 "workspace_id": ws}
    tid = t["tag_id"]

    r = a.get(tags_path(org, tid))
    assert r.status_code == 200
    assert r.json() == t

    r = a.get(tags_path(org))
    assert r.status_code == 200
    assert set(r.json()) == {"data"}
    assert t in r.json()["data"]

    r = a.patch(tags_path(org, tid), json={"name": "Prod"})
    assert r.status_code == 200, r.text
    assert r.json() == dict(t, name="Prod")
    r = a.patch(tags_path(org, tid), json={"color": "#00aa11"})
    assert r.status_code == 200, r.text
    assert r.json() == dict(t, name="Prod", color="#00aa11")
    r = a.patch(tags_path(org, tid), json={"name": "Production", "color": None})
    assert r.status_code == 200, r.text
    assert r.json() == dict(t, color=None)
    assert a.get(tags_path(org, tid)).json() == dict(t, color=None)

    r = a.delete(tags_path(org, tid))
    assert r.status_code == 204
    assert r.content == b""
    assert "Content-Type" not in r.headers

    for method, kw in (("GET", {}), ("PATCH", {"json": {"name": "x"}}), ("DELETE", {})):
        e = assert_error(a.request(method, tags_path(org, tid), **kw), 404,
                         "CONNECTOR_TAG_NOT_FOUND")
        assert e["message"] == "The requested tag was not found."
        assert e["details"] == {}
    assert "Production" not in names(a, org)


def test_create_without_color_and_empty_patch(env):
    t = create(env.a, env.org_a, env.ws_a, "NoColor")
    assert t["color"] is None
    r = env.a.patch(tags_path(env.org_a, t["tag_id"]), json={})
    assert r.status_code == 200
    assert r.json() == t


def test_name_is_free_again_after_delete(env):
    a, org, ws = env.a, env.org_a, env.ws_a
    t = create(a, org, ws, "Recycled", "#111111")
    assert a.delete(tags_path(org, t["tag_id"])).status_code == 204
    t2 = create(a, org, ws, "Recycled")
    assert t2["name"] == "Recycled"
    assert t2["color"] is None  # nothing of the deleted tag survives
    assert a.get(tags_path(org, t2["tag_id"])).json() == t2
    assert names(a, org).count("Recycled") == 1


def test_list_and_workspaces(env):
    a, org = env.a, env.org_a
    t1 = create(a, org, env.ws_a, "Alpha-ws1")
    t2 = create(a, org, env.ws_a2, "Alpha-ws2", "#ABCDEF")
    assert t2["workspace_id"] == env.ws_a2
    data = a.get(tags_path(org)).json()["data"]
    assert t1 in data and t2 in data
    # Ordered by workspace, then by name without regard to case.
    keys = [(int(t["workspace_id"][3:]), t["name"].casefold()) for t in data]
    assert keys == sorted(keys)
    only2 = a.get(tags_path(org), params={"workspace_id": env.ws_a2}).json()["data"]
    assert t2 in only2 and t1 not in only2
    assert all(t["workspace_id"] == env.ws_a2 for t in only2)
    # The same name may live in two workspaces.
    t3 = create(a, org, env.ws_a2, "Alpha-ws1")
    assert t3["tag_id"] != t1["tag_id"]
    # A tag of the second workspace is reachable by id like any other.
    r = a.patch(tags_path(org, t2["tag_id"]), json={"name": "Alpha-ws2b"})
    assert r.status_code == 200 and r.json()["workspace_id"] == env.ws_a2
    assert a.get(tags_path(org, t2["tag_id"])).json()["name"] == "Alpha-ws2b"
    assert a.delete(tags_path(org, t2["tag_id"])).status_code == 204
    assert_error(a.get(tags_path(org, t2["tag_id"])), 404, "CONNECTOR_TAG_NOT_FOUND")
    for bad in ("ws_999999", "nope", env.ws_b):
        assert_error(a.get(tags_path(org), params={"workspace_id": bad}), 404,
                     "WORKSPACE_NOT_FOUND", "workspace_id")


def test_tags_land_in_tagd_model(env):
    """An Aitronos tag is an ordinary tagd tag of the organization's workspace."""
    t = create(env.a, env.org_a, env.ws_a, "Shared-Model", "#123456")
    num = int(t["tag_id"][4:])
    r = env.a.get("/v1/tags/%d" % num)
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "Shared-Model" and r.json()["color"] == "#123456"
    # The installation's default organization does not see it.
    assert env.admin.get("/v1/tags/%d" % num).status_code == 404


# ---- validation ----

@pytest.mark.parametrize("body,field,status,code", [
    ({"workspace_id": "WS"}, "name", 422, "VALIDATION_ERROR"),
    ({"name": "", "workspace_id": "WS"}, "name", 422, "VALIDATION_ERROR"),
    ({"name": None, "workspace_id": "WS"}, "name", 422, "VALIDATION_ERROR"),
    ({"name": 42, "workspace_id": "WS"}, "name", 422, "VALIDATION_ERROR"),
    ({"name": "a.b", "workspace_id": "WS"}, "name", 422, "VALIDATION_ERROR"),
    ({"name": " lead", "workspace_id": "WS"}, "name", 422, "VALIDATION_ERROR"),
    ({"name": "x" * 65, "workspace_id": "WS"}, "name", 422, "VALIDATION_ERROR"),
    ({"name": "ok"}, "workspace_id", 422, "VALIDATION_ERROR"),
    ({"name": "ok", "workspace_id": ""}, "workspace_id", 422, "VALIDATION_ERROR"),
    ({"name": "ok", "workspace_id": 7}, "workspace_id", 422, "VALIDATION_ERROR"),
    ({"name": "ok", "workspace_id": "WS", "color": "red"}, "color", 422, "VALIDATION_ERROR"),
    ({"name": "ok", "workspace_id": "WS", "color": "#FFF"}, "color", 422, "VALIDATION_ERROR"),
    ({"name": "ok", "workspace_id": "WS", "color": "#GG5733"}, "color", 422, "VALIDATION_ERROR"),
    ({"name": "ok", "workspace_id": "WS", "color": "FF5733"}, "color", 422, "VALIDATION_ERROR"),
    ({"name": "ok", "workspace_id": "WS", "color": "#FF57330"}, "color", 422, "VALIDATION_ERROR"),
    ({"name": "ok", "workspace_id": "WS", "color": 16711680}, "color", 422, "VALIDATION_ERROR"),
    ({"name": "ok", "workspace_id": "WS", "tag_id": "tag_1"}, "tag_id", 422, "VALIDATION_ERROR"),
    ({"name": "ok", "workspace_id": "ws_999999"}, "workspace_id", 404, "WORKSPACE_NOT_FOUND"),
    ({"name": "ok", "workspace_id": "999"}, "workspace_id", 404, "WORKSPACE_NOT_FOUND"),
    ({"name": "ok", "workspace_id": "ws_0"}, "workspace_id", 404, "WORKSPACE_NOT_FOUND"),
])
def test_create_validation(env, body, field, status, code):
    body = dict(body)
    if body.get("workspace_id") == "WS":
        body["workspace_id"] = env.ws_a
    before = env.a.get(tags_path(env.org_a)).json()
    assert_error(env.a.post(tags_path(env.org_a), json=body), status, code, field)
    assert env.a.get(tags_path(env.org_a)).json() == before  # nothing was written


def test_create_in_another_organizations_workspace(env):
    before = names(env.b, env.org_b)
    assert_error(env.a.post(tags_path(env.org_a), json={"name": "Sneaky", "workspace_id": env.ws_b}),
                 404, "WORKSPACE_NOT_FOUND", "workspace_id")
    assert names(env.b, env.org_b) == before
    assert "Sneaky" not in names(env.a, env.org_a)


def test_duplicate_name(env):
    a, org, ws = env.a, env.org_a, env.ws_a
    t = create(a, org, ws, "Dup")
    for name in ("Dup", "dup", "DUP"):
        assert_error(a.post(tags_path(org), json={"name": name, "workspace_id": ws}), 409,
                     "CONNECTOR_TAG_ALREADY_EXISTS", "name")
    other = create(a, org, ws, "Other")
    assert_error(a.patch(tags_path(org, other["tag_id"]), json={"name": "DUP"}), 409,
                 "CONNECTOR_TAG_ALREADY_EXISTS", "name")
    assert a.get(tags_path(org, other["tag_id"])).json() == other
    assert names(a, org).count("Dup") == 1
    # Only the case changes: the tag keeps its id.
    r = a.patch(tags_path(org, t["tag_id"]), json={"name": "DUP"})
    assert r.status_code == 200 and r.json()["tag_id"] == t["tag_id"]


@pytest.mark.parametrize("body,field", [
    ({"name": ""}, "name"),
    ({"name": None}, "name"),
    ({"name": ["x"]}, "name"),
    ({"name": "a.b"}, "name"),
    ({"color": "blue"}, "color"),
    ({"color": "#12345"}, "color"),
    ({"color": True}, "color"),
    ({"workspace_id": "ws_1"}, "workspace_id"),
    ({"tag_id": "tag_9"}, "tag_id"),
])
def test_patch_validation(env, body, field):
    t = create(env.a, env.org_a, env.ws_a, "P-" + uuid.uuid4().hex[:8], "#010203")
    assert_error(env.a.patch(tags_path(env.org_a, t["tag_id"]), json=body), 422,
                 "VALIDATION_ERROR", field)
    assert env.a.get(tags_path(env.org_a, t["tag_id"])).json() == t


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_unreadable_bodies(env, method):
    t = create(env.a, env.org_a, env.ws_a, "Body-" + method)
    path = tags_path(env.org_a) if method == "POST" else tags_path(env.org_a, t["tag_id"])
    h = {"Content-Type": "application/json"}
    assert_error(env.a.request(method, path, data=b"{not json", headers=h), 400,
                 "INVALID_REQUEST", "body")
    assert_error(env.a.request(method, path, data=b"", headers=h), 400, "INVALID_REQUEST", "body")
    assert_error(env.a.request(method, path, json=["name"]), 400, "INVALID_REQUEST", "body")
    assert_error(env.a.request(method, path, data=b"name=x",
                               headers={"Content-Type": "text/plain"}), 415,
                 "UNSUPPORTED_MEDIA_TYPE")


# ---- errors: envelope, trace id, routing ----

def test_trace_id_is_the_request_id(env):
    r = env.a.get(tags_path(env.org_a, "tag_999999"))
    e = assert_error(r, 404, "CONNECTOR_TAG_NOT_FOUND")
    rid = r.headers["X-Request-Id"]
    assert e["trace_id"] == rid and rid
    mine = "trace-" + uuid.uuid4().hex
    r = env.a.get(tags_path(env.org_a, "tag_999999"), headers={"X-Request-Id": mine})
    assert r.headers["X-Request-Id"] == mine
    assert assert_error(r, 404, "CONNECTOR_TAG_NOT_FOUND")["trace_id"] == mine
    # The access log names the same id.
    deadline = time.time() + 5
    while mine not in env.server.read_log() and time.time() < deadline:
        time.sleep(0.05)
    line = [l for l in env.server.read_log().splitlines() if mine in l]
    assert line and "access" in line[0] and "404" in line[0]


def test_unknown_routes_and_methods(env):
    assert_error(env.a.put(tags_path(env.org_a), json={}), 405, "METHOD_NOT_ALLOWED")
    assert_error(env.a.post(tags_path(env.org_a, "tag_1"), json={}), 405, "METHOD_NOT_ALLOWED")
    assert_error(env.a.get("/v1/organizations/%s/knowledge/connectors/nope" % env.org_a), 404,
                 "RESOURCE_NOT_FOUND")


@pytest.mark.parametrize("ref", ["tag_0", "tag_01", "1", "tag_", "tag_x", "tag_99999999999999999999",
                                 "Production"])
def test_malformed_tag_ids(env, ref):
    for method in ("GET", "PATCH", "DELETE"):
        kw = {"json": {"name": "x"}} if method == "PATCH" else {}
        assert_error(env.a.request(method, tags_path(env.org_a, ref), **kw), 404,
                     "CONNECTOR_TAG_NOT_FOUND")


# ---- authentication and rights ----

def test_authentication(env):
    s = env.server
    r = requests.get(s.url + tags_path(env.org_a), timeout=10)
    assert_error(r, 401, "AUTHENTICATION_REQUIRED")
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    r = requests.get(s.url + tags_path(env.org_a), headers={"Authorization": "Basic eDp5"},
                     timeout=10)
    assert_error(r, 401, "AUTHENTICATION_REQUIRED")
    assert_error(Api(s, "not-a-token").get(tags_path(env.org_a)), 401, "TOKEN_INVALID")
    # The X-API-Key header is accepted as well.
    r = requests.get(s.url + tags_path(env.org_a), headers={"X-API-Key": env.tok_a}, timeout=10)
    assert r.status_code == 200, r.text
    # A key sent as an API key is refused with the API-key codes of Aitronos' error-codes page,
    # a bearer token with the token codes.
    for header in ("X-API-Key", "api-key"):
        r = requests.get(s.url + tags_path(env.org_a), headers={header: "wrong"}, timeout=10)
        assert_error(r, 401, "INVALID_API_KEY")
        r = requests.get(s.url + tags_path(env.org_a), headers={header: ""}, timeout=10)
        assert_error(r, 401, "AUTHENTICATION_REQUIRED")
    # The Authorization header wins over X-API-Key.
    r = requests.get(s.url + tags_path(env.org_a),
                     headers={"Authorization": "Bearer wrong", "X-API-Key": env.tok_a}, timeout=10)
    assert_error(r, 401, "TOKEN_INVALID")


def test_revoked_and_expired_tokens(env):
    admin = env.admin
    r = admin.post("/v1/tokens", json={"name": "gone", "rights": "tags:read",
                                       "organization_id": env.org_a})
    tok, tid = r.json()["token"], r.json()["id"]
    assert Api(env.server, tok).get(tags_path(env.org_a)).status_code == 200
    # Tokens are revoked by an admin of their own organization, or by the installation's.
    assert admin.delete("/v1/tokens/%s" % tid).status_code == 204
    assert_error(Api(env.server, tok).get(tags_path(env.org_a)), 401, "TOKEN_INVALID")
    r = admin.post("/v1/tokens", json={"name": "gone2", "rights": "tags:read",
                                       "organization_id": env.org_a})
    tok, tid = r.json()["token"], r.json()["id"]
    org_admin = Api(env.server, env.token(env.org_a, "admin"))
    assert org_admin.delete("/v1/tokens/%s" % tid).status_code == 204
    assert_error(Api(env.server, tok).get(tags_path(env.org_a)), 401, "TOKEN_INVALID")
    soon = int(time.time() * 1000) + 3000
    tok = env.token(env.org_a, "tags:read", expires_at=soon)
    r = Api(env.server, tok).get(tags_path(env.org_a))
    if time.time() < soon / 1000.0 - 0.5:  # a slow run (valgrind) may already be past it
        assert r.status_code == 200
    time.sleep(max(0, soon / 1000.0 - time.time()) + 0.3)
    assert_error(Api(env.server, tok).get(tags_path(env.org_a)), 401, "TOKEN_EXPIRED")
    r = requests.get(env.server.url + tags_path(env.org_a), headers={"X-API-Key": tok},
                     timeout=10)
    assert_error(r, 401, "API_KEY_EXPIRED")


def test_read_only_token(env):
    t = create(env.a, env.org_a, env.ws_a, "ReadOnlyTarget")
    ro, org = env.a_ro, env.org_a
    assert ro.get(tags_path(org)).status_code == 200
    assert ro.get(tags_path(org, t["tag_id"])).json() == t
    assert_error(ro.post(tags_path(org), json={"name": "no", "workspace_id": env.ws_a}), 403,
                 "INSUFFICIENT_PERMISSIONS")
    assert_error(ro.patch(tags_path(org, t["tag_id"]), json={"name": "no"}), 403,
                 "INSUFFICIENT_PERMISSIONS")
    assert_error(ro.delete(tags_path(org, t["tag_id"])), 403, "INSUFFICIENT_PERMISSIONS")
    assert env.a.get(tags_path(org, t["tag_id"])).json() == t


# ---- cross-organization isolation ----

def test_cross_organization_isolation(env):
    a, b = env.a, env.b
    ta = create(a, env.org_a, env.ws_a, "Shared-Name", "#AAAAAA")
    tb = create(b, env.org_b, env.ws_b, "Shared-Name", "#BBBBBB")
    assert ta["tag_id"] != tb["tag_id"]
    la = a.get(tags_path(env.org_a)).json()["data"]
    lb = b.get(tags_path(env.org_b)).json()["data"]
    assert ta in la and tb not in la
    assert tb in lb and ta not in lb
    assert {t["tag_id"] for t in la}.isdisjoint({t["tag_id"] for t in lb})
    assert all(t["workspace_id"] in (env.ws_a, env.ws_a2) for t in la)
    assert all(t["workspace_id"] == env.ws_b for t in lb)

    # A's token on B's organization path: 404 everywhere, never 403.
    for method, path, kw in (
            ("GET", tags_path(env.org_b), {}),
            ("POST", tags_path(env.org_b), {"json": {"name": "x", "workspace_id": env.ws_b}}),
            ("GET", tags_path(env.org_b, tb["tag_id"]), {}),
            ("PATCH", tags_path(env.org_b, tb["tag_id"]), {"json": {"name": "hacked"}}),
            ("DELETE", tags_path(env.org_b, tb["tag_id"]), {})):
        assert_error(a.request(method, path, **kw), 404, "ORGANIZATION_NOT_FOUND")
    # B's tag id under A's own organization path: the tag does not exist for A.
    for method, kw in (("GET", {}), ("PATCH", {"json": {"name": "hacked", "color": "#000000"}}),
                       ("DELETE", {})):
        e = assert_error(a.request(method, tags_path(env.org_a, tb["tag_id"]), **kw), 404,
                         "CONNECTOR_TAG_NOT_FOUND")
        assert e["details"] == {}
    # The same holds the other way round.
    assert_error(b.get(tags_path(env.org_b, ta["tag_id"])), 404, "CONNECTOR_TAG_NOT_FOUND")
    assert_error(b.delete(tags_path(env.org_b, ta["tag_id"])), 404, "CONNECTOR_TAG_NOT_FOUND")
    # Nothing changed on either side.
    assert b.get(tags_path(env.org_b, tb["tag_id"])).json() == tb
    assert a.get(tags_path(env.org_a, ta["tag_id"])).json() == ta


def test_other_organization_looks_like_a_missing_one(env):
    a = env.a
    foreign = assert_error(a.get(tags_path(env.org_b)), 404, "ORGANIZATION_NOT_FOUND")
    for org in ("org_999999", "org_0", "org_01", "xyz_1", "1", "org_", "org_1x"):
        e = assert_error(a.get(tags_path(org)), 404, "ORGANIZATION_NOT_FOUND")
        assert e["message"] == foreign["message"]
        assert e["details"] == foreign["details"] == {}
    # The installation's admin is no exception: tags are read in the token's organization.
    assert_error(env.admin.get(tags_path(env.org_a)), 404, "ORGANIZATION_NOT_FOUND")
    assert env.admin.get(tags_path("org_1")).status_code == 200


# ---- native admin endpoints for a multi-organization installation ----

def test_native_organizations(env):
    admin = env.admin
    r = admin.get("/v1/organizations")
    assert r.status_code == 200
    orgs = {o["id"]: o for o in r.json()["items"]}
    assert {"org_1", env.org_a, env.org_b} <= set(orgs)
    assert orgs[env.org_a]["name"] == "Acme"
    assert orgs[env.org_a]["default_workspace_id"] == env.ws_a
    r = admin.post("/v1/organizations", json={"name": "Gamma"})
    assert r.status_code == 201
    g = r.json()
    assert re.match(r"^org_\d+$", g["id"]) and re.match(r"^ws_\d+$", g["default_workspace_id"])
    assert admin.post("/v1/organizations", json={}).status_code == 400
    assert admin.post("/v1/organizations", json={"name": "x", "color": 1}).status_code == 400

    # An admin of another organization manages neither organizations nor other orgs' workspaces.
    org_admin = Api(env.server, env.token(env.org_b, "admin"))
    assert org_admin.get("/v1/organizations").status_code == 403
    assert org_admin.post("/v1/organizations", json={"name": "nope"}).status_code == 403
    assert org_admin.post("/v1/organizations/%s/workspaces" % env.org_a,
                          json={"name": "nope"}).status_code == 404
    r = org_admin.post("/v1/organizations/%s/workspaces" % env.org_b, json={"name": "own"})
    assert r.status_code == 201, r.text
    ws = r.json()
    assert re.match(r"^ws_\d+$", ws["id"]) and ws["organization_id"] == env.org_b
    # ...and tokens only of its own organization.
    assert org_admin.post("/v1/tokens", json={"name": "x", "organization_id": env.org_a}
                          ).status_code == 403
    r = org_admin.post("/v1/tokens", json={"name": "x", "rights": "tags:write,tags:read",
                                           "organization_id": env.org_b})
    assert r.status_code == 201
    # That workspace is usable at once through the Aitronos API of organization B.
    t = create(Api(env.server, r.json()["token"]), env.org_b, ws["id"], "InOwnWs")
    assert t["workspace_id"] == ws["id"]
    assert_error(env.a.post(tags_path(env.org_a), json={"name": "x", "workspace_id": ws["id"]}),
                 404, "WORKSPACE_NOT_FOUND")

    assert admin.post("/v1/organizations/org_999999/workspaces",
                      json={"name": "x"}).status_code == 404
    assert admin.post("/v1/organizations/%s/workspaces" % env.org_a, json={}).status_code == 400
    assert admin.post("/v1/tokens", json={"name": "x", "organization_id": "org_999999"}
                      ).status_code == 400
    assert admin.post("/v1/tokens", json={"name": "x", "organization_id": "acme"}
                      ).status_code == 400
    # Without an admin right nothing of this is reachable.
    assert env.a.get("/v1/organizations").status_code == 403
    assert env.a.post("/v1/tokens", json={"name": "x"}).status_code == 403


def test_native_only_states(env):
    """Tags shaped by the native API: hierarchy and protection surface as documented errors."""
    a, org = env.a, env.org_a
    r = a.post("/v1/tags", json={"name": "Fam.Kid"})
    assert r.status_code == 201, r.text
    kid = "tag_%d" % r.json()["id"]
    fam = "tag_%d" % r.json()["parent_id"]
    listed = {t["tag_id"]: t for t in a.get(tags_path(org)).json()["data"]}
    assert listed[kid]["name"] == "Fam.Kid" and listed[fam]["name"] == "Fam"
    assert_error(a.delete(tags_path(org, fam)), 409, "CONNECTOR_TAG_HAS_CHILDREN")
    assert a.get(tags_path(org, fam)).status_code == 200
    assert a.delete(tags_path(org, kid)).status_code == 204
    assert a.delete(tags_path(org, fam)).status_code == 204

    r = a.post("/v1/tags", json={"name": "Locked", "protected": True})
    assert r.status_code == 201, r.text
    locked = a.get(tags_path(org, "tag_%d" % r.json()["id"])).json()
    assert_error(a.patch(tags_path(org, locked["tag_id"]), json={"color": "#000000"}), 403,
                 "OPERATION_NOT_ALLOWED")
    assert_error(a.delete(tags_path(org, locked["tag_id"])), 403, "OPERATION_NOT_ALLOWED")
    assert a.get(tags_path(org, locked["tag_id"])).json() == locked

    # A tag deleted through the native API is gone for Aitronos as well.
    r = a.post("/v1/tags", json={"name": "SoftGone"})
    gone = "tag_%d" % r.json()["id"]
    assert a.delete("/v1/tags/%s" % gone).status_code == 204
    assert_error(a.get(tags_path(org, gone)), 404, "CONNECTOR_TAG_NOT_FOUND")
    assert "SoftGone" not in names(a, org)


# ---- the type table itself ----

JSON_H = {"Content-Type": "application/json"}
GOOD_TAG = b'{"tag_id":"tag_1","name":"P","color":null,"workspace_id":"ws_1"}'
GOOD_ERROR = (b'{"success":false,"error":{"code":"CONNECTOR_TAG_NOT_FOUND","message":"m",'
              b'"system_message":"s","type":"client_error","status":404,"details":{},'
              b'"trace_id":"abc","timestamp":"2026-11-23T11:47:51Z"}}')


def bad_error(**change):
    e = json.loads(GOOD_ERROR)
    e["error"].update(change)
    return json.dumps(e).encode()


@pytest.mark.parametrize("method,path,status,headers,content", [
    # A tag without color, with a number for an id, a color that is no hex code, an extra field.
    ("GET", tags_path("org_1", "tag_1"), 200, JSON_H,
     b'{"tag_id":"tag_1","name":"P","workspace_id":"ws_1"}'),
    ("GET", tags_path("org_1", "tag_1"), 200, JSON_H,
     b'{"tag_id":1,"name":"P","color":null,"workspace_id":"ws_1"}'),
    ("PATCH", tags_path("org_1", "tag_1"), 200, JSON_H,
     b'{"tag_id":"tag_1","name":"P","color":"red","workspace_id":"ws_1"}'),
    ("POST", tags_path("org_1"), 201, JSON_H,
     b'{"tag_id":"tag_1","name":"P","color":null,"workspace_id":"ws_1","id":1}'),
    # Another tag than the path names.
    ("GET", tags_path("org_1", "tag_2"), 200, JSON_H, GOOD_TAG),
    # The list as a bare array; a created tag answered 200; a 204 with a body.
    ("GET", tags_path("org_1"), 200, JSON_H, b"[" + GOOD_TAG + b"]"),
    ("POST", tags_path("org_1"), 200, JSON_H, GOOD_TAG),
    ("DELETE", tags_path("org_1", "tag_1"), 204, JSON_H, b"{}"),
    # Errors: status as a string, off the HTTP status, a code of another status, no
    # system_message, a timestamp that is not ISO-8601, success true.
    ("GET", tags_path("org_1", "tag_1"), 404, JSON_H, bad_error(status="404")),
    ("GET", tags_path("org_1", "tag_1"), 404, JSON_H, bad_error(status=400)),
    ("GET", tags_path("org_1", "tag_1"), 404, JSON_H, bad_error(code="VALIDATION_ERROR")),
    ("GET", tags_path("org_1", "tag_1"), 404, JSON_H, bad_error(system_message=None)),
    ("GET", tags_path("org_1", "tag_1"), 404, JSON_H, bad_error(timestamp="yesterday")),
    ("GET", tags_path("org_1", "tag_1"), 404, JSON_H, GOOD_ERROR.replace(b"false", b"true")),
])
def test_type_table_rejects_wrong_types(method, path, status, headers, content):
    check_answer("GET", tags_path("org_1", "tag_1"), 200, JSON_H, GOOD_TAG)
    check_answer("GET", tags_path("org_1", "tag_1"), 404, JSON_H, GOOD_ERROR)
    with pytest.raises(AssertionError):
        check_answer(method, path, status, headers, content)


def test_type_table_checks_the_code_of_the_credential():
    """A refused API key has an API-key code; a refused bearer token a token code."""
    def refused(code):
        return bad_error(code=code, status=401)

    p = tags_path("org_1")
    check_answer("GET", p, 401, JSON_H, refused("TOKEN_INVALID"), {"Authorization": "Bearer x"})
    check_answer("GET", p, 401, JSON_H, refused("INVALID_API_KEY"), {"X-API-Key": "x"})
    check_answer("GET", p, 401, JSON_H, refused("AUTHENTICATION_REQUIRED"), {})
    with pytest.raises(AssertionError):
        check_answer("GET", p, 401, JSON_H, refused("TOKEN_INVALID"), {"X-API-Key": "x"})
    with pytest.raises(AssertionError):
        check_answer("GET", p, 401, JSON_H, refused("INVALID_API_KEY"),
                     {"Authorization": "Bearer x"})
