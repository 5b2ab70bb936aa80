"""The easydb dialect end to end: /api/v1/session and /api/v1/tags (issue 3).

Covers the seed's exchanges (GET and POST /api/v1/tags), the session API, every error the
dialect answers, the atomicity of a failing replace, reordering, the 202 confirmation protocol
and session expiry."""
import copy
import datetime
import json
import os
import subprocess
import time

import pytest
import requests

from conftest import ADMIN_TOKEN, Api, Server
from easydb_types import SESSION, TAGGROUPS, check_answer, validate

EASYDB_HEADERS = ("X-Easydb-Api-Version", "X-Easydb-Base-Schema-Version",
                  "X-Easydb-User-Schema-Version")

# The seed's example (E1 get.json), without ids: what a client posts to create it.
SEED = [{
    "_basetype": "taggroup",
    "taggroup": {"type": "choice",
                 "displayname": {"de-DE": "Bearbeitungszustand", "en-US": "Processing state"}},
    "_tags": [
        {"_basetype": "tag",
         "tag": {"type": "individual", "displayname": {"de-DE": "neu", "en-US": "new"},
                 "description": {"de-DE": "Datensatz wurde neu erstellt", "en-US": "Record created"},
                 "displaytype": "edit", "sticky": False, "is_default": True},
         "_acl": [{"who": {"_basetype": "group",
                           "user": {"displayname": {"de-DE": "Studenten", "en-US": "students"},
                                    "_id": 22}},
                   "rights": {"read": {}}}]},
        {"_basetype": "tag",
         "tag": {"type": "individual", "displayname": {"de-DE": "veröffentlicht", "en-US": "published"},
                 "sticky": True, "is_default": False},
         "_acl": []},
    ]}]

TAG_KEYS = {"_id", "type", "displayname", "description", "displaytype", "enabled", "sticky",
            "is_default", "frontend_prefs"}

CHECKED = []


@pytest.fixture(autouse=True)
def easydb_types(monkeypatch):
    """Every easydb answer this file receives, through any requests call, must have easydb's
    documented types (tests/api/easydb_types.py): a wrong type fails the test that got it."""
    send = requests.Session.send

    def checked_send(self, request, **kw):
        r = send(self, request, **kw)
        path = requests.utils.urlparse(r.request.url).path
        if r.request.method != "HEAD" and path.startswith("/api/"):
            check_answer(r.request.method, path, r.status_code, r.json())
            CHECKED.append(path)
        return r

    monkeypatch.setattr(requests.Session, "send", checked_send)


class Easydb:
    """An easydb client: a session token and the calls of the dialect."""

    def __init__(self, server, login=None, password=None):
        self.server = server
        r = requests.get(server.url + "/api/v1/session", timeout=10)
        assert r.status_code == 200, r.text
        self.token = r.json()["token"]
        if login:
            r = self.post("/api/v1/session/authenticate", params={"login": login, "password": password})
            assert r.status_code == 200, r.text

    def get(self, path, params=None, **kw):
        p = {"token": self.token}
        p.update(params or {})
        return requests.get(self.server.url + path, params=p, timeout=30, **kw)

    def post(self, path, params=None, **kw):
        p = {"token": self.token}
        p.update(params or {})
        return requests.post(self.server.url + path, params=p, timeout=30, **kw)

    def tags(self):
        r = self.get("/api/v1/tags")
        assert r.status_code == 200, r.text
        return r.json()

    def replace(self, body, **params):
        return self.post("/api/v1/tags", params=params, json=body)


def user(admin, login, rights, password="password-123"):
    r = admin.post("/v1/users", json={"login": login, "password": password, "rights": rights})
    assert r.status_code in (201, 409), r.text
    return login, password


def err(r, code, realm="user", status=400):
    assert r.status_code == status, r.text
    body = r.json()
    assert body["realm"] == realm
    assert body["code"] == code
    for h in EASYDB_HEADERS:
        assert h in r.headers
    if realm == "user":
        assert "description" not in body
    else:
        assert isinstance(body["description"], str) and body["description"]
        assert "parameters" not in body
    return body


@pytest.fixture(scope="module")
def editor(server, admin):
    login, pw = user(admin, "editor", ["tags:read", "tags:write"])
    return Easydb(server, login, pw)


@pytest.fixture(scope="module")
def reader(server, admin):
    login, pw = user(admin, "reader", ["tags:read"])
    return Easydb(server, login, pw)


@pytest.fixture
def clean(editor):
    """Starts a test with no tag groups at all."""
    r = editor.replace([], delete_policy="remove_tags", collection_rights_policy="remove_acl")
    assert r.status_code == 200, r.text
    assert r.json() == []
    return editor


def ids(lst):
    return [(g["taggroup"]["_id"], [t["tag"]["_id"] for t in g["_tags"]]) for g in lst]


def strip_ids(lst):
    out = copy.deepcopy(lst)
    for g in out:
        g["taggroup"].pop("_id")
        for t in g["_tags"]:
            t["tag"].pop("_id")
    return out


# ---- sessions ----

def test_new_session_is_unauthenticated(server):
    r = requests.get(server.url + "/api/v1/session", timeout=10)
    assert r.status_code == 200
    s = r.json()
    assert s["token"].startswith("tgd_")
    assert s["authentication_methods"] == [{"method": "easydb"}]
    assert s["instance"]["api"] == "1" and s["instance"]["name"] == "tagd"
    assert s["frontend_language"] == "en-US"
    assert s["config"] == {"base": {}, "defaults": {}, "extensions": {}}
    for k in ("authenticated", "user", "system_rights"):
        assert k not in s
    for h in EASYDB_HEADERS:
        assert r.headers[h] == "1"
    assert r.headers["Cache-Control"] == "no-cache"
    assert r.headers["Pragma"] == "no-cache"
    # Two sessions never share a token.
    assert requests.get(server.url + "/api/v1/session", timeout=10).json()["token"] != s["token"]


def test_session_instance_and_locale_types(server, admin):
    """easydb's session type (types/session): instance.server_version and user-schema are
    integers, frontend_locale an object (issue 17); for new, shown, re-languaged and
    authenticated sessions alike."""
    user(admin, "typed", ["tags:read"])
    c = Easydb(server)
    answers = [requests.get(server.url + "/api/v1/session", timeout=10),
               c.get("/api/v1/session", params={"language": "de-DE"}),
               c.post("/api/v1/session/authenticate", params={"login": "typed", "password": "password-123"}),
               c.post("/api/v1/session/deauthenticate")]
    for r in answers:
        assert r.status_code == 200, r.text
        s = r.json()
        assert validate(s, SESSION) == [], s
        inst = s["instance"]
        assert type(inst["server_version"]) is int and inst["server_version"] > 0
        assert inst["user-schema"] == int(r.headers["X-Easydb-User-Schema-Version"])
        loc = s["frontend_locale"]
        assert isinstance(loc, dict)
        assert loc["code"] == s["frontend_language"]
        lang, _, region = s["frontend_language"].partition("-")
        assert loc["language"] == lang and loc["region"] == region
    assert answers[1].json()["frontend_locale"]["code"] == "de-DE"
    # server_version is the version tagd reports, as one integer.
    out = subprocess.run([server.bin, "--version"], capture_output=True, text=True).stdout
    major, minor, patch = (int(x) for x in out.split()[1].split("."))
    assert answers[0].json()["instance"]["server_version"] == major * 10000 + minor * 100 + patch


