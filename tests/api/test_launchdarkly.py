"""End-to-end tests of the LaunchDarkly dialect (GET /api/v2/tags) and of per-token rate
limiting, which every dialect shares.

Tags are put on LaunchDarkly-kind resources through the native API; the LaunchDarkly endpoint
only reads. Time travel (asOf) is checked against the server's own revision times, which on
this host share the clock with the test."""
import datetime
import json
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from conftest import ADMIN_TOKEN, Api, Server

LD_KINDS = ["flag", "project", "environment", "segment", "metric", "metric-data-source",
            "aiconfig", "view"]


def ld(server, path="/api/v2/tags", token=ADMIN_TOKEN, **kw):
    """GET with LaunchDarkly's raw Authorization header (no Bearer)."""
    headers = kw.pop("headers", {})
    if token is not None:
        headers.setdefault("Authorization", token)
    return requests.get(server.url + path, headers=headers, timeout=30, **kw)


def tag_resource(admin, kind, key, tags, archived=None):
    body = {}
    if archived is not None:
        body["archived"] = archived
    r = admin.put("/v1/resources/%s/%s" % (kind, key), json=body)
    assert r.status_code in (200, 201), r.text
    r = admin.post("/v1/resources/%s/%s/tags" % (kind, key),
                   json={"tags": tags, "create_missing": True})
    assert r.status_code == 200, r.text


def assert_ld_error(r, status, code):
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"] == "application/json"
    body = r.json()
    assert body["code"] == code
    assert isinstance(body["message"], str) and body["message"]
    assert body["id"] == r.headers["X-Request-Id"]
    return body


def now_ms():
    return int(time.time() * 1000)


def pause():
    """Puts the next server revision strictly after the last client timestamp (ms clock)."""
    time.sleep(0.05)


@pytest.fixture(scope="module")
def data(server, admin):
    """One resource per LaunchDarkly kind, plus resources that must never show up."""
    tag_resource(admin, "flag", "f1", ["ops", "pro"])
    tag_resource(admin, "flag", "f2", ["ops", "Beta"])
    tag_resource(admin, "project", "p1", ["proj-x"])
    tag_resource(admin, "environment", "e1", ["env.prod"])
    tag_resource(admin, "segment", "s1", ["seg_a", "ops"])
    tag_resource(admin, "metric", "m1", ["metric-1"])
    tag_resource(admin, "metric-data-source", "d1", ["mds-1"])
    tag_resource(admin, "aiconfig", "a1", ["ai"])
    tag_resource(admin, "view", "v1", ["view-1"])
    # Not a LaunchDarkly kind: never listed.
    tag_resource(admin, "folder", "docs", ["not-ld"])
    # Only on an archived flag; "pro" is also on one but in use on a live flag too.
    tag_resource(admin, "flag", "old", ["legacy", "pro"], archived=True)
    # A tag that exists but is on nothing.
    assert admin.post("/v1/tags", json={"name": "unused"}).status_code == 201
    # A deleted tag vanishes although its assignment stays.
    tag_resource(admin, "flag", "f3", ["gone"])
    assert admin.delete("/v1/tags/gone").status_code == 204
    return sorted(["ops", "pro", "Beta", "proj-x", "env.prod", "seg_a", "metric-1", "mds-1", "ai",
                   "view-1"])


# ---- shape and authentication ----

def test_collection_shape(server, data):
    r = ld(server)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "application/json"
    body = r.json()
    assert body == {"items": data, "totalCount": len(data),
                    "_links": {"self": {"href": "/api/v2/tags", "type": "application/json"}}}
    # Bytewise order: upper case before lower case.
    assert body["items"][0] == "Beta"
    assert "X-Ratelimit-Reset" not in r.headers  # rate limiting is off on this server


def test_head_and_self_link_echoes_query(server, data):
    r = requests.head(server.url + "/api/v2/tags?pre=o", headers={"Authorization": ADMIN_TOKEN})
    assert r.status_code == 200
    body = ld(server, "/api/v2/tags?pre=o&kind=flag").json()
    assert body["_links"]["self"]["href"] == "/api/v2/tags?pre=o&kind=flag"


def test_auth_errors(server, data):
    assert_ld_error(ld(server, token=None), 401, "unauthorized")
    assert_ld_error(ld(server, token=""), 401, "unauthorized")
    assert_ld_error(ld(server, token="api-00000000-not-a-token"), 401, "unauthorized")
    # SDK keys are not REST tokens.
    assert_ld_error(ld(server, token="sdk-12345678-aaaa"), 401, "unauthorized")
    body = assert_ld_error(ld(server, token="Basic abc"), 401, "unauthorized")
    assert body["message"] == "Invalid access token"
    # A revoked token is refused.
    r = requests.post(server.url + "/v1/tokens", json={"name": "x", "rights": "tags:read"},
                      headers={"Authorization": "Bearer " + ADMIN_TOKEN})
    tok = r.json()
    assert ld(server, token=tok["token"]).status_code == 200
    requests.delete(server.url + "/v1/tokens/%s" % tok["id"],
                    headers={"Authorization": "Bearer " + ADMIN_TOKEN})
    assert_ld_error(ld(server, token=tok["token"]), 401, "unauthorized")


