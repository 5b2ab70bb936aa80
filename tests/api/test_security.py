"""Security headers and defaults (issue 10): nosniff everywhere, no-store on answers to
requests that carry a credential, CORS off unless one origin is configured, no version in the
Server header, and no secret in the access log."""
import json
import os
import re
import socket
import subprocess
import tempfile
import time
import uuid

import pytest
import requests

from conftest import ADMIN_TOKEN, ROOT, Server, raw_request

ORIGIN = "https://app.example.com"
CREDENTIAL_HEADERS = [
    {"Authorization": "Bearer " + ADMIN_TOKEN},
    {"Authorization": "Bearer not-a-valid-token"},
    {"Authorization": "Basic Zm9vOmJhcg=="},
    {"X-API-Key": "aitronos-key"},
    {"api-key": "aitronos-key"},
    {"X-Easydb-Token": "some-session-token"},
    {"accessToken": "applink-access-token"},
    {"AppLinkID": "some-applink"},
    {"LinkID": "some-public-link"},
    {"Cookie": "dAccessCode-abc=secret"},
]


def _get(server, path, **kw):
    kw.setdefault("timeout", 10)
    return requests.get(server.url + path, **kw)


# ---- defaults (no CORS configured) ----

@pytest.mark.parametrize("path,headers,status", [
    ("/healthz", {}, 200),
    ("/openapi.json", {}, 200),
    ("/v1/tags", {}, 401),
    ("/v1/tags", {"Authorization": "Bearer " + ADMIN_TOKEN}, 200),
    ("/v1/no-such-thing", {}, 404),
    ("/v1/tags/%00", {"Authorization": "Bearer " + ADMIN_TOKEN}, 400),
])
def test_nosniff_on_every_answer(server, path, headers, status):
    r = _get(server, path, headers=headers)
    assert r.status_code == status, r.text
    assert r.headers["X-Content-Type-Options"] == "nosniff"


def test_nosniff_on_refused_headers(server):
    r = _get(server, "/v1/tags", headers={"X-Big": "a" * 20000})
    assert r.status_code == 431
    assert r.headers["X-Content-Type-Options"] == "nosniff"


def test_h2o_parse_errors_are_bare_text(server):
    # Bytes picohttpparser cannot parse never reach tagd: h2o answers a fixed text/plain
    # "Bad Request" and closes. Nothing in it can be sniffed into active content.
    raw = raw_request(server.port, b"GET /v1/tags HTTP/1.1\r\nHost: x\r\nX-Bad: a\x00b\r\n\r\n")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.lower().startswith(b"http/1.1 400"), raw[:200]
    assert b"content-type: text/plain" in head.lower()
    assert body == b"Bad Request"


@pytest.mark.parametrize("headers", CREDENTIAL_HEADERS, ids=lambda h: next(iter(h)))
def test_no_store_when_a_credential_is_sent(server, headers):
    for path in ("/v1/tags", "/healthz", "/v1/no-such-thing"):
        r = _get(server, path, headers=headers)
        assert r.headers.get("Cache-Control") == "no-store", (path, headers, r.status_code)


def test_no_store_for_token_query_parameter(server):
    r = _get(server, "/v1/tags?token=abc")
    assert r.headers.get("Cache-Control") == "no-store"
    # Written or read, success or refusal: still no-store.
    r = requests.post(server.url + "/v1/tags?token=abc", json={"name": "Sec.q"}, timeout=10)
    assert r.status_code == 401
    assert r.headers.get("Cache-Control") == "no-store"
    r = requests.post(server.url + "/v1/tags", json={"name": "Sec.ok"}, timeout=10,
                      headers={"Authorization": "Bearer " + ADMIN_TOKEN})
    assert r.status_code == 201, r.text
    assert r.headers.get("Cache-Control") == "no-store"


def test_anonymous_public_answers_carry_no_cache_control(server):
    # The rule is about credentials; public answers are left to the dialect.
    r = _get(server, "/healthz")
    assert "Cache-Control" not in r.headers
    r = _get(server, "/v1/tags?tokenish=1")
    assert "Cache-Control" not in r.headers


def test_server_header_names_no_version(server):
    r = _get(server, "/healthz")
    assert r.headers.get("Server") == "tagd"
    assert "h2o" not in r.headers.get("Server", "")


