"""Several tagd instances on PostgreSQL through outages (issue 27).

Every test here stops, restarts or cuts off the database, so the module runs its own private
cluster (tests/pg/start), never the shared one of TAGD_TEST_STORE; without PostgreSQL it skips.
Each test gets databases of its own on that cluster. A small TCP proxy between tagd and the
cluster cuts a connection at the moment a test wants (around a COMMIT)."""
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

from conftest import ADMIN_TOKEN, ROOT, Api, Server

RUN = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []


class Cluster:
    def __init__(self, d, url):
        self.dir = d
        self.url = url
        self.port = int(re.search(r":(\d+)/", url).group(1))
        with open(os.path.join(d, "pgbin")) as f:
            self.pgbin = f.read().strip()
        self.serial = 0

    def pg_ctl(self, *args):
        return subprocess.run(RUN + [os.path.join(self.pgbin, "pg_ctl"), "-D",
                                     os.path.join(self.dir, "data"), "-w", "-t", "60"]
                              + list(args), capture_output=True, text=True, timeout=90)

    def stop(self, mode="fast"):
        out = self.pg_ctl("-m", mode, "stop")
        assert out.returncode == 0, out.stderr

    def start(self):
        # The options tests/pg/start gave: pg_ctl start does not remember them.
        opts = ("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off"
                " -c synchronous_commit=off -c full_page_writes=off" % (self.port, self.dir))
        out = self.pg_ctl("-l", os.path.join(self.dir, "data", "server.log"), "-o", opts, "start")
        assert out.returncode == 0, out.stdout + out.stderr

    def sql(self, q, db=None):
        url = self.url if db is None else self.url.rpartition("/")[0] + "/" + db
        return subprocess.run(["psql", "-XAtq", url, "-c", q], capture_output=True, text=True,
                              check=True, timeout=30).stdout.strip()

    def new_db(self):
        self.serial += 1
        name = "o%d_%d" % (os.getpid(), self.serial)
        self.sql('CREATE DATABASE "%s"' % name)
        return self.url.rpartition("/")[0] + "/" + name

    def terminate(self, store):
        return int(self.sql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                            " WHERE datname = '%s'" % store.rpartition("/")[2]))


