"""tagctl, the command-line client (docs/cli.md), against a real tagd.

Every command, output format and exit code, and the bad input a shell user gives: an unknown
command, a bad flag, a malformed query, a server that does not answer, an expired or revoked
token. tagctl is $TAGCTL_BIN or build/tagctl; under the sanitizers (scripts/test's second
pass) its own leaks and errors fail the test that ran it."""
import csv
import datetime
import io
import json
import os
import pty
import select
import shutil
import signal
import stat
import struct
import subprocess
import tempfile
import time
import fcntl
import termios

import pytest
import requests
import yaml

from conftest import ADMIN_TOKEN, ROOT, Server, free_port

TAGCTL = os.environ.get("TAGCTL_BIN", os.path.join(ROOT, "build", "tagctl"))
SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "runtime error:")

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_NOTFOUND, EXIT_CONFLICT, EXIT_AUTH, EXIT_UNREACHABLE = range(7)


@pytest.fixture(scope="module")
def home():
    d = tempfile.mkdtemp(prefix="tagctl-home-")
    yield d
    subprocess.run(["rm", "-rf", d])


def base_env(home, **extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TAGD_URL", "TAGD_TOKEN", "TAGCTL_", "NO_COLOR", "COLUMNS"))}
    env["XDG_CONFIG_HOME"] = os.path.join(home, "config")
    env["HOME"] = home
    env.update(extra)
    return env


class Ctl:
    def __init__(self, server, home):
        self.server = server
        self.home = home

    def env(self, token=ADMIN_TOKEN, **extra):
        e = base_env(self.home, **dict({"TAGD_URL": self.server.url}, **extra))
        if token is not None:
            e["TAGD_TOKEN"] = token
        return e

    def __call__(self, *args, rc=0, token=ADMIN_TOKEN, stdin=None, env=None, timeout=60):
        p = subprocess.run([TAGCTL, *args], input=stdin, capture_output=True, text=True,
                           env=env or self.env(token), timeout=timeout)
        for m in SANITIZER_MARKERS:
            assert m not in p.stderr, p.stderr
        if rc is not None:
            assert p.returncode == rc, "tagctl %s: rc %d, want %d\nstdout: %s\nstderr: %s" % (
                " ".join(args), p.returncode, rc, p.stdout, p.stderr)
        return p

    def json(self, *args, **kw):
        return json.loads(self(*args, "-o", "json", **kw).stdout)


@pytest.fixture(scope="module")
def ctl(server, home):
    return Ctl(server, home)


def revision(server):
    r = requests.get(server.url + "/v1/tags?limit=1",
                     headers={"Authorization": "Bearer " + ADMIN_TOKEN}, timeout=10)
    return int(r.headers["X-Tagd-Revision"])


# ---- tags ----

def test_tags_create_get_list_in_every_format(ctl):
    t = ctl.json("tags", "create", "Address.email", "--color", "#1E90FF",
                 "--description", "an e-mail address", "--l10n", "de-DE=E-Mail")
    assert t["name"] == "Address.email" and t["color"] == "#1E90FF"
    assert t["l10n"] == {"de-DE": "E-Mail"}
    assert ctl.json("tags", "get", "address.EMAIL")["id"] == t["id"]

    items = ctl.json("tags", "list", "--prefix", "Address")
    assert [i["name"] for i in items] == ["Address", "Address.email"]

    lines = ctl("tags", "list", "--prefix", "Address", "-o", "jsonl").stdout.splitlines()
    assert [json.loads(l)["name"] for l in lines] == ["Address", "Address.email"]

    y = yaml.safe_load(ctl("tags", "list", "--prefix", "Address", "-o", "yaml").stdout)
    assert [i["name"] for i in y] == ["Address", "Address.email"]
    assert y[1]["color"] == "#1E90FF" and y[1]["deleted"] is False
    assert yaml.safe_load(ctl("tags", "get", "Address.email", "-o", "yaml").stdout) == \
        ctl.json("tags", "get", "Address.email")

    rows = list(csv.DictReader(io.StringIO(ctl("tags", "list", "--prefix", "Address",
                                               "-o", "csv").stdout)))
    assert rows[1]["name"] == "Address.email" and rows[1]["description"] == "an e-mail address"

    tsv = ctl("tags", "list", "--prefix", "Address", "-o", "tsv").stdout.splitlines()
    assert tsv[0].split("\t")[:2] == ["id", "name"]
    assert tsv[2].split("\t")[1] == "Address.email"

    ids = ctl("tags", "list", "--prefix", "Address", "-q").stdout.split()
    assert ids == [str(i["id"]) for i in items]

    table = ctl("tags", "list", "--prefix", "Address").stdout.splitlines()
    assert table[0].split()[:3] == ["ID", "NAME", "COLOR"]
    assert table[2].split()[1] == "Address.email"
    # Aligned: every row's NAME starts in the header's NAME column.
    col = table[0].index("NAME")
    assert all(r[col:].startswith(("Address", "NAME")) for r in table)
    assert "\033[" not in "".join(table)  # not a terminal: no colors


def test_yaml_and_csv_quote_what_needs_quoting(ctl):
    desc = 'yes: "quoted", a\nnew line, #hash'
    ctl("tags", "create", "Quoting.one", "--description", desc)
    y = yaml.safe_load(ctl("tags", "get", "Quoting.one", "-o", "yaml").stdout)
    assert y["description"] == desc
    rows = list(csv.DictReader(io.StringIO(ctl("tags", "list", "--prefix", "Quoting.",
                                               "-o", "csv").stdout)))
    assert rows[0]["description"] == desc
    tsv = ctl("tags", "list", "--prefix", "Quoting.", "-o", "tsv").stdout.splitlines()
    assert len(tsv) == 2 and "a\\nnew line" in tsv[1]
    # A table shows control characters as '?' so that no text moves the cursor.
    assert "a?new line" in ctl("tags", "list", "--prefix", "Quoting.").stdout


def test_tags_update_rename_move_delete_restore(ctl):
    t = ctl.json("tags", "create", "Stage.dev")
    assert ctl.json("tags", "update", "Stage.dev", "--color", "#0A0")["color"] == "#0A0"
    assert ctl.json("tags", "update", "Stage.dev", "--color", "")["color"] is None
    # A stale version is a conflict: exit 4, nothing changed.
    p = ctl("tags", "update", "Stage.dev", "--description", "x", "--if-match", "1",
            rc=EXIT_CONFLICT)
    assert "precondition_failed" in p.stderr and "request id" in p.stderr
    assert ctl.json("tags", "rename", "Stage", "Env")["name"] == "Env"
    assert ctl.json("tags", "get", "Env.dev")["id"] == t["id"]
    ctl("tags", "create", "Other")
    assert ctl.json("tags", "move", "Env.dev", "Other")["name"] == "Other.dev"
    assert ctl.json("tags", "move", "Other.dev", "--root")["name"] == "dev"
    ctl("tags", "move", "dev", rc=EXIT_USAGE)
    ctl("tags", "create", "Env.prod")
    p = ctl("tags", "delete", "Env", rc=EXIT_CONFLICT)
    assert "conflict" in p.stderr
    assert ctl("tags", "delete", "Env", "--recursive").stdout == ""
    assert ctl.json("tags", "get", "Env.prod")["deleted"] is True
    assert ctl.json("tags", "restore", "Env.prod")["deleted"] is False
    ctl("tags", "get", "No.such.tag", rc=EXIT_NOTFOUND)
    p = ctl("tags", "create", "Bad..name", rc=EXIT_USAGE)
    assert "invalid_input" in p.stderr
    ctl("tags", "create", "env.PROD", rc=EXIT_CONFLICT)


def test_tags_create_several_is_one_batch(ctl):
    ctl("tags", "create", "Batch.a", "Batch..b", rc=EXIT_USAGE)
    assert ctl("tags", "list", "--prefix", "Batch", "-q").stdout == ""
    items = ctl.json("tags", "create", "Batch.a", "Batch.b")
    assert [i["name"] for i in items] == ["Batch.a", "Batch.b"]


def test_paging_is_transparent_and_limit_caps_it(ctl, admin):
    names = [{"name": "Many.t%04d" % i} for i in range(1100)]
    for i in range(0, 1100, 1000):
        assert admin.post("/v1/tags", json={"tags": names[i:i + 1000]}).status_code == 201
    out = ctl("tags", "list", "--prefix", "Many.", "-q").stdout.split()
    assert len(out) == 1100
    assert len(ctl("tags", "list", "--prefix", "Many.", "-q", "--limit", "1050").stdout.split()) == 1050
    assert len(ctl.json("tags", "list", "--prefix", "Many.", "--limit", "3")) == 3


# ---- groups ----

def test_groups(ctl):
    ctl("tags", "create", "Tier.gold", "Tier.silver")
    g = ctl.json("groups", "create", "Tier", "--exclusive", "--l10n", "de-DE=Stufe")
    assert g["exclusive"] is True and g["l10n"] == {"de-DE": "Stufe"}
    gid = str(g["id"])
    g = ctl.json("groups", "set-tags", gid, "Tier.silver", "Tier.gold")
    assert len(g["tags"]) == 2
    assert ctl.json("groups", "update", gid, "--position", "3")["position"] == 3
    assert ctl.json("groups", "update", gid, "--exclusive=false")["exclusive"] is False
    assert g["conflict"] == "union"
    assert ctl.json("groups", "update", gid, "--conflict", "child-wins")["conflict"] == \
        "child-wins"
    assert "CONFLICT" in ctl("groups", "list").stdout
    assert gid in ctl("groups", "list", "-q").stdout.split()
    assert ctl.json("groups", "get", gid)["name"] == "Tier"
    assert ctl.json("groups", "rename", gid, "Level")["name"] == "Level"
    ctl("groups", "update", gid, rc=EXIT_USAGE)
    ctl("groups", "delete", gid)
    ctl("groups", "get", gid, rc=EXIT_NOTFOUND)


# ---- resources, tags on them, effective, query ----

def test_resources_tag_untag_effective(ctl):
    ctl("tags", "create", "Conf", "Pii")
    r = ctl.json("resources", "put", "folder/finance", "--name", "Finance")
    assert r["kind"] == "folder" and r["name"] == "Finance"
    r = ctl.json("resources", "put", "file/q1/report.pdf", "--parent", "folder/finance")
    assert r["key"] == "q1/report.pdf" and r["parent"] == {"kind": "folder", "key": "finance"}
    assert ctl.json("resources", "get", "file/q1/report.pdf")["id"] == r["id"]
    assert "file/q1/report.pdf" in ctl("resources", "list", "--kind", "file", "-q").stdout.split()

    items = ctl.json("tag", "folder/finance", "Conf", "--context", "scanner")
    assert [i["name"] for i in items] == ["Conf"] and items[0]["context"] == "scanner"
    ctl("tag", "file/q1/report.pdf", "Pii")
    eff = ctl.json("effective", "file/q1/report.pdf")
    assert {(i["name"], json.dumps(i["inherited_from"])) for i in eff} == {
        ("Pii", "null"), ("Conf", json.dumps({"kind": "folder", "key": "finance"}))}
    table = ctl("effective", "file/q1/report.pdf").stdout
    assert "INHERITED_FROM" in table and "folder/finance" in table
    assert [i["name"] for i in ctl.json("effective", "file/q1/report.pdf", "--direct")] == ["Pii"]
    # Unknown tags change nothing (exit 4); create-missing makes them.
    ctl("tag", "file/q1/report.pdf", "Pii", "Nope", rc=EXIT_CONFLICT)
    ctl("tag", "file/q1/report.pdf", "Nope", "--create-missing")
    ctl("untag", "file/q1/report.pdf", "Nope", "Pii")
    assert ctl.json("effective", "file/q1/report.pdf", "--direct") == []
    ctl("untag", "file/q1/report.pdf", "Pii", rc=EXIT_NOTFOUND)
    ctl("resources", "get", "file", rc=EXIT_USAGE)  # not KIND/KEY
    ctl("resources", "put", "folder/finance", "--parent", "file/q1/report.pdf", rc=EXIT_CONFLICT)
    ctl("resources", "put", "x/y", "--document", "{bad", rc=EXIT_USAGE)


def test_query(ctl):
    ctl("tags", "create", "Q.a", "Q.b")
    ctl("tag", "folder/qf", "Q.a")
    ctl("resources", "put", "file/qf1", "--parent", "folder/qf")
    ctl("tag", "file/qf2", "Q.b")
    assert ctl("query", "Q.a", "-q").stdout.split() == ["folder/qf"]
    assert sorted(ctl("query", "Q.a", "--effective", "-q").stdout.split()) == ["file/qf1", "folder/qf"]
    assert ctl("query", "Q.*", "--count").stdout.strip() == "2"
    assert ctl.json("query", "Q.*", "--count", "--effective") == {"total": 3}
    assert ctl("query", "Q.a and not Q.b", "--kind", "file", "--effective", "-q").stdout.split() == ["file/qf1"]
    p = ctl("query", "Q.a and (", rc=EXIT_USAGE)
    assert "invalid_input" in p.stderr and "request id" in p.stderr


# ---- change log and history ----

def test_changes_since_and_entity(ctl, server):
    rev = revision(server)
    t = ctl.json("tags", "create", "Log.one")
    items = ctl.json("changes", "--since", str(rev))
    assert [(i["entity"], i["op"]) for i in items if i["entity_id"] == t["id"]] == [("tag", "create")]
    assert all(i["entity"] == "tag" for i in ctl.json("changes", "--since", "0", "--entity", "tag"))
    assert len(ctl("changes", "--limit", "2", "-q").stdout.split()) == 2
    ctl("changes", "--since", "minus", rc=EXIT_USAGE)


def test_changes_follow_shows_a_change_at_once(ctl, server, tmp_path):
    """--follow long-polls: with a 60 s --interval a change still shows within seconds."""
    rev = revision(server)
    out_path = tmp_path / "follow-now.out"
    with open(out_path, "w") as out:
        p = subprocess.Popen([TAGCTL, "changes", "--since", str(rev), "--follow", "--interval",
                              "60", "-o", "jsonl"], stdout=out, stderr=subprocess.PIPE,
                             text=True, env=ctl.env())
        try:
            time.sleep(1.0)  # the first request is waiting on the server by now
            ctl("tags", "create", "Longpoll.now")
            deadline = time.time() + 8
            while time.time() < deadline and "Longpoll.now" not in out_path.read_text():
                time.sleep(0.1)
            assert "Longpoll.now" in out_path.read_text()
        finally:
            p.send_signal(signal.SIGTERM)
            _, err = p.communicate(timeout=10)
    assert p.returncode == 0, err


def test_changes_follow_polls_until_interrupted(ctl, server, tmp_path):
    rev = revision(server)
    out_path = tmp_path / "follow.out"
    with open(out_path, "w") as out:
        p = subprocess.Popen([TAGCTL, "changes", "--since", str(rev), "--follow", "--interval",
                              "0.1", "-o", "jsonl"], stdout=out, stderr=subprocess.PIPE,
                             text=True, env=ctl.env())
        try:
            time.sleep(0.5)
            ctl("tags", "create", "Follow.me")
            deadline = time.time() + 10
            while time.time() < deadline and "Follow.me" not in out_path.read_text():
                time.sleep(0.1)
            assert "Follow.me" in out_path.read_text()
            assert p.poll() is None  # still following
        finally:
            p.send_signal(signal.SIGTERM)
            _, err = p.communicate(timeout=10)
    assert p.returncode == 0, err
    for m in SANITIZER_MARKERS:
        assert m not in err, err
    names = [json.loads(l)["after"]["name"] for l in out_path.read_text().splitlines()]
    assert names == ["Follow", "Follow.me"]


def test_changes_follow_reads_the_event_stream_across_a_restart(home, tmp_path):
    """After the log's end --follow reads GET /v1/events (--debug shows the request), and when
    tagd restarts it reconnects after the last event it showed: every change once, in order,
    with its time as /v1/changes gives it."""
    data = str(tmp_path / "data")
    os.mkdir(data)
    port = free_port()
    url = "http://127.0.0.1:%d" % port
    h = {"Authorization": "Bearer " + ADMIN_TOKEN}

    def start():
        srv = subprocess.Popen([os.environ.get("TAGD_BIN", "build/tagd"), "--data", data,
                                "--listen", "127.0.0.1:%d" % port],
                               env=dict(os.environ, TAGD_ADMIN_TOKEN=ADMIN_TOKEN),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if requests.get(url + "/readyz", timeout=2).status_code == 200:
                    return srv
            except requests.RequestException:
                pass
            time.sleep(0.05)
        srv.kill()
        raise RuntimeError("tagd did not start")

    def shown(path):
        # Whole lines only: tagctl may be in the middle of writing the last one.
        return [json.loads(l) for l in path.read_text().split("\n")[:-1] if l.strip()]

    def until(path, name):
        deadline = time.time() + 20
        while time.time() < deadline:
            if name in [i["after"].get("name") for i in shown(path)]:
                return
            time.sleep(0.1)
        raise AssertionError((name, path.read_text()))

    srv = start()
    out_path, err_path = tmp_path / "sse.out", tmp_path / "sse.err"
    p = None
    try:
        rev = int(requests.get(url + "/v1/tags?limit=1", headers=h, timeout=10)
                  .headers["X-Tagd-Revision"])
        with open(out_path, "w") as out, open(err_path, "w") as errf:
            p = subprocess.Popen([TAGCTL, "changes", "--since", str(rev), "--follow",
                                  "--interval", "0.2", "-o", "jsonl", "--debug"],
                                 stdout=out, stderr=errf,
                                 env=base_env(home, TAGD_URL=url, TAGD_TOKEN=ADMIN_TOKEN))
        time.sleep(1.0)
        assert requests.post(url + "/v1/tags", json={"name": "Sse.one"}, headers=h,
                             timeout=10).status_code == 201
        until(out_path, "Sse.one")
        srv.terminate()
        assert srv.wait(timeout=30) == 0
        srv = start()
        for n in ("Sse.two", "Sse.three"):
            assert requests.post(url + "/v1/tags", json={"name": n}, headers=h,
                                 timeout=10).status_code == 201
        until(out_path, "Sse.three")
        assert p.poll() is None  # still following
    finally:
        if p is not None:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=15)
        srv.terminate()
        srv.wait(timeout=30)
    err = err_path.read_text()
    assert p.returncode == 0, err
    for m in SANITIZER_MARKERS:
        assert m not in err, err
    assert "/v1/events?since=" in err, err
    items = shown(out_path)
    assert [i["after"]["name"] for i in items] == ["Sse", "Sse.one", "Sse.two", "Sse.three"]
    assert all("at" in i and "at_ms" not in i for i in items), items


def test_history(ctl):
    ctl("tags", "create", "Hist.x")
    ctl("tags", "update", "Hist.x", "--color", "#123")
    ctl("tags", "rename", "Hist.x", "Hist.y")
    ops = [(i["op"], (i["after"] or {}).get("name")) for i in ctl.json("history", "tag", "Hist.y")]
    assert ops == [("create", "Hist.x"), ("update", "Hist.x"), ("update", "Hist.y")]
    ctl("tag", "doc/h1", "Hist.y")
    ctl("untag", "doc/h1", "Hist.y")
    ents = [(i["entity"], i["op"]) for i in ctl.json("history", "resource", "doc/h1")]
    assert ("assignment", "add") in ents and ("assignment", "remove") in ents
    who = ctl.json("history", "tag", "Hist.y")[0]["principal"]
    assert len(ctl.json("history", "tag", "Hist.y", "--principal", who)) == 3
    assert ctl.json("history", "tag", "Hist.y", "--principal", "nobody") == []
    assert ctl.json("history", "tag", "Hist.y", "--from", "2999-01-01T00:00:00Z") == []
    assert len(ctl.json("history", "tag", "Hist.y", "--limit", "2")) == 2
    ctl("history", "planet", "x", rc=EXIT_USAGE)
    ctl("history", "tag", "Never.was", "-o", "json")  # unknown: an empty history
    ctl("history", "resource", "doc/never", rc=EXIT_NOTFOUND)


# ---- as of a past revision ----

def test_as_of_revision_and_time(ctl, server):
    ctl("tags", "create", "Past.a", "--color", "#111")
    ctl("tag", "box/past", "Past.a")
    rev = revision(server)
    time.sleep(0.05)
    at = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    time.sleep(0.05)
    ctl("tags", "update", "Past.a", "--color", "#222")
    ctl("tags", "rename", "Past.a", "Past.b")
    ctl("untag", "box/past", "Past.b")
    ctl("resources", "put", "box/past", "--name", "Later")

    assert ctl.json("tags", "get", "Past.a", "--as-of", str(rev))["color"] == "#111"
    assert ctl.json("tags", "get", "Past.a", "--as-of", at)["color"] == "#111"
    ctl("tags", "get", "Past.b", "--as-of", str(rev), rc=EXIT_NOTFOUND)
    assert ctl.json("tags", "get", "Past.b")["color"] == "#222"
    names = [t["name"] for t in ctl.json("tags", "list", "--prefix", "Past", "--as-of", str(rev))]
    assert names == ["Past", "Past.a"]
    assert [i["name"] for i in ctl.json("effective", "box/past", "--as-of", str(rev))] == ["Past.a"]
    assert ctl.json("effective", "box/past") == []
    assert ctl.json("resources", "get", "box/past", "--as-of", str(rev))["name"] is None
    assert "box/past" in ctl("resources", "list", "--as-of", str(rev), "-q").stdout.split()
    ctl("groups", "list", "--as-of", str(rev))
    assert ctl("tags", "resources", "Past.a", "--as-of", str(rev), "-q").stdout.split() == ["box/past"]
    assert ctl("tags", "resources", "Past", "--descendants", "--as-of", str(rev), "-q").stdout.split() == ["box/past"]
    assert ctl("tags", "resources", "Past.b", "-q").stdout == ""
    ctl("tags", "get", "Past.a", "--as-of", "yesterday", rc=EXIT_USAGE)
    # A revision after the newest is the server's 400 (docs/api.md): a usage error.
    ctl("tags", "get", "Past.a", "--as-of", "999999999", rc=EXIT_USAGE)
    ctl("tags", "get", "Past.a", "--as-of", "1990-01-01T00:00:00Z", rc=EXIT_NOTFOUND)
    ctl("tags", "list", "--kind", "box", "--as-of", str(rev), rc=EXIT_USAGE)
    ctl("resources", "list", "--tag", "Past.a", "--as-of", str(rev), rc=EXIT_USAGE)


def test_as_of_effective_tags_and_queries(ctl, server):
    """The server answers --as-of for effective tags (with the ancestor each came from) and
    for tag queries, as the tree and the tags were then."""
    ctl("tags", "create", "Then.red", "Then.blue")
    ctl("resources", "put", "shelf/top")
    ctl("resources", "put", "shelf/low")
    ctl("resources", "put", "jar/j1", "--parent", "shelf/top")
    ctl("tag", "shelf/top", "Then.red")
    ctl("tag", "jar/j1", "Then.blue")
    rev = revision(server)
    ctl("resources", "put", "jar/j1", "--parent", "shelf/low")
    ctl("untag", "shelf/top", "Then.red")
    ctl("tags", "rename", "Then.blue", "Then.navy")

    then = ctl.json("effective", "jar/j1", "--as-of", str(rev))
    assert [(i["name"], i["inherited_from"]) for i in then] == [
        ("Then.blue", None), ("Then.red", {"kind": "shelf", "key": "top"})]
    assert [i["name"] for i in ctl.json("effective", "jar/j1")] == ["Then.navy"]
    assert [i["name"] for i in ctl.json("effective", "jar/j1", "--direct", "--as-of", str(rev))] == [
        "Then.blue"]
    q = lambda *a: sorted(ctl(*("query",) + a + ("-q",)).stdout.split())
    assert q("Then.red", "--effective", "--as-of", str(rev)) == ["jar/j1", "shelf/top"]
    assert q("Then.red", "--effective") == []
    assert q("Then.blue and kind:jar", "--as-of", str(rev)) == ["jar/j1"]
    assert ctl("query", "Then.*", "--effective", "--count", "--as-of", str(rev)).stdout.strip() == "2"
    ctl("query", "Then.navy", "--as-of", str(rev), rc=EXIT_USAGE)  # unknown then
    assert [r["parent"]["key"] for r in ctl.json("resources", "list", "--parent", "shelf/top",
                                                 "--as-of", str(rev))] == ["top"]


# ---- tokens, users, organizations, sources ----

def test_tokens_users_orgs(ctl, server):
    secret = ctl("tokens", "create", "--name", "ci", "--rights", "tags:read", "-q").stdout.strip()
    assert secret.startswith("tgd_")
    toks = ctl.json("tokens", "list")
    ci = [t for t in toks if t["name"] == "ci"][0]
    assert "token" not in ci
    assert ctl("tags", "list", "--limit", "1", "-q", token=secret).returncode == 0
    p = ctl("tags", "create", "Forbidden.one", token=secret, rc=EXIT_AUTH)
    assert "forbidden" in p.stderr
    ctl("tokens", "revoke", str(ci["id"]))
    time.sleep(1.2)  # the server trusts a checked token for --auth-cache (1 s)
    p = ctl("tags", "list", token=secret, rc=EXIT_AUTH)
    assert "unauthorized" in p.stderr
    ctl("tokens", "revoke", "999999", rc=EXIT_NOTFOUND)
    # --assign: the tags a token or user may put on resources (docs/security.md).
    t = ctl.json("tokens", "create", "--name", "teamer", "--rights", "tags:assign",
                 "--assign", "Team.*,Env.prod")
    assert t["assign"] == ["Team.*", "Env.prod"]
    ctl("users", "create", "dora", "--assign", "Team.*", stdin="correct horse battery\n")
    assert [u["assign"] for u in ctl.json("users", "list") if u["login"] == "dora"] == [["Team.*"]]
    ctl("tokens", "create", "--assign", "Team.*.x", rc=EXIT_USAGE)
    # ... and changed in place: PATCH /v1/tokens/{id}, /v1/users/{id}.
    assert ctl.json("tokens", "update", str(t["id"]), "--assign", "Env.*")["assign"] == ["Env.*"]
    assert ctl.json("tokens", "update", str(t["id"]), "--no-assign")["assign"] is None
    assert ctl.json("tokens", "update", str(t["id"]), "--assign", "")["assign"] == []
    ctl("tokens", "update", str(t["id"]), rc=EXIT_USAGE)
    ctl("tokens", "update", "999999", "--no-assign", rc=EXIT_NOTFOUND)
    dora = [u for u in ctl.json("users", "list") if u["login"] == "dora"][0]
    u = ctl.json("users", "update", str(dora["id"]), "--rights", "tags:read,tags:assign",
                 "--no-assign")
    assert u["rights"] == ["tags:read", "tags:assign"] and u["assign"] is None
    assert ctl.json("users", "update", str(dora["id"]), "--assign", "Env.*")["assign"] == ["Env.*"]

    ctl("users", "create", "alice", "--rights", "tags:read", stdin="correct horse battery\n")
    assert "alice" in ctl("users", "list").stdout
    ctl("users", "create", "bob", stdin="short\n", rc=EXIT_USAGE)
    p = ctl("users", "create", "carol", "--debug", stdin="another long password\n")
    assert '"password":"(hidden)"' in p.stderr and "another long password" not in p.stderr

    o = ctl.json("orgs", "create", "Acme")
    assert o["id"].startswith("org_")
    assert o["id"] in ctl("orgs", "list", "-q").stdout.split()
    assert ctl.json("orgs", "add-workspace", o["id"], "Lab")["name"] == "Lab"
    row = list(csv.DictReader(io.StringIO(ctl("orgs", "add-workspace", o["id"], "Lab2",
                                              "-o", "csv").stdout)))
    assert row[0]["name"] == "Lab2" and row[0]["organization_id"] == o["id"]
    t = ctl.json("tokens", "create", "--name", "acme-admin", "--rights", "admin", "--org", o["id"])
    assert t["organization_id"] == o["id"]
    assert [x["name"] for x in ctl.json("tokens", "list", "--org", o["id"])] == ["acme-admin"]


def test_expired_token_is_exit_5(ctl):
    exp = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=2)
           ).strftime("%Y-%m-%dT%H:%M:%SZ")
    secret = ctl("tokens", "create", "--name", "short", "--expires", exp, "-q").stdout.strip()
    deadline = time.time() + 6
    while time.time() < deadline:
        p = ctl("tags", "list", "--limit", "1", token=secret, rc=None)
        if p.returncode == EXIT_AUTH:
            break
        assert p.returncode == 0
        time.sleep(0.5)
    assert p.returncode == EXIT_AUTH and "unauthorized" in p.stderr and "request id" in p.stderr


