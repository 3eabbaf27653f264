"""`kfkrm upgrade-plan OLD NEW --config PROFILE [--kubernetes-version 1.31] [--json]`: what an upgrade does.

OLD and NEW are each a rendered stream (or ResourceList), or a kustomization directory that
`kfkrm build` renders. Both are adapted in-process with the same EnterpriseProfile (its
`validate` step left out: `kfkrm validate` does that) and compared object by object. The
plan lists the blockers for `kubectl apply` (immutable fields, with the remedy), CRD version
changes, the API versions `--kubernetes-version` no longer serves, the security delta (the
footprint new since OLD, RBAC widened), the images to mirror before applying, and the
objects added, removed and changed. Exit 0 without blockers, 1 with any, 2 when it cannot
plan (bad arguments, an unreadable input, an adaptation error). docs/upgrades.md documents
the table and the JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..domain import footprint as fp
from ..domain import kubernetes_apis, upgrade
from ..domain.images import find_images
from ..runtime import yamlio
from ..runtime.config import ConfigError, parse_config
from ..runtime.resourcelist import InputError, read_input
from ..runtime.results import ERROR
from .images import image_locations

CLEAN, BLOCKED, UNUSABLE = 0, 1, 2
JSON_VERSION = 1
PROG = "kfkrm upgrade-plan"


class PlanFailure(Exception):
    pass


def main(argv) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[1].replace("\n", " "))
    parser.add_argument("old", help="the running release: a rendered stream or a kustomization directory")
    parser.add_argument("new", help="the release to apply: a rendered stream or a kustomization directory")
    parser.add_argument("--config", required=True, help="the EnterpriseProfile both are adapted with")
    parser.add_argument(
        "--kubernetes-version", metavar="1.31", help="list the API versions this Kubernetes release does not serve"
    )
    parser.add_argument("--json", action="store_true", help="the plan as JSON (docs/upgrades.md)")
    args = parser.parse_args(argv)
    try:
        minor = kubernetes_apis.parse_minor(args.kubernetes_version) if args.kubernetes_version else None
        profile = _profile(args.config)
        old = adapted(args.old, profile, "OLD")
        new = adapted(args.new, profile, "NEW")
        the_plan = plan(old, new, profile, minor)
    except (OSError, InputError, ConfigError, PlanFailure, ValueError, UnicodeDecodeError) as e:
        sys.stderr.write(f"{PROG}: error: {_one_line(e)}\n")
        return UNUSABLE
    if args.kubernetes_version:
        the_plan["kubernetesVersion"] = args.kubernetes_version
    sys.stdout.write(json.dumps(the_plan, indent=2) + "\n" if args.json else table(the_plan))
    return BLOCKED if the_plan["blockers"] else CLEAN


def _one_line(e: Exception) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


def _profile(path: str):
    from ..fns import enterprise_profile

    try:
        with open(path, encoding="utf-8") as f:
            raw = yamlio.load(f.read())
    except OSError as e:
        raise ConfigError(f"--config {path}: {e.strerror or e}") from None
    except yamlio.YAMLError as e:
        raise ConfigError(f"--config {path} is not valid YAML: {_one_line(e)}") from None
    if not isinstance(raw, dict) or raw.get("kind") != "EnterpriseProfile":
        raise ConfigError(f"--config {path} is not an EnterpriseProfile")
    raw = dict(raw, validate=False)  # the plan compares; `kfkrm validate` validates
    return parse_config(enterprise_profile.Config, raw, "enterprise-profile")


def rendered(path: str, what: str) -> str:
    """The text of a render, or `kfkrm build` of a kustomization directory."""
    if Path(path).is_dir():
        from .build import PlanError, render

        try:
            status, text = render(Path(path))
        except PlanError as e:
            raise PlanFailure(f"{what} {path}: {e}") from None
        if status != 0:
            raise PlanFailure(f"{what} {path}: kfkrm build failed (its messages are above)")
        return text
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as e:
        raise OSError(f"{what} {path}: {e.strerror or e}") from None


def adapted(path: str, profile, what: str) -> list:
    """The objects of `path` after the profile, in-process; an adaptation error stops the plan."""
    from ..fns import enterprise_profile

    text = rendered(path, what)
    try:
        rl = read_input(text)
    except InputError as e:
        raise InputError(f"{what} {path}: {_one_line(e)}") from None
    enterprise_profile.transform(rl, profile)
    errors = [r for r in rl.results if r.severity == ERROR]
    if errors:
        raise PlanFailure(f"{what} {path}: the profile fails: {errors[0].one_line()} ({len(errors)} errors)")
    return [i for i in rl.items if not i.is_local_config]


def _gateway_labels(profile) -> list:
    workload = getattr(getattr(profile, "mesh", None), "gatewayWorkload", None)
    labels = workload.get("labels") if isinstance(workload, dict) else getattr(workload, "labels", None)
    return [labels] if isinstance(labels, dict) and labels else []


def _ref(item) -> dict:
    return {"apiVersion": item.api_version, "kind": item.kind, "namespace": item.namespace, "name": item.name}


def plan(old: list, new: list, profile=None, minor=None) -> dict:
    """The plan as the JSON document `--json` prints (the table is printed from it)."""
    cmp = upgrade.compare(old, new)
    gateways = _gateway_labels(profile) if profile is not None else []
    found_old = fp.footprint(old, fp.context(old, gateway_labels=gateways))
    found_new = fp.footprint(new, fp.context(new, gateway_labels=gateways))
    images_old = set(image_locations(find_images(old, embedded=True)))
    images_new = image_locations(find_images(new, embedded=True))
    removals: dict = {"old": [], "new": []}
    if minor is not None:
        for side, items in (("old", old), ("new", new)):
            for item in items:
                gone = kubernetes_apis.removal(item.api_version, item.kind, minor)
                if gone is not None:
                    removals[side].append(
                        dict(_ref(item), removedIn=kubernetes_apis.format_minor(gone.removed), use=gone.use)
                    )
    return {
        "version": JSON_VERSION,
        "blockers": [dict(_ref(b.new), field=b.field, message=b.message, remedy=b.remedy) for b in cmp.blockers],
        "crds": [dict(_ref(c.item), change=c.change, crdVersion=c.version, message=c.message) for c in cmp.crds],
        "apiRemovals": removals,
        "security": {
            "newFootprint": [f.to_dict() for f in fp.new_findings(found_new, found_old)],
            "rbacWidened": [dict(_ref(w.new), granted=w.granted) for w in cmp.rbac],
        },
        "imagesToMirror": sorted(i for i in images_new if i not in images_old),
        "objects": {
            "added": [_ref(i) for i in cmp.added],
            "removed": [_ref(i) for i in cmp.removed],
            "changed": [dict(_ref(c.new), fields=c.fields) for c in cmp.changed],
            "relocated": [dict(_ref(n), fromNamespace=o.namespace) for o, n in cmp.relocated],
        },
    }


def _rows(headers: tuple, rows: list) -> list[str]:
    if not rows:
        return ["  (none)"]
    widths = [max(len(str(r[i])) for r in rows + [headers]) for i in range(len(headers) - 1)]
    out = []
    for row in [headers] + rows:
        cells = [str(row[i]).ljust(widths[i]) for i in range(len(headers) - 1)]
        out.append(("  " + "  ".join(cells + [str(row[-1])])).rstrip())
    return out


def _obj(ref: dict) -> str:
    ns = f"{ref['namespace']}/" if ref["namespace"] else ""
    return f"{ref['kind']} {ns}{ref['name']}"


def table(p: dict) -> str:
    out = [f"Blockers for kubectl apply ({len(p['blockers'])}):"]
    out += _rows(
        ("OBJECT", "FIELD", "PROBLEM / REMEDY"),
        [(_obj(b), b["field"], f"{b['message']}; remedy: {b['remedy']}") for b in p["blockers"]],
    )
    out += ["", f"CRD version changes ({len(p['crds'])}):"]
    out += _rows(
        ("CRD", "CHANGE", "VERSION / MESSAGE"),
        [
            (_obj(c), c["change"], f"{c['crdVersion']}: {c['message']}" if c["crdVersion"] else c["message"])
            for c in p["crds"]
        ],
    )
    if "kubernetesVersion" in p:
        for side in ("old", "new"):
            gone = p["apiRemovals"][side]
            out += [
                "",
                f"API versions Kubernetes {p['kubernetesVersion']} does not serve, in {side.upper()} ({len(gone)}):",
            ]
            out += _rows(
                ("OBJECT", "API VERSION", "USE"),
                [(_obj(r), f"{r['apiVersion']} (removed in {r['removedIn']})", r["use"]) for r in gone],
            )
    sec = p["security"]
    out += ["", f"Security: footprint new since OLD ({len(sec['newFootprint'])}):"]
    out += _rows(("CLASS", "OBJECT", "REASON"), [(f["class"], _obj(f), f["reason"]) for f in sec["newFootprint"]])
    out += ["", f"Security: RBAC widened ({len(sec['rbacWidened'])}):"]
    out += _rows(("ROLE", "GRANTED"), [(_obj(w), ", ".join(w["granted"])) for w in sec["rbacWidened"]])
    out += ["", f"Images to mirror ({len(p['imagesToMirror'])}):"] + [f"  {i}" for i in p["imagesToMirror"]]
    objects = p["objects"]
    for what in ("added", "removed"):
        out += ["", f"Objects {what} ({len(objects[what])}):"] + _by_kind(objects[what])
    out += ["", f"Objects changed ({len(objects['changed'])}):"]
    out += _rows(("OBJECT", "FIELDS"), [(_obj(c), _fields(c["fields"])) for c in objects["changed"]])
    if objects["relocated"]:
        out += ["", f"Same objects in another namespace ({len(objects['relocated'])}):"]
        out += [f"  {_obj(r)} (was in {r['fromNamespace'] or 'no namespace'})" for r in objects["relocated"]]
    verdict = f"{len(p['blockers'])} blockers" if p["blockers"] else "no blockers"
    out += [
        "",
        f"upgrade-plan: {verdict}; {len(p['crds'])} CRD changes; {len(p['imagesToMirror'])} images to mirror; "
        f"{len(objects['added'])} added, {len(objects['removed'])} removed, {len(objects['changed'])} changed",
    ]
    return "\n".join(out) + "\n"


def _fields(fields: list, limit: int = 4) -> str:
    return ", ".join(fields[:limit]) + (f" (+{len(fields) - limit} more)" if len(fields) > limit else "")


def _by_kind(refs: list) -> list[str]:
    """One line per kind and namespace: the count and the names."""
    groups: dict = {}
    for r in refs:
        groups.setdefault((r["kind"], r["namespace"]), []).append(r["name"])
    if not groups:
        return ["  (none)"]
    return [
        f"  {kind} {ns or '(cluster)'}: {len(names)}: {', '.join(sorted(names))}"
        for (kind, ns), names in sorted(groups.items())
    ]
