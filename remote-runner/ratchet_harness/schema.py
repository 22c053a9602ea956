"""A validator for the subset of JSON Schema (draft-07) that protocol.schema.json uses, so the
harness's tests check every event against the same file the engine validates with ajv.
Supported: $ref (local), oneOf, anyOf, allOf, type, const, enum, required, properties, items,
minimum, minLength. Anything else in the schema is an error, so the subset cannot drift."""

import json
import os

SCHEMA_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           "protocol.schema.json")
_KNOWN = {"$schema", "$id", "title", "description", "definitions", "$ref", "oneOf", "anyOf",
          "allOf", "type", "const", "enum", "required", "properties", "items", "minimum",
          "minLength"}
_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
}


def load(path=SCHEMA_PATH):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def _resolve(root, ref):
    if not ref.startswith("#/"):
        raise ValueError("only local $ref is supported: %s" % ref)
    node = root
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def errors(value, schema, root=None, path="$"):
    """Return a list of error strings (empty when value is valid)."""
    root = root if root is not None else schema
    unknown = set(schema) - _KNOWN
    if unknown:
        raise ValueError("schema keyword(s) outside the supported subset: %s" % sorted(unknown))
    found = []
    if "$ref" in schema:
        found += errors(value, _resolve(root, schema["$ref"]), root, path)
    for sub in schema.get("allOf", []):
        found += errors(value, sub, root, path)
    if "oneOf" in schema:
        matches = [s for s in schema["oneOf"] if not errors(value, s, root, path)]
        if len(matches) != 1:
            found.append("%s: matches %d of oneOf, expected exactly 1" % (path, len(matches)))
    if "anyOf" in schema:
        if not any(not errors(value, s, root, path) for s in schema["anyOf"]):
            found.append("%s: matches none of anyOf" % path)
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_TYPES[t](value) for t in types):
            found.append("%s: expected %s, got %s" % (path, "/".join(types), type(value).__name__))
            return found
    if "const" in schema and value != schema["const"]:
        found.append("%s: expected %r" % (path, schema["const"]))
    if "enum" in schema and value not in schema["enum"]:
        found.append("%s: %r not in %r" % (path, value, schema["enum"]))
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                found.append("%s: missing %r" % (path, key))
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                found += errors(value[key], sub, root, "%s.%s" % (path, key))
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            found += errors(item, schema["items"], root, "%s[%d]" % (path, i))
    if "minimum" in schema and _TYPES["number"](value) and value < schema["minimum"]:
        found.append("%s: %r below minimum %r" % (path, value, schema["minimum"]))
    if "minLength" in schema and isinstance(value, str) and len(value) < schema["minLength"]:
        found.append("%s: shorter than %d" % (path, schema["minLength"]))
    return found


def validate_event(event, schema=None):
    schema = schema or load()
    problems = errors(event, schema)
    if problems:
        raise ValueError("; ".join(problems))
