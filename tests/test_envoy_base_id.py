"""EnvoyBaseId on the real Kubeflow manifests, small cases, and bad configs.

Expected values come from reading ../shared/kubeflow by hand (the lists below), from
KFP's metadata-envoy Dockerfile as the issue quotes it, or from a scanner written here.
"""

from __future__ import annotations

import re

import pytest
import yaml

from helpers import VERSIONS, block, load_output, rendered_items_text, resource_list, run_function
from kfkrm.runtime import yamlio

NAME = "envoy-base-id"
CONFIG = """
apiVersion: kfkrm.dev/v1alpha1
kind: EnvoyBaseId
metadata:
  name: metadata-envoy-next-to-sidecar
baseId: 1
"""
# Read by hand from rendered/*.yaml: the only metadata-envoy container in each version,
# and how its pod template opts out of the sidecar.
METADATA_ENVOY = {
    "v1.3.0": ("metadata-envoy-deployment", "gcr.io/ml-pipeline/metadata-envoy:1.5.0", "annotations"),
    "v1.10": ("metadata-envoy-deployment", "ghcr.io/kubeflow/kfp-metadata-envoy:2.5.0", "labels"),
}
# ENTRYPOINT ["/usr/local/bin/envoy", "-c"], CMD ["/etc/envoy.yaml"]: args replace the CMD.
EXPECTED_ARGS = ["/etc/envoy.yaml", "--base-id", "1"]


def entries(items_text: str) -> list[str]:
    return re.split(r"^(?=- )", items_text, flags=re.M)[1:]


@pytest.fixture(scope="module", params=VERSIONS)
def run(request):
    version = request.param
    text = resource_list(rendered_items_text(version), CONFIG)
    outcome = run_function(NAME, text)
    assert outcome.exit_code == 0, outcome.stderr
    return version, outcome


def test_independent_scan_finds_one_metadata_envoy_per_version():
    for version in VERSIONS:
        images = re.findall(r"image: (\S*metadata-envoy\S*)", rendered_items_text(version))
        assert images == [METADATA_ENVOY[version][1]]


def test_metadata_envoy_gets_base_id_and_keeps_its_command(run):
    version, outcome = run
    name, image, opt_out = METADATA_ENVOY[version]
    output_entries = set(entries(outcome.stdout.split("\nfunctionConfig:")[0].split("items:\n", 1)[1] + "\n"))
    changed = [e for e in entries(rendered_items_text(version)) if e not in output_entries]
    assert len(changed) == 1 and f"name: {name}\n" in changed[0]  # every other item byte-identical
    deployment = yaml.load(changed[0], Loader=yamlio.Loader)[0]
    out = load_output(outcome.stdout)
    [after] = [i for i in out["items"] if i["kind"] == "Deployment" and i["metadata"]["name"] == name]
    container = after["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == image and container["args"] == EXPECTED_ARGS and "command" not in container
    before_container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert {k: v for k, v in container.items() if k != "args"} == before_container
    [warning] = [r for r in out["results"] if r["severity"] == "warning"]
    assert "opts out of sidecar injection" in warning["message"] and opt_out in warning["field"]["path"]


def test_second_run_changes_nothing(run):
    _, outcome = run
    again = run_function(NAME, outcome.stdout)
    assert again.exit_code == 0, again.stderr
    assert again.stdout.split("\nfunctionConfig:")[0] == outcome.stdout.split("\nfunctionConfig:")[0]


def envoy(args=None, command=None, image="gcr.io/ml-pipeline/metadata-envoy:1.5.0", labels=None):
    container = {"name": "envoy", "image": image}
    if command is not None:
        container["command"] = command
    if args is not None:
        container["args"] = args
    template = {"spec": {"containers": [{"name": "app", "image": "corp/app:1"}, container]}}
    if labels:
        template["metadata"] = {"labels": labels}
    return yaml.safe_dump(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "d", "namespace": "kubeflow"},
            "spec": {"template": template},
        },
        sort_keys=False,
    )


def run_one(doc: str, config: str = CONFIG):
    outcome = run_function(NAME, resource_list(block(doc), config))
    container = None
    if outcome.exit_code == 0:
        containers = load_output(outcome.stdout)["items"][0]["spec"]["template"]["spec"]["containers"]
        assert containers[0] == {"name": "app", "image": "corp/app:1"}  # other containers untouched
        container = containers[1]
    return outcome, container


