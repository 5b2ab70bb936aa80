"""Signing in on the native API with a user's login and password (POST /v1/sessions, DELETE
/v1/sessions/current), the console's session cookie, the limits on failed sign-ins, the
workspaces GET /v1/me lists, and the filters of GET /v1/changes (issue 22)."""
import http.client
import json
import time

import pytest
import requests

from conftest import ADMIN_TOKEN, Api, Server

PW = "correct horse battery"


def _user(admin, login, rights):
    r = admin.post("/v1/users", json={"login": login, "password": PW, "rights": rights})
    assert r.status_code == 201, r.text


def _sign_in(server, body, headers=None):
    return requests.post(server.url + "/v1/sessions", json=body, headers=headers or {},
                         timeout=30)


def test_sign_in_gives_a_session_with_the_users_rights(server, admin):
    _user(admin, "reader1", ["tags:read"])
    r = _sign_in(server, {"login": "reader1", "password": PW})
    assert r.status_code == 201, r.text
    assert r.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in r.headers
    b = r.json()
    assert b["principal"] == "reader1" and b["rights"] == ["tags:read"]
    assert b["token"].startswith("tgd_") and b["expires_at"]
    me = Api(server, b["token"]).get("/v1/me").json()
    assert me["principal"] == "reader1" and me["kind"] == "session"
    assert me["rights"] == ["tags:read"] and me["token_id"] == b["token_id"]
    s = Api(server, b["token"])
    assert s.get("/v1/tags").status_code == 200
    r = s.post("/v1/tags", json={"name": "NotByAReader"})
    assert r.status_code == 403, r.text
    # The session writes as its user, in the change log under the user's login.
    _user(admin, "writer1", ["tags:read", "tags:write"])
    w = Api(server, _sign_in(server, {"login": "WRITER1", "password": PW}).json()["token"])
    assert w.post("/v1/tags", json={"name": "BySession"}).status_code == 201
    last = admin.get("/v1/changes", params={"since": 0, "limit": 1000}).json()["items"][-1]
    assert last["principal"] == "writer1" and last["after"]["name"] == "BySession"


