#!/usr/bin/python3
"""bench/expiry_cost.py: what expiring assignments cost the write path, in instructions per add
(valgrind --tool=callgrind; the machine's PMU may be missing, and wall-clock figures move too
much on a shared host). Counted only in the writer and the publisher threads (writer_main,
publisher_main): the writer bounds write throughput, and the other threads' idle ticks grow
with wall-clock time, which callgrind stretches unevenly. --whole counts the whole process.

Each run starts a fresh tagd under callgrind, sends N adds one after another over one
keep-alive connection (POST /v1/resources/file/fI/tags {"tags": ["Cost.t"]}: a new resource and
one assignment each), and stops it. The variants differ only in the body:
  plain      no expiry
  later      "ttl": 3600: every add expires, none during the run (recording the expiry)
  sweep      "ttl": 1: every add expires during the run and the writer's sweeps remove them
A run with no adds gives the fixed cost (start, load, stop), subtracted from each.

  bench/expiry_cost.py build/tagd [--adds 2000]
"""
import argparse
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

TOKEN = "bench-admin-token-0123456789abcdef"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(tagd, adds, ttl, sweep_wait, whole):
    data = tempfile.mkdtemp(prefix="tagd-expiry-cost-")
    port = free_port()
    env = dict(os.environ, TAGD_ADMIN_TOKEN=TOKEN)
    out = os.path.join(data, "callgrind.out")
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out]
    if not whole:
        cmd += ["--toggle-collect=writer_main", "--toggle-collect=publisher_main"]
    cmd += [tagd,
           "--data", data, "--listen", "127.0.0.1:%d" % port, "--wal-mb", "16",
           "--write-cache-mb", "0", "--log-level", "warn"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 300
        while True:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                c.request("GET", "/healthz")
                if c.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.time() > deadline or proc.poll() is not None:
                raise RuntimeError("tagd did not start")
            time.sleep(0.5)
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        h = {"Authorization": "Bearer " + TOKEN, "Content-Type": "application/json"}
        c.request("POST", "/v1/tags", body=json.dumps({"name": "Cost.t"}), headers=h)
        c.getresponse().read()
        for i in range(adds):
            body = {"tags": ["Cost.t"]}
            if ttl:
                body["ttl"] = ttl
            c.request("POST", "/v1/resources/file/f%d/tags" % i, body=json.dumps(body), headers=h)
            r = c.getresponse()
            r.read()
            assert r.status == 200, r.status
        if sweep_wait:
            # Every assignment expired: wait until the sweeps removed them all.
            while True:
                time.sleep(1)
                c.request("GET", "/v1/tags/Cost.t/resources?limit=1", headers=h)
                r = c.getresponse()
                if json.loads(r.read())["total"] == 0:
                    break
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=300)
        with open(out) as f:
            text = f.read()
        m = re.search(r"^(?:summary|totals): (\d+)", text, re.M)
        return int(m.group(1))
    finally:
        if proc.poll() is None:
            proc.kill()
        shutil.rmtree(data, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tagd")
    ap.add_argument("--adds", type=int, default=2000)
    ap.add_argument("--whole", action="store_true")
    a = ap.parse_args()
    base = run(a.tagd, 0, None, False, a.whole)
    res = {}
    for name, ttl, wait in (("plain", None, False), ("later", 3600, False), ("sweep", 1, True)):
        res[name] = (run(a.tagd, a.adds, ttl, wait, a.whole) - base) / a.adds
    print("%s; fixed cost (start, one tag, stop): %d instructions"
          % ("whole process" if a.whole else "writer and publisher threads", base))
    for name in ("plain", "later", "sweep"):
        print("%-6s %9.0f instructions per add  (%+.1f%% against plain)"
              % (name, res[name], 100.0 * (res[name] - res["plain"]) / res["plain"]))


if __name__ == "__main__":
    main()
