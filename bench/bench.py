#!/usr/bin/python3
"""bench/bench.py: tagd against the reference systems, on one generated data set, in one run.

Called by bench/run (which installs the packages and builds tagd). Generates the data set with a
fixed seed (bench/gen.c), loads it into tagd (bulk, straight into its SQLite file), PostgreSQL
(intarray terms arrays under GIN gin__int_ops, closure tables, materialized ancestors) and Redis
(bitmaps per tag and per subtree, direct and effective), checks that every reference answers
every question as tagd does, then measures the figures of bench/README.md (warm-up, then at
least 3 timed runs each: median, min, max) and prints a table of tagd's figure, the reference's
figure and their ratio, saved under bench/results/.

Standard library only; the load generators are wrk, pgbench and redis-benchmark."""
import argparse
import datetime
import json
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
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKEN = "bench-admin-token-0123456789abcdef"
SIZES = {
    "full": dict(roots=10, mids=9, leaves=10, resources=1_000_000, assignments=10_000_000,
                 seconds=5, write_seconds=20),
    # --interchange --medium: the set between, for import figures that take minutes, not hours.
    "medium": dict(roots=10, mids=9, leaves=10, resources=100_000, assignments=1_000_000,
                   seconds=5, write_seconds=20),
    "small": dict(roots=5, mids=4, leaves=5, resources=20_000, assignments=200_000, seconds=3,
                  write_seconds=5),
    # --huge: the scale figure, tagd only, beside the full set measured the same way.
    "huge": dict(roots=10, mids=9, leaves=10, resources=10_000_000, assignments=100_000_000,
                 seconds=5, write_seconds=20),
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
    run = sh(cmd, capture_output=True, text=True, check=False)
    out = run.stdout
    m = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out)
    if run.returncode or not m:
        raise RuntimeError("pgbench failed: %s\n%s%s" % (" ".join(cmd), out, run.stderr[-2000:]))
    tps = float(m.group(1))
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
    done = re.search(r"number of transactions actually processed: (\d+)", out)
    return {"rps": tps, "p50": lat[len(lat) // 2] if lat else None,
            # the seconds the transactions ran, without the connections' start (a fork each)
            "busy_s": int(done.group(1)) / tps if tps else seconds,
            "p99": lat[int(len(lat) * 0.99)] if lat else None,
            "errors": int(failed.group(1)) if failed else 0}


def redis_cli(*args, stdin=None):
    return sh(["redis-cli", "-p", str(REDIS_PORT)] + list(args), capture_output=True, text=True,
              input=stdin).stdout.strip()


def redis_bench(args, seconds, clients, label):
    # One client thread: with --threads 2 each run spent 0.25 s starting (16 requests took
    # 0.29 s), which a few-second run counts against Redis, and the single-threaded server is
    # what bounds the rate, not the client.
    base = ["redis-benchmark", "-p", str(REDIS_PORT), "-c", str(clients), "--csv"]
    # Calibrate the request count so that the run lasts about `seconds`: redis-benchmark
    # counts requests, not time. A tiny probe is dominated by the start of its threads and
    # connections (it said 220/s for a script that answers 20,000/s), so probe twice, the
    # second time for about half a second.
    n, rps = 2 * clients, float("inf")
    for _ in range(6):
        probe = sh(base + ["-n", str(n)] + args, capture_output=True, text=True).stdout
        rps = float(probe.strip().splitlines()[-1].split(",")[1].strip('"'))
        if rps != float("inf") and n >= rps * 0.4:
            break
        n = n * 20 if rps == float("inf") else max(2 * clients, int(rps * 0.5))
    n = max(2 * clients, int(rps * seconds))
    out = sh(base + ["-n", str(n)] + args, capture_output=True, text=True).stdout
    with open(os.path.join(WORK, "redis-%s.txt" % label), "w") as f:
        f.write(" ".join(base + args) + "\n" + out)
    row = [c.strip('"') for c in out.strip().splitlines()[-1].split(",")]
    return {"rps": float(row[1]), "p50": float(row[4]), "p99": float(row[6]), "errors": 0}


# ---- the query shapes, rendered for each system ----

SUB_OFFSET = 1_000_000  # PostgreSQL: subtree term of tag T in the terms arrays is T + this


def shapes(terms):
    """(name, expression, effective): the five shapes of figure 3 plus a selective one (the
    rarest tag) and a broad one (the tag nearest half the resources), each on direct tags and
    on effective (inherited) tags."""
    A, B, C, D, R, H = (("tag", terms[k]) for k in "ABCDRH")
    P = ("sub", terms["P"])
    base = [
        ("one tag", A),
        ("A and B", ("and", A, B)),
        ("A or B or C", ("or", ("or", A, B), C)),
        ("P.* and not D", ("and", P, ("not", D))),
        ("3-level nested", ("and", ("or", A, ("and", B, ("or", P, C))), ("not", D))),
        ("selective (rarest tag)", R),
        ("broad (tag on half)", H),
    ]
    return [(n, e, eff) for eff in (False, True) for n, e in base]


def q_tagd(e):
    k = e[0]
    if k == "tag":
        return e[1]["name"]
    if k == "sub":
        return e[1]["name"] + ".*"
    if k == "not":
        return "not " + q_tagd(e[1])
    return "(%s %s %s)" % (q_tagd(e[1]), k, q_tagd(e[2]))


def tagd_url(base, e, eff):
    return base + "/v1/resources?" + urllib.parse.urlencode(
        {"query": q_tagd(e), "limit": 100, "ids_only": "true",
         "effective": "true" if eff else "false"})


def q_pg_int(e):
    """A query_int over the terms arrays: a tag is its id, a subtree its root's id plus
    SUB_OFFSET (the arrays carry every inner ancestor's subtree term, from the tag closure
    table), so nothing is expanded at query time."""
    k = e[0]
    if k == "tag":
        return str(e[1]["id"])
    if k == "sub":
        return str(e[1]["id"] + SUB_OFFSET) if len(e[1]["subtree"]) > 1 else str(e[1]["id"])
    if k == "not":
        return "!" + q_pg_int(e[1])
    return "(%s %s %s)" % (q_pg_int(e[1]), "&" if k == "and" else "|", q_pg_int(e[2]))


def pg_sql(e, eff):
    """The two statements that answer a shape: the count, and the first page in id order
    (the planner may walk the primary key and stop at 100 rows, or take the GIN index)."""
    table = "res_eterms" if eff else "res_terms"
    q = q_pg_int(e)
    return ("SELECT count(*) FROM %s WHERE terms @@ '%s'::query_int" % (table, q),
            "SELECT id FROM %s WHERE terms @@ '%s'::query_int ORDER BY id LIMIT 100" % (table, q))


REDIS_WALK = r"""
local function answer(k)
  local n = redis.call('BITCOUNT', k)
  local pos = redis.call('BITPOS', k, 1)
  if pos < 0 then return {n, 0, ''} end
  local first = math.floor(pos / 8)
  local last, got, step = first - 1, 0, 64
  local len = redis.call('STRLEN', k)
  while got < 100 and last < len - 1 do
    got = got + redis.call('BITCOUNT', k, last + 1, last + step)
    last = last + step
    step = step * 2
  end
  return {n, first, redis.call('GETRANGE', k, first, last)}
end
"""


def redis_ids(first, raw, limit=100):
    """The client's half of the Redis answer: the ids of the set bits of `raw`, a bitmap's
    bytes from byte `first` on (what an application does with the script's answer)."""
    ids = []
    for i, b in enumerate(raw):
        while b and len(ids) < limit:
            j = 7 - (b.bit_length() - 1)
            ids.append((first + i) * 8 + j)
            b &= ~(0x80 >> j)
        if len(ids) >= limit:
            break
    return ids


def q_redis(e, eff):
    """One Lua script per shape over the bitmaps bench/gen.c loads: BITOP into temporary keys
    (overwritten by the next call, as a script runs alone), then BITCOUNT, and the bytes from
    the first set bit on that hold the first 100 (BITPOS, then BITCOUNT over growing windows,
    then one GETRANGE). Answers {count, first byte, bytes}: the client reads the first 100 ids
    in id order off the bytes (redis_ids), as tagd's client reads them off its JSON. Decoding
    the bits in Lua instead cost 3.5x the whole script (9,500 against 35,000 calls/s for
    BITOP + BITCOUNT alone, `A and B`, small set)."""
    lines, n = [], [0]
    tk, sk = ("e", "es") if eff else ("t", "s")

    def tmp():
        n[0] += 1
        return "tmp:%d" % n[0]

    def key(x):
        k = x[0]
        if k == "tag":
            return "%s:%d" % (tk, x[1]["id"])
        if k == "sub":
            return "%s:%d" % (sk if len(x[1]["subtree"]) > 1 else tk, x[1]["id"])
        if k == "not":
            # NOT also sets bit 0 and the padding past the last resource: AND with `all`.
            out = tmp()
            lines.append("redis.call('BITOP','NOT','%s','%s')" % (out, key(x[1])))
            lines.append("redis.call('BITOP','AND','%s','%s','all')" % (out, out))
            return out
        if k == "and" and x[2][0] == "not":
            out, neg = tmp(), tmp()
            lines.append("redis.call('BITOP','NOT','%s','%s')" % (neg, key(x[2][1])))
            lines.append("redis.call('BITOP','AND','%s','%s','%s')" % (out, key(x[1]), neg))
            return out
        out = tmp()
        lines.append("redis.call('BITOP','%s','%s','%s','%s')"
                     % (k.upper(), out, key(x[1]), key(x[2])))
        return out

    top = key(e)
    lines.append("return answer('%s')" % top)
    return REDIS_WALK + "\n".join(lines)


REDIS_ZSET_FROM_BITMAP = r"""
local k, z = KEYS[1], KEYS[2]
redis.call('DEL', z)
local len, batch = redis.call('STRLEN', k), {}
for off = 0, len - 1, 4096 do
  local chunk = redis.call('GETRANGE', k, off, off + 4095)
  for i = 1, #chunk do
    local b = string.byte(chunk, i)
    if b ~= 0 then
      for j = 0, 7 do
        if bit.band(b, bit.rshift(128, j)) ~= 0 then
          local id = (off + i - 1) * 8 + j
          batch[#batch + 1] = id
          batch[#batch + 1] = id
          if #batch >= 2000 then redis.call('ZADD', z, unpack(batch)); batch = {} end
        end
      end
    end
  end
end
if #batch > 0 then redis.call('ZADD', z, unpack(batch)) end
return redis.call('ZCARD', z)
"""


def q_redis_zset(e, eff):
    """The other way Redis keeps a tag's members: a sorted set scored by id (built from the
    tag's bitmap at load), answered with ZCARD and ZRANGE 0 99. Only for one-tag shapes:
    combining sorted sets (ZINTERSTORE...) costs far more than BITOP on these sizes."""
    key = "z%s:%d" % ("e" if eff else "t", e[1]["id"])
    return ("local ids = redis.call('ZRANGE', '%s', 0, 99)\n"
            "table.insert(ids, 1, redis.call('ZCARD', '%s'))\nreturn ids" % (key, key))


# ---- systems ----

def start_tagd(datadir, threads=2, timeout=600, extra=()):
    port = free_port()
    env = dict(os.environ, TAGD_ADMIN_TOKEN=TOKEN)
    logf = open(os.path.join(WORK, "tagd.log"), "ab")
    t0 = time.time()
    p = subprocess.Popen([TAGD, "--data", datadir, "--listen", "127.0.0.1:%d" % port,
                          "--threads", str(threads), "--log-level", "warn",
                          "--max-conns", "10000"] + list(extra), env=env, stdout=logf,
                         stderr=logf)
    try:
        wait_http("http://127.0.0.1:%d/healthz" % port, timeout=timeout, proc=p)
    except RuntimeError:
        stop(p)
        raise
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
    # Durable (fsync, synchronous_commit, full_page_writes on) and set up for many small
    # commits: commit_delay/commit_siblings group them, wal_compression shrinks the full page
    # images; a 2 GB buffer cache holds the whole data set; random_page_cost for an SSD. The
    # settings a query may want otherwise (parallel workers, JIT, work_mem) are tried per
    # shape at run time (pg_tune) and the fastest is kept.
    opts = ("-p %d -k %s -c listen_addresses='' -c shared_buffers=2GB -c max_connections=200"
            " -c synchronous_commit=on -c fsync=on -c full_page_writes=on -c work_mem=64MB"
            " -c effective_cache_size=8GB -c random_page_cost=1.1 -c max_wal_size=8GB"
            " -c checkpoint_timeout=30min -c checkpoint_completion_target=0.9"
            " -c wal_compression=lz4 -c wal_buffers=64MB -c commit_delay=200"
            " -c commit_siblings=5" % (PG_PORT, PG_SOCK))
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
    """The schema a PostgreSQL expert would give these questions: the join table for writes
    and for a resource's own tags; closure tables for the tag tree and the resource tree; per
    resource a materialized ancestors array (self first); and per resource an int[] of its
    terms (tag ids, plus every inner ancestor's subtree term) for direct and for effective
    tags, each under a GIN index with intarray's gin__int_ops, queried with query_int."""
    psql("CREATE DATABASE bench", db="postgres")
    psql("""
        CREATE EXTENSION intarray;
        CREATE TABLE tags(id int PRIMARY KEY, name text NOT NULL UNIQUE, parent_id int);
        CREATE TABLE resources(id int PRIMARY KEY, kind text NOT NULL, key text NOT NULL,
                               parent_id int);
        CREATE TABLE assignments(resource_id int NOT NULL, tag_id int NOT NULL);""")
    for table, f in (("tags", "tags.tsv"), ("resources", "resources.tsv"),
                     ("assignments", "assign.tsv")):
        psql("\\copy %s FROM '%s'" % (table, os.path.join(WORK, f)))
    psql("""
        ALTER TABLE assignments ADD PRIMARY KEY (resource_id, tag_id);
        CREATE INDEX assignments_tag ON assignments(tag_id, resource_id);
        CREATE UNIQUE INDEX resources_key ON resources(kind, key);
        CREATE INDEX resources_parent ON resources(parent_id);
        CREATE INDEX tags_parent ON tags(parent_id);
        ANALYZE;
        CREATE TABLE tag_closure AS
          WITH RECURSIVE c(anc, des) AS (SELECT id, id FROM tags
            UNION ALL SELECT t.parent_id, c.des FROM c JOIN tags t ON t.id = c.anc
            WHERE t.parent_id IS NOT NULL)
          SELECT anc, des FROM c;
        ALTER TABLE tag_closure ADD PRIMARY KEY (des, anc);
        CREATE TABLE res_closure AS
          WITH RECURSIVE c(anc, des, depth) AS (SELECT id, id, 0 FROM resources
            UNION ALL SELECT r.parent_id, c.des, c.depth + 1 FROM c JOIN resources r
            ON r.id = c.anc WHERE r.parent_id IS NOT NULL)
          SELECT anc, des, depth FROM c;
        ALTER TABLE res_closure ADD PRIMARY KEY (des, anc);
        CREATE INDEX res_closure_anc ON res_closure(anc, des);
        CREATE TABLE res_anc AS SELECT des AS id, array_agg(anc ORDER BY depth) AS anc
          FROM res_closure GROUP BY des;
        ALTER TABLE res_anc ADD PRIMARY KEY (id);
        CREATE TABLE res_terms AS SELECT r.id, coalesce((SELECT sort(array_agg(x)) FROM (
            SELECT a.tag_id AS x FROM assignments a WHERE a.resource_id = r.id
            UNION SELECT c.anc + %(off)d FROM assignments a JOIN tag_closure c
              ON c.des = a.tag_id WHERE a.resource_id = r.id
              AND EXISTS (SELECT 1 FROM tags k WHERE k.parent_id = c.anc)) s),
            '{}') AS terms FROM resources r;
        ALTER TABLE res_terms ADD PRIMARY KEY (id);
        CREATE TABLE res_eterms AS SELECT r.id, coalesce((SELECT uniq(sort(array_agg(x)))
            FROM unnest(r.anc) a(rid) JOIN res_terms t ON t.id = a.rid, unnest(t.terms) x),
            '{}') AS terms FROM res_anc r;
        ALTER TABLE res_eterms ADD PRIMARY KEY (id);
        CREATE INDEX res_terms_gin ON res_terms USING gin(terms gin__int_ops);
        CREATE INDEX res_eterms_gin ON res_eterms USING gin(terms gin__int_ops);""" % {
        "off": SUB_OFFSET})
    psql("VACUUM ANALYZE")


def pg_set(settings):
    """Server-wide settings for the next sessions (pgbench opens new ones on every run)."""
    for k, v in settings.items():
        psql("ALTER SYSTEM SET %s = '%s'" % (k, v))
    psql("SELECT pg_reload_conf()")
    time.sleep(0.2)


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
    sendfile on;
    tcp_nopush on;
    open_file_cache max=1000 inactive=60s;
    open_file_cache_valid 60s;
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


def measure(fn, label, secs, on_start=None, warmup=None):
    """A figure by the method of bench/README.md: a warm-up run (not counted), then RUNS timed
    runs; the figure is the median run (by requests/s) with the minimum and maximum beside
    it, latencies the median of the runs'."""
    fn(warmup or WARMUP, label + "-warmup")
    if on_start:
        on_start()
    runs = [fn(secs, "%s-%d" % (label, i)) for i in range(RUNS)]
    rps = sorted(r["rps"] for r in runs)
    out = {"rps": statistics.median(rps), "min": rps[0], "max": rps[-1], "runs": runs,
           "errors": sum(r.get("errors", 0) for r in runs),
           "requests": sum(r["rps"] * secs for r in runs),
           "client_cpu": sum(r.get("client_cpu", 0) for r in runs)}
    for k in ("p50", "p99", "added"):
        v = [r[k] for r in runs if r.get(k) is not None]
        out[k] = statistics.median(v) if v else None
    if "added" in runs[0]:
        a = sorted(r["added"] for r in runs)
        out["added_min"], out["added_max"] = a[0], a[-1]
    return out


def get_json(url):
    req = urllib.request.Request(url, headers={"Authorization": "Bearer " + TOKEN})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def resp_call(*args):
    """One command over a socket, the reply parsed (redis-cli cannot print binary replies)."""
    with socket.create_connection(("127.0.0.1", REDIS_PORT)) as c:
        msg = b"*%d\r\n" % len(args) + b"".join(
            b"$%d\r\n%s\r\n" % (len(a.encode()), a.encode()) for a in args)
        c.sendall(msg)
        f = c.makefile("rb")

        def read():
            line = f.readline()[:-2]
            t, rest = line[:1], line[1:]
            if t == b"*":
                return [read() for _ in range(int(rest))]
            if t == b"$":
                n = int(rest)
                data = f.read(n + 2)[:-2] if n >= 0 else None
                return data
            if t == b":":
                return int(rest)
            if t == b"-":
                raise RuntimeError(rest.decode())
            return rest.decode()
        return read()


def redis_answer(sha):
    r = resp_call("EVALSHA", sha, "0")
    if len(r) == 3 and isinstance(r[2], bytes) and isinstance(r[1], int):  # bitmap answer
        return r[0], redis_ids(r[1], r[2])
    return int(r[0]), [int(x) for x in r[1:]]  # sorted set answer


def pg_answer(e, eff):
    count_sql, page_sql = pg_sql(e, eff)
    return int(psql(count_sql)), [int(x) for x in psql(page_sql).split()]


# A tag on the resource and on an ancestor is listed once, from the nearest (as tagd does).
PG_RESTAGS = ("SELECT * FROM (SELECT DISTINCT ON (x.tag_id) x.tag_id, ar.key, a.depth, t.name"
              " FROM resources r JOIN res_anc ra ON ra.id = r.id,"
              " unnest(ra.anc) WITH ORDINALITY a(rid, depth) JOIN resources ar ON ar.id = a.rid"
              " JOIN assignments x ON x.resource_id = a.rid JOIN tags t ON t.id = x.tag_id"
              " WHERE r.kind = 'file' AND r.key = %s ORDER BY x.tag_id, a.depth) q"
              " ORDER BY depth, tag_id")


def check_answers(base, qs, shas, zshas, depth3, figs):
    """Before any timing: every reference's answer to every question equals tagd's (the count
    and the first 100 ids of each query shape; the effective tags of sample resources).
    A difference ends the run: a figure for a different answer compares nothing."""
    bad = []
    if "3" in figs:
        for i, (name, e, eff) in enumerate(qs):
            t = get_json(tagd_url(base, e, eff))
            want = (t["total"], t["ids"])
            got = {"PostgreSQL": pg_answer(e, eff), "Redis": redis_answer(shas[i])}
            if i in zshas:
                got["Redis sorted set"] = redis_answer(zshas[i])
            for system, ans in got.items():
                if ans != want:
                    bad.append("%s, %s%s: tagd %d %s..., %s %d %s..." % (
                        system, name, " (effective)" if eff else "", want[0], want[1][:5],
                        system, ans[0], ans[1][:5]))
            log("answers equal: %s%s: %d, first ids %s" % (
                name, " (effective)" if eff else "", want[0], want[1][:3]))
    if "2" in figs:
        for _, kind, key in depth3[:50]:
            t = get_json(base + "/v1/resources/%s/%s/tags?effective=true" % (kind, key))
            want = sorted((it["tag_id"], (it["inherited_from"] or {}).get("key", key))
                          for it in t["items"])
            rows = psql(PG_RESTAGS.replace("%s", "'%s'" % key)).split()
            got = sorted((int(r.split("|")[0]), r.split("|")[1]) for r in rows)
            if got != want:
                bad.append("PostgreSQL, effective tags of %s: tagd %s, PostgreSQL %s"
                           % (key, str(want)[:300], str(got)[:300]))
        log("answers equal: effective tags of %d sample resources" % len(depth3[:50]))
    if bad:
        for b in bad:
            log("ANSWER DIFFERS: " + b)
        raise SystemExit("bench: the references do not answer what tagd answers; no figures")


PG_TUNINGS = [
    {"max_parallel_workers_per_gather": "0", "jit": "off", "work_mem": "64MB"},
    {"max_parallel_workers_per_gather": "2", "jit": "off", "work_mem": "64MB"},
    {"max_parallel_workers_per_gather": "2", "jit": "on", "work_mem": "64MB"},
    {"max_parallel_workers_per_gather": "0", "jit": "off", "work_mem": "4MB"},
]


def tuning_name(t):
    return "parallel %s, jit %s, work_mem %s" % (t["max_parallel_workers_per_gather"], t["jit"],
                                                 t["work_mem"])


def main():
    global WORK, TAGD, RUNS, WARMUP, SOURCE
    SOURCE = source_state()
    ap = argparse.ArgumentParser()
    ap.add_argument("--small", action="store_true")
    ap.add_argument("--tagd", default=os.path.join(ROOT, "build-bench", "tagd"))
    ap.add_argument("--only", default="1,2,3,4,5",
                    help="comma-separated figures to measure (default: all)")
    ap.add_argument("--seconds", type=int, help="length of each timed run")
    ap.add_argument("--runs", type=int, default=3, help="timed runs per figure (at least 3)")
    ap.add_argument("--warmup", type=int, default=2, help="seconds of warm-up before a figure")
    ap.add_argument("--write-seconds", type=int, help="length of each figure-4 run")
    ap.add_argument("--huge", action="store_true",
                    help="the scale figure: tagd alone at 10M and 100M assignments")
    ap.add_argument("--note", default="", help="--huge: a line for the results file")
    ap.add_argument("--interchange", action="store_true",
                    help="the interchange figure: export, then import through POST /v1/import "
                         "against PostgreSQL's COPY of the same rows (docs/interchange.md)")
    ap.add_argument("--chunk", type=int, default=10000,
                    help="--interchange: records per import chunk (at most 10000)")
    ap.add_argument("--inflight", type=int, default=1,
                    help="--interchange: chunks sent before the previous one's answer (1: one "
                         "after the other); the server takes them in order")
    ap.add_argument("--medium", action="store_true",
                    help="--interchange: the 1M-assignment set (100,000 resources)")
    ap.add_argument("--dump",
                    help="--interchange: import this export file only (no generation, export "
                         "or COPY), to compare server builds (--tagd) on the same file")
    ap.add_argument("--gen-only", action="store_true",
                    help="--huge: only generate the two data sets (reused by the next run)")
    args = ap.parse_args()
    if args.huge:
        return scale(args)
    if args.interchange:
        return interchange(args)
    size = "small" if args.small else "full"
    cfg = dict(SIZES[size])
    if args.seconds:
        cfg["seconds"] = args.seconds
    secs = cfg["seconds"]
    wsecs = args.write_seconds or cfg["write_seconds"]
    RUNS, WARMUP = args.runs, args.warmup
    cfg["runs"], cfg["warmup"], cfg["write_seconds"] = RUNS, WARMUP, wsecs
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
        terms[k] = {"id": int(tid), "name": name, "subtree": st}
    depth3 = read_tsv("depth3.tsv")
    qs = shapes(terms)

    # (5) start and memory: an empty tagd, then the loaded one.
    empty_dir = os.path.join(WORK, "tagd-empty")
    p, port, _ = start_tagd(empty_dir)
    rss_empty = rss_bytes(p.pid)
    stop(p)
    # The generator wrote tagd's file behind its back, so the first start checks the whole file
    # (quick_check, as after a crash or a copy) before it loads; a restart after a clean stop,
    # an operator's usual start, does not. Both are measured; the target is read on the restart.
    p, port, first_s = start_tagd(tagd_dir)
    stop(p)
    p, port, start_s = start_tagd(tagd_dir)
    rss = rss_bytes(p.pid)
    base = "http://127.0.0.1:%d" % port
    log("tagd started in %.2f s (first start, with the file's check: %.2f s), RSS %.1f MB "
        "(empty: %.1f MB)" % (start_s, first_s, rss / 1e6, rss_empty / 1e6))

    pgbase = rp = None
    try:
        # Every reference is loaded before anything is timed, so that the answers can be
        # compared first. Each is measured alone: the others sit idle meanwhile.
        if figs & {"2", "3", "4"}:
            t0 = time.time()
            pgbase = pg_start(size)
            pg_load()
            log("PostgreSQL loaded in %.1f s" % (time.time() - t0))
        shas, zshas = [], {}
        if "3" in figs:
            rp = redis_start()
            t0 = time.time()
            with open(os.path.join(WORK, "redis.resp"), "rb") as f:
                sh(["redis-cli", "-p", str(REDIS_PORT), "--pipe"], stdin=f, capture_output=True)
            log("Redis loaded in %.1f s, %s" % (time.time() - t0, redis_cli(
                "INFO", "memory").split("used_memory_human:")[1].split()[0]))
            shas = [redis_cli("SCRIPT", "LOAD", q_redis(e, eff)) for _, e, eff in qs]
            for i, (_, e, eff) in enumerate(qs):
                if e[0] == "tag":
                    k = "%s:%d" % ("e" if eff else "t", e[1]["id"])
                    redis_cli("EVAL", REDIS_ZSET_FROM_BITMAP, "2", k, "z" + k)
                    zshas[i] = redis_cli("SCRIPT", "LOAD", q_redis_zset(e, eff))
        check_answers(base, qs, shas, zshas, depth3, figs)

        if "1" in figs:
            # (1) serving the tag list, against nginx with the same bytes; wrk with 2 threads
            # for both, nginx with as many workers as tagd has loop threads.
            body = urllib.request.urlopen(urllib.request.Request(
                base + "/v1/tags?limit=100", headers={"Authorization": "Bearer " + TOKEN})).read()
            t1 = measure(lambda s, l: wrk(base + "/v1/tags?limit=100", s, 2, 64, label=l),
                         "tags-tagd", secs)
            nport, ndir = nginx_start(body)
            try:
                n1 = measure(lambda s, l: wrk("http://127.0.0.1:%d/tags.json" % nport, s, 2, 64,
                                              label=l), "tags-nginx", secs)
            finally:
                nginx_stop(ndir)
            results.append(("1", "GET /v1/tags?limit=100, requests/s", t1, "nginx static",
                            n1, ">= 1.0x", t1["rps"] >= n1["rps"]))
            results.append(("1", "  p99 ms", t1["p99"], "nginx static", n1["p99"], "", None))

        if "2" in figs:
            # (2) effective tags of random depth-3 resources.
            env = {"BENCH_KEYS": os.path.join(WORK, "depth3.tsv"), "BENCH_TOKEN": TOKEN}
            lua = os.path.join(ROOT, "bench", "lua", "restags.lua")
            cpu = {}
            t2 = measure(lambda s, l: wrk(base, s, 2, CLIENTS, script=lua, env=env, label=l),
                         "restags-tagd", secs,
                         on_start=lambda: cpu.update(c0=cpu_times(p.pid)))
            c1 = cpu_times(p.pid)
            # Where the two cores went, per request: tagd's code, tagd's time in the kernel
            # (the sockets) and the client's. Their sum bounds the requests/s of this machine.
            t2["user_us"] = (c1[0] - cpu["c0"][0]) / t2["requests"] * 1e6
            t2["sys_us"] = (c1[1] - cpu["c0"][1]) / t2["requests"] * 1e6
            t2["client_us"] = t2["client_cpu"] / t2["requests"] * 1e6
            t2_1 = measure(lambda s, l: wrk(base, s, 1, 1, script=lua, env=env, label=l),
                           "restags-tagd-1client", min(secs, 5))
            # The HTTP floor: the same load on a route that does no work at all.
            t2h = measure(lambda s, l: wrk(base + "/healthz", s, 2, CLIENTS, label=l),
                          "healthz-tagd", secs)
            lo, hi = meta["folders1"] + meta["folders2"] + 1, meta["resources"]
            p2 = measure(lambda s, l: pgbench(
                "\\set id random(%d, %d)\n" % (lo, hi) +
                PG_RESTAGS.replace("%s", "'f-' || :id") + ";\n", s, CLIENTS, l),
                "pg-restags", secs)
            results.append(("2", "effective tags of a depth-3 resource, requests/s", t2,
                            "PostgreSQL", p2, ">= 10x", t2["rps"] >= 10 * p2["rps"]))
            results.append(("2", "  p50 ms, %d clients" % CLIENTS, t2["p50"], "PostgreSQL",
                            p2["p50"], "", None))
            results.append(("2", "  p50 ms, 1 client", t2_1["p50"], "", None, "< 1 ms",
                            t2_1["p50"] < 1))
            results.append(("2", "  HTTP floor: GET /healthz, same load", t2h, "PostgreSQL",
                            p2, "", None))
            results.append(("2", "  CPU µs per request: tagd's code + tagd in the kernel"
                            " (reference: wrk, the client)",
                            "%.1f + %.1f" % (t2["user_us"], t2["sys_us"]), "wrk",
                            t2["client_us"], "", None))

        if "3" in figs:
            # (3) boolean queries: tagd, the HTTP floor under the same load, PostgreSQL with
            # its fastest settings per shape, Redis.
            th = measure(lambda s, l: wrk(base + "/healthz", s, 2, CLIENTS, label=l),
                         "healthz-tagd-q", secs)
            tq, tq1 = [], []
            for i, (name, e, eff) in enumerate(qs):
                url = tagd_url(base, e, eff)
                tq.append(measure(lambda s, l: wrk(url, s, 2, CLIENTS, label=l),
                                  "query-tagd-%d" % i, secs))
                tq1.append(measure(lambda s, l: wrk(url, s, 1, 1, label=l),
                                   "query-tagd-%d-1client" % i, min(secs, 3)))
            # PostgreSQL: each shape under each candidate setting for a short run, then the
            # fastest measured by the method.
            tune = []
            for t in PG_TUNINGS:
                pg_set(t)
                # At least 2 s: on a loaded machine a 1 s run ended before 8 clients had
                # connected and finished one transaction (pgbench then reports no tps).
                tune.append([pgbench("%s;\n%s;\n" % pg_sql(e, eff), max(WARMUP, 2), CLIENTS,
                                     "tune-%d" % i)["rps"] for i, (_, e, eff) in enumerate(qs)])
            pq, pbest = [], []
            for i, (name, e, eff) in enumerate(qs):
                best = max(range(len(PG_TUNINGS)), key=lambda k: tune[k][i])
                pbest.append(best)
                pg_set(PG_TUNINGS[best])
                pq.append(measure(lambda s, l: pgbench("%s;\n%s;\n" % pg_sql(e, eff), s, CLIENTS,
                                                       l), "pg-query-%d" % i, secs))
            pg_set(PG_TUNINGS[0])
            # Redis: bitmaps for every shape; for one-tag shapes also a sorted set, and the
            # faster of the two is the reference.
            rr, rname = [], []
            for i in range(len(qs)):
                r = measure(lambda s, l: redis_bench(["EVALSHA", shas[i], "0"], s, CLIENTS, l),
                            "redis-query-%d" % i, secs)
                name = "Redis bitmaps"
                if i in zshas:
                    z = measure(lambda s, l: redis_bench(["EVALSHA", zshas[i], "0"], s, CLIENTS,
                                                         l), "redis-zset-query-%d" % i, secs)
                    if z["rps"] > r["rps"]:
                        r, name = z, "Redis sorted set (bitmaps: %s)" % fmt(r["rps"])
                    else:
                        name = "Redis bitmaps (sorted set: %s)" % fmt(z["rps"])
                rr.append(r)
                rname.append(name)
            for i, (name, e, eff) in enumerate(qs):
                t = tq[i]
                label = "query %s%s: `%s`" % (name, ", effective" if eff else "", q_tagd(e))
                r_ok = (t["rps"] >= 2 * rr[i]["rps"] or
                        (2 * rr[i]["rps"] > th["rps"] and t["rps"] >= 0.9 * th["rps"]))
                results.append(("3", label + ", requests/s", t, rname[i], rr[i],
                                ">= 2x (or 90% of floor)", r_ok))
                results.append(("3", "", None, "PostgreSQL intarray (%s)"
                                % tuning_name(PG_TUNINGS[pbest[i]]), pq[i], ">= 100x",
                                t["rps"] >= 100 * pq[i]["rps"]))
                results.append(("3", "  p50 ms, 1 client", tq1[i]["p50"], "", None, "< 0.2 ms",
                                tq1[i]["p50"] < 0.2))
            results.append(("3", "HTTP floor: GET /healthz, same load", th, "", None, "", None))
            with open(os.path.join(WORK, "pg-tuning.txt"), "w") as f:
                for k, t in enumerate(PG_TUNINGS):
                    f.write("%s: %s\n" % (tuning_name(t), ", ".join("%.1f" % v for v in tune[k])))
            results.append(("3", "PostgreSQL settings tried per shape (short runs, tx/s): "
                            + "; ".join("%s: %s" % (tuning_name(t), "/".join(
                                "%.0f" % v for v in tune[k])) for k, t in enumerate(PG_TUNINGS)),
                            None, "", None, "", None))
        if rp:
            stop(rp)
            rp = None

        if "4" in figs:
            # (4) durable assignment adds from 64 clients (last: it changes the data). Each
            # run lasts long enough for tagd's WAL to start over at least once.
            lua_w = os.path.join(ROOT, "bench", "lua", "writes.lua")
            wenv = {"BENCH_FILES": str(meta["resources"]), "BENCH_TAGS": str(meta["tags"]),
                    "BENCH_FIRST_FILE": str(meta["folders1"] + meta["folders2"] + 1),
                    "BENCH_TOKEN": TOKEN}
            quiet_disk()

            def tagd_writes(s, l):
                # Rows added, not requests, are the figure: an add of a tag the resource
                # already has writes nothing (see bench/lua/writes.lua).
                n0 = tagd_gauge(base, "tagd_assignments")
                r = wrk(base, s, 2, WRITE_CLIENTS, script=lua_w, env=wenv, label=l)
                r["added"] = (tagd_gauge(base, "tagd_assignments") - n0) / s
                return r
            t4 = measure(tagd_writes, "writes-tagd", wsecs, warmup=max(WARMUP, 3))
            log("tagd: %.0f requests/s, %.0f rows added/s" % (t4["rps"], t4["added"]))
            stop(p)
            p = None
            lo, hi = meta["folders1"] + meta["folders2"] + 1, meta["resources"]

            def pg_writes(s, l):
                n0 = int(psql("SELECT count(*) FROM assignments"))
                r = pgbench("\\set r random(%d, %d)\n\\set t random(1, %d)\n"
                            "INSERT INTO assignments(resource_id, tag_id) VALUES (:r, :t)"
                            " ON CONFLICT DO NOTHING;\n" % (lo, hi, meta["tags"]),
                            s, WRITE_CLIENTS, l)
                # Over the time the transactions ran: 64 new connections (a fork each) take a
                # while to start, which pgbench's tps leaves out too.
                r["added"] = (int(psql("SELECT count(*) FROM assignments")) - n0) / r["busy_s"]
                return r
            # No CHECKPOINT before: PostgreSQL runs in its steady state, as tagd does.
            quiet_disk()
            p4 = measure(pg_writes, "writes-pg", wsecs, warmup=max(WARMUP, 3))
            log("PostgreSQL: %.0f transactions/s, %.0f rows added/s" % (p4["rps"], p4["added"]))
            results.append(("4", "durable assignment adds/s (rows added), 64 clients",
                            dict(t4, rps=t4["added"], min=t4["added_min"], max=t4["added_max"]),
                            "PostgreSQL (commit_delay 200, siblings 5, wal_compression lz4)",
                            dict(p4, rps=p4["added"], min=p4["added_min"], max=p4["added_max"]),
                            ">= 1x", t4["added"] >= p4["added"]))
            results.append(("4", "  requests/s (transactions/s)", t4, "PostgreSQL", p4, "",
                            None))
    finally:
        stop(p)
        stop(rp)
        if pgbase:
            pg_stop(pgbase)

    if "5" in figs:
        per = rss / meta["assignments"]
        per_net = (rss - rss_empty) / meta["assignments"]
        results.append(("5", "start with the data set loaded (restart after a clean stop), s",
                        start_s, "target", 10.0, "< 10 s", start_s < 10))
        results.append(("5", "  first start after the generator wrote the file (checks it "
                        "whole first), s", first_s, "", None, "", None))
        results.append(("5", "resident memory per assignment, bytes (whole process)", per,
                        "target", 64.0, "< 64", per < 64))
        results.append(("5", "  the same above an empty tagd's RSS", per_net, "target", 64.0,
                        "< 64", per_net < 64))
    report(size if figs >= set("12345") else "%s-fig%s" % (size, "".join(sorted(figs))), cfg,
           meta, results, args)


def fmt(v):
    if v is None:
        return ""
    if isinstance(v, dict):
        return "%s (%s-%s)" % (fmt(v["rps"]), fmt(v["min"]), fmt(v["max"]))
    if isinstance(v, float):
        if v >= 1000:
            return "{:,.0f}".format(v)
        if v >= 10:
            return "%.1f" % v
        return "%.3g" % v
    return str(v)


def value(v):
    return v["rps"] if isinstance(v, dict) else v if isinstance(v, (int, float)) else None


def source_state():
    """The commit the run measures, taken at its start (files may change while it runs)."""
    commit = sh(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                text=True, check=False).stdout.strip()
    dirty = sh(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
               capture_output=True, text=True, check=False).stdout.strip()
    return commit + (" (with uncommitted changes)" if dirty else "")


def report(size, cfg, meta, results, args):
    now = datetime.datetime.now(datetime.timezone.utc)
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = [l.split(":", 1)[1].strip() for l in f if l.startswith("model name")][0]
    except (OSError, IndexError):
        pass
    cmd = "bench/run" + "".join(" " + a for a in sys.argv[1:])
    head = [
        "# tagd benchmark: %s data set, %s" % (size, now.strftime("%Y-%m-%d %H:%M UTC")),
        "",
        "Command: `%s` at commit %s." % (cmd, SOURCE),
        "Data: %d tags in 3 levels, %d resources in 3 levels, %d assignments (Zipf(1) over tags),"
        " seed %d." % (meta["tags"], meta["resources"], meta["assignments"], SEED),
        "Machine: %d CPUs (%s), %.0f GB RAM. tagd: --threads 2, SQLite, log level warn."
        % (os.cpu_count(), cpu, os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9),
        "Every answer of every reference was checked equal to tagd's before any timing."
        if set(args.only.split(",")) & {"2", "3"} else
        "No reference answers a question in these figures (nothing to compare).",
        "Each figure: %d s warm-up, then %d timed runs of %d s (figure 4: %d s); the table shows"
        " the median run with the minimum and maximum in parentheses. Figures 2 and 3 use %d"
        " concurrent clients for every system, figure 4 uses %d; wrk runs 2 threads."
        " Ratio = tagd / reference on the medians (for latency and memory rows: lower is"
        " better)." % (cfg["warmup"], cfg["runs"], cfg["seconds"], cfg["write_seconds"], CLIENTS,
                       WRITE_CLIENTS),
        "",
        "| # | figure | tagd | reference | reference figure | ratio | target | met |",
        "| --- | --- | ---: | --- | ---: | ---: | --- | --- |",
    ]
    rows = []
    for fig, metric, t, ref, r, target, ok in results:
        errors = t.get("errors", 0) if isinstance(t, dict) else 0
        note = " (%d non-2xx)" % errors if errors else ""
        tv, rv = value(t), value(r)
        ratio = "%.2fx" % (tv / rv) if tv is not None and rv else ""
        rows.append("| %s | %s | %s%s | %s | %s | %s | %s | %s |" % (
            fig, metric, fmt(t), note, ref, fmt(r), ratio, target,
            "" if ok is None else ("yes" if ok and not errors else "**no**")))
    text = "\n".join(head + rows) + "\n"
    print("\n" + text)
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    path = os.path.join(ROOT, "bench", "results", "%s-%s.md" % (now.strftime("%Y-%m-%d"), size))
    with open(path, "w") as f:
        f.write(text)
    log("saved " + os.path.relpath(path, ROOT))


def interchange(args):
    """bench/run --interchange [--small]: the data set (10M assignments, or the small one)
    exported from a loaded tagd with GET /v1/export (JSON lines, streamed to a file), then
    imported into an empty tagd through POST /v1/import in chunks of --chunk records, one
    request after the other as tagctl sends them; against PostgreSQL's COPY of the same
    assignment rows (resource id, tag id) into a table with its primary key, which is the
    floor of a bulk load (no names to resolve, no rules, no history). Times are wall clock;
    rows per second count assignments."""
    global WORK, TAGD
    size = "small" if args.small else "medium" if args.medium else "full"
    cfg = SIZES[size]
    TAGD = args.tagd
    if args.dump:
        return import_only(args)
    WORK = os.path.join(ROOT, "bench", "results", "tmp", "xchg-" + size)
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    gen = os.path.join(WORK, "gen")
    sh(["cc", "-O2", "-o", gen, os.path.join(ROOT, "bench", "gen.c"), "-lsqlite3"])
    loaded = os.path.join(WORK, "tagd")
    p, _, _ = start_tagd(loaded)
    stop(p)
    sh([gen, os.path.join(loaded, "tagd.db"), WORK, str(cfg["roots"]), str(cfg["mids"]),
        str(cfg["leaves"]), str(cfg["resources"]), str(cfg["assignments"]), str(SEED)])
    meta = {k: int(v) for k, v in read_tsv("meta.tsv")}
    res = {"meta": meta}
    dump = os.path.join(WORK, "export.jsonl")
    p, port, _ = start_tagd(loaded, timeout=3600)
    try:
        req = urllib.request.Request("http://127.0.0.1:%d/v1/export?format=jsonl" % port,
                                     headers={"Authorization": "Bearer " + TOKEN})
        t0 = time.time()
        n = 0
        with urllib.request.urlopen(req, timeout=3600) as r, open(dump, "wb") as f:
            while True:
                b = r.read(1 << 20)
                if not b:
                    break
                n += len(b)
                f.write(b)
        res["export_s"], res["export_bytes"] = time.time() - t0, n
    finally:
        stop(p)
    with open(dump, "rb") as f:
        last = f.readlines()[-1]
    end = json.loads(last)
    assert end["type"] == "end", last
    res["records"] = end
    log("export: %d bytes, %d assignments in %.1f s" % (n, end["assignments"], res["export_s"]))
    # 10,000 records of this data set's JSON lines pass 1 MiB (the default --max-body) by a
    # little: the chunk is bounded by its records here, not by the server's default.
    p, port, _ = start_tagd(os.path.join(WORK, "tagd-empty"),
                            extra=("--max-body", str(8 << 20)))
    try:
        url = "http://127.0.0.1:%d/v1/import" % port
        hdr = {"Authorization": "Bearer " + TOKEN, "Content-Type": "application/x-ndjson"}
        t0 = time.time()
        with open(dump, "rb") as f:
            job, chunks = import_file(url, hdr, f, args.chunk, args.inflight)
        res["import_s"], res["chunks"] = time.time() - t0, chunks
        assert job["state"] == "done", job
    finally:
        stop(p)
    log("import: %d chunks in %.1f s (%.0f assignments/s)" % (
        chunks, res["import_s"], end["assignments"] / res["import_s"]))
    pgbase = pg_start("xchg-" + size)
    try:
        psql("CREATE DATABASE bench", db="postgres")
        psql("CREATE TABLE assignments(resource_id int NOT NULL, tag_id int NOT NULL,"
             " PRIMARY KEY (resource_id, tag_id))")
        t0 = time.time()
        psql("\\copy assignments FROM '%s'" % os.path.join(WORK, "assign.tsv"))
        res["copy_s"] = time.time() - t0
    finally:
        pg_stop(pgbase)
    log("PostgreSQL COPY: %.1f s" % res["copy_s"])
    a = end["assignments"]
    lines = [
        "interchange (%s, %d assignments, %d resources; bench/bench.py --interchange%s)" % (
            size, a, end["resources"], " --small" if args.small else ""),
        "export (GET /v1/export, JSON lines): %.1f s, %.0f assignments/s, %.1f MB/s" % (
            res["export_s"], a / res["export_s"], n / 1e6 / res["export_s"]),
        "import (POST /v1/import, %d chunks of %d, %d in flight): %.1f s, %.0f assignments/s"
        " (target: < 60 s at 10M)" % (res["chunks"], args.chunk, args.inflight, res["import_s"],
                                      a / res["import_s"]),
        "PostgreSQL COPY of the same assignment rows: %.1f s (import / COPY: %.1fx)" % (
            res["copy_s"], res["import_s"] / res["copy_s"]),
    ]
    out = os.path.join(ROOT, "bench", "results", "interchange-%s-%s.txt" % (
        size, datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")))
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


def import_only(args):
    """--interchange --dump FILE: FILE (an export) into an empty tagd, as the figure imports;
    prints the time, the rate and the CPU seconds of tagd's threads (a shared machine's wall
    clock moves; the CPU a build spends moves less)."""
    global WORK
    WORK = os.path.join(ROOT, "bench", "results", "tmp", "xchg-dump-%d" % os.getpid())
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    with open(args.dump, "rb") as f:
        end = json.loads(f.readlines()[-1])
    p, port, _ = start_tagd(os.path.join(WORK, "tagd"), extra=("--max-body", str(8 << 20)))
    try:
        url = "http://127.0.0.1:%d/v1/import" % port
        hdr = {"Authorization": "Bearer " + TOKEN, "Content-Type": "application/x-ndjson"}
        t0 = time.time()
        with open(args.dump, "rb") as f:
            job, chunks = import_file(url, hdr, f, args.chunk, args.inflight)
        secs = time.time() - t0
        assert job["state"] == "done", job
        cpu = {}
        tick = os.sysconf("SC_CLK_TCK")
        for t in os.listdir("/proc/%d/task" % p.pid):
            with open("/proc/%d/task/%s/stat" % (p.pid, t)) as f:
                st = f.read()
            comm = st[st.index("(") + 1:st.rindex(")")].replace("tagd-", "")
            x = st[st.rindex(")") + 2:].split()
            cpu[comm] = cpu.get(comm, 0) + (int(x[11]) + int(x[12])) / tick
    finally:
        stop(p)
        shutil.rmtree(WORK, ignore_errors=True)
    print("import %s (%d assignments, %d chunks of %d, %d in flight, %s): %.1f s, %.0f "
          "assignments/s; tagd CPU %.1f s (%s)" % (
              os.path.basename(args.dump), end["assignments"], chunks, args.chunk,
              args.inflight, args.tagd, secs, end["assignments"] / secs, sum(cpu.values()),
              ", ".join("%s %.1f" % kv for kv in sorted(cpu.items()) if kv[1] >= 0.1)))


def import_file(url, hdr, f, size, inflight):
    """Imports the lines of file f in chunks of `size` records with up to `inflight` requests
    on their way: while the writer applies one chunk the next one travels and is parsed (the
    server's prepare step), which one after the other leaves idle. The first chunk goes alone
    (it names the job). The server takes a job's chunks in order only: one that arrives before
    its predecessor is refused with 409 (field "chunk") and is sent again once that one is
    in. Returns the job and the number of chunks."""
    import concurrent.futures

    def batches():
        batch = []
        for line in f:
            batch.append(line)
            if len(batch) == size:
                yield batch
                batch = []
        yield batch

    it = batches()
    cur = next(it)
    nxt = next(it, None)
    job = import_post(url, hdr, cur, None, 0, nxt is None)
    chunks = 1
    pending = []
    with concurrent.futures.ThreadPoolExecutor(max(1, inflight)) as ex:
        while nxt is not None or pending:
            while nxt is not None and len(pending) < max(1, inflight):
                cur, nxt = nxt, next(it, None)
                pending.append((chunks, cur, nxt is None,
                                ex.submit(import_post, url, hdr, cur, job, chunks, nxt is None)))
                chunks += 1
            k, batch, last, fut = pending.pop(0)
            try:
                job = fut.result()
            except urllib.error.HTTPError as e:
                body = json.loads(e.read() or b"{}")
                if e.code != 409 or body.get("error", {}).get("details", {}).get("field") != "chunk":
                    raise
                job = import_post(url, hdr, batch, job, k, last)
    return job, chunks


def import_post(url, hdr, batch, job, chunk, last):
    """One chunk of an import; returns the job."""
    q = {"last": "true" if last else "false"}
    if job:
        q.update(job=job["id"], chunk=str(chunk))
    req = urllib.request.Request(url + "?" + urllib.parse.urlencode(q), data=b"".join(batch),
                                 headers=hdr, method="POST")
    with urllib.request.urlopen(req, timeout=3600) as r:
        return json.loads(r.read())


def scale(args):
    """bench/run --huge: how start time, memory per assignment and the p50 of every figure-3
    shape with one client grow from the full data set (10M assignments) to ten times it (100M),
    tagd alone (issue 19 asks no reference at that size). Each size's data stays in
    bench/results/tmp/scale-SIZE/ and is reused by the next run (its generation at 100M takes
    the better part of an hour); the store is copied fresh first, as tagd's start writes to
    it."""
    global WORK, TAGD, RUNS, WARMUP, SOURCE
    TAGD = args.tagd
    RUNS, WARMUP = args.runs, args.warmup
    secs = args.seconds or 5
    out = {}
    for size in ("full", "huge"):
        cfg = SIZES[size]
        WORK = os.path.join(ROOT, "bench", "results", "tmp", "scale-" + size)
        pristine = os.path.join(WORK, "pristine")
        if not os.path.exists(os.path.join(WORK, "gen.done")):
            shutil.rmtree(WORK, ignore_errors=True)
            os.makedirs(WORK)
            gen = os.path.join(WORK, "gen")
            sh(["cc", "-O2", "-o", gen, os.path.join(ROOT, "bench", "gen.c"), "-lsqlite3"])
            p, _, _ = start_tagd(pristine)
            stop(p)
            t0 = time.time()
            sh([gen, os.path.join(pristine, "tagd.db"), WORK, str(cfg["roots"]),
                str(cfg["mids"]), str(cfg["leaves"]), str(cfg["resources"]),
                str(cfg["assignments"]), str(SEED), "tagd"])
            log("%s: generated in %.0f s" % (size, time.time() - t0))
            open(os.path.join(WORK, "gen.done"), "w").close()
        if args.gen_only:
            continue
        meta = {k: int(v) for k, v in read_tsv("meta.tsv")}
        terms = {k: {"id": int(tid), "name": name} for k, tid, name in read_tsv("terms.tsv")}
        data = os.path.join(WORK, "run")
        shutil.rmtree(data, ignore_errors=True)
        shutil.copytree(pristine, data)
        sh(["sync"])
        if "empty" not in out:
            p, _, _ = start_tagd(os.path.join(WORK, "tagd-empty"))
            out["empty"] = rss_bytes(p.pid)
            stop(p)
        # 100M on a loaded 2-core machine took longer than start_tagd's usual 600 s. The copy
        # makes the first start check the whole file (see main()): the restart is measured.
        p, _, first_s = start_tagd(data, timeout=7200)
        stop(p)
        log("%s: first start (with the file's check) in %.1f s" % (size, first_s))
        p, port, start_s = start_tagd(data, timeout=7200)
        rss = rss_bytes(p.pid)
        base = "http://127.0.0.1:%d" % port
        log("%s: started in %.1f s, RSS %.0f MB" % (size, start_s, rss / 1e6))
        r = {"meta": meta, "start": start_s, "rss": rss, "shapes": []}
        try:
            for name, e, eff in shapes(terms):
                url = tagd_url(base, e, eff)
                total = get_json(url)["total"]
                m = measure(lambda s, l: wrk(url, s, 1, 1, label=l),
                            "scale-%s-%s%s" % (size, name.replace(" ", "_"), "-eff" if eff else ""),
                            secs)
                r["shapes"].append((name + (", effective" if eff else ""), m, total))
                log("%s: %s%s: p50 %.3f ms (%d matches)" %
                    (size, name, " effective" if eff else "", m["p50"], total))
        finally:
            stop(p)
            shutil.rmtree(data, ignore_errors=True)
        out[size] = r
    if not args.gen_only:
        scale_report(out, args, secs)


def scale_report(out, args, secs):
    now = datetime.datetime.now(datetime.timezone.utc)
    f, h = out["full"], out["huge"]
    cmd = "bench/run" + "".join(" " + a for a in sys.argv[1:])

    def per(r, above):
        return ((r["rss"] - (out["empty"] if above else 0)) / r["meta"]["assignments"])

    def g(a, b):
        return "%.2fx" % (b / a) if a else ""
    lines = [
        "# tagd benchmark: scale figure (--huge), %s" % now.strftime("%Y-%m-%d %H:%M UTC"),
        "",
        "Command: `%s` at commit %s." % (cmd, SOURCE),
        "Data: the benchmark's generator and seed at two sizes: %d tags, %d resources, %d"
        " assignments, and %d resources, %d assignments (tagd alone: no reference is asked for"
        " at 100M)." % (f["meta"]["tags"], f["meta"]["resources"], f["meta"]["assignments"],
                        h["meta"]["resources"], h["meta"]["assignments"]),
        "Machine: %d CPUs, %.0f GB RAM. tagd: --threads 2, SQLite, log level warn. Queries: one"
        " client (wrk -t1 -c1), %d s warm-up then %d runs of %d s, the median p50."
        % (os.cpu_count(),
           os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9, WARMUP, RUNS, secs),
    ]
    if args.note:
        lines.append(args.note)
    lines += ["", "| figure | 10M | 100M | growth (100M / 10M) | target |",
              "| --- | ---: | ---: | ---: | --- |",
              "| start with the data set loaded, s | %.1f | %.1f | %s | < 10 s at 10M, < 100 s"
              " at 100M |" % (f["start"], h["start"], g(f["start"], h["start"])),
              "| resident memory, MB (whole process) | %.0f | %.0f | %s | |"
              % (f["rss"] / 1e6, h["rss"] / 1e6, g(f["rss"], h["rss"])),
              "| bytes per assignment (whole process) | %.1f | %.1f | %s | < 64 |"
              % (per(f, False), per(h, False), g(per(f, False), per(h, False))),
              "| bytes per assignment above an empty tagd (%.1f MB) | %.1f | %.1f | %s | |"
              % (out["empty"] / 1e6, per(f, True), per(h, True), g(per(f, True), per(h, True)))]
    for (name, mf, tf), (_, mh, th) in zip(f["shapes"], h["shapes"]):
        lines.append("| query %s: p50 ms, one client (matches 10M / 100M: %d / %d) | %.3f | %.3f"
                     " | %s | < 0.2 ms |" % (name, tf, th, mf["p50"], mh["p50"],
                                            g(mf["p50"], mh["p50"])))
        if mf.get("errors") or mh.get("errors"):
            lines[-1] += " (non-2xx answers!)"
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    path = os.path.join(ROOT, "bench", "results", "%s-huge.md" % now.strftime("%Y-%m-%d"))
    with open(path, "w") as fh:
        fh.write(text)
    log("saved " + os.path.relpath(path, ROOT))


if __name__ == "__main__":
    main()
