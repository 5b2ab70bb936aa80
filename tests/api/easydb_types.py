"""easydb's documented types as a JSON-Schema-like table, and a checker for it (issue 17).

There is no easydb client library to install, so the answers are checked against the types the
easydb 5 documentation gives (spec ../shared/spec/easydb.md, sources E2, E3, E4, E5):

  programmfabrik/easydb-documentation
    content/technical/types/session/_index.en.md   (8aac490c) session: server_version and
                                                    user-schema are "int", frontend_locale an
                                                    "object"
    content/technical/types/tag/_index.en.md       (86d0838b) tag and tag group; only
                                                    frontend_prefs is "nullable"
    content/technical/types/user/_index.en.md      (0555e2a6) user, session format
    content/technical/types/l10n/_index.en.md      (8aac490c) culture -> text (null allowed)
    content/technical/errors/_index.en.md          (6051f193) error object
    content/technical/confirmation/_index.en.md    the 202 tasks

The schema language is a small subset of JSON Schema: "type" (a name or a list of names),
"properties", "required", "additionalProperties" (a schema or False), "items" and "enum".
Nothing is nullable unless its type lists "null". Where tagd sends a field easydb does not
document, the table names it explicitly (TAGD_EXTRA) so that nothing else slips in.

`check_answer(method, path, status, body)` picks the schema for an easydb answer by its path
and status; tests/api/test_easydb.py applies it to every answer it receives."""
import re

from doc_types import validate

STRING = {"type": "string"}
INT = {"type": "integer"}
BOOL = {"type": "boolean"}
OBJECT = {"type": "object"}

# l10n: "for each culture ... an attribute containing the localized string"; a culture may be
# null ("at least one culture must be not null" for required fields).
L10N = {"type": "object", "additionalProperties": {"type": ["string", "null"]}}

# Rights specification: right name -> parameters object (types/right).
RIGHTS = {"type": "object", "additionalProperties": OBJECT}

SESSION_USER = {
    "type": "object",
    "required": ["_basetype", "user"],
    "properties": {
        "_basetype": {"type": "string", "enum": ["user"]},
        "_groups": {"type": "array", "items": OBJECT},
        "user": {
            "type": "object",
            "required": ["_id", "type"],
            "properties": {
                "_id": INT, "_version": INT, "_generated_displayname": STRING, "type": STRING,
                "login": STRING, "displayname": STRING, "first_name": STRING,
                "last_name": STRING, "frontend_language": STRING, "_primary_email": STRING,
                "frontend_prefs": OBJECT,
                "search_languages": {"type": ["array", "null"], "items": STRING},
                "database_languages": {"type": ["array", "null"], "items": STRING},
            },
            "additionalProperties": False,
        },
    },
    "additionalProperties": False,
}

SESSION = {
    "type": "object",
    "required": ["token", "instance", "frontend_language", "frontend_locale",
                 "authentication_methods", "config"],
    "properties": {
        "token": STRING,
        "instance": {
            "type": "object",
            "required": ["api", "server_version", "solution", "user-schema", "name"],
            "properties": {"api": STRING, "server_version": INT, "solution": STRING,
                           "user-schema": INT, "name": STRING},
            "additionalProperties": False,
        },
        "frontend_language": STRING,
        "frontend_locale": OBJECT,
        "authentication_methods": {
            "type": "array",
            "items": {"type": "object", "required": ["method"], "properties": {"method": STRING},
                      "additionalProperties": False},
        },
        "config": {
            "type": "object",
            "required": ["base", "defaults", "extensions"],
            "properties": {"base": OBJECT, "defaults": OBJECT, "extensions": OBJECT},
            "additionalProperties": False,
        },
        # Only once authenticated.
        "pending_tasks": {"type": "array", "items": OBJECT},
        "current_max_message_id": INT,
        "system_rights": RIGHTS,
        "user": SESSION_USER,
        "groups": {"type": "array", "items": OBJECT},
        "authenticated": {
            "type": "object",
            "required": ["method", "timestamp"],
            "properties": {"method": STRING, "timestamp": STRING},
            "additionalProperties": False,
        },
    },
    "additionalProperties": False,
}

