"""Clients without any token must not take tagd away from everyone else (docs/security.md,
"Budgets"): descriptors, connections per address, idle floods, bodies held open. Each attack
runs in its own process from other loopback addresses (127.0.0.2 and up) while a normal client
on 127.0.0.1, with a token, measures its latency: its p99 stays under 50 ms and it is never
refused. Excluded from the valgrind pass, like test_hardening.py: the bounds are timings."""
import os
import re
import subprocess
import sys
import textwrap
import time

import pytest
import requests

from conftest import ADMIN_TOKEN, Server

H = {"Authorization": "Bearer " + ADMIN_TOKEN}
# Under the sanitizers these tests are about memory safety under attack, not timings: ASan's
# tagd is several times slower and keeps freed memory in quarantine (256 MB), so the latency and
# CPU bounds are loose there (they still catch a lockout or a spin) and RSS is not compared;
# the body bytes tagd reports it holds are, in every build.
SANITIZED = bool(os.environ.get("TAGD_SANITIZED"))
P99 = 1.0 if SANITIZED else 0.05  # a normal client's p99, s
# tagd's CPU seconds over the 3 s of idle flood. The flood reconnects 2,000 times a second, and
# each refused connection costs an accept and a close (kernel time, most of it on this VM's
# wakeups); the spin this guards against took a whole core, 3 s.
CPU = 2.5 if SANITIZED else 2.0

# The attacker: holds `n` sockets from `naddrs` source addresses for `seconds`, reopening those
# the server closes, at most REOPEN_PER_S a second (above that the test machine's two cores
# measure only how fast Python can reconnect). Mode "idle" sends nothing; "body" sends a POST
# head announcing 2 MB and all but the last byte of it, without credentials (or with a made-up
# one: "fakeauth").
ATTACK = textwrap.dedent(r'''
    import errno, resource, selectors, socket, struct, sys, time
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    port, n, naddrs, seconds, mode = (int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]),
                                      float(sys.argv[4]), sys.argv[5])
    BODY = 2 * 1024 * 1024
    head = b"POST /v1/tags HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    if mode == "fakeauth":
        head += b"Authorization: Bearer not-a-token\r\n"
    head += b"Content-Length: %d\r\n\r\n" % BODY
    # A memoryview, so that each send() slices without copying up to 2 MB: with copies the
    # attacker alone took a core, and the normal client measured the machine, not tagd.
    payload = memoryview(head + b"[" + b" " * (BODY - 1))
    total = len(payload) - 1  # all but the last byte
    REOPEN_PER_S = 2000
    next_open = 0.0
    sel = selectors.DefaultSelector()
    opened = closed = answered = 0
    statuses = {}
    def open_one(i):
        global opened
        s = socket.socket()
        # Closed with a reset: unsent body bytes must not stay behind in orphaned sockets,
        # which on loopback would weigh on the kernel memory every other test shares.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.bind(("127.0.0.%d" % (2 + i % naddrs), 0))
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        opened += 1
        sel.register(s, selectors.EVENT_READ | (selectors.EVENT_WRITE if mode != "idle" else 0),
                     {"sent": 0, "i": i, "buf": b""})
    for i in range(n):
        open_one(i)
    end = time.time() + seconds
    while time.time() < end:
        for key, ev in sel.select(0.05):
            s, st = key.fileobj, key.data
            gone = False
            if ev & selectors.EVENT_READ:
                try:
                    d = s.recv(65536)
                    st["buf"] += d
                    gone = not d
                except OSError:
                    gone = True
            if not gone and ev & selectors.EVENT_WRITE:
                try:
                    if st["sent"] < total:
                        st["sent"] += s.send(payload[st["sent"]:total])
                    if st["sent"] >= total:
                        sel.modify(s, selectors.EVENT_READ, st)
                except BlockingIOError:
                    pass
                except OSError:
                    gone = True
            if gone:
                m = st["buf"][:12]
                if m.startswith(b"HTTP/1.1 "):
                    statuses[m[9:12].decode()] = statuses.get(m[9:12].decode(), 0) + 1
                sel.unregister(s)
                s.close()
                closed += 1
                now = time.time()
                next_open = max(next_open, now) + 1.0 / REOPEN_PER_S
                if next_open > now:
                    time.sleep(next_open - now)
                open_one(st["i"])
    for key in list(sel.get_map().values()):
        key.fileobj.close()
    print("opened=%d closed=%d statuses=%s" % (opened, closed, statuses), flush=True)
''')


def attack(port, n, naddrs, seconds, mode):
    return subprocess.Popen([sys.executable, "-c", ATTACK, str(port), str(n), str(naddrs),
                             str(seconds), mode], stdout=subprocess.PIPE, text=True)


