#!/usr/bin/python3
"""Commit-to-SSE latency and write throughput with N subscribers (issue 21).

Usage: bench/events.py TAGD_BIN [SUBSCRIBERS] [WRITES] [WRITERS]
Starts tagd on a fresh data dir, opens SUBSCRIBERS GET /v1/events streams, runs WRITES tag
creations from WRITERS threads, and prints: writes/s; for each write, the time from the
write's answer (committed and durable) to its event at every subscriber (p50, p99, max); and
the same load with no subscriber, for the ratio. Standard library only."""
import http.client
import json
import multiprocessing
import os
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

TOKEN = "bench-admin-token-0123456789"


def start(binary):
    d = tempfile.mkdtemp(prefix="tagd-evbench-")
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    env = dict(os.environ, TAGD_ADMIN_TOKEN=TOKEN)
    p = subprocess.Popen([binary, "--data", d, "--listen", "127.0.0.1:%d" % port],
                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request("GET", "/healthz")
            if c.getresponse().status == 200:
                return p, port, d
        except OSError:
            time.sleep(0.05)
    raise SystemExit("tagd did not start")


def post(c, name):
    c.request("POST", "/v1/tags", body=json.dumps({"name": name}),
              headers={"Authorization": "Bearer " + TOKEN, "Content-Type": "application/json"})
    r = c.getresponse()
    r.read()
    assert r.status == 201, r.status
    return int(r.getheader("X-Tagd-Revision"))


def subscribers(port, since, n, want, out, ready):
    """The N streams, read by one process of its own with raw reads: as threads of the writers'
    interpreter (the first version) they took its lock for every line of 100 streams and so
    slowed the writers and delayed their own clocks, not tagd. Puts, per stream, the first
    arrival time of each revision."""
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=60)
        s.sendall(("GET /v1/events?since=%d HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s"
                   "\r\n\r\n" % (since, TOKEN)).encode())
        socks.append(s)
    ready.set()
    sel = selectors.DefaultSelector()
    state = {}
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        state[s] = [b"", {}]
    left = set(socks)
    deadline = time.monotonic() + 300
    while left and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=1):
            s = key.fileobj
            try:
                b = s.recv(1 << 16)
            except BlockingIOError:
                continue
            now = time.monotonic()
            st = state[s]
            if not b:
                left.discard(s)
                sel.unregister(s)
                continue
            buf = st[0] + b
            cut = buf.rfind(b"\n")
            st[0] = buf[cut + 1:]
            for line in buf[:cut + 1].split(b"\n"):
                if line.startswith(b"id: "):
                    st[1].setdefault(int(line[4:].split(b"-")[0]), now)
            if len(st[1]) >= want and s in left:
                left.discard(s)
                sel.unregister(s)
    out.put([state[s][1] for s in socks])
    for s in socks:
        s.close()


def run(port, subs, writes, writers, base):
    out, ready = multiprocessing.Queue(), multiprocessing.Event()
    reader = None
    if subs:
        reader = multiprocessing.Process(target=subscribers,
                                         args=(port, base, subs, writes, out, ready))
        reader.start()
        ready.wait(60)
        time.sleep(1)  # every stream has had its first fill
    answered = {}
    per = writes // writers

    def writer(k):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for i in range(per):
            rev = post(c, "B%d.w%d.t%05d" % (base, k, i))
            answered[rev] = time.monotonic()
        c.close()

    start = time.monotonic()
    ws = [threading.Thread(target=writer, args=(k,)) for k in range(writers)]
    for w in ws:
        w.start()
    for w in ws:
        w.join()
    took = time.monotonic() - start
    seen = []
    if reader:
        seen = out.get(timeout=300)
        reader.join(60)
    lat = sorted(m[rev] - at for m in seen for rev, at in answered.items() if rev in m)
    return per * writers / took, lat


def cpu(pid):
    """CPU seconds (user + system) the process used so far."""
    with open("/proc/%d/stat" % pid) as f:
        v = f.read().rsplit(")", 1)[1].split()
    return (int(v[11]) + int(v[12])) / os.sysconf("SC_CLK_TCK")


def pct(v, p):
    return v[min(len(v) - 1, int(len(v) * p))] * 1000 if v else float("nan")


def main():
    binary = sys.argv[1]
    subs = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    writes = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
    writers = int(sys.argv[4]) if len(sys.argv) > 4 else 4
    p, port, d = start(binary)
    try:
        c = http.client.HTTPConnection("127.0.0.1", port)
        base = post(c, "Warm")
        c0 = cpu(p.pid)
        w0, _ = run(port, 0, writes, writers, base + 1000000)
        c1 = cpu(p.pid)
        c.request("GET", "/v1/changes?since=0&limit=1", headers={"Authorization": "Bearer " + TOKEN})
        r = c.getresponse()
        r.read()
        base = int(r.getheader("X-Tagd-Revision"))
        wn, lat = run(port, subs, writes, writers, base)
        c2 = cpu(p.pid)
        print("subscribers=%d writes=%d writers=%d" % (subs, writes, writers))
        print("writes/s without subscribers: %.0f" % w0)
        print("writes/s with %d subscribers: %.0f (%.2fx)" % (subs, wn, wn / w0))
        print("answer-to-event latency over %d events: p50 %.1f ms, p99 %.1f ms, max %.1f ms"
              % (len(lat), pct(lat, 0.5), pct(lat, 0.99), lat[-1] * 1000 if lat else float("nan")))
        print("tagd CPU per write: %.2f ms without subscribers, %.2f ms with %d"
              % ((c1 - c0) * 1000 / writes, (c2 - c1) * 1000 / writes, subs))
        print("events delivered: %d of %d" % (len(lat), subs * writes // writers * writers))
    finally:
        p.terminate()
        p.wait(30)
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