def test_sources(home, tmp_path):
    doc = tmp_path / "src.json"
    doc.write_text(json.dumps(["Ext.one", "Ext.two"]))
    s = Server(extra_args=["--sources-allow-local", "1"]).start()
    try:
        c = Ctl(s, home)
        assert c.json("sources", "add", "ext", str(doc))["name"] == "ext"
        assert c("sources", "list", "-q").stdout.split() == ["ext"]
        res = c.json("sources", "refresh")
        assert res[0]["name"] == "ext" and res[0]["ok"] is True and res[0]["created"] >= 2
        assert c.json("tags", "get", "Ext.one")["source"] == "ext"
        doc.write_text(json.dumps(["Ext.one"]))
        p = c("sources", "refresh", "ext", "--debug", "-o", "json")
        # The native route only: never the Immuta dialect's /tag/refresh.
        assert "/v1/sources/ext:refresh" in p.stderr and "/tag/refresh" not in p.stderr
        one = json.loads(p.stdout)
        assert one[0]["name"] == "ext" and one[0]["deleted"] == 1 and one[0]["unchanged"] >= 1
        c("sources", "refresh", "nope", rc=EXIT_NOTFOUND)
        doc.write_text("{not json")
        p = c("sources", "refresh", "--debug", rc=EXIT_ERROR)
        assert "source 'ext' failed" in p.stderr
        assert "/v1/sources:refresh" in p.stderr and "/tag/refresh" not in p.stderr
        c("sources", "delete", "ext")
        c("sources", "delete", "ext", rc=EXIT_NOTFOUND)
    finally:
        s.cleanup()