def test_bearer_prefix_tolerated(server, data):
    r = ld(server, headers={"Authorization": "Bearer " + ADMIN_TOKEN}, token=None)
    assert r.status_code == 200 and r.json()["items"] == data


def test_forbidden_without_read_right(server, data):
    writer = server.token(["tags:write", "tags:assign"], name="no-read")
    body = assert_ld_error(ld(server, token=writer), 403, "forbidden")
    assert body["message"] == "Forbidden. Access to the requested resource was denied."
    reader = server.token(["tags:read"], name="reader")
    assert ld(server, token=reader).json()["items"] == data


def test_other_statuses_in_ld_shape(server, data):
    r = requests.post(server.url + "/api/v2/tags", headers={"Authorization": ADMIN_TOKEN})
    assert_ld_error(r, 405, "method_not_allowed")
    assert_ld_error(ld(server, "/api/v2/nothing-here"), 404, "not_found")


def test_cors(server, data):
    r = requests.options(server.url + "/api/v2/tags", headers={"Origin": "https://app.example"})
    assert r.status_code == 204
    assert r.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "Authorization" in r.headers["Access-Control-Allow-Headers"]
    assert r.headers["Access-Control-Max-Age"] == "300"
    assert ld(server).headers["Access-Control-Allow-Origin"] == "*"
    r = ld(server, headers={"Origin": "https://app.example"})
    assert r.headers["Access-Control-Allow-Origin"] == "https://app.example"


# ---- parameters ----

def test_kind_single_each(server, data):
    expect = {"flag": ["Beta", "ops", "pro"], "project": ["proj-x"],
              "environment": ["env.prod"], "segment": ["ops", "seg_a"],
              "metric": ["metric-1"], "metric-data-source": ["mds-1"], "aiconfig": ["ai"],
              "view": ["view-1"]}
    for kind in LD_KINDS:
        body = ld(server, params={"kind": kind}).json()
        assert body["items"] == expect[kind], kind
        assert body["totalCount"] == len(expect[kind])


def test_kind_repeated_and_comma(server, data):
    want = ["ai", "proj-x", "view-1"]
    assert ld(server, "/api/v2/tags?kind=project&kind=aiconfig&kind=view").json()["items"] == want
    assert ld(server, "/api/v2/tags?kind=project,aiconfig,view").json()["items"] == want
    assert ld(server, "/api/v2/tags?kind=project,aiconfig&kind=view").json()["items"] == want
    assert ld(server, "/api/v2/tags?kind=%20project%20,view,aiconfig,project").json()["items"] == want
    # Every kind named is the same as none.
    assert ld(server, "/api/v2/tags?kind=" + ",".join(LD_KINDS)).json()["items"] == data
    assert ld(server, "/api/v2/tags?kind=").json()["items"] == data


def test_kind_unknown_is_400(server, data):
    for q in ("kind=folder", "kind=flag,bogus", "kind=flag&kind=Flag", "kind=metric_data_source"):
        body = assert_ld_error(ld(server, "/api/v2/tags?" + q), 400, "invalid_request")
        assert "kind" in body["message"]
    # Bytes that are not UTF-8 are not echoed into the (JSON, UTF-8) message.
    r = ld(server, "/api/v2/tags?kind=%FF%FE")
    assert_ld_error(r, 400, "invalid_request")
    r.content.decode("utf-8")


def test_pre(server, data):
    assert ld(server, params={"pre": "o"}).json()["items"] == ["ops"]
    assert ld(server, params={"pre": "Be"}).json()["items"] == ["Beta"]
    assert ld(server, params={"pre": "be"}).json()["items"] == []  # case-sensitive
    assert ld(server, params={"pre": "env."}).json()["items"] == ["env.prod"]
    assert ld(server, params={"pre": "m", "kind": "metric"}).json()["items"] == ["metric-1"]
    assert ld(server, params={"pre": "m", "kind": "flag"}).json()["items"] == []
    body = ld(server, params={"pre": "zzz"}).json()
    assert body["items"] == [] and body["totalCount"] == 0
    assert ld(server, params={"pre": ""}).json()["items"] == data


def test_archived(server, data):
    assert "legacy" not in ld(server).json()["items"]
    body = ld(server, params={"archived": "true"}).json()
    assert body["items"] == sorted(data + ["legacy"])
    assert body["totalCount"] == len(data) + 1
    assert ld(server, params={"archived": "false"}).json()["items"] == data
    assert ld(server, params={"archived": "true", "kind": "segment"}).json()["items"] == ["ops", "seg_a"]
    assert_ld_error(ld(server, params={"archived": "maybe"}), 400, "invalid_request")


def test_limit_and_offset(server, data):
    body = ld(server, params={"limit": 3}).json()
    assert body["items"] == data[:3] and body["totalCount"] == len(data)
    body = ld(server, params={"limit": 3, "offset": 7}).json()
    assert body["items"] == data[7:10]
    body = ld(server, params={"offset": 2}).json()
    assert body["items"] == data[2:]
    body = ld(server, params={"offset": 500}).json()
    assert body["items"] == [] and body["totalCount"] == len(data)
    assert ld(server, params={"limit": 1000}).json()["items"] == data
    for bad in ({"limit": 1001}, {"limit": 0}, {"limit": -1}, {"limit": "ten"},
                {"limit": "1.5"}, {"offset": -1}, {"offset": "x"}):
        assert_ld_error(ld(server, params=bad), 400, "invalid_request")


