"""Authorization matrix across dialects, and isolation of two organizations (issue 10).

Two organizations, A (Acme) and B (Beta), are set up through the native admin API. A owns every
piece of data the rows aim at: an Aitronos tag, native groups, tokens and links, Oracle files
and folders with tags. Each row (dialect, method, path, body, right needed) is called with each
kind of bad credential: none, garbage, expired, revoked, read-only (for writes), B's admin
token, a link's access token or an easydb session used as a bearer token, for Oracle every kind
of bad or misdirected applink and public link, and for easydb every kind of bad session
(none, unknown, expired, logged out, read-only, another organization's, an API token). Each answer must be the dialect's own status and error
body, the change log must not move (X-Tagd-Revision of GET /v1/changes?limit=1 with the
installation's admin token), and A's data must read back exactly as before.

test_every_route_has_rows fails when a covered dialect gains a route without rows here or in
test_authz_matrix.py; a dialect not covered yet is reported as a skip naming it."""
import glob
import os
import re
import time

import pytest
import requests

import aitronos_types
import oracle_types
from conftest import ADMIN_TOKEN, ROOT, Server
from doc_types import check_every_answer

BASE = "/documents/api/1.1"
AIT = "/v1/organizations/{org}/knowledge/connectors/tags"
GARBAGE = "tgd_garbage-0123456789abcdef"


@pytest.fixture(autouse=True)
def documented_types(monkeypatch):
    """Every refusal here must also have the documented types of its product (issue 17)."""
    def check(r):
        path = requests.utils.urlparse(r.request.url).path
        if r.request.method == "HEAD":
            return
        oracle_types.check_answer(r.request.method, path, r.status_code,
                                  r.headers.get("Content-Type"), r.content)
        aitronos_types.check_answer(r.request.method, path, r.status_code, r.headers,
                                    r.content, r.request.headers)

    check_every_answer(monkeypatch, check)


# ---- rows: (dialect, method, path, body, need) -------------------------------------------
# need: read | write | admin. Paths and bodies are templates filled from the world below.

NATIVE_ROWS = [
    ("native", "GET", "/v1/groups/{group}", None, "read"),
    ("native", "PATCH", "/v1/groups/{group}", {"name": "Renamed"}, "write"),
    ("native", "PUT", "/v1/groups/{group}/tags", {"tags": []}, "write"),
    ("native", "DELETE", "/v1/groups/{group}", None, "write"),
    ("native", "DELETE", "/v1/tokens/{victim}", None, "admin"),
    ("native", "GET", "/v1/organizations", None, "install"),
    ("native", "POST", "/v1/organizations", {"name": "Intruder"}, "install"),
    ("native", "POST", "/v1/organizations/{org}/workspaces", {"name": "intruder"}, "admin"),
    ("native", "GET", "/v1/applinks", None, "admin"),
    ("native", "POST", "/v1/applinks", {"resource": {"kind": "folder", "key": "fa"}, "role": "contributor"}, "admin"),
    ("native", "DELETE", "/v1/applinks/{applink}", None, "admin"),
    ("native", "GET", "/v1/publiclinks", None, "admin"),
    ("native", "POST", "/v1/publiclinks", {"resource": {"kind": "folder", "key": "fa"}, "role": "contributor"}, "admin"),
    ("native", "DELETE", "/v1/publiclinks/{publiclink}", None, "admin"),
]

AITRONOS_ROWS = [
    ("aitronos", "GET", AIT, None, "read"),
    ("aitronos", "POST", AIT, {"name": "Intruder", "workspace_id": "{ws}"}, "write"),
    ("aitronos", "GET", AIT + "/{tag}", None, "read"),
    ("aitronos", "PATCH", AIT + "/{tag}", {"color": "#000000"}, "write"),
    ("aitronos", "DELETE", AIT + "/{tag}", None, "write"),
]

ORACLE_ROWS = []
for _base, _kind, _key in ((b, k, key) for b in (BASE, "/documents/api/1.2")
                           for k, key in (("file", "Dfa"), ("folder", "fa"))):
    _p = "%s/%ss/%s/tags" % (_base, _kind, _key)
    ORACLE_ROWS += [
        ("oracle", "GET", _p, None, "read"),
        ("oracle", "POST", _p, {"setTags": "intruder"}, "write"),
        ("oracle", "PUT", _p, {"addTags": "intruder", "removeTags": "own"}, "write"),
        ("oracle", "DELETE", _p, None, "write"),
    ]

# easydb: the session token goes in ?token= (or x-easydb-token); both API prefixes are served.
HIJACK = [{"_basetype": "taggroup", "taggroup": {"_id": "{group}", "type": "checkbox",
                                                  "displayname": {"en-US": "Hijacked"}}, "_tags": []}]