# ---- export and import ----

@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_export_import_round_trip(ctl, home, tmp_path, fmt):
    ctl("tags", "create", "Exp%s.a" % fmt, "--color", "#ABC", "--description", 'with "quotes", commas')
    ctl("tags", "create", "Exp%s.b" % fmt)
    ctl("tag", "exp%s/root" % fmt, "Exp%s.a" % fmt)
    ctl("resources", "put", "exp%s/child" % fmt, "--parent", "exp%s/root" % fmt, "--name", "Child")
    ctl("tag", "exp%s/child" % fmt, "Exp%s.a" % fmt, "Exp%s.b" % fmt)
    tags_file = tmp_path / ("tags." + fmt)
    res_file = tmp_path / ("res." + fmt)
    p = ctl("export", "tags", "--prefix", "Exp%s" % fmt, "-f", str(tags_file))
    assert "exported 3 tags" in p.stderr
    # Not a terminal: one progress line per 10%.
    assert "export: 100% (3 of 3)" in p.stderr
    ctl("export", "resources", "--kind", "exp%s" % fmt, "-f", str(res_file))
    if fmt == "jsonl":
        recs = [json.loads(l) for l in res_file.read_text().splitlines()]
        assert recs[1]["parent"] == {"kind": "exp" + fmt, "key": "root"}
        assert sorted(recs[1]["tags"]) == ["Expjsonl.a", "Expjsonl.b"]
    else:
        rows = list(csv.DictReader(io.StringIO(res_file.read_text())))
        assert rows[1]["parent"] == "expcsv/root" and rows[1]["tags"] == "Expcsv.a,Expcsv.b"

    other = Server().start()
    try:
        c = Ctl(other, home)
        p = c("import", "tags", str(tags_file))
        assert "imported 3 tags in 1 batches" in p.stderr and "import: 100%" in p.stderr
        t = c.json("tags", "get", "Exp%s.a" % fmt)
        assert t["color"] == "#ABC" and t["description"] == 'with "quotes", commas'
        c("import", "resources", "-f", str(res_file))
        eff = c.json("effective", "exp%s/child" % fmt)
        assert sorted((i["name"], bool(i["inherited_from"])) for i in eff) == [
            ("Exp%s.a" % fmt, False), ("Exp%s.b" % fmt, False)]
        assert c.json("resources", "get", "exp%s/child" % fmt)["name"] == "Child"
        # From stdin too.
        c("import", "resources", "--format", fmt, stdin=res_file.read_text())
    finally:
        other.cleanup()


