"""Shared fixtures for the end-to-end API suites.

Every test module gets its own tagd process on a free port with a fresh data directory and a
known admin token (TAGD_ADMIN_TOKEN). The binary is $TAGD_BIN or build/tagd. Tests speak plain
HTTP with requests; nothing here knows a dialect."""
import hashlib
import os
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest
import requests

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ADMIN_TOKEN = "test-admin-token-0123456789"


def listens(pid, port):
    """Whether process `pid` holds a listening TCP socket on 127.0.0.1:`port` (/proc)."""
    inodes = set()
    try:
        with open("/proc/net/tcp") as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and int(fields[1].split(":")[1], 16) == port:
                    inodes.add("socket:[%s]" % fields[9])
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                if os.readlink("/proc/%d/fd/%s" % (pid, fd)) in inodes:
                    return True
            except OSError:
                continue
    except OSError:
        return False
    return False


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_store_for(data_dir):
    """With TAGD_TEST_STORE=postgres://... (tests/pg/start), every data directory gets its own
    database on that cluster, created on first use, so suites stay as isolated as on SQLite."""
    base = os.environ.get("TAGD_TEST_STORE", "")
    if not base.startswith(("postgres://", "postgresql://")):
        return None
    name = "t_" + hashlib.sha1(os.path.realpath(data_dir).encode()).hexdigest()[:20]
    root, _, _ = base.rpartition("/")
    found = subprocess.run(["psql", "-XAtq", base, "-c",
                            "SELECT 1 FROM pg_database WHERE datname = '%s'" % name],
                           capture_output=True, text=True, check=True).stdout.strip()
    if found != "1":
        subprocess.run(["psql", "-Xq", base, "-c", 'CREATE DATABASE "%s"' % name],
                       capture_output=True, check=True)
    return root + "/" + name


def pg_drop(store):
    base = os.environ.get("TAGD_TEST_STORE", "")
    if store and base:
        subprocess.run(["psql", "-Xq", base, "-c", 'DROP DATABASE IF EXISTS "%s" WITH (FORCE)'
                        % store.rpartition("/")[2]], capture_output=True)


class PortTaken(Exception):
    pass