TAG = {
    "type": "object",
    "required": ["_basetype", "tag"],
    "properties": {
        "_basetype": {"type": "string", "enum": ["tag"]},
        "_acl": {"type": "array", "items": OBJECT},
        "tag": {
            "type": "object",
            "required": ["_id", "displaytype", "displayname"],
            "properties": {
                "_id": INT,
                "type": {"type": "string", "enum": ["individual", "all_versions"]},
                "displaytype": STRING,
                "enabled": BOOL,
                "sticky": BOOL,
                "is_default": BOOL,
                "displayname": L10N,
                "description": L10N,
                "frontend_prefs": {"type": ["object", "null"]},
                # Not in the type page of that commit, but in the real dump (E11) and fylr
                # (F1): strings, never null.
                "reference": STRING,
                "shortname": STRING,
            },
            "additionalProperties": False,
        },
    },
    "additionalProperties": False,
}

TAGGROUP = {
    "type": "object",
    "required": ["_basetype", "taggroup", "_tags"],
    "properties": {
        "_basetype": {"type": "string", "enum": ["taggroup"]},
        "_tags": {"type": "array", "items": TAG},
        "taggroup": {
            "type": "object",
            "required": ["_id", "type", "displayname"],
            "properties": {
                "_id": INT,
                "type": {"type": "string", "enum": ["checkbox", "choice"]},
                "displayname": L10N,
                "reference": STRING,
                "shortname": STRING,
            },
            "additionalProperties": False,
        },
    },
    "additionalProperties": False,
}

TAGGROUPS = {"type": "array", "items": TAGGROUP}

ERROR = {
    "type": "object",
    "required": ["realm", "code"],
    "properties": {
        "realm": {"type": "string", "enum": ["api", "user", "server"]},
        "code": STRING,
        "parameters": {"type": "object", "additionalProperties": STRING},
        "description": STRING,
        "uuid": STRING,
    },
    "additionalProperties": False,
}

TEXT_OR_CODE = {"type": ["string", "object"]}
CONFIRMATION = {
    "type": "object",
    "required": ["tasks"],
    "properties": {"tasks": {"type": "array", "items": {
        "type": "object",
        "required": ["title", "message"],
        "properties": {
            "title": TEXT_OR_CODE,
            "message": TEXT_OR_CODE,
            "form": {"type": "array", "items": OBJECT},
            "buttons": {"type": "array", "items": {
                "type": "object", "required": ["text"],
                "properties": {"text": STRING, "name": STRING, "value": STRING},
                "additionalProperties": False}},
        },
        "additionalProperties": False}}},
    "additionalProperties": False,
}

# What tagd adds to easydb's types, on purpose and documented in docs/dialects/easydb.md.
TAGD_EXTRA = {"session": {"expires": STRING}}
SESSION["properties"].update(TAGD_EXTRA["session"])


_SESSION_PATH = re.compile(r"^/api/(v1/)?session(/(authenticate|deauthenticate))?$")
_TAGS_PATH = re.compile(r"^/api/(v1/)?tags$")


def schema_for(method, path, status):
    """The schema of an easydb answer, or None when the path is not easydb's."""
    if not path.startswith("/api/") or path.startswith("/api/v2/"):
        return None  # /api/v2 is LaunchDarkly's
    if status >= 400:
        return ERROR
    if _SESSION_PATH.match(path) and status == 200:
        return SESSION
    if _TAGS_PATH.match(path) and status == 200:
        return TAGGROUPS
    if _TAGS_PATH.match(path) and status == 202 and method == "POST":
        return CONFIRMATION
    raise AssertionError("no easydb type for %s %s %d" % (method, path, status))


def check_answer(method, path, status, body):
    """Asserts that an easydb answer has easydb's documented types."""
    schema = schema_for(method, path, status)
    if schema is None:
        return
    errors = validate(body, schema)
    assert not errors, "%s %s %d: not easydb's types:\n  %s" % (
        method, path, status, "\n  ".join(errors[:20]))
