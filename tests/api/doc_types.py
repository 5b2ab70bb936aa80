"""A small checker for type tables written from a product's documentation (issue 17).

Where a product publishes neither a client library that reaches tagd's routes nor a
machine-readable schema, its answers are checked against a table of the types its documentation
gives (tests/api/oracle_types.py, tests/api/aitronos_types.py). The table language is a subset
of JSON Schema: "type" (a name or a list of names), "enum", "pattern" (re.search on strings),
"properties", "required", "additionalProperties" (a schema or False) and "items". Nothing is
nullable unless its type lists "null".

`check_every_answer(monkeypatch, check)` routes every answer a test file receives through any
requests call (Api, requests.get, sessions) to `check(response)`, so a wrong type fails the
test that got it, whichever behaviour it was testing."""
import re

import requests

_PY = {"string": str, "integer": int, "number": (int, float), "boolean": bool, "object": dict,
       "array": list, "null": type(None)}


def _is(value, name):
    if name in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, _PY[name])


def validate(value, schema, where="$"):
    """Returns the list of type errors of `value` against `schema` (empty when it conforms)."""
    types = schema.get("type")
    if types is not None:
        names = types if isinstance(types, list) else [types]
        if not any(_is(value, n) for n in names):
            return ["%s: %r is not %s" % (where, value, " or ".join(names))]
    errors = []
    if "enum" in schema and value not in schema["enum"]:
        errors.append("%s: %r is not one of %r" % (where, value, schema["enum"]))
    if "pattern" in schema and isinstance(value, str) and not re.search(schema["pattern"], value):
        errors.append("%s: %r does not match %s" % (where, value, schema["pattern"]))
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for k in schema.get("required", []):
            if k not in value:
                errors.append("%s: %r is missing" % (where, k))
        extra = schema.get("additionalProperties", True)
        for k, v in value.items():
            if k in props:
                errors += validate(v, props[k], "%s.%s" % (where, k))
            elif extra is False:
                errors.append("%s: %r is not a documented attribute" % (where, k))
            elif isinstance(extra, dict):
                errors += validate(v, extra, "%s.%s" % (where, k))
    if isinstance(value, list) and "items" in schema:
        for i, v in enumerate(value):
            errors += validate(v, schema["items"], "%s[%d]" % (where, i))
    return errors


def fail_unless_valid(what, value, schema, product):
    errors = validate(value, schema)
    assert not errors, "%s: not %s's documented types:\n  %s" % (
        what, product, "\n  ".join(errors[:20]))


def check_every_answer(monkeypatch, check):
    """Patches requests so that every answer goes through `check(response)` before the test
    sees it. `check` decides itself which paths are its product's."""
    send = requests.Session.send

    def checked_send(self, request, **kw):
        r = send(self, request, **kw)
        check(r)
        return r

    monkeypatch.setattr(requests.Session, "send", checked_send)
