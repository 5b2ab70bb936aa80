"""The change stream: GET /v1/changes?wait= (long poll) and GET /v1/events (SSE)."""
import http.client
import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import ADMIN_TOKEN, Api, Server, pg_drop, pg_store_for


def _rev(admin):
    return admin.get("/v1/changes", params={"since": 0, "limit": 1000}).json()["next_since"]


def _write_later(admin, name, delay):
    def go():
        time.sleep(delay)
        r = admin.post("/v1/tags", json={"name": name})
        assert r.status_code == 201, r.text
    t = threading.Thread(target=go)
    t.start()
    return t


def test_long_poll_wakes_on_a_write(server, admin):
    since = _rev(admin)
    t = _write_later(admin, "LongPoll1", 0.5)
    start = time.monotonic()
    r = admin.get("/v1/changes", params={"since": since, "wait": 20})
    took = time.monotonic() - start
    t.join()
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert items and items[0]["revision"] > since
    assert any(c["entity"] == "tag" and "LongPoll1" in str(c["after"]) for c in items)
    assert 0.3 < took < 5, took


def test_long_poll_answers_empty_after_its_wait(server, admin):
    since = _rev(admin)
    start = time.monotonic()
    r = admin.get("/v1/changes", params={"since": since, "wait": 1})
    took = time.monotonic() - start
    assert r.status_code == 200, r.text
    assert r.json() == {"items": [], "next_since": since}
    assert 0.9 < took < 4, took
    # Without wait it answers at once, as before.
    start = time.monotonic()
    assert admin.get("/v1/changes", params={"since": since}).json()["items"] == []
    assert time.monotonic() - start < 0.5
    assert admin.get("/v1/changes", params={"wait": -1}).status_code == 400
    assert admin.get("/v1/changes", params={"wait": "x"}).status_code == 400


def test_long_poll_holds_no_loop(server, admin):
    """Many more waiting polls than loops: other requests are answered meanwhile."""
    since = _rev(admin)
    results = []

    def poll():
        results.append(admin.get("/v1/changes", params={"since": since, "wait": 10}).json())

    polls = [threading.Thread(target=poll) for _ in range(12)]
    for p in polls:
        p.start()
    time.sleep(0.3)
    start = time.monotonic()
    assert admin.get("/v1/tags").status_code == 200
    assert time.monotonic() - start < 1
    r = admin.post("/v1/tags", json={"name": "LongPollMany"})
    assert r.status_code == 201, r.text
    for p in polls:
        p.join(15)
    assert len(results) == 12
    assert all(res["items"] and res["items"][0]["revision"] > since for res in results)


def test_long_poll_ignores_other_organizations(server, admin):
    org = admin.post("/v1/organizations", json={"name": "PollOther"})
    assert org.status_code == 201, org.text
    r = admin.post("/v1/tokens", json={"name": "other-admin", "rights": ["admin", "tags:read", "tags:write"],
                                       "organization_id": org.json()["id"]})
    assert r.status_code == 201, r.text
    other = Api(server, r.json()["token"])
    since = _rev(admin)
    res = {}

    def poll():
        start = time.monotonic()
        res["r"] = other.get("/v1/changes", params={"since": since, "wait": 2})
        res["took"] = time.monotonic() - start

    p = threading.Thread(target=poll)
    p.start()
    time.sleep(0.2)
    assert admin.post("/v1/tags", json={"name": "NotForOther"}).status_code == 201
    p.join(10)
    assert res["r"].status_code == 200
    assert res["r"].json()["items"] == []
    assert res["took"] > 1.8


def test_long_poll_wait_is_bounded_by_configuration():
    s = Server(extra_args=["--changes-max-wait", "1"]).start()
    try:
        a = Api(s, ADMIN_TOKEN)
        since = _rev(a)
        start = time.monotonic()
        r = a.get("/v1/changes", params={"since": since, "wait": 30})
        assert r.status_code == 200
        assert time.monotonic() - start < 5
    finally:
        s.cleanup()


