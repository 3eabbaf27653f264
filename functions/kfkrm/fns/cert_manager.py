"""Kubeflow on the organisation's own cert-manager: removes the cert-manager installation Kubeflow
bundles (two controllers would fight over the same CRDs and webhooks), keeps Kubeflow's own
Certificates and Issuers, optionally re-points those Certificates at the organisation's
ClusterIssuer (dropping Kubeflow's self-signed issuers), and checks every cert-manager API
version in the stream against the organisation's cert-manager release, rewriting what converts
mechanically (v1alpha2/v1alpha3/v1beta1 Certificate, Issuer and ClusterIssuer to v1).

The installation is found by evidence (domain/cert_manager.py). Kubeflow's webhooks and CRDs
keep their `cert-manager.io/inject-ca-from` annotations: the organisation's cainjector serves
them as the bundled one did."""

from __future__ import annotations

import re
from typing import Optional

from pydantic import Field, field_validator, model_validator

from ..domain import cert_manager
from ..runtime.config import FunctionConfig
from ..runtime.results import error, info, warn

INJECT_ANNOTATION = "cert-manager.io/inject-ca-from"
ASSUMED = (1, 6)  # the first cert-manager release serving only v1


class Config(FunctionConfig):
    KIND = "CertManager"

    removeBundledCertManager: bool = Field(
        False,
        description="remove the cert-manager installation Kubeflow bundles (workloads, webhooks, CRDs, RBAC, "
        "namespace); Kubeflow's Certificates and Issuers stay",
    )
    clusterIssuer: Optional[str] = Field(
        None,
        description="the organisation's ClusterIssuer: every Certificate is issued by it, Kubeflow's self-signed "
        "issuers go",
    )
    certManagerVersion: Optional[str] = Field(
        None,
        description='the organisation\'s cert-manager release (quoted, e.g. "1.16"): API versions it does not serve '
        "are rewritten where mechanical, else errors",
    )

    @field_validator("clusterIssuer")
    @classmethod
    def _issuer_name(cls, name):
        if name is not None and not re.match(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", name):
            raise ValueError(f"{name!r} is not a ClusterIssuer name (lower-case DNS subdomain)")
        return name

    @field_validator("certManagerVersion")
    @classmethod
    def _version(cls, version):
        if version is not None and not re.match(r"^v?[0-9]+\.[0-9]+(\.[0-9]+)?$", version):
            raise ValueError(f'{version!r} is not a cert-manager release such as "1.16"')
        return version

    @model_validator(mode="after")
    def _something(self):
        if not self.removeBundledCertManager and self.clusterIssuer is None and self.certManagerVersion is None:
            raise ValueError(
                "sets nothing to do: set removeBundledCertManager, clusterIssuer and/or certManagerVersion"
            )
        return self

    @property
    def version(self) -> Optional[tuple]:
        if self.certManagerVersion is None:
            return None
        major, minor = self.certManagerVersion.lstrip("v").split(".")[:2]
        return int(major), int(minor)


def _is_cm(item, *kinds: str) -> bool:
    return item.group in cert_manager.GROUPS and (not kinds or item.kind in kinds)


def transform(rl, config: Config) -> str:
    done = []
    items = list(rl.mutable_items())
    if config.removeBundledCertManager:
        found = cert_manager.find_installation(items)
        for item, message in found.warnings:
            warn(rl, message, item)
        if not found.servers:
            info(
                rl,
                "no bundled cert-manager in the input (no controller, webhook or cainjector workload): "
                "nothing to remove",
            )
        for item, why in found.remove.values():
            rl.remove([item], why=why)
        done.append(f"removed {len(found.remove)} objects of the bundled cert-manager")
        items = list(rl.mutable_items())
        injected = [
            i for i in items if i.raw is not None and INJECT_ANNOTATION in i.raw and INJECT_ANNOTATION in i.annotations
        ]
        if injected and found.servers:
            info(
                rl,
                f"{len(injected)} webhook configurations and CRDs keep {INJECT_ANNOTATION}: the organisation's "
                "cainjector injects their CA from the named Certificate's Secret",
            )
    if config.clusterIssuer is not None:
        done.append(_cluster_issuer(rl, items, config.clusterIssuer))
        items = list(rl.mutable_items())
    if config.version is not None:
        done.append(_api_versions(rl, items, config, config.version, config.certManagerVersion))
    elif config.removeBundledCertManager and any(_is_cm(i) and i.version != "v1" for i in items):
        # Every cert-manager release still supported serves only v1 (1.6 dropped the rest): assumed, and said.
        info(
            rl,
            f"certManagerVersion unset: the organisation's cert-manager is taken to be a supported release "
            f"({ASSUMED[0]}.{ASSUMED[1]} or later, serving only cert-manager.io/v1); set it to check another",
            field="certManagerVersion",
        )
        done.append(_api_versions(rl, items, config, ASSUMED, f"{ASSUMED[0]}.{ASSUMED[1]}+"))
    return "; ".join(done)


def _cluster_issuer(rl, items, name: str) -> str:
    wanted = {"name": name, "kind": "ClusterIssuer", "group": "cert-manager.io"}
    changed = 0
    certificates = [i for i in items if _is_cm(i, "Certificate")]
    for cert in certificates:
        spec = cert.obj.setdefault("spec", {})
        before = spec.get("issuerRef")
        if before != wanted:
            spec["issuerRef"] = dict(wanted)
            was = before if isinstance(before, dict) else {}
            info(
                rl,
                f"issued by ClusterIssuer {name} (was {was.get('kind', 'Issuer')} {was.get('name')})",
                cert,
                "spec.issuerRef",
            )
            changed += 1
    referenced = set()
    for cert in certificates:
        ref = cert.obj["spec"]["issuerRef"]
        kind = ref.get("kind") or "Issuer"
        referenced.add((kind, cert.namespace if kind == "Issuer" else "", ref.get("name")))
    dropped = 0
    for issuer in [i for i in items if _is_cm(i, "Issuer", "ClusterIssuer")]:
        spec = issuer.obj.get("spec") or {}
        key = (issuer.kind, issuer.namespace if issuer.kind == "Issuer" else "", issuer.name)
        if "selfSigned" in spec and key not in referenced:
            rl.remove(
                [issuer], why=f"a self-signed issuer of Kubeflow's no Certificate uses (ClusterIssuer {name} issues)"
            )
            dropped += 1
    return f"{changed} Certificates issued by ClusterIssuer {name}, {dropped} self-signed issuers dropped"


def _api_versions(rl, items, config: Config, version: tuple, label: str) -> str:
    served = cert_manager.served_versions(version)
    rewritten = 0
    for item in items:
        if not _is_cm(item) or item.version in served:
            continue
        why = cert_manager.mechanical(item.kind, item.obj.get("spec") or {}) if "v1" in served else "v1 is not served"
        if item.version not in cert_manager.LEGACY_VERSIONS or why is not None:
            error(
                rl,
                f"{item.api_version} is not served by cert-manager {label} "
                f"(it serves {', '.join(served)}), and {why or 'this version has no known conversion'}: "
                "convert it by hand",
                item,
                "apiVersion",
            )
            continue
        old = item.api_version
        moved = cert_manager.certificate_to_v1(item.obj.setdefault("spec", {})) if item.kind == "Certificate" else []
        item.obj["apiVersion"] = f"{item.group}/v1"
        info(
            rl,
            f"{old} -> {item.group}/v1 (cert-manager {label} serves {', '.join(served)})"
            + (f"; {', '.join(moved)}" if moved else ""),
            item,
            "apiVersion",
        )
        rewritten += 1
    return f"{rewritten} objects rewritten to cert-manager.io/v1"
