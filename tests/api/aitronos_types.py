"""Aitronos' documented types for the knowledge-connector tags, as a table (issue 17).

No machine-readable schema of this API could be found, and Aitronos' one client library, the
Python package aitronos-sdk (5.0.0; `client.knowledge_connectors.list_tags(...)` in the docs),
is on PyPI, which this project's machines cannot reach (only Debian and npm), with its source
in no public repository. Its npm package (@aitronos/freddy-plugins) is a UI kit without API
calls. So the
answers are checked against the types the documentation gives (spec ../shared/spec/aitronos.md):

  A1  docs.aitronos.com/docs/api-reference/knowledge-connectors/tags (+ .md): the routes;
      "A tag object containing tag_id, name, color, and workspace_id"; list answer
      {"data": [tag...]}; ids prefixed org_, ws_, tag_; color "Hex color code (e.g. #FF5733)";
      DELETE "Returns 204 No Content"
  A2  .../api-reference/error-codes: the codes and their statuses
  A3  .../documentation/error-handling: the envelope {"success": false, "error": {code,
      message, system_message, type client_error|server_error, status, details, trace_id,
      timestamp ISO-8601}}
  AB  Airbyte's Tag model (airbytehq/airbyte-api-python-sdk docs/models/tag.md), which the
      Aitronos resources mirror: tag_id, name, color, workspace_id, all strings

The schema language is doc_types.py's. Where tagd goes beyond those pages, on purpose and
written down in docs/dialects/aitronos.md, the table names it:

  COLOR_NULL   `color` is null on a tag that has none. A1 makes color optional on create and
               says nothing of the answer; Airbyte requires a color on create, so its `str`
               never meets an unset one.
  TAGD_CODES   error codes the pages do not list, in their style, for statuses A3 documents.
  TRACE_ID     trace_id is tagd's request id (the X-Request-Id header), not a UUID as A3
               says: one id to find a request by, in the answer and in the log.

`check_answer(method, path, status, headers, content)` checks one answer of the Aitronos routes;
tests/api/test_aitronos.py applies it to every answer it receives."""
import json
import re

from doc_types import fail_unless_valid

HEX_COLOR = r"^#[0-9A-Fa-f]{6}$"

TAG = {
    "type": "object",
    "required": ["tag_id", "name", "color", "workspace_id"],
    "properties": {
        "tag_id": {"type": "string", "pattern": r"^tag_[A-Za-z0-9]+$"},
        "name": {"type": "string", "pattern": r"\S"},
        "color": {"type": ["string", "null"], "pattern": HEX_COLOR},  # COLOR_NULL
        "workspace_id": {"type": "string", "pattern": r"^ws_[A-Za-z0-9]+$"},
    },
    "additionalProperties": False,
}

TAG_LIST = {"type": "object", "required": ["data"],
            "properties": {"data": {"type": "array", "items": TAG}},
            "additionalProperties": False}

# A2's codes by status.
DOCUMENTED_CODES = {
    401: {"AUTHENTICATION_REQUIRED", "INVALID_API_KEY", "API_KEY_EXPIRED", "API_KEY_DEACTIVATED",
          "API_KEY_PAUSED", "TOKEN_EXPIRED", "TOKEN_INVALID"},
    403: {"INSUFFICIENT_PERMISSIONS", "ORGANIZATION_ACCESS_DENIED", "OPERATION_NOT_ALLOWED"},
    404: {"CONNECTOR_TAG_NOT_FOUND"},
    422: {"VALIDATION_ERROR"},
}
TAGD_CODES = {
    400: {"INVALID_REQUEST"},
    404: {"ORGANIZATION_NOT_FOUND", "WORKSPACE_NOT_FOUND", "RESOURCE_NOT_FOUND"},
    405: {"METHOD_NOT_ALLOWED"},
    409: {"CONNECTOR_TAG_ALREADY_EXISTS", "CONNECTOR_TAG_HAS_CHILDREN"},
    413: {"PAYLOAD_TOO_LARGE"},
    415: {"UNSUPPORTED_MEDIA_TYPE"},
    429: {"RATE_LIMIT_EXCEEDED"},
    500: {"INTERNAL_SERVER_ERROR"},
    503: {"SERVICE_UNAVAILABLE"},
}
CODES = {s: DOCUMENTED_CODES.get(s, set()) | TAGD_CODES.get(s, set())
         for s in set(DOCUMENTED_CODES) | set(TAGD_CODES)}