def test_cors_is_off_by_default(server):
    r = _get(server, "/v1/tags", headers={"Origin": ORIGIN, "Authorization": "Bearer " + ADMIN_TOKEN})
    assert r.status_code == 200
    assert not [h for h in r.headers if h.lower().startswith("access-control-")]
    assert "Vary" not in r.headers
    r = requests.options(server.url + "/v1/tags", timeout=10, headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST"})
    assert r.status_code == 405
    assert not [h for h in r.headers if h.lower().startswith("access-control-")]


# ---- CORS configured ----

@pytest.fixture(scope="module")
def cors():
    s = Server(extra_args=["--cors-origin", "https://App.Example.com"]).start()
    yield s
    s.cleanup()


def _acheaders(r):
    return {k.lower(): v for k, v in r.headers.items() if k.lower().startswith("access-control-")}


def test_cors_allows_the_configured_origin(cors):
    r = _get(cors, "/v1/tags", headers={"Origin": ORIGIN, "Authorization": "Bearer " + ADMIN_TOKEN})
    assert r.status_code == 200
    h = _acheaders(r)
    assert h["access-control-allow-origin"] == ORIGIN
    assert h["access-control-allow-credentials"] == "true"
    exposed = [x.strip().lower() for x in h["access-control-expose-headers"].split(",")]
    assert "x-request-id" in exposed and "x-tagd-revision" in exposed
    assert r.headers["Vary"] == "Origin"
    assert r.headers["Cache-Control"] == "no-store"
    # Errors carry the headers too, so the front end can read them.
    r = _get(cors, "/v1/tags", headers={"Origin": ORIGIN})
    assert r.status_code == 401
    assert _acheaders(r)["access-control-allow-origin"] == ORIGIN


@pytest.mark.parametrize("origin", ["https://evil.example.com", "http://app.example.com",
                                    "https://app.example.com:8443", "https://app.example.com.evil",
                                    "null", "*"])
def test_cors_refuses_other_origins(cors, origin):
    r = _get(cors, "/v1/tags", headers={"Origin": origin, "Authorization": "Bearer " + ADMIN_TOKEN})
    assert r.status_code == 200
    assert _acheaders(r) == {}
    assert r.headers["Vary"] == "Origin"
    r = requests.options(cors.url + "/v1/tags", timeout=10, headers={
        "Origin": origin, "Access-Control-Request-Method": "POST"})
    assert r.status_code == 405
    assert _acheaders(r) == {}


def test_launchdarkly_keeps_its_own_cors_rule(server, cors):
    # The LaunchDarkly contract echoes any Origin (never with credentials); tagd's rule must not
    # add a second Access-Control-Allow-Origin to those answers.
    for s in (server, cors):
        r = _get(s, "/api/v2/tags", headers={"Origin": ORIGIN, "Authorization": ADMIN_TOKEN})
        assert r.status_code == 200, r.text
        assert r.headers["Access-Control-Allow-Origin"] == ORIGIN
        assert "Access-Control-Allow-Credentials" not in r.headers
        assert r.headers["Vary"] == "Origin"
        r = requests.options(s.url + "/api/v2/tags", timeout=10, headers={
            "Origin": ORIGIN, "Access-Control-Request-Method": "GET"})
        assert r.status_code == 204
        assert r.headers["Access-Control-Allow-Origin"] == ORIGIN
        assert r.headers["Access-Control-Max-Age"] == "300"


def test_cors_without_origin_header_sends_none(cors):
    r = _get(cors, "/v1/tags", headers={"Authorization": "Bearer " + ADMIN_TOKEN})
    assert _acheaders(r) == {}


def test_cors_preflight_for_the_configured_origin(cors):
    r = requests.options(cors.url + "/v1/tags/Some.tag", timeout=10, headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "PATCH",
        "Access-Control-Request-Headers": "authorization, content-type, x-tagd-min-revision"})
    assert r.status_code == 204
    assert r.content == b""
    h = _acheaders(r)
    assert h["access-control-allow-origin"] == ORIGIN
    methods = [m.strip() for m in h["access-control-allow-methods"].split(",")]
    assert {"GET", "POST", "PUT", "PATCH", "DELETE"} <= set(methods)
    assert h["access-control-allow-headers"] == "authorization, content-type, x-tagd-min-revision"
    assert int(h["access-control-max-age"]) > 0
    assert r.headers["X-Content-Type-Options"] == "nosniff"


