"""IngressGateway on the real Kubeflow manifests and on small hand-made cases.

Expected values are hand-written from reading ../shared/kubeflow/rendered: the ingress
Service istio-system/istio-ingressgateway is a NodePort in v1.3.0 and a ClusterIP in v1.10,
with ports status-port, http2 (80) and https (443); kubeflow/kubeflow-gateway has one HTTP
server on port 80 for host *.
"""

from __future__ import annotations

from functools import lru_cache

import pytest

from helpers import items_block, load_output, rendered_items_text, resource_list, run_function
from kfkrm.runtime.resourcelist import ResourceList

NAME = "ingress-gateway"
ANNOTATIONS = {
    "service.beta.kubernetes.io/aws-load-balancer-ssl-cert": "arn:aws:acm:us-west-2:123456789012:certificate/abc",
    "service.beta.kubernetes.io/aws-load-balancer-backend-protocol": "http",
    "service.beta.kubernetes.io/aws-load-balancer-ssl-ports": "https",
}
LB_CONFIG = """
apiVersion: kfkrm.dev/v1alpha1
kind: IngressGateway
metadata:
  name: public-ingress
service: istio-system/istio-ingressgateway
type: LoadBalancer
annotations:
  service.beta.kubernetes.io/aws-load-balancer-ssl-cert: arn:aws:acm:us-west-2:123456789012:certificate/abc
  service.beta.kubernetes.io/aws-load-balancer-backend-protocol: http
  service.beta.kubernetes.io/aws-load-balancer-ssl-ports: https
loadBalancerSourceRanges: [10.0.0.0/8]
"""
TLS_CONFIG = """
apiVersion: kfkrm.dev/v1alpha1
kind: IngressGateway
metadata:
  name: public-ingress
type: LoadBalancer
loadBalancerSourceRanges: [10.0.0.0/8, 192.168.0.0/16]
tls:
  gateway: kubeflow/kubeflow-gateway
  credentialName: kubeflow-tls
  hosts: [kubeflow.corp.example.com]
  httpsRedirect: true
"""
ORIGINAL_TYPE = {"v1.3.0": "NodePort", "v1.10": "ClusterIP"}
HTTPS_SERVER = {
    "port": {"number": 443, "name": "https", "protocol": "HTTPS"},
    "hosts": ["kubeflow.corp.example.com"],
    "tls": {"mode": "SIMPLE", "credentialName": "kubeflow-tls"},
}


def ns_name(obj):
    md = obj.get("metadata") or {}
    return md.get("namespace", ""), md.get("name")


@lru_cache(maxsize=None)
def run_on(version: str, config: str):
    text = resource_list(rendered_items_text(version), config)
    outcome = run_function(NAME, text)
    assert outcome.exit_code == 0, outcome.stderr
    return text, outcome


def output(outcome):
    return {(o["kind"],) + ns_name(o): o for o in load_output(outcome.stdout)["items"]}


@pytest.mark.parametrize("version", ["v1.3.0", "v1.10"])
def test_service_becomes_a_load_balancer(version):
    text, outcome = run_on(version, LB_CONFIG)
    before = {(o["kind"],) + ns_name(o): o for o in load_output(text)["items"]}[
        ("Service", "istio-system", "istio-ingressgateway")
    ]
    after = output(outcome)[("Service", "istio-system", "istio-ingressgateway")]
    assert before["spec"]["type"] == ORIGINAL_TYPE[version]
    assert after["spec"]["type"] == "LoadBalancer"
    assert after["metadata"]["annotations"] == ANNOTATIONS
    assert after["spec"]["loadBalancerSourceRanges"] == ["10.0.0.0/8"]
    assert after["spec"]["ports"] == before["spec"]["ports"] and after["spec"]["selector"] == before["spec"]["selector"]
    assert after["metadata"]["labels"] == before["metadata"]["labels"]
    assert not [r for r in load_output(outcome.stdout)["results"] if r["severity"] != "info"]


