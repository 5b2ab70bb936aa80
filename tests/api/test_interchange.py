"""Export and import of a workspace (GET /v1/export, POST /v1/import, docs/interchange.md).

A workspace with every kind of data (groups with localized names, a nested taxonomy with colors,
descriptions, localized names, protected and archived tags, a resource tree with names and
archived resources, assignments) is exported in each format and imported into an empty tagd;
both are then compared through the API. tagd's SKOS is read with rdflib and raptor (Debian's
python3-rdflib, raptor2-utils), which nobody here wrote; a vocabulary in a taxonomy tool's own
shape (tests/api/data) is imported. Malformed chunks fail with their line and field and keep
nothing; a job resumes at the chunk that failed; an export is consistent at its revision while
writes go on. Tags renamed and merged leave aliases (their old names), which every format
carries: after the import the old names resolve as they did."""
import csv
import io
import json
import os
import shutil
import subprocess
import threading

import pytest
import requests

from conftest import Api, Server, ADMIN_TOKEN

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
TYPES = {"jsonl": "application/x-ndjson", "csv": "text/csv", "skos": "text/turtle"}
SKOS = "http://www.w3.org/2004/02/skos/core#"


def ok(r, status=(200, 201, 204)):
    assert r.status_code in ((status,) if isinstance(status, int) else status), r.text
    return r


@pytest.fixture(scope="module")
def source(server, admin):
    """The workspace every round trip exports."""
    g1 = ok(admin.post("/v1/groups", json={"name": "Stage", "exclusive": True,
                                           "l10n": {"de-DE": "Phase", "fr": "Étape"}})).json()
    g2 = ok(admin.post("/v1/groups", json={"name": "Sensitivity"})).json()
    tags = [
        {"name": "Address", "color": "#1E90FF", "description": "Where someone lives",
         "l10n": {"de-DE": "Adresse", "fr": "Adresse"}},
        {"name": "Address.email", "display_name": "E-mail", "color": "#AABBCC",
         "description": "line one\nline two, with \"quotes\" and a comma",
         "l10n": {"de-DE": "E-Mail", "ja": "メール"}},
        {"name": "Address.postal", "protected": True},
        {"name": "Stage"},
        {"name": "Stage.prod", "color": "#FF0000"},
        {"name": "Stage.dev"},
        {"name": "pii", "description": "=SUM(A1) is no formula here"},
        {"name": "old"},
        {"name": "Ünïcode.名前"},
    ]
    for t in tags:
        ok(admin.post("/v1/tags", json=t))
    ok(admin.put("/v1/groups/%d/tags" % g1["id"], json={"tags": ["Stage.prod", "Stage.dev"]}))
    ok(admin.put("/v1/groups/%d/tags" % g2["id"], json={"tags": ["pii"]}))
    ok(admin.put("/v1/resources/folder/root", json={"name": "The root"}))
    ok(admin.put("/v1/resources/folder/a,b", json={"parent": {"kind": "folder", "key": "root"}}))
    ok(admin.put("/v1/resources/file/a,b%2Fx.pdf",
                 json={"name": "x, \"the\" file", "parent": {"kind": "folder", "key": "a,b"}}))
    ok(admin.put("/v1/resources/file/gone", json={"archived": True}))
    for i in range(30):
        ok(admin.put("/v1/resources/dataset/ds%02d" % i, json={}))
        ok(admin.post("/v1/resources/dataset/ds%02d/tags" % i,
                      json={"tags": ["pii", "Stage.prod" if i % 2 else "Stage.dev"]}))
    ok(admin.post("/v1/resources/folder/a,b/tags", json={"tags": ["Address.email", "old"]}))
    # Archived once on a resource: an archived tag takes no new assignments, and an import
    # must still restore this one.
    ok(admin.patch("/v1/tags/old", json={"archived": True}))
    ok(admin.post("/v1/resources/file/a,b%2Fx.pdf/tags", json={"tags": ["Ünïcode.名前"]}))
    ok(admin.post("/v1/resources/file/gone/tags", json={"tags": ["Address"]}))
    # Old names (docs/taxonomy.md): a subtree renamed (each name in it becomes an alias), a tag
    # of it renamed again, and a tag merged into another, each with assignments.
    ok(admin.post("/v1/tags", json={"name": "Kontakt"}))
    ok(admin.post("/v1/tags", json={"name": "Kontakt.telefon"}))
    ok(admin.post("/v1/resources/folder/root/tags", json={"tags": ["Kontakt.telefon"]}))
    ok(admin.patch("/v1/tags/Kontakt", json={"name": "Contact"}))
    ok(admin.patch("/v1/tags/Contact.telefon", json={"name": "Contact.phone"}))
    ok(admin.post("/v1/tags", json={"name": "legacy"}))
    ok(admin.post("/v1/resources/folder/a,b/tags", json={"tags": ["legacy"]}))
    ok(admin.post("/v1/resources/dataset/ds00/tags", json={"tags": ["legacy"]}))
    ok(admin.post("/v1/tags/legacy:merge", json={"into": "pii"}))
    return snapshot(admin)


