#!/usr/bin/python3
"""Webhook delivery: write throughput with N webhooks active against none, and the latency
from a write's answer (committed and durable) to its event reaching the receiver (issue 21).

Usage: bench/webhooks.py TAGD_BIN [WEBHOOKS] [WRITES] [WRITERS] [--batch N]
Starts tagd on a fresh data dir with --webhooks-allow-local 1 and a local receiver (this
script again, as its own process, so that it takes no CPU from the writers' interpreter: an
http.server that answers 200 and notes when each revision first reached each webhook's path);
runs WRITES tag creations from WRITERS threads with no webhook, then makes WEBHOOKS webhooks
(no filters, so each gets every record) and runs the same load again. Prints writes/s of both
runs and their ratio, tagd's CPU per write, the answer-to-receiver latency (p50, p99, max) over
every (webhook, revision), how long after the last write the last delivery came, and the
deliveries by outcome from /metrics; tagd's CPU per write is also split by thread
(tagd-webhooks is the delivery thread), and the receiver's CPU per write is shown (on a small
machine it competes with the writers). Both processes time with CLOCK_MONOTONIC
(time.monotonic), which is one clock for the whole machine. Standard library only."""
import http.client
import http.server
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
H = {"Authorization": "Bearer " + TOKEN, "Content-Type": "application/json"}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_http(port, path):
    for _ in range(200):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request("GET", path)
            if c.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("nothing answers on port %d" % port)


