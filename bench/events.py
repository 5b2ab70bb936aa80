#!/usr/bin/python3
"""Commit-to-SSE latency and write throughput with N subscribers (issue 21).

Usage: bench/events.py TAGD_BIN [SUBSCRIBERS] [WRITES] [WRITERS]
Starts tagd on a fresh data dir, opens SUBSCRIBERS GET /v1/events streams, runs WRITES tag
creations from WRITERS threads, and prints: writes/s; for each write, the time from the
write's answer (committed and durable) to its event at every subscriber (p50, p99, max); and
the same load with no subscriber, for the ratio. Standard library only."""
import http.client
import json
import os
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


def subscriber(port, since, want, seen, ready):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("GET", "/v1/events?since=%d" % since, headers={"Authorization": "Bearer " + TOKEN})
    r = c.getresponse()
    ready.release()
    mine = {}
    while len(mine) < want:
        line = r.readline()
        if not line:
            break
        if line.startswith(b"id: "):
            rev = int(line[4:].split(b"-")[0])
            mine.setdefault(rev, time.monotonic())
    seen.append(mine)
    c.close()


def run(port, subs, writes, writers, base):
    seen, ready = [], threading.Semaphore(0)
    ts = [threading.Thread(target=subscriber, args=(port, base, writes, seen, ready)) for _ in range(subs)]
    for t in ts:
        t.start()
    for _ in ts:
        ready.acquire()
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
    for t in ts:
        t.join(120)
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