def test_cors_preflight_never_echoes_odd_header_lists(cors):
    r = requests.options(cors.url + "/v1/tags", timeout=10, headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "x-a; injected=1"})
    assert r.status_code == 204
    assert "access-control-allow-headers" not in _acheaders(r)


def test_plain_options_without_preflight_headers_is_not_a_preflight(cors):
    r = requests.options(cors.url + "/v1/tags", timeout=10, headers={"Origin": ORIGIN})
    assert r.status_code == 405


def test_cors_origin_from_environment_and_config_file(tmp_path):
    s = Server(env={"TAGD_CORS_ORIGIN": "https://env.example.com"}).start()
    try:
        r = _get(s, "/healthz", headers={"Origin": "https://env.example.com"})
        assert r.headers["Access-Control-Allow-Origin"] == "https://env.example.com"
    finally:
        s.cleanup()
    conf = tmp_path / "tagd.conf"
    conf.write_text("cors_origin = http://localhost:3000\n")
    s = Server(extra_args=["--config", str(conf)]).start()
    try:
        r = _get(s, "/healthz", headers={"Origin": "http://localhost:3000"})
        assert r.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
        r = _get(s, "/healthz", headers={"Origin": "http://localhost:3001"})
        assert "Access-Control-Allow-Origin" not in r.headers
    finally:
        s.cleanup()


@pytest.mark.parametrize("bad", ["*", "app.example.com", "https://app.example.com/",
                                 "https://app.example.com/path", "ftp://x", "https://",
                                 "https://a b"])
def test_bad_cors_origin_is_refused_at_start(bad):
    binary = os.environ.get("TAGD_BIN", os.path.join(ROOT, "build", "tagd"))
    with tempfile.TemporaryDirectory() as d:
        p = subprocess.run([binary, "--data", d, "--listen", "127.0.0.1:0", "--cors-origin", bad],
                           capture_output=True, text=True, timeout=30)
    assert p.returncode != 0
    assert "cors-origin" in p.stderr


# ---- secrets never reach the log ----

@pytest.mark.parametrize("fmt", ["text", "json"])
def test_no_secret_in_the_access_log(fmt):
    s = Server(extra_args=["--log-format", fmt, "--log-level", "debug"]).start()
    try:
        q = "QSECRET" + uuid.uuid4().hex
        a = "HSECRET" + uuid.uuid4().hex
        e = "ESECRET" + uuid.uuid4().hex
        p = "PSECRET" + uuid.uuid4().hex
        rid = "sec-" + uuid.uuid4().hex[:12]
        r = requests.get(s.url + "/v1/tags?token=%s&limit=1" % q, timeout=10,
                         headers={"Authorization": "Bearer " + a, "X-Easydb-Token": e,
                                  "accessToken": a, "X-Request-Id": rid})
        assert r.status_code == 401
        r = requests.post(s.url + "/v1/tags?token=" + q, json={"name": "Log.x"}, timeout=10,
                          headers={"Authorization": "Bearer " + ADMIN_TOKEN,
                                   "X-Request-Id": rid + "w"})
        assert r.status_code == 201, r.text
        # A secret in a body (a password) stays out too.
        r = requests.post(s.url + "/v1/users", json={"login": "logged", "password": p}, timeout=10,
                          headers={"Authorization": "Bearer " + ADMIN_TOKEN})
        assert r.status_code == 201, r.text
        # A failed login attempt with a bad token in the Authorization header.
        r = requests.get(s.url + "/v1/tags", timeout=10, headers={"Authorization": a})
        assert r.status_code == 401
    finally:
        s.stop()
        log = s.read_log()
        s.cleanup()
    for secret in (q, a, e, p, ADMIN_TOKEN):
        assert secret not in log, secret
    # The requests were logged (so the test looks at the right place), by path only.
    lines = [l for l in log.splitlines() if rid in l]
    assert len(lines) == 2, log
    if fmt == "json":
        recs = [json.loads(l) for l in lines]
        assert [x["path"] for x in recs] == ["/v1/tags", "/v1/tags"]
        assert [x["status"] for x in recs] == [401, 201]
        # Every line tagd writes is JSON (LeakSanitizer's suppression summary under
        # TAGD_SANITIZED, and valgrind's "==pid==" lines, are not tagd's).
        for l in log.splitlines():
            if l.startswith("{") or not os.environ.get("TAGD_SANITIZED"):
                json.loads(l)
    else:
        assert all(" /v1/tags " in l for l in lines)
        assert "?" not in "".join(lines)


