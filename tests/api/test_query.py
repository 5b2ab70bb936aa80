"""End-to-end tests of the tag query routes (issue 8): GET /v1/resources?query= and
POST /v1/query, answered by the in-memory engine and kept current by every commit."""
import pytest
import requests

from conftest import ADMIN_TOKEN, Api, Server


@pytest.fixture(scope="module")
def data(admin):
    """A small tree: folder f1 > file a, file b; column c; tags in two hierarchies."""
    def put(kind, key, parent=None, **kw):
        body = dict(kw)
        if parent:
            body["parent"] = {"kind": "folder", "key": parent}
        r = admin.put("/v1/resources/%s/%s" % (kind, key), json=body)
        assert r.status_code in (200, 201), r.text
        return r.json()["id"]

    def tag(kind, key, *names):
        r = admin.post("/v1/resources/%s/%s/tags" % (kind, key),
                       json={"tags": list(names), "create_missing": True})
        assert r.status_code == 200, r.text

    ids = {"f1": put("folder", "f1"), "a": put("file", "a", "f1"), "b": put("file", "b", "f1"),
           "c": put("column", "c"), "old": put("file", "old", archived=True)}
    tag("folder", "f1", "Confidential")
    tag("file", "a", "Country.DE", "Data Owner")
    tag("file", "b", "Country.FR", "Confidential")
    tag("column", "c", "Country", "PII.Email")
    tag("file", "old", "Country.DE")
    return ids


def q(admin, expr, **params):
    params["query"] = expr
    return admin.get("/v1/resources", params=params)


def keys(r):
    assert r.status_code == 200, r.text
    return [i["key"] for i in r.json()["items"]]


def test_basic_queries(admin, data):
    assert keys(q(admin, "Confidential")) == ["f1", "b"]
    assert keys(q(admin, "Country.*")) == ["a", "b", "c"]
    assert keys(q(admin, "has:country")) == ["a", "b", "c"]
    assert keys(q(admin, "Country.* and not Confidential")) == ["a", "c"]
    assert keys(q(admin, "Country.DE or Country.FR or PII.Email")) == ["a", "b", "c"]
    assert keys(q(admin, "(Country.* and not Confidential) and (kind:file or PII.*)")) == ["a", "c"]
    assert keys(q(admin, '"Data Owner"')) == ["a"]
    assert keys(q(admin, "NOT Confidential AND kind:file")) == ["a"]
    assert keys(q(admin, "kind:nothing")) == []


def test_shape_matches_resource_get(admin, data):
    r = q(admin, "Country.DE")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"items", "next_cursor", "total"}
    assert body["total"] == 1 and body["next_cursor"] is None
    one = admin.get("/v1/resources/file/a").json()
    assert body["items"] == [one]
    assert body["items"][0]["parent"] == {"kind": "folder", "key": "f1"}
    assert int(r.headers["X-Tagd-Revision"]) >= 1


def test_parameters(admin, data):
    assert keys(q(admin, "Country.*", kind="file")) == ["a", "b"]
    assert keys(q(admin, "Country.DE", archived="true")) == ["a", "old"]
    # Effective: a and b inherit Confidential from f1.
    assert keys(q(admin, "Confidential", effective="true")) == ["f1", "a", "b"]
    assert keys(q(admin, "Country.* and not Confidential", effective="true")) == ["c"]
    r = q(admin, "Country.*", count_only="true")
    assert r.status_code == 200 and r.json() == {"total": 3}
    r = q(admin, "Country.*", ids_only="true", limit=2)
    assert r.json() == {"ids": [data["a"], data["b"]], "next_cursor": r.json()["next_cursor"],
                        "total": 3}
    assert r.json()["next_cursor"]
    assert q(admin, "Country.*", ids_only="true", count_only="true").json() == {"total": 3}


def test_paging(admin, data):
    seen = []
    r = q(admin, "Country.* or Confidential", limit=2)
    body = r.json()
    assert body["total"] == 4 and len(body["items"]) == 2 and body["next_cursor"]
    seen += [i["key"] for i in body["items"]]
    r = q(admin, "Country.* or Confidential", limit=2, cursor=body["next_cursor"])
    body = r.json()
    assert body["total"] == 4 and body["next_cursor"] is None
    seen += [i["key"] for i in body["items"]]
    assert seen == ["f1", "a", "b", "c"]
    r = q(admin, "Confidential", cursor="!!!")
    assert r.status_code == 400 and r.json()["error"]["details"]["field"] == "cursor"


@pytest.mark.parametrize("expr,col,fragment", [
    ("Country.* and", 14, "expected a tag name, 'not' or '(', found the end of the query"),
    ("(Confidential or Country", 25, "expected ')' to close the '(' at column 1"),
    ("Confidential Country", 14, "expected 'and', 'or' or the end of the query"),
    ("Country.*.*", 9, "'*' is only allowed at the end"),
    ('"unterminated', 1, "unterminated quoted name"),
    ("", 1, "the query is empty"),
    ("Äpfel Birnen", 7, "found 'Birnen'"),
])
def test_syntax_errors_point_at_column(admin, data, expr, col, fragment):
    r = q(admin, expr)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["code"] == "invalid_input"
    assert err["details"] == {"field": "query", "column": col}
    assert err["message"].startswith("syntax error at column %d: " % col)
    assert fragment in err["message"]
    assert err["request_id"] == r.headers["X-Request-Id"]


