"""The served OpenAPI document: identical to docs/openapi.yaml, structurally valid OpenAPI 3.1,
and describing every route of the native route table (parsed from src/api/native/routes.c)."""
import os
import re

import pytest
import requests
import yaml

from conftest import ROOT

HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def native_routes():
    with open(os.path.join(ROOT, "src", "api", "native", "routes.c"), encoding="utf-8") as f:
        src = f.read()
    table = src[src.index("const struct route native_routes[]"):]
    table = table[:table.index("};")]
    routes = re.findall(r'(?:R\(|\{)"([A-Z]+)",\s*"([^"]+)"', table)
    assert len(routes) > 30, routes
    return routes


@pytest.fixture(scope="module")
def doc(server):
    r = requests.get(server.url + "/openapi.json")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    return r.json()


def test_served_document_is_the_yaml(doc):
    with open(os.path.join(ROOT, "docs", "openapi.yaml"), encoding="utf-8") as f:
        assert doc == yaml.safe_load(f)


def test_every_native_route_is_described(doc):
    missing = []
    for method, pattern in native_routes():
        op = doc["paths"].get(pattern, {}).get(method.lower())
        if op is None:
            missing.append("%s %s" % (method, pattern))
            continue
        tag = "system" if not pattern.startswith("/v1/") else "native"
        assert tag in op.get("tags", []), (method, pattern)
    assert missing == []


def test_native_operations_are_complete(doc):
    for method, pattern in native_routes():
        op = doc["paths"][pattern][method.lower()]
        where = "%s %s" % (method, pattern)
        assert op.get("summary"), where
        codes = set(op["responses"])
        assert any(c.startswith("2") for c in codes), where
        if where == "POST /v1/sessions":
            # signing in is how a token is had
            assert op.get("security") == [] and "401" in codes and "429" in codes, where
        elif pattern.startswith("/v1/"):
            # every native route needs a token and says so
            assert op.get("security") == [{"bearer": []}], where
            # GET /v1/me needs a valid token and no right: it has no 403.
            assert "401" in codes and ("403" in codes or where == "GET /v1/me"), where
            if method in ("POST", "PUT", "PATCH") and "requestBody" in op:
                assert "415" in codes or "400" in codes, where
            for c in codes:
                if c[0] in "45":
                    schema = op["responses"][c]["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/NativeError"}, (where, c)
        else:
            assert op.get("security") == [], where


def resolve(doc, ref):
    assert ref.startswith("#/"), ref
    node = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert part in node, "unresolved $ref " + ref
        node = node[part]
    return node


def walk(node, path, out):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref":
                out.append((path, v))
            walk(v, path + [k], out)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            walk(v, path + [i], out)


def test_structurally_valid_openapi_31(doc):
    assert re.fullmatch(r"3\.1\.\d+", doc["openapi"])
    assert doc["info"]["title"] and doc["info"]["version"]
    assert isinstance(doc["paths"], dict)
    declared_tags = {t["name"] for t in doc.get("tags", [])}
    schemes = doc["components"]["securitySchemes"]
    op_ids = []
    for path, item in doc["paths"].items():
        assert path.startswith("/"), path
        template = set(re.findall(r"\{([^}]+)\}", path))
        shared = {p["name"] for p in item.get("parameters", []) if p["in"] == "path"}
        for method, op in item.items():
            if method == "parameters":
                continue
            assert method in HTTP_METHODS, (path, method)
            where = "%s %s" % (method, path)
            if "operationId" in op:
                op_ids.append(op["operationId"])
            for t in op.get("tags", []):
                assert t in declared_tags, (where, t)
            own = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            # each template variable is declared as a required path parameter, and only those
            assert shared | own == template, where
            for p in item.get("parameters", []) + op.get("parameters", []):
                assert p["in"] in ("query", "header", "path", "cookie"), where
                assert "schema" in p or "content" in p, where
                if p["in"] == "path":
                    assert p.get("required") is True, where
            assert op["responses"], where
            for code, resp in op["responses"].items():
                assert re.fullmatch(r"[1-5](\d\d|XX)|default", str(code)), (where, code)
                assert resp.get("description"), (where, code)
            for req in op.get("security", []):
                for name in req:
                    assert name in schemes, (where, name)
            if "requestBody" in op:
                assert op["requestBody"]["content"], where
    assert len(op_ids) == len(set(op_ids)), "duplicate operationId"
    refs = []
    walk(doc, [], refs)
    for where, ref in refs:
        resolve(doc, ref)

