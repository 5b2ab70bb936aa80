"""Oracle Content Management documents API 1.1, file and folder tags (issue 7).

Covers the three examples of the seed (inherited tags, directAssigned=1, the applink), the
sibling set/edit/delete endpoints for files and folders, XML answers parsed with ElementTree,
applinks and public links (scope, role, expiry, revocation, access codes) and every error
status with the {errorCode, errorKey, errorMessage} body. Every answer under /documents/ that
any test here receives is checked against Oracle's documented types (tests/api/oracle_types.py)."""
import os
import sqlite3
import time
import xml.etree.ElementTree as ET

import pytest
import requests

from conftest import ADMIN_TOKEN, Api
from doc_types import check_every_answer
from oracle_types import check_answer

BASE = "/documents/api/1.1"
# The seed's GUIDs.
FILE1 = "D2D76EA99539F2BDF37FD80CB5D17B95F47087F4E518"
FILE3 = "DED694950C14AFF280419F9AB5D17B95F47087F4E518"
FOLDER1 = "F2D76EA99539F2BDF37FD80CB5D17B95F47087F4E518"
XML = {"Accept": "application/xml"}


@pytest.fixture(autouse=True)
def oracle_types(monkeypatch):
    """A wrong type in any Oracle answer fails the test that got it."""
    def check(r):
        path = requests.utils.urlparse(r.request.url).path
        if r.request.method != "HEAD":
            check_answer(r.request.method, path, r.status_code, r.headers.get("Content-Type"),
                         r.content)

    check_every_answer(monkeypatch, check)


def ftags(kind, key):
    return "%s/%ss/%s/tags" % (BASE, kind, key)


def put_res(admin, kind, key, parent=None):
    body = {"parent": {"kind": parent[0], "key": parent[1]}} if parent else {}
    r = admin.put("/v1/resources/%s/%s" % (kind, key), json=body)
    assert r.status_code in (200, 201), r.text


def anon(server, method, path, **kw):
    kw.setdefault("timeout", 30)
    return requests.request(method, server.url + path, **kw)


def assert_error(r, status, code):
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    b = r.json()
    assert set(b) == {"errorCode", "errorKey", "errorMessage"}, b
    assert b["errorCode"] == code
    assert b["errorKey"].startswith("!cs") and b["errorMessage"]
    return b