def test_import_is_atomic_per_chunk(ctl, tmp_path):
    f = tmp_path / "tags.jsonl"
    lines = [{"name": "Chunk.n%d" % i} for i in range(5)]
    lines[3]["name"] = "Chunk..bad"
    f.write_text("".join(json.dumps(l) + "\n" for l in lines))
    p = ctl("import", "tags", str(f), "--chunk", "2", rc=EXIT_USAGE)
    assert "lines 3-4 was refused" in p.stderr
    # The first batch is in, the refused one changed nothing, the rest was not sent.
    assert ctl("tags", "list", "--prefix", "Chunk.", "-o", "tsv").stdout.count("Chunk.n") == 2
    f.write_text('{"name": "Chunk.ok"}\n{"name": \n')
    p = ctl("import", "tags", str(f), rc=EXIT_USAGE)
    assert "line 2" in p.stderr
    assert "Chunk.ok" not in ctl("tags", "list", "--prefix", "Chunk.", "-q", "-o", "tsv").stdout
    g = tmp_path / "bad.csv"
    g.write_text('kind,key,tags\nx,"unterminated\n')
    ctl("import", "resources", str(g), rc=EXIT_USAGE)
    ctl("import", "tags", str(f), "--chunk", "0", rc=EXIT_USAGE)
    ctl("import", "tags", str(tmp_path / "missing.jsonl"), rc=EXIT_ERROR)