def receiver(port):
    """The receiver's process: first arrival of each revision per path; GET /dump gives them."""
    seen, lock = {}, threading.Lock()

    class Rx(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            now = time.monotonic()
            batch = json.loads(body)
            with lock:
                mine = seen.setdefault(self.path, {})
                for ev in batch["events"]:
                    mine.setdefault(ev["revision"], now)
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self):
            with lock:
                body = json.dumps(seen if self.path == "/dump" else {}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    http.server.ThreadingHTTPServer(("127.0.0.1", port), Rx).serve_forever()


def start(binary, batch):
    d = tempfile.mkdtemp(prefix="tagd-whbench-")
    port = free_port()
    env = dict(os.environ, TAGD_ADMIN_TOKEN=TOKEN)
    args = [binary, "--data", d, "--listen", "127.0.0.1:%d" % port, "--webhooks-allow-local", "1"]
    if batch:
        args += ["--webhook-batch", str(batch)]
    p = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_http(port, "/healthz")
    return p, port, d


def call(c, method, path, body=None):
    c.request(method, path, body=json.dumps(body) if body is not None else None, headers=H)
    r = c.getresponse()
    data = r.read()
    return r, data


def post(c, name):
    r, _ = call(c, "POST", "/v1/tags", {"name": name})
    assert r.status == 201, r.status
    return int(r.getheader("X-Tagd-Revision"))


def run(port, writes, writers, base):
    answered = {}
    per = writes // writers

    def writer(k):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for i in range(per):
            rev = post(c, "W%d.w%d.t%05d" % (base, k, i))
            answered[rev] = time.monotonic()
        c.close()

    start = time.monotonic()
    ws = [threading.Thread(target=writer, args=(k,)) for k in range(writers)]
    for w in ws:
        w.start()
    for w in ws:
        w.join()
    return per * writers / (time.monotonic() - start), answered


def cpu(pid):
    """CPU seconds (user + system) the process used so far."""
    with open("/proc/%d/stat" % pid) as f:
        v = f.read().rsplit(")", 1)[1].split()
    return (int(v[11]) + int(v[12])) / os.sysconf("SC_CLK_TCK")


def threads(pid):
    """CPU seconds (user + system) per thread name (comm) of the process so far."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                head, v = f.read().rsplit(")", 1)
        except OSError:
            continue
        name = head.split("(", 1)[1]
        v = v.split()
        out[name] = out.get(name, 0) + (int(v[11]) + int(v[12])) / os.sysconf("SC_CLK_TCK")
    return out


def pct(v, p):
    return v[min(len(v) - 1, int(len(v) * p))] * 1000 if v else float("nan")


def dump(rport):
    c = http.client.HTTPConnection("127.0.0.1", rport, timeout=30)
    c.request("GET", "/dump")
    return {path: {int(k): t for k, t in revs.items()}
            for path, revs in json.loads(c.getresponse().read()).items()}


def outcomes(port):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    r, data = call(c, "GET", "/metrics")
    out = {}
    for line in data.decode().splitlines():
        if line.startswith("tagd_webhook_deliveries_total{"):
            k, _, v = line.rpartition(" ")
            out[k.split('"')[1]] = int(float(v))
    return out


def main():
    argv = [a for a in sys.argv[1:]]
    if argv and argv[0] == "--receiver":
        receiver(int(argv[1]))
        return
    batch = 0
    if "--batch" in argv:
        i = argv.index("--batch")
        batch = int(argv[i + 1])
        del argv[i:i + 2]
    binary = argv[0]
    hooks = int(argv[1]) if len(argv) > 1 else 10
    writes = int(argv[2]) if len(argv) > 2 else 1000
    writers = int(argv[3]) if len(argv) > 3 else 4
    rport = free_port()
    rx = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--receiver", str(rport)])
    p, port, d = start(binary, batch)
    try:
        wait_http(rport, "/ping")
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        base = post(c, "Warm")
        c0, t0, r0 = cpu(p.pid), threads(p.pid), cpu(rx.pid)
        w0, _ = run(port, writes, writers, base)
        c1, t1, r1 = cpu(p.pid), threads(p.pid), cpu(rx.pid)
        for k in range(hooks):
            r, data = call(c, "POST", "/v1/webhooks",
                           {"url": "http://127.0.0.1:%d/h%d" % (rport, k)})
            assert r.status == 201, data
        base = post(c, "Hooked")
        c2, t2, r2 = cpu(p.pid), threads(p.pid), cpu(rx.pid)
        wn, answered = run(port, writes, writers, base)
        c3, t3, r3 = cpu(p.pid), threads(p.pid), cpu(rx.pid)
        last_write = max(answered.values())
        # Every webhook gets every revision of the second run; wait for the last of them.
        deadline = time.monotonic() + max(60, writes * hooks / 100)
        while True:
            seen = dump(rport)
            missing = sum(1 for k in range(hooks) for rev in answered
                          if rev not in seen.get("/h%d" % k, {}))
            if missing == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        c4 = cpu(p.pid)
        lat = sorted(seen["/h%d" % k][rev] - at for k in range(hooks) for rev, at in
                     answered.items() if rev in seen.get("/h%d" % k, {}))
        drained = max((seen["/h%d" % k][rev] for k in range(hooks) for rev in answered
                       if rev in seen.get("/h%d" % k, {})), default=last_write) - last_write
        print("command: %s" % " ".join([os.path.relpath(__file__)] + sys.argv[1:]))
        print("webhooks=%d writes=%d writers=%d webhook-batch=%s"
              % (hooks, writes, writers, batch or "default"))
        print("writes/s without webhooks: %.0f" % w0)
        print("writes/s with %d webhooks: %.0f (%.2fx)" % (hooks, wn, wn / w0))
        print("tagd CPU per write: %.2f ms without webhooks, %.2f ms with %d (%.2f ms with "
              "the deliveries after the last write)"
              % ((c1 - c0) * 1000 / writes, (c3 - c2) * 1000 / writes, hooks,
                 (c4 - c2) * 1000 / writes))
        for label, ta, tb in (("without", t0, t1), ("with", t2, t3)):
            per = sorted(((tb[k] - ta.get(k, 0)) * 1000 / writes, k) for k in tb)
            print("  by thread, %s: %s" % (label, ", ".join(
                "%s %.2f" % (k, ms) for ms, k in reversed(per) if ms >= 0.01)))
        print("receiver's CPU per write (its own process): %.2f ms without webhooks, %.2f ms "
              "with %d" % ((r1 - r0) * 1000 / writes, (r3 - r2) * 1000 / writes, hooks))
        print("answer-to-receiver latency over %d deliveries: p50 %.1f ms, p99 %.1f ms, "
              "max %.1f ms" % (len(lat), pct(lat, 0.5), pct(lat, 0.99),
                               lat[-1] * 1000 if lat else float("nan")))
        print("last delivery %.0f ms after the last write's answer" % (drained * 1000))
        print("revisions delivered: %d of %d; deliveries by outcome: %s"
              % (len(lat), hooks * len(answered), outcomes(port)))
    finally:
        p.terminate()
        p.wait(30)
        rx.terminate()
        rx.wait(30)
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
