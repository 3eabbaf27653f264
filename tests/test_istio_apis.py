"""The Istio API table against the CRDs bundled in each Kubeflow render, and istioVersion's range.

The oracle is independent of the table: each render carries the CRDs of the Istio it
bundles (v1.3.0: 1.9, v1.7.0: 1.16, v1.10: 1.26, read off the istiod image's tag), and
their openAPIV3Schema says which kinds, fields and enum values that Istio serves. From
each schema the test builds objects that use every field and every enum value it defines;
the table must flag none of them for that Istio.
"""

from __future__ import annotations

import re
from functools import lru_cache

import pytest
import yaml

from helpers import items_block, load_output, rendered_text, resource_list, run_function
from kfkrm.domain import istio_apis

RENDERS = ("v1.3.0", "v1.7.0", "v1.10")
PILOT_TAG = re.compile(r"image: \S*/pilot:(\d+)\.(\d+)\.\d+")


@lru_cache(maxsize=None)
def bundled(version: str) -> tuple[tuple[int, int], list[dict]]:
    """(the bundled Istio's minor version, its CRDs) read from the render."""
    text = rendered_text(version)
    tags = {(int(a), int(b)) for a, b in PILOT_TAG.findall(text)}
    assert len(tags) == 1, tags
    crds = [
        d
        for d in yaml.load_all(text, Loader=yaml.CSafeLoader)
        if d and d.get("kind") == "CustomResourceDefinition" and d["spec"]["group"].endswith("istio.io")
    ]
    assert crds
    return tags.pop(), crds


def served_versions(crd: dict):
    """(version name, openAPIV3Schema or {}) of each served version (apiextensions v1 and v1beta1)."""
    spec = crd["spec"]
    for v in spec.get("versions") or [{"name": spec.get("version")}]:
        if v.get("served", True):
            yield v["name"], ((v.get("schema") or spec.get("validation") or {}).get("openAPIV3Schema") or {})


def probes(schema: dict) -> list:
    """Objects using every property the schema defines (lists hold one element, maps one
    entry), and for each enum one object per value: the value-specific entries are checked too."""
    enums: list[tuple[list, list]] = []  # (path of keys, values)

    def build(node: dict, path: list):
        if not isinstance(node, dict):
            return "x"
        if node.get("enum"):
            enums.append((path, node["enum"]))
            return node["enum"][0]
        if node.get("type") == "array" or "items" in node:
            return [build(node.get("items") or {}, path + [0])]
        props = node.get("properties")
        if props:
            return {k: build(v, path + [k]) for k, v in props.items()}
        if isinstance(node.get("additionalProperties"), dict):
            return {"key": build(node["additionalProperties"], path + ["key"])}
        return "x"

    full = build(schema, [])
    objects = [full]
    for path, values in enums:
        for value in values[1:]:
            obj = yaml.safe_load(yaml.safe_dump(full))
            node = obj
            for k in path[:-1]:
                node = node[k]
            node[path[-1]] = value
            objects.append(obj)
    return objects


@pytest.mark.parametrize("version", RENDERS)
def test_the_renders_bundle_the_istio_the_table_is_checked_against(version):
    minor, _ = bundled(version)
    assert minor == {"v1.3.0": (1, 9), "v1.7.0": (1, 16), "v1.10": (1, 26)}[version]
    assert istio_apis.OLDEST <= minor <= istio_apis.NEWEST


@pytest.mark.parametrize("version", RENDERS)
def test_every_kind_the_bundled_crds_serve_is_served_by_the_table(version):
    minor, crds = bundled(version)
    for crd in crds:
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for name, _ in served_versions(crd):
            entry = istio_apis.kind_entry(group, name, kind)
            assert entry is not None, f"{group}/{name} {kind} is missing from the table"
            assert entry.served_by(minor), f"{group}/{name} {kind}: the Istio {minor} CRDs serve it, the table does not"


@pytest.mark.parametrize("version", RENDERS)
def test_no_field_the_bundled_crds_define_is_flagged(version):
    minor, crds = bundled(version)
    checked = 0
    for crd in crds:
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for name, schema in served_versions(crd):
            for obj in probes(schema):
                flagged = [(where, f.since) for where, f in istio_apis.newer_fields(minor, group, kind, obj)]
                assert not flagged, f"{group}/{name} {kind}: Istio {minor}'s CRD defines {flagged}"
                checked += 1
    assert checked > 50, checked