def applink(admin, kind, key, role="viewer", **extra):
    body = {"resource": {"kind": kind, "key": key}, "role": role}
    body.update(extra)
    r = admin.post("/v1/applinks", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def publiclink(admin, kind, key, role="viewer", **extra):
    body = {"resource": {"kind": kind, "key": key}, "role": role}
    body.update(extra)
    r = admin.post("/v1/publiclinks", json=body)
    assert r.status_code == 201, r.text
    return r.json()


@pytest.fixture(scope="module")
def tree(server, admin):
    """root > FOLDER1 > FILE1; root > sibling > sib.txt; root > FOLDER1 > sub > deep.txt;
    shared > FILE3 (the seed's applink example)."""
    put_res(admin, "folder", "root")
    put_res(admin, "folder", FOLDER1, ("folder", "root"))
    put_res(admin, "file", FILE1, ("folder", FOLDER1))
    put_res(admin, "folder", "sub", ("folder", FOLDER1))
    put_res(admin, "file", "deep.txt", ("folder", "sub"))
    put_res(admin, "folder", "sibling", ("folder", "root"))
    put_res(admin, "file", "sib.txt", ("folder", "sibling"))
    put_res(admin, "folder", "shared")
    put_res(admin, "file", FILE3, ("folder", "shared"))
    for kind, key, tags in [("folder", FOLDER1, "personal,work"), ("file", FILE1, "file,metadata"),
                            ("file", FILE3, "myFileTag,appLinkFileTag"),
                            ("folder", "sibling", "sibTag"), ("file", "sib.txt", "sibFile")]:
        r = admin.post(ftags(kind, key), json={"setTags": tags})
        assert r.status_code == 200, r.text
    return True


# ---- the seed's three examples ----

def test_seed_example_inherited_tags(server, admin, tree):
    r = admin.get(ftags("file", FILE1))
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.json() == {"errorCode": "0", "idList": FILE1,
                        "tags": "file,metadata,personal,work", "type": "file"}


def test_seed_example_direct_assigned(server, admin, tree):
    r = admin.get(ftags("file", FILE1) + "?directAssigned=1")
    assert r.status_code == 200, r.text
    assert r.json() == {"errorCode": "0", "idList": FILE1, "tags": "file,metadata",
                        "type": "file"}
    # 0 is the default spelled out.
    r = admin.get(ftags("file", FILE1) + "?directAssigned=0")
    assert r.json()["tags"] == "file,metadata,personal,work"


def test_seed_example_applink(server, admin, tree):
    link = applink(admin, "folder", "shared")
    r = anon(server, "GET", ftags("file", FILE3),
             headers={"appLinkID": link["id"], "accessToken": link["access_token"]})
    assert r.status_code == 200, r.text
    assert r.json() == {"errorCode": "0", "idList": FILE3,
                        "tags": "myFileTag,appLinkFileTag", "type": "file"}


# ---- inheritance and the sibling endpoints ----

def test_nested_folders_nearest_first_without_duplicates(server, admin, tree):
    assert admin.post(ftags("folder", "root"), json={"setTags": "rootTag,work"}).status_code == 200
    assert admin.post(ftags("folder", "sub"), json={"setTags": "subTag"}).status_code == 200
    assert admin.post(ftags("file", "deep.txt"), json={"setTags": "deep"}).status_code == 200
    r = admin.get(ftags("file", "deep.txt"))
    assert r.json()["tags"] == "deep,subTag,personal,work,rootTag"
    r = admin.get(ftags("folder", "sub"))
    assert r.json() == {"errorCode": "0", "idList": "sub",
                        "tags": "subTag,personal,work,rootTag", "type": "folder"}
    r = admin.get(ftags("folder", "sub") + "?directAssigned=1")
    assert r.json()["tags"] == "subTag"
    assert admin.delete(ftags("folder", "root")).status_code == 200
    assert admin.get(ftags("file", "deep.txt")).json()["tags"] == "deep,subTag,personal,work"


def test_set_replaces_and_keeps_the_given_order(server, admin, tree):
    put_res(admin, "file", "order.txt", ("folder", "sibling"))
    r = admin.post(ftags("file", "order.txt"), json={"setTags": "zeta, alpha,,mid "})
    assert r.status_code == 200, r.text
    assert r.json() == {"errorCode": "0", "idList": "order.txt", "type": "file"}
    assert admin.get(ftags("file", "order.txt") + "?directAssigned=1").json()["tags"] == \
        "zeta,alpha,mid"
    r = admin.post(ftags("file", "order.txt"), json={"setTags": "new1,alpha"})
    assert r.status_code == 200
    # alpha stayed assigned (older), new1 came after it.
    assert admin.get(ftags("file", "order.txt") + "?directAssigned=1").json()["tags"] == \
        "alpha,new1"
    # Duplicates are ignored; case is kept.
    admin.post(ftags("file", "order.txt"), json={"setTags": "CaseTag,CaseTag"})
    assert admin.get(ftags("file", "order.txt") + "?directAssigned=1").json()["tags"] == "CaseTag"


def test_edit_adds_and_removes(server, admin, tree):
    put_res(admin, "file", "edit.txt", ("folder", "sibling"))
    p = ftags("file", "edit.txt")
    assert admin.post(p, json={"setTags": "a,b,c"}).status_code == 200
    r = admin.put(p, json={"addTags": "d", "removeTags": "b,not-there,neverExisted"})
    assert r.status_code == 200, r.text
    assert r.json() == {"errorCode": "0", "idList": "edit.txt", "type": "file"}
    assert admin.get(p + "?directAssigned=1").json()["tags"] == "a,c,d"
    assert admin.put(p, json={"removeTags": "a"}).status_code == 200
    assert admin.put(p, json={"addTags": "c,e"}).status_code == 200
    assert admin.get(p + "?directAssigned=1").json()["tags"] == "c,d,e"
    # An empty PUT changes nothing; an empty POST clears the direct tags.
    assert admin.put(p, data=b"", headers={"Content-Type": "application/json"}).status_code == 200
    assert admin.get(p + "?directAssigned=1").json()["tags"] == "c,d,e"
    assert admin.post(p, data=b"", headers={"Content-Type": "application/json"}).status_code == 200
    assert admin.get(p).json()["tags"] == "sibTag"


def test_delete_clears_direct_only(server, admin, tree):
    put_res(admin, "file", "del.txt", ("folder", "sibling"))
    p = ftags("file", "del.txt")
    assert admin.post(p, json={"setTags": "x1,x2"}).status_code == 200
    r = admin.delete(p)
    assert r.status_code == 200, r.text
    assert r.json() == {"errorCode": "0", "idList": "del.txt", "type": "file"}
    assert admin.get(p).json()["tags"] == "sibTag"
    assert admin.get(p + "?directAssigned=1").json()["tags"] == ""


def test_folder_set_edit_delete(server, admin, tree):
    put_res(admin, "folder", "fold2", ("folder", "sibling"))
    p = ftags("folder", "fold2")
    r = admin.post(p, json={"setTags": "todo,p1"})
    assert r.json() == {"errorCode": "0", "idList": "fold2", "type": "folder"}
    assert admin.put(p, json={"addTags": "p2", "removeTags": "todo"}).status_code == 200
    assert admin.get(p).json() == {"errorCode": "0", "idList": "fold2",
                                   "tags": "p1,p2,sibTag", "type": "folder"}
    assert admin.delete(p).json() == {"errorCode": "0", "idList": "fold2", "type": "folder"}
    assert admin.get(p + "?directAssigned=1").json()["tags"] == ""


def test_failed_write_changes_nothing(server, admin, tree):
    put_res(admin, "file", "atomic.txt", ("folder", "sibling"))
    p = ftags("file", "atomic.txt")
    assert admin.post(p, json={"setTags": "keep1,keep2"}).status_code == 200
    r = admin.put(p, json={"removeTags": "keep1", "addTags": "fine,bad..name"})
    assert_error(r, 400, "-1")
    assert admin.get(p + "?directAssigned=1").json()["tags"] == "keep1,keep2"
    assert admin.get("/v1/tags/fine").status_code == 404


# ---- XML ----

def parse_xml(r, root):
    assert r.headers["Content-Type"].startswith("application/xml"), r.headers
    assert r.content.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    doc = ET.fromstring(r.content)
    assert doc.tag == root
    return [(c.tag, c.text or "") for c in doc]


def test_xml_get_file_and_folder(server, admin, tree):
    r = admin.get(ftags("file", FILE1), headers=XML)
    assert r.status_code == 200
    assert parse_xml(r, "FileGetTagsResponse") == [
        ("errorCode", "0"), ("idList", FILE1), ("tags", "file,metadata,personal,work"),
        ("type", "file")]
    r = admin.get(ftags("folder", FOLDER1) + "?directAssigned=1",
                  headers={"Accept": "text/xml"})
    assert parse_xml(r, "FolderGetTagsResponse") == [
        ("errorCode", "0"), ("idList", FOLDER1), ("tags", "personal,work"), ("type", "folder")]
    assert "Accept" in r.headers["Vary"]


def test_xml_escapes_and_write_answers(server, admin, tree):
    put_res(admin, "file", "x&<y>.txt", ("folder", "sibling"))
    p = ftags("file", "x%26%3Cy%3E.txt")
    r = admin.post(p, json={"setTags": "R&D,<b>"}, headers=XML)
    assert r.status_code == 200, r.text
    assert parse_xml(r, "FileSetTagsResponse") == [
        ("errorCode", "0"), ("idList", "x&<y>.txt"), ("type", "file")]
    r = admin.get(p + "?directAssigned=1", headers=XML)
    assert dict(parse_xml(r, "FileGetTagsResponse"))["tags"] == "R&D,<b>"
    r = admin.put(p, json={"addTags": "q"}, headers=XML)
    assert parse_xml(r, "FileEditTagsResponse")[0] == ("errorCode", "0")
    r = admin.delete(p, headers=XML)
    assert parse_xml(r, "FileDeleteTagsResponse")[0] == ("errorCode", "0")
    r = admin.delete(ftags("folder", "sibling") + "x", headers=XML)
    assert r.status_code == 404
    assert parse_xml(r, "ErrorResponse")[0] == ("errorCode", "-16")


def test_xml_errors(server, admin, tree):
    r = anon(server, "GET", ftags("file", "nope"), headers=XML)
    assert r.status_code == 401
    assert dict(parse_xml(r, "ErrorResponse"))["errorCode"] == "-20"
    r = admin.get(ftags("file", "nope"), headers=XML)
    assert r.status_code == 404
    fields = parse_xml(r, "ErrorResponse")
    assert [k for k, _ in fields] == ["errorCode", "errorKey", "errorMessage"]
    assert dict(fields)["errorCode"] == "-16"


def test_xml_request_bodies(server, admin, tree):
    put_res(admin, "file", "xmlbody.txt", ("folder", "sibling"))
    p = ftags("file", "xmlbody.txt")
    h = {"Content-Type": "application/xml"}
    r = admin.post(p, data=b"<FileSetTagsBody><setTags>a1,b1</setTags></FileSetTagsBody>",
                   headers=h)
    assert r.status_code == 200, r.text
    r = admin.put(p, data=b"<FileEditTagsBody>\n  <addTags>c1</addTags>\n"
                  b"  <removeTags>a1</removeTags>\n</FileEditTagsBody>", headers=h)
    assert r.status_code == 200, r.text
    assert admin.get(p + "?directAssigned=1").json()["tags"] == "b1,c1"
    # Malformed XML, a DTD (entities are never expanded) and unknown elements are 400.
    assert_error(admin.post(p, data=b"<a><setTags>x</a>", headers=h), 400, "-1")
    bomb = (b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY e "boom">]>'
            b"<a><setTags>&e;</setTags></a>")
    assert_error(admin.post(p, data=bomb, headers=h), 400, "-1")
    assert_error(admin.post(p, data=b"<a><addTags>x</addTags></a>", headers=h), 400, "-1")
    assert admin.get(p + "?directAssigned=1").json()["tags"] == "b1,c1"
    # libxml2 reports nothing on the server's output.
    assert "parser error" not in server.read_log()


