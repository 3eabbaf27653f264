"""`kfkrm validate [FILE|-] --config FILE [--baseline FILE] [--format text|json]`: the CI step after any renderer.

Reads what `kustomize build` (or any renderer) prints, a multi-document YAML stream, or a
ResourceList, checks it against an EnterprisePolicy config and prints the violations as a
table (rule, resource, field, message) followed by the count per rule. Exit 0 when there
is no violation, 1 when there is any, 2 when it could not validate (bad arguments, an
unreadable file, input that is not Kubernetes resources, an invalid policy).

`--baseline UPSTREAM` (the unadapted render, e.g. upstream's `kustomize build`) turns the
policy's integrity rule on and makes it report only the references the adaptation broke:
upstream's own dangling references (controller-created Secrets, built-in ClusterRoles, ...)
are not the adaptation's doing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from ..fns.enterprise_policy import Config, Report, add_results, check, integrity_baseline
from ..runtime import yamlio
from ..runtime.config import ConfigError, parse_config
from ..runtime.podtemplates import has_pod_template
from ..runtime.resourcelist import InputError, ResourceList, read_input
from ..runtime.results import WARNING, escape
from .mesh_config import check_mesh_config
from .output import write_stdout

CLEAN, VIOLATIONS, UNUSABLE = 0, 1, 2


class NotARender(InputError):
    """The input (or baseline) is something else: a Kustomization, a Kptfile, kfkrm configs, no workload."""


def main(argv) -> int:
    parser = argparse.ArgumentParser(prog="kfkrm validate", description=__doc__.split("\n\n")[1].replace("\n", " "))
    parser.add_argument(
        "file", nargs="?", default="-", help="rendered manifests or a ResourceList; - (default) for stdin"
    )
    parser.add_argument(
        "--config",
        required=True,
        help="an EnterprisePolicy config, or an EnterpriseProfile (its derived policy) (kfkrm.dev/v1alpha1)",
    )
    parser.add_argument(
        "--baseline",
        metavar="FILE",
        help="the unadapted render: the integrity rule (turned on) reports only references the adaptation broke",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument(
        "--mesh-config",
        metavar="FILE",
        help="the organisation's mesh config (istio ConfigMap, IstioOperator, "
        "Helm values or MeshConfig): every provider a CUSTOM AuthorizationPolicy names must point at the auth service",
    )
    args = parser.parse_args(argv)  # exits 2 on a usage error
    try:
        config, profile = _policy(args.config)  # config and baseline errors come before the input's
        baseline_items = _baseline_items(args.baseline, args.config) if args.baseline is not None else None
        text = sys.stdin.read() if args.file == "-" else _read_input_file(args.file, args.config)
        rl = read_input(text)
        shown = "the input" if args.file == "-" else args.file
        try:  # before a profile derives its policy from it (a Kustomization has no auth service to find)
            _refuse_non_render(rl.items, shown, args.file, args.config, workloads=False)
        except NotARender:
            raise
        except InputError:  # an item split wrongly only looks broken: the whole-parse fallback below decides
            pass
        if profile is not None:
            config = _profile_policy(profile, rl)
        baseline = None
        if baseline_items is not None:
            config = config.model_copy(update={"integrity": True})
            baseline = integrity_baseline(baseline_items, config)
        elif profile is not None and config.integrity:
            # The profile's integrity rule reports what the adaptation broke, which only the
            # unadapted render can tell: without it, upstream's own dangling references would
            # all count.
            config = config.model_copy(update={"integrity": False})
            sys.stderr.write(
                "kfkrm validate: warning: integrity not checked: with a profile it needs the unadapted "
                "render (--baseline UPSTREAM.yaml)\n"
            )
        try:
            report = check(rl, config, baseline)
        except InputError:  # an item split wrongly only looks broken: ask a parse of the whole input
            whole = ResourceList.parse_whole(text)
            if whole is None:
                raise
            rl, report = whole, check(whole, config, baseline)
        # after the whole-parse fallback: an item split wrongly only looks like no workload
        _refuse_non_render(rl.items, shown, args.file, args.config)
        if args.mesh_config:
            check_mesh_config(rl, args.mesh_config, _read(args.mesh_config), config, report)
    except (OSError, InputError, ConfigError, UnicodeDecodeError) as e:
        sys.stderr.write(f"kfkrm validate: error: {_one_line(e)}\n")
        return UNUSABLE
    except Exception as e:  # a bug, or input the reader chokes on: one line, never a traceback
        sys.stderr.write(f"kfkrm validate: error: internal error: {type(e).__name__}: {_one_line(e)}\n")
        return UNUSABLE
    add_results(rl, config, report)
    for result in rl.results:
        if result.severity == WARNING:
            sys.stderr.write(f"kfkrm validate: {result.one_line()}\n")
    write_stdout(_json(report, config) if args.format == "json" else _table(report, config, len(rl.items)))
    return VIOLATIONS if report.failures else CLEAN


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def _read_input_file(path: str, config: str) -> str:
    if os.path.isdir(path):
        raise NotARender(f"{path} is a directory, not a render: {_render_hint(path, config)}")
    return _read(path)


def _baseline_items(path: str, config: str) -> list:
    try:
        if os.path.isdir(path):
            raise NotARender(f"{path} is a directory, not a render: render the unadapted base first")
        items = read_input(_read(path)).items
        _refuse_non_render(items, path, path, config, baseline=True)
        return items
    except OSError as e:
        raise ConfigError(f"--baseline {path}: {e.strerror or e}") from None
    except InputError as e:
        raise InputError(f"--baseline {path}: {_one_line(e)}") from None


def _render_hint(path: str, config: str) -> str:
    folder = "DIR" if path == "-" else path if os.path.isdir(path) else (os.path.dirname(path) or ".")
    return f"run `kfkrm build {folder} | kfkrm validate - --config {config}`"


def _refuse_non_render(
    items: list, shown: str, path: str, config: str, baseline: bool = False, workloads: bool = True
) -> None:
    """Input that is not rendered manifests passes every rule vacuously: say what it is and what to run.
    `workloads`: also refuse a stream with no workload."""
    kinds = {(i.api_version.split("/")[0], i.kind) for i in items}
    hint = "render the unadapted base first (kubectl kustomize BASE > upstream.yaml)" if baseline else ""
    if any(
        kind in ("Kustomization", "Component") and group.startswith("kustomize.config.k8s.io") for group, kind in kinds
    ):
        raise NotARender(f"{shown} is a Kustomization, not a render: {hint or _render_hint(path, config)}")
    if any(kind == "Kptfile" for _, kind in kinds):
        folder = (os.path.dirname(path) or ".") if path != "-" else "DIR"
        run = f"run `kpt fn render {folder} --allow-exec -o unwrap | kfkrm validate - --config {config}`"
        raise NotARender(f"{shown} is a Kptfile, not a render: {hint or run}")
    if items and all(i.api_version.startswith("kfkrm.dev/") for i in items):
        raise NotARender(f"{shown} holds kfkrm configs only, not a render: pass a config with --config")
    if workloads and not any(has_pod_template(i) for i in items):
        raise NotARender(
            f"{shown} holds {len(items)} object{'s' if len(items) != 1 else ''} and no workload (Deployment, "
            f"StatefulSet, ...): not a render of Kubeflow; {hint or _render_hint(path, config)}"
        )


CONFIG_KINDS = ("EnterprisePolicy", "EnterpriseProfile")


def _policy(path: str):
    """(the policy, None), or (None, the EnterpriseProfile) whose derived policy depends on the input.
    A multi-document file is fine when exactly one document is an EnterprisePolicy or EnterpriseProfile."""
    try:
        docs = [d for d in yamlio.load_all(_read(path)) if d is not None]
    except yamlio.YAMLError as e:
        raise ConfigError(f"--config {path} is not valid YAML: {_one_line(e)}") from None
    except OSError as e:
        raise ConfigError(f"--config {path}: {e.strerror or e}") from None
    raw = docs[0] if len(docs) == 1 else None
    if len(docs) > 1:
        configs = [d for d in docs if isinstance(d, dict) and d.get("kind") in CONFIG_KINDS]
        if len(configs) != 1:
            named = ", ".join(f"{d.get('kind')} {(d.get('metadata') or {}).get('name', '?')}" for d in configs)
            raise ConfigError(
                f"--config {path} holds {len(docs)} documents and {len(configs)} kfkrm policy configs"
                + (f" ({named})" if named else "")
                + ": it needs exactly one EnterprisePolicy or EnterpriseProfile"
            )
        raw = configs[0]
    if isinstance(raw, dict) and raw.get("kind") == "EnterpriseProfile":
        from ..fns import enterprise_profile

        if raw.get("validate") in (None, False):
            raw = dict(raw, validate=True)  # a profile without `validate:` gets the default derived policy
        return None, parse_config(enterprise_profile.Config, raw, "enterprise-profile")
    return parse_config(Config, raw, "enterprise-policy"), None


def _profile_policy(profile, rl) -> Config:
    """The EnterprisePolicy an EnterpriseProfile derives (its validate: step), so the policy is
    written once. The upstream opt-outs the profile keeps, still opted out in the input, are
    exempt as in the profile."""
    from ..fns import enterprise_profile

    return enterprise_profile.policy_for(rl, profile)


def _one_line(e: Exception) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


def _where(violation) -> str:
    return violation.item.ref() if violation.item is not None else "(input)"


def _table(report: Report, config: Config, item_count: int) -> str:
    name = config.metadata.get("name", "policy")
    rows = [(v.rule, escape(_where(v)), escape(v.field or "-"), escape(v.message)) for v in report.failures]
    out = []
    if rows:
        headers = ("RULE", "RESOURCE", "FIELD", "MESSAGE")
        widths = [max(len(r[i]) for r in rows + [headers]) for i in range(3)]
        for row in [headers] + rows:
            cells = [row[i].ljust(widths[i]) for i in range(3)]
            out.append("  ".join(cells + [row[3]]).rstrip())
        out.append("")
    exempted = [v for v in report.violations if v.exemption is not None]
    if exempted:
        out.append(f"Exempted ({len(exempted)}):")
        for v in exempted:
            reason = escape(config.exemptions[v.exemption].reason)
            out.append(f"  {v.rule}  {escape(_where(v))}  exemptions[{v.exemption}]: {reason}")
        out.append("")
    counts = report.counts()
    if counts:
        out.append(f"{escape(name)}: {len(report.failures)} violations in {item_count} resources")
        width = max(len(rule) for rule in counts)
        out.extend(f"  {rule.ljust(width)}  {n}" for rule, n in counts.items())
    else:
        out.append(f"{escape(name)}: no violations in {item_count} resources")
    if report.as_in_baseline:
        out.append(f"({report.as_in_baseline} references dangle as they do in the baseline: not violations)")
    return "\n".join(out) + "\n"


def _json(report: Report, config: Config) -> str:
    def entry(v):
        ref = None
        if v.item is not None:
            ref = {
                "apiVersion": v.item.api_version,
                "kind": v.item.kind,
                "namespace": v.item.namespace,
                "name": v.item.name,
            }
        out = {"rule": v.rule, "resource": ref, "field": v.field, "message": v.message}
        if v.exemption is not None:
            out["exemption"] = {"index": v.exemption, "reason": config.exemptions[v.exemption].reason}
        return out

    out = {
        "violations": [entry(v) for v in report.failures],
        "exempted": [entry(v) for v in report.violations if v.exemption is not None],
        "counts": report.counts(),
    }
    if report.as_in_baseline is not None:
        out["danglingAsInBaseline"] = report.as_in_baseline  # integrity with --baseline: not violations
    return json.dumps(out, indent=2) + "\n"
