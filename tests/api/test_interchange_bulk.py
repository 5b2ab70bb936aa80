"""Imports in bulk (docs/interchange.md, "Speed"; issue 26): a chunk's assignments are written
many rows a statement, and must read back as if added one at a time: every add in the change
log with its row id, nothing before the import's revision, rules refused with their line, a
tag twice counted once. Import jobs are kept in the store and survive a restart."""
import csv
import io
import json
import re

import pytest
import requests

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


def bulk_rows(server):
    """tagd_import_assignment_rows_total by how (/metrics)."""
    m = requests.get(server.url + "/metrics").text
    return {k: int(v) for k, v in
            re.findall(r'^tagd_import_assignment_rows_total\{how="(\w+)"\} (\d+)$', m, re.M)}


def test_a_bulk_chunk_reads_back_as_single_adds(fresh):
    s, api = fresh
    ok(post(api, [{"type": "tag", "name": t} for t in TAGS]))
    assert bulk_rows(s) == {"bulk": 0, "single": 0}
    recs = chunk(150, 5)
    # The same assignment twice in a chunk (and again later in it) is one add.
    recs.append({"type": "assignment", "kind": "file", "key": "f0", "tag": TAGS[0]})
    job = ok(post(api, recs), 200).json()
    rev = job["revision"]
    # The chunk's adds in one statement, none one at a time.
    assert bulk_rows(s) == {"bulk": 750, "single": 0}
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
        # Also when the resource's assignments are apart in the chunk (two runs of 40, another
        # resource's between): the second run counts the first's rows, still waiting, and is
        # refused at its first line.
        split = (recs[:40] + [{"type": "assignment", "kind": "file", "key": "y", "tag": "m0"}]
                 + recs[40:])
        r = post(a2, split)
        assert r.status_code == 422 and r.json()["error"]["details"]["line"] == 42, r.text
        assert a2.get("/v1/resources/file/x/tags").status_code == 404
        # And a tag twice apart is one add.
        again = recs[:40] + [split[40]] + recs[:30]
        ok(post(a2, again), 200)
        assert len(ok(a2.get("/v1/resources/file/x/tags")).json()["items"]) == 40
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


def test_skos_alt_labels_are_aliases_both_ways(fresh):
    """A tag's aliases go out as skos:altLabel (read here with rdflib) and come back in."""
    rdflib = pytest.importorskip("rdflib")
    _, api = fresh
    t = ok(api.post("/v1/tags", json={"name": "Contact.mail"})).json()
    ok(api.patch("/v1/tags/%d" % t["id"], json={"name": "Contact.email"}))
    ok(api.patch("/v1/tags/%d" % t["id"], json={"name": "Contact.e-mail"}))
    ok(api.post("/v1/tags", json={"name": "plain"}))
    aliases = sorted(a["name"] for a in ok(api.get("/v1/tags/%d/aliases" % t["id"])).json()["items"])
    assert aliases == ["Contact.email", "Contact.mail"]
    r = ok(api.get("/v1/export", params={"format": "skos", "include": "taxonomy"}))
    g = rdflib.Graph()
    g.parse(data=r.text, format="turtle")
    S = rdflib.Namespace("http://www.w3.org/2004/02/skos/core#")
    N = rdflib.URIRef("https://tagd.dev/ns/interchange#name")
    by = {str(g.value(c, N)): c for c in g.subjects(rdflib.RDF.type, S.Concept)}
    assert sorted(str(l) for l in g.objects(by["Contact.e-mail"], S.altLabel)) == aliases
    assert all(l.language is None for l in g.objects(by["Contact.e-mail"], S.altLabel))
    assert list(g.objects(by["plain"], S.altLabel)) == []
    # As of a revision before the second rename: one alias.
    rev = min(c["revision"] for c in ok(api.get("/v1/changes", params={"entity": "alias"})).json()["items"])
    r = ok(api.get("/v1/export", params={"format": "skos", "include": "taxonomy", "as_of": str(rev)}))
    g2 = rdflib.Graph()
    g2.parse(data=r.text, format="turtle")
    by2 = {str(g2.value(c, N)): c for c in g2.subjects(rdflib.RDF.type, S.Concept)}
    assert [str(l) for l in g2.objects(by2["Contact.email"], S.altLabel)] == ["Contact.mail"]
    # Into an empty tagd: the same aliases, and again changes nothing.
    s2 = Server().start()
    try:
        a2 = Api(s2, ADMIN_TOKEN)
        for _ in range(2):
            job = ok(a2.post("/v1/import", data=g.serialize(format="turtle").encode(),
                             headers={"Content-Type": "text/turtle"}), 200).json()
        assert job["revision"] is None, job
        t2 = ok(a2.get("/v1/tags/Contact.mail")).json()
        assert t2["name"] == "Contact.e-mail"
        got = sorted(a["name"] for a in ok(a2.get("/v1/tags/%d/aliases" % t2["id"])).json()["items"])
        assert got == aliases
        # An altLabel that is another tag's name is refused with its line.
        bad = ("@prefix skos: <http://www.w3.org/2004/02/skos/core#> .\n"
               "@prefix tagd: <https://tagd.dev/ns/interchange#> .\n"
               "<urn:x:a> a skos:Concept ; tagd:name \"plain\" ;\n"
               "    skos:altLabel \"Contact.e-mail\" .\n")
        r = a2.post("/v1/import", data=bad.encode(), headers={"Content-Type": "text/turtle"})
        assert r.status_code == 409, r.text
        assert r.json()["error"]["details"]["field"] == "skos:altLabel"
        assert r.json()["error"]["details"]["line"] == 4
    finally:
        s2.cleanup()


