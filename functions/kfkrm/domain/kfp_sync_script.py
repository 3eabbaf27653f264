"""Rewrites of the Kubeflow Pipelines profile controller's `sync.py` (shipped in a ConfigMap),
so that what it creates in every profile namespace uses the organisation's object store.

The script is Python, and its shape differs between releases (module-level settings in KFP
1.5, `get_settings_from_env` later; `children` or `attachments`). So it is parsed with `ast`
and only the nodes that carry the store are rewritten, in place, by their exact source
positions; everything else keeps its text. The rewritten script is parsed again before it is
accepted. What is rewritten:

- the Secret it copies into each namespace (the dict with `"kind": "Secret"` that a
  `desired_resources.append(...)` adds): renamed to the organisation's Secret, its two data
  keys renamed to that Secret's keys; or, with SDK credentials, the statement is removed, the
  readiness check `len(...["Secret.v1"]) == 1` expects 0, and the `MINIO_*_KEY` environment
  reads get a "" default (the script would otherwise fail on the missing variable);
- the per-namespace artifact server (the container dict named `ml-pipeline-ui-artifact`): its
  `env` list gets the store's settings (`env` is added when absent);
- the per-namespace `kfp-launcher` ConfigMap's data: the `providers` entry, when given.

Each rewrite is returned as (what, before, after) for the caller's results; a node the
caller needs but that is not found is reported in `missing`."""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass, field
from typing import Optional

ARTIFACT_SERVER = "ml-pipeline-ui-artifact"
LAUNCHER_CONFIGMAP = "kfp-launcher"
SECRET_ENV_NAMES = ("MINIO_ACCESS_KEY", "MINIO_SECRET_KEY")


@dataclass
class SyncRewrite:
    secret: Optional[tuple[str, str, str]]  # (name, access key, secret key), or None: SDK credentials
    artifact_env: list[dict]  # env entries the artifact server must carry (set by name)
    drop_env: tuple[str, ...] = ()  # env names the artifact server must not carry
    launcher_providers: Optional[str] = None  # the kfp-launcher `providers` value


@dataclass
class Outcome:
    text: str
    changes: list = field(default_factory=list)  # human-readable, one per rewrite
    missing: list = field(default_factory=list)  # what the script did not have


class _Edits:
    """Source edits by (line, col) positions, applied back to front."""

    def __init__(self, text: str):
        self.text = text
        self.lines = text.splitlines(True)
        self.offsets = [0]
        for line in self.lines:
            self.offsets.append(self.offsets[-1] + len(line))
        self.edits: list[tuple[int, int, str]] = []

    def pos(self, lineno: int, col: int) -> int:
        # ast columns are UTF-8 byte offsets
        line = self.lines[lineno - 1]
        return self.offsets[lineno - 1] + len(line.encode("utf-8")[:col].decode("utf-8", "ignore"))

    def span(self, node) -> tuple[int, int]:
        return self.pos(node.lineno, node.col_offset), self.pos(node.end_lineno, node.end_col_offset)

    def replace(self, node, new: str) -> bool:
        start, end = self.span(node)
        if self.text[start:end] == new:
            return False
        self.edits.append((start, end, new))
        return True

    def insert(self, at: int, new: str) -> None:
        self.edits.append((at, at, new))

    def apply(self) -> str:
        text = self.text
        for start, end, new in sorted(self.edits, reverse=True):
            text = text[:start] + new + text[end:]
        return text


def _const(node) -> Optional[str]:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _dict_get(node: ast.Dict, key: str):
    for k, v in zip(node.keys, node.values):
        if k is not None and _const(k) == key:
            return k, v
    return None, None


def _literal(value, column: int) -> str:
    """`value` as Python source (JSON is Python for strings, lists and dicts), indented to `column`."""
    text = json.dumps(value, indent=4)
    pad = " " * column
    return text.replace("\n", "\n" + pad)


def rewrite(text: str, want: SyncRewrite) -> Outcome:
    try:
        tree = ast.parse(text)
    except SyntaxError as e:
        return Outcome(text, missing=[f"sync.py is not Python this reader parses ({e.msg}, line {e.lineno})"])
    edits, out = _Edits(text), Outcome(text)
    secret_found = _secret(tree, edits, want, out)
    if not secret_found and want.secret is not None:  # with SDK credentials, none is the goal
        out.missing.append("the Secret it copies into each profile namespace")
    if not _artifact_server(tree, edits, want, out):
        out.missing.append(f"the {ARTIFACT_SERVER} container")
    if want.launcher_providers is not None:
        _launcher(tree, edits, want, out)
    if want.secret is None:
        _sdk_credentials(tree, edits, out)
    if not edits.edits:
        return out
    new_text = edits.apply()
    try:
        ast.parse(new_text)
    except SyntaxError as e:  # a bug of this module, never the user's
        return Outcome(text, missing=[f"the rewritten sync.py would not parse ({e.msg}); left unchanged"])
    out.text = new_text
    return out


