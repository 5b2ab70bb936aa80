#!/usr/bin/python3
"""bench/policies.py: how long GET /v1/policies/violations takes on a large data set (issue 25:
"policy violations listed at 10 million assignments").

The data set is bench/gen.c's, written straight into tagd's SQLite file as bench/bench.py does
(tags Cat00.Sub00.L00 ... in three levels, resources in a folder/subfolder/file tree, each
carrying about ASSIGNMENTS/RESOURCES tags from a Zipf popularity). Three policies are made
through the API, audit mode:
  required   every file carries 1 to 2 tags of Cat00.* (a popular subtree: few have none,
             some have more than two)
  exactly    every file carries exactly one of Cat01.Sub00.* (most have none)
  allowed    folders carry only Cat00.* and Cat01.* tags (most carry others too)
and each listing is timed: the first page (100) of every policy, of each policy alone, and a
total only (limit=1). Reported: the median and the best of --runs runs, and the totals.

  bench/policies.py build/tagd                       # small: 20,000 resources, 200,000 assignments
  bench/policies.py build/tagd --size full           # 1,000,000 resources, 10,000,000 assignments

Do not run --size full on a shared machine: generating and loading it takes minutes of both
cores and a few GB of disk.
"""
import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKEN = "bench-admin-token-0123456789abcdef"
SEED = 20261123
SIZES = {
    "small": dict(roots=5, mids=4, leaves=5, resources=20_000, assignments=200_000),
    "medium": dict(roots=10, mids=9, leaves=10, resources=200_000, assignments=2_000_000),
    "full": dict(roots=10, mids=9, leaves=10, resources=1_000_000, assignments=10_000_000),
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(tagd, data):
    port = free_port()
    env = dict(os.environ, TAGD_ADMIN_TOKEN=TOKEN)
    log = open(os.path.join(data, "bench.log"), "ab")
    p = subprocess.Popen([tagd, "--data", data, "--listen", "127.0.0.1:%d" % port,
                          "--log-level", "warn"], env=env, stdout=log, stderr=log)
    deadline = time.time() + 900
    while time.time() < deadline:
        if p.poll() is not None:
            raise RuntimeError("tagd exited: see %s/bench.log" % data)
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/healthz")
            if c.getresponse().status == 200:
                return p, port
        except OSError:
            pass
        time.sleep(0.2)
    p.kill()
    raise RuntimeError("tagd did not start")


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def call(c, method, path, body=None):
    h = {"Authorization": "Bearer " + TOKEN}
    if body is not None:
        h["Content-Type"] = "application/json"
        body = json.dumps(body)
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    if r.status >= 300:
        raise RuntimeError("%s %s: %d %s" % (method, path, r.status, data[:300]))
    return json.loads(data) if data else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("tagd")
    ap.add_argument("--size", choices=sorted(SIZES), default="small")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--keep", action="store_true", help="keep the data directory")
    args = ap.parse_args()
    cfg = SIZES[args.size]
    work = tempfile.mkdtemp(prefix="tagd-bench-policies-")
    data = os.path.join(work, "tagd")
    os.makedirs(data)
    try:
        gen = os.path.join(work, "gen")
        subprocess.run(["cc", "-O2", "-o", gen, os.path.join(ROOT, "bench", "gen.c"),
                        "-lsqlite3"], check=True)
        p, _ = start(args.tagd, data)  # creates the schema and the admin token
        stop(p)
        t0 = time.time()
        subprocess.run([gen, os.path.join(data, "tagd.db"), work, str(cfg["roots"]),
                        str(cfg["mids"]), str(cfg["leaves"]), str(cfg["resources"]),
                        str(cfg["assignments"]), str(SEED), "tagd"], check=True)
        print("generated %d resources, %d assignments in %.1f s"
              % (cfg["resources"], cfg["assignments"], time.time() - t0))
        t0 = time.time()
        p, port = start(args.tagd, data)
        print("tagd loaded in %.1f s" % (time.time() - t0))
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
            ids = {}
            ids["required"] = call(c, "POST", "/v1/policies", {
                "kind": "required", "subtree": "Cat00.*", "resource_kind": "file", "min": 1,
                "max": 2})["id"]
            ids["exactly"] = call(c, "POST", "/v1/policies", {
                "kind": "required", "subtree": "Cat01.Sub00.*", "resource_kind": "file",
                "min": 1, "max": 1})["id"]
            ids["allowed"] = call(c, "POST", "/v1/policies", {
                "kind": "allowed", "subtrees": ["Cat00.*", "Cat01.*"],
                "resource_kind": "folder"})["id"]
            cases = [("all policies, first page of 100", "/v1/policies/violations?limit=100")]
            for name, pid in ids.items():
                cases.append(("%s, first page of 100" % name,
                              "/v1/policies/violations?policy=%d&limit=100" % pid))
            cases.append(("all policies, total only (limit=1)", "/v1/policies/violations?limit=1"))
            for label, path in cases:
                times, total = [], None
                for _ in range(args.runs):
                    t0 = time.perf_counter()
                    total = call(c, "GET", path)["total"]
                    times.append((time.perf_counter() - t0) * 1000)
                print("%-40s median %8.2f ms  best %8.2f ms  total %d"
                      % (label, statistics.median(times), min(times), total))
        finally:
            stop(p)
    finally:
        if args.keep:
            print("kept", work)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