def test_pagination_links_walked_to_the_end(server, admin, data):
    names = ["page-%03d" % i for i in range(47)]
    tag_resource(admin, "metric", "paged", names)
    seen, href, pages = [], "/api/v2/tags?kind=metric&pre=page-&limit=10", 0
    first = None
    while href:
        r = ld(server, href)
        assert r.status_code == 200, r.text
        body = r.json()
        links = body["_links"]
        assert links["self"]["href"] == href
        for name, link in links.items():
            assert link["type"] == "application/json"
            q = parse_qs(urlsplit(link["href"]).query)
            assert urlsplit(link["href"]).path == "/api/v2/tags"
            # Every link keeps the other parameters.
            assert q["kind"] == ["metric"] and q["pre"] == ["page-"] and q["limit"] == ["10"]
        assert links["first"]["href"] == "/api/v2/tags?limit=10&offset=0&kind=metric&pre=page-"
        assert links["last"]["href"] == "/api/v2/tags?limit=10&offset=40&kind=metric&pre=page-"
        if pages == 0:
            assert "prev" not in links
            first = body
        else:
            prev = ld(server, links["prev"]["href"]).json()
            assert prev["items"] == names[(pages - 1) * 10:pages * 10]
        assert body["totalCount"] == 47
        seen += body["items"]
        pages += 1
        href = links.get("next", {}).get("href")
        assert pages < 10
    assert pages == 5 and seen == names
    assert first["items"] == names[:10]
    last = ld(server, "/api/v2/tags?limit=10&offset=40&kind=metric&pre=page-").json()
    assert "next" not in last["_links"] and last["items"] == names[40:]
    # An offset off the page grid: prev never goes below 0, next continues from it.
    body = ld(server, "/api/v2/tags?kind=metric&pre=page-&limit=10&offset=5").json()
    assert body["items"] == names[5:15]
    assert parse_qs(urlsplit(body["_links"]["prev"]["href"]).query)["offset"] == ["0"]
    assert parse_qs(urlsplit(body["_links"]["next"]["href"]).query)["offset"] == ["15"]
    # Nothing matches: first and last both point at offset 0.
    body = ld(server, "/api/v2/tags?pre=nomatch&limit=10").json()
    assert body["items"] == [] and body["totalCount"] == 0
    assert body["_links"]["last"]["href"] == body["_links"]["first"]["href"]
    assert "next" not in body["_links"] and "prev" not in body["_links"]
    # Special characters in kept parameters are re-encoded.
    body = ld(server, "/api/v2/tags", params={"pre": "a b&c", "limit": 1}).json()
    assert body["_links"]["first"]["href"] == "/api/v2/tags?limit=1&offset=0&pre=a%20b%26c"


# ---- time travel ----

def iso(ms):
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def test_as_of(server, admin, data):
    def at(ms, **params):
        params["asOf"] = ms
        r = ld(server, params=params)
        assert r.status_code == 200, r.text
        return r.json()

    t_before_all = 0
    pause()
    tag_resource(admin, "view", "tt", ["tt-one", "tt-two"])
    pause()
    t1 = now_ms()
    pause()
    # Change: add a tag, remove one, rename one, archive a resource, delete another.
    assert admin.post("/v1/resources/view/tt/tags",
                      json={"tags": ["tt-three"], "create_missing": True}).status_code == 200
    assert admin.delete("/v1/resources/view/tt/tags/tt-one").status_code == 204
    assert admin.patch("/v1/tags/tt-two", json={"name": "tt-2"}).status_code == 200
    tag_resource(admin, "aiconfig", "tt-arch", ["tt-arch-tag"])
    tag_resource(admin, "aiconfig", "tt-del", ["tt-del-tag"])
    pause()
    t2 = now_ms()
    pause()
    assert admin.put("/v1/resources/aiconfig/tt-arch", json={"archived": True}).status_code == 200
    assert admin.delete("/v1/resources/aiconfig/tt-del").status_code == 204
    pause()
    t3 = now_ms()

    now = ld(server, params={"pre": "tt-"}).json()["items"]
    assert now == ["tt-2", "tt-three"]
    # Before the change, by epoch milliseconds and by ISO-8601 (also with an offset).
    assert at(t1, pre="tt-")["items"] == ["tt-one", "tt-two"]
    assert at(iso(t1), pre="tt-")["items"] == ["tt-one", "tt-two"]
    local = datetime.datetime.fromtimestamp(t1 / 1000, datetime.timezone(datetime.timedelta(hours=2)))
    assert at(local.isoformat(timespec="milliseconds"), pre="tt-")["items"] == ["tt-one", "tt-two"]
    # Between: the archived resource was still live and the deleted one still existed.
    assert at(t2, pre="tt-")["items"] == ["tt-2", "tt-arch-tag", "tt-del-tag", "tt-three"]
    assert at(t2, pre="tt-", kind="aiconfig")["items"] == ["tt-arch-tag", "tt-del-tag"]
    # After: the same as now; archived=true brings the archived resource's tag back.
    assert at(t3, pre="tt-")["items"] == now
    assert at(t3, pre="tt-", archived="true")["items"] == ["tt-2", "tt-arch-tag", "tt-three"]
    assert at(t3 + 86400000, pre="tt-")["items"] == now
    # Paging and counts apply to the past answer too.
    body = at(t2, pre="tt-", limit=2, offset=1)
    assert body["items"] == ["tt-arch-tag", "tt-del-tag"] and body["totalCount"] == 4
    assert "next" in body["_links"] and "asOf=%d" % t2 in body["_links"]["next"]["href"]
    # Before anything existed.
    body = at(t_before_all)
    assert body == {"items": [], "totalCount": 0,
                    "_links": {"self": {"href": "/api/v2/tags?asOf=0",
                                        "type": "application/json"}}}
    # The whole data set as it is now equals asOf now.
    assert at(now_ms() + 1000)["items"] == ld(server).json()["items"]


