#!/usr/bin/python3
"""bench/bench.py: tagd against the reference systems, on one generated data set, in one run.

Called by bench/run (which installs the packages and builds tagd). Generates the data set with a
fixed seed (bench/gen.c), loads it into tagd (bulk, straight into its SQLite file), PostgreSQL
(two schemas: a normalized join table with B-tree indexes, and a text[] of tag names with a GIN
index) and Redis (a set per tag), measures the five figures of bench/README.md and prints a
table of tagd's figure, the reference's figure and their ratio, saved under bench/results/.

Standard library only; the load generators are wrk, pgbench and redis-benchmark."""
import argparse
import datetime
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKEN = "bench-admin-token-0123456789abcdef"
SIZES = {
    "full": dict(roots=10, mids=9, leaves=10, resources=1_000_000, assignments=10_000_000,
                 seconds=10),
    "small": dict(roots=5, mids=4, leaves=5, resources=20_000, assignments=200_000, seconds=3),
}
SEED = 20261123
CLIENTS = 8        # concurrent clients for figures 2 and 3, the same for every system
WRITE_CLIENTS = 64 # figure 4
PG_BIN = "/usr/lib/postgresql/15/bin"


def log(msg):
    print("bench: " + msg, flush=True)


def sh(cmd, **kw):
    kw.setdefault("check", True)
    return subprocess.run(cmd, **kw)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, timeout=600, proc=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("process exited early: %s" % proc.returncode)
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except Exception:
            time.sleep(0.02)
    raise RuntimeError("no answer from " + url)