# ---- constant-time aspects ----

def test_unknown_login_costs_as_much_as_a_wrong_password(server):
    # Without a dummy argon2id check, "no such user" answers ~100x faster than "wrong
    # password", which tells an attacker which logins exist.
    r = requests.post(server.url + "/v1/users", json={"login": "timing-user", "password": "right-password-1"},
                      headers={"Authorization": "Bearer " + ADMIN_TOKEN}, timeout=30)
    assert r.status_code == 201, r.text

    def attempt(login):
        tok = requests.get(server.url + "/api/v1/session", timeout=30).json()["token"]
        t0 = time.perf_counter()
        r = requests.post(server.url + "/api/v1/session/authenticate", timeout=60,
                          params={"token": tok, "login": login, "password": "wrong-password-1"})
        dt = time.perf_counter() - t0
        assert r.status_code == 400 and r.json()["code"] == "error.user.login_failed", r.text
        return dt

    known, unknown = [], []
    for _ in range(7):
        known.append(attempt("timing-user"))
        unknown.append(attempt("no-such-user-%s" % uuid.uuid4().hex[:8]))
    known.sort()
    unknown.sort()
    # The kernel alone makes one argon2id check take 10 or 30 ms (its 16 MiB are mapped
    # afresh each time, and whether those pages come back fast varies): medians of seven may
    # differ 3x with no leak at all, while the leak this guards against is 30x or more.
    assert unknown[3] > 0.2 * known[3], (known, unknown)


# ---- request smuggling ----

def _tag_count(server, prefix):
    r = requests.get(server.url + "/v1/tags?prefix=" + prefix, timeout=10,
                     headers={"Authorization": "Bearer " + ADMIN_TOKEN})
    return r.json()["total"]


@pytest.mark.parametrize("lengths", [(5, 40), (40, 5), (5, 0)])
def test_two_different_content_lengths_are_refused(server, lengths):
    body = b'{"name": "SmuggleA"}'
    body += b" " * (max(lengths) - len(body))  # h2o reads the first length's bytes
    head = (b"POST /v1/tags HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + ADMIN_TOKEN.encode() +
            b"\r\nContent-Type: application/json\r\n" +
            b"".join(b"Content-Length: %d\r\n" % n for n in lengths) + b"\r\n")
    out = raw_request(server.port, head + body, timeout=3)
    assert out.startswith(b"HTTP/1.1 400"), out[:300]
    assert b"conflicting content-length headers" in out
    # The connection is closed after the answer: nothing after it is read as a request.
    assert b"Connection: close" in out
    assert _tag_count(server, "Smuggle") == 0
    assert requests.get(server.url + "/healthz", timeout=5).status_code == 200


def test_repeated_equal_content_length_is_accepted(server):
    body = b'{"name": "OkSame"}'
    head = (b"POST /v1/tags HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + ADMIN_TOKEN.encode() +
            b"\r\nContent-Type: application/json\r\n" +
            b"Content-Length: %d\r\nContent-Length: %d\r\n\r\n" % (len(body), len(body)))
    out = raw_request(server.port, head + body, timeout=3)
    assert out.startswith(b"HTTP/1.1 201"), out[:300]
    r = requests.delete(server.url + "/v1/tags/OkSame", timeout=10,
                        headers={"Authorization": "Bearer " + ADMIN_TOKEN})
    assert r.status_code == 204, r.text


