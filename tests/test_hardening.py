"""Hostile and unusual input (issue 13): never a silent pass, never a blow-up.

Each test runs the real code path (the `kfkrm` command in a subprocess, or the runner) and
checks what a user sees: the exit code, the one stderr line, and the output items parsed by
PyYAML independently of kfkrm's reader.
"""

import os
import resource
import subprocess
import sys
import time

import pytest
import yaml

from helpers import REPO, items_block, load_output, resource_list, run_cli, yaml_load
from kfkrm.runtime import yamlio

POLICY = "apiVersion: kfkrm.dev/v1alpha1\nkind: EnterprisePolicy\nmetadata: {name: p}\nallowedRegistries: [registry.corp.example.com]\n"
PROXY = (
    "apiVersion: kfkrm.dev/v1alpha1\nkind: ImageProxy\nmetadata: {name: p}\n"
    "rules: [{from: '*', to: registry.corp.example.com/proxy}]\nallowedRegistries: [registry.corp.example.com]\n"
)
LABELS = "apiVersion: kfkrm.dev/v1alpha1\nkind: PodTemplateLabels\nmetadata: {name: t}\nlabels: {team: ml}\n"
PATCH = (
    "apiVersion: kfkrm.dev/v1alpha1\nkind: JsonPatch\nmetadata: {name: p}\npatches:\n"
    "- target: {kind: Deployment}\n  ops: [{op: add, path: /metadata/labels, value: {patched: 'yes'}}]\n"
)
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: kubeflow
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: docker.io/nginx:1.25
"""


def _assert_one_line_error(proc, *expected):
    assert proc.returncode == 1, (proc.returncode, proc.stderr)
    assert proc.stderr.count("\n") == 1 and proc.stderr.endswith("\n"), proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
    for text in expected:
        assert text in proc.stderr, proc.stderr


def _with_items_block(block: str, config: str) -> str:
    return resource_list(block, config)


# -- 1. a comment before the first item must not shift it -------------------------------


def _commented_block(indent: int) -> str:
    pad = " " * indent
    lines = items_block(DEPLOYMENT).splitlines(True)
    return f"{pad}# a comment before the first item\n" + "".join(pad + line if line.strip() else line for line in lines)


@pytest.mark.parametrize("indent", [0, 2, 4])
def test_comment_before_first_item_policy_still_sees_the_public_image(indent):
    proc = run_cli(["enterprise-policy"], _with_items_block(_commented_block(indent), POLICY))
    _assert_one_line_error(proc, "docker.io/nginx:1.25", "Deployment kubeflow/web")


@pytest.mark.parametrize("indent", [0, 2])
def test_comment_before_first_item_json_patch_keeps_the_deployment(indent):
    proc = run_cli(["json-patch"], _with_items_block(_commented_block(indent), PATCH))
    assert proc.returncode == 0, proc.stderr
    [out] = load_output(proc.stdout)["items"]
    want = yaml.safe_load(DEPLOYMENT)
    want["metadata"]["labels"] = {"patched": "yes"}
    assert out == want


def test_dash_comment_form_and_flow_items():
    block = (
        "- # the deployment follows\n"
        + "".join("  " + line for line in DEPLOYMENT.splitlines(True))
        + "- {apiVersion: v1, kind: ConfigMap, metadata: {name: c, namespace: kubeflow}, data: {image: x}}\n"
    )
    proc = run_cli(["enterprise-policy"], _with_items_block(block, POLICY))
    _assert_one_line_error(proc, "docker.io/nginx:1.25")


# -- 2. alias bombs ------------------------------------------------------------------------


def _alias_bomb(levels: int) -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels + 1):
        refs = ", ".join([f"*a{i - 1}"] * 9)
        lines.append(f"    a{i}: &a{i} [{refs}]")
    return "\n".join("    " + line.strip() for line in lines) + "\n"


@pytest.mark.parametrize("function,config", [("json-patch", PATCH), ("enterprise-policy", POLICY)])
def test_alias_bomb_exits_1_quickly_naming_the_item(function, config):
    item = (
        "- apiVersion: apps/v1\n  kind: Deployment\n  metadata: {name: bomb, namespace: kubeflow}\n"
        "  spec:\n    template:\n      spec:\n        containers: [{name: c, image: docker.io/x:1}]\n"
        "  bomb:\n" + _alias_bomb(9).replace("    ", "    ", 1)
    )
    text = _with_items_block(item, config)
    assert len(item) < 1024
    env = dict(os.environ, PYTHONPATH=str(REPO / "functions"))
    start = time.monotonic()
    proc, cpu, max_rss_kb = _run_measured(function, text, env, timeout=20)
    elapsed = time.monotonic() - start
    _assert_one_line_error(proc, "Deployment kubeflow/bomb", "alias")
    # CPU time, start-up included: wall time on a shared 2-core CI machine measures the neighbours
    assert cpu < 2.0, (cpu, elapsed)
    assert max_rss_kb < 300 * 1024


# Runs `kfkrm FUNCTION` and writes its own peak RSS (VmHWM, KiB) to the file named by
# KFKRM_TEST_HWM: ru_maxrss would carry the forking pytest process's peak across exec.
_MEASURED_KFKRM = """
import os, sys
from kfkrm.cli.main import main
try:
    code = main(sys.argv[1:])