EASYDB_ROWS = []
for _p in ("/api/v1", "/api"):
    EASYDB_ROWS += [
        ("easydb", "GET", _p + "/tags", None, "read"),
        ("easydb", "POST", _p + "/tags", HIJACK, "write"),
        ("easydb", "GET", _p + "/session", None, "session"),
        ("easydb", "POST", _p + "/session/authenticate?login=aw&password=" + "password-123", None, "session"),
        ("easydb", "POST", _p + "/session/deauthenticate", None, "session"),
    ]

LD_ROWS = [
    ("launchdarkly", "GET", "/api/v2/tags", None, "read"),
    ("launchdarkly", "GET", "/api/v2/flags/web/chk", None, "read"),
    ("launchdarkly", "GET", "/api/v2/segments/web/prod/seg", None, "read"),
    ("launchdarkly", "PATCH", "/api/v2/flags/web/chk", {"tags": ["intruder"]}, "write"),
    ("launchdarkly", "PATCH", "/api/v2/segments/web/prod/seg",
     [{"op": "add", "path": "/tags/-", "value": "intruder"}], "write"),
]

IMMUTA_ROWS = [
    ("immuta", "GET", "/tag", None, "read"),
    ("immuta", "POST", "/tag", {"tags": [{"name": "Intruder"}]}, "write"),
    ("immuta", "POST", "/tag/refresh", None, "write"),
    ("immuta", "DELETE", "/tag/AcmeImm", None, "write"),
    ("immuta", "GET", "/tag/datasource/7", None, "read"),
    ("immuta", "POST", "/tag/datasource/7", [{"name": "AcmeImm"}], "write"),
    ("immuta", "DELETE", "/tag/datasource/7/AcmeImm", None, "write"),
]

SOURCES_ROWS = [
    ("native", "GET", "/v1/sources", None, "admin"),
    ("native", "POST", "/v1/sources", {"name": "intruder", "url": "https://example.invalid/t.json"}, "admin"),
    ("native", "DELETE", "/v1/sources/acmesrc", None, "admin"),
]

QUERY_ROWS = [
    ("native", "POST", "/v1/query", {"query": "AcmeImm"}, "read"),
    ("native", "GET", "/v1/resources?query=AcmeImm", None, "read"),
]

ROWS = (NATIVE_ROWS + SOURCES_ROWS + QUERY_ROWS + AITRONOS_ROWS + ORACLE_ROWS + EASYDB_ROWS + LD_ROWS +
        IMMUTA_ROWS)

# ---- principals ---------------------------------------------------------------------------

BEARER = ["none", "garbage", "expired", "revoked", "readonly", "other_org", "link_as_bearer",
          "link_headers_only", "session_as_bearer", "login_token", "login_revoked_key"]
SESSIONS = ["none", "garbage", "garbage_header", "expired", "logged_out", "readonly",
            "other_org", "api_token"]
LINKS = ["applink_other_folder", "applink_revoked", "applink_expired", "applink_wrong_secret",
         "applink_without_secret", "applink_viewer", "publiclink_other_folder",
         "publiclink_without_cookie", "publiclink_wrong_cookie", "foreign_applink"]


