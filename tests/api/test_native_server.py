"""End-to-end tests of the server itself: configuration precedence, the access log, limits,
graceful drain, several event loops, the writer's group commit and revision headers."""
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pytest
import requests

from conftest import ADMIN_TOKEN, ROOT, Api, Server, free_port, raw_request

BIN = os.environ.get("TAGD_BIN", os.path.join(ROOT, "build", "tagd"))
AUTH = {"Authorization": "Bearer " + ADMIN_TOKEN}


def run_parallel(work, n):
    """Runs work(0) .. work(n - 1), each on its own thread, and waits for all of them."""
    ts = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def run_tagd(args, env=None, timeout=20):
    e = dict(os.environ)
    e.pop("TAGD_CONFIG", None)
    e.update(env or {})
    return subprocess.run([BIN] + args, capture_output=True, text=True, env=e, timeout=timeout)


def wait_for(cond, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if cond():
                return True
        except requests.RequestException:
            pass  # e.g. a connection refused while the server catches up
        time.sleep(0.02)
    return False


# ---- command line ----

def test_help_and_version():
    r = run_tagd(["--help"])
    assert r.returncode == 0
    for flag in ("--listen", "--data", "--store", "--threads", "--log-level", "--log-format",
                 "--max-body", "--config", "--version", "--help"):
        assert flag in r.stdout, flag
    r = run_tagd(["--version"])
    assert r.returncode == 0
    assert re.fullmatch(r"tagd \d+\.\d+\.\d+\n", r.stdout)


@pytest.mark.parametrize("args,env,needle", [
    (["--bogus"], {}, "unknown option"),
    (["--threads", "abc"], {}, "threads"),
    (["--threads", "0"], {}, "threads"),
    (["--max-body"], {}, "needs a value"),
    (["stray"], {}, "unexpected argument"),
    (["--log-format", "xml"], {}, "log-format"),
    (["--log-level", "loud"], {}, "log-level"),
    (["--config", "/nonexistent/tagd.conf"], {}, "cannot read config"),
    ([], {"TAGD_MAX_BODY": "lots"}, "TAGD_MAX_BODY"),
    (["--listen", "nowhere"], {}, "listen"),
])
def test_bad_options_exit_nonzero(tmp_path, args, env, needle):
    r = run_tagd(["--data", str(tmp_path)] + args, env=env)
    assert r.returncode != 0
    assert needle in r.stderr, r.stderr


def test_bad_config_file_lines(tmp_path):
    cfg = tmp_path / "bad.conf"
    cfg.write_text("# comment\nthreads = 2\nno_such_setting = 1\n")
    r = run_tagd(["--data", str(tmp_path), "--config", str(cfg)])
    assert r.returncode != 0 and "unknown setting 'no-such-setting'" in r.stderr, r.stderr
    cfg.write_text("threads 2\n")
    r = run_tagd(["--data", str(tmp_path), "--config", str(cfg)])
    assert r.returncode != 0 and "expected name = value" in r.stderr, r.stderr


def max_body_of(server):
    """The effective --max-body, probed through the 413 message."""
    r = requests.post(server.url + "/v1/tags", data=b"x" * 300, headers=AUTH)
    if r.status_code != 413:
        return None
    return int(re.search(r"larger than (\d+) bytes", r.json()["error"]["message"]).group(1))


def test_config_precedence(tmp_path):
    cfg = tmp_path / "tagd.conf"
    cfg.write_text("# settings\nmax_body = 100\nmax-header-bytes = 2000\n\n")
    # file only
    s = Server(extra_args=["--config", str(cfg)])
    s.start()
    try:
        assert max_body_of(s) == 100
    finally:
        s.cleanup()
    # environment beats the file
    s = Server(extra_args=["--config", str(cfg)], env={"TAGD_MAX_BODY": "200"})
    s.start()
    try:
        assert max_body_of(s) == 200
        # a setting only the file has still applies
        out = raw_request(s.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 3000 +
                          b"\r\n\r\n")
        assert out.startswith(b"HTTP/1.1 431"), out[:100]
    finally:
        s.cleanup()
    # a flag beats the environment and the file
    s = Server(extra_args=["--config", str(cfg), "--max-body", "250"],
               env={"TAGD_MAX_BODY": "200"})
    s.start()
    try:
        assert max_body_of(s) == 250
    finally:
        s.cleanup()
    # TAGD_CONFIG names the file too
    s = Server(env={"TAGD_CONFIG": str(cfg)})
    s.start()
    try:
        assert max_body_of(s) == 100
    finally:
        s.cleanup()


def test_default_max_body_is_one_mebibyte(server):
    r = requests.post(server.url + "/v1/tags", data=b"x" * ((1 << 20) + 1), headers=AUTH)
    assert r.status_code == 413
    assert "1048576" in r.json()["error"]["message"]


# ---- access log ----

def test_access_log_text(server, admin):
    admin.get("/v1/tags", headers={"X-Request-Id": "text-log-probe"})
    assert wait_for(lambda: "text-log-probe" in server.read_log())
    line = [l for l in server.read_log().splitlines() if "text-log-probe" in l][-1]
    assert re.search(r" access GET /v1/tags 200 \d+ \d+us text-log-probe 127\.0\.0\.1 \S+$", line), line


def test_access_log_json():
    s = Server(extra_args=["--log-format", "json"]).start()
    try:
        a = Api(s, ADMIN_TOKEN)
        assert a.post("/v1/tags", json={"name": "Logged.json"},
                      headers={"X-Request-Id": "json-probe-1"}).status_code == 201
        r = a.get("/v1/tags/nope", headers={"X-Request-Id": "json-probe-2"})
        assert r.status_code == 404
        assert wait_for(lambda: "json-probe-2" in s.read_log())
        lines = [l for l in s.read_log().splitlines() if l.strip()]
        # Every line of the log is JSON, not just the access lines.
        recs = [json.loads(l) for l in lines]
        access = {x["request_id"]: x for x in recs if x.get("type") == "access"}
        one, two = access["json-probe-1"], access["json-probe-2"]
        assert one["method"] == "POST" and one["path"] == "/v1/tags" and one["status"] == 201
        assert one["bytes"] > 0 and isinstance(one["us"], int) and one["us"] >= 0
        assert two["method"] == "GET" and two["path"] == "/v1/tags/nope"
        assert two["status"] == 404 and two["bytes"] == len(r.content)
        assert all("time" in x for x in recs)
    finally:
        s.cleanup()


def test_one_access_line_per_request_and_log_level():
    s = Server(extra_args=["--log-format", "json"]).start()
    try:
        for i in range(7):
            requests.get(s.url + "/healthz", headers={"X-Request-Id": "count-%d" % i})
        assert wait_for(lambda: "count-6" in s.read_log())
        recs = [json.loads(l) for l in s.read_log().splitlines() if l.strip()]
        ids = [x["request_id"] for x in recs if x.get("type") == "access"]
        assert sorted(i for i in ids if i.startswith("count-")) == ["count-%d" % i for i in range(7)]
    finally:
        s.cleanup()
    s = Server(extra_args=["--log-level", "warn"]).start()
    try:
        requests.get(s.url + "/healthz", headers={"X-Request-Id": "quiet-probe"})
        requests.get(s.url + "/v1/tags", headers={"X-Request-Id": "quiet-probe-2"})
        time.sleep(0.2)
        log = s.read_log()
        assert "quiet-probe" not in log and " access " not in log
        assert "listening" not in log  # info lines are gone too
    finally:
        s.cleanup()


# ---- limits ----

def test_header_limit_431(server):
    out = raw_request(server.port, b"GET /v1/tags HTTP/1.1\r\nHost: x\r\n" +
                      b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 1000) for i in range(20)) + b"\r\n")
    assert out.startswith(b"HTTP/1.1 431"), out[:200]
    body = json.loads(out.partition(b"\r\n\r\n")[2])
    assert body["error"]["code"] == "too_large"
    assert body["error"]["details"]["field"] == "headers"