def test_workspace_export_and_chunked_import_with_resume(ctl, home, tmp_path):
    """export writes GET /v1/export; import sends POST /v1/import chunks, each atomic, names the
    file's line of a refused record, and --resume goes on at the chunk that failed."""
    ctl("tags", "create", "Wsx.a", "--color", "#123456", "--description", "one, \"two\"")
    ctl("tags", "create", "Wsx.b")
    for i in range(7):
        ctl("tag", "wsx/r%d" % i, "Wsx.a" if i % 2 else "Wsx.b")
    f = tmp_path / "ws.jsonl"
    p = ctl("export", "-f", str(f))
    assert "exported the workspace at revision" in p.stderr
    recs = [json.loads(l) for l in f.read_text().splitlines()]
    assert recs[0]["type"] == "tagd" and recs[-1]["type"] == "end"
    assert ctl("export", "--format", "csv").stdout.startswith("type,name,kind,key,")
    ttl = tmp_path / "ws.ttl"
    ctl("export", "--taxonomy", "-f", str(ttl))
    assert "skos:Concept" in ttl.read_text() and "tagd:Resource" not in ttl.read_text()
    ctl("export", "--as-of", "yesterday", rc=EXIT_USAGE)
    mine = [r for r in recs if (r["type"] == "tag" and r["name"].startswith("Wsx"))
            or r.get("kind") == "wsx"]
    other = Server().start()
    try:
        c = Ctl(other, home)
        # Line 6 of the file (the 5th record) is bad: chunk 1 (records 4-6) is refused whole.
        bad = [json.dumps(r) for r in mine]
        bad.insert(4, '{"type":"tag","name":"Wsx.c","color":"red"}')
        bad.insert(0, "")
        g = tmp_path / "bad.jsonl"
        g.write_text("\n".join(bad) + "\n")
        p = c("import", str(g), "--chunk", "3", rc=EXIT_USAGE)
        assert "line 6, field 'color'" in p.stderr, p.stderr
        assert "lines 5-7 was refused" in p.stderr, p.stderr
        job = p.stderr.split("--resume ")[1].split()[0]
        tags = [t["name"] for t in c.json("tags", "list")]
        assert "Wsx.a" in tags and "Wsx.c" not in tags
        c("resources", "get", "wsx/r0", rc=EXIT_NOTFOUND)  # the refused chunk held it
        bad[5] = '{"type":"tag","name":"Wsx.c","color":"#FF0000"}'
        g.write_text("\n".join(bad) + "\n")
        p = c("import", str(g), "--chunk", "3", "--resume", job)
        assert "(job %s)" % job in p.stderr
        assert [t["name"] for t in c.json("effective", "wsx/r1")] == ["Wsx.a"]
        assert c.json("tags", "get", "Wsx.c")["color"] == "#FF0000"
        # The whole export in another format, and a SKOS taxonomy, in one go each.
        c("import", str(ttl))
        assert c.json("tags", "get", "Wsx.a")["description"] == 'one, "two"'
        p = c("import", str(f), "--chunk", "10000")
        assert "in 1 chunks" in p.stderr
    finally:
        other.cleanup()


