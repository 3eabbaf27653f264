"""Field paths as results and messages spell them (kyaml's style: `spec.template.metadata`)."""

from __future__ import annotations

from typing import Any, Iterator


def field_path(parts) -> str:
    """`spec.template.metadata` style, with [i] for list indexes."""
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        elif "." in p or "/" in p:
            out += f'["{p}"]'  # a label or annotation key
        else:
            out += ("." if out else "") + p
    return out


def walk_strings(node: Any, parts: tuple = (), keys: bool = False) -> Iterator[tuple[tuple, Any, Any, str]]:
    """(path, parent, key, string) for every string value under `node`, in document order.

    `parent[key] = new` rewrites the string in place. With keys=True every string mapping
    key is yielded too, as (path to it, parent, key, key), just before what it holds."""
    entries = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in entries:
        if keys and isinstance(key, str):
            yield parts + (key,), node, key, key
        if isinstance(value, str):
            yield parts + (key,), node, key, value
        elif isinstance(value, (dict, list)):
            yield from walk_strings(value, parts + (key,), keys)