def test_type_table_rejects_wrong_types():
    """The type check itself: what tagd answered before issue 17 fails it."""
    old = {"token": "t", "instance": {"api": "1", "name": "tagd", "server_version": "0.1.0",
                                      "solution": "tagd", "user-schema": "1"},
           "frontend_language": "en-US", "frontend_locale": "en-US",
           "authentication_methods": [{"method": "easydb"}],
           "config": {"base": {}, "defaults": {}, "extensions": {}}}
    errors = validate(old, SESSION)
    assert len(errors) == 3, errors
    assert any("server_version" in e for e in errors) and any("frontend_locale" in e for e in errors)
    group = [{"_basetype": "taggroup", "_tags": [],
              "taggroup": {"_id": 1, "type": "choice", "displayname": {"en-US": "G"},
                           "reference": None}}]
    assert validate(group, TAGGROUPS) != []
    group[0]["taggroup"].pop("reference")
    assert validate(group, TAGGROUPS) == []
    group[0]["taggroup"]["colour"] = "red"
    assert validate(group, TAGGROUPS) != []
    with pytest.raises(AssertionError):
        check_answer("GET", "/api/v1/tags", 400, {"realm": "user", "code": 5})


def test_session_show_and_language(server):
    c = Easydb(server)
    r = c.get("/api/v1/session")
    assert r.status_code == 200 and r.json()["token"] == c.token
    r = c.get("/api/v1/session", params={"language": "de-DE"})
    assert r.json()["frontend_language"] == "de-DE"
    assert c.get("/api/v1/session").json()["frontend_language"] == "de-DE"
    b = err(c.get("/api/v1/session", params={"language": "klingon"}), "error.user.language_not_found")
    assert b["parameters"] == {"id": "klingon"}
    r = requests.get(server.url + "/api/v1/session", params={"language": "fr-FR"}, timeout=10)
    assert r.json()["frontend_language"] == "fr-FR"
    err(requests.get(server.url + "/api/v1/session", params={"language": "x"}, timeout=10),
        "error.user.language_not_found")


def test_session_not_found(server):
    b = err(requests.get(server.url + "/api/v1/session", params={"token": "nope"}, timeout=10),
            "error.user.session_not_found")
    assert b["parameters"] == {"id": "nope"}
    for path in ("/api/v1/session/authenticate", "/api/v1/session/deauthenticate"):
        err(requests.post(server.url + path, params={"token": "nope", "login": "a", "password": "b"},
                          timeout=10), "error.user.session_not_found")
    # A native API token is not a session.
    err(requests.get(server.url + "/api/v1/session", params={"token": ADMIN_TOKEN}, timeout=10),
        "error.user.session_not_found")


def test_authenticate(server, admin):
    user(admin, "editor", ["tags:read", "tags:write"])
    c = Easydb(server)
    r = c.post("/api/v1/session/authenticate", params={"login": "editor", "password": "password-123",
                                                        "method": "easydb"})
    assert r.status_code == 200, r.text
    s = r.json()
    assert s["token"] == c.token
    assert s["authenticated"]["method"] == "easydb"
    assert s["authenticated"]["timestamp"].endswith("Z")
    assert s["user"]["user"]["login"] == "editor"
    assert s["system_rights"] == {"system.tagmanager": {}}
    # The session shows it from now on.
    assert c.get("/api/v1/session").json()["user"]["user"]["login"] == "editor"


def test_authenticate_in_form_body_and_admin_rights(server):
    c = Easydb(server)
    r = requests.post(server.url + "/api/v1/session/authenticate",
                      data={"token": c.token, "login": "admin", "password": "wrong"}, timeout=10)
    err(r, "error.user.login_failed")


def test_authenticate_errors(server, admin):
    user(admin, "reader", ["tags:read"])
    c = Easydb(server)
    err(c.post("/api/v1/session/authenticate", params={"login": "reader", "password": "nope-nope"}),
        "error.user.login_failed")
    err(c.post("/api/v1/session/authenticate", params={"login": "ghost", "password": "nope-nope"}),
        "error.user.login_failed")
    err(c.post("/api/v1/session/authenticate", params={"login": "reader"}),
        "error.user.username_or_password_empty")
    err(c.post("/api/v1/session/authenticate", params={"login": "", "password": "x"}),
        "error.user.username_or_password_empty")
    b = err(c.post("/api/v1/session/authenticate",
                   params={"login": "reader", "password": "password-123", "method": "anonymous"}),
            "error.user.authentication_method_not_allowed")
    assert b["parameters"] == {"method": "anonymous"}
    # Still unauthenticated after all that.
    assert "authenticated" not in c.get("/api/v1/session").json()
    # A method list is tried in order; easydb in it is enough.
    r = c.post("/api/v1/session/authenticate",
               params={"login": "reader", "password": "password-123", "method": "anonymous,easydb"})
    assert r.status_code == 200
    assert r.json()["system_rights"] == {}


