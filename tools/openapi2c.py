#!/usr/bin/python3
"""Turns docs/openapi.yaml into a C header holding the same document as compact JSON.

Run by the build, so /openapi.json always serves what docs/openapi.yaml says."""
import json
import sys

import yaml


def main():
    src, dst = sys.argv[1], sys.argv[2]
    with open(src, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
    with open(dst, "w", encoding="utf-8") as f:
        f.write("/* Generated from docs/openapi.yaml by tools/openapi2c.py; do not edit. */\n")
        f.write("#ifndef TAGD_OPENAPI_JSON_H\n#define TAGD_OPENAPI_JSON_H\n")
        f.write("static const char tagd_openapi_json[] =\n")
        data = text.encode("utf-8")
        for i in range(0, len(data), 100):
            out = []
            for b in data[i:i + 100]:
                c = chr(b)
                if c in '"\\':
                    out.append("\\" + c)
                elif 32 <= b < 127 and c != "?":
                    out.append(c)
                else:
                    out.append("\\%03o" % b)
            f.write('    "' + "".join(out) + '"\n')
        f.write("    ;\n#endif\n")


if __name__ == "__main__":
    main()
