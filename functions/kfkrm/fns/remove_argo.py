"""Removes the Argo Workflows that Kubeflow Pipelines bundles, for clusters that already run
their own Argo. The user's kustomization keeps pointing at upstream (no hand-kept copy of the
pipelines folder); this function drops the bundled Argo from the rendered stream instead.

Argo's objects are found by evidence, not by a name list: the workflow controller is the
Deployment selecting `app: workflow-controller`; from it come its ServiceAccount, its
ConfigMap (`--configmap`), its PriorityClass and the Services that select it; the bindings
whose only subject is the controller's ServiceAccount, and the roles only those bindings
use; the ClusterRoles aggregated into admin/edit/view that grant nothing but Argo
Workflows resources; and the CustomResourceDefinitions of the argoproj.io group's
workflow kinds (the CRD's name is `<plural>.<group>`, which Kubernetes enforces).
Kubeflow Pipelines' own objects stay, including its roles that grant access to
argoproj.io workflows. Anything that only partly looks like Argo's is kept with a warning.

After removal, warnings list what KFP still expects of the external Argo."""

from __future__ import annotations

import re
from typing import Optional

from pydantic import Field

from ..domain.labelselector import match_labels
from ..runtime import yamlio
from ..runtime.config import FunctionConfig
from ..runtime.kinds import is_core
from ..runtime.podtemplates import has_pod_template, pod_template
from ..runtime.results import info, warn

ARGO_GROUP = "argoproj.io"
CONTROLLER_LABEL = ("app", "workflow-controller")
DEFAULT_CONFIGMAP = "workflow-controller-configmap"
RBAC_GROUP = "rbac.authorization.k8s.io"
# Result keys of the advice about the external Argo's artifact store, which an artifact
# repository set in the same profile (argo.artifactRepository) resolves.
ARTIFACT_REPOSITORY_KEY = "remove-argo/artifact-repository"
ARTIFACT_CREDENTIALS_KEY = "remove-argo/artifact-credentials"
# The resources (plural names) of Argo Workflows' CRDs, v2.12 to v3.5.
ARGO_WORKFLOWS_PLURALS = frozenset(
    {
        "workflows",
        "workflowtemplates",
        "clusterworkflowtemplates",
        "cronworkflows",
        "workfloweventbindings",
        "workflowtasksets",
        "workflowtaskresults",
        "workflowartifactgctasks",
    }
)
BUILTIN_AGGREGATION = re.compile(r"^rbac\.authorization\.k8s\.io/aggregate-to-(admin|edit|view)$")
# (kind, name) of the objects Argo's own install manifests ship: only a hint. Such an object
# that the evidence above does not tie to the bundled controller is kept with a warning.
ARGO_INSTALL_NAMES = frozenset(
    {
        ("ServiceAccount", "argo"),
        ("Role", "argo-role"),
        ("RoleBinding", "argo-binding"),
        ("ClusterRole", "argo-cluster-role"),
        ("ClusterRoleBinding", "argo-binding"),
        ("ClusterRole", "argo-aggregate-to-admin"),
        ("ClusterRole", "argo-aggregate-to-edit"),
        ("ClusterRole", "argo-aggregate-to-view"),
        ("Deployment", "workflow-controller"),
        ("ConfigMap", "workflow-controller-configmap"),
        ("Service", "workflow-controller-metrics"),
        ("PriorityClass", "workflow-controller"),
    }
)


class Config(FunctionConfig):
    KIND = "RemoveArgo"
    FROM_CONFIGMAP = "fields"

    keepCRDs: bool = Field(
        False,
        description="keep the argoproj.io CustomResourceDefinitions (when the external Argo's CRDs are managed from "
        "this render)",
    )


class Controller:
    """What the bundled workflow controller tells about the rest of its install."""

    def __init__(self, item):
        self.item = item
        self.namespace = item.namespace
        template = pod_template(item)
        spec = template.spec
        self.service_account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
        self.priority_class = spec.get("priorityClassName")
        self.configmap = DEFAULT_CONFIGMAP
        self.image, self.executor_image, self.namespaced = None, None, False
        for container in spec.get("containers") or []:
            args = [str(a) for a in (container.get("command") or []) + (container.get("args") or [])]
            if not any("workflow-controller" in a for a in args + [str(container.get("image"))]):
                continue
            self.image = container.get("image")
            self.configmap = _flag(args, "--configmap") or self.configmap
            self.executor_image = _flag(args, "--executor-image")
            self.namespaced = "--namespaced" in args
        self.template_labels = template.labels


