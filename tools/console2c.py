#!/usr/bin/python3
"""Bundles the web console (ui/) with esbuild and writes it as a C header of embedded assets.

Run by the build (meson.build, target console_assets.h): argv is the ui directory, the header
to write and the depfile to write. Each asset is kept twice, as it is and gzipped (level 9,
no time stamp, so that builds are reproducible), with a strong ETag made of its content hash;
the bundle's own files carry that hash in their names, so they may be cached for a year, and
index.html, which names them, is never cached (src/api/console.c).

When ui/node_modules holds no esbuild (node or `npm ci` missing), the header holds a one-page
console that says how to build the real one, so that the server still builds; the depfile
then names the missing esbuild, which makes ninja try again at every build until it is there.
"""
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".woff2": "font/woff2",
    ".png": "image/png",
}

STUB = """<!doctype html><html lang="en"><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>tagd console</title>
<main><h1>The tagd console was not built</h1>
<p>This tagd was built without node and the console's npm packages. Install them and build
again: <code>scripts/install-deps &amp;&amp; (cd ui &amp;&amp; npm ci) &amp;&amp; ninja -C build</code>
(docs/console.md). The API under <code>/v1</code> works as usual.</p></main></html>
"""


def c_string(data):
    out = []
    for i in range(0, len(data), 120):
        part = []
        for b in data[i:i + 120]:
            c = chr(b)
            if c in '"\\':
                part.append("\\" + c)
            elif 32 <= b < 127 and c != "?":
                part.append(c)
            else:
                part.append("\\%03o" % b)
        out.append('    "' + "".join(part) + '"')
    return "\n".join(out) if out else '    ""'


def bundle(ui, outdir):
    """esbuild's bundle of ui/src/main.tsx into outdir; returns the inputs it read."""
    esbuild = os.path.join(ui, "node_modules", ".bin", "esbuild")
    meta = os.path.join(outdir, "meta.json")
    subprocess.run([esbuild, os.path.join(ui, "src", "main.tsx"), "--bundle", "--minify",
                    "--format=esm", "--target=es2020", "--jsx=automatic",
                    "--jsx-import-source=preact", "--entry-names=[name]-[hash]",
                    "--asset-names=[name]-[hash]", "--legal-comments=none",
                    "--outdir=" + os.path.join(outdir, "dist"), "--metafile=" + meta,
                    "--log-level=warning"], check=True)
    with open(meta, encoding="utf-8") as f:
        inputs = list(json.load(f)["inputs"].keys())
    # esbuild names inputs relative to its working directory (the build directory).
    return [os.path.abspath(p) for p in inputs]


def main():
    ui, out_h, depfile = sys.argv[1], sys.argv[2], sys.argv[3]
    ui = os.path.abspath(ui)
    assets = []  # (url name, bytes, immutable)
    deps = [os.path.abspath(__file__)]
    esbuild = os.path.join(ui, "node_modules", ".bin", "esbuild")
    built = os.path.exists(esbuild) and shutil.which("node") is not None
    if built:
        tmp = tempfile.mkdtemp(prefix="tagd-console.")
        try:
            deps += bundle(ui, tmp)
            dist = os.path.join(tmp, "dist")
            names = sorted(os.listdir(dist))
            js = [n for n in names if n.startswith("main-") and n.endswith(".js")]
            css = [n for n in names if n.startswith("main-") and n.endswith(".css")]
            for n in names:
                with open(os.path.join(dist, n), "rb") as f:
                    assets.append((n, f.read(), True))
        finally:
            shutil.rmtree(tmp)
        index = os.path.join(ui, "index.html")
        deps += [index, os.path.join(ui, "package-lock.json")]
        with open(index, encoding="utf-8") as f:
            html = f.read()
        html = html.replace("{{js}}", js[0]).replace("{{css}}", css[0] if css else "")
        assets.append(("index.html", html.encode("utf-8"), False))
    else:
        deps.append(esbuild)
        assets.append(("index.html", STUB.encode("utf-8"), False))

    with open(out_h + ".tmp", "w", encoding="utf-8") as f:
        f.write("/* Generated from ui/ by tools/console2c.py; do not edit. */\n")
        f.write("#ifndef TAGD_CONSOLE_ASSETS_H\n#define TAGD_CONSOLE_ASSETS_H\n\n")
        for i, (name, data, _) in enumerate(assets):
            gz = gzip.compress(data, 9, mtime=0)
            f.write("static const char console_raw_%d[] =\n%s;\n" % (i, c_string(data)))
            f.write("static const char console_gz_%d[] =\n%s;\n" % (i, c_string(gz)))
        f.write("\nstatic const struct console_asset console_assets[] = {\n")
        for i, (name, data, immutable) in enumerate(assets):
            ext = os.path.splitext(name)[1]
            etag = hashlib.sha256(data).hexdigest()[:20]
            gz_len = len(gzip.compress(data, 9, mtime=0))
            f.write('    {"%s", "%s", "\\"%s\\"", "\\"%s-gz\\"", console_raw_%d, %d, '
                    'console_gz_%d, %d, %s},\n'
                    % (name, TYPES.get(ext, "application/octet-stream"), etag, etag, i,
                       len(data), i, gz_len, "true" if immutable else "false"))
        f.write("};\n\n#endif\n")
    os.replace(out_h + ".tmp", out_h)
    with open(depfile, "w", encoding="utf-8") as f:
        f.write(out_h.replace(" ", "\\ ") + ": " +
                " ".join(d.replace(" ", "\\ ") for d in sorted(set(deps))) + "\n")


if __name__ == "__main__":
    main()