def test_accept_negotiation(server, admin, tree):
    p = ftags("file", FILE1)
    for accept, xml in [("application/json", False), ("*/*", False), ("text/html", False),
                        ("application/xml;q=0.4, application/json", False),
                        ("application/json;q=0.5, application/xml", True),
                        ("application/xml, application/json", True),
                        ("application/json, application/xml", False),
                        ("application/xml;q=0", False),
                        ("application/json ; q=0.2 , application/xml ;q=0.3", True),
                        ("APPLICATION/XML", True), ("text/xml; charset=utf-8", True)]:
        r = admin.get(p, headers={"Accept": accept})
        assert r.headers["Content-Type"].startswith(
            "application/xml" if xml else "application/json"), accept


# ---- applinks ----

def test_applink_header_spellings(server, admin, tree):
    link = applink(admin, "folder", FOLDER1)
    for h in ({"appLinkID": link["id"], "accessToken": link["access_token"]},
              {"AppLinkID": link["id"], "AccessToken": link["access_token"]}):
        r = anon(server, "GET", ftags("file", FILE1), headers=h)
        assert r.status_code == 200, r.text
        assert r.json()["tags"] == "file,metadata,personal,work"


def test_applink_never_reaches_a_sibling_folder(server, admin, tree):
    link = applink(admin, "folder", FOLDER1, role="contributor")
    h = {"appLinkID": link["id"], "accessToken": link["access_token"]}
    # Inside: the folder, its file, a nested folder and the file below it.
    for kind, key in [("folder", FOLDER1), ("file", FILE1), ("folder", "sub"),
                      ("file", "deep.txt")]:
        assert anon(server, "GET", ftags(kind, key), headers=h).status_code == 200, key
    # Outside: the sibling folder, its file, the parent folder, unknown items.
    for kind, key in [("folder", "sibling"), ("file", "sib.txt"), ("folder", "root"),
                      ("file", FILE3), ("file", "no-such-file")]:
        assert_error(anon(server, "GET", ftags(kind, key), headers=h), 403, "-20")
        assert_error(anon(server, "PUT", ftags(kind, key), headers=h,
                          json={"addTags": "leak"}), 403, "-20")
    assert admin.get(ftags("folder", "sibling") + "?directAssigned=1").json()["tags"] == "sibTag"


