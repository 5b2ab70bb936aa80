"""Inherited changes of resource moves and deletes in the change stream (docs/events.md,
"Moves and deletes"): the record's "inherited", effective=true's per-resource events, and what
a resource-subtree filter sees of a resource moved into or out of it, or deleted in it."""
import json

from conftest import ADMIN_TOKEN, Api, Server
from test_events import Sse, _assign, _changes_since, _rev, _tree, _until


def _move(a, kind, key, parent):
    body = {"parent": {"kind": "folder", "key": parent} if parent else None}
    r = a.put("/v1/resources/%s/%s" % (kind, key), json=body)
    assert r.status_code == 200, r.text
    return r.json()


def _resource_record(a, since, entity_id, op):
    got = [c for c in _changes_since(a, since)
           if c["entity"] == "resource" and c["entity_id"] == entity_id and c["op"] == op]
    assert len(got) == 1, got
    return got[0]


def _effective(a, kind, key):
    items = a.get("/v1/resources/%s/%s/tags?effective=true" % (kind, key)).json()["items"]
    return {x["name"] for x in items}


def _moved_tags(inh):
    return {(t["tag"], t["op"], t["self"], t["descendants"], tuple(t.get("resources", ["-"])))
            for t in inh["tags"]}


def test_a_move_record_carries_what_it_changes(server, admin):
    ids = _tree(admin, [("folder", "mo", None), ("folder", "mn", None), ("folder", "mm", "mo"),
                        ("file", "mm1", "mm"), ("file", "mm2", "mm"), ("folder", "mk", "mm"),
                        ("file", "mk1", "mk")])
    _assign(admin, "folder", "mo", "Mv.old")
    _assign(admin, "folder", "mo", "Mv.both")
    _assign(admin, "folder", "mn", "Mv.both")
    _assign(admin, "folder", "mn", "Mv.new")
    _assign(admin, "folder", "mk", "Mv.new")    # mk and mk1 carry it already
    _assign(admin, "file", "mm2", "Mv.old")     # mm2 keeps it wherever mm goes
    before = {k: _effective(admin, kind, k) for kind, k in
              [("folder", "mm"), ("file", "mm1"), ("file", "mm2"), ("folder", "mk"),
               ("file", "mk1")]}
    since = _rev(admin)
    _move(admin, "folder", "mm", "mn")
    rec = _resource_record(admin, since, ids["mm"], "update")
    inh = rec["after"]["inherited"]
    assert rec["before"].get("parent_id") == ids["mo"] and rec["after"]["parent_id"] == ids["mn"]
    assert (inh["root"], inh["from"], inh["to"], inh["self"]) == (
        ids["mm"], ids["mo"], ids["mn"], True)
    # mm1, mm2 (loses Mv.old? no: holds it), mk, mk1: every descendant changes for some tag.
    assert inh["descendants"] == 4
    assert _moved_tags(inh) == {
        ("mv.new", "add", True, 2, tuple(sorted([ids["mm1"], ids["mm2"]]))),
        ("mv.old", "remove", True, 3, tuple(sorted([ids["mk"], ids["mk1"], ids["mm1"]]))),
    }
    # The record agrees with what the resources show now.
    for kind, k in [("folder", "mm"), ("file", "mm1"), ("file", "mm2"), ("folder", "mk"),
                    ("file", "mk1")]:
        now = _effective(admin, kind, k)
        rid = ids[k]
        added = {t["tag"] for t in inh["tags"] if t["op"] == "add" and
                 (rid in t["resources"] or (rid == ids["mm"] and t["self"]))}
        removed = {t["tag"] for t in inh["tags"] if t["op"] == "remove" and
                   (rid in t["resources"] or (rid == ids["mm"] and t["self"]))}
        assert {x.lower() for x in now - before[k]} == added, k
        assert {x.lower() for x in before[k] - now} == removed, k
    # A move that changes nothing in effective tags says so; a change of name is no move.
    since = _rev(admin)
    assert admin.put("/v1/resources/folder/mm", json={"name": "renamed"}).status_code == 200
    assert "inherited" not in _resource_record(admin, since, ids["mm"], "update")["after"]
    _assign(admin, "folder", "mo", "Mv.new")
    _assign(admin, "folder", "mn", "Mv.old")
    since = _rev(admin)
    _move(admin, "folder", "mm", "mo")
    inh = _resource_record(admin, since, ids["mm"], "update")["after"]["inherited"]
    assert inh == {"root": ids["mm"], "from": ids["mn"], "to": ids["mo"], "self": False,
                   "descendants": 0, "tags": []}