def _flag(args: list[str], name: str) -> Optional[str]:
    """The value of `--name value` or `--name=value`."""
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(name + "="):
            return arg[len(name) + 1 :]
    return None


# Objects every Kubeflow Pipelines release ships (API server, its install settings): with
# one of them and no Argo, the input is already adapted rather than the wrong input.
KFP_EVIDENCE = frozenset({("Deployment", "ml-pipeline"), ("ConfigMap", "pipeline-install-config")})


def _kfp_evidence(items):
    """The first Kubeflow Pipelines object in `items`, or None."""
    return next((i for i in items if (i.kind, i.name) in KFP_EVIDENCE), None)


def _is_controller(item) -> bool:
    if item.kind != "Deployment" or item.group not in ("apps", "extensions") or "workflow-controller" not in item.raw:
        return False
    match = match_labels(item.obj)
    return str(match.get(CONTROLLER_LABEL[0])) == CONTROLLER_LABEL[1]


def _crd_plural_and_group(item) -> tuple[str, str]:
    plural, _, group = item.name.partition(".")
    return plural, group


def _subjects_key(subject: dict, binding_namespace: str) -> tuple:
    if subject.get("kind") == "ServiceAccount":
        return ("ServiceAccount", subject.get("namespace") or binding_namespace, subject.get("name"))
    return (subject.get("kind"), "", subject.get("name"))


def _role_key(binding) -> tuple:
    ref = binding.obj.get("roleRef") or {}
    kind = ref.get("kind")
    return (kind, binding.namespace if kind == "Role" else "", ref.get("name"))


def _grants_only_argo_workflows(role_obj: dict) -> bool:
    rules = role_obj.get("rules") or []
    if not rules:
        return False
    for rule in rules:
        if rule.get("nonResourceURLs") or set(rule.get("apiGroups") or []) != {ARGO_GROUP}:
            return False
        for resource in rule.get("resources") or []:
            if resource.split("/")[0] not in ARGO_WORKFLOWS_PLURALS:
                return False
    return True


def _uses(item, field: str, value: str) -> bool:
    """Whether a workload's pod template sets `field: value` (raw-text prefilter, then parse)."""
    if value not in item.raw or not has_pod_template(item):
        return False
    spec = pod_template(item).spec
    if field == "serviceAccountName":
        return (spec.get("serviceAccountName") or spec.get("serviceAccount")) == value
    return spec.get(field) == value