# ---- GET /v1/events ----


class Sse:
    """A minimal SSE client: events as dicts {id, event, data}, comments counted."""

    def __init__(self, server, token=ADMIN_TOKEN, params="", last_id=None, timeout=10):
        self.c = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
        h = {"Authorization": "Bearer " + token}
        if last_id:
            h["Last-Event-ID"] = last_id
        self.c.request("GET", "/v1/events" + params, headers=h)
        self.r = self.c.getresponse()
        self.comments = 0

    def next(self):
        ev = {}
        while True:
            line = self.r.readline()
            if not line:
                return None
            line = line.decode().rstrip("\n")
            if line == "":
                if "data" in ev or "event" in ev:
                    if "data" in ev:
                        ev["data"] = json.loads(ev["data"])
                    return ev
                continue
            if line.startswith(":"):
                self.comments += 1
                continue
            k, _, v = line.partition(":")
            ev[k] = v[1:] if v.startswith(" ") else v

    def take(self, n):
        out = []
        while len(out) < n:
            ev = self.next()
            assert ev is not None, "stream ended after %d events" % len(out)
            out.append(ev)
        return out

    def close(self):
        self.c.close()


def _changes_since(admin, since):
    items = []
    while True:
        body = admin.get("/v1/changes", params={"since": since, "limit": 500}).json()
        if not body["items"]:
            return items
        items += body["items"]
        since = body["next_since"]


def _ids(changes):
    return ["%d-%d" % (c["revision"], c["seq"]) for c in changes]


def test_events_stream_live_changes(server, admin):
    since = _rev(admin)
    s = Sse(server, params="?since=%d" % since)
    assert s.r.status == 200
    assert s.r.getheader("Content-Type") == "text/event-stream"
    assert admin.post("/v1/tags", json={"name": "Live.one"}).status_code == 201
    evs = s.take(2)  # Live and Live.one
    s.close()
    assert [e["event"] for e in evs] == ["change", "change"]
    assert evs[1]["data"]["after"]["name"] == "Live.one"
    assert _ids(_changes_since(admin, since))[:2] == [e["id"] for e in evs]
    assert all(e["id"] == "%d-%d" % (e["data"]["revision"], e["data"]["seq"]) for e in evs)


def test_events_resume_across_disconnect_without_gap_or_duplicate(server, admin):
    since = _rev(admin)
    stop = threading.Event()

    def load():
        i = 0
        while not stop.is_set() and i < 60:
            assert admin.post("/v1/tags", json={"name": "Resume.t%03d" % i}).status_code == 201
            i += 1

    w = threading.Thread(target=load)
    w.start()
    got = []
    s = Sse(server, params="?since=%d" % since)
    got += s.take(10)
    s.close()
    s = Sse(server, last_id=got[-1]["id"])
    got += s.take(15)
    s.close()
    # ?since= takes an event id too.
    s = Sse(server, params="?since=" + got[-1]["id"])
    w.join()
    want = _ids(_changes_since(admin, since))
    got += s.take(len(want) - len(got))
    s.close()
    assert [e["id"] for e in got] == want


def test_events_resume_across_sigkill(tmp_path):
    srv = Server().start()
    try:
        a = Api(srv, ADMIN_TOKEN)
        since = _rev(a)
        for i in range(5):
            assert a.post("/v1/tags", json={"name": "Kill.a%d" % i}).status_code == 201
        s = Sse(srv, params="?since=%d" % since)
        got = s.take(4)
        srv.stop(sig=signal.SIGKILL)
        s.close()
        srv.start()
        for i in range(5):
            assert a.post("/v1/tags", json={"name": "Kill.b%d" % i}).status_code == 201
        want = _ids(_changes_since(a, since))
        s = Sse(srv, last_id=got[-1]["id"])
        got += s.take(len(want) - len(got))
        s.close()
        assert [e["id"] for e in got] == want
    finally:
        srv.cleanup()