def test_workspace_export_and_import_carry_aliases(ctl, server, home, tmp_path):
    """tagctl passes a file's records through as they are: the aliases of a JSON lines or CSV
    export (a tag's old names) reach the other tagd, whatever the chunks."""
    ctl("tags", "create", "Wsa.old")
    ctl("tag", "wsa/r1", "Wsa.old")
    r = requests.patch(server.url + "/v1/tags/Wsa.old", json={"name": "Wsa.new"},
                       headers={"Authorization": "Bearer " + ADMIN_TOKEN}, timeout=10)
    assert r.status_code == 200, r.text
    for fmt in ("jsonl", "csv"):
        f = tmp_path / ("ws." + fmt)
        ctl("export", "--taxonomy", "-f", str(f))
        assert "Wsa.old" in f.read_text()
        other = Server().start()
        try:
            c = Ctl(other, home)
            c("import", str(f), "--chunk", "2")
            assert c.json("tags", "get", "Wsa.old")["name"] == "Wsa.new"
        finally:
            other.cleanup()


def test_import_keeps_two_chunks_in_flight(home, tmp_path):
    """After the first chunk (which makes the job) tagctl import keeps two chunks on their way,
    each on its own connection, as bench's --inflight 2: while the server writes one the next
    one travels. A server that takes a job's chunks in order only refuses one that overtook its
    predecessor with 409 (field "chunk"); tagctl sends it again once that one is in. Against a
    stand-in server that holds every request a while and counts them."""
    import http.server
    import threading
    import urllib.parse

    lock = threading.Lock()
    state = {"now": 0, "most": 0, "next": 0, "got": [], "overtook": 0}

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_POST(self):
            q = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            chunk = int(q.get("chunk", ["0"])[0])
            with lock:
                state["now"] += 1
                state["most"] = max(state["most"], state["now"])
                # Chunk 2 always overtakes chunk 1 here: it is refused the first time.
                early = chunk != state["next"] or (chunk == 2 and not state["overtook"])
            time.sleep(0.3)
            with lock:
                state["now"] -= 1
                if early:
                    state["overtook"] += 1
                else:
                    state["next"] += 1
                    state["got"].append((chunk, body.count(b"\n"), q["last"][0]))
            if early:
                out = {"error": {"code": "conflict", "message": "chunk %d comes after chunk %d"
                                 % (chunk, state["next"]), "details": {"field": "chunk"}}}
                code = 409
            else:
                out = {"id": "imp_test", "state": "running", "next_chunk": chunk + 1}
                code = 200
            data = json.dumps(out).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        f = tmp_path / "many.jsonl"
        f.write_text("".join(json.dumps({"type": "tag", "name": "Fly.t%d" % i}) + "\n"
                             for i in range(25)))
        env = base_env(home, TAGD_URL="http://127.0.0.1:%d" % srv.server_address[1],
                       TAGD_TOKEN=ADMIN_TOKEN)
        p = subprocess.run([TAGCTL, "import", str(f), "--chunk", "5"], capture_output=True,
                           text=True, env=env, timeout=60)
        assert p.returncode == 0, p.stderr
        assert "imported 25 records in 5 chunks (job imp_test)" in p.stderr, p.stderr
    finally:
        srv.shutdown()
    assert state["got"] == [(0, 5, "false"), (1, 5, "false"), (2, 5, "false"),
                            (3, 5, "false"), (4, 5, "true")], state
    assert state["most"] == 2 and state["overtook"] >= 1, state


# ---- configuration ----