def transform(rl, config: Config) -> str:
    items = list(rl.mutable_items())
    controllers = [Controller(i) for i in items if _is_controller(i)]
    remove: dict[int, tuple] = {}  # id(item) -> (item, why)

    def mark(item, why):
        remove.setdefault(id(item), (item, why))

    # CRDs of the argoproj.io workflow kinds
    for item in items:
        if item.kind != "CustomResourceDefinition" or item.group != "apiextensions.k8s.io":
            continue
        plural, group = _crd_plural_and_group(item)
        if group != ARGO_GROUP:
            continue
        if plural not in ARGO_WORKFLOWS_PLURALS:
            warn(rl, f"an {ARGO_GROUP} CRD that is not one of Argo Workflows' kinds; kept", item)
            continue
        if config.keepCRDs:
            info(rl, "Argo Workflows CRD kept (keepCRDs: true)", item)
        else:
            mark(item, f"Argo Workflows CRD ({ARGO_GROUP})")

    if not controllers and not remove:
        pipelines = _kfp_evidence(items)
        if pipelines is not None:
            # Already adapted (a second run, or a render that never bundled Argo): exit 0, unchanged.
            rl.result(
                f"nothing to remove: Kubeflow Pipelines is here ({pipelines.ref()}) but no bundled Argo "
                "Workflows (no Deployment selecting app: workflow-controller, no "
                f"{ARGO_GROUP} workflow CRDs); already removed",
                "info",
            )
            return "nothing to remove: no bundled Argo Workflows left (already removed)"
        rl.result(
            "no bundled Argo Workflows found (no Deployment selecting app: workflow-controller, "
            f"no {ARGO_GROUP} workflow CRDs to remove) and no Kubeflow Pipelines: is RemoveArgo applied to the right "
            "input?",
            "error",
        )
        return ""
    if not controllers:
        warn(
            rl,
            "no Argo workflow controller (Deployment selecting app: workflow-controller) in the input; "
            "only its CRDs were found",
        )

    by_key = {(i.kind, i.namespace, i.name): i for i in items}
    workloads = [i for i in items if has_pod_template(i)]
    controller_sas = set()
    for ctl in controllers:
        mark(ctl.item, "the bundled Argo workflow controller (selects app: workflow-controller)")
        others = [w for w in workloads if w is not ctl.item and w.namespace == ctl.namespace]
        sa = by_key.get(("ServiceAccount", ctl.namespace, ctl.service_account))
        if ctl.service_account != "default" and sa is not None:
            sharers = [w.ref() for w in others if _uses(w, "serviceAccountName", ctl.service_account)]
            if sharers:
                warn(rl, f"the Argo controller's ServiceAccount is also used by {', '.join(sharers)}; kept", sa)
            else:
                controller_sas.add(("ServiceAccount", ctl.namespace, ctl.service_account))
                mark(sa, "the Argo workflow controller's ServiceAccount")
        cm = by_key.get(("ConfigMap", ctl.namespace, ctl.configmap))
        if cm is not None:
            mark(cm, "the Argo workflow controller's configuration (--configmap)")
        if ctl.priority_class:
            pc = by_key.get(("PriorityClass", "", ctl.priority_class))
            sharers = [
                w.ref() for w in workloads if w is not ctl.item and _uses(w, "priorityClassName", ctl.priority_class)
            ]
            if pc is not None and sharers:
                warn(rl, f"the Argo controller's PriorityClass is also used by {', '.join(sharers)}; kept", pc)
            elif pc is not None:
                mark(pc, "the Argo workflow controller's PriorityClass")
        for svc in items:
            if not is_core(svc, "Service") or svc.namespace != ctl.namespace or "workflow-controller" not in svc.raw:
                continue
            selector = (svc.obj.get("spec") or {}).get("selector") or {}
            if selector and all(str(ctl.template_labels.get(k)) == str(v) for k, v in selector.items()):
                mark(svc, "a Service of the Argo workflow controller (selects its pods)")

    # RBAC: bindings whose subjects are only the controller's ServiceAccount, and their roles.
    bindings = [i for i in items if i.group == RBAC_GROUP and i.kind in ("RoleBinding", "ClusterRoleBinding")]
    roles_of_removed, roles_of_kept = {}, set()
    for binding in bindings:
        subjects = {
            _subjects_key(s, binding.namespace) for s in binding.obj.get("subjects") or [] if isinstance(s, dict)
        }
        argo_subjects = subjects & controller_sas
        if argo_subjects and argo_subjects == subjects:
            mark(binding, "binds a role to the Argo workflow controller's ServiceAccount only")
            roles_of_removed.setdefault(_role_key(binding), binding)
        else:
            if argo_subjects:
                warn(rl, "binds the Argo controller's ServiceAccount together with other subjects; kept", binding)
            roles_of_kept.add(_role_key(binding))
    for role_key, binding in roles_of_removed.items():
        role = by_key.get(role_key)
        if role is None or role.group != RBAC_GROUP:
            continue
        if role_key in roles_of_kept:
            warn(rl, "bound to the Argo controller's ServiceAccount and also to other subjects; kept", role)
        else:
            mark(role, f"the role only the Argo controller is bound to ({binding.ref()})")

    # ClusterRoles that aggregate Argo Workflows access into Kubernetes' admin/edit/view.
    for item in items:
        if item.kind != "ClusterRole" or item.group != RBAC_GROUP or ARGO_GROUP not in item.raw:
            continue
        if not any(BUILTIN_AGGREGATION.match(k) and str(v) == "true" for k, v in item.labels.items()):
            continue
        if (item.kind, "", item.name) in roles_of_kept:
            continue
        if _grants_only_argo_workflows(item.obj):
            mark(item, "aggregates Argo Workflows access into the built-in admin/edit/view roles")

    for item in items:
        if id(item) not in remove and (item.kind, item.name) in ARGO_INSTALL_NAMES:
            warn(
                rl,
                "named like an object of Argo's install, but nothing ties it to the bundled workflow controller; kept",
                item,
            )

    removed = list(remove.values())
    for item, why in removed:
        rl.remove([item], why=why)
    _external_argo_warnings(rl, items, controllers, remove)
    kinds = sorted({item.kind for item, _ in removed})
    return f"removed {len(removed)} objects of the bundled Argo Workflows ({', '.join(kinds)})"