def test_form_encoded_authenticate(server, admin):
    user(admin, "former", ["tags:read"])
    c = Easydb(server)
    r = requests.post(server.url + "/api/v1/session/authenticate",
                      data={"token": c.token, "login": "former", "password": "password-123"},
                      timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["user"]["user"]["login"] == "former"


def test_deauthenticate(server, admin):
    login, pw = user(admin, "leaver", ["tags:read"])
    c = Easydb(server, login, pw)
    assert c.get("/api/v1/tags").status_code == 200
    r = c.post("/api/v1/session/deauthenticate")
    assert r.status_code == 200
    s = r.json()
    assert s["token"] == c.token and "authenticated" not in s and "user" not in s
    err(c.get("/api/v1/tags"), "error.user.not_authenticated")
    # Deauthenticating an unauthenticated session does nothing.
    r = c.post("/api/v1/session/deauthenticate")
    assert r.status_code == 200 and "authenticated" not in r.json()


def test_token_header(server, editor):
    r = requests.get(server.url + "/api/v1/tags", headers={"x-easydb-token": editor.token}, timeout=10)
    assert r.status_code == 200
    r = requests.get(server.url + "/api/v1/session", headers={"X-Easydb-Token": editor.token},
                     timeout=10)
    assert r.json()["token"] == editor.token


def test_session_expiry():
    ttl = 3
    s = Server(extra_args=["--session-ttl", str(ttl)]).start()
    try:
        admin = Api(s, ADMIN_TOKEN)
        login, pw = user(admin, "shortlived", ["tags:read", "tags:write"])
        start = time.time()
        c = Easydb(s, login, pw)
        # Only checked while surely inside the lifetime (argon2id is slow under valgrind).
        if time.time() - start < ttl - 1:
            assert c.get("/api/v1/tags").status_code == 200
        until = time.time() + ttl
        exp = c.get("/api/v1/session")
        if exp.status_code == 200:
            iso = exp.json()["expires"]
            assert iso.endswith("Z")
            until = datetime.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
        time.sleep(max(0.0, until + 0.3 - time.time()))
        err(c.get("/api/v1/tags"), "error.user.not_authenticated")
        err(c.replace([]), "error.user.not_authenticated")
        err(c.get("/api/v1/session"), "error.user.session_not_found")
        err(c.post("/api/v1/session/authenticate", params={"login": login, "password": pw}),
            "error.user.session_not_found")
        # A new session works again.
        start = time.time()
        c = Easydb(s, login, pw)
        if time.time() - start < ttl - 1:
            assert c.get("/api/v1/tags").status_code == 200
    finally:
        s.cleanup()


# ---- reading and rights ----

def test_tags_need_authenticated_session(server):
    err(requests.get(server.url + "/api/v1/tags", timeout=10), "error.user.not_authenticated")
    err(requests.get(server.url + "/api/v1/tags", params={"token": "bogus"}, timeout=10),
        "error.user.not_authenticated")
    c = Easydb(server)
    b = err(c.get("/api/v1/tags"), "error.user.not_authenticated")
    assert "parameters" not in b
    err(c.replace([]), "error.user.not_authenticated")


def test_post_needs_tagmanager(server, reader, editor):
    before = editor.tags()
    b = err(reader.replace([]), "error.user.no_system_right")
    assert b["parameters"] == {"right": "system.tagmanager"}
    assert editor.tags() == before
    assert isinstance(reader.tags(), list)


# ---- the seed's exchanges ----

def test_seed_create_and_get(clean, admin):
    r = clean.replace(SEED)
    assert r.status_code == 200, r.text
    assert r.headers["X-Easydb-Api-Version"] == "1"
    body = r.json()
    assert body == clean.tags()
    assert len(body) == 1
    g = body[0]
    assert g["_basetype"] == "taggroup"
    assert set(g) == {"_basetype", "taggroup", "_tags"}
    assert isinstance(g["taggroup"]["_id"], int)
    assert g["taggroup"]["type"] == "choice"
    assert g["taggroup"]["displayname"] == {"de-DE": "Bearbeitungszustand", "en-US": "Processing state"}
    new, pub = g["_tags"]
    assert set(new) == {"_basetype", "tag", "_acl"}
    assert set(new["tag"]) == TAG_KEYS
    assert new["_basetype"] == "tag"
    assert new["tag"]["type"] == "individual"
    assert new["tag"]["displayname"] == {"de-DE": "neu", "en-US": "new"}
    assert new["tag"]["description"] == {"de-DE": "Datensatz wurde neu erstellt", "en-US": "Record created"}
    assert new["tag"]["displaytype"] == "edit"
    assert new["tag"]["sticky"] is False and new["tag"]["is_default"] is True
    assert new["tag"]["enabled"] is True
    assert new["tag"]["frontend_prefs"] is None
    # Unset references and shortnames are left out: easydb documents them as strings.
    assert "reference" not in new["tag"] and "shortname" not in new["tag"]
    assert "reference" not in g["taggroup"] and "shortname" not in g["taggroup"]
    assert new["_acl"] == SEED[0]["_tags"][0]["_acl"]
    assert pub["tag"]["displayname"] == {"de-DE": "veröffentlicht", "en-US": "published"}
    assert pub["tag"]["sticky"] is True
    assert pub["tag"]["description"] == {}
    assert pub["_acl"] == []
    # The same on tagd's own model: one group, two tags in it, nothing kept twice.
    groups = admin.get("/v1/groups").json()["items"]
    assert [x["id"] for x in groups] == [g["taggroup"]["_id"]]
    assert groups[0]["exclusive"] is True
    assert groups[0]["tags"] == [new["tag"]["_id"], pub["tag"]["_id"]]
    t = admin.get("/v1/tags/%d" % new["tag"]["_id"]).json()
    assert t["name"] == "new" and t["display_name"] == "new"
    assert t["l10n"] == {"de-DE": "neu", "en-US": "new"}
    assert t["description"] == "Record created"
    assert t["group_id"] == g["taggroup"]["_id"] and t["position"] == 0
    # Posting what GET answered changes nothing.
    rev = admin.get("/readyz").json()["revision"]
    r = clean.replace(body)
    assert r.status_code == 200 and r.json() == body
    assert admin.get("/readyz").json()["revision"] == rev


def test_seed_get_document_shape(clean):
    """The documented GET answer (E1), ids aside, is what tagd answers after creating it."""
    clean.replace(SEED)
    got = strip_ids(clean.tags())
    want = copy.deepcopy(SEED)
    for g in want:
        for t in g["_tags"]:
            t["tag"].setdefault("description", {})
            t["tag"].setdefault("displaytype", "facet")
            t["tag"].update({"enabled": True, "frontend_prefs": None})
    assert got == want


def test_reorder_and_update(clean, admin):
    body = clean.replace(SEED + [{
        "_basetype": "taggroup", "taggroup": {"type": "checkbox", "displayname": {"en-US": "Colour"}},
        "_tags": [{"_basetype": "tag", "tag": {"displayname": {"en-US": c}}}
                  for c in ("red", "green", "blue")]}]).json()
    (g1, t1), (g2, t2) = ids(body)
    new = copy.deepcopy(body)
    new.reverse()
    new[0]["_tags"].reverse()
    new[1]["_tags"].reverse()
    new[1]["taggroup"]["displayname"]["en-US"] = "State"
    new[0]["_tags"][0]["tag"]["displayname"] = {"en-US": "navy"}
    r = clean.replace(new)
    assert r.status_code == 200, r.text
    out = r.json()
    assert ids(out) == [(g2, list(reversed(t2))), (g1, list(reversed(t1)))]
    assert out[0]["_tags"][0]["tag"]["displayname"] == {"en-US": "navy"}
    assert out[1]["taggroup"]["displayname"]["en-US"] == "State"
    assert out == clean.tags()
    groups = admin.get("/v1/groups").json()["items"]
    assert [(x["id"], x["tags"]) for x in groups] == ids(out)
    assert [x["position"] for x in groups] == [0, 1]


def test_create_update_delete_in_one(clean, admin):
    body = clean.replace(SEED).json()
    gid, (t_new, t_pub) = ids(body)[0]
    new = copy.deepcopy(body)
    del new[0]["_tags"][1]  # published: deleted
    new[0]["_tags"].insert(0, {"_basetype": "tag", "tag": {"displayname": {"en-US": "draft"}}})
    r = clean.replace(new)
    assert r.status_code == 200, r.text
    (g, tags), = ids(r.json())
    assert g == gid and tags[1] == t_new and tags[0] not in (t_new, t_pub)
    assert admin.get("/v1/tags/%d" % t_pub).json()["deleted"] is True
    # Recreating a deleted tag's name is a new tag (a new id and a tagd name that is free).
    new = r.json()
    new[0]["_tags"].append({"_basetype": "tag", "tag": {"displayname": {"en-US": "published"}}})
    out = clean.replace(new).json()
    pub2 = out[0]["_tags"][2]["tag"]["_id"]
    assert pub2 != t_pub
    name = admin.get("/v1/tags/%d" % pub2).json()["name"]
    assert name.startswith("published (") and name.endswith(")")


def test_move_tag_between_groups_and_delete_group(clean):
    body = clean.replace([
        {"taggroup": {"displayname": {"en-US": "A"}},
         "_tags": [{"tag": {"displayname": {"en-US": "x"}}}, {"tag": {"displayname": {"en-US": "y"}}}]},
        {"taggroup": {"displayname": {"en-US": "B"}}, "_tags": []},
    ]).json()
    (ga, (x, y)), (gb, _) = ids(body)
    # Group A goes away; x moves to B, y is deleted with it.
    r = clean.replace([{"taggroup": {"_id": gb, "displayname": {"en-US": "B"}},
                        "_tags": [{"tag": {"_id": x, "displayname": {"en-US": "x"}}}]}])
    assert r.status_code == 200, r.text
    assert ids(r.json()) == [(gb, [x])]


def test_lookup_by_reference(clean):
    body = clean.replace([{"taggroup": {"displayname": {"en-US": "A"}, "reference": "grp-a"},
                           "_tags": [{"tag": {"displayname": {"en-US": "x"}, "reference": "tag-x"}}]}]).json()
    (ga, (x,)), = ids(body)
    assert body[0]["taggroup"]["reference"] == "grp-a"
    r = clean.replace([{"taggroup": {"lookup:_id": {"reference": "grp-a"}, "displayname": {"en-US": "A2"},
                                     "reference": "grp-a"},
                        "_tags": [{"tag": {"lookup:_id": {"reference": "tag-x"},
                                           "displayname": {"en-US": "x2"}, "reference": "tag-x"}}]}])
    assert r.status_code == 200, r.text
    assert ids(r.json()) == [(ga, [x])]
    b = err(clean.replace([{"taggroup": {"lookup:_id": {"reference": "nope"}, "displayname": {"en-US": "A"}}}]),
            "error.user.tag_not_found")
    assert b["parameters"] == {"id": "nope"}


def test_native_groups_are_visible(clean, admin):
    g = admin.post("/v1/groups", json={"name": "Native"}).json()
    t = admin.post("/v1/tags", json={"name": "Native tag", "group_id": g["id"]}).json()
    admin.post("/v1/tags", json={"name": "Ungrouped"})
    lst = clean.tags()
    assert len(lst) == 1
    assert lst[0]["taggroup"] == {"_id": g["id"], "type": "checkbox", "displayname": {"en-US": "Native"}}
    assert lst[0]["_tags"][0]["tag"]["_id"] == t["id"]
    assert lst[0]["_tags"][0]["tag"]["displayname"] == {"en-US": "Native tag"}
    # Posting it back keeps the native names; the ungrouped tag is never touched.
    assert clean.replace(lst).status_code == 200
    assert admin.get("/v1/tags/%d" % t["id"]).json()["name"] == "Native tag"
    names = [x["name"] for x in admin.get("/v1/tags").json()["items"]]
    assert "Ungrouped" in names


def test_frontend_prefs_and_defaults_round_trip(clean):
    r = clean.replace([{"taggroup": {"type": "checkbox", "displayname": {"en-US": "G"}, "shortname": "g"},
                        "_tags": [{"tag": {"displayname": {"en-US": "x"}, "type": "all_versions",
                                           "displaytype": "search", "enabled": False,
                                           "frontend_prefs": {"webfrontend": {"color": "green", "icon": "fa-eye"}},
                                           "shortname": "x", "_version": 3}}]}])
    assert r.status_code == 200, r.text
    t = r.json()[0]["_tags"][0]["tag"]
    assert t["type"] == "all_versions" and t["displaytype"] == "search" and t["enabled"] is False
    assert t["frontend_prefs"] == {"webfrontend": {"color": "green", "icon": "fa-eye"}}
    assert t["shortname"] == "x" and "_version" not in t and "reference" not in t
    assert r.json()[0]["taggroup"]["shortname"] == "g"
    assert "reference" not in r.json()[0]["taggroup"]


def test_unset_reference_and_shortname_are_left_out(clean):
    """easydb documents only frontend_prefs as nullable: a reference or shortname that is not
    set is not sent at all (issue 17), also after it was set and then taken away (null or
    left out), and for groups and tags made through the native API."""
    body = clean.replace([{"taggroup": {"displayname": {"en-US": "G"}, "reference": "g-ref",
                                        "shortname": "g"},
                           "_tags": [{"tag": {"displayname": {"en-US": "x"}, "reference": "x-ref",
                                              "shortname": "x"}}]}]).json()
    g, t = body[0]["taggroup"], body[0]["_tags"][0]["tag"]
    assert (g["reference"], g["shortname"], t["reference"], t["shortname"]) == ("g-ref", "g", "x-ref", "x")
    g["reference"] = None
    g.pop("shortname")
    t["reference"] = None
    t["shortname"] = None
    r = clean.replace(body)
    assert r.status_code == 200, r.text
    for out in (r.json(), clean.tags()):
        g, t = out[0]["taggroup"], out[0]["_tags"][0]["tag"]
        for k in ("reference", "shortname"):
            assert k not in g and k not in t, out
        assert t["frontend_prefs"] is None  # the one documented nullable field
        assert validate(out, TAGGROUPS) == []


# ---- errors and atomicity ----

def assert_unchanged(c, admin, before, rev):
    assert c.tags() == before
    assert admin.get("/readyz").json()["revision"] == rev


@pytest.mark.parametrize("mutate,code,realm,params", [
    (lambda b: b[0]["taggroup"].update(type="bogus"), "error.api.invalid_value", "api", None),
    (lambda b: b[0]["_tags"][2]["tag"].update(type="bogus"), "error.api.invalid_value", "api", None),
    (lambda b: b[0]["_tags"][2]["tag"].update(_id=987654), "error.user.tag_not_found", "user", {"id": "987654"}),
    (lambda b: b[0]["taggroup"].update(_id=987654), "error.user.tag_not_found", "user", {"id": "987654"}),
    (lambda b: b[0]["_tags"][2]["tag"].update(displayname={"en-US": "brand-new"}),
     "error.user.integrity_constraint_violation", "user", {"constraint": "tag.displayname"}),
    (lambda b: b.append({"taggroup": {"displayname": {"de-DE": "Bearbeitungszustand"}}}),
     "error.user.integrity_constraint_violation", "user", {"constraint": "taggroup.displayname"}),
    (lambda b: b[0]["_tags"][2]["tag"].update(displayname={"en-US": ""}),
     "error.user.not_null_violation", "user", {"column": "displayname"}),
    (lambda b: b[0]["_tags"][2]["tag"].pop("displayname"),
     "error.user.not_null_violation", "user", {"column": "displayname"}),
    (lambda b: b[0]["_tags"][2]["tag"].update(is_default=True),
     "error.user.integrity_constraint_violation", "user", {"constraint": "tag.is_default"}),
    (lambda b: [t["tag"].update(reference="same") for t in b[0]["_tags"]],
     "error.user.integrity_constraint_violation", "user", {"constraint": "tag.reference"}),
    (lambda b: b[0]["_tags"].append(copy.deepcopy(b[0]["_tags"][1])), "error.api.invalid_value", "api", None),
    (lambda b: b[0]["_tags"][2]["tag"].update(displayname="new"), "error.api.type_mismatch", "api", None),
    (lambda b: b[0]["_tags"][2]["tag"].update(displayname={"en-US": 5}), "error.api.type_mismatch", "api", None),
    (lambda b: b[0]["_tags"][2]["tag"].update(sticky="yes"), "error.api.type_mismatch", "api", None),
    (lambda b: b[0]["_tags"][2]["tag"].update(_id="12"), "error.api.type_mismatch", "api", None),
    (lambda b: b[0]["_tags"][2].update(_acl={}), "error.api.type_mismatch", "api", None),
    (lambda b: b[0]["_tags"][2].update(_basetype="taggroup"), "error.api.invalid_value", "api", None),
    (lambda b: b[0]["_tags"][2].pop("tag"), "error.api.attribute_expected", "api", None),
    (lambda b: b[0].pop("taggroup"), "error.api.attribute_expected", "api", None),
    (lambda b: b[0].update(_tags={}), "error.api.type_mismatch", "api", None),
    (lambda b: b.append(7), "error.api.type_mismatch", "api", None),
])
def test_invalid_item_changes_nothing(clean, admin, mutate, code, realm, params):
    body = clean.replace(SEED).json()
    # A valid change first in the list: it must not survive the invalid item after it.
    body[0]["_tags"][0]["tag"]["displayname"]["en-US"] = "changed"
    body[0]["_tags"].insert(0, {"tag": {"displayname": {"en-US": "brand-new"}}})
    rev = admin.get("/readyz").json()["revision"]
    before = clean.tags()
    mutate(body)
    b = err(clean.replace(body), code, realm)
    if params is not None:
        assert b["parameters"] == params
    assert_unchanged(clean, admin, before, rev)


def test_malformed_bodies(clean, admin):
    before = clean.tags()
    rev = admin.get("/readyz").json()["revision"]
    url = clean.server.url + "/api/v1/tags"
    p = {"token": clean.token}
    err(requests.post(url, params=p, data=b"[{", headers={"content-type": "application/json"}, timeout=10),
        "error.api.invalid_content", "api")
    err(requests.post(url, params=p, data=b"", headers={"content-type": "application/json"}, timeout=10),
        "error.api.invalid_content", "api")
    err(requests.post(url, params=p, json={"taggroup": {}}, timeout=10), "error.api.type_mismatch", "api")
    err(requests.post(url, params=p, data=b"[]", headers={"content-type": "text/plain"}, timeout=10),
        "error.api.invalid_content", "api")
    assert_unchanged(clean, admin, before, rev)


def test_unknown_api_and_method(server, editor):
    err(requests.get(server.url + "/api/v1/nonexistent", timeout=10), "error.api.invalid_api", "api")
    err(requests.delete(server.url + "/api/v1/tags", params={"token": editor.token}, timeout=10),
        "error.api.invalid_request_method", "api")


def test_api_alias_without_v1(server, editor):
    r = requests.get(server.url + "/api/tags", params={"token": editor.token}, timeout=10)
    assert r.status_code == 200 and r.json() == editor.tags()


# ---- the 202 confirmation protocol ----

def assign(admin, tag_id, key="doc-1"):
    r = admin.post("/v1/resources/doc/%s/tags" % key, json={"tags": [tag_id]})
    assert r.status_code in (200, 201), r.text


def resource_tags(admin, key="doc-1"):
    r = admin.get("/v1/resources/doc/%s/tags" % key)
    assert r.status_code == 200, r.text
    return [t["tag_id"] for t in r.json()["items"]]


def test_no_confirmation_without_consequences(clean, admin):
    body = clean.replace(SEED).json()
    del body[0]["_tags"][0]  # unassigned: deleted at once
    r = clean.replace(body)
    assert r.status_code == 200, r.text
    assert len(r.json()[0]["_tags"]) == 1


def test_delete_assigned_tag_needs_confirmation(clean, admin):
    body = clean.replace(SEED).json()
    pub = body[0]["_tags"][1]["tag"]["_id"]
    assign(admin, pub, "doc-202")
    assign(admin, pub, "doc-203")
    before = clean.tags()
    rev = admin.get("/readyz").json()["revision"]
    new = copy.deepcopy(body)
    del new[0]["_tags"][1]
    new[0]["_tags"].append({"tag": {"displayname": {"en-US": "also new"}}})
    r = clean.replace(new)
    assert r.status_code == 202, r.text
    assert r.json() == {"tasks": [{
        "title": "Delete tags in use?",
        "message": "The tags which are to be deleted are still in use:\n\n- 1 Tag(s) on 2 Resource(s)\n\n"
                   "Should the tags automatically be removed and deleted anyways?",
        "buttons": [{"text": "Delete tags", "name": "delete_policy", "value": "remove_tags"}]}]}
    assert_unchanged(clean, admin, before, rev)
    assert pub in resource_tags(admin, "doc-202")
    # An unknown answer is an error, not a confirmation.
    err(clean.replace(new, delete_policy="keep"), "error.api.invalid_value", "api")
    err(clean.replace(new, collection_rights_policy="whatever"), "error.api.invalid_value", "api")
    assert_unchanged(clean, admin, before, rev)
    # The client repeats the identical request with the button's name=value.
    r = clean.replace(new, delete_policy="remove_tags")
    assert r.status_code == 200, r.text
    assert [t["tag"]["displayname"]["en-US"] for t in r.json()[0]["_tags"]] == ["new", "also new"]
    assert pub not in resource_tags(admin, "doc-202")
    assert pub not in resource_tags(admin, "doc-203")
    # The removals are in the change log, as assignment changes of the same revision.
    ch = admin.get("/v1/changes", params={"since": rev}).json()
    items = ch.get("items", ch.get("changes", []))
    removed = [c for c in items if c["entity"] == "assignment" and c["op"] == "remove"]
    assert len(removed) == 2
    assert admin.get("/v1/tags/%d" % pub).json()["deleted"] is True


def test_tag_deletion_is_not_refused_by_a_policy(clean, admin):
    """Deleting a tag in a full replace takes its assignments with it, as a native tag deletion
    does: a taxonomy change, which an enforced policy does not refuse (docs/taxonomy.md,
    "Policies"); the resources it leaves short are listed as violations."""
    body = clean.replace(SEED).json()
    pub = body[0]["_tags"][1]["tag"]["_id"]
    name = admin.get("/v1/tags/%d" % pub).json()["name"]
    assign(admin, pub, "doc-pol")
    r = admin.post("/v1/policies", json={"kind": "required", "subtree": name,
                                         "resource_kind": "doc", "mode": "enforce"})
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    try:
        new = copy.deepcopy(body)
        del new[0]["_tags"][1]
        r = clean.replace(new, delete_policy="remove_tags")
        assert r.status_code == 200, r.text
        assert pub not in resource_tags(admin, "doc-pol")
        v = admin.get("/v1/policies/violations", params={"policy": pid}).json()["items"]
        assert "doc-pol" in [x["resource"]["key"] for x in v]
    finally:
        assert admin.delete("/v1/policies/%d" % pid).status_code == 204


def test_delete_tag_with_acl_needs_rights_confirmation(clean, admin):
    body = clean.replace(SEED).json()
    new_id = body[0]["_tags"][0]["tag"]["_id"]  # has an ACL entry
    assign(admin, new_id, "doc-acl")
    new = copy.deepcopy(body)
    del new[0]["_tags"][0]
    r = clean.replace(new)
    assert r.status_code == 202
    tasks = r.json()["tasks"]
    assert len(tasks) == 2
    assert tasks[0]["buttons"] == [{"text": "Delete tags", "name": "delete_policy", "value": "remove_tags"}]
    assert tasks[1]["buttons"] == [
        {"text": "Remove ACL entries", "name": "collection_rights_policy", "value": "remove_acl"},
        {"text": "Remove objects", "name": "collection_rights_policy", "value": "remove_objects"}]
    for t in tasks:
        assert isinstance(t["title"], str) and isinstance(t["message"], str)
    # Answering only the first task is not enough.
    assert clean.replace(new, delete_policy="remove_tags").status_code == 202
    r = clean.replace(new, delete_policy="remove_tags", collection_rights_policy="remove_objects")
    assert r.status_code == 200, r.text
    assert new_id not in resource_tags(admin, "doc-acl")


def test_collection_rights_policy_alone_confirms(clean, admin):
    body = clean.replace(SEED).json()
    pub = body[0]["_tags"][1]["tag"]["_id"]
    assign(admin, pub, "doc-crp")
    r = clean.replace([], collection_rights_policy="remove_acl")
    assert r.status_code == 200 and r.json() == []
    assert resource_tags(admin, "doc-crp") == []


def test_failure_while_writing_rolls_back(clean, admin):
    """A rule that only fails after earlier items were written (a protected tag that would
    change) still leaves everything as it was."""
    body = clean.replace(SEED).json()
    gid = body[0]["taggroup"]["_id"]
    r = admin.post("/v1/tags", json={"name": "Locked", "group_id": gid, "protected": True})
    assert r.status_code == 201, r.text
    locked = r.json()["id"]
    before = clean.tags()
    rev = admin.get("/readyz").json()["revision"]
    new = copy.deepcopy(before)
    del new[0]["_tags"][1]                                            # a deletion
    new[0]["_tags"].insert(0, {"tag": {"displayname": {"en-US": "x"}}})  # a creation
    new[0]["_tags"][-1]["tag"]["displayname"] = {"en-US": "Unlocked"}  # the protected tag
    b = err(clean.replace(new), "error.user.integrity_constraint_violation")
    assert b["parameters"] == {"constraint": "tag.protected"}
    assert_unchanged(clean, admin, before, rev)
    # Unchanged, the protected tag does not stop a replace.
    new[0]["_tags"][-1]["tag"]["displayname"] = before[0]["_tags"][-1]["tag"]["displayname"]
    assert clean.replace(new).status_code == 200
    # ... but deleting it does.
    b = err(clean.replace([]), "error.user.integrity_constraint_violation")
    assert b["parameters"] == {"constraint": "tag.protected"}
    assert admin.patch("/v1/tags/%d" % locked, json={"protected": False}).status_code == 200
    assert clean.replace([]).status_code == 200


# ---- golden cases (tests/api/cases/easydb/*.json) ----
#
# Each case is a list of steps: a request (method, path, params, json, headers; "as": "admin"
# sends it with the native admin token) and what to expect (status, headers, json). In the
# expected json "$int:NAME" matches an integer and remembers it, "$NAME" must equal what was
# remembered, "$str" is any string and "$any" anything; "capture" remembers values by path. In
# requests "$NAME" is replaced by the remembered value and "{editor}", "{reader}" and
# "{anonymous}" by session tokens.

CASES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cases", "easydb")


def _subst(v, env):
    if isinstance(v, str):
        if v.startswith("$") and v[1:] in env:
            return env[v[1:]]
        for k, x in env.items():
            if isinstance(x, str):
                v = v.replace("{%s}" % k, x)
        return v
    if isinstance(v, list):
        return [_subst(x, env) for x in v]
    if isinstance(v, dict):
        return {k: _subst(x, env) for k, x in v.items()}
    return v


def _match(want, got, env, where="$"):
    if isinstance(want, str) and want.startswith("$"):
        if want == "$any":
            return
        if want == "$str":
            assert isinstance(got, str), where
            return
        if want.startswith("$int:"):
            assert isinstance(got, int) and not isinstance(got, bool), where
            env[want[5:]] = got
            return
        if want[1:] in env:
            assert got == env[want[1:]], "%s: %r != %r" % (where, got, env[want[1:]])
            return
    if isinstance(want, dict):
        assert isinstance(got, dict) and set(got) == set(want), "%s: %r" % (where, got)
        for k in want:
            _match(want[k], got[k], env, where + "." + k)
        return
    if isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), "%s: %r" % (where, got)
        for i, (w, g) in enumerate(zip(want, got)):
            _match(w, g, env, "%s[%d]" % (where, i))
        return
    assert got == want and type(got) is type(want), "%s: %r != %r" % (where, got, want)