def test_as_of_deleted_tag(server, admin, data):
    tag_resource(admin, "segment", "tt-s", ["tt-soon-deleted"])
    pause()
    t1 = now_ms()
    pause()
    assert admin.delete("/v1/tags/tt-soon-deleted").status_code == 204
    assert "tt-soon-deleted" not in ld(server, params={"kind": "segment"}).json()["items"]
    assert "tt-soon-deleted" in ld(server, params={"kind": "segment", "asOf": t1}).json()["items"]


def test_as_of_invalid(server, data):
    for bad in ("yesterday", "2026-13-01T00:00:00Z", "12abc", "-5", "2026-01-01T25:00:00Z"):
        body = assert_ld_error(ld(server, params={"asOf": bad}), 400, "invalid_request")
        assert "asOf" in body["message"]


# ---- rate limiting (every dialect) ----

@pytest.fixture(scope="module")
def limited():
    s = Server(extra_args=["--rate-limit", "1", "--rate-burst", "3", "--threads", "4"]).start()
    # Issuing tokens spends the admin's requests (the whole burst of 3): issue them first, then
    # let the bucket refill.
    s.tokens = {"other": s.token(["tags:read"], name="other"),
                "native": s.token(["tags:read"], name="native"),
                "parallel": s.token(["tags:read"], name="parallel")}
    # One request per second is slow enough to keep these checks exact under valgrind too.
    time.sleep(3.2)
    yield s
    s.cleanup()


def test_rate_limit(limited):
    # Three requests inside one refill (a second): on a machine so loaded that they took
    # longer, the bucket refilled between them (CI's PostgreSQL pass once saw [2, 2, 2]); the
    # bucket is let fill again and the three are sent again.
    for attempt in range(5):
        before = now_ms()
        start = time.monotonic()
        remaining = []
        for _ in range(3):
            r = ld(limited)
            assert r.status_code == 200, r.text
            remaining.append(int(r.headers["X-Ratelimit-Global-Remaining"]))
            reset = int(r.headers["X-Ratelimit-Reset"])
            assert before <= reset <= now_ms() + 5000  # epoch milliseconds, soon
            assert "Retry-After" not in r.headers
        if time.monotonic() - start < 0.8:
            break
        time.sleep(3.2)
    assert remaining == [2, 1, 0]
    r = ld(limited)
    body = assert_ld_error(r, 429, "rate_limited")
    assert body["message"] == "You've exceeded the API rate limit. Try again later."
    assert r.headers["Retry-After"] == "1"
    assert r.headers["X-Ratelimit-Global-Remaining"] == "0"
    reset = int(r.headers["X-Ratelimit-Reset"])
    assert now_ms() < reset <= now_ms() + 3100  # full again: 3 requests at 1 per second
    # Every dialect shares the bucket: the native API refuses too, in its own shape.
    r = requests.get(limited.url + "/v1/tags", headers={"Authorization": "Bearer " + ADMIN_TOKEN})
    assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited"
    assert r.headers["Retry-After"] == "1"
    # Another token has its own bucket.
    other = limited.tokens["other"]
    r = ld(limited, token=other)
    assert r.status_code == 200 and r.headers["X-Ratelimit-Global-Remaining"] == "2"
    # Unauthenticated requests are not counted against anyone (they fail earlier).
    assert_ld_error(ld(limited, token="nope"), 401, "unauthorized")
    # The bucket refills at 1 per second.
    time.sleep(1.1)
    r = ld(limited)
    assert r.status_code == 200, r.text
    assert r.headers["X-Ratelimit-Global-Remaining"] == "0"
    assert ld(limited).status_code == 429


def test_rate_limit_native_headers(limited):
    api = Api(limited, limited.tokens["native"])
    codes = [api.get("/v1/tags").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]


# ---- PATCH shapes for tags on flags and segments ----

SEMANTIC = "application/json; domain-model=launchdarkly.semanticpatch"


def ld_patch(server, path, body, token=ADMIN_TOKEN, content_type="application/json"):
    headers = {"Content-Type": content_type}
    if token is not None:
        headers["Authorization"] = token
    return requests.patch(server.url + path, data=json.dumps(body), headers=headers, timeout=30)


@pytest.fixture(scope="module")
def flag(server, admin):
    """Flag web/chk and segment web/prod/beta-users exist as tagd resources."""
    assert admin.put("/v1/resources/flag/web%2Fchk", json={"name": "Checkout"}).status_code == 201
    assert admin.put("/v1/resources/segment/web%2Fprod%2Fbeta-users", json={}).status_code == 201
    return "/api/v2/flags/web/chk"