@pytest.mark.parametrize("version", ["v1.3.0", "v1.10"])
def test_tls_on_the_kubeflow_gateway(version):
    _, outcome = run_on(version, TLS_CONFIG)
    gateway = output(outcome)[("Gateway", "kubeflow", "kubeflow-gateway")]
    assert gateway["spec"]["servers"] == [
        {"hosts": ["*"], "port": {"name": "http", "number": 80, "protocol": "HTTP"}, "tls": {"httpsRedirect": True}},
        HTTPS_SERVER,
    ]
    assert gateway["spec"]["selector"] == {"istio": "ingressgateway"}
    assert not [r for r in load_output(outcome.stdout)["results"] if r["severity"] != "info"]


@pytest.mark.parametrize("version", ["v1.3.0", "v1.10"])
@pytest.mark.parametrize("config", [LB_CONFIG, TLS_CONFIG], ids=["lb", "tls"])
def test_untouched_items_byte_identical_and_second_run_changes_nothing(version, config):
    text, outcome = run_on(version, config)
    inputs = ResourceList.parse(text).items
    outputs = ResourceList.parse(outcome.stdout).items
    changed = {("Service", "istio-system", "istio-ingressgateway")}
    if config is TLS_CONFIG:
        changed.add(("Gateway", "kubeflow", "kubeflow-gateway"))
    assert len(outputs) == len(inputs)
    for before, after in zip(inputs, outputs):
        if (before.kind, before.namespace, before.name) in changed:
            assert after.raw != before.raw
        else:
            assert after.raw == before.raw, before.ref()
    second = run_function(NAME, outcome.stdout)
    assert second.exit_code == 0, second.stderr
    assert "already as configured" in second.stderr
    assert [i.raw for i in ResourceList.parse(second.stdout).items] == [i.raw for i in outputs]


def test_load_balancer_tls_and_gateway_tls_together_is_a_warning():
    config = LB_CONFIG + "tls:\n" + TLS_CONFIG.split("tls:\n", 1)[1]
    _, outcome = run_on("v1.10", config)
    warnings = [r for r in load_output(outcome.stdout)["results"] if r["severity"] == "warning"]
    assert len(warnings) == 1 and "terminates TLS" in warnings[0]["message"]
    https_backend = config.replace("backend-protocol: http", "backend-protocol: https")
    _, outcome = run_on("v1.10", https_backend)
    assert not [r for r in load_output(outcome.stdout)["results"] if r["severity"] == "warning"]


# -- small cases ------------------------------------------------------------------------
SERVICE = """apiVersion: v1
kind: Service
metadata:
  name: istio-ingressgateway
  namespace: istio-system
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local
  loadBalancerSourceRanges: [10.0.0.0/8]
  ports:
  - {name: http2, port: 80, targetPort: 8080, nodePort: 31380}
  - {name: https, port: 443, targetPort: 8443, nodePort: 31390}
  selector: {app: istio-ingressgateway, istio: ingressgateway}
"""
GATEWAY = """apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata:
  name: kubeflow-gateway
  namespace: kubeflow
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ['*']
  - port: {number: 443, name: https-old, protocol: HTTPS}
    hosts: ['*']
    tls: {mode: SIMPLE, credentialName: old-cert}
"""
BASE = "apiVersion: kfkrm.dev/v1alpha1\nkind: IngressGateway\nmetadata:\n  name: t\n"


def run_small(config, *docs):
    return run_function(NAME, resource_list(items_block(*(docs or (SERVICE, GATEWAY))), BASE + config))


def test_cluster_ip_drops_what_kubernetes_refuses():
    outcome = run_small("type: ClusterIP\n")
    assert outcome.exit_code == 0, outcome.stderr
    spec = output(outcome)[("Service", "istio-system", "istio-ingressgateway")]["spec"]
    assert spec["type"] == "ClusterIP"
    assert [p.get("nodePort") for p in spec["ports"]] == [None, None]
    assert "externalTrafficPolicy" not in spec and "loadBalancerSourceRanges" not in spec


