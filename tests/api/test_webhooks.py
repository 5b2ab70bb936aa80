"""Webhooks (issue 21): /v1/webhooks, signed batches from a durable cursor, retries, leases.

A local receiver (http.server in a thread) stands for the customer's endpoint; tagd runs with
--webhooks-allow-local so that it may call 127.0.0.1. The receiver checks every signature the
way docs/events.md tells receivers to."""
import hashlib
import hmac
import http.server
import json
import os
import re
import signal
import subprocess
import tempfile
import threading
import time

import pytest
import requests

from conftest import ADMIN_TOKEN, ROOT, Api, Server, pg_drop, pg_store_for

FAST = ["--webhooks-allow-local", "1", "--webhook-retry-min", "50", "--webhook-retry-max", "400",
        "--webhook-retries", "3", "--webhook-timeout", "3000"]


def verify(secret, header, body, tolerance=300):
    """The receiver-side check of docs/events.md: X-Tagd-Signature is "t=<unix>,v1=<hex>",
    v1 the HMAC-SHA256 of "<t>.<body>" under the secret; t within `tolerance` s of now."""
    parts = dict(p.split("=", 1) for p in header.split(","))
    t = int(parts["t"])
    want = hmac.new(secret.encode(), str(t).encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(want, parts["v1"]) and abs(time.time() - t) <= tolerance


class Receiver:
    """Records every POST; answers the statuses queued in `plan` first, then 200."""

    def __init__(self, delay=0.0):
        self.posts = []  # (path, headers, body bytes, parsed json)
        self.plan = []
        self.delay = delay
        self.secrets = {}  # path -> secret, for verify()
        self.bad_sigs = 0
        self.lock = threading.Lock()
        recv = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                if recv.delay:
                    time.sleep(recv.delay)
                with recv.lock:
                    status = recv.plan.pop(0) if recv.plan else 200
                    secret = recv.secrets.get(self.path)
                    if secret and not verify(secret, self.headers.get("X-Tagd-Signature", ""), body):
                        recv.bad_sigs += 1
                    recv.posts.append((self.path, dict(self.headers), body, json.loads(body), status))
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.httpd.server_address[1]
        self.t = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.t.start()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def ok_posts(self, path):
        with self.lock:
            return [p for p in self.posts if p[0] == path and p[4] == 200]

    def events(self, path):
        """Every event 2xx deliveries to `path` brought, in arrival order."""
        return [e for p in self.ok_posts(path) for e in p[3]["events"]]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def hsrv():
    s = Server(extra_args=FAST).start()
    yield s
    s.cleanup()


@pytest.fixture(scope="module")
def hadmin(hsrv):
    return Api(hsrv, ADMIN_TOKEN)


@pytest.fixture
def recv():
    r = Receiver()
    yield r
    r.close()


def changes_after(api, since):
    out, cur = [], since
    while True:
        page = api.get("/v1/changes", params={"since": cur, "limit": 1000}).json()
        if not page["items"]:
            return out
        out += page["items"]
        cur = page["next_since"]


def wait_for(cond, timeout=20, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def create(api, recv, path, **extra):
    body = {"url": recv.url(path)}
    body.update(extra)
    r = api.post("/v1/webhooks", json=body)
    assert r.status_code == 201, r.text
    h = r.json()
    recv.secrets[path] = h["secret"]
    return h


def keys(events):
    return [(e["revision"], e["seq"]) for e in events]


def test_crud_and_the_secret_shown_once(hadmin, recv):
    r = hadmin.post("/v1/webhooks", json={"url": recv.url("/crud"), "filters": {"entity": ["tag"]}})
    assert r.status_code == 201, r.text
    h = r.json()
    assert h["secret"].startswith("whsec_") and len(h["secret"]) > 30
    assert r.headers["Location"] == "/v1/webhooks/%d" % h["id"]
    assert h["active"] is True and h["state"] == "ok" and h["failures"] == 0
    assert h["filters"] == {"entity": ["tag"], "tag": [], "kind": [], "principal": [],
                            "resource": None, "workspace": None}
    got = hadmin.get("/v1/webhooks/%d" % h["id"])
    assert got.status_code == 200 and "secret" not in got.json()
    listed = hadmin.get("/v1/webhooks").json()["items"]
    assert [x["id"] for x in listed if x["id"] == h["id"]] and all("secret" not in x for x in listed)
    p = hadmin.patch("/v1/webhooks/%d" % h["id"], json={"active": False, "filters": None})
    assert p.status_code == 200, p.text
    assert p.json()["active"] is False and p.json()["filters"]["entity"] == []
    assert "secret" not in p.json()
    # A secret of one's own is taken, and also shown only once.
    mine = "my-own-secret-0123456789"
    c = hadmin.post("/v1/webhooks", json={"url": recv.url("/mine"), "secret": mine})
    assert c.status_code == 201 and c.json()["secret"] == mine
    assert hadmin.delete("/v1/webhooks/%d" % c.json()["id"]).status_code == 204
    assert hadmin.delete("/v1/webhooks/%d" % h["id"]).status_code == 204
    assert hadmin.get("/v1/webhooks/%d" % h["id"]).status_code == 404
    assert hadmin.delete("/v1/webhooks/%d" % h["id"]).status_code == 404


def test_bad_input_gets_clear_errors(hsrv, hadmin, recv):
    def err(r, status, field=None):
        assert r.status_code == status, r.text
        e = r.json()["error"]
        assert e["code"] and e["message"]
        if field:
            assert field in json.dumps(e), e

    err(hadmin.post("/v1/webhooks", json={}), 400, "url")
    err(hadmin.post("/v1/webhooks", json={"url": "ftp://example.com/x"}), 400, "url")
    err(hadmin.post("/v1/webhooks", json={"url": "not a url"}), 400, "url")
    err(hadmin.post("/v1/webhooks", json={"url": recv.url("/x"), "colour": 1}), 400, "colour")
    err(hadmin.post("/v1/webhooks", json={"url": recv.url("/x"), "secret": "short"}), 400, "secret")
    err(hadmin.post("/v1/webhooks", json={"url": recv.url("/x"), "secret": "has a space inside it"}), 400)
    err(hadmin.post("/v1/webhooks", json={"url": recv.url("/x"), "filters": {"color": ["x"]}}), 400)
    err(hadmin.post("/v1/webhooks", json={"url": recv.url("/x"), "filters": []}), 400, "filters")
    err(hadmin.post("/v1/webhooks", json={"url": recv.url("/x"), "active": "yes"}), 400, "active")
    err(hadmin.post("/v1/webhooks", data=b"{", headers={"Content-Type": "application/json"}), 400)
    err(hadmin.get("/v1/webhooks/abc"), 404)
    err(hadmin.get("/v1/webhooks/99999"), 404)
    err(hadmin.patch("/v1/webhooks/99999", json={"active": True}), 404)
    err(hadmin.post("/v1/webhooks/99999/redeliver", json={"from_revision": 1}), 404)
    err(hadmin.get("/v1/webhooks/99999/deliveries"), 404)
    h = create(hadmin, recv, "/bad")
    err(hadmin.post("/v1/webhooks/%d/redeliver" % h["id"], json={}), 400, "from_revision")
    err(hadmin.post("/v1/webhooks/%d/redeliver" % h["id"], json={"from_revision": 0}), 422)
    err(hadmin.post("/v1/webhooks/%d/redeliver" % h["id"], json={"from_revision": 10 ** 12}), 422)
    err(hadmin.patch("/v1/webhooks/%d" % h["id"], json={"url": None}), 400, "url")
    err(hadmin.get("/v1/webhooks/%d/deliveries" % h["id"], params={"limit": 0}), 400)
    # Admin only.
    reader = Api(hsrv, hsrv.token(["tags:read", "tags:write"], name="hook-reader"))
    err(reader.get("/v1/webhooks"), 403)
    err(reader.post("/v1/webhooks", json={"url": recv.url("/x")}), 403)
    err(Api(hsrv, None).get("/v1/webhooks"), 401)
    assert hadmin.delete("/v1/webhooks/%d" % h["id"]).status_code == 204


def test_every_change_of_a_concurrent_load_in_order(hadmin, recv):
    h = create(hadmin, recv, "/load")
    start = h["delivered_revision"]
    errors = []

    def writer(i):
        for k in range(25):
            r = hadmin.post("/v1/tags", json={"name": "Load%d.t%d" % (i, k)})
            if r.status_code != 201:
                errors.append(r.text)

    ts = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors
    want = keys(changes_after(hadmin, start))
    assert len(want) >= 100
    wait_for(lambda: len(recv.events("/load")) >= len(want), what="every change delivered")
    got = keys(recv.events("/load"))
    assert got == want  # every one, in order, once (nothing failed)
    assert recv.bad_sigs == 0
    for path, headers, body, doc, status in recv.ok_posts("/load"):
        assert headers["X-Tagd-Delivery"].startswith("dlv_")
        assert headers["X-Tagd-Webhook"] == str(h["id"])
        assert headers["Content-Type"] == "application/json"
        assert doc["webhook_id"] == h["id"]
        assert doc["from_revision"] == doc["events"][0]["revision"]
        assert doc["to_revision"] == doc["events"][-1]["revision"]
        assert 1 <= len(doc["events"]) <= 100
        # Which API each change came through (issue 22): these came through /v1.
        assert {e["api"] for e in doc["events"]} == {"native"}
    ids = [p[1]["X-Tagd-Delivery"] for p in recv.ok_posts("/load")]
    assert len(set(ids)) == len(ids)
    wait_for(lambda: hadmin.get("/v1/webhooks/%d" % h["id"]).json()["delivered_revision"] >= want[-1][0],
             what="the cursor to move")
    hadmin.delete("/v1/webhooks/%d" % h["id"])


def test_signature_verifies_as_documented(hadmin, recv):
    h = create(hadmin, recv, "/sig")
    assert hadmin.post("/v1/tags", json={"name": "Signed.one"}).status_code == 201
    wait_for(lambda: recv.ok_posts("/sig"), what="a delivery")
    path, headers, body, doc, status = recv.ok_posts("/sig")[0]
    assert verify(h["secret"], headers["X-Tagd-Signature"], body)
    # Anything else does not verify: another secret, another body, an old timestamp.
    assert not verify("whsec_wrong", headers["X-Tagd-Signature"], body)
    assert not verify(h["secret"], headers["X-Tagd-Signature"], body + b" ")
    t = int(dict(p.split("=", 1) for p in headers["X-Tagd-Signature"].split(","))["t"])
    assert abs(time.time() - t) < 60
    assert not verify(h["secret"], headers["X-Tagd-Signature"], body, tolerance=-1)
    # The shell receiver of docs/events.md (openssl) gives the same digest.
    v1 = dict(p.split("=", 1) for p in headers["X-Tagd-Signature"].split(","))["v1"]
    out = subprocess.run(["openssl", "dgst", "-sha256", "-hmac", h["secret"]],
                         input=str(t).encode() + b"." + body, capture_output=True)
    if out.returncode == 0:
        assert out.stdout.decode().strip().split()[-1] == v1
    hadmin.delete("/v1/webhooks/%d" % h["id"])


def test_receiver_answering_500_then_200_gets_everything(hadmin, recv):
    h = create(hadmin, recv, "/flaky")
    recv.plan = [500, 500, 503]
    for k in range(5):
        assert hadmin.post("/v1/tags", json={"name": "Flaky.t%d" % k}).status_code == 201
    want = keys(changes_after(hadmin, h["delivered_revision"]))
    wait_for(lambda: set(keys(recv.events("/flaky"))) >= set(want), what="everything after 5xx")
    got = keys(recv.events("/flaky"))
    assert got == sorted(got) and set(got) == set(want)
    # A failed batch is sent again whole: the first OK batch is the one that failed.
    with recv.lock:
        posts = [p for p in recv.posts if p[0] == "/flaky"]
    assert [p[4] for p in posts[:4]] == [500, 500, 503, 200]
    assert keys(posts[0][3]["events"]) == keys(posts[3][3]["events"])
    assert posts[0][3]["through"] == posts[3][3]["through"]
    d = hadmin.get("/v1/webhooks/%d/deliveries" % h["id"])
    assert d.status_code == 200, d.text
    items = d.json()["items"]
    first = items[::-1][:4]
    assert [(x["outcome"], x["status"]) for x in first] == [
        ("http_error", 500), ("http_error", 500), ("http_error", 503), ("ok", 200)]
    assert [x["attempt"] for x in first] == [1, 2, 3, 4]
    assert first[0]["error"].startswith("HTTP status 500")
    assert first[3]["error"] is None and first[3]["latency_ms"] >= 0
    assert all(x["after"] == first[0]["after"] and x["through"] == first[0]["through"] for x in first)
    cur = hadmin.get("/v1/webhooks/%d" % h["id"]).json()
    assert cur["state"] == "ok" and cur["failures"] == 0 and cur["last_error"].startswith("HTTP status 503")
    hadmin.delete("/v1/webhooks/%d" % h["id"])


def test_failing_webhook_is_marked_and_recovers(hadmin, recv):
    h = create(hadmin, recv, "/down")
    recv.plan = [500] * 6
    assert hadmin.post("/v1/tags", json={"name": "Down.one"}).status_code == 201
    seen = {}

    def failing():
        seen["doc"] = hadmin.get("/v1/webhooks/%d" % h["id"]).json()
        return seen["doc"]["state"] == "failing"

    wait_for(failing, what="failing after --webhook-retries attempts")
    cur = seen["doc"]
    assert cur["failures"] >= 3 and cur["last_error"].startswith("HTTP status 500")
    assert cur["next_attempt_at"] is not None
    # It goes on being tried (at the longest interval) and recovers by itself.
    wait_for(lambda: recv.ok_posts("/down"), what="recovery")
    wait_for(lambda: hadmin.get("/v1/webhooks/%d" % h["id"]).json()["state"] == "ok", what="ok again")
    hadmin.delete("/v1/webhooks/%d" % h["id"])


def test_filters_and_redeliver(hadmin, recv):
    h = create(hadmin, recv, "/filtered", filters={"entity": "tag", "tag": ["Keep.*"]})
    first = None
    for name in ("Keep.a", "Drop.a", "Keep.b.c", "KeepNot"):
        r = hadmin.post("/v1/tags", json={"name": name})
        assert r.status_code == 201
        first = first or int(r.headers["X-Tagd-Revision"])
    wait_for(lambda: len(recv.events("/filtered")) >= 4, what="the filtered events")
    time.sleep(0.5)
    names = [e["after"]["name"] for e in recv.events("/filtered")]
    # Keep and Keep.b are made as parents; Drop, Drop.a and KeepNot pass by.
    assert names == ["Keep", "Keep.a", "Keep.b", "Keep.b.c"], names
    r = hadmin.post("/v1/webhooks/%d/redeliver" % h["id"], json={"from_revision": first})
    assert r.status_code == 200, r.text
    assert r.json()["delivered_revision"] == first - 1
    wait_for(lambda: len(recv.events("/filtered")) >= 8, what="the redelivery")
    names = [e["after"]["name"] for e in recv.events("/filtered")]
    assert names[4:] == ["Keep", "Keep.a", "Keep.b", "Keep.b.c"]
    d = hadmin.get("/v1/webhooks/%d/deliveries" % h["id"], params={"limit": 1}).json()["items"]
    assert len(d) == 1 and d[0]["outcome"] == "ok"
    hadmin.delete("/v1/webhooks/%d" % h["id"])


def test_workspace_filter(hsrv, hadmin, recv):
    """filters.workspace (ws_N or N) as GET /v1/changes?workspace= takes it: a webhook sees
    only the changes made in that workspace; an unknown one, or another organization's, is a
    bad field of the body."""
    me = hadmin.get("/v1/me").json()
    ws = hadmin.post("/v1/organizations/%s/workspaces" % me["organization"]["id"],
                     json={"name": "hook-ws"})
    assert ws.status_code == 201, ws.text
    wsid = ws.json()["id"]
    h = create(hadmin, recv, "/ws-only", filters={"workspace": wsid, "entity": ["tag"]})
    assert h["filters"]["workspace"] == wsid
    # N alone names it too, and PATCH takes the same filter.
    p = hadmin.patch("/v1/webhooks/%d" % h["id"],
                     json={"filters": {"workspace": int(wsid[3:]), "entity": "tag"}})
    assert p.status_code == 200, p.text
    assert p.json()["filters"]["workspace"] == wsid
    in_ws = {"X-Tagd-Workspace": wsid}
    assert hadmin.post("/v1/tags", json={"name": "WsHook.default"}).status_code == 201
    assert hadmin.post("/v1/tags", json={"name": "WsHook.there"}, headers=in_ws).status_code == 201
    assert hadmin.post("/v1/tags", json={"name": "WsHook.default2"}).status_code == 201
    assert hadmin.post("/v1/tags", json={"name": "WsHook.there2"}, headers=in_ws).status_code == 201
    wait_for(lambda: any(e["after"]["name"] == "WsHook.there2" for e in recv.events("/ws-only")),
             what="the workspace's last tag")
    time.sleep(0.3)
    names = [e["after"]["name"] for e in recv.events("/ws-only")]
    assert names == ["WsHook", "WsHook.there", "WsHook.there2"], names
    # The same filter on the change log answers the same records.
    log = hadmin.get("/v1/changes", params={"since": 0, "limit": 1000, "entity": "tag",
                                            "workspace": wsid}).json()["items"]
    assert [c["after"]["name"] for c in log if c["after"]["name"].startswith("WsHook")] == names

    def bad(filters):
        for r in (hadmin.post("/v1/webhooks", json={"url": recv.url("/x"), "filters": filters}),
                  hadmin.patch("/v1/webhooks/%d" % h["id"], json={"filters": filters})):
            assert r.status_code == 400, r.text
            assert r.json()["error"]["details"]["field"] == "workspace", r.text

    bad({"workspace": "nope"})
    bad({"workspace": "ws_0"})
    bad({"workspace": 0})
    bad({"workspace": True})
    bad({"workspace": ["ws_1"]})
    bad({"workspace": "ws_999999"})
    org = hadmin.post("/v1/organizations", json={"name": "HookWsOther"})
    assert org.status_code == 201, org.text
    bad({"workspace": org.json()["default_workspace_id"]})
    assert hadmin.get("/v1/webhooks/%d" % h["id"]).json()["filters"]["workspace"] == wsid
    hadmin.delete("/v1/webhooks/%d" % h["id"])


def test_organizations_are_isolated(hsrv, hadmin, recv):
    org = hadmin.post("/v1/organizations", json={"name": "HookOther"})
    assert org.status_code == 201, org.text
    r = hadmin.post("/v1/tokens", json={"name": "hook-other", "rights": ["admin", "tags:read", "tags:write"],
                                         "organization_id": org.json()["id"]})
    other = Api(hsrv, r.json()["token"])
    mine = create(hadmin, recv, "/org-mine")
    theirs = create(other, recv, "/org-theirs")
    assert other.get("/v1/webhooks/%d" % mine["id"]).status_code == 404
    assert other.patch("/v1/webhooks/%d" % mine["id"], json={"active": False}).status_code == 404
    assert other.delete("/v1/webhooks/%d" % mine["id"]).status_code == 404
    assert [x["id"] for x in other.get("/v1/webhooks").json()["items"]] == [theirs["id"]]
    assert hadmin.post("/v1/tags", json={"name": "Iso.mine"}).status_code == 201
    assert other.post("/v1/tags", json={"name": "Iso.theirs"}).status_code == 201
    wait_for(lambda: any(e["entity"] == "tag" for e in recv.events("/org-theirs")) and
             any(e["entity"] == "tag" for e in recv.events("/org-mine")), what="both")
    time.sleep(0.3)
    assert {e["after"]["name"] for e in recv.events("/org-theirs") if e["entity"] == "tag"} == {"Iso", "Iso.theirs"}
    assert "Iso.theirs" not in json.dumps(recv.events("/org-mine"))
    hadmin.delete("/v1/webhooks/%d" % mine["id"])
    other.delete("/v1/webhooks/%d" % theirs["id"])


def test_metrics_count_deliveries(hadmin, hsrv):
    text = requests.get(hsrv.url + "/metrics", timeout=10).text
    for name in ('tagd_webhook_deliveries_total{outcome="ok"}', "tagd_webhook_delivery_duration_seconds_count",
                 "tagd_webhooks_leased", "tagd_webhook_lag_max_revisions"):
        assert name in text, name
    ok = [l for l in text.splitlines() if l.startswith('tagd_webhook_deliveries_total{outcome="ok"}')]
    assert int(ok[0].split()[-1]) > 0


def metric(srv, name):
    for line in requests.get(srv.url + "/metrics", timeout=10).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError("no metric " + name)


def test_one_round_writes_twice_whatever_the_number_of_webhooks(recv):
    """A revision delivered to five webhooks costs the delivery thread two write transactions
    (the batches' ends before the POSTs, the cursors and records after them), not two per
    webhook: on SQLite each took the one write lock from the writer (issue 21's bench)."""
    s = Server(extra_args=["--webhooks-allow-local", "1"]).start()
    try:
        api = Api(s, ADMIN_TOKEN)
        hooks = [create(api, recv, "/round%d" % k) for k in range(5)]
        # Each later webhook's creation is a record for the earlier ones: all delivered first.
        wait_for(lambda: metric(s, "tagd_webhooks_leased") == 5 and
                 metric(s, "tagd_webhook_lag_max_revisions") == 0, what="five leases, no lag")
        before = metric(s, "tagd_webhook_store_transactions_total")
        r = api.post("/v1/tags", json={"name": "Round.one"})
        assert r.status_code == 201
        rev = int(r.headers["X-Tagd-Revision"])
        for h in hooks:
            wait_for(lambda: any(int(re.match(r"\d+", d["through"]).group()) >= rev for d in api.get(
                "/v1/webhooks/%d/deliveries" % h["id"]).json()["items"]),
                     what="the delivery record of webhook %d" % h["id"])
        for k in range(5):
            assert [e["entity"] for e in recv.events("/round%d" % k)][-2:] == ["tag", "tag"]
        assert metric(s, "tagd_webhook_store_transactions_total") - before == 2
    finally:
        s.cleanup()


def test_limit_per_organization(recv):
    s = Server(extra_args=FAST + ["--webhooks-max", "2"]).start()
    try:
        api = Api(s, ADMIN_TOKEN)
        for i in range(2):
            assert api.post("/v1/webhooks", json={"url": recv.url("/l%d" % i)}).status_code == 201
        r = api.post("/v1/webhooks", json={"url": recv.url("/l3")})
        assert r.status_code == 413 and "at most 2" in r.json()["error"]["message"], r.text
    finally:
        s.cleanup()


def test_loopback_refused_without_the_flag(server, admin, recv):
    for url in (recv.url("/ssrf"), "http://localhost:9/x", "http://[::1]:9/x", "http://10.1.2.3/x",
                "http://169.254.169.254/latest/meta-data", "http://0.0.0.0:9/"):
        r = admin.post("/v1/webhooks", json={"url": url})
        assert r.status_code == 422, (url, r.text)
        assert "webhooks-allow-local" in r.json()["error"]["message"]
    assert admin.get("/v1/webhooks").json()["items"] == []
    # A name is resolved (on the fetch thread, before the writer): this host's own name
    # resolves to a loopback address on Debian (/etc/hosts).
    import socket
    host = socket.gethostname()
    try:
        addr = socket.gethostbyname(host)
    except OSError:
        addr = ""
    if addr.startswith("127.") and host != "localhost":
        r = admin.post("/v1/webhooks", json={"url": "http://%s:9/x" % host})
        assert r.status_code == 422, r.text
        r = admin.post("/v1/webhooks", json={"url": "http://%s:9/x" % host, "active": False})
        assert r.status_code == 422, r.text
    # A public address is accepted (nothing is sent until something changes).
    r = admin.post("/v1/webhooks", json={"url": "https://93.184.216.34/hook", "active": False})
    assert r.status_code == 201, r.text


@pytest.mark.skipif(bool(os.environ.get("TAGD_TEST_STORE")), reason="SQLite-only (TAGD_TEST_STORE is set)")
def test_secret_not_in_the_store_file(hsrv, hadmin, recv):
    h = create(hadmin, recv, "/plain", secret="find-me-in-the-file-0123456789")
    created = create(hadmin, recv, "/plain2")
    data = b""
    for name in os.listdir(hsrv.data):
        if name.startswith("tagd.db"):
            with open(os.path.join(hsrv.data, name), "rb") as f:
                data += f.read()
    assert data and b"webhooks" in data
    assert b"find-me-in-the-file" not in data
    assert created["secret"].encode() not in data
    key = os.path.join(hsrv.data, "webhook.key")
    assert os.stat(key).st_mode & 0o777 == 0o600
    hadmin.delete("/v1/webhooks/%d" % h["id"])
    hadmin.delete("/v1/webhooks/%d" % created["id"])


def test_sigkill_mid_delivery_loses_nothing(recv):
    """SIGKILL tagd while batches are on their way, start it again: every change arrives, and
    what arrives twice arrives as a whole batch sent before."""
    recv.delay = 0.15
    s = Server(extra_args=FAST + ["--webhook-batch", "7"]).start()
    try:
        api = Api(s, ADMIN_TOKEN)
        h = create(api, recv, "/kill")
        start = h["delivered_revision"]
        for round_ in range(3):
            for k in range(20):
                assert api.post("/v1/tags", json={"name": "Kill%d.t%d" % (round_, k)}).status_code == 201
            time.sleep(0.4)  # a batch is on its way now
            s.stop(signal.SIGKILL)
            s.start()
            api = Api(s, ADMIN_TOKEN)
        want = keys(changes_after(api, start))
        wait_for(lambda: set(keys(recv.events("/kill"))) >= set(want), timeout=60, what="all after kills")
        recv.delay = 0
        batches = [p[3] for p in recv.ok_posts("/kill")]
        seen, sent = set(), []
        for b in batches:
            k = keys(b["events"])
            if any(x in seen for x in k):
                # A repeat: the very batch sent before, whole.
                assert (b["after"], b["through"], k) in sent, b
            else:
                assert k == sorted(k) and (not seen or min(k) > max(seen))
            seen.update(k)
            sent.append((b["after"], b["through"], k))
        assert set(want) == seen
        assert recv.bad_sigs == 0
    finally:
        s.cleanup()


@pytest.fixture(scope="module")
def pg_base():
    url = os.environ.get("TAGD_TEST_STORE", "")
    if url.startswith(("postgres://", "postgresql://")):
        yield url
        return
    if not os.path.exists("/usr/lib/postgresql"):
        pytest.skip("no PostgreSQL on this machine")
    d = tempfile.mkdtemp(prefix="tagd-pg-")
    try:
        out = subprocess.run([os.path.join(ROOT, "tests", "pg", "start"), d],
                             capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as e:
        pytest.skip("cannot start PostgreSQL: %s" % e)
    if out.returncode != 0:
        pytest.skip("cannot start PostgreSQL: " + out.stderr[-2000:])
    old = os.environ.get("TAGD_TEST_STORE")
    os.environ["TAGD_TEST_STORE"] = out.stdout.strip()
    try:
        yield out.stdout.strip()
    finally:
        if old is None:
            del os.environ["TAGD_TEST_STORE"]
        subprocess.run([os.path.join(ROOT, "tests", "pg", "stop"), d], capture_output=True)


def test_two_instances_one_delivers_the_other_takes_over(pg_base, recv):
    db_dir = tempfile.mkdtemp(prefix="tagd-hooks-multi-")
    store = pg_store_for(db_dir)
    key = os.path.join(db_dir, "shared.key")
    args = FAST + ["--store", store, "--webhook-lease", "4000", "--webhook-key-file", key]
    a = Server(extra_args=args).start()
    b = Server(extra_args=args).start()
    try:
        A, B = Api(a, ADMIN_TOKEN), Api(b, ADMIN_TOKEN)
        h = create(A, recv, "/pair")
        start = h["delivered_revision"]
        for k in range(10):
            api = A if k % 2 else B
            assert api.post("/v1/tags", json={"name": "Pair.t%d" % k}).status_code == 201
        want = keys(changes_after(A, start))
        wait_for(lambda: keys(recv.events("/pair")) == want, what="one copy of each")
        # One instance held it: every delivery names the same instance (a record is committed
        # after the receiver answered: wait for one).
        wait_for(lambda: A.get("/v1/webhooks/%d/deliveries" % h["id"]).json()["items"],
                 what="a delivery record")
        d = A.get("/v1/webhooks/%d/deliveries" % h["id"]).json()["items"]
        owners = {x["instance"] for x in d}
        assert len(owners) == 1, owners
        # Kill the one that delivers; the other takes over after the lease.
        pid_a = "%d" % a.proc.pid
        holder, other = (a, B) if next(iter(owners)).split(":")[1] == pid_a else (b, A)
        holder.stop(signal.SIGKILL)
        for k in range(5):
            assert other.post("/v1/tags", json={"name": "Pair.after%d" % k}).status_code == 201
        want = keys(changes_after(other, start))
        wait_for(lambda: set(keys(recv.events("/pair"))) >= set(want), timeout=30, what="takeover")
        # The attempt's record is committed after the receiver answered: wait for it too.
        wait_for(lambda: len({x["instance"] for x in other.get(
            "/v1/webhooks/%d/deliveries" % h["id"]).json()["items"]}) == 2, timeout=30,
            what="the other instance's delivery record")
        assert recv.bad_sigs == 0
    finally:
        a.cleanup()
        b.cleanup()
        pg_drop(store)


def test_deliveries_keep_the_last_100(recv):
    s = Server(extra_args=["--webhooks-allow-local", "1", "--webhook-retry-min", "10",
                           "--webhook-retry-max", "20"]).start()
    try:
        api = Api(s, ADMIN_TOKEN)
        h = create(api, recv, "/many")
        recv.plan = [500] * 110
        assert api.post("/v1/tags", json={"name": "Many.one"}).status_code == 201
        wait_for(lambda: recv.ok_posts("/many"), timeout=60, what="111 attempts")
        wait_for(lambda: api.get("/v1/webhooks/%d" % h["id"]).json()["state"] == "ok", what="ok")
        items = api.get("/v1/webhooks/%d/deliveries" % h["id"]).json()["items"]
        assert len(items) == 100
        assert items[0]["outcome"] == "ok" and items[0]["attempt"] == 111
        assert items[-1]["attempt"] == 12
        assert api.get("/v1/webhooks/%d" % h["id"]).json()["state"] == "ok"
    finally:
        s.cleanup()


def test_batch_in_flight_stays_whole_when_the_batch_size_shrinks(recv):
    """A retry sends the batch that failed, whole, even after SIGHUP made --webhook-batch
    smaller than it: the range it names is the range it holds."""
    conf = os.path.join(tempfile.mkdtemp(prefix="tagd-hookconf-"), "tagd.conf")
    with open(conf, "w") as f:
        f.write("webhook-batch = 20\nwebhook-retry-min = 1500\nwebhook-retry-max = 1500\n")
    s = Server(extra_args=["--config", conf, "--webhooks-allow-local", "1"]).start()
    try:
        api = Api(s, ADMIN_TOKEN)
        h = create(api, recv, "/shrink")
        recv.plan = [500]
        # One revision of 10 records: the tag and the nine parents it makes.
        assert api.post("/v1/tags", json={"name": "Deep.a.b.c.d.e.f.g.h.i"}).status_code == 201
        wait_for(lambda: recv.posts, what="the first attempt")
        with open(conf, "w") as f:
            f.write("webhook-batch = 3\nwebhook-retry-min = 1500\nwebhook-retry-max = 1500\n")
        s.proc.send_signal(signal.SIGHUP)
        want = keys(changes_after(api, h["delivered_revision"]))
        assert len(want) == 10
        wait_for(lambda: recv.ok_posts("/shrink"), what="the retry")
        first, retry = recv.posts[0][3], recv.ok_posts("/shrink")[0][3]
        assert keys(first["events"]) == keys(retry["events"]) == want
        assert first["through"] == retry["through"]
        # What comes after goes in batches of the new size.
        assert api.post("/v1/tags", json={"name": "Deep2.a.b.c.d"}).status_code == 201
        wait_for(lambda: len(recv.events("/shrink")) >= 15, what="the next batches")
        assert [len(p[3]["events"]) for p in recv.ok_posts("/shrink")][1:] == [3, 2]
    finally:
        s.cleanup()
