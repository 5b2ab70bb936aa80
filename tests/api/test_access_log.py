"""The access log names the client's address and the principal; with --log-format json every
line is JSON, the first start's admin token line included (docs/operations.md, "Logs")."""
import json
import os
import time

import requests

from conftest import ADMIN_TOKEN, Api, Server


def wait_for(pred, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


def test_access_log_1_text_client_and_principal(server, admin):
    admin.get("/v1/tags", headers={"X-Request-Id": "who-probe-1"})
    requests.get(server.url + "/v1/tags", headers={"X-Request-Id": "who-probe-2"})
    assert wait_for(lambda: "who-probe-2" in server.read_log())
    lines = server.read_log().splitlines()
    one = [l for l in lines if "who-probe-1" in l][-1].split()
    two = [l for l in lines if "who-probe-2" in l][-1].split()
    # ... access GET /v1/tags 200 BYTES USus ID CLIENT PRINCIPAL
    assert one[-3:-2] == ["who-probe-1"] and one[-2] == "127.0.0.1" and one[-1] != "-", one
    assert two[-2:] == ["127.0.0.1", "-"], two  # no credentials: no principal


def test_access_log_2_json_first_start():
    s = Server(extra_args=["--log-format", "json"])
    s.env_extra = {"TAGD_ADMIN_TOKEN": ""}  # a first start makes a token and shows it
    s.start()
    try:
        log = s.read_log()
        recs = [json.loads(l) for l in log.splitlines() if l.strip()]  # every line is JSON
        tok = [r for r in recs if "admin_token" in r]
        assert len(tok) == 1 and tok[0]["admin_token"].startswith("tgd_"), recs
        a = Api(s, tok[0]["admin_token"])
        assert a.get("/v1/tags", headers={"X-Request-Id": "json-who"}).status_code == 200
        assert wait_for(lambda: "json-who" in s.read_log())
        recs = [json.loads(l) for l in s.read_log().splitlines() if l.strip()]
        acc = [r for r in recs if r.get("request_id") == "json-who"][-1]
        assert acc["client"] == "127.0.0.1" and acc["principal"], acc
    finally:
        s.cleanup()
