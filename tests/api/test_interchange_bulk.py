"""Imports in bulk (docs/interchange.md, "Speed"; issue 26): a chunk's assignments are written
many rows a statement, and must read back as if added one at a time: every add in the change
log with its row id, nothing before the import's revision, rules refused with their line, a
tag twice counted once. Import jobs are kept in the store and survive a restart."""
import json

import pytest

from conftest import Api, Server, ADMIN_TOKEN


def ok(r, status=(200, 201, 204)):
    assert r.status_code in ((status,) if isinstance(status, int) else status), r.text
    return r


def jsonl(records):
    return ("\n".join(json.dumps(r) for r in records) + "\n").encode()


def post(api, records, **params):
    return api.post("/v1/import", params=params, data=jsonl(records),
                    headers={"Content-Type": "application/x-ndjson"})


@pytest.fixture
def fresh():
    s = Server().start()
    yield s, Api(s, ADMIN_TOKEN)
    s.cleanup()


TAGS = ["t%02d" % i for i in range(12)]


def chunk(nres, per, start=0):
    recs = []
    for r in range(start, start + nres):
        recs.append({"type": "resource", "kind": "file", "key": "f%d" % r})
        for k in range(per):
            recs.append({"type": "assignment", "kind": "file", "key": "f%d" % r,
                         "tag": TAGS[(r + k) % len(TAGS)]})
    return recs


def test_a_bulk_chunk_reads_back_as_single_adds(fresh):
    _, api = fresh
    ok(post(api, [{"type": "tag", "name": t} for t in TAGS]))
    recs = chunk(150, 5)
    # The same assignment twice in a chunk (and again later in it) is one add.
    recs.append({"type": "assignment", "kind": "file", "key": "f0", "tag": TAGS[0]})
    job = ok(post(api, recs), 200).json()
    rev = job["revision"]
    changes, since = [], rev - 1
    while True:
        page = ok(api.get("/v1/changes", params={"since": since, "entity": "assignment",
                                                   "limit": 500})).json()
        changes += [c for c in page["items"] if c["revision"] == rev]
        if not page["items"] or page["items"][-1]["revision"] > rev or len(page["items"]) < 500:
            break
        since = page["next_since"] if page["next_since"] > since else since + 1
        if since >= rev:
            break
    adds = [c for c in changes if c["op"] == "add"]
    assert len(adds) == 150 * 5, len(adds)
    pairs = {(c["entity_id"], c["after"]["tag"]) for c in adds}
    assert len(pairs) == 150 * 5
    assert all(c["after"]["id"] > 0 and c["after"]["context"] == "manual" for c in adds)
    # seq orders the records of the revision, one each.
    assert len({c["seq"] for c in adds}) == len(adds)
    tags = ok(api.get("/v1/resources/file/f7/tags")).json()["items"]
    assert sorted(t["name"] for t in tags) == sorted(TAGS[(7 + k) % 12] for k in range(5))
    # Before the import's revision the resource had nothing (it did not exist).
    r = api.get("/v1/resources/file/f7/tags", params={"as_of": str(rev - 1)})
    assert r.status_code == 404 or r.json()["items"] == [], r.text
    # The engine has every row: a query counts them.
    q = ok(api.get("/v1/resources", params={"tag": TAGS[3], "limit": 1000})).json()["items"]
    assert len(q) == sum(1 for r in range(150) if any((r + k) % 12 == 3 for k in range(5)))
    # Again: nothing changes, no revision.
    job2 = ok(post(api, recs), 200).json()
    assert job2["revision"] is None


def test_bulk_refusals_name_their_line_and_keep_nothing(fresh):
    _, api = fresh
    ok(post(api, [{"type": "group", "name": "Stage", "exclusive": True},
                  {"type": "tag", "name": "Stage.prod", "group": "Stage"},
                  {"type": "tag", "name": "Stage.dev", "group": "Stage"}]
            + [{"type": "tag", "name": t} for t in TAGS]))
    recs = chunk(40, 4)
    recs.append({"type": "assignment", "kind": "file", "key": "f3", "tag": "Stage.prod"})
    recs += chunk(40, 4, start=40)
    bad = len(recs) + 1
    recs.append({"type": "assignment", "kind": "file", "key": "f3", "tag": "Stage.dev"})
    r = post(api, recs)
    assert r.status_code == 409, r.text
    assert r.json()["error"]["details"]["line"] == bad
    assert ok(api.get("/v1/resources", params={"limit": 10})).json()["items"] == []
    recs[-1] = {"type": "assignment", "kind": "file", "key": "f3", "tag": "nope"}
    r = post(api, recs)
    assert r.status_code == 404 and r.json()["error"]["details"]["line"] == bad, r.text
    # The limit of tags per resource holds in bulk too.
    many = [{"type": "tag", "name": "m%d" % i} for i in range(80)]
    ok(post(api, many))
    s = Server(extra_args=["--max-tags-per-resource", "70"])
    s.start()
    try:
        a2 = Api(s, ADMIN_TOKEN)
        ok(post(a2, many))
        recs = [{"type": "assignment", "kind": "file", "key": "x", "tag": "m%d" % i}
                for i in range(80)]
        r = post(a2, recs)
        assert r.status_code == 422, r.text
        assert a2.get("/v1/resources/file/x/tags").status_code == 404
    finally:
        s.cleanup()


def test_jobs_survive_a_restart(fresh):
    s, api = fresh
    ok(post(api, [{"type": "tag", "name": t} for t in TAGS]))
    # One job cut by the restart after its first chunk ...
    cut = ok(post(api, chunk(3, 2), last="false"), 200).json()
    # ... and one whose second chunk was refused (its error is kept with line and field).
    failed = ok(post(api, chunk(2, 2), last="false"), 200).json()
    bad = chunk(2, 2, start=10) + [{"type": "tag", "name": "x", "color": "red"}]
    r = post(api, bad, job=failed["id"], chunk=1, last="false")
    assert r.status_code == 400, r.text
    assert r.json()["job"]["state"] == "failed"
    done = ok(post(api, chunk(1, 1)), 200).json()
    assert done["state"] == "done"
    s.stop()
    s.start()
    j = ok(api.get("/v1/import/" + cut["id"])).json()
    assert j["state"] == "failed" and j["next_chunk"] == 1 and j["chunks_done"] == 1, j
    assert j["rows"] == 9 and j["last_error"]["code"] == "interrupted", j
    assert j["last_error"]["chunk"] == 1
    j = ok(api.get("/v1/import/" + failed["id"])).json()
    assert j["state"] == "failed" and j["next_chunk"] == 1 and j["errors"] == 1, j
    e = j["last_error"]
    assert (e["chunk"], e["line"], e["field"], e["code"]) == (1, len(bad), "color",
                                                              "invalid_input"), e
    # Nothing of the refused chunk was kept.
    assert api.get("/v1/resources/file/f10").status_code == 404
    j = ok(api.get("/v1/import/" + done["id"])).json()
    assert j["state"] == "done" and j["last_error"] is None and j["revision"] == done["revision"]
    # Both go on from their next chunk.
    j = ok(post(api, chunk(3, 2, start=20), job=cut["id"], chunk=1), 200).json()
    assert j["state"] == "done" and j["chunks_done"] == 2 and j["last_error"] is None, j
    assert post(api, chunk(1, 1), job=failed["id"], chunk=2).status_code == 409
    j = ok(post(api, chunk(2, 2, start=10), job=failed["id"], chunk=1), 200).json()
    assert j["state"] == "done" and j["errors"] == 1, j
    # Another organization's token does not see the job.
    assert api.get("/v1/import/imp_nope").status_code == 404
