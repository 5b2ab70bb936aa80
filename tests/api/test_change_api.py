"""Which API each change came through (issue 22, History): the "api" of the change records in
/v1/changes, the histories and the event stream."""
import os
import subprocess
import time

from conftest import ADMIN_TOKEN, Api, Server
from test_easydb import Easydb, user
from test_events import Sse


def _rev(admin):
    return admin.get("/v1/changes", params={"since": 0, "limit": 1000}).json()["next_since"]


def _changes(admin, since):
    items = []
    while True:
        body = admin.get("/v1/changes", params={"since": since, "limit": 500}).json()
        if not body["items"]:
            return items
        items += body["items"]
        since = body["next_since"]


EASYDB_GROUP = [{"_basetype": "taggroup",
                 "taggroup": {"type": "choice", "displayname": {"en-US": "Api state"}},
                 "_tags": [{"_basetype": "tag",
                            "tag": {"type": "individual", "displayname": {"en-US": "via easydb"},
                                    "sticky": False, "is_default": False},
                            "_acl": []}]}]


def test_each_record_names_its_api_in_changes_history_and_events():
    s = Server().start()
    try:
        a = Api(s, ADMIN_TOKEN)
        login, pw = user(a, "api-editor", ["tags:read", "tags:write"])
        ed = Easydb(s, login, pw)
        start = _rev(a)
        writes = []  # (api, first revision after the write's)

        r = a.post("/v1/tags", json={"name": "Via.native"})
        assert r.status_code == 201, r.text
        native_id = r.json()["id"]
        writes.append(("native", _rev(a)))
        r = a.post("/tag", json={"tags": [{"name": "Via.immuta"}]})
        assert r.status_code == 200, r.text
        writes.append(("immuta", _rev(a)))
        r = ed.post("/api/v1/tags", json=EASYDB_GROUP)
        assert r.status_code == 200, r.text
        writes.append(("easydb", _rev(a)))
        # The server's own work: an expired assignment is removed by the expiry sweep.
        r = a.post("/v1/resources/folder/api-exp/tags", json={"tags": ["Via.ttl"], "ttl": 1,
                                                            "create_missing": True})
        assert r.status_code == 200, r.text
        writes.append(("native", _rev(a)))
        deadline = time.time() + 10
        while not any(c["op"] == "remove" for c in _changes(a, writes[-1][1])):
            assert time.time() < deadline, "the expiry sweep removed nothing"
            time.sleep(0.2)
        writes.append(("system", _rev(a)))

        items = _changes(a, start)
        lo = start
        for api, hi in writes:
            mine = [c for c in items if lo < c["revision"] <= hi]
            assert mine, api
            assert {c["api"] for c in mine} == {api}, (api, mine)
            lo = hi
        assert [c["op"] for c in items if c["api"] == "system"] == ["remove"]

        # The histories show the same.
        h = a.get("/v1/tags/%d/history" % native_id).json()["items"]
        assert h and all(c["api"] == "native" for c in h)
        immuta = [c for c in items if c["api"] == "immuta" and c["entity"] == "tag"]
        h = a.get("/v1/tags/%d/history" % immuta[0]["entity_id"]).json()["items"]
        assert h and {c["api"] for c in h} == {"immuta"}

        # The event stream (and so webhooks, which render records the same way) too.
        sse = Sse(s, params="?since=%d" % start)
        evs = sse.take(len(items))
        sse.close()
        assert [e["data"]["api"] for e in evs] == [c["api"] for c in items]
    finally:
        s.cleanup()


def _store_sql(s, sql):
    """Runs statements on a stopped server's store."""
    if s.store:
        subprocess.run(["psql", "-Xq", "-v", "ON_ERROR_STOP=1", s.store, "-c", sql],
                       capture_output=True, check=True)
        return
    import sqlite3
    db = sqlite3.connect(os.path.join(s.data, "tagd.db"))
    with db:
        db.executescript(sql)
    db.close()