def normal_client(server, seconds, gap=0.005, probe=None):
    """Requests with a token on fresh connections for `seconds`: (latencies, failures).
    `probe`, if given, runs between requests, outside the timing."""
    lat, failures = [], []
    end = time.time() + seconds
    while time.time() < end:
        if probe:
            probe()
        t0 = time.perf_counter()
        try:
            r = requests.get(server.url + "/v1/tags?limit=5", headers=H, timeout=5)
            if r.status_code != 200:
                failures.append(r.status_code)
        except requests.RequestException as e:
            failures.append(repr(e))
        lat.append(time.perf_counter() - t0)
        time.sleep(gap)
    return lat, failures


def p99(lat):
    lat = sorted(lat)
    return lat[min(len(lat) - 1, int(len(lat) * 0.99))]


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1)) / 1024


class BodyBytes:
    """The largest tagd_body_bytes seen: what tagd says request bodies hold."""

    def __init__(self, server):
        self.server, self.peak = server, 0

    def __call__(self):
        self.peak = max(self.peak, metric(self.server, "tagd_body_bytes"))


def tagd_pid(server):
    """The tagd process itself, also when it runs under a wrapper that exec()s it."""
    return server.proc.pid


def metric(server, name, reason=None):
    m = requests.get(server.url + "/metrics").text
    pat = r"^%s%s (\d+)$" % (re.escape(name), r'\{reason="%s"\}' % reason if reason else "")
    return int(re.search(pat, m, re.M).group(1))


def settle(server):
    """Wait for the loop to notice the closed attack sockets."""
    deadline = time.time() + 10
    while time.time() < deadline:
        m = requests.get(server.url + "/metrics").text
        if int(re.search(r'^tagd_connections\{loop="0"\} (\d+)$', m, re.M).group(1)) <= 2:
            return
        time.sleep(0.1)


def test_descriptor_limit_is_fitted_and_not_spun_on():
    """Soft and hard open-files limit 256 with the default --max-conns 4096: tagd fits its
    connections to what it has, says so, and 400 idle sockets neither spin it nor lock out a
    client with a token."""
    s = Server(wrap=["prlimit", "--nofile=256:256"]).start()
    try:
        assert "does not fit 256 open files" in s.read_log()
        a = attack(s.port, 400, 8, 6, "idle")
        time.sleep(1.5)
        pid = tagd_pid(s)
        c0 = cpu_seconds(pid)
        lat, failures = normal_client(s, 3)
        used = cpu_seconds(pid) - c0
        out = a.communicate(timeout=30)[0]
        assert not failures, (failures, out)
        assert p99(lat) < P99, (p99(lat), out)
        # Not a spin on a readable listener.
        assert used < CPU, used
        settle(s)
    finally:
        s.cleanup()


def test_connections_per_address():
    s = Server(extra_args=["--max-conns-per-addr", "10"]).start()
    try:
        import socket
        mine = []
        for _ in range(10):
            c = socket.socket()
            c.bind(("127.0.0.2", 0))
            c.connect(("127.0.0.1", s.port))
            mine.append(c)
        c = socket.socket()
        c.bind(("127.0.0.2", 0))
        c.connect(("127.0.0.1", s.port))
        c.settimeout(5)
        try:
            c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert c.recv(4096) == b""  # the eleventh of one address is closed at once
        except (ConnectionResetError, BrokenPipeError):
            pass
        c.close()
        other = socket.socket()
        other.bind(("127.0.0.3", 0))
        other.connect(("127.0.0.1", s.port))
        other.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert other.recv(4096).startswith(b"HTTP/1.1 200")
        other.close()
        assert metric(s, "tagd_connections_rejected_total", "addr") >= 1
        for c in mine:
            c.close()
    finally:
        s.cleanup()


def test_idle_flood_does_not_lock_out_clients_with_tokens():
    """4,300 idle sockets from 20 addresses, reopened as they are closed."""
    s = Server().start()
    try:
        a = attack(s.port, 4300, 20, 8, "idle")
        time.sleep(3)
        lat, failures = normal_client(s, 4)
        out = a.communicate(timeout=60)[0]
        assert not failures, (failures, out)
        assert p99(lat) < P99, (p99(lat), sorted(lat)[-5:], out)
        assert metric(s, "tagd_connections_rejected_total", "evicted") > 0
        settle(s)
    finally:
        s.cleanup()


def body_attack(s, n, naddrs, seconds, mode, status, rss_bound, held_bound, reason):
    """Runs a body attack against `s` while a normal client measures; checks it is never
    refused, keeps its p99, that attackers got `status`, and what tagd holds meanwhile."""
    pid = tagd_pid(s)
    before = rss_mb(pid)
    a = attack(s.port, n, naddrs, seconds, mode)
    time.sleep(seconds / 3)
    held = BodyBytes(s)
    lat, failures = normal_client(s, 3, probe=held)
    peak = rss_mb(pid)
    out = a.communicate(timeout=60)[0]
    assert not failures, (failures, out)
    assert p99(lat) < P99, (p99(lat), len(lat), sorted(lat)[-5:], out)
    assert "'%d'" % status in out, out
    assert SANITIZED or peak - before < rss_bound, (before, peak, out)
    assert held.peak < held_bound, held.peak
    assert metric(s, "tagd_bodies_refused_total", reason) > 0


