"""Where Kubernetes, Istio, cert-manager and Kubeflow manifests name a namespace, and how.

kustomize's `namespace:` and kpt's set-namespace move objects but leave every reference
to the old namespace in place, so a Kubeflow installed outside `kubeflow` breaks only at
run time. A reference to a namespace takes one of a few shapes; this module knows them,
rewrites them, and says which strings still hold the old name in a shape it does not
know, so nothing is missed silently:

  addresses    S.N, S.N.svc, S.N.svc.cluster.local (with scheme, port, path, inside
               `outbound|80||...` cluster names), wherever a string holds one
  identities   SPIFFE principals `<trust domain>/ns/N/sa/A`, Kubernetes user names
               `system:serviceaccount:N:A` and groups `system:serviceaccounts:N`
  N/name       Istio gateway references (`kubeflow/kubeflow-gateway`), Sidecar egress
               and Gateway hosts (`N/*`), cert-manager `inject-ca-from`, KServe's
               `ingressGateway`, Kubeflow's `ISTIO_GATEWAY`
  key = N      `--namespace=N`, `--lock-namespace N`, `?namespace=N`, `namespace: N`
               and `"namespace": "N"` inside embedded YAML or JSON, env `NAMESPACE: N`
  fields       every `namespace` field (binding subjects, webhook, APIService and CRD
               conversion services, ...), Istio `namespaces`/`notNamespaces`/`exportTo`,
               `when` conditions on `source.namespace`, NetworkPolicy and webhook
               namespace selectors on `kubernetes.io/metadata.name`
  keys         Knative's `gateway.N.NAME` / `local-gateway.N.NAME` config keys

What is never a reference, and is left alone: API groups and domains (`kubeflow.org`),
image names (`kubeflow/x:tag`, `ghcr.io/kubeflow/...`), paths and URLs
(`/var/run/secrets/kubeflow/...`, `https://github.com/kubeflow/...`), labels
(`app.kubernetes.io/part-of: kubeflow`), object names (cluster-scoped objects named after
the namespace keep their names), CRD categories, the dashboard's icon set (`kubeflow:katib`).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from typing import Optional

from ..runtime import yamlio
from ..runtime.paths import walk_strings

# Annotations written by kustomize, kpt and kubectl for their own bookkeeping: never references.
TOOL_ANNOTATION_PREFIXES = (
    "config.kubernetes.io/",
    "internal.config.kubernetes.io/",
    "kustomize.config.k8s.io/",
    "config.k8s.io/",
    "kubectl.kubernetes.io/",
)
NAME_LABEL = "kubernetes.io/metadata.name"  # the label Kubernetes puts on every Namespace: its own name
# String fields holding exactly a namespace name, by their key.
_NAMESPACE_KEY = re.compile(r"(?i)(^|[-_.])namespace$|Namespace$")
_NAMESPACE_LIST_KEYS = ("namespaces", "notNamespaces", "exportTo")
# Env var names that hold a namespace (`NAMESPACE`, `POD_NAMESPACE`, `KATIB_CORE_NAMESPACE`, `TARGET_NS`).
_NAMESPACE_ENV = re.compile(r"(?i)namespace|(^|_)NS($|_)")
_DNS_LABEL = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"
# Keys whose values are never namespace references: image names, labels, CRD categories.
_NOT_REFERENCES = ("image", "labels", "matchLabels", "categories")
_LABEL_SELECTORS = ("selector", "podSelector", "objectSelector")  # label selectors, not namespaces


@dataclass
class Rewrite:
    """What one string's rewrite did: the shapes it changed and the old names it left."""

    text: str
    shapes: list = field(default_factory=list)


