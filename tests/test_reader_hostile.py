"""The reader and the policy against hostile input (issue 25, item 4 and the reader parts of
item 6; issue 23's two silent cases).

Every case runs the real `kfkrm` command in a subprocess with the input on stdin. Where the
question is what an object *is* (line breaks, merge keys), the real `kubectl kustomize`
states the verdict first, so each test checks kfkrm against kustomize, not against itself.
"""

import subprocess
import time

import pytest
import yaml

from helpers import rendered_items_text, rendered_text, resource_list, run_cli
from kfkrm.domain.generated_names import ALPHABET, could_match
from kfkrm.runtime.resourcelist import MAX_ITEM_BYTES, MAX_WHOLE_BYTES, ResourceList, items_from_stream

FORBID = (
    "apiVersion: kfkrm.dev/v1alpha1\nkind: EnterprisePolicy\nmetadata: {name: p}\n"
    "forbid:\n- {kind: Deployment, name: workflow-controller}\n- {kind: Namespace, name: 'istio-*'}\n"
)
# `kfkrm validate` refuses a stream without a workload (not a render); the small inputs carry one.
_WORKLOAD_DOC = (
    "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: app, namespace: kubeflow}\n"
    "spec:\n  template:\n    spec:\n      containers: [{name: app, image: corp.example.com/app:1}]\n"
)
_WORKLOAD = "".join(("- " if i == 0 else "  ") + line + "\n" for i, line in enumerate(_WORKLOAD_DOC.splitlines()))
REGISTRY = "apiVersion: kfkrm.dev/v1alpha1\nkind: EnterprisePolicy\nmetadata: {name: p}\nallowedRegistries: [corp.example.com]\n"
PROXY = (
    "apiVersion: kfkrm.dev/v1alpha1\nkind: ImageProxy\nmetadata: {name: p}\n"
    "rules: [{from: '*', to: corp.example.com/proxy}]\n"
)

# A ServiceAccount whose last field is followed, after bare line breaks, by a Deployment.
SERVICE_ACCOUNT = [
    "- apiVersion: v1",
    "  kind: ServiceAccount",
    "  metadata:",
    "    name: a",
    "  automountServiceAccountToken: false",
]
DEPLOYMENT = [
    "- apiVersion: apps/v1",
    "  kind: Deployment",
    "  metadata:",
    "    name: workflow-controller",
    "  spec:",
    "    template:",
    "      spec:",
    "        containers:",
    "        - name: c",
    "          image: corp.example.com/x:1",
]


def _joined(brk: str) -> str:
    return "\n".join(SERVICE_ACCOUNT) + brk + brk.join(DEPLOYMENT) + "\n"


