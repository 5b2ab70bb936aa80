#!/usr/bin/python3
"""bench/evcost.py: tagd's instructions per durable write with N /v1/events subscribers.

For comparing builds on a loaded machine, where wall-clock figures move too much (issue 21's
target: durable write throughput with 100 subscribers at least 0.9x of that with none; on a
CPU-bound machine that is tagd's instructions per write with 100 subscribers at most about
1.1x of those with none). For each binary and each subscriber count: tagd on a fresh data dir
under `valgrind --tool=callgrind --instr-atstart=no`; the subscribers connect (one Python
thread reads them all, raw bytes); callgrind_control switches instrumentation on, WRITES tag
creations run from WRITERS threads, and it is switched off once every subscriber has the
last write's event. The instructions counted (every thread of tagd: the writer, the
publisher, the loops filling the streams) are divided by the writes. Under valgrind the
threads run one at a time and everything is slower, so commits are smaller batches than at
full speed: compare the figures with each other, not with wall-clock runs.

  bench/evcost.py build/tagd [/tmp/base/build/tagd] [--subscribers 0,100] [--writes 300]

With --wall, no valgrind: writes/s and tagd's user and system CPU per write (/proc), whose
system share (the kernel's sends to every subscriber) callgrind does not see.
"""
import argparse
import glob
import http.client
import json
import multiprocessing
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

TOKEN = "bench-admin-token-0123456789"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


EXTRA = []


def start(tagd, data, out, wall):
    port = free_port()
    env = dict(os.environ, TAGD_ADMIN_TOKEN=TOKEN)
    wrap = [] if wall else ["valgrind", "--tool=callgrind", "--instr-atstart=no",
                            "--callgrind-out-file=" + out]
    p = subprocess.Popen(wrap + [tagd, "--data", data,
                          "--listen", "127.0.0.1:%d" % port, "--log-level", "warn",
                          "--max-conns-per-addr", "100000"] + EXTRA,
                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline:
        if p.poll() is not None:
            raise SystemExit("tagd exited: %s" % p.returncode)
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/healthz")
            if c.getresponse().status == 200:
                return p, port
        except OSError:
            time.sleep(0.5)
    raise SystemExit("tagd did not start")


def post(c, name):
    c.request("POST", "/v1/tags", body=json.dumps({"name": name}),
              headers={"Authorization": "Bearer " + TOKEN, "Content-Type": "application/json"})
    r = c.getresponse()
    r.read()
    assert r.status == 201, r.status


def subscribe(port, n):
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=120)
        s.sendall(("GET /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n"
                   % TOKEN).encode())
        socks.append(s)
    return socks


def drain(socks, marker, done):
    """Reads every socket until each has seen `marker` (kept across reads)."""
    sel = selectors.DefaultSelector()
    tail = {}
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        tail[s] = b""
    left = set(socks)
    while left and not done.is_set():
        for key, _ in sel.select(timeout=1):
            s = key.fileobj
            try:
                b = s.recv(1 << 16)
            except BlockingIOError:
                continue
            if not b:
                raise SystemExit("a stream ended")
            t = tail[s] + b
            if s in left and marker in t:
                left.discard(s)
            tail[s] = t[-len(marker):]
    return not left


def cpu(pid):
    """(user, system) CPU seconds of the process so far."""
    with open("/proc/%d/stat" % pid) as f:
        v = f.read().rsplit(")", 1)[1].split()
    return int(v[11]) / os.sysconf("SC_CLK_TCK"), int(v[12]) / os.sysconf("SC_CLK_TCK")


def run(tagd, subs, writes, writers, work, wall):
    data = tempfile.mkdtemp(prefix="evcost-", dir=work)
    out = os.path.join(work, "callgrind.%d.out" % subs)
    for f in glob.glob(out + "*"):
        os.remove(f)
    p, port = start(tagd, data, out, wall)
    try:
        socks = subscribe(port, subs)
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        post(c, "EvWarm")  # every stream has had its first fill
        time.sleep(2)
        marker = b'"name":"EvLast"'
        # The reader is a process of its own: as a thread it took the writers' interpreter
        # lock for every read of 100 streams, and so slowed the clients, not tagd.
        done = multiprocessing.Event()
        got = multiprocessing.Queue()
        reader = multiprocessing.Process(target=lambda: got.put(drain(socks, marker, done)))
        reader.start()
        if not wall:
            subprocess.run(["callgrind_control", "-i", "on", str(p.pid)], check=True,
                           stdout=subprocess.DEVNULL)
        c0 = cpu(p.pid)
        t0 = time.time()

        def writer(k):
            wc = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
            for i in range(k, writes, writers):
                post(wc, "Ev%d" % i)
        ts = [threading.Thread(target=writer, args=(k,)) for k in range(writers)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        post(http.client.HTTPConnection("127.0.0.1", port, timeout=600), "EvLast")
        if subs:
            ok_early = got.get(timeout=600)
            got.put(ok_early)
        took = time.time() - t0
        c1 = cpu(p.pid)
        if not wall:
            subprocess.run(["callgrind_control", "-i", "off", str(p.pid)], check=True,
                           stdout=subprocess.DEVNULL)
        done.set()
        ok = got.get(timeout=60)
        reader.join(60)
        assert not subs or ok, "subscribers did not get every event"
        for s in socks:
            s.close()
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=600)
        shutil.rmtree(data, ignore_errors=True)
    if wall:
        return (writes + 1) / took, (c1[0] - c0[0]) / (writes + 1), (c1[1] - c0[1]) / (writes + 1)
    ir = 0
    for f in glob.glob(out + "*"):
        for line in open(f):
            if line.startswith("summary:") or line.startswith("totals:"):
                ir = max(ir, int(line.split()[1]))
    return ir / (writes + 1), took


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tagd", nargs="+")
    ap.add_argument("--subscribers", default="0,100")
    ap.add_argument("--writes", type=int, default=300)
    ap.add_argument("--writers", type=int, default=4)
    ap.add_argument("--work", default=tempfile.gettempdir())
    ap.add_argument("--wall", action="store_true",
                    help="no valgrind: writes/s and tagd's user and system CPU per write")
    ap.add_argument("--tagd-arg", action="append", default=[],
                    help="one more argument for tagd (e.g. --tagd-arg=--events-batch=25)")
    a = ap.parse_args()
    EXTRA.extend(a.tagd_arg)
    for tagd in a.tagd:
        base = None
        for n in [int(x) for x in a.subscribers.split(",")]:
            if a.wall:
                wps, usr, sys_ = run(tagd, n, a.writes, a.writers, a.work, True)
                base = wps if base is None else base
                print("%s: %d subscribers: %.0f writes/s (%.2fx of the first), tagd CPU per "
                      "write %.0f us user, %.0f us system" % (tagd, n, wps, wps / base,
                                                             usr * 1e6, sys_ * 1e6), flush=True)
                continue
            per, took = run(tagd, n, a.writes, a.writers, a.work, False)
            base = per if base is None else base
            print("%s: %d subscribers: %.0f instructions per write (%.2fx of the first), "
                  "%.1f s under callgrind" % (tagd, n, per, per / base, took), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
