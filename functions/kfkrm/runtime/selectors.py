"""The one selector model every function shares: include and exclude terms.

A term matches an item when every field it sets matches: group, version, kind, namespace
and name as shell globs (`*`, `?`, `[...]`), labels as exact key/value pairs. An item is
selected when it matches any include term (or there are none) and no exclude term.
Local-config resources (a Kptfile, a config passed as an item) are never selected.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Iterable, Iterator, Optional, Sequence

from pydantic import Field, model_validator

from .config import Model
from .resourcelist import Item


class SelectorTerm(Model):
    group: Optional[str] = Field(None, description='API group glob; "" or "core" is the core group')
    version: Optional[str] = Field(None, description="API version glob, e.g. v1*")
    kind: Optional[str] = Field(None, description="kind glob, e.g. Deployment")
    namespace: Optional[str] = Field(None, description='namespace glob; "" matches cluster-scoped objects')
    name: Optional[str] = Field(None, description="name glob")
    labels: Optional[dict[str, str]] = Field(None, description="labels the object must carry")

    @model_validator(mode="after")
    def _not_empty(self):
        if all(getattr(self, f) is None for f in ("group", "version", "kind", "namespace", "name", "labels")):
            raise ValueError("a selector term must set at least one of group, version, kind, namespace, name, labels")
        return self

    def matches(self, item: Item) -> bool:
        if self.kind is not None and not fnmatchcase(item.kind, self.kind):
            return False
        if self.group is not None:
            group = item.group
            wanted = "" if self.group == "core" else self.group
            if not fnmatchcase(group, wanted):
                return False
        if self.version is not None and not fnmatchcase(item.version, self.version):
            return False
        if self.name is not None and not fnmatchcase(item.name, self.name):
            return False
        if self.namespace is not None and not fnmatchcase(item.namespace, self.namespace):
            return False
        if self.labels:
            labels = item.labels
            if any(str(labels.get(k)) != v for k, v in self.labels.items()):
                return False
        return True


class Selecting(Model):
    """Mixin for configs that select items."""

    include: list[SelectorTerm] = Field(
        default_factory=list,
        description="select items matching any of these terms (default: the function's own targets)",
    )
    exclude: list[SelectorTerm] = Field(
        default_factory=list, description="never select items matching any of these terms"
    )


def select(
    items: Iterable[Item], include: Sequence[SelectorTerm] = (), exclude: Sequence[SelectorTerm] = ()
) -> Iterator[Item]:
    for item in items:
        if item.is_local_config:
            continue
        if include and not any(t.matches(item) for t in include):
            continue
        if exclude and any(t.matches(item) for t in exclude):
            continue
        yield item