def test_file_applink_reaches_that_file_only(server, admin, tree):
    link = applink(admin, "file", FILE1)
    h = {"appLinkID": link["id"], "accessToken": link["access_token"]}
    assert anon(server, "GET", ftags("file", FILE1), headers=h).status_code == 200
    assert_error(anon(server, "GET", ftags("folder", FOLDER1), headers=h), 403, "-20")
    assert_error(anon(server, "GET", ftags("file", "deep.txt"), headers=h), 403, "-20")


def test_applink_roles(server, admin, tree):
    put_res(admin, "file", "roles.txt", ("folder", "shared"))
    p = ftags("file", "roles.txt")
    viewer = applink(admin, "folder", "shared", role="viewer")
    hv = {"appLinkID": viewer["id"], "accessToken": viewer["access_token"]}
    for method, body in [("POST", {"setTags": "v"}), ("PUT", {"addTags": "v"}), ("DELETE", None)]:
        assert_error(anon(server, method, p, headers=hv, json=body), 403, "-20")
    contrib = applink(admin, "folder", "shared", role="contributor")
    hc = {"appLinkID": contrib["id"], "accessToken": contrib["access_token"]}
    r = anon(server, "POST", p, headers=hc, json={"setTags": "byLink"})
    assert r.status_code == 200, r.text
    assert anon(server, "PUT", p, headers=hc, json={"addTags": "more"}).status_code == 200
    assert anon(server, "GET", p + "?directAssigned=1", headers=hv).json()["tags"] == "byLink,more"
    assert anon(server, "DELETE", p, headers=hc).status_code == 200
    assert admin.get(p + "?directAssigned=1").json()["tags"] == ""