@pytest.mark.parametrize("case", sorted(f for f in os.listdir(CASES) if f.endswith(".json")))
def test_golden(case, clean, reader, admin, server):
    with open(os.path.join(CASES, case), encoding="utf-8") as f:
        spec = json.load(f)
    env = {"editor": clean.token, "reader": reader.token, "anonymous": Easydb(server).token}
    for i, step in enumerate(spec["steps"]):
        req = _subst(step["request"], env)
        headers = dict(req.get("headers", {}))
        if step.get("as") == "admin":
            headers["Authorization"] = "Bearer " + ADMIN_TOKEN
        r = requests.request(req["method"], server.url + req["path"], params=req.get("params"),
                             json=req.get("json"), headers=headers, timeout=30)
        exp = step["expect"]
        ctx = "%s step %d: %s" % (case, i, r.text[:2000])
        if exp.get("status") != "$any":
            assert r.status_code == exp["status"], ctx
        for k, v in exp.get("headers", {}).items():
            assert r.headers.get(k) == v, ctx
        if "json" in exp:
            _match(exp["json"], r.json(), env)
        for name, path in exp.get("capture", {}).items():
            v = r.json()
            for p in path:
                v = v[p]
            env[name] = v


# ---- organizations (issue 18) ----

def org_admin(server, admin, name):
    """A new organization and an admin token of it."""
    r = admin.post("/v1/organizations", json={"name": name})
    assert r.status_code == 201, r.text
    org = r.json()["id"]
    r = admin.post("/v1/tokens", json={"name": "admin-" + name, "rights": "admin", "organization_id": org})
    assert r.status_code == 201, r.text
    return org, Api(server, r.json()["token"])