def cpu_times(pid):
    """(user, system) CPU seconds a process has spent, from /proc."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tck = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tck, int(fields[12]) / tck


def rss_bytes(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


# ---- load generators and their output ----

def to_ms(v):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", v)
    n, u = float(m.group(1)), m.group(2)
    return n / 1000 if u == "us" else n if u == "ms" else n * 1000 if u == "s" else n * 60000


def wrk(url, seconds, threads, conns, script=None, env=None, label=""):
    cmd = ["wrk", "-t%d" % threads, "-c%d" % conns, "-d%ds" % seconds, "--latency",
           "-H", "Authorization: Bearer " + TOKEN]
    if script:
        cmd += ["-s", script]
    cmd.append(url)
    e = dict(os.environ)
    e.update(env or {})
    # wrk's own CPU: the only child waited for meanwhile (the servers are waited at the end).
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = sh(cmd, capture_output=True, text=True, env=e).stdout
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    res = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
           "client_cpu": ru1.ru_utime + ru1.ru_stime - ru0.ru_utime - ru0.ru_stime}
    for pct in ("50", "99"):
        m = re.search(r"^\s+%s%%\s+(\S+)" % pct, out, re.M)
        res["p" + pct] = to_ms(m.group(1)) if m else None
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    res["errors"] = int(bad.group(1)) if bad else 0
    errs = re.search(r"Socket errors: (.*)", out)
    if errs:
        res["socket_errors"] = errs.group(1)
    with open(os.path.join(WORK, "wrk-%s.txt" % label), "w") as f:
        f.write(" ".join(cmd) + "\n" + out)
    return res


def pgbench(script_text, seconds, clients, label):
    path = os.path.join(WORK, "pgbench-%s.sql" % label)
    with open(path, "w") as f:
        f.write(script_text)
    logdir = os.path.join(WORK, "pglog-%s" % label)
    shutil.rmtree(logdir, ignore_errors=True)
    os.makedirs(logdir)
    cmd = ["pgbench", "-h", PG_SOCK, "-p", str(PG_PORT), "-U", "postgres", "-n", "-M", "prepared",
           "-c", str(clients), "-j", str(min(clients, 2)), "-T", str(seconds), "-f", path,
           "--log", "--log-prefix", os.path.join(logdir, "l"), "bench"]
    out = sh(cmd, capture_output=True, text=True).stdout
    tps = float(re.search(r"tps = ([\d.]+) \(without initial connection time\)", out).group(1))
    lat = []
    for name in os.listdir(logdir):
        with open(os.path.join(logdir, name)) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3:
                    lat.append(int(parts[2]) / 1000.0)
    failed = re.search(r"number of failed transactions: (\d+)", out)
    with open(os.path.join(WORK, "pgbench-%s.txt" % label), "w") as f:
        f.write(" ".join(cmd) + "\n" + out)
    shutil.rmtree(logdir, ignore_errors=True)
    lat.sort()
    return {"rps": tps, "p50": lat[len(lat) // 2] if lat else None,
            "p99": lat[int(len(lat) * 0.99)] if lat else None,
            "errors": int(failed.group(1)) if failed else 0}


def redis_cli(*args, stdin=None):
    return sh(["redis-cli", "-p", str(REDIS_PORT)] + list(args), capture_output=True, text=True,
              input=stdin).stdout.strip()


def redis_bench(args, seconds, clients, label):
    base = ["redis-benchmark", "-p", str(REDIS_PORT), "-c", str(clients), "--csv"]
    # Calibrate the request count so that the run lasts about `seconds` (a slow shape answers
    # about once a second: probe with a few requests only).
    probe = sh(base + ["-n", str(2 * clients)] + args, capture_output=True, text=True).stdout
    rps = float(probe.strip().splitlines()[-1].split(",")[1].strip('"'))
    n = max(2 * clients, int(rps * seconds))
    out = sh(base + ["-n", str(n)] + args, capture_output=True, text=True).stdout
    with open(os.path.join(WORK, "redis-%s.txt" % label), "w") as f:
        f.write(" ".join(base + args) + "\n" + out)
    row = [c.strip('"') for c in out.strip().splitlines()[-1].split(",")]
    return {"rps": float(row[1]), "p50": float(row[4]), "p99": float(row[6]), "errors": 0}


# ---- the query shapes, rendered for each system ----

def shapes(terms):
    A, B, C, D = (("tag", terms[k]) for k in "ABCD")
    P = ("sub", terms["P"])
    return [
        ("one tag", A),
        ("A and B", ("and", A, B)),
        ("A or B or C", ("or", ("or", A, B), C)),
        ("P.* and not D", ("and", P, ("not", D))),
        ("3-level nested", ("and", ("or", A, ("and", B, ("or", P, C))), ("not", D))),
    ]


def q_tagd(e):
    k = e[0]
    if k == "tag":
        return e[1]["name"]
    if k == "sub":
        return e[1]["name"] + ".*"
    if k == "not":
        return "not " + q_tagd(e[1])
    return "(%s %s %s)" % (q_tagd(e[1]), k, q_tagd(e[2]))


def q_pg_join(e):
    """Set operations over index-only scans of the join table."""
    k = e[0]
    if k == "tag":
        return "SELECT resource_id FROM assignments WHERE tag_id = %d" % e[1]["id"]
    if k == "sub":
        return "SELECT resource_id FROM assignments WHERE tag_id IN (%s)" % ",".join(
            map(str, e[1]["subtree"]))
    if k == "and" and e[2][0] == "not":
        return "(%s) EXCEPT (%s)" % (q_pg_join(e[1]), q_pg_join(e[2][1]))
    op = {"and": "INTERSECT", "or": "UNION"}[k]
    return "(%s) %s (%s)" % (q_pg_join(e[1]), op, q_pg_join(e[2]))


def q_pg_gin(e):
    k = e[0]
    if k == "tag":
        return "tags @> ARRAY['%s']" % e[1]["name"]
    if k == "sub":
        return "tags && ARRAY[%s]" % ",".join("'%s'" % n for n in e[1]["subtree_names"])
    if k == "not":
        return "NOT (%s)" % q_pg_gin(e[1])
    return "(%s %s %s)" % (q_pg_gin(e[1]), k.upper(), q_pg_gin(e[2]))


def q_redis(e):
    """A Lua script: set operations into temporary keys, then SCARD and 100 members."""
    lines, n = [], [0]

    def key(x):
        k = x[0]
        if k == "tag":
            return "t:%d" % x[1]["id"]
        if k == "sub":
            return ("s:%d" if len(x[1]["subtree"]) > 1 else "t:%d") % x[1]["id"]
        n[0] += 1
        out = "tmp:%d" % n[0]
        if k == "and" and x[2][0] == "not":
            lines.append("redis.call('SDIFFSTORE','%s','%s','%s')" % (out, key(x[1]), key(x[2][1])))
        else:
            cmd = {"and": "SINTERSTORE", "or": "SUNIONSTORE"}[k]
            lines.append("redis.call('%s','%s','%s','%s')" % (cmd, out, key(x[1]), key(x[2])))
        return out

    top = key(e)
    lines.append("local n = redis.call('SCARD','%s')" % top)
    lines.append("local ids = redis.call('SRANDMEMBER','%s',100)" % top)
    if n[0]:
        lines.append("redis.call('DEL',%s)" % ",".join("'tmp:%d'" % i for i in range(1, n[0] + 1)))
    lines.append("return {n, ids}")
    return "\n".join(lines)


# ---- systems ----

def start_tagd(datadir, threads=2):
    port = free_port()
    env = dict(os.environ, TAGD_ADMIN_TOKEN=TOKEN)
    logf = open(os.path.join(WORK, "tagd.log"), "ab")
    t0 = time.time()
    p = subprocess.Popen([TAGD, "--data", datadir, "--listen", "127.0.0.1:%d" % port,
                          "--threads", str(threads), "--log-level", "warn",
                          "--max-conns", "10000"], env=env, stdout=logf, stderr=logf)
    wait_http("http://127.0.0.1:%d/healthz" % port, proc=p)
    return p, port, time.time() - t0


def stop(p):
    if p and p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def pg_start(size):
    global PG_PORT, PG_SOCK
    PG_PORT = free_port()
    base = "/tmp/tagd-bench-pg-%s" % size
    shutil.rmtree(base, ignore_errors=True)
    os.makedirs(base + "/sock")
    shutil.chown(base, "postgres", "postgres")
    shutil.chown(base + "/sock", "postgres", "postgres")
    PG_SOCK = base + "/sock"
    as_pg = ["runuser", "-u", "postgres", "--"]
    sh(as_pg + [PG_BIN + "/initdb", "-D", base + "/data", "--auth=trust", "-E", "UTF8",
                "--locale=C"], capture_output=True)
    opts = ("-p %d -k %s -c listen_addresses='' -c shared_buffers=2GB -c max_connections=200"
            " -c synchronous_commit=on -c fsync=on -c work_mem=64MB -c effective_cache_size=8GB"
            " -c max_wal_size=8GB -c checkpoint_timeout=30min" % (PG_PORT, PG_SOCK))
    sh(as_pg + [PG_BIN + "/pg_ctl", "-D", base + "/data", "-o", opts, "-l", base + "/log", "-w",
                "start"], capture_output=True)
    return base


def pg_stop(base):
    sh(["runuser", "-u", "postgres", "--", PG_BIN + "/pg_ctl", "-D", base + "/data", "-m", "fast",
        "stop"], capture_output=True, check=False)
    shutil.rmtree(base, ignore_errors=True)


def tagd_gauge(base, name):
    """A gauge from tagd's /metrics (the engine's counts at its last revision)."""
    req = urllib.request.Request(base + "/metrics", headers={"Authorization": "Bearer " + TOKEN})
    with urllib.request.urlopen(req, timeout=10) as r:
        m = re.search(r"^%s (\d+)$" % name, r.read().decode(), re.M)
    return int(m.group(1))


def psql(sql, db="bench"):
    return sh(["psql", "-h", PG_SOCK, "-p", str(PG_PORT), "-U", "postgres", "-d", db, "-v",
               "ON_ERROR_STOP=1", "-qAt", "-c", sql], capture_output=True, text=True).stdout


def pg_load():
    psql("CREATE DATABASE bench", db="postgres")
    psql("""
        CREATE TABLE tags(id int PRIMARY KEY, name text NOT NULL UNIQUE, parent_id int);
        CREATE TABLE resources(id int PRIMARY KEY, kind text NOT NULL, key text NOT NULL,
                               parent_id int);
        CREATE TABLE assignments(resource_id int NOT NULL, tag_id int NOT NULL);
        CREATE TABLE res_tags(id int PRIMARY KEY, tags text[] NOT NULL);""")
    for table, f in (("tags", "tags.tsv"), ("resources", "resources.tsv"),
                     ("assignments", "assign.tsv"), ("res_tags", "restags.tsv")):
        psql("\\copy %s FROM '%s'" % (table, os.path.join(WORK, f)))
    psql("""
        ALTER TABLE assignments ADD PRIMARY KEY (resource_id, tag_id);
        CREATE INDEX assignments_tag ON assignments(tag_id, resource_id);
        CREATE UNIQUE INDEX resources_key ON resources(kind, key);
        CREATE INDEX resources_parent ON resources(parent_id);
        CREATE INDEX tags_parent ON tags(parent_id);
        CREATE INDEX res_tags_gin ON res_tags USING gin(tags);""")
    psql("VACUUM ANALYZE")


def quiet_disk():
    """Writes back what the loads left dirty, so that neither system's durable writes race
    the page cache's writeback of a gigabyte of loaded data (it made figure 4 swing 3x)."""
    t0 = time.time()
    os.sync()
    time.sleep(1)
    log("disk quiet after %.1f s" % (time.time() - t0))


