"""Applies RFC 6902 JSON patches to the resources each patch's `target` selects.

The field report patched every VirtualService with a JSON patch listed once per
VirtualService by name; kpt has no patch transformer at all. Here a patch names its
targets with the shared selector model (group, version, kind, namespace, name globs,
labels), so one patch covers every match. Ops are applied in order with the jsonpatch
library, all or nothing per resource. A failing op is an error naming the resource, the
patch and the op; with `skipMissing: true` a resource where a path does not exist is
skipped with an info result instead. A target that selects nothing is an error."""

from __future__ import annotations

import copy
import re
from typing import Any, Literal, Optional

import jsonpatch
import jsonpointer
from pydantic import Field, field_validator, model_validator

from ..runtime.config import FunctionConfig, Model
from ..runtime.paths import field_path
from ..runtime.results import error, info
from ..runtime.selectors import SelectorTerm, select


class Op(Model):
    """One RFC 6902 operation."""

    op: Literal["add", "remove", "replace", "move", "copy", "test"]
    path: str = Field(..., description="a JSON pointer, e.g. /spec/exportTo")
    value: Any = Field(None, description="for add, replace and test")
    from_: Optional[str] = Field(None, alias="from", description="for move and copy: a JSON pointer")

    @field_validator("path", "from_")
    @classmethod
    def _pointer(cls, pointer):
        if pointer is not None and pointer != "" and not pointer.startswith("/"):
            raise ValueError(f"{pointer!r} is not a JSON pointer: it must be empty or start with '/'")
        return pointer

    @model_validator(mode="after")
    def _operands(self):
        if self.op in ("add", "replace", "test") and "value" not in self.model_fields_set:
            raise ValueError(f"op {self.op} needs a value")
        if self.op in ("move", "copy") and self.from_ is None:
            raise ValueError(f"op {self.op} needs from")
        return self

    def as_rfc6902(self) -> dict:
        out = {"op": self.op, "path": self.path}
        if "value" in self.model_fields_set:
            out["value"] = self.value
        if self.from_ is not None:
            out["from"] = self.from_
        return out

    def describe(self) -> str:
        return f"{self.op} {self.from_ + ' -> ' if self.from_ is not None else ''}{self.path or '(whole document)'}"


class Patch(Model):
    target: SelectorTerm = Field(..., description="the resources to patch (the shared selector model)")
    ops: list[Op] = Field(..., description="RFC 6902 operations, applied in order")
    skipMissing: bool = Field(False, description="skip, with an info result, a target where a path does not exist")

    @field_validator("ops")
    @classmethod
    def _some_ops(cls, ops):
        if not ops:
            raise ValueError("must list at least one op")
        return ops


class Config(FunctionConfig):
    KIND = "JsonPatch"

    patches: list[Patch] = Field(..., description="patches, applied in order")

    @field_validator("patches")
    @classmethod
    def _some_patches(cls, patches):
        if not patches:
            raise ValueError("must list at least one patch")
        return patches


# The path is missing (or, for an array, the index is out of range): what skipMissing skips.
_MISSING = (jsonpatch.JsonPatchConflict, jsonpointer.JsonPointerException)


def transform(rl, config: Config) -> str:
    changed, targeted = set(), set()
    for p, patch in enumerate(config.patches):
        targets = list(select(rl.items, [patch.target]))
        if not targets:
            error(rl, f"patches[{p}].target selects nothing in the input", field=f"patches[{p}].target")
            continue
        for item in targets:
            targeted.add(id(item))
            if apply_patch(rl, p, patch, item):
                changed.add(id(item))
    if rl.has_errors:
        return ""
    return f"applied {len(config.patches)} patches to {len(targeted)} resources, {len(changed)} changed"


def apply_patch(rl, p: int, patch: Patch, item) -> bool:
    """Apply all of `patch` to `item`, or none of it; True when the item changed."""
    document = item.obj
    patched = copy.deepcopy(document)
    for o, op in enumerate(patch.ops):
        where = f"patches[{p}].ops[{o}] ({op.describe()})"
        try:
            patched = jsonpatch.JsonPatch([rfc6902_op(op, patched)]).apply(patched, in_place=True)
        except _MISSING as e:
            if patch.skipMissing:
                info(rl, f"skipped (skipMissing): {where}: {problem(e)}", item, pointer_field(op.path))
                return False
            error(rl, f"{where} failed: {problem(e)}", item, pointer_field(op.path))
            return False
        except jsonpatch.JsonPatchTestFailed:
            error(rl, f"{where} failed: the value there is not {op.value!r}", item, pointer_field(op.path))
            return False
        except jsonpatch.JsonPatchException as e:
            error(rl, f"{where} failed: {problem(e)}", item, pointer_field(op.path))
            return False
    if not isinstance(patched, dict):
        error(rl, f"patches[{p}] would turn the resource into something that is not a mapping", item)
        return False
    if patched == document:
        return False
    document.clear()
    document.update(patched)
    return True


def problem(error: Exception) -> str:
    """jsonpatch's message without the dump of the document it appends ("... not found in {...}")."""
    return re.sub(r" in [{\[].*$", "", str(error), flags=re.S)


def rfc6902_op(op: Op, document) -> dict:
    """The op for jsonpatch, with its value copied so that no two resources share one."""
    out = op.as_rfc6902()
    if "value" in out:
        out["value"] = copy.deepcopy(out["value"])
    return out


def pointer_field(pointer: str) -> Optional[str]:
    """/spec/http/0/route -> spec.http[0].route (the results' field path style)."""
    if not pointer:
        return None
    parts = [jsonpointer.unescape(t) for t in pointer.split("/")[1:]]
    return field_path([int(t) if t.isdigit() else t for t in parts])
