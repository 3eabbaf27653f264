"""Exposes the ingress gateway Service through a cloud load balancer, optionally with TLS on a Gateway.

Upstream Kubeflow ships istio-system/istio-ingressgateway as a NodePort (1.3) or ClusterIP
(1.10) Service. The field report exposed it as a LoadBalancer with the cloud provider's
annotations (on AWS: the ACM certificate, TLS only on the `https` port, HTTP to the
backend) and restricted the source ranges. This function sets the Service's type,
annotations and loadBalancerSourceRanges, dropping the fields Kubernetes refuses for the
new type (nodePort on a ClusterIP Service, loadBalancerSourceRanges off a LoadBalancer).

With `tls`, it also adds (or updates) an HTTPS server on a Gateway, whose certificate is
the Secret `credentialName` in the gateway workload's namespace, and with `httpsRedirect`
makes the Gateway's plain HTTP servers redirect to HTTPS. Terminating TLS at the load
balancer (backend protocol http) and on the Gateway at the same port does not work
together; that combination is reported as a warning."""

from __future__ import annotations

import ipaddress
from typing import Literal, Optional

from pydantic import Field, field_validator, model_validator

from ..domain.istio_refs import (
    host_problem,
    is_dns_subdomain,
    is_gateway,
    parse_config_ref,
)
from ..runtime.config import FunctionConfig, Model
from ..runtime.k8svalidation import check_annotations
from ..runtime.kinds import is_core
from ..runtime.paths import field_path
from ..runtime.results import error, info, warn

AWS_SSL_CERT = "service.beta.kubernetes.io/aws-load-balancer-ssl-cert"
AWS_SSL_PORTS = "service.beta.kubernetes.io/aws-load-balancer-ssl-ports"
AWS_BACKEND_PROTOCOL = "service.beta.kubernetes.io/aws-load-balancer-backend-protocol"
_EXTERNAL_TYPES = ("NodePort", "LoadBalancer")  # the Service types that open node ports


class TLS(Model):
    gateway: str = Field(..., description="the Gateway that gets the HTTPS server, namespace/name")
    credentialName: str = Field(
        ..., description="the TLS Secret (tls.crt, tls.key) in the gateway workload's namespace"
    )
    hosts: list[str] = Field(..., description="host names the HTTPS server serves")
    httpsRedirect: bool = Field(False, description="make the Gateway's plain HTTP servers redirect to HTTPS")
    port: int = Field(443, description="the HTTPS server's port: a port of the gateway Service", ge=1, le=65535)
    mode: Literal["SIMPLE", "MUTUAL"] = Field(
        "SIMPLE", description="SIMPLE (server TLS) or MUTUAL (client certificates too)"
    )

    @field_validator("gateway")
    @classmethod
    def _valid_gateway(cls, value):
        parse_config_ref(value)
        return value

    @field_validator("credentialName")
    @classmethod
    def _valid_secret(cls, value):
        if not is_dns_subdomain(value):
            raise ValueError(f"{value!r} is not a Secret name (a lowercase DNS subdomain)")
        return value

    @field_validator("hosts")
    @classmethod
    def _valid_hosts(cls, hosts):
        if not hosts:
            raise ValueError("must list at least one host name")
        for host in hosts:
            problem = host_problem(host)
            if problem:
                raise ValueError(problem)
        return hosts


class Config(FunctionConfig):
    KIND = "IngressGateway"

    service: str = Field("istio-system/istio-ingressgateway", description="the ingress gateway Service, namespace/name")
    type: Literal["ClusterIP", "NodePort", "LoadBalancer"] = Field("LoadBalancer", description="the Service type")
    annotations: dict[str, str] = Field(
        {}, description="annotations to set on the Service (the cloud load balancer's settings)"
    )
    loadBalancerSourceRanges: list[str] = Field(
        [], description="client CIDRs the load balancer admits (type LoadBalancer only)"
    )
    tls: Optional[TLS] = Field(None, description="an HTTPS server to add to a Gateway")

    @field_validator("service")
    @classmethod
    def _valid_service(cls, value):
        if value.count("/") != 1 or not all(value.split("/")):
            raise ValueError(
                f"{value!r} is not a Service reference: expected namespace/name, e.g. istio-system/istio-ingressgateway"
            )
        return value

    @field_validator("annotations")
    @classmethod
    def _valid_annotations(cls, annotations):
        return check_annotations(annotations)

    @field_validator("loadBalancerSourceRanges")
    @classmethod
    def _valid_ranges(cls, ranges):
        for cidr in ranges:
            try:
                if "/" not in cidr:
                    raise ValueError
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ValueError(f"{cidr!r} is not a CIDR range (e.g. 10.0.0.0/8)") from None
        return ranges

    @model_validator(mode="after")
    def _ranges_need_a_load_balancer(self):
        if self.loadBalancerSourceRanges and self.type != "LoadBalancer":
            raise ValueError(f"loadBalancerSourceRanges needs type LoadBalancer (type is {self.type})")
        return self