def redis_start():
    global REDIS_PORT
    REDIS_PORT = free_port()
    logf = open(os.path.join(WORK, "redis.log"), "ab")
    p = subprocess.Popen(["/usr/bin/redis-server", "--port", str(REDIS_PORT), "--save", "",
                          "--appendonly", "no", "--bind", "127.0.0.1", "--dir", WORK],
                         stdout=logf, stderr=logf)
    for _ in range(200):
        try:
            if redis_cli("PING") == "PONG":
                return p
        except subprocess.CalledProcessError:
            pass
        time.sleep(0.05)
    raise RuntimeError("redis did not start")


def nginx_start(body):
    port = free_port()
    d = os.path.join(WORK, "nginx")
    os.makedirs(d + "/www", exist_ok=True)
    with open(d + "/www/tags.json", "wb") as f:
        f.write(body)
    conf = """user root;
worker_processes 2;
pid %(d)s/nginx.pid;
error_log %(d)s/error.log;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    default_type application/json;
    client_body_temp_path %(d)s/tmp; proxy_temp_path %(d)s/tmp; fastcgi_temp_path %(d)s/tmp;
    uwsgi_temp_path %(d)s/tmp; scgi_temp_path %(d)s/tmp;
    server { listen 127.0.0.1:%(port)d; root %(d)s/www; }
}
""" % {"d": d, "port": port}
    with open(d + "/nginx.conf", "w") as f:
        f.write(conf)
    sh(["/usr/sbin/nginx", "-c", d + "/nginx.conf", "-p", d])
    wait_http("http://127.0.0.1:%d/tags.json" % port)
    return port, d