class NamespaceShapes:
    """The regular expressions for one old -> new namespace pair."""

    def __init__(self, old: str, new: str):
        self.old, self.new = old, new
        o = re.escape(old)
        # S.N[.svc[.domain]]: not followed by another domain label (kubeflow.org), except .svc
        self.address = re.compile(rf"(?<![\w.-])(?P<svc>{_DNS_LABEL})\.{o}(?=\.svc(?![\w-])|(?![\w-])(?!\.[\w-]))")
        self.principal = re.compile(rf"(?<![\w.-])ns/{o}/(?=sa/)")
        self.sa_user = re.compile(rf"\bsystem:serviceaccount:{o}:(?=[\w-])")
        self.sa_group = re.compile(rf"\bsystem:serviceaccounts:{o}(?![\w.-])")
        self.ns_name = re.compile(rf"(?<![\w./:@$-]){o}/(?P<name>[a-z0-9*](?:[-a-z0-9.*]*[a-z0-9*])?)(?![\w./:@-])")
        self.keyed = re.compile(rf"(?P<key>[\w.-]*namespace[\"']?[ \t]*[:=][ \t]*[\"']?){o}(?![\w.-])", re.I)
        self.knative_key = re.compile(rf"^(?P<prefix>(?:local-)?gateway)\.{o}\.(?P<name>{_DNS_LABEL})$")
        self.knative_text = re.compile(rf"(?<![\w.-])(?:local-)?gateway\.{o}\.{_DNS_LABEL}[\"']?[ \t]*:")
        self.token = re.compile(rf"(?<![\w-]){o}(?![\w-])")
        self._image_line = re.compile(r"(?i)image[\"']?\s*[:=]")

    # -- text --------------------------------------------------------------------------
    def rewrite_text(self, text: str) -> Rewrite:
        """Every shape of a reference to the old namespace in `text`, rewritten."""
        if self.old not in text:
            return Rewrite(text)
        shapes: list = []
        new = self.new

        def sub(pattern, repl, name, s):
            out = pattern.sub(repl, s)
            if out != s:
                shapes.append(name)
            return out

        s = sub(self.address, lambda m: f"{m['svc']}.{new}", "address", text)
        s = sub(self.principal, f"ns/{new}/", "principal", s)
        s = sub(self.sa_user, f"system:serviceaccount:{new}:", "service account user", s)
        s = sub(self.sa_group, f"system:serviceaccounts:{new}", "service account group", s)
        s = sub(self.ns_name, lambda m: self._ns_name(m, s), "namespace/name", s)
        s = sub(self.keyed, lambda m: m["key"] + new, "namespace setting", s)
        return Rewrite(s, shapes)

    def _ns_name(self, m, s: str) -> str:
        line_start = s.rfind("\n", 0, m.start()) + 1
        if self._image_line.search(s[line_start : m.start()]):
            return m.group(0)  # `image: kubeflow/x`: a Docker Hub organisation, not a namespace
        return f"{self.new}/{m['name']}"

    def might_refer(self, text: str) -> bool:
        """Cheap test on an item's text: does it name the old namespace other than as a known
        non-reference? (`kubeflow.org` fills every Kubeflow CRD; those need no parsing.)
        Each occurrence is judged on a window around it: the patterns never run over a whole
        10 MB render."""
        start = text.find(self.old)
        patterns = (
            self.address,
            self.principal,
            self.sa_user,
            self.sa_group,
            self.ns_name,
            self.keyed,
            self.knative_text,
        )
        while start >= 0:
            end = start + len(self.old)
            lo, hi = max(0, start - 80), min(len(text), end + 80)
            window = text[lo:hi]
            if any(p.search(window) for p in patterns):
                return True
            m = self.token.match(text, start)
            if (
                m
                and (start == 0 or not (text[start - 1].isalnum() or text[start - 1] in "_-"))
                and not _allowed(text[max(0, start - 40) : start], text[end : end + 40], text, m)
            ):
                return True
            start = text.find(self.old, end)
        return False

    def leftovers(self, text: str) -> list[str]:
        """Occurrences of the old name in `text` that look like no known non-reference."""
        found = []
        for m in self.token.finditer(text):
            before, after = text[max(0, m.start() - 40) : m.start()], text[m.end() : m.end() + 40]
            if _allowed(before, after, text, m):
                continue
            found.append(_snippet(text, m))
        return found