def transform(rl, config: Config) -> str:
    namespace, name = config.service.split("/")
    service = _find(rl, lambda i: is_core(i, "Service") and (i.namespace, i.name) == (namespace, name))
    gateway = None
    if service is None:
        error(rl, f"Service {config.service} is not in the input", field="service")
    if config.tls is not None:
        ref = parse_config_ref(config.tls.gateway)
        gateway = _find(rl, lambda i: is_gateway(i) and (i.namespace, i.name) == (ref.namespace, ref.name))
        if gateway is None:
            error(
                rl,
                f"Gateway {ref} is not in the input (did a function that removes it run first?)",
                field="tls.gateway",
            )
    if rl.has_errors:
        return ""

    summary = [
        f"Service {config.service}: " + (", ".join(_configure_service(rl, config, service)) or "already as configured")
    ]
    if gateway is not None:
        summary.append(
            f"Gateway {config.tls.gateway}: "
            + (", ".join(_configure_tls(rl, config.tls, gateway)) or "already as configured")
        )
        _check_tls_fits_service(rl, config, service, gateway)
    return "; ".join(summary)


def _find(rl, predicate):
    return next((i for i in rl.mutable_items() if predicate(i)), None)


def _configure_service(rl, config: Config, item) -> list[str]:
    """Set type, annotations and source ranges; drop what the new type does not allow. Returns what changed."""
    obj = item.obj
    spec = obj.setdefault("spec", {})
    done = []
    if spec.get("type", "ClusterIP") != config.type:
        info(rl, f"type {spec.get('type', 'ClusterIP')} -> {config.type}", item, "spec.type")
        done.append(f"type {config.type}")
    spec["type"] = config.type
    done.extend(_drop_fields_the_type_refuses(rl, item, spec, config.type))

    if config.annotations:
        metadata = obj.setdefault("metadata", {})
        if not isinstance(metadata.get("annotations"), dict):
            metadata["annotations"] = {}
        current = metadata["annotations"]
        changed = [k for k, v in config.annotations.items() if current.get(k) != v]
        for key in changed:
            current[key] = config.annotations[key]
        if changed:
            info(rl, f"set annotations {', '.join(changed)}", item, "metadata.annotations")
            done.append(f"{len(changed)} annotations")
    if config.loadBalancerSourceRanges and spec.get("loadBalancerSourceRanges") != config.loadBalancerSourceRanges:
        spec["loadBalancerSourceRanges"] = list(config.loadBalancerSourceRanges)
        info(rl, f"loadBalancerSourceRanges {config.loadBalancerSourceRanges}", item, "spec.loadBalancerSourceRanges")
        done.append(f"{len(config.loadBalancerSourceRanges)} source ranges")
    return done


def _drop_fields_the_type_refuses(rl, item, spec: dict, service_type: str) -> list[str]:
    """Kubernetes rejects nodePort and externalTrafficPolicy on ClusterIP, loadBalancer* off LoadBalancer."""
    dropped = []
    if service_type not in _EXTERNAL_TYPES:
        for i, port in enumerate(spec.get("ports") or []):
            if isinstance(port, dict) and port.pop("nodePort", None) is not None:
                dropped.append(field_path(("spec", "ports", i, "nodePort")))
        if spec.pop("externalTrafficPolicy", None) is not None:
            dropped.append("spec.externalTrafficPolicy")
    if service_type != "LoadBalancer":
        for field in ("loadBalancerSourceRanges", "loadBalancerIP", "loadBalancerClass"):
            if spec.pop(field, None) is not None:
                dropped.append(f"spec.{field}")
    for field in dropped:
        info(rl, f"removed: not allowed on a {service_type} Service", item, field)
    return [f"removed {f}" for f in dropped]