def all_pages(api, path, params):
    items, cursor = [], None
    while True:
        p = dict(params)
        if cursor:
            p["cursor"] = cursor
        body = ok(api.get(path, params=p)).json()
        items += body["items"]
        cursor = body.get("next_cursor")
        if not cursor:
            return items


def snapshot(api, as_of=None):
    """The workspace as the API shows it, without ids and times (which an import makes anew).
    Aliases (now only) as {old name: the tag's name}; their reason is the import's there."""
    q = {"as_of": as_of} if as_of else {}
    groups = {g["id"]: g for g in ok(api.get("/v1/groups", params=q)).json()["items"]}
    tags, aliases = [], {}
    for t in all_pages(api, "/v1/tags", dict(q, archived="true", limit=1000)):
        tags.append({k: t[k] for k in ("name", "display_name", "l10n", "color", "description",
                                       "source", "protected", "archived", "position")}
                    | {"group": groups[t["group_id"]]["name"] if t["group_id"] else None})
        if not as_of:
            for a in ok(api.get("/v1/tags/%d/aliases" % t["id"])).json()["items"]:
                aliases[a["name"]] = t["name"]
    res = []
    for r in all_pages(api, "/v1/resources", dict(q, archived="true", limit=1000)):
        path = "/v1/resources/%s/%s/tags" % (requests.utils.quote(r["kind"], safe=""),
                                             requests.utils.quote(r["key"], safe=""))
        names = sorted(a["name"] for a in ok(api.get(path, params=q)).json()["items"])
        res.append({"kind": r["kind"], "key": r["key"], "name": r.get("name"),
                    "parent": r.get("parent"), "archived": r["archived"], "tags": names})
    return {
        "groups": sorted(({k: g[k] for k in ("name", "l10n", "exclusive", "position")}
                          for g in groups.values()), key=lambda g: g["name"]),
        "tags": sorted(tags, key=lambda t: t["name"]),
        "resources": sorted(res, key=lambda r: (r["kind"], r["key"])),
        "aliases": aliases,
    }


def export(api, fmt, **params):
    r = ok(api.get("/v1/export", params=dict(params, format=fmt)), 200)
    assert r.headers["Content-Type"].startswith(TYPES[fmt])
    return r


def import_chunk(api, fmt, body, **params):
    if isinstance(body, str):
        body = body.encode()
    return api.post("/v1/import", params=params, data=body,
                    headers={"Content-Type": TYPES[fmt]})


@pytest.fixture
def empty():
    s = Server().start()
    yield Api(s, ADMIN_TOKEN)
    s.cleanup()


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "skos"])
def test_round_trip_into_an_empty_tagd(source, admin, empty, fmt):
    body = export(admin, fmt).content
    r = ok(import_chunk(empty, fmt, body), 200)
    job = r.json()
    assert job["state"] == "done" and job["chunks_done"] == 1 and job["errors"] == 0, job
    assert snapshot(empty) == source
    # Importing the same file again changes nothing (records are idempotent).
    before = int(ok(empty.get("/v1/changes", params={"since": 0})).headers["X-Tagd-Revision"])
    ok(import_chunk(empty, fmt, body), 200)
    assert snapshot(empty) == source
    after = int(ok(empty.get("/v1/changes", params={"since": 0})).headers["X-Tagd-Revision"])
    if fmt != "skos":  # resources are put again (a new version, the same data)
        assert after >= before