def _allowed(before: str, after: str, text: str, m) -> bool:
    """The non-namespace uses of the word: domains, paths, images, the dashboard's icon set."""
    if re.match(r"\.(?!svc\b)[a-z]", after):
        return True  # kubeflow.org, katib.kubeflow.org: an API group or a domain
    if before.endswith("/"):
        return True  # ghcr.io/kubeflow/..., /var/run/secrets/kubeflow/..., https://github.com/kubeflow/...
    if re.match(r"/[\w.-]+(?:[:@/]|$)", after) and not re.match(r"/[a-z0-9*][-a-z0-9.*]*(?![\w./:@-])", after):
        return True  # kubeflow/image:tag, kubeflow/repo/path: a Docker Hub organisation or a path
    line_start = text.rfind("\n", 0, m.start()) + 1
    line = text[line_start : m.start()]
    if re.search(r"(?i)image[\"']?\s*[:=]", line):
        return True
    if re.match(r":[a-z]", after) and re.search(r"[\"']?icon[\"']?\s*:\s*[\"']$", before):
        return True  # "icon": "kubeflow:katib": the central dashboard's icon set
    return False


def _snippet(text: str, m) -> str:
    line_start = text.rfind("\n", 0, m.start()) + 1
    line_end = text.find("\n", m.end())
    line = text[line_start : line_end if line_end >= 0 else len(text)].strip()
    return line if len(line) <= 100 else line[:97] + "..."


# -- objects -----------------------------------------------------------------------------


@dataclass
class Change:
    path: tuple
    what: str


@dataclass
class Leftover:
    path: tuple
    snippet: str