def test_body_limit_413_small():
    s = Server(extra_args=["--max-body", "64"]).start()
    try:
        a = Api(s, ADMIN_TOKEN)
        assert a.post("/v1/tags", json={"name": "Fits"}).status_code == 201
        r = a.post("/v1/tags", json={"name": "Big", "description": "d" * 100})
        assert r.status_code == 413
        assert r.json()["error"]["request_id"] == r.headers["X-Request-Id"]
        assert a.get("/v1/tags/Big").status_code == 404
    finally:
        s.cleanup()


def test_idle_timeout_closes_silent_connection():
    s = Server(extra_args=["--idle-timeout", "300"]).start()
    try:
        c = socket.create_connection(("127.0.0.1", s.port), timeout=5)
        t0 = time.time()
        try:
            data = c.recv(100)
        except ConnectionResetError:
            data = b""
        took = time.time() - t0
        c.close()
        assert data == b"" or data.startswith(b"HTTP/1.1 408"), data
        assert 0.2 <= took < 4, took
        # A half-sent request is cut off too.
        c = socket.create_connection(("127.0.0.1", s.port), timeout=5)
        c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        t0 = time.time()
        try:
            data = c.recv(100)
        except ConnectionResetError:
            data = b""
        assert time.time() - t0 < 4
        c.close()
        assert requests.get(s.url + "/healthz").status_code == 200
    finally:
        s.cleanup()