@pytest.mark.parametrize("order", ["cl-first", "te-first"])
def test_content_length_with_chunked_is_refused(server, order):
    # h2o frames such a body by Transfer-Encoding, a proxy in front may use Content-Length.
    body = b'{"name": "SmuggleTe"}'
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    framing = [b"Content-Length: 3\r\n", b"Transfer-Encoding: chunked\r\n"]
    if order == "te-first":
        framing.reverse()
    head = (b"POST /v1/tags HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + ADMIN_TOKEN.encode() +
            b"\r\nContent-Type: application/json\r\n" + b"".join(framing) + b"\r\n")
    # A second request hides behind the body; it must never be answered.
    out = raw_request(server.port, head + chunked + b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", timeout=3)
    assert out.startswith(b"HTTP/1.1 400"), out[:300]
    assert b"both content-length and transfer-encoding" in out
    assert out.count(b"HTTP/1.1 ") == 1, out
    assert _tag_count(server, "Smuggle") == 0


def test_chunked_body_alone_is_accepted(server):
    body = b'{"name": "OkChunked"}'
    head = (b"POST /v1/tags HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + ADMIN_TOKEN.encode() +
            b"\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
    out = raw_request(server.port, head + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body), timeout=3)
    assert out.startswith(b"HTTP/1.1 201"), out[:300]
    r = requests.delete(server.url + "/v1/tags/OkChunked", timeout=10,
                        headers={"Authorization": "Bearer " + ADMIN_TOKEN})
    assert r.status_code == 204, r.text


@pytest.mark.parametrize("first", ["content-length", "chunked"])
def test_conflicting_lengths_caught_on_a_kept_alive_connection(server, first):
    # The check reads the request head from the connection's buffer; after an earlier request
    # on the same connection it must still look at the right bytes.
    auth = b"Authorization: Bearer " + ADMIN_TOKEN.encode() + b"\r\nContent-Type: application/json\r\n"
    b1 = b'{"name": "Pipe%s"}' % first.replace("-", "").encode()
    if first == "chunked":
        r1 = (b"POST /v1/tags HTTP/1.1\r\nHost: x\r\n" + auth + b"Transfer-Encoding: chunked\r\n\r\n" +
              b"%x\r\n%s\r\n0\r\n\r\n" % (len(b1), b1))
    else:
        r1 = b"POST /v1/tags HTTP/1.1\r\nHost: x\r\n" + auth + b"Content-Length: %d\r\n\r\n" % len(b1) + b1
    b2 = b'{"name": "SmugglePipe"}'
    r2 = (b"POST /v1/tags HTTP/1.1\r\nHost: x\r\n" + auth +
          b"Content-Length: %d\r\nContent-Length: 3\r\n\r\n" % len(b2) + b2)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as c:
        c.sendall(r1 + r2)
        out = b""
        try:
            while b"conflicting" not in out:
                chunk = c.recv(65536)
                if not chunk:
                    break
                out += chunk
        except socket.timeout:
            pass
    assert out.startswith(b"HTTP/1.1 201"), out[:200]
    assert b"HTTP/1.1 400" in out and b"conflicting content-length headers" in out, out
    assert _tag_count(server, "SmugglePipe") == 0


# ---- HTTP edges (issue 18) ----

AUTH_JSON = (b"Authorization: Bearer " + ADMIN_TOKEN.encode() + b"\r\nContent-Type: application/json\r\n")


def _after_close(port, data, timeout=5):
    """Sends data, reads until the server closes; returns (answer, seconds it took)."""
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as c:
        c.sendall(data)
        out = b""
        try:
            while True:
                b = c.recv(65536)
                if not b:
                    break
                out += b
        except (socket.timeout, ConnectionResetError):
            pass
    return out, time.monotonic() - start


@pytest.mark.parametrize("fold", [b" folded\r\n", b"\tfolded\r\n"])
def test_obs_fold_is_refused(server, fold):
    # RFC 9112 5.2: a server may reject obs-fold with 400; a proxy that unfolds it sees other
    # headers than tagd would.
    body = b'{"name": "SmuggleFold"}'
    head = (b"POST /v1/tags HTTP/1.1\r\nHost: x\r\n" + AUTH_JSON + b"X-Note: a\r\n" + fold +
            b"Content-Length: %d\r\n\r\n" % len(body))
    out, _ = _after_close(server.port, head + body + b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400"), out[:300]
    assert b"folded header line" in out
    assert out.count(b"HTTP/1.1 ") == 1, out
    assert _tag_count(server, "SmuggleFold") == 0


@pytest.mark.parametrize("size", [b"0xbe", b"0x15", b"1 5", b"+15", b"-1", b"", b"g"])
def test_malformed_chunk_size_is_refused(server, size):
    # "0xbe" was read as a last chunk of size 0 with the extension "xbe": the chunk's bytes
    # then became the next request on the connection.
    body = b'{"name": "SmuggleHex"}'
    smuggled = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    req = (b"POST /v1/tags HTTP/1.1\r\nHost: x\r\n" + AUTH_JSON + b"Transfer-Encoding: chunked\r\n\r\n" +
           size + b"\r\n" + smuggled + b"\r\n0\r\n\r\n")
    out, _ = _after_close(server.port, req)
    assert out.startswith(b"HTTP/1.1 400"), out[:300]
    assert out.count(b"HTTP/1.1 ") == 1, out
    assert _tag_count(server, "SmuggleHex") == 0


def test_malformed_chunk_after_pipelined_requests(server):
    # The requests before the bad one on the connection are answered first, each once; then
    # the bad one is refused and the connection closed.
    body = b'{"name": "OkPipeBefore"}'
    good = (b"POST /v1/tags HTTP/1.1\r\nHost: x\r\n" + AUTH_JSON + b"Transfer-Encoding: chunked\r\n\r\n" +
            b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
    bad = (b"POST /v1/tags HTTP/1.1\r\nHost: x\r\n" + AUTH_JSON + b"Transfer-Encoding: chunked\r\n\r\n" +
           b"0x1\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n\r\n0\r\n\r\n")
    out, _ = _after_close(server.port, good + b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" + bad)
    statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", out)
    assert statuses == [b"201", b"200", b"400"], out
    r = requests.delete(server.url + "/v1/tags/OkPipeBefore", timeout=10,
                        headers={"Authorization": "Bearer " + ADMIN_TOKEN})
    assert r.status_code == 204, r.text


def test_chunk_extensions_and_uppercase_hex_are_accepted(server):
    body = b'{"name": "OkChunkExt"}' + b" " * (0x1A - len(b'{"name": "OkChunkExt"}'))
    req = (b"POST /v1/tags HTTP/1.1\r\nHost: x\r\n" + AUTH_JSON + b"Transfer-Encoding: chunked\r\n\r\n" +
           b"1A ; name=value\r\n" + body + b"\r\n0;last\r\nX-Trailer: t\r\n\r\n")
    out = raw_request(server.port, req, timeout=3)
    assert out.startswith(b"HTTP/1.1 201"), out[:300]
    r = requests.delete(server.url + "/v1/tags/OkChunkExt", timeout=10,
                        headers={"Authorization": "Bearer " + ADMIN_TOKEN})
    assert r.status_code == 204, r.text


@pytest.mark.parametrize("size", [b"7fffffffffffffff", b"ffffffffffffffffff", b"200001"])
def test_huge_chunk_size_is_413_at_once(server, size):
    # The declared chunk alone is beyond --max-body (1 MiB): answered at once, not after the
    # idle timeout (10 s) with the connection held.
    req = (b"POST /v1/tags HTTP/1.1\r\nHost: x\r\n" + AUTH_JSON + b"Transfer-Encoding: chunked\r\n\r\n" +
           size + b"\r\n{\"name\": ")
    out, took = _after_close(server.port, req, timeout=8)
    assert out.startswith(b"HTTP/1.1 413"), out[:300]
    assert took < 3, took
    assert requests.get(server.url + "/healthz", timeout=5).status_code == 200


def test_huge_chunk_size_after_good_chunks_is_413(server):
    # Split over several packets, on a kept-alive connection after a good request.
    good = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as c:
        c.sendall(good)
        time.sleep(0.2)
        c.sendall(b"POST /v1/tags HTTP/1.1\r\nHost: x\r\n" + AUTH_JSON + b"Transfer-Encoding: chunked\r\n\r\n")
        time.sleep(0.1)
        c.sendall(b"4\r\nabcd\r\n7fff")
        time.sleep(0.1)
        c.sendall(b"ffffffff")
        start, out = time.monotonic(), b""
        try:
            while True:
                b = c.recv(65536)
                if not b:
                    break
                out += b
        except socket.timeout:
            pass
    assert out.startswith(b"HTTP/1.1 200"), out[:300]
    assert b"HTTP/1.1 413" in out, out
    assert time.monotonic() - start < 3


def test_two_host_headers_are_refused(server):
    out, _ = _after_close(server.port, b"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400"), out[:300]
    assert b"more than one host header" in out


@pytest.mark.parametrize("version", [b"HTTP/1.9", b"HTTP/1.2"])
def test_unknown_http_version_is_505(server, version):
    out, _ = _after_close(server.port, b"GET /healthz " + version + b"\r\nHost: x\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 505"), out[:300]


@pytest.mark.parametrize("version", [b"HTTP/1.0", b"HTTP/1.1"])
def test_known_http_versions_are_served(server, version):
    out = raw_request(server.port, b"GET /healthz " + version + b"\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 200"), out[:300]


# ---- names that imitate others (issue 18) ----

RLO, ZWJ, ZWSP = "\u202e", "\u200d", "\u200b"
IMITATIONS = ["Confidential" + RLO, "Conf" + ZWJ + "idential", "Confi" + ZWSP + "dential",
              "Confidential\u2066x\u2069", "Con\u00adfidential", "\ufeffConfidential"]


@pytest.mark.parametrize("name", IMITATIONS)
def test_invisible_characters_refused_in_native_names(server, name):
    h = {"Authorization": "Bearer " + ADMIN_TOKEN}
    for path, body in (("/v1/tags", {"name": name}), ("/v1/tags", {"name": "Legit." + name}),
                       ("/v1/groups", {"name": name})):
        r = requests.post(server.url + path, json=body, headers=h, timeout=10)
        assert r.status_code == 400, (path, r.text)
        e = r.json()["error"]
        assert e["code"] == "invalid_input" and e["details"]["field"] == "name", e
        assert "character U+" in e["message"], e
    # Nor by renaming, nor as a login.
    r = requests.post(server.url + "/v1/tags", json={"name": "Plain"}, headers=h, timeout=10)
    assert r.status_code in (201, 409), r.text
    r = requests.patch(server.url + "/v1/tags/Plain", json={"name": name}, headers=h, timeout=10)
    assert r.status_code == 400, r.text
    r = requests.post(server.url + "/v1/users", json={"login": name, "password": "password-123",
                                                     "rights": ["tags:read"]}, headers=h, timeout=10)
    assert r.status_code == 400, r.text
    assert _tag_count(server, "Conf") == 0


def test_emoji_and_script_joiners_are_names(server):
    h = {"Authorization": "Bearer " + ADMIN_TOKEN}
    for name in ["Team.\U0001F469\u200d\U0001F4BB", "Team.\u0915\u094d\u200d\u0937",
                 "Team.\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"]:
        r = requests.post(server.url + "/v1/tags", json={"name": name}, headers=h, timeout=10)
        assert r.status_code == 201, r.text
        assert r.json()["name"] == name


def test_invisible_characters_refused_in_easydb_and_aitronos(server):
    h = {"Authorization": "Bearer " + ADMIN_TOKEN}
    r = requests.post(server.url + "/v1/users", json={"login": "imitator", "password": "password-123",
                                                     "rights": ["tags:read", "tags:write"]}, headers=h, timeout=10)
    assert r.status_code in (201, 409), r.text
    tok = requests.get(server.url + "/api/v1/session", timeout=10).json()["token"]
    r = requests.post(server.url + "/api/v1/session/authenticate",
                      params={"token": tok, "login": "imitator", "password": "password-123"}, timeout=10)
    assert r.status_code == 200, r.text
    for body in ([{"taggroup": {"displayname": {"en-US": "Confidential" + RLO}}, "_tags": []}],
                 [{"taggroup": {"displayname": {"en-US": "G-imit"}},
                   "_tags": [{"tag": {"displayname": {"en-US": "Conf" + ZWJ + "idential"}}}]}]):
        r = requests.post(server.url + "/api/v1/tags", params={"token": tok}, json=body, timeout=10)
        assert r.status_code == 400, r.text
        assert r.json()["realm"] == "api" and r.json()["code"] == "error.api.invalid_value", r.text
        assert "character U+" in r.json()["description"]
    assert _tag_count(server, "Conf") == 0
    org = requests.get(server.url + "/v1/organizations", headers=h, timeout=10).json()["items"][0]
    p = "/v1/organizations/%s/knowledge/connectors/tags" % org["id"]
    r = requests.post(server.url + p, json={"name": "Confidential" + RLO, "workspace_id": org["default_workspace_id"]},
                      headers=h, timeout=10)
    assert r.status_code in (400, 422), r.text
    assert r.json()["success"] is False and "character U+" in json.dumps(r.json())
