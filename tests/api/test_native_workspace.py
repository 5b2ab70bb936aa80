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
