"""Idempotency-Key on native writes: a retry with the same key and body gets the first answer
without the write happening again (docs/batch.md, "Idempotency keys")."""
import time

import requests

from conftest import ADMIN_TOKEN, Api, Server


def now_rev(admin):
    """The newest revision (a page of the log would stop at 1000 changes)."""
    return int(admin.get("/v1/changes?since=0&limit=1").headers["X-Tagd-Revision"])


def key(k):
    return {"Idempotency-Key": k}


def test_replay_gives_the_first_answer(admin):
    since = now_rev(admin)
    first = admin.post("/v1/tags", json={"name": "Idem.one"}, headers=key("k-1"))
    assert first.status_code == 201, first.text
    assert "Idempotent-Replayed" not in first.headers
    again = admin.post("/v1/tags", json={"name": "Idem.one"}, headers=key("k-1"))
    assert again.status_code == 201, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert again.headers["ETag"] == first.headers["ETag"]
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Content-Type"].startswith("application/json")
    # Applied once: one revision, the replay wrote nothing.
    ch = admin.get("/v1/changes?since=%d" % since).json()["items"]
    assert {c["revision"] for c in ch} == {since + 1}
    assert "Idem.one" in [c["after"]["name"] for c in ch]
    assert now_rev(admin) == since + 1
    # Without the key the same request is a new one.
    assert admin.post("/v1/tags", json={"name": "Idem.one"}).status_code == 409


def test_answers_rendered_after_the_commit_are_kept_too(admin):
    body = {"tags": ["Idem.a"], "create_missing": True}
    first = admin.post("/v1/resources/file/idem/tags", json=body, headers=key("k-assign"))
    assert first.status_code == 200, first.text
    assert admin.delete("/v1/resources/file/idem/tags/Idem.a").status_code == 204
    again = admin.post("/v1/resources/file/idem/tags", json=body, headers=key("k-assign"))
    assert again.status_code == 200 and again.json() == first.json()
    assert admin.get("/v1/resources/file/idem/tags").json()["items"] == []
    ops = {"operations": [{"op": "put_resource", "kind": "file", "key": "idem-batch"}]}
    first = admin.post("/v1/batch", json=ops, headers=key("k-batch"))
    again = admin.post("/v1/batch", json=ops, headers=key("k-batch"))
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert first.json()["results"][0]["status"] == "created"
    # The same body with another query is another request.
    r = admin.post("/v1/batch?dry_run=true", json=ops, headers=key("k-batch"))
    assert r.status_code == 422


def test_deletes_and_204_answers(admin):
    assert admin.put("/v1/resources/file/gone").status_code == 201
    first = admin.delete("/v1/resources/file/gone", headers=key("k-del"))
    assert first.status_code == 204
    again = admin.delete("/v1/resources/file/gone", headers=key("k-del"))
    assert again.status_code == 204 and again.headers["Idempotent-Replayed"] == "true"
    assert again.content == b""
    assert admin.delete("/v1/resources/file/gone").status_code == 404


def test_another_request_with_the_key_is_422(admin):
    assert admin.post("/v1/tags", json={"name": "Idem.two"}, headers=key("k-2")).status_code == 201
    r = admin.post("/v1/tags", json={"name": "Idem.three"}, headers=key("k-2"))
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "rule_violation"
    assert r.json()["error"]["details"]["field"] == "Idempotency-Key"
    assert admin.get("/v1/tags/Idem.three").status_code == 404
    r = admin.put("/v1/resources/file/x", json={}, headers=key("k-2"))
    assert r.status_code == 422


def test_failed_writes_keep_no_key(admin):
    assert admin.post("/v1/tags", json={"name": "Idem.busy"}).status_code == 201
    r = admin.post("/v1/tags", json={"name": "Idem.busy"}, headers=key("k-fail"))
    assert r.status_code == 409
    assert admin.delete("/v1/tags/Idem.busy?purge=true").status_code in (204, 200)
    # The retry runs: the failure was not kept.
    r = admin.post("/v1/tags", json={"name": "Idem.busy"}, headers=key("k-fail"))
    assert r.status_code == 201, r.text
    assert "Idempotent-Replayed" not in r.headers