def alias_records(api, fmt, **params):
    """The alias records of an export as {alias: tag}, and its end record (JSON lines)."""
    r = ok(api.get("/v1/export", params=dict(params, format=fmt)))
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(r.text, newline="")))
        return {x["name"]: x["tag"] for x in rows if x["type"] == "alias"}, None
    lines = [json.loads(x) for x in r.text.splitlines()]
    types = [x["type"] for x in lines]
    if "alias" in types:
        first = types.index("alias")
        assert all(t == "alias" for t in types[first:types.count("alias") + first])
        assert "tag" not in types[first:] and "group" not in types[first:]
    return {x["name"]: x["tag"] for x in lines if x["type"] == "alias"}, lines[-1]


def test_alias_records_as_of_a_revision(fresh):
    """JSON lines and CSV write the aliases of the export's revision: one removed since is in
    an export as of before, one added since is not, and each names its tag by the name it had
    then. An alias of a deleted tag is left out with its tag."""
    _, api = fresh
    t = ok(api.post("/v1/tags", json={"name": "Team.a"})).json()
    ok(api.put("/v1/resources/file/r1", json={}))
    ok(api.post("/v1/resources/file/r1/tags", json={"tags": ["Team.a"]}))
    rev1 = int(ok(api.patch("/v1/tags/%d" % t["id"], json={"name": "Team.b"}))
               .headers["X-Tagd-Revision"])
    rev2 = int(ok(api.delete("/v1/tags/%d/aliases/Team.a" % t["id"])).headers["X-Tagd-Revision"])
    ok(api.patch("/v1/tags/%d" % t["id"], json={"name": "Team.c"}))
    for fmt in ("jsonl", "csv"):
        got, end = alias_records(api, fmt, as_of=str(rev1))
        assert got == {"Team.a": "Team.b"}, (fmt, got)
        if end:
            assert end["type"] == "end" and end["aliases"] == 1 and end["revision"] == rev1
        assert alias_records(api, fmt, as_of=str(rev2))[0] == {}
        assert alias_records(api, fmt)[0] == {"Team.b": "Team.c"}
        # include=taxonomy keeps them: they are taxonomy.
        assert alias_records(api, fmt, as_of=str(rev1), include="taxonomy")[0] == \
            {"Team.a": "Team.b"}
    # The export as of rev1 into an empty tagd: the old name of then resolves there.
    old = ok(api.get("/v1/export", params={"format": "jsonl", "as_of": str(rev1)})).content
    s2 = Server().start()
    try:
        a2 = Api(s2, ADMIN_TOKEN)
        ok(a2.post("/v1/import", data=old, headers={"Content-Type": "application/x-ndjson"}))
        assert ok(a2.get("/v1/tags/Team.a")).json()["name"] == "Team.b"
        assert a2.get("/v1/tags/Team.c").status_code == 404
        items = ok(a2.get("/v1/resources/file/r1/tags")).json()["items"]
        assert [i["name"] for i in items] == ["Team.b"]
    finally:
        s2.cleanup()
    # A deleted tag is no tag of the export, nor are its aliases.
    ok(api.delete("/v1/resources/file/r1/tags/Team.c"))
    ok(api.delete("/v1/tags/%d" % t["id"]))
    got, end = alias_records(api, "jsonl")
    assert got == {} and end["aliases"] == 0 and end["tags"] == 1, end