def test_records_written_before_migration_14_have_no_api():
    s = Server().start()
    try:
        a = Api(s, ADMIN_TOKEN)
        assert a.post("/v1/tags", json={"name": "Before.api"}).status_code == 201
        assert s.stop() == 0
        # Back to a store of schema 13: the column goes, and migration 14 runs again; so do
        # the later ones, whose work goes too (15: policies, 16: group conflict policies,
        # 17: assign rights, 18: import jobs).
        _store_sql(s, "ALTER TABLE changes DROP COLUMN api;"
                      "DROP TABLE IF EXISTS policies; DROP TABLE IF EXISTS policies_hist;"
                      "ALTER TABLE groups DROP COLUMN conflict;"
                      "DROP INDEX IF EXISTS tags_assign_restricted;"
                      "ALTER TABLE tags DROP COLUMN assign_restricted;"
                      "ALTER TABLE tokens DROP COLUMN assign;"
                      "ALTER TABLE users DROP COLUMN assign;"
                      "DROP TABLE IF EXISTS import_jobs;"
                      "DELETE FROM schema_version WHERE v >= 14;")
        s.start()
        a = Api(s, ADMIN_TOKEN)
        assert a.post("/v1/tags", json={"name": "After.api"}).status_code == 201
        items = _changes(a, 0)
        names = {(c["after"] or {}).get("name"): c["api"] for c in items if c["entity"] == "tag"}
        assert names["Before.api"] is None
        assert names["After.api"] == "native"
    finally:
        s.cleanup()


def test_console_session_cookie_writes_say_console(server, admin):
    """The console signs in with POST /v1/sessions {"cookie": true}: what the session cookie
    writes is recorded as "console"; a bearer credential (an API token, or a session's token
    sent as one) stays "native", also when a cookie rides along."""
    import requests

    login, pw = user(admin, "console-editor", ["tags:read", "tags:write"])
    browser = requests.Session()
    r = browser.post(server.url + "/v1/sessions",
                     json={"login": login, "password": pw, "cookie": True})
    assert r.status_code == 201, r.text
    assert "tagd_session" in browser.cookies
    r = requests.post(server.url + "/v1/sessions", json={"login": login, "password": pw})
    assert r.status_code == 201, r.text
    session_token = r.json()["token"]
    start = _rev(admin)

    assert browser.post(server.url + "/v1/tags", json={"name": "Via.console"}).status_code == 201
    assert admin.post("/v1/tags", json={"name": "Via.token"}).status_code == 201
    h = {"Authorization": "Bearer " + session_token}
    assert requests.post(server.url + "/v1/tags", json={"name": "Via.session_token"},
                         headers=h).status_code == 201
    # The bearer token is the credential when both come (native_credential): its API.
    assert browser.post(server.url + "/v1/tags", json={"name": "Via.both"},
                        headers={"Authorization": "Bearer " + ADMIN_TOKEN}).status_code == 201
    # A write the console renames and deletes: every record of it says so.
    tid = browser.get(server.url + "/v1/tags/Via.console").json()["id"]
    r = browser.patch(server.url + "/v1/tags/%d" % tid, json={"name": "Via.console2"})
    assert r.status_code == 200, r.text

    items = _changes(admin, start)
    apis = {}
    for c in items:
        if c["entity"] == "tag":
            apis.setdefault((c["after"] or c["before"])["name"], set()).add(c["api"])
    assert apis == {"Via": {"console"}, "Via.console": {"console"},
                    "Via.console2": {"console"}, "Via.token": {"native"},
                    "Via.session_token": {"native"}, "Via.both": {"native"}}, apis
    # The tag's history and the event stream say the same.
    h = admin.get("/v1/tags/%d/history" % tid).json()["items"]
    assert h and {c["api"] for c in h} == {"console"}
    sse = Sse(server, params="?since=%d" % start)
    evs = sse.take(len(items))
    sse.close()
    assert [e["data"]["api"] for e in evs] == [c["api"] for c in items]
