"""The documentation stays true: every curl example of docs/api.md runs, in order, against a
fresh server and answers the status written after it (`# → 201`), and the README's native
walk-through succeeds."""
import os
import re
import subprocess

import pytest

from conftest import ADMIN_TOKEN, ROOT, Server


def examples(path):
    """Yields (command, expected status or None) for each curl command of the sh blocks."""
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        text = f.read()
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        cmd = ""
        for line in block.splitlines():
            cmd += line
            if cmd.endswith("\\"):
                cmd = cmd[:-1] + " "
                continue
            m = re.search(r"\s+#\s*→\s*(\d{3})\s*$", cmd)
            expected = int(m.group(1)) if m else None
            cmd = cmd[:m.start()] if m else cmd
            if cmd.strip().startswith("curl"):
                yield cmd.strip(), expected
            cmd = ""


def run(server, cmd):
    cmd = cmd.replace("localhost:8080", "127.0.0.1:%d" % server.port)
    env = dict(os.environ, T=ADMIN_TOKEN, H="Authorization: Bearer " + ADMIN_TOKEN,
               J="Content-Type: application/json")
    out = subprocess.run(["bash", "-c", cmd + " -o /dev/null -w '%{http_code}'"],
                         capture_output=True, text=True, env=env, timeout=30)
    assert out.returncode == 0, (cmd, out.stderr)
    return int(out.stdout.strip()[-3:])


def test_api_md_examples_answer_as_documented():
    cases = list(examples("docs/api.md"))
    assert len(cases) > 30
    assert all(exp is not None for _, exp in cases), [c for c, e in cases if e is None]
    s = Server().start()
    try:
        for cmd, expected in cases:
            assert run(s, cmd) == expected, cmd
    finally:
        s.cleanup()


def test_readme_walk_through():
    cases = list(examples("README.md"))
    assert len(cases) >= 5
    s = Server().start()
    try:
        for cmd, expected in cases:
            status = run(s, cmd)
            assert 200 <= status < 300, (cmd, status)
    finally:
        s.cleanup()
