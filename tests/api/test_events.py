"""The change stream: GET /v1/changes?wait= (long poll) and GET /v1/events (SSE)."""
import threading
import time

import pytest
import requests

from conftest import ADMIN_TOKEN, Api, Server


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
