"""Images on literal `image:` lines of Go template text (Istio's injection templates).

`templates.grpc-simple` in istio-sidecar-injector's data.config (Kubeflow v1.7.0 and
v1.10) runs `image: busybox:1.28` as an init container: template text, not YAML, so the
structured finder never saw it. The oracle here is a plain line scan of every template
string in the render, written independently of the finder: every literal image line it
finds must be found by the finder, listed by `kfkrm images`, rewritten by ImageProxy
(only on that line), and reported by the policy's registry rule; no template expression
line may change.
"""

from __future__ import annotations

import json
import re

import pytest
import yaml

from helpers import (
    items_block,
    load_output,
    rendered_items_text,
    rendered_text,
    resource_list,
    run_cli,
    run_function,
    yaml_docs,
)
from kfkrm.domain.images import find_images
from kfkrm.runtime import yamlio
from kfkrm.runtime.resourcelist import items_from_stream

RENDERS = ("v1.3.0", "v1.7.0", "v1.10")
CORP = "registry.corp.example.com"
PROXY = f"""apiVersion: kfkrm.dev/v1alpha1
kind: ImageProxy
rules:
- {{from: docker.io, to: {CORP}/dockerhub}}
- {{from: "*", to: {CORP}/proxy}}
"""
# Written down from the renders: v1.3.0's templates (Istio 1.9) hold only expressions.
EXPECTED = {"v1.3.0": 0, "v1.7.0": 1, "v1.10": 1}
LITERAL_LINE = re.compile(r"""^\s*(?:- )?image:\s+["']?([A-Za-z0-9][^\s"'{}]*)["']?\s*$""")


def _strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for v in node.values():
            yield from _strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v)


def template_strings(cm: dict):
    """Every string in a ConfigMap's data (and, where a value is YAML, in it) with a template action."""
    for value in (cm.get("data") or {}).values():
        if not isinstance(value, str):
            continue
        value = str(value)  # a yamlio string keeps its style; the C parser wants a plain str
        try:
            texts = list(_strings(list(yaml.safe_load_all(value))))  # YAML: the strings in it
        except yaml.YAMLError:
            texts = [value]  # not YAML: the value itself
        for text in texts:
            if "{{" in text and "\n" in text:
                yield text


def docs(stream: str) -> list:
    return yaml_docs(stream)


def literal_template_images(objects: list) -> list[tuple[str, str]]:
    """(ConfigMap name, image) of each literal `image:` line in template text: the oracle."""
    out = []
    for doc in objects:
        if not doc or doc.get("kind") != "ConfigMap":
            continue
        seen = set()
        for text in template_strings(doc):
            if text in seen:
                continue
            seen.add(text)
            for line in text.split("\n"):
                m = LITERAL_LINE.match(line)
                if m:
                    out.append((doc["metadata"]["name"], m.group(1)))
    return out


def expression_lines(objects: list) -> list[str]:
    """Every template line that sets an image from a template expression: never to change."""
    return sorted(
        line
        for doc in objects
        if doc.get("kind") == "ConfigMap"
        for text in template_strings(doc)
        for line in text.split("\n")
        if re.match(r"^\s*(?:- )?image:.*\{\{", line)
    )


@pytest.mark.parametrize("version", RENDERS)
def test_the_finder_finds_every_literal_template_image(version):
    expected = literal_template_images(docs(rendered_text(version)))
    assert len(expected) == EXPECTED[version]
    found = [
        (f.item.name, f.ref.text)
        for f in find_images(items_from_stream(rendered_text(version)))
        if " line " in f.where_text() and f.item.name == "istio-sidecar-injector"
    ]
    assert sorted(found) == sorted(expected)


@pytest.mark.parametrize("version", ["v1.7.0", "v1.10"])
def test_kfkrm_images_lists_busybox_with_its_template(version):
    out = run_cli(["images", "--format", "json", "-"], rendered_text(version))
    assert out.returncode == 0, out.stderr
    listed = {e["image"]: e["locations"] for e in json.loads(out.stdout)}
    places = listed["docker.io/library/busybox:1.28"]
    assert any(
        p.startswith("ConfigMap istio-system/istio-sidecar-injector data.config (templates.grpc-simple line ")
        for p in places
    ), places


