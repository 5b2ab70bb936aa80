"""SIGHUP reads --config again: what it may change takes effect at once and is logged, what
needs a restart is named as such, and a bad file is refused with its reason while the running
settings stay (docs/operations.md, "Reloading the configuration")."""
import os
import signal
import time

import requests

from conftest import ADMIN_TOKEN, Server


def write(path, text):
    with open(path + ".new", "w") as f:
        f.write(text)
    os.replace(path + ".new", path)


def hup_and_wait(s, marker, seen):
    """Sends SIGHUP and waits for a log line holding `marker` after the `seen` first bytes."""
    s.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 10
    while time.time() < deadline:
        log = s.read_log()[seen:]
        if marker in log:
            return log
        time.sleep(0.05)
    raise AssertionError("no %r after SIGHUP:\n%s" % (marker, s.read_log()[-3000:]))


def burst(s, n):
    h = {"Authorization": "Bearer " + ADMIN_TOKEN}
    return [requests.get(s.url + "/v1/tags", headers=h, timeout=10).status_code
            for _ in range(n)]


def test_reload_1_applies_logs_and_refuses(tmp_path):
    conf = str(tmp_path / "tagd.conf")
    write(conf, "rate-limit = 0\nlog-level = info\n")
    s = Server(extra_args=["--config", conf]).start()
    try:
        assert 429 not in burst(s, 6)
        # reload-1.1: rate limit and CORS apply without a restart; threads needs one.
        seen = len(s.read_log())
        write(conf, "rate-limit = 1\nrate-burst = 2\n"
                    "cors-origin = https://app.example.com\nthreads = 2\n")
        log = hup_and_wait(s, "setting", seen)
        assert s.proc.poll() is None, "SIGHUP ended the process"
        assert "rate-limit changed from 0 to 1" in log, log
        assert "cors-origin changed from '' to 'https://app.example.com'" in log, log
        assert "threads changed from 1 to 2, which takes effect at the next start" in log, log
        assert 429 in burst(s, 6)
        r = requests.get(s.url + "/healthz", headers={"Origin": "https://app.example.com"})
        assert r.headers.get("access-control-allow-origin") == "https://app.example.com"

        # reload-1.2: a bad file is refused with its reason; the limit stays in force.
        seen = len(s.read_log())
        write(conf, "rate-limit = lots\n")
        log = hup_and_wait(s, "reload refused", seen)
        assert "rate-limit must be an integer" in log, log
        assert s.proc.poll() is None
        assert 429 in burst(s, 6)

        # reload-1.3: bad sources are refused as a whole too.
        seen = len(s.read_log())
        write(conf, "rate-limit = 0\nsources = nonsense\n")
        log = hup_and_wait(s, "reload refused", seen)
        assert "sources" in log, log
        assert 429 in burst(s, 6)

        # reload-1.4: the log level and format change; warn hides the access lines.
        seen = len(s.read_log())
        write(conf, "rate-limit = 0\nlog-level = warn\nlog-format = json\n")
        s.proc.send_signal(signal.SIGHUP)  # at warn, the report itself is not shown
        deadline = time.time() + 10
        while 429 in burst(s, 4) and time.time() < deadline:
            time.sleep(0.2)
        seen = len(s.read_log())
        assert 429 not in burst(s, 4)
        time.sleep(0.2)
        assert " access " not in s.read_log()[seen:] and '"access"' not in s.read_log()[seen:]
        seen = len(s.read_log())
        write(conf, "rate-limit = 0\nlog-level = info\nlog-format = json\n")
        log = hup_and_wait(s, "setting", seen)
        lines = log.strip().splitlines()
        assert lines and all(l.startswith("{") for l in lines), log
        assert any("log-level changed from 'warn' to 'info'" in l for l in lines), log
    finally:
        s.cleanup()