def test_unknown_tag_points_at_column(admin, data):
    r = q(admin, "Confidential and Nope.*")
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["details"] == {"field": "query", "column": 18}
    assert err["message"] == "unknown tag 'Nope' at column 18"


def test_bad_parameters(admin, data):
    assert q(admin, "Confidential", limit="0").status_code == 400
    assert q(admin, "Confidential", limit="1001").status_code == 400
    assert q(admin, "Confidential", effective="maybe").status_code == 400
    r = q(admin, "Confidential", kind="Bad Kind")
    assert r.status_code == 400 and r.json()["error"]["details"]["field"] == "kind"
    r = admin.get("/v1/resources?query=%ZZ")
    assert r.status_code == 400
    long = " or ".join(["X"] * 300)
    r = q(admin, long)
    assert r.status_code == 400 and "more than 256 terms" in r.json()["error"]["message"]


def test_auth(server, data):
    r = requests.get(server.url + "/v1/resources", params={"query": "Confidential"})
    assert r.status_code == 401
    r = requests.post(server.url + "/v1/query", json={"query": "Confidential"})
    assert r.status_code == 401
    reader = Api(server, server.token(["tags:read"], name="reader"))
    assert keys(reader.get("/v1/resources", params={"query": "Confidential"})) == ["f1", "b"]


def test_post_query(admin, data):
    r = admin.post("/v1/query", json={"query": "Country.* and not Confidential", "kind": "file"})
    assert keys(r) == ["a"]
    r = admin.post("/v1/query", json={"query": "Confidential", "effective": True, "limit": 1})
    body = r.json()
    assert [i["key"] for i in body["items"]] == ["f1"] and body["total"] == 3
    r2 = admin.post("/v1/query", json={"query": "Confidential", "effective": True, "limit": 1,
                                       "cursor": body["next_cursor"]})
    assert keys(r2) == ["a"]
    assert admin.post("/v1/query", json={"query": "Country", "count_only": True}).json() == {"total": 1}
    r = admin.post("/v1/query", json={"query": "A or"})
    assert r.status_code == 400 and r.json()["error"]["details"]["column"] == 5
    for body, field in [({}, "query"), ({"query": 3}, "query"), ({"query": "A", "nope": 1}, "nope"),
                        ({"query": "A", "limit": "10"}, "limit"),
                        ({"query": "A", "effective": "yes"}, "effective")]:
        r = admin.post("/v1/query", json=body)
        assert r.status_code == 400, body
        assert r.json()["error"]["details"]["field"] == field
    r = admin.post("/v1/query", data="[1]", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    r = admin.post("/v1/query", data="{", headers={"Content-Type": "application/json"})
    assert r.status_code == 400


def test_reads_its_writes(admin, data):
    """Every write is visible to the next query: the writer applies each commit to the engine
    before answering."""
    for i in range(20):
        r = admin.post("/v1/resources/file/w%d/tags" % i, json={"tags": ["Fresh.T%d" % (i % 3)],
                                                               "create_missing": True})
        assert r.status_code == 200
        r = q(admin, "Fresh.*", count_only="true")
        assert r.json() == {"total": i + 1}
    assert admin.delete("/v1/resources/file/w0/tags/Fresh.T0").status_code == 204
    assert q(admin, "Fresh.T0", count_only="true").json() == {"total": 6}
    assert admin.delete("/v1/resources/file/w3").status_code == 204
    assert q(admin, "Fresh.T0", count_only="true").json() == {"total": 5}
    assert admin.delete("/v1/tags/Fresh.T1?recursive=true").status_code == 204
    r = q(admin, "Fresh.T1")
    assert r.status_code == 400 and "unknown tag" in r.json()["error"]["message"]
    assert q(admin, "Fresh.*", count_only="true").json() == {"total": 11}
    # Reparenting changes effective matches.
    assert admin.put("/v1/resources/file/w1", json={"parent": {"kind": "folder", "key": "f1"}}).status_code == 200
    assert "w1" in keys(q(admin, "Confidential", effective="true", kind="file"))


def test_survives_restart():
    s = Server().start()
    try:
        a = Api(s, ADMIN_TOKEN)
        assert a.post("/v1/resources/file/x/tags", json={"tags": ["Keep.Me"], "create_missing": True}).status_code == 200
        s.restart()
        a = Api(s, ADMIN_TOKEN)
        assert keys(a.get("/v1/resources", params={"query": "Keep.*"})) == ["x"]
        assert "engine loaded" in s.read_log()
    finally:
        s.cleanup()


def test_plain_resource_list_unchanged(admin, data):
    r = admin.get("/v1/resources", params={"kind": "column"})
    assert r.status_code == 200 and [i["key"] for i in r.json()["items"]] == ["c"]
