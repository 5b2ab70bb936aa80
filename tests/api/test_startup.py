"""Start-up checks of a SQLite store (issue 18, docs/operations.md "Start-up checks").

A store that existed (its marker tagd.db.state says so) and is now empty, missing or damaged
stops tagd at start with a clear message on stderr and a non-zero exit, unless --reinit-store 1
starts it over (keeping the old file aside). A new data directory and a healthy store start as
before; quick_check runs only after a session that did not close the store, or when the file
changed behind tagd's back."""
import glob
import os
import shlex
import shutil
import signal
import sqlite3
import subprocess
import tempfile

import pytest

from conftest import ADMIN_TOKEN, ROOT, Api, Server, free_port

pytestmark = pytest.mark.skipif(bool(os.environ.get("TAGD_TEST_STORE")),
                                reason="start-up checks of a SQLite file")

BIN = os.environ.get("TAGD_BIN", os.path.join(ROOT, "build", "tagd"))


def run_tagd(args, timeout=20):
    """Runs tagd expecting it to stop by itself (a refused start); a tagd that serves instead
    is killed at the timeout and fails the test."""
    env = dict(os.environ)
    env.pop("TAGD_CONFIG", None)
    env["TAGD_ADMIN_TOKEN"] = ADMIN_TOKEN
    wrap = shlex.split(os.environ.get("TAGD_WRAP", ""))
    try:
        return subprocess.run(wrap + [BIN] + args, capture_output=True, text=True, env=env,
                              timeout=timeout)
    except subprocess.TimeoutExpired as e:
        pytest.fail("tagd did not stop by itself: it served instead\n%s" % (e.stderr or b"")[-2000:])


def refused(data, *extra):
    for _ in range(5):
        r = run_tagd(["--data", data, "--listen", "127.0.0.1:%d" % free_port()] + list(extra))
        # Under valgrind the port picked can go to a parallel test before tagd binds it;
        # that is a race of the suite, not the refusal under test, so pick another.
        if "address already in use" not in r.stderr:
            break
    assert r.returncode == 1, r.stderr  # not a crash, nor a sanitizer's exit status
    assert "Sanitizer" not in r.stderr and "runtime error" not in r.stderr, r.stderr
    assert "refusing to start" in r.stderr and "--reinit-store 1" in r.stderr, r.stderr
    return r.stderr


def store_with_a_tag(name="Kept.tag"):
    """A data directory whose store holds one tag, closed cleanly (SIGTERM)."""
    s = Server().start()
    assert Api(s, ADMIN_TOKEN).post("/v1/tags", json={"name": name}).status_code == 201
    assert s.stop() == 0
    s.owns_data = False  # the test goes on with the directory
    return s


def cleanup(*servers):
    for s in servers:
        s.cleanup()
        shutil.rmtree(s.data, ignore_errors=True)


def test_new_data_dir_starts_and_gets_its_marker():
    s = Server().start()
    try:
        assert Api(s, ADMIN_TOKEN).get("/v1/tags").status_code == 200
        with open(os.path.join(s.data, "tagd.db.state")) as f:
            assert f.read().startswith("created "), "the marker says a store was made"
        assert "quick_check" not in s.read_log()
    finally:
        s.cleanup()


def test_truncated_store_refuses_to_start():
    s = store_with_a_tag()
    try:
        db = os.path.join(s.data, "tagd.db")
        os.truncate(db, 0)
        err = refused(s.data)
        assert "tagd.db is empty (0 bytes)" in err and "tagd.db.state" in err, err
        # Nothing was written: the file is still empty for whoever restores it.
        assert os.path.getsize(db) == 0
        # A deleted file is refused the same way.
        os.unlink(db)
        assert "is missing" in refused(s.data)
        assert not os.path.exists(db)
    finally:
        cleanup(s)


def test_reinit_store_starts_fresh_and_keeps_the_old_file():
    s = store_with_a_tag()
    try:
        db = os.path.join(s.data, "tagd.db")
        os.truncate(db, 0)
        refused(s.data)
        s.extra_args = ["--reinit-store", "1"]
        s.start()
        a = Api(s, ADMIN_TOKEN)
        assert a.get("/v1/tags/Kept.tag").status_code == 404  # a new, empty store
        assert a.post("/v1/tags", json={"name": "New.tag"}).status_code == 201
        kept = sorted(glob.glob(db + ".damaged-*"))
        # The emptied file and the WAL beside it, which may hold the last commits.
        assert len(kept) == 2 and kept[1] == kept[0] + "-wal", kept
        assert os.path.getsize(kept[0]) == 0
        assert "starting over with an empty store" in s.read_log()
        assert s.stop() == 0
        # The new store is the one the marker speaks of now: a plain restart keeps it.
        s.extra_args = []
        s.start()
        assert Api(s, ADMIN_TOKEN).get("/v1/tags/New.tag").status_code == 200
    finally:
        cleanup(s)