def test_applink_bad_credentials(server, admin, tree):
    link = applink(admin, "folder", "shared")
    p = ftags("file", FILE3)
    assert_error(anon(server, "GET", p, headers={"appLinkID": link["id"],
                                                  "accessToken": link["access_token"] + "x"}),
                 400, "-26")
    assert_error(anon(server, "GET", p, headers={"appLinkID": "ALnope",
                                                  "accessToken": link["access_token"]}),
                 400, "-26")
    other = applink(admin, "folder", "shared")
    # Each token belongs to its own link.
    assert_error(anon(server, "GET", p, headers={"appLinkID": link["id"],
                                                  "accessToken": other["access_token"]}),
                 400, "-26")
    assert_error(anon(server, "GET", p, headers={"appLinkID": link["id"]}), 400, "-1")
    # Neither the token nor the link id works as a bearer token, here or in the native API.
    for tok in (link["access_token"], link["id"]):
        assert_error(anon(server, "GET", p, headers={"Authorization": "Bearer " + tok}),
                     401, "-20")
        assert anon(server, "GET", "/v1/tags",
                    headers={"Authorization": "Bearer " + tok}).status_code == 401


def test_applink_expiry_and_revocation(server, admin, tree):
    soon = applink(admin, "folder", "shared", expires_at=int(time.time() * 1000) + 800)
    h = {"appLinkID": soon["id"], "accessToken": soon["access_token"]}
    assert anon(server, "GET", ftags("file", FILE3), headers=h).status_code == 200
    time.sleep(1.0)
    assert_error(anon(server, "GET", ftags("file", FILE3), headers=h), 400, "-26")
    link = applink(admin, "folder", "shared")
    h = {"appLinkID": link["id"], "accessToken": link["access_token"]}
    assert anon(server, "GET", ftags("file", FILE3), headers=h).status_code == 200
    assert admin.delete("/v1/applinks/" + link["id"]).status_code == 204
    assert_error(anon(server, "GET", ftags("file", FILE3), headers=h), 400, "-26")
    assert admin.delete("/v1/applinks/" + link["id"]).status_code == 404


def test_applink_to_deleted_resource_grants_nothing(server, admin, tree):
    put_res(admin, "folder", "gone")
    put_res(admin, "file", "gone.txt", ("folder", "gone"))
    link = applink(admin, "folder", "gone")
    h = {"appLinkID": link["id"], "accessToken": link["access_token"]}
    assert anon(server, "GET", ftags("file", "gone.txt"), headers=h).status_code == 200
    assert admin.delete("/v1/resources/folder/gone").status_code in (200, 204)
    time.sleep(0.01)
    put_res(admin, "folder", "gone")
    put_res(admin, "file", "gone.txt", ("folder", "gone"))
    assert_error(anon(server, "GET", ftags("file", "gone.txt"), headers=h), 400, "-26")


# ---- public links ----

def test_public_link(server, admin, tree):
    link = publiclink(admin, "folder", "shared")
    assert set(link) >= {"id"} and "access_token" not in link and link["protected"] is False
    for name in ("linkID", "LinkID"):
        r = anon(server, "GET", ftags("file", FILE3), headers={name: link["id"]})
        assert r.status_code == 200, r.text
        assert r.json()["tags"] == "myFileTag,appLinkFileTag"
    assert_error(anon(server, "GET", ftags("file", FILE1), headers={"linkID": link["id"]}),
                 403, "-20")
    assert_error(anon(server, "PUT", ftags("file", FILE3), headers={"linkID": link["id"]},
                      json={"addTags": "x"}), 403, "-20")
    assert_error(anon(server, "GET", ftags("file", FILE3), headers={"linkID": "PLnope"}),
                 400, "-26")


def test_protected_public_link_needs_its_cookie(server, admin, tree):
    link = publiclink(admin, "folder", "shared", role="contributor",
                      access_code="open-sesame-42")
    assert link["protected"] is True
    lid = link["id"]
    p = ftags("file", FILE3)
    # Without the cookie; with another link's cookie name.
    assert_error(anon(server, "GET", p, headers={"linkID": lid}), 403, "-20")
    assert_error(anon(server, "GET", p, headers={"linkID": lid,
                                                  "Cookie": "dAccessCode-other=open-sesame-42"}),
                 403, "-20")
    # The wrong code, then the right one.
    assert_error(anon(server, "GET", p, headers={"linkID": lid,
                                                  "Cookie": "dAccessCode-%s=wrong-code-123" % lid}),
                 400, "-26")
    h = {"linkID": lid, "Cookie": "a=b; dAccessCode-%s=open-sesame-42; c=d" % lid}
    r = anon(server, "GET", p, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["idList"] == FILE3
    # Contributor: writes work with the code, and not without.
    assert_error(anon(server, "PUT", p, headers={"linkID": lid}, json={"addTags": "pl"}),
                 403, "-20")
    assert anon(server, "PUT", p, headers=h, json={"addTags": "pl"}).status_code == 200
    assert anon(server, "PUT", p, headers=h, json={"removeTags": "pl"}).status_code == 200


def test_secrets_are_stored_hashed(server, admin, tree):
    a = applink(admin, "folder", "shared")
    publiclink(admin, "folder", "shared", access_code="hashed-code-xyz")
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(server.data, "tagd.db"), uri=True)
    try:
        rows = db.execute("SELECT kind, name, hash, rights, extra FROM tokens"
                          " WHERE kind IN ('applink', 'publiclink')").fetchall()
    finally:
        db.close()
    dump = repr(rows)
    assert a["access_token"] not in dump
    assert "hashed-code-xyz" not in dump and "$argon2id$" in dump
    assert all(r[3] == "" for r in rows)  # no bearer rights of their own


