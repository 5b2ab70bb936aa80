"""Start-up progress (docs/operations.md, "Progress at start"): while the engine loads, the port
answers 503 (Retry-After: 1) on /readyz and every path, the log says how far the load is, and
`tagd migrate` shows its progress."""
import os
import sqlite3
import subprocess
import time

import pytest
import requests

from conftest import ADMIN_TOKEN, Server, free_port

N = 400000


def big_store(data):
    """A store with one tag on N resources, written behind tagd's back (quicker than the API)."""
    s = Server(data_dir=data).start()
    h = {"Authorization": "Bearer " + ADMIN_TOKEN}
    r = requests.post(s.url + "/v1/tags", json={"name": "big"}, headers=h, timeout=10)
    assert r.status_code == 201, r.text
    tag = r.json()["id"]
    assert s.stop() == 0
    db = sqlite3.connect(os.path.join(data, "tagd.db"))
    ws = db.execute("SELECT ws_id FROM tags WHERE id = ?", (tag,)).fetchone()[0]
    db.executemany("INSERT INTO resources(id, ws_id, kind, key, created_at, updated_at)"
                   " VALUES(?, ?, 'file', ?, 1, 1)",
                   ((i, ws, "f%d" % i) for i in range(1, N + 1)))
    db.executemany("INSERT INTO assignments(resource_id, tag_id, added_at, valid_from)"
                   " VALUES(?, ?, 1, 1)", ((i, tag) for i in range(1, N + 1)))
    db.commit()
    db.close()


# Decided from the environment alone: asking pg_store_for() here would create a database while
# every xdist worker collects, and the workers race on its name.
@pytest.mark.skipif(bool(os.environ.get("TAGD_TEST_STORE")), reason="writes the SQLite file")
def test_progress_1_readyz_and_lines(tmp_path):
    data = str(tmp_path)
    big_store(data)
    port = free_port()
    log_path = os.path.join(data, "p.log")
    env = dict(os.environ, TAGD_ADMIN_TOKEN=ADMIN_TOKEN)
    with open(log_path, "wb") as log:
        p = subprocess.Popen([os.environ.get("TAGD_BIN", "build/tagd"), "--data", data,
                              "--listen", "127.0.0.1:%d" % port], stdout=log, stderr=log,
                             env=env)
    try:
        seen = []
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                r = requests.get("http://127.0.0.1:%d/readyz" % port, timeout=2)
            except requests.RequestException:
                time.sleep(0.01)
                continue
            seen.append(r.status_code)
            if r.status_code == 503:
                assert r.headers["retry-after"] == "1"
                assert r.json()["status"] == "loading"
            if r.status_code == 200:
                break
            time.sleep(0.01)
        # progress-1.1: the port answered "not yet" before it answered ready.
        assert seen[0] == 503 and seen[-1] == 200, seen
        text = open(log_path).read()
        # progress-1.2: lines with the share, the rate and the time left, then the total.
        assert "loading: " in text and "rows (" in text and "/s" in text, text
        assert " s left" in text, text
        assert "engine loaded: %d rows done, %d resources, %d assignments in" % (2 * N, N, N) \
            in text, text
    finally:
        p.terminate()
        assert p.wait(timeout=30) == 0


def test_progress_2_migrate_lines(tmp_path):
    src = str(tmp_path / "a")
    os.mkdir(src)
    s = Server(data_dir=src, extra_args=["--store", "sqlite:%s/tagd.db" % src]).start()
    requests.post(s.url + "/v1/tags", json={"name": "x"},
                  headers={"Authorization": "Bearer " + ADMIN_TOKEN}, timeout=10)
    assert s.stop() == 0
    out = subprocess.run([os.environ.get("TAGD_BIN", "build/tagd"), "migrate",
                          "--from", "sqlite:%s/tagd.db" % src,
                          "--to", "sqlite:%s/b.db" % tmp_path],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    # Not a terminal: plain lines, no bar, on stderr; stdout keeps its per-table report.
    assert "copying: " in out.stderr and " rows done" in out.stderr, out.stderr
    assert "\r" not in out.stderr and "[#" not in out.stderr
    assert "every table's row count matches" in out.stdout