@pytest.mark.parametrize("version", RENDERS)
def test_image_proxy_rewrites_only_the_literal_template_lines(version):
    out = run_function("image-proxy", resource_list(rendered_items_text(version), PROXY))
    assert out.exit_code == 0, out.stderr
    output, upstream = load_output(out.stdout)["items"], docs(rendered_text(version))
    before, after = literal_template_images(upstream), literal_template_images(output)
    assert len(after) == len(before) == EXPECTED[version]
    assert all(image.startswith(CORP + "/") for _, image in after), after
    assert [f"{CORP}/dockerhub/library/{image}" for _, image in before] == [image for _, image in after]
    assert expression_lines(output) == expression_lines(upstream)
    # data.config still parses, and differs from the input on the rewritten lines only
    old, new = (_injector_config(objects) for objects in (upstream, output))
    changed = [(a, b) for a, b in zip(old.split("\n"), new.split("\n")) if a != b]
    assert len(old.split("\n")) == len(new.split("\n"))
    assert len(changed) == EXPECTED[version]
    assert all("busybox:1.28" in a and f"{CORP}/dockerhub/library/busybox:1.28" in b for a, b in changed)
    infos = [
        r for r in load_output(out.stdout).get("results", []) if "line" in r["message"] and "busybox" in r["message"]
    ]
    assert len(infos) == EXPECTED[version]


def _injector_config(objects: list) -> str:
    for doc in objects:
        if (
            doc.get("kind") == "ConfigMap"
            and doc["metadata"]["name"] == "istio-sidecar-injector"
            and "config" in (doc.get("data") or {})
        ):
            yaml.safe_load(str(doc["data"]["config"]))
            return str(doc["data"]["config"])
    raise AssertionError("no istio-sidecar-injector ConfigMap with data.config")


@pytest.mark.parametrize("version", ["v1.7.0", "v1.10"])
def test_the_registry_rule_reports_the_template_image(version):
    policy = f"apiVersion: kfkrm.dev/v1alpha1\nkind: EnterprisePolicy\nallowedRegistries: [{CORP}]\n"
    out = run_function("enterprise-policy", resource_list(rendered_items_text(version), policy))
    assert out.exit_code == 1
    hits = [r for r in load_output(out.stdout)["results"] if "busybox:1.28" in r["message"]]
    assert len(hits) == 1 and hits[0]["field"]["path"] == "data.config", hits
    assert hits[0]["resourceRef"]["name"] == "istio-sidecar-injector"


# -- small cases ---------------------------------------------------------------------------

TEMPLATE = """\
{{- if .Values.enabled }}
spec:
  initContainers:
  - name: init
    image: busybox:1.28
  - name: expr
    image: "{{ .Values.image }}"
  - name: partly
    image: docker.io/x/y:{{ .Tag }}
  containers:
  - image: 'gcr.io/a/b:2'
{{- end }}
"""


def _configmap(data: dict) -> str:
    return items_block(
        yaml.safe_dump(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "t", "namespace": "ns"}, "data": data}
        )
    )


def _data(stdout: str) -> dict:
    return load_output(stdout)["items"][0]["data"]


def test_an_unparseable_template_value_is_rewritten_line_by_line():
    with pytest.raises(yamlio.YAMLError):
        yamlio.load_all(TEMPLATE)  # the case: not YAML
    out = run_function("image-proxy", resource_list(_configmap({"tpl": TEMPLATE}), PROXY))
    assert out.exit_code == 0, out.stderr
    expected = TEMPLATE.replace("image: busybox:1.28", f"image: {CORP}/dockerhub/library/busybox:1.28").replace(
        "'gcr.io/a/b:2'", f"'{CORP}/proxy/gcr.io/a/b:2'"
    )
    assert _data(out.stdout)["tpl"] == expected


def test_a_template_inside_yaml_is_rewritten_and_the_yaml_kept():
    config = yaml.safe_dump({"policy": "enabled", "templates": {"t": TEMPLATE}}, default_style=None)
    out = run_function("image-proxy", resource_list(_configmap({"config": config}), PROXY))
    assert out.exit_code == 0, out.stderr
    got = yaml.safe_load(_data(out.stdout)["config"])
    assert got["policy"] == "enabled"
    assert f"image: {CORP}/dockerhub/library/busybox:1.28" in got["templates"]["t"]
    assert 'image: "{{ .Values.image }}"' in got["templates"]["t"]


def test_an_image_also_written_outside_image_lines_is_left_with_a_warning():
    text = TEMPLATE + "# see busybox:1.28 notes\n"
    out = run_function("image-proxy", resource_list(_configmap({"tpl": text}), PROXY))
    assert out.exit_code == 0, out.stderr
    assert "image: busybox:1.28" in _data(out.stdout)["tpl"]
    warnings = [r for r in load_output(out.stdout)["results"] if r["severity"] == "warning"]
    assert any("busybox:1.28 left as it is" in r["message"] and r["field"]["path"] == "data.tpl" for r in warnings)


def test_a_second_run_changes_nothing():
    first = run_function("image-proxy", resource_list(_configmap({"tpl": TEMPLATE}), PROXY))
    second = run_function("image-proxy", first.stdout)
    assert second.exit_code == 0
    assert _data(second.stdout) == _data(first.stdout)