class ObjectRewriter:
    """Rewrites every reference to `old` inside one object, by field and by text shape."""

    def __init__(self, shapes: NamespaceShapes):
        self.shapes = shapes
        self.old, self.new = shapes.old, shapes.new

    def rewrite(self, obj: dict, kind: str, group: str) -> tuple[list[Change], list[Leftover]]:
        changes: list[Change] = []
        leftovers: list[Leftover] = []
        metadata = obj.get("metadata")
        if isinstance(metadata, dict):
            annotations = metadata.get("annotations")
            if isinstance(annotations, dict):
                for key, value in list(annotations.items()):
                    if isinstance(value, str) and not key.startswith(TOOL_ANNOTATION_PREFIXES):
                        annotations[key] = self._text(value, ("metadata", "annotations", key), changes, leftovers)
            labels = metadata.get("labels")
            if kind == "Namespace" and group == "" and isinstance(labels, dict) and labels.get(NAME_LABEL) == self.old:
                labels[NAME_LABEL] = self.new
                changes.append(Change(("metadata", "labels", NAME_LABEL), "the Namespace's own name label"))
        if group == "" and kind in ("ConfigMap", "Secret"):
            self._data(obj, kind, changes, leftovers)
            return changes, leftovers
        if kind == "CustomResourceDefinition" and group == "apiextensions.k8s.io":
            spec = obj.get("spec")
            if isinstance(spec, dict) and "conversion" in spec:  # names, group and schema are not references
                self._walk(spec["conversion"], ("spec", "conversion"), changes, leftovers)
            return changes, leftovers
        for key, value in obj.items():
            if key not in ("metadata", "apiVersion", "kind"):
                obj[key] = self._walk(value, (key,), changes, leftovers)
        return changes, leftovers

    # -- ConfigMap and Secret data ---------------------------------------------------------
    def _data(self, obj: dict, kind: str, changes: list, leftovers: list) -> None:
        for section in ("data", "stringData", "binaryData"):
            data = obj.get(section)
            if not isinstance(data, dict):
                continue
            for key in list(data):
                value = data[key]
                new_key = self._data_key(key)
                if new_key != key:
                    data = _rename_key(data, key, new_key)
                    obj[section] = data
                    changes.append(Change((section, new_key), f"the key {key!r} names the namespace"))
                    key = new_key
                if not isinstance(value, str):
                    continue
                path = (section, key)
                if (kind == "Secret" and section == "data") or section == "binaryData":
                    data[key] = self._base64(value, path, changes, leftovers)
                elif value == self.old:
                    if _NAMESPACE_KEY.search(key):
                        data[key] = self.new
                        changes.append(Change(path, "a namespace setting"))
                    else:
                        leftovers.append(Leftover(path, value))
                else:
                    data[key] = self._text(value, path, changes, leftovers)

    def _data_key(self, key: str) -> str:
        m = self.shapes.knative_key.match(key)
        return f"{m['prefix']}.{self.new}.{m['name']}" if m else key

    def _base64(self, value: str, path: tuple, changes: list, leftovers: list) -> str:
        try:
            text = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, ValueError, UnicodeDecodeError):
            return value  # binary: nothing a namespace could be written in
        if self.old not in text:
            return value
        before = len(changes)
        if text == self.old and _NAMESPACE_KEY.search(str(path[-1])):
            new_text = self.new
            changes.append(Change(path, "a namespace setting (base64)"))
        else:
            new_text = self._text(text, path, changes, leftovers)
        if len(changes) == before:
            return value
        for change in changes[before:]:
            change.what += " (base64-decoded, rewritten, re-encoded)" if "base64" not in change.what else ""
        return base64.b64encode(new_text.encode("utf-8")).decode("ascii")

    # -- any other field ---------------------------------------------------------------------
    def _walk(self, node, path: tuple, changes: list, leftovers: list):
        if isinstance(node, dict):
            return self._walk_dict(node, path, changes, leftovers)
        if isinstance(node, list):
            key = path[-1] if path else None
            for i, value in enumerate(node):
                if isinstance(value, str):
                    node[i] = self._list_string(node, i, value, key, path, changes, leftovers)
                else:
                    node[i] = self._walk(value, path + (i,), changes, leftovers)
            return node
        if isinstance(node, str):
            return self._text(node, path, changes, leftovers)
        return node

    def _walk_dict(self, node: dict, path: tuple, changes: list, leftovers: list) -> dict:
        key_name = path[-1] if path else None
        if key_name == "namespaceSelector":
            self._namespace_selector(node, path, changes)
            return node
        for key, value in node.items():
            here = path + (key,)
            if key in _NOT_REFERENCES or (key in _LABEL_SELECTORS and isinstance(value, dict)):
                continue
            if isinstance(value, str):
                if value == self.old:
                    node[key] = self._exact(node, key, here, changes, leftovers)
                else:
                    node[key] = self._text(value, here, changes, leftovers)
            elif (
                key in ("values", "notValues")
                and isinstance(value, list)
                and _NAMESPACE_KEY.search(str(node.get("key", "")))
            ):
                node[key] = self._replace_in_list(value, here, changes, "a condition on a namespace")
            else:
                node[key] = self._walk(value, here, changes, leftovers)
        return node

    def _exact(self, node: dict, key: str, path: tuple, changes: list, leftovers: list) -> str:
        """A string field holding exactly the old name."""
        if _NAMESPACE_KEY.search(str(key)):
            changes.append(Change(path, "a namespace field"))
            return self.new
        if key == "value" and _NAMESPACE_ENV.search(str(node.get("name", ""))):
            changes.append(Change(path, f"env {node.get('name')} names the namespace"))
            return self.new
        leftovers.append(Leftover(path, self.old))
        return self.old

    def _list_string(self, items: list, i: int, value: str, key, path: tuple, changes: list, leftovers: list) -> str:
        here = path + (i,)
        if value != self.old:
            return self._text(value, here, changes, leftovers)
        if key in _NAMESPACE_LIST_KEYS:
            changes.append(Change(here, f"a namespace in {key}"))
            return self.new
        previous = items[i - 1] if i > 0 else None
        if (
            key in ("args", "command")
            and isinstance(previous, str)
            and previous.startswith("-")
            and "namespace" in previous.lower()
        ):
            changes.append(Change(here, f"the value of {previous}"))
            return self.new
        leftovers.append(Leftover(here, value))
        return value

    def _replace_in_list(self, values: list, path: tuple, changes: list, what: str) -> list:
        for i, value in enumerate(values):
            if value == self.old:
                values[i] = self.new
                changes.append(Change(path + (i,), what))
        return values

    def _namespace_selector(self, selector: dict, path: tuple, changes: list) -> None:
        labels = selector.get("matchLabels")
        if isinstance(labels, dict) and labels.get(NAME_LABEL) == self.old:
            labels[NAME_LABEL] = self.new
            changes.append(Change(path + ("matchLabels", NAME_LABEL), "a namespace selector"))
        for i, expr in enumerate(selector.get("matchExpressions") or []):
            if isinstance(expr, dict) and expr.get("key") == NAME_LABEL and isinstance(expr.get("values"), list):
                self._replace_in_list(
                    expr["values"], path + ("matchExpressions", i, "values"), changes, "a namespace selector"
                )

    def _text(self, value: str, path: tuple, changes: list, leftovers: list) -> str:
        if self.old not in value:
            return value
        result = self.shapes.rewrite_text(value)
        if result.shapes:
            changes.append(Change(path, ", ".join(dict.fromkeys(result.shapes))))
        for snippet in self.shapes.leftovers(result.text):
            leftovers.append(Leftover(path, snippet))
        if result.text != value and hasattr(value, "style"):
            return yamlio.Str(result.text, value.style)
        return result.text