@pytest.mark.parametrize("version", RENDERS)
def test_every_field_entry_absent_from_the_bundled_crds_is_flagged(version):
    """The other direction: an entry whose field (or value) the render's CRDs lack must be
    dated after that Istio; otherwise the table would pass what that Istio rejects."""
    minor, crds = bundled(version)
    schemas: dict[tuple, list] = {}
    for crd in crds:
        for _, schema in served_versions(crd):
            schemas.setdefault((crd["spec"]["group"], crd["spec"]["names"]["kind"]), []).append(schema)
    for entry in istio_apis.FIELDS:
        if (entry.group, entry.kind) not in schemas:
            continue
        defined = any(_defines(schema, entry.path, entry.value) for schema in schemas[(entry.group, entry.kind)])
        assert defined == (entry.since <= minor), (entry.kind, entry.path, entry.value, entry.since, minor)


def _defines(schema: dict, path: str, value) -> bool:
    node = schema
    for part in path.replace("[]", "").split("."):
        while node.get("type") == "array":
            node = node.get("items") or {}
        node = (node.get("properties") or {}).get(part)
        if node is None:
            return False
    return value is None or value in (node.get("enum") or (node.get("items") or {}).get("enum") or [])


def test_every_field_entry_names_a_kind_the_table_knows():
    kinds = {(k.group, k.kind) for k in istio_apis.KINDS}
    for entry in istio_apis.FIELDS:
        assert (entry.group, entry.kind) in kinds, entry


# -- istioVersion: every release through the newest, and newer ones ---------------------------

ISTIOD = items_block(
    "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: istiod, namespace: istio-system, labels: {release: istio}}\n",
    "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: p, namespace: kubeflow}\n"
    "spec: {action: CUSTOM, provider: {name: x}, targetRefs: [{kind: Gateway, name: g}]}\n",
)


@pytest.mark.parametrize("minor", range(5, istio_apis.NEWEST[1] + 1))
def test_every_istio_release_through_the_newest_is_accepted(minor):
    assert istio_apis.parse_minor(f"1.{minor}") == (1, minor)
    assert istio_apis.newer_than_table(f"1.{minor}") is None


def test_the_table_reaches_kubeflow_1_11s_istio_and_the_newest_release():
    assert istio_apis.NEWEST >= (1, 31)  # Kubeflow 1.11 bundles 1.28; 1.31 is the newest release (2026-09)


@pytest.mark.parametrize("function", ["remove-istio", "enterprise-policy"])
@pytest.mark.parametrize("version", ["1.32", "1.40", "2.0"])
def test_a_version_newer_than_the_table_is_checked_as_the_newest_with_a_warning(function, version):
    kind = {"remove-istio": "RemoveIstio", "enterprise-policy": "EnterprisePolicy"}[function]
    config = f'apiVersion: kfkrm.dev/v1alpha1\nkind: {kind}\nistioVersion: "{version}"\n'
    out = run_function(function, resource_list(ISTIOD, config))
    assert out.exit_code == 0, out.stderr
    results = load_output(out.stdout).get("results", [])
    warnings = [
        r for r in results if r["severity"] == "warning" and "newer than kfkrm's Istio API table" in r["message"]
    ]
    assert len(warnings) == 1 and warnings[0]["field"]["path"] == "istioVersion", results
    newest = istio_apis.format_minor(istio_apis.NEWEST)
    assert f"checked as Istio {newest}" in warnings[0]["message"]
    # checked as the newest: the same findings as with the newest version itself
    same = run_function(function, resource_list(ISTIOD, config.replace(version, newest)))
    assert same.exit_code == 0
    assert [r for r in load_output(same.stdout).get("results", []) if "newer than" not in r["message"]] == [
        r for r in results if "newer than" not in r["message"]
    ]


@pytest.mark.parametrize("bad", ["1.4", "0.9", "1", "1.x", "1.28.1"])
def test_versions_the_table_cannot_check_are_refused(bad):
    with pytest.raises(ValueError):
        istio_apis.parse_minor(bad)


def test_a_field_newer_than_the_mesh_is_still_flagged():
    obj = {"spec": {"priority": 1}}
    assert [w for w, _ in istio_apis.newer_fields((1, 10), "networking.istio.io", "EnvoyFilter", obj)] == [
        "spec.priority"
    ]
    assert not list(istio_apis.newer_fields((1, 11), "networking.istio.io", "EnvoyFilter", obj))
