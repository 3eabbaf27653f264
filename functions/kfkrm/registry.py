"""Every kfkrm function: its CLI name, its config kind and the module that implements it.

Modules are imported only when their function runs, so a call pays for one function.
"""
from .runtime.runner import FunctionSpec

FUNCTIONS = [
    FunctionSpec("pod-template-labels", "PodTemplateLabels", "kfkrm.pod_template_labels",
                 "set labels on the pod template of every selected workload, never on selectors"),
    FunctionSpec("pod-template-annotations", "PodTemplateAnnotations", "kfkrm.pod_template_annotations",
                 "set annotations (e.g. sidecar injection) on the pod template of every selected workload"),
    FunctionSpec("namespace-injection", "NamespaceInjection", "kfkrm.namespace_injection",
                 "label Namespaces for Istio sidecar injection (istio-injection or istio.io/rev)"),
]

BY_NAME = {f.name: f for f in FUNCTIONS}
BY_KIND = {f.kind: f for f in FUNCTIONS}