def test_bodies_without_credentials_are_refused_early():
    """200 unauthenticated POSTs that send all but the last byte of 2 MB: each is answered
    413 from its head, before its body is read, so tagd's memory stays bounded (200 x 2 MB held
    would be 400 MB; refused at once it is a few MB of buffers)."""
    s = Server().start()
    try:
        body_attack(s, 200, 4, 6, "body", 413, 120, 32 << 20, "anonymous")
    finally:
        s.cleanup()


def test_bodies_in_flight_have_a_memory_budget():
    """With a made-up credential the early refusal does not apply: the budget does. 60
    connections holding 2 MB bodies against --max-body-memory-mb 16: they are answered 503 with
    Retry-After, and what tagd holds stays at the budget and what one read past it adds."""
    s = Server(extra_args=["--max-body-memory-mb", "16", "--max-body", "4194304"]).start()
    try:
        body_attack(s, 60, 2, 5, "fakeauth", 503, 100, 24 << 20, "budget")
    finally:
        s.cleanup()


def read_bytes(pid):
    """What tagd has read with read(2) and recv(2), sockets included."""
    with open("/proc/%d/io" % pid) as f:
        return int(re.search(r"^rchar: (\d+)$", f.read(), re.M).group(1))


def test_refused_bodies_are_not_read():
    """The body attack of the test above, measured in what tagd reads: once the budget is
    taken, each newcomer is refused from its head, so tagd reads little more than the heads.
    h2o 2.2.5 read on while each read filled its buffer, so against a client sending on the
    other core it read a whole 2 MB body before the head that refuses it was seen (and one
    pass of the loop over such sockets held a client with a token 60-300 ms); and bodies let in
    by their length grew buffers of twice that, were refused for it half read, and their
    clients' next tries took their places again."""
    s = Server(extra_args=["--max-body-memory-mb", "16", "--max-body", "4194304"]).start()
    try:
        pid = tagd_pid(s)
        a = attack(s.port, 60, 2, 4, "fakeauth")
        time.sleep(1.5)  # the budget is taken
        r0, n0 = read_bytes(pid), metric(s, "tagd_bodies_refused_total", "budget")
        time.sleep(2)
        r1, n1 = read_bytes(pid), metric(s, "tagd_bodies_refused_total", "budget")
        out = a.communicate(timeout=60)[0]
        refused = n1 - n0
        # A head and what came with it in one read: 8 KiB. Room for one more 2 MB body.
        assert r1 - r0 < refused * 16384 + (4 << 20), (r1 - r0, refused, out)
        assert refused > 50, (refused, out)
    finally:
        s.cleanup()


# The session flood: keep-alive connections from 127.0.0.2 starting easydb sessions for
# `seconds` at `rate` a second in all (the rate of the attacker: more is a CPU flood,
# which any request would be, and on a small shared machine it measures only the CPU); prints
# how many were started.
SESSION_FLOOD = textwrap.dedent(r'''
    import http.client, sys, threading, time
    port, conns, seconds, rate = (int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]),
                                  float(sys.argv[4]))
    counts = []
    def flood():
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=("127.0.0.2", 0))
        n, start = 0, time.time()
        while time.time() < start + seconds:
            c.request("GET", "/api/v1/session")
            r = c.getresponse()
            r.read()
            n += r.status == 200
            ahead = start + n * conns / rate - time.time()
            if ahead > 0:
                time.sleep(ahead)
        counts.append(n)
    ts = [threading.Thread(target=flood) for _ in range(conns)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    print(sum(counts))
''')


def test_session_flood_leaves_writers_alone():
    """Anonymous easydb session starts were commits on the writer: one client started 542 a
    second and writers slowed 3x (issue 18). Now they write nothing: a writer keeps its p99
    while 600 a second are started, and the only commits are its own."""
    s = Server().start()
    try:
        def commits():
            return metric(s, 'tagd_store_transactions_total{outcome="commit"}')

        before = commits()
        flood = subprocess.Popen([sys.executable, "-c", SESSION_FLOOD, str(s.port), "2", "5", "600"],
                                 stdout=subprocess.PIPE, text=True)
        time.sleep(1)
        lat, failures, writes = [], [], 0
        w = requests.Session()
        end = time.time() + 3
        while time.time() < end:
            t0 = time.perf_counter()
            r = w.post(s.url + "/v1/tags", json={"name": "Flood.w%d" % writes}, headers=H, timeout=5)
            lat.append(time.perf_counter() - t0)
            if r.status_code == 201:
                writes += 1
            else:
                failures.append(r.status_code)
            time.sleep(0.02)
        started = int(flood.communicate(timeout=60)[0])
        assert not failures, failures
        assert p99(lat) < P99, (p99(lat), sorted(lat)[-5:], started)
        assert started > 1000, started
        assert commits() - before <= writes, (commits() - before, writes, started)
    finally:
        s.cleanup()