def test_move_effective_events_one_per_resource(server, admin):
    ids = _tree(admin, [("folder", "eo", None), ("folder", "en", None), ("folder", "em", "eo"),
                        ("file", "em1", "em"), ("file", "em2", "em"), ("folder", "ez", None)])
    _assign(admin, "folder", "eo", "Emv.old")
    _assign(admin, "folder", "en", "Emv.new")
    _assign(admin, "file", "em2", "Emv.new")
    since = _rev(admin)
    # Three subscribers: the old side, the new side, and a subtree the move never touches.
    so = Sse(server, params="?since=%d&resource=%d&effective=true" % (since, ids["eo"]))
    sn = Sse(server, params="?since=%d&resource=%d&effective=true" % (since, ids["en"]))
    sz = Sse(server, params="?since=%d&resource=%d&effective=true" % (since, ids["ez"]))
    _move(admin, "folder", "em", "en")
    _assign(admin, "folder", "ez", "Emv.end")
    want = {
        ids["em"]: ({"Emv.new"}, {"Emv.old"}),
        ids["em1"]: ({"Emv.new"}, {"Emv.old"}),
        ids["em2"]: (set(), {"Emv.old"}),
    }
    for s in (so, sn):
        evs = _until(s, lambda e: e["event"] == "effective" and "id" in e)
        s.close()
        assert evs[0]["event"] == "change" and evs[0]["data"]["entity"] == "resource"
        assert "id" not in evs[0]
        eff = evs[1:]
        assert [e["data"]["resource_id"] for e in eff] == sorted(want)
        for e in eff:
            d = e["data"]
            assert (d["op"], d["root"], d["from"], d["to"]) == ("move", ids["em"], ids["eo"],
                                                                ids["en"])
            added = {t["tag"] for t in d["added"]}
            removed = {t["tag"] for t in d["removed"]}
            assert (added, removed) == want[d["resource_id"]], d
        assert evs[-1]["id"] == "%d-%d" % (evs[0]["data"]["revision"], evs[0]["data"]["seq"])
    evs = _until(sz, lambda e: e["event"] == "change")
    sz.close()
    assert evs[0]["data"]["entity"] == "assignment", evs  # nothing of the move
    # The tag filter keeps only its tags; a resource left with none gets no event.
    since2 = _rev(admin)
    st = Sse(server, params="?since=%d&resource=%d&effective=true&tag=Emv.new"
             % (since, ids["en"]))
    evs = _until(st, lambda e: e["event"] == "effective" and "id" in e)
    st.close()
    assert [(e["data"]["resource_id"], [t["tag"] for t in e["data"]["added"]],
             e["data"]["removed"]) for e in evs if e["event"] == "effective"] == [
        (ids["em"], ["Emv.new"], []), (ids["em1"], ["Emv.new"], [])]
    assert since2 >= since


def test_a_subtree_filter_sees_resources_moved_in_and_out(server, admin):
    ids = _tree(admin, [("folder", "so", None), ("folder", "si", None), ("file", "sx", "so")])
    since = _rev(admin)
    s = Sse(server, params="?since=%d&resource=%d" % (since, ids["si"]))
    _move(admin, "file", "sx", "si")          # in
    _assign(admin, "file", "sx", "Sub.t")     # inside
    _move(admin, "file", "sx", "so")          # out
    _assign(admin, "file", "sx", "Sub.u")     # outside now: not seen
    _assign(admin, "folder", "si", "Sub.end")
    evs = _until(s, lambda e: e["data"].get("entity") == "assignment"
                 and e["data"]["entity_id"] == ids["si"])
    s.close()
    got = [(e["data"]["entity"], e["data"]["op"], e["data"]["entity_id"]) for e in evs]
    assert got == [("resource", "update", ids["sx"]), ("assignment", "add", ids["sx"]),
                   ("resource", "update", ids["sx"]), ("assignment", "add", ids["si"])], got
    # /v1/changes filters the same way.
    items = admin.get("/v1/changes", params={"since": since, "resource": ids["si"]}).json()["items"]
    assert [(c["entity"], c["entity_id"]) for c in items] == [(x[0], x[2]) for x in got]


