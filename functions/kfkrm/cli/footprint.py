"""`kfkrm footprint [FILE|-] [--baseline OLD] [--json]`: what a render does beyond Kubeflow's own namespaces.

Reads a rendered stream (or a ResourceList) and lists every object that acts beyond
Kubeflow's own namespaces, by class, with the field and the reason: CRDs, ClusterRoles (and
which of the cluster's roles they aggregate into), ClusterRoleBindings and bindings of broad
subjects, default PriorityClasses and StorageClasses, APIServices, admission webhooks that
can intercept objects in other namespaces (with their failurePolicy), mesh-wide Istio
configuration, login objects on a gateway, other cluster-scoped objects, objects in
namespaces the render does not create. With `--baseline OLD` only what is new since OLD
(an earlier release's render, or the footprint the platform team approved). Exit 0; 1 when
it cannot read its input. The classes and the JSON are documented in docs/footprint.md.
"""

from __future__ import annotations

import argparse
import json
import sys

from ..domain import footprint as fp
from ..runtime.resourcelist import InputError, read_input

OK, UNUSABLE = 0, 1
JSON_VERSION = 1  # the --json layout's version: bumped on any incompatible change


def main(argv) -> int:
    parser = argparse.ArgumentParser(prog="kfkrm footprint", description=__doc__.split("\n\n")[1].replace("\n", " "))
    parser.add_argument(
        "file", nargs="?", default="-", help="rendered manifests or a ResourceList; - (default) for stdin"
    )
    parser.add_argument("--baseline", metavar="OLD", help="an earlier render: show only what is new since it")
    parser.add_argument("--json", action="store_true", help="the findings as JSON (docs/footprint.md)")
    parser.add_argument(
        "--root-namespace",
        default=fp.ISTIO_NAMESPACE,
        help="the mesh's root namespace (meshConfig.rootNamespace; default istio-system)",
    )
    args = parser.parse_args(argv)
    try:
        baseline = None
        if args.baseline is not None:
            baseline = findings(_read(args.baseline, "--baseline"), args.root_namespace)
        found = findings(sys.stdin.read() if args.file == "-" else _read(args.file, ""), args.root_namespace)
    except (OSError, InputError, UnicodeDecodeError) as e:
        sys.stderr.write(f"kfkrm footprint: error: {_one_line(e)}\n")
        return UNUSABLE
    if baseline is not None:
        found = fp.new_findings(found, baseline)
    sys.stdout.write(to_json(found, baseline is not None) if args.json else table(found, baseline is not None))
    return OK


def findings(text: str, root_namespace: str = fp.ISTIO_NAMESPACE) -> list:
    items = [i for i in read_input(text).items if not i.is_local_config]
    return fp.footprint(items, fp.context(items, root_namespace))


def _read(path: str, what: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as e:
        raise OSError(f"{what + ' ' if what else ''}{path}: {e.strerror or e}") from None


def _one_line(e: Exception) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


def table(found: list, new_only: bool = False) -> str:
    """CLASS, OBJECT, FIELD, REASON rows in the classes' order, then the count per class."""
    order = {c: i for i, c in enumerate(fp.CLASSES)}
    rows = [
        (f.cls, f.item.ref(), f.field or "-", f.reason)
        for f in sorted(found, key=lambda f: (order[f.cls], f.item.kind, f.item.namespace, f.item.name, f.field or ""))
    ]
    out = []
    if rows:
        headers = ("CLASS", "OBJECT", "FIELD", "REASON")
        widths = [max(len(r[i]) for r in rows + [headers]) for i in range(3)]
        for row in [headers] + rows:
            out.append("  ".join([row[i].ljust(widths[i]) for i in range(3)] + [row[3]]).rstrip())
        out.append("")
    what = "new since the baseline" if new_only else "beyond Kubeflow's own namespaces"
    counts = fp.counts(found)
    out.append(f"{len(found)} findings {what}" + (":" if counts else ""))
    width = max((len(c) for c in counts), default=0)
    out.extend(f"  {c.ljust(width)}  {n}" for c, n in counts.items())
    return "\n".join(out) + "\n"


def to_json(found: list, new_only: bool = False) -> str:
    return (
        json.dumps(
            {
                "version": JSON_VERSION,
                "newSinceBaseline": new_only,
                "findings": [f.to_dict() for f in found],
                "counts": fp.counts(found),
            },
            indent=2,
        )
        + "\n"
    )
