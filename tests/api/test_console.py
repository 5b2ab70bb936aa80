"""The web console as HTTP sees it (src/api/console.c): /ui/ and its files with their content
types, caching, gzip, ETags and 304, the page routes, the size budget of a first visit, and
GET /v1/me. The console itself is tested in a real browser by ui/test/console.test.mjs."""
import gzip
import os
import re
import shutil
import subprocess

import pytest
import requests
import yaml

from conftest import ADMIN_TOKEN, ROOT, raw_request

IDENTITY = {"Accept-Encoding": "identity"}
GZIP = {"Accept-Encoding": "gzip, deflate"}


def get(server, path, headers=None):
    # requests would decode gzip itself; stream=True leaves the body as it came.
    r = requests.get(server.url + path, headers=headers or {}, stream=True, timeout=10,
                     allow_redirects=False)
    r.raw_bytes = r.raw.read()
    return r


def assets(server):
    html = get(server, "/ui/", IDENTITY).raw_bytes.decode()
    return re.findall(r'(?:src|href)="/ui/([^"]+)"', html)


def test_root_redirects_to_the_console(server):
    r = get(server, "/")
    assert r.status_code == 302
    assert r.headers["Location"] == "/ui/"


@pytest.mark.parametrize("path", ["/ui", "/ui/", "/ui/query", "/ui/tags"])
def test_index_is_html_never_cached_with_a_strict_policy(server, path):
    r = get(server, path, IDENTITY)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert r.headers["Cache-Control"] == "no-store"
    assert "Content-Encoding" not in r.headers
    assert r.headers["Vary"] == "Accept-Encoding"
    csp = r.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert b'<div id="app">' in r.raw_bytes
    assert int(r.headers["Content-Length"]) == len(r.raw_bytes)


def test_the_bundle_is_embedded_with_hashed_names(server):
    names = assets(server)
    js = [n for n in names if n.endswith(".js")]
    css = [n for n in names if n.endswith(".css")]
    assert len(js) == 1 and len(css) == 1, names
    for n in names:
        assert re.fullmatch(r"main-[A-Z0-9]{8}\.(js|css)", n), n


def test_hashed_files_cache_for_a_year_with_their_type(server):
    types = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
    for n in assets(server):
        r = get(server, "/ui/" + n, IDENTITY)
        assert r.status_code == 200, n
        assert r.headers["Content-Type"] == types[os.path.splitext(n)[1]]
        assert r.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert re.fullmatch(r'"[0-9a-f]{20}"', r.headers["ETag"])
        assert len(r.raw_bytes) > 100


def test_gzip_when_accepted_with_its_own_etag(server):
    for path in ["/ui/"] + ["/ui/" + n for n in assets(server)]:
        plain = get(server, path, IDENTITY)
        gz = get(server, path, GZIP)
        assert gz.headers["Content-Encoding"] == "gzip", path
        assert gzip.decompress(gz.raw_bytes) == plain.raw_bytes, path
        assert gz.headers["ETag"] != plain.headers["ETag"]
        assert gz.headers["ETag"].strip('"').endswith("-gz")
        assert len(gz.raw_bytes) < len(plain.raw_bytes)


@pytest.mark.parametrize("ae,gz", [
    ("gzip", True), ("GZIP;q=0.5", True), ("br, gzip;q=1", True), ("*", True),
    ("gzip;q=0", False), ("gzip; q=0.000", False), ("deflate, br", False), ("", False),
    ("x-gzip", False), ("gzipx", False),
])
def test_accept_encoding_is_parsed(server, ae, gz):
    r = get(server, "/ui/", {"Accept-Encoding": ae})
    assert ("Content-Encoding" in r.headers) == gz, ae


def test_etag_gives_304(server):
    for path in ["/ui/"] + ["/ui/" + n for n in assets(server)]:
        for enc in (IDENTITY, GZIP):
            first = get(server, path, enc)
            etag = first.headers["ETag"]
            for inm in (etag, "W/" + etag, '"other", ' + etag, "*"):
                r = get(server, path, dict(enc, **{"If-None-Match": inm}))
                assert r.status_code == 304, (path, inm)
                assert r.raw_bytes == b""
                assert r.headers["ETag"] == etag
            r = get(server, path, dict(enc, **{"If-None-Match": '"other"'}))
            assert r.status_code == 200
    # The gzip ETag does not validate the identity representation.
    gz_etag = get(server, "/ui/", GZIP).headers["ETag"]
    assert get(server, "/ui/", dict(IDENTITY, **{"If-None-Match": gz_etag})).status_code == 200