ERROR = {
    "type": "object",
    "required": ["success", "error"],
    "properties": {
        "success": {"type": "boolean", "enum": [False]},
        "error": {
            "type": "object",
            "required": ["code", "message", "system_message", "type", "status", "details",
                         "trace_id", "timestamp"],
            "properties": {
                "code": {"type": "string", "enum": sorted(set().union(*CODES.values()))},
                "message": {"type": "string", "pattern": r"\S"},
                "system_message": {"type": "string", "pattern": r"\S"},
                "type": {"type": "string", "enum": ["client_error", "server_error"]},
                "status": {"type": "integer"},
                # A3: "optional context such as {"field": "email", "value": ...}".
                "details": {"type": "object", "properties": {"field": {"type": "string"}},
                            "additionalProperties": False},
                "trace_id": {"type": "string", "pattern": r"^\S+$"},  # TRACE_ID
                "timestamp": {"type": "string", "pattern":
                              r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$"},
            },
            "additionalProperties": False,
        },
    },
    "additionalProperties": False,
}

_PREFIX = re.compile(r"^/v1/organizations/[^/]*/knowledge(/|$)")
_TAGS = re.compile(r"^/v1/organizations/[^/]+/knowledge/connectors/tags$")
_TAG = re.compile(r"^/v1/organizations/[^/]+/knowledge/connectors/tags/[^/]+$")


def schema_for(method, path, status):
    """The schema of an answer, or None for a 204 (which has no body)."""
    if status >= 400:
        return ERROR
    if _TAGS.match(path) and (method, status) == ("GET", 200):
        return TAG_LIST
    if _TAGS.match(path) and (method, status) == ("POST", 201):
        return TAG
    if _TAG.match(path) and (method, status) in (("GET", 200), ("PATCH", 200)):
        return TAG
    if _TAG.match(path) and (method, status) == ("DELETE", 204):
        return None
    raise AssertionError("no Aitronos type for %s %s %d" % (method, path, status))


# A2 names the codes of a refused API key apart from those of a refused bearer token.
API_KEY_CODES = {"INVALID_API_KEY", "API_KEY_EXPIRED", "API_KEY_DEACTIVATED", "API_KEY_PAUSED"}
TOKEN_CODES = {"TOKEN_EXPIRED", "TOKEN_INVALID"}


def _credential(request_headers):
    """How the request sent its credential: "bearer", "api_key" or None."""
    h = {k.lower(): v for k, v in (request_headers or {}).items()}
    auth = h.get("authorization", "")
    if auth.lower().startswith("bearer ") and auth[7:].strip():
        return "bearer"
    if h.get("x-api-key") or h.get("api-key"):
        return "api_key"
    return None


def check_answer(method, path, status, headers, content, request_headers=None):
    """Asserts that an answer of the Aitronos routes has Aitronos' documented types; with the
    request's headers, also that a refused credential gets the codes of its kind."""
    if not _PREFIX.match(path):
        return
    what = "%s %s %d" % (method, path, status)
    schema = schema_for(method, path, status)
    if schema is None:
        assert content == b"" and "Content-Type" not in headers, "%s: a 204 has no body" % what
        return
    assert headers.get("Content-Type", "").startswith("application/json"), what
    body = json.loads(content)
    fail_unless_valid(what, body, schema, "Aitronos")
    if schema is TAG and _TAG.match(path):
        assert body["tag_id"] == path.rsplit("/", 1)[1], "%s: tag_id %r" % (what, body["tag_id"])
    if status >= 400:
        e = body["error"]
        assert e["status"] == status, "%s: error.status %r" % (what, e["status"])
        assert e["type"] == ("server_error" if status >= 500 else "client_error"), what
        assert e["code"] in CODES.get(status, set()), "%s: %s is not a %d code" % (
            what, e["code"], status)
        if request_headers is not None and status == 401:
            sent = _credential(request_headers)
            allowed = {"bearer": TOKEN_CODES, "api_key": API_KEY_CODES}.get(
                sent, {"AUTHENTICATION_REQUIRED"})
            assert e["code"] in allowed, "%s: %s for a credential sent as %s" % (
                what, e["code"], sent)
