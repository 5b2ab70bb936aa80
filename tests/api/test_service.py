"""tagd as a service (issue 24): the service manager's notifications (Type=notify), the start
that stops on a port in use before it makes an admin token, config files with quoted values and
trailing comments, and dates that do not exist."""
import os
import signal
import socket
import subprocess
import tempfile
import time

import pytest
import requests

from conftest import ROOT, Server, free_port

BIN = os.environ.get("TAGD_BIN", os.path.join(ROOT, "build", "tagd"))


def datagrams(sock, until, timeout=30):
    """Collects the notification datagrams until one contains `until`."""
    got = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        sock.settimeout(max(0.05, deadline - time.time()))
        try:
            msg = sock.recv(4096).decode()
        except socket.timeout:
            break
        got.append(msg)
        if until in msg:
            return got
    pytest.fail("no %r among %r" % (until, got))


@pytest.mark.parametrize("abstract", [False, True])
def test_notify_ready_after_listening_and_stopping_on_drain(abstract):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    tmp = tempfile.mkdtemp(prefix="tagd-notify-")
    if abstract:
        name = "@tagd-test-notify-%d" % os.getpid()
        sock.bind("\0" + name[1:])
    else:
        name = os.path.join(tmp, "notify.sock")
        sock.bind(name)
    s = Server(env={"NOTIFY_SOCKET": name, "WATCHDOG_USEC": "200000",
                    "WATCHDOG_PID": ""})
    try:
        s.start()
        got = datagrams(sock, "READY=1")
        # STATUS lines while it opens and loads, READY=1 only once it answers.
        assert any("STATUS=opening the store" in m for m in got), got
        assert any("STATUS=loading" in m for m in got), got
        assert "STATUS=ready" in got[-1]
        assert requests.get(s.url + "/healthz", timeout=5).status_code == 200
        # The unit's WatchdogSec: pings at half the interval, 100 ms here.
        assert "WATCHDOG=1" in datagrams(sock, "WATCHDOG=1")[-1]
        assert "WATCHDOG=1" in datagrams(sock, "WATCHDOG=1", timeout=2)[-1]
        s.proc.send_signal(signal.SIGTERM)
        assert "STOPPING=1" in datagrams(sock, "STOPPING=1")[-1]
        assert s.stop() == 0
    finally:
        s.cleanup()
        sock.close()


def test_port_in_use_stops_before_an_admin_token_is_made():
    data = tempfile.mkdtemp(prefix="tagd-port-")
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen(1)
        port = held.getsockname()[1]
        env = dict(os.environ)
        env.pop("TAGD_ADMIN_TOKEN", None)  # a first start would make and print one
        env.pop("TAGD_CONFIG", None)
        r = subprocess.run([BIN, "--data", data, "--listen", "127.0.0.1:%d" % port],
                           capture_output=True, text=True, env=env, timeout=30)
    assert r.returncode != 0
    assert "address already in use" in r.stderr
    assert "admin token" not in r.stderr
    assert not os.path.exists(os.path.join(data, "tagd.db")), "a store (and token) was made"


@pytest.mark.skipif(bool(os.environ.get("TAGD_TEST_STORE")), reason="the data dir's SQLite file")
def test_config_values_may_be_quoted_and_carry_comments():
    tmp = tempfile.mkdtemp(prefix="tagd-conf-")
    conf = os.path.join(tmp, "tagd.conf")
    with open(conf, "w") as f:
        f.write('# a comment line\n'
                'log-format = "json"   # quoted, then a comment\n'
                "log_level = 'info'\n"
                'max-json-depth = 20 # a bare value, then a comment\n'
                'idle-timeout = "5000"\n')
    s = Server(extra_args=["--config", conf])
    try:
        s.start()
        s.stop()
        log = s.read_log()
    finally:
        s.cleanup()
    # json log format took effect: every line the server logged is JSON.
    lines = [l for l in log.splitlines() if l.strip()]
    assert lines and all(l.lstrip().startswith("{") for l in lines), log[-2000:]

    for bad, why in [('log-format = "json\n', "quote"), ("log-format = 'json' x\n", "quote")]:
        with open(conf, "w") as f:
            f.write(bad)
        env = dict(os.environ)
        env.pop("TAGD_CONFIG", None)
        r = subprocess.run([BIN, "--config", conf, "--data", tmp, "--listen",
                            "127.0.0.1:%d" % free_port()], capture_output=True, text=True,
                           env=env, timeout=30)
        assert r.returncode != 0 and why in r.stderr and "tagd.conf:1" in r.stderr, r.stderr


def test_expires_at_that_does_not_exist_is_refused(server):
    h = {"Authorization": "Bearer test-admin-token-0123456789"}
    r = requests.post(server.url + "/v1/tokens", headers=h, timeout=10,
                      json={"name": "t", "rights": ["tags:read"],
                            "expires_at": "2030-02-31T00:00:00Z"})
    assert r.status_code == 400, r.text
    r = requests.post(server.url + "/v1/tokens", headers=h, timeout=10,
                      json={"name": "t", "rights": ["tags:read"],
                            "expires_at": "2030-02-28T00:00:00Z"})
    assert r.status_code == 201, r.text