def flag_tags(admin):
    return [a["name"] for a in admin.get("/v1/resources/flag/web%2Fchk/tags").json()["items"]]


def test_patch_json_patch(server, admin, flag):
    version = admin.get("/v1/resources/flag/web%2Fchk").json()["version"]
    r = ld_patch(server, flag, [{"op": "add", "path": "/tags/-", "value": "p-ops"}])
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "application/json"
    body = r.json()
    assert body["key"] == "chk" and body["name"] == "Checkout" and body["tags"] == ["p-ops"]
    # A PATCH that changes something raises the version, tags included.
    assert body["archived"] is False and body["_version"] == version + 1
    assert body["_links"]["self"] == {"href": "/api/v2/flags/web/chk", "type": "application/json"}
    assert "p-ops" in ld(server, params={"kind": "flag", "pre": "p-"}).json()["items"]
    # The {"comment", "patch"} wrapper; add at an index, replace one, remove one.
    r = ld_patch(server, flag, {"comment": "more", "patch": [
        {"op": "add", "path": "/tags/0", "value": "p-a"},
        {"op": "add", "path": "/tags/-", "value": "p-b"}]})
    assert r.status_code == 200 and r.json()["tags"] == ["p-a", "p-b", "p-ops"]
    r = ld_patch(server, flag, [{"op": "replace", "path": "/tags/1", "value": "p-c"},
                                {"op": "remove", "path": "/tags/0"}])
    assert r.status_code == 200, r.text
    assert r.json()["tags"] == ["p-c", "p-ops"]  # the list is answered sorted
    r = ld_patch(server, flag, [{"op": "replace", "path": "/tags", "value": ["p-x", "p-y", "p-x"]}])
    assert r.status_code == 200 and r.json()["tags"] == ["p-x", "p-y"]
    r = ld_patch(server, flag, [{"op": "remove", "path": "/tags"}])
    assert r.status_code == 200 and r.json()["tags"] == []
    assert flag_tags(admin) == []


def test_patch_version_test_is_all_or_nothing(server, admin, flag):
    version = admin.get("/v1/resources/flag/web%2Fchk").json()["version"]
    r = ld_patch(server, flag, [{"op": "add", "path": "/tags/-", "value": "p-first"},
                                {"op": "test", "path": "/version", "value": version + 7}])
    body = assert_ld_error(r, 409, "optimistic_locking_error")
    assert flag_tags(admin) == []
    r = ld_patch(server, flag, [{"op": "test", "path": "/version", "value": version},
                                {"op": "add", "path": "/tags/-", "value": "p-first"}])
    assert r.status_code == 200 and r.json()["tags"] == ["p-first"], r.text
    # A bad later operation undoes the earlier ones.
    r = ld_patch(server, flag, [{"op": "add", "path": "/tags/-", "value": "p-second"},
                                {"op": "replace", "path": "/description", "value": "x"},
                                {"op": "replace", "path": "/key", "value": "other"}])
    body = assert_ld_error(r, 400, "invalid_request")
    assert "key" in body["message"]
    assert flag_tags(admin) == ["p-first"]
    got = requests.get(server.url + flag, headers={"Authorization": ADMIN_TOKEN}).json()
    assert got["description"] == "" and got["key"] == "chk"


def test_patch_merge(server, admin, flag):
    r = ld_patch(server, flag, {"tags": ["m-1", "m-2"]})
    assert r.status_code == 200 and r.json()["tags"] == ["m-1", "m-2"], r.text
    r = ld_patch(server, flag, {"comment": "c", "merge": {"tags": ["m-3"]}})
    assert r.status_code == 200 and r.json()["tags"] == ["m-3"]
    assert_ld_error(ld_patch(server, flag, {"key": "renamed"}), 400, "invalid_request")
    assert_ld_error(ld_patch(server, flag, {"tags": "m-4"}), 400, "invalid_request")
    assert_ld_error(ld_patch(server, flag, {"name": None}), 400, "invalid_request")
    r = ld_patch(server, flag, {"tags": None})
    assert r.status_code == 200 and r.json()["tags"] == []


def test_patch_semantic(server, admin, flag):
    r = ld_patch(server, flag, {"comment": "tags", "instructions": [
        {"kind": "addTags", "values": ["s-1", "s-2", "s-3"]},
        {"kind": "removeTags", "values": ["s-2", "never-existed"]}]}, content_type=SEMANTIC)
    assert r.status_code == 200, r.text
    assert r.json()["tags"] == ["s-1", "s-3"]
    # Without the domain-model content type the body is not a semantic patch.
    r = ld_patch(server, flag, {"instructions": [{"kind": "addTags", "values": ["s-4"]}]})
    assert_ld_error(r, 400, "invalid_request")
    # Not applied partially: an unsupported instruction refuses the whole patch.
    r = ld_patch(server, flag, {"instructions": [
        {"kind": "addTags", "values": ["s-5"]},
        {"kind": "turnFlagOn"}]}, content_type=SEMANTIC)
    assert_ld_error(r, 400, "invalid_request")
    for bad in ({"instructions": []}, {"instructions": [{"kind": "addTags", "values": []}]},
                {"instructions": [{"kind": "addTags", "values": ["bad tag!"]}]},
                # 65 characters (tagd alone would accept it: no segment exceeds 64).
                {"instructions": [{"kind": "addTags", "values": ["a" * 30 + "." + "b" * 34]}]},
                {"instructions": [{"kind": "addTags", "values": [3]}]}, [1, 2]):
        assert_ld_error(ld_patch(server, flag, bad, content_type=SEMANTIC), 400, "invalid_request")
    assert flag_tags(admin) == ["s-1", "s-3"]
    r = ld_patch(server, flag, {"instructions": [{"kind": "addTags", "values": ["x" * 64]}]},
                 content_type=SEMANTIC)
    assert r.status_code == 200 and "x" * 64 in r.json()["tags"]