def nginx_stop(d):
    sh(["/usr/sbin/nginx", "-c", d + "/nginx.conf", "-p", d, "-s", "stop"], check=False)


# ---- the run ----

def read_tsv(name):
    with open(os.path.join(WORK, name)) as f:
        return [line.rstrip("\n").split("\t") for line in f]


def main():
    global WORK, TAGD
    ap = argparse.ArgumentParser()
    ap.add_argument("--small", action="store_true")
    ap.add_argument("--tagd", default=os.path.join(ROOT, "build-bench", "tagd"))
    ap.add_argument("--only", default="1,2,3,4,5",
                    help="comma-separated figures to measure (default: all)")
    ap.add_argument("--seconds", type=int, help="length of each measurement")
    args = ap.parse_args()
    size = "small" if args.small else "full"
    cfg = dict(SIZES[size])
    if args.seconds:
        cfg["seconds"] = args.seconds
    secs = cfg["seconds"]
    figs = set(args.only.split(","))
    TAGD = args.tagd
    WORK = os.path.join(ROOT, "bench", "results", "tmp", size)
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    results = []  # (figure, metric, tagd, reference name, reference value, ratio, target, ok)

    # Data set, and tagd's copy of it.
    gen = os.path.join(WORK, "gen")
    sh(["cc", "-O2", "-o", gen, os.path.join(ROOT, "bench", "gen.c"), "-lsqlite3"])
    tagd_dir = os.path.join(WORK, "tagd")
    p, _, _ = start_tagd(tagd_dir)  # creates the schema and the admin token
    stop(p)
    t0 = time.time()
    sh([gen, os.path.join(tagd_dir, "tagd.db"), WORK, str(cfg["roots"]), str(cfg["mids"]),
        str(cfg["leaves"]), str(cfg["resources"]), str(cfg["assignments"]), str(SEED)])
    log("generated and loaded into tagd's SQLite file in %.1f s" % (time.time() - t0))
    meta = {k: int(v) for k, v in read_tsv("meta.tsv")}
    tags = {int(r[0]): (r[1], int(r[2]) if r[2] != "\\N" else 0) for r in read_tsv("tags.tsv")}

    def subtree(tid):
        out = []
        for i in tags:
            a = i
            while a and a != tid:
                a = tags[a][1]
            if a == tid:
                out.append(i)
        return sorted(out)

    terms = {}
    for k, tid, name in read_tsv("terms.tsv"):
        st = subtree(int(tid))
        terms[k] = {"id": int(tid), "name": name, "subtree": st,
                    "subtree_names": [tags[i][0] for i in st]}
    depth3 = read_tsv("depth3.tsv")

    # (5) start and memory: an empty tagd, then the loaded one.
    empty_dir = os.path.join(WORK, "tagd-empty")
    p, port, _ = start_tagd(empty_dir)
    rss_empty = rss_bytes(p.pid)
    stop(p)
    p, port, start_s = start_tagd(tagd_dir)
    rss = rss_bytes(p.pid)
    base = "http://127.0.0.1:%d" % port
    log("tagd started in %.2f s, RSS %.1f MB (empty: %.1f MB)" % (start_s, rss / 1e6, rss_empty / 1e6))

    try:
        if "1" in figs:
            # (1) serving the tag list, against nginx with the same bytes.
            req = urllib.request.Request(base + "/v1/tags?limit=100",
                                         headers={"Authorization": "Bearer " + TOKEN})
            body = urllib.request.urlopen(req).read()
            t1 = wrk(base + "/v1/tags?limit=100", secs, 1, 64, label="tags-tagd")
            nport, ndir = nginx_start(body)
            try:
                n1 = wrk("http://127.0.0.1:%d/tags.json" % nport, secs, 1, 64, label="tags-nginx")
            finally:
                nginx_stop(ndir)
            results.append(("1", "GET /v1/tags?limit=100, requests/s", t1["rps"], "nginx static",
                            n1["rps"], t1["rps"] / n1["rps"], ">= 0.7x",
                            t1["rps"] >= 0.7 * n1["rps"], t1["errors"]))
            results.append(("1", "GET /v1/tags?limit=100, p99 ms", t1["p99"], "nginx static",
                            n1["p99"], t1["p99"] / n1["p99"], "", None, 0))

        if "2" in figs:
            # (2) effective tags of random depth-3 resources.
            keys_file = os.path.join(WORK, "depth3.tsv")
            lua = os.path.join(ROOT, "bench", "lua", "restags.lua")
            c0 = cpu_times(p.pid)
            t2 = wrk(base, secs, 2, CLIENTS, script=lua, env={"BENCH_KEYS": keys_file,
                                                               "BENCH_TOKEN": TOKEN},
                     label="restags-tagd")
            c1 = cpu_times(p.pid)
            # Where the two cores went, per request: tagd's code, tagd's time in the kernel
            # (the sockets) and the client's. Their sum bounds the requests/s of this machine.
            n2 = t2["rps"] * secs
            t2["user_us"] = (c1[0] - c0[0]) / n2 * 1e6
            t2["sys_us"] = (c1[1] - c0[1]) / n2 * 1e6
            t2["client_us"] = t2["client_cpu"] / n2 * 1e6
            t2_1 = wrk(base, min(secs, 5), 1, 1, script=lua, env={"BENCH_KEYS": keys_file,
                                                                   "BENCH_TOKEN": TOKEN},
                       label="restags-tagd-1client")
            # The HTTP floor: the same load on a route that does no work at all. No read can
            # be served faster than this on this machine, so it bounds the reachable ratio.
            t2h = wrk(base + "/healthz", secs, 2, CLIENTS, label="healthz-tagd")

        if "3" in figs:
            # (3) boolean queries on tagd.
            tq, tq1 = [], []
            for name, e in shapes(terms):
                url = base + "/v1/resources?" + urllib.parse.urlencode(
                    {"query": q_tagd(e), "limit": 100, "ids_only": "true"})
                tq.append(wrk(url, secs, 2, CLIENTS, label="query-tagd-%d" % len(tq)))
                tq1.append(wrk(url, min(secs, 5), 1, 1, label="query-tagd-%d-1client" % len(tq1)))

        if "4" in figs:
            # (4) durable assignment adds from 64 clients (last: it changes the data).
            lua_w = os.path.join(ROOT, "bench", "lua", "writes.lua")
            quiet_disk()
            # Rows added, not requests, are the figure: an add of a tag the resource already
            # has writes nothing (see bench/lua/writes.lua for how that once inflated it).
            n0 = tagd_gauge(base, "tagd_assignments")
            t4 = wrk(base, secs, 2, WRITE_CLIENTS, script=lua_w,
                     env={"BENCH_FILES": str(meta["resources"]), "BENCH_TAGS": str(meta["tags"]),
                          "BENCH_FIRST_FILE": str(meta["folders1"] + meta["folders2"] + 1),
                          "BENCH_TOKEN": TOKEN},
                     label="writes-tagd")
            t4["added"] = (tagd_gauge(base, "tagd_assignments") - n0) / secs
            log("tagd: %.0f requests/s, %.0f rows added/s" % (t4["rps"], t4["added"]))
    finally:
        stop(p)

    # PostgreSQL.
    if figs & {"2", "3", "4"}:
        t0 = time.time()
        pgbase = pg_start(size)
        try:
            pg_load()
            log("PostgreSQL loaded in %.1f s" % (time.time() - t0))
            lo, hi = meta["folders1"] + meta["folders2"] + 1, meta["resources"]
            if "2" in figs:
                eff = ("\\set id random(%d, %d)\n" % (lo, hi) +
                       "WITH RECURSIVE anc(id, depth) AS ("
                       " SELECT r.id, 0 FROM resources r WHERE r.kind = 'file'"
                       " AND r.key = 'f-' || :id"
                       " UNION ALL SELECT r.parent_id, a.depth + 1 FROM anc a JOIN resources r"
                       " ON r.id = a.id WHERE r.parent_id IS NOT NULL)"
                       " SELECT DISTINCT ON (t.id) t.id, t.name, anc.depth FROM anc"
                       " JOIN assignments x ON x.resource_id = anc.id JOIN tags t"
                       " ON t.id = x.tag_id ORDER BY t.id, anc.depth;\n")
                p2 = pgbench(eff, secs, CLIENTS, "restags")
                results.append(("2", "effective tags of a depth-3 resource, requests/s",
                                t2["rps"], "PostgreSQL", p2["rps"], t2["rps"] / p2["rps"],
                                ">= 10x", t2["rps"] >= 10 * p2["rps"], t2["errors"]))
                results.append(("2", "  p50 ms, %d clients" % CLIENTS, t2["p50"], "PostgreSQL",
                                p2["p50"], t2["p50"] / p2["p50"], "", None, 0))
                results.append(("2", "  p50 ms, 1 client", t2_1["p50"], "", None, None,
                                "< 1 ms", t2_1["p50"] < 1, 0))
                results.append(("2", "  HTTP floor: GET /healthz, same load", t2h["rps"],
                                "PostgreSQL", p2["rps"], t2h["rps"] / p2["rps"], "", None,
                                t2h["errors"]))
                cores = os.cpu_count() * 1e6
                results.append(("2", "  CPU µs per request: tagd's code + tagd in the kernel"
                                " (reference: wrk, the client)",
                                "%.1f + %.1f" % (t2["user_us"], t2["sys_us"]), "wrk",
                                t2["client_us"], None, "", None, 0))
                ceil0 = cores / (t2["sys_us"] + t2["client_us"])
                results.append(("2", "  ceiling if tagd's code took no time: cores / (kernel +"
                                " wrk µs per request), requests/s", ceil0, "PostgreSQL",
                                p2["rps"], ceil0 / p2["rps"], "", None, 0))
            if "3" in figs:
                pj, pg = [], []
                for i, (name, e) in enumerate(shapes(terms)):
                    j = q_pg_join(e)
                    pj.append(pgbench("SELECT count(*) FROM (%s) q;\nSELECT resource_id FROM"
                                      " (%s) q ORDER BY 1 LIMIT 100;\n" % (j, j), secs, CLIENTS,
                                      "join-%d" % i))
                    g = q_pg_gin(e)
                    pg.append(pgbench("SELECT count(*) FROM res_tags WHERE %s;\nSELECT id FROM"
                                      " res_tags WHERE %s ORDER BY id LIMIT 100;\n" % (g, g),
                                      secs, CLIENTS, "gin-%d" % i))
            if "4" in figs:
                # (4) the same adds on PostgreSQL, synchronous_commit=on.
                psql("CHECKPOINT")
                quiet_disk()
                n0 = int(psql("SELECT count(*) FROM assignments"))
                p4 = pgbench("\\set r random(%d, %d)\n\\set t random(1, %d)\n"
                             "INSERT INTO assignments(resource_id, tag_id) VALUES (:r, :t)"
                             " ON CONFLICT DO NOTHING;\n" % (lo, hi, meta["tags"]),
                             secs, WRITE_CLIENTS, "writes")
                p4["added"] = (int(psql("SELECT count(*) FROM assignments")) - n0) / secs
                log("PostgreSQL: %.0f transactions/s, %.0f rows added/s"
                    % (p4["rps"], p4["added"]))
        finally:
            pg_stop(pgbase)

    if "3" in figs:
        # Redis.
        rp = redis_start()
        try:
            t0 = time.time()
            with open(os.path.join(WORK, "redis.resp"), "rb") as f:
                sh(["redis-cli", "-p", str(REDIS_PORT), "--pipe"], stdin=f, capture_output=True)
            log("Redis loaded in %.1f s" % (time.time() - t0))
            rr = []
            for i, (name, e) in enumerate(shapes(terms)):
                sha = redis_cli("SCRIPT", "LOAD", q_redis(e))
                rr.append(redis_bench(["EVALSHA", sha, "0"], secs, CLIENTS, "query-%d" % i))
        finally:
            stop(rp)

        for i, (name, e) in enumerate(shapes(terms)):
            t = tq[i]
            label = "query %s: %s" % (name, q_tagd(e))
            results.append(("3", label + ", requests/s", t["rps"], "PostgreSQL join",
                            pj[i]["rps"], t["rps"] / pj[i]["rps"], ">= 10x",
                            t["rps"] >= 10 * pj[i]["rps"], t["errors"]))
            results.append(("3", "", None, "PostgreSQL GIN", pg[i]["rps"],
                            t["rps"] / pg[i]["rps"], ">= 10x", t["rps"] >= 10 * pg[i]["rps"], 0))
            results.append(("3", "", None, "Redis", rr[i]["rps"], t["rps"] / rr[i]["rps"], "",
                            None, 0))
            results.append(("3", "  p50 ms, %d clients" % CLIENTS, t["p50"], "PostgreSQL join",
                            pj[i]["p50"], t["p50"] / pj[i]["p50"], "", None, 0))
            results.append(("3", "  p50 ms, 1 client", tq1[i]["p50"], "", None, None, "< 1 ms",
                            tq1[i]["p50"] < 1, 0))
    if "4" in figs:
        results.append(("4", "durable assignment adds/s (rows added), 64 clients", t4["added"],
                        "PostgreSQL sync commit", p4["added"], t4["added"] / p4["added"],
                        ">= 1x", t4["added"] >= p4["added"], t4["errors"]))
        results.append(("4", "  requests/s (transactions/s)", t4["rps"], "PostgreSQL sync commit",
                        p4["rps"], t4["rps"] / p4["rps"], "", None, 0))
    if "5" in figs:
        per = rss / meta["assignments"]
        per_net = (rss - rss_empty) / meta["assignments"]
        results.append(("5", "start with the data set loaded, s", start_s, "target", 10.0,
                        start_s / 10.0, "< 10 s", start_s < 10, 0))
        results.append(("5", "resident memory per assignment, bytes (whole process)", per,
                        "target", 64.0, per / 64.0, "< 64", per < 64, 0))
        results.append(("5", "  the same above an empty tagd's RSS", per_net, "target", 64.0,
                        per_net / 64.0, "< 64", per_net < 64, 0))
    report(size if figs >= set("12345") else "%s-fig%s" % (size, "".join(sorted(figs))), cfg,
           meta, results, start_s, rss, rss_empty)


