"""`meson install` (issue 24): the programs, the man page, the example config, the systemd unit,
the sysusers.d and tmpfiles.d entries; the man page and the example config name every option
`tagd --help` lists, the example config loads as it is and with every default uncommented, and
the unit passes `systemd-analyze verify`."""
import functools
import json
import os
import re
import shutil
import subprocess
import tempfile

import pytest

from conftest import ROOT, Server

BIN = os.environ.get("TAGD_BIN", os.path.join(ROOT, "build", "tagd"))
BUILD = os.path.dirname(os.path.abspath(BIN))


@pytest.fixture(scope="module")
def dest():
    d = tempfile.mkdtemp(prefix="tagd-install-")
    r = subprocess.run(["meson", "install", "-C", BUILD, "--no-rebuild", "--destdir", d,
                        "--quiet"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    yield d
    shutil.rmtree(d, ignore_errors=True)


@functools.lru_cache(maxsize=None)
def prefix():
    out = subprocess.run(["meson", "introspect", "--buildoptions", BUILD], capture_output=True,
                         text=True).stdout
    return re.search(r'"name": "prefix", "value": "([^"]+)"', out).group(1)


def installed(dest, rel):
    return os.path.join(dest, (prefix() + "/" + rel).lstrip("/"))


def help_options():
    out = subprocess.run([BIN, "--help"], capture_output=True, text=True).stdout
    return [m for m in re.findall(r"^  --([a-z-]+)", out, re.M) if m not in ("help", "version")]


def test_every_program_of_the_build_is_installed(dest):
    out = subprocess.run(["meson", "introspect", "--targets", BUILD], capture_output=True,
                         text=True, timeout=60).stdout
    programs = [t for t in json.loads(out) if t["type"] == "executable" and t["installed"]]
    assert "tagd" in [t["name"] for t in programs]
    for t in programs:
        for path in t["install_filename"]:
            f = os.path.join(dest, path.lstrip("/"))
            assert os.path.isfile(f) and os.access(f, os.X_OK), f


def test_files_are_installed(dest):
    for rel in ["bin/tagd", "share/man/man8/tagd.8", "etc/tagd/tagd.conf",
                "lib/systemd/system/tagd.service", "lib/sysusers.d/tagd.conf",
                "lib/tmpfiles.d/tagd.conf"]:
        assert os.path.isfile(installed(dest, rel)), rel
    assert os.access(installed(dest, "bin/tagd"), os.X_OK)
    unit = open(installed(dest, "lib/systemd/system/tagd.service")).read()
    assert "Type=notify" in unit and "StateDirectory=tagd" in unit and "User=tagd" in unit
    assert "@" not in re.search(r"^ExecStart=(.*)$", unit, re.M).group(1)
    # Every place the unit points to is the man page or exists once installed.
    for doc in re.search(r"^Documentation=(.*)$", unit, re.M).group(1).split():
        assert doc.startswith("man:") or os.path.exists(
            os.path.join(dest, doc[len("file://"):].lstrip("/"))), doc
    assert re.search(r"^u tagd ", open(installed(dest, "lib/sysusers.d/tagd.conf")).read(), re.M)


def test_man_page_and_example_config_name_every_option(dest):
    man = open(installed(dest, "share/man/man8/tagd.8")).read().replace("\\-", "-")
    conf = open(installed(dest, "etc/tagd/tagd.conf")).read()
    for name in help_options():
        assert "--" + name in man, name
        if name != "config":
            assert re.search(r"^#?%s =" % re.escape(name), conf, re.M), name


@pytest.mark.skipif(bool(os.environ.get("TAGD_TEST_STORE")), reason="the config names a SQLite dir")
@pytest.mark.parametrize("uncomment", [False, True])
def test_example_config_loads(dest, uncomment):
    conf = open(installed(dest, "etc/tagd/tagd.conf")).read()
    if uncomment:  # every default as written must be a value tagd accepts
        conf = re.sub(r"^#([a-z-]+ =)", r"\1", conf, flags=re.M)
    # The test's data dir and port (flags win over the file); no store line pointing at /var.
    conf = re.sub(r"^(store|data|listen) =.*$", "", conf, flags=re.M)
    path = os.path.join(tempfile.mkdtemp(prefix="tagd-conf-"), "tagd.conf")
    with open(path, "w") as f:
        f.write(conf)
    s = Server(extra_args=["--config", path])
    try:
        s.start()
        assert s.stop() == 0
    finally:
        s.cleanup()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_unit_verifies(dest):
    unit = open(installed(dest, "lib/systemd/system/tagd.service")).read()
    # The unit names the installed path; here the binary sits below DESTDIR.
    unit = re.sub(r"^ExecStart=(\S+)", lambda m: "ExecStart=" + os.path.join(
        dest, m.group(1).lstrip("/")), unit, flags=re.M)
    path = os.path.join(tempfile.mkdtemp(prefix="tagd-unit-"), "tagd.service")
    with open(path, "w") as f:
        f.write(unit)
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", path], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0 and r.stderr.strip() == "", r.stderr