def test_existing_https_server_is_updated_in_place():
    outcome = run_small(
        "tls:\n  gateway: kubeflow/kubeflow-gateway\n  credentialName: new-cert\n  hosts: [a.example.com]\n"
    )
    assert outcome.exit_code == 0, outcome.stderr
    servers = output(outcome)[("Gateway", "kubeflow", "kubeflow-gateway")]["spec"]["servers"]
    assert len(servers) == 2
    assert servers[0] == {
        "port": {"number": 80, "name": "http", "protocol": "HTTP"},
        "hosts": ["*"],
    }  # no redirect asked
    assert servers[1] == {
        "port": {"number": 443, "name": "https-old", "protocol": "HTTPS"},
        "hosts": ["a.example.com"],
        "tls": {"mode": "SIMPLE", "credentialName": "new-cert"},
    }


def test_service_without_the_https_port_and_selector_mismatch_are_warnings():
    service = SERVICE.replace("  - {name: https, port: 443, targetPort: 8443, nodePort: 31390}\n", "").replace(
        "istio: ingressgateway}", "istio: other}"
    )
    outcome = run_small(
        "tls:\n  gateway: kubeflow/kubeflow-gateway\n  credentialName: c\n  hosts: [a.example.com]\n", service, GATEWAY
    )
    assert outcome.exit_code == 0, outcome.stderr
    warnings = [r["message"] for r in load_output(outcome.stdout)["results"] if r["severity"] == "warning"]
    assert len(warnings) == 1 and "has no port 443" in warnings[0]
    service = SERVICE.replace("istio: ingressgateway}", "istio: other}")
    outcome = run_small(
        "tls:\n  gateway: kubeflow/kubeflow-gateway\n  credentialName: c\n  hosts: [a.example.com]\n", service, GATEWAY
    )
    warnings = [r["message"] for r in load_output(outcome.stdout)["results"] if r["severity"] == "warning"]
    assert len(warnings) == 1 and "disagree on istio" in warnings[0]


TLS_OK = "tls:\n  gateway: kubeflow/kubeflow-gateway\n  credentialName: c\n  hosts: [a.example.com]\n"
BAD_CONFIGS = {
    "service not in input": ("service: istio-system/other\n", "Service istio-system/other is not in the input"),
    "gateway not in input": (
        TLS_OK.replace("kubeflow/kubeflow-gateway", "istio-system/corp-gateway"),
        "Gateway istio-system/corp-gateway is not in the input",
    ),
    "service without namespace": ("service: istio-ingressgateway\n", "expected namespace/name"),
    "ranges without load balancer": (
        "type: NodePort\nloadBalancerSourceRanges: [10.0.0.0/8]\n",
        "needs type LoadBalancer",
    ),
    "bad cidr": ("loadBalancerSourceRanges: [10.0.0.0]\n", "is not a CIDR range"),
    "bad type": ("type: ExternalName\n", "type:"),
    "bad annotation key": ("annotations: {'bad key': x}\n", "annotations: key 'bad key'"),
    "tls without credential": (
        TLS_OK.replace("  credentialName: c\n", ""),
        "tls.credentialName: required field is missing",
    ),
    "tls without hosts": (TLS_OK.replace("[a.example.com]", "[]"), "tls.hosts: must list at least one host"),
    "tls wildcard host": (TLS_OK.replace("[a.example.com]", "['*']"), "wildcard host"),
    "tls bad port": (TLS_OK + "  port: 70000\n", "tls.port"),
    "tls bad gateway": (TLS_OK.replace("kubeflow/kubeflow-gateway", "kubeflow-gateway"), "expected namespace/name"),
    "misspelt field": ("annotation: {a: b}\n", "annotation: unknown field"),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_bad_config(case):
    config, message = BAD_CONFIGS[case]
    text = resource_list(items_block(SERVICE, GATEWAY), BASE + config)
    outcome = run_function(NAME, text)
    assert outcome.exit_code == 1
    lines = outcome.stderr.splitlines()
    assert len(lines) == 1 and "error" in lines[0] and message in lines[0], outcome.stderr
    assert [i.raw for i in ResourceList.parse(outcome.stdout).items] == [i.raw for i in ResourceList.parse(text).items]