def fmt(v):
    if v is None:
        return ""
    if isinstance(v, float):
        if v >= 1000:
            return "{:,.0f}".format(v)
        if v >= 10:
            return "%.1f" % v
        return "%.3g" % v
    return str(v)


def report(size, cfg, meta, results, start_s, rss, rss_empty):
    now = datetime.datetime.now(datetime.timezone.utc)
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = [l.split(":", 1)[1].strip() for l in f if l.startswith("model name")][0]
    except (OSError, IndexError):
        pass
    head = [
        "# tagd benchmark: %s data set, %s" % (size, now.strftime("%Y-%m-%d %H:%M UTC")),
        "",
        "Data: %d tags in 3 levels, %d resources in 3 levels, %d assignments (Zipf(1) over tags),"
        " seed %d." % (meta["tags"], meta["resources"], meta["assignments"], SEED),
        "Machine: %d CPUs (%s), %.0f GB RAM. tagd: --threads 2, SQLite, log level warn."
        % (os.cpu_count(), cpu, os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9),
        "Each measurement runs %d s; figures 2 and 3 use %d concurrent clients for every system,"
        " figure 4 uses %d. Ratio = tagd / reference (for latency and memory rows: lower is"
        " better)." % (cfg["seconds"], CLIENTS, WRITE_CLIENTS),
        "",
        "| # | figure | tagd | reference | reference figure | ratio | target | met |",
        "| --- | --- | ---: | --- | ---: | ---: | --- | --- |",
    ]
    rows = []
    for fig, metric, t, ref, r, ratio, target, ok, errors in results:
        note = " (%d non-2xx)" % errors if errors else ""
        rows.append("| %s | %s | %s%s | %s | %s | %s | %s | %s |" % (
            fig, metric, fmt(t), note, ref, fmt(r), ("%.2fx" % ratio) if ratio else "", target,
            "" if ok is None else ("yes" if ok else "**no**")))
    text = "\n".join(head + rows) + "\n"
    print("\n" + text)
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    path = os.path.join(ROOT, "bench", "results", "%s-%s.md" % (now.strftime("%Y-%m-%d"), size))
    with open(path, "w") as f:
        f.write(text)
    log("saved " + os.path.relpath(path, ROOT))


if __name__ == "__main__":
    main()