def test_a_delete_detaches_the_children_and_streams_what_they_lose(server, admin):
    ids = _tree(admin, [("folder", "dt", None), ("folder", "dr", "dt"), ("folder", "dc", "dr"),
                        ("file", "dc1", "dc"), ("file", "dr1", "dr")])
    _assign(admin, "folder", "dt", "Del.top")
    _assign(admin, "folder", "dr", "Del.own")
    _assign(admin, "file", "dc1", "Del.own")     # keeps it: holds it itself
    _assign(admin, "folder", "dc", "Del.kid")
    since = _rev(admin)
    s = Sse(server, params="?since=%d&resource=%d&effective=true" % (since, ids["dt"]))
    plain = Sse(server, params="?since=%d&resource=%d" % (since, ids["dt"]))
    assert admin.delete("/v1/resources/folder/dr").status_code == 204
    _assign(admin, "folder", "dt", "Del.end")
    # The descendants are not deleted: the children become roots.
    assert admin.get("/v1/resources/folder/dc").json().get("parent") is None
    assert _effective(admin, "file", "dc1") == {"Del.own", "Del.kid"}
    assert _effective(admin, "file", "dr1") == set()
    recs = [c for c in _changes_since(admin, since) if c["revision"] == since + 1]
    assert [(c["entity"], c["op"], c["entity_id"]) for c in recs] == [
        ("assignment", "remove", ids["dr"]),
        ("resource", "update", ids["dc"]), ("resource", "update", ids["dr1"]),
        ("resource", "delete", ids["dr"])] or [
        ("assignment", "remove", ids["dr"]),
        ("resource", "update", ids["dr1"]), ("resource", "update", ids["dc"]),
        ("resource", "delete", ids["dr"])], recs
    dc = next(c for c in recs if c["entity_id"] == ids["dc"])["after"]["inherited"]
    assert (dc["from"], dc["to"], dc["self"], dc["descendants"]) == (ids["dr"], None, True, 1)
    assert _moved_tags(dc) == {("del.own", "remove", True, 0, ()),
                               ("del.top", "remove", True, 1, (ids["dc1"],))}
    gone = recs[-1]["before"]["inherited"]
    assert gone == {"root": ids["dr"], "from": ids["dt"], "to": None, "self": True,
                    "descendants": 0, "tags": [
                        {"tag_id": gone["tags"][0]["tag_id"], "tag": "del.top", "op": "remove",
                         "self": True, "descendants": 0, "resources": []}]}
    # The subtree's subscriber sees all of it, though dr is gone and the rest left it.
    evs = _until(plain, lambda e: e["data"].get("entity") == "assignment"
                 and e["data"]["entity_id"] == ids["dt"])
    plain.close()
    assert [(e["data"]["entity"], e["data"]["op"]) for e in evs] == [
        (c["entity"], c["op"]) for c in recs] + [("assignment", "add")]
    evs = _until(s, lambda e: e["event"] == "change" and e["data"]["entity"] == "assignment"
                 and e["data"]["entity_id"] == ids["dt"])
    s.close()
    lost = {}
    for e in evs:
        if e["event"] != "effective":
            continue
        d = e["data"]
        names = {d["tag"]} if "tag" in d else {t["tag"] for t in d["removed"]}
        assert d.get("added", []) == []
        for n in names:
            assert (d["resource_id"], n) not in lost, "twice: %s" % d
            lost[(d["resource_id"], n)] = d["op"]
    # Each resource loses each tag once: dr its own (its assignment record) and inherited
    # (its delete record), the rest what dr carried (their detach records).
    assert lost == {
        (ids["dr"], "Del.own"): "remove", (ids["dr"], "Del.top"): "delete",
        (ids["dc"], "Del.own"): "move", (ids["dc"], "Del.top"): "move",
        (ids["dc1"], "Del.top"): "move",
        (ids["dr1"], "Del.own"): "move", (ids["dr1"], "Del.top"): "move",
    }, lost