def expectation(dialect, who, method, path, need):
    """(status, code) the dialect must answer, or None when the pair is not a refusal."""
    write = need != "read"
    if who == "readonly" and not write:
        return None
    unauthenticated = ("none", "garbage", "expired", "revoked", "link_as_bearer",
                       "link_headers_only", "session_as_bearer", "login_revoked_key")
    # An Immuta login token (issue 17) is a credential on Immuta's routes only.
    if dialect != "immuta":
        unauthenticated += ("login_token",)
    if dialect == "native":
        if who in unauthenticated:
            return 401, "unauthorized"
        if who == "readonly" or need == "install":
            return 403, "forbidden"
        if who == "other_org":
            # Items of A named by id do not exist for B; B's own lists are checked separately.
            if "{" in path:
                return 404, "not_found"
            return None
        return None
    if dialect == "aitronos":
        return {"none": (401, "AUTHENTICATION_REQUIRED"),
                "link_headers_only": (401, "AUTHENTICATION_REQUIRED"),
                "garbage": (401, "TOKEN_INVALID"),
                "revoked": (401, "TOKEN_INVALID"),
                "link_as_bearer": (401, "TOKEN_INVALID"),
                "session_as_bearer": (401, "TOKEN_INVALID"),
                "login_token": (401, "TOKEN_INVALID"),
                "login_revoked_key": (401, "TOKEN_INVALID"),
                "expired": (401, "TOKEN_EXPIRED"),
                "readonly": (403, "INSUFFICIENT_PERMISSIONS"),
                "other_org": (404, "ORGANIZATION_NOT_FOUND")}.get(who)
    if dialect == "oracle":
        if who in ("none", "garbage", "expired", "revoked", "link_as_bearer", "session_as_bearer",
                   "login_token", "login_revoked_key"):
            return 401, "-20"
        if who == "link_headers_only":
            return None  # that is a valid applink in this dialect
        if who == "readonly":
            return 403, "-20"
        if who == "other_org":
            return 404, "-16"
        if who in ("applink_revoked", "applink_expired", "applink_wrong_secret",
                   "publiclink_wrong_cookie"):
            return 400, "-26"
        if who == "applink_without_secret":
            return 400, "-1"
        if who == "applink_viewer":
            return (403, "-20") if write else None
        if who in ("applink_other_folder", "publiclink_other_folder", "publiclink_without_cookie",
                   "foreign_applink"):
            return 403, "-20"
    if dialect == "launchdarkly":
        if who in unauthenticated:
            return 401, "unauthorized"
        if who == "readonly":
            return 403, "forbidden"
        if who == "other_org" and write:
            return 404, "not_found"  # A's flag and segment do not exist for B
        return None
    if dialect == "immuta":
        if who in unauthenticated:
            return 401, "Unauthorized"
        if who == "readonly":
            return 403, "Forbidden"
        if who == "other_org" and "AcmeImm" in path:
            return 404, "Not Found"  # A's tag does not exist for B
        return None
    if dialect == "easydb":
        if need == "session":
            # Starting a session needs nothing; a live session may be shown and (de)authenticated.
            if who in ("garbage", "garbage_header", "expired", "api_token"):
                return 400, "error.user.session_not_found"
            if who == "none" and method == "POST":
                return 400, "error.user.session_not_found"
            return None
        if who in ("none", "garbage", "garbage_header", "expired", "logged_out", "api_token"):
            return 400, "error.user.not_authenticated"
        if who == "readonly":
            return 400, "error.user.no_system_right"
        if who == "other_org":
            # B's session names A's group id: for B it does not exist.
            return (400, "error.user.tag_not_found") if write else None
    return None


def _principals(dialect):
    if dialect == "easydb":
        return SESSIONS
    return BEARER + (LINKS if dialect == "oracle" else [])


def _cases():
    out = []
    for row in ROWS:
        dialect, method, path, body, need = row
        for who in _principals(dialect):
            exp = expectation(dialect, who, method, path, need)
            if exp:
                out.append(pytest.param(who, row, exp, id="%s-%s-%s-%s" % (dialect, who, method, path)))
    return out


# ---- the world ----------------------------------------------------------------------------

SESSION_TTL = 10  # seconds; short, so that one session can expire while the module runs
PASSWORD = "password-123"


@pytest.fixture(scope="module")
def server():
    # This module's own tagd: easydb sessions must expire within the run.
    s = Server(extra_args=["--session-ttl", str(SESSION_TTL)]).start()
    yield s
    s.cleanup()


def _req(server, method, path, token=None, headers=None, scheme="Bearer ", **kw):
    h = dict(headers or {})
    if token is not None:
        h["Authorization"] = scheme + token
    kw.setdefault("timeout", 60)
    return requests.request(method, server.url + path, headers=h, **kw)


def _ok(r, *codes):
    assert r.status_code in codes, (r.status_code, r.text)
    return r.json() if r.content else None


# The organization of each login: logins are unique per organization, and an easydb login is
# looked up in the organization its request names (issue 18).
ORG_OF = {}


def _session(server, login=None):
    """A new easydb session token, authenticated as `login` when given."""
    tok = _ok(requests.get(server.url + "/api/v1/session", timeout=60), 200)["token"]
    if login:
        _ok(requests.post(server.url + "/api/v1/session/authenticate", timeout=60,
                          params={"token": tok, "login": login, "password": PASSWORD,
                                  "organization": ORG_OF[login]}), 200)
    return tok


class World(dict):
    pass