def test_patch_segment(server, admin, flag):
    path = "/api/v2/segments/web/prod/beta-users"
    body = {"instructions": [{"kind": "addTags", "values": ["seg-t"]}]}
    assert_ld_error(ld_patch(server, path, body, content_type=SEMANTIC), 400, "invalid_request")
    body["environmentKey"] = "staging"
    assert_ld_error(ld_patch(server, path, body, content_type=SEMANTIC), 400, "invalid_request")
    body["environmentKey"] = "prod"
    r = ld_patch(server, path, body, content_type=SEMANTIC)
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["key"] == "beta-users" and got["tags"] == ["seg-t"]
    assert got["_links"]["self"]["href"] == path
    assert ld(server, params={"kind": "segment", "pre": "seg-"}).json()["items"] == ["seg-t"]
    r = ld_patch(server, path, [{"op": "add", "path": "/tags/-", "value": "seg-u"}])
    assert r.status_code == 200 and r.json()["tags"] == ["seg-t", "seg-u"]


def test_patch_errors(server, admin, flag):
    add = [{"op": "add", "path": "/tags/-", "value": "e-1"}]
    assert_ld_error(ld_patch(server, "/api/v2/flags/web/missing", add), 404, "not_found")
    assert_ld_error(ld_patch(server, "/api/v2/segments/web/prod/missing", add), 404, "not_found")
    assert_ld_error(ld_patch(server, flag, add, token=None), 401, "unauthorized")
    reader = server.token(["tags:read"], name="patch-reader")
    assert_ld_error(ld_patch(server, flag, add, token=reader), 403, "forbidden")
    for bad in ([{"op": "remove", "path": "/tags/99"}], [{"op": "add", "path": "/tags/99", "value": "a"}],
                [{"op": "add", "path": "/tags/-"}], [{"path": "/tags/-", "value": "a"}],
                [{"op": "move", "path": "/tags/0", "from": "/tags/99"}],
                [{"op": "frob", "path": "/tags/0"}],
                [{"op": "add", "path": "/tags/01", "value": "a"}],
                [{"op": "test", "path": "/version", "value": "1"}],
                {"patch": {"op": "add"}}, {"merge": []}, "text"):
        assert_ld_error(ld_patch(server, flag, bad), 400, "invalid_request")
    r = requests.patch(server.url + flag, data="{not json", timeout=30,
                       headers={"Authorization": ADMIN_TOKEN, "Content-Type": "application/json"})
    assert_ld_error(r, 400, "invalid_request")
    # Echoed names are clipped without splitting a UTF-8 character.
    r = ld_patch(server, flag, {"\u00e9" * 100: 1})
    assert_ld_error(r, 400, "invalid_request")
    assert "\u00e9" * 32 + "'" in r.content.decode("utf-8")
    r = ld_patch(server, flag, {"\u00e9" * 100: 1}, content_type=SEMANTIC)
    assert_ld_error(r, 400, "invalid_request")
    r = ld_patch(server, flag, {"instructions": [{"kind": "\u00e9" * 100}]}, content_type=SEMANTIC)
    assert_ld_error(r, 400, "invalid_request")
    assert "\u00e9" * 24 + "..." in r.content.decode("utf-8")
    r = requests.delete(server.url + flag, headers={"Authorization": ADMIN_TOKEN})
    assert_ld_error(r, 405, "method_not_allowed")
    assert "e-1" not in flag_tags(admin)


def test_patch_then_as_of(server, admin, flag):
    ld_patch(server, flag, {"tags": ["h-before"]})
    pause()
    t1 = now_ms()
    pause()
    ld_patch(server, flag, {"tags": ["h-after"]})
    assert ld(server, params={"pre": "h-"}).json()["items"] == ["h-after"]
    assert ld(server, params={"pre": "h-", "asOf": t1}).json()["items"] == ["h-before"]


def test_rate_limit_concurrent(limited):
    """Several loop threads share one bucket per token: 24 parallel requests admit the burst."""
    import concurrent.futures
    tok = limited.tokens["parallel"]
    start = time.time()
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(lambda _: ld(limited, token=tok).status_code, range(24)))
    elapsed = time.time() - start
    assert set(codes) <= {200, 429}
    # 3 from the burst, plus at most one refilled per second that the burst of requests took.
    assert 3 <= codes.count(200) <= 3 + int(elapsed) + 1, (codes, elapsed)
    assert codes.count(429) >= 24 - 3 - int(elapsed) - 1


# ---- flags and segments as whole documents ----

def ld_get(server, path, token=ADMIN_TOKEN):
    return requests.get(server.url + path, headers={"Authorization": token}, timeout=30)