def corrupt_a_page(db, table="tags"):
    """Copies the WAL into the file (as tagd's last reader leaves it behind), then overwrites
    the root page of `table`, in the middle of the file, with garbage."""
    con = sqlite3.connect(db)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    root, = con.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()
    page, = con.execute("PRAGMA page_size").fetchone()
    con.close()
    assert 1 < root < os.path.getsize(db) // page
    with open(db, "r+b") as f:
        f.seek((root - 1) * page + 16)
        f.write(b"\xa5" * (page - 32))


def test_damaged_store_refuses_to_start():
    s = store_with_a_tag()
    try:
        corrupt_a_page(os.path.join(s.data, "tagd.db"))
        err = refused(s.data)
        assert "tagd.db is damaged: quick_check" in err, err
        # Told to, tagd starts over and keeps the damaged file (and its WAL) for inspection.
        s.extra_args = ["--reinit-store", "1"]
        s.start()
        assert Api(s, ADMIN_TOKEN).get("/v1/tags/Kept.tag").status_code == 404
        kept = glob.glob(os.path.join(s.data, "tagd.db.damaged-*"))
        assert len([k for k in kept if not k.endswith("-wal")]) == 1, kept
    finally:
        cleanup(s)


def test_restart_of_a_healthy_store_checks_only_after_a_crash():
    s = store_with_a_tag()
    try:
        # Closed cleanly and unchanged: no quick_check, the data is there.
        s.start()
        a = Api(s, ADMIN_TOKEN)
        assert a.get("/v1/tags/Kept.tag").status_code == 200
        assert "quick_check" not in s.read_log()
        assert a.post("/v1/tags", json={"name": "Before.kill"}).status_code == 201
        # A session that did not close the store: quick_check, which passes, and it serves.
        s.stop(sig=signal.SIGKILL)
        s.start()
        a = Api(s, ADMIN_TOKEN)
        assert "quick_check of %s/tagd.db: ok" % s.data in s.read_log(), s.read_log()[-2000:]
        assert a.get("/v1/tags/Before.kill").status_code == 200
        assert s.stop() == 0
        # --store-check full runs integrity_check at every start.
        s.extra_args = ["--store-check", "full"]
        s.start()
        assert "integrity_check of %s/tagd.db: ok" % s.data in s.read_log()
        assert s.stop() == 0
        # A store of a tagd from before the marker gets one at its first start.
        os.unlink(os.path.join(s.data, "tagd.db.state"))
        s.extra_args = []
        s.start()
        assert Api(s, ADMIN_TOKEN).get("/v1/tags/Kept.tag").status_code == 200
        assert os.path.exists(os.path.join(s.data, "tagd.db.state"))
    finally:
        cleanup(s)


def test_bad_store_check_value_is_refused():
    r = run_tagd(["--data", tempfile.mkdtemp(prefix="tagd-test-"), "--store-check", "sometimes"])
    assert r.returncode != 0 and "store-check must be auto, quick or full" in r.stderr, r.stderr


def test_migrate_refuses_an_empty_or_damaged_source():
    s = store_with_a_tag()
    try:
        db = os.path.join(s.data, "tagd.db")
        out = os.path.join(s.data, "copy.db")
        corrupt_a_page(db)
        r = run_tagd(["migrate", "--from", "sqlite:" + db, "--to", "sqlite:" + out])
        assert r.returncode == 1 and "tagd.db is damaged: quick_check" in r.stderr, r.stderr
        assert "Sanitizer" not in r.stderr, r.stderr
        assert "nothing was copied" in r.stderr
        os.truncate(db, 0)
        r = run_tagd(["migrate", "--from", "sqlite:" + db, "--to", "sqlite:" + out])
        assert r.returncode == 1 and "tagd.db is empty (0 bytes)" in r.stderr, r.stderr
        # A source that never held a store (a typo in the path) copies nothing either.
        r = run_tagd(["migrate", "--from", "sqlite:" + db + ".typo", "--to", "sqlite:" + out])
        assert r.returncode == 1 and "no store in" in r.stderr, r.stderr
        assert not os.path.exists(db + ".typo")
    finally:
        cleanup(s)