@pytest.mark.parametrize(
    "args, command, expected_args, expected_command",
    [
        (None, None, EXPECTED_ARGS, None),
        (["/etc/envoy.yaml", "-l", "debug"], None, ["/etc/envoy.yaml", "-l", "debug", "--base-id", "1"], None),
        (
            ["/etc/envoy.yaml", "--base-id", "0", "-l", "info"],
            None,
            ["/etc/envoy.yaml", "--base-id", "1", "-l", "info"],
            None,
        ),
        (["/etc/envoy.yaml", "--base-id=0"], None, ["/etc/envoy.yaml", "--base-id=1"], None),
        (None, ["envoy", "-c", "/etc/envoy.yaml"], ["--base-id", "1"], ["envoy", "-c", "/etc/envoy.yaml"]),
        (None, ["envoy", "-c", "/e.yaml", "--base-id", "0"], None, ["envoy", "-c", "/e.yaml", "--base-id", "1"]),
    ],
)
def test_args_are_appended_or_replaced(args, command, expected_args, expected_command):
    outcome, container = run_one(envoy(args, command))
    assert outcome.exit_code == 0, outcome.stderr
    assert container.get("args") == expected_args
    assert container.get("command") == expected_command


def test_registry_proxied_image_is_still_found():
    outcome, container = run_one(envoy(image="registry.corp/ghcr.io/kubeflow/kfp-metadata-envoy@sha256:" + "a" * 64))
    assert outcome.exit_code == 0 and container["args"] == EXPECTED_ARGS


def test_dynamic_base_id_is_left_alone():
    outcome, container = run_one(envoy(args=["/etc/envoy.yaml", "--use-dynamic-base-id"]))
    assert outcome.exit_code == 0 and container["args"] == ["/etc/envoy.yaml", "--use-dynamic-base-id"]


def test_other_envoy_images_through_images_and_image_cmd():
    doc = envoy(image="docker.io/envoyproxy/envoy:v1.30")
    outcome, _ = run_one(doc)
    assert outcome.exit_code == 0 and "warning" in outcome.stderr  # not a default target: nothing found
    config = CONFIG + "images: ['*/envoyproxy/envoy']\n"
    outcome, _ = run_one(doc, config)
    assert outcome.exit_code == 1 and "set imageCmd" in outcome.stderr  # its CMD is unknown
    outcome, container = run_one(doc, config + "imageCmd: [envoy, -c, /etc/envoy/envoy.yaml]\n")
    assert outcome.exit_code == 0 and container["args"] == ["envoy", "-c", "/etc/envoy/envoy.yaml", "--base-id", "1"]


def test_opt_out_label_warns_and_injection_enabled_does_not():
    outcome, _ = run_one(envoy(labels={"sidecar.istio.io/inject": "false"}))
    assert outcome.exit_code == 0 and "1 warning" in outcome.stderr
    outcome, _ = run_one(envoy(labels={"sidecar.istio.io/inject": "true"}))
    assert outcome.exit_code == 0 and "warning" not in outcome.stderr


def test_configmap_config():
    outcome, container = run_one(
        envoy(), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  baseId: '7'\n"
    )
    assert outcome.exit_code == 0 and container["args"] == ["/etc/envoy.yaml", "--base-id", "7"]


@pytest.mark.parametrize(
    "config, expected",
    [
        (CONFIG.replace("baseId: 1", "baseId: 0"), "baseId: must be between 1 and 4294967295"),
        (CONFIG.replace("baseId: 1", "baseId: one"), "baseId: input should be a valid integer"),
        (CONFIG.replace("baseId: 1", ""), "baseId: required field is missing"),
        (CONFIG + "baseid: 2\n", "baseid: unknown field"),
        (CONFIG + "images: []\n", "images: must list at least one"),
        (CONFIG + "include: [{kind: StatefulSet}]\n", "include selects no container"),
    ],
)
def test_bad_configs(config, expected):
    text = resource_list(block(envoy()), config)
    outcome = run_function(NAME, text)
    assert outcome.exit_code == 1
    assert outcome.stderr.count("\n") == 1 and expected in outcome.stderr, outcome.stderr
    assert load_output(outcome.stdout)["items"] == load_output(text)["items"]