def _rename_key(mapping: dict, old_key: str, new_key: str) -> dict:
    """The same mapping (same type, same order) with one key renamed."""
    items = [(new_key if k == old_key else k, v) for k, v in mapping.items()]
    mapping.clear()
    mapping.update(items)
    return mapping


def metadata_namespace_value(raw: str, namespace: str) -> Optional[tuple[int, int]]:
    """Where, in a resource entry's text, its `metadata.namespace` value `namespace` is written
    (start, end), or None unless found exactly once in the block layout kustomize and kpt write.
    Lets a move edit one line instead of parsing and re-dumping the whole object."""
    kind = re.search(r"^( *)(- )?kind:", raw, re.M)
    if kind is None:
        return None
    column = len(kind[1]) + (2 if kind[2] else 0)
    head = rf"(?: {{{column}}}|{' ' * (column - 2)}- )" if column >= 2 else ""
    start = re.search(rf"^{head}metadata:[ \t]*$", raw, re.M)
    if start is None:
        return None
    end = re.compile(rf"^ {{0,{column}}}(?=[^ \n])", re.M).search(raw, start.end() + 1)
    stop = end.start() if end else len(raw)
    line = re.compile(rf"^ {{{column + 2}}}namespace:[ \t]*(['\"]?)({re.escape(namespace)})\1[ \t]*$", re.M)
    found = list(line.finditer(raw, start.end(), stop))
    return found[0].span(2) if len(found) == 1 else None


# -- what the references point at ----------------------------------------------------------


@dataclass(frozen=True)
class Reference:
    """One reference into a namespace: from `source` (kind namespace/name) at `path`, to `kind` `name`."""

    source: str
    path: str
    kind: str  # "Service", "ServiceAccount", "Gateway", "Certificate", or "address" (a Service or a Gateway)
    name: str


# Kinds that may answer an address `name.namespace`: a Service, or (KFServing 0.5's
# `ingressGateway: kubeflow-gateway.kubeflow`) an Istio Gateway written the same way.
_ADDRESS_TARGETS = ("Service", "Gateway")


