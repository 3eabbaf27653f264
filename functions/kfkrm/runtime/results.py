"""Results as the KRM functions specification defines them.

kustomize discards results, so each function also prints a one-line summary to stderr;
kpt shows them to the user and stores them in its results file.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from .resourcelist import Item

ERROR, WARNING, INFO = "error", "warning", "info"

_PATH_ANNOTATIONS = ("config.kubernetes.io/path", "internal.config.kubernetes.io/path")
_INDEX_ANNOTATIONS = ("config.kubernetes.io/index", "internal.config.kubernetes.io/index")


@dataclass
class Result:
    message: str
    severity: str = INFO
    item: Optional["Item"] = None
    field: Optional[str] = None

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
                file = {"path": str(path)}
                index = next((annotations[a] for a in _INDEX_ANNOTATIONS if a in annotations), None)
                if index is not None:
                    try:
                        file["index"] = int(index)
                    except (TypeError, ValueError):
                        pass
                out["file"] = file
        if self.field:
            out["field"] = {"path": self.field}
        return out

    def one_line(self) -> str:
        where = ""
        if self.item is not None:
            where = self.item.ref() + (f" {self.field}" if self.field else "") + ": "
        return f"{self.severity}: {where}{self.message}"
