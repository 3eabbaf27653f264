"""JsonPatch on the real Kubeflow manifests (the field report's VirtualService patch, without
a list of names), all-or-nothing per resource, YAML 1.2 values, and bad configs."""

from __future__ import annotations

from functools import lru_cache

import pytest

from helpers import (
    REPO,
    items_block,
    output_item_texts,
    rendered_items_text,
    rendered_text,
    resource_list,
    run_function,
    yaml_docs,
)
from helpers import (
    load_output as load_output_uncached,
)
from kfkrm.runtime.resourcelist import items_from_stream

EXPORT_TO = """
apiVersion: kfkrm.dev/v1alpha1
kind: JsonPatch
metadata: {name: t}
patches:
- target: {group: networking.istio.io, kind: VirtualService}
  ops:
  - {op: add, path: /spec/exportTo, value: ["."]}
"""


@lru_cache(maxsize=8)
def load_output(stdout: str) -> dict:
    return load_output_uncached(stdout)


def virtualservice_names(version: str) -> set[tuple[str, str]]:
    """An independent scan of the rendered file (PyYAML, every document)."""
    return {
        (d["metadata"]["namespace"], d["metadata"]["name"])
        for d in yaml_docs(rendered_text(version))
        if d and d["kind"] == "VirtualService" and d["apiVersion"].startswith("networking.istio.io/")
    }


@pytest.fixture(scope="module", params=["v1.3.0", "v1.10"])
def run(request):
    version = request.param
    outcome = run_function("json-patch", resource_list(rendered_items_text(version), EXPORT_TO))
    assert outcome.exit_code == 0, outcome.stderr
    return version, outcome


def test_every_virtualservice_gets_the_patch(run):
    version, outcome = run
    expected = virtualservice_names(version)
    assert len(expected) >= 9
    patched = {
        (o["metadata"]["namespace"], o["metadata"]["name"]): o
        for o in load_output(outcome.stdout)["items"]
        if o["kind"] == "VirtualService"
    }
    assert set(patched) == expected
    assert all(o["spec"]["exportTo"] == ["."] for o in patched.values())
    assert f"to {len(expected)} resources, {len(expected)} changed" in outcome.stderr


def test_untouched_items_are_byte_identical(run):
    version, outcome = run
    input_items = list(items_from_stream(rendered_text(version)))
    output_raws = output_item_texts(outcome.stdout)
    assert len(output_raws) == len(input_items)
    changed = {(i.namespace, i.name) for i, raw in zip(input_items, output_raws) if raw != i.raw}
    assert changed == virtualservice_names(version)


def test_second_run_changes_nothing(run):
    version, outcome = run
    items_text = outcome.stdout.split("items:\n", 1)[1].split("functionConfig:\n", 1)[0]
    again = run_function("json-patch", resource_list(items_text, EXPORT_TO))
    assert again.exit_code == 0, again.stderr
    assert ", 0 changed" in again.stderr
    assert again.stdout == outcome.stdout


# -- unit cases -------------------------------------------------------------------------------

VS = """apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: %s, namespace: kubeflow}
spec:
  hosts: ["*"]
  gateways: [kubeflow/kubeflow-gateway]
  http:
  - route:
    - destination: {host: svc, port: {number: 0777}}
"""
TWO_VS = items_block(
    VS % "a", VS % "b", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm, namespace: kubeflow}\ndata: {x: 'on'}\n"
)


def patch_config(ops: str, target: str = "{kind: VirtualService}", extra: str = "") -> str:
    return f"""apiVersion: kfkrm.dev/v1alpha1
kind: JsonPatch
metadata: {{name: t}}
patches:
- target: {target}
  ops:
{ops}{extra}"""


def run_ok(config: str, items: str = TWO_VS) -> tuple[dict, object]:
    outcome = run_function("json-patch", resource_list(items, config))
    assert outcome.exit_code == 0, outcome.stderr
    return load_output(outcome.stdout), outcome


def by_name(doc: dict) -> dict:
    return {o["metadata"]["name"]: o for o in doc["items"]}


def test_the_field_reports_patch_in_one_entry():
    doc, _ = run_ok(
        patch_config("""  - {op: remove, path: /spec/hosts/0}
  - {op: replace, path: /spec/gateways/0, value: istio-system/corp-gateway}
  - {op: add, path: /spec/hosts/0, value: kubeflow.corp.example.com}
  - {op: add, path: /spec/exportTo, value: ["."]}
""")
    )
    for name in ("a", "b"):
        spec = by_name(doc)[name]["spec"]
        assert spec["hosts"] == ["kubeflow.corp.example.com"]
        assert spec["gateways"] == ["istio-system/corp-gateway"]
        assert spec["exportTo"] == ["."]


def test_values_keep_their_yaml_1_2_meaning_and_copy_and_move_work():
    doc, outcome = run_ok(
        patch_config("""  - {op: add, path: /metadata/labels, value: {switch: on, mode: "0777"}}
  - {op: copy, from: /spec/http/0/route/0/destination/port, path: /spec/copied}
  - {op: move, from: /spec/hosts, path: /spec/moved}
""")
    )
    a = by_name(doc)["a"]
    assert a["metadata"]["labels"] == {"switch": "on", "mode": "0777"}
    assert a["spec"]["copied"] == {"number": 777}  # YAML 1.2: 0777 is decimal and "hosts" not in a["spec"]
    assert a["spec"]["moved"] == ["*"]
    assert "number: 0777" in outcome.stdout  # the number keeps the text it was written as
    assert "switch: 'on'" in outcome.stdout or 'switch: "on"' in outcome.stdout