@pytest.fixture(scope="module")
def world(server):
    s = server
    w = World()
    inst = lambda m, p, **kw: _req(s, m, p, ADMIN_TOKEN, **kw)  # noqa: E731
    a = _ok(inst("POST", "/v1/organizations", json={"name": "Acme"}), 201)
    b = _ok(inst("POST", "/v1/organizations", json={"name": "Beta"}), 201)
    w.update(org=a["id"], ws=a["default_workspace_id"], orgb=b["id"], wsb=b["default_workspace_id"])
    ORG_OF.update(aw=a["id"], ar=a["id"], bw=b["id"])

    def token(org, rights, **extra):
        body = {"name": "mx", "rights": rights, "organization_id": org}
        body.update(extra)
        return _ok(inst("POST", "/v1/tokens", json=body), 201)

    # Things that must expire first, so the fixture's own work covers the wait (the margin is
    # wide: under valgrind the setup below takes seconds; the session TTL is waited for anyway).
    expire_at = int(time.time() * 1000) + 8000
    w.tokens = {"admin": token(w["org"], "admin")["token"]}
    A = lambda m, p, **kw: _req(s, m, p, w.tokens["admin"], **kw)  # noqa: E731
    w.tokens["expired"] = token(w["org"], "admin", expires_at=expire_at)["token"]
    _ok(A("PUT", "/v1/resources/folder/fa", json={}), 200, 201)
    expired_link = _ok(A("POST", "/v1/applinks", json={
        "resource": {"kind": "folder", "key": "fa"}, "role": "contributor", "expires_at": expire_at}), 201)
    _ok(A("POST", "/v1/users", json={"login": "aw", "password": PASSWORD,
                                     "rights": "tags:read,tags:write"}), 201)
    _ok(A("POST", "/v1/users", json={"login": "ar", "password": PASSWORD, "rights": "tags:read"}), 201)
    session_expires = time.time() + SESSION_TTL
    w.sessions = {"expired": _session(s, "aw")}
    # Oracle tree of A: fa > Dfa, fb > Dfb; tags on both.
    for kind, key, parent in (("folder", "fa", None), ("folder", "fb", None),
                              ("file", "Dfa", "fa"), ("file", "Dfb", "fb")):
        body = {"parent": {"kind": "folder", "key": parent}} if parent else {}
        _ok(A("PUT", "/v1/resources/%s/%s" % (kind, key), json=body), 200, 201)
    _ok(A("POST", BASE + "/folders/fa/tags", json={"setTags": "own,AcmeFolderSecret"}), 200)
    _ok(A("POST", BASE + "/files/Dfa/tags", json={"setTags": "own,AcmeFileSecret"}), 200)
    # LaunchDarkly flag and segment of A, with a tag in use.
    for kind, key in (("flag", "web%2Fchk"), ("segment", "web%2Fprod%2Fseg")):
        _ok(A("PUT", "/v1/resources/%s/%s" % (kind, key), json={"name": "x"}), 200, 201)
        _ok(A("POST", "/v1/resources/%s/%s/tags" % (kind, key),
              json={"tags": ["AcmeFlagTag"], "create_missing": True}), 200, 201)

    def link(kind_url, key, role, who=A, **extra):
        body = {"resource": {"kind": "folder", "key": key}, "role": role}
        body.update(extra)
        return _ok(who("POST", kind_url, json=body), 201)

    w.links = {
        "expired": expired_link,
        "fa": link("/v1/applinks", "fa", "contributor"),
        "fa_viewer": link("/v1/applinks", "fa", "viewer"),
        "fb": link("/v1/applinks", "fb", "contributor"),
        "revoked": link("/v1/applinks", "fa", "contributor"),
        "pub_fb": link("/v1/publiclinks", "fb", "contributor"),
        "pub_fa_code": link("/v1/publiclinks", "fa", "contributor", access_code="open-sesame-42"),
    }
    _ok(A("DELETE", "/v1/applinks/" + w.links["revoked"]["id"]), 204)
    w["applink"] = w.links["fb"]["id"]
    w["publiclink"] = w.links["pub_fb"]["id"]

    w.tokens["rw"] = token(w["org"], "tags:read,tags:write,tags:assign")["token"]
    w.tokens["readonly"] = token(w["org"], "tags:read")["token"]
    revoked = token(w["org"], "admin")
    _ok(A("DELETE", "/v1/tokens/%d" % revoked["id"]), 204)
    w.tokens["revoked"] = revoked["token"]
    # Immuta's API-key logins (issue 17): a live one of A's admin key, and one whose key is
    # revoked after the login.
    immuta_login = lambda key: _ok(requests.post(  # noqa: E731
        s.url + "/bim/apikey/authenticate", json={"apikey": key}, timeout=60), 200)["token"]
    w.tokens["login"] = immuta_login(w.tokens["admin"])
    doomed = token(w["org"], "admin")
    w.tokens["login_revoked_key"] = immuta_login(doomed["token"])
    _ok(A("DELETE", "/v1/tokens/%d" % doomed["id"]), 204)
    w["victim"] = token(w["org"], "tags:read")["id"]
    w.tokens["other_org"] = token(w["orgb"], "admin")["token"]

    # Aitronos tag and a native group of A (also an easydb tag group).
    t = _ok(_req(s, "POST", AIT.format(org=w["org"]), w.tokens["rw"],
                 json={"name": "AcmeTagSecret", "workspace_id": w["ws"], "color": "#112233"}), 201)
    w["tag"] = t["tag_id"]
    g = _ok(A("POST", "/v1/groups", json={"name": "AcmeGroup"}), 201)
    w["group"] = g["id"]
    # Immuta: a tag of A on data source 7, and an external source of A (never fetched).
    _ok(A("POST", "/v1/tags", json={"name": "AcmeImm"}), 201)
    _ok(_req(s, "POST", "/tag/datasource/7", w.tokens["rw"], json=[{"name": "AcmeImm"}]), 200)
    _ok(A("POST", "/v1/sources", json={"name": "acmesrc", "url": "https://example.invalid/acme.json"}), 201)

    # B has a folder with the key of A's folder fb, and a contributor link to it; a user.
    B = lambda m, p, **kw: _req(s, m, p, w.tokens["other_org"], **kw)  # noqa: E731
    _ok(B("PUT", "/v1/resources/folder/fb", json={}), 200, 201)
    w.links["foreign"] = link("/v1/applinks", "fb", "contributor", who=B)
    _ok(B("POST", "/v1/users", json={"login": "bw", "password": PASSWORD,
                                     "rights": "tags:read,tags:write"}), 201)

    logged_out = _session(s, "aw")
    _ok(requests.post(s.url + "/api/v1/session/deauthenticate", params={"token": logged_out},
                      timeout=60), 200)
    w.sessions["logged_out"] = logged_out
    w.fresh = {}

    while time.time() * 1000 < expire_at + 200 or time.time() < session_expires + 0.5:
        time.sleep(0.1)
    w.snapshot = snapshot(s, w)
    return w