class Server:
    """A running tagd. `url` is its base URL; `admin` a requests.Session with the admin token."""

    def __init__(self, extra_args=None, env=None, data_dir=None, wrap=None):
        self.bin = os.environ.get("TAGD_BIN", os.path.join(ROOT, "build", "tagd"))
        self.data = data_dir or tempfile.mkdtemp(prefix="tagd-test-")
        self.owns_data = data_dir is None
        self.extra_args = list(extra_args or [])
        self.wrap = list(wrap or [])  # a command tagd runs under, e.g. prlimit
        self.env_extra = dict(env or {})
        self.proc = None
        self.port = None
        self.log_path = os.path.join(self.data, "server.log")
        self.store = None

    def start(self):
        # free_port() only finds a port that was free a moment ago; when another test's server
        # takes it first, tagd refuses to share it and exits: try another port.
        for attempt in range(5):
            try:
                return self._start_once()
            except PortTaken:
                continue
        raise RuntimeError("no free port after 5 attempts")

    def _start_once(self):
        self.port = free_port()
        env = dict(os.environ)
        env["TAGD_ADMIN_TOKEN"] = ADMIN_TOKEN
        env.update(self.env_extra)
        args = [self.bin, "--data", self.data, "--listen", "127.0.0.1:%d" % self.port]
        if not any(a == "--store" or a.startswith("--store=") for a in self.extra_args):
            self.store = self.store or pg_store_for(self.data)
            if self.store:
                args += ["--store", self.store]
        args += self.extra_args
        # TAGD_WRAP runs the server under a tool, e.g. "valgrind --error-exitcode=99 ...".
        wrap = os.environ.get("TAGD_WRAP")
        if wrap:
            args = shlex.split(wrap) + args
        args = self.wrap + args
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=self.log, env=env)
        deadline = time.time() + (120 if os.environ.get("TAGD_WRAP") else 20)
        while time.time() < deadline:
            if self.proc.poll() is not None:
                self.log.close()
                if "address already in use" in self.read_log().split("tagd exited early")[-1][-2000:]:
                    self.proc = None
                    raise PortTaken()
                raise RuntimeError("tagd exited early (%s):\n%s" % (self.proc.returncode, self.read_log()))
            try:
                # Another test's server that took the port answers too: ready means ours holds
                # the listening socket (ours then fails to bind, exits, and gets another port).
                if requests.get(self.url + "/healthz", timeout=0.5).status_code == 200:
                    if listens(self.proc.pid, self.port):
                        return self
                    time.sleep(0.05)
            except requests.RequestException:
                time.sleep(0.05)
        raise RuntimeError("tagd did not become healthy:\n" + self.read_log())

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.log.close()
        rc = self.proc.returncode if self.proc else None
        self.proc = None
        return rc

    def restart(self):
        self.stop()
        return self.start()

    def read_log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def cleanup(self):
        rc = self.stop()
        log = self.read_log()
        if self.owns_data:
            shutil.rmtree(self.data, ignore_errors=True)
            pg_drop(self.store)
        # Under the sanitizers a report or an unclean exit fails the module.
        for marker in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
            assert marker not in log, "sanitizer report:\n" + log[-8000:]
        assert rc in (0, None), "tagd exited with %s after SIGTERM:\n%s" % (rc, log[-4000:])

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def session(self, token=ADMIN_TOKEN, scheme="Bearer"):
        s = requests.Session()
        if token is not None:
            s.headers["Authorization"] = ("%s %s" % (scheme, token)) if scheme else token
        s.base = self.url
        return s

    def token(self, rights, name="t", **extra):
        """Issues a native API token with the given rights and returns its secret."""
        body = {"name": name, "rights": rights}
        body.update(extra)
        r = requests.post(self.url + "/v1/tokens", json=body,
                          headers={"Authorization": "Bearer " + ADMIN_TOKEN}, timeout=10)
        assert r.status_code == 201, r.text
        return r.json()["token"]


@pytest.fixture(scope="module")
def server():
    s = Server().start()
    yield s
    s.cleanup()


@pytest.fixture(scope="module")
def admin(server):
    return Api(server, ADMIN_TOKEN)


class Api:
    """Tiny helper: api.get('/v1/tags') -> requests.Response, with the token set."""

    def __init__(self, server, token, scheme="Bearer"):
        self.server = server
        self.s = server.session(token, scheme)

    def request(self, method, path, **kw):
        kw.setdefault("timeout", 30)
        return self.s.request(method, self.server.url + path, **kw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def put(self, path, **kw):
        return self.request("PUT", path, **kw)

    def patch(self, path, **kw):
        return self.request("PATCH", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)


def raw_request(port, data, timeout=5):
    """Sends raw bytes and returns what the server answered before closing or timing out."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as c:
        c.sendall(data)
        chunks = []
        try:
            while True:
                b = c.recv(65536)
                if not b:
                    break
                chunks.append(b)
                if b"\r\n\r\n" in b"".join(chunks) and len(b) < 65536:
                    # One response is enough for these probes.
                    head, _, rest = b"".join(chunks).partition(b"\r\n\r\n")
                    cl = [l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
                    if cl and len(rest) >= int(cl[0].split(b":")[1]):
                        break
        except socket.timeout:
            pass
    return b"".join(chunks)


# Tests about the SQLite file itself (its disk filling up, reading it directly): nothing to
# test on PostgreSQL.
SQLITE_ONLY = {"test_full_disk_gives_clean_errors_and_recovers", "test_secrets_are_stored_hashed",
               "test_write_answers_follow_a_wal_flush"}


def pytest_collection_modifyitems(config, items):
    if not os.environ.get("TAGD_TEST_STORE"):
        return
    for item in items:
        if item.originalname in SQLITE_ONLY or item.name in SQLITE_ONLY:
            item.add_marker(pytest.mark.skip(reason="SQLite-only (TAGD_TEST_STORE is set)"))