def test_precedence_flags_env_profile(ctl, server, home):
    cfgdir = os.path.join(home, "config", "tagctl")
    os.makedirs(cfgdir, exist_ok=True)
    with open(os.path.join(cfgdir, "config"), "w") as f:
        f.write("[default]\nurl = http://127.0.0.1:1\ntoken = from-profile\n"
                "[work]\nurl = %s\ntoken = %s\n" % (server.url, ADMIN_TOKEN))
    os.chmod(os.path.join(cfgdir, "config"), 0o600)
    env = base_env(home)
    c = json.loads(ctl("config", "-o", "json", env=env).stdout)
    assert (c["url"], c["url_from"], c["token_from"]) == ("http://127.0.0.1:1", "profile", "profile")
    c = json.loads(ctl("config", "-o", "json", env=dict(env, TAGD_URL="http://env:2")).stdout)
    assert (c["url"], c["url_from"]) == ("http://env:2", "environment")
    c = json.loads(ctl("config", "-o", "json", "--url", "http://flag:3",
                       env=dict(env, TAGD_URL="http://env:2")).stdout)
    assert (c["url"], c["url_from"]) == ("http://flag:3", "flag")
    # The work profile reaches the server; the default one does not.
    ctl("tags", "list", "--limit", "1", "--profile", "work", env=env)
    ctl("tags", "list", "--limit", "1", env=dict(env, TAGCTL_PROFILE="work"))
    p = ctl("tags", "list", env=env, rc=EXIT_UNREACHABLE)
    assert "127.0.0.1:1" in p.stderr
    ctl("tags", "list", "--profile", "nope", env=env, rc=EXIT_USAGE)
    os.chmod(os.path.join(cfgdir, "config"), 0o644)
    assert "others may read it" in ctl("config", env=env).stderr
    os.remove(os.path.join(cfgdir, "config"))


def test_login_checks_and_stores_with_mode_0600(ctl, server, home, tmp_path):
    env = base_env(str(tmp_path))
    path = tmp_path / "config" / "tagctl" / "config"
    p = ctl("login", "--url", server.url, "--token", "wrong-token", env=env, rc=EXIT_AUTH)
    assert not path.exists()
    ctl("login", "--url", server.url, "--profile", "ci", env=env, stdin=ADMIN_TOKEN + "\n")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert "[ci]" in path.read_text()
    ctl("login", "--url", server.url, "--token", ADMIN_TOKEN, env=env)
    text = path.read_text()
    assert "[ci]" in text and "[default]" in text and text.count("token =") == 2
    ctl("tags", "list", "--limit", "1", env=env)
    ctl("tags", "list", "--limit", "1", "--profile", "ci", env=env)


def test_workspace_flag_picks_the_workspace(ctl):
    org = ctl.json("orgs", "list")[0]["id"]
    ws = ctl.json("orgs", "add-workspace", org, "Sandbox")["id"]
    ctl("tags", "create", "Sandboxed", "--workspace", ws)
    assert [t["name"] for t in ctl.json("tags", "list", "--workspace", ws)] == ["Sandboxed"]
    assert "Sandboxed" not in [t["name"] for t in ctl.json("tags", "list")]
    ctl("tags", "list", "--workspace", "ws_999999", rc=EXIT_NOTFOUND)


# ---- errors, exit codes, debug, terminal ----

def test_usage_errors_are_exit_2(ctl):
    assert "unknown command 'frobnicate'" in ctl("frobnicate", rc=EXIT_USAGE).stderr
    assert "unknown command 'tags frob'" in ctl("tags", "frob", rc=EXIT_USAGE).stderr
    assert "unknown flag '--bogus'" in ctl("tags", "list", "--bogus", rc=EXIT_USAGE).stderr
    assert "--follow" in ctl("tags", "list", "--follow", rc=EXIT_USAGE).stderr
    ctl("tags", "get", rc=EXIT_USAGE)
    ctl("tags", "list", "-o", "xml", rc=EXIT_USAGE)
    ctl("tags", "list", "--limit", "0", rc=EXIT_USAGE)
    ctl("tags", "list", "--output", rc=EXIT_USAGE)
    ctl("tags", "list", "--quiet=maybe", rc=EXIT_USAGE)
    ctl("tags", "list", "--workspace", "staging", rc=EXIT_USAGE)  # the server's 400
    ctl("tokens", "list", "--as-of", "1", rc=EXIT_USAGE)
    assert "not valid UTF-8" in ctl("tags", "get", b"\xff".decode("utf-8", "surrogateescape"),
                                    rc=EXIT_USAGE).stderr
    ctl(rc=EXIT_USAGE)
    ctl("tags", rc=EXIT_USAGE)


def test_unreachable_server_is_exit_6(ctl):
    port = free_port()
    p = ctl("tags", "list", env=ctl.env(TAGD_URL="http://127.0.0.1:%d" % port), rc=EXIT_UNREACHABLE)
    assert "127.0.0.1:%d" % port in p.stderr


def test_no_token_is_exit_5(ctl):
    p = ctl("tags", "list", token=None, rc=EXIT_AUTH)
    assert "unauthorized" in p.stderr


def test_debug_prints_exchanges_without_the_token(ctl):
    p = ctl("tags", "list", "--limit", "1", "--debug")
    assert "> GET " in p.stderr and "< 200" in p.stderr and "Bearer (hidden)" in p.stderr
    assert ADMIN_TOKEN not in p.stderr


def run_on_tty(args, env, cols=60):
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, cols, 0, 0))
    p = subprocess.Popen([TAGCTL, *args], stdout=slave, stderr=slave, env=env)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    assert p.wait(timeout=30) == 0
    return out.decode()


def test_tables_fit_the_terminal_and_color_only_there(ctl):
    ctl("tags", "create", "Wide.tag", "--description", "d" * 200)
    out = run_on_tty(["tags", "list", "--prefix", "Wide."], ctl.env(), cols=60)
    lines = [l for l in out.replace("\r", "").split("\n") if l]
    assert "\033[1m" in lines[0]
    assert all(len(l.replace("\033[1m", "").replace("\033[0m", "")) <= 60 for l in lines), lines
    assert "\u2026" in out  # the cut description ends in an ellipsis
    out = run_on_tty(["tags", "list", "--prefix", "Wide."], ctl.env(NO_COLOR="1"), cols=60)
    assert "\033[" not in out
    # Not a terminal: nothing is cut.
    assert "d" * 200 in ctl("tags", "list", "--prefix", "Wide.").stdout


def test_progress_bar_on_a_terminal(ctl, tmp_path):
    f = tmp_path / "t.jsonl"
    f.write_text("".join(json.dumps({"name": "Bar.t%d" % i}) + "\n" for i in range(50)))
    out = run_on_tty(["import", "tags", str(f), "--chunk", "10"], ctl.env())
    assert "\rimport [" in out and "100%" in out


# ---- completion and help ----