def references_into(items, namespace: str) -> list[Reference]:
    """Every reference into `namespace` that names an object: Service addresses, webhook,
    APIService and CRD conversion services, binding subjects, principals and service
    account users, gateway references, cert-manager's inject-ca-from."""
    from ..runtime.paths import field_path

    shapes = NamespaceShapes(namespace, namespace)
    ns = re.escape(namespace)
    principal = re.compile(rf"(?<![\w.-])ns/{ns}/sa/({_DNS_LABEL})")
    sa_user = re.compile(rf"\bsystem:serviceaccount:{ns}:({_DNS_LABEL})")
    found: list[Reference] = []
    for item in items:
        if item.raw is not None and not item.loaded:
            span = metadata_namespace_value(item.raw, namespace)  # its own namespace is no reference
            text = item.raw if span is None else item.raw[: span[0]] + item.raw[span[1] :]
            if not shapes.might_refer(text):
                continue
        obj, source = item.obj, item.ref()

        def add(path, kind, name):
            if isinstance(name, str) and name:
                found.append(Reference(source, field_path(path), kind, name))

        if item.kind in ("RoleBinding", "ClusterRoleBinding"):
            for i, subject in enumerate(obj.get("subjects") or []):
                if (
                    isinstance(subject, dict)
                    and subject.get("kind") == "ServiceAccount"
                    and subject.get("namespace") == namespace
                ):
                    add(("subjects", i), "ServiceAccount", subject.get("name"))
        for path, service in _service_refs(item, obj):
            if isinstance(service, dict) and service.get("namespace") == namespace:
                add(path, "Service", service.get("name"))
        if item.kind == "VirtualService":
            for i, gateway in enumerate((obj.get("spec") or {}).get("gateways") or []):
                if isinstance(gateway, str) and gateway.startswith(namespace + "/"):
                    add(("spec", "gateways", i), "Gateway", gateway.split("/", 1)[1])
        for key, value in ((obj.get("metadata") or {}).get("annotations") or {}).items():
            if (
                key.startswith("cert-manager.io/inject-ca-from")
                and isinstance(value, str)
                and value.startswith(namespace + "/")
                and not key.endswith("-secret")
            ):
                add(("metadata", "annotations", key), "Certificate", value.split("/", 1)[1])
        for path, _, _, text in walk_strings(obj):
            if path[:1] == ("metadata",) and path[:2] != ("metadata", "annotations"):
                continue
            if "image" in path:
                continue
            for m in shapes.address.finditer(text):
                add(path, "address", m["svc"])
            for m in principal.finditer(text):
                add(path, "ServiceAccount", m[1])
            for m in sa_user.finditer(text):
                add(path, "ServiceAccount", m[1])
    return found


def _service_refs(item, obj: dict):
    """`service: {namespace, name}` of webhooks, APIServices and CRD conversion webhooks."""
    if item.kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        for i, hook in enumerate(obj.get("webhooks") or []):
            if isinstance(hook, dict):
                yield ("webhooks", i, "clientConfig", "service"), (hook.get("clientConfig") or {}).get("service")
    elif item.kind == "APIService":
        yield ("spec", "service"), (obj.get("spec") or {}).get("service")
    elif item.kind == "CustomResourceDefinition":
        conversion = (obj.get("spec") or {}).get("conversion") or {}
        yield (
            ("spec", "conversion", "webhook", "clientConfig", "service"),
            ((conversion.get("webhook") or {}).get("clientConfig") or {}).get("service"),
        )
        yield (
            ("spec", "conversion", "webhookClientConfig", "service"),
            (conversion.get("webhookClientConfig") or {}).get("service"),
        )


def dangling(items, namespace: str) -> list[Reference]:
    """References into `namespace` whose target is not among `items`."""
    present = {(i.kind, i.name) for i in items if i.namespace == namespace}
    out = []
    for ref in references_into(items, namespace):
        kinds = _ADDRESS_TARGETS if ref.kind == "address" else (ref.kind,)
        if not any((kind, ref.name) in present for kind in kinds):
            out.append(ref)
    return out


# -- function configs that name a relocated namespace --------------------------------------

# Config fields (at any depth) that hold a namespace, a list of namespaces, or namespace/name.
_CONFIG_NAMESPACE_KEYS = ("namespace", "namespaces", "meshNamespaces")
_CONFIG_REF_KEYS = ("gateway", "replaceGateways", "service", "allowedGateways")


def follow_namespaces(value, mapping: dict, key: str = ""):
    """`value` (plain config data under `key`) with every relocated namespace it names
    replaced by its new name: `namespace: kubeflow`, `namespaces: [kubeflow]`,
    `gateway: kubeflow/kubeflow-gateway`. Other strings (hosts, labels, images) are kept.

    Lets the rest of an EnterpriseProfile be written with Kubeflow's names while a
    NamespaceRelocation step moves them: a step configured with `kubeflow` acts on `ml-platform`."""
    if isinstance(value, dict):
        return {k: follow_namespaces(v, mapping, k) for k, v in value.items()}
    if isinstance(value, list):
        return [follow_namespaces(v, mapping, key) for v in value]
    if isinstance(value, str):
        if key in _CONFIG_NAMESPACE_KEYS and value in mapping:
            return mapping[value]
        ns, slash, name = value.partition("/")
        if key in _CONFIG_REF_KEYS and slash and ns in mapping:
            return f"{mapping[ns]}/{name}"
    return value