def test_many_aliases_page_through_an_export(fresh):
    """Aliases are read a page at a time (500): a subtree of 700 tags renamed at once leaves
    701 aliases, every one written once, in order, and read back."""
    _, api = fresh
    names = ["Big.t%03d" % i for i in range(700)]
    ok(post(api, [{"type": "tag", "name": n} for n in names]))
    ok(api.patch("/v1/tags/Big", json={"name": "Huge"}))
    for fmt in ("jsonl", "csv"):
        got, end = alias_records(api, fmt, include="taxonomy")
        assert len(got) == 701, (fmt, len(got))
        assert got["Big"] == "Huge" and got["Big.t699"] == "Huge.t699"
        if end:
            assert end["aliases"] == 701 and end["tags"] == 701
    body = ok(api.get("/v1/export", params={"format": "csv"})).content
    s2 = Server().start()
    try:
        a2 = Api(s2, ADMIN_TOKEN)
        job = ok(a2.post("/v1/import", data=body, headers={"Content-Type": "text/csv"})).json()
        assert job["rows"] == 701 + 701, job
        assert ok(a2.get("/v1/tags/Big.t123")).json()["name"] == "Huge.t123"
        h = ok(a2.get("/v1/tags/Huge")).json()
        assert h["aliases"] == ["Big"]
    finally:
        s2.cleanup()


def test_assignment_lines_read_the_same_whatever_their_spelling(fresh):
    """Assignment lines as export writes them are read without jansson; every other spelling
    goes through it. Both must give the same records and the same refusals."""
    _, api = fresh
    ok(post(api, [{"type": "tag", "name": n} for n in ("plain", "Ünïcode", 'q"uote')]))
    lines = [
        '{"type":"assignment","kind":"file","key":"a","tag":"plain","context":"manual"}',
        ' { "type" : "assignment" , "kind":"file", "key":"b", "tag":"plain" } ',
        '{"type":"assignment","kind":"file","key":"c","tag":"plain","context":null}',
        '{"type":"assignment","kind":"file","key":"d","tag":"\\u00dcn\\u00efcode"}',
        '{"type":"assignment","kind":"file","key":"e","tag":"Ünïcode"}',
        '{"type":"assignment","kind":"file","key":"f","tag":"q\\"uote","context":"x\\ty"}',
        '{"context":"manual","tag":"plain","key":"g","kind":"file","type":"assignment"}',
    ]
    body = ("\n".join(lines) + "\n").encode()
    ok(api.post("/v1/import", data=body, headers={"Content-Type": "application/x-ndjson"}))
    want = {"a": ("plain", "manual"), "b": ("plain", "manual"), "c": ("plain", "manual"),
            "d": ("Ünïcode", "manual"), "e": ("Ünïcode", "manual"), "f": ('q"uote', "x\ty"),
            "g": ("plain", "manual")}
    for key, (tag, context) in want.items():
        items = ok(api.get("/v1/resources/file/%s/tags" % key)).json()["items"]
        assert [(t["name"], t.get("context", "manual")) for t in items] == [(tag, context)], items
    # Refusals name their line and field, as jansson's path does.
    bad = [
        ('{"type":"assignment","kind":"file","key":"h","tag":"plain","tag":"plain"}', "body"),
        ('{"type":"assignment","kind":"file","key":"h","tag":"plain","extra":"x"}', "extra"),
        ('{"type":"assignment","kind":"file","key":"h","tag":null}', "tag"),
        ('{"type":"assignment","kind":"file","key":"h"}', "tag"),
        ('{"type":"assignment","kind":"file","key":"h","tag":"plain","context":3}', "context"),
        ('{"type":"assignment","kind":"file","key":"h","tag":"plain"} x', "body"),
        ('{"type":"assignment","kind":"file","key":"h","tag":"nope"}', "tag"),
    ]
    for line, field in bad:
        r = api.post("/v1/import", data=(lines[0] + "\n" + line + "\n").encode(),
                     headers={"Content-Type": "application/x-ndjson"})
        assert r.status_code in (400, 404, 422), (line, r.text)
        d = r.json()["error"]["details"]
        assert d["line"] == 2 and d["field"] == field, (line, r.text)
    assert api.get("/v1/resources/file/h/tags").status_code == 404


