"""Issue 20's acceptance: on v1.3.0, v1.7.0 and v1.10, the EnterpriseProfile with
`certManager: {external: true, clusterIssuer: acme-ca}` and a `database` leaves none of
cert-manager's workloads, webhooks or CRDs and no bundled MySQL; every Certificate names
ClusterIssuer acme-ca with apiVersion cert-manager.io/v1; KFP's and Katib's settings name the
organisation's host; the profile's validate step (derived forbid terms, integrity against the
input) passes. The "none left" checks are a plain PyYAML scan of the output, independent of
domain/cert_manager.py; plus the cert-manager function's own cases (v1alpha2 to v1 field moves,
versions, what it keeps).
"""

from __future__ import annotations

import functools
import re

import pytest
import yaml

from helpers import items_block, load_output, rendered_items_text, resource_list, run_function, yaml_docs, yaml_load

RELEASES = ("v1.3.0", "v1.7.0", "v1.10")
HOST = "mysql.corp.example.com"
ISSUER = {"name": "acme-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"}
CM_GROUPS = ("cert-manager.io", "acme.cert-manager.io")


def profile() -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "kfkrm.dev/v1alpha1",
            "kind": "EnterpriseProfile",
            "metadata": {"name": "corp"},
            "certManager": {"external": True, "clusterIssuer": "acme-ca"},
            "database": {
                "host": HOST,
                "secret": {"name": "corp-mysql", "userKey": "user", "passwordKey": "password"},
                "kfp": {},
                "katib": {},
            },
            "validate": True,
        },
        sort_keys=False,
    )


@functools.lru_cache(maxsize=None)
def inputs(release: str) -> list:
    return load_output(resource_list(rendered_items_text(release)))["items"]


@functools.lru_cache(maxsize=None)
def run(release: str):
    out = run_function("enterprise-profile", resource_list(rendered_items_text(release), profile()))
    return out, (load_output(out.stdout) if out.exit_code == 0 else None)


@pytest.fixture(params=RELEASES, scope="module")
def adapted(request):
    out, parsed = run(request.param)
    assert out.exit_code == 0, out.stderr  # validate: forbid and integrity (nothing new dangles) pass
    return request.param, parsed["items"]


def images(item) -> list:
    spec = ((item.get("spec") or {}).get("template") or {}).get("spec") or {}
    return [c.get("image", "") for c in spec.get("containers") or []]


def test_no_cert_manager_workload_webhook_or_crd_is_left(adapted):
    release, items = adapted
    before = inputs(release)
    assert any("cert-manager-controller" in i for d in before for i in images(d))  # the input has one
    for item in items:
        meta = item["metadata"]
        assert not any(re.search(r"/cert-manager-(controller|webhook|cainjector)[:@]", i) for i in images(item)), meta
        assert meta.get("namespace") != "cert-manager" or item["kind"] in ("ClusterIssuer",), meta
        if item["kind"] == "CustomResourceDefinition":
            assert item["spec"]["group"] not in CM_GROUPS, meta["name"]
        if item["kind"] in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "APIService"):
            hooks = item.get("webhooks") or [{"clientConfig": {"service": item.get("spec", {}).get("service")}}]
            for hook in hooks:
                service = (hook.get("clientConfig") or {}).get("service") or {}
                assert service.get("namespace") != "cert-manager", meta["name"]
                assert "cert-manager.io" not in str(service.get("path", "")), meta["name"]
        assert not (item["kind"] == "Namespace" and meta["name"] == "cert-manager")