def test_events_filters(server, admin):
    since = _rev(admin)
    s = Sse(server, params="?since=%d&tag=Filt.*" % since)
    k = Sse(server, params="?since=%d&entity=resource&kind=filtdoc" % since)
    assert admin.post("/v1/tags", json={"name": "FiltOther"}).status_code == 201
    assert admin.post("/v1/tags", json={"name": "Filt.a"}).status_code == 201
    assert admin.put("/v1/resources/filtdir/d1", json={"name": "D"}).status_code == 201
    assert admin.put("/v1/resources/filtdoc/x1", json={"name": "X"}).status_code == 201
    evs = s.take(2)
    assert [e["data"]["after"]["name"] for e in evs] == ["Filt", "Filt.a"]
    evs = k.take(1)
    assert evs[0]["data"]["entity"] == "resource" and evs[0]["data"]["after"]["kind"] == "filtdoc"
    s.close()
    k.close()
    bad = Sse(server, params="?since=abc")
    assert bad.r.status == 400
    bad.close()
    bad = Sse(server, last_id="12-x")
    assert bad.r.status == 400
    bad.close()
    anon = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    anon.request("GET", "/v1/events")
    assert anon.getresponse().status == 401
    anon.close()


def test_events_other_organization_sees_nothing(server, admin):
    org = admin.post("/v1/organizations", json={"name": "EvOther"})
    assert org.status_code == 201, org.text
    r = admin.post("/v1/tokens", json={"name": "ev-other", "rights": ["tags:read", "tags:write"],
                                       "organization_id": org.json()["id"]})
    other_token = r.json()["token"]
    other = Api(server, other_token)
    since = _rev(admin)
    s = Sse(server, token=other_token, params="?since=%d" % since, timeout=10)
    assert admin.post("/v1/tags", json={"name": "NotTheirs"}).status_code == 201
    assert other.post("/v1/tags", json={"name": "Theirs"}).status_code == 201
    ev = s.next()
    s.close()
    assert ev["data"]["after"]["name"] == "Theirs"


def test_events_heartbeat():
    srv = Server(extra_args=["--events-heartbeat", "200"]).start()
    try:
        s = Sse(srv, params="?since=%d" % _rev(Api(srv, ADMIN_TOKEN)))
        time.sleep(1)
        a = Api(srv, ADMIN_TOKEN)
        assert a.post("/v1/tags", json={"name": "Beat"}).status_code == 201
        s.next()
        assert s.comments >= 2
        s.close()
    finally:
        srv.cleanup()