# ---- native admin endpoints ----

def test_native_link_admin(server, admin, tree):
    a = applink(admin, "file", FILE1, role="contributor", expires_at="2099-01-01T00:00:00Z")
    assert a["resource"] == {"kind": "file", "key": FILE1}
    assert a["role"] == "contributor" and a["expires_at"].startswith("2099-01-01")
    assert a["access_token"] and a["id"] != a["access_token"]
    items = admin.get("/v1/applinks").json()["items"]
    mine = [i for i in items if i["id"] == a["id"]]
    assert len(mine) == 1 and "access_token" not in mine[0]
    pl = publiclink(admin, "folder", FOLDER1, access_code="12345678")
    items = admin.get("/v1/publiclinks").json()["items"]
    assert [i for i in items if i["id"] == pl["id"]][0]["protected"] is True
    assert all(i["id"] != a["id"] for i in items)
    assert admin.delete("/v1/publiclinks/" + pl["id"]).status_code == 204
    assert all(i["id"] != pl["id"] for i in admin.get("/v1/publiclinks").json()["items"])
    # An applink id is not a public link id.
    assert admin.delete("/v1/publiclinks/" + a["id"]).status_code == 404


@pytest.mark.parametrize("path,body,status", [
    ("/v1/applinks", {"resource": {"kind": "folder", "key": "missing"}, "role": "viewer"}, 422),
    ("/v1/applinks", {"resource": {"kind": "folder", "key": "shared"}, "role": "manager"}, 400),
    ("/v1/applinks", {"resource": {"kind": "folder"}, "role": "viewer"}, 400),
    ("/v1/applinks", {"resource": {"kind": "folder", "key": "shared"}, "role": "viewer",
                      "access_code": "12345678"}, 400),
    ("/v1/applinks", {"resource": {"kind": "folder", "key": "shared"}, "role": "viewer",
                      "expires_at": "2001-01-01T00:00:00Z"}, 400),
    ("/v1/applinks", {"resource": {"kind": "folder", "key": "shared"}, "role": "viewer",
                      "expires_at": "soon"}, 400),
    ("/v1/publiclinks", {"resource": {"kind": "folder", "key": "shared"}, "role": "viewer",
                         "access_code": "short"}, 400),
    ("/v1/publiclinks", {"resource": {"kind": "folder", "key": "shared"}, "role": "viewer",
                         "access_code": "x" * 51}, 400),
    ("/v1/publiclinks", {"resource": {"kind": "folder", "key": "shared"}, "role": "viewer",
                         "extra": 1}, 400),
    ("/v1/publiclinks", ["not", "an", "object"], 400),
])
def test_native_link_create_errors(server, admin, tree, path, body, status):
    r = admin.post(path, json=body)
    assert r.status_code == status, r.text
    assert "error" in r.json()


def test_native_link_admin_needs_admin(server, admin, tree):
    tok = server.token(["tags:read", "tags:assign"], name="not-admin")
    api = Api(server, tok)
    body = {"resource": {"kind": "folder", "key": "shared"}, "role": "viewer"}
    for path in ("/v1/applinks", "/v1/publiclinks"):
        assert api.post(path, json=body).status_code == 403
        assert api.get(path).status_code == 403
        assert api.delete(path + "/whatever").status_code == 403
        assert anon(server, "GET", path).status_code == 401


# ---- errors ----

def test_unauthenticated_is_401(server, tree):
    for method in ("GET", "POST", "PUT", "DELETE"):
        r = anon(server, method, ftags("file", FILE1))
        assert_error(r, 401, "-20")
        assert "WWW-Authenticate" in r.headers
    assert_error(anon(server, "GET", ftags("file", FILE1),
                      headers={"Authorization": "Bearer garbage"}), 401, "-20")