def fresh_session(server, w, login):
    """A live authenticated session, renewed well before the short TTL ends."""
    tok, born = w.fresh.get(login, (None, 0))
    if time.time() - born > SESSION_TTL / 3:
        born = time.time()
        tok = _session(server, login)
        w.fresh[login] = (tok, born)
    return tok


def snapshot(server, w):
    """A's data as its own admin reads it; every refused call must leave it equal."""
    A = lambda p, **kw: _req(server, "GET", p, w.tokens["admin"], **kw)  # noqa: E731
    out = {}
    out["ait"] = _ok(A(AIT.format(org=w["org"])), 200)
    for p in (BASE + "/files/Dfa/tags", BASE + "/folders/fa/tags", BASE + "/files/Dfb/tags",
              BASE + "/folders/fb/tags", "/v1/tags", "/v1/groups", "/v1/resources", "/v1/users"):
        out[p] = _ok(A(p), 200)
    out["immuta_model"] = _ok(A("/tag/datasource/7"), 200)
    out["sources"] = _ok(A("/v1/sources"), 200)
    out["ld"] = _ok(_req(server, "GET", "/api/v2/tags", w.tokens["admin"], scheme=""), 200)["items"]
    out["tokens"] = sorted(t["id"] for t in _ok(A("/v1/tokens"), 200)["items"])
    out["applinks"] = sorted(x["id"] for x in _ok(A("/v1/applinks"), 200)["items"])
    out["publiclinks"] = sorted(x["id"] for x in _ok(A("/v1/publiclinks"), 200)["items"])
    out["orgs"] = _ok(_req(server, "GET", "/v1/organizations", ADMIN_TOKEN), 200)["items"]
    return out


def revision(server):
    r = _req(server, "GET", "/v1/changes?limit=1", ADMIN_TOKEN)
    assert r.status_code == 200, r.text
    return int(r.headers["X-Tagd-Revision"])


def credentials(server, w, dialect, who):
    """(Authorization token or None, extra headers, easydb ?token= or None) of a principal."""
    L = w.links
    if dialect == "easydb":
        return {
            "none": (None, {}, None),
            "garbage": (None, {}, GARBAGE),
            "garbage_header": (None, {"X-Easydb-Token": GARBAGE}, None),
            "expired": (None, {}, w.sessions["expired"]),
            "logged_out": (None, {}, w.sessions["logged_out"]),
            "readonly": (None, {}, fresh_session(server, w, "ar")),
            "other_org": (None, {}, fresh_session(server, w, "bw")),
            "api_token": (None, {}, w.tokens["admin"]),
        }[who]
    if who == "session_as_bearer":
        return fresh_session(server, w, "aw"), {}, None
    al = lambda k, secret=None: {"appLinkID": L[k]["id"], "accessToken": secret or L[k]["access_token"]}  # noqa: E731
    tok, h = {
        "none": (None, {}),
        "garbage": (GARBAGE, {}),
        "expired": (w.tokens["expired"], {}),
        "revoked": (w.tokens["revoked"], {}),
        "readonly": (w.tokens["readonly"], {}),
        "other_org": (w.tokens["other_org"], {}),
        "login_token": (w.tokens["login"], {}),
        "login_revoked_key": (w.tokens["login_revoked_key"], {}),
        "link_as_bearer": (L["fa"]["access_token"], {}),
        "link_headers_only": (None, al("fa")),
        "applink_other_folder": (None, al("fb")),
        "applink_revoked": (None, al("revoked")),
        "applink_expired": (None, al("expired")),
        "applink_wrong_secret": (None, al("fa", "AT" + "x" * 43)),
        "applink_without_secret": (None, {"appLinkID": L["fa"]["id"]}),
        "applink_viewer": (None, al("fa_viewer")),
        "publiclink_other_folder": (None, {"linkID": L["pub_fb"]["id"]}),
        "publiclink_without_cookie": (None, {"linkID": L["pub_fa_code"]["id"]}),
        "publiclink_wrong_cookie": (None, {"linkID": L["pub_fa_code"]["id"],
                                           "Cookie": "dAccessCode-%s=wrong-code-99" % L["pub_fa_code"]["id"]}),
        "foreign_applink": (None, al("foreign")),
    }[who]
    return tok, h, None