finally:
    hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:")).split()[1]
    open(os.environ["KFKRM_TEST_HWM"], "w").write(hwm)
sys.exit(code)
"""


def _run_measured(function: str, text: str, env: dict, timeout: float):
    """Run `kfkrm FUNCTION` on `text`; (CompletedProcess, its CPU seconds, its own peak RSS in KiB)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        hwm = os.path.join(tmp, "hwm")
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        try:
            proc = subprocess.run(
                [sys.executable, "-c", _MEASURED_KFKRM, function],
                input=text,
                capture_output=True,
                text=True,
                env=dict(env, KFKRM_TEST_HWM=hwm),
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"the alias bomb ran for more than {timeout} s")
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        with open(hwm) as f:
            peak_kb = int(f.read())
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return proc, cpu, peak_kb


def test_alias_bomb_in_the_function_config():
    config = LABELS.replace("metadata: {name: t}", "metadata: {name: t}\nbomb:\n" + _alias_bomb(6).rstrip("\n"))
    proc = run_cli(["pod-template-labels"], _with_items_block(items_block(DEPLOYMENT), config))
    _assert_one_line_error(proc, "alias")


def test_moderate_aliases_inside_one_item_still_work():
    item = (
        "- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: c, namespace: kubeflow, labels: &l {a: b}}\n"
        "  data: {x: y}\n  extra: *l\n"
    )
    proc = run_cli(["json-patch"], _with_items_block(item, PATCH.replace("kind: Deployment", "kind: ConfigMap")))
    assert proc.returncode == 0, proc.stderr
    [out] = load_output(proc.stdout)["items"]
    assert out["extra"] == {"a": "b"} and out["metadata"]["labels"] == {"patched": "yes"}
    assert "*" not in proc.stdout.split("functionConfig")[0]  # no aliases on output


# -- 3. local config is decided by the parsed annotation only -----------------------------


def test_local_config_in_a_comment_does_not_exempt_the_item():
    text = DEPLOYMENT.replace(
        "image: docker.io/nginx:1.25", "image: docker.io/nginx:1.25  # not config.kubernetes.io/local-config: true"
    )
    proc = run_cli(["image-proxy"], _with_items_block(items_block(text), PROXY))
    assert proc.returncode == 0, proc.stderr
    [out] = load_output(proc.stdout)["items"]
    assert (
        out["spec"]["template"]["spec"]["containers"][0]["image"]
        == "registry.corp.example.com/proxy/docker.io/library/nginx:1.25"
    )


