"""A small validator of objects against a CRD's structural openAPIV3Schema, as the API server
checks them (types, required fields, enums, int-or-string, preserve-unknown-fields), strict
about unknown fields like `kubectl apply --validate=strict`. Test-only: the oracle for the
Argo CD examples (the real CRDs, not kfkrm's code, decide)."""

from __future__ import annotations

from pathlib import Path

import yaml

_TYPES = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
}


def _type_ok(value, schema: dict) -> bool:
    if schema.get("x-kubernetes-int-or-string"):
        return isinstance(value, (int, str)) and not isinstance(value, bool)
    kind = schema.get("type")
    if kind is None:
        return True
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, _TYPES[kind])


def problems(value, schema: dict, path: str = "") -> list[str]:
    """Every way `value` breaks `schema`, as `path: what`."""
    if value is None and schema.get("nullable"):
        return []
    if not _type_ok(value, schema):
        return [f"{path or '.'}: {type(value).__name__} where the schema wants {schema.get('type')}"]
    found: list[str] = []
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{path}: {value!r} is not one of {schema['enum']}")
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        for name in schema.get("required") or []:
            if name not in value:
                found.append(f"{path}.{name}: required")
        extra = schema.get("additionalProperties")
        for k, v in value.items():
            if k in props:
                found += problems(v, props[k], f"{path}.{k}")
            elif isinstance(extra, dict):
                found += problems(v, extra, f"{path}.{k}")
            elif extra is True or schema.get("x-kubernetes-preserve-unknown-fields"):
                continue
            elif props or extra is False:
                found.append(f"{path}.{k}: unknown field")
    elif isinstance(value, list) and "items" in schema:
        for i, v in enumerate(value):
            found += problems(v, schema["items"], f"{path}[{i}]")
    return found


def load_crds(directory: Path) -> dict:
    """(group, version, kind) -> the openAPIV3Schema of every CRD file in `directory`."""
    schemas = {}
    for path in sorted(directory.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            for version in spec["versions"]:
                key = (spec["group"], version["name"], spec["names"]["kind"])
                schemas[key] = version["schema"]["openAPIV3Schema"]
    return schemas


def validate(obj: dict, schemas: dict) -> list[str]:
    group, _, version = obj["apiVersion"].rpartition("/")
    schema = schemas.get((group, version, obj["kind"]))
    if schema is None:
        return [f"no CRD for {obj['apiVersion']} {obj['kind']}"]
    # metadata is the API server's ObjectMeta, not the CRD's to describe
    body = {k: v for k, v in obj.items() if k != "metadata"}
    schema = dict(
        schema,
        properties={k: v for k, v in schema["properties"].items() if k != "metadata"},
        required=[r for r in schema.get("required") or [] if r != "metadata"],
    )
    return problems(body, schema)