def fill(v, w):
    if isinstance(v, str):
        m = re.match(r"^\{(\w+)\}$", v)
        if m:
            return w[m.group(1)]  # keeps an int an int
        return v.format(**{k: w[k] for k in w})
    if isinstance(v, dict):
        return {k: fill(x, w) for k, x in v.items()}
    if isinstance(v, list):
        return [fill(x, w) for x in v]
    return v


def assert_dialect_error(dialect, r, status, code):
    assert r.status_code == status, (status, code, r.status_code, r.text)
    body = r.json()
    if dialect == "native":
        assert body["error"]["code"] == code, body
        assert body["error"]["request_id"] == r.headers["X-Request-Id"]
        if status == 401:
            assert r.headers["WWW-Authenticate"].startswith("Bearer")
    elif dialect == "aitronos":
        assert body["success"] is False
        assert body["error"]["code"] == code, body
        assert body["error"]["status"] == status
        assert body["error"]["trace_id"] == r.headers["X-Request-Id"]
    elif dialect == "oracle":
        assert set(body) == {"errorCode", "errorKey", "errorMessage"}, body
        assert body["errorCode"] == code, body
        assert body["errorKey"].startswith("!cs")
    elif dialect == "launchdarkly":
        assert set(body) == {"code", "message", "id"}, body
        assert body["code"] == code, body
        assert body["id"] == r.headers["X-Request-Id"]
    elif dialect == "immuta":
        assert set(body) == {"statusCode", "error", "message"}, body
        assert body["statusCode"] == status and body["error"] == code, body
    elif dialect == "easydb":
        assert body["realm"] == "user", body
        assert body["code"] == code, body
        assert r.headers["X-Easydb-Api-Version"] == "1"
    else:
        raise AssertionError("no error format known for " + dialect)
    # Refusals never leak A's data (an answer may repeat a name the request itself sent).
    sent = r.request.url + str(r.request.body or "")
    for marker in ("AcmeFolderSecret", "AcmeFileSecret", "AcmeTagSecret", "AcmeGroup",
                   "AcmeFlagTag", "AcmeImm", "acmesrc"):
        assert marker in sent or marker not in r.text, (marker, r.text)


@pytest.mark.parametrize("who,row,exp", _cases())
def test_refused_and_nothing_changed(server, world, who, row, exp):
    dialect, method, path, body, need = row
    token, headers, query_token = credentials(server, world, dialect, who)
    path = fill(path, world)
    if query_token is not None:
        path += ("&" if "?" in path else "?") + "token=" + query_token
    kw = {"json": fill(body, world)} if body is not None else {}
    scheme = "" if dialect == "launchdarkly" else "Bearer "
    before = revision(server)
    r = _req(server, method, path, token, headers, scheme=scheme, **kw)
    assert_dialect_error(dialect, r, exp[0], exp[1])
    assert revision(server) == before, "the change log moved"
    assert snapshot(server, world) == world.snapshot


# ---- two organizations: what B sees of A --------------------------------------------------

