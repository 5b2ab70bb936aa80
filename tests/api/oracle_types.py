"""Oracle Content Management's documented types for the tag endpoints, as a table (issue 17).

Oracle publishes no client library for the Documents REST API: the npm package
@oracle/content-management-sdk (1.6.2, the only one) calls the Content Delivery and Management
item APIs (/content/published|management/api/v1.1: items, types, taxonomies, GraphQL), never
/documents/api/. Oracle renders the Documents API's OpenAPI document into its reference pages,
but the document itself could not be obtained here. So the answers are checked against the
types those pages give (spec ../shared/spec/oracle.md, sources O1-O6):

  docs.oracle.com/en/cloud/paas/content-cloud/
    rest-api-content-management-11/op-documents-api-1.1-files-{fileId}-tags-get.html and
    rest-api-documents/op-documents-api-1.2-files-fileid-tags-get.html
        Root Schema FileGetTagsResponse: errorCode number, idList string, tags string,
        type string ("file"); FolderGetTagsResponse the same with "folder"
    .../op-documents-api-1.1-files-{fileId}-tags-post.html, -put.html, -delete.html and the
    folders' pages (1.1, and 1.2 for the folder PUT)
        FileSetTagsResponse, FileEditTagsResponse, ...; the 1.2 Delete All Folder Tags page
        lists errorCode number and idList string
    rest-api-documents/Error-Messages.html (and the Japanese mirror cd/G41738_01/...)
        errorCode "a numeric value: 0 means there is no error, an error value is a number
        between -1 and -99"; errorKey "system-parsable key"; errorMessage "user-readable";
        -16 typically 404, -20 typically 403, -26 typically 400, -1 general failure

The schema language is doc_types.py's. Where tagd departs from those pages on purpose (each one
written down in docs/dialects/oracle.md), the table says so by name:

  ERRORCODE_AS_STRING  The schema types errorCode as a number, but every example of Oracle's
                       (the seed, the Get/Set/Edit/Delete examples, the error example
                       {"errorCode":"-16",...}) sends a string, and the seed wins: tagd sends
                       the string. A client decoding into a number accepts "0" (JSON readers
                       such as Jackson and Gson coerce numeric strings); one reading the string
                       gets what Oracle's own server sends.
  TAGD_EXTRA           What tagd adds: `type` on the Set, Edit and Delete answers.

The schema marks every attribute optional; the table requires those the seed's answers carry,
since a client reading `tags` or `idList` relies on them.

`check_answer(method, path, status, content_type, body)` checks one answer under /documents/,
JSON or XML (the same fields as child elements of a root named after the schema);
tests/api/test_oracle.py applies it to every answer it receives."""
import json
import re
import xml.etree.ElementTree as ET
from urllib.parse import unquote

from doc_types import fail_unless_valid

# "A numeric value: 0 means there is no error. An error value is a number between -1 and -99."
ERRORCODE_AS_STRING = {"type": "string", "pattern": r"^(0|-[1-9][0-9]?)$"}
OK_CODE = dict(ERRORCODE_AS_STRING, enum=["0"])
# Comma-separated tag values, as in every example ("file,metadata,personal,work"); no empty
# entries. No tags at all is "" (tagd's choice, docs/dialects/oracle.md).
TAG_LIST = {"type": "string", "pattern": r"^([^,]+(,[^,]+)*)?$"}
GUID = {"type": "string", "pattern": r"^.+$"}


def get_response(kind):
    """FileGetTagsResponse / FolderGetTagsResponse."""
    return {
        "type": "object",
        "required": ["errorCode", "idList", "tags", "type"],
        "properties": {"errorCode": OK_CODE, "idList": GUID, "tags": TAG_LIST,
                       "type": {"type": "string", "enum": [kind]}},
        "additionalProperties": False,
    }


# What tagd adds to Oracle's types, on purpose and documented in docs/dialects/oracle.md.
TAGD_EXTRA = {"write": ["type"]}


def write_response(kind):
    """File/FolderSetTagsResponse, ...EditTagsResponse, ...DeleteTagsResponse: errorCode and
    idList, and the `type` tagd adds (TAGD_EXTRA)."""
    props = {"errorCode": OK_CODE, "idList": GUID, "type": {"type": "string", "enum": [kind]}}
    assert set(props) - {"errorCode", "idList"} == set(TAGD_EXTRA["write"])
    return {"type": "object", "required": ["errorCode", "idList"], "properties": props,
            "additionalProperties": False}


ERROR = {
    "type": "object",
    "required": ["errorCode", "errorKey", "errorMessage"],
    "properties": {
        "errorCode": dict(ERRORCODE_AS_STRING, enum=["-1", "-16", "-17", "-20", "-26"]),
        "errorKey": {"type": "string", "pattern": r"^\S+$"},
        "errorMessage": {"type": "string", "pattern": r"\S"},
    },
    "additionalProperties": False,
}

# Which statuses each error code comes with: Oracle's "typically" plus tagd's documented
# choices (401 for no or bad credentials carries -20; -1 is every other failure).
ERROR_STATUS = {"-16": {404}, "-20": {401, 403}, "-26": {400},
                "-1": {400, 405, 413, 415, 429, 431, 500, 503}}

_PATH = re.compile(r"^/documents/api/1\.[12]/(file|folder)s/[^/]+/tags$")
_OPERATION = {"GET": "Get", "POST": "Set", "PUT": "Edit", "DELETE": "Delete"}


def root_name(method, path, status):
    """The XML root tagd names after the schema (docs/dialects/oracle.md)."""
    m = _PATH.match(path)
    if status >= 400 or m is None or method not in _OPERATION:
        return "ErrorResponse"
    return "%s%sTagsResponse" % (m.group(1).capitalize(), _OPERATION[method])


def schema_for(method, path, status):
    if status >= 400:
        return ERROR
    m = _PATH.match(path)
    if status != 200 or m is None or method not in _OPERATION:
        raise AssertionError("no Oracle type for %s %s %d" % (method, path, status))
    kind = m.group(1)
    return get_response(kind) if method == "GET" else write_response(kind)


def parse(content_type, content):
    """The answer's fields: JSON as it is; XML as {child tag: text} under (root, fields)."""
    if content_type.startswith("application/json"):
        return None, json.loads(content)
    assert content_type.startswith("application/xml"), "Oracle answers JSON or XML, not %r" % (
        content_type,)
    doc = ET.fromstring(content)
    fields = {}
    for child in doc:
        assert len(child) == 0, "XML field %s has child elements" % child.tag
        assert child.tag not in fields, "XML field %s repeated" % child.tag
        fields[child.tag] = child.text or ""
    return doc.tag, fields


def check_answer(method, path, status, content_type, content):
    """Asserts that an answer under /documents/ has Oracle's documented types."""
    if not path.startswith("/documents/"):
        return
    what = "%s %s %d" % (method, path, status)
    root, body = parse(content_type or "", content)
    if root is not None:
        want = root_name(method, path, status)
        assert root == want, "%s: XML root %s, not %s" % (what, root, want)
    fail_unless_valid(what, body, schema_for(method, path, status), "Oracle")
    if status < 400:
        # "Globally unique identifier (GUID) for the file": the item the path names.
        item = unquote(path.split("/")[-2])
        assert body["idList"] == item, "%s: idList %r" % (what, body["idList"])
    if status >= 400:
        code = body["errorCode"]
        assert status in ERROR_STATUS.get(code, set()), "%s: errorCode %s with status %d" % (
            what, code, status)
