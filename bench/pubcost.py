#!/usr/bin/python3
"""bench/pubcost.py: the publisher's instructions per durable add (figure 4's write path), or
with --query the instructions per query request (figure 3), for comparing builds on a loaded
machine where wall-clock figures move too much.

Generates the --small data set (bench/gen.c, the benchmark's seed) once, then for each tagd
binary given: a fresh copy of the store, tagd under `valgrind --tool=callgrind` collecting only
inside engine_catch_up (the publisher's catch-up of the engine after each batch), wrk sending
bench/lua/writes.lua's random adds for --seconds, and the instructions collected divided by the
rows added (tagd's tagd_assignments gauge before and after). Under valgrind the threads run one
at a time, so batches are smaller than at full speed: compare builds with each other, not with
figure 4.

  bench/pubcost.py build-bench/tagd /tmp/base/build-bench/tagd [--seconds 30] [--conns 16]
  bench/pubcost.py build-bench/tagd --query 'A or B or C' [--effective]

With --query, the names A, B, C, D, P, R, H are the benchmark's terms (terms.tsv, figure 3),
and each request is `GET /v1/resources?query=...&limit=100&ids_only=true` from one client;
instructions are counted inside native_query_resources (the route's handler: parsing, the
engine's evaluation, rendering), per request.
"""
import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKEN = "bench-admin-token-0123456789abcdef"
SEED = 20261123
SMALL = (5, 4, 5, 20_000, 200_000)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, proc, timeout=600):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("tagd exited early: %s" % proc.returncode)
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except Exception:
            time.sleep(0.2)
    raise RuntimeError("no answer from " + url)


def start(tagd, data, log, wrap=()):
    port = free_port()
    env = dict(os.environ, TAGD_ADMIN_TOKEN=TOKEN)
    p = subprocess.Popen(list(wrap) + [tagd, "--data", data, "--listen", "127.0.0.1:%d" % port,
                                       "--threads", "2", "--log-level", "warn"],
                         env=env, stdout=log, stderr=log)
    wait_http("http://127.0.0.1:%d/healthz" % port, p)
    return p, "http://127.0.0.1:%d" % port


def stop(p):
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=600)


def gauge(base, name):
    req = urllib.request.Request(base + "/metrics", headers={"Authorization": "Bearer " + TOKEN})
    with urllib.request.urlopen(req, timeout=60) as r:
        return int(re.search(r"^%s (\d+)$" % name, r.read().decode(), re.M).group(1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tagd", nargs="+")
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--conns", type=int, default=16)
    ap.add_argument("--query")
    ap.add_argument("--effective", action="store_true")
    ap.add_argument("--work", default=os.path.join(ROOT, "bench", "results", "tmp", "pubcost"))
    a = ap.parse_args()
    work = a.work
    os.makedirs(work, exist_ok=True)
    pristine = os.path.join(work, "pristine")
    log = open(os.path.join(work, "tagd.log"), "ab")
    if not os.path.exists(os.path.join(work, "meta.tsv")):
        gen = os.path.join(work, "gen")
        subprocess.run(["cc", "-O2", "-o", gen, os.path.join(ROOT, "bench", "gen.c"),
                        "-lsqlite3"], check=True)
        shutil.rmtree(pristine, ignore_errors=True)
        p, _ = start(a.tagd[0], pristine, log)
        stop(p)
        subprocess.run([gen, os.path.join(pristine, "tagd.db"), work] +
                       [str(x) for x in SMALL] + [str(SEED)], check=True,
                       stdout=subprocess.DEVNULL)
    meta = dict(l.split("\t") for l in open(os.path.join(work, "meta.tsv")).read().split("\n")
                if "\t" in l)
    env = dict(os.environ, BENCH_FILES=meta["resources"].strip(),
               BENCH_TAGS=meta["tags"].strip(),
               BENCH_FIRST_FILE=str(int(meta["folders1"]) + int(meta["folders2"]) + 1),
               BENCH_TOKEN=TOKEN)
    if a.query:
        terms = {l.split("\t")[0]: l.split("\t")[2] for l in
                 open(os.path.join(work, "terms.tsv")).read().split("\n") if "\t" in l}
        expr = re.sub(r"\b([ABCDPRH])\b", lambda m: terms[m.group(1)], a.query)
        qs = urllib.parse.urlencode({"query": expr, "limit": 100, "ids_only": "true",
                                     "effective": "true" if a.effective else "false"})
        for i, tagd in enumerate(a.tagd):
            out = os.path.join(work, "callgrind.q.%d" % i)
            p, base = start(tagd, pristine, log,
                            ["valgrind", "--tool=callgrind",
                             "--toggle-collect=native_query_resources",
                             "--callgrind-out-file=" + out])
            r = subprocess.run(["wrk", "-t1", "-c1", "-d%ds" % a.seconds,
                                "-H", "Authorization: Bearer " + TOKEN,
                                base + "/v1/resources?" + qs], check=True,
                               capture_output=True, text=True).stdout
            n = int(re.search(r"(\d+) requests in", r).group(1))
            stop(p)
            ir = 0
            for line in open(out):
                if line.startswith("summary:") or line.startswith("totals:"):
                    ir = max(ir, int(line.split()[1]))
            print("%s: %s%s: %d requests, %.0f instructions per request" %
                  (tagd, expr, " (effective)" if a.effective else "", n, ir / max(n, 1)),
                  flush=True)
        return 0
    for i, tagd in enumerate(a.tagd):
        data = os.path.join(work, "run%d" % i)
        shutil.rmtree(data, ignore_errors=True)
        shutil.copytree(pristine, data)
        out = os.path.join(work, "callgrind.out.%d" % i)
        p, base = start(tagd, data, log,
                        ["valgrind", "--tool=callgrind", "--toggle-collect=engine_catch_up",
                         "--callgrind-out-file=" + out])
        n0 = gauge(base, "tagd_assignments")
        subprocess.run(["wrk", "-t2", "-c%d" % a.conns, "-d%ds" % a.seconds, "-s",
                        os.path.join(ROOT, "bench", "lua", "writes.lua"),
                        "-H", "Authorization: Bearer " + TOKEN, base], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        added = gauge(base, "tagd_assignments") - n0
        stop(p)
        ir = 0
        for line in open(out):
            if line.startswith("summary:") or line.startswith("totals:"):
                ir = max(ir, int(line.split()[1]))
        print("%s: %d rows added, %d instructions in engine_catch_up, %.0f per add" %
              (tagd, added, ir, ir / max(added, 1)), flush=True)


if __name__ == "__main__":
    sys.exit(main())