def test_other_org_lists_hold_none_of_ours(server, world):
    B = lambda p: _req(server, "GET", p, world.tokens["other_org"])  # noqa: E731
    for p in ("/v1/tags", "/v1/groups", "/v1/resources", "/v1/tokens", "/v1/applinks",
              "/v1/publiclinks", "/v1/changes?since=0&limit=1000", "/v1/users"):
        r = B(p)
        assert r.status_code == 200, (p, r.text)
        assert "Acme" not in r.text, (p, r.text)
        ids = {str(x.get("id")) for x in r.json().get("items", [])}
        assert str(world["group"]) not in ids or p != "/v1/groups"
        assert world["applink"] not in ids and world["publiclink"] not in ids
    r = B(AIT.format(org=world["orgb"]))
    assert r.status_code == 200 and "Acme" not in r.text
    r = _req(server, "GET", "/api/v2/tags", world.tokens["other_org"], scheme="")
    assert r.status_code == 200 and r.json()["items"] == []
    for p in ("/tag", "/tag/datasource/7", "/v1/sources"):
        r = B(p)
        assert r.status_code == 200 and "Acme" not in r.text and "acmesrc" not in r.text, (p, r.text)
    r = requests.get(server.url + "/api/v1/tags", timeout=60,
                     params={"token": fresh_session(server, world, "bw")})
    assert r.status_code == 200 and r.json() == []
    # The same calls as A see A's data, so the empty answers above mean something.
    r = _req(server, "GET", "/api/v2/tags", world.tokens["admin"], scheme="")
    assert r.json()["items"] == ["AcmeFlagTag"]
    r = requests.get(server.url + "/api/v1/tags", timeout=60,
                     params={"token": fresh_session(server, world, "aw")})
    assert "AcmeGroup" in r.text


def test_other_org_cannot_name_our_ids_in_its_own_paths(server, world):
    before = revision(server)
    tok = world.tokens["other_org"]
    pb = AIT.format(org=world["orgb"])
    for method, body in (("GET", None), ("PATCH", {"color": "#000000"}), ("DELETE", None)):
        r = _req(server, method, pb + "/" + world["tag"], tok, json=body)
        assert_dialect_error("aitronos", r, 404, "CONNECTOR_TAG_NOT_FOUND")
    r = _req(server, "POST", pb, tok, json={"name": "Stolen", "workspace_id": world["ws"]})
    assert_dialect_error("aitronos", r, 404, "WORKSPACE_NOT_FOUND")
    r = _req(server, "GET", pb + "?workspace_id=" + world["ws"], tok)
    assert_dialect_error("aitronos", r, 404, "WORKSPACE_NOT_FOUND")
    # B may not mint a token in A, nor a link to A's folder fa (B has no fa).
    r = _req(server, "POST", "/v1/tokens", tok, json={"name": "x", "rights": "admin",
                                                      "organization_id": world["org"]})
    assert r.status_code == 403, r.text
    r = _req(server, "POST", "/v1/applinks", tok,
             json={"resource": {"kind": "folder", "key": "fa"}, "role": "contributor"})
    assert r.status_code == 422, r.text
    assert revision(server) == before
    assert snapshot(server, world) == world.snapshot


def test_installation_admin_does_not_see_into_an_organization(server, world):
    # The installation's admin works in its own (default) organization like any token.
    r = _req(server, "GET", BASE + "/files/Dfa/tags", ADMIN_TOKEN)
    assert_dialect_error("oracle", r, 404, "-16")
    r = _req(server, "GET", AIT.format(org=world["org"]), ADMIN_TOKEN)
    assert_dialect_error("aitronos", r, 404, "ORGANIZATION_NOT_FOUND")