def _configure_tls(rl, tls: TLS, item) -> list[str]:
    """Add or update the HTTPS server at tls.port; with httpsRedirect, redirect the HTTP servers."""
    spec = item.obj.setdefault("spec", {})
    servers = spec.setdefault("servers", [])
    done = []
    server_tls = {"mode": tls.mode, "credentialName": tls.credentialName}
    index = next((i for i, s in enumerate(servers) if isinstance(s, dict) and _port(s).get("number") == tls.port), None)
    if index is None:
        servers.append(
            {
                "port": {"number": tls.port, "name": "https", "protocol": "HTTPS"},
                "hosts": list(tls.hosts),
                "tls": server_tls,
            }
        )
        index = len(servers) - 1
        info(
            rl,
            f"added an HTTPS server on port {tls.port} for {', '.join(tls.hosts)} with credential {tls.credentialName}",
            item,
            field_path(("spec", "servers", index)),
        )
        done.append(f"HTTPS server on {tls.port}")
    else:
        server = servers[index]
        before = repr(server)
        port = server.setdefault("port", {})
        port["protocol"] = "HTTPS"
        port.setdefault("name", "https")
        server["hosts"] = list(tls.hosts)
        current_tls = server.get("tls") if isinstance(server.get("tls"), dict) else {}
        current_tls.pop("httpsRedirect", None)
        current_tls.update(server_tls)
        server["tls"] = current_tls
        if repr(server) != before:
            info(
                rl,
                f"updated the server on port {tls.port}: HTTPS for {', '.join(tls.hosts)} with credential "
                f"{tls.credentialName}",
                item,
                field_path(("spec", "servers", index)),
            )
            done.append(f"HTTPS server on {tls.port} updated")
    if tls.httpsRedirect:
        for i, server in enumerate(servers):
            if i == index or not isinstance(server, dict) or str(_port(server).get("protocol", "")).upper() != "HTTP":
                continue
            server_tls_now = server.get("tls") if isinstance(server.get("tls"), dict) else {}
            if server_tls_now.get("httpsRedirect") is not True:
                server["tls"] = {**server_tls_now, "httpsRedirect": True}
                info(rl, "redirects to HTTPS", item, field_path(("spec", "servers", i, "tls", "httpsRedirect")))
                done.append(f"HTTP on {_port(server).get('number')} redirects to HTTPS")
    return done


def _port(server: dict) -> dict:
    return server.get("port") if isinstance(server.get("port"), dict) else {}


def _check_tls_fits_service(rl, config: Config, service, gateway) -> None:
    """Warn when the HTTPS server cannot work behind this Service as configured."""
    tls = config.tls
    ports = [p for p in service.obj.get("spec", {}).get("ports") or [] if isinstance(p, dict)]
    service_port = next((p for p in ports if p.get("port") == tls.port), None)
    if service_port is None:
        warn(
            rl,
            f"the Service {config.service} has no port {tls.port}: the Gateway's HTTPS server is not reachable "
            "through it",
            gateway,
            "spec.servers",
        )
        return
    annotations = service.obj.get("metadata", {}).get("annotations") or {}
    if AWS_SSL_CERT in annotations and str(annotations.get(AWS_BACKEND_PROTOCOL, "")).lower() == "http":
        ssl_ports = [p.strip() for p in str(annotations.get(AWS_SSL_PORTS, "*")).split(",")]
        if "*" in ssl_ports or str(tls.port) in ssl_ports or service_port.get("name") in ssl_ports:
            warn(
                rl,
                f"the load balancer terminates TLS on port {tls.port} and forwards plain HTTP "
                f"({AWS_BACKEND_PROTOCOL}: http), "
                f"but the Gateway's server on {tls.port} now expects TLS: terminate TLS in one place (drop tls, or the "
                "load balancer's certificate annotations)",
                gateway,
                "spec.servers",
            )
    selector = service.obj.get("spec", {}).get("selector") or {}
    gateway_selector = gateway.obj.get("spec", {}).get("selector") or {}
    conflicts = [k for k in gateway_selector if k in selector and str(selector[k]) != str(gateway_selector[k])]
    if conflicts:
        warn(
            rl,
            f"the Gateway's selector ({gateway_selector}) and the Service's ({selector}) disagree on "
            f"{', '.join(conflicts)}: the HTTPS server would run on other pods than the Service's",
            gateway,
            "spec.selector",
        )