def test_missing_rights_is_403(server, admin, tree):
    reader = Api(server, server.token(["tags:read"], name="reader"))
    writer = Api(server, server.token(["tags:write"], name="writer"))
    assert reader.get(ftags("file", FILE1)).status_code == 200
    assert_error(writer.get(ftags("file", FILE1)), 403, "-20")
    assert_error(reader.post(ftags("file", FILE1), json={"setTags": "x"}), 403, "-20")
    assert_error(reader.put(ftags("folder", FOLDER1), json={"addTags": "x"}), 403, "-20")
    assert_error(reader.delete(ftags("file", FILE1)), 403, "-20")
    assert admin.get(ftags("file", FILE1) + "?directAssigned=1").json()["tags"] == "file,metadata"


def test_unknown_items_are_404(server, admin, tree):
    for kind in ("file", "folder"):
        b = assert_error(admin.get(ftags(kind, "DNOPE")), 404, "-16")
        assert "DNOPE" in b["errorMessage"]
        assert_error(admin.post(ftags(kind, "DNOPE"), json={"setTags": "a"}), 404, "-16")
        assert_error(admin.put(ftags(kind, "DNOPE"), json={"addTags": "a"}), 404, "-16")
        assert_error(admin.delete(ftags(kind, "DNOPE")), 404, "-16")
    # A file's GUID is not a folder.
    assert_error(admin.get(ftags("folder", FILE1)), 404, "-16")
    assert_error(admin.get(BASE + "/files/x/nothing"), 404, "-16")
    assert admin.get("/v1/tags/nope-writes-left-nothing").status_code == 404


@pytest.mark.parametrize("method,suffix,kw", [
    ("GET", "?directAssigned=2", {}),
    ("GET", "?directAssigned=true", {}),
    ("POST", "", {"json": {"setTags": ["a"]}}),
    ("POST", "", {"json": {"addTags": "a"}}),
    ("POST", "", {"json": "a,b"}),
    ("PUT", "", {"json": {"setTags": "a"}}),
    ("PUT", "", {"json": {"addTags": 5}}),
    ("PUT", "", {"data": b"{not json", "headers": {"Content-Type": "application/json"}}),
    ("POST", "", {"json": {"setTags": "ok,bad..name"}}),
    ("POST", "", {"json": {"setTags": ",".join("t%d" % i for i in range(1001))}}),
])
def test_malformed_requests_are_400(server, admin, tree, method, suffix, kw):
    r = admin.request(method, ftags("file", FILE1) + suffix, **kw)
    assert_error(r, 400, "-1")
    assert admin.get(ftags("file", FILE1) + "?directAssigned=1").json()["tags"] == "file,metadata"


