"""Kinds of the core API group (apiVersion v1: Namespace, Service, ConfigMap, ...).

A CRD may define a kind of the same name in its own group, so a kind test on its own
is not enough; `is_core` says both at once."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .resourcelist import Item


def is_core(item: "Item", *kinds: str) -> bool:
    """`item` is one of the core group's `kinds` (the "" API group)."""
    return item.group == "" and item.kind in kinds