FLAG_TYPES = {"_links": dict, "_version": int, "archived": bool, "creationDate": int,
              "customProperties": dict, "experiments": dict, "key": str, "kind": str,
              "name": str, "tags": list, "temporary": bool, "variations": list}
SEGMENT_TYPES = {"_links": dict, "creationDate": int, "deleted": bool, "generation": int,
                 "key": str, "lastModifiedDate": int, "name": str, "rules": list, "tags": list,
                 "version": int}


def test_flag_read_is_a_complete_feature_flag(server, admin):
    assert admin.put("/v1/resources/flag/doc%2Fnew", json={"name": "New"}).status_code == 201
    r = ld_get(server, "/api/v2/flags/doc/new")
    assert r.status_code == 200, r.text
    f = r.json()
    for k, t in FLAG_TYPES.items():
        assert isinstance(f[k], t), (k, f)
    assert f["key"] == "new" and f["name"] == "New" and f["kind"] == "boolean"
    assert [v["value"] for v in f["variations"]] == [True, False]
    assert f["defaults"] == {"onVariation": 0, "offVariation": 1}
    assert f["experiments"] == {"baselineIdx": 0, "items": []}
    assert f["_links"]["self"]["href"] == "/api/v2/flags/doc/new"
    assert f["_links"]["parent"]["href"] == "/api/v2/flags/doc"
    assert abs(f["creationDate"] - now_ms()) < 60000
    assert_ld_error(ld_get(server, "/api/v2/flags/doc/missing"), 404, "not_found")
    assert_ld_error(ld_get(server, "/api/v2/flags/doc/new", token="nope"), 401, "unauthorized")


def test_segment_read_is_a_complete_user_segment(server, admin):
    assert admin.put("/v1/resources/segment/doc%2Fprod%2Fs", json={}).status_code == 201
    s = ld_get(server, "/api/v2/segments/doc/prod/s").json()
    for k, t in SEGMENT_TYPES.items():
        assert isinstance(s[k], t), (k, s)
    assert s["key"] == "s" and s["name"] == "s" and s["deleted"] is False
    assert s["included"] == [] and s["rules"] == []
    assert s["_links"]["self"]["href"] == "/api/v2/segments/doc/prod/s"


def test_patch_whole_flag_document(server, admin):
    """The spec's own example, with a tag insert: the document and the tags both change."""
    assert admin.put("/v1/resources/flag/doc%2Fwhole", json={"name": "Whole"}).status_code == 201
    v = ld_get(server, "/api/v2/flags/doc/whole").json()["_version"]
    r = ld_patch(server, "/api/v2/flags/doc/whole", [
        {"op": "test", "path": "/version", "value": v},
        {"op": "replace", "path": "/description", "value": "Checkout, rewritten"},
        {"op": "add", "path": "/tags/0", "value": "w-1"}])
    assert r.status_code == 200, r.text
    f = r.json()
    assert f["description"] == "Checkout, rewritten" and f["tags"] == ["w-1"]
    assert f["_version"] == v + 1
    # The tags are assignments: the native API, queries and the tag list see them.
    assert [a["name"] for a in admin.get("/v1/resources/flag/doc%2Fwhole/tags").json()["items"]] == ["w-1"]
    assert "w-1" in ld(server, params={"kind": "flag"}).json()["items"]
    # What was set stays: a read answers it, and the native resource shows the document.
    assert ld_get(server, "/api/v2/flags/doc/whole").json()["description"] == "Checkout, rewritten"
    native = admin.get("/v1/resources/flag/doc%2Fwhole").json()
    assert native["document"]["description"] == "Checkout, rewritten"
    assert "tags" not in native["document"] and "name" not in native["document"]
    # Merge patch over several fields; semantic updateName.
    r = ld_patch(server, "/api/v2/flags/doc/whole", {
        "temporary": False, "customProperties": {"team": {"name": "Team", "value": ["web"]}},
        "variations": [{"value": True, "name": "on"}, {"value": False, "name": "off"}]})
    assert r.status_code == 200, r.text
    f = r.json()
    assert f["temporary"] is False and f["customProperties"]["team"]["value"] == ["web"]
    assert f["variations"][0]["name"] == "on" and f["tags"] == ["w-1"]
    r = ld_patch(server, "/api/v2/flags/doc/whole", {"instructions": [
        {"kind": "updateName", "value": "Whole flag"}]}, content_type=SEMANTIC)
    assert r.status_code == 200 and r.json()["name"] == "Whole flag", r.text
    assert admin.get("/v1/resources/flag/doc%2Fwhole").json()["name"] == "Whole flag"
    # Archiving through the representation archives the resource.
    r = ld_patch(server, "/api/v2/flags/doc/whole", [{"op": "replace", "path": "/archived", "value": True}])
    assert r.status_code == 200 and r.json()["archived"] is True
    assert admin.get("/v1/resources/flag/doc%2Fwhole").json()["archived"] is True
    # A patch that changes nothing keeps the version.
    v = r.json()["_version"]
    r = ld_patch(server, "/api/v2/flags/doc/whole", [{"op": "add", "path": "/tags/-", "value": "w-1"}])
    assert r.status_code == 200 and r.json()["_version"] == v