def test_values_are_not_shared_between_resources():
    doc, _ = run_ok(
        patch_config(
            """  - {op: add, path: /spec/exportTo, value: ["."]}
""",
            extra="""- target: {kind: VirtualService, name: a}
  ops:
  - {op: add, path: /spec/exportTo/-, value: istio-system}
""",
        )
    )
    assert by_name(doc)["a"]["spec"]["exportTo"] == [".", "istio-system"]
    assert by_name(doc)["b"]["spec"]["exportTo"] == ["."]


def test_a_failing_op_names_the_resource_the_patch_and_the_op():
    outcome = run_function(
        "json-patch",
        resource_list(
            TWO_VS,
            patch_config(
                "  - {op: add, path: /spec/exportTo, value: ['.']}\n  - {op: replace, path: /spec/tcp/0, value: x}\n"
            ),
        ),
    )
    assert outcome.exit_code == 1
    assert len(outcome.stderr.strip().splitlines()) == 1
    assert "VirtualService kubeflow/a" in outcome.stderr
    assert "patches[0].ops[1] (replace /spec/tcp/0)" in outcome.stderr
    assert all("exportTo" not in o.get("spec", {}) for o in load_output(outcome.stdout)["items"])  # input as it came
    assert "{'hosts'" not in outcome.stdout  # the message does not dump the document


def test_a_failing_test_op_is_an_error():
    outcome = run_function(
        "json-patch", resource_list(TWO_VS, patch_config("  - {op: test, path: /spec/hosts/0, value: other}\n"))
    )
    assert outcome.exit_code == 1
    assert "patches[0].ops[0] (test /spec/hosts/0) failed: the value there is not 'other'" in outcome.stderr


def test_skip_missing_skips_the_whole_resource_with_an_info():
    doc, outcome = run_ok(
        patch_config(
            "  - {op: add, path: /spec/exportTo, value: ['.']}\n  - {op: remove, path: /spec/tcp}\n",
            target="{kind: VirtualService}",
            extra="  skipMissing: true\n",
        )
    )
    assert all("exportTo" not in o.get("spec", {}) for o in doc["items"])
    skipped = [r for r in doc["results"] if r["message"].startswith("skipped (skipMissing)")]
    assert {r["resourceRef"]["name"] for r in skipped} == {"a", "b"}
    assert all(r["severity"] == "info" and r["field"]["path"] == "spec.tcp" for r in skipped)
    assert "0 changed" in outcome.stderr


def test_a_target_that_selects_nothing_is_an_error():
    outcome = run_function(
        "json-patch",
        resource_list(TWO_VS, patch_config("  - {op: add, path: /spec/x, value: 1}\n", target="{kind: Gateway}")),
    )
    assert outcome.exit_code == 1
    assert "patches[0].target selects nothing" in outcome.stderr


def test_local_config_items_are_never_patched():
    items = items_block(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n  annotations:\n"
        "    config.kubernetes.io/local-config: 'true'\n"
    )
    outcome = run_function(
        "json-patch",
        resource_list(items, patch_config("  - {op: add, path: /data, value: {}}\n", target="{kind: ConfigMap}")),
    )
    assert outcome.exit_code == 1
    assert "selects nothing" in outcome.stderr


@pytest.mark.parametrize(
    "config, expected",
    [
        (patch_config("  - {op: append, path: /x, value: 1}\n"), "patches[0].ops[0].op: input should be"),
        (patch_config("  - {op: add, path: /x}\n"), "patches[0].ops[0]: op add needs a value"),
        (patch_config("  - {op: move, path: /x}\n"), "patches[0].ops[0]: op move needs from"),
        (
            patch_config("  - {op: add, path: spec/x, value: 1}\n"),
            "patches[0].ops[0].path: 'spec/x' is not a JSON pointer",
        ),
        (patch_config("  []\n").replace("ops:\n  []", "ops: []"), "patches[0].ops: must list at least one op"),
        (
            patch_config("  - {op: add, path: /x, value: 1}\n", target="{}"),
            "patches[0].target: a selector term must set",
        ),
        (
            patch_config("  - {op: add, path: /x, value: 1}\n", extra="  skipmissing: true\n"),
            "patches[0].skipmissing: unknown field",
        ),
        (
            patch_config("  - {op: add, path: /x, value: 1}\n", extra="  skipMissing: maybe\n"),
            "patches[0].skipMissing:",
        ),
        (
            "apiVersion: kfkrm.dev/v1alpha1\nkind: JsonPatch\nmetadata: {name: t}\npatches: []\n",
            "patches: must list at least one patch",
        ),
        (
            "apiVersion: kfkrm.dev/v1alpha1\nkind: JsonPatch\nmetadata: {name: t}\n",
            "patches: required field is missing",
        ),
    ],
)
def test_bad_config_is_one_clear_error_and_no_mutated_output(config, expected):
    text = resource_list(TWO_VS, config)
    outcome = run_function("json-patch", text)
    assert outcome.exit_code == 1
    assert len(outcome.stderr.strip().splitlines()) == 1
    assert expected in outcome.stderr, outcome.stderr
    assert output_item_texts(outcome.stdout) == [
        i.raw
        for i in items_from_stream(
            "---\n".join(
                [
                    VS % "a",
                    VS % "b",
                    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm, namespace: kubeflow}\ndata: {x: 'on'}\n",
                ]
            )
        )
    ]


def test_the_example_config_validates():
    text = (REPO / "fnconfigs" / "json-patch.yaml").read_text()
    doc, _ = run_ok(text)
    assert by_name(doc)["a"]["spec"]["exportTo"] == ["."]
