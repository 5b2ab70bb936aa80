"""TLS through the documented reverse proxy (issue 10): docs/deploy/nginx-tls.conf, run by
Debian's nginx with a fresh self-signed certificate, carries HTTPS requests to tagd and back.
tagd itself speaks HTTP/1.1 only: no h2c upgrade, no HTTP/2 preface.

The config under test is the documented file itself; only its ports, certificate paths and
log path are substituted, and the test fails if one of those lines is missing."""
import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest
import requests
import urllib3

from conftest import ADMIN_TOKEN, ROOT, free_port, raw_request

CONF = os.path.join(ROOT, "docs", "deploy", "nginx-tls.conf")
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"


def _need(path, pkg):
    assert os.path.exists(path), "%s is missing: run scripts/install-deps (package %s)" % (path, pkg)


def _substitute(text, subs):
    for old, new in subs:
        assert old in text, "docs/deploy/nginx-tls.conf lost the line %r the test substitutes" % old
        text = text.replace(old, new)
    return text


class Proxy:
    def __init__(self, tagd_port):
        _need(NGINX, "nginx")
        _need(OPENSSL, "openssl")
        self.dir = tempfile.mkdtemp(prefix="tagd-nginx-")
        self.cert = os.path.join(self.dir, "cert.pem")
        self.key = os.path.join(self.dir, "key.pem")
        subprocess.run([OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                        "-keyout", self.key, "-out", self.cert],
                       check=True, capture_output=True, timeout=60)
        self.https_port = free_port()
        self.http_port = free_port()
        self.access_log = os.path.join(self.dir, "access.log")
        self.error_log = os.path.join(self.dir, "error.log")
        with open(CONF) as f:
            site = _substitute(f.read(), [
                ("listen 443 ssl http2;", "listen 127.0.0.1:%d ssl http2;" % self.https_port),
                ("listen 80;", "listen 127.0.0.1:%d;" % self.http_port),
                ("/etc/ssl/tagd/fullchain.pem", self.cert),
                ("/etc/ssl/tagd/privkey.pem", self.key),
                ("/var/log/nginx/tagd-access.log", self.access_log),
                ("server 127.0.0.1:8080;", "server 127.0.0.1:%d;" % tagd_port),
            ])
        with open(os.path.join(self.dir, "site.conf"), "w") as f:
            f.write(site)
        tmp = os.path.join(self.dir, "tmp")
        os.mkdir(tmp)
        # What Debian's /etc/nginx/nginx.conf gives around sites-enabled/*, in temp dirs.
        # As root, workers would drop to "nobody", who cannot enter the private temp dir.
        main = "\n".join([
            "user root;" if os.geteuid() == 0 else "",
            "daemon off;",
            "worker_processes 1;",
            "pid %s/nginx.pid;" % self.dir,
            "error_log %s info;" % self.error_log,
            "events { worker_connections 256; }",
            "http {",
            "    include /etc/nginx/mime.types;",
            "    client_body_temp_path %s/body;" % tmp,
            "    proxy_temp_path %s/proxy;" % tmp,
            "    fastcgi_temp_path %s/fastcgi;" % tmp,
            "    uwsgi_temp_path %s/uwsgi;" % tmp,
            "    scgi_temp_path %s/scgi;" % tmp,
            "    include %s/site.conf;" % self.dir,
            "}",
            ""])
        self.conf = os.path.join(self.dir, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(main)
        check = subprocess.run([NGINX, "-t", "-p", self.dir, "-c", self.conf],
                               capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, check.stderr
        self.proc = subprocess.Popen([NGINX, "-p", self.dir, "-c", self.conf],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 15
        while time.time() < deadline:
            assert self.proc.poll() is None, self.proc.stderr.read().decode()
            try:
                socket.create_connection(("127.0.0.1", self.https_port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nginx did not listen")

    @property
    def url(self):
        return "https://localhost:%d" % self.https_port

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stderr.close()

    def read(self, path):
        try:
            with open(path) as f:
                return f.read()
        except OSError:
            return ""

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def proxy(server):
    p = Proxy(server.port)
    yield p
    p.cleanup()


def _https(proxy, method, path, **kw):
    kw.setdefault("timeout", 20)
    kw.setdefault("verify", proxy.cert)
    return requests.request(method, proxy.url + path, **kw)


def test_https_round_trip_through_nginx(server, proxy):
    auth = {"Authorization": "Bearer " + ADMIN_TOKEN}
    r = _https(proxy, "POST", "/v1/tags", json={"name": "Tls.tag", "description": "over tls"},
               headers=auth)
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "Tls.tag"
    r = _https(proxy, "GET", "/v1/tags/Tls.tag", headers=auth)
    assert r.status_code == 200, r.text
    assert r.json()["description"] == "over tls"
    assert r.raw.version == 11
    # tagd's headers pass through, nginx adds HSTS and hides its version.
    assert r.headers["X-Request-Id"]
    assert int(r.headers["X-Tagd-Revision"]) >= 1
    assert r.headers["Cache-Control"] == "no-store"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Strict-Transport-Security"].startswith("max-age=")
    assert r.headers["Server"] == "nginx"
    # The same data is what tagd serves directly.
    d = requests.get(server.url + "/v1/tags/Tls.tag", headers=auth, timeout=10)
    assert d.json() == r.json()


def test_errors_keep_tagd_format_through_nginx(proxy):
    r = _https(proxy, "GET", "/v1/tags")
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "unauthorized"
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    r = _https(proxy, "POST", "/v1/tags", data=b"x" * (1 << 20 | 1),
               headers={"Authorization": "Bearer " + ADMIN_TOKEN, "Content-Type": "application/json"})
    assert r.status_code == 413
    assert r.json()["error"]["code"]


def test_metrics_are_not_public(server, proxy):
    assert _https(proxy, "GET", "/metrics").status_code == 404
    assert requests.get(server.url + "/metrics", timeout=10).status_code == 200


def test_certificate_is_verified(proxy):
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(proxy.url + "/healthz", timeout=10)  # the system store does not know it
    assert _https(proxy, "GET", "/healthz").json() == {"status": "ok"}


def test_plain_http_is_redirected_not_served(proxy):
    r = requests.get("http://127.0.0.1:%d/v1/tags?token=abc" % proxy.http_port,
                     allow_redirects=False, timeout=10)
    assert r.status_code == 301
    assert r.headers["Location"].startswith("https://")


def test_no_secret_in_nginx_access_log(proxy):
    secret = "NGXSECRET0123456789"
    r = _https(proxy, "GET", "/v1/tags?token=" + secret,
               headers={"Authorization": "Bearer " + secret})
    assert r.status_code == 401
    time.sleep(0.2)
    log = proxy.read(proxy.access_log)
    assert "/v1/tags" in log
    assert secret not in log


def test_tagd_itself_offers_no_http2(server, proxy):
    # An h2c upgrade request is answered in HTTP/1.1 without 101 Switching Protocols.
    raw = raw_request(server.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                                   b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 200"), raw[:100]
    assert b"upgrade: h2c" not in raw.lower()
    # The HTTP/2 connection preface (prior knowledge) gets no SETTINGS frame back.
    raw = raw_request(server.port, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
    assert not raw.startswith(b"\x00"), raw[:50]
    assert raw == b"" or raw.startswith(b"HTTP/1."), raw[:100]
    # TLS is nginx's job: tagd does not answer a TLS handshake.
    with pytest.raises(requests.exceptions.SSLError):
        requests.get("https://127.0.0.1:%d/healthz" % server.port, verify=False, timeout=5)


def test_nginx_speaks_http2_to_clients_and_http11_to_tagd(proxy):
    curl = shutil.which("curl")
    assert curl, "curl is missing: run scripts/install-deps"
    p = subprocess.run([curl, "-s", "--http2", "--cacert", proxy.cert, "-o", "/dev/null", "-w",
                        "%{http_version} %{response_code}", proxy.url + "/healthz"],
                       capture_output=True, text=True, timeout=30)
    assert p.stdout == "2 200", (p.stdout, p.stderr)


urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