def test_wrong_password_and_unknown_login_answer_alike(server, admin):
    _user(admin, "alice2", ["tags:read"])
    wrong = _sign_in(server, {"login": "alice2", "password": "not the password"})
    unknown = _sign_in(server, {"login": "nobody-here", "password": "not the password"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["error"]["message"] == unknown.json()["error"]["message"]
    assert wrong.json()["error"]["code"] == "unauthorized"
    for body in ({"login": "alice2"}, {"password": PW}, {"login": 3, "password": PW},
                 {"login": "alice2", "password": PW, "extra": 1},
                 {"login": "alice2", "password": PW, "cookie": "yes"},
                 {"login": "alice2", "password": PW, "organization": "acme"}, [1]):
        r = _sign_in(server, body)
        assert r.status_code == 400, (body, r.text)
    r = _sign_in(server, {"login": "", "password": ""})
    assert r.status_code == 400
    r = _sign_in(server, {"login": "alice2", "password": PW, "organization": "org_999999"})
    assert r.status_code == 400 and r.json()["error"]["details"]["field"] == "organization"


def test_sign_out_ends_the_session_at_once(server, admin):
    _user(admin, "bye1", ["tags:read"])
    tok = _sign_in(server, {"login": "bye1", "password": PW}).json()["token"]
    s = Api(server, tok)
    assert s.get("/v1/me").status_code == 200
    r = s.delete("/v1/sessions/current")
    assert r.status_code == 204, r.text
    assert s.get("/v1/me").status_code == 401
    assert s.delete("/v1/sessions/current").status_code == 401
    # An API token is no session to end.
    r = admin.delete("/v1/sessions/current")
    assert r.status_code == 400 and r.json()["error"]["details"]["field"] == "Authorization"
    assert admin.get("/v1/me").status_code == 200


def test_cookie_is_httponly_strict_and_secure_behind_tls(server, admin):
    _user(admin, "cookie1", ["tags:read"])
    r = _sign_in(server, {"login": "cookie1", "password": PW, "cookie": True})
    assert r.status_code == 201, r.text
    assert "token" not in r.json()
    c = r.headers["Set-Cookie"]
    assert c.startswith("tagd_session=tgd_")
    for part in ("Path=/", "HttpOnly", "SameSite=Strict", "Max-Age=86400"):
        assert part in c, c
    assert "Secure" not in c
    r = _sign_in(server, {"login": "cookie1", "password": PW, "cookie": True},
                 {"X-Forwarded-Proto": "https"})
    assert "; Secure" in r.headers["Set-Cookie"]
    r = _sign_in(server, {"login": "cookie1", "password": PW, "cookie": True},
                 {"Origin": "https://tags.example"})
    assert "; Secure" in r.headers["Set-Cookie"]


def test_cookie_authenticates_the_console_and_only_from_its_origin(server, admin):
    _user(admin, "cookie2", ["tags:read", "tags:write"])
    jar = requests.Session()
    r = jar.post(server.url + "/v1/sessions",
                 json={"login": "cookie2", "password": PW, "cookie": True}, timeout=30)
    assert r.status_code == 201
    me = jar.get(server.url + "/v1/me", timeout=10)
    assert me.status_code == 200 and me.json()["principal"] == "cookie2"
    host = "127.0.0.1:%d" % server.port
    ok = jar.post(server.url + "/v1/tags", json={"name": "ByCookie"}, timeout=10,
                  headers={"Origin": "http://" + host, "Sec-Fetch-Site": "same-origin"})
    assert ok.status_code == 201, ok.text
    for h in ({"Origin": "http://evil.example"}, {"Origin": "http://127.0.0.1:1"},
              {"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"}):
        r = jar.post(server.url + "/v1/tags", json={"name": "NotByCookie"}, headers=h, timeout=10)
        assert r.status_code == 403, (h, r.text)
        assert r.json()["error"]["code"] == "forbidden"
    assert admin.get("/v1/tags/NotByCookie").status_code == 404
    # The stream follows the cookie as well (a browser's EventSource sends no header).
    c = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    c.request("GET", "/v1/events", headers={"Cookie": "tagd_session=" + jar.cookies["tagd_session"]})
    assert c.getresponse().status == 200
    c.close()
    r = jar.delete(server.url + "/v1/sessions/current", timeout=10)
    assert r.status_code == 204
    assert "Max-Age=0" in r.headers["Set-Cookie"]
    assert jar.get(server.url + "/v1/me", timeout=10).status_code == 401


def test_easydb_sessions_are_no_bearer_on_the_native_api(server, admin):
    _user(admin, "edb1", ["admin"])
    tok = requests.get(server.url + "/api/v1/session", timeout=10).json()["token"]
    r = requests.post(server.url + "/api/v1/session/authenticate",
                      params={"token": tok, "login": "edb1", "password": PW}, timeout=30)
    assert r.status_code == 200, r.text
    assert Api(server, tok).get("/v1/me").status_code == 401
    c = requests.get(server.url + "/v1/me", headers={"Cookie": "tagd_session=" + tok}, timeout=10)
    assert c.status_code == 401
    # A native session works on easydb's API too, as its user: the same sessions of core.
    nat = _sign_in(server, {"login": "edb1", "password": PW}).json()["token"]
    r = requests.get(server.url + "/api/v1/session", params={"token": nat}, timeout=10)
    assert r.status_code == 200 and r.json()["authenticated"]["method"] == "native"


def test_sign_in_to_another_organization(server, admin):
    org = admin.post("/v1/organizations", json={"name": "SessOther"}).json()["id"]
    other = Api(server, server.token(["admin"], organization_id=org))
    assert other.post("/v1/users", json={"login": "carol", "password": PW,
                                         "rights": ["tags:read"]}).status_code == 201
    assert _sign_in(server, {"login": "carol", "password": PW}).status_code == 401
    r = _sign_in(server, {"login": "carol", "password": PW, "organization": org})
    assert r.status_code == 201, r.text
    me = Api(server, r.json()["token"]).get("/v1/me").json()
    assert me["organization"]["id"] == org and r.json()["organization_id"] == org


def test_me_lists_the_workspaces_and_follows_the_header(server, admin):
    me = admin.get("/v1/me").json()
    org = me["organization"]["id"]
    ws = admin.post("/v1/organizations/%s/workspaces" % org, json={"name": "Second"})
    assert ws.status_code == 201, ws.text
    wid = ws.json()["id"]
    me = admin.get("/v1/me").json()
    names = {w["id"]: (w["name"], w["default"]) for w in me["workspaces"]}
    assert names[me["workspace"]["id"]][1] is True and names[wid] == ("Second", False)
    me2 = admin.get("/v1/me", headers={"X-Tagd-Workspace": wid}).json()
    assert me2["workspace"] == {"id": wid, "name": "Second"}


def _from(s, addr, body):
    c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30, source_address=(addr, 0))
    try:
        c.request("POST", "/v1/sessions", body=json.dumps(body),
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        return r.status, r.getheader("Retry-After"), r.read()
    finally:
        c.close()


def test_failed_sign_ins_are_limited_per_login():
    s = Server(extra_args=["--login-fails-per-login", "3", "--login-fails-per-addr", "0",
                           "--login-fail-window", "60"]).start()
    try:
        a = Api(s, ADMIN_TOKEN)
        _user(a, "target", ["tags:read"])
        _user(a, "bystander", ["tags:read"])
        for i, addr in enumerate(["127.0.0.2", "127.0.0.3", "127.0.0.4"]):
            assert _from(s, addr, {"login": "target", "password": "guess %d" % i})[0] == 401
        # Even the right password waits now, from any address; the Retry-After says how long.
        st, retry, body = _from(s, "127.0.0.5", {"login": "TARGET", "password": PW})
        assert st == 429, body
        assert 1 <= int(retry) <= 21
        assert json.loads(body)["error"]["code"] == "rate_limited"
        assert _from(s, "127.0.0.2", {"login": "bystander", "password": PW})[0] == 201
        # Successes take nothing.
        for _ in range(5):
            assert _from(s, "127.0.0.2", {"login": "bystander", "password": PW})[0] == 201
    finally:
        s.cleanup()


def test_failed_sign_ins_are_limited_per_address():
    s = Server(extra_args=["--login-fails-per-addr", "3", "--login-fails-per-login", "0",
                           "--login-fail-window", "60"]).start()
    try:
        a = Api(s, ADMIN_TOKEN)
        _user(a, "dave", ["tags:read"])
        for login in ("x1", "x2", "x3"):
            assert _from(s, "127.0.0.2", {"login": login, "password": "guess"})[0] == 401
        st, retry, _ = _from(s, "127.0.0.2", {"login": "dave", "password": PW})
        assert st == 429 and int(retry) >= 1
        assert _from(s, "127.0.0.3", {"login": "dave", "password": PW})[0] == 201
    finally:
        s.cleanup()


def test_failed_sign_ins_unlimited_at_zero():
    s = Server(extra_args=["--login-fails-per-addr", "0", "--login-fails-per-login", "0"]).start()
    try:
        a = Api(s, ADMIN_TOKEN)
        _user(a, "erin", ["tags:read"])
        for _ in range(12):
            assert _from(s, "127.0.0.2", {"login": "erin", "password": "guess"})[0] == 401
        assert _from(s, "127.0.0.2", {"login": "erin", "password": PW})[0] == 201
    finally:
        s.cleanup()


# ---- GET /v1/changes filters ----


def _all(api, **params):
    items, since = [], params.pop("since", 0)
    for _ in range(100):
        b = api.get("/v1/changes", params=dict(params, since=since, limit=2)).json()
        items += b["items"]
        if b["next_since"] == since:
            return items
        since = b["next_since"]
    raise AssertionError("no end")


def test_changes_filtered_by_tag_resource_and_principal(server, admin):
    since = admin.get("/v1/changes", params={"since": 0, "limit": 1000}).json()["next_since"]
    etl = Api(server, server.token(["tags:read", "tags:write", "tags:assign"], name="etl-bot"))
    assert admin.post("/v1/tags", json={"name": "Hist.a"}).status_code == 201
    assert etl.post("/v1/tags", json={"name": "Hist.b"}).status_code == 201
    assert admin.put("/v1/resources/hdir/d1", json={"name": "D"}).status_code == 201
    assert admin.put("/v1/resources/hdoc/f1", json={"name": "F", "parent": {"kind": "hdir", "key": "d1"}}).status_code == 201
    assert admin.put("/v1/resources/hdoc/f2", json={"name": "F2"}).status_code == 201
    assert etl.post("/v1/resources/hdoc/f1/tags", json={"tags": ["Hist.a"]}).status_code in (200, 201)
    assert etl.post("/v1/resources/hdoc/f2/tags", json={"tags": ["Hist.b"]}).status_code in (200, 201)
    f1 = admin.get("/v1/resources/hdoc/f1").json()["id"]
    d1 = admin.get("/v1/resources/hdir/d1").json()["id"]

    by_tag = _all(admin, since=since, tag="Hist.a")
    assert [(c["entity"], c["op"]) for c in by_tag] == [("tag", "create"), ("assignment", "add")]
    assert [c["entity"] for c in _all(admin, since=since, tag="Hist.*")] == \
        ["tag", "tag", "tag", "assignment", "assignment"]
    by_res = _all(admin, since=since, resource=f1)
    assert [(c["entity"], c["entity_id"]) for c in by_res] == [("resource", f1), ("assignment", f1)]
    # A folder's filter takes in what lies below it.
    assert {c["entity_id"] for c in _all(admin, since=since, resource=d1)} == {d1, f1}
    by_who = _all(admin, since=since, principal="etl-bot")
    assert len(by_who) == 3 and {c["principal"] for c in by_who} == {"etl-bot"}
    both = _all(admin, since=since, principal="etl-bot", tag="Hist.b")
    assert [c["entity"] for c in both] == ["tag", "assignment"]
    assert _all(admin, since=since, principal="nobody") == []
    # next_since moves past what a filter skipped, so a client never reads it twice.
    b = admin.get("/v1/changes", params={"since": since, "principal": "nobody"}).json()
    assert b["items"] == [] and b["next_since"] > since
    r = admin.get("/v1/changes", params={"resource": "hdoc/f1"})
    assert r.status_code == 400 and r.json()["error"]["details"]["field"] == "resource"


def test_changes_filter_long_poll_wakes_on_a_matching_write(server, admin):
    since = admin.get("/v1/changes", params={"since": 0, "limit": 1000}).json()["next_since"]
    t0 = time.monotonic()
    import threading

    def later():
        # A change the filter skips first: the poll must not answer with it.
        time.sleep(0.5)
        admin.post("/v1/tags", json={"name": "PollOther"})
        time.sleep(0.5)
        admin.post("/v1/tags", json={"name": "PollFilt"})
    th = threading.Thread(target=later)
    th.start()
    items = []
    while not items and time.monotonic() - t0 < 8:
        b = admin.get("/v1/changes", params={"since": since, "tag": "PollFilt", "wait": 10}).json()
        assert b["next_since"] >= since
        items, since = b["items"], b["next_since"]
    th.join()
    assert [c["after"]["name"] for c in items] == ["PollFilt"]
    assert time.monotonic() - t0 < 8