def test_a_consumer_that_reads_nothing_is_cut_off_while_writes_go_on():
    srv = Server(extra_args=["--events-stall", "1000"]).start()
    try:
        a = Api(srv, ADMIN_TOKEN)
        c = socket.socket()
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        c.connect(("127.0.0.1", srv.port))
        c.sendall(b"GET /v1/events?since=0 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                  + ADMIN_TOKEN.encode() + b"\r\n\r\n")
        # Enough change records to fill both sockets' buffers many times over.
        slow = 0.0
        for i in range(40):
            tags = [{"name": "Cut.b%02d.t%03d" % (i, j), "description": "x" * 400} for j in range(100)]
            start = time.monotonic()
            r = a.post("/v1/tags", json={"tags": tags})
            slow = max(slow, time.monotonic() - start)
            assert r.status_code in (200, 201), r.text
        assert slow < 5, slow
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            m = a.get("/metrics").text
            if "tagd_events_cut_off_total 1" in m:
                break
            time.sleep(0.2)
        assert "tagd_events_cut_off_total 1" in m
        assert "tagd_events_subscribers 0" in m
        # The connection was shut down: what is left in the buffers, then the end.
        c.settimeout(5)
        try:
            while c.recv(65536):
                pass
        except (ConnectionResetError, socket.timeout):
            pass
        c.close()
        assert a.get("/v1/tags", params={"limit": 1}).status_code == 200
    finally:
        srv.cleanup()


def test_events_switch_instance_on_postgresql():
    """Two instances on one PostgreSQL store: a stream on B sees A's writes (its tailer wakes
    it), and a client that read part through A resumes on B with no gap or duplicate."""
    if not os.environ.get("TAGD_TEST_STORE", "").startswith(("postgres://", "postgresql://")):
        pytest.skip("needs TAGD_TEST_STORE=postgres://...")
    d = tempfile.mkdtemp(prefix="tagd-ev-")
    store = pg_store_for(d)
    a = Server(extra_args=["--store", store]).start()
    b = Server(extra_args=["--store", store, "--tail-poll", "200"]).start()
    try:
        A = Api(a, ADMIN_TOKEN)
        since = _rev(A)
        for i in range(6):
            assert A.post("/v1/tags", json={"name": "Switch.a%d" % i}).status_code == 201
        s = Sse(a, params="?since=%d" % since)
        got = s.take(3)
        s.close()
        s = Sse(b, last_id=got[-1]["id"])
        for i in range(3):
            assert A.post("/v1/tags", json={"name": "Switch.b%d" % i}).status_code == 201
        want = _ids(_changes_since(A, since))
        got += s.take(len(want) - len(got))
        s.close()
        assert [e["id"] for e in got] == want
    finally:
        a.cleanup()
        b.cleanup()
        pg_drop(store)
        os.rmdir(d)


def test_events_end_with_where_to_resume_when_tagd_stops():
    srv = Server().start()
    try:
        a = Api(srv, ADMIN_TOKEN)
        since = _rev(a)
        assert a.post("/v1/tags", json={"name": "Drain"}).status_code == 201
        s = Sse(srv, params="?since=%d" % since)
        ev = s.take(1)[0]
        start = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        end = s.next()
        assert end["event"] == "end", end
        assert end["data"] == {"reason": "shutdown", "resume": str(ev["data"]["revision"])}
        assert s.next() is None
        s.close()
        assert srv.proc.wait(15) == 0
        assert time.monotonic() - start < 10
    finally:
        srv.cleanup()


def test_a_stream_too_far_behind_ends_with_where_to_resume():
    srv = Server(extra_args=["--events-max-lag", "5"]).start()
    try:
        a = Api(srv, ADMIN_TOKEN)
        for i in range(8):
            assert a.post("/v1/tags", json={"name": "Lag.t%d" % i}).status_code == 201
        s = Sse(srv, params="?since=0")
        end = s.next()
        assert end["event"] == "end" and end["data"] == {"reason": "lagging", "resume": "0"}
        assert s.next() is None
        s.close()
        # Caught up through /v1/changes, the client resumes with no gap.
        last = _changes_since(a, 0)[-2]
        s = Sse(srv, params="?since=%d-%d" % (last["revision"], last["seq"]))
        ev = s.next()
        s.close()
        assert ev["event"] == "change"
        assert ev["id"] == _ids(_changes_since(a, 0))[-1]
        assert "tagd_events_cut_off_total 1" in a.get("/metrics").text
    finally:
        srv.cleanup()


def test_a_revoked_token_s_stream_ends(server, admin):
    r = admin.post("/v1/tokens", json={"name": "ev-revoked", "rights": ["tags:read"]})
    assert r.status_code == 201, r.text
    tok = r.json()
    s = Sse(server, token=tok["token"], params="?since=%d" % _rev(admin))
    assert admin.post("/v1/tags", json={"name": "BeforeRevoke"}).status_code == 201
    assert s.next()["data"]["after"]["name"] == "BeforeRevoke"
    assert admin.delete("/v1/tokens/%d" % tok["id"]).status_code == 204
    assert admin.post("/v1/tags", json={"name": "AfterRevoke"}).status_code == 201
    end = s.next()
    assert end["event"] == "end" and end["data"]["reason"] == "unauthorized", end
    assert s.next() is None
    s.close()


# ---- scopes, organizations, inherited changes ----


def _tree(a, spec):
    """Makes resources (kind, key, parent key or None; parents are folders); their ids."""
    ids = {}
    for kind, key, parent in spec:
        body = {"name": key}
        if parent:
            body["parent"] = {"kind": "folder", "key": parent}
        r = a.put("/v1/resources/%s/%s" % (kind, key), json=body)
        assert r.status_code in (200, 201), r.text
        ids[key] = r.json()["id"]
    return ids


def _assign(a, kind, key, tag):
    r = a.post("/v1/resources/%s/%s/tags" % (kind, key),
               json={"tags": [tag], "create_missing": True})
    assert r.status_code == 200, r.text


def _until(s, pred, limit=200):
    """Events up to and including the first one for which pred holds."""
    out = []
    while len(out) < limit:
        ev = s.next()
        assert ev is not None, "stream ended after %s" % out
        out.append(ev)
        if pred(ev):
            return out
    raise AssertionError("not found in %s" % out)


def _touched(ev):
    d = ev["data"]
    return d.get("resource_id", d.get("entity_id"))


def test_a_scoped_token_sees_only_its_subtree_and_other_organizations_nothing():
    import sqlite3
    srv = Server().start()
    try:
        a = Api(srv, ADMIN_TOKEN)
        ids = _tree(a, [("folder", "sa", None), ("folder", "sb", None), ("file", "sa1", "sa"),
                        ("file", "sb1", "sb")])
        tok = a.post("/v1/tokens", json={"name": "scoped", "rights": ["tags:read"]}).json()
        # No API makes a bearer token scoped to a subtree (applinks are scoped but work only
        # through their own headers): the row is scoped as a login from a scoped key would be.
        sql = "UPDATE tokens SET resource_id = %d WHERE id = %d" % (ids["sa"], tok["id"])
        if srv.store:
            subprocess.run(["psql", "-Xq", srv.store, "-c", sql], check=True)
        else:
            db = sqlite3.connect(os.path.join(srv.data, "tagd.db"))
            db.execute(sql)
            db.commit()
            db.close()
        other_org = a.post("/v1/organizations", json={"name": "EvScopeOther"}).json()["id"]
        other = a.post("/v1/tokens", json={"name": "o", "rights": ["tags:read", "tags:write"],
                                           "organization_id": other_org}).json()["token"]
        since = _rev(a)
        s = Sse(srv, token=tok["token"], params="?since=%d" % since)
        o = Sse(srv, token=other, params="?since=%d" % since)
        assert s.r.status == 200 and o.r.status == 200
        _assign(a, "file", "sb1", "Scope.b")
        _assign(a, "file", "sa1", "Scope.a")
        assert a.put("/v1/resources/file/sb2", json={"parent": {"kind": "folder", "key": "sb"}}).status_code == 201
        assert a.post("/v1/tags", json={"name": "Scope.orgwide"}).status_code == 201
        _assign(a, "folder", "sa", "Scope.end")
        evs = _until(s, lambda e: "scope.end" in json.dumps(e["data"]).lower())
        s.close()
        inside = {ids["sa"], ids["sa1"]}
        assert [(e["data"]["entity"], _touched(e)) for e in evs] == [
            ("assignment", ids["sa1"]), ("assignment", ids["sa"])]
        # The same through the change log and its long poll.
        scoped = Api(srv, tok["token"])
        body = scoped.get("/v1/changes", params={"since": since, "limit": 1000}).json()
        assert {c["entity_id"] for c in body["items"]} == inside
        assert body["next_since"] == _rev(a)
        assert all(c["entity"] in ("assignment", "resource") for c in body["items"])
        full = a.get("/v1/changes", params={"since": since, "limit": 1000}).json()["items"]
        assert {c["entity_id"] for c in full} > inside  # sb1, sb2 and the tags are there
        t = _write_later(a, "Scope.later", 0.3)
        r = scoped.get("/v1/changes", params={"since": body["next_since"], "wait": 10}).json()
        t.join()
        assert r["items"] == [] and r["next_since"] > body["next_since"]
        # The other organization saw none of it, only its own write.
        assert Api(srv, other).post("/v1/tags", json={"name": "TheirOwn"}).status_code == 201
        ev = o.next()
        o.close()
        assert ev["data"]["entity"] == "tag" and ev["data"]["after"]["name"] == "TheirOwn"
        assert Api(srv, other).get("/v1/changes", params={"since": since}).json()["items"][0][
            "after"]["name"] == "TheirOwn"
    finally:
        srv.cleanup()


def _record(a, since, entity_id, op):
    items = _changes_since(a, since)
    got = [c for c in items if c["entity"] == "assignment" and c["entity_id"] == entity_id
           and c["op"] == op]
    assert len(got) == 1, items
    return got[0]["after"] if op == "add" else got[0]["before"]


def test_an_assignment_record_carries_what_it_changes_below_its_resource(server, admin):
    ids = _tree(admin, [("folder", "ia", None), ("folder", "ib", "ia"), ("file", "ib1", "ib"),
                        ("file", "ib2", "ib"), ("file", "ia1", "ia"), ("file", "ia2", "ia")])
    _assign(admin, "file", "ia2", "Inherit.t")
    since = _rev(admin)
    _assign(admin, "folder", "ia", "Inherit.t")
    # ia2 holds the tag itself: its effective tags do not change, nor would its subtree's.
    rec = _record(admin, since, ids["ia"], "add")
    want = sorted([ids["ib"], ids["ib1"], ids["ib2"], ids["ia1"]])
    assert rec["inherited"] == {"root": ids["ia"], "self": True, "descendants": 4,
                                "resources": want}
    since = _rev(admin)
    _assign(admin, "folder", "ib", "Inherit.t")
    rec = _record(admin, since, ids["ib"], "add")
    assert rec["inherited"] == {"root": ids["ib"], "self": False, "descendants": 0,
                                "resources": []}
    since = _rev(admin)
    assert admin.delete("/v1/resources/folder/ia/tags/Inherit.t").status_code == 204
    rec = _record(admin, since, ids["ia"], "remove")
    assert rec["tag_id"] and rec["inherited"] == {
        "root": ids["ia"], "self": True, "descendants": 1, "resources": [ids["ia1"]]}
    # A file with no descendants that did not inherit the tag: no member, only itself changed.
    since = _rev(admin)
    _assign(admin, "file", "ia1", "Inherit.u")
    assert "inherited" not in _record(admin, since, ids["ia1"], "add")
    # Its effective tags agree with what the records said.
    eff = admin.get("/v1/resources/file/ib1/tags?effective=true").json()["items"]
    assert [x["name"] for x in eff] == ["Inherit.t"]


def test_effective_events_one_per_resource_bounded():
    srv = Server(extra_args=["--events-effective-max", "2"]).start()
    try:
        a = Api(srv, ADMIN_TOKEN)
        ids = _tree(a, [("folder", "ea", None), ("folder", "eb", "ea"), ("file", "eb1", "eb"),
                        ("file", "ea1", "ea"), ("file", "ea2", "ea"), ("file", "ea3", "ea"),
                        ("folder", "ex", None), ("file", "ex1", "ex")])
        since = _rev(a)
        bad = Sse(srv, params="?since=%d&effective=true" % since)
        assert bad.r.status == 400
        bad.close()
        s = Sse(srv, params="?since=%d&resource=%d&effective=true" % (since, ids["ea"]))
        sb = Sse(srv, params="?since=%d&resource=%d&effective=true&tag=Eff.*" % (since, ids["eb"]))
        _assign(a, "folder", "ex", "Eff.t")      # another tree: nothing for these streams
        _assign(a, "folder", "eb", "Eff.t")      # eb and eb1 change
        _assign(a, "folder", "ea", "Eff.t")      # ea, and ea1..ea3: above the cap of 2
        _assign(a, "folder", "ea", "Other.end")  # ea and eb, eb1, ea1..3: 5, above the cap
        evs = _until(s, lambda e: e["event"] == "effective" and e["data"]["tag"] == "Other.end"
                     and e["data"].get("truncated"))
        s.close()
        got = [(e["event"], e["data"].get("entity"), e["data"].get("tag"),
                e["data"].get("resource_id"), e["data"].get("descendants"), "id" in e)
               for e in evs]
        assert got == [
            ("change", "assignment", None, None, None, False),
            ("effective", None, "Eff.t", ids["eb"], None, False),
            ("effective", None, "Eff.t", ids["eb1"], None, True),
            ("change", "assignment", None, None, None, False),
            ("effective", None, "Eff.t", ids["ea"], None, False),
            ("effective", None, "Eff.t", None, 3, True),
            ("change", "assignment", None, None, None, False),
            ("effective", None, "Other.end", ids["ea"], None, False),
            ("effective", None, "Other.end", None, 5, True),
        ], got
        summary = evs[5]["data"]
        assert summary["truncated"] is True and summary["root"] == ids["ea"]
        assert summary["reread"] == {"method": "POST", "path": "/v1/query",
                                     "body": {"query": '"Eff.t"', "effective": True}}
        r = a.post("/v1/query", json=summary["reread"]["body"])
        assert r.status_code == 200, r.text
        # Ids: the record's, on its last event only, so a resume repeats a record whole.
        rec = [e for e in evs if "id" in e]
        assert [e["id"] for e in rec] == [
            "%d-%d" % (e["data"]["revision"], e["data"]["seq"]) for e in rec]
        # A subtree below the root gets its own resources only; the tag filter applies.
        evs = _until(sb, lambda e: e["event"] == "effective" and e["data"]["tag"] == "Eff.t"
                     and e["data"].get("truncated"))
        sb.close()
        got = [(e["event"], e["data"].get("resource_id")) for e in evs]
        assert got == [("change", None), ("effective", ids["eb"]), ("effective", ids["eb1"]),
                       ("effective", None)], got
    finally:
        srv.cleanup()


def test_events_with_a_batch_window_deliver_every_commit_in_order():
    srv = Server(extra_args=["--events-batch", "400"]).start()
    try:
        a = Api(srv, ADMIN_TOKEN)
        s = Sse(srv, params="?since=%d" % _rev(a))
        time.sleep(0.5)
        start = time.monotonic()
        for i in range(3):
            assert a.post("/v1/tags", json={"name": "Batch%d" % i}).status_code == 201
        evs = s.take(3)
        s.close()
        assert [e["data"]["after"]["name"] for e in evs] == ["Batch0", "Batch1", "Batch2"]
        assert time.monotonic() - start < 5
    finally:
        srv.cleanup()


def _metric(a, name):
    for line in a.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return int(float(line.split()[1]))
    raise AssertionError("no metric " + name)


def test_many_streams_share_a_loop_s_send_budget():
    """20 streams on one loop with a budget of 40 sends a second: while commits keep coming,
    each stream sends at most every half second (20/40 s), so 30 commits over a second or
    more reach every stream in a few sends each, not in one send per commit."""
    srv = Server(extra_args=["--threads", "1", "--events-sends", "40"]).start()
    try:
        a = Api(srv, ADMIN_TOKEN)
        since = _rev(a)
        streams = [Sse(srv, params="?since=%d" % since) for _ in range(20)]
        time.sleep(0.3)
        before = _metric(a, "tagd_events_sends_total")
        for i in range(30):
            assert a.post("/v1/tags", json={"name": "Budget%02d" % i}).status_code == 201
            time.sleep(0.04)
        want = ["Budget%02d" % i for i in range(30)]
        for s in streams:
            assert [e["data"]["after"]["name"] for e in s.take(30)] == want
            s.close()
        sends = _metric(a, "tagd_events_sends_total") - before
        # One send per stream and commit would be 600; the budget allows about 20 per
        # half second of writing plus each stream's last fill.
        assert sends < 200, sends
    finally:
        srv.cleanup()

