"""The first three functions, the selector model and the pod-template walker on small inputs.

The inputs and configs are golden examples (examples/pod-template-*, examples/namespace-injection-*),
whose whole output test_examples.py compares; here independent oracles check what matters in it.
"""

from helpers import GOLDEN, load_output, run_golden

# Independent of kfkrm: where each of the objects above keeps its pod-template metadata.
TEMPLATE_OF = {
    "p": ["metadata"],
    "pt": ["template", "metadata"],
    "rc": ["spec", "template", "metadata"],
    "ds": ["spec", "template", "metadata"],
    "rs": ["spec", "template", "metadata"],
    "job": ["spec", "template", "metadata"],
    "cron": ["spec", "jobTemplate", "spec", "template", "metadata"],
    "db": ["spec", "template", "metadata"],
}


def _get(obj, path):
    for key in path:
        obj = obj[key]
    return obj


def _run(case):
    out = run_golden(GOLDEN / case)
    assert out.exit_code == 0, out.stderr
    doc = load_output(out.stdout)
    return {i["metadata"]["name"]: i for i in doc["items"]}, doc.get("results", []), out


def test_labels_reach_every_workload_kind_and_nothing_else():
    items, _, _ = _run("pod-template-labels-workload-kinds")
    for name, path in TEMPLATE_OF.items():
        assert _get(items[name], path)["labels"]["team"] == "ml", name
    assert "team" not in items["not-apps"]["spec"]["template"]["metadata"]["labels"]  # a CRD's Deployment kind
    assert items["svc"]["spec"]["selector"] == {"app": "db"}
    assert items["ds"]["spec"]["selector"] == {"matchLabels": {"app": "ds"}}
    assert items["rc"]["spec"]["selector"] == {"app": "rc"}


def test_selector_include_exclude_globs_and_labels():
    items, _, _ = _run("pod-template-labels-selectors")

    def has_team(name):
        try:
            return "team" in (_get(items[name], TEMPLATE_OF[name]).get("labels") or {})
        except KeyError:  # no pod-template metadata at all: not labelled
            return False

    labelled = {n for n in TEMPLATE_OF if has_team(n)}
    assert labelled == {"rs", "p"}


def test_sidecar_annotation_brings_conflicting_label_in_line():
    items, results, _ = _run("pod-template-annotations-sidecar-label")  # forceInjection: true
    meta = items["db"]["spec"]["template"]["metadata"]
    assert meta["annotations"]["sidecar.istio.io/inject"] == "true"
    assert meta["labels"]["sidecar.istio.io/inject"] == "true"
    warnings = [r for r in results if r["severity"] == "warning"]
    assert len(warnings) == 1 and "label sidecar.istio.io/inject was 'false'" in warnings[0]["message"]


def test_sidecar_label_brings_conflicting_annotation_in_line():
    items, results, _ = _run("pod-template-labels-sidecar-annotation")  # forceInjection: true
    meta = items["db"]["spec"]["template"]["metadata"]
    assert meta["labels"]["sidecar.istio.io/inject"] == "true"
    assert meta["annotations"]["sidecar.istio.io/inject"] == "true"
    assert [r for r in results if r["severity"] == "warning"]


def test_configmap_config_as_kpt_builds_it():
    items, _, _ = _run("pod-template-labels-configmap")
    assert items["job"]["spec"]["template"]["metadata"]["labels"] == {"team": "ml", "tier": "gold"}


def test_namespace_injection_named():
    items, _, _ = _run("namespace-injection-named")
    assert items["kubeflow"]["metadata"]["labels"] == {"control-plane": "kubeflow", "istio-injection": "enabled"}
    assert "labels" not in items["knative-serving"]["metadata"]


def test_namespace_injection_star_respects_explicit_opt_out():
    items, results, _ = _run("namespace-injection-star")
    assert items["kubeflow"]["metadata"]["labels"]["istio-injection"] == "enabled"
    assert items["knative-serving"]["metadata"]["labels"]["istio-injection"] == "enabled"
    assert items["istio-system"]["metadata"]["labels"]["istio-injection"] == "disabled"
    assert any(r["resourceRef"]["name"] == "istio-system" for r in results if "resourceRef" in r)


def test_namespace_injection_revision_replaces_injection_label():
    items, _, _ = _run("namespace-injection-revision")
    assert items["kubeflow"]["metadata"]["labels"] == {"control-plane": "kubeflow", "istio.io/rev": "1-6-8"}


def test_namespace_injection_configmap_list_is_comma_separated():
    items, _, _ = _run("namespace-injection-configmap")
    assert items["knative-serving"]["metadata"]["labels"]["istio-injection"] == "enabled"
    assert items["kubeflow"]["metadata"]["labels"]["istio-injection"] == "enabled"


def test_stderr_summary_says_what_changed():
    _, _, out = _run("pod-template-labels-workload-kinds")
    assert out.stderr.count("\n") == 1
    assert "set labels on 8 pod templates" in out.stderr