def test_foreign_applink_on_same_key_reaches_only_its_own_folder(server, world):
    L = world.links["foreign"]
    h = {"appLinkID": L["id"], "accessToken": L["access_token"]}
    r = _req(server, "GET", BASE + "/folders/fb/tags", headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["tags"] == ""
    r = _req(server, "POST", BASE + "/folders/fb/tags", headers=h, json={"setTags": "betaOnly"})
    assert r.status_code == 200, r.text
    r = _req(server, "GET", BASE + "/folders/fb/tags", headers=h)
    assert r.json()["tags"] == "betaOnly"
    # A's folder of the same key is untouched.
    assert snapshot(server, world) == world.snapshot


def test_a_good_link_works_so_the_refusals_mean_something(server, world):
    L = world.links["fa"]
    r = _req(server, "GET", BASE + "/files/Dfa/tags",
             headers={"appLinkID": L["id"], "accessToken": L["access_token"]})
    assert r.status_code == 200 and "AcmeFileSecret" in r.text
    P = world.links["pub_fa_code"]
    r = _req(server, "GET", BASE + "/files/Dfa/tags",
             headers={"linkID": P["id"], "Cookie": "dAccessCode-%s=open-sesame-42" % P["id"]})
    assert r.status_code == 200, r.text
    for who in ("admin", "rw", "readonly"):
        r = _req(server, "GET", AIT.format(org=world["org"]), world.tokens[who])
        assert r.status_code == 200 and "AcmeTagSecret" in r.text


def test_org_admin_cannot_make_tagd_read_local_files(server, world):
    tok = world.tokens["admin"]
    r = _req(server, "POST", "/v1/sources", tok, json={"name": "localfile", "url": "/etc/passwd"})
    leaked = ""
    if r.status_code == 201:
        leaked = _req(server, "POST", "/tag/refresh", tok).text
        _ok(_req(server, "DELETE", "/v1/sources/localfile", tok), 204)
    assert "root" not in leaked, leaked
    assert r.status_code in (400, 403, 422), r.text


# ---- coverage: every route of a covered dialect has rows ----------------------------------

# Served without credentials on purpose (LaunchDarkly answers CORS preflights to anyone).
PUBLIC = {("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics"), ("GET", "/openapi.json"),
          ("OPTIONS", "/api/v2/tags"),
          # The web console's files (test_console.py); what it shows comes from /v1 with a token.
          ("GET", "/"), ("GET", "/ui"), ("GET", "/ui/{file}")}
# Takes its credential in the body, whatever the headers say; its refusals (wrong, revoked,
# expired keys, sessions and login tokens as keys) are in test_immuta_login.py.
LOGIN_ROUTES = {("POST", "/bim/apikey/authenticate"),
                # A login and password in the body (tests/api/test_native_sessions.py).
                ("POST", "/v1/sessions")}
COVERED = {"native/routes.c", "aitronos.c", "oracle.c", "easydb.c", "launchdarkly.c", "immuta.c",
           "console.c"}


def _routes():
    """(file, method, pattern) for every route in src/api/*.c and src/api/native/*.c, read from
    the route tables; file is the path below src/api."""
    out = []
    api = os.path.join(ROOT, "src", "api")
    for f in sorted(glob.glob(os.path.join(api, "*.c")) + glob.glob(os.path.join(api, "native", "*.c"))):
        src = open(f).read()
        macros = dict(re.findall(r'#define\s+(\w+)\s+"([^"]*)"', src))
        for m in re.finditer(r'R\("(\w+)",\s*((?:\w+\s*)?(?:"[^"]*")?)', src):
            method, expr = m.group(1), m.group(2).strip()
            parts = re.findall(r'(\w+)|"([^"]*)"', expr)
            pattern = "".join(macros.get(w, "") if w else lit for w, lit in parts)
            if pattern.startswith("/"):
                out.append((os.path.relpath(f, api), method, pattern))
        # Tables written without the R() macro.
        for m in re.finditer(r'\{\s*"(GET|POST|PUT|PATCH|DELETE)",\s*"(/[^"]*)"', src):
            out.append((os.path.relpath(f, api), m.group(1), m.group(2)))
    return out


def _rows_of_other_matrix():
    import test_authz_matrix as m
    return [(meth, path) for meth, path, _b, _n in m.NATIVE]


def test_every_route_has_rows():
    routes = _routes()
    assert len([r for r in routes if r[0] == "native/routes.c"]) > 20, "route table parsing broke"
    dummy = {"org": "org_2", "orgb": "org_3", "ws": "ws_2", "wsb": "ws_3", "tag": "tag_1",
             "group": "1", "victim": "7", "applink": "ALx", "publiclink": "PLx"}
    have = [(m, p.format(**dummy).split("?")[0]) for _d, m, p, _b, _n in ROWS]
    have += [(m, p.split("?")[0]) for m, p in _rows_of_other_matrix()]
    missing, uncovered = [], set()
    for f, method, pattern in routes:
        if (method, pattern) in PUBLIC or (method, pattern) in LOGIN_ROUTES:
            continue
        if f not in COVERED:
            uncovered.add(f)
            continue
        rx = re.compile("^" + re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(pattern)) + "$")
        if not any(m == method and rx.match(p) for m, p in have):
            missing.append("%s %s (%s)" % (method, pattern, f))
    assert not missing, "routes without authorization rows: " + ", ".join(missing)
    if uncovered:
        pytest.skip("dialects without authorization rows yet: " + ", ".join(sorted(uncovered)))


def test_org_admin_cannot_make_tagd_reach_private_addresses(server, world):
    """An http source is checked after DNS: loopback and private addresses are refused at fetch
    time unless the operator allows local sources (--sources-allow-local)."""
    tok = world.tokens["admin"]
    for i, url in enumerate(["http://127.0.0.1:%d/x.json" % server.port, "http://localhost:%d/" % server.port,
                             "http://10.0.0.1/x", "http://[::1]:%d/" % server.port]):
        name = "private%d" % i
        _ok(_req(server, "POST", "/v1/sources", tok, json={"name": name, "url": url}), 201)
        r = _req(server, "POST", "/tag/refresh", tok)
        assert "private addresses" in r.text, r.text
        _ok(_req(server, "DELETE", "/v1/sources/" + name, tok), 204)
