"""/metrics in the Prometheus text format, checked strictly (docs/operations.md, "Metrics").

`promtool check metrics` is the reference, but Debian ships it only in the `prometheus` package
(96 MB installed, and its postinst starts a Prometheus server), so scripts/test takes the one
program out of that package without installing it; this module also checks the same rules
itself, so that a run without promtool still checks them: every family has HELP and TYPE before its samples and its samples together; names and
labels are well formed; counters end in _total; a histogram has cumulative buckets ending with
le="+Inf" equal to its _count, and a _sum; no series twice."""
import math
import os
import re
import shutil
import subprocess

import pytest
import requests

from conftest import ADMIN_TOKEN

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')


def parse_labels(text):
    labels, pos = {}, 0
    while pos < len(text):
        m = LABEL.match(text, pos)
        assert m, "bad labels: {%s}" % text
        assert m.group(1) not in labels, "label %s twice: {%s}" % (m.group(1), text)
        labels[m.group(1)] = m.group(2)
        pos = m.end()
        if pos < len(text):
            assert text[pos] == ",", "bad labels: {%s}" % text
            pos += 1
    return labels


def check(text):
    """Returns {family: {"type": t, "samples": [(name, labels, value)]}} or fails."""
    fams, order, current = {}, [], None
    assert text.endswith("\n")
    for line in text.splitlines():
        assert line, "empty line"
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            kind, name, rest = line[2:6], *line[7:].split(" ", 1)
            assert NAME.match(name), line
            f = fams.setdefault(name, {"type": None, "help": None, "samples": []})
            key = "help" if kind == "HELP" else "type"
            assert f[key] is None, "second %s for %s" % (kind, name)
            assert not f["samples"], "%s after the samples of %s" % (kind, name)
            assert rest.strip(), "empty %s for %s" % (kind, name)
            if kind == "TYPE":
                assert rest in ("counter", "gauge", "histogram", "summary", "untyped"), line
            f[key] = rest
            if name != current:
                assert name not in order, "family %s split" % name
                order.append(name)
                current = name
            continue
        assert not line.startswith("#"), line
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$", line)
        assert m, "bad sample line: %r" % line
        name, labels, value = m.group(1), parse_labels(m.group(2) or ""), m.group(3)
        v = float(value)  # also accepts +Inf, NaN
        fam = current
        f = fams.get(fam)
        assert f is not None, "sample %s without HELP/TYPE" % name
        t = f["type"]
        if t == "histogram":
            assert name in (fam + "_bucket", fam + "_sum", fam + "_count"), line
        else:
            assert name == fam, "sample %s inside family %s" % (name, fam)
        f["samples"].append((name, labels, v))
    for name, f in fams.items():
        assert f["help"] and f["type"], "family %s lacks HELP or TYPE" % name
        if f["type"] == "counter":
            assert name.endswith("_total"), "counter %s must end in _total" % name
        else:
            assert not name.endswith("_total"), "%s %s ends in _total" % (f["type"], name)
        seen = set()
        for s, labels, v in f["samples"]:
            key = (s, tuple(sorted(labels.items())))
            assert key not in seen, "series twice: %s %s" % key
            seen.add(key)
            if f["type"] == "counter":
                assert v >= 0 and not math.isnan(v)
        if f["type"] == "histogram":
            series = {}
            for s, labels, v in f["samples"]:
                rest = tuple(sorted((k, x) for k, x in labels.items() if k != "le"))
                series.setdefault(rest, {"buckets": [], "sum": None, "count": None})
                if s.endswith("_bucket"):
                    series[rest]["buckets"].append((float(labels["le"]), v))
                elif s.endswith("_sum"):
                    series[rest]["sum"] = v
                else:
                    series[rest]["count"] = v
            for rest, h in series.items():
                les = [le for le, _ in h["buckets"]]
                assert les == sorted(les) and les and les[-1] == math.inf, (name, rest, les)
                counts = [c for _, c in h["buckets"]]
                assert counts == sorted(counts), "buckets of %s %s not cumulative" % (name, rest)
                assert h["count"] == counts[-1] and h["sum"] is not None, (name, rest)
    return fams


def test_metrics_format_1_strict(server, admin):
    admin.post("/v1/tags", json={"name": "Mf.a"})
    admin.get("/v1/tags")
    requests.get(server.url + "/nope")
    r = requests.get(server.url + "/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    fams = check(r.text)

    # metrics-1.1: method, route and code as labels of their own; a histogram per route.
    req = fams["tagd_requests_total"]["samples"]
    assert any(l == {"method": "POST", "route": "/v1/tags", "code": "201"} for _, l, _ in req), req
    assert any(l == {"method": "GET", "route": "/v1/tags", "code": "200"} for _, l, _ in req), req
    assert fams["tagd_request_duration_seconds"]["type"] == "histogram"
    routes = {(l["method"], l["route"]) for _, l, _ in fams["tagd_request_duration_seconds"]["samples"]}
    assert {("POST", "/v1/tags"), ("GET", "/v1/tags")} <= routes, routes

    # metrics-1.2: the process and the build.
    for name in ("process_cpu_seconds_total", "process_resident_memory_bytes",
                 "process_open_fds", "process_start_time_seconds"):
        assert fams[name]["samples"][0][2] > 0, name
    (_, labels, v), = fams["tagd_build_info"]["samples"]
    assert v == 1 and labels["version"] and re.match(r"^([0-9a-f]{7,}|unknown)$", labels["commit"])

    # metrics-1.3: the engine, the pipeline, the WAL, the lag.
    kinds = {l["kind"]: v for _, l, v in fams["tagd_engine_items"]["samples"]}
    assert kinds["tags"] >= 2, kinds  # Mf and Mf.a
    assert "tagd_engine_bitmap_bytes" in fams
    stages = {l["stage"] for _, l, _ in fams["tagd_pipeline_queue_jobs"]["samples"]}
    assert stages == {"fetch", "write", "publish"}
    batch = {s: v for s, l, v in fams["tagd_writer_batch_size"]["samples"] if not l}
    assert batch["tagd_writer_batch_size_count"] >= 1
    if not server.store:  # SQLite
        assert fams["tagd_wal_bytes"]["samples"][0][2] > 0
    assert fams["tagd_engine_lag_revisions"]["samples"][0][2] >= 0


def test_metrics_format_2_promtool(server):
    promtool = shutil.which("promtool")
    if promtool is None:
        # scripts/test takes promtool out of Debian's package and requires it; elsewhere the
        # checks above stand in for it (see the module's docstring).
        assert not os.environ.get("TAGD_REQUIRE_PROMTOOL"), "promtool is not on PATH"
        pytest.skip("promtool is not on PATH")
    text = requests.get(server.url + "/metrics").text
    out = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_metrics_format_3_checker_rejects():
    """The checker itself catches what promtool does."""
    bad = [
        "tagd_x 1\n",                                                        # no HELP/TYPE
        "# HELP a_total x\n# TYPE a_total counter\na_total 1\n# HELP b x\n# TYPE b gauge\nb 1\na_total 2\n",
        "# HELP c x\n# TYPE c counter\nc 1\n",                                # counter without _total
        "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
        '# HELP g x\n# TYPE g gauge\ng{a="1",a="2"} 1\n',
    ]
    for text in bad:
        try:
            check(text)
        except AssertionError:
            continue
        raise AssertionError("accepted: %r" % text)