def _external_argo_warnings(rl, items, controllers, removed) -> None:
    """What KFP still needs from the external Argo the user must provide."""
    kfp_namespaces = sorted({ctl.namespace for ctl in controllers if ctl.namespace}) or ["kubeflow"]
    warn(
        rl,
        "the external Argo workflow controller must watch every namespace KFP runs workflows in "
        f"({', '.join(kfp_namespaces)} and each profile namespace, so cluster-wide, not --namespaced) and run with no "
        "instanceID: KFP never sets the workflows.argoproj.io/controller-instanceid label",
        key="remove-argo/external-controller-scope",
        action=True,
    )
    kfp_version = None
    for item in items:
        if item.kind == "ConfigMap" and item.name == "pipeline-install-config" and "appVersion" in item.raw:
            kfp_version = (item.obj.get("data") or {}).get("appVersion")
    for ctl in controllers:
        executor = ""
        cm = next(
            (
                i
                for i, _ in removed.values()
                if i.kind == "ConfigMap" and i.namespace == ctl.namespace and i.name == ctl.configmap
            ),
            None,
        )
        repo = None
        if cm is not None:
            data = cm.obj.get("data") or {}
            runtime_executor = data.get("containerRuntimeExecutor")
            if runtime_executor:
                executor = f", containerRuntimeExecutor {runtime_executor}"
            repo = _artifact_repository(data.get("artifactRepository"))
        warn(
            rl,
            f"KFP {kfp_version or '(version unknown)'} was shipped with Argo {ctl.image} "
            f"(executor {ctl.executor_image or 'default'}{executor}): the external Argo's version and "
            "executor must be ones this KFP version supports",
            ctl.item,
        )
        s3 = (repo or {}).get("s3") if isinstance(repo, dict) else None
        if isinstance(s3, dict):
            warn(
                rl,
                f"the bundled Argo stored artifacts in s3 bucket {s3.get('bucket')!r} at {s3.get('endpoint')!r}: "
                "the external Argo needs an artifact repository KFP can read (see argo-artifact-repository)",
                cm,
                key=ARTIFACT_REPOSITORY_KEY,
            )
            secrets = sorted(
                {
                    (s3.get(k) or {}).get("name")
                    for k in ("accessKeySecret", "secretKeySecret")
                    if isinstance(s3.get(k), dict)
                }
                - {None}
            )
            if secrets:
                warn(
                    rl,
                    f"workflows read the artifact credentials Secret {', '.join(secrets)} in their own namespace: "
                    "it must exist in every namespace KFP runs workflows in",
                    cm,
                    key=ARTIFACT_CREDENTIALS_KEY,
                )
        else:
            warn(
                rl,
                "the external Argo needs an artifact repository KFP can read, and its credentials Secret "
                "in every workflow namespace (see argo-artifact-repository)",
                ctl.item,
                key=ARTIFACT_REPOSITORY_KEY,
            )


def _artifact_repository(text) -> Optional[dict]:
    if not isinstance(text, str):
        return None
    try:
        value = yamlio.load(str(text))  # a loaded value may be a str subclass, which the C parser refuses
    except yamlio.YAMLError:
        return None
    return value if isinstance(value, dict) else None