def test_keys_belong_to_their_principal(server, admin):
    other = Api(server, server.token(["tags:read", "tags:write"], name="other"))
    assert admin.post("/v1/tags", json={"name": "Idem.mine"}, headers=key("k-3")).status_code == 201
    r = other.post("/v1/tags", json={"name": "Idem.mine"}, headers=key("k-3"))
    assert r.status_code == 409  # ran, and found the tag made: not the admin's answer
    r = other.post("/v1/tags", json={"name": "Idem.theirs"}, headers=key("k-3"))
    assert r.status_code == 201


def test_bad_keys_and_anonymous_writes(server, admin):
    for bad in ("a b", "k" * 256, "caf\u00e9"):
        r = admin.post("/v1/tags", json={"name": "Idem.bad"},
                       headers={"Idempotency-Key": bad.encode("utf-8")})
        assert r.status_code == 400, (bad, r.text)
        assert r.json()["error"]["details"]["field"] == "Idempotency-Key"
    assert admin.post("/v1/tags", json={"name": "Idem.long"},
                      headers=key("k" * 255)).status_code == 201
    r = requests.post(server.url + "/v1/tags", json={"name": "Idem.anon"}, headers=key("k-anon"))
    assert r.status_code == 401
    assert admin.get("/v1/tags/Idem.bad").status_code == 404


def test_replay_survives_a_restart():
    s = Server().start()
    try:
        api = Api(s, ADMIN_TOKEN)
        first = api.post("/v1/tags", json={"name": "Kept"}, headers=key("k-restart"))
        assert first.status_code == 201
        s.restart()
        api = Api(s, ADMIN_TOKEN)
        again = api.post("/v1/tags", json={"name": "Kept"}, headers=key("k-restart"))
        assert again.status_code == 201 and again.json() == first.json()
        assert again.headers["Idempotent-Replayed"] == "true"
    finally:
        s.cleanup()


def test_keys_expire():
    s = Server(["--idempotency-ttl", "1"]).start()
    try:
        api = Api(s, ADMIN_TOKEN)
        assert api.post("/v1/tags", json={"name": "Brief"}, headers=key("k-ttl")).status_code == 201
        r = api.post("/v1/tags", json={"name": "Brief"}, headers=key("k-ttl"))
        assert r.status_code == 201 and r.headers["Idempotent-Replayed"] == "true"
        time.sleep(1.5)
        # Expired: the request runs again (and finds the tag there).
        r = api.post("/v1/tags", json={"name": "Brief"}, headers=key("k-ttl"))
        assert r.status_code == 409, r.text
        # Another body is no longer refused either.
        r = api.post("/v1/tags", json={"name": "Brief2"}, headers=key("k-ttl2"))
        assert r.status_code == 201
    finally:
        s.cleanup()


def test_keys_per_organization_are_bounded():
    s = Server(["--idempotency-max-keys", "2"]).start()
    try:
        api = Api(s, ADMIN_TOKEN)
        for i in range(3):
            assert api.put("/v1/resources/file/b%d" % i, headers=key("k-b%d" % i),
                           json={"name": "n"}).status_code == 201
            time.sleep(0.01)
        # The newest are answered again; the oldest made room and runs anew (200: it exists).
        r = api.put("/v1/resources/file/b2", headers=key("k-b2"), json={"name": "n"})
        assert r.status_code == 201 and r.headers["Idempotent-Replayed"] == "true"
        r = api.put("/v1/resources/file/b0", headers=key("k-b0"), json={"name": "n"})
        assert r.status_code == 200 and "Idempotent-Replayed" not in r.headers
    finally:
        s.cleanup()


def test_routes_with_secrets_take_no_key(admin):
    """A token shown once, a password, a public link's access code, a webhook's secret: keeping
    the answer (or a fast hash of the body) would keep the secret, so these writes refuse the
    header."""
    for path, body in [("/v1/tokens", {"name": "idem-tok", "rights": "tags:read"}),
                       ("/v1/users", {"login": "idem", "password": "long-enough-pw"}),
                       ("/v1/webhooks", {"url": "https://example.com/hook"}),
                       ("/v1/webhooks", {"url": "https://example.com/hook", "secret": "s3cret-s3cret"})]:
        r = admin.post(path, json=body, headers=key("k-secret"))
        assert r.status_code == 400, r.text
        assert r.json()["error"]["details"]["field"] == "Idempotency-Key"
    assert "idem-tok" not in [t["name"] for t in admin.get("/v1/tokens").json()["items"]]
    assert admin.post("/v1/tokens", json={"name": "idem-tok"}).status_code == 201
