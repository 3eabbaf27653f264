"""Results as the KRM functions specification defines them.

kustomize discards results, so each function also prints a one-line summary to stderr;
kpt shows them to the user and stores them in its results file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal, Optional

if TYPE_CHECKING:
    from .resourcelist import Item, ResourceList

# A result's severity, as the KRM functions specification spells it (kpt shows it as is).
Severity = Literal["error", "warning", "info"]
ERROR: Final = "error"
WARNING: Final = "warning"
INFO: Final = "info"

# What must not reach a terminal raw from a user's string: line breaks of any kind
# (\n, \r, \v, \f, U+0085, U+2028, U+2029), escape sequences (ESC, CSI), other control and
# format characters.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape(text: str) -> str:
    """`text` on one line with every control character visible as an escape (`\\n`, `\\x1b`):
    a name like "ok\\nkfkrm: all good" cannot forge a second line of output."""
    text = str(text)
    if not _UNSAFE.search(text):
        return text
    return _UNSAFE.sub(
        lambda m: (
            _NAMED.get(m.group())
            or (f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}")
        ),
        text,
    )


_PATH_ANNOTATIONS = ("config.kubernetes.io/path", "internal.config.kubernetes.io/path")
_INDEX_ANNOTATIONS = ("config.kubernetes.io/index", "internal.config.kubernetes.io/index")


# Result tags (the KRM results' `tags` map): what a program can act on without parsing messages.
KEY_TAG: Final = "kfkrm.dev/key"  # a stable name for what the result is about, e.g. "remove-argo/artifact-repository"
ACTION_TAG: Final = "kfkrm.dev/action"  # "cluster": something the operator must do outside the render


@dataclass
class Result:
    message: str
    severity: str = INFO  # a Severity; typed str because ResourceList.result takes a str
    item: Optional["Item"] = None
    field: Optional[str] = None
    key: Optional[str] = None  # a stable name (KEY_TAG): a profile may drop advice one of its sections resolves
    action: bool = False  # to do on the cluster, outside the render (ACTION_TAG): `kfkrm build` lists these once

    def to_dict(self) -> dict:
        out: dict = {"message": self.message, "severity": self.severity}
        if self.item is not None:
            ref = {"apiVersion": self.item.api_version, "kind": self.item.kind, "name": self.item.name}
            if self.item.namespace:
                ref["namespace"] = self.item.namespace
            out["resourceRef"] = ref
            annotations = self.item.annotations
            path = next((annotations[a] for a in _PATH_ANNOTATIONS if a in annotations), None)
            if path:
                file: dict = {"path": str(path)}
                index = next((annotations[a] for a in _INDEX_ANNOTATIONS if a in annotations), None)
                if index is not None:
                    try:
                        file["index"] = int(index)
                    except (TypeError, ValueError):
                        pass
                out["file"] = file
        if self.field:
            out["field"] = {"path": self.field}
        tags = {}
        if self.key:
            tags[KEY_TAG] = self.key
        if self.action:
            tags[ACTION_TAG] = "cluster"
        if tags:
            out["tags"] = tags
        return out

    def one_line(self) -> str:
        where = ""
        if self.item is not None:
            where = self.item.ref() + (f" {self.field}" if self.field else "") + ": "
        return escape(f"{self.severity}: {where}{self.message}")


# One helper per severity, so a call says what it reports: `warn(rl, "...", item, field)`.
# (Module functions rather than ResourceList methods: resourcelist.py stays as it is while
# other work edits it; a ResourceList method can delegate to these later.)


def _tagged(r: Result, key: Optional[str], action: bool) -> Result:
    r.key, r.action = key, action
    return r


def info(
    rl: "ResourceList",
    message: str,
    item: Optional["Item"] = None,
    field: Optional[str] = None,
    *,
    key: Optional[str] = None,
    action: bool = False,
) -> Result:
    """Record what a function did (kpt shows it; kustomize discards it)."""
    return _tagged(rl.result(message, INFO, item, field), key, action)


def warn(
    rl: "ResourceList",
    message: str,
    item: Optional["Item"] = None,
    field: Optional[str] = None,
    *,
    key: Optional[str] = None,
    action: bool = False,
) -> Result:
    """Record what the operator should look at; the run still succeeds. `key` names the advice
    (a profile drops it when another of its sections resolves it); `action: True` makes it a
    "to do on your cluster" entry (outside the render: mesh config, IAM, Secrets)."""
    return _tagged(rl.result(message, WARNING, item, field), key, action)


def error(rl: "ResourceList", message: str, item: Optional["Item"] = None, field: Optional[str] = None) -> Result:
    """Record why the run fails: the runner then emits the input unchanged and exits 1."""
    return rl.result(message, ERROR, item, field)