def authenticate(server, token, login, password, **extra):
    return requests.post(server.url + "/api/v1/session/authenticate",
                         params=dict(token=token, login=login, password=password, **extra), timeout=10)


def test_logins_are_per_organization(server, admin):
    """Logins were unique across all organizations: one organization learned and blocked
    another's login names. Now each organization has its own, and easydb's login looks in the
    organization the request addresses (`organization=org_N`; the default one otherwise)."""
    org_b, b = org_admin(server, admin, "Tenant B")
    user(admin, "twin", ["tags:read"], password="password-aaa")
    r = b.post("/v1/users", json={"login": "Twin", "password": "password-bbb",
                                  "rights": ["tags:read", "tags:write"]})
    assert r.status_code == 201, r.text
    twin_b = r.json()["id"]
    # Still unique (case-insensitively) within one organization.
    r = b.post("/v1/users", json={"login": "twin", "password": "password-ccc", "rights": []})
    assert r.status_code == 409, r.text
    assert [u["login"] for u in b.get("/v1/users").json()["items"]] == ["Twin"]

    # A session of the default organization knows only its own twin.
    c = Easydb(server)
    err(authenticate(server, c.token, "twin", "password-bbb"), "error.user.login_failed")
    r = authenticate(server, c.token, "twin", "password-aaa")
    assert r.status_code == 200, r.text
    assert r.json()["system_rights"] == {}

    # A session started in organization B finds B's.
    r = requests.get(server.url + "/api/v1/session", params={"organization": org_b}, timeout=10)
    assert r.status_code == 200, r.text
    tb = r.json()["token"]
    err(authenticate(server, tb, "twin", "password-aaa"), "error.user.login_failed")
    r = authenticate(server, tb, "twin", "password-bbb")
    assert r.status_code == 200, r.text
    assert r.json()["user"]["user"]["_id"] == twin_b
    assert r.json()["system_rights"] == {"system.tagmanager": {}}
    # ... and works in B: a group made there is not the default organization's.
    r = requests.post(server.url + "/api/v1/tags", params={"token": tb},
                      json=[{"taggroup": {"displayname": {"en-US": "Only in B"}}, "_tags": []}], timeout=10)
    assert r.status_code == 200, r.text
    assert "Only in B" not in [g["name"] for g in admin.get("/v1/groups").json()["items"]]

    # The organization may also come with the login (form body), moving the session.
    c = Easydb(server)
    r = requests.post(server.url + "/api/v1/session/authenticate",
                      data={"token": c.token, "login": "twin", "password": "password-bbb",
                            "organization": org_b}, timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["user"]["user"]["_id"] == twin_b
    # A failed login there leaves the session where it was.
    c = Easydb(server)
    err(authenticate(server, c.token, "twin", "wrong-password", organization=org_b), "error.user.login_failed")
    assert authenticate(server, c.token, "twin", "password-aaa").status_code == 200

    # Unknown and malformed organizations.
    for bad in ("org_987654", "Tenant B", "org_x"):
        err(requests.get(server.url + "/api/v1/session", params={"organization": bad}, timeout=10),
            "error.api.invalid_value", "api")
        err(authenticate(server, Easydb(server).token, "twin", "password-aaa", organization=bad),
            "error.api.invalid_value", "api")


def test_migration_keeps_logins_working():
    """A store made before logins were per organization (migration 8): its users still log in,
    and afterwards another organization can have the same login."""
    if os.environ.get("TAGD_TEST_STORE"):
        pytest.skip("rewinds the SQLite file; tests/pg runs migration 8 on a new database")
    import sqlite3
    s = Server().start()
    try:
        a = Api(s, ADMIN_TOKEN)
        user(a, "keeper", ["tags:read", "tags:write"], password="password-kkk")
        assert s.stop() == 0
        db = sqlite3.connect(os.path.join(s.data, "tagd.db"))
        with db:
            # Back to the schema before 8: what the later migrations added goes too (12: the
            # tags' states, the assignments' expiry), and they run again after it.
            db.execute("DROP INDEX assignments_expiry")
            db.execute("ALTER TABLE assignments DROP COLUMN expires_at")
            db.execute("ALTER TABLE tags DROP COLUMN state")
            db.execute("ALTER TABLE tags DROP COLUMN replaced_by")
            db.execute("DROP INDEX users_login")
            db.execute("CREATE UNIQUE INDEX users_login ON users(login_key)")
            # A store of schema 7: the later migrations run again, so what they made goes too.
            db.execute("DELETE FROM schema_version WHERE v >= 8")
            db.execute("DROP TABLE IF EXISTS tag_aliases")
            db.execute("DROP TABLE IF EXISTS webhooks")
            db.execute("DROP TABLE IF EXISTS webhook_deliveries")
            db.execute("DROP TABLE IF EXISTS idempotency_keys")
            db.execute("DROP INDEX IF EXISTS assignments_closed")
            db.execute("ALTER TABLE changes DROP COLUMN api")
            db.execute("DROP TABLE IF EXISTS policies")  # 15: tag policies
            db.execute("DROP TABLE IF EXISTS policies_hist")
            db.execute("ALTER TABLE groups DROP COLUMN conflict")  # 16: conflict policies
            db.execute("DROP INDEX IF EXISTS tags_assign_restricted")  # 17: assign rights
            db.execute("ALTER TABLE tags DROP COLUMN assign_restricted")
            db.execute("ALTER TABLE tokens DROP COLUMN assign")
            db.execute("ALTER TABLE users DROP COLUMN assign")
            db.execute("DROP TABLE IF EXISTS import_jobs")  # 18: import jobs
        db.close()
        s.start()
        a = Api(s, ADMIN_TOKEN)
        c = Easydb(s)
        r = authenticate(s, c.token, "keeper", "password-kkk")
        assert r.status_code == 200, r.text
        assert r.json()["system_rights"] == {"system.tagmanager": {}}
        _, b = org_admin(s, a, "After migration")
        r = b.post("/v1/users", json={"login": "keeper", "password": "password-lll", "rights": []})
        assert r.status_code == 201, r.text
        db = sqlite3.connect(os.path.join(s.data, "tagd.db"))
        assert db.execute("SELECT max(v) FROM schema_version").fetchone()[0] >= 8
        db.close()
    finally:
        s.cleanup()


# ---- anonymous sessions (issue 18) ----

def stored_sessions(s):
    """The session rows of a stopped server's store."""
    q = "SELECT count(*) FROM tokens WHERE kind = 'session'"
    if s.store:
        out = subprocess.run(["psql", "-XAtq", s.store, "-c", q], capture_output=True, text=True,
                             check=True).stdout
        return int(out.strip())
    import sqlite3
    db = sqlite3.connect(os.path.join(s.data, "tagd.db"))
    try:
        return db.execute(q).fetchone()[0]
    finally:
        db.close()


def commits(s):
    for line in requests.get(s.url + "/metrics", timeout=10).text.splitlines():
        if line.startswith('tagd_store_transactions_total{outcome="commit"}'):
            return int(line.split()[-1])
    raise AssertionError("no commit counter in /metrics")


def test_anonymous_sessions_write_nothing():
    """GET /api/v1/session without a token committed a session row: one client started 542 a
    second, 12 GB a day, on the writer's thread. A session now is a signed value until it has
    something to keep; only authenticating (or changing its language) stores it, under the same
    token, which survives a restart."""
    s = Server().start()
    try:
        before = commits(s)
        tokens = set()
        for i in range(300):
            params = {"language": "de-DE"} if i == 0 else None
            r = requests.get(s.url + "/api/v1/session", params=params, timeout=10)
            assert r.status_code == 200, r.text
            assert "authenticated" not in r.json()
            tokens.add(r.json()["token"])
            if i == 0:
                german = r.json()["token"]
                assert r.json()["frontend_language"] == "de-DE"
        assert len(tokens) == 300
        # Showing an unstored session writes nothing either.
        r = requests.get(s.url + "/api/v1/session", params={"token": german}, timeout=10)
        assert r.status_code == 200 and r.json()["token"] == german
        assert r.json()["frontend_language"] == "de-DE"
        assert commits(s) == before
        assert s.stop() == 0
        assert stored_sessions(s) == 0

        # The key is the store's: the token still works after a restart, and the language
        # it was started with survives authentication.
        s.start()
        user(Api(s, ADMIN_TOKEN), "anon", ["tags:read"])
        r = authenticate(s, german, "anon", "password-123")
        assert r.status_code == 200, r.text
        assert r.json()["token"] == german and r.json()["frontend_language"] == "de-DE"
        assert requests.get(s.url + "/api/v1/tags", params={"token": german}, timeout=10).status_code == 200
        # Changing an unstored session's language stores it (a GET that writes).
        other = next(iter(tokens - {german}))
        r = requests.get(s.url + "/api/v1/session", params={"token": other, "language": "fr-FR"},
                         timeout=10)
        assert r.status_code == 200 and r.json()["token"] == other
        assert requests.get(s.url + "/api/v1/session", params={"token": other},
                            timeout=10).json()["frontend_language"] == "fr-FR"
        assert s.stop() == 0
        assert stored_sessions(s) == 2
    finally:
        s.cleanup()


def test_forged_and_tampered_session_tokens(server, admin):
    """An unstored session is only as good as its signature: a changed, cut, made-up or
    another store's token is no session, for showing and for authenticating alike."""
    user(admin, "victim", ["tags:read"])
    good = Easydb(server).token
    other = Server().start()
    try:
        foreign = requests.get(other.url + "/api/v1/session", timeout=10).json()["token"]
    finally:
        other.cleanup()

    def flip(t, i):
        c = t[i]
        return t[:i] + ("B" if c != "B" else "C") + t[i + 1:]

    bad = [flip(good, 10), flip(good, len(good) // 2), flip(good, len(good) - 2), good[:-1],
           good + "A", good[:40], "tgd_" + "A" * (len(good) - 4), foreign]
    for t in bad:
        b = err(requests.get(server.url + "/api/v1/session", params={"token": t}, timeout=10),
                "error.user.session_not_found")
        assert b["parameters"] == {"id": t}
        err(authenticate(server, t, "victim", "password-123"), "error.user.session_not_found")
        err(requests.get(server.url + "/api/v1/tags", params={"token": t}, timeout=10),
            "error.user.not_authenticated")
    assert authenticate(server, good, "victim", "password-123").status_code == 200


def test_anonymous_session_expires():
    s = Server(extra_args=["--session-ttl", "1"]).start()
    try:
        user(Api(s, ADMIN_TOKEN), "late", ["tags:read"])
        tok = requests.get(s.url + "/api/v1/session", timeout=10).json()["token"]
        time.sleep(1.3)
        err(requests.get(s.url + "/api/v1/session", params={"token": tok}, timeout=10),
            "error.user.session_not_found")
        err(authenticate(s, tok, "late", "password-123"), "error.user.session_not_found")
    finally:
        s.cleanup()