def test_head_answers_the_headers(server):
    r = requests.head(server.url + "/ui/", headers=IDENTITY, timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert r.content == b""


@pytest.mark.parametrize("path", ["/ui/nope.js", "/ui/main-AAAAAAAA.js", "/ui/..%2Fetc%2Fpasswd",
                                  "/ui/a/b"])
def test_unknown_files_are_404(server, path):
    r = get(server, path)
    assert r.status_code == 404
    assert r.headers["Content-Type"].startswith("application/json")
    assert requests.get(server.url + path, timeout=10).json()["error"]["code"] == "not_found"


def test_write_methods_are_refused(server):
    r = requests.post(server.url + "/ui/", data=b"x", timeout=10)
    assert r.status_code == 405


def test_first_visit_fits_the_size_budget(server):
    total = len(get(server, "/ui/", GZIP).raw_bytes)
    for n in assets(server):
        total += len(get(server, "/ui/" + n, GZIP).raw_bytes)
    assert total < 150 * 1024, total


def test_malformed_request_to_the_console(server):
    out = raw_request(server.port, b"GET /ui/%zz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400"), out[:100]
    out = raw_request(server.port, b"GET /ui/ HTTP/1.1\r\nHost: x\r\nIf-None-Match: " +
                      b"W/" * 2000 + b"\r\nAccept-Encoding: " + b"gzip;q=" * 500 + b"\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 200"), out[:100]


def test_me_says_who_the_token_is(server, admin):
    r = admin.get("/v1/me")
    assert r.status_code == 200
    me = r.json()
    assert me["principal"] == "TAGD_ADMIN_TOKEN"
    assert me["kind"] == "env"
    assert me["rights"] == ["tags:read", "tags:write", "tags:assign", "admin"]
    assert me["installation_admin"] is True
    assert me["organization"] == {"id": "org_1", "name": "default"}
    assert re.fullmatch(r"ws_\d+", me["workspace"]["id"])
    assert me["expires_at"] is None

    tok = admin.post("/v1/tokens", json={"name": "reader", "rights": ["tags:read"],
                                         "expires_at": "2040-01-01T00:00:00Z"}).json()
    r = requests.get(server.url + "/v1/me", headers={"Authorization": "Bearer " + tok["token"]},
                     timeout=10)
    assert r.status_code == 200
    me = r.json()
    assert me["principal"] == "reader"
    assert me["rights"] == ["tags:read"]
    assert me["installation_admin"] is False
    assert me["token_id"] == "tok_%s" % tok["id"]
    assert me["expires_at"].startswith("2040-01-01T00:00:00")
    assert r.headers["Cache-Control"] == "no-store"


def test_me_in_another_organization(server, admin):
    org = admin.post("/v1/organizations", json={"name": "Elsewhere"}).json()
    tok = admin.post("/v1/tokens", json={"name": "other", "rights": ["tags:write"],
                                         "organization_id": org["id"]}).json()["token"]
    me = requests.get(server.url + "/v1/me", headers={"Authorization": "Bearer " + tok},
                      timeout=10).json()
    assert me["organization"] == {"id": org["id"], "name": "Elsewhere"}
    assert me["workspace"]["id"] == org["default_workspace_id"]
    assert me["installation_admin"] is False


@pytest.mark.parametrize("auth", [None, "Bearer nope", "Basic " + ADMIN_TOKEN])
def test_me_needs_a_token(server, auth):
    h = {"Authorization": auth} if auth else {}
    r = requests.get(server.url + "/v1/me", headers=h, timeout=10)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "unauthorized"


def test_console_routes_are_described(server):
    with open(os.path.join(ROOT, "src", "api", "console.c"), encoding="utf-8") as f:
        src = f.read()
    table = src[src.index("const struct route console_routes[]"):]
    routes = re.findall(r'R\("([A-Z]+)",\s*"([^"]+)"', table[:table.index("};")])
    assert len(routes) == 3  # GET /v1/me is the native API's (api/native/routes.c)
    with open(os.path.join(ROOT, "docs", "openapi.yaml"), encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    for method, pattern in routes:
        op = doc["paths"][pattern][method.lower()]
        assert op["summary"]
        assert op["security"] == ([{"bearer": []}] if pattern.startswith("/v1/") else [])


def test_without_node_the_build_embeds_a_page_that_says_so(tmp_path):
    """tools/console2c.py with a ui/ that has no node_modules (node or npm ci missing): the
    header holds one page saying how to build the console, console.c compiles against it, and
    the depfile names the missing esbuild so that the next build tries again."""
    ui = tmp_path / "ui"
    ui.mkdir()
    out, dep = tmp_path / "console_assets.h", tmp_path / "console_assets.h.d"
    subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "tools", "console2c.py"), str(ui),
                    str(out), str(dep)], check=True)
    text = out.read_text()
    assert '{"index.html", "text/html; charset=utf-8"' in text
    assert "was not built" in text and "npm ci" in text
    assert text.count("console_raw_") == 2  # one asset: its array and its table entry
    assert str(ui / "node_modules" / ".bin" / "esbuild") in dep.read_text()
    cc = shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler")
    flags = subprocess.run(["pkg-config", "--cflags", "jansson"], capture_output=True,
                           text=True).stdout.split()
    subprocess.run([cc, "-std=c17", "-D_GNU_SOURCE", "-Wall", "-Wextra", "-Werror",
                    "-Wno-unused-parameter", "-fsyntax-only", "-I", os.path.join(ROOT, "src"),
                    "-I", str(tmp_path)] + flags + [os.path.join(ROOT, "src", "api", "console.c")],
                   check=True)


def test_docs_show_every_screenshot_they_hold():
    """docs/console.md shows each picture of docs/console/ and names none that is missing;
    each is one the browser tests take (ui/test/console.test.mjs writes them as artifacts
    under the same name), so that the pictures can be refreshed from a run."""
    with open(os.path.join(ROOT, "docs", "console.md"), encoding="utf-8") as f:
        shown = re.findall(r"!\[[^\]]*\]\(console/([^)]+)\)", f.read())
    held = sorted(os.listdir(os.path.join(ROOT, "docs", "console")))
    assert sorted(set(shown)) == held
    with open(os.path.join(ROOT, "ui", "test", "console.test.mjs"), encoding="utf-8") as f:
        taken = {name + ".png" for name in re.findall(r"\bshot\('([^']+)'", f.read())}
    assert set(held) <= taken, set(held) - taken