def test_a_real_local_config_annotation_still_exempts_the_item():
    text = DEPLOYMENT.replace(
        "  namespace: kubeflow\n",
        "  namespace: kubeflow\n  annotations:\n    config.kubernetes.io/local-config: 'true'\n",
    )
    block = items_block(text)
    proc = run_cli(
        ["image-proxy"], _with_items_block(block, PROXY.replace("allowedRegistries: [registry.corp.example.com]\n", ""))
    )
    assert proc.returncode == 0, proc.stderr
    assert block in proc.stdout


# -- 5. duplicate keys ------------------------------------------------------------------


def test_duplicate_key_in_a_touched_item():
    text = DEPLOYMENT.replace("  namespace: kubeflow\n", "  namespace: kubeflow\n  namespace: other\n")
    proc = run_cli(["pod-template-labels"], _with_items_block(items_block(text), LABELS))
    _assert_one_line_error(proc, "Deployment", "web", "duplicate key 'namespace'", "line 9")


def test_duplicate_key_in_the_function_config():
    config = LABELS.replace("labels: {team: ml}\n", "labels: {a: b}\nlabels: {c: d}\n")
    proc = run_cli(["pod-template-labels"], _with_items_block(items_block(DEPLOYMENT), config))
    _assert_one_line_error(proc, "functionConfig", "duplicate key 'labels'", "line")


# -- 6. one stderr line, escaped ---------------------------------------------------------


@pytest.mark.parametrize(
    "name", ['"evil\\nkfkrm: ok all good"', '"evil\\rkfkrm: ok"', '"evil\\u2028kfkrm: ok"', '"a\\e[31mred"']
)
def test_stderr_is_one_escaped_line(name):
    text = DEPLOYMENT.replace("  name: web\n", f"  name: {name}\n")
    proc = run_cli(["enterprise-policy"], _with_items_block(items_block(text), POLICY))
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert "\r" not in proc.stderr and "\u2028" not in proc.stderr and "\x1b" not in proc.stderr, proc.stderr
    assert proc.stderr.splitlines(True) == [proc.stderr]
    ok = run_cli(["pod-template-labels"], _with_items_block(items_block(text), LABELS))
    assert ok.returncode == 0 and ok.stderr.splitlines(True) == [ok.stderr], ok.stderr


# -- 7. explicit tags and depth ----------------------------------------------------------


def _tag_of_extra(text: str) -> str:
    """The tag of the first item's `extra` value as kfkrm's own YAML 1.2 loader resolves it."""
    root = yaml.compose(text, Loader=yamlio.Loader)
    items = next(v for k, v in root.value if k.value == "items")
    return next(v.tag for k, v in items.value[0].value if k.value == "extra")


@pytest.mark.parametrize(
    "value",
    [
        "!!timestamp 2021-01-29",
        "!!set {a, b}",
        "!!omap [{b: 1}, {a: 2}]",
        "!!binary aGVsbG8=",
        "!!str 0777",
        "!!float 1",
        "!!int '12'",
        "!!pairs [{a: 1}, {a: 2}]",
    ],
)
def test_explicit_tags_keep_their_meaning_on_a_changed_item(value):
    text = DEPLOYMENT.replace("  namespace: kubeflow\n", f"  namespace: kubeflow\nextra: {value}\n", 1)
    given = _with_items_block(items_block(text), LABELS)
    proc = run_cli(["pod-template-labels"], given)
    assert proc.returncode == 0, proc.stderr
    out = yaml.safe_load(proc.stdout)["items"][0]
    assert out["spec"]["template"]["metadata"]["labels"]["team"] == "ml"  # the item was changed
    # same tag under YAML 1.2, same value under PyYAML's reading of that tag
    assert _tag_of_extra(proc.stdout) == _tag_of_extra(given), proc.stdout
    want = yaml.safe_load(f"v: {value}")["v"]
    assert out["extra"] == want and type(out["extra"]) is type(want), (out["extra"], want)