def test_a_restricted_subtree_holds_in_a_chunk_of_thousands(fresh):
    """A chunk's adds outnumber the writer's notes of what the engine has yet to apply
    (core/writer_fresh.c, FRESH_MAX): its resources then count as changed, its tags do not,
    and each tag's restricted subtree is read from the engine. A subtree made restricted just
    before, and not yet in the engine, still refuses: that change is not a resource's."""
    s, api = fresh
    ok(post(api, [{"type": "tag", "name": t} for t in TAGS] +
            [{"type": "tag", "name": "Sec.a"}]))
    tok = ok(api.post("/v1/tokens", json={"name": "importer", "assign": ["*"],
                                          "rights": ["tags:read", "tags:write", "tags:assign"]}),
             201).json()["token"]
    imp = Api(s, tok)
    ok(api.patch("/v1/tags/Sec", json={"assign_restricted": True}))
    recs = chunk(1000, 5)
    bad = len(recs) + 1
    recs.append({"type": "assignment", "kind": "file", "key": "f1", "tag": "Sec.a"})
    r = post(imp, recs)
    assert r.status_code == 403 and r.json()["error"]["details"]["line"] == bad, r.text
    ok(post(imp, recs[:-1]), 200)
    # And in the next chunk, with the engine behind or not.
    r = post(imp, chunk(1000, 5, start=1000) + [recs[-1]])
    assert r.status_code == 403, r.text
    assert ok(api.get("/v1/resources/file/f1/tags")).json()["items"] and \
        "Sec.a" not in [t["name"] for t in api.get("/v1/resources/file/f1/tags").json()["items"]]


def test_tag_names_follow_changes_between_and_within_chunks(fresh):
    """A chunk's tag names are resolved from the writer's engine snapshot when no tag changed
    since it was taken, else from the store: a rename or a deletion between chunks, or a tag
    made in the chunk itself, is seen by the next assignment that names it."""
    _, api = fresh
    ok(post(api, [{"type": "tag", "name": t} for t in TAGS]))
    ok(post(api, chunk(50, 3)), 200)
    # Renamed between chunks: the new name and the old one (an alias) both find it.
    ok(api.patch("/v1/tags/" + TAGS[0], json={"name": "renamed"}))
    ok(post(api, [{"type": "assignment", "kind": "file", "key": "n1", "tag": "renamed"},
                  {"type": "assignment", "kind": "file", "key": "n2", "tag": TAGS[0]}]), 200)
    for key in ("n1", "n2"):
        items = ok(api.get("/v1/resources/file/%s/tags" % key)).json()["items"]
        assert [t["name"] for t in items] == ["renamed"], items
    # Deleted between chunks: refused with its line, nothing kept.
    assert api.delete("/v1/tags/" + TAGS[1]).status_code in (200, 204)
    recs = [{"type": "assignment", "kind": "file", "key": "f%d" % i, "tag": TAGS[5]}
            for i in range(100, 120)] + [{"type": "assignment", "kind": "file", "key": "n3",
                                          "tag": TAGS[1]}]
    r = post(api, recs)
    assert r.status_code == 404 and r.json()["error"]["details"]["line"] == len(recs), r.text
    assert api.get("/v1/resources/file/f100").status_code == 404
    # Made in the chunk, then named by its assignments, and an unknown name refused after.
    recs = [{"type": "tag", "name": "fresh.tag"}] + [
        {"type": "assignment", "kind": "file", "key": "m%d" % i, "tag": "fresh.tag"}
        for i in range(20)]
    ok(post(api, recs), 200)
    assert len(ok(api.get("/v1/resources", params={"tag": "fresh.tag"})).json()["items"]) == 20
    r = post(api, recs + [{"type": "assignment", "kind": "file", "key": "m0", "tag": "fresh.tag2"}])
    assert r.status_code == 404 and r.json()["error"]["details"]["line"] == len(recs) + 1, r.text
