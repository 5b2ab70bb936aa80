"""An import's new resources are written in bulk (docs/interchange.md, "Speed"; issue 26): many
rows a statement, and they must read back as if put one at a time: parents made in the same
chunk, several kinds, names and the archived flag, a create record each in the change log,
nothing before the import's revision, nothing of a refused chunk; the engine answers after
the import as after a restart, which loads everything from the store."""
import json
import re

import pytest
import requests

from conftest import Api, Server, ADMIN_TOKEN


def ok(r, status=(200, 201, 204)):
    assert r.status_code in ((status,) if isinstance(status, int) else status), r.text
    return r


def post(api, records, **params):
    body = ("\n".join(json.dumps(r) for r in records) + "\n").encode()
    return api.post("/v1/import", params=params, data=body,
                    headers={"Content-Type": "application/x-ndjson"})


def metric(server, name, how):
    m = requests.get(server.url + "/metrics").text
    got = re.search(r'^%s\{how="%s"\} (\d+)$' % (name, how), m, re.M)
    return int(got.group(1)) if got else None


@pytest.fixture
def fresh():
    s = Server().start()
    yield s, Api(s, ADMIN_TOKEN)
    s.cleanup()


TAGS = ["Area.a", "Area.b", "Level.x", "Level.y"]


def tree():
    """Folders two deep, files and datasets under them, each with tags: the parents come first
    in the chunk, as an export writes them, except one file named before its folder."""
    recs = []
    for d in range(3):
        recs.append({"type": "resource", "kind": "folder", "key": "d%d" % d, "name": "Dir %d" % d,
                     "parent": None, "archived": False})
        recs.append({"type": "assignment", "kind": "folder", "key": "d%d" % d,
                     "tag": TAGS[d % 2]})
        for s in range(2):
            key = "d%d/s%d" % (d, s)
            recs.append({"type": "resource", "kind": "folder", "key": key, "name": None,
                         "parent": {"kind": "folder", "key": "d%d" % d}, "archived": s == 1})
            recs.append({"type": "assignment", "kind": "folder", "key": key,
                         "tag": TAGS[2 + s]})
            for f in range(3):
                kind = "file" if f < 2 else "dataset"
                recs.append({"type": "resource", "kind": kind, "key": "%s/f%d" % (key, f),
                             "parent": {"kind": "folder", "key": key}})
                recs.append({"type": "assignment", "kind": kind, "key": "%s/f%d" % (key, f),
                             "tag": TAGS[f % 4]})
    # A file whose folder comes later in the chunk: the folder is made bare for it, and its
    # own record then names it.
    recs.append({"type": "resource", "kind": "file", "key": "late/f",
                 "parent": {"kind": "folder", "key": "late"}})
    recs.append({"type": "resource", "kind": "folder", "key": "late", "name": "Late"})
    return recs


def snapshot(api, recs):
    """What the API says of every resource of `recs`: row, direct and effective tags."""
    out = {}
    for r in recs:
        if r["type"] != "resource":
            continue
        path = "/v1/resources/%s/%s" % (r["kind"], requests.utils.quote(r["key"], safe=""))
        row = ok(api.get(path)).json()
        direct = ok(api.get(path + "/tags")).json()["items"]
        eff = ok(api.get(path + "/tags", params={"effective": "true"})).json()["items"]
        out[(r["kind"], r["key"])] = (
            row.get("name"), row.get("archived"), json.dumps(row.get("parent"), sort_keys=True),
            row.get("version"), sorted(t["name"] for t in direct),
            sorted((t["name"], json.dumps(t.get("inherited_from"), sort_keys=True))
                   for t in eff))
    for t in TAGS:
        q = ok(api.get("/v1/resources", params={"tag": t, "limit": 1000})).json()["items"]
        out[t] = sorted((x["kind"], x["key"]) for x in q)
        q = ok(api.get("/v1/resources", params={"query": t, "effective": "true",
                                                "limit": 1000})).json()["items"]
        out["eff " + t] = sorted((x["kind"], x["key"]) for x in q)
    return out


