"""X-Tagd-Workspace: a request acts in another workspace of its organization."""
import requests

from conftest import Api


def test_workspace_header_selects_a_workspace_of_the_organization(server, admin):
    me = admin.get("/v1/me").json()
    org = me["organization"]["id"]
    default = me["workspace"]["id"]
    r = admin.post("/v1/organizations/%s/workspaces" % org, json={"name": "staging"})
    assert r.status_code == 201, r.text
    ws = r.json()["id"]
    h = {"X-Tagd-Workspace": ws}
    assert admin.get("/v1/me", headers=h).json()["workspace"]["id"] == ws
    assert admin.post("/v1/tags", json={"name": "only.staging"}, headers=h).status_code == 201
    assert admin.post("/v1/tags", json={"name": "only.default"}).status_code == 201
    names = lambda **kw: [t["name"] for t in admin.get("/v1/tags", **kw).json()["items"]]
    assert names(headers=h) == ["only", "only.staging"]
    assert names() == ["only", "only.default"]
    assert names(headers={"X-Tagd-Workspace": default}) == ["only", "only.default"]
    # Assignments, queries and as-of reads follow the header too.
    assert admin.post("/v1/resources/doc/d1/tags", json={"tags": ["only.staging"]},
                      headers=h).status_code == 200
    q = admin.get("/v1/resources", params={"query": "only.staging"}, headers=h)
    assert [x["key"] for x in q.json()["items"]] == ["d1"]
    assert admin.get("/v1/resources", params={"query": "only.staging"}).status_code == 400
    assert admin.get("/v1/resources/doc/d1").status_code == 404
    rev = int(q.headers["X-Tagd-Revision"])
    assert names(headers=h, params={"as_of": rev}) == ["only", "only.staging"]
    # Malformed, unknown, or another organization's: never acted in.
    assert admin.get("/v1/tags", headers={"X-Tagd-Workspace": "staging"}).status_code == 400
    assert admin.get("/v1/tags", headers={"X-Tagd-Workspace": "ws_9999"}).status_code == 404
    other = admin.post("/v1/organizations", json={"name": "Elsewhere"}).json()
    tok = admin.post("/v1/tokens", json={"name": "e", "rights": ["tags:read"],
                                          "organization_id": other["id"]}).json()["token"]
    theirs = Api(server, tok)
    r = theirs.get("/v1/tags", headers=h)
    assert r.status_code == 404 and r.json()["error"]["details"]["field"] == "X-Tagd-Workspace"
    assert admin.get("/v1/tags", headers={
        "X-Tagd-Workspace": other["default_workspace_id"]}).status_code == 404
    assert requests.get(server.url + "/v1/tags", headers=h).status_code == 401


def test_changes_and_events_filter_by_workspace(server, admin):
    """?workspace= on /v1/changes and /v1/events: the records of writes that acted in that
    workspace only (the console's History of the workspace chosen in its header)."""
    from test_events import Sse

    me = admin.get("/v1/me").json()
    default = me["workspace"]["id"]
    ws = admin.post("/v1/organizations/%s/workspaces" % me["organization"]["id"],
                    json={"name": "history-ws"}).json()["id"]
    h = {"X-Tagd-Workspace": ws}
    since = admin.get("/v1/changes", params={"since": 0, "limit": 1000}).json()["next_since"]
    # The streams start before the writes; each sees only its workspace's.
    sse_ws = Sse(server, params="?since=%d&workspace=%s" % (since, ws))
    sse_def = Sse(server, params="?since=%d&workspace=%s" % (since, default.split("_")[1]))
    assert admin.post("/v1/tags", json={"name": "Hw.in_ws"}, headers=h).status_code == 201
    assert admin.post("/v1/tags", json={"name": "Hw.in_default"}).status_code == 201
    assert admin.post("/v1/resources/doc/hw/tags", json={"tags": ["Hw.in_ws"]},
                      headers=h).status_code == 200
    assert admin.post("/v1/tags", json={"name": "Hw.last"}).status_code == 201

    def names(items):
        return [(c["entity"], (c["after"] or c["before"]).get("name") or c["op"]) for c in items]

    def changes(**params):
        r = admin.get("/v1/changes", params={"since": since, **params})
        assert r.status_code == 200, r.text
        return r.json()["items"]

    everything = changes()
    in_ws = changes(workspace=ws)
    in_default = changes(workspace=default)
    assert names(in_ws) == [("tag", "Hw"), ("tag", "Hw.in_ws"), ("resource", "create"),
                            ("assignment", "add")], names(in_ws)
    assert names(in_default) == [("tag", "Hw"), ("tag", "Hw.in_default"), ("tag", "Hw.last")]
    assert len(everything) == len(in_ws) + len(in_default)
    # With the other filters: every one must pass.
    assert names(changes(workspace=ws, entity="tag")) == [("tag", "Hw"), ("tag", "Hw.in_ws")]
    assert changes(workspace=default, entity="assignment") == []

    evs = sse_ws.take(len(in_ws))
    assert [e["data"]["revision"] for e in evs] == [c["revision"] for c in in_ws]
    evs = sse_def.take(len(in_default))
    assert [e["data"]["revision"] for e in evs] == [c["revision"] for c in in_default]
    sse_ws.close()
    sse_def.close()

    # Malformed, unknown, or another organization's workspace: refused in words, by field.
    for ref, status in (("history-ws", 400), ("ws_9999", 404)):
        for path in ("/v1/changes", "/v1/events"):
            r = admin.get(path, params={"workspace": ref}, stream=True)
            assert r.status_code == status, (path, ref, r.text)
            assert r.json()["error"]["details"]["field"] == "workspace"
    other = admin.post("/v1/organizations", json={"name": "Hw elsewhere"}).json()
    r = admin.get("/v1/changes", params={"workspace": other["default_workspace_id"]})
    assert r.status_code == 404, r.text