@pytest.mark.parametrize(
    "value", ["!!int hello", "!!float abc", "!!bool yes", "!!null x", "!!python/name:os.system ''", "!mytag x"]
)
def test_bad_explicit_tags_are_input_errors(value):
    text = DEPLOYMENT.replace("  namespace: kubeflow\n", f"  namespace: kubeflow\nextra: {value}\n", 1)
    proc = run_cli(["pod-template-labels"], _with_items_block(items_block(text), LABELS))
    _assert_one_line_error(proc, "Deployment kubeflow/web")


@pytest.mark.parametrize("depth", [300, 5000, 100000])
def test_deep_nesting_is_an_input_error_naming_the_item(depth):
    text = DEPLOYMENT + "deep: " + "[" * depth + "]" * depth + "\n"
    proc = run_cli(["pod-template-labels"], _with_items_block(items_block(text), LABELS))
    _assert_one_line_error(proc, "Deployment kubeflow/web", "nest")


def test_deep_block_nesting_is_an_input_error():
    deep = "".join("  " * i + f"k{i}:\n" for i in range(400)) + "  " * 400 + "v: 1\n"
    text = DEPLOYMENT + "deep:\n" + "".join("  " + line for line in deep.splitlines(True))
    proc = run_cli(["pod-template-labels"], _with_items_block(items_block(text), LABELS))
    _assert_one_line_error(proc, "Deployment kubeflow/web", "nest")


# -- 8. image strings that are not references ---------------------------------------------


@pytest.mark.parametrize(
    "image", ['"docker.io/nginx extra"', '"registry.corp.example.com/nginx:1\\nfoo"', "'UPPER/Case'"]
)
def test_unparsable_image_is_a_policy_violation(image):
    text = DEPLOYMENT.replace("image: docker.io/nginx:1.25", f"image: {image}")
    proc = run_cli(["enterprise-policy"], _with_items_block(items_block(text), POLICY))
    _assert_one_line_error(proc, "Deployment kubeflow/web", "not a valid image reference")


def test_unparsable_image_is_an_image_proxy_error_under_allowed_registries():
    text = DEPLOYMENT.replace("image: docker.io/nginx:1.25", 'image: "docker.io/nginx extra"')
    proc = run_cli(["image-proxy"], _with_items_block(items_block(text), PROXY))
    _assert_one_line_error(proc, "Deployment kubeflow/web", "not a valid image reference")


def test_unparsable_images_without_allowed_registries_are_warnings_and_counted():
    """Issue 23's three strings, no allowedRegistries: exit 0, but each is a warning naming
    its field, and the summary counts them instead of saying nothing was left."""
    bad = ['"nginx "', '"NGINX:1"', '"nginx@sha256:abc"']
    containers = "".join(f"      - name: c{i}\n        image: {image}\n" for i, image in enumerate(bad))
    text = DEPLOYMENT.replace("      - name: web\n        image: docker.io/nginx:1.25\n", containers)
    assert text.count("image: ") == 3
    proxy = PROXY.replace("allowedRegistries: [registry.corp.example.com]\n", "")
    proc = run_cli(["image-proxy"], _with_items_block(items_block(text), proxy))
    assert proc.returncode == 0, proc.stderr
    assert "3 container images not valid references" in proc.stderr and "3 warnings" in proc.stderr, proc.stderr
    warnings = [r for r in yaml_load(proc.stdout)["results"] if r["severity"] == "warning"]
    assert sorted(r["field"]["path"] for r in warnings) == [
        f"spec.template.spec.containers[{i}].image" for i in range(3)
    ], warnings
    for result, image in zip(sorted(warnings, key=lambda r: r["field"]["path"]), bad):
        assert result["resourceRef"]["name"] == "web"
        assert repr(image.strip('"')) in result["message"] and "not a valid image reference" in result["message"]
    assert [i["spec"]["template"]["spec"]["containers"] for i in yaml_load(proc.stdout)["items"]] == [
        [{"name": f"c{i}", "image": image.strip('"')} for i, image in enumerate(bad)]
    ]  # left as they were