def test_resources_in_bulk_read_back_as_single_puts(fresh):
    s, api = fresh
    ok(post(api, [{"type": "tag", "name": t} for t in TAGS]))
    recs = tree()
    job = ok(post(api, recs), 200).json()
    rev = job["revision"]
    nres = sum(1 for r in recs if r["type"] == "resource")
    # Every new resource but the two the late folder's file makes one at a time went in bulk.
    assert metric(s, "tagd_import_resource_rows_total", "bulk") == nres - 2
    got = snapshot(api, recs)
    assert got[("folder", "d1/s1")][:4] == (None, True, json.dumps(
        {"kind": "folder", "key": "d1"}, sort_keys=True), 1)
    assert got[("folder", "d2")][0] == "Dir 2"
    assert got[("dataset", "d0/s0/f2")][2] == json.dumps({"kind": "folder", "key": "d0/s0"},
                                                         sort_keys=True)
    assert got[("file", "late/f")][2] == json.dumps({"kind": "folder", "key": "late"},
                                                    sort_keys=True)
    assert got[("folder", "late")][0] == "Late"
    # Inherited through two levels made in the same chunk.
    eff = dict(got[("file", "d0/s1/f1")][5])
    assert set(eff) == {TAGS[0], TAGS[1], TAGS[3]}, eff
    # One create record per resource, as a single put writes it, all in the import's revision.
    page = ok(api.get("/v1/changes", params={"since": rev - 1, "entity": "resource",
                                             "limit": 1000})).json()["items"]
    creates = [c for c in page if c["revision"] == rev and c["op"] == "create"]
    assert len(creates) == nres, len(creates)
    for c in creates:
        a = c["after"]
        row = ok(api.get("/v1/resources/%s/%s" % (a["kind"], requests.utils.quote(a["key"], safe=""))))
        assert a["id"] == row.json()["id"] and a["version"] == 1, (a, row.json())
        assert c["before"] is None
    assert len({c["seq"] for c in page if c["revision"] == rev}) == len(
        [c for c in page if c["revision"] == rev])
    # Not there before the import's revision; there at it (the history rows).
    r = api.get("/v1/resources/folder/d0", params={"as_of": str(rev - 1)})
    assert r.status_code == 404, r.text
    r = ok(api.get("/v1/resources/folder/d0%2Fs1", params={"as_of": str(rev)})).json()
    assert r["archived"] is True and r["parent"]["key"] == "d0"
    # The engine after the import answers as the store loaded at a restart.
    s.stop()
    s.start()
    assert snapshot(api, recs) == got
    # Again: nothing changes, no revision.
    assert ok(post(api, recs), 200).json()["revision"] is None


def test_a_refused_chunk_keeps_none_of_its_resources(fresh):
    s, api = fresh
    ok(post(api, [{"type": "tag", "name": t} for t in TAGS]))
    recs = tree()
    # Failures in the middle of the chunk, after resources that wait for their statement and
    # before others: an unknown tag, a bad key, a document that is not an object.
    for i, bad in enumerate([
            {"type": "assignment", "kind": "folder", "key": "d1", "tag": "nope"},
            {"type": "resource", "kind": "Bad Kind", "key": "x"},
            {"type": "resource", "kind": "file", "key": "doc", "document": [1]},
    ]):
        at = len(recs) // 2
        body = recs[:at] + [bad] + recs[at:]
        r = post(api, body)
        assert r.status_code in (400, 404, 422), r.text
        assert r.json()["error"]["details"]["line"] == at + 1, (i, r.text)
        assert ok(api.get("/v1/resources", params={"limit": 10})).json()["items"] == []
        assert ok(api.get("/v1/changes", params={"entity": "resource"})).json()["items"] == []
    # Without the failure, all of it.
    ok(post(api, recs), 200)
    assert len(ok(api.get("/v1/resources", params={"limit": 100})).json()["items"]) == \
        sum(1 for r in recs if r["type"] == "resource" and not r.get("archived"))


def test_existing_resources_are_updated_one_at_a_time(fresh):
    """A resource that exists is not new: its record changes only what differs, as a put."""
    s, api = fresh
    ok(post(api, [{"type": "tag", "name": t} for t in TAGS]))
    ok(post(api, [{"type": "resource", "kind": "folder", "key": "p"},
                  {"type": "resource", "kind": "file", "key": "a", "name": "A"}]))
    bulk = metric(s, "tagd_import_resource_rows_total", "bulk")
    job = ok(post(api, [{"type": "resource", "kind": "file", "key": "a", "name": "A2",
                         "parent": {"kind": "folder", "key": "p"}},
                        {"type": "resource", "kind": "file", "key": "b",
                         "parent": {"kind": "folder", "key": "p"}},
                        # The same key twice in a chunk: made by the first, changed by the
                        # second.
                        {"type": "resource", "kind": "file", "key": "b", "name": "B"}]),
             200).json()
    assert metric(s, "tagd_import_resource_rows_total", "bulk") == bulk + 1
    a = ok(api.get("/v1/resources/file/a")).json()
    assert (a["name"], a["parent"]["key"], a["version"]) == ("A2", "p", 2), a
    b = ok(api.get("/v1/resources/file/b")).json()
    assert (b["name"], b["parent"]["key"], b["version"]) == ("B", "p", 2), b
    ops = [(c["op"], c["after"]["key"]) for c in ok(api.get(
        "/v1/changes", params={"since": job["revision"] - 1, "entity": "resource"})).json()["items"]
        if c["revision"] == job["revision"]]
    assert ops == [("update", "a"), ("create", "b"), ("update", "b")], ops