def test_kubeflow_certificates_stay_on_the_organisation_issuer(adapted):
    release, items = adapted

    def certificates(docs):
        return {
            (d["metadata"]["namespace"], d["metadata"]["name"]): d
            for d in docs
            if d["kind"] == "Certificate" and d["apiVersion"].startswith("cert-manager.io/")
        }

    before, after = certificates(inputs(release)), certificates(items)
    assert before and set(before) == set(after)
    for cert in after.values():
        assert cert["apiVersion"] == "cert-manager.io/v1" and cert["spec"]["issuerRef"] == ISSUER
        assert cert["spec"]["secretName"] and cert["spec"]["dnsNames"]
    issuers = [i for i in items if i["kind"] in ("Issuer", "ClusterIssuer") and "selfSigned" in (i.get("spec") or {})]
    assert issuers == []
    # Every inject-ca-from annotation still names a Certificate of the output (the organisation's cainjector reads it).
    injected = [
        i["metadata"]["annotations"]["cert-manager.io/inject-ca-from"]
        for i in items
        if "cert-manager.io/inject-ca-from" in (i["metadata"].get("annotations") or {})
    ]
    assert injected and all(tuple(ref.split("/")) in after for ref in injected)


def test_no_bundled_mysql_and_clients_name_the_organisation_host(adapted):
    release, items = adapted
    assert not [i for item in items for i in images(item) if re.search(r"(^|/)mysql(:|@|$)", i)]
    names = {(i["kind"], i["metadata"]["name"]) for i in items}
    assert not {("Deployment", "mysql"), ("Deployment", "katib-mysql"), ("Service", "mysql")} & names
    install = next(i for i in items if i["metadata"]["name"] == "pipeline-install-config")["data"]
    assert install["dbHost"] == HOST
    katib = next(i for i in items if i["kind"] == "Deployment" and i["metadata"]["name"] == "katib-db-manager")
    env = {e["name"]: e.get("value") for e in katib["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["KATIB_MYSQL_DB_HOST"] == HOST


def test_the_profile_runs_twice_to_the_same_output():
    out, _ = run("v1.3.0")
    block = out.stdout[out.stdout.index("\nitems:\n") + 8 : out.stdout.index("\nfunctionConfig:\n")]
    again = run_function("enterprise-profile", resource_list(block + "\n", profile()))
    assert again.exit_code == 0, again.stderr
    assert again.stdout[again.stdout.index("\nitems:\n") + 8 : again.stdout.index("\nfunctionConfig:\n")] == block


# -- the cert-manager function on small cases ---------------------------------------------------------

LEGACY = """
apiVersion: cert-manager.io/v1alpha2
kind: Certificate
metadata: {name: webhook-cert, namespace: kubeflow}
spec:
  secretName: webhook-certs
  dnsNames: [webhook.kubeflow.svc]
  organization: [Corp]
  keyAlgorithm: ecdsa
  keySize: 384
  keyEncoding: pkcs8
  uriSANs: ["spiffe://corp/webhook"]
  emailSANs: [ops@corp.example.com]
  issuerRef: {name: selfsigned, kind: Issuer}
---
apiVersion: cert-manager.io/v1alpha2
kind: Issuer
metadata: {name: selfsigned, namespace: kubeflow}
spec: {selfSigned: {}}
"""


def cm(docs: str, **config):
    body = {"apiVersion": "kfkrm.dev/v1alpha1", "kind": "CertManager", "metadata": {"name": "cm"}, **config}
    return run_function("cert-manager", resource_list(items_block(docs), yaml.safe_dump(body)))


def test_v1alpha2_certificate_fields_move_as_cert_manager_converts_them():
    out = cm(LEGACY, certManagerVersion="1.16")
    assert out.exit_code == 0, out.stderr
    cert = next(i for i in load_output(out.stdout)["items"] if i["kind"] == "Certificate")
    # expected, written from cert-manager v1.5's v1alpha2 conversion functions
    assert cert["apiVersion"] == "cert-manager.io/v1"
    assert cert["spec"] == {
        "secretName": "webhook-certs",
        "dnsNames": ["webhook.kubeflow.svc"],
        "issuerRef": {"name": "selfsigned", "kind": "Issuer"},
        "subject": {"organizations": ["Corp"]},
        "privateKey": {"algorithm": "ECDSA", "size": 384, "encoding": "PKCS8"},
        "uris": ["spiffe://corp/webhook"],
        "emailAddresses": ["ops@corp.example.com"],
    }
    issuer = next(i for i in load_output(out.stdout)["items"] if i["kind"] == "Issuer")
    assert issuer["apiVersion"] == "cert-manager.io/v1" and issuer["spec"] == {"selfSigned": {}}


def test_a_release_that_serves_v1alpha2_changes_nothing_and_one_without_v1_is_an_error():
    out = cm(LEGACY, certManagerVersion="1.5")
    assert out.exit_code == 0 and "apiVersion: cert-manager.io/v1alpha2" in out.stdout.split("results:")[0]
    v1 = LEGACY.replace("cert-manager.io/v1alpha2", "cert-manager.io/v1")
    old = cm(v1, certManagerVersion="0.15")
    assert old.exit_code == 1 and "cert-manager.io/v1 is not served by cert-manager 0.15" in old.stderr


def test_a_legacy_acme_issuer_is_reported_not_converted():
    acme = LEGACY + "---\napiVersion: cert-manager.io/v1alpha2\nkind: ClusterIssuer\nmetadata: {name: le}\n"
    acme += "spec: {acme: {server: 'https://acme.example/dir', http01: {}}}\n"
    out = cm(acme, certManagerVersion="1.16")
    assert out.exit_code == 1 and "pre-0.8 http01/dns01" in out.stderr and "Traceback" not in out.stderr


def test_without_cluster_issuer_kubeflow_issuers_stay():
    out = run_function(
        "cert-manager",
        resource_list(
            rendered_items_text("v1.10"),
            yaml.safe_dump(
                {
                    "apiVersion": "kfkrm.dev/v1alpha1",
                    "kind": "CertManager",
                    "metadata": {"name": "cm"},
                    "removeBundledCertManager": True,
                }
            ),
        ),
    )
    assert out.exit_code == 0, out.stderr
    items = load_output(out.stdout)["items"]
    before = {
        (i["kind"], i["metadata"]["name"]) for i in inputs("v1.10") if i["apiVersion"].startswith("cert-manager.io/")
    }
    after = {(i["kind"], i["metadata"]["name"]) for i in items if i["apiVersion"].startswith("cert-manager.io/")}
    assert before == after and len(before) == 11  # 5 Certificates, 5 Issuers, 1 ClusterIssuer
    assert not [i for i in items if i["kind"] == "Deployment" and i["metadata"]["namespace"] == "cert-manager"]


def test_nothing_to_do_is_a_config_error():
    out = cm(LEGACY)
    assert out.exit_code == 1 and "sets nothing to do" in out.stderr


# -- through a real orchestrator ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["cert-manager", "external-database"])
def test_kpt_fn_eval_gives_the_golden_objects(name, tmp_path):
    """kpt runs the function (exec) over the golden example's resources, as a package on disk: what
    is left in the files is what the golden output keeps, read back with PyYAML."""
    import subprocess

    from helpers import REPO, kfkrm_exec_script, kpt_binary

    case = REPO / "examples" / f"{name}-simple"
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "resources.yaml").write_text((case / "resources.yaml").read_text())
    config = tmp_path / "fn-config.yaml"
    config.write_text((case / "fn-config.yaml").read_text())
    proc = subprocess.run(
        [
            kpt_binary(),
            "fn",
            "eval",
            str(package),
            "--exec",
            str(kfkrm_exec_script(tmp_path / "bin")),
            "--fn-config",
            str(config),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    left = [d for f in package.glob("*.yaml") for d in yaml_docs(f.read_text())]
    golden = yaml_load((case / ".expected" / "output.yaml").read_text())["items"]

    def keys(docs):
        return sorted((d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"]) for d in docs)

    assert keys(left) == keys(golden)
    assert len(left) < len(yaml_docs((case / "resources.yaml").read_text()))  # removals
    if name == "cert-manager":
        assert {d["spec"]["issuerRef"]["name"] for d in left if d["kind"] == "Certificate"} == {"corp-ca"}
    else:
        install = next(d for d in left if d["metadata"]["name"] == "pipeline-install-config")
        assert install["data"]["dbHost"] == "mysql.corp.example.com"