def query_keys(api, expr):
    r = ok(api.get("/v1/resources", params={"query": expr, "limit": 1000}))
    return sorted((i["kind"], i["key"]) for i in r.json()["items"])


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_old_names_work_on_the_imported_tagd(source, admin, empty, fmt):
    """The aliases came along: a lookup, a query and an assignment by an old name name the
    tag, as on the exporting tagd."""
    ok(import_chunk(empty, fmt, export(admin, fmt).content), 200)
    t = ok(empty.get("/v1/tags/Kontakt.telefon")).json()
    assert t["name"] == "Contact.phone" and t["requested_alias"] == "Kontakt.telefon"
    assert ok(empty.get("/v1/tags/legacy")).json()["name"] == "pii"
    for old, new in (("legacy", "pii"), ("Kontakt.telefon", "Contact.phone"),
                     ("Kontakt.*", "Contact.*")):
        got = query_keys(empty, old)
        assert got and got == query_keys(empty, new) == query_keys(admin, old), old
    ok(empty.put("/v1/resources/file/new", json={}))
    r = ok(empty.post("/v1/resources/file/new/tags",
                      json={"tags": ["Kontakt.telefon", "legacy"]}))
    assert "Kontakt.telefon=Contact.phone" in r.headers["X-Tagd-Alias"]
    names = sorted(a["name"] for a in ok(empty.get("/v1/resources/file/new/tags")).json()["items"])
    assert names == ["Contact.phone", "pii"]
    # Imported aliases say where they came from.
    t = ok(empty.get("/v1/tags/pii")).json()
    reasons = {a["name"]: a["reason"] for a in
               ok(empty.get("/v1/tags/%d/aliases" % t["id"])).json()["items"]}
    assert reasons == {"legacy": "import"}


def cut(fmt, text, n):
    """The file in chunks of n records, as tagctl sends them (CSV repeats its header)."""
    if fmt == "jsonl":
        lines = text.splitlines(keepends=True)
        return ["".join(lines[i:i + n]) for i in range(0, len(lines), n)]
    rows = list(csv.reader(io.StringIO(text, newline="")))
    out = []
    for i in range(1, len(rows), n):
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\r\n").writerows([rows[0]] + rows[i:i + n])
        out.append(buf.getvalue())
    return out


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_round_trip_in_small_chunks(source, admin, empty, fmt):
    """Cut anywhere, a file goes in the same: the aliases come after every tag, so no chunk
    names a tag that a later chunk makes."""
    chunks = cut(fmt, export(admin, fmt).text, 3)
    assert len(chunks) > 10
    jid = None
    for i, c in enumerate(chunks):
        params = {"last": "true" if i == len(chunks) - 1 else "false"}
        if jid:
            params.update(job=jid, chunk=i)
        jid = ok(import_chunk(empty, fmt, c, **params), 200).json()["id"]
    assert snapshot(empty) == source


def test_jsonl_records_and_header(source, admin):
    r = export(admin, "jsonl")
    lines = [json.loads(line) for line in r.text.splitlines()]
    assert lines[0]["type"] == "tagd" and lines[0]["revision"] == int(r.headers["X-Tagd-Revision"])
    assert lines[-1] == {"type": "end", "revision": lines[0]["revision"], "groups": 2,
                         "tags": len(source["tags"]), "aliases": len(source["aliases"]),
                         "resources": len(source["resources"]),
                         "assignments": sum(len(x["tags"]) for x in source["resources"])}
    types = [x["type"] for x in lines[1:-1]]
    # Groups, then tags (parents first), then the aliases, then each resource followed by its
    # assignments.
    assert types.index("tag") > max(i for i, t in enumerate(types) if t == "group")
    assert types.index("alias") > max(i for i, t in enumerate(types) if t == "tag")
    assert types.index("resource") > max(i for i, t in enumerate(types) if t == "alias")
    assert {x["name"]: x["tag"] for x in lines if x["type"] == "alias"} == source["aliases"]
    assert {"type": "alias", "name": "legacy", "tag": "pii"} in lines
    email = next(x for x in lines if x.get("name") == "Address.email")
    assert email == {"type": "tag", "name": "Address.email", "display_name": "E-mail",
                     "l10n": {"de-DE": "E-Mail", "ja": "メール"}, "color": "#AABBCC",
                     "description": "line one\nline two, with \"quotes\" and a comma",
                     "source": "curated", "protected": False, "archived": False, "group": None,
                     "position": email["position"]}