def test_completion_and_help(ctl):
    bash = ctl("completion", "bash").stdout
    assert "complete -F _tagctl tagctl" in bash and "__complete tags" in bash
    zsh = ctl("completion", "zsh").stdout
    assert zsh.startswith("#compdef tagctl")
    ctl("completion", "fish", rc=EXIT_USAGE)
    ctl("tags", "create", "Compl.alpha", "Compl.beta")
    assert ctl("__complete", "tags", "Compl.a").stdout.split() == ["Compl.alpha"]
    # A completion prints nothing on failure.
    p = ctl("__complete", "tags", "x", env=ctl.env(TAGD_URL="http://127.0.0.1:%d" % free_port()))
    assert p.stdout == "" and p.stderr == ""
    # bash itself completes a tag name from the server.
    script = bash + '\nCOMP_WORDS=(tagctl tags get Compl.b); COMP_CWORD=3; _tagctl; echo "${COMPREPLY[@]}"\n'
    env = ctl.env()
    env["PATH"] = os.path.dirname(os.path.abspath(TAGCTL)) + ":" + env.get("PATH", "")
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, timeout=30)
    assert out.stdout.split() == ["Compl.beta"], out.stderr

    h = ctl("help", "tags", "delete").stdout
    assert "usage: tagctl tags delete TAG..." in h and "--recursive" in h
    assert "tags list" in ctl("tags", "--help").stdout
    assert "exit codes" in ctl("help").stdout
    ctl("help", "nothing", rc=EXIT_USAGE)
    assert ctl("version").stdout.startswith("tagctl ")


# zsh's compadd only works inside a completion widget: this stand-in prints what the script
# offers, one word a line, so its candidate generation runs as it does on a prompt.
ZSH_HARNESS = r"""
autoload -U compinit && compinit -u -d "$ZDOTDIR/.zcompdump"
source "$TAGCTL_ZSH"
(( $+functions[_tagctl] )) || { print -u2 "no _tagctl"; exit 3 }
[[ $_comps[tagctl] == _tagctl ]] || { print -u2 "not bound: $_comps[tagctl]"; exit 4 }
compadd() {
    while [[ $1 == -* && $1 != -- ]]; do shift; done
    [[ $1 == -- ]] && shift
    print -rl -- "$@"
}
words=(${=ZSH_WORDS})
[[ $ZSH_WORDS == *" " ]] && words+=("")
CURRENT=$#words
_tagctl
"""


@pytest.fixture
def zsh_completion(ctl, tmp_path):
    """Runs tagctl's zsh completion in `zsh -f` for a command line, answering its candidates."""
    zsh = shutil.which("zsh")
    if zsh is None:
        pytest.skip("zsh is not installed (scripts/install-deps installs it)")
    script = tmp_path / "_tagctl"
    script.write_text(ctl("completion", "zsh").stdout)
    env = ctl.env()
    env["PATH"] = os.path.dirname(os.path.abspath(TAGCTL)) + ":" + env.get("PATH", "")
    env["ZDOTDIR"] = str(tmp_path)
    env["TAGCTL_ZSH"] = str(script)

    def complete(line):
        p = subprocess.run([zsh, "-f", "-c", ZSH_HARNESS], capture_output=True, text=True,
                           env=dict(env, ZSH_WORDS=line), timeout=30)
        assert p.returncode == 0, (line, p.returncode, p.stderr)
        return p.stdout.split()
    complete.zsh = zsh
    complete.script = script
    return complete


def test_zsh_completion_parses_and_completes(ctl, zsh_completion):
    p = subprocess.run([zsh_completion.zsh, "-n", str(zsh_completion.script)],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    nouns = zsh_completion("tagctl ")
    assert {"tags", "groups", "resources", "sources", "completion", "help"} <= set(nouns)
    assert "--debug" in zsh_completion("tagctl tags --")
    assert zsh_completion("tagctl tags ") == ["list", "get", "create", "update", "rename",
                                              "move", "delete", "restore", "resources"]
    assert zsh_completion("tagctl sources ") == ["list", "add", "delete", "refresh"]
    assert zsh_completion("tagctl completion ") == ["bash", "zsh"]
    # Tag names come from the server.
    ctl("tags", "create", "Zcompl.alpha", "Zcompl.beta")
    assert zsh_completion("tagctl tags get Zcompl.b") == ["Zcompl.beta"]
    assert set(zsh_completion("tagctl tag file/x Zcompl.")) == {"Zcompl.alpha", "Zcompl.beta"}
    # `tag` takes a resource first: no tag names for it.
    assert zsh_completion("tagctl tag Zcompl.") == []

def test_man_page_is_installed():
    """docs/tagctl.1 is what meson install puts in man1; it must render without warnings."""
    page = os.path.join(ROOT, "docs", "tagctl.1")
    text = open(page).read()
    assert text.startswith(".TH TAGCTL 1") or ".TH TAGCTL 1" in text.splitlines()[1]
    build = open(os.path.join(ROOT, "meson.build")).read()
    assert "install_man('docs/tagctl.1')" in build
    for word in ("EXIT STATUS", "ENVIRONMENT", "FILES", r"\-\-as\-of", "TAGD_TOKEN"):
        assert word in text
    if shutil.which("groff"):
        p = subprocess.run(["groff", "-man", "-ww", "-z", page], capture_output=True, text=True)
        assert p.returncode == 0 and p.stderr == "", p.stderr


def test_readme_examples_run(home):
    """The README's five tagctl commands, in order, against a fresh server."""
    import shlex
    text = open(os.path.join(ROOT, "README.md")).read()
    block = text.split("The same five with `tagctl`")[1].split("```sh")[1].split("```")[0]
    cmds = [shlex.split(l, comments=True) for l in block.splitlines() if l.startswith("tagctl ")]
    assert len(cmds) == 5
    s = Server().start()
    try:
        c = Ctl(s, home)
        for cmd in cmds:
            c(*cmd[1:])
        eff = c.json("effective", "file/report.pdf")
        assert eff[0]["name"] == "Address.email"
        assert eff[0]["inherited_from"] == {"kind": "folder", "key": "finance"}
    finally:
        s.cleanup()


def test_timeout_and_interrupt_of_a_server_that_never_answers(ctl):
    import socket
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(8)  # connections complete in the backlog; nothing ever answers
        url = "http://127.0.0.1:%d" % hung.getsockname()[1]
        t0 = time.time()
        p = ctl("tags", "list", "--timeout", "1", env=ctl.env(TAGD_URL=url), rc=EXIT_UNREACHABLE)
        assert time.time() - t0 < 10 and "timed out" in p.stderr.lower()
        proc = subprocess.Popen([TAGCTL, "tags", "list", "--timeout", "60"], env=ctl.env(TAGD_URL=url),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(0.5)
        t0 = time.time()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
        assert time.time() - t0 < 5
        assert proc.returncode == EXIT_ERROR and "interrupted" in err
        for m in SANITIZER_MARKERS:
            assert m not in err, err
