"""Kubernetes LabelSelectors, as the API server evaluates them (metav1.LabelSelector).

Used wherever a function must know which pods an object selects: a workload's spec.selector,
a NetworkPolicy's podSelector, an Istio policy's selector."""

from __future__ import annotations

from typing import Any


def selector_matches(selector: Any, labels: dict) -> bool:
    """A Kubernetes LabelSelector (matchLabels, matchExpressions); empty or absent selects all.
    A malformed expression (not a mapping, an unknown operator) selects nothing: Kubernetes
    would reject the object, so it cannot be taken to select these pods."""
    if not isinstance(selector, dict):
        return True
    if any(str(labels.get(k)) != str(v) for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        if not isinstance(expr, dict):
            return False
        key, op, values = expr.get("key"), expr.get("operator"), [str(v) for v in expr.get("values") or []]
        present = key in labels
        if op == "In" and not (present and str(labels[key]) in values):
            return False
        if op == "NotIn" and present and str(labels[key]) in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            return False
    return True


def match_labels(obj: dict) -> dict:
    """spec.selector.matchLabels of a workload (Deployment, StatefulSet...), or {}."""
    selector = (obj.get("spec") or {}).get("selector") or {}
    return (selector.get("matchLabels") if isinstance(selector, dict) else None) or {}
