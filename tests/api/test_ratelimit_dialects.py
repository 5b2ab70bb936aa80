"""The per-token rate limit applies to every dialect, each answering 429 in its own format."""
import time

import pytest
import requests

import aitronos_types
import oracle_types
from conftest import ADMIN_TOKEN, Server
from doc_types import check_every_answer


@pytest.fixture(autouse=True)
def documented_types(monkeypatch):
    """The 429s of Oracle and Aitronos must have their products' documented types too."""
    def check(r):
        path = requests.utils.urlparse(r.request.url).path
        oracle_types.check_answer(r.request.method, path, r.status_code,
                                  r.headers.get("Content-Type"), r.content)
        aitronos_types.check_answer(r.request.method, path, r.status_code, r.headers,
                                    r.content, r.request.headers)

    check_every_answer(monkeypatch, check)


@pytest.fixture(scope="module")
def limited():
    s = Server(extra_args=["--rate-limit", "1", "--rate-burst", "3"]).start()
    yield s
    s.cleanup()


def _admin(s, method, path, **kw):
    # The admin token has a bucket too: wait for a token when setup outruns it.
    for _ in range(10):
        r = requests.request(method, s.url + path, headers={"Authorization": "Bearer " + ADMIN_TOKEN},
                             timeout=10, **kw)
        if r.status_code != 429:
            return r
        time.sleep(float(r.headers.get("Retry-After", "1")))
    raise AssertionError("admin token stayed rate limited")


def _exhaust(call):
    statuses = [call().status_code for _ in range(4)]
    assert statuses[:3] != [429, 429, 429]
    last = call()
    assert last.status_code == 429, statuses
    assert int(last.headers["Retry-After"]) >= 1
    return last


def test_easydb(limited):
    assert _admin(limited, "POST", "/v1/users", json={"login": "rl", "password": "rate-limit-pw",
                                                       "rights": ["tags:read"]}).status_code == 201
    tok = requests.get(limited.url + "/api/v1/session").json()["token"]
    r = requests.post(limited.url + "/api/v1/session/authenticate",
                      params={"token": tok, "login": "rl", "password": "rate-limit-pw", "method": "easydb"})
    assert r.status_code == 200, r.text
    last = _exhaust(lambda: requests.get(limited.url + "/api/v1/tags", params={"token": tok}))
    body = last.json()
    assert "code" in body and "realm" in body


def test_aitronos(limited):
    tok = _admin(limited, "POST", "/v1/tokens", json={"name": "ai", "rights": ["tags:read"]}).json()["token"]
    org = _admin(limited, "GET", "/v1/organizations").json()["items"][0]["id"]
    url = limited.url + "/v1/organizations/%s/knowledge/connectors/tags" % org
    last = _exhaust(lambda: requests.get(url, headers={"Authorization": "Bearer " + tok}))
    body = last.json()
    assert body["success"] is False and body["error"]["status"] == 429


def test_oracle(limited):
    tok = _admin(limited, "POST", "/v1/tokens", json={"name": "ora", "rights": ["tags:read", "tags:assign"]}).json()["token"]
    assert _admin(limited, "PUT", "/v1/resources/file/F1", json={}).status_code in (200, 201)
    url = limited.url + "/documents/api/1.1/files/F1/tags"
    last = _exhaust(lambda: requests.get(url, headers={"Authorization": "Bearer " + tok}))
    assert "errorCode" in last.json()


def test_immuta(limited):
    tok = _admin(limited, "POST", "/v1/tokens", json={"name": "im", "rights": ["tags:read"]}).json()["token"]
    last = _exhaust(lambda: requests.get(limited.url + "/tag", headers={"Authorization": "Bearer " + tok}))
    body = last.json()
    assert body["statusCode"] == 429 and "error" in body


def test_native_side_routes(limited):
    """The query, sources and links routes share the native authentication, limit included."""
    tok = _admin(limited, "POST", "/v1/tokens", json={"name": "q", "rights": ["tags:read"]}).json()["token"]
    _exhaust(lambda: requests.post(limited.url + "/v1/query", json={"query": "kind:file"},
                                   headers={"Authorization": "Bearer " + tok}))
    adm = _admin(limited, "POST", "/v1/tokens", json={"name": "adm", "rights": ["admin"]}).json()["token"]
    _exhaust(lambda: requests.get(limited.url + "/v1/sources", headers={"Authorization": "Bearer " + adm}))
    time.sleep(3.2)
    _exhaust(lambda: requests.get(limited.url + "/v1/applinks", headers={"Authorization": "Bearer " + adm}))