# -- 4. argocd/generate.sh finds exec functions whatever their spelling --------------------

_EXEC_SPELLINGS = {
    "quoted-key": (
        "fn.yaml",
        'apiVersion: kfkrm.dev/v1alpha1\nkind: NamespaceInjection\nmetadata:\n  name: fn\n  annotations:\n'
        '    "config.kubernetes.io/function": |\n      exec:\n        path: /usr/local/bin/kfkrm\n'
        'namespaces: [kubeflow]\n',
    ),
    "json": (
        "fn.json",
        '{"apiVersion": "kfkrm.dev/v1alpha1", "kind": "NamespaceInjection", "metadata": {"name": "fn", '
        '"annotations": {"config.kubernetes.io/function": "exec:\\n  path: /usr/local/bin/kfkrm\\n"}}, '
        '"namespaces": ["kubeflow"]}\n',
    ),
    "flow-value": (
        "fn.yaml",
        "apiVersion: kfkrm.dev/v1alpha1\nkind: NamespaceInjection\nmetadata: {name: fn, annotations: "
        "{'config.k8s.io/function': '{exec: {path: /usr/local/bin/kfkrm}}'}}\nnamespaces: [kubeflow]\n",
    ),
}


@pytest.mark.parametrize("spelling", sorted(_EXEC_SPELLINGS))
def test_generate_refuses_exec_functions_in_any_spelling(spelling, tmp_path):
    from test_argocd import _assert_loud_failure, _generate, _small_app

    name, text = _EXEC_SPELLINGS[spelling]
    checkout, app = _small_app(tmp_path, "placeholder")
    (app / "transformers" / "fn.yaml").unlink()
    (app / "transformers" / name).write_text(text)
    kustomization = app / "kustomization.yaml"
    kustomization.write_text(kustomization.read_text().replace("transformers/fn.yaml", f"transformers/{name}"))
    from helpers import stand_in_dir

    proc = _generate(checkout, app, [stand_in_dir()])
    _assert_loud_failure(proc, "exec functions are not run here", f"./transformers/{name}")


def test_generate_failure_line_survives_backslash_c(tmp_path):
    from helpers import stand_in_dir
    from test_argocd import _generate, _small_app

    checkout, app = _small_app(tmp_path, None)
    (app / "kustomization.yaml").unlink()
    proc = _generate(checkout, app, [stand_in_dir()], extra_env={"ARGOCD_APP_NAME": "kube\\cflow"})
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert "app argocd/kube\\cflow" in last and last.endswith("nothing was generated"), last


# -- 1b. a quoted scalar whose continuation line looks like an item: the whole-parse fallback

_TRICKY = (
    "- apiVersion: apps/v1\n  kind: Deployment\n  metadata: {name: web, namespace: kubeflow}\n"
    "  spec:\n    selector: {matchLabels: {app: web}}\n    template:\n      metadata: {labels: {app: web}}\n"
    "      spec: {containers: [{name: web, image: docker.io/nginx:1.25}]}\n"
    '  note: "first\n- second"\n'
)


def test_runner_falls_back_to_a_whole_parse_when_a_split_item_only_looks_broken():
    text = _with_items_block(_TRICKY, POLICY)
    assert yaml.safe_load(text)["items"][0]["note"] == "first - second"  # one item, valid YAML
    proc = run_cli(["enterprise-policy"], text)
    _assert_one_line_error(proc, "docker.io/nginx:1.25", "Deployment kubeflow/web")


def test_validate_falls_back_to_a_whole_parse_too(tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    proc = run_cli(["validate", "--config", str(policy)], _with_items_block(_TRICKY, None))
    assert proc.returncode == 1, proc.stderr
    assert "docker.io/nginx:1.25" in proc.stdout