def _secret(tree, edits: _Edits, want: SyncRewrite, out: Outcome) -> bool:
    """The `desired_resources.append({... "kind": "Secret" ...})` statement."""
    for stmt in ast.walk(tree):
        if not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)):
            continue
        call = stmt.value
        if not (
            isinstance(call.func, ast.Attribute)
            and call.func.attr == "append"
            and len(call.args) == 1
            and isinstance(call.args[0], ast.Dict)
        ):
            continue
        resource = call.args[0]
        _, kind = _dict_get(resource, "kind")
        if _const(kind) != "Secret":
            continue
        if want.secret is None:
            start, end = edits.span(stmt)
            edits.edits.append((start, end, "pass  # kfkrm: workload identity, no object-store Secret is copied"))
            out.changes.append("no longer copies an object-store Secret into profile namespaces (SDK credentials)")
            return True
        name, access_key, secret_key = want.secret
        _, metadata = _dict_get(resource, "metadata")
        _, name_node = _dict_get(metadata, "name") if isinstance(metadata, ast.Dict) else (None, None)
        if name_node is not None and _const(name_node) is not None and edits.replace(name_node, json.dumps(name)):
            out.changes.append(f"copies Secret {name} (was {_const(name_node)})")
        _, data = _dict_get(resource, "data")
        if isinstance(data, ast.Dict):
            for key_node, value in zip(data.keys, data.values):
                source = ast.unparse(value).lower()
                wanted = access_key if "access" in source else secret_key if "secret" in source else None
                if (
                    key_node is not None
                    and wanted
                    and _const(key_node) is not None
                    and edits.replace(key_node, json.dumps(wanted))
                ):
                    out.changes.append(f"Secret key {_const(key_node)} -> {wanted}")
        return True
    return False


def _artifact_server(tree, edits: _Edits, want: SyncRewrite, out: Outcome) -> bool:
    for node in ast.walk(tree):
        if not isinstance(node, ast.Dict):
            continue
        _, name = _dict_get(node, "name")
        _, image = _dict_get(node, "image")
        if _const(name) != ARTIFACT_SERVER or image is None:
            continue
        env_key, env = _dict_get(node, "env")
        if env is None:
            current = []
        else:
            try:
                current = ast.literal_eval(env)
            except ValueError:
                out.missing.append(f"a literal env list on the {ARTIFACT_SERVER} container")
                return True
        merged = [e for e in current if not (isinstance(e, dict) and e.get("name") in want.drop_env)]
        for entry in want.artifact_env:
            index = next(
                (i for i, e in enumerate(merged) if isinstance(e, dict) and e.get("name") == entry["name"]), None
            )
            if index is None:
                merged.append(entry)
            else:
                merged[index] = entry
        if merged == current and env is not None:
            return True
        if env is None:
            first = node.keys[0]
            column = first.col_offset
            edits.insert(
                edits.pos(first.lineno, first.col_offset), '"env": ' + _literal(merged, column) + ",\n" + " " * column
            )
        else:
            edits.replace(env, _literal(merged, env_key.col_offset))
        out.changes.append(f"{ARTIFACT_SERVER} env: " + ", ".join(e["name"] for e in want.artifact_env))
        return True
    return False


def _launcher(tree, edits: _Edits, want: SyncRewrite, out: Outcome) -> None:
    for node in ast.walk(tree):
        if not isinstance(node, ast.Dict):
            continue
        _, metadata = _dict_get(node, "metadata")
        _, kind = _dict_get(node, "kind")
        if _const(kind) != "ConfigMap" or not isinstance(metadata, ast.Dict):
            continue
        if _const(_dict_get(metadata, "name")[1]) != LAUNCHER_CONFIGMAP:
            continue
        _, data = _dict_get(node, "data")
        if not isinstance(data, ast.Dict) or not data.keys:
            out.missing.append(f"the {LAUNCHER_CONFIGMAP} ConfigMap's data")
            return
        key_node, value = _dict_get(data, "providers")
        literal = json.dumps(want.launcher_providers)
        if value is not None:
            if edits.replace(value, literal):
                out.changes.append(f"{LAUNCHER_CONFIGMAP} providers set")
            return
        last = data.values[-1]
        edits.insert(
            edits.pos(last.end_lineno, last.end_col_offset),
            ",\n" + " " * data.keys[-1].col_offset + '"providers": ' + literal,
        )
        out.changes.append(f"{LAUNCHER_CONFIGMAP} providers added")
        return
    out.missing.append(f"the {LAUNCHER_CONFIGMAP} ConfigMap it creates")


def _sdk_credentials(tree, edits: _Edits, out: Outcome) -> None:
    """Readiness expects no Secret; the key variables may be absent."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.Eq):
            left = node.left
            if (
                isinstance(left, ast.Call)
                and isinstance(left.func, ast.Name)
                and left.func.id == "len"
                and left.args
                and isinstance(left.args[0], ast.Subscript)
                and _const(left.args[0].slice) == "Secret.v1"
            ):
                right = node.comparators[0]
                if isinstance(right, ast.Constant) and right.value != 0 and edits.replace(right, "0"):
                    out.changes.append("readiness expects no Secret")
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and len(node.args) == 1
            and _const(node.args[0]) in SECRET_ENV_NAMES
            and ast.unparse(node.func.value) == "os.environ"
        ):
            edits.replace(node, f'os.environ.get("{_const(node.args[0])}", "")')
            out.changes.append(f"{_const(node.args[0])} may be unset")