def test_csv_is_one_table_other_tools_read(source, admin):
    r = export(admin, "csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert list(rows[0].keys())[0] == "type"
    assert {x["type"] for x in rows} == {"group", "tag", "alias", "resource", "assignment"}
    # An alias row fills name (the alias) and tag (the tag it names), nothing else.
    al = next(x for x in rows if x["type"] == "alias" and x["name"] == "Kontakt.telefon")
    assert {k: v for k, v in al.items() if v} == {"type": "alias", "name": "Kontakt.telefon",
                                                   "tag": "Contact.phone"}
    f = next(x for x in rows if x["type"] == "resource" and x["key"] == "a,b/x.pdf")
    assert f["name"] == 'x, "the" file' and f["parent_kind"] == "folder" and f["parent_key"] == "a,b"
    pii = next(x for x in rows if x["type"] == "tag" and x["name"] == "pii")
    # A cell that a spreadsheet would run as a formula is quoted (and still reads back).
    assert pii["description"] == "=SUM(A1) is no formula here"
    assert '"=SUM(A1) is no formula here"' in r.text


def skos_graph(text):
    rdflib = pytest.importorskip("rdflib")
    g = rdflib.Graph()
    g.parse(data=text, format="turtle")
    return rdflib, g


def test_skos_reads_with_rdflib_and_raptor(source, admin, tmp_path):
    text = export(admin, "skos", include="taxonomy").text
    rdflib, g = skos_graph(text)
    S = rdflib.Namespace(SKOS)
    concepts = set(g.subjects(rdflib.RDF.type, S.Concept))
    assert len(concepts) == len(source["tags"])
    schemes = set(g.subjects(rdflib.RDF.type, S.ConceptScheme))
    assert len(schemes) == 1
    scheme = next(iter(schemes))
    by_name = {}
    for c in concepts:
        name = str(g.value(c, rdflib.URIRef("https://tagd.dev/ns/interchange#name")))
        by_name[name] = c
        assert (c, S.inScheme, scheme) in g
    for t in source["tags"]:
        c = by_name[t["name"]]
        labels = {(str(l), l.language) for l in g.objects(c, S.prefLabel)}
        want = {(t["display_name"], None)} | {(v, k) for k, v in (t["l10n"] or {}).items()}
        assert {(v, (k or "").lower() or None) for v, k in labels} == \
            {(v, (k or "").lower() or None) for v, k in want}
        broader = list(g.objects(c, S.broader))
        if "." in t["name"]:
            assert broader == [by_name[t["name"].rsplit(".", 1)[0]]]
        else:
            assert broader == [] and (c, S.topConceptOf, scheme) in g
        d = g.value(c, S.definition)
        assert (str(d) if d is not None else None) == t["description"]
    if shutil.which("rapper"):
        p = tmp_path / "x.ttl"
        p.write_text(text)
        out = subprocess.run(["rapper", "-i", "turtle", "-c", str(p)], capture_output=True,
                             text=True)
        assert out.returncode == 0, out.stderr
        assert "returned %d triples" % len(g) in out.stderr


def test_import_a_thesaurus_from_a_taxonomy_tool(empty):
    with open(os.path.join(DATA, "thesaurus_slice.ttl"), "rb") as f:
        body = f.read()
    job = ok(import_chunk(empty, "skos", body), 200).json()
    # 8 concepts and collections, and 3 skos:altLabel in English: aliases.
    assert job["state"] == "done" and job["rows"] == 11, job
    snap = snapshot(empty)
    names = [t["name"] for t in snap["tags"]]
    assert names == ["Educational systems", "Educational systems.Higher education",
                     "Educational systems.Higher education.Universities",
                     "Educational systems.Primary education", "Physics",
                     "Physics.Nuclear physics"]
    he = snap["tags"][1]
    assert he["description"] == \
        "Education provided by universities, colleges and institutes of technology."
    assert he["l10n"] == {"en": "Higher education", "fr": "Enseignement supérieur",
                          "es": "Enseñanza superior", "ru": "Высшее образование",
                          "ar": "التعليم العالي"}
    assert he["display_name"] == "Higher education" and he["group"] == "Education"
    assert snap["tags"][4]["description"] == \
        "The science of matter and energy\nand of their interactions."
    assert snap["tags"][4]["group"] == "Natural sciences"
    assert [g["name"] for g in snap["groups"]] == ["Education", "Natural sciences"]
    # A synonym (skos:altLabel) names a sibling of its concept, an alias that resolves to it.
    t = ok(empty.get("/v1/tags/Educational systems.Tertiary education")).json()
    assert t["name"] == "Educational systems.Higher education"
    t = ok(empty.get("/v1/tags/Education systems")).json()
    assert t["name"] == "Educational systems"
    # Labels in another language make other names (?lang=), in a fresh workspace.
    org = ok(empty.get("/v1/me")).json()["organization"]["id"]
    ws = ok(empty.post("/v1/organizations/%s/workspaces" % org, json={"name": "fr"}), 201).json()
    fr = empty.post("/v1/import", params={"lang": "fr"}, data=body,
                    headers={"Content-Type": "text/turtle", "X-Tagd-Workspace": str(ws["id"])})
    ok(fr, 200)
    frt = ok(empty.get("/v1/tags", params={"limit": 100},
                       headers={"X-Tagd-Workspace": str(ws["id"])})).json()["items"]
    assert "Système éducatif.Enseignement supérieur.Université" in [t["name"] for t in frt]


@pytest.mark.parametrize("fmt,body,line,field", [
    ("jsonl", '{"type":"tag","name":"a1"}\n{"type":"tag","name":"a2"}\n'
              '{"type":"tag","name":"a3","color":"blue"}\n', 3, "color"),
    ("jsonl", '{"type":"tag","name":"a1"}\n\n{"type":"tag","name":"a2","colour":"#fff"}\n',
     3, "colour"),
    ("jsonl", '{"type":"tag","name":"a1"}\n{"type":"tag",\n', 2, None),
    ("jsonl", '{"type":"tag","name":"a1"}\n{"type":"assignment","kind":"file","key":"k",'
              '"tag":"nope"}\n', 2, "tag"),
    ("jsonl", '{"type":"tag","name":"a1"}\n{"type":"widget"}\n', 2, "type"),
    ("csv", "type,name,protected\r\ntag,a1,\r\ntag,a2,maybe\r\n", 3, "protected"),
    ("csv", "type,name,colour\r\ntag,a1,#fff\r\n", 1, "colour"),
    ("csv", 'type,name\r\ntag,a1\r\ntag,"a2\r\n', 3, "csv"),
    ("csv", "type,name,description\ntag,a1,\"two\nlines\"\ntag,a2,x,y\n", 4, "csv"),
    ("skos", "@prefix skos: <http://www.w3.org/2004/02/skos/core#> .\n"
             "<http://x/a1> a skos:Concept ; skos:prefLabel \"a1\" .\n"
             "<http://x/a2> a skos:Concept ; skos:prefLabel \"a2\"\n"
             "<http://x/a3> a skos:Concept .\n", 4, "body"),
    ("skos", "@prefix skos: <http://www.w3.org/2004/02/skos/core#> .\n"
             "<http://x/a1> a skos:Concept ; skos:prefLabel \"a1\" .\n"
             "<http://x/a2> a skos:Concept ; skos:prefLabel \"a2\" ; skos:broader <http://x/zz> .\n",
     3, "skos:broader"),
])
def test_bad_input_names_line_and_field_and_keeps_nothing(empty, fmt, body, line, field):
    r = import_chunk(empty, fmt, body)
    assert r.status_code in (400, 404), r.text
    err = r.json()["error"]
    assert err["details"]["line"] == line, err
    if field:
        assert err["details"]["field"] == field, err
    assert err["message"].startswith("line %d" % line), err
    assert r.json()["job"]["state"] == "failed"
    # Nothing of the chunk is kept: not even the good records before the bad one.
    assert ok(empty.get("/v1/tags")).json()["items"] == []


ALIAS_BASE = {
    "jsonl": '{"type":"tag","name":"a"}\n{"type":"tag","name":"b"}\n{"type":"tag","name":"gone"}\n'
             '{"type":"alias","name":"old_a","tag":"a"}\n',
    "csv": "type,name,tag\r\ntag,a,\r\ntag,b,\r\ntag,gone,\r\nalias,old_a,a\r\n",
}


@pytest.mark.parametrize("fmt,rec,status,field", [
    ("jsonl", '{"type":"alias","name":"B","tag":"a"}', 409, "name"),       # a live tag's name
    ("jsonl", '{"type":"alias","name":"old_a","tag":"b"}', 409, "name"),   # another tag's alias
    ("jsonl", '{"type":"alias","name":"x","tag":"nope"}', 404, "tag"),     # no such tag
    ("jsonl", '{"type":"alias","name":"x","tag":"gone"}', 404, "tag"),     # a deleted one
    ("jsonl", '{"type":"alias","name":"x"}', 400, "tag"),
    ("jsonl", '{"type":"alias","name":"x..y","tag":"a"}', 400, "name"),
    ("jsonl", '{"type":"alias","name":"x","tag":"a","reason":"rename"}', 400, "reason"),
    ("csv", "alias,b,a", 409, "name"),
    ("csv", "alias,OLD_A,b", 409, "name"),
    ("csv", "alias,x,nope", 404, "tag"),
    ("csv", "alias,x,", 400, "tag"),
    ("csv", "alias,,a", 400, "name"),
])
def test_bad_alias_records_name_line_and_field_and_keep_nothing(empty, fmt, rec, status, field):
    ok(import_chunk(empty, fmt, ALIAS_BASE[fmt]), 200)
    ok(empty.delete("/v1/tags/gone"))
    if fmt == "jsonl":
        body = '{"type":"tag","name":"c"}\n{"type":"alias","name":"fine","tag":"b"}\n' + rec + "\n"
    else:
        body = "type,name,tag\r\ntag,c,\r\nalias,fine,b\r\n" + rec + "\r\n"
    line = 3 if fmt == "jsonl" else 4
    r = import_chunk(empty, fmt, body)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["details"]["line"] == line and err["details"]["field"] == field, err
    assert err["message"].startswith("line %d, field '%s'" % (line, field)), err
    # Nothing of the chunk is kept: neither the tag nor the good alias before the bad one.
    assert empty.get("/v1/tags/c").status_code == 404
    assert empty.get("/v1/tags/fine").status_code == 404
    a = ok(empty.get("/v1/tags/a")).json()
    assert a["aliases"] == ["old_a"]
    assert ok(empty.get("/v1/tags/b")).json()["aliases"] == []


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_alias_records_that_hold_change_nothing(empty, fmt):
    """An alias the tag has already (in any spelling, named by any of its names) or its own
    name writes nothing: importing a file again is no write."""
    ok(import_chunk(empty, fmt, ALIAS_BASE[fmt]), 200)
    if fmt == "jsonl":
        body = ('{"type":"alias","name":"old_a","tag":"a"}\n{"type":"alias","name":"A","tag":"a"}\n'
                '{"type":"alias","name":"OLD_A","tag":"old_a"}\n')
    else:
        body = "type,tag,name\r\nalias,a,old_a\r\nalias,a,A\r\nalias,old_a,OLD_A\r\n"
    job = ok(import_chunk(empty, fmt, body), 200).json()
    assert job["revision"] is None and job["rows"] == 3, job
    assert ok(empty.get("/v1/tags/a")).json()["aliases"] == ["old_a"]


def test_alias_lines_are_never_read_as_assignments(empty):
    """Assignment lines go through a scanner of their own (no jansson): an alias line, in
    whatever spelling, must not pass for one, and one that looks like an assignment is refused
    as the alias it says it is."""
    ok(import_chunk(empty, "jsonl", '{"type":"tag","name":"t"}\n{"type":"tag","name":"u"}\n'))
    body = ('{"type":"assignment","kind":"file","key":"f1","tag":"t"}\n'
            '{"type":"alias","name":"t_old","tag":"t"}\n'
            '{"tag":"u","name":"u_old","type":"alias"}\n'
            ' { "type" : "alias" , "name" : "u.older" , "tag" : "u" } \n'
            '{"type":"assignment","kind":"file","key":"f2","tag":"t_old"}\n')
    job = ok(import_chunk(empty, "jsonl", body), 200).json()
    assert job["rows"] == 5, job
    for key in ("f1", "f2"):
        items = ok(empty.get("/v1/resources/file/%s/tags" % key)).json()["items"]
        assert [i["name"] for i in items] == ["t"], items
    assert ok(empty.get("/v1/tags/t")).json()["aliases"] == ["t_old"]
    assert sorted(ok(empty.get("/v1/tags/u")).json()["aliases"]) == ["u.older", "u_old"]
    assert [r["key"] for r in ok(empty.get("/v1/resources")).json()["items"]] == ["f1", "f2"]
    for line in ('{"type":"alias","kind":"file","key":"k","tag":"t"}',
                 '{"kind":"file","key":"k","tag":"t","type":"alias"}',
                 '{"type":"alias","name":"k","tag":"t","context":null}'):
        r = import_chunk(empty, "jsonl", '{"type":"tag","name":"v"}\n' + line + "\n")
        assert r.status_code == 400, (line, r.text)
        d = r.json()["error"]["details"]
        assert d["line"] == 2 and d["field"] in ("kind", "key", "context"), (line, d)
    assert empty.get("/v1/resources/file/k").status_code == 404
    assert empty.get("/v1/tags/v").status_code == 404
    assert empty.get("/v1/tags/k").status_code == 404


def test_chunks_resume_at_the_one_that_failed(empty):
    good1 = '{"type":"tag","name":"c.one"}\n{"type":"tag","name":"c.two"}\n'
    bad2 = '{"type":"tag","name":"c.three"}\n{"type":"tag","name":"c.four","color":"x"}\n'
    good2 = '{"type":"tag","name":"c.three"}\n{"type":"tag","name":"c.four","color":"#000"}\n'
    good3 = ('{"type":"resource","kind":"file","key":"f"}\n'
             '{"type":"assignment","kind":"file","key":"f","tag":"c.four"}\n')
    job = ok(import_chunk(empty, "jsonl", good1, last="false"), 200).json()
    jid = job["id"]
    assert job["state"] == "running" and job["next_chunk"] == 1
    r = import_chunk(empty, "jsonl", bad2, job=jid, chunk=1, last="false")
    assert r.status_code == 400
    assert r.json()["error"]["details"] == {"field": "color", "line": 2, "chunk": 1}
    job = ok(empty.get("/v1/import/" + jid)).json()
    assert job["state"] == "failed" and job["chunks_done"] == 1 and job["rows"] == 2
    assert job["last_error"]["chunk"] == 1 and job["last_error"]["line"] == 2
    assert job["last_error"]["field"] == "color"
    names = [t["name"] for t in ok(empty.get("/v1/tags")).json()["items"]]
    assert names == ["c", "c.one", "c.two"]
    # A chunk out of order is refused; the one the job expects goes in.
    assert import_chunk(empty, "jsonl", good3, job=jid, chunk=2).status_code == 409
    ok(import_chunk(empty, "jsonl", good2, job=jid, chunk=1, last="false"), 200)
    job = ok(import_chunk(empty, "jsonl", good3, job=jid, chunk=2), 200).json()
    assert job["state"] == "done" and job["chunks_done"] == 3 and job["rows"] == 6
    assert job["errors"] == 1
    tags = ok(empty.get("/v1/resources/file/f/tags")).json()["items"]
    assert [t["name"] for t in tags] == ["c.four"]
    # Unknown jobs, other formats, other media types.
    assert import_chunk(empty, "jsonl", good1, job="imp_nope").status_code == 404
    assert import_chunk(empty, "csv", "type,name\r\n", job=jid, chunk=3).status_code == 400
    r = empty.post("/v1/import", data=b"{}", headers={"Content-Type": "application/json"})
    assert r.status_code == 415


def test_import_needs_write_rights(server, admin):
    reader = Api(server, server.token("tags:read", name="reader"))
    r = import_chunk(reader, "jsonl", '{"type":"tag","name":"x"}\n')
    assert r.status_code == 403
    assert reader.get("/v1/export").status_code == 200


def test_export_as_of_and_during_writes(source, server, admin):
    rev = int(export(admin, "jsonl").headers["X-Tagd-Revision"])
    # Enough resources for many pages, then an export read slowly while writes go on.
    for i in range(1200):
        ok(admin.put("/v1/resources/bulk/r%04d" % i, json={}))
    ok(admin.post("/v1/resources/bulk/r0000/tags", json={"tags": ["pii"]}))
    base = snapshot(admin)
    r = admin.get("/v1/export", params={"format": "jsonl"}, stream=True)
    at = int(r.headers["X-Tagd-Revision"])
    it = r.iter_lines()
    first = [next(it) for _ in range(5)]
    stop = threading.Event()

    def writer():
        i = 0
        while not stop.is_set() and i < 300:
            admin.put("/v1/resources/bulk/new%04d" % i, json={})
            admin.post("/v1/resources/bulk/r%04d/tags" % (1199 - i), json={"tags": ["Stage.dev"]})
            i += 1
        admin.patch("/v1/tags/pii", json={"name": "pii2"})

    t = threading.Thread(target=writer)
    t.start()
    rest = list(it)
    stop.set()
    t.join()
    lines = [json.loads(x) for x in first + rest if x]
    assert lines[-1]["type"] == "end" and lines[-1]["revision"] == at
    empty_srv = Server().start()
    try:
        e = Api(empty_srv, ADMIN_TOKEN)
        body = "\n".join(json.dumps(x) for x in lines) + "\n"
        # In chunks of 500 lines, as tagctl sends them.
        chunks = [body.splitlines()[i:i + 500] for i in range(0, len(body.splitlines()), 500)]
        jid = None
        for n, c in enumerate(chunks):
            params = {"last": "true" if n == len(chunks) - 1 else "false"}
            if jid:
                params.update(job=jid, chunk=n)
            job = ok(import_chunk(e, "jsonl", "\n".join(c) + "\n", **params), 200).json()
            jid = job["id"]
        assert job["state"] == "done" and job["chunks_done"] == len(chunks)
        assert snapshot(e) == base
    finally:
        empty_srv.cleanup()
    # The past: as_of gives the workspace as it was, for every format.
    old = export(admin, "jsonl", as_of=rev)
    assert old.headers["X-Tagd-As-Of"] == str(rev)
    assert json.loads(old.text.splitlines()[0])["revision"] == rev
    assert sum(1 for x in old.text.splitlines() if '"type":"resource"' in x) == \
        len(source["resources"])


def test_export_refuses_bad_parameters(admin):
    assert admin.get("/v1/export", params={"format": "xml"}).status_code == 400
    assert admin.get("/v1/export", params={"format": "skos", "base": "no iri"}).status_code == 400
    assert admin.get("/v1/export", params={"include": "some"}).status_code == 400
    assert admin.get("/v1/export", params={"as_of": "999999999"}).status_code == 400
    assert requests.get(admin.server.url + "/v1/export").status_code == 401
