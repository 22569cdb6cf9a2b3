"""The subset of JSON Schema (2020-12) that ``manifest.schema.json`` uses, as a tiny validator.

The keywords: ``type``, ``required``, ``properties``, ``additionalProperties``, ``items``, ``enum``,
``const``, ``pattern``, ``minimum``, ``exclusiveMinimum``, ``maximum``, ``minItems``, ``maxItems``,
``$ref`` (``#/$defs/NAME``) and ``if``/``then``; annotations (``description``, ``title``, ...) are
ignored, and any other keyword is an error, so that the schema cannot use one that a reader would
skip. ``web_demo/engine.js`` (``schemaProblems``) and ``android_demo/engine``'s ``Schema.java``
implement the same subset; ``tests/data/manifest_vectors.json`` keeps the three in agreement (and,
where the ``jsonschema`` package is installed, the tests check this one against it).

Problems are ``(path, message)`` pairs; a path reads ``files[2].precision`` (``""`` is the root).
"""

from __future__ import annotations

import json
import re

KEYWORDS = frozenset({"type", "required", "properties", "additionalProperties", "items", "enum", "const",
                      "pattern", "minimum", "exclusiveMinimum", "maximum", "minItems", "maxItems", "$ref",
                      "if", "then"})
ANNOTATIONS = frozenset({"$schema", "$id", "$defs", "title", "description"})


def type_name(value) -> str:
    """The JSON type of a parsed value: null, boolean, integer, number, string, array, object."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _is(value, kind: str) -> bool:
    actual = type_name(value)
    return actual == kind or (kind == "number" and actual == "integer")


def _equal(a, b) -> bool:  # JSON equality: 1 == 1.0, but True is not 1
    return type_name(a) in ("integer", "number") and type_name(b) in ("integer", "number") and a == b or \
        type_name(a) == type_name(b) and a == b


def join(path: str, key) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def problems(value, schema: dict, root: dict | None = None, path: str = "") -> list[tuple[str, str]]:  # noqa: C901 -- one branch per JSON Schema keyword the schema uses
    """Every way ``value`` breaks ``schema`` (a node of the document ``root``)."""
    root = schema if root is None else root
    unknown = set(schema) - KEYWORDS - ANNOTATIONS
    if unknown:
        raise ValueError(f"schema at {path or 'the root'} uses {sorted(unknown)}, outside the supported subset")
    if "$ref" in schema:
        ref = schema["$ref"]
        if not ref.startswith("#/$defs/"):
            raise ValueError(f"schema: $ref {ref!r} is not of the form #/$defs/NAME")
        return problems(value, root["$defs"][ref[len("#/$defs/"):]], root, path)
    out: list[tuple[str, str]] = []
    if "type" in schema:
        kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_is(value, k) for k in kinds):
            return [(path, f"expected {' or '.join(kinds)}, got {type_name(value)}")]
    if "const" in schema and not _equal(value, schema["const"]):
        out.append((path, f"expected {_show(schema['const'])}, got {_show(value)}"))
    if "enum" in schema and not any(_equal(value, e) for e in schema["enum"]):
        out.append((path, f"{_show(value)} is not one of {', '.join(map(_show, schema['enum']))}"))
    if isinstance(value, str) and "pattern" in schema and not re.search(schema["pattern"], value):
        out.append((path, f"{_show(value)} does not match {schema['pattern']}"))
    if type_name(value) in ("integer", "number"):
        if "minimum" in schema and value < schema["minimum"]:
            out.append((path, f"must be >= {schema['minimum']}, got {_show(value)}"))
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            out.append((path, f"must be > {schema['exclusiveMinimum']}, got {_show(value)}"))
        if "maximum" in schema and value > schema["maximum"]:
            out.append((path, f"must be <= {schema['maximum']}, got {_show(value)}"))
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            out.append((path, f"expected at least {schema['minItems']} items, got {len(value)}"))
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            out.append((path, f"expected at most {schema['maxItems']} items, got {len(value)}"))
        if "items" in schema:
            for i, item in enumerate(value):
                out.extend(problems(item, schema["items"], root, join(path, i)))
    if isinstance(value, dict):
        for key in schema.get("required", ()):
            if key not in value:
                out.append((join(path, key), "missing"))
        properties = schema.get("properties", {})
        for key, item in value.items():
            if key in properties:
                out.extend(problems(item, properties[key], root, join(path, key)))
            elif schema.get("additionalProperties") is False:
                out.append((join(path, key), "not allowed here"))
            elif isinstance(schema.get("additionalProperties"), dict):
                out.extend(problems(item, schema["additionalProperties"], root, join(path, key)))
    if "if" in schema and not problems(value, schema["if"], root, path) and "then" in schema:
        out.extend(problems(value, schema["then"], root, path))
    return out


def _show(value) -> str:
    return repr(value) if isinstance(value, str) else json.dumps(value)