def _held(s, n, token=None, source="127.0.0.1"):
    held = []
    for _ in range(n):
        c = socket.create_connection(("127.0.0.1", s.port), timeout=5, source_address=(source, 0))
        if token:
            c.sendall(b"GET /v1/tags HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                      + token.encode() + b"\r\n\r\n")
        else:
            c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert c.recv(65536).startswith(b"HTTP/1.1 200")
        held.append(c)
    return held


def _metric(s, name, reason):
    m = requests.get(s.url + "/metrics").text
    return int(re.search(r'^%s\{reason="%s"\} (\d+)$' % (name, reason), m, re.M).group(1))


def test_connection_cap_keeps_authenticated_connections():
    """At --max-conns, with every connection authenticated, a new one is refused."""
    s = Server(extra_args=["--max-conns", "3"]).start()
    try:
        time.sleep(0.3)  # let the health probe's connection close
        held = _held(s, 3, ADMIN_TOKEN)
        extra = socket.create_connection(("127.0.0.1", s.port), timeout=5)
        try:
            extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            data = extra.recv(4096)
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        extra.close()
        assert data == b"", data
        for c in held:  # the authenticated ones are still served
            c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert c.recv(4096).startswith(b"HTTP/1.1 200")
            c.close()
        assert wait_for(lambda: requests.get(s.url + "/healthz").status_code == 200)
        assert _metric(s, "tagd_connections_rejected_total", "limit") >= 1
    finally:
        s.cleanup()


def test_anonymous_connections_make_room():
    """Idle anonymous connections give their place to a client from another address: the
    oldest of the most crowded address goes first."""
    s = Server(extra_args=["--max-conns", "3"]).start()
    try:
        time.sleep(0.3)
        held = _held(s, 2, source="127.0.0.2")  # max-conns minus the reserve (one)
        same = socket.socket()
        same.bind(("127.0.0.2", 0))
        same.connect(("127.0.0.1", s.port))
        try:  # a third from the same address gets no room
            same.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert same.recv(4096) == b""
        except (ConnectionResetError, BrokenPipeError):
            pass
        same.close()
        extra = socket.create_connection(("127.0.0.1", s.port), timeout=5)
        extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert extra.recv(4096).startswith(b"HTTP/1.1 200")
        extra.close()
        try:
            gone = held[0].recv(4096) == b""
        except ConnectionResetError:
            gone = True
        assert gone
        held[1].sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert held[1].recv(4096).startswith(b"HTTP/1.1 200")
        for c in held:
            c.close()
        assert _metric(s, "tagd_connections_rejected_total", "evicted") >= 1
    finally:
        s.cleanup()


def test_min_revision(server, admin):
    rev = int(admin.get("/v1/tags").headers["X-Tagd-Revision"])
    r = admin.get("/v1/tags", headers={"X-Tagd-Min-Revision": str(rev)})
    assert r.status_code == 200
    r = admin.get("/v1/tags", headers={"X-Tagd-Min-Revision": str(rev - 1 if rev > 1 else 0)})
    assert r.status_code == 200
    r = admin.get("/v1/tags", headers={"X-Tagd-Min-Revision": str(rev + 5)})
    assert r.status_code == 503
    assert r.headers["Retry-After"] == "1"
    err = r.json()["error"]
    assert err["details"]["field"] == "X-Tagd-Min-Revision"
    assert str(rev + 5) in err["message"]
    r = admin.get("/v1/tags", headers={"X-Tagd-Min-Revision": "soon"})
    assert r.status_code == 400
    # A write makes the wanted revision real.
    w = admin.post("/v1/tags", json={"name": "Rev.min"})
    wrev = int(w.headers["X-Tagd-Revision"])
    r = admin.get("/v1/tags/Rev.min", headers={"X-Tagd-Min-Revision": str(wrev)})
    assert r.status_code == 200


# ---- the writer: group commit under concurrency ----

def test_group_commit_concurrent_creates(server, admin):
    since = admin.get("/v1/changes?limit=1000").json()["next_since"]
    before = requests.get(server.url + "/metrics").text
    commits0 = int(re.search(r'outcome="commit"\} (\d+)', before).group(1))
    n = 50
    results = [None] * n
    start = threading.Barrier(n)

    def work(i):
        s = requests.Session()
        start.wait()
        results[i] = s.post(server.url + "/v1/tags", json={"name": "Par.t%02d" % i},
                            headers=AUTH, timeout=30)

    run_parallel(work, n)
    assert all(r.status_code == 201 for r in results), [r.text for r in results if r.status_code != 201]
    revs = [int(r.headers["X-Tagd-Revision"]) for r in results]
    assert len(set(revs)) == n
    ids = {r.json()["id"] for r in results}
    assert len(ids) == n
    items = admin.get("/v1/changes?since=%d&limit=1000" % since).json()["items"]
    created = {c["after"]["name"]: c["revision"] for c in items
               if c["entity"] == "tag" and c["op"] == "create" and c["after"]["name"].startswith("Par.t")}
    assert set(created) == {"Par.t%02d" % i for i in range(n)}
    assert sorted(created.values()) == sorted(revs)
    for r in results:
        assert created[r.json()["name"]] == int(r.headers["X-Tagd-Revision"])
    # revisions in the log are ascending
    assert [c["revision"] for c in items] == sorted(c["revision"] for c in items)
    after = requests.get(server.url + "/metrics").text
    commits1 = int(re.search(r'outcome="commit"\} (\d+)', after).group(1))
    # "Par" itself is created implicitly by the first request; some requests share a commit.
    assert 1 <= commits1 - commits0 <= n
    assert admin.get("/v1/tags?prefix=Par.&limit=1000").json()["total"] == n


def test_failed_request_in_batch_rolls_back_alone(server, admin):
    n = 30
    results = [None] * n
    start = threading.Barrier(n)

    def work(i):
        start.wait()
        name = "Mix.ok%02d" % i if i % 3 else "Mix..bad%02d" % i
        results[i] = requests.post(server.url + "/v1/tags", json={"name": name}, headers=AUTH,
                                   timeout=30)

    run_parallel(work, n)
    for i, r in enumerate(results):
        assert r.status_code == (201 if i % 3 else 400), (i, r.text)
    names = [t["name"] for t in admin.get("/v1/tags?prefix=Mix.&limit=1000").json()["items"]]
    assert names == ["Mix.ok%02d" % i for i in range(n) if i % 3]


def test_concurrent_assignment_adds_answer_their_own_state(server, admin):
    """Adds from many clients share commits (two per resource, often in one batch). Each answer
    is the resource's list right after that request (read in its transaction, rendered by the
    loop after the commit), a read right after the answer sees the write (the publisher applied
    it to the engine first), and a failing add in the same batches answers its own error."""
    tags = [admin.post("/v1/tags", json={"name": "Rb.t%d" % k}).json() for k in range(2)]
    n, nres = 48, 16
    results = [None] * n
    reads = [None] * n
    start = threading.Barrier(n)

    def work(i):
        s = requests.Session()
        key = "rb-%02d" % (i % nres)
        k = i // nres  # 0, 1: a tag; 2: no such tag
        tag = tags[k]["id"] if k < 2 else 987654321
        start.wait()
        results[i] = s.post(server.url + "/v1/resources/file/%s/tags" % key,
                            json={"tags": [tag]}, headers=AUTH, timeout=30)
        reads[i] = s.get(server.url + "/v1/resources/file/%s/tags" % key, headers=AUTH,
                         timeout=30)

    run_parallel(work, n)
    by_res = {}
    for i, r in enumerate(results):
        k = i // nres
        if k == 2:
            assert r.status_code == 422, r.text  # an unknown tag id
            assert "error" in r.json() and "items" not in r.json()
            continue
        assert r.status_code == 200, r.text
        names = [it["name"] for it in r.json()["items"]]
        assert "Rb.t%d" % k in names
        assert names == sorted(names)
        assert "Rb.t%d" % k in [it["name"] for it in reads[i].json()["items"]]
        by_res.setdefault(i % nres, []).append((int(r.headers["X-Tagd-Revision"]), names))
    for res, answers in by_res.items():
        (first_rev, first), (last_rev, last) = sorted(answers)
        # The earlier add saw only its own tag, the later one both: no answer shows the future.
        assert first_rev < last_rev
        assert len(first) == 1 and last == ["Rb.t0", "Rb.t1"], (res, answers)


# ---- several event loops ----

def test_threads_serve_concurrently():
    s = Server(extra_args=["--threads", "4"]).start()
    try:
        assert "4 threads" in s.read_log()
        n = 40
        results = [None] * n
        start = threading.Barrier(n)

        def work(i):
            start.wait()
            sess = requests.Session()
            w = sess.post(s.url + "/v1/tags", json={"name": "Thr.t%02d" % i}, headers=AUTH,
                          timeout=30)
            rd = [sess.get(s.url + "/v1/tags/Thr.t%02d" % i, headers=AUTH, timeout=30)
                  for _ in range(5)]
            results[i] = (w, rd)

        run_parallel(work, n)
        for w, rd in results:
            assert w.status_code == 201, w.text
            # a read on any loop after the write's answer sees the write
            assert all(x.status_code == 200 for x in rd)
        a = Api(s, ADMIN_TOKEN)
        assert a.get("/v1/tags?prefix=Thr.&limit=1000").json()["total"] == n
        m = requests.get(s.url + "/metrics").text
        total = sum(int(v) for v in re.findall(r'tagd_requests_total\{method="GET",route="/v1/tags/\{id\}",code="200"\} (\d+)', m))
        # /metrics is answered by one loop but counts every loop's requests.
        assert total == 5 * n
        # The kernel spreads new connections over the loops' listeners: 40 clients with their
        # own connections do not all land on one loop.
        loops = {int(k): int(v) for k, v in re.findall(r'^tagd_loop_responses_total\{loop="(\d+)"\} (\d+)$', m, re.M)}
        assert sorted(loops) == [0, 1, 2, 3]
        assert sum(1 for v in loops.values() if v > 0) >= 2, loops
    finally:
        s.cleanup()


# ---- drain ----

@pytest.mark.parametrize("threads", [1, 4])
def test_sigterm_drains_in_flight_requests(threads):
    s = Server(extra_args=["--threads", str(threads)]).start()
    try:
        n = 40
        conns = []
        for i in range(n):
            c = socket.create_connection(("127.0.0.1", s.port), timeout=10)
            # A first request makes sure the connection is accepted by the loop.
            c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert c.recv(4096).startswith(b"HTTP/1.1 200")
            conns.append(c)
        reqs = []
        for i, c in enumerate(conns):
            body = json.dumps({"name": "Drain.t%02d" % i}).encode()
            reqs.append(b"POST /v1/tags HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                        ADMIN_TOKEN.encode() + b"\r\nContent-Type: application/json\r\n"
                        b"Content-Length: %d\r\n\r\n" % len(body) + body)
        for c, q in zip(conns, reqs):
            c.sendall(q)
        s.proc.send_signal(signal.SIGTERM)
        answers = []
        for c in conns:
            data = b""
            try:
                while b"\r\n\r\n" not in data or not data.endswith(b"}"):
                    b = c.recv(65536)
                    if not b:
                        break
                    data += b
            except socket.timeout:
                pass
            answers.append(data)
            c.close()
        rc = s.proc.wait(timeout=20)
        assert rc == 0
        for a in answers:
            assert a.startswith(b"HTTP/1.1 201"), a[:200]
            # answered, then closed: a draining server keeps no connection alive
            assert b"\r\nconnection: close\r\n" in a.lower().partition(b"\r\n\r\n")[0] + b"\r\n", a[:400]
        # New connections are refused once draining is over.
        with pytest.raises(requests.ConnectionError):
            requests.get(s.url + "/healthz", timeout=2)
        assert "drained" in s.read_log()
        s.start()
        a = Api(s, ADMIN_TOKEN)
        assert a.get("/v1/tags?prefix=Drain.&limit=1000").json()["total"] == n
    finally:
        s.cleanup()


def test_sigint_exits_zero():
    s = Server().start()
    assert s.stop(sig=signal.SIGINT) == 0
    s.cleanup()


# ---- bootstrap, store, metrics, keep-alive ----

def test_admin_token_reapplied_at_every_start():
    s = Server().start()
    try:
        assert Api(s, ADMIN_TOKEN).get("/v1/users").status_code == 200
        s.stop()
        s.env_extra["TAGD_ADMIN_TOKEN"] = "rotated-admin-token-42"
        s.start()
        r = requests.get(s.url + "/v1/users", headers={"Authorization": "Bearer rotated-admin-token-42"})
        assert r.status_code == 200
        # one admin user, however often the token changes
        assert [u["login"] for u in r.json()["items"]].count("admin") == 1
        # the rotated-out value is no longer valid
        assert requests.get(s.url + "/v1/tags", headers=AUTH).status_code == 401
    finally:
        s.cleanup()


def test_store_flag_places_the_database(tmp_path):
    db = tmp_path / "elsewhere" / "my.db"
    db.parent.mkdir()
    s = Server(extra_args=["--store", "sqlite:%s" % db]).start()
    try:
        assert Api(s, ADMIN_TOKEN).post("/v1/tags", json={"name": "Stored"}).status_code == 201
        assert db.exists()
        assert not os.path.exists(os.path.join(s.data, "tagd.db"))
        assert "sqlite" in s.read_log() and str(db) in s.read_log()
    finally:
        s.cleanup()
    r = run_tagd(["--data", str(tmp_path), "--store", "mysql://nope"])
    assert r.returncode != 0 and "store" in r.stderr.lower(), r.stderr


def test_expired_token_is_refused(server):
    import time as _t
    expires = int(_t.time() * 1000) + 1500
    r = requests.post(server.url + "/v1/tokens", json={"name": "short", "expires_at": expires},
                      headers=AUTH)
    assert r.status_code == 201, r.text
    tok = r.json()["token"]
    assert requests.get(server.url + "/v1/tags", headers={"Authorization": "Bearer " + tok}).status_code == 200
    assert wait_for(lambda: requests.get(server.url + "/v1/tags", headers={
        "Authorization": "Bearer " + tok}).status_code == 401, timeout=5)


def test_metrics_gauges_follow_the_data():
    s = Server().start()
    try:
        a = Api(s, ADMIN_TOKEN)
        a.post("/v1/resources/mx/one/tags", json={"tags": ["Mx.a", "Mx.b"], "create_missing": True})
        a.put("/v1/resources/mx/two", json={})
        a.post("/v1/tags", json={"name": "Mx..bad"})
        m = requests.get(s.url + "/metrics").text
        val = lambda name: int(re.search(r"^%s (\d+)$" % re.escape(name), m, re.M).group(1))
        assert val("tagd_tags") == 3  # Mx, Mx.a, Mx.b
        assert val("tagd_resources") == 2
        assert val("tagd_assignments") == 2
        assert val("tagd_revision") == int(a.get("/v1/tags").headers["X-Tagd-Revision"])
        assert 'tagd_requests_total{method="POST",route="/v1/tags",code="400"} 1' in m
        assert 'tagd_requests_total{method="PUT",route="/v1/resources/{kind}/{key}",code="201"} 1' in m
        assert re.search(r'tagd_store_transactions_total\{outcome="request_rollback"\} [1-9]', m)
        count = sum(int(v) for v in re.findall(r"^tagd_request_duration_seconds_count\{.*\} (\d+)$", m, re.M))
        inf = sum(int(v) for v in re.findall(r'^tagd_request_duration_seconds_bucket\{.*le="\+Inf"\} (\d+)$', m, re.M))
        assert count == inf >= 4
    finally:
        s.cleanup()


@pytest.mark.parametrize("defer", ["1", "0"])
def test_write_answers_follow_a_wal_flush(defer):
    """SQLite: with deferred syncs (the default) the writer's COMMIT does not fsync; every
    answered write was flushed by the syncer first (counted in tagd_wal_syncs_total). With
    --defer-sync 0 each COMMIT waits for its own fsync and the syncer does nothing. Either way
    a write is read back at once, from the engine and from SQL (as_of)."""
    s = Server(extra_args=["--defer-sync", defer]).start()
    try:
        a = Api(s, ADMIN_TOKEN)
        syncs = lambda: int(re.search(r"^tagd_wal_syncs_total (\d+)$",
                                      requests.get(s.url + "/metrics").text, re.M).group(1))
        before = syncs()
        for i in range(5):
            r = a.post("/v1/resources/wf/r%d/tags" % i, json={"tags": ["Wf.t%d" % i],
                                                               "create_missing": True})
            assert r.status_code == 200, r.text
            assert [t["name"] for t in r.json()["items"]] == ["Wf.t%d" % i]
            after = syncs()
            if defer == "1":
                assert after > before  # flushed before the answer left
            else:
                assert after == 0
            before = after
            rev = r.headers["X-Tagd-Revision"]
            got = a.get("/v1/resources/wf/r%d/tags" % i)
            assert [t["name"] for t in got.json()["items"]] == ["Wf.t%d" % i]
            past = a.get("/v1/resources/wf/r%d/tags?as_of=%s" % (i, rev))
            assert past.status_code == 200, past.text
            assert [t["name"] for t in past.json()["items"]] == ["Wf.t%d" % i]
    finally:
        s.cleanup()


def test_wal_mb_bounds_the_wal():
    """SQLite: --wal-mb is the WAL's length before it starts over. The file gets its length
    at start (the frames of --wal-mb of pages, a page and 24 bytes each, and a quarter more
    for commits while a start-over waits), so that no frame is written past its end, and
    keeps it: writes that put far more than 4 MB through it leave it at that length. A
    value out of range is refused at start."""
    if os.environ.get("TAGD_TEST_STORE"):
        pytest.skip("SQLite's WAL")
    sizes = {}
    for mb in ("4", "256"):
        s = Server(extra_args=["--wal-mb", mb]).start()
        try:
            a = Api(s, ADMIN_TOKEN)
            for i in range(1200):
                r = a.post("/v1/resources/wm/r%d/tags" % i, json={"tags": ["Wm.t%d" % (i % 50)],
                                                                   "create_missing": True})
                assert r.status_code == 200, r.text
            sizes[mb] = os.path.getsize(os.path.join(s.data, "tagd.db-wal"))
        finally:
            s.cleanup()
    def keep(mb):
        n = 32 + (mb << 20) // 4096 * (4096 + 24)
        return n + n // 4
    assert sizes == {"4": keep(4), "256": keep(256)}, sizes
    r = subprocess.run([os.environ.get("TAGD_BIN", os.path.join(ROOT, "build", "tagd")),
                        "--wal-mb", "1", "--data", tempfile.mkdtemp(prefix="tagd-test-")],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode != 0 and "wal-mb" in r.stderr, r.stderr


def test_engine_applies_adds_from_the_change_records(server):
    """An add to a resource the engine holds is applied from its change record: the metric
    counts it as applied, not read again, and the engine answers with it."""
    a = Api(server, ADMIN_TOKEN)
    assert a.post("/v1/resources/ap/r1/tags", json={"tags": ["Ap.one"],
                                                     "create_missing": True}).status_code == 200
    count = lambda how: int(re.search(r'^tagd_engine_resource_updates_total\{how="%s"\} (\d+)$'
                                      % how, requests.get(server.url + "/metrics").text,
                                      re.M).group(1))
    applied, reread = count("applied"), count("reread")
    r = a.post("/v1/resources/ap/r1/tags", json={"tags": ["Ap.two"], "create_missing": True})
    assert r.status_code == 200, r.text
    assert count("applied") == applied + 1
    assert count("reread") == reread
    got = a.get("/v1/resources/ap/r1/tags")
    assert [t["name"] for t in got.json()["items"]] == ["Ap.one", "Ap.two"]


def test_keep_alive_and_pipelining(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as c:
        c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 3)
        data = b""
        deadline = time.time() + 5
        while data.count(b"HTTP/1.1 200") < 3 and time.time() < deadline:
            data += c.recv(65536)
        assert data.count(b"HTTP/1.1 200") == 3
        c.sendall(b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        head = c.recv(65536)
        assert head.startswith(b"HTTP/1.1 200") and head.endswith(b"\r\n\r\n")


def test_idle_keep_alive_connection_does_not_hold_up_shutdown():
    s = Server().start()
    try:
        c = socket.create_connection(("127.0.0.1", s.port), timeout=10)
        c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert c.recv(4096).startswith(b"HTTP/1.1 200")
        t0 = time.time()
        s.proc.send_signal(signal.SIGTERM)
        assert s.proc.wait(timeout=20) == 0
        # well inside the 10 s drain timeout: an idle connection is not a request in flight
        assert time.time() - t0 < 3
        assert c.recv(4096) == b""
        c.close()
    finally:
        s.cleanup()


def test_second_process_cannot_share_the_port(server):
    """Regression (flaky 401s under parallel tests): with SO_REUSEPORT a second tagd on the
    same port was accepted by the kernel and took half of the first one's connections. A port
    in use by another process must stop tagd at start."""
    other = Server()
    other.port = server.port
    env = dict(os.environ, TAGD_ADMIN_TOKEN="x" * 20)
    p = subprocess.run([other.bin, "--data", other.data, "--listen", "127.0.0.1:%d" % server.port],
                       env=env, capture_output=True, timeout=20)
    other.cleanup()
    assert p.returncode != 0
    assert b"in use" in p.stderr


def test_write_cache_is_warmed_at_start():
    """SQLite: the writer's page cache (--write-cache-mb) is filled at start with the index
    that adds read at random, and the log says how much went in; 0 reads nothing. A value out
    of range is refused at start."""
    if os.environ.get("TAGD_TEST_STORE"):
        pytest.skip("SQLite's page cache")
    data = tempfile.mkdtemp(prefix="tagd-test-")
    s = Server(data_dir=data).start()
    try:
        a = Api(s, ADMIN_TOKEN)
        for i in range(30):
            r = a.post("/v1/resources/wc/r%d/tags" % i, json={"tags": ["Wc.a", "Wc.b"],
                                                              "create_missing": True})
            assert r.status_code == 200, r.text
    finally:
        s.stop()
    logs = []
    for mb in ("8", "0"):
        s = Server(data_dir=data, extra_args=["--write-cache-mb", mb, "--log-level", "info"])
        s.start()
        try:
            assert Api(s, ADMIN_TOKEN).get("/v1/resources/wc/r7/tags").json()["total"] == 2
        finally:
            s.stop()
        logs.append(s.read_log())
    # The log file grows across the starts: the second start (0 MB) adds no such line.
    assert logs[0].count("the writer's cache holds 60 index entries") == 1, logs[0][-3000:]
    assert logs[1].count("index entries") == 1, logs[1][-3000:]
    r = subprocess.run([os.environ.get("TAGD_BIN", os.path.join(ROOT, "build", "tagd")),
                        "--write-cache-mb", "-1", "--data", tempfile.mkdtemp(prefix="tagd-test-")],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode != 0 and "write-cache-mb" in r.stderr, r.stderr


def test_one_server_per_sqlite_store():
    """A second tagd on the same SQLite file is refused at start (each would take itself for
    the file's only writer), as is `tagd migrate` from it, until the first one stops; a
    killed server leaves no stale lock."""
    if os.environ.get("TAGD_TEST_STORE"):
        pytest.skip("SQLite's file lock")
    data = tempfile.mkdtemp(prefix="tagd-test-")
    binary = os.environ.get("TAGD_BIN", os.path.join(ROOT, "build", "tagd"))
    first = Server(data_dir=data).start()
    try:
        r = subprocess.run([binary, "--data", data, "--listen", "127.0.0.1:%d" % free_port()],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == 1, r.stderr
        assert "in use by another tagd (pid %d)" % first.proc.pid in r.stderr, r.stderr
        r = subprocess.run([binary, "migrate", "--from", "sqlite:%s/tagd.db" % data,
                            "--to", "sqlite:%s/copy.db" % data],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == 1 and "in use by another tagd" in r.stderr, r.stderr
        assert Api(first, ADMIN_TOKEN).get("/healthz").status_code == 200
    finally:
        first.stop(sig=signal.SIGKILL)
    second = Server(data_dir=data).start()
    try:
        assert Api(second, ADMIN_TOKEN).get("/healthz").status_code == 200
    finally:
        second.stop()


def test_threads_are_named_by_role(server):
    """`top -H` and /proc/PID/task/TID/comm tell an operator which role spends the CPU; the
    main thread keeps the process's name (pidof tagd)."""
    if server.proc is None:
        pytest.skip("the server runs elsewhere")
    pid = server.proc.pid
    names = []
    for tid in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
            names.append(f.read().strip())
    with open("/proc/%d/comm" % pid) as f:
        main = f.read().strip()
    assert "tagd-writer" in names and "tagd-publish" in names and "tagd-fetch" in names, names
    assert not main.startswith("tagd-"), main
    if not os.environ.get("TAGD_TEST_STORE"):
        assert names.count("tagd-sync") == 2 and "tagd-checkpoint" in names, names