def test_move_effective_events_beyond_the_bound_are_one_summary():
    srv = Server(extra_args=["--events-effective-max", "2"]).start()
    try:
        a = Api(srv, ADMIN_TOKEN)
        ids = _tree(a, [("folder", "bo", None), ("folder", "bn", None), ("folder", "bm", "bo"),
                        ("file", "bm1", "bm"), ("file", "bm2", "bm"), ("file", "bm3", "bm")])
        _assign(a, "folder", "bn", "Bnd.t")
        since = _rev(a)
        s = Sse(srv, params="?since=%d&resource=%d&effective=true" % (since, ids["bo"]))
        _move(a, "folder", "bm", "bn")
        inh = _resource_record(a, since, ids["bm"], "update")["after"]["inherited"]
        assert inh["descendants"] == 3 and "resources" not in inh["tags"][0]
        evs = _until(s, lambda e: e["event"] == "effective" and "id" in e)
        s.close()
        eff = [e["data"] for e in evs if e["event"] == "effective"]
        assert eff[0]["resource_id"] == ids["bm"]
        assert eff[-1]["truncated"] is True and eff[-1]["descendants"] == 3
        assert [t["tag"] for t in eff[-1]["added"]] == ["Bnd.t"]
        assert eff[-1]["reread"]["body"] == {"query": '"Bnd.t"', "effective": True}
        assert a.post("/v1/query", json=eff[-1]["reread"]["body"]).status_code == 200
    finally:
        srv.cleanup()


def _tag_id(a, name):
    items = a.get("/v1/tags", params={"q": name}).json()["items"]
    return next(t["id"] for t in items if t["name"] == name)


def test_a_tag_deleted_restored_or_purged_streams_who_loses_it(server, admin):
    ids = _tree(admin, [("folder", "ta", None), ("file", "ta1", "ta"), ("file", "ta2", "ta"),
                        ("folder", "tb", None), ("file", "tb1", "tb")])
    _assign(admin, "folder", "ta", "Gone.t")
    _assign(admin, "file", "ta2", "Gone.t")
    _assign(admin, "file", "tb1", "Gone.t")
    tid = _tag_id(admin, "Gone.t")
    since = _rev(admin)
    s = Sse(server, params="?since=%d&resource=%d&effective=true" % (since, ids["ta"]))
    assert admin.delete("/v1/tags/%d" % tid).status_code == 204
    assert admin.post("/v1/tags/%d:restore" % tid).status_code == 200
    assert admin.delete("/v1/tags/%d?purge=true" % tid).status_code == 204
    _assign(admin, "folder", "ta", "Gone.end")
    recs = [c for c in _changes_since(admin, since) if c["entity"] == "tag"
            and c["entity_id"] == tid]
    every = sorted([ids["ta"], ids["ta1"], ids["ta2"], ids["tb1"]])
    assert [(c["op"], (c["after"] or c["before"])["inherited"]) for c in recs] == [
        ("delete", {"op": "remove", "count": 4, "resources": every}),
        ("restore", {"op": "add", "count": 4, "resources": every}),
        ("purge", {"op": "remove", "count": 4, "resources": every}),
    ], recs
    evs = _until(s, lambda e: e["event"] == "change")
    s.close()
    got = [(e["data"]["op"], e["data"]["resource_id"], e["data"]["root"], "id" in e)
           for e in evs[:-1]]
    mine = sorted([ids["ta"], ids["ta1"], ids["ta2"]])
    assert got == [(op, r, None, r == mine[-1]) for op in ("remove", "add", "remove")
                   for r in mine], got
    assert {e["data"]["tag"] for e in evs[:-1]} == {"Gone.t"}
    # A merge moves the assignments (their records say so), its tag record does not again.
    _assign(admin, "folder", "tb", "Merge.from")
    assert admin.post("/v1/tags", json={"name": "Merge.to"}).status_code == 201
    since = _rev(admin)
    r = admin.post("/v1/tags/%d:merge" % _tag_id(admin, "Merge.from"), json={"into": "Merge.to"})
    assert r.status_code == 200, r.text
    recs = _changes_since(admin, since)
    assert [c["entity"] for c in recs if "inherited" in (c["after"] or c["before"] or {})] == [
        "assignment", "assignment"], recs