def test_bad_ids_and_media(server, admin, tree):
    assert_error(admin.get(BASE + "/files/%01bad/tags"), 400, "-1")
    assert_error(admin.get(BASE + "/files/" + "D" * 600 + "/tags"), 400, "-1")
    r = admin.post(ftags("file", FILE1), data=b"setTags=a",
                   headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_error(r, 415, "-1")
    r = admin.request("PATCH", ftags("file", FILE1), json={})
    assert_error(r, 405, "-1")


def test_version_1_2_serves_the_same_endpoints(server, admin, tree):
    """Oracle's current reference documents the tag endpoints under /documents/api/1.2/ with
    the bodies of 1.1; clients written from it call those paths."""
    v12 = "/documents/api/1.2/%ss/%s/tags"
    r = admin.get(v12 % ("file", FILE1))
    assert r.status_code == 200, r.text
    assert r.json() == admin.get(ftags("file", FILE1)).json()
    r = admin.get(v12 % ("folder", FOLDER1) + "?directAssigned=1", headers=XML)
    assert parse_xml(r, "FolderGetTagsResponse") == [
        ("errorCode", "0"), ("idList", FOLDER1), ("tags", "personal,work"), ("type", "folder")]
    put_res(admin, "file", "v12.txt", ("folder", "sibling"))
    p = v12 % ("file", "v12.txt")
    r = admin.post(p, json={"setTags": "a12,b12"})
    assert r.json() == {"errorCode": "0", "idList": "v12.txt", "type": "file"}
    assert admin.put(p, json={"addTags": "c12", "removeTags": "a12"}).status_code == 200
    assert admin.get(ftags("file", "v12.txt") + "?directAssigned=1").json()["tags"] == "b12,c12"
    assert admin.delete(p).json() == {"errorCode": "0", "idList": "v12.txt", "type": "file"}
    p = v12 % ("folder", "sibling")
    assert admin.put(p, json={"addTags": "f12"}).status_code == 200
    assert admin.get(p + "?directAssigned=1").json()["tags"] == "sibTag,f12"
    assert admin.put(p, json={"removeTags": "f12"}).status_code == 200
    # Links and errors work there as well.
    link = applink(admin, "folder", "shared")
    h = {"appLinkID": link["id"], "accessToken": link["access_token"]}
    assert anon(server, "GET", v12 % ("file", FILE3), headers=h).json()["tags"] == \
        "myFileTag,appLinkFileTag"
    assert_error(anon(server, "GET", v12 % ("file", FILE1), headers=h), 403, "-20")
    assert_error(admin.get(v12 % ("file", "DNOPE")), 404, "-16")
    assert_error(anon(server, "GET", v12 % ("file", FILE1)), 401, "-20")
    # Other versions are no tag API.
    for version in ("1.0", "1.3", "2"):
        assert_error(admin.get("/documents/api/%s/files/%s/tags" % (version, FILE1)), 404, "-16")


def test_openapi_describes_the_endpoints(server):
    doc = anon(server, "GET", "/openapi.json").json()
    # Versions 1.1 and 1.2 are one path with a {version} parameter (one operationId each).
    params = doc["paths"]["/documents/api/{version}/files/{fileId}/tags"]["parameters"]
    enum = [p for p in params if p.get("name") == "version"][0]["schema"]["enum"]
    assert set(enum) == {"1.1", "1.2"}
    for path, methods in [("/documents/api/{version}/files/{fileId}/tags",
                           {"get", "post", "put", "delete"}),
                          ("/documents/api/{version}/folders/{folderId}/tags",
                           {"get", "post", "put", "delete"}),
                          ("/v1/applinks", {"get", "post"}), ("/v1/publiclinks", {"get", "post"}),
                          ("/v1/applinks/{id}", {"delete"}), ("/v1/publiclinks/{id}", {"delete"})]:
        assert methods <= set(doc["paths"][path]), path
    assert doc["paths"]["/documents/api/{version}/folders/{folderId}/tags"]["get"]["responses"][
        "404"]["description"].startswith("File or folder ID")


# ---- the type table itself ----

GOOD_GET = b'{"errorCode":"0","idList":"D1","tags":"a,b","type":"file"}'


@pytest.mark.parametrize("method,path,status,ctype,content", [
    # errorCode as a number, a missing attribute, an unknown one, a wrong type value.
    ("GET", ftags("file", "D1"), 200, "application/json",
     b'{"errorCode":0,"idList":"D1","tags":"a","type":"file"}'),
    ("GET", ftags("file", "D1"), 200, "application/json",
     b'{"errorCode":"0","idList":"D1","type":"file"}'),
    ("GET", ftags("file", "D1"), 200, "application/json",
     b'{"errorCode":"0","idList":"D1","tags":"a","type":"file","extra":1}'),
    ("GET", ftags("folder", "F1"), 200, "application/json", GOOD_GET),
    # tags as a list, or with an empty entry.
    ("GET", ftags("file", "D1"), 200, "application/json",
     b'{"errorCode":"0","idList":"D1","tags":["a"],"type":"file"}'),
    ("GET", ftags("file", "D1"), 200, "application/json",
     b'{"errorCode":"0","idList":"D1","tags":"a,,b","type":"file"}'),
    # A write answer without idList; an error without errorKey; an errorCode off its status.
    ("POST", ftags("file", "D1"), 200, "application/json", b'{"errorCode":"0","type":"file"}'),
    ("GET", ftags("file", "D1"), 404, "application/json",
     b'{"errorCode":"-16","errorMessage":"gone"}'),
    ("GET", ftags("file", "D1"), 404, "application/json",
     b'{"errorCode":"-20","errorKey":"!cs","errorMessage":"gone"}'),
    # XML under another root, or with a field the schema does not have.
    ("GET", ftags("file", "D1"), 200, "application/xml",
     b"<FolderGetTagsResponse><errorCode>0</errorCode><idList>D1</idList><tags>a</tags>"
     b"<type>file</type></FolderGetTagsResponse>"),
    ("PUT", ftags("file", "D1"), 200, "application/xml",
     b"<FileEditTagsResponse><errorCode>0</errorCode><idList>D1</idList><x>1</x>"
     b"</FileEditTagsResponse>"),
    ("GET", ftags("file", "D1"), 200, "text/plain", GOOD_GET),
])
def test_type_table_rejects_wrong_types(method, path, status, ctype, content):
    check_answer("GET", ftags("file", "D1"), 200, "application/json", GOOD_GET)
    with pytest.raises(AssertionError):
        check_answer(method, path, status, ctype, content)


def test_type_table_checks_the_item():
    with pytest.raises(AssertionError):
        check_answer("GET", ftags("file", "D1"), 200, "application/json",
                     GOOD_GET.replace(b'"D1"', b'"D2"'))
    check_answer("DELETE", ftags("file", "x%26y"), 200, "application/json",
                 b'{"errorCode":"0","idList":"x&y","type":"file"}')