def _kustomize(tmp_path, resource: str) -> list:
    """What `kubectl kustomize` makes of a resource file: its documents, parsed."""
    (tmp_path / "kustomization.yaml").write_text("resources:\n- r.yaml\n")
    (tmp_path / "r.yaml").write_bytes(resource.encode())
    proc = subprocess.run(["kubectl", "kustomize", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def _validate(tmp_path, text: str, policy: str = FORBID) -> subprocess.CompletedProcess:
    (tmp_path / "policy.yaml").write_text(policy)
    return run_cli(["validate", "-", "--config", str(tmp_path / "policy.yaml")], text)


def _one_line_error(proc, code: int, *expected: str) -> None:
    assert proc.returncode == code, (proc.returncode, proc.stdout[-500:], proc.stderr)
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    for text in expected:
        assert text in proc.stderr, proc.stderr


# -- line breaks: CR, NEL, LS break lines for kustomize, so they do for kfkrm ----------------


@pytest.mark.parametrize("brk", ["\r", "\x85", "\u2028"], ids=["CR", "NEL", "LS"])
def test_a_deployment_joined_by_other_line_breaks_is_seen_as_kustomize_sees_it(tmp_path, brk):
    kinds = [d["kind"] for d in _kustomize(tmp_path, "apiVersion: v1\nkind: List\nitems:\n" + _joined(brk))]
    assert kinds == ["ServiceAccount", "Deployment"]  # kustomize's verdict: two objects

    proc = _validate(tmp_path, resource_list(_joined(brk)))
    assert proc.returncode == 1, proc.stderr
    assert "Deployment workflow-controller" in proc.stdout and "1 violations in 2 resources" in proc.stdout

    proc = _validate(tmp_path, "apiVersion: v1\nkind: List\nitems:\n" + _joined(brk))  # the List form
    assert proc.returncode == 1 and "Deployment workflow-controller" in proc.stdout, proc.stdout + proc.stderr

    proc = run_cli(["enterprise-policy"], resource_list(_joined(brk), FORBID))
    _one_line_error(proc, 1, "Deployment workflow-controller", "forbid")


def test_a_document_after_a_cr_separator_is_validated(tmp_path):
    """kustomize reads a stream whose `---` has bare CRs as one document and drops the rest
    silently; a validator sees both documents (it must not pass what another reader applies)."""
    stream = "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: a\r---\r" + "\r".join(
        line[2:] for line in DEPLOYMENT
    )
    assert [d["kind"] for d in _kustomize(tmp_path, stream)] == ["ServiceAccount"]
    assert [d["kind"] for d in yaml.safe_load_all(stream)] == ["ServiceAccount", "Deployment"]
    proc = _validate(tmp_path, stream)
    assert proc.returncode == 1 and "Deployment workflow-controller" in proc.stdout, proc.stdout + proc.stderr


def test_crlf_input_keeps_the_fast_split_and_every_byte():
    text = resource_list(_joined("\n")).replace("\n", "\r\n")
    rl = ResourceList.parse(text)
    assert [i.kind for i in rl.items] == ["ServiceAccount", "Deployment"]
    assert all(i.raw is not None and not i.loaded for i in rl.items)  # split by lines, nothing parsed
    assert "".join(i.raw for i in rl.items) in text


# -- quoted scalars whose lines look like items, keys or documents ---------------------------

_POSING = (
    "- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: a\n  data:\n    x: {open}foo\n"
    "- apiVersion: v1\n  kind: Namespace\n  metadata:\n    name: istio-posing\n  # {close}\n"
)
_INJECT = "apiVersion: kfkrm.dev/v1alpha1\nkind: NamespaceInjection\nmetadata: {name: n}\nnamespaces: [istio-posing]\n"


@pytest.mark.parametrize("quote,opener", [('"', '"'), ("'", "'"), ("'", "'it''s "), ('"', '"say \\"hi\\" ')])
def test_a_quoted_string_that_looks_like_an_item_is_not_labelled(quote, opener):
    items = _POSING.format(open=opener, close=quote)
    text = resource_list(items, _INJECT)
    # an independent reader: one ConfigMap, whose string holds the lines that pose as a Namespace
    (only,) = yaml.safe_load(text)["items"]
    assert only["kind"] == "ConfigMap" and "kind: Namespace" in only["data"]["x"]
    proc = run_cli(["namespace-injection"], text)
    _one_line_error(proc, 1, "Namespace 'istio-posing' is not in the input")
    assert "istio-injection" not in proc.stdout


@pytest.mark.parametrize("quote", ['"', "'"])
def test_a_quoted_string_that_looks_like_an_item_is_no_policy_violation(tmp_path, quote):
    proc = _validate(tmp_path, resource_list(_POSING.format(open=quote, close=quote) + _WORKLOAD))
    assert proc.returncode == 0 and "no violations in 2 resources" in proc.stdout, proc.stdout + proc.stderr


def test_a_quoted_string_that_looks_like_a_top_level_key_or_a_document(tmp_path):
    text = resource_list(
        '- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: a}\n  data: {x: "a\nitems: b"}\n' + _WORKLOAD
    )
    assert [i["kind"] for i in yaml.safe_load(text)["items"]] == ["ConfigMap", "Deployment"]
    proc = _validate(tmp_path, text)
    assert proc.returncode == 0 and "in 2 resources" in proc.stdout, proc.stdout + proc.stderr
    # `---` inside a quoted scalar is an error for YAML (and kustomize); never two documents
    stream = 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {x: "a\n---\nkind: Namespace\n"}\n'
    with pytest.raises(yaml.YAMLError):
        list(yaml.safe_load_all(stream))
    proc = _validate(tmp_path, stream)
    _one_line_error(proc, 2, "not valid YAML")


@pytest.mark.parametrize("version", ["v1.3.0", "v1.7.0", "v1.10"])
def test_kubeflow_renders_keep_the_fast_split(version):
    """Kubeflow's multi-line quoted descriptions never cross an item boundary: the check
    parses at most a few small items, and every item keeps its text."""
    text = resource_list(rendered_items_text(version))
    rl = ResourceList.parse(text)
    assert all(i.raw is not None for i in rl.items)
    parsed = [i for i in rl.items if i.loaded]
    assert len(parsed) <= 3 and all(len(i.raw) < 10_000 for i in parsed), [i.ref() for i in parsed]
    assert len(rl.items) == len(items_from_stream(rendered_text(version)))


# -- merge keys and %YAML 1.1 ----------------------------------------------------------------

_MERGED = (
    "- apiVersion: apps/v1\n  kind: Deployment\n  metadata:\n    name: merged\n    namespace: kubeflow\n"
    "  spec:\n    <<: {template: {spec: {containers: [{name: c, image: evil.example.com/x:1}]}}}\n"
)


def test_a_pod_template_behind_a_merge_key_is_an_input_error(tmp_path):
    (deployment,) = _kustomize(tmp_path, "apiVersion: v1\nkind: List\nitems:\n" + _MERGED)
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "evil.example.com/x:1"  # merged

    proc = _validate(tmp_path, resource_list(_MERGED), REGISTRY)
    _one_line_error(proc, 2, "Deployment kubeflow/merged", "merge key", "line 10")
    proc = run_cli(["enterprise-policy"], resource_list(_MERGED, REGISTRY))
    _one_line_error(proc, 1, "Deployment kubeflow/merged", "merge key", "line 10")
    stream = "".join(line[2:] + "\n" for line in _MERGED.splitlines())  # what kustomize build prints
    proc = _validate(tmp_path, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n" + stream, REGISTRY)
    _one_line_error(proc, 2, "Deployment kubeflow/merged", "merge key", "line 11")


def test_a_merge_key_that_would_supply_the_name_is_an_input_error(tmp_path):
    items = "- apiVersion: v1\n  kind: Namespace\n  x: &m {metadata: {name: istio-system}}\n  <<: *m\n"
    proc = _validate(tmp_path, resource_list(items))
    _one_line_error(proc, 2, "merge key")


def test_a_quoted_merge_key_is_an_ordinary_key(tmp_path):
    items = "- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: a}\n  data:\n    '<<': x\n"
    proc = run_cli(["namespace-injection"], resource_list(items, _INJECT.replace("istio-posing", "kubeflow")))
    assert "merge key" not in proc.stderr
    proc = _validate(tmp_path, resource_list(items + _WORKLOAD))
    assert proc.returncode == 0, proc.stderr


def test_a_yaml_1_1_directive_is_refused_with_its_line(tmp_path):
    doc = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  x: on\n"
    (tmp_path / "kustomization.yaml").write_text("resources:\n- r.yaml\n")
    (tmp_path / "r.yaml").write_text("%YAML 1.1\n---\n" + doc)
    verdict = subprocess.run(["kubectl", "kustomize", str(tmp_path)], capture_output=True, text=True)
    assert verdict.returncode != 0 and "YAML" in verdict.stderr  # kustomize refuses it too
    proc = _validate(tmp_path, "# a stream\n%YAML 1.1\n---\n" + doc)
    _one_line_error(proc, 2, "%YAML 1.1", "line 2")
    proc = run_cli(["namespace-injection"], "%YAML 1.1\n---\n" + resource_list("", _INJECT))
    _one_line_error(proc, 1, "%YAML 1.1")
    proc = _validate(tmp_path, "%YAML 1.2\n---\n" + doc + "---\n" + _WORKLOAD_DOC)  # what kfkrm reads anyway
    assert proc.returncode == 0, proc.stderr


# -- the size bound --------------------------------------------------------------------------


def test_the_bound_is_well_above_every_kubeflow_object():
    largest = max(len(i.raw) for v in ("v1.3.0", "v1.7.0", "v1.10") for i in items_from_stream(rendered_text(v)))
    assert 500_000 < largest < MAX_ITEM_BYTES / 4


@pytest.mark.parametrize("command", [["validate", "-", "--config"], ["pod-template-labels"]])
def test_an_item_over_the_bound_is_refused_in_linear_time(tmp_path, command):
    keys = MAX_ITEM_BYTES // 10 + 1000
    item = "- apiVersion: apps/v1\n  kind: Deployment\n  metadata:\n    name: big\n  data:\n"
    item += "".join(f"    k{i:06d}: 1\n" for i in range(keys))  # about 1.1 times the bound
    labels = "apiVersion: kfkrm.dev/v1alpha1\nkind: PodTemplateLabels\nmetadata: {name: t}\nlabels: {a: b}\n"
    (tmp_path / "policy.yaml").write_text(FORBID)
    args = command + [str(tmp_path / "policy.yaml")] if command[0] == "validate" else command
    started = time.monotonic()
    proc = run_cli(args, resource_list(item, labels))
    elapsed = time.monotonic() - started
    _one_line_error(proc, 2 if command[0] == "validate" else 1, "Deployment big", "MiB", "line 4")
    assert elapsed < 5, elapsed  # a parse of the item alone takes far longer on this machine


def test_input_parsed_whole_is_bounded_too(tmp_path):
    """Flow style cannot be taken apart item by item: past MAX_WHOLE_BYTES it is refused
    before it is parsed (one flow item of 1.5M keys would take minutes)."""
    flow = "{" + ", ".join(f"k{i}: 1" for i in range(MAX_WHOLE_BYTES // 9)) + "}"
    text = "apiVersion: v1\nkind: List\nitems: [{apiVersion: v1, kind: ConfigMap, data: " + flow + "}]\n"
    assert len(text) > MAX_WHOLE_BYTES
    started = time.monotonic()
    proc = _validate(tmp_path, text)
    _one_line_error(proc, 2, "MiB", "parsed whole")
    assert time.monotonic() - started < 10


# -- generateName and forbid -----------------------------------------------------------------


def test_a_forbidden_object_spelled_with_generate_name_is_reported(tmp_path):
    stream = (
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  generateName: istio-\n---\n"
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  generateName: workflow-controller\n---\n"
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: kubeflow\n  generateName: istio-\n"
    )
    proc = _validate(tmp_path, stream)
    assert proc.returncode == 1, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith("forbid ")]
    # istio-XXXXX matches istio-*; workflow-controllerXXXXX never equals workflow-controller;
    # a name wins over generateName
    assert len(lines) == 1 and "metadata.generateName" in lines[0] and "'istio-'" in lines[0], proc.stdout


@pytest.mark.parametrize(
    "glob,prefix,expected",
    [
        ("istio-*", "istio-", True),
        ("istio-*", "isti", False),
        ("workflow-controller", "workflow-controller", False),
        ("workflow-controller-?????", "workflow-controller-", True),
        ("workflow-controller-?????", "workflow-controller", False),
        ("argo-[a-c]*", "argo-", True),  # b and c are in the alphabet
        ("argo-a*", "argo-", False),  # a never is
        ("x-1????", "x-", False),  # neither is 1
        ("*-[!b-z]????", "ns-", True),  # digits are
        ("a" * 58 + "*", "a" * 70, True),  # generateName is cut to 58 characters
        ("a" * 59 + "*", "a" * 70, False),
    ],
)
def test_could_match(glob, prefix, expected):
    assert could_match(glob, prefix) is expected


def test_could_match_against_sampled_generated_names():
    """Oracle: fnmatch over sampled generated names; every match found must be predicted."""
    import random
    from fnmatch import fnmatchcase

    rng = random.Random(25)
    globs = ["a*", "*b", "?-*", "ab[c-f]*", "*[!x]", "a?b*", "[ab]*-*", "*2*", "a-?????", "a-????"]
    for glob in globs:
        for prefix in ("a", "a-", "ab", "b-", "x"):
            for _ in range(300):
                name = prefix + "".join(rng.choice(ALPHABET) for _ in range(5))
                if fnmatchcase(name, glob):
                    assert could_match(glob, prefix), (glob, prefix, name)


# -- digests ---------------------------------------------------------------------------------


def _deployment_with(image: str) -> str:
    return (
        "- apiVersion: apps/v1\n  kind: Deployment\n  metadata: {name: d, namespace: kubeflow}\n"
        f"  spec:\n    template:\n      spec:\n        containers:\n        - name: c\n          image: {image!r}\n"
    )


@pytest.mark.parametrize(
    "digest,valid",
    [
        ("sha256:" + "a" * 64, True),
        ("sha384:" + "b" * 96, True),
        ("sha512:" + "c" * 128, True),
        ("sha256:" + "a" * 32, False),
        ("sha256:" + "a" * 65, False),
        ("sha512:" + "c" * 64, False),
        ("sha256:" + "A" * 64, False),  # go-digest: lower-case hex only
        ("md5:" + "a" * 32, False),  # no algorithm the runtime verifies
    ],
)
def test_a_digest_must_have_its_algorithms_length(tmp_path, digest, valid):
    proc = _validate(tmp_path, resource_list(_deployment_with(f"corp.example.com/x@{digest}")), REGISTRY)
    if valid:
        assert proc.returncode == 0, proc.stdout
    else:
        assert proc.returncode == 1 and "not a valid image reference" in proc.stdout, proc.stdout


# -- issue 23: ImageProxy without allowedRegistries names what it cannot parse --------------


def test_image_proxy_warns_about_every_image_it_cannot_parse():
    images = ["nginx ", "NGINX:1", "nginx@sha256:abc"]
    items = "".join(_deployment_with(i).replace("name: d,", f"name: d{n},") for n, i in enumerate(images))
    items += _deployment_with("docker.io/nginx:1").replace("name: d,", "name: ok,")
    proc = run_cli(["image-proxy"], resource_list(items, PROXY))
    assert proc.returncode == 0, proc.stderr
    assert "3 container images not valid references" in proc.stderr and "3 warnings" in proc.stderr, proc.stderr
    results = yaml.safe_load(proc.stdout)["results"]
    warnings = [r for r in results if r["severity"] == "warning"]
    assert [(w["resourceRef"]["name"], w["field"]["path"]) for w in warnings] == [
        (f"d{n}", "spec.template.spec.containers[0].image") for n in range(3)
    ]
    assert all(repr(i) in w["message"] for i, w in zip(images, warnings))
    out = {i["metadata"]["name"]: i for i in yaml.safe_load(proc.stdout)["items"]}
    assert [out[f"d{n}"]["spec"]["template"]["spec"]["containers"][0]["image"] for n in range(3)] == images
    assert (
        out["ok"]["spec"]["template"]["spec"]["containers"][0]["image"]
        == "corp.example.com/proxy/docker.io/library/nginx:1"
    )


def test_quoted_scalars_across_lines_against_a_whole_parse():
    """Oracle: PyYAML's parse of the whole text. Random ResourceLists whose quoted scalars
    (double, single, with escapes) hold lines that pose as items, top-level keys and
    comments, after decoys (quotes in block scalars, comments and plain scalars): wherever
    the whole parse succeeds, the reader sees the same items, kinds and names."""
    import random

    rng = random.Random(2025)
    posers = [
        "- apiVersion: v1",
        "  kind: Namespace",
        "  metadata:",
        "    name: posing",
        "functionConfig:",
        "items:",
        "  # '",
        '  # "',
        "  ''",
        '  \\"',
        "- x",
        "  y: 'z'",
    ]
    decoys = [
        '  s: |\n    echo "hi\n',
        "  p: it's\n",
        "  # it's a \"comment\n",
        "  t: '''a'\n",
        '  u: "a\\"b"\n',
        "",
    ]
    checked = 0
    for _ in range(400):
        quote = rng.choice(['"', "'"])
        body = "\n".join(rng.choice(posers) for _ in range(rng.randint(1, 6)))
        close = rng.choice([quote, "  " + quote, "  z" + quote, "- " + quote])
        first = "- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: a\n" + rng.choice(decoys)
        items = (
            first
            + f"  data:\n    x: {quote}start\n{body}\n{close}\n"
            + rng.choice(["", "- kind: Secret\n  metadata: {name: b}\n"])
        )
        text = resource_list(items)
        try:
            want = yaml.load(text, Loader=yamlio_loader())["items"]
        except yaml.YAMLError:
            continue
        if not isinstance(want, list) or not all(isinstance(o, dict) for o in want):
            continue
        rl = ResourceList.parse(text)
        got = [(i.kind, i.name) for i in rl.items]
        assert got == [(o.get("kind", ""), (o.get("metadata") or {}).get("name", "")) for o in want], text
        assert [i.obj for i in rl.items] == want, text
        checked += 1
    assert checked > 100  # enough of the random texts are valid YAML to mean something


def yamlio_loader():
    from kfkrm.runtime import yamlio

    return yamlio.Loader
