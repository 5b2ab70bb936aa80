"""`tagd restore BACKUP` (docs/operations.md, "Backups"): checks a copy made by `tagd backup`
and puts it in place of a stopped tagd's SQLite store, keeping the store it replaces."""
import glob
import os
import subprocess

import pytest
import requests

from conftest import ADMIN_TOKEN, ROOT, Server

BIN = os.environ.get("TAGD_BIN", os.path.join(ROOT, "build", "tagd"))
H = {"Authorization": "Bearer " + ADMIN_TOKEN}


def tagd(*args):
    env = dict(os.environ)
    env.pop("TAGD_CONFIG", None)
    return subprocess.run([BIN] + list(args), capture_output=True, text=True, env=env,
                          timeout=120)


@pytest.mark.skipif(bool(os.environ.get("TAGD_TEST_STORE")), reason="restores a SQLite store")
def test_restore_1_checks_and_puts_in_place(tmp_path):
    data = str(tmp_path / "data")
    os.mkdir(data)
    store = "sqlite:%s/tagd.db" % data
    copy = str(tmp_path / "copy.db")
    s = Server(data_dir=data, extra_args=["--store", store]).start()
    try:
        assert requests.post(s.url + "/v1/tags", json={"name": "Before"}, headers=H).status_code == 201
        out = tagd("backup", "--store", store, copy)
        assert out.returncode == 0, out.stderr
        assert requests.post(s.url + "/v1/tags", json={"name": "After"}, headers=H).status_code == 201
        # restore-1.1: not while a tagd serves the store.
        out = tagd("restore", "--store", store, copy)
        assert out.returncode == 1 and "stop it first" in out.stderr, out.stderr
        assert s.stop() == 0
        # restore-1.2: a file that is no store is refused and nothing moves.
        junk = str(tmp_path / "junk.db")
        with open(junk, "wb") as f:
            f.write(b"not a database" * 100)
        out = tagd("restore", "--store", store, junk)
        assert out.returncode == 1, out.stdout
        assert not glob.glob(data + "/tagd.db.before-restore-*")
        # restore-1.3: the copy goes in place; the replaced store is kept aside.
        out = tagd("restore", "--store", store, copy)
        assert out.returncode == 0, out.stderr
        assert "restored" in out.stdout and "before-restore-" in out.stdout, out.stdout
        assert len(glob.glob(data + "/tagd.db.before-restore-*")) >= 1
        assert not os.path.exists(data + "/tagd.db.restoring")
        s.start()
        names = {t["name"] for t in requests.get(s.url + "/v1/tags", headers=H).json()["items"]}
        assert "Before" in names and "After" not in names, names
    finally:
        s.cleanup()