@pytest.fixture(scope="module")
def cluster():
    d = tempfile.mkdtemp(prefix="tagd-pgout-")
    try:
        out = subprocess.run([os.path.join(ROOT, "tests", "pg", "start"), d],
                             capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as e:
        pytest.skip("cannot start PostgreSQL: %s" % e)
    if out.returncode != 0:
        pytest.skip("cannot start PostgreSQL: " + out.stderr[-2000:])
    c = Cluster(d, out.stdout.strip())
    try:
        yield c
    finally:
        subprocess.run([os.path.join(ROOT, "tests", "pg", "stop"), d], capture_output=True)


@pytest.fixture
def up(cluster):
    """The cluster, running again after the test whatever the test did to it."""
    yield cluster
    if cluster.pg_ctl("status").returncode != 0:
        cluster.start()


class Proxy:
    """Forwards TCP connections to the cluster. `cut = "before"` drops the next connection
    whose client sends a COMMIT, before it reaches the server (the transaction surely did not
    commit); `cut = "after"` drops the next one whose server answers a COMMIT, before the
    answer reaches tagd (it did commit, and tagd does not know)."""

    def __init__(self, port):
        self.target = port
        self.cut = None
        self.cuts = 0
        self.lock = threading.Lock()
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(64)
        self.port = self.ls.getsockname()[1]
        self.open = True
        threading.Thread(target=self.accept, daemon=True).start()

    def url(self, store):
        return re.sub(r":\d+/", ":%d/" % self.port, store)

    def accept(self):
        while self.open:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            s = socket.create_connection(("127.0.0.1", self.target))
            threading.Thread(target=self.pump, args=(c, s, "before", b"COMMIT\x00"),
                             daemon=True).start()
            threading.Thread(target=self.pump, args=(s, c, "after", b"COMMIT\x00"),
                             daemon=True).start()

    def pump(self, src, dst, mode, marker):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                with self.lock:
                    fire = self.cut == mode and marker in data
                    if fire:
                        self.cut = None
                        self.cuts += 1
                if fire:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for sk in (src, dst):
            try:
                sk.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sk.close()

    def close(self):
        self.open = False
        self.ls.close()


def rev(r):
    return int(r.headers["X-Tagd-Revision"])


def server(store, *args, env=None):
    return Server(extra_args=["--store", store, "--threads", "1"] + list(args), env=env).start()


def test_outage_answers_503_with_retry_after_in_every_dialect(up):
    """While PostgreSQL is down every request that needs the store answers 503 in its
    dialect's shape with Retry-After, reads and /v1/changes included, and no answer names the
    database's host, port or libpq's words; the log does, once. Afterwards all is served."""
    store = up.new_db()
    s = server(store)
    try:
        A = Api(s, ADMIN_TOKEN)
        assert A.post("/v1/tags", json={"name": "Out.one"}).status_code == 201
        ses = requests.get(s.url + "/api/v1/session", timeout=10).json()["token"]
        up.stop()
        calls = [
            ("GET", "/v1/tags/Out.one", None),
            ("GET", "/v1/tags", None),
            ("GET", "/v1/changes", None),
            ("POST", "/v1/tags", {"name": "Out.two"}),
            ("GET", "/readyz", None),
            ("GET", "/documents/api/1.1/folders/F1/tags", None),  # Oracle
            ("GET", "/tag", None),  # Immuta
            ("GET", "/api/v2/tags", None),  # LaunchDarkly
            ("GET", "/v1/organizations/1/knowledge/connectors/tags", None),  # Aitronos
        ]
        for method, path, body in calls:
            r = A.request(method, path, json=body)
            assert r.status_code == 503, (path, r.status_code, r.text)
            assert r.headers.get("Retry-After") == "1", (path, r.headers)
            for leak in ("127.0.0.1", str(up.port), "connection to server", "refused",
                         "shutting down", "postgres"):
                assert leak not in r.text, (path, r.text)
        r = A.get("/documents/api/1.1/folders/F1/tags")
        assert r.json()["errorKey"] == "!csServiceUnavailable", r.text
        r = requests.get(s.url + "/api/v1/tags", params={"token": ses}, timeout=10)  # easydb
        assert r.status_code == 503 and r.headers.get("Retry-After") == "1", r.text
        assert r.json()["code"] == "error.server.database"
        assert str(up.port) not in r.text
        up.start()
        deadline = time.time() + 10
        while A.get("/v1/tags/Out.one").status_code != 200 and time.time() < deadline:
            time.sleep(0.1)
        assert A.get("/v1/changes").status_code == 200
        assert A.post("/v1/tags", json={"name": "Out.two"}).status_code == 201
        log = s.read_log()
        assert log.count("postgres unreachable") == 1, log[-3000:]
        assert "postgres reachable again" in log
        m = A.get("/metrics").text
        assert re.search(r"^tagd_store_unavailable_total [1-9]", m, re.M), m
    finally:
        s.cleanup()


def test_readyz_is_ready_when_the_instance_can_serve(up):
    """Right after every backend of the instance was terminated (a failover, an operator's
    pg_terminate_backend), reads and writes reconnect and succeed: /readyz says ready too.
    While the database is down it says not ready, and ready again once it is back."""
    store = up.new_db()
    s = server(store)
    try:
        A = Api(s, ADMIN_TOKEN)
        assert A.get("/readyz").status_code == 200
        assert up.terminate(store) >= 3
        time.sleep(0.1)
        r = A.get("/readyz")
        assert r.status_code == 200, r.text
        assert A.get("/v1/tags").status_code == 200
        assert A.post("/v1/tags", json={"name": "Ready.after"}).status_code == 201
        m = A.get("/metrics").text
        assert re.search(r"^tagd_store_reconnects_total [1-9]", m, re.M), m
        up.stop()
        assert A.get("/readyz").status_code == 503
        up.start()
        assert A.get("/readyz").status_code == 200
    finally:
        s.cleanup()


def test_revision_never_goes_back_on_one_instance(up):
    """B follows A by polling only, and slowly. A read on B served by SQL sees A's new commit;
    the next read on B, a tag list the engine answers, must not answer an older revision
    (it saw 1396, then 1395). The SQL read says the revision it reflects in full that the
    engine has too; a read that asks for A's revision gets at least that."""
    store = up.new_db()
    a = server(store)
    assert Api(a, ADMIN_TOKEN).post("/v1/tags", json={"name": "Base"}).status_code == 201
    b = server(store, "--tail-poll", "5000", env={"TAGD_PG_NO_LISTEN": "1"})
    try:
        A, B = Api(a, ADMIN_TOKEN), Api(b, ADMIN_TOKEN)
        for i in range(3):
            w = A.post("/v1/tags", json={"name": "Mono.%d" % i})
            assert w.status_code == 201
            first = B.get("/v1/tags/Mono.%d" % i)  # from SQL: sees A's commit
            assert first.status_code == 200
            listed = B.get("/v1/tags")  # the engine's list
            assert listed.status_code == 200, listed.text
            assert rev(listed) >= rev(first), (rev(first), rev(listed))
            q = B.get("/v1/resources?query=Base&ids_only=true")  # the engine only
            assert q.status_code == 200, q.text
            assert rev(q) >= rev(listed)
            asked = B.get("/v1/tags", headers={"X-Tagd-Min-Revision": str(rev(w))})
            assert asked.status_code == 200 and rev(asked) >= rev(w)
            assert "Mono.%d" % i in [t["name"] for t in asked.json()["items"]]
            again = B.get("/v1/tags/Mono.%d" % i)
            assert rev(again) >= rev(asked), (rev(asked), rev(again))
    finally:
        a.cleanup()
        b.cleanup()


def test_a_commit_whose_answer_was_lost_is_answered_what_happened(up):
    """The connection drops right after the server committed, before tagd read the answer:
    tagd asks the server after reconnecting and answers 201, and the tag exists once. The
    connection drops before the COMMIT reaches the server: the answer is 503 and nothing was
    written. /metrics counts both, and the log says what happened."""
    store = up.new_db()
    proxy = Proxy(up.port)
    s = server(proxy.url(store))
    try:
        A = Api(s, ADMIN_TOKEN)
        assert A.post("/v1/tags", json={"name": "Lost.warmup"}).status_code == 201
        proxy.cut = "after"
        r = A.post("/v1/tags", json={"name": "Lost.after"})
        assert proxy.cuts == 1
        assert r.status_code == 201, r.text
        assert A.get("/v1/tags/Lost.after").status_code == 200
        ch = A.get("/v1/changes?since=%d" % (rev(r) - 1)).json()["items"]
        assert [c["after"]["name"] for c in ch if c["entity"] == "tag"] == ["Lost.after"]

        proxy.cut = "before"
        r = A.post("/v1/tags", json={"name": "Lost.before"})
        assert proxy.cuts == 2
        assert r.status_code == 503, r.text + s.read_log()[-3000:]
        assert r.headers.get("Retry-After") == "1"
        assert "nothing of it was committed" in r.json()["error"]["message"]
        assert A.get("/v1/tags/Lost.before").status_code == 404
        assert A.post("/v1/tags", json={"name": "Lost.before"}).status_code == 201

        m = A.get("/metrics").text
        assert 'tagd_store_lost_commits_total{outcome="committed"} 1' in m, m
        assert 'tagd_store_lost_commits_total{outcome="aborted"} 1' in m, m
        log = s.read_log()
        assert "had committed" in log and "had not committed" in log
    finally:
        s.cleanup()
        proxy.close()


def test_a_frozen_instance_holds_the_others_up_two_seconds_at_most(up):
    """A is stopped (SIGSTOP) while its write transaction holds the revision counter's lock
    (a trigger makes its insert take 0.5 s). A write on B waits for that lock; the server
    ends A's session once it sits idle in its transaction for --store-hold-timeout (default
    2 s), so B's write is answered within about 2.5 s, not after statement_timeout (30 s).
    A, resumed, answers 503 and wrote nothing. B's /metrics shows the lock wait."""
    store = up.new_db()
    a = server(store)
    b = server(store)
    db = store.rpartition("/")[2]
    up.sql("CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
           " PERFORM pg_sleep(0.5); RETURN NEW; END $$;"
           "CREATE TRIGGER slow BEFORE INSERT ON tags FOR EACH ROW"
           " WHEN (NEW.name = 'Frozen') EXECUTE FUNCTION slow()", db=db)
    A, B = Api(a, ADMIN_TOKEN), Api(b, ADMIN_TOKEN)
    box = {}

    def write_on_a():
        box["a"] = A.post("/v1/tags", json={"name": "Frozen"}, timeout=60)

    th = threading.Thread(target=write_on_a)
    try:
        assert B.post("/v1/tags", json={"name": "Other.first"}).status_code == 201
        th.start()
        time.sleep(0.25)  # A's writer is inside the trigger, holding the lock
        a.proc.send_signal(signal.SIGSTOP)
        t0 = time.time()
        try:
            r = B.post("/v1/tags", json={"name": "Other.second"}, timeout=8)
        except (requests.RequestException, OSError):
            pytest.fail("B's write waited over 8 s for the frozen instance")
        waited = time.time() - t0
        assert r.status_code == 201, r.text + b.read_log()[-3000:]
        assert waited < 3.0, waited
        a.proc.send_signal(signal.SIGCONT)
        th.join(30)
        assert box["a"].status_code == 503, box["a"].text
        assert B.get("/v1/tags/Frozen").status_code == 404
        m = B.get("/metrics").text
        assert re.search(r"^tagd_store_lock_waits_total [1-9]", m, re.M), m
        w = float(re.search(r"^tagd_store_lock_wait_seconds_total (\S+)", m, re.M).group(1))
        assert w >= 1.0, m
    finally:
        if a.proc:
            a.proc.send_signal(signal.SIGCONT)
        th.join(30)
        a.cleanup()
        b.cleanup()


def test_a_read_that_names_a_revision_checks_tokens_as_of_it(up):
    """B polls (no LISTEN, every 5 s) and caches token checks for a minute. A token B has
    just checked is revoked through A at revision N: a read on B with X-Tagd-Min-Revision: N
    is refused (401), although B's tailer has not applied N yet."""
    store = up.new_db()
    a = server(store)
    b = server(store, "--tail-poll", "5000", "--auth-cache", "60000",
               env={"TAGD_PG_NO_LISTEN": "1"})
    try:
        A = Api(a, ADMIN_TOKEN)
        t = A.post("/v1/tokens", json={"name": "revoked", "rights": ["tags:read"]})
        assert t.status_code == 201, t.text
        tok = t.json()
        B = Api(b, tok["token"])
        r = B.get("/v1/tags", headers={"X-Tagd-Min-Revision": str(rev(t))})
        assert r.status_code == 200, r.text  # checked, and cached
        d = A.delete("/v1/tokens/%s" % tok["id"])
        assert d.status_code == 204, d.text
        r = B.get("/v1/tags", headers={"X-Tagd-Min-Revision": str(rev(d))})
        assert r.status_code == 401, (r.status_code, r.text)
        r = B.get("/v1/tags/x", headers={"X-Tagd-Min-Revision": str(rev(d))})
        assert r.status_code == 401, (r.status_code, r.text)
    finally:
        a.cleanup()
        b.cleanup()


def test_without_txid_current_writes_go_on_and_a_lost_commit_is_unknown(up):
    """An engine without txid_current() (a function that raises undefined_function stands in
    for it): writes still work, and a commit whose answer was lost answers 500 (outcome
    unknown), never a 503 that would say nothing was committed."""
    store = up.new_db()
    db = store.rpartition("/")[2]
    up.sql("CREATE FUNCTION public.txid_current() RETURNS bigint LANGUAGE plpgsql AS $$ BEGIN"
           " RAISE EXCEPTION 'no such function' USING ERRCODE = 'undefined_function'; END $$;"
           "ALTER DATABASE \"%s\" SET search_path = public, pg_catalog" % db, db=db)
    proxy = Proxy(up.port)
    s = server(proxy.url(store))
    try:
        A = Api(s, ADMIN_TOKEN)
        assert A.post("/v1/tags", json={"name": "NoXid.one"}).status_code == 201
        proxy.cut = "after"
        r = A.post("/v1/tags", json={"name": "NoXid.two"})
        assert proxy.cuts == 1
        assert r.status_code == 500, r.text
        assert A.get("/v1/tags/NoXid.two").status_code == 200  # it had committed
        assert 'tagd_store_lost_commits_total{outcome="unknown"} 1' in A.get("/metrics").text
        assert "has no txid_current()" in s.read_log()
    finally:
        s.cleanup()
        proxy.close()