def test_patch_that_would_break_the_document_is_400_and_changes_nothing(server, admin):
    assert admin.put("/v1/resources/flag/doc%2Fstrict", json={"name": "Strict"}).status_code == 201
    path = "/api/v2/flags/doc/strict"
    before = ld_get(server, path).json()
    for bad in ([{"op": "replace", "path": "/kind", "value": "bogus"}],
                [{"op": "replace", "path": "/temporary", "value": "yes"}],
                [{"op": "replace", "path": "/variations", "value": []}],
                [{"op": "replace", "path": "/variations/0/value", "value": "on"}],
                [{"op": "replace", "path": "/defaults/onVariation", "value": 5}],
                [{"op": "add", "path": "/environments", "value": {}}],
                [{"op": "replace", "path": "/creationDate", "value": 1}],
                [{"op": "remove", "path": "/_links"}],
                [{"op": "replace", "path": "/name", "value": ""}],
                [{"op": "replace", "path": "/customProperties", "value": {"x": {"name": 1}}}],
                [{"op": "add", "path": "/tags/-", "value": "ok"},
                 {"op": "add", "path": "/tags/-", "value": "not ok"}],
                {"description": 7}, {"experiments": None, "_version": 99}):
        r = ld_patch(server, path, bad)
        assert_ld_error(r, 400, "invalid_request")
    assert ld_get(server, path).json() == before
    assert admin.get("/v1/resources/flag/doc%2Fstrict").json().get("document") is None
    # A failed test other than the version is the same 409 as the version's.
    r = ld_patch(server, path, [{"op": "test", "path": "/description", "value": "no"},
                                {"op": "replace", "path": "/description", "value": "yes"}])
    assert_ld_error(r, 409, "optimistic_locking_error")
    assert ld_get(server, path).json() == before


def test_dry_run_answers_the_preview_and_writes_nothing(server, admin):
    assert admin.put("/v1/resources/flag/doc%2Fdry", json={"name": "Dry"}).status_code == 201
    before = ld_get(server, "/api/v2/flags/doc/dry").json()
    r = ld_patch(server, "/api/v2/flags/doc/dry?dryRun=true",
                 [{"op": "replace", "path": "/description", "value": "preview"},
                  {"op": "add", "path": "/tags/-", "value": "dry-only"}])
    assert r.status_code == 200, r.text
    assert r.json()["description"] == "preview" and r.json()["tags"] == ["dry-only"]
    assert ld_get(server, "/api/v2/flags/doc/dry").json() == before
    assert "dry-only" not in [t["name"] for t in admin.get("/v1/tags?limit=1000").json()["items"]]


def test_segment_document_patch(server, admin):
    assert admin.put("/v1/resources/segment/doc%2Fprod%2Fvip", json={"name": "VIP"}).status_code == 201
    path = "/api/v2/segments/doc/prod/vip"
    r = ld_patch(server, path, [{"op": "add", "path": "/included/-", "value": "user-1"},
                                {"op": "add", "path": "/rules/-", "value": {"clauses": [
                                    {"attribute": "email", "op": "endsWith", "values": ["@x.io"],
                                     "negate": False}]}},
                                {"op": "add", "path": "/tags/-", "value": "vip"}])
    assert r.status_code == 200, r.text
    s = r.json()
    assert s["included"] == ["user-1"] and s["rules"][0]["clauses"][0]["attribute"] == "email"
    assert s["tags"] == ["vip"] and s["version"] == s["generation"]
    v = s["version"]
    assert_ld_error(ld_patch(server, path, [{"op": "test", "path": "/version", "value": v + 1}]),
                    409, "optimistic_locking_error")
    assert_ld_error(ld_patch(server, path, [{"op": "add", "path": "/rules/-", "value": {"clauses": [{}]}}]),
                    400, "invalid_request")
    assert_ld_error(ld_patch(server, path, {"archived": True}), 400, "invalid_request")
    assert ld_get(server, path).json()["version"] == v


def test_native_document_is_checked_for_flags_and_free_for_others(server, admin):
    r = admin.put("/v1/resources/flag/doc%2Fnative", json={
        "name": "Native", "document": {"description": "from /v1", "temporary": False,
                                       "kind": "multivariate",
                                       "variations": [{"value": "a"}, {"value": "b"}, {"value": "c"}],
                                       "defaults": {"onVariation": 2, "offVariation": 0}}})
    assert r.status_code == 201, r.text
    assert r.json()["document"]["description"] == "from /v1"
    f = ld_get(server, "/api/v2/flags/doc/native").json()
    assert f["description"] == "from /v1" and f["kind"] == "multivariate"
    assert f["defaults"] == {"onVariation": 2, "offVariation": 0} and f["temporary"] is False
    for bad in ({"tags": ["x"]}, {"key": "k"}, {"kind": "string"}, {"variations": [{"value": 1}]},
                {"unknown": 1}, {"defaults": {"onVariation": 0}}, "text", [1]):
        r = admin.put("/v1/resources/flag/doc%2Fnative", json={"document": bad})
        assert r.status_code == 400, (bad, r.text)
    assert admin.get("/v1/resources/flag/doc%2Fnative").json()["document"]["kind"] == "multivariate"
    r = admin.put("/v1/resources/folder/anything", json={"document": {"any": [1, {"x": None}]}})
    assert r.status_code == 201 and r.json()["document"] == {"any": [1, {"x": None}]}
    r = admin.put("/v1/resources/folder/anything", json={"document": None})
    assert r.status_code == 200 and "document" not in r.json()
