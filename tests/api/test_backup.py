"""`tagd backup DEST` (issue 24): a consistent copy of the SQLite store taken while tagd serves
and writes go on. The copy holds every write acknowledged up to the revision it reports and
none after it, passes SQLite's checks, and a tagd started on it serves that data."""
import os
import shutil
import subprocess
import tempfile
import threading
import time

import pytest
import requests

from conftest import ADMIN_TOKEN, ROOT, Server

BIN = os.environ.get("TAGD_BIN", os.path.join(ROOT, "build", "tagd"))
SQLITE = pytest.mark.skipif(bool(os.environ.get("TAGD_TEST_STORE")),
                            reason="backs up a SQLite store")


def backup(args, timeout=120):
    env = dict(os.environ)
    env.pop("TAGD_CONFIG", None)
    return subprocess.run([BIN, "backup"] + args, capture_output=True, text=True, env=env,
                          timeout=timeout)


def all_tags(url):
    """Every tag's name (paging with the cursor) and the revision the first page reflects."""
    h = {"Authorization": "Bearer " + ADMIN_TOKEN}
    names, cursor, rev = set(), None, None
    while True:
        params = {"limit": 1000}
        if cursor:
            params["cursor"] = cursor
        r = requests.get(url + "/v1/tags", params=params, headers=h, timeout=30)
        assert r.status_code == 200, r.text
        rev = rev if rev is not None else int(r.headers["X-Tagd-Revision"])
        names |= {t["name"] for t in r.json()["items"]}
        cursor = r.json()["next_cursor"]
        if not cursor:
            return names, rev


@SQLITE
def test_backup_under_write_load_holds_every_write_up_to_its_revision():
    src = Server().start()
    copy = Server(data_dir=tempfile.mkdtemp(prefix="tagd-restore-"))
    acked = []  # (name, revision) of every acknowledged write
    stop = threading.Event()

    def writer():
        s = requests.Session()
        s.headers["Authorization"] = "Bearer " + ADMIN_TOKEN
        i = 0
        while not stop.is_set():
            name = "b%05d" % i
            r = s.post(src.url + "/v1/tags", json={"name": name}, timeout=30)
            assert r.status_code == 201, r.text
            acked.append((name, int(r.headers["X-Tagd-Revision"])))
            i += 1

    try:
        t = threading.Thread(target=writer)
        t.start()
        while len(acked) < 100:
            time.sleep(0.05)
        dest = os.path.join(copy.data, "tagd.db")
        r = backup(["--data", src.data, dest])
        n_at_end = len(acked)
        time.sleep(0.5)  # writes go on after the copy
        stop.set()
        t.join()
        assert r.returncode == 0, r.stderr
        assert "revision" in r.stdout
        rev = int(r.stdout.split("revision ")[1].split(",")[0])
        before = {n for n, v in acked if v <= rev}
        after = {n for n, v in acked if v > rev}
        # The copy was taken while writes went on, not before or after them all.
        assert len(before) >= 100 and after, (rev, len(acked), n_at_end)
        assert not os.path.exists(dest + "-wal")
        assert os.stat(dest).st_mode & 0o077 == 0, oct(os.stat(dest).st_mode)

        # Restoring is starting on the copy.
        copy.start()
        names, served_rev = all_tags(copy.url)
        assert served_rev == rev
        assert before <= names, sorted(before - names)[:10]
        assert not (after & names), sorted(after & names)[:10]
        # The source went on and holds everything.
        names_src, _ = all_tags(src.url)
        assert before | after <= names_src

        # Restoring in place, as docs/operations.md says: stop, put the copy where the store
        # was (its marker still there: the start-up check sees a changed file), start.
        assert src.stop() == 0
        for ext in ("", "-wal", "-shm"):
            path = os.path.join(src.data, "tagd.db" + ext)
            if os.path.exists(path):
                os.rename(path, path + ".old")
        shutil.copy(dest, os.path.join(src.data, "tagd.db"))
        src.start()
        names, served_rev = all_tags(src.url)
        assert served_rev == rev and names == all_tags(copy.url)[0]
        assert "store: quick_check of" in src.read_log()  # the changed file was checked
    finally:
        stop.set()
        src.cleanup()
        copy.cleanup()


@SQLITE
def test_backup_refuses_what_it_cannot_do(server):
    tmp = tempfile.mkdtemp(prefix="tagd-backup-")
    exists = os.path.join(tmp, "exists.db")
    open(exists, "w").write("keep me")
    r = backup(["--data", server.data, exists])
    assert r.returncode == 1 and "exists" in r.stderr
    assert open(exists).read() == "keep me"
    r = backup(["--data", os.path.join(tmp, "nothing-here"), os.path.join(tmp, "x.db")])
    assert r.returncode == 1 and "no store" in r.stderr
    assert not os.path.exists(os.path.join(tmp, "x.db"))
    r = backup(["--data", server.data])
    assert r.returncode == 2 and "usage" in r.stderr
    shutil.rmtree(tmp)


def test_backup_of_postgres_points_to_pg_dump():
    r = backup(["--store", "postgres://nobody@127.0.0.1:1/tagd", "/tmp/never-written.db"])
    assert r.returncode == 1 and "pg_dump" in r.stderr
    assert not os.path.exists("/tmp/never-written.db")
