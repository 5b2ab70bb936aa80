"""The curl examples of the docs send what tagd accepts (issue 24): every example that sends a
JSON body says so with Content-Type, since tagd answers a body without one with 415."""
import glob
import os
import re

from conftest import ROOT


def curl_commands(path):
    """Each curl command of the fenced code blocks, continuation lines joined."""
    cmds, block, fenced = [], [], False
    for line in open(path, encoding="utf-8"):
        if line.lstrip().startswith("```"):
            if fenced:
                text = re.sub(r"\\\n\s*", " ", "".join(block))
                cmds += [c for c in text.split("\n") if re.match(r"\s*(\$ )?curl\b", c)]
                block = []
            fenced = not fenced
        elif fenced:
            block.append(line)
    return cmds


def test_json_examples_send_a_content_type():
    bad = []
    for path in sorted(glob.glob(os.path.join(ROOT, "docs", "**", "*.md"), recursive=True)):
        # A shell variable the page sets to the header (J="Content-Type: application/json").
        names = re.findall(r"""(?:^|; *)(\w+)=['"]Content-Type:""", open(path).read(), re.M | re.I)
        for cmd in curl_commands(path):
            sends_json = re.search(r"""\s(-d|--data|--data-raw)\s+['"]?\s*[\[{]""", cmd)
            named = any('"$%s"' % n in cmd for n in names)
            if sends_json and not re.search(r"content-type", cmd, re.I) and not named:
                bad.append("%s: %s" % (os.path.relpath(path, ROOT), cmd.strip()[:120]))
    assert not bad, "\n".join(bad)
