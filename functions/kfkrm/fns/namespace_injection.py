"""Labels Namespace objects for Istio sidecar injection.

`istio-injection: enabled` by default; with `revision: X`, `istio.io/rev: X` instead and
`istio-injection` removed (Istio refuses a namespace that carries both). `namespaces: ["*"]`
means every Namespace in the input except those that explicitly opt out with
`istio-injection: disabled` (istio-system in Kubeflow v1.10): those are kept and reported.
A namespace named explicitly is always set, and overriding its opt-out is a warning."""

from __future__ import annotations

import re
from typing import Optional

from pydantic import Field, field_validator

from ..runtime.config import FunctionConfig
from ..runtime.k8svalidation import is_dns_label
from ..runtime.kinds import is_core
from ..runtime.results import error, info, warn

INJECTION, REVISION = "istio-injection", "istio.io/rev"


class Config(FunctionConfig):
    KIND = "NamespaceInjection"
    FROM_CONFIGMAP = "fields"

    namespaces: list[str] = Field(..., description='Namespace objects to label; ["*"] for every Namespace in the input')
    revision: Optional[str] = Field(
        None, description="an Istio revision: sets istio.io/rev and removes istio-injection"
    )

    @field_validator("namespaces")
    @classmethod
    def _valid(cls, namespaces):
        if not namespaces:
            raise ValueError('must name at least one namespace, or "*"')
        for ns in namespaces:
            if ns != "*" and not is_dns_label(ns):
                raise ValueError(f"{ns!r} is not a namespace name (a DNS label)")
        return namespaces

    @field_validator("revision")
    @classmethod
    def _valid_revision(cls, revision):
        if revision is not None and not re.match(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$", revision):
            raise ValueError(f"{revision!r} is not a valid label value")
        return revision


def transform(rl, config: Config) -> str:
    everything = "*" in config.namespaces
    named = [n for n in config.namespaces if n != "*"]
    found = {}
    for item in rl.mutable_items():
        if is_core(item, "Namespace"):
            found.setdefault(item.name, item)
    missing = [n for n in named if n not in found]
    for n in missing:
        error(rl, f"Namespace {n!r} is not in the input; cannot label it for injection", field="namespaces")
    if missing:
        return ""
    targets = dict.fromkeys(named)
    if everything:
        for name, item in found.items():
            if name in targets:
                continue
            if str(item.labels.get(INJECTION)) == "disabled":
                info(rl, "opts out of injection (istio-injection: disabled); left alone by \"*\"", item)
                continue
            targets[name] = None
    changed = 0
    for name in targets:
        item = found[name]
        labels = item.obj.setdefault("metadata", {}).get("labels")
        if not isinstance(labels, dict):
            labels = item.obj["metadata"]["labels"] = {}
        if str(labels.get(INJECTION)) == "disabled":
            warn(
                rl, "was labelled istio-injection: disabled; enabling injection as configured", item, "metadata.labels"
            )
        before = dict(labels)
        if config.revision:
            labels.pop(INJECTION, None)
            labels[REVISION] = config.revision
        else:
            labels.pop(REVISION, None)
            labels[INJECTION] = "enabled"
        if labels != before:
            changed += 1
            what = f"{REVISION}: {config.revision}" if config.revision else f"{INJECTION}: enabled"
            info(rl, f"set {what}", item, "metadata.labels")
    if not targets:
        warn(rl, "no Namespace in the input to label")
    return f"labelled {changed} of {len(targets)} namespaces for injection"
